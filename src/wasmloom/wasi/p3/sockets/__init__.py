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

Modules: :mod:`.addresses` (address conversions and checks), :mod:`.tcp`,
:mod:`.udp`, :mod:`.lookup` (name validation, ``getaddrinfo`` results),
:mod:`.readiness` (waiting on the event loop), :mod:`.common` (error codes,
shared options) and :mod:`.host` (:class:`SocketsHost` and :func:`add_to_linker`).
"""

from wasmloom.wasi.p3.sockets.addresses import (
    check_family,
    check_remote,
    check_unicast,
    from_py,
    segments,
    to_py,
)
from wasmloom.wasi.p3.sockets.common import SocketError, error_code
from wasmloom.wasi.p3.sockets.host import SocketsHost, add_to_linker, new_socket
from wasmloom.wasi.p3.sockets.lookup import GAI_ERRORS, lookup_name, resolved_ips
from wasmloom.wasi.p3.sockets.tcp import ACCEPT_ABORTED, Conn, TcpSocket
from wasmloom.wasi.p3.sockets.udp import UdpSocket

__all__ = [
    "ACCEPT_ABORTED",
    "GAI_ERRORS",
    "Conn",
    "SocketError",
    "SocketsHost",
    "TcpSocket",
    "UdpSocket",
    "add_to_linker",
    "check_family",
    "check_remote",
    "check_unicast",
    "error_code",
    "from_py",
    "lookup_name",
    "new_socket",
    "resolved_ips",
    "segments",
    "to_py",
]
