"""Traps and errors coming back from wasmtime, and the messages of the fiber rules."""

from __future__ import annotations

import ctypes
import re
from typing import Any, Protocol

from wasmtime import _ffi as ffi

from wasmloom.errors import LinkError, Trap, WasmloomError

# --- traps -----------------------------------------------------------------------------


def _message_of(vec: Any) -> str:
    text = ffi.to_str(vec)
    ffi.wasm_byte_vec_delete(ctypes.byref(vec))
    return text.rstrip("\0")


def _cause(text: str) -> str:
    """A wasmtime error text on one line, as anyhow's ``{:#}`` shows it: ``context: cause``.

    The wasm backtrace that wasmtime puts first for traps is dropped.
    """
    head, sep, tail = text.partition("Caused by:")
    if not sep:
        return text.strip()
    parts = [] if head.startswith("error while executing at wasm backtrace") else [head.strip()]
    for line in tail.strip().splitlines():
        line = line.strip()
        if line[:1].isdigit() and ": " in line:  # "0: ..." when there are several causes
            line = line.split(": ", 1)[1]
        if line:
            parts.append(line)
    return ": ".join(p for p in parts if p)


_FRAME = re.compile(r"^\s*\d+:\s+(0x[0-9a-fA-F]+ - .*?)\s*$")


def _backtrace(text: str) -> tuple[str, ...]:
    """The frames of the wasm backtrace that wasmtime puts before a trap's cause."""
    head, sep, _ = text.partition("Caused by:")
    if not sep or not head.startswith("error while executing at wasm backtrace"):
        return ()
    return tuple(m.group(1) for line in head.splitlines() if (m := _FRAME.match(line)))


def _trap_from_ptr(trap_addr: int) -> Trap:
    ptr = ctypes.cast(trap_addr, ctypes.POINTER(ffi.wasm_trap_t))
    vec = ffi.wasm_byte_vec_t()
    ffi.wasm_trap_message(ptr, ctypes.byref(vec))
    ffi.wasm_trap_delete(ptr)
    text = _message_of(vec)
    return Trap(_cause(text), backtrace=_backtrace(text))


def _error_from_ptr(err_addr: int) -> str:
    ptr = ctypes.cast(err_addr, ctypes.POINTER(ffi.wasmtime_error_t))
    vec = ffi.wasm_byte_vec_t()
    ffi.wasmtime_error_message(ptr, ctypes.byref(vec))
    ffi.wasmtime_error_delete(ptr)
    return _message_of(vec)


def _instantiation_error(message: str) -> WasmloomError:
    """A failed core instantiation: a :class:`Trap` when a store limit refused it, else a
    :class:`LinkError`."""
    if message.startswith("resource limit exceeded") or "exceeds memory limits" in message:
        return Trap(message)
    return LinkError(message)


class _PendingSlot(Protocol):
    def take_pending(self) -> BaseException | None: ...


def _raise_failure(store: _PendingSlot, err: int | None, trap_addr: int) -> None:
    """Turn a failed call (error pointer and/or trap pointer) into an exception.

    A pending host exception wins: it is what the failure is really about.
    """
    trap = _trap_from_ptr(trap_addr) if trap_addr else None
    message = _cause(_error_from_ptr(err)) if err else None
    exc = store.take_pending()
    if exc is not None:
        raise exc
    if trap is not None:
        raise trap
    raise Trap(message or "call failed")


NESTED_BLOCK_MESSAGE = (
    "cannot block: a Python host function is on the stack of this call "
    "(a host function made a nested call that reached an async host function)"
)
SYNC_BLOCK_MESSAGE = (
    "cannot block: an async host function was reached from a synchronous call "
    "(CoreFunc.caller()); use CoreFunc.call_async()"
)
START_BLOCK_MESSAGE = (
    "cannot block a synchronous task before returning "
    "(an async host function was reached from a start function)"
)
