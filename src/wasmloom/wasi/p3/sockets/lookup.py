"""``ip-name-lookup``: what a name to resolve may be, and ``getaddrinfo`` results and errors."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from wasmloom.wasi.p3.bindings import wasi_sockets_ip_name_lookup as L

__all__ = ["GAI_ERRORS", "lookup_name", "resolved_ips"]


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
