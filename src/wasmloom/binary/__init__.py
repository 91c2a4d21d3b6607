"""The binary formats: the component AST and its decoder, and the core module type reader.

``reader`` (bytes, LEB128, names, vectors) serves both; the decoder's grammar is
split into ``core_types``, ``component_types``, ``canon`` and ``decoder`` (sections).
``decode_component`` is imported on first use, so that a submodule (``ast``,
``core_module``) loads without the decoder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wasmloom.binary.preamble import is_component, is_core_module

if TYPE_CHECKING:
    from wasmloom.binary.decoder import decode_component

__all__ = ["decode_component", "is_component", "is_core_module"]

if not TYPE_CHECKING:  # for the type checker, the import above is the name

    def __getattr__(name: str) -> Any:
        if name == "decode_component":
            from wasmloom.binary.decoder import decode_component

            return decode_component
        raise AttributeError(f"module 'wasmloom.binary' has no attribute {name!r}")
