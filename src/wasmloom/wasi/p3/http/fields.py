"""``wasi:http/types.fields``: field-name and field-value rules, and the :class:`Fields` multimap.

Names are lower-cased RFC 9110 tokens, values bytes of ``field-content``
(SP, HTAB, VCHAR, obs-text). Syntax errors are ``invalid-syntax``;
hop-by-hop and ``host`` names (:data:`FORBIDDEN`) are ``forbidden``; fields
owned by a request or response, or handed out by ``get-headers``, are
``immutable``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from wasmloom import types as T
from wasmloom.bindgen import rt as _brt
from wasmloom.values import Err, Ok, Resource
from wasmloom.wasi.p3.bindings import wasi_http_types as H

__all__ = ["FORBIDDEN", "Fields", "parse_field_line", "valid_name", "valid_value"]


#: Field names a guest may not set (hop-by-hop fields, and ``host``: it comes from the authority).
FORBIDDEN = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
        "http2-settings",
        "host",
    }
)


_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_TCHAR = _ALNUM | frozenset("!#$%&'*+-.^_`|~")
# field-content bytes: HTAB, SP, VCHAR, obs-text
_BAD_VALUE_BYTES = bytes(
    b for b in range(256) if not (b in (9, 32) or 0x21 <= b <= 0x7E or b >= 0x80)
)


def _hdr_err(tag: str) -> Err[H.HeaderError]:
    cls = {
        "invalid-syntax": H.HeaderErrorInvalidSyntax,
        "forbidden": H.HeaderErrorForbidden,
        "immutable": H.HeaderErrorImmutable,
    }[tag]
    return Err(cls())


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

#: the ``ok`` of a ``result<_, E>``, shared: nothing changes an :class:`Ok` once made
_OK: Ok[Any] = Ok(None)


def valid_name(name: str) -> bool:
    """An RFC 9110 token."""
    return _TOKEN.fullmatch(name) is not None


def valid_value(value: bytes) -> bool:
    """RFC 9110 field content bytes (leading and trailing whitespace included)."""
    return not value.translate(None, _BAD_VALUE_BYTES) != value


def parse_field_line(line: bytes) -> tuple[str, bytes] | None:
    """``name: value`` (line ending removed) -> (lower-cased name, trimmed value); None when
    malformed (the name not a token, the value with control bytes such as a bare CR)."""
    name, sep, value = line.partition(b":")
    n = name.decode("latin-1")
    value = value.strip(b" \t")
    if not sep or not valid_name(n) or not valid_value(value):
        return None
    return n.lower(), value


# --- fields ------------------------------------------------------------------------------


class Fields:
    """``wasi:http/types.fields``: an ordered multimap of lower-cased names to byte values."""

    __slots__ = ("entries", "immutable")

    def __init__(self, entries: list[tuple[str, bytes]] | None = None, immutable: bool = False):
        self.entries: list[tuple[str, bytes]] = entries if entries is not None else []
        self.immutable = immutable

    @classmethod
    def checked(cls, pairs: Iterable[tuple[str, bytes]]) -> Ok[Fields] | Err[H.HeaderError]:
        out: list[tuple[str, bytes]] = []
        for name, value in pairs:
            err = _check_entry(name, value)
            if err is not None:
                return err
            out.append((name.lower(), bytes(value)))
        return Ok(cls(out))

    def _guard(self, name: str) -> Err[H.HeaderError] | None:
        if self.immutable:
            return _hdr_err("immutable")
        if not valid_name(name):
            return _hdr_err("invalid-syntax")
        if name.lower() in FORBIDDEN:
            return _hdr_err("forbidden")
        return None

    def get(self, name: str) -> list[bytes]:
        key = name.lower()
        out = []
        for k, v in self.entries:  # (a loop: a comprehension is one more frame)
            if k == key:
                out.append(v)
        return out

    def has(self, name: str) -> bool:
        key = name.lower()
        return any(k == key for k, _ in self.entries)

    def set(self, name: str, value: list[bytes]) -> Ok[None] | Err[H.HeaderError]:
        err = self._guard(name)
        if err is not None:
            return err
        if not all(valid_value(v) for v in value):
            return _hdr_err("invalid-syntax")
        key = name.lower()
        self.entries = [(k, v) for k, v in self.entries if k != key]
        self.entries.extend((key, bytes(v)) for v in value)
        return _OK

    def delete(self, name: str) -> Ok[None] | Err[H.HeaderError]:
        got = self.get_and_delete(name)
        return got if isinstance(got, Err) else _OK

    def get_and_delete(self, name: str) -> Ok[list[bytes]] | Err[H.HeaderError]:
        err = self._guard(name)
        if err is not None:
            return err
        key = name.lower()
        out = [v for k, v in self.entries if k == key]
        if out:
            self.entries = [(k, v) for k, v in self.entries if k != key]
        return Ok(out)

    def append(self, name: str, value: bytes) -> Ok[None] | Err[H.HeaderError]:
        key = name.lower()
        if self.immutable or _TOKEN.fullmatch(name) is None or key in FORBIDDEN:
            return self._guard(name) or _hdr_err("invalid-syntax")
        if value.translate(None, _BAD_VALUE_BYTES) != value:
            return _hdr_err("invalid-syntax")
        self.entries.append((key, bytes(value)))
        return _OK

    def copy_all(self) -> list[tuple[str, bytes]]:
        return list(self.entries)

    def clone(self) -> Fields:
        return Fields(list(self.entries))

    def frozen_view(self) -> Fields:
        """An immutable handle on the same entries (what ``get-headers`` returns)."""
        return Fields(self.entries, immutable=True)


def _check_entry(name: str, value: bytes) -> Err[H.HeaderError] | None:
    if not valid_name(name) or not valid_value(value):
        return _hdr_err("invalid-syntax")
    if name.lower() in FORBIDDEN:
        return _hdr_err("forbidden")
    return None


def _fields_bytes(entries: Iterable[tuple[str, bytes]]) -> bytes:
    return b"".join(k.encode("latin-1") + b": " + v + b"\r\n" for k, v in entries)


class _FieldsBridge:
    """Moves :class:`Fields` objects in and out of ``own<fields>`` values carried by futures.

    Values inside a ``future`` payload are lowered without the bindings' class
    map, so an owned fields handle is a :class:`~wasmloom.values.Resource` of
    the linker's ``fields`` type, whose representation indexes the bindings'
    host table.
    """

    __slots__ = ("rt",)

    def __init__(self, rt: T.ResourceType) -> None:
        self.rt = rt

    def to_guest(self, fields: Fields) -> Resource:
        fields.immutable = True
        return _brt.own_handle(self.rt, fields)

    @staticmethod
    def from_guest(v: Any) -> Fields | None:
        if isinstance(v, Fields):
            return v
        if isinstance(v, Resource):
            obj = _brt.host_object(v)
            if isinstance(obj, Fields):
                return obj
        return None
