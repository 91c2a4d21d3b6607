"""Loading components: text or binary, validated, decoded and compiled once."""

from __future__ import annotations

import os
from typing import Any

from wasmloom import core
from wasmloom.binary import ast
from wasmloom.binary.decoder import decode_component, is_core_module
from wasmloom.errors import ValidationError
from wasmloom.host.module import wasm_binary
from wasmloom.runtime.scope import ComponentDef
from wasmloom.validate import validate_component


class Component:
    """A validated, compiled component, ready to instantiate in any store of its engine.

    Build one with :meth:`from_bytes` or :meth:`from_file`. Loading raises
    :class:`~wasmloom.DecodeError` for a malformed binary and
    :class:`~wasmloom.ValidationError` for an invalid one; nothing runs.
    """

    def __init__(self, engine: core.Engine, tree: ast.Component, compiled: dict[int, Any]) -> None:
        self.engine = engine
        self._def = ComponentDef(tree, compiled)

    @classmethod
    def from_bytes(cls, data: bytes | str, engine: core.Engine | None = None) -> Component:
        """Load a component from its binary, or from WebAssembly text."""
        engine = engine if engine is not None else core.default_engine()
        data = wasm_binary(data)
        if is_core_module(data):
            raise ValidationError("expected a component, found a core module")
        tree = decode_component(data)  # first, so a malformed binary is a DecodeError
        validate_component(data)
        compiled: dict[int, Any] = {}
        _compile_all(engine, tree, compiled)
        return cls(engine, tree, compiled)

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], engine: core.Engine | None = None
    ) -> Component:
        """Load a component from a ``.wasm`` binary or ``.wat`` text file."""
        with open(path, "rb") as f:
            return cls.from_bytes(f.read(), engine)

    @property
    def definition(self) -> ComponentDef:
        """The decoded definition the runtime instantiates."""
        return self._def

    def import_names(self) -> list[str]:
        """The names of the component's top-level imports, in order (``wasi:cli/run@0.3.0``...)."""
        return [d.name.name for d in self._def.ast.definitions if isinstance(d, ast.Import)]

    def export_names(self) -> list[str]:
        """The names of the component's top-level exports, in order."""
        return [d.name.name for d in self._def.ast.definitions if isinstance(d, ast.Export)]


def _compile_all(engine: core.Engine, tree: ast.Component, out: dict[int, Any]) -> None:
    for d in tree.definitions:
        if isinstance(d, ast.CoreModule):
            out[id(d)] = core.compile_module(engine, d.data)
        elif isinstance(d, ast.Component):
            _compile_all(engine, d, out)
