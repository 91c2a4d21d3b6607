"""A compile cache on disk: serialised core modules, keyed by content and engine.

``DiskCache()`` lives in the user cache directory (``$WASMLOOM_CACHE_DIR``,
else ``$XDG_CACHE_HOME/wasmloom``, else ``~/.cache/wasmloom``), under a
subdirectory named by the engine's fingerprint: the wasmtime package version
and wasmloom's engine configuration. Attach it with ``engine.disk_cache =
DiskCache()``; :func:`wasmloom.core.compile_module` then loads a module
compiled by an earlier process instead of compiling it again. Entries are
written atomically (a temporary file renamed into place), so concurrent
processes never see half a file, and a process that maps an entry (wasmtime
runs compiled code from the mapped file) never sees it change: change or
truncate no file in the directory in place, delete or replace it instead. A compile that takes longer than
:data:`PROGRESS_AFTER` seconds shows a line of progress on stderr when stderr
is a terminal.

A *precompiled artifact* (``wasmloom compile app.wasm -o app.cwasm``, read by
``run`` and ``serve``) is one file holding a component and its compiled core
modules, or one core module (a WASI 0.1 program) compiled: :func:`write_artifact`,
:func:`load_artifact`, :func:`load_module_artifact`. It starts with
:data:`ARTIFACT_MAGIC`, then the description of the engine it was compiled
for (wasmtime and wasmloom versions, the engine configuration) and a SHA-256
of the rest. A file of another format, another engine or version, or one
that was cut or changed is refused with an :class:`ArtifactError` saying
which. The checksum catches damage, not malice: an artifact holds native
code, so run only artifacts you made or trust, as with Wasmtime's ``.cwasm``.
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TextIO

from wasmloom.codecache import default_cache_dir
from wasmloom.digest import sha256
from wasmloom.dists import package_version
from wasmloom.errors import WasmloomError

if TYPE_CHECKING:
    from wasmloom import Component, Engine
    from wasmloom.host.module import Module

__all__ = [
    "ARTIFACT_MAGIC",
    "PROGRESS_AFTER",
    "ArtifactError",
    "DiskCache",
    "artifact_holds_module",
    "default_cache_dir",
    "engine_description",
    "engine_fingerprint",
    "is_artifact",
    "is_precompiled",
    "load_artifact",
    "load_module_artifact",
    "write_artifact",
]

#: Seconds a compile runs before a terminal's stderr shows its progress.
PROGRESS_AFTER = 1.0


def engine_description(tag: str = "") -> str:
    """What a compiled module is tied to, as text: ``wasmtime=V;wasmloom=V;`` then ``tag``.

    ``tag`` is an engine's :attr:`~wasmloom.Engine.config_key` (async stack
    size, fuel, epochs, wasm stack limit), plus anything a custom
    ``configure`` changes; wasmloom's version fixes the enabled features.
    """
    return f"wasmtime={package_version('wasmtime')};wasmloom={package_version('wasmloom')};{tag}"


def engine_fingerprint(tag: str = "") -> str:
    """A short hash of :func:`engine_description`: names the cache directory of an engine."""
    return sha256(engine_description(tag).encode()).hexdigest()[:16]


class DiskCache:
    """A :class:`wasmloom.core.ModuleDiskCache` in a directory (see the module doc)."""

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        tag: str = "",
        progress: TextIO | None = None,
    ) -> None:
        root = Path(directory) if directory is not None else default_cache_dir()
        self.dir = root / engine_fingerprint(tag)
        self.hits = 0
        self.misses = 0
        if progress is None and sys.stderr is not None and sys.stderr.isatty():
            progress = sys.stderr
        self._progress = progress

    def _path(self, key: bytes) -> Path:
        h = key.hex()
        return self.dir / h[:2] / f"{h[2:]}.cwasm"

    def load(self, key: bytes) -> bytes | None:
        try:
            data = self._path(key).read_bytes()
        except OSError:
            self.misses += 1
            return None
        self.hits += 1
        return data

    def load_file(self, key: bytes) -> str | None:
        """The path of the entry ``key`` if there is one, for wasmtime to map (entries
        are only ever replaced by a rename, never changed in place); counted as
        :meth:`load` counts."""
        path = self._path(key)
        if not path.is_file():
            self.misses += 1
            return None
        self.hits += 1
        return str(path)

    def load_types(self, key: bytes) -> bytes | None:
        """The derived data stored with the entry ``key`` (its module's types)."""
        return self._read(self._path(key).with_suffix(".types"))

    def store_types(self, key: bytes, blob: bytes) -> None:
        self._write(self._path(key).with_suffix(".types"), blob)

    def load_record(self, key: bytes) -> bytes | None:
        """A component's record (see :mod:`wasmloom.host.component`) by its file key."""
        h = key.hex()
        return self._read(self.dir / "files" / h[:2] / h[2:])

    def store_record(self, key: bytes, blob: bytes) -> None:
        h = key.hex()
        self._write(self.dir / "files" / h[:2] / h[2:], blob)

    @staticmethod
    def _read(path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except OSError:
            return None

    def store(self, key: bytes, blob: bytes) -> None:
        self._write(self._path(key), blob)

    @staticmethod
    def _write(path: Path, blob: bytes) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(path, blob, 0o600)
        except OSError:
            pass  # a read-only or full cache only costs a recompile next time

    def compiling(self, nbytes: int) -> contextlib.AbstractContextManager[object]:
        return progress(self._progress, nbytes)


@contextlib.contextmanager
def progress(out: TextIO | None, nbytes: int) -> Iterator[None]:
    """Around a compile of ``nbytes`` of wasm: once it has run :data:`PROGRESS_AFTER`
    seconds, a line on ``out`` (none when ``out`` is None) with the time so far,
    erased when the compile ends."""
    if out is None:
        yield
        return
    stop = threading.Event()
    start = time.monotonic()
    label = f"compiling {nbytes / 1e6:.1f} MB of wasm (cached for next time)"
    shown = False

    def tick() -> None:
        nonlocal shown
        if stop.wait(PROGRESS_AFTER):
            return
        frames = "|/-\\"
        i = 0
        while True:
            shown = True
            out.write(f"\r{frames[i % 4]} {label} {time.monotonic() - start:4.1f}s")
            out.flush()
            i += 1
            if stop.wait(0.1):
                return

    t = threading.Thread(target=tick, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()
        if shown:
            out.write("\r\x1b[K")
            out.flush()


# --- precompiled artifacts ---------------------------------------------------------------------

#: The first bytes of a precompiled artifact.
ARTIFACT_MAGIC = b"\0wasmloom-cwasm\0"
#: The layout version of artifacts this wasmloom writes and reads.
ARTIFACT_FORMAT = 1
_KIND_COMPONENT = 0
_KIND_MODULE = 1
# Wasmtime's own precompiled files are ELF objects.
_ELF_MAGIC = b"\x7fELF"


class ArtifactError(WasmloomError):
    """A file that is no precompiled artifact this engine can run, and why."""


class _Modules(Protocol):
    def load(self, key: bytes) -> bytes | None: ...

    def store(self, key: bytes, blob: bytes) -> None: ...

    def compiling(self, nbytes: int) -> contextlib.AbstractContextManager[object]: ...


class _Recorder:
    """A module cache that remembers every compiled module it hands out or is given."""

    def __init__(self, inner: _Modules | None, out: TextIO | None) -> None:
        self.inner = inner
        self.out = out
        self.blobs: dict[bytes, bytes] = {}

    def load(self, key: bytes) -> bytes | None:
        blob = self.inner.load(key) if self.inner is not None else None
        if blob is not None:
            self.blobs[key] = blob
        return blob

    def store(self, key: bytes, blob: bytes) -> None:
        self.blobs[key] = blob
        if self.inner is not None:
            self.inner.store(key, blob)

    def compiling(self, nbytes: int) -> contextlib.AbstractContextManager[object]:
        if self.inner is not None:
            return self.inner.compiling(nbytes)
        return progress(self.out, nbytes)


class _Preloaded:
    """The compiled modules of an artifact, as a module cache (``store`` keeps nothing)."""

    def __init__(self, blobs: dict[bytes, bytes], out: TextIO | None) -> None:
        self.blobs = blobs
        self.out = out

    def load(self, key: bytes) -> bytes | None:
        return self.blobs.get(key)

    def store(self, key: bytes, blob: bytes) -> None:
        pass

    def compiling(self, nbytes: int) -> contextlib.AbstractContextManager[object]:
        return progress(self.out, nbytes)


def _terminal() -> TextIO | None:
    err = sys.stderr
    return err if err is not None and err.isatty() else None


@contextlib.contextmanager
def _modules_from(engine: Engine, cache: _Modules | None) -> Iterator[None]:
    saved = engine.disk_cache
    engine.disk_cache = cache
    try:
        yield
    finally:
        engine.disk_cache = saved


def write_artifact(
    wasm: bytes, engine: Engine, path: str | os.PathLike[str], cache: DiskCache | None = None
) -> Component | Module:
    """Compile the component or core module ``wasm`` (binary or text) on ``engine`` and
    write it, with its compiled core modules, to ``path`` (atomically); returns what it
    compiled.

    ``engine`` must not have compiled these modules before (a new
    :class:`~wasmloom.Engine` of the configuration the artifact is for): the
    modules are collected as it compiles them, or takes them from ``cache``.
    Raises what :meth:`Component.from_bytes` (or :meth:`Module.from_bytes`) raises,
    and ``OSError``.
    """
    from wasmloom import Component, wat2wasm
    from wasmloom.host.module import Module, is_core_module

    if not wasm.startswith(b"\0asm"):
        try:
            wasm = wat2wasm(wasm.decode("utf-8"))
        except UnicodeDecodeError:
            pass  # from_bytes reports it
    recorder = _Recorder(cache, _terminal())
    kind = _KIND_MODULE if is_core_module(wasm[:8]) else _KIND_COMPONENT
    compiled: Component | Module
    with _modules_from(engine, recorder):
        if kind == _KIND_MODULE:
            compiled = Module.from_bytes(wasm, engine)
        else:
            compiled = Component.from_bytes(wasm, engine)
    out = [struct.pack("<BQ", kind, len(wasm)), wasm]
    out.append(struct.pack("<I", len(recorder.blobs)))
    for key, blob in sorted(recorder.blobs.items()):
        out += [key, struct.pack("<Q", len(blob)), blob]
    payload = b"".join(out)
    desc = engine_description(engine.config_key).encode()
    head = ARTIFACT_MAGIC + struct.pack("<II", ARTIFACT_FORMAT, len(desc)) + desc
    _write_atomically(Path(path), head + sha256(payload).digest() + payload)
    return compiled


def _write_atomically(path: Path, data: bytes, mode: int = 0o666) -> None:
    """Write ``data`` to ``path`` through a temporary file beside it, renamed over it:
    a reader sees the old file or the whole new one. The file gets ``mode`` less the
    umask (the default: an artifact's usual mode; cache entries are private, 0o600)."""
    import secrets  # 10 ms of imports (hmac, random): only when something is written

    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def is_artifact(data: bytes) -> bool:
    """Whether ``data`` starts like a precompiled artifact."""
    return data.startswith(ARTIFACT_MAGIC)


def is_precompiled(data: bytes) -> bool:
    """Whether ``data`` is precompiled code: an artifact, or a native object (another
    runtime's, which :func:`load_artifact` refuses with a message saying so)."""
    return data.startswith((ARTIFACT_MAGIC, _ELF_MAGIC))


def load_artifact(data: bytes, engine: Engine, name: str = "the artifact") -> Component:
    """The component of the artifact ``data``, its core modules taken precompiled.

    Raises :class:`ArtifactError` for a file of another kind (a core module's
    artifact included), one made for another engine (wasmtime or wasmloom
    version, fuel, stack limit...), and one cut short or altered. ``name``
    names the file in messages.
    """
    from wasmloom import Component

    binary, blobs = _read_artifact(data, engine, name, _KIND_COMPONENT)
    with _modules_from(engine, _Preloaded(blobs, _terminal())):
        return Component.from_bytes(binary, engine)


def load_module_artifact(data: bytes, engine: Engine, name: str = "the artifact") -> Module:
    """The core module of the artifact ``data``, taken precompiled; raises as
    :func:`load_artifact` does (a component's artifact included)."""
    from wasmloom.host.module import Module

    binary, blobs = _read_artifact(data, engine, name, _KIND_MODULE)
    with _modules_from(engine, _Preloaded(blobs, _terminal())):
        return Module.from_bytes(binary, engine)


def artifact_holds_module(data: bytes) -> bool:
    """Whether the artifact ``data`` says it holds a core module (unchecked: the loaders
    check everything)."""
    if not is_artifact(data):
        return False
    pos = len(ARTIFACT_MAGIC)
    if len(data) < pos + 8:
        return False
    desc_len: int = struct.unpack_from("<II", data, pos)[1]
    kind_at = pos + 8 + desc_len + 32
    return len(data) > kind_at and data[kind_at] == _KIND_MODULE


def _read_artifact(
    data: bytes, engine: Engine, name: str, want: int
) -> tuple[bytes, dict[bytes, bytes]]:
    """The program binary and the compiled modules of the artifact ``data``, checked."""
    if data.startswith(_ELF_MAGIC):
        raise ArtifactError(
            f"{name} is a native object (a precompiled file of another runtime, such as "
            "`wasmtime compile`'s .cwasm); wasmloom runs .wasm, .wat and its own "
            "`wasmloom compile` artifacts"
        )
    if not is_artifact(data):
        raise ArtifactError(f"{name} is not a wasmloom precompiled artifact")
    pos = len(ARTIFACT_MAGIC)
    r = _Reader(data, pos, name)
    fmt, desc_len = r.unpack("<II")
    if fmt != ARTIFACT_FORMAT:
        raise ArtifactError(
            f"{name} has artifact format {fmt}, this wasmloom reads format "
            f"{ARTIFACT_FORMAT}: compile it again with `wasmloom compile`"
        )
    desc = r.take(desc_len).decode("utf-8", "replace")
    mine = engine_description(engine.config_key)
    if desc != mine:
        raise ArtifactError(
            f"{name} was compiled for another engine ({_differences(desc, mine)}): "
            "compile it again with this wasmloom and the -W options it is run with"
        )
    digest = r.take(32)
    if sha256(data[r.pos :]).digest() != digest:
        raise ArtifactError(f"{name} is damaged or was modified (its checksum does not match)")
    kind, size = r.unpack("<BQ")
    if kind not in (_KIND_COMPONENT, _KIND_MODULE):
        raise ArtifactError(f"{name} holds a kind of program this wasmloom cannot run ({kind})")
    if kind != want:
        what = ("a component", "a core module")
        raise ArtifactError(f"{name} holds {what[kind]}, where {what[want]} was expected")
    binary = r.take(size)
    (count,) = r.unpack("<I")
    blobs: dict[bytes, bytes] = {}
    for _ in range(count):
        key = r.take(32)
        (n,) = r.unpack("<Q")
        blobs[key] = r.take(n)
    if r.pos != len(data):
        raise ArtifactError(f"{name} has {len(data) - r.pos} bytes after its end")
    return binary, blobs


def _differences(theirs: str, mine: str) -> str:
    a = dict(p.partition("=")[::2] for p in theirs.split(";"))
    b = dict(p.partition("=")[::2] for p in mine.split(";"))
    diffs = [
        f"{k}={a.get(k, '?')} there, {k}={b.get(k, '?')} here" for k in b if a.get(k) != b.get(k)
    ]
    return "; ".join(diffs) or theirs


class _Reader:
    def __init__(self, data: bytes, pos: int, name: str) -> None:
        self.data = data
        self.pos = pos
        self.name = name

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise ArtifactError(f"{self.name} is cut short (truncated)")
        out = self.data[self.pos : end]
        self.pos = end
        return out

    def unpack(self, fmt: str) -> tuple[int, ...]:
        return tuple(struct.unpack(fmt, self.take(struct.calcsize(fmt))))
