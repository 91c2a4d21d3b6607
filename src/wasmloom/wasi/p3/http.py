"""WASI 0.3.0 ``wasi:http``: the ``types`` resources and the outgoing ``client``, on asyncio.

Implemented against the bindings generated from the project's WIT
(:mod:`wasmloom.wasi.p3.bindings`, modules ``wasi_http_*``)::

    http = WasiHttp(p3)                       # p3: the store's WasiP3
    add_to_linker(linker, lambda d: d.http)

Resources (all host objects):

- :class:`Fields`: an ordered multimap; names are lower-cased HTTP tokens,
  values bytes of RFC 9110 ``field-content`` (SP, HTAB, VCHAR, obs-text).
  Syntax errors are ``invalid-syntax``; hop-by-hop and ``host`` names
  (:data:`FORBIDDEN`) are ``forbidden``; fields owned by a request or
  response, or handed out by ``get-headers``, are ``immutable``.
- :class:`Request`, :class:`Response`, :class:`RequestOptions`: the
  messages and their settings (validated as RFC 9110 / RFC 3986 say).
- A body is a ``stream<u8>`` plus a ``future`` of the trailers. ``new``
  returns a future that resolves once the body was transmitted (by the host
  sending it, or by the guest that called ``consume-body``, whose ``res``
  future is forwarded to it).

:meth:`WasiHttp.send` (``wasi:http/client.send``) speaks HTTP/1.1 over
asyncio streams (``http`` and, through :mod:`ssl`, ``https``): the request
body is sent chunked (with its trailers) unless a ``content-length`` is
given; the response body is a host stream read from the connection
(``content-length``, chunked with trailers, or until the close). Failures
map to ``error-code`` cases (DNS, refused, timeouts, protocol, sizes).
The server side (``wasmloom serve``) is :mod:`wasmloom.wasi.serve`.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import sys
from collections.abc import Callable, Iterable
from typing import Any

from wasmloom import types as T
from wasmloom.bindgen import rt as _brt
from wasmloom.host.accessor import Accessor
from wasmloom.host.linker import Linker
from wasmloom.host.streams import (
    BytesProducer,
    FutureDestination,
    FutureReader,
    Source,
    StreamReader,
    StreamResult,
    ValueFutureProducer,
)
from wasmloom.values import Err, Ok, Resource
from wasmloom.wasi.p3._streams import (
    CANCELLED,
    COMPLETED,
    DROPPED,
    PENDING,
    AsyncChunkProducer,
    Completion,
    StreamError,
)
from wasmloom.wasi.p3.bindings import wasi_http_client, wasi_http_types
from wasmloom.wasi.p3.bindings import wasi_http_types as H

__all__ = [
    "FORBIDDEN",
    "Body",
    "Fields",
    "IncomingBody",
    "Request",
    "RequestOptions",
    "Response",
    "WasiHttp",
    "add_to_linker",
    "error_label",
    "parse_field_line",
    "write_body",
]


#: Field names a guest may not set (hop-by-hop fields, and ``host``: it comes from the authority).
FORBIDDEN = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
        "http2-settings",
        "host",
    }
)

_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_TCHAR = _ALNUM | frozenset("!#$%&'*+-.^_`|~")
_UNRESERVED = _ALNUM | frozenset("-._~")
_SUB_DELIMS = frozenset("!$&'()*+,;=")
_PCHAR = _UNRESERVED | _SUB_DELIMS | frozenset("%:@")
_PATH_QUERY = _PCHAR | frozenset("/?")
_REG_NAME = _UNRESERVED | _SUB_DELIMS | frozenset("%")
_USERINFO = _REG_NAME | frozenset(":")
_SCHEME_REST = _ALNUM | frozenset("+-.")
# field-content bytes: HTAB, SP, VCHAR, obs-text
_BAD_VALUE_BYTES = bytes(
    b for b in range(256) if not (b in (9, 32) or 0x21 <= b <= 0x7E or b >= 0x80)
)
_METHODS: dict[str, H.Method] = {
    "GET": H.MethodGet(),
    "HEAD": H.MethodHead(),
    "POST": H.MethodPost(),
    "PUT": H.MethodPut(),
    "DELETE": H.MethodDelete(),
    "CONNECT": H.MethodConnect(),
    "OPTIONS": H.MethodOptions(),
    "TRACE": H.MethodTrace(),
    "PATCH": H.MethodPatch(),
}
_MAX_HEAD = 64 * 1024  # bytes of a response head (status line and fields) the client reads
# asyncio's plain selector transport (3.11) sends what it can at once and copies the rest
# into its own buffer inside write(): a view of guest memory may be written without a copy.
# TLS transports (and later Pythons) may keep the object: they get bytes.
_WRITE_VIEWS = sys.version_info < (3, 12)


def _hdr_err(tag: str) -> Err[H.HeaderError]:
    cls = {
        "invalid-syntax": H.HeaderErrorInvalidSyntax,
        "forbidden": H.HeaderErrorForbidden,
        "immutable": H.HeaderErrorImmutable,
    }[tag]
    return Err(cls())


def valid_name(name: str) -> bool:
    """An RFC 9110 token."""
    return bool(name) and all(c in _TCHAR for c in name)


def valid_value(value: bytes) -> bool:
    """RFC 9110 field content bytes (leading and trailing whitespace included)."""
    return not value.translate(None, _BAD_VALUE_BYTES) != value


def parse_field_line(line: bytes) -> tuple[str, bytes] | None:
    """``name: value`` (line ending removed) -> (lower-cased name, trimmed value); None when
    malformed (the name not a token, the value with control bytes such as a bare CR)."""
    name, sep, value = line.partition(b":")
    n = name.decode("latin-1")
    value = value.strip(b" \t")
    if not sep or not valid_name(n) or not valid_value(value):
        return None
    return n.lower(), value


def method_name(m: Any) -> str:
    """The request-line token of a ``method`` value."""
    return str(m.value) if m.tag == "other" else str(m.tag).upper()


# --- fields ------------------------------------------------------------------------------


class Fields:
    """``wasi:http/types.fields``: an ordered multimap of lower-cased names to byte values."""

    __slots__ = ("entries", "immutable")

    def __init__(self, entries: list[tuple[str, bytes]] | None = None, immutable: bool = False):
        self.entries: list[tuple[str, bytes]] = entries if entries is not None else []
        self.immutable = immutable

    @classmethod
    def checked(cls, pairs: Iterable[tuple[str, bytes]]) -> Ok[Fields] | Err[H.HeaderError]:
        out: list[tuple[str, bytes]] = []
        for name, value in pairs:
            err = _check_entry(name, value)
            if err is not None:
                return err
            out.append((name.lower(), bytes(value)))
        return Ok(cls(out))

    def _guard(self, name: str) -> Err[H.HeaderError] | None:
        if self.immutable:
            return _hdr_err("immutable")
        if not valid_name(name):
            return _hdr_err("invalid-syntax")
        if name.lower() in FORBIDDEN:
            return _hdr_err("forbidden")
        return None

    def get(self, name: str) -> list[bytes]:
        key = name.lower()
        return [v for k, v in self.entries if k == key]

    def has(self, name: str) -> bool:
        key = name.lower()
        return any(k == key for k, _ in self.entries)

    def set(self, name: str, value: list[bytes]) -> Ok[None] | Err[H.HeaderError]:
        err = self._guard(name)
        if err is not None:
            return err
        if not all(valid_value(v) for v in value):
            return _hdr_err("invalid-syntax")
        key = name.lower()
        self.entries = [(k, v) for k, v in self.entries if k != key]
        self.entries.extend((key, bytes(v)) for v in value)
        return Ok(None)

    def delete(self, name: str) -> Ok[None] | Err[H.HeaderError]:
        got = self.get_and_delete(name)
        return got if isinstance(got, Err) else Ok(None)

    def get_and_delete(self, name: str) -> Ok[list[bytes]] | Err[H.HeaderError]:
        err = self._guard(name)
        if err is not None:
            return err
        key = name.lower()
        out = [v for k, v in self.entries if k == key]
        if out:
            self.entries = [(k, v) for k, v in self.entries if k != key]
        return Ok(out)

    def append(self, name: str, value: bytes) -> Ok[None] | Err[H.HeaderError]:
        err = self._guard(name)
        if err is not None:
            return err
        if not valid_value(value):
            return _hdr_err("invalid-syntax")
        self.entries.append((name.lower(), bytes(value)))
        return Ok(None)

    def copy_all(self) -> list[tuple[str, bytes]]:
        return list(self.entries)

    def clone(self) -> Fields:
        return Fields(list(self.entries))

    def frozen_view(self) -> Fields:
        """An immutable handle on the same entries (what ``get-headers`` returns)."""
        return Fields(self.entries, immutable=True)


def _check_entry(name: str, value: bytes) -> Err[H.HeaderError] | None:
    if not valid_name(name) or not valid_value(value):
        return _hdr_err("invalid-syntax")
    if name.lower() in FORBIDDEN:
        return _hdr_err("forbidden")
    return None


# --- request options ---------------------------------------------------------------------


class RequestOptions:
    """``request-options``: connect, first-byte and between-bytes timeouts (nanoseconds)."""

    __slots__ = ("between_bytes", "connect", "first_byte", "immutable")

    def __init__(self) -> None:
        self.connect: int | None = None
        self.first_byte: int | None = None
        self.between_bytes: int | None = None
        self.immutable = False

    def _set(self, attr: str, d: int | None) -> Ok[None] | Err[H.RequestOptionsError]:
        if self.immutable:
            return Err(H.RequestOptionsErrorImmutable())
        setattr(self, attr, d)
        return Ok(None)

    def get_connect_timeout(self) -> int | None:
        return self.connect

    def set_connect_timeout(self, duration: int | None) -> Ok[None] | Err[H.RequestOptionsError]:
        return self._set("connect", duration)

    def get_first_byte_timeout(self) -> int | None:
        return self.first_byte

    def set_first_byte_timeout(self, duration: int | None) -> Ok[None] | Err[H.RequestOptionsError]:
        return self._set("first_byte", duration)

    def get_between_bytes_timeout(self) -> int | None:
        return self.between_bytes

    def set_between_bytes_timeout(
        self, duration: int | None
    ) -> Ok[None] | Err[H.RequestOptionsError]:
        return self._set("between_bytes", duration)

    def clone(self) -> RequestOptions:
        c = RequestOptions()
        c.connect, c.first_byte, c.between_bytes = self.connect, self.first_byte, self.between_bytes
        return c

    def frozen(self) -> RequestOptions:
        c = self.clone()
        c.immutable = True
        return c


def _seconds(ns: int | None) -> float | None:
    return None if ns is None else ns / 1e9


# --- bodies ------------------------------------------------------------------------------


class Body:
    """A message body: its contents stream, its trailers future, and who reports on it.

    ``contents`` is ``None`` for an empty body. ``sent``, for a message a
    guest built with ``new``, is the producer of the future ``new``
    returned: settled when the body was transmitted or consumed.
    """

    __slots__ = ("contents", "sent", "trailers")

    def __init__(
        self,
        contents: StreamReader[Any] | None,
        trailers: FutureReader[Any] | None,
        sent: Completion | None = None,
    ) -> None:
        self.contents = contents
        self.trailers = trailers
        self.sent = sent

    def close(self, why: Any = None) -> None:
        """Dispose of both ends; a pending ``sent`` future gets ``Err(why)``."""
        for end in (self.contents, self.trailers):
            if end is not None:
                end.close()
        self.contents = self.trailers = None
        if self.sent is not None:
            self.sent.settle(Err(why if why is not None else _internal("the body was dropped")))


def _internal(msg: str | None = None) -> H.ErrorCode:
    return H.ErrorCodeInternalError(msg)


def error_label(code: Any) -> str:
    """A short text for an ``error-code`` value (for logs and 5xx bodies)."""
    tag = getattr(code, "tag", None)
    if tag is None:
        return str(code)
    value = getattr(code, "value", None)
    return f"{tag}({value})" if value is not None else str(tag)


class _FieldsBridge:
    """Moves :class:`Fields` objects in and out of ``own<fields>`` values carried by futures.

    Values inside a ``future`` payload are lowered without the bindings' class
    map, so an owned fields handle is a :class:`~wasmloom.values.Resource` of
    the linker's ``fields`` type, whose representation indexes the bindings'
    host table.
    """

    __slots__ = ("rt",)

    def __init__(self, rt: T.ResourceType) -> None:
        self.rt = rt

    def to_guest(self, fields: Fields) -> Resource:
        fields.immutable = True
        return _brt.own_handle(self.rt, fields)

    @staticmethod
    def from_guest(v: Any) -> Fields | None:
        if isinstance(v, Fields):
            return v
        if isinstance(v, Resource):
            obj = _brt.host_object(v)
            if isinstance(obj, Fields):
                return obj
        return None


class IncomingBody:
    """A body read from an asyncio connection: by length, chunked (with trailers) or to EOF.

    :meth:`read` returns the next bytes (``b""`` at the end) or raises
    :class:`StreamError` with an ``error-code``; :meth:`finish` reads (and
    discards) the rest and returns the trailers result,
    ``Ok(Fields | None)`` or ``Err(error-code)``.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        *,
        length: int | None = None,
        chunked: bool = False,
        between_bytes: float | None = None,
        is_response: bool = False,
    ) -> None:
        self.reader = reader
        self.left = length  # bytes left: of the body (length), of the current chunk (chunked)
        self.chunked = chunked
        self.timeout = between_bytes
        self.is_response = is_response
        self.done = length == 0 and not chunked
        self.result: Ok[Fields | None] | Err[Any] | None = Ok(None) if self.done else None
        #: called once when the body ended (read to its end, failed or abandoned)
        self.on_end: Callable[[], None] | None = None
        self._lock = asyncio.Lock()

    def _end(self, result: Ok[Fields | None] | Err[Any]) -> None:
        if self.result is None or not self.done:
            self.result = result
        self.done = True
        on_end, self.on_end = self.on_end, None
        if on_end is not None:
            on_end()

    def abandon(self) -> None:
        """The reader dropped the stream before its end: stop (trailers: ``Ok(None)``)."""
        if not self.done:
            self._end(Ok(None))

    def _fail(self, code: Any) -> StreamError:
        self._end(Err(code))
        return StreamError(code)

    def _incomplete(self) -> Any:
        if self.is_response:
            return H.ErrorCodeHTTPResponseIncomplete()
        return H.ErrorCodeHTTPProtocolError()

    async def _io(self, aw: Any) -> Any:
        try:
            if self.timeout is None:
                return await aw
            return await asyncio.wait_for(aw, self.timeout)
        except TimeoutError:
            raise self._fail(H.ErrorCodeConnectionReadTimeout()) from None
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            raise self._fail(self._incomplete()) from None
        except OSError:
            raise self._fail(H.ErrorCodeConnectionTerminated()) from None

    async def read(self, n: int) -> bytes:
        async with self._lock:
            return await self._read(n)

    async def _read(self, n: int) -> bytes:
        if self.done:
            if isinstance(self.result, Err):
                raise StreamError(self.result.value)
            return b""
        n = max(n, 1)
        if not self.chunked:
            want = n if self.left is None else min(n, self.left)
            data = await self._io(self.reader.read(want))
            if not data:
                if self.left is not None:
                    raise self._fail(self._incomplete())
                self._end(Ok(None))
                return b""
            if self.left is not None:
                self.left -= len(data)
                if self.left == 0:
                    self._end(Ok(None))
            return bytes(data)
        while not self.left:
            if self.left == 0:  # the CRLF after a chunk's data
                if await self._io(self.reader.readexactly(2)) != b"\r\n":
                    raise self._fail(H.ErrorCodeHTTPProtocolError())
            line = await self._io(self.reader.readuntil(b"\n"))
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise self._fail(H.ErrorCodeHTTPProtocolError()) from None
            if size == 0:
                self._end(Ok(await self._read_trailers()))
                return b""
            self.left = size
        data = await self._io(self.reader.read(min(n, self.left)))
        if not data:
            raise self._fail(self._incomplete())
        self.left -= len(data)
        return bytes(data)

    async def _read_trailers(self) -> Fields | None:
        entries: list[tuple[str, bytes]] = []
        while True:
            line = await self._io(self.reader.readuntil(b"\n"))
            line = line.rstrip(b"\r\n")
            if not line:
                return Fields(entries, immutable=True) if entries else None
            entry = parse_field_line(line)
            if entry is None:
                raise self._fail(H.ErrorCodeHTTPProtocolError())
            entries.append(entry)

    async def finish(self) -> Ok[Fields | None] | Err[Any]:
        async with self._lock:
            try:
                while not self.done:
                    await self._read(65536)
            except StreamError:
                pass
            assert self.result is not None
            return self.result


class _BodyProducer(AsyncChunkProducer):
    """The contents stream of an :class:`IncomingBody`; dropping it abandons the body."""

    def __init__(self, store: Any, body: IncomingBody) -> None:
        super().__init__(store, body.read, Completion())
        self.body = body

    def close(self) -> None:
        super().close()
        self.body.abandon()


class _TrailersProducer:
    """The trailers future of an :class:`IncomingBody`: resolves once the body was read."""

    def __init__(
        self, store: Any, body: IncomingBody, bridge: Callable[[], _FieldsBridge | None]
    ) -> None:
        self.store = store
        self.body = body
        self.bridge = bridge
        self.task: asyncio.Task[Any] | None = None

    def poll_produce(self, store: Any, dst: FutureDestination, finish: bool) -> StreamResult:
        task = self.task
        if task is None:
            if self.body.done and self.body.result is not None:
                dst.set(self._lower(self.body.result))
                return COMPLETED
            if finish:
                return CANCELLED
            task = self.task = self.store.spawn(self.body.finish())
            wake = dst.wake
            task.add_done_callback(lambda _: wake())
            return PENDING
        if not task.done():
            return CANCELLED if finish else PENDING
        self.task = None
        if task.cancelled():
            return CANCELLED
        dst.set(self._lower(task.result()))
        return COMPLETED

    def _lower(self, result: Ok[Fields | None] | Err[Any]) -> Any:
        bridge = self.bridge()
        if isinstance(result, Ok) and result.value is not None and bridge is not None:
            return Ok(bridge.to_guest(result.value))
        return result

    def close(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()


# --- writing a body ----------------------------------------------------------------------


class _BodySink:
    """Writes a guest's ``stream<u8>`` to an asyncio connection, chunk-framed or raw.

    ``limit``, for a declared ``content-length``, is the exact size the body
    must have. :attr:`done` resolves to ``None`` at the end of the stream, or
    to an ``error-code`` (the connection failed, the body was too long).
    """

    def __init__(self, writer: asyncio.StreamWriter, chunked: bool, limit: int | None) -> None:
        self.writer = writer
        self.chunked = chunked
        self.limit = limit
        self.count = 0
        self.views_ok = _WRITE_VIEWS and writer.get_extra_info("ssl_object") is None
        self.drain: asyncio.Future[Any] | None = None
        self.done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def _finish(self, value: Any) -> None:
        if not self.done.done():
            self.done.set_result(value)

    def poll_consume(self, store: Any, src: Source, finish: bool) -> StreamResult:
        drain = self.drain
        if drain is not None:
            if not drain.done():
                return CANCELLED if finish else PENDING
            self.drain = None
            if drain.cancelled() or drain.exception() is not None:
                self._finish(H.ErrorCodeConnectionTerminated())
                return DROPPED
        if self.writer.transport.is_closing():  # aborted, or the peer went away
            self._finish(H.ErrorCodeConnectionTerminated())
            return DROPPED
        if src.remaining() == 0:
            return COMPLETED
        try:
            view: Any = src.as_direct()
            direct = True
        except TypeError:  # a host-created stream: the items come as a copy
            buf = bytearray()
            src.read(buf)
            view, direct = memoryview(buf), False
        n = len(view)
        if not n:
            return COMPLETED
        self.count += n
        if self.limit is not None and self.count > self.limit:
            self._finish(H.ErrorCodeHTTPRequestBodySize(self.count))
            return DROPPED
        w = self.writer
        data = view if self.views_ok or not direct else bytes(view)
        try:
            if self.chunked:
                w.write(b"%x\r\n" % n)
                w.write(data)
                w.write(b"\r\n")
            else:
                w.write(data)
        except (OSError, RuntimeError):
            self._finish(H.ErrorCodeConnectionTerminated())
            return DROPPED
        if direct:
            src.mark_read(n)
        drain = asyncio.ensure_future(w.drain())
        if drain.done():
            if drain.cancelled() or drain.exception() is not None:
                self._finish(H.ErrorCodeConnectionTerminated())
                return DROPPED
            return COMPLETED
        self.drain = drain
        wake = src.wake
        drain.add_done_callback(lambda _: wake())
        return PENDING

    def close(self) -> None:
        drain = self.drain
        if drain is not None and not drain.done():
            drain.add_done_callback(lambda _: self._finish(None))
            return
        self._finish(None)

    def fail(self, error: BaseException) -> None:
        self._finish(_internal(f"the body's writer failed: {error}"))


def _fields_bytes(entries: Iterable[tuple[str, bytes]]) -> bytes:
    return b"".join(k.encode("latin-1") + b": " + v + b"\r\n" for k, v in entries)


async def write_body(
    writer: asyncio.StreamWriter,
    body: Body,
    *,
    chunked: bool,
    limit: int | None,
    size_error: Callable[[int], Any],
) -> Ok[None] | Err[Any]:
    """Send ``body`` (its contents, then its trailers when ``chunked``) and flush.

    Takes ownership of the body's ends. Returns ``Ok(None)``, or ``Err(code)``:
    the connection failed, the size differs from ``limit`` (``size_error(n)``),
    or the guest's trailers future gave an error (the chunked body is then
    left unterminated, so the peer sees it incomplete).
    """
    contents, trailers = body.contents, body.trailers
    body.contents = body.trailers = None
    try:
        return await _write_body(writer, contents, trailers, chunked, limit, size_error)
    except BaseException:
        if trailers is not None:
            trailers.close()  # a no-op once awaited
        raise


async def _write_body(
    writer: asyncio.StreamWriter,
    contents: StreamReader[Any] | None,
    trailers: FutureReader[Any] | None,
    chunked: bool,
    limit: int | None,
    size_error: Callable[[int], Any],
) -> Ok[None] | Err[Any]:
    count = 0
    if contents is not None:
        sink = _BodySink(writer, chunked, limit)
        contents.pipe(contents.store, sink)
        err = await sink.done
        count = sink.count
        if err is not None:
            if trailers is not None:
                trailers.close()
            if isinstance(err, H.ErrorCodeHTTPRequestBodySize):
                err = size_error(count)
            return Err(err)
    if limit is not None and count != limit:
        if trailers is not None:
            trailers.close()
        return Err(size_error(count))
    fields: Fields | None = None
    if trailers is not None:
        try:
            got = await trailers
        except Exception as e:  # the guest dropped the future without a value, or trapped
            got = Err(_internal(f"trailers: {e}"))
        if isinstance(got, Err):
            return Err(got.value)
        fields = _FieldsBridge.from_guest(got.value if isinstance(got, Ok) else None)
    try:
        if chunked:
            writer.write(b"0\r\n" + (_fields_bytes(fields.entries) if fields else b"") + b"\r\n")
        await writer.drain()
    except (OSError, RuntimeError):
        return Err(H.ErrorCodeConnectionTerminated())
    return Ok(None)


# --- requests and responses --------------------------------------------------------------


def _valid_authority(a: str) -> bool:
    """RFC 3986 ``authority``: ``[userinfo@]host[:port]`` with a non-empty host and a numeric port."""
    userinfo, at, hostport = a.rpartition("@")
    if at and not all(c in _USERINFO for c in userinfo):
        return False
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0 or not all(c in "0123456789abcdefABCDEF:." for c in hostport[1:end]):
            return False
        host, rest = hostport[1:end], hostport[end + 1 :]
        if rest and not rest.startswith(":"):
            return False
        colon, port = bool(rest), rest[1:]
    else:
        host, sep, port = hostport.partition(":")
        colon = bool(sep)
        if not all(c in _REG_NAME for c in host):
            return False
    if not host:
        return False
    return not colon or (port.isdigit() and int(port) < 65536)


class _Message:
    """What requests and responses share: immutable headers and a body until taken."""

    headers: Fields
    body: Body | None

    def get_headers(self) -> Fields:
        return self.headers.frozen_view()

    def drop(self) -> None:
        """The guest dropped the message without sending or consuming it."""
        if self.body is not None:
            self.body.close()
            self.body = None


class Request(_Message):
    """``wasi:http/types.request``."""

    def __init__(
        self,
        headers: Fields,
        body: Body,
        options: RequestOptions | None = None,
        *,
        method: H.Method | None = None,
        path_with_query: str | None = None,
        scheme: H.Scheme | None = None,
        authority: str | None = None,
    ) -> None:
        headers.immutable = True
        self.headers = headers
        self.body: Body | None = body
        self.options = options
        self.method: H.Method = method if method is not None else H.MethodGet()
        self.path_with_query = path_with_query
        self.scheme = scheme
        self.authority = authority

    def get_method(self) -> H.Method:
        return self.method

    def set_method(self, method: H.Method) -> Ok[None] | Err[None]:
        if isinstance(method, H.MethodOther):
            known = _METHODS.get(method.value)
            if known is None:
                if not valid_name(method.value):
                    return Err(None)
                self.method = H.MethodOther(method.value)
                return Ok(None)
            method = known
        self.method = method
        return Ok(None)

    def get_path_with_query(self) -> str | None:
        return self.path_with_query

    def set_path_with_query(self, path_with_query: str | None) -> Ok[None] | Err[None]:
        if path_with_query is None:
            self.path_with_query = None
            return Ok(None)
        # RFC 3986 path and query characters; non-ASCII text is accepted as the
        # http crate (Wasmtime) does, to be percent-encoded on the wire
        if not all(c in _PATH_QUERY or c > "\x7f" for c in path_with_query):
            return Err(None)
        self.path_with_query = path_with_query or "/"
        return Ok(None)

    def get_scheme(self) -> H.Scheme | None:
        return self.scheme

    def set_scheme(self, scheme: H.Scheme | None) -> Ok[None] | Err[None]:
        if isinstance(scheme, H.SchemeOther):
            s = scheme.value
            if s == "http":
                scheme = H.SchemeHTTP()
            elif s == "https":
                scheme = H.SchemeHTTPS()
            elif not s or s[0] not in _ALNUM or s[0].isdigit():
                return Err(None)
            elif not all(c in _SCHEME_REST for c in s[1:]):
                return Err(None)
            else:
                scheme = H.SchemeOther(s)
        self.scheme = scheme
        return Ok(None)

    def get_authority(self) -> str | None:
        return self.authority

    def set_authority(self, authority: str | None) -> Ok[None] | Err[None]:
        if authority is not None and not _valid_authority(authority):
            return Err(None)
        self.authority = authority
        return Ok(None)

    def get_options(self) -> RequestOptions | None:
        return None if self.options is None else self.options.frozen()


class Response(_Message):
    """``wasi:http/types.response``."""

    def __init__(self, headers: Fields, body: Body, status: int = 200) -> None:
        headers.immutable = True
        self.headers = headers
        self.body: Body | None = body
        self.status = status

    def get_status_code(self) -> int:
        return self.status

    def set_status_code(self, status_code: int) -> Ok[None] | Err[None]:
        if not 100 <= status_code <= 599:
            return Err(None)
        self.status = status_code
        return Ok(None)


# --- the host ----------------------------------------------------------------------------


class WasiHttp:
    """The ``wasi:http`` 0.3.0 host of one store (``types`` and ``client``).

    ``p3`` is the store's :class:`~wasmloom.wasi.p3.host.WasiP3` (it knows
    the store). ``default_timeout`` (seconds) bounds a connect and the wait for
    a response's first byte when the request sets no timeout.
    """

    def __init__(self, p3: Any, default_timeout: float | None = 600.0) -> None:
        self.p3 = p3
        self.default_timeout = default_timeout
        self.fields_rt: T.ResourceType | None = None

    @property
    def store(self) -> Any:
        return self.p3.store

    def _bridge(self) -> _FieldsBridge | None:
        """How trailers reach a guest (None before linking: host readers get :class:`Fields`)."""
        return None if self.fields_rt is None else _FieldsBridge(self.fields_rt)

    # -- types: constructors and static functions
    def fields_new(self) -> Fields:
        return Fields()

    # (parameters and results of the protocol's resource types are typed Any: the
    # generated protocols name the bindings' Host* protocols, these are their classes)
    def fields_from_list(self, entries: list[tuple[str, bytes]]) -> Any:
        return Fields.checked(entries)

    def request_new(
        self,
        headers: Any,
        contents: StreamReader[int] | None,
        trailers: FutureReader[Any],
        options: Any,
    ) -> Any:
        sent = Completion()
        req = Request(headers, Body(contents, trailers, sent), options)
        return req, FutureReader.new(self.store, sent)

    def response_new(
        self, headers: Any, contents: StreamReader[int] | None, trailers: FutureReader[Any]
    ) -> Any:
        sent = Completion()
        return Response(headers, Body(contents, trailers, sent)), FutureReader.new(self.store, sent)

    def request_options_new(self) -> RequestOptions:
        return RequestOptions()

    def request_consume_body(self, this: Any, res: FutureReader[Any]) -> Any:
        body, this.body = this.body, None
        return self._consume(body, res)

    def response_consume_body(self, this: Any, res: FutureReader[Any]) -> Any:
        body, this.body = this.body, None
        return self._consume(body, res)

    def _consume(
        self, body: Body | None, res: FutureReader[Any]
    ) -> tuple[StreamReader[Any], FutureReader[Any]]:
        store = self.store
        if body is None:  # cannot happen through the bindings: `this` is owned
            body = Body(None, None)
        sent = body.sent
        if sent is not None:
            # the consumer's verdict is the one `new` promised
            async def forward() -> None:
                try:
                    sent.settle(await res)
                except Exception as e:
                    sent.settle(Err(_internal(f"consume-body result: {e}")))

            store.spawn(forward())
        else:
            res.close()
        contents = body.contents or StreamReader.new(store, BytesProducer(b""))
        trailers = body.trailers or FutureReader.new(store, ValueFutureProducer(Ok(None)))
        body.contents = body.trailers = None
        return contents, trailers

    # -- bodies the host reads from a connection
    def incoming_body(self, body: IncomingBody | None) -> Body:
        """A :class:`Body` for the guest whose contents and trailers come from ``body``."""
        store = self.store
        if body is None:
            return Body(None, None)
        producer = _BodyProducer(store, body)
        trailers = FutureReader.new(store, _TrailersProducer(store, body, self._bridge))
        return Body(StreamReader.new(store, producer), trailers)

    # -- client
    async def send(self, accessor: Accessor[Any, Any], request: Any) -> Any:
        """``wasi:http/client.send``: HTTP/1.1 to the request's authority."""
        body = request.body
        request.body = None
        if body is None:
            body = Body(None, None)
        try:
            result = await self._send(request, body)
        except asyncio.CancelledError:
            body.close(_internal("send was cancelled"))
            raise
        if isinstance(result, Err):
            body.close(result.value)
        return result

    async def _send(self, request: Request, body: Body) -> Ok[Response] | Err[Any]:
        scheme = request.scheme
        tls = isinstance(scheme, H.SchemeHTTPS)
        if isinstance(scheme, H.SchemeOther):
            return Err(H.ErrorCodeHTTPRequestURIInvalid())
        authority = request.authority
        if not authority:
            return Err(H.ErrorCodeHTTPRequestURIInvalid())
        hostport = authority.rpartition("@")[2]
        if hostport.startswith("["):
            end = hostport.find("]")
            host, port_s = hostport[1:end], hostport[end + 2 :]
        else:
            host, _, port_s = hostport.partition(":")
        port = int(port_s) if port_s else (443 if tls else 80)
        opts = request.options
        connect_t = _seconds(opts.connect) if opts and opts.connect is not None else None
        first_t = _seconds(opts.first_byte) if opts and opts.first_byte is not None else None
        between_t = _seconds(opts.between_bytes) if opts else None
        ctx = ssl.create_default_context() if tls else None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    host, port, ssl=ctx, server_hostname=host if tls else None, limit=_MAX_HEAD
                ),
                connect_t if connect_t is not None else self.default_timeout,
            )
        except BaseException as e:
            if isinstance(e, asyncio.CancelledError):
                raise
            return Err(_connect_error(e))
        try:
            return await self._exchange(
                request, body, host, port, tls, reader, writer, first_t, between_t
            )
        except BaseException:
            writer.close()
            raise

    async def _exchange(
        self,
        request: Request,
        body: Body,
        host: str,
        port: int,
        tls: bool,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        first_t: float | None,
        between_t: float | None,
    ) -> Ok[Response] | Err[Any]:
        method = method_name(request.method)
        target = _wire_target(request.path_with_query)
        headers = request.headers.entries
        limit = _content_length(headers)
        if limit is not None and limit < 0:
            writer.close()
            return Err(H.ErrorCodeHTTPRequestHeaderSize(None))
        chunked = limit is None and body.contents is not None
        head = [f"{method} {target} HTTP/1.1\r\n".encode("latin-1")]
        default_port = 443 if tls else 80
        host_hdr = request.authority.rpartition("@")[2] if request.authority else host
        if port == default_port and host_hdr.endswith(f":{port}"):
            host_hdr = host_hdr[: -len(f":{port}")]
        head.append(b"host: " + host_hdr.encode("latin-1") + b"\r\n")
        head.append(_fields_bytes(headers))
        if chunked:
            head.append(b"transfer-encoding: chunked\r\n")
        elif limit is None and method in ("POST", "PUT", "PATCH"):
            head.append(b"content-length: 0\r\n")
        head.append(b"connection: close\r\n\r\n")
        writer.write(b"".join(head))
        sent = body.sent
        body.sent = None
        # The body goes out while the response is awaited (a server may answer early);
        # a body that fails first fails the send, as no response may then be trusted.
        conn = _Connection(writer)
        body_task = self.store.spawn(
            write_body(
                writer,
                body,
                chunked=chunked,
                limit=limit,
                size_error=lambda n: H.ErrorCodeHTTPRequestBodySize(n),
            )
        )

        def body_done(t: asyncio.Task[Any]) -> None:
            result = Err(_internal("send was cancelled")) if t.cancelled() else t.result()
            if sent is not None:
                sent.settle(result)
            if isinstance(result, Err):
                conn.abort()
            conn.release()

        body_task.add_done_callback(body_done)
        head_task = asyncio.ensure_future(
            asyncio.wait_for(
                _read_head(reader), first_t if first_t is not None else self.default_timeout
            )
        )
        try:
            await asyncio.wait({body_task, head_task}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            head_task.cancel()
            body_task.cancel()
            raise
        if body_task.done() and not body_task.cancelled():
            result = body_task.result()
            if isinstance(result, Err):
                head_task.cancel()
                return Err(result.value)
        try:
            status, fields = await head_task
        except BaseException as e:
            conn.abort()
            body_task.cancel()
            if isinstance(e, asyncio.CancelledError):
                raise
            if isinstance(e, TimeoutError):
                return Err(H.ErrorCodeConnectionReadTimeout())
            if isinstance(e, _HeadError):
                return Err(e.code)
            if isinstance(e, OSError | asyncio.IncompleteReadError):
                return Err(H.ErrorCodeHTTPResponseIncomplete())
            raise
        no_body = method == "HEAD" or status in (204, 304) or 100 <= status < 200
        te = b",".join(v for k, v in fields if k == "transfer-encoding").lower()
        length = _content_length(fields)
        if length is not None and length < 0:
            conn.abort()
            body_task.cancel()
            return Err(H.ErrorCodeHTTPProtocolError())
        incoming: IncomingBody | None = None
        if not no_body:
            if te:
                if te.split(b",")[-1].strip() != b"chunked":
                    conn.abort()
                    body_task.cancel()
                    return Err(H.ErrorCodeHTTPResponseTransferCoding(te.decode("latin-1")))
                incoming = IncomingBody(
                    reader, chunked=True, between_bytes=between_t, is_response=True
                )
            else:
                incoming = IncomingBody(
                    reader, length=length, between_bytes=between_t, is_response=True
                )
        resp_fields = Fields([(k, v) for k, v in fields if k not in ("transfer-encoding",)])
        resp = Response(resp_fields, self.incoming_body(incoming), status)
        if incoming is None or incoming.done:
            conn.release()
        else:
            incoming.on_end = conn.release
        return Ok(resp)


def _wire_target(path_with_query: str | None) -> str:
    """The request-target: ``/`` when absent, non-ASCII characters percent-encoded as UTF-8."""
    if not path_with_query:
        return "/"
    if path_with_query.isascii():
        return path_with_query
    return "".join(
        c if c.isascii() else "".join(f"%{b:02X}" for b in c.encode("utf-8"))
        for c in path_with_query
    )


class _Connection:
    """Closes a client connection once both the request body and the response are done."""

    __slots__ = ("pending", "writer")

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.pending = 2

    def release(self) -> None:
        self.pending -= 1
        if self.pending == 0:
            self.writer.close()

    def abort(self) -> None:
        self.writer.transport.abort()


def _content_length(fields: list[tuple[str, bytes]]) -> int | None:
    """The declared ``content-length`` (``None``: absent; ``-1``: invalid)."""
    values = {v.strip() for k, v in fields if k == "content-length"}
    if not values:
        return None
    if len(values) != 1:
        return -1
    v = values.pop()
    return int(v) if v.isdigit() else -1


class _HeadError(Exception):
    def __init__(self, code: Any) -> None:
        super().__init__(error_label(code))
        self.code = code


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, list[tuple[str, bytes]]]:
    """Reads a response's status line and fields (skipping 1xx interim responses)."""
    while True:
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.LimitOverrunError:
            raise _HeadError(H.ErrorCodeHTTPResponseHeaderSectionSize(None)) from None
        parts = line.rstrip(b"\r\n").split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise _HeadError(H.ErrorCodeHTTPProtocolError())
        status = int(parts[1])
        fields: list[tuple[str, bytes]] = []
        total = len(line)
        while True:
            try:
                fl = await reader.readuntil(b"\n")
            except asyncio.LimitOverrunError:
                raise _HeadError(H.ErrorCodeHTTPResponseHeaderSectionSize(None)) from None
            total += len(fl)
            if total > _MAX_HEAD:
                raise _HeadError(H.ErrorCodeHTTPResponseHeaderSectionSize(_MAX_HEAD))
            fl = fl.rstrip(b"\r\n")
            if not fl:
                break
            entry = parse_field_line(fl)
            if entry is None:
                raise _HeadError(H.ErrorCodeHTTPProtocolError())
            fields.append(entry)
        if not 100 <= status < 200 or status == 101:
            return status, fields


def _connect_error(e: BaseException) -> Any:
    if isinstance(e, socket.gaierror | UnicodeError):
        return H.ErrorCodeDNSError(H.DNSErrorPayload(str(e) or type(e).__name__, None))
    if isinstance(e, asyncio.TimeoutError):
        return H.ErrorCodeConnectionTimeout()
    if isinstance(e, ConnectionRefusedError):
        return H.ErrorCodeConnectionRefused()
    if isinstance(e, ssl.SSLCertVerificationError):
        return H.ErrorCodeTLSCertificateError()
    if isinstance(e, ssl.SSLError):
        return H.ErrorCodeTLSProtocolError()
    if isinstance(e, OSError):
        if e.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return H.ErrorCodeDestinationUnavailable()
        if e.errno in (errno.EADDRNOTAVAIL,):
            return H.ErrorCodeDestinationIPUnroutable()
        if e.errno in (errno.ECONNRESET, errno.EPIPE):
            return H.ErrorCodeConnectionTerminated()
        return H.ErrorCodeDestinationUnavailable()
    return _internal(f"{type(e).__name__}: {e}")


def add_to_linker(linker: Linker, getter: Callable[[Any], WasiHttp]) -> None:
    """Define ``wasi:http/types`` and ``wasi:http/client`` 0.3.0 in ``linker``.

    ``getter(store.data)`` is the store's :class:`WasiHttp`.
    """

    def get(d: Any) -> WasiHttp:
        h = getter(d)
        if h.fields_rt is None:
            h.fields_rt = fields_rt
        return h

    fields_rt = wasi_http_types.add_to_linker(linker, get).fields
    wasi_http_client.add_to_linker(linker, get)
