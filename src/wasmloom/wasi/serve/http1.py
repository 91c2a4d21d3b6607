"""HTTP/1.1 for ``wasmloom serve``: httptools (llhttp) parsing, asyncio transports.

Why httptools: parsing a request head and writing a response head costs
about 2 µs with it and 75 µs with h11 on this project's machine (the server's
whole Python budget is 150 µs a request), and llhttp is the parser Node.js
ships, strict by default. The server adds the lifecycle around it:

- **framing**: what llhttp rejects (an invalid chunk size, a bad
  content-length, obsolete line folding...) gets ``400`` and a closed
  connection; a head larger than ``max_head`` bytes gets ``431``. A body cut
  short (the client closed the connection early, or sent invalid framing
  after the guest started) ends the guest's body stream with an
  ``error-code`` (``connection-terminated``, ``HTTP-protocol-error``).
- **timeouts**: ``header_timeout`` from a connection's first byte (or a new
  request's) to the end of its head, so slow heads (slowloris) are closed;
  ``keep_alive_timeout`` for an idle connection between requests;
  ``body_timeout`` between two reads of a request body the guest waits on.
- **limits**: at most ``max_connections`` open connections (accepting
  pauses at the cap and resumes below it); the process' soft open-file limit
  is raised to its hard limit, and the cap stays below it. An ``accept`` that
  still fails for want of descriptors pauses accepting for a moment and logs
  one line (at most one every 10 s).
- requests on a connection are served in order (pipelining), and bodies
  apply backpressure: reading pauses while a body's unread bytes pile up.
"""

from __future__ import annotations

import asyncio
import contextvars
import errno
import functools
import resource
import socket
import time
import types
from collections import deque
from collections.abc import Coroutine, Generator
from dataclasses import dataclass
from typing import Any

import httptools

from wasmloom.values import Ok
from wasmloom.wasi.p3 import http as wh
from wasmloom.wasi.p3.http import fields as wfields
from wasmloom.wasi.serve.service import Service, reason

__all__ = ["HttpServer", "Limits", "raise_open_file_limit"]

_BODY_BUFFER = 64 * 1024
_SWEEP = 0.25  # seconds between two checks of the connections' deadlines
_RESERVED_FDS = 64  # descriptors kept for everything that is not a connection
_ACCEPT_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


@dataclass
class Limits:
    """The server's timeouts (seconds; ``None``: none) and limits."""

    header_timeout: float | None = 10.0
    keep_alive_timeout: float | None = 30.0
    body_timeout: float | None = 60.0
    max_connections: int = 4096
    #: bytes of a request head (request line and fields, trailers too): more gets 431
    max_head: int = 64 * 1024


def raise_open_file_limit() -> int:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard one; returns the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


class _HeadTooLarge(Exception):
    pass


class _Request:
    """A request parsed from the connection, waiting for (or being served by) the guest.

    Its head's fields are sorted out as they are parsed: ``host`` becomes the
    authority, the other fields a guest may not see (:data:`wh.FORBIDDEN`) are
    left out, and the framing fields say whether a body follows.
    """

    __slots__ = (
        "authority",
        "body",
        "continue_",
        "fields",
        "has_body",
        "keep",
        "method",
        "reader",
        "trailers",
        "url",
    )

    def __init__(self) -> None:
        self.url = b""
        #: the fields the guest sees
        self.fields: list[tuple[str, bytes]] = []
        #: the first ``host`` field's value
        self.authority: str | None = None
        #: whether a body follows: the first framing field (content-length or
        #: transfer-encoding) says; None: neither came (no body)
        self.has_body: bool | None = None
        #: ``expect: 100-continue`` came
        self.continue_ = False
        self.method = ""
        self.keep = True
        self.reader: asyncio.StreamReader | None = None
        self.body: _Body | None = None
        self.trailers: list[tuple[str, bytes]] | None = None


class _Body(wh.IncomingBody):
    """A request body fed by the parser (chunks already decoded), with its trailers
    (the request's list, which the parser fills; not the request itself, which
    points here: reference counting frees the two)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        trailers: list[tuple[str, bytes]],
        timeout: float | None,
    ):
        super().__init__(reader, between_bytes=timeout)
        self.parsed_trailers = trailers

    def _end(self, result: Any) -> None:
        if isinstance(result, Ok) and self.parsed_trailers:
            result = Ok(wh.Fields(self.parsed_trailers, immutable=True))
        super()._end(result)


class _Conn(asyncio.streams.FlowControlMixin, asyncio.Protocol):
    """One client connection: parser callbacks, the requests in order, the Exchange."""

    def __init__(self, srv: HttpServer) -> None:
        super().__init__(srv.loop)
        self.srv = srv
        self.loop = srv.loop
        self.limits = srv.limits
        self.parser = httptools.HttpRequestParser(self)
        self.transport: Any = None
        self.writer: asyncio.StreamWriter = None  # type: ignore[assignment]
        self.queue: deque[_Request] = deque()
        self.cur: _Request | None = None  # being parsed
        self.in_head = False
        self.head_bytes = 0
        #: bytes received for the current head after the data it began in, all of it
        #: head (the parser builds a field's value by concatenation until the field
        #: ends, so a field is refused by its size before it is complete)
        self.head_fed = 0
        #: a request of this connection is in service (from the end of its head on)
        self.busy = False
        #: the service of the requests parsed is due once the data in hand is parsed
        self.due = False
        #: the task carrying on a service that suspended (see :meth:`_begin`)
        self.task: asyncio.Task[None] | None = None
        #: time (:func:`time.monotonic`) past which a head (or an idle connection) has waited
        #: too long; 0: none
        self.deadline = 0.0
        self.closed = False
        # the Exchange of the request being served
        self.keep = True
        self.answered = False
        self.bad = False  # the framing failed: no more requests
        self.serving: _Request | None = None  # the request in service

    # -- transport

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        self.writer = asyncio.StreamWriter(transport, self, None, self.loop)
        self.srv.conns.add(self)
        self._arm(self.srv.limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._disarm()
        self.srv.forget(self)
        for req in (*self.queue, *((self.cur,) if self.cur is not None else ())):
            self._cut(req)
        super().connection_lost(exc)

    def eof_received(self) -> bool:
        """The client half-closed: a body still being read fails; the responses due go out,
        then the connection closes."""
        self.bad = True
        if self.cur is not None:
            self._cut(self.cur)
        if not self.busy:
            return False  # nothing in service: close now
        return True

    def _cut(self, req: _Request) -> None:
        """The body of ``req`` cannot complete: its reader fails (the guest sees an error)."""
        r = req.reader
        if r is not None and not r.at_eof() and r.exception() is None:
            r.set_exception(ConnectionResetError("the client closed the connection"))

    def data_received(self, data: bytes) -> None:
        if self.bad:
            return
        if not self.in_head and self.cur is None and not self.busy:
            self.deadline = 0.0  # the keep-alive timer; the head's runs from here
        began = self.cur if self.in_head else None  # a head begun in earlier data
        try:
            self.parser.feed_data(data)
            if self.in_head:
                if not self.deadline:
                    self._arm(self.limits.header_timeout)  # the head is not complete yet
                if self.cur is began:  # the same head, still not complete: all of data
                    fed = self.head_fed = self.head_fed + len(data)
                    if fed > self.limits.max_head:
                        raise _HeadTooLarge
        except _HeadTooLarge:
            self._reject(431, "request header fields too large\n")
        except httptools.HttpParserCallbackError as e:
            if isinstance(e.__context__, _HeadTooLarge):
                self._reject(431, "request header fields too large\n")
            else:
                self._reject(400, "bad request\n")
        except httptools.HttpParserUpgrade:
            self._reject(400, "protocol upgrades are not supported\n")
        except httptools.HttpParserError:
            self._reject(400, "malformed request\n")
        if self.due:
            self.due = False
            self._begin()

    def _reject(self, status: int, text: str) -> None:
        """The framing failed: answer ``status`` if nothing of the current request was sent,
        fail its body, and close once the request in service (if any) ends."""
        self.bad = True
        self.transport.pause_reading()
        if self.cur is not None:
            self._cut(self.cur)  # a guest reading this body sees the error
        self.queue.clear()  # requests not yet in service never will be
        if not self.busy:
            self.error(status, text, _LINGER)
        elif not self.answered:
            self.error(status, text)

    # -- timers

    # (the server's sweep checks the deadlines: no timer per request)

    def _arm(self, seconds: float | None) -> None:
        self.deadline = 0.0 if seconds is None else _now() + seconds

    def _disarm(self) -> None:
        self.deadline = 0.0

    def cancel(self) -> None:
        """The server stops before this connection's requests end: their bodies fail (a
        guest reading one sees an error, after its instance was retired)."""
        for req in (self.serving, *self.queue, self.cur):
            if req is not None:
                self._cut(req)
        self.queue.clear()

    def timed_out(self) -> None:
        self.deadline = 0.0
        if not self.busy and not self.closed:
            self.transport.close()

    # -- parser callbacks

    def on_message_begin(self) -> None:
        self.cur = _Request()
        self.in_head = True
        self.head_bytes = 0
        self.head_fed = 0
        # (the head's timer runs if the head is not complete once the data is parsed)

    def on_url(self, url: bytes) -> None:
        cur = self.cur
        assert cur is not None
        cur.url += url
        self.head_bytes += len(url)
        if self.head_bytes > self.limits.max_head:
            raise _HeadTooLarge

    def on_header(self, name: bytes, value: bytes) -> None:
        cur = self.cur
        assert cur is not None
        size = self.head_bytes = self.head_bytes + len(name) + len(value) + 4
        if size > self.limits.max_head:
            raise _HeadTooLarge
        key = _NAMES.get(name)
        if key is None:
            key = name.decode("latin-1").lower()
            if len(_NAMES) < _MAX_NAMES and len(name) <= 64:
                _NAMES[name] = key
        if not self.in_head:
            if cur.trailers is None:
                cur.trailers = []
            cur.trailers.append((key, value))
        elif key == "host":  # (every request has one: noted here, without a call)
            if cur.authority is None:
                cur.authority = value.decode("latin-1")
        elif key in _NOTED:
            _note(cur, key, value)
        else:
            cur.fields.append((key, value))

    def on_headers_complete(self) -> None:
        cur = self.cur
        assert cur is not None
        self.in_head = False
        self.head_bytes = 0  # from now on: the trailers'
        if not self.busy:
            self.deadline = 0.0
        p = self.parser
        method = p.get_method()
        cur.method = _METHOD_NAMES.get(method) or method.decode("latin-1")
        cur.keep = p.should_keep_alive()
        if cur.has_body:
            reader = asyncio.StreamReader(_BODY_BUFFER, self.loop)
            reader.set_transport(self.transport)
            cur.reader = reader
            cur.trailers = []
            cur.body = _Body(reader, cur.trailers, self.limits.body_timeout)
            if cur.continue_:
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.queue.append(cur)
        if not self.busy:
            self.answered = False
            self.busy = self.due = True  # served once this data is parsed: see data_received

    def on_body(self, data: bytes) -> None:
        cur = self.cur
        if cur is not None and cur.reader is not None:
            cur.reader.feed_data(data)

    def on_message_complete(self) -> None:
        cur = self.cur
        self.cur = None
        if cur is not None and cur.reader is not None:
            cur.reader.feed_eof()

    # -- serving

    def _begin(self) -> None:
        """Serve the requests queued: the service's first step runs now, in line (as
        asyncio's eager tasks do: a request served without suspending costs no task and no
        loop turn); a task carries on a service that suspends. With ``-W timeout`` the
        service runs in a task from the start (``asyncio.timeout`` acts on a task)."""
        ctx = contextvars.copy_context()
        coro = self._serve()
        if self.srv.service.run_opts.wasm.timeout is None:
            try:
                first = ctx.run(coro.send, None)
            except (StopIteration, asyncio.CancelledError):
                return
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as e:  # as a task's exception would be, once dropped
                self.loop.call_exception_handler(
                    {"message": "serving a request failed", "exception": e, "protocol": self}
                )
                return
            coro = _carried(coro, first)
        task = self.task = self.loop.create_task(coro, context=ctx)
        self.srv.tasks.add(task)

    async def _serve(self) -> None:
        handle = self.srv.service.handle
        queue = self.queue
        try:
            while queue and not self.closed:
                req = queue.popleft()
                url = req.url.decode("latin-1")
                authority = req.authority
                if url[:1] != "/" and "://" in url:  # absolute-form
                    auth, slash, path = url.split("://", 1)[1].partition("/")
                    authority, url = auth, slash + path
                self.keep, self.answered = req.keep, False
                self.serving = req
                body = req.body
                ok = await handle(self, req.method, url, authority, req.fields, body)
                self.serving = None
                if self.bad and not self.closed and not self.answered:
                    self.error(400, "malformed request\n")
                done = self.bad or self.srv.draining or (body is not None and not body.done)
                if not ok or not self.keep or done:
                    if not self.closed:
                        self.transport.close()
                    return
        finally:
            task = self.task
            if task is not None:
                self.task = None
                self.srv.tasks.discard(task)
            self.busy = False
        if not self.closed and self.cur is None:
            idle = self.limits.keep_alive_timeout  # (what _arm does, without its call)
            self.deadline = 0.0 if idle is None else _now() + idle

    # -- Exchange

    def start(
        self,
        status: int,
        entries: list[tuple[str, bytes]],
        length: int | None,
        has_body: bool,
        framed: bool = True,
    ) -> bool:
        self.answered = True
        if self.bad or self.srv.draining:
            self.keep = False  # the server is stopping: this is the connection's last response
        chunked = has_body and length is None
        head = bytearray(_STATUS_LINES.get(status) or _status_line(status))
        for k, v in entries:
            head += k.encode("latin-1")
            head += b": "
            head += v
            head += b"\r\n"
        if chunked:
            head += b"transfer-encoding: chunked\r\n"
        elif length is None and framed:
            head += b"content-length: 0\r\n"
        head += b"\r\n" if self.keep else b"connection: close\r\n\r\n"
        transport = self.transport
        if not transport.is_closing():
            transport.write(head)
        return chunked

    def finish(self, chunked: bool, trailers: wh.Fields | None) -> None:
        if chunked and not self.transport.is_closing():
            tail = wfields._fields_bytes(trailers.entries) if trailers else b""
            self.transport.write(b"0\r\n" + tail + b"\r\n")

    def fail(self) -> None:
        self.keep = False
        if not self.closed:
            self.transport.close()  # what was written is still delivered

    def error(self, status: int, text: str, linger: float = 0.0) -> None:
        """Answer ``status`` with ``text`` and close. With ``linger``, the close is a
        lingering one: the client may still be sending what was refused, and closing
        with its data unread would reset the connection, losing the answer; so the
        connection sends its end, then reads on (and drops what comes, see
        :meth:`data_received`) until the client closes or ``linger`` seconds pass."""
        self.keep = False
        self.answered = True
        if self.transport.is_closing():
            return
        if self.srv.service.stopping and status == 500:  # cancelled at shutdown
            status, text = 503, "the server is shutting down\n"
        body = text.encode("utf-8", "replace")
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status, reason(status).encode(), len(body), body)
        )
        transport = self.transport
        if linger > 0 and transport.can_write_eof():
            transport.write_eof()
            transport.resume_reading()
            self._arm(linger)
        else:
            transport.close()


_STATUS_LINES: dict[int, bytes] = {}
# field names as they came -> lower-cased text (the first few hundred names seen)
_NAMES: dict[bytes, str] = {}
_MAX_NAMES = 512
_now = time.monotonic  # the connections' deadlines' clock
_LINGER = 2.0  # seconds a connection refused for its framing reads on (see _Conn.error)
_METHOD_NAMES = {
    m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")
}

# head fields that say more than what the guest sees (see :func:`_note`)
_NOTED = wh.FORBIDDEN | {"content-length", "expect"}


def _note(req: _Request, key: str, value: bytes) -> None:
    """A head field of :data:`_NOTED` other than ``host`` (the first ``host`` is the
    authority: :meth:`_Conn.on_header` notes it): the other forbidden fields are left out,
    the framing fields say whether a body follows (llhttp has checked them),
    ``expect: 100-continue`` is noted."""
    if key == "content-length":
        if req.has_body is None:
            req.has_body = value.strip() != b"0"
    elif key == "transfer-encoding":
        if req.has_body is None:
            req.has_body = True
    elif key == "expect" and value.lower() == b"100-continue":
        req.continue_ = True
    if key not in wh.FORBIDDEN:
        req.fields.append((key, value))


def _status_line(status: int) -> bytes:
    line = b"HTTP/1.1 %d %s\r\n" % (status, reason(status).encode())
    if 100 <= status <= 999:
        _STATUS_LINES[status] = line
    return line


class HttpServer:
    """Listens on sockets and serves each connection with ``service``."""

    def __init__(self, service: Service, limits: Limits | None = None) -> None:
        self.service = service
        self.limits = limits if limits is not None else Limits()
        self.loop = asyncio.get_running_loop()
        self.conns: set[_Conn] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.listeners: list[_Listener] = []
        self.sweeper: asyncio.TimerHandle | None = None
        #: stopping: no more accepting, each response closes its connection
        self.draining = False
        soft = raise_open_file_limit()
        self.max_connections = max(1, min(self.limits.max_connections, soft - _RESERVED_FDS))

    def listen(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.listeners.append(_Listener(self, sock))
        if self.sweeper is None:
            self.sweeper = self.loop.call_later(_SWEEP, self._sweep)

    def _sweep(self) -> None:
        """Close the connections past their deadline (every :data:`_SWEEP` seconds)."""
        now = _now()
        for conn in [c for c in self.conns if c.deadline and c.deadline <= now]:
            conn.timed_out()
        self.sweeper = self.loop.call_later(_SWEEP, self._sweep)

    def forget(self, conn: _Conn) -> None:
        self.conns.discard(conn)
        if len(self.conns) < self.max_connections:
            for lst in self.listeners:
                lst.resume()

    async def close(self, grace: float = 10.0, now: asyncio.Event | None = None) -> None:
        """Stop gracefully: stop accepting, close idle connections, and give the requests
        in flight ``grace`` seconds (or until ``now`` is set) to end, each response closing
        its connection. Then log one line per request left, retire every instance (guest
        code still running traps at its next tick), fail the bodies the guests wait on, and
        cancel what is left."""
        self.draining = True
        self.service.stop_warming()
        for lst in self.listeners:
            lst.close()
        if self.sweeper is not None:
            self.sweeper.cancel()
        for conn in list(self.conns):
            # (a connection accepted a moment ago has no transport yet: served if it asks)
            if not conn.busy and not conn.closed and conn.transport is not None:
                conn.transport.close()
        forced = asyncio.ensure_future(now.wait()) if now is not None else None
        deadline = self.loop.time() + grace
        while self.tasks and not (now is not None and now.is_set()):
            left = deadline - self.loop.time()
            if left <= 0:
                break
            waited: list[asyncio.Future[Any]] = [*self.tasks, *([forced] if forced else [])]
            await asyncio.wait(waited, timeout=left, return_when=asyncio.FIRST_COMPLETED)
        if forced is not None:
            forced.cancel()
        why = "a second signal" if now is not None and now.is_set() else f"{grace:g}s"
        busy = [c for c in self.conns if c.busy]
        for conn in busy:
            req = conn.serving
            what = f"{req.method} {req.url.decode('latin-1')}" if req is not None else "a request"
            self.service.log(f"shutdown: cancelled {what} (still running after {why})")
        self.service.retire_all()
        for conn in busy:
            conn.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=0.5)
        if self.tasks:
            pending = list(self.tasks)
            for t in pending:
                t.cancel()
            await asyncio.wait(pending, timeout=1)
        for conn in list(self.conns):
            if not conn.closed and conn.transport is not None:
                conn.transport.abort()


class _Listener:
    """Accepts connections on one listening socket, up to the server's cap."""

    def __init__(self, srv: HttpServer, sock: socket.socket) -> None:
        self.srv = srv
        self.sock = sock
        self.active = False
        self.closed = False
        self.last_log = 0.0
        self.retry: asyncio.TimerHandle | None = None
        self.resume()

    def resume(self) -> None:
        if not self.active and not self.closed and self.retry is None:
            self.srv.loop.add_reader(self.sock.fileno(), self._accept)
            self.active = True

    def pause(self) -> None:
        if self.active:
            self.srv.loop.remove_reader(self.sock.fileno())
            self.active = False

    def close(self) -> None:
        self.pause()
        self.closed = True
        if self.retry is not None:
            self.retry.cancel()
        self.sock.close()

    def _accept(self) -> None:
        srv = self.srv
        for _ in range(64):
            if len(srv.conns) >= srv.max_connections:
                self.pause()  # resumed when a connection closes
                return
            try:
                conn, _addr = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in _ACCEPT_ERRNOS:
                    self._starved(e)
                elif e.errno not in (errno.ECONNABORTED, errno.EPROTO):
                    self._log(f"error: accept failed: {e.strerror}")
                return
            conn.setblocking(False)
            protocol = _Conn(srv)
            srv.conns.add(protocol)  # counted at once; connection_made follows
            task = srv.loop.create_task(
                srv.loop.connect_accepted_socket(functools.partial(_same, protocol), conn)
            )
            task.add_done_callback(functools.partial(_accepted, protocol, conn))

    def _starved(self, e: OSError) -> None:
        """Out of descriptors (or memory): stop accepting for a moment; log rarely."""
        self.pause()
        now = time.monotonic()
        if now - self.last_log >= 10:
            self.last_log = now
            self._log(
                f"error: cannot accept connections: {e.strerror} "
                f"({len(self.srv.conns)} open); retrying"
            )

        def again() -> None:
            self.retry = None
            self.resume()

        self.retry = self.srv.loop.call_later(0.25, again)

    def _log(self, msg: str) -> None:
        self.srv.service.log(msg)


async def _carried(coro: Coroutine[Any, Any, None], first: Any) -> None:
    """Carry on ``coro``, suspended at ``first`` (what its first step yielded), in the
    task that runs this."""
    await _steps(coro, first)


@types.coroutine
def _steps(coro: Coroutine[Any, Any, None], first: Any) -> Generator[Any, Any, None]:
    # (a generator-based coroutine: what ``coro`` yields goes to the task as it is, and
    # what the task sends or throws in goes on to ``coro``)
    try:
        # a bare yield asked for one loop turn: it has passed once the task runs this
        out = first if first is not None else coro.send(None)
        while True:
            try:
                sent = yield out
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as e:  # thrown in by the task (cancellation)
                out = coro.throw(e)
            else:
                out = coro.send(sent)
    except StopIteration:
        return


def _same(protocol: _Conn) -> _Conn:
    return protocol


def _accepted(protocol: _Conn, conn: socket.socket, task: asyncio.Task[Any]) -> None:
    if task.cancelled() or task.exception() is not None:
        protocol.srv.forget(protocol)
        conn.close()
