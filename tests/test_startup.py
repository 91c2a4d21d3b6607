"""What a warm ``wasmloom run`` of a small WASI 0.3 command loads.

A second run of the same file (its record in the compile cache) decodes and
validates nothing, so it must not import the decoder or the validator; nor
OpenSSL's ``_hashlib`` (the cache keys are SHA-256 from CPython's own
module), the filesystem sandbox (no preopens), WASI 0.1, argparse (a
plain ``run APP`` builds no parser), ``dataclasses`` or ``inspect``. Checked in a fresh
interpreter's ``sys.modules``. The lazily imported names still resolve.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from wasmloom.cli import _plain_run, build_parser
from wasmloom.digest import sha256

ROOT = Path(__file__).resolve().parents[1]
HELLO = ROOT / "tests" / "guests" / "wasi_p3_hello.wat"

# Runs `wasmloom run APP` in this interpreter, then prints its status and what it loaded.
_PROBE = """
import json, sys
from wasmloom.cli import main
rc = main(["run", sys.argv[1]])
print(json.dumps({"rc": rc, "modules": sorted(sys.modules)}))
"""

# Not needed to run a compiled, unchanged command of wasi:cli alone.
NOT_LOADED = (
    "_hashlib",
    "argparse",  # a plain `run APP` builds no parser
    "wasmloom.binary.decoder",
    "wasmloom.binary.canon",
    "wasmloom.validate",
    "wasmloom.wasi.sandbox",
    "wasmloom.core.wasip1",
    "dataclasses",  # records are made by wasmloom.types.dataclass
    "inspect",  # a host function's coroutine-ness is read from its code's flags
    "importlib.metadata",  # package versions come from .dist-info names
)


def _python(args: list[str], cache: Path) -> subprocess.CompletedProcess[bytes]:
    """This interpreter on ``args``, on this checkout's sources, with the compile cache
    ``cache`` and no unbuffered stdio."""
    env = dict(os.environ, WASMLOOM_CACHE_DIR=str(cache))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    env.pop("PYTHONUNBUFFERED", None)
    return subprocess.run(
        [sys.executable, *args], capture_output=True, timeout=120, env=env, stdin=subprocess.DEVNULL
    )


def _probe(app: Path, cache: Path) -> dict[str, Any]:
    r = _python(["-c", _PROBE, str(app)], cache)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode().startswith("hello, stdout")
    out: dict[str, Any] = json.loads(r.stdout.decode().splitlines()[-1])
    return out


def test_a_warm_run_loads_no_decoder_validator_openssl_sandbox_or_wasi_0_1(
    tmp_path: Path,
) -> None:
    app = tmp_path / "hello.wasm"
    app.write_bytes(wasmtime.wat2wasm(HELLO.read_text()))
    cold = _probe(app, tmp_path / "cache")
    assert cold["rc"] == 0
    assert "wasmloom.binary.decoder" in cold["modules"]  # the first run decodes
    warm = _probe(app, tmp_path / "cache")
    assert warm["rc"] == 0
    assert [m for m in NOT_LOADED if m in warm["modules"]] == []


def test_a_repeated_run_of_a_text_file_reads_no_package_metadata(tmp_path: Path) -> None:
    """A ``.wat`` file has no cache record: each run decodes it, and validates it through
    the verdict cache, whose key names wasm-tools' version (read from its .dist-info)."""
    for _ in range(2):
        run = _probe(HELLO, tmp_path / "cache")
        assert run["rc"] == 0 and "wasmloom.validate" in run["modules"]
        assert "importlib.metadata" not in run["modules"]


def test_a_run_crossing_epoch_ticks_does_not_yield_into_a_new_event_loop(tmp_path: Path) -> None:
    """With nothing else to run (no event loop, no other thread, no host work), a guest
    that crosses epoch ticks carries on instead of yielding: asyncio stays unimported."""
    app = tmp_path / "hello.wasm"
    app.write_bytes(wasmtime.wat2wasm(HELLO.read_text()))
    env = dict(os.environ, WASMLOOM_EPOCH_TICK="0.0002")  # every few us of guest code
    probe = _PROBE.replace("print(json.dumps(", "print(json.dumps({'ticks': _ticks()} |")
    probe = probe.replace(
        "rc = main(",
        "from wasmloom.core.engine import default_engine\n"
        "_ticks = lambda: default_engine().ticks\n"
        "rc = main(",
    )
    for _ in range(2):  # cold, then warm
        r = subprocess.run(
            [sys.executable, "-c", probe, str(app)],
            capture_output=True,
            timeout=120,
            env=dict(env, WASMLOOM_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(ROOT / "src")),
            stdin=subprocess.DEVNULL,
        )
        assert r.returncode == 0, r.stderr.decode()
        out = json.loads(r.stdout.decode().splitlines()[-1])
        assert out["rc"] == 0
        assert out["ticks"] > 0
        assert "asyncio" not in out["modules"]


def test_sha256_is_hashlibs() -> None:
    for data in (b"", b"abc", bytes(range(256)) * 256, bytes(range(256)) * 257):
        assert sha256(data).digest() == hashlib.sha256(data).digest()
    h = sha256()
    h.update(b"ab")
    h.update(b"c")
    assert h.hexdigest() == hashlib.sha256(b"abc").hexdigest()


def test_lazily_imported_names_resolve() -> None:
    from wasmloom import binary, wasi
    from wasmloom.binary.decoder import decode_component
    from wasmloom.core import wasip1
    from wasmloom.host import module
    from wasmloom.wasi import sandbox

    assert binary.decode_component is decode_component
    assert binary.is_core_module(b"\0asm\1\0\0\0")
    assert binary.is_component(b"\0asm\x0d\0\1\0")
    assert (wasi.Perms, wasi.ErrorCode, wasi.FsError) == (
        sandbox.Perms,
        sandbox.ErrorCode,
        sandbox.FsError,
    )
    assert module.WasiP1Config is wasip1.WasiP1Config
    assert module.INHERIT is wasip1.INHERIT


def test_a_subcommand_parser_parses_as_the_whole_one() -> None:
    argv = ["run", "--dir", "a::b", "-S", "tcp=n", "app.wasm", "x", "--y"]
    whole = vars(build_parser().parse_args(argv))
    alone = vars(build_parser("run").parse_args(argv))
    assert whole == alone


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "app.wasm"],
        ["run", "app.wasm", "x", "--dir", "a", "-h", "--version", "-", "--", "-S", "tcp"],
        ["run", "a b.wasm", ""],
        ["run", "app.wasm", "x", "--"],
        ["run", "", "x"],
    ],
)
def test_a_plain_run_is_parsed_as_the_parser_parses_it(argv: list[str]) -> None:
    plain = _plain_run(argv)
    assert plain is not None
    assert vars(plain) == vars(build_parser().parse_args(argv))
    assert vars(plain) == vars(build_parser("run").parse_args(argv))


@pytest.mark.parametrize(
    "argv",
    [
        ["run"],
        ["run", "--dir", "a", "app.wasm"],
        ["run", "-", "x"],
        ["run", "--", "app.wasm"],
        ["run", "app.wasm", "--"],
        ["run", "app.wasm", "--", "x"],
        ["run", "-h"],
        ["serve", "app.wasm"],
        ["--version"],
        [],
    ],
)
def test_any_other_command_line_goes_to_the_parser(argv: list[str]) -> None:
    assert _plain_run(argv) is None


# `entry()` for a command, with an atexit handler and a non-daemon thread still running
# when the command ends: both must finish before the process does.
_ENTRY = """
import atexit, sys, threading, time
from wasmloom.cli import entry
out = open(sys.argv[2], "w")
atexit.register(lambda: (out.write("atexit\\n"), out.close()))
def late():
    time.sleep(0.2)
    out.write("thread\\n")
threading.Thread(target=late).start()
sys.stdout.write("buffered ")
sys.argv = ["wasmloom", "run", sys.argv[1]]
entry()
"""


def test_entry_exits_with_the_status_after_threads_atexit_and_flush(tmp_path: Path) -> None:
    app = tmp_path / "hello.wasm"
    app.write_bytes(wasmtime.wat2wasm(HELLO.read_text()))
    log = tmp_path / "log"
    r = _python(["-c", _ENTRY, str(app), str(log)], tmp_path / "cache")
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode().startswith("buffered ")
    assert "hello, stdout" in r.stdout.decode()
    assert log.read_text() == "thread\natexit\n"
    # a status other than 0 is the process's
    r = _python(["-m", "wasmloom", "run", str(tmp_path / "missing.wasm")], tmp_path / "cache")
    assert r.returncode == 1
    assert b"cannot read" in r.stderr


# Runs `wasmloom run APP` in this interpreter, then prints what its garbage collector was left at.
_GC_PROBE = """
import gc, json, sys
from wasmloom.cli import main
rc = main(["run", sys.argv[1]])
print(json.dumps({"rc": rc, "enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}))
"""


def _hello_probe(probe: str, tmp_path: Path) -> Any:
    """What ``probe`` prints last (JSON), run on the hello command."""
    app = tmp_path / "hello.wasm"
    app.write_bytes(wasmtime.wat2wasm(HELLO.read_text()))
    r = _python(["-c", probe, str(app)], tmp_path / "cache")
    assert r.returncode == 0, r.stderr.decode()
    return json.loads(r.stdout.decode().splitlines()[-1])


def test_a_cli_run_freezes_its_start_up_heap_and_collects_again_after(tmp_path: Path) -> None:
    got = _hello_probe(_GC_PROBE, tmp_path)
    assert got["rc"] == 0
    assert got["enabled"] is True
    assert got["frozen"] > 10_000  # the imports, the component, its instance


# Runs the same command through the library twice, with the collector on and then off.
_LIBRARY_GC_PROBE = """
import gc, json, sys
from wasmloom.wasi.run import RunOptions, run_command
frozen = gc.get_freeze_count()
rc = [run_command(RunOptions(app=sys.argv[1]))]
on = gc.isenabled()
gc.disable()
rc.append(run_command(RunOptions(app=sys.argv[1])))
off = not gc.isenabled()
print(json.dumps({"rc": rc, "on": on, "off": off, "frozen": gc.get_freeze_count() - frozen}))
"""


def test_a_library_run_leaves_the_collector_as_it_found_it(tmp_path: Path) -> None:
    got = _hello_probe(_LIBRARY_GC_PROBE, tmp_path)
    assert got == {"rc": [0, 0], "on": True, "off": True, "frozen": 0}
