"""The 0.2 ``wasi:sockets`` host: ``instance-network``, the socket constructors and
``ip-name-lookup``."""

from __future__ import annotations

import concurrent.futures

from wasmloom.values import Err, Ok
from wasmloom.wasi.ctx import WasiCtx
from wasmloom.wasi.p2.bindings import wasi_sockets_network as net
from wasmloom.wasi.p2.sockets.common import E, Network, _result, ip_address
from wasmloom.wasi.p2.sockets.lookup import ResolveAddressStream, _resolve, _resolver
from wasmloom.wasi.p2.sockets.tcp import TcpSocket
from wasmloom.wasi.p2.sockets.udp import UdpSocket
from wasmloom.wasi.p3 import sockets as p3

__all__ = ["SocketsHost"]


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
