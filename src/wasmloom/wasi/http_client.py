"""The outgoing HTTP/1.1 client of ``wasi:http`` 0.3 and 0.2: httptools framing, a keep-alive pool.

Both hosts (:meth:`wasmloom.wasi.p3.http.WasiHttp.send` and the 0.2
``outgoing-handler``) build a request head with :func:`request_head` and run
it with :func:`exchange`; each sends its own kind of body on the connection's
writer.

- **framing**: responses are parsed by httptools (llhttp, the parser of
  Node.js, as the server uses). An invalid chunk or any other framing error
  is ``HTTP-protocol-error``; a connection that ends before the body does,
  ``HTTP-response-incomplete`` on the body stream; a head (or trailers) over
  :data:`MAX_HEAD` bytes, ``HTTP-response-header-section-size``.
- **reuse**: a connection goes back to its :class:`Pool` (one per event loop,
  keyed by TLS or not, host and port) only when the request body was sent
  whole, the response body was read to its end, and neither side asked to
  close (``connection: close``, an HTTP/1.0 response, a body delimited by
  the end of the connection). Idle connections expire after
  :attr:`PoolLimits.idle_timeout` seconds, and at most
  :attr:`PoolLimits.max_idle_per_host` (:attr:`PoolLimits.max_idle` in all)
  are kept. Before reuse, a kept connection's socket is checked: one the
  server closed (or wrote to) meanwhile is dropped.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import urllib.parse
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httptools

from wasmloom.values import Err, Ok
from wasmloom.wasi.p3.bindings import wasi_http_types as H
from wasmloom.wasi.p3.http.bodies import IncomingBody
from wasmloom.wasi.p3.http.errors import _connect_error, error_label
from wasmloom.wasi.p3.http.fields import Fields, _fields_bytes

__all__ = [
    "MAX_HEAD",
    "Pool",
    "PoolLimits",
    "exchange",
    "host_field",
    "pool_for",
    "request_head",
    "split_authority",
]

#: bytes of a response head (status line and fields), and of its trailers, the client reads
MAX_HEAD = 64 * 1024
_BODY_BUFFER = 64 * 1024  # unread response body bytes past which reading pauses

Key = tuple[bool, str, int]  # (TLS, host, port)


@dataclass
class PoolLimits:
    """How many idle connections a :class:`Pool` keeps, and for how long (seconds)."""

    max_idle_per_host: int = 8
    max_idle: int = 64
    idle_timeout: float = 4.0


# --- the request -------------------------------------------------------------------------------


def split_authority(authority: str, tls: bool) -> tuple[str, int, str] | None:
    """``(host, port, host:port)`` of a request's authority (userinfo dropped); ``None``
    when it is not one."""
    hostport = authority.rpartition("@")[2]
    try:
        parts = urllib.parse.urlsplit("//" + hostport)
        host, port = parts.hostname or "", parts.port or (443 if tls else 80)
    except ValueError:
        return None
    if not host:
        return None
    return host, port, hostport


def host_field(hostport: str, port: int, tls: bool) -> str:
    """The ``host`` field of a request to ``hostport`` (the default port left out)."""
    default = 443 if tls else 80
    if port == default and hostport.endswith(f":{port}"):
        return hostport[: -len(f":{port}")]
    return hostport


def request_head(
    method: str,
    target: str,
    host: str,
    entries: list[tuple[str, bytes]],
    *,
    chunked: bool,
    length: int | None,
) -> bytes:
    """A request head: ``transfer-encoding: chunked`` when ``chunked``, else a
    ``content-length`` of ``length`` unless that is ``None`` (the fields declare it, or
    the request has no body)."""
    head = b"%s %s HTTP/1.1\r\nhost: %s\r\n%s" % (
        method.encode("latin-1"),
        target.encode("latin-1"),
        host.encode("latin-1"),
        _fields_bytes(entries),
    )
    if chunked:
        return head + b"transfer-encoding: chunked\r\n\r\n"
    if length is not None:
        return head + b"content-length: %d\r\n\r\n" % length
    return head + b"\r\n"


# --- a connection ------------------------------------------------------------------------------


class _Failed(Exception):
    """A response failed: ``code`` is its ``error-code``."""

    def __init__(self, code: Any) -> None:
        super().__init__(error_label(code))
        self.code = code


class _Response:
    """The response of one exchange, as the parser delivers it."""

    __slots__ = (
        "complete", "eof_body", "error", "fields", "head", "head_only", "keep", "reader", "status",
        "stray", "trailers",
    )  # fmt: skip

    def __init__(self, loop: asyncio.AbstractEventLoop, head_only: bool) -> None:
        self.head: asyncio.Future[None] = loop.create_future()
        self.head.add_done_callback(_retrieve)
        self.head_only = head_only  # the response to HEAD: no body, whatever it declares
        self.status = 0
        self.fields: list[tuple[str, bytes]] = []
        self.trailers: list[tuple[str, bytes]] | None = None
        self.reader: asyncio.StreamReader | None = None
        self.eof_body = False  # the body ends with the connection
        self.complete = False  # the parser saw the message's end
        self.keep = False  # the server keeps the connection open after it
        self.stray = False  # bytes came that belong to no message
        self.error: Any = None  # the body's error-code, once it cannot complete

    def cut(self, code: Any) -> None:
        """The body cannot complete: what came is still read, then ``code``."""
        if self.error is None and self.reader is not None:
            self.error = code
            self.reader.feed_eof()


def _retrieve(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()  # no "exception was never retrieved" for an abandoned exchange


class _HeadTooLarge(Exception):
    pass


class _Conn(asyncio.streams.FlowControlMixin, asyncio.Protocol):
    """One client connection: the parser's callbacks feed the current :class:`_Response`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, key: Key) -> None:
        super().__init__(loop)
        self.loop = loop
        self.key = key
        self.transport: Any = None
        self.writer: asyncio.StreamWriter = None  # type: ignore[assignment]
        self.parser = httptools.HttpResponseParser(self)
        self.resp: _Response | None = None
        self.in_head = False
        self.interim = False
        self.head_bytes = 0
        self.closed = False
        self.idle: asyncio.TimerHandle | None = None
        self.pool: Pool | None = None

    def alive(self) -> bool:
        """Open, and nothing to read while idle (else the server closed it, or broke the
        protocol): a look at the socket, as the loop may not have seen its end yet."""
        if self.closed or self.transport.is_closing():
            return False
        ts = self.transport.get_extra_info("socket")
        if ts is None:
            return True
        sock = socket.socket(fileno=ts.fileno())  # the same descriptor, detached below
        try:
            sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            return False
        finally:
            sock.detach()
        return False

    def begin(self, head_only: bool) -> _Response:
        """A new exchange starts: its response is parsed from here on."""
        self.resp = _Response(self.loop, head_only)
        return self.resp

    # -- transport

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.writer = asyncio.StreamWriter(transport, self, None, self.loop)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        super().connection_lost(exc)
        if self.pool is not None:
            self.pool.forget(self)
        r = self.resp
        if r is None or r.complete:
            return
        if not r.head.done():
            r.head.set_exception(_Failed(H.ErrorCodeHTTPResponseIncomplete()))
        elif r.reader is not None:
            if r.eof_body and self.resp is r:
                r.complete = True
                r.reader.feed_eof()
            else:
                r.cut(H.ErrorCodeHTTPResponseIncomplete())

    def eof_received(self) -> bool:
        return False  # close: a response still due fails in connection_lost

    def data_received(self, data: bytes) -> None:
        r = self.resp
        if r is None or r.complete:  # the server talks out of turn: never reuse
            if r is not None:
                r.stray = True
            self.transport.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as e:
            ctx = e.__context__
            if isinstance(ctx, _HeadTooLarge):
                self._fail(H.ErrorCodeHTTPResponseHeaderSectionSize(MAX_HEAD))
            elif isinstance(ctx, _Failed):
                self._fail(ctx.code)
            else:
                self._fail(H.ErrorCodeHTTPProtocolError())
        except httptools.HttpParserError:  # HttpParserUpgrade too: no upgrades here
            self._fail(H.ErrorCodeHTTPProtocolError())
        if r.head_only and r.head.done() and not r.complete:
            # llhttp cannot be told a response has no body: the next one gets a new parser
            r.complete = True
            self.parser = httptools.HttpResponseParser(self)

    def _fail(self, code: Any) -> None:
        r = self.resp
        if r is not None:
            r.keep = False
            if not r.head.done():
                r.head.set_exception(_Failed(code))
            elif r.reader is not None and not r.complete:
                r.cut(code)
        self.transport.close()

    # -- parser callbacks

    def on_message_begin(self) -> None:
        self.in_head = True
        self.head_bytes = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self.head_bytes += len(name) + len(value) + 4
        if self.head_bytes > MAX_HEAD:
            raise _HeadTooLarge
        r = self.resp
        assert r is not None
        entry = (name.decode("latin-1").lower(), value)
        if self.in_head:
            r.fields.append(entry)
        elif not self.interim:
            if r.trailers is None:
                r.trailers = []
            r.trailers.append(entry)

    def on_headers_complete(self) -> None:
        r = self.resp
        assert r is not None
        p = self.parser
        self.in_head = False
        self.head_bytes = 0  # from now on: the trailers'
        status = p.get_status_code()
        if 100 <= status < 200:
            if status == 101:
                raise _Failed(H.ErrorCodeHTTPProtocolError())
            self.interim = True  # 100 Continue, 103 Early Hints...: skipped
            r.fields = []
            return
        r.status = status
        r.keep = p.should_keep_alive()
        te = b",".join(v for k, v in r.fields if k == "transfer-encoding").lower()
        if te and te.split(b",")[-1].strip() != b"chunked":
            raise _Failed(H.ErrorCodeHTTPResponseTransferCoding(te.decode("latin-1")))
        if not (r.head_only or status in (204, 304)):
            reader = asyncio.StreamReader(_BODY_BUFFER, self.loop)
            reader.set_transport(self.transport)
            r.reader = reader
            r.eof_body = not te and not any(k == "content-length" for k, _ in r.fields)
        r.head.set_result(None)

    def on_body(self, data: bytes) -> None:
        r = self.resp
        if r is None or r.reader is None:
            if r is not None:
                r.stray = True
            return
        r.reader.feed_data(data)

    def on_message_complete(self) -> None:
        if self.interim:
            self.interim = False
            return
        r = self.resp
        if r is not None:
            r.complete = True
            if r.reader is not None:
                r.reader.feed_eof()


# --- the pool ----------------------------------------------------------------------------------


class Pool:
    """Idle keep-alive connections of one event loop, by (TLS, host, port)."""

    def __init__(self, limits: PoolLimits | None = None) -> None:
        self.limits = limits if limits is not None else PoolLimits()
        self.idle: dict[Key, list[_Conn]] = {}
        self.count = 0
        #: connections opened (a measure of reuse)
        self.opened = 0

    def take(self, key: Key) -> _Conn | None:
        """The most recently kept connection to ``key`` still open, if any."""
        conns = self.idle.get(key)
        while conns:
            conn = conns.pop()
            self._unidle(conn)
            if conn.alive():
                return conn
            conn.transport.close()
        return None

    def put(self, conn: _Conn) -> None:
        """Keep ``conn`` (whose last exchange ended cleanly) for the next request."""
        if conn.closed or conn.transport.is_closing():
            return
        lim = self.limits
        conns = self.idle.setdefault(conn.key, [])
        if len(conns) >= lim.max_idle_per_host or self.count >= lim.max_idle:
            conn.transport.close()
            return
        conn.resp = None
        conn.pool = self
        conns.append(conn)
        self.count += 1
        conn.idle = conn.loop.call_later(lim.idle_timeout, self._expire, conn)

    def _unidle(self, conn: _Conn) -> None:
        self.count -= 1
        conn.pool = None
        if conn.idle is not None:
            conn.idle.cancel()
            conn.idle = None

    def forget(self, conn: _Conn) -> None:
        """``conn`` closed while idle."""
        conns = self.idle.get(conn.key)
        if conns and conn in conns:
            conns.remove(conn)
            self._unidle(conn)

    def _expire(self, conn: _Conn) -> None:
        conn.idle = None
        self.forget(conn)
        conn.transport.close()

    def close(self) -> None:
        """Close every idle connection."""
        for conns in self.idle.values():
            for conn in conns:
                self._unidle(conn)
                conn.transport.close()
        self.idle.clear()

    async def connect(self, key: Key, timeout: float | None) -> _Conn | Err[Any]:
        """A kept connection to ``key``, or a new one; ``Err(code)`` when it cannot be
        made within ``timeout`` seconds."""
        conn = self.take(key)
        if conn is not None:
            return conn
        tls, host, port = key
        loop = asyncio.get_running_loop()
        try:
            _, proto = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Conn(loop, key),
                    host,
                    port,
                    ssl=_tls_context() if tls else None,
                    server_hostname=host if tls else None,
                ),
                timeout,
            )
        except asyncio.CancelledError:
            raise
        except BaseException as e:
            return Err(_connect_error(e))
        self.opened += 1
        return proto


_TLS: ssl.SSLContext | None = None


def _tls_context() -> ssl.SSLContext:
    """The system's default client context, made once (loading the CA store takes ms)."""
    global _TLS
    if _TLS is None:
        _TLS = ssl.create_default_context()
    return _TLS


_POOLS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Pool] = weakref.WeakKeyDictionary()


def pool_for(loop: asyncio.AbstractEventLoop) -> Pool:
    """The pool of ``loop`` (every store whose client runs on it shares it)."""
    pool = _POOLS.get(loop)
    if pool is None:
        for old in [lp for lp in _POOLS if lp.is_closed()]:
            del _POOLS[old]  # its connections are unusable now
        pool = _POOLS[loop] = Pool()
    return pool


# --- one exchange ------------------------------------------------------------------------------


class _ResponseBody(IncomingBody):
    """A response body fed by the parser (chunks already decoded), with its trailers;
    its end hands the connection back (or closes it)."""

    def __init__(self, ex: _Exchange, reader: asyncio.StreamReader, between: float | None):
        super().__init__(reader, between_bytes=between, is_response=True)
        self.ex = ex

    async def _io(self, aw: Any) -> Any:
        data = await super()._io(aw)
        if not data and self.ex.resp.error is not None:
            raise self._fail(self.ex.resp.error)
        return data

    def _end(self, result: Any) -> None:
        r = self.ex.resp
        if isinstance(result, Ok) and r.trailers:
            result = Ok(Fields(r.trailers, immutable=True))
        super()._end(result)


class _Exchange:
    """One request and its response on a connection; the connection is kept once both
    sides ended cleanly, else closed."""

    __slots__ = ("conn", "pending", "pool", "resp", "reusable")

    def __init__(self, pool: Pool, conn: _Conn, resp: _Response) -> None:
        self.pool = pool
        self.conn = conn
        self.resp = resp
        self.pending = 2
        self.reusable = True

    def side_done(self, ok: bool) -> None:
        if not ok:
            self.reusable = False
            self.conn.transport.abort()
        self.pending -= 1
        if self.pending:
            return
        r = self.resp
        reader = r.reader
        if (
            self.reusable
            and r.complete
            and r.keep
            and not r.stray
            and (reader is None or reader.at_eof())
            and self.conn.resp is r
        ):
            self.pool.put(self.conn)
        else:
            self.conn.transport.close()

    def body_ended(self, body: IncomingBody) -> None:
        self.side_done(isinstance(body.result, Ok) and self.resp.complete)


Exchanged = tuple[int, list[tuple[str, bytes]], IncomingBody | None]


async def exchange(
    pool: Pool,
    key: Key,
    head: bytes,
    start_body: Callable[[asyncio.StreamWriter], asyncio.Future[Any]],
    *,
    head_only: bool,
    connect_timeout: float | None,
    first_byte_timeout: float | None,
    between_bytes_timeout: float | None,
) -> Ok[Exchanged] | Err[Any]:
    """Send ``head`` to ``key``, and the body ``start_body(writer)`` sends (a future of
    ``Ok(None)``, or ``Err(code)``, which fails the exchange); wait for the response's head.

    ``Ok((status, fields, body))``: ``body`` (``None`` for none) is read by the caller;
    the connection goes back to the pool once it was read to its end. ``head_only``:
    the request is ``HEAD``.
    """
    got = await pool.connect(key, connect_timeout)
    if isinstance(got, Err):
        return got
    conn = got
    resp = conn.begin(head_only)
    ex = _Exchange(pool, conn, resp)
    conn.transport.write(head)
    body_fut = start_body(conn.writer)
    body_fut.add_done_callback(
        lambda f: ex.side_done(not f.cancelled() and isinstance(f.result(), Ok))
    )
    try:
        result = await _await_head(resp, body_fut, first_byte_timeout)
    except asyncio.CancelledError:
        body_fut.cancel()
        conn.transport.abort()
        raise
    if isinstance(result, Err):
        conn.transport.abort()
        body_fut.cancel()
        return result
    body: IncomingBody | None = None
    if resp.reader is not None:
        body = rb = _ResponseBody(ex, resp.reader, between_bytes_timeout)
        body.on_end = lambda: ex.body_ended(rb)
    else:
        ex.side_done(resp.complete)
    fields = [(k, v) for k, v in resp.fields if k != "transfer-encoding"]
    return Ok((resp.status, fields, body))


async def _await_head(
    resp: _Response, body_fut: asyncio.Future[Any], timeout: float | None
) -> Ok[None] | Err[Any]:
    """The response's head, or ``Err(code)`` (the head's, the body's, or a timeout). The
    body goes out while the response is awaited (a server may answer early); a body that
    fails first fails the exchange, as no response can then be trusted."""
    head = resp.head
    if not head.done():
        waiter = asyncio.get_running_loop().create_future()

        def wake(_: Any = None) -> None:
            if not waiter.done():
                waiter.set_result(None)

        def body_wake(f: asyncio.Future[Any]) -> None:
            if not f.cancelled() and isinstance(f.result(), Err):
                wake()

        head.add_done_callback(wake)
        body_fut.add_done_callback(body_wake)
        timer = None if timeout is None else waiter.get_loop().call_later(timeout, wake)
        try:
            await waiter
        finally:
            if timer is not None:
                timer.cancel()
            head.remove_done_callback(wake)
            body_fut.remove_done_callback(body_wake)
    if body_fut.done() and not body_fut.cancelled():
        r = body_fut.result()
        if isinstance(r, Err):
            return Err(r.value)
    if not head.done():
        return Err(H.ErrorCodeConnectionReadTimeout())
    e = head.exception()
    if isinstance(e, _Failed):
        return Err(e.code)
    return Ok(None)
