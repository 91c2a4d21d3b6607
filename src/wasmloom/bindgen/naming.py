"""Python names for WIT names: kebab-case to snake_case / CamelCase, keywords escaped."""

from __future__ import annotations

import keyword

__all__ = ["camel", "const", "escape", "snake"]

_RESERVED = (
    frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | {"self", "store", "accessor"}
)


def escape(name: str) -> str:
    """``name`` with a trailing ``_`` when it is a keyword or a name bindings reserve."""
    return name + "_" if name in _RESERVED else name


def snake(name: str) -> str:
    """``get-random-bytes`` -> ``get_random_bytes`` (``from`` -> ``from_``)."""
    return escape(name.lstrip("%").replace("-", "_").lower())


def camel(name: str) -> str:
    """``error-code`` -> ``ErrorCode`` (``none`` -> ``None_``)."""
    out = "".join(p[:1].upper() + p[1:] for p in name.lstrip("%").split("-"))
    return out + "_" if keyword.iskeyword(out) else out


def const(name: str) -> str:
    """``would-block`` -> ``WOULD_BLOCK``, for enum and flag members."""
    out = name.lstrip("%").replace("-", "_").upper()
    return out + "_" if keyword.iskeyword(out) or out == "MRO" else out
