"""WASI 0.3.0 ``wasi:sockets/types`` (TCP and UDP) and ``ip-name-lookup`` on asyncio.

Every socket is a non-blocking OS socket. Calls that cannot block (bind,
listen, options) run directly; ``connect`` awaits ``loop.sock_connect``;
the byte streams move data between the socket and guest memory with no
intermediate copy (``recv_into`` the reader's buffer, ``send`` from the
writer's) and, when the socket is not ready, wait for readiness with the
event loop's ``add_reader``/``add_writer`` in a task started through
``store.spawn``. Name lookups run ``getaddrinfo`` in the loop's executor.

Permissions come from the :class:`~wasmloom.wasi.ctx.WasiCtx`: ``network``
(any bind, connect or send to an address; off by default), ``allow_tcp``,
``allow_udp`` and ``allow_ip_name_lookup``. A refused operation answers
``access-denied``.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import errno
import ipaddress
import math
import socket
import sys
from collections.abc import Callable
from typing import Any

from wasmloom import types as T
from wasmloom.bindgen import rt as _brt
from wasmloom.host.accessor import Accessor
from wasmloom.host.linker import Linker
from wasmloom.host.streams import (
    Destination,
    FutureReader,
    Source,
    StreamReader,
    StreamResult,
)
from wasmloom.values import Err, Ok
from wasmloom.wasi.p3._parent import WasiParent
from wasmloom.wasi.p3._streams import Completion
from wasmloom.wasi.p3.bindings import wasi_sockets_ip_name_lookup as L
from wasmloom.wasi.p3.bindings import wasi_sockets_types as S

__all__ = ["SocketsHost", "TcpSocket", "UdpSocket", "add_to_linker", "error_code"]

COMPLETED = StreamResult.COMPLETED
DROPPED = StreamResult.DROPPED
PENDING = StreamResult.PENDING
CANCELLED = StreamResult.CANCELLED

IPV4 = S.IpAddressFamily.IPV4
IPV6 = S.IpAddressFamily.IPV6

_CHUNK = 1 << 16
_MAX_DATAGRAM = 65535
_DEFAULT_BACKLOG = 128
_MAX_I32 = (1 << 31) - 1
_NS = 1_000_000_000

_ERRNO_CODES: dict[int, type[Any]] = {
    errno.EPERM: S.ErrorCodeAccessDenied,
    errno.EACCES: S.ErrorCodeAccessDenied,
    errno.EADDRINUSE: S.ErrorCodeAddressInUse,
    errno.EADDRNOTAVAIL: S.ErrorCodeAddressNotBindable,
    errno.ETIMEDOUT: S.ErrorCodeTimeout,
    errno.ECONNREFUSED: S.ErrorCodeConnectionRefused,
    errno.ECONNRESET: S.ErrorCodeConnectionReset,
    errno.ECONNABORTED: S.ErrorCodeConnectionAborted,
    errno.EPIPE: S.ErrorCodeConnectionBroken,
    errno.EINVAL: S.ErrorCodeInvalidArgument,
    errno.EHOSTUNREACH: S.ErrorCodeRemoteUnreachable,
    errno.EHOSTDOWN: S.ErrorCodeRemoteUnreachable,
    errno.ENETDOWN: S.ErrorCodeRemoteUnreachable,
    errno.ENETUNREACH: S.ErrorCodeRemoteUnreachable,
    errno.EISCONN: S.ErrorCodeInvalidState,
    errno.ENOTCONN: S.ErrorCodeInvalidState,
    errno.EDESTADDRREQ: S.ErrorCodeInvalidState,
    errno.EMSGSIZE: S.ErrorCodeDatagramTooLarge,
    errno.ENOMEM: S.ErrorCodeOutOfMemory,
    errno.ENOBUFS: S.ErrorCodeOutOfMemory,
    errno.EOPNOTSUPP: S.ErrorCodeNotSupported,
    errno.ENOPROTOOPT: S.ErrorCodeNotSupported,
    errno.EPFNOSUPPORT: S.ErrorCodeNotSupported,
    errno.EPROTONOSUPPORT: S.ErrorCodeNotSupported,
    errno.EPROTOTYPE: S.ErrorCodeNotSupported,
    errno.ESOCKTNOSUPPORT: S.ErrorCodeNotSupported,
    errno.EAFNOSUPPORT: S.ErrorCodeNotSupported,
}
if hasattr(errno, "ENONET"):
    _ERRNO_CODES[errno.ENONET] = S.ErrorCodeRemoteUnreachable


def error_code(e: BaseException) -> S.ErrorCode:
    """The ``error-code`` for an exception of a socket operation."""
    if isinstance(e, OSError) and e.errno is not None:
        cls = _ERRNO_CODES.get(e.errno)
        if cls is not None:
            return cls()  # type: ignore[no-any-return]
        return S.ErrorCodeOther(e.strerror or None)
    if isinstance(e, (OverflowError, ValueError)):
        return S.ErrorCodeInvalidArgument()
    return S.ErrorCodeOther(str(e) or None)


class SocketError(Exception):
    """An operation failed with ``code`` (the guest sees ``Err(code)``)."""

    def __init__(self, code: S.ErrorCode) -> None:
        super().__init__(code.tag)
        self.code = code


def _fail(cls: type[Any]) -> SocketError:
    return SocketError(cls())


# -- addresses ----------------------------------------------------------------------------

PyAddr = tuple[str, int] | tuple[str, int, int, int]


def _family_of(f: S.IpAddressFamily) -> int:
    return socket.AF_INET if f is IPV4 else socket.AF_INET6


def _ip(addr: S.IpSocketAddress) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if addr.tag == "ipv4":
        return ipaddress.IPv4Address(bytes(addr.value.address))
    a = addr.value.address
    return ipaddress.IPv6Address(b"".join(x.to_bytes(2, "big") for x in a))


_MAX_FLOW_INFO = (1 << 20) - 1  # an IPv6 flow label has 20 bits


def to_py(addr: S.IpSocketAddress) -> PyAddr:
    """The Python socket address of a WIT ``ip-socket-address``.

    A ``flow-info`` wider than a flow label (20 bits), which the OS cannot
    take, is ``invalid-argument`` (:class:`SocketError`).
    """
    ip = str(_ip(addr))
    if addr.tag == "ipv4":
        return (ip, addr.value.port)
    v = addr.value
    if v.flow_info > _MAX_FLOW_INFO:
        raise _fail(S.ErrorCodeInvalidArgument)
    return (ip, v.port, v.flow_info, v.scope_id)


def from_py(sa: Any) -> S.IpSocketAddress:
    """The WIT ``ip-socket-address`` of a Python (IPv4 or IPv6) socket address."""
    ip = ipaddress.ip_address(sa[0].split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv4Address):
        b = ip.packed
        return S.IpSocketAddressIpv4(S.Ipv4SocketAddress(sa[1], (b[0], b[1], b[2], b[3])))
    return S.IpSocketAddressIpv6(
        S.Ipv6SocketAddress(sa[1], sa[2] if len(sa) > 2 else 0, segments(ip), sa[3])
    )


def segments(ip: ipaddress.IPv6Address) -> tuple[int, int, int, int, int, int, int, int]:
    """The eight 16-bit groups of an IPv6 address."""
    p = ip.packed
    s = [int.from_bytes(p[i : i + 2], "big") for i in range(0, 16, 2)]
    return (s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7])


def _ip_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> S.IpAddress:
    if isinstance(ip, ipaddress.IPv4Address):
        b = ip.packed
        return S.IpAddressIpv4((b[0], b[1], b[2], b[3]))
    return S.IpAddressIpv6(segments(ip))


def _canonical(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def check_family(addr: S.IpSocketAddress, family: S.IpAddressFamily) -> None:
    """Refuse an address of the other family, or an IPv4-mapped/-compatible IPv6 one."""
    ip = _ip(addr)
    if family is IPV4:
        ok = addr.tag == "ipv4"
    else:
        ok = addr.tag == "ipv6"
        if ok:
            assert isinstance(ip, ipaddress.IPv6Address)
            p = ip.packed
            compat = p[:12] == bytes(12) and int(ip) > 1
            ok = ip.ipv4_mapped is None and not compat
    if not ok:
        raise _fail(S.ErrorCodeInvalidArgument)


def check_unicast(addr: S.IpSocketAddress) -> None:
    """Refuse a multicast or broadcast address (``invalid-argument``)."""
    ip = _canonical(_ip(addr))
    if ip.is_multicast or ip == ipaddress.IPv4Address("255.255.255.255"):
        raise _fail(S.ErrorCodeInvalidArgument)


def check_remote(addr: S.IpSocketAddress) -> None:
    """Refuse an unspecified address or port 0 as a remote end (``invalid-argument``)."""
    if _canonical(_ip(addr)).is_unspecified or addr.value.port == 0:
        raise _fail(S.ErrorCodeInvalidArgument)


def _at(call: Callable[[Any], None], addr: S.IpSocketAddress) -> None:
    """``call(addr)`` (bind or connect); an address the socket cannot take is invalid."""
    try:
        call(to_py(addr))
    except OSError as e:
        if e.errno == errno.EAFNOSUPPORT:
            raise _fail(S.ErrorCodeInvalidArgument) from e
        raise


def _result(fn: Callable[[], Any]) -> Ok[Any] | Err[S.ErrorCode]:
    """``Ok(fn())``, or ``Err`` with the code of the :class:`SocketError`/``OSError`` raised.

    A value the OS cannot take (``OverflowError``, ``ValueError``) is ``invalid-argument``.
    """
    try:
        return Ok(fn())
    except SocketError as e:
        return Err(e.code)
    except (OSError, OverflowError, ValueError) as e:
        return Err(error_code(e))


# -- readiness ----------------------------------------------------------------------------


class _FdWait:
    """One wait for ``fd`` to be readable (or writable), registered with the running loop.

    :meth:`close` removes the registration at once and only once, so a wait
    given up on (its socket about to be closed, the fd number reused) never
    removes a later registration of the same number.
    """

    __slots__ = ("closed", "fd", "loop", "write")

    def __init__(self, fd: int, write: bool) -> None:
        self.fd = fd
        self.write = write
        self.loop: asyncio.AbstractEventLoop | None = None
        self.closed = False

    async def run(self) -> None:
        if self.closed:
            return
        loop = self.loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()

        def on_ready() -> None:
            if not fut.done():
                fut.set_result(None)

        (loop.add_writer if self.write else loop.add_reader)(self.fd, on_ready)
        try:
            await fut
        finally:
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        loop = self.loop
        if loop is not None and not loop.is_closed():
            (loop.remove_writer if self.write else loop.remove_reader)(self.fd)


class _Waiter:
    """At most one readiness wait in flight for a producer or consumer, as a store task."""

    __slots__ = ("_store", "_task", "_wait")

    def __init__(self, store: Any) -> None:
        self._store = store
        self._task: asyncio.Task[None] | None = None
        self._wait: _FdWait | None = None

    def poll(self, finish: bool) -> StreamResult | None:
        """None when no wait is running (a finished one is forgotten); else the step's answer:
        PENDING, or CANCELLED (the wait cancelled) when ``finish``."""
        task = self._task
        if task is None:
            return None
        if task.done():
            self._task = self._wait = None
            return None
        if finish:
            self.cancel()
            return CANCELLED
        return PENDING

    def start(self, fd: int, write: bool, wake: Callable[[], None]) -> StreamResult:
        """Wait for ``fd`` in a store task that calls ``wake`` when done; answers PENDING."""
        w = self._wait = _FdWait(fd, write)
        task = self._task = self._store.spawn(w.run())
        task.add_done_callback(lambda _: wake())
        return PENDING

    def cancel(self) -> None:
        w, task = self._wait, self._task
        self._wait = self._task = None
        if w is not None:
            w.close()
        if task is not None and not task.done():
            task.cancel()


# -- TCP ----------------------------------------------------------------------------------


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
        host: SocketsHost,
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


_TCP_KEEPIDLE: int = getattr(socket, "TCP_KEEPIDLE", getattr(socket, "TCP_KEEPALIVE", 4))


def _get_hop_limit(sock: socket.socket, family: S.IpAddressFamily) -> int:
    if family is IPV4:
        return sock.getsockopt(socket.IPPROTO_IP, socket.IP_TTL)
    return sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS)


def _set_hop_limit(sock: socket.socket, family: S.IpAddressFamily, value: int) -> None:
    if value == 0:
        raise _fail(S.ErrorCodeInvalidArgument)
    if family is IPV4:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, value)
    else:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, value)


def _get_buffer_size(sock: socket.socket, opt: int) -> int:
    v = sock.getsockopt(socket.SOL_SOCKET, opt)
    # Linux reports twice the size asked for (its bookkeeping): report the size asked for.
    return v // 2 if sys.platform.startswith("linux") else v


def _set_buffer_size(sock: socket.socket, opt: int, value: int) -> None:
    if value == 0:
        raise _fail(S.ErrorCodeInvalidArgument)
    try:
        sock.setsockopt(socket.SOL_SOCKET, opt, max(1, min(value, _MAX_I32)))
    except OSError as e:
        if e.errno != errno.ENOBUFS:  # a size the system cannot have is a hint, not an error
            raise


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


# -- UDP ----------------------------------------------------------------------------------


def _disconnect(sock: socket.socket) -> None:
    """Dissolve a UDP socket's association: ``connect`` to an ``AF_UNSPEC`` address."""
    addr = (ctypes.c_ubyte * 16)()
    if sys.platform == "darwin":  # sa_len, sa_family
        addr[0], addr[1] = 16, socket.AF_UNSPEC
    else:  # sa_family (host byte order, 16 bits)
        addr[0] = socket.AF_UNSPEC
    if _LIBC.connect(sock.fileno(), ctypes.byref(addr), ctypes.c_uint(16)) != 0:
        err = ctypes.get_errno()
        if err != errno.EAFNOSUPPORT:  # some systems refuse it after disconnecting anyway
            raise OSError(err, errno.errorcode.get(err, "connect"))


_LIBC = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


class UdpSocket:
    """A guest's ``udp-socket``: ``default``, ``bound`` or ``connected`` (to ``remote``)."""

    def __init__(self, host: SocketsHost, family: S.IpAddressFamily, sock: socket.socket):
        self.host = host
        self.family = family
        self.sock = sock
        self.state = "default"
        self.remote: PyAddr | None = None
        self.bound_ip: str | None = None  # the IP of an explicit bind

    def drop(self) -> None:
        self.sock.close()

    def _dissolve(self) -> None:
        """Disconnect, staying bound to the same port.

        Linux releases an ephemeral port on disconnect: it is bound again,
        explicitly (to the IP of the guest's bind, or the unspecified one).
        """
        before = self.sock.getsockname()
        _disconnect(self.sock)
        if self.sock.getsockname()[1] == 0 and before[1] != 0:
            any_ip = "0.0.0.0" if self.family is IPV4 else "::"
            try:
                self.sock.bind((self.bound_ip or any_ip, before[1]))
            except OSError:
                pass  # taken meanwhile: the next send binds a new port
        self.state, self.remote = "bound", None

    def bind(self, local_address: S.IpSocketAddress) -> Ok[None] | Err[S.ErrorCode]:
        def run() -> None:
            self.host.check_network()
            check_family(local_address, self.family)
            if self.state != "default":
                raise _fail(S.ErrorCodeInvalidState)
            _at(self.sock.bind, local_address)
            self.state, self.bound_ip = "bound", to_py(local_address)[0]

        return _result(run)

    def connect(self, remote_address: S.IpSocketAddress) -> Ok[None] | Err[S.ErrorCode]:
        def run() -> None:
            self.host.check_network()
            check_family(remote_address, self.family)
            check_remote(remote_address)
            if self.state == "connected":
                self._dissolve()
            _at(self.sock.connect, remote_address)
            self.state, self.remote = "connected", to_py(remote_address)

        return _result(run)

    def disconnect(self) -> Ok[None] | Err[S.ErrorCode]:
        def run() -> None:
            if self.state != "connected":
                raise _fail(S.ErrorCodeInvalidState)
            self._dissolve()

        return _result(run)

    async def send(
        self,
        accessor: Accessor[Any, Any],
        data: bytes,
        remote_address: S.IpSocketAddress | None,
    ) -> Ok[None] | Err[S.ErrorCode]:
        loop = asyncio.get_running_loop()
        try:
            if len(data) > _MAX_DATAGRAM:
                raise _fail(S.ErrorCodeDatagramTooLarge)
            if remote_address is None:
                if self.state != "connected":
                    raise _fail(S.ErrorCodeInvalidArgument)
                await loop.sock_sendall(self.sock, data)
                return Ok(None)
            self.host.check_network()
            check_family(remote_address, self.family)
            check_remote(remote_address)
            addr = to_py(remote_address)
            if self.state == "connected":
                if from_py(addr) != from_py(self.remote):
                    raise _fail(S.ErrorCodeInvalidArgument)
                await loop.sock_sendall(self.sock, data)
            else:
                await loop.sock_sendto(self.sock, data, addr)
                self.state = "bound"
        except SocketError as e:
            return Err(e.code)
        except (OSError, OverflowError, ValueError) as e:
            return Err(error_code(e))
        return Ok(None)

    async def receive(
        self, accessor: Accessor[Any, Any]
    ) -> Ok[tuple[bytes, S.IpSocketAddress]] | Err[S.ErrorCode]:
        if self.state == "default":
            return Err(S.ErrorCodeInvalidState())
        try:
            data, addr = await asyncio.get_running_loop().sock_recvfrom(self.sock, _MAX_DATAGRAM)
        except OSError as e:
            return Err(error_code(e))
        return Ok((data, from_py(addr)))

    def get_local_address(self) -> Ok[S.IpSocketAddress] | Err[S.ErrorCode]:
        def run() -> S.IpSocketAddress:
            if self.state == "default":
                raise _fail(S.ErrorCodeInvalidState)
            return from_py(self.sock.getsockname())

        return _result(run)

    def get_remote_address(self) -> Ok[S.IpSocketAddress] | Err[S.ErrorCode]:
        def run() -> S.IpSocketAddress:
            if self.state != "connected":
                raise _fail(S.ErrorCodeInvalidState)
            return from_py(self.sock.getpeername())

        return _result(run)

    def get_address_family(self) -> S.IpAddressFamily:
        return self.family

    def get_unicast_hop_limit(self) -> Ok[int] | Err[S.ErrorCode]:
        return _result(lambda: _get_hop_limit(self.sock, self.family))

    def set_unicast_hop_limit(self, value: int) -> Ok[None] | Err[S.ErrorCode]:
        return _result(lambda: _set_hop_limit(self.sock, self.family, value))

    def get_receive_buffer_size(self) -> Ok[int] | Err[S.ErrorCode]:
        return _result(lambda: _get_buffer_size(self.sock, socket.SO_RCVBUF))

    def set_receive_buffer_size(self, value: int) -> Ok[None] | Err[S.ErrorCode]:
        return _result(lambda: _set_buffer_size(self.sock, socket.SO_RCVBUF, value))

    def get_send_buffer_size(self) -> Ok[int] | Err[S.ErrorCode]:
        return _result(lambda: _get_buffer_size(self.sock, socket.SO_SNDBUF))

    def set_send_buffer_size(self, value: int) -> Ok[None] | Err[S.ErrorCode]:
        return _result(lambda: _set_buffer_size(self.sock, socket.SO_SNDBUF, value))


# -- the interfaces -----------------------------------------------------------------------


def new_socket(family: S.IpAddressFamily, kind: int) -> socket.socket:
    """A non-blocking OS socket of ``family`` and ``kind`` (IPv6 ones IPv6-only)."""
    sock = socket.socket(_family_of(family), kind)
    try:
        sock.setblocking(False)
        if family is IPV6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    except BaseException:
        sock.close()
        raise
    return sock


#: ``getaddrinfo`` error numbers -> ``ip-name-lookup`` error-code cases.
GAI_ERRORS: dict[int, type[Any]] = {
    socket.EAI_NONAME: L.ErrorCodeNameUnresolvable,
    socket.EAI_AGAIN: L.ErrorCodeTemporaryResolverFailure,
    socket.EAI_FAIL: L.ErrorCodePermanentResolverFailure,
}
for _name in ("EAI_NODATA", "EAI_ADDRFAMILY"):
    if hasattr(socket, _name):
        GAI_ERRORS[getattr(socket, _name)] = L.ErrorCodeNameUnresolvable


def lookup_name(name: str) -> str | ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An IP address literal, or the ASCII form of a domain name; ValueError if neither."""
    literal = name[1:-1] if name.startswith("[") and name.endswith("]") else name
    try:
        return ipaddress.ip_address(literal)
    except ValueError:
        pass
    if literal is not name or not name or len(name) > 253:
        raise ValueError(name)
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError as e:
        raise ValueError(name) from e
    for label in ascii_name.rstrip(".").split("."):
        if not label or len(label) > 63 or not all(c.isalnum() or c in "-_" for c in label):
            raise ValueError(name)
    return ascii_name


def resolved_ips(infos: list[Any]) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The distinct IP addresses of ``getaddrinfo`` results, in their order."""
    out: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for fam, _, _, _, sa in infos:
        if fam in (socket.AF_INET, socket.AF_INET6):
            ip = ipaddress.ip_address(str(sa[0]).split("%", 1)[0])
            if ip not in out:
                out.append(ip)
    return out


class SocketsHost:
    """The ``wasi:sockets`` 0.3.0 host of one :class:`~wasmloom.wasi.p3.host.WasiP3`."""

    def __init__(self, w: WasiParent) -> None:
        self.w = w
        #: The linker's ``tcp-socket`` resource type (set by :func:`add_to_linker`).
        self.tcp_rt: T.ResourceType | None = None

    def check_network(self) -> None:
        """Raise ``access-denied`` unless the context lets the guest use the network."""
        if not self.w.ctx.network:
            raise _fail(S.ErrorCodeAccessDenied)

    def tcp_socket_create(self, address_family: S.IpAddressFamily) -> Ok[Any] | Err[S.ErrorCode]:
        def run() -> TcpSocket:
            if not self.w.ctx.allow_tcp:
                raise _fail(S.ErrorCodeAccessDenied)
            sock = new_socket(address_family, socket.SOCK_STREAM)
            return TcpSocket(self, address_family, Conn(sock))

        return _result(run)

    def udp_socket_create(self, address_family: S.IpAddressFamily) -> Ok[Any] | Err[S.ErrorCode]:
        def run() -> UdpSocket:
            if not self.w.ctx.allow_udp:
                raise _fail(S.ErrorCodeAccessDenied)
            return UdpSocket(self, address_family, new_socket(address_family, socket.SOCK_DGRAM))

        return _result(run)

    async def resolve_addresses(
        self, accessor: Accessor[Any, Any], name: str
    ) -> Ok[list[S.IpAddress]] | Err[L.ErrorCode]:
        if not self.w.ctx.allow_ip_name_lookup:
            return Err(L.ErrorCodeAccessDenied())
        try:
            target = lookup_name(name)
        except ValueError:
            return Err(L.ErrorCodeInvalidArgument())
        if not isinstance(target, str):
            return Ok([_ip_address(target)])
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                target, None, type=socket.SOCK_STREAM
            )
        except socket.gaierror as e:
            cls = GAI_ERRORS.get(e.errno) if e.errno is not None else None
            return Err(cls() if cls is not None else L.ErrorCodeOther(e.strerror or None))
        return Ok([_ip_address(ip) for ip in resolved_ips(infos)])


def add_to_linker(linker: Linker, getter: Callable[[Any], SocketsHost]) -> None:
    """Define ``wasi:sockets/types`` and ``ip-name-lookup`` 0.3.0 in ``linker``.

    ``getter(store.data)`` is the store's :class:`SocketsHost`.
    """

    def get(d: Any) -> SocketsHost:
        h = getter(d)
        if h.tcp_rt is None:
            h.tcp_rt = tcp_rt
        return h

    tcp_rt = S.add_to_linker(linker, get).tcp_socket
    L.add_to_linker(linker, get)
