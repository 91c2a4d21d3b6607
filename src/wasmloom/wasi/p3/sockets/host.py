"""The ``wasi:sockets`` 0.3.0 host of a store (:class:`SocketsHost`) and :func:`add_to_linker`."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

from wasmloom import types as T
from wasmloom.host.accessor import Accessor
from wasmloom.host.linker import Linker
from wasmloom.values import Err, Ok
from wasmloom.wasi.p3._parent import WasiParent
from wasmloom.wasi.p3.bindings import wasi_sockets_ip_name_lookup as L
from wasmloom.wasi.p3.bindings import wasi_sockets_types as S
from wasmloom.wasi.p3.sockets.addresses import _family_of, _ip_address
from wasmloom.wasi.p3.sockets.common import IPV6, _fail, _result
from wasmloom.wasi.p3.sockets.lookup import GAI_ERRORS, lookup_name, resolved_ips
from wasmloom.wasi.p3.sockets.tcp import Conn, TcpSocket
from wasmloom.wasi.p3.sockets.udp import UdpSocket

__all__ = ["SocketsHost", "add_to_linker", "new_socket"]


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
