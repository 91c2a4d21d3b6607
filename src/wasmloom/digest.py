"""SHA-256 without loading OpenSSL: what names compile-cache entries and records.

``hashlib`` loads OpenSSL's ``_hashlib`` when imported, about 4 ms of every
start; CPython's own ``_sha2`` (3.12 and later; ``_sha256`` before) computes
the same digests and loads in microseconds. :func:`sha256` takes the first of
these the interpreter has, else ``hashlib``'s (a build without them, such as
one restricted to FIPS algorithms).
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["Hash", "sha256"]


class Hash(Protocol):
    """What this package uses of a hash object."""

    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...

    def hexdigest(self) -> str: ...


def _constructor() -> Any:
    try:
        from _sha2 import sha256 as builtin  # type: ignore[import-not-found]
    except ImportError:
        try:
            from _sha256 import sha256 as builtin  # type: ignore[import-not-found]
        except ImportError:
            from hashlib import sha256 as builtin
    return builtin


_sha256 = _constructor()


def sha256(data: bytes = b"") -> Hash:
    """A SHA-256 hash object over ``data`` (``hashlib.sha256``'s interface)."""
    h: Hash = _sha256(data)
    return h
