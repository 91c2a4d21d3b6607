"""What the 0.2 socket modules share: ``error-code`` conversion from 0.3 and the OS,
addresses, readiness pollables and the ``network`` resource."""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Callable
from typing import Any, cast

from wasmloom.values import Err, Ok
from wasmloom.wasi.ctx import WasiCtx
from wasmloom.wasi.p2.bindings import wasi_sockets_network as net
from wasmloom.wasi.p2.io import Pollable, wait_fds
from wasmloom.wasi.p3 import sockets as p3
from wasmloom.wasi.p3.bindings import wasi_sockets_types as S

__all__ = [
    "E",
    "Failure",
    "FdPollable",
    "Network",
    "address",
    "fd_ready",
    "ip_address",
    "to_p2_code",
]


E = net.ErrorCode


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
