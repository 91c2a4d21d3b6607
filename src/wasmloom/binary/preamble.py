"""The eight bytes a WebAssembly binary starts with: a component's or a core module's.

Apart from the decoder so that telling the two apart imports nothing else.
"""

from __future__ import annotations

__all__ = [
    "COMPONENT_LAYER",
    "COMPONENT_VERSION",
    "CORE_PREAMBLE",
    "MAGIC",
    "is_component",
    "is_core_module",
]

MAGIC = b"\x00asm"
COMPONENT_VERSION = b"\x0d\x00"
COMPONENT_LAYER = b"\x01\x00"
CORE_PREAMBLE = b"\x00asm\x01\x00\x00\x00"


def is_component(data: bytes | bytearray | memoryview) -> bool:
    """Whether ``data`` starts with a component preamble (magic and layer 1).

    The version is not checked, so a component of another pre-standard version
    is still recognised (and :func:`decode_component` reports the version).
    """
    head = bytes(data[:8])
    return len(head) == 8 and head[:4] == MAGIC and head[6:8] == COMPONENT_LAYER


def is_core_module(data: bytes | bytearray | memoryview) -> bool:
    """Whether ``data`` starts with a core module preamble (magic and layer 0)."""
    head = bytes(data[:8])
    return len(head) == 8 and head[:4] == MAGIC and head[6:8] == b"\x00\x00"
