"""wasmloom's own compiled Python code (and wasmtime's), cached where bytecode caching is off.

Where ``PYTHONDONTWRITEBYTECODE`` is set (CI images and containers often set
it), Python compiles every module from source on every start: for the
modules ``wasmloom run`` imports, that costs more than the rest of the start
(0.78 s against 0.03 s to unmarshal the same code, measured on a loaded
2-core machine). :func:`install` keeps the code objects of one package's
modules in the compile cache directory instead (:func:`default_cache_dir`,
the one the compiled wasm lives in), the way a checked hash-based ``.pyc``
would:

- an entry is named by a hash of the module's path and source, under a
  directory named by the interpreter's cache tag and optimisation level; the
  hash is :func:`importlib.util.source_hash`, keyed by the bytecode magic
  number, so another Python version never reads it;
- it starts with the magic number, the source's length and the source's own
  hash, all checked before the code is used; a missing, short or damaged
  entry is compiled from source again and rewritten;
- entries are written to a temporary file renamed into place, so concurrent
  processes never read half of one; a directory that cannot be written only
  costs the compile.

Only modules found as source files inside the package's own directories (or,
with :func:`install_stdlib`, the standard library's, which ``wasmloom run``
imports as much of as its own) are cached, and only while
``sys.dont_write_bytecode`` is true: otherwise
Python's ``__pycache__`` does the same job. An entry holds code to run (as a
``.pyc`` does): entries are written ``0o600``, like the compiled wasm beside
them.
"""

from __future__ import annotations

import importlib.util
import marshal
import os
import sys
from importlib.machinery import ModuleSpec, PathFinder, SourceFileLoader
from types import CodeType

# Imported before the cache is installed, so compiled from source where Python keeps
# no bytecode: this module imports no more than the interpreter's start and runpy
# have (typing, pathlib and sysconfig and what they import are tens of milliseconds
# to compile), and works on str paths.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from types import ModuleType
    from typing import Any

__all__ = ["default_cache_dir", "install", "install_all", "install_stdlib"]

_MAGIC = importlib.util.MAGIC_NUMBER


def default_cache_dir() -> Path:
    """The user cache directory for wasmloom: ``$WASMLOOM_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/wasmloom``, else ``~/.cache/wasmloom``."""
    from pathlib import Path

    return Path(_default_root())


def _default_root() -> str:
    env = os.environ.get("WASMLOOM_CACHE_DIR")
    if env:
        return env
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = xdg if xdg else os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "wasmloom")


def code_dir(root: Path) -> Path:
    """Where :func:`install` keeps this interpreter's code objects under ``root``."""
    return root / _code_subdir()


def _code_subdir() -> str:
    tag = sys.implementation.cache_tag or sys.implementation.name
    return os.path.join("pycode", f"{tag}-O{sys.flags.optimize}")


def _code_dir(root: Path | None) -> str:
    return os.path.join(_default_root() if root is None else root, _code_subdir())


def _header(data: bytes) -> bytes:
    return _MAGIC + len(data).to_bytes(8, "little") + importlib.util.source_hash(data)


class _CachingLoader(SourceFileLoader):
    """A source loader whose compile step goes through the cache directory."""

    def __init__(self, fullname: str, path: str, directory: str) -> None:
        super().__init__(fullname, path)
        self._dir = directory

    # SourceLoader's own is an instance method (typeshed has InspectLoader's staticmethod).
    def source_to_code(  # type: ignore[override]
        self, data: Any, path: Any, *, _optimize: int = -1
    ) -> CodeType:
        if not isinstance(data, bytes) or not isinstance(path, str):
            return super().source_to_code(data, path)
        key = importlib.util.source_hash(os.fsencode(path) + b"\0" + data).hex()
        entry = os.path.join(self._dir, f"{key}.code")
        header = _header(data)
        try:
            with open(entry, "rb") as f:
                blob = f.read()
        except OSError:
            blob = b""
        if blob[: len(header)] == header:
            try:
                code = marshal.loads(blob[len(header) :])
            except (EOFError, ValueError, TypeError):
                pass
            else:
                if isinstance(code, CodeType):
                    return code
        code = super().source_to_code(data, path)
        _write(entry, header + marshal.dumps(code))
        return code


def _write(entry: str, blob: bytes) -> None:
    tmp = f"{entry}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(entry), mode=0o700, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, entry)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


class _Finder:
    """Finds ``package`` and its submodules (any module when ``package`` is None) as
    the path finder does, loading the sources found under ``roots`` (and not under
    ``excluded``) through :class:`_CachingLoader`."""

    def __init__(
        self,
        package: str | None,
        roots: list[str],
        directory: str,
        excluded: tuple[str, ...] = (),
    ) -> None:
        self.package = package
        self.prefix = None if package is None else package + "."
        self.roots = tuple(os.path.join(r, "") for r in roots)
        self.excluded = tuple(os.path.join(r, "") for r in excluded)
        self.directory = directory

    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        prefix = self.prefix
        if prefix is not None and not fullname.startswith(prefix) and fullname != self.package:
            return None
        spec = PathFinder.find_spec(fullname, path, target)
        if spec is None or type(spec.loader) is not SourceFileLoader:
            return spec
        origin = spec.origin or ""
        if (
            not origin.endswith(".py")
            or not origin.startswith(self.roots)
            or origin.startswith(self.excluded)
        ):
            return spec
        spec.loader = _CachingLoader(fullname, origin, self.directory)
        return spec


def install(package: str = "wasmloom", root: Path | None = None) -> bool:
    """Cache the code of ``package``'s modules imported from now on (the package's
    own too, when it is not imported yet), in :func:`code_dir` of ``root`` (default:
    :func:`default_cache_dir`); True if installed. Does nothing (False) while
    Python writes bytecode itself, when ``package`` is not a top-level package
    that is imported or can be found without importing it, or when installed
    already."""
    if not sys.dont_write_bytecode:
        return False
    pkg = sys.modules.get(package)
    if pkg is not None:
        roots = list(getattr(pkg, "__path__", None) or [])
    else:
        spec = PathFinder.find_spec(package) if "." not in package else None
        roots = list((spec.submodule_search_locations or []) if spec is not None else [])
    if not roots:
        return False
    if any(isinstance(f, _Finder) and f.package == package for f in sys.meta_path):
        return False
    sys.meta_path.insert(0, _Finder(package, roots, _code_dir(root)))
    return True


def install_stdlib(root: Path | None = None) -> bool:
    """Cache the code of the standard library's source modules imported from now on
    (those under the directory of ``os``'s source, the ``stdlib`` path of
    ``sysconfig``; not those under its ``site-packages`` or ``dist-packages`` nor under
    any other directory of ``sys.path`` inside it: installed packages are not
    cached), as :func:`install` does; True if installed. Built-in and frozen modules
    are found before it, as without it."""
    if not sys.dont_write_bytecode:
        return False
    if any(isinstance(f, _Finder) and f.package is None for f in sys.meta_path):
        return False
    os_file = getattr(os, "__file__", None)
    if not os_file:
        return False
    stdlib = os.path.dirname(os_file)
    inside = os.path.join(stdlib, "")
    excluded = {os.path.join(stdlib, "site-packages"), os.path.join(stdlib, "dist-packages")}
    excluded.update(p for p in sys.path if isinstance(p, str) and p.startswith(inside) and p != inside)
    finder = _Finder(None, [stdlib], _code_dir(root), tuple(sorted(excluded)))
    at = next((i for i, f in enumerate(sys.meta_path) if f is PathFinder), len(sys.meta_path))
    sys.meta_path.insert(at, finder)
    return True


def install_all(root: Path | None = None) -> None:
    """What ``wasmloom run`` and ``serve`` cache: wasmloom's, wasmtime's and the
    standard library's code (each :func:`install` or :func:`install_stdlib` that
    is not done already)."""
    install("wasmloom", root)
    install("wasmtime", root)
    install_stdlib(root)
