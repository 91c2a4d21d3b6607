"""``udp-socket``: bind, connect (and dissolve an association), send and receive datagrams."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import errno
import socket
import sys
from typing import Any

from wasmloom.host.accessor import Accessor
from wasmloom.values import Err, Ok
from wasmloom.wasi.p3.bindings import wasi_sockets_types as S
from wasmloom.wasi.p3.sockets.addresses import (
    PyAddr,
    _at,
    check_family,
    check_remote,
    from_py,
    to_py,
)
from wasmloom.wasi.p3.sockets.common import (
    IPV4,
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

__all__ = ["UdpSocket"]


_MAX_DATAGRAM = 65535


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

    def __init__(self, host: SocketsParent, family: S.IpAddressFamily, sock: socket.socket):
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
