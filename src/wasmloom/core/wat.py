"""WebAssembly text to binary."""

from __future__ import annotations

import wasmtime


def wat2wasm(text: str) -> bytes:
    """Translate WebAssembly text (a core module or a component) to its binary.

    Raises :class:`wasmloom.DecodeError` (offset 0) with wasmtime's message
    when the text does not parse.
    """
    from wasmloom.errors import DecodeError

    try:
        return bytes(wasmtime.wat2wasm(text))
    except wasmtime.WasmtimeError as e:
        raise DecodeError(0, f"valid WebAssembly text ({str(e).splitlines()[0]})") from None
