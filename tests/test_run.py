"""``wasmloom run`` as a subprocess: exit codes, stdout byte for byte, traps, missing imports.

The WAT guests are written here; the componentize-py program is the one of
``tests/test_wasi_p2.py`` (built once and cached; skipped without the tool).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

GUESTS = Path(__file__).parent / "guests"

EXIT_WAT = """(component
  (import "wasi:cli/exit@0.3.0" (instance $exit
    (export "exit-with-code" (func (param "status-code" u8)))))
  (core func $exit_code (canon lower (func $exit "exit-with-code")))
  (core module $m
    (import "" "exit" (func $exit (param i32)))
    (func (export "run") (result i32)
      (call $exit (i32.const CODE))
      unreachable))
  (core instance $i (instantiate $m (with "" (instance (export "exit" (func $exit_code))))))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $ri (export "run" (func $run)))
  (export "wasi:cli/run@0.3.0" (instance $ri)))
"""

RESULT_WAT = """(component
  (core module $m
    (func (export "run") (result i32) (i32.const RESULT)))
  (core instance $i (instantiate $m))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $ri (export "run" (func $run)))
  (export "wasi:cli/run@VERSION" (instance $ri)))
"""

TRAP_WAT = """(component
  (core module $m
    (func $inner unreachable)
    (func (export "run") (result i32) (call $inner) (i32.const 0)))
  (core instance $i (instantiate $m))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $ri (export "run" (func $run)))
  (export "wasi:cli/run@0.3.0" (instance $ri)))
"""

MISSING_WAT = """(component
  (import "example:pkg/thing@1.0.0" (instance (export "f" (func))))
  (import "wasi:keyvalue/store@0.3.0" (instance))
  (core module $m (func (export "run") (result i32) (i32.const 0)))
  (core instance $i (instantiate $m))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $ri (export "run" (func $run)))
  (export "wasi:cli/run@0.3.0" (instance $ri)))
"""


def run(
    *args: str, stdin: bytes = b"", cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ)
    env.setdefault("WASMLOOM_CACHE_DIR", str(Path(__file__).parent / ".cache" / "compile"))
    return subprocess.run(
        [sys.executable, "-m", "wasmloom", "run", *args],
        input=stdin, capture_output=True, timeout=120, cwd=cwd, env=env,
    )  # fmt: skip


def write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize("code", [0, 3, 42, 255])
def test_exit_with_code_is_the_process_exit_code(tmp_path: Path, code: int) -> None:
    r = run(write(tmp_path, "exit.wat", EXIT_WAT.replace("CODE", str(code))))
    assert (r.returncode, r.stdout, r.stderr) == (code, b"", b"")


@pytest.mark.parametrize("version", ["0.3.0", "0.2.0", "0.2.9"])
@pytest.mark.parametrize(("result", "code"), [(0, 0), (1, 1)])
def test_run_result_ok_and_err(tmp_path: Path, version: str, result: int, code: int) -> None:
    text = RESULT_WAT.replace("RESULT", str(result)).replace("VERSION", version)
    r = run(write(tmp_path, "result.wat", text))
    assert (r.returncode, r.stdout, r.stderr) == (code, b"", b"")


def test_stdout_stream_byte_for_byte() -> None:
    r = run(str(GUESTS / "wasi_p3_hello.wat"))
    assert (r.returncode, r.stdout, r.stderr) == (0, b"hello, stdout\n", b"")


def test_stdout_to_a_closed_pipe_does_not_hang(tmp_path: Path) -> None:
    p = subprocess.Popen(
        [sys.executable, "-m", "wasmloom", "run", str(GUESTS / "wasi_p3_hello.wat")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert p.stdout is not None
    p.stdout.close()
    p.wait(timeout=60)
    assert p.returncode in (0, 1)


def test_trap_names_the_function_and_exits_134(tmp_path: Path) -> None:
    r = run(write(tmp_path, "trap.wat", TRAP_WAT))
    assert r.returncode == 134
    err = r.stderr.decode()
    assert "wasi:cli/run@0.3.0/run" in err and "unreachable" in err
    # the guest's frames, innermost first, with the names of its name section
    assert "guest backtrace:" in err
    frames = err.split("guest backtrace:")[1].splitlines()[1:]
    assert "!inner" in frames[0] and "!<wasm function 1>" in frames[1], err
    assert r.stdout == b""


def test_missing_imports_are_listed_with_a_hint(tmp_path: Path) -> None:
    r = run(write(tmp_path, "missing.wat", MISSING_WAT))
    assert r.returncode == 1
    err = r.stderr.decode()
    assert "  example:pkg/thing@1.0.0\n" in err and "  wasi:keyvalue/store@0.3.0\n" in err
    assert "--trap-unknown-imports" in err
    r = run("--trap-unknown-imports", write(tmp_path, "missing.wat", MISSING_WAT))
    assert (r.returncode, r.stderr) == (0, b"")


def test_no_such_file_and_bad_binary(tmp_path: Path) -> None:
    r = run(str(tmp_path / "nope.wasm"))
    assert r.returncode == 1 and b"cannot read" in r.stderr
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(b"\0asm\x0d\0\x01\0garbage")
    r = run(str(bad))
    assert r.returncode == 1 and b"error:" in r.stderr


def test_componentize_py_program_through_run(tmp_path: Path) -> None:
    from test_wasi_p2 import EXPECTED, _build_guest

    app = _build_guest()
    data = tmp_path / "data"
    data.mkdir()
    (data / "in.txt").write_text("input file\n")
    (data / "b").mkdir()
    args = ["--dir", f"{data}::/data", "--env", "GREETING=hey", "--env", "EXIT_CODE=7"]
    r = run(*args, "--argv0", "app", str(app), "one", "two", stdin=b"some input\n")
    assert r.stdout == EXPECTED
    assert r.stderr == b"to stderr\n"
    assert r.returncode == 1  # sys.exit(7) reaches 0.2.9's stable exit as `err`
    assert (data / "out.txt").read_text() == "written by the guest\n"
    # a second run starts from the compile cache
    r = run(*args[:2], "--env", "GREETING", str(app), "x", stdin=b"")
    assert r.returncode == 0 and r.stdout.startswith(b"hello from python ['x'] None\n")


def test_stdio_without_a_file_descriptor_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run in-process where sys.stdin has no descriptor: the error says so (it used to
    read "cannot open directory None: None")."""
    import io

    from wasmloom.wasi.run import RunOptions, run_command

    app = write(
        tmp_path, "hello.wat", (Path(__file__).parent / "guests" / "wasi_p3_hello.wat").read_text()
    )
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    err = io.StringIO()
    assert run_command(RunOptions(app=app, cache=False), err) == 1
    assert err.getvalue().splitlines() == [
        "error: cannot give the guest this process's stdio: fileno"
    ]
