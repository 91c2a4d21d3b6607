"""Build componentize-py guests for the tests, cached under tests/.cache/.

:func:`build` writes a guest's sources (WIT and Python files, given as text)
into a scratch directory, runs ``componentize-py componentize`` there (about
7 s) and keeps the result as ``tests/.cache/<name>-<key>.wasm``, where the key
hashes the sources, the world and module names and the tool's version: a
checkout builds each guest once. :func:`component` compiles a built guest once
per test session (about 3 s).

Without componentize-py the tests that need it skip, except on CI (the ``CI``
environment variable set), where that is an error: CI installs it with the
``test`` extra and must run them.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

import pytest

from wasmloom import Component

CACHE = Path(__file__).resolve().parent / ".cache"

#: Marks tests that run a componentize-py guest (``pytest -m componentize_py``).
componentize_py = pytest.mark.componentize_py


def _missing(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{why} (required on CI)")
    pytest.skip(why)


@functools.cache
def tool() -> tuple[str, str]:
    """The componentize-py executable and its version; skips (fails on CI) without it."""
    exe = shutil.which("componentize-py")
    if exe is None:
        _missing("componentize-py is not installed")
        raise AssertionError("unreachable")
    r = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    return exe, r.stdout.strip()


def build(
    name: str,
    files: Mapping[str, str],
    *,
    wit: str,
    world: str,
    module: str = "app",
) -> Path:
    """The guest built from ``files`` (relative path -> text), from the cache if there.

    ``wit`` is the WIT path (a file or directory among ``files``), ``world``
    the world to target and ``module`` the Python module implementing it.
    """
    exe, version = tool()
    h = hashlib.sha256(f"{version}\0{wit}\0{world}\0{module}".encode())
    for rel in sorted(files):
        h.update(f"\0{rel}\0{files[rel]}".encode())
    out = CACHE / f"{name}-{h.hexdigest()[:16]}.wasm"
    if out.is_file():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{name}-", suffix=".d", dir=CACHE))
    try:
        for rel, text in files.items():
            path = work / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        r = subprocess.run(
            [exe, "-d", wit, "-w", world, "componentize", module, "-o", "out.wasm"],
            cwd=work, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        if r.returncode != 0:
            pytest.fail(f"componentize-py failed to build {name}:\n{r.stderr[-2000:]}")
        os.replace(work / "out.wasm", out)  # atomic: concurrent sessions never see half a file
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def tree(root: Path, prefix: str) -> dict[str, str]:
    """The ``*.wit`` files under ``root`` as ``files`` entries under ``prefix``."""
    return {
        f"{prefix}/{p.relative_to(root).as_posix()}": p.read_text() for p in root.rglob("*.wit")
    }


@functools.cache
def component(path: Path) -> Component:
    """The guest at ``path``, compiled once per test session."""
    return Component.from_file(path)
