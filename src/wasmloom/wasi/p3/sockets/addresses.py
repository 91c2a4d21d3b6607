"""WIT ``ip-socket-address`` values and Python socket addresses: conversions and checks."""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Callable
from typing import Any

from wasmloom.wasi.p3.bindings import wasi_sockets_types as S
from wasmloom.wasi.p3.sockets.common import IPV4, _fail

__all__ = [
    "PyAddr",
    "check_family",
    "check_remote",
    "check_unicast",
    "from_py",
    "segments",
    "to_py",
]


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
