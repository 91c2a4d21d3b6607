"""wasmloom.codecache: a package's code objects kept where bytecode caching is off.

Each test imports a small package of its own from a temporary directory, in a
fresh interpreter (the cache's finder and ``sys.dont_write_bytecode`` are
process-wide), and shows where its code came from by what it runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parent.parent / "src")

PROBE = """
import sys
sys.dont_write_bytecode = {nobytecode}
sys.path.insert(0, {pkgroot!r})
import probe
from wasmloom import codecache
print(codecache.install("probe", root=__import__("pathlib").Path({cache!r})))
from probe import mod
print(mod.VALUE)
"""


def _run(tmp: Path, nobytecode: bool = True) -> list[str]:
    code = PROBE.format(nobytecode=nobytecode, pkgroot=str(tmp / "pkg"), cache=str(tmp / "cache"))
    env = dict(os.environ, PYTHONPATH=SRC, PYTHONDONTWRITEBYTECODE="1")
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return r.stdout.split()


def _package(tmp: Path, value: int) -> Path:
    pkg = tmp / "pkg" / "probe"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text("")
    mod = pkg / "mod.py"
    mod.write_text(f"VALUE = {value}\n")
    return mod


def _entries(tmp: Path) -> list[Path]:
    return sorted((tmp / "cache" / "pycode").glob("*/*.code"))


def test_code_is_cached_and_read_back(tmp_path: Path) -> None:
    _package(tmp_path, 1)
    assert _run(tmp_path) == ["True", "1"]
    (entry,) = _entries(tmp_path)
    # The next start runs the cached code: replace it, keeping the header that
    # names the source, and the replacement runs.
    other = compile("VALUE = 42\n", "mod.py", "exec")
    import importlib.util
    import marshal

    header_len = len(importlib.util.MAGIC_NUMBER) + 8 + 8
    entry.write_bytes(entry.read_bytes()[:header_len] + marshal.dumps(other))
    assert _run(tmp_path) == ["True", "42"]


def test_a_changed_source_is_compiled_again(tmp_path: Path) -> None:
    mod = _package(tmp_path, 1)
    assert _run(tmp_path) == ["True", "1"]
    mod.write_text("VALUE = 2\n")
    assert _run(tmp_path) == ["True", "2"]
    assert len(_entries(tmp_path)) == 2


def test_a_damaged_entry_is_compiled_again(tmp_path: Path) -> None:
    _package(tmp_path, 7)
    _run(tmp_path)
    (entry,) = _entries(tmp_path)
    entry.write_bytes(entry.read_bytes()[:-3])  # cut: marshal fails
    assert _run(tmp_path) == ["True", "7"]
    entry.write_bytes(b"\0" * 40)  # another header
    assert _run(tmp_path) == ["True", "7"]
    assert _run(tmp_path) == ["True", "7"]


def test_nothing_is_installed_while_python_writes_bytecode(tmp_path: Path) -> None:
    _package(tmp_path, 3)
    assert _run(tmp_path, nobytecode=False) == ["False", "3"]
    assert _entries(tmp_path) == []


def test_run_fills_the_cache_without_bytecode(tmp_path: Path) -> None:
    """``wasmloom run`` keeps wasmloom's own modules' code in the compile cache
    (``--no-cache`` does not)."""
    hello = Path(__file__).resolve().parent / "guests" / "wasi_p3_hello.wat"
    env = dict(
        os.environ,
        PYTHONPATH=SRC,
        PYTHONDONTWRITEBYTECODE="1",
        WASMLOOM_CACHE_DIR=str(tmp_path / "cache"),
    )
    argv = [sys.executable, "-m", "wasmloom", "run"]
    r = subprocess.run([*argv, "--no-cache", str(hello)], capture_output=True, env=env)
    assert r.returncode == 0, r.stderr
    assert _entries(tmp_path) == []
    for _ in range(2):
        r = subprocess.run([*argv, str(hello)], capture_output=True, env=env)
        assert r.returncode == 0, r.stderr
        assert r.stdout == b"hello, stdout\n"
    entries = _entries(tmp_path)
    assert len(entries) > 20
    assert all(e.stat().st_mode & 0o077 == 0 for e in entries)


PROBE_FIRST = """
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, {pkgroot!r})
from wasmloom import codecache
print(codecache.install("probe", root=__import__("pathlib").Path({cache!r})))
from probe import mod
print(mod.VALUE)
"""


def test_a_package_not_imported_yet_has_its_own_code_cached_too(tmp_path: Path) -> None:
    _package(tmp_path, 4)
    (tmp_path / "pkg" / "probe" / "__init__.py").write_text("INIT = 1\n")
    code = PROBE_FIRST.format(pkgroot=str(tmp_path / "pkg"), cache=str(tmp_path / "cache"))
    env = dict(os.environ, PYTHONPATH=SRC, PYTHONDONTWRITEBYTECODE="1")
    for _ in range(2):
        r = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        )
        assert r.stdout.split() == ["True", "4"]
    assert len(_entries(tmp_path)) == 2  # probe and probe.mod


PROBE_STDLIB = """
import sys
sys.dont_write_bytecode = True
import wasmtime
from wasmloom import codecache
print(codecache.install_stdlib(root=__import__("pathlib").Path({cache!r})))
import colorsys, wasmtime.component
cached = sorted(
    n for n, m in sys.modules.items()
    if type(getattr(m, "__spec__", None) and m.__spec__.loader).__name__ == "_CachingLoader"
)
print(",".join(cached))
print(colorsys.rgb_to_hsv(1.0, 0.0, 0.0))
"""


def test_the_standard_librarys_code_is_cached_and_installed_packages_are_not(
    tmp_path: Path,
) -> None:
    code = PROBE_STDLIB.format(cache=str(tmp_path / "cache"))
    # no bytecode anywhere: the installed stdlib's own __pycache__ is not looked in
    env = dict(
        os.environ,
        PYTHONPATH=SRC,
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONPYCACHEPREFIX=str(tmp_path / "nopyc"),
    )
    outs = []
    for _ in range(2):
        r = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        )
        outs.append(r.stdout.split("\n")[:3])
    assert outs[0] == outs[1]
    installed, cached, result = outs[0]
    assert installed == "True" and result == "(0.0, 1.0, 1.0)"
    # the stdlib modules wasmtime.component imports are cached, its own (installed) are not
    assert "colorsys" in cached.split(",") and "inspect" in cached.split(",")
    assert "wasmtime" not in cached
    assert len(_entries(tmp_path)) == len(cached.split(","))


def _entry_of(module_file: str, tmp: Path) -> Path:
    """Where the code cache keeps the code of the source file ``module_file``."""
    import importlib.util

    data = Path(module_file).read_bytes()
    key = importlib.util.source_hash(os.fsencode(module_file) + b"\0" + data).hex()
    (tag,) = (tmp / "cache" / "pycode").iterdir()
    return tag / f"{key}.code"


def test_python_m_wasmloom_run_caches_the_command_lines_own_imports(tmp_path: Path) -> None:
    """``python -m wasmloom run`` installs the code cache before the command line
    imports argparse; not when an option might be ``--no-cache``."""
    import argparse

    hello = Path(__file__).resolve().parent / "guests" / "wasi_p3_hello.wat"
    env = dict(
        os.environ,
        PYTHONPATH=SRC,
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONPYCACHEPREFIX=str(tmp_path / "nopyc"),  # no bytecode anywhere
        WASMLOOM_CACHE_DIR=str(tmp_path / "cache"),
    )
    argv = [sys.executable, "-m", "wasmloom", "run"]
    r = subprocess.run([*argv, "--no-cache", str(hello)], capture_output=True, env=env)
    assert r.returncode == 0, r.stderr
    assert _entries(tmp_path) == []
    # an option before APP: the command line is parsed with argparse
    r = subprocess.run([*argv, "--argv0", "hello", str(hello)], capture_output=True, env=env)
    assert r.returncode == 0, r.stderr
    assert _entry_of(argparse.__file__, tmp_path).is_file()
