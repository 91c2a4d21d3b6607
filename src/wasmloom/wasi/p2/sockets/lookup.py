"""``ip-name-lookup`` 0.2: names resolved on a worker thread, handed out one at a time."""

from __future__ import annotations

import concurrent.futures
import socket

from wasmloom.values import Err, Ok
from wasmloom.wasi.p2.bindings import wasi_sockets_network as net
from wasmloom.wasi.p2.io import FuturePollable, Pollable
from wasmloom.wasi.p2.sockets.common import E, ip_address
from wasmloom.wasi.p3 import sockets as p3

__all__ = ["ResolveAddressStream"]


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
