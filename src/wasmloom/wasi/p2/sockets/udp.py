"""``udp-socket`` 0.2 over a 0.3 socket, and its incoming and outgoing datagram streams."""

from __future__ import annotations

import socket
from typing import Any, cast

from wasmloom.errors import Trap
from wasmloom.values import Err, Ok
from wasmloom.wasi.ctx import WasiCtx
from wasmloom.wasi.p2.bindings import wasi_sockets_network as net
from wasmloom.wasi.p2.bindings import wasi_sockets_udp as udp
from wasmloom.wasi.p2.io import Pollable
from wasmloom.wasi.p2.sockets.common import (
    _FAILURES,
    E,
    Failure,
    FdPollable,
    Network,
    _code_of,
    _conv,
    _Gate,
    _os_code,
    _s_addr,
    _s_family,
    address,
    fd_ready,
)
from wasmloom.wasi.p3 import sockets as p3

__all__ = ["SEND_PERMIT", "IncomingDatagramStream", "OutgoingDatagramStream", "UdpSocket"]


#: How many datagrams ``check-send`` allows at once.
SEND_PERMIT = 64
_MAX_DATAGRAM = 65535


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
