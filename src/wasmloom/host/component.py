"""Loading components: text or binary, validated, decoded and compiled once."""

from __future__ import annotations

import contextlib
import os
import pickle
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from wasmloom import core
from wasmloom.binary import ast
from wasmloom.binary.preamble import is_core_module
from wasmloom.core.engine import compile_keyed
from wasmloom.digest import sha256
from wasmloom.errors import ValidationError
from wasmloom.host.module import wasm_binary
from wasmloom.runtime.scope import ComponentDef


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
        from wasmloom.binary.decoder import decode_component
        from wasmloom.validate import validate_component

        tree = decode_component(data)  # first, so a malformed binary is a DecodeError
        validate_component(data)
        compiled: dict[int, Any] = {}
        _compile_all(engine, tree, compiled)
        return cls(engine, tree, compiled)

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], engine: core.Engine | None = None
    ) -> Component:
        """Load a component from a ``.wasm`` binary or ``.wat`` text file.

        When the engine has a disk cache that keeps records (as
        :class:`wasmloom.wasi.cache.DiskCache` does), a file loaded before and not
        changed since (same path, device, inode, size, modification and change
        times) is neither hashed, decoded nor validated again: its decoded
        structure and the keys of its compiled modules come from the record.
        """
        engine = engine if engine is not None else core.default_engine()
        disk: Any = engine.disk_cache  # records are an optional part of a disk cache
        with open(path, "rb") as f:
            if getattr(disk, "load_record", None) is None:
                return cls.from_bytes(f.read(), engine)
            before = os.fstat(f.fileno())
            data = f.read()
            after = os.fstat(f.fileno())
        if _file_state(before) != _file_state(after) or not data.startswith(b"\0asm"):
            return cls.from_bytes(data, engine)  # changing while read, or text: no record
        fkey = _file_key(os.path.abspath(path), after)
        found = _from_record(disk.load_record(fkey), data, engine)
        if found is not None:
            return found
        comp = cls.from_bytes(data, engine)
        disk.store_record(fkey, _record(comp._def.ast))
        return comp

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

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle support: the decoded component, the compiled code of its core modules
        (wasmtime's serialized artifacts) and the engine's settings.

        Unpickling deserializes the artifacts on an engine with the same settings
        (the process' default engine when this one is the default), so a worker
        process (``ProcessPoolExecutor``, multiprocessing, Dask, Ray) gets a ready
        component without compiling; an artifact the receiving wasmtime rejects
        is compiled again. An engine's ``configure`` callback does not travel.
        As every pickle, load only data you trust: the artifacts are native code.
        """
        engine = self.engine
        settings = None
        if engine is not core.default_engine():
            settings = (
                engine.consume_fuel,
                engine.epoch_interruption,
                engine._max_wasm_stack,
                engine.epoch_tick,
            )
        artifacts = [
            bytes(self._def.compiled[id(d)].wasmtime.serialize())
            for d in _core_modules(self._def.ast)
        ]
        return (_unpickle, (self._def.ast, artifacts, settings))


# A record: the decoded component without its modules' bytes, and each module's
# place in the file and content key (the SHA-256 its compile is cached under).
# Any change of this format or of the AST's classes must not load old records:
# the key holds this version and the AST module's own file state.
_RECORD_FORMAT = b"wasmloom-component-record-1"


def _file_state(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _file_key(path: str, st: os.stat_result) -> bytes:
    # the change time moves on every write and on every `touch`, whatever time `touch` sets
    ast_state = _file_state(os.stat(ast.__file__))
    text = repr((path, _file_state(st), ast_state))
    return sha256(_RECORD_FORMAT + text.encode("utf-8", "surrogateescape")).digest()


def _record(tree: ast.Component) -> bytes:
    modules = _core_modules(tree)
    places = [(d.offset, len(d.data), sha256(d.data).digest()) for d in modules]
    saved = [d.data for d in modules]
    try:
        for d in modules:
            d.data = b""
        return pickle.dumps((_RECORD_FORMAT, tree, places), protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        for d, b in zip(modules, saved, strict=True):
            d.data = b


def _from_record(blob: bytes | None, data: bytes, engine: core.Engine) -> Component | None:
    """The component a record describes, its modules' bytes sliced from ``data``; None
    when there is no usable record (then the file is loaded as new)."""
    if blob is None:
        return None
    try:
        fmt, tree, places = pickle.loads(blob)
    except Exception:  # a damaged or foreign record is only a cache miss
        return None
    if fmt != _RECORD_FORMAT or not isinstance(tree, ast.Component):
        return None
    modules = _core_modules(tree)
    if len(modules) != len(places):
        return None
    compiled: dict[int, Any] = {}
    for d, (offset, size, key) in zip(modules, places, strict=True):
        if offset != d.offset or offset + size > len(data):
            return None
        if not data.startswith(b"\0asm", offset):
            return None  # loaded as new, which reports the bad module
        # The module's bytes are sliced from the file's only when something reads them
        # (a compile or parse on a disk-cache miss, pickling): a warm load copies none.
        d.slice_later(data, size)
        compiled[id(d)] = compile_keyed(engine, key, _reader(d))
    return Component(engine, tree, compiled)


def _reader(d: ast.CoreModule) -> Callable[[], bytes]:
    return lambda: d.data


def _core_modules(tree: ast.Component) -> list[ast.CoreModule]:
    """The core modules of ``tree`` and its nested components, depth first."""
    out: list[ast.CoreModule] = []
    for d in tree.definitions:
        if isinstance(d, ast.CoreModule):
            out.append(d)
        elif isinstance(d, ast.Component):
            out.extend(_core_modules(d))
    return out


_engines: dict[tuple[Any, ...], core.Engine] = {}


def _unpickle(
    tree: ast.Component, artifacts: list[bytes], settings: tuple[Any, ...] | None
) -> Component:
    """Rebuild a pickled :class:`Component` (see :meth:`Component.__reduce__`)."""
    if settings is None:
        engine = core.default_engine()
    else:  # one engine per settings in this process, shared by the components unpickled
        engine = _engines.get(settings) or _engines.setdefault(
            settings,
            core.Engine(
                consume_fuel=settings[0],
                epoch_interruption=settings[1],
                max_wasm_stack=settings[2],
                epoch_tick=settings[3],
            ),
        )
    modules = _core_modules(tree)
    if len(modules) != len(artifacts):
        raise ValueError("a pickled component whose artifacts do not match its modules")
    blobs = {sha256(d.data).digest(): blob for d, blob in zip(modules, artifacts, strict=True)}
    compiled: dict[int, Any] = {}
    with _unpickling:  # the engine reads the artifacts through its disk-cache hook meanwhile
        saved = engine.disk_cache
        engine.disk_cache = _Artifacts(blobs, saved)
        try:
            for d in modules:
                compiled[id(d)] = core.compile_module(engine, d.data)
        finally:
            engine.disk_cache = saved
    return Component(engine, tree, compiled)


_unpickling = threading.Lock()


class _Artifacts:
    """A ``ModuleDiskCache`` serving pickled artifacts first, then ``inner`` (if any)."""

    def __init__(self, blobs: dict[bytes, bytes], inner: Any) -> None:
        self.blobs = blobs
        self.inner = inner

    def load(self, key: bytes) -> bytes | None:
        blob = self.blobs.get(key)
        if blob is None and self.inner is not None:
            return self.inner.load(key)  # type: ignore[no-any-return]
        return blob

    def store(self, key: bytes, blob: bytes) -> None:
        if self.inner is not None:
            self.inner.store(key, blob)

    def compiling(self, nbytes: int) -> AbstractContextManager[object]:
        if self.inner is not None:
            return self.inner.compiling(nbytes)  # type: ignore[no-any-return]
        return contextlib.nullcontext()


def _compile_all(engine: core.Engine, tree: ast.Component, out: dict[int, Any]) -> None:
    for d in tree.definitions:
        if isinstance(d, ast.CoreModule):
            out[id(d)] = core.compile_module(engine, d.data)
        elif isinstance(d, ast.Component):
            _compile_all(engine, d, out)
