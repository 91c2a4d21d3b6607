"""A compile cache on disk: serialised core modules, keyed by content and engine.

``DiskCache()`` lives in the user cache directory (``$WASMLOOM_CACHE_DIR``,
else ``$XDG_CACHE_HOME/wasmloom``, else ``~/.cache/wasmloom``), under a
subdirectory named by the engine's fingerprint: the wasmtime package version
and wasmloom's engine configuration. Attach it with ``engine.disk_cache =
DiskCache()``; :func:`wasmloom.core.compile_module` then loads a module
compiled by an earlier process instead of compiling it again. Entries are
written atomically (a temporary file renamed into place), so concurrent
processes never see half a file. A compile of a large module shows a line
of progress on stderr when stderr is a terminal.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

__all__ = ["DiskCache", "default_cache_dir", "engine_fingerprint"]

# Modules smaller than this compile fast enough not to need a progress line.
_PROGRESS_MIN_BYTES = 1 << 20


def default_cache_dir() -> Path:
    """The user cache directory for wasmloom."""
    env = os.environ.get("WASMLOOM_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "wasmloom"


def engine_fingerprint(tag: str = "") -> str:
    """A short hash naming the engine a compiled module belongs to.

    It covers the wasmtime package version, wasmloom's version (which fixes
    the enabled features) and ``tag``: an engine's
    :attr:`~wasmloom.Engine.config_key` (async stack size, fuel, epochs, wasm
    stack limit), plus anything a custom ``configure`` changes.
    """
    try:
        wt = importlib.metadata.version("wasmtime")
    except importlib.metadata.PackageNotFoundError:
        wt = "unknown"
    try:
        wl = importlib.metadata.version("wasmloom")
    except importlib.metadata.PackageNotFoundError:
        wl = "unknown"
    text = f"wasmtime={wt};wasmloom={wl};{tag}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


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

    def store(self, key: bytes, blob: bytes) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(blob)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError:
            pass  # a read-only or full cache only costs a recompile next time

    @contextlib.contextmanager
    def compiling(self, nbytes: int) -> Iterator[None]:
        out = self._progress
        if out is None or nbytes < _PROGRESS_MIN_BYTES:
            yield
            return
        stop = threading.Event()
        start = time.monotonic()
        label = f"compiling {nbytes / 1e6:.1f} MB of wasm (cached for next time)"

        def tick() -> None:
            frames = "|/-\\"
            i = 0
            while not stop.wait(0.1):
                out.write(f"\r{frames[i % 4]} {label} {time.monotonic() - start:4.1f}s")
                out.flush()
                i += 1

        t = threading.Thread(target=tick, daemon=True)
        t.start()
        try:
            yield
        finally:
            stop.set()
            t.join()
            out.write("\r\x1b[K")
            out.flush()
