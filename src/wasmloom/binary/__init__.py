"""The component binary format: its AST and the decoder."""

from wasmloom.binary.decoder import decode_component, is_component, is_core_module

__all__ = ["decode_component", "is_component", "is_core_module"]
