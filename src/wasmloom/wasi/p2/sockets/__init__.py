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

Modules: :mod:`.tcp`, :mod:`.udp`, :mod:`.lookup` (``ip-name-lookup``),
:mod:`.common` (error codes, addresses, readiness, ``network``) and
:mod:`.host` (:class:`SocketsHost`).
"""

from wasmloom.wasi.p2.sockets.common import Network
from wasmloom.wasi.p2.sockets.host import SocketsHost
from wasmloom.wasi.p2.sockets.lookup import ResolveAddressStream
from wasmloom.wasi.p2.sockets.tcp import SOCKET_WRITE_BUDGET, TcpSocket
from wasmloom.wasi.p2.sockets.udp import IncomingDatagramStream, OutgoingDatagramStream, UdpSocket

__all__ = [
    "SOCKET_WRITE_BUDGET",
    "IncomingDatagramStream",
    "Network",
    "OutgoingDatagramStream",
    "ResolveAddressStream",
    "SocketsHost",
    "TcpSocket",
    "UdpSocket",
]
