"""Loading components: text or binary, validated, decoded and compiled once."""

from __future__ import annotations

import contextlib
import errno
import os
import pickle
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, BinaryIO

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
        times) is neither read whole, hashed, decoded nor validated again: its
        decoded structure and the keys of its compiled modules come from the
        record. A core module's bytes are then read from the file (kept open) only
        when something needs them (a compile on a disk-cache miss, pickling), and
        checked against their SHA-256: that read raises ``OSError`` (``ESTALE``) if
        the file was changed in place meanwhile (a file replaced by a rename is not
        changed: the open one is read).
        """
        engine = engine if engine is not None else core.default_engine()
        disk: Any = engine.disk_cache  # records are an optional part of a disk cache
        with open(path, "rb") as f:
            if getattr(disk, "load_record", None) is None:
                return cls.from_bytes(f.read(), engine)
            before = os.fstat(f.fileno())
            abspath = os.path.abspath(path)
            found = _from_open_file(f, abspath, before, disk, engine)
            if found is not None:
                return found
            data = f.read()
            after = os.fstat(f.fileno())
        if _file_state(before) != _file_state(after) or not data.startswith(b"\0asm"):
            return cls.from_bytes(data, engine)  # changing while read, or text: no record
        fkey = _file_key(abspath, after)
        found = _from_record(disk.load_record(fkey), data, len(data), engine)
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


def _from_open_file(
    f: BinaryIO, path: str, st: os.stat_result, disk: Any, engine: core.Engine
) -> Component | None:
    """The component the record of the open file ``f`` (at ``path``, in state ``st``)
    describes, its modules' bytes read from the file when first needed; None when there
    is no usable record or the file changed meanwhile (then it is read whole)."""
    blob = disk.load_record(_file_key(path, st))
    if blob is None:
        return None
    source = _FileBytes(os.dup(f.fileno()), path)
    try:
        found = _from_record(blob, source, st.st_size, engine)
    except _Stale:  # a module read on a disk-cache miss found the file changing
        return None
    if found is None or _file_state(os.fstat(source.fd)) != _file_state(st):
        return None
    return found


class _Stale(OSError):
    """A file read by :class:`_FileBytes` is no longer in the state it was loaded in."""


class _FileBytes:
    """The bytes of an open file (the descriptor ``fd``, closed with this object).

    :meth:`read` reads any range. Slicing (``source[start:stop]``) gives only a range
    whose SHA-256 is in ``keys`` (by ``(start, stop)``), and raises ``OSError``
    (``ESTALE``) when the file no longer holds those bytes there.
    """

    __slots__ = ("fd", "keys", "name")

    def __init__(self, fd: int, name: str) -> None:
        self.fd = fd
        self.name = name
        self.keys: dict[tuple[int, int], bytes] = {}

    def read(self, start: int, size: int) -> bytes:
        """Up to ``size`` bytes from ``start`` (fewer at the end of the file)."""
        parts: list[bytes] = []
        while size > 0:
            part = os.pread(self.fd, size, start)
            if not part:
                break
            parts.append(part)
            start += len(part)
            size -= len(part)
        return b"".join(parts)

    def __getitem__(self, key: slice, /) -> bytes:
        start, stop = key.start, key.stop
        want = self.keys.get((start, stop))
        data = self.read(start, stop - start) if want is not None else b""
        if want is None or sha256(data).digest() != want:
            raise _Stale(
                errno.ESTALE, "the file changed after the component was loaded", self.name
            )
        return data

    def __del__(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def _from_record(
    blob: bytes | None, source: bytes | _FileBytes, size: int, engine: core.Engine
) -> Component | None:
    """The component a record describes, its modules' bytes sliced from ``source`` (the
    file's ``size`` bytes); None when there is no usable record (then the file is
    loaded as new)."""
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
    for d, (offset, msize, key) in zip(modules, places, strict=True):
        if offset != d.offset or offset + msize > size:
            return None
        if isinstance(source, _FileBytes):
            head = source.read(offset, 4)
            source.keys[(offset, offset + msize)] = key
        else:
            head = source[offset : offset + 4]
        if head != b"\0asm":
            return None  # loaded as new, which reports the bad module
        # The module's bytes are sliced from the file's only when something reads them
        # (a compile or parse on a disk-cache miss, pickling): a warm load copies none.
        d.slice_later(source, msize)
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
