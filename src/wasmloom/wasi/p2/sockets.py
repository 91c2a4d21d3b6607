"""WASI 0.2.x ``wasi:sockets`` (network, TCP, UDP, ip-name-lookup) over OS sockets.

The 0.2 API is synchronous and pollable-based: ``start-*``/``finish-*``
pairs, ``would-block`` when an operation is not ready yet, and pollables
that become ready when it is. Every socket is a non-blocking OS socket; a
pollable asks the OS for readiness (``select.poll``) and ``block`` waits
on the calling thread, like the rest of :mod:`wasmloom.wasi.p2.host`.

The socket rules shared with 0.3 (address checks, bind, options, UDP
association, name validation) are those of :mod:`wasmloom.wasi.p3.sockets`:
a 0.2 socket wraps a 0.3 socket object and adds the 0.2 states
(``bind-started``, ``connecting``, ``listen-started``, ...) on top. The
0.3 error codes become 0.2 ones by label (``other`` -> ``unknown``,
``connection-broken`` -> ``connection-reset``).

Permissions come from the :class:`~wasmloom.wasi.ctx.WasiCtx`: ``network``
(bind, connect, send to an address), ``allow_tcp``, ``allow_udp`` and
``allow_ip_name_lookup``; a refused operation answers ``access-denied``.
"""

from __future__ import annotations

import concurrent.futures
import errno
import ipaddress
import socket
import time
from collections.abc import Callable
from typing import Any, cast

from wasmloom.errors import Trap
from wasmloom.values import Err, Ok
from wasmloom.wasi.ctx import WasiCtx
from wasmloom.wasi.p2.bindings import wasi_io_streams as streams
from wasmloom.wasi.p2.bindings import wasi_sockets_network as net
from wasmloom.wasi.p2.bindings import wasi_sockets_tcp as tcp
from wasmloom.wasi.p2.bindings import wasi_sockets_udp as udp
from wasmloom.wasi.p2.io import (
    FuturePollable,
    InputStreamBase,
    IoError,
    OutputStreamBase,
    Pollable,
    wait_fds,
)
from wasmloom.wasi.p3 import sockets as p3
from wasmloom.wasi.p3.bindings import wasi_sockets_types as S

__all__ = [
    "IncomingDatagramStream",
    "Network",
    "OutgoingDatagramStream",
    "ResolveAddressStream",
    "SocketsHost",
    "TcpSocket",
    "UdpSocket",
]

E = net.ErrorCode

#: How many bytes ``check-write`` allows on a socket's output stream at once.
SOCKET_WRITE_BUDGET = 1 << 16
#: How many datagrams ``check-send`` allows at once.
SEND_PERMIT = 64
_MAX_READ = 1 << 20
_MAX_DATAGRAM = 65535
#: How long dropping an output stream waits to hand its unsent bytes to the OS.
_LINGER = 5.0

_CLOSED: Err[streams.StreamError] = Err(streams.StreamErrorClosed())


class Failure(Exception):
    """An operation failed with ``code`` (the guest sees ``Err(code)``)."""

    def __init__(self, code: net.ErrorCode) -> None:
        super().__init__(code.value)
        self.code = code


def to_p2_code(code: S.ErrorCode) -> net.ErrorCode:
    """The 0.2 ``error-code`` of a 0.3 one (same labels, but for two)."""
    tag = code.tag
    if tag == "other":
        return E.UNKNOWN
    if tag == "connection-broken":
        return E.CONNECTION_RESET
    return E(tag)


def _os_code(e: OSError) -> net.ErrorCode:
    if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
        return E.WOULD_BLOCK
    return to_p2_code(p3.error_code(e))


#: What an operation may raise that the guest sees as an ``error-code``: a value
#: the OS cannot take (``OverflowError``, ``ValueError``) is ``invalid-argument``.
_FAILURES = (Failure, p3.SocketError, OSError, OverflowError, ValueError)


def _code_of(
    e: Failure | p3.SocketError | OSError | OverflowError | ValueError,
) -> net.ErrorCode:
    if isinstance(e, Failure):
        return e.code
    if isinstance(e, p3.SocketError):
        return to_p2_code(e.code)
    if isinstance(e, OSError):
        return _os_code(e)
    return E.INVALID_ARGUMENT


def _result(fn: Callable[[], Any]) -> Ok[Any] | Err[net.ErrorCode]:
    """``Ok(fn())``, or ``Err`` with the 0.2 code of what it raised."""
    try:
        return Ok(fn())
    except _FAILURES as e:
        return Err(_code_of(e))


def _conv(r: Ok[Any] | Err[S.ErrorCode]) -> Ok[Any] | Err[net.ErrorCode]:
    """A 0.3 socket's result as a 0.2 one (addresses converted too)."""
    if isinstance(r, Err):
        return Err(to_p2_code(r.value))
    v = r.value
    if isinstance(v, (S.IpSocketAddressIpv4, S.IpSocketAddressIpv6)):
        return Ok(address(p3.to_py(v)))
    return r


def address(sa: Any) -> net.IpSocketAddress:
    """The 0.2 ``ip-socket-address`` of a Python (IPv4 or IPv6) socket address."""
    ip = ipaddress.ip_address(str(sa[0]).split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv4Address):
        b = ip.packed
        return net.IpSocketAddressIpv4(net.Ipv4SocketAddress(sa[1], (b[0], b[1], b[2], b[3])))
    flow = sa[2] if len(sa) > 2 else 0
    scope = sa[3] if len(sa) > 3 else 0
    return net.IpSocketAddressIpv6(net.Ipv6SocketAddress(sa[1], flow, p3.segments(ip), scope))


def ip_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> net.IpAddress:
    """The 0.2 ``ip-address`` of a Python IP address."""
    if isinstance(ip, ipaddress.IPv4Address):
        b = ip.packed
        return net.IpAddressIpv4((b[0], b[1], b[2], b[3]))
    return net.IpAddressIpv6(p3.segments(ip))


def _s_addr(a: net.IpSocketAddress) -> S.IpSocketAddress:
    """A 0.2 address where the 0.3 helpers want one (they read tag, port and address only)."""
    return cast(S.IpSocketAddress, a)


def _s_family(f: net.IpAddressFamily) -> S.IpAddressFamily:
    return S.IpAddressFamily(f.value)


# -- readiness ----------------------------------------------------------------------------


def fd_ready(sock: socket.socket, write: bool, timeout: float | None) -> bool:
    """Whether ``sock`` is readable (writable), waiting up to ``timeout`` seconds (None: forever).

    A closed socket, or one with an error or hang-up pending, counts as ready.
    """
    fd = sock.fileno()
    return fd < 0 or wait_fds([(fd, write)], timeout)


class FdPollable(Pollable):
    """Ready when a socket is readable (or writable)."""

    def __init__(self, sock: socket.socket, write: bool) -> None:
        self.sock = sock
        self.write = write

    def ready(self) -> bool:
        return fd_ready(self.sock, self.write, 0)

    def block(self) -> None:
        fd_ready(self.sock, self.write, None)

    def wait_fd(self) -> tuple[int, bool] | None:
        fd = self.sock.fileno()
        return None if fd < 0 else (fd, self.write)


# -- network ------------------------------------------------------------------------------


class Network:
    """A ``network``: the right to use the host's network, as the context grants it."""

    def __init__(self, ctx: WasiCtx) -> None:
        self.ctx = ctx


class _Gate:
    """What a 0.3 socket object asks of its host: the network permission."""

    def __init__(self, ctx: WasiCtx) -> None:
        self.ctx = ctx

    def check_network(self) -> None:
        if not self.ctx.network:
            raise p3.SocketError(S.ErrorCodeAccessDenied())


# -- TCP ----------------------------------------------------------------------------------


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


# -- UDP ----------------------------------------------------------------------------------


class UdpSocket:
    """A guest's 0.2 ``udp-socket``: ``default``, ``bind-started``, ``bound`` or ``connected``.

    Bind, association and options are those of a 0.3
    :class:`~wasmloom.wasi.p3.sockets.UdpSocket`. Each ``stream`` call makes
    a new pair of datagram streams; earlier pairs stop working.
    """

    def __init__(self, ctx: WasiCtx, family: net.IpAddressFamily, inner: p3.UdpSocket) -> None:
        self.ctx = ctx
        self.family = family
        self.inner = inner
        self.bind_started = False
        self.generation = 0

    @classmethod
    def create(cls, ctx: WasiCtx, family: net.IpAddressFamily) -> UdpSocket:
        f = _s_family(family)
        sock = p3.new_socket(f, socket.SOCK_DGRAM)
        return cls(ctx, family, p3.UdpSocket(cast(Any, _Gate(ctx)), f, sock))

    def drop(self) -> None:
        self.inner.drop()

    def start_bind(
        self, network: Network, local_address: net.IpSocketAddress
    ) -> Ok[None] | Err[net.ErrorCode]:
        if self.inner.state != "default":
            return Err(E.INVALID_STATE)
        r = _conv(self.inner.bind(_s_addr(local_address)))
        if isinstance(r, Ok):
            self.bind_started = True
        return r

    def finish_bind(self) -> Ok[None] | Err[net.ErrorCode]:
        if not self.bind_started:
            return Err(E.NOT_IN_PROGRESS)
        self.bind_started = False
        return Ok(None)

    def _bound(self) -> bool:
        return self.inner.state != "default" and not self.bind_started

    def stream(
        self, remote_address: net.IpSocketAddress | None
    ) -> Ok[tuple[IncomingDatagramStream, OutgoingDatagramStream]] | Err[net.ErrorCode]:
        if not self._bound():
            return Err(E.INVALID_STATE)
        if remote_address is not None:
            r = _conv(self.inner.connect(_s_addr(remote_address)))
            if isinstance(r, Err):
                return r
        elif self.inner.state == "connected":
            r = _conv(self.inner.disconnect())
            if isinstance(r, Err):
                return r
        self.generation += 1
        return Ok((IncomingDatagramStream(self), OutgoingDatagramStream(self)))

    def local_address(self) -> Ok[net.IpSocketAddress] | Err[net.ErrorCode]:
        if self.bind_started:
            return Err(E.INVALID_STATE)
        return _conv(self.inner.get_local_address())

    def remote_address(self) -> Ok[net.IpSocketAddress] | Err[net.ErrorCode]:
        return _conv(self.inner.get_remote_address())

    def address_family(self) -> net.IpAddressFamily:
        return self.family

    def unicast_hop_limit(self) -> Ok[int] | Err[net.ErrorCode]:
        return _conv(self.inner.get_unicast_hop_limit())

    def set_unicast_hop_limit(self, value: int) -> Ok[None] | Err[net.ErrorCode]:
        return _conv(self.inner.set_unicast_hop_limit(value))

    def receive_buffer_size(self) -> Ok[int] | Err[net.ErrorCode]:
        return _conv(self.inner.get_receive_buffer_size())

    def set_receive_buffer_size(self, value: int) -> Ok[None] | Err[net.ErrorCode]:
        return _conv(self.inner.set_receive_buffer_size(value))

    def send_buffer_size(self) -> Ok[int] | Err[net.ErrorCode]:
        return _conv(self.inner.get_send_buffer_size())

    def set_send_buffer_size(self, value: int) -> Ok[None] | Err[net.ErrorCode]:
        return _conv(self.inner.set_send_buffer_size(value))

    def subscribe(self) -> Pollable:
        return Pollable()


class IncomingDatagramStream:
    """Datagrams arriving at a UDP socket (from its remote address only, when it has one)."""

    def __init__(self, owner: UdpSocket) -> None:
        self.owner = owner
        self.generation = owner.generation

    def receive(self, max_results: int) -> Ok[list[udp.IncomingDatagram]] | Err[net.ErrorCode]:
        if self.generation != self.owner.generation:
            return Err(E.INVALID_STATE)
        out: list[udp.IncomingDatagram] = []
        sock = self.owner.inner.sock
        while len(out) < max_results:
            try:
                data, addr = sock.recvfrom(_MAX_DATAGRAM)
            except BlockingIOError:
                break
            except OSError as e:
                if out:
                    break
                return Err(_os_code(e))
            out.append(udp.IncomingDatagram(data, address(addr)))
        return Ok(out)

    def subscribe(self) -> Pollable:
        return FdPollable(self.owner.inner.sock, False)


class OutgoingDatagramStream:
    """Datagrams sent from a UDP socket; ``check-send`` permits up to :data:`SEND_PERMIT`."""

    def __init__(self, owner: UdpSocket) -> None:
        self.owner = owner
        self.generation = owner.generation
        self.permit = 0

    def check_send(self) -> Ok[int] | Err[net.ErrorCode]:
        if self.generation != self.owner.generation:
            return Err(E.INVALID_STATE)
        self.permit = SEND_PERMIT if fd_ready(self.owner.inner.sock, True, 0) else 0
        return Ok(self.permit)

    def _send_one(self, d: udp.OutgoingDatagram) -> None:
        inner = self.owner.inner
        if len(d.data) > _MAX_DATAGRAM:
            raise Failure(E.DATAGRAM_TOO_LARGE)
        if d.remote_address is None:
            if inner.state != "connected":
                raise Failure(E.INVALID_ARGUMENT)
            inner.sock.send(d.data)
            return
        a = _s_addr(d.remote_address)
        if not self.owner.ctx.network:
            raise Failure(E.ACCESS_DENIED)
        p3.check_family(a, _s_family(self.owner.family))
        p3.check_remote(a)
        addr = p3.to_py(a)
        if inner.state == "connected":
            assert inner.remote is not None
            if address(addr) != address(inner.remote):
                raise Failure(E.INVALID_ARGUMENT)
            inner.sock.send(d.data)
        else:
            inner.sock.sendto(d.data, addr)

    def send(self, datagrams: list[udp.OutgoingDatagram]) -> Ok[int] | Err[net.ErrorCode]:
        if self.generation != self.owner.generation:
            return Err(E.INVALID_STATE)
        if not datagrams:
            return Ok(0)
        if len(datagrams) > self.permit:
            raise Trap("outgoing-datagram-stream.send: more datagrams than check-send permitted")
        self.permit -= len(datagrams)
        sent = 0
        for d in datagrams:
            try:
                self._send_one(d)
            except _FAILURES as e:
                if sent:
                    break
                return Err(_code_of(e))
            sent += 1
        return Ok(sent)

    def subscribe(self) -> Pollable:
        return FdPollable(self.owner.inner.sock, True)


# -- ip-name-lookup -----------------------------------------------------------------------

_RESOLVER: concurrent.futures.ThreadPoolExecutor | None = None


def _resolver() -> concurrent.futures.ThreadPoolExecutor:
    global _RESOLVER
    if _RESOLVER is None:
        _RESOLVER = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="wasi-p2-dns")
    return _RESOLVER


def _resolve(name: str) -> list[net.IpAddress]:
    infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    return [ip_address(ip) for ip in p3.resolved_ips(infos)]


class ResolveAddressStream:
    """The addresses of a name, resolved on a worker thread; handed out one at a time."""

    def __init__(self, fut: concurrent.futures.Future[list[net.IpAddress]]) -> None:
        self.fut = fut
        self.addresses: list[net.IpAddress] | None = None
        self.pos = 0

    def resolve_next_address(self) -> Ok[net.IpAddress | None] | Err[net.ErrorCode]:
        if self.addresses is None:
            if not self.fut.done():
                return Err(E.WOULD_BLOCK)
            try:
                self.addresses = self.fut.result()
            except socket.gaierror as e:
                self.addresses = []
                cls = p3.GAI_ERRORS.get(e.errno) if e.errno is not None else None
                return Err(E(cls.tag) if cls is not None else E.UNKNOWN)
            except (OSError, UnicodeError):
                self.addresses = []
                return Err(E.UNKNOWN)
        if self.pos >= len(self.addresses):
            return Ok(None)
        self.pos += 1
        return Ok(self.addresses[self.pos - 1])

    def subscribe(self) -> Pollable:
        return FuturePollable(self.fut)


# -- the interfaces -----------------------------------------------------------------------


class SocketsHost:
    """``instance-network``, ``tcp-create-socket``, ``udp-create-socket``, ``ip-name-lookup``;
    the ``tcp`` and ``udp`` interfaces are methods of the resources."""

    def __init__(self, ctx: WasiCtx) -> None:
        self.ctx = ctx

    def instance_network(self) -> Network:
        return Network(self.ctx)

    def create_tcp_socket(
        self, address_family: net.IpAddressFamily
    ) -> Ok[TcpSocket] | Err[net.ErrorCode]:
        if not self.ctx.allow_tcp:
            return Err(E.ACCESS_DENIED)
        return _result(lambda: TcpSocket.create(self.ctx, address_family))

    def create_udp_socket(
        self, address_family: net.IpAddressFamily
    ) -> Ok[UdpSocket] | Err[net.ErrorCode]:
        if not self.ctx.allow_udp:
            return Err(E.ACCESS_DENIED)
        return _result(lambda: UdpSocket.create(self.ctx, address_family))

    def resolve_addresses(
        self, network: Network, name: str
    ) -> Ok[ResolveAddressStream] | Err[net.ErrorCode]:
        if not self.ctx.allow_ip_name_lookup:
            return Err(E.ACCESS_DENIED)
        try:
            target = p3.lookup_name(name)
        except ValueError:
            return Err(E.INVALID_ARGUMENT)
        fut: concurrent.futures.Future[list[net.IpAddress]]
        if isinstance(target, str):
            fut = _resolver().submit(_resolve, target)
        else:
            fut = concurrent.futures.Future()
            fut.set_result([ip_address(target)])
        return Ok(ResolveAddressStream(fut))
