"""``tcp-socket``: its states, options and the byte and accept streams over the OS socket."""

from __future__ import annotations

import asyncio
import errno
import math
import socket
from typing import Any

from wasmloom.bindgen import rt as _brt
from wasmloom.host.accessor import Accessor
from wasmloom.host.streams import Destination, FutureReader, Source, StreamReader, StreamResult
from wasmloom.values import Err, Ok
from wasmloom.wasi.p3._streams import Completion
from wasmloom.wasi.p3.bindings import wasi_sockets_types as S
from wasmloom.wasi.p3.sockets.addresses import (
    _at,
    check_family,
    check_remote,
    check_unicast,
    from_py,
    to_py,
)
from wasmloom.wasi.p3.sockets.common import (
    _MAX_I32,
    CANCELLED,
    COMPLETED,
    DROPPED,
    SocketError,
    SocketsParent,
    _fail,
    _get_buffer_size,
    _get_hop_limit,
    _result,
    _set_buffer_size,
    _set_hop_limit,
    error_code,
)
from wasmloom.wasi.p3.sockets.readiness import _Waiter

__all__ = ["ACCEPT_ABORTED", "Conn", "TcpSocket"]


_CHUNK = 1 << 16
_DEFAULT_BACKLOG = 128
_NS = 1_000_000_000
_TCP_KEEPIDLE: int = getattr(socket, "TCP_KEEPIDLE", getattr(socket, "TCP_KEEPALIVE", 4))


class Conn:
    """An OS socket shared by a :class:`TcpSocket` and its streams; closed when all let go."""

    __slots__ = ("sock", "users")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.users = 1

    def hold(self) -> Conn:
        self.users += 1
        return self

    def release(self) -> None:
        self.users -= 1
        if self.users == 0:
            self.sock.close()


class TcpSocket:
    """A guest's ``tcp-socket``.

    States: ``default`` (created), ``bound``, ``connecting``, ``connected``,
    ``listening``, ``closed`` (a failed connect), ``error`` (an accepted
    connection that failed: every operation reports that error).
    """

    def __init__(
        self,
        host: SocketsParent,
        family: S.IpAddressFamily,
        conn: Conn | None,
        state: str = "default",
        error: OSError | None = None,
    ) -> None:
        self.host = host
        self.family = family
        self.conn = conn
        self.state = state
        self.error = error
        self.backlog = _DEFAULT_BACKLOG
        self.receiving = False
        self.sending = False

    def drop(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.release()

    # -- helpers
    def _sock(self) -> socket.socket:
        """The OS socket for option access (refused while connecting or closed)."""
        if self.error is not None:
            raise SocketError(error_code(self.error))
        if self.conn is None or self.state in ("connecting", "closed"):
            raise _fail(S.ErrorCodeInvalidState)
        return self.conn.sock

    def _stream(self) -> Conn:
        if self.error is not None:
            raise SocketError(error_code(self.error))
        if self.state != "connected" or self.conn is None:
            raise _fail(S.ErrorCodeInvalidState)
        return self.conn

    # -- lifecycle
    def bind(self, local_address: S.IpSocketAddress) -> Ok[None] | Err[S.ErrorCode]:
        def run() -> None:
            self.host.check_network()
            check_unicast(local_address)
            check_family(local_address, self.family)
            if self.state != "default" or self.conn is None:
                raise _fail(S.ErrorCodeInvalidState)
            sock = self.conn.sock
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            _at(sock.bind, local_address)
            self.state = "bound"

        return _result(run)

    async def connect(
        self, accessor: Accessor[Any, Any], remote_address: S.IpSocketAddress
    ) -> Ok[None] | Err[S.ErrorCode]:
        try:
            self.host.check_network()
            if self.error is not None:
                raise SocketError(error_code(self.error))
            if self.state not in ("default", "bound") or self.conn is None:
                raise _fail(S.ErrorCodeInvalidState)
            check_unicast(remote_address)
            check_remote(remote_address)
            check_family(remote_address, self.family)
            addr = to_py(remote_address)
        except SocketError as e:
            return Err(e.code)
        conn = self.conn
        self.state = "connecting"
        try:
            await asyncio.get_running_loop().sock_connect(conn.sock, addr)
        except BaseException as e:
            self.state = "closed"
            if not isinstance(e, (OSError, OverflowError, ValueError)):
                raise
            return Err(error_code(e))
        self.state = "connected"
        return Ok(None)

    def listen(self) -> Ok[Any] | Err[S.ErrorCode]:
        def run() -> Any:
            if self.error is not None:
                raise SocketError(error_code(self.error))
            if self.state not in ("default", "bound") or self.conn is None:
                raise _fail(S.ErrorCodeInvalidState)
            if self.state == "default":
                self.host.check_network()
            try:
                self.conn.sock.listen(self.backlog)
            except OSError:
                self.state = "closed"
                raise
            self.state = "listening"
            store = self.host.w.store
            return StreamReader.new(store, _AcceptProducer(store, self, self.conn.hold()))

        return _result(run)

    def send(self, data: Any) -> Any:
        store = self.host.w.store
        done = Completion()
        try:
            if self.sending:
                raise _fail(S.ErrorCodeInvalidState)
            conn = self._stream()
        except SocketError as e:
            data.close()
            done.settle(Err(e.code))
            return FutureReader.new(store, done)
        self.sending = True
        data.pipe(store, _SendConsumer(store, conn.hold(), done))
        return FutureReader.new(store, done)

    def receive(self) -> tuple[Any, Any]:
        store = self.host.w.store
        done = Completion()
        try:
            if self.receiving:
                raise _fail(S.ErrorCodeInvalidState)
            conn = self._stream()
        except SocketError as e:
            done.settle(Err(e.code))
            return StreamReader.new(store, _EmptyProducer()), FutureReader.new(store, done)
        self.receiving = True
        producer = _ReceiveProducer(store, conn.hold(), done)
        return StreamReader.new(store, producer), FutureReader.new(store, done)

    # -- addresses and state
    def get_local_address(self) -> Ok[S.IpSocketAddress] | Err[S.ErrorCode]:
        def run() -> S.IpSocketAddress:
            if self.error is not None:
                raise SocketError(error_code(self.error))
            if self.state not in ("bound", "connected", "listening") or self.conn is None:
                raise _fail(S.ErrorCodeInvalidState)
            return from_py(self.conn.sock.getsockname())

        return _result(run)

    def get_remote_address(self) -> Ok[S.IpSocketAddress] | Err[S.ErrorCode]:
        return _result(lambda: from_py(self._stream().sock.getpeername()))

    def get_is_listening(self) -> bool:
        return self.state == "listening"

    def get_address_family(self) -> S.IpAddressFamily:
        return self.family

    def set_listen_backlog_size(self, value: int) -> Ok[None] | Err[S.ErrorCode]:
        def run() -> None:
            if value == 0:
                raise _fail(S.ErrorCodeInvalidArgument)
            n = max(1, min(value, _MAX_I32))
            if self.state == "listening":
                try:
                    self._sock().listen(n)
                except OSError as e:
                    raise _fail(S.ErrorCodeNotSupported) from e
            elif self.state not in ("default", "bound"):
                self._sock()
                raise _fail(S.ErrorCodeInvalidState)
            self.backlog = n

        return _result(run)

    # -- options
    def get_keep_alive_enabled(self) -> Ok[bool] | Err[S.ErrorCode]:
        return _result(
            lambda: bool(self._sock().getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE))
        )

    def set_keep_alive_enabled(self, value: bool) -> Ok[None] | Err[S.ErrorCode]:
        return _result(
            lambda: self._sock().setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, int(value))
        )

    def _get_tcp_seconds(self, opt: int) -> int:
        return self._sock().getsockopt(socket.IPPROTO_TCP, opt) * _NS

    def _set_tcp_seconds(self, opt: int, value: int) -> None:
        sock = self._sock()
        if value <= 0:
            raise _fail(S.ErrorCodeInvalidArgument)
        secs = max(1, min(math.ceil(value / _NS), 32767))
        sock.setsockopt(socket.IPPROTO_TCP, opt, secs)

    def get_keep_alive_idle_time(self) -> Ok[int] | Err[S.ErrorCode]:
        return _result(lambda: self._get_tcp_seconds(_TCP_KEEPIDLE))

    def set_keep_alive_idle_time(self, value: int) -> Ok[None] | Err[S.ErrorCode]:
        return _result(lambda: self._set_tcp_seconds(_TCP_KEEPIDLE, value))

    def get_keep_alive_interval(self) -> Ok[int] | Err[S.ErrorCode]:
        return _result(lambda: self._get_tcp_seconds(socket.TCP_KEEPINTVL))

    def set_keep_alive_interval(self, value: int) -> Ok[None] | Err[S.ErrorCode]:
        return _result(lambda: self._set_tcp_seconds(socket.TCP_KEEPINTVL, value))

    def get_keep_alive_count(self) -> Ok[int] | Err[S.ErrorCode]:
        return _result(lambda: self._sock().getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT))

    def set_keep_alive_count(self, value: int) -> Ok[None] | Err[S.ErrorCode]:
        def run() -> None:
            sock = self._sock()
            if value == 0:
                raise _fail(S.ErrorCodeInvalidArgument)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, min(value, 127))

        return _result(run)

    def get_hop_limit(self) -> Ok[int] | Err[S.ErrorCode]:
        return _result(lambda: _get_hop_limit(self._sock(), self.family))

    def set_hop_limit(self, value: int) -> Ok[None] | Err[S.ErrorCode]:
        return _result(lambda: _set_hop_limit(self._sock(), self.family, value))

    def get_receive_buffer_size(self) -> Ok[int] | Err[S.ErrorCode]:
        return _result(lambda: _get_buffer_size(self._sock(), socket.SO_RCVBUF))

    def set_receive_buffer_size(self, value: int) -> Ok[None] | Err[S.ErrorCode]:
        return _result(lambda: _set_buffer_size(self._sock(), socket.SO_RCVBUF, value))

    def get_send_buffer_size(self) -> Ok[int] | Err[S.ErrorCode]:
        return _result(lambda: _get_buffer_size(self._sock(), socket.SO_SNDBUF))

    def set_send_buffer_size(self, value: int) -> Ok[None] | Err[S.ErrorCode]:
        return _result(lambda: _set_buffer_size(self._sock(), socket.SO_SNDBUF, value))


# -- TCP streams --------------------------------------------------------------------------


class _EmptyProducer:
    """A stream that ends at once."""

    def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
        return DROPPED


class _AcceptProducer:
    """``stream<own<tcp-socket>>`` of a listening socket: one accepted connection per item."""

    def __init__(self, store: Any, listener: TcpSocket, conn: Conn) -> None:
        self._listener = listener
        self._conn = conn
        self._waiter = _Waiter(store)
        self._ready: TcpSocket | None = None

    def _accept(self) -> TcpSocket | None:
        host, family = self._listener.host, self._listener.family
        try:
            sock, _ = self._conn.sock.accept()
        except BlockingIOError:
            return None
        except OSError as e:
            if e.errno in ACCEPT_ABORTED:
                e = OSError(errno.ECONNABORTED, e.strerror)
            return TcpSocket(host, family, None, "error", e)
        sock.setblocking(False)
        return TcpSocket(host, family, Conn(sock), "connected")

    def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
        waiting = self._waiter.poll(finish)
        if waiting is not None:
            return waiting
        accepted = self._ready or self._accept()
        self._ready = None
        if accepted is None:
            return (
                CANCELLED
                if finish
                else self._waiter.start(self._conn.sock.fileno(), False, dst.wake)
            )
        if dst.remaining() == 0:  # a readiness probe: keep it for the next read
            self._ready = accepted
            return COMPLETED
        rt = self._listener.host.tcp_rt
        if rt is None:
            raise RuntimeError("wasi:sockets is not linked: wasmloom.wasi.p3.sockets.add_to_linker")
        dst.set_buffer([_brt.own_handle(rt, accepted)])
        return COMPLETED

    def close(self) -> None:
        self._waiter.cancel()
        if self._ready is not None:
            self._ready.drop()
            self._ready = None
        self._conn.release()


#: ``accept`` errors that concern one failed connection only (not the listener).
ACCEPT_ABORTED = {
    errno.ECONNRESET,
    errno.ENETRESET,
    errno.EHOSTUNREACH,
    errno.EHOSTDOWN,
    errno.ENETDOWN,
    errno.ENETUNREACH,
    errno.EPROTO,
    errno.ENOPROTOOPT,
    errno.EOPNOTSUPP,
}


class _ReceiveProducer:
    """``stream<u8>`` of what the peer sends: ``recv_into`` the reader's buffer.

    The end of the stream (the peer's shutdown, or an error) settles the
    completion and shuts the socket's read side.
    """

    def __init__(self, store: Any, conn: Conn, done: Completion) -> None:
        self._conn = conn
        self._done = done
        self._waiter = _Waiter(store)
        self._ended = False

    def _end(self, result: Ok[None] | Err[S.ErrorCode]) -> StreamResult:
        self._done.settle(result)
        if not self._ended:
            self._ended = True
            try:
                self._conn.sock.shutdown(socket.SHUT_RD)
            except OSError:
                pass
        return DROPPED

    def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
        waiting = self._waiter.poll(finish)
        if waiting is not None:
            return waiting
        sock = self._conn.sock
        room = dst.remaining()
        try:
            if room == 0:  # a readiness probe
                if not sock.recv(1, socket.MSG_PEEK):
                    return self._end(Ok(None))
                return COMPLETED
            try:
                view = dst.as_direct(room or _CHUNK)
            except TypeError:  # a host reader of an untyped stream
                data = sock.recv(room or _CHUNK)
                if data:
                    dst.set_buffer(data)
                n = len(data)
            else:
                n = sock.recv_into(view)
                if n:
                    dst.mark_written(n)
        except BlockingIOError:
            return CANCELLED if finish else self._waiter.start(sock.fileno(), False, dst.wake)
        except OSError as e:
            return self._end(Err(error_code(e)))
        if n == 0:
            return self._end(Ok(None))
        return COMPLETED

    def close(self) -> None:
        self._waiter.cancel()
        self._end(Ok(None))
        self._conn.release()


class _SendConsumer:
    """Consumes the guest's ``stream<u8>`` into the socket: ``send`` from the writer's buffer.

    The end of the stream shuts the socket's write side and settles the
    completion with ``Ok``; a failed send settles it with the error.
    """

    def __init__(self, store: Any, conn: Conn, done: Completion) -> None:
        self._conn = conn
        self._done = done
        self._waiter = _Waiter(store)
        self._pending = b""  # taken from a host writer, not yet sent

    def _fail(self, e: OSError) -> StreamResult:
        self._done.settle(Err(error_code(e)))
        return DROPPED

    def poll_consume(self, store: Any, src: Source, finish: bool) -> StreamResult:
        waiting = self._waiter.poll(finish)
        if waiting is not None:
            return waiting
        sock = self._conn.sock
        try:
            if self._pending:
                n = sock.send(self._pending)
                self._pending = self._pending[n:]
                if self._pending:
                    return self._waiter.start(sock.fileno(), True, src.wake)
                return COMPLETED
            try:
                view = src.as_direct()
            except TypeError:  # an untyped host stream: copy what it offers
                buf = bytearray()
                src.read(buf)
                self._pending = bytes(buf)
                return self.poll_consume(store, src, finish)
            if not view:
                return COMPLETED
            n = sock.send(view)
            src.mark_read(n)
        except BlockingIOError:
            if finish:
                return CANCELLED
            return self._waiter.start(sock.fileno(), True, src.wake)
        except OSError as e:
            return self._fail(e)
        return COMPLETED

    def close(self) -> None:
        self._waiter.cancel()
        sock = self._conn.sock
        if self._pending:
            try:
                sock.send(self._pending)  # best effort: the writer is gone
            except OSError:
                pass
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            if e.errno != errno.ENOTCONN:
                self._done.settle(Err(error_code(e)))
        self._done.settle(Ok(None))
        self._conn.release()
