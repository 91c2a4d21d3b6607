"""What the socket modules share: stream results, address families, ``error-code`` values,
the options of both TCP and UDP, and the protocol a socket takes of its host."""

from __future__ import annotations

import errno
import socket
import sys
from collections.abc import Callable
from typing import Any, Protocol

from wasmloom import types as T
from wasmloom.host.streams import StreamResult
from wasmloom.values import Err, Ok
from wasmloom.wasi.p3._parent import WasiParent
from wasmloom.wasi.p3.bindings import wasi_sockets_types as S

__all__ = ["SocketError", "SocketsParent", "error_code"]


COMPLETED = StreamResult.COMPLETED
DROPPED = StreamResult.DROPPED
PENDING = StreamResult.PENDING
CANCELLED = StreamResult.CANCELLED


IPV4 = S.IpAddressFamily.IPV4
IPV6 = S.IpAddressFamily.IPV6


_MAX_I32 = (1 << 31) - 1


_ERRNO_CODES: dict[int, type[Any]] = {
    errno.EPERM: S.ErrorCodeAccessDenied,
    errno.EACCES: S.ErrorCodeAccessDenied,
    errno.EADDRINUSE: S.ErrorCodeAddressInUse,
    errno.EADDRNOTAVAIL: S.ErrorCodeAddressNotBindable,
    errno.ETIMEDOUT: S.ErrorCodeTimeout,
    errno.ECONNREFUSED: S.ErrorCodeConnectionRefused,
    errno.ECONNRESET: S.ErrorCodeConnectionReset,
    errno.ECONNABORTED: S.ErrorCodeConnectionAborted,
    errno.EPIPE: S.ErrorCodeConnectionBroken,
    errno.EINVAL: S.ErrorCodeInvalidArgument,
    errno.EHOSTUNREACH: S.ErrorCodeRemoteUnreachable,
    errno.EHOSTDOWN: S.ErrorCodeRemoteUnreachable,
    errno.ENETDOWN: S.ErrorCodeRemoteUnreachable,
    errno.ENETUNREACH: S.ErrorCodeRemoteUnreachable,
    errno.EISCONN: S.ErrorCodeInvalidState,
    errno.ENOTCONN: S.ErrorCodeInvalidState,
    errno.EDESTADDRREQ: S.ErrorCodeInvalidState,
    errno.EMSGSIZE: S.ErrorCodeDatagramTooLarge,
    errno.ENOMEM: S.ErrorCodeOutOfMemory,
    errno.ENOBUFS: S.ErrorCodeOutOfMemory,
    errno.EOPNOTSUPP: S.ErrorCodeNotSupported,
    errno.ENOPROTOOPT: S.ErrorCodeNotSupported,
    errno.EPFNOSUPPORT: S.ErrorCodeNotSupported,
    errno.EPROTONOSUPPORT: S.ErrorCodeNotSupported,
    errno.EPROTOTYPE: S.ErrorCodeNotSupported,
    errno.ESOCKTNOSUPPORT: S.ErrorCodeNotSupported,
    errno.EAFNOSUPPORT: S.ErrorCodeNotSupported,
}
if hasattr(errno, "ENONET"):
    _ERRNO_CODES[errno.ENONET] = S.ErrorCodeRemoteUnreachable


def error_code(e: BaseException) -> S.ErrorCode:
    """The ``error-code`` for an exception of a socket operation."""
    if isinstance(e, OSError) and e.errno is not None:
        cls = _ERRNO_CODES.get(e.errno)
        if cls is not None:
            return cls()  # type: ignore[no-any-return]
        return S.ErrorCodeOther(e.strerror or None)
    if isinstance(e, (OverflowError, ValueError)):
        return S.ErrorCodeInvalidArgument()
    return S.ErrorCodeOther(str(e) or None)


class SocketError(Exception):
    """An operation failed with ``code`` (the guest sees ``Err(code)``)."""

    def __init__(self, code: S.ErrorCode) -> None:
        super().__init__(code.tag)
        self.code = code


def _fail(cls: type[Any]) -> SocketError:
    return SocketError(cls())


def _result(fn: Callable[[], Any]) -> Ok[Any] | Err[S.ErrorCode]:
    """``Ok(fn())``, or ``Err`` with the code of the :class:`SocketError`/``OSError`` raised.

    A value the OS cannot take (``OverflowError``, ``ValueError``) is ``invalid-argument``.
    """
    try:
        return Ok(fn())
    except SocketError as e:
        return Err(e.code)
    except (OSError, OverflowError, ValueError) as e:
        return Err(error_code(e))


class SocketsParent(Protocol):
    """What a socket uses of the :class:`~wasmloom.wasi.p3.sockets.host.SocketsHost` that made it.

    :mod:`.tcp` and :mod:`.udp` take this protocol, not ``SocketsHost``, so they
    import nothing of :mod:`.host`, which builds their sockets.
    """

    @property
    def w(self) -> WasiParent: ...

    @property
    def tcp_rt(self) -> T.ResourceType | None: ...

    def check_network(self) -> None: ...


# -- options of both TCP and UDP ----------------------------------------------------------


def _get_hop_limit(sock: socket.socket, family: S.IpAddressFamily) -> int:
    if family is IPV4:
        return sock.getsockopt(socket.IPPROTO_IP, socket.IP_TTL)
    return sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS)


def _set_hop_limit(sock: socket.socket, family: S.IpAddressFamily, value: int) -> None:
    if value == 0:
        raise _fail(S.ErrorCodeInvalidArgument)
    if family is IPV4:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, value)
    else:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, value)


def _get_buffer_size(sock: socket.socket, opt: int) -> int:
    v = sock.getsockopt(socket.SOL_SOCKET, opt)
    # Linux reports twice the size asked for (its bookkeeping): report the size asked for.
    return v // 2 if sys.platform.startswith("linux") else v


def _set_buffer_size(sock: socket.socket, opt: int, value: int) -> None:
    if value == 0:
        raise _fail(S.ErrorCodeInvalidArgument)
    try:
        sock.setsockopt(socket.SOL_SOCKET, opt, max(1, min(value, _MAX_I32)))
    except OSError as e:
        if e.errno != errno.ENOBUFS:  # a size the system cannot have is a hint, not an error
            raise
