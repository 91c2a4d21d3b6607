"""``tcp-socket`` 0.2: the ``start-*``/``finish-*`` states over a 0.3 socket, and its
``wasi:io`` input and output streams."""

from __future__ import annotations

import errno
import socket
import time
from collections.abc import Callable
from typing import Any, cast

from wasmloom.values import Err, Ok
from wasmloom.wasi.ctx import WasiCtx
from wasmloom.wasi.p2.bindings import wasi_io_streams as streams
from wasmloom.wasi.p2.bindings import wasi_sockets_network as net
from wasmloom.wasi.p2.bindings import wasi_sockets_tcp as tcp
from wasmloom.wasi.p2.io import InputStreamBase, IoError, OutputStreamBase, Pollable
from wasmloom.wasi.p2.sockets.common import (
    E,
    Failure,
    FdPollable,
    Network,
    _conv,
    _Gate,
    _os_code,
    _result,
    _s_addr,
    _s_family,
    address,
    fd_ready,
)
from wasmloom.wasi.p3 import sockets as p3
from wasmloom.wasi.p3.bindings import wasi_sockets_types as S

__all__ = ["SOCKET_WRITE_BUDGET", "TcpInputStream", "TcpOutputStream", "TcpSocket"]


#: How many bytes ``check-write`` allows on a socket's output stream at once.
SOCKET_WRITE_BUDGET = 1 << 16
_MAX_READ = 1 << 20
#: How long dropping an output stream waits to hand its unsent bytes to the OS.
_LINGER = 5.0


_CLOSED: Err[streams.StreamError] = Err(streams.StreamErrorClosed())


def _stream_error(e: OSError) -> Err[streams.StreamError]:
    return Err(streams.StreamErrorLastOperationFailed(IoError(f"{_os_code(e).value}: {e}")))


class TcpInputStream(InputStreamBase):
    """The ``input-stream`` of a connection: ``read`` takes what has arrived, never blocking."""

    def __init__(self, conn: p3.Conn) -> None:
        self.conn: p3.Conn | None = conn
        self.ended = False

    def drop(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.release()

    def read(self, len: int) -> Ok[bytes] | Err[streams.StreamError]:
        if self.ended or self.conn is None:
            return _CLOSED
        if len == 0:
            return Ok(b"")
        try:
            data = self.conn.sock.recv(min(len, _MAX_READ))
        except BlockingIOError:
            return Ok(b"")
        except OSError as e:
            self.ended = True
            return _stream_error(e)
        if not data:
            self.ended = True
            return _CLOSED
        return Ok(data)

    def blocking_read(self, len: int) -> Ok[bytes] | Err[streams.StreamError]:
        while True:
            r = self.read(len)
            if len == 0 or not isinstance(r, Ok) or r.value:
                return r
            assert self.conn is not None
            fd_ready(self.conn.sock, False, None)

    def subscribe(self) -> Pollable:
        if self.conn is None or self.ended:
            return Pollable()
        return FdPollable(self.conn.sock, False)


class TcpOutputStream(OutputStreamBase):
    """The ``output-stream`` of a connection.

    ``write`` hands what it can to the OS at once and keeps the rest;
    ``check-write`` allows nothing more until that rest is sent (``flush``
    tries, ``blocking-flush`` and the pollable wait for it).
    """

    write_budget = SOCKET_WRITE_BUDGET

    def __init__(self, conn: p3.Conn) -> None:
        self.conn: p3.Conn | None = conn
        self.pending = b""
        self.error: OSError | None = None

    def drop(self) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            return
        deadline = time.monotonic() + _LINGER
        while self.pending and self.error is None:  # hand the rest to the OS, within reason
            left = deadline - time.monotonic()
            if left <= 0 or not fd_ready(conn.sock, True, left):
                break
            self._progress(conn)
        conn.release()

    def _progress(self, conn: p3.Conn) -> None:
        """Send what is pending, without blocking."""
        if not self.pending or self.error is not None:
            return
        try:
            n = conn.sock.send(self.pending)
        except BlockingIOError:
            return
        except OSError as e:
            self.error = e
            self.pending = b""
            return
        self.pending = self.pending[n:]

    def _failed(self) -> Err[streams.StreamError] | None:
        if self.conn is None:
            return _CLOSED
        if self.error is not None:
            e, self.error = self.error, None
            self.conn.release()
            self.conn = None
            return _stream_error(e)
        return None

    def check_write(self) -> Ok[int] | Err[streams.StreamError]:
        if self.conn is not None:
            self._progress(self.conn)
        bad = self._failed()
        if bad is not None:
            return bad
        return Ok(0 if self.pending else SOCKET_WRITE_BUDGET)

    def write(self, contents: bytes) -> Ok[None] | Err[streams.StreamError]:
        bad = self._failed()
        if bad is not None:
            return bad
        self.pending += bytes(contents)
        assert self.conn is not None
        self._progress(self.conn)
        bad = self._failed()
        return Ok(None) if bad is None else bad

    def flush(self) -> Ok[None] | Err[streams.StreamError]:
        if self.conn is not None:
            self._progress(self.conn)
        bad = self._failed()
        return Ok(None) if bad is None else bad

    def blocking_flush(self) -> Ok[None] | Err[streams.StreamError]:
        while self.conn is not None and self.pending and self.error is None:
            fd_ready(self.conn.sock, True, None)
            self._progress(self.conn)
        bad = self._failed()
        return Ok(None) if bad is None else bad

    def blocking_write_and_flush(self, contents: bytes) -> Ok[None] | Err[streams.StreamError]:
        r = self.write(contents)
        return self.blocking_flush() if isinstance(r, Ok) else r

    def subscribe(self) -> Pollable:
        return _WritePollable(self)


class _WritePollable(Pollable):
    """Ready when the output stream can take more (its pending bytes sent) or has failed."""

    def __init__(self, stream: TcpOutputStream) -> None:
        self.stream = stream

    def ready(self) -> bool:
        s = self.stream
        conn = s.conn
        if conn is None or s.error is not None:
            return True
        s._progress(conn)
        return s.error is not None or (not s.pending and fd_ready(conn.sock, True, 0))

    def block(self) -> None:
        while not self.ready():
            conn = self.stream.conn
            if conn is None:
                return
            fd_ready(conn.sock, True, None)

    def wait_fd(self) -> tuple[int, bool] | None:
        conn = self.stream.conn
        fd = -1 if conn is None else conn.sock.fileno()
        return None if fd < 0 else (fd, True)


class TcpSocket:
    """A guest's 0.2 ``tcp-socket``.

    States: ``default``, ``bind-started``, ``bound``, ``connecting``,
    ``connect-ready`` (the outcome known, not yet collected),
    ``connected``, ``listen-started``, ``listening`` and ``closed`` (a
    failed connect). The OS socket, bind and options are a 0.3
    :class:`~wasmloom.wasi.p3.sockets.TcpSocket`'s.
    """

    def __init__(
        self, ctx: WasiCtx, family: net.IpAddressFamily, inner: p3.TcpSocket, state: str
    ) -> None:
        self.ctx = ctx
        self.family = family
        self.inner = inner
        self.state = state
        self.connect_error: OSError | None = None
        self.input: TcpInputStream | None = None

    @classmethod
    def create(cls, ctx: WasiCtx, family: net.IpAddressFamily) -> TcpSocket:
        sock = p3.new_socket(_s_family(family), socket.SOCK_STREAM)
        inner = p3.TcpSocket(cast(Any, _Gate(ctx)), _s_family(family), p3.Conn(sock))
        return cls(ctx, family, inner, "default")

    def drop(self) -> None:
        self.inner.drop()

    def _sock(self) -> socket.socket:
        conn = self.inner.conn
        if conn is None:
            raise Failure(E.INVALID_STATE)
        return conn.sock

    def _streams(self) -> tuple[TcpInputStream, TcpOutputStream]:
        conn = self.inner.conn
        assert conn is not None
        self.input = TcpInputStream(conn.hold())
        return self.input, TcpOutputStream(conn.hold())

    # -- bind
    def start_bind(
        self, network: Network, local_address: net.IpSocketAddress
    ) -> Ok[None] | Err[net.ErrorCode]:
        if self.state != "default":
            return Err(E.INVALID_STATE)
        r = _conv(self.inner.bind(_s_addr(local_address)))
        if isinstance(r, Ok):
            self.state = "bind-started"
        return r

    def finish_bind(self) -> Ok[None] | Err[net.ErrorCode]:
        if self.state != "bind-started":
            return Err(E.NOT_IN_PROGRESS)
        self.state = "bound"
        return Ok(None)

    # -- connect
    def start_connect(
        self, network: Network, remote_address: net.IpSocketAddress
    ) -> Ok[None] | Err[net.ErrorCode]:
        def run() -> None:
            if self.state in ("connecting", "connect-ready"):
                raise Failure(E.CONCURRENCY_CONFLICT)
            if self.state not in ("default", "bound"):
                raise Failure(E.INVALID_STATE)
            a = _s_addr(remote_address)
            p3.check_unicast(a)
            p3.check_remote(a)
            p3.check_family(a, _s_family(self.family))
            if not self.ctx.network:
                raise Failure(E.ACCESS_DENIED)
            sock = self._sock()
            err = sock.connect_ex(p3.to_py(a))
            if err == errno.EAFNOSUPPORT:
                raise Failure(E.INVALID_ARGUMENT)
            if err in (errno.EINPROGRESS, errno.EAGAIN, errno.EALREADY):
                self.state = "connecting"
            else:
                self.state = "connect-ready"
                self.connect_error = OSError(err, errno.errorcode.get(err, "")) if err else None

        return _result(run)

    def _connect_done(self) -> bool:
        """Whether a connect in progress has its outcome (kept in ``connect_error``)."""
        if self.state == "connecting":
            sock = self._sock()
            if not fd_ready(sock, True, 0):
                return False
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            self.connect_error = OSError(err, errno.errorcode.get(err, "")) if err else None
            self.state = "connect-ready"
        return True

    def finish_connect(
        self,
    ) -> Ok[tuple[TcpInputStream, TcpOutputStream]] | Err[net.ErrorCode]:
        if self.state not in ("connecting", "connect-ready"):
            return Err(E.NOT_IN_PROGRESS)
        if not self._connect_done():
            return Err(E.WOULD_BLOCK)
        e, self.connect_error = self.connect_error, None
        if e is not None:
            self.state = self.inner.state = "closed"
            return Err(_os_code(e))
        self.state = self.inner.state = "connected"
        return Ok(self._streams())

    # -- listen
    def start_listen(self) -> Ok[None] | Err[net.ErrorCode]:
        def run() -> None:
            if self.state in ("listen-started", "connecting", "connect-ready"):
                raise Failure(E.CONCURRENCY_CONFLICT)
            if self.state != "bound":
                raise Failure(E.INVALID_STATE)
            self._sock().listen(self.inner.backlog)
            self.state = "listen-started"
            self.inner.state = "listening"

        return _result(run)

    def finish_listen(self) -> Ok[None] | Err[net.ErrorCode]:
        if self.state != "listen-started":
            return Err(E.NOT_IN_PROGRESS)
        self.state = "listening"
        return Ok(None)

    def accept(
        self,
    ) -> Ok[tuple[TcpSocket, TcpInputStream, TcpOutputStream]] | Err[net.ErrorCode]:
        if self.state != "listening":
            return Err(E.INVALID_STATE)
        while True:
            try:
                sock, _ = self._sock().accept()
                break
            except BlockingIOError:
                return Err(E.WOULD_BLOCK)
            except OSError as e:
                if e.errno not in p3.ACCEPT_ABORTED:  # a connection that failed: skip it
                    return Err(_os_code(e))
        sock.setblocking(False)
        f = _s_family(self.family)
        inner = p3.TcpSocket(cast(Any, _Gate(self.ctx)), f, p3.Conn(sock), "connected")
        client = TcpSocket(self.ctx, self.family, inner, "connected")
        i, o = client._streams()
        return Ok((client, i, o))

    # -- addresses and state
    def local_address(self) -> Ok[net.IpSocketAddress] | Err[net.ErrorCode]:
        if self.state in ("default", "bind-started"):
            return Err(E.INVALID_STATE)
        return _result(lambda: address(self._sock().getsockname()))

    def remote_address(self) -> Ok[net.IpSocketAddress] | Err[net.ErrorCode]:
        if self.state != "connected":
            return Err(E.INVALID_STATE)
        return _result(lambda: address(self._sock().getpeername()))

    def is_listening(self) -> bool:
        return self.state == "listening"

    def address_family(self) -> net.IpAddressFamily:
        return self.family

    def set_listen_backlog_size(self, value: int) -> Ok[None] | Err[net.ErrorCode]:
        return _conv(self.inner.set_listen_backlog_size(value))

    def subscribe(self) -> Pollable:
        conn = self.inner.conn
        if conn is None:
            return Pollable()
        if self.state == "connecting":
            return FdPollable(conn.sock, True)
        if self.state in ("listening", "listen-started"):
            return FdPollable(conn.sock, False)
        return Pollable()

    def shutdown(self, shutdown_type: tcp.ShutdownType) -> Ok[None] | Err[net.ErrorCode]:
        if self.state != "connected":
            return Err(E.INVALID_STATE)
        how = {
            tcp.ShutdownType.RECEIVE: socket.SHUT_RD,
            tcp.ShutdownType.SEND: socket.SHUT_WR,
            tcp.ShutdownType.BOTH: socket.SHUT_RDWR,
        }[shutdown_type]
        try:
            self._sock().shutdown(how)
        except OSError as e:
            if e.errno != errno.ENOTCONN:
                return Err(_os_code(e))
        if how != socket.SHUT_WR and self.input is not None:
            self.input.ended = True  # what is still queued is discarded
        return Ok(None)

    # -- options (the 0.3 socket's rules; allowed in every state while the socket is open)
    def _opt(self, fn: Callable[[], Ok[Any] | Err[S.ErrorCode]]) -> Ok[Any] | Err[net.ErrorCode]:
        inner = self.inner
        saved = inner.state
        if saved in ("connecting", "closed"):  # the 0.3 rules refuse these; 0.2 allows them
            inner.state = "bound"
        try:
            return _conv(fn())
        finally:
            inner.state = saved

    def keep_alive_enabled(self) -> Ok[bool] | Err[net.ErrorCode]:
        return self._opt(self.inner.get_keep_alive_enabled)

    def set_keep_alive_enabled(self, value: bool) -> Ok[None] | Err[net.ErrorCode]:
        return self._opt(lambda: self.inner.set_keep_alive_enabled(value))

    def keep_alive_idle_time(self) -> Ok[int] | Err[net.ErrorCode]:
        return self._opt(self.inner.get_keep_alive_idle_time)

    def set_keep_alive_idle_time(self, value: int) -> Ok[None] | Err[net.ErrorCode]:
        return self._opt(lambda: self.inner.set_keep_alive_idle_time(value))

    def keep_alive_interval(self) -> Ok[int] | Err[net.ErrorCode]:
        return self._opt(self.inner.get_keep_alive_interval)

    def set_keep_alive_interval(self, value: int) -> Ok[None] | Err[net.ErrorCode]:
        return self._opt(lambda: self.inner.set_keep_alive_interval(value))

    def keep_alive_count(self) -> Ok[int] | Err[net.ErrorCode]:
        return self._opt(self.inner.get_keep_alive_count)

    def set_keep_alive_count(self, value: int) -> Ok[None] | Err[net.ErrorCode]:
        return self._opt(lambda: self.inner.set_keep_alive_count(value))

    def hop_limit(self) -> Ok[int] | Err[net.ErrorCode]:
        return self._opt(self.inner.get_hop_limit)

    def set_hop_limit(self, value: int) -> Ok[None] | Err[net.ErrorCode]:
        return self._opt(lambda: self.inner.set_hop_limit(value))

    def receive_buffer_size(self) -> Ok[int] | Err[net.ErrorCode]:
        return self._opt(self.inner.get_receive_buffer_size)

    def set_receive_buffer_size(self, value: int) -> Ok[None] | Err[net.ErrorCode]:
        return self._opt(lambda: self.inner.set_receive_buffer_size(value))

    def send_buffer_size(self) -> Ok[int] | Err[net.ErrorCode]:
        return self._opt(self.inner.get_send_buffer_size)

    def set_send_buffer_size(self, value: int) -> Ok[None] | Err[net.ErrorCode]:
        return self._opt(lambda: self.inner.set_send_buffer_size(value))
