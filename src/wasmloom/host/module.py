"""Core modules at the host level: loading one, and running it with WASI 0.1.

:class:`Module` is to a core module what :class:`~wasmloom.Component` is to
a component. :func:`instantiate_wasip1` instantiates one in a
:class:`~wasmloom.Store` with WASI 0.1 (wasmtime's own implementation,
:mod:`wasmloom.core.wasip1`), so the store's limits, fuel, deadline and
interrupt apply. :mod:`wasmloom.wasi.p1` is the documented way in.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from wasmloom import core
from wasmloom.binary.preamble import is_core_module
from wasmloom.errors import DecodeError, ValidationError
from wasmloom.host.store import Store
from wasmloom.types import CoreFuncType

if TYPE_CHECKING:
    from wasmloom.core.wasip1 import (
        INHERIT,
        Inherit,
        Number,
        OutputSink,
        WasiP1Config,
        WasiP1Exit,
        WasiP1Instance,
    )

__all__ = [
    "INHERIT",
    "Inherit",
    "Module",
    "Number",
    "OutputSink",
    "WasiP1Config",
    "WasiP1Exit",
    "WasiP1Instance",
    "instantiate_wasip1",
    "is_core_module",
    "wasm_binary",
]

# WASI 0.1 loads with its first use: a component never needs it.
_WASIP1_NAMES = frozenset(
    ("INHERIT", "Inherit", "Number", "OutputSink", "WasiP1Config", "WasiP1Exit", "WasiP1Instance")
)

if not TYPE_CHECKING:  # for the type checker, the imports above are the names

    def __getattr__(name: str) -> Any:
        if name in _WASIP1_NAMES:
            from wasmloom.core import wasip1

            return getattr(wasip1, name)
        raise AttributeError(f"module 'wasmloom.host.module' has no attribute {name!r}")


def wasm_binary(data: bytes | str) -> bytes:
    """``data`` as a wasm binary: WebAssembly text is assembled (module or component)."""
    if not isinstance(data, str) and bytes(data[:4]) != b"\0asm":
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError(0, "the `\\0asm` magic header or WebAssembly text") from None
    if isinstance(data, str):
        return core.wat2wasm(data)
    return bytes(data)


class Module:
    """A validated, compiled core module, ready to instantiate in any store of its engine.

    Build one with :meth:`from_bytes` or :meth:`from_file`; a component raises
    :class:`~wasmloom.ValidationError` ("expected a core module, found a
    component"), an invalid module likewise with wasmtime's message.
    """

    def __init__(self, compiled: core.CoreModule) -> None:
        self._core = compiled
        self.engine = compiled.engine

    @classmethod
    def from_bytes(cls, data: bytes | str, engine: core.Engine | None = None) -> Module:
        """Load a core module from its binary, or from WebAssembly text."""
        engine = engine if engine is not None else core.default_engine()
        binary = wasm_binary(data)
        if not is_core_module(binary):
            raise ValidationError("expected a core module, found a component")
        return cls(core.compile_module(engine, binary))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], engine: core.Engine | None = None) -> Module:
        """Load a core module from a ``.wasm`` binary or ``.wat`` text file."""
        with open(path, "rb") as f:
            return cls.from_bytes(f.read(), engine)

    @property
    def core(self) -> core.CoreModule:
        """The compiled module (for wasmloom's own layers)."""
        return self._core

    def import_names(self) -> list[tuple[str, str]]:
        """The ``(module, name)`` of each import, in order."""
        return [(m, n) for m, n, _ in self._core.imports]

    def export_names(self) -> list[str]:
        """The names of the exports, in order."""
        return [n for n, _ in self._core.exports]

    def func_types(self) -> dict[str, CoreFuncType]:
        """The type of each exported function, by name."""
        return {n: d.type for n, d in self._core.exports if d.kind == "func"}

    def missing_wasip1_imports(self) -> list[str]:
        """The imports (``module::name``) that WASI 0.1 does not provide."""
        from wasmloom.core.wasip1 import missing_imports

        return missing_imports(self._core)


def instantiate_wasip1(
    store: Store[Any],
    module: Module,
    config: WasiP1Config,
    *,
    trap_unknown_imports: bool = False,
) -> WasiP1Instance:
    """Instantiate ``module`` in ``store`` with WASI 0.1 (one per store), then run its
    ``_initialize`` export if it has one (a reactor). See
    :func:`wasmloom.core.wasip1.instantiate` for the errors."""
    from wasmloom.core.wasip1 import instantiate

    instance = instantiate(
        store.core, module.core, config, trap_unknown_imports=trap_unknown_imports
    )
    if "_initialize" in instance.funcs():
        instance.call("_initialize")
    return instance
