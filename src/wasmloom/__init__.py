"""wasmloom: a WebAssembly Component Model runtime for Python."""

from wasmloom.errors import DecodeError, LinkError, Trap, ValidationError, WasmloomError

__all__ = ["DecodeError", "LinkError", "Trap", "ValidationError", "WasmloomError"]
