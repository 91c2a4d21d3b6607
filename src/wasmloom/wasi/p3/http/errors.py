"""``error-code`` values: the internal error, a short label, and what a failed connect maps to."""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from typing import Any

from wasmloom.wasi.p3.bindings import wasi_http_types as H

__all__ = ["error_label"]


def _internal(msg: str | None = None) -> H.ErrorCode:
    return H.ErrorCodeInternalError(msg)


def error_label(code: Any) -> str:
    """A short text for an ``error-code`` value (for logs and 5xx bodies)."""
    tag = getattr(code, "tag", None)
    if tag is None:
        return str(code)
    value = getattr(code, "value", None)
    return f"{tag}({value})" if value is not None else str(tag)


def _connect_error(e: BaseException) -> Any:
    if isinstance(e, socket.gaierror | UnicodeError):
        return H.ErrorCodeDNSError(H.DNSErrorPayload(str(e) or type(e).__name__, None))
    if isinstance(e, asyncio.TimeoutError):
        return H.ErrorCodeConnectionTimeout()
    if isinstance(e, ConnectionRefusedError):
        return H.ErrorCodeConnectionRefused()
    if isinstance(e, ssl.SSLCertVerificationError):
        return H.ErrorCodeTLSCertificateError()
    if isinstance(e, ssl.SSLError):
        return H.ErrorCodeTLSProtocolError()
    if isinstance(e, OSError):
        if e.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return H.ErrorCodeDestinationUnavailable()
        if e.errno in (errno.EADDRNOTAVAIL,):
            return H.ErrorCodeDestinationIPUnroutable()
        if e.errno in (errno.ECONNRESET, errno.EPIPE):
            return H.ErrorCodeConnectionTerminated()
        return H.ErrorCodeDestinationUnavailable()
    return _internal(f"{type(e).__name__}: {e}")
