"""The binary formats: the component AST and its decoder, and the core module type reader.

``reader`` (bytes, LEB128, names, vectors) serves both; the decoder's grammar is
split into ``core_types``, ``component_types``, ``canon`` and ``decoder`` (sections).
"""

from wasmloom.binary.decoder import decode_component, is_component, is_core_module

__all__ = ["decode_component", "is_component", "is_core_module"]
