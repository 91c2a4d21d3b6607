"""SHA-256 of cache keys without loading OpenSSL for a short input.

``hashlib`` loads OpenSSL's ``_hashlib`` when imported, about 4 ms of every
start, though a warm start only hashes a few short keys (a file's name and
state, the engine's description). CPython's own ``_sha2`` (3.12 and later;
``_sha256`` before) computes the same digests and loads in microseconds, but
runs several times slower than OpenSSL on long inputs (no SHA extensions: 100
against 13 ms for 18 MB). :func:`sha256` therefore takes the built-in module
for inputs up to :data:`SHORT` bytes and ``hashlib`` (imported then) beyond,
and ``hashlib`` for everything where the built-in module is missing (a build
restricted to FIPS algorithms).
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["SHORT", "Hash", "sha256"]

SHORT = 1 << 16
"""Inputs up to this many bytes are hashed without ``hashlib``."""


class Hash(Protocol):
    """What this package uses of a hash object."""

    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...

    def hexdigest(self) -> str: ...


def _builtin() -> Any:
    try:
        from _sha2 import sha256 as builtin  # type: ignore[import-not-found]
    except ImportError:
        try:
            from _sha256 import sha256 as builtin  # type: ignore[import-not-found]
        except ImportError:
            return None
    return builtin


_short = _builtin()


def sha256(data: bytes = b"") -> Hash:
    """A SHA-256 hash object over ``data`` (``hashlib.sha256``'s interface); feed it long
    inputs at creation, not through ``update``, to get OpenSSL's speed."""
    h: Hash
    if _short is not None and len(data) <= SHORT:
        h = _short(data)
    else:
        import hashlib

        h = hashlib.sha256(data)
    return h
