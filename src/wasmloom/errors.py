"""The exceptions wasmloom raises.

Every failure a guest or a bad binary can cause surfaces as a subclass of
:class:`WasmloomError`; the Python process itself is never put at risk.
"""

from __future__ import annotations


class WasmloomError(Exception):
    """Base class of every error raised by wasmloom."""


class DecodeError(WasmloomError):
    """A component binary is malformed.

    ``offset`` is the byte offset in the binary where decoding failed and
    ``expected`` says what the decoder was looking for there.
    """

    def __init__(self, offset: int, expected: str) -> None:
        super().__init__(f"malformed component at offset {offset:#x}: expected {expected}")
        self.offset = offset
        self.expected = expected


class ValidationError(WasmloomError):
    """A component binary decodes but is not valid."""


class LinkError(WasmloomError):
    """Instantiation cannot satisfy an import, or a provided item has the wrong type."""


class HandleError(WasmloomError, ValueError):
    """The host passed a resource handle it does not hold.

    A handle to a resource a guest implements is one the runtime gave out (a
    call's result, or a host function's argument): one built by hand, already
    dropped, moved to the guest as ``own``, or a borrow whose call has ended is
    refused before the guest is entered.
    """


class Trap(WasmloomError):
    """A guest trapped, or the canonical ABI detected a rule broken by the guest.

    ``func`` names the WIT-level function being called when the trap happened,
    when known. ``backtrace`` lists the guest's core wasm frames, innermost
    first, as wasmtime reports them (``"0x21 - module!function"``), when the
    trap came from wasm code.
    """

    def __init__(
        self, message: str, func: str | None = None, backtrace: tuple[str, ...] = ()
    ) -> None:
        self.message = message
        self.func = func
        self.backtrace = backtrace
        super().__init__(f"{message} (in {func})" if func else message)

    def with_func(self, func: str) -> Trap:
        """Return this trap annotated with the WIT function name, if not already set."""
        if self.func is None:
            self.func = func
            self.args = (f"{self.message} (in {func})",)
        return self


def trap(message: str) -> Trap:
    """Build a :class:`Trap` for ``raise trap("...")``."""
    return Trap(message)
