"""``request``, ``response`` and ``request-options``, validated as RFC 9110 and RFC 3986 say."""

from __future__ import annotations

from typing import Any

from wasmloom.values import Err, Ok
from wasmloom.wasi.p3.bindings import wasi_http_types as H
from wasmloom.wasi.p3.http.bodies import Body
from wasmloom.wasi.p3.http.fields import _ALNUM, _OK, Fields, valid_name

__all__ = ["Request", "RequestOptions", "Response", "method_name"]


_UNRESERVED = _ALNUM | frozenset("-._~")
_SUB_DELIMS = frozenset("!$&'()*+,;=")
_PCHAR = _UNRESERVED | _SUB_DELIMS | frozenset("%:@")
_PATH_QUERY = _PCHAR | frozenset("/?")
_REG_NAME = _UNRESERVED | _SUB_DELIMS | frozenset("%")
_USERINFO = _REG_NAME | frozenset(":")
_SCHEME_REST = _ALNUM | frozenset("+-.")


_METHODS: dict[str, H.Method] = {
    "GET": H.MethodGet(),
    "HEAD": H.MethodHead(),
    "POST": H.MethodPost(),
    "PUT": H.MethodPut(),
    "DELETE": H.MethodDelete(),
    "CONNECT": H.MethodConnect(),
    "OPTIONS": H.MethodOptions(),
    "TRACE": H.MethodTrace(),
    "PATCH": H.MethodPatch(),
}


def method_name(m: Any) -> str:
    """The request-line token of a ``method`` value."""
    return str(m.value) if m.tag == "other" else str(m.tag).upper()


# --- request options ---------------------------------------------------------------------


class RequestOptions:
    """``request-options``: connect, first-byte and between-bytes timeouts (nanoseconds)."""

    __slots__ = ("between_bytes", "connect", "first_byte", "immutable")

    def __init__(self) -> None:
        self.connect: int | None = None
        self.first_byte: int | None = None
        self.between_bytes: int | None = None
        self.immutable = False

    def _set(self, attr: str, d: int | None) -> Ok[None] | Err[H.RequestOptionsError]:
        if self.immutable:
            return Err(H.RequestOptionsErrorImmutable())
        setattr(self, attr, d)
        return _OK

    def get_connect_timeout(self) -> int | None:
        return self.connect

    def set_connect_timeout(self, duration: int | None) -> Ok[None] | Err[H.RequestOptionsError]:
        return self._set("connect", duration)

    def get_first_byte_timeout(self) -> int | None:
        return self.first_byte

    def set_first_byte_timeout(self, duration: int | None) -> Ok[None] | Err[H.RequestOptionsError]:
        return self._set("first_byte", duration)

    def get_between_bytes_timeout(self) -> int | None:
        return self.between_bytes

    def set_between_bytes_timeout(
        self, duration: int | None
    ) -> Ok[None] | Err[H.RequestOptionsError]:
        return self._set("between_bytes", duration)

    def clone(self) -> RequestOptions:
        c = RequestOptions()
        c.connect, c.first_byte, c.between_bytes = self.connect, self.first_byte, self.between_bytes
        return c

    def frozen(self) -> RequestOptions:
        c = self.clone()
        c.immutable = True
        return c


def _seconds(ns: int | None) -> float | None:
    return None if ns is None else ns / 1e9


# --- requests and responses --------------------------------------------------------------


def _valid_authority(a: str) -> bool:
    """RFC 3986 ``authority``: ``[userinfo@]host[:port]`` with a non-empty host and a numeric port."""
    userinfo, at, hostport = a.rpartition("@")
    if at and not all(c in _USERINFO for c in userinfo):
        return False
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0 or not all(c in "0123456789abcdefABCDEF:." for c in hostport[1:end]):
            return False
        host, rest = hostport[1:end], hostport[end + 1 :]
        if rest and not rest.startswith(":"):
            return False
        colon, port = bool(rest), rest[1:]
    else:
        host, sep, port = hostport.partition(":")
        colon = bool(sep)
        if not all(c in _REG_NAME for c in host):
            return False
    if not host:
        return False
    return not colon or (port.isdigit() and int(port) < 65536)


class _Message:
    """What requests and responses share: immutable headers and a body until taken."""

    headers: Fields
    body: Body | None

    def get_headers(self) -> Fields:
        # the headers themselves once immutable (as a message's are): no copy can differ
        h = self.headers
        return h if h.immutable else h.frozen_view()

    def drop(self) -> None:
        """The guest dropped the message without sending or consuming it."""
        if self.body is not None:
            self.body.close()
            self.body = None


class Request(_Message):
    """``wasi:http/types.request``; ``body`` None: no body (an empty one)."""

    def __init__(
        self,
        headers: Fields,
        body: Body | None,
        options: RequestOptions | None = None,
        *,
        method: H.Method | None = None,
        path_with_query: str | None = None,
        scheme: H.Scheme | None = None,
        authority: str | None = None,
    ) -> None:
        headers.immutable = True
        self.headers = headers
        self.body: Body | None = body
        self.options = options
        self.method: H.Method = method if method is not None else H.MethodGet()
        self.path_with_query = path_with_query
        self.scheme = scheme
        self.authority = authority

    def get_method(self) -> H.Method:
        return self.method

    def set_method(self, method: H.Method) -> Ok[None] | Err[None]:
        if isinstance(method, H.MethodOther):
            known = _METHODS.get(method.value)
            if known is None:
                if not valid_name(method.value):
                    return Err(None)
                self.method = H.MethodOther(method.value)
                return _OK
            method = known
        self.method = method
        return _OK

    def get_path_with_query(self) -> str | None:
        return self.path_with_query

    def set_path_with_query(self, path_with_query: str | None) -> Ok[None] | Err[None]:
        if path_with_query is None:
            self.path_with_query = None
            return _OK
        # RFC 3986 path and query characters; non-ASCII text is accepted as the
        # http crate (Wasmtime) does, to be percent-encoded on the wire
        if not all(c in _PATH_QUERY or c > "\x7f" for c in path_with_query):
            return Err(None)
        self.path_with_query = path_with_query or "/"
        return _OK

    def get_scheme(self) -> H.Scheme | None:
        return self.scheme

    def set_scheme(self, scheme: H.Scheme | None) -> Ok[None] | Err[None]:
        if isinstance(scheme, H.SchemeOther):
            s = scheme.value
            if s == "http":
                scheme = H.SchemeHTTP()
            elif s == "https":
                scheme = H.SchemeHTTPS()
            elif not s or s[0] not in _ALNUM or s[0].isdigit():
                return Err(None)
            elif not all(c in _SCHEME_REST for c in s[1:]):
                return Err(None)
            else:
                scheme = H.SchemeOther(s)
        self.scheme = scheme
        return _OK

    def get_authority(self) -> str | None:
        return self.authority

    def set_authority(self, authority: str | None) -> Ok[None] | Err[None]:
        if authority is not None and not _valid_authority(authority):
            return Err(None)
        self.authority = authority
        return _OK

    def get_options(self) -> RequestOptions | None:
        return None if self.options is None else self.options.frozen()


class Response(_Message):
    """``wasi:http/types.response``."""

    def __init__(self, headers: Fields, body: Body, status: int = 200) -> None:
        headers.immutable = True
        self.headers = headers
        self.body: Body | None = body
        self.status = status

    def get_status_code(self) -> int:
        return self.status

    def set_status_code(self, status_code: int) -> Ok[None] | Err[None]:
        if not 100 <= status_code <= 599:
            return Err(None)
        self.status = status_code
        return _OK
