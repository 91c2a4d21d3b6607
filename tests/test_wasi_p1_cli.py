"""``wasmloom run`` on WASI 0.1 core modules, as a subprocess: each flag, byte for byte.

WAT guests from ``tests/wasip1_guests.py``; one C program built with
``clang --target=wasm32-wasi`` (skipped where clang or wasi-libc is missing,
see DESIGN.md for the packages).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import wasip1_guests as g
from test_run import run, write

ALL_BYTES = bytes(range(256))


def test_stdout_stderr_and_exit_code_byte_for_byte(tmp_path: Path) -> None:
    app = write(tmp_path, "out.wat", g.output(300, 42))
    r = run(app)
    assert r.returncode == 42
    assert r.stdout == ALL_BYTES * 300
    assert r.stderr == b"err\xff\0"


def test_binary_module_and_returning_start(tmp_path: Path) -> None:
    from wasmloom import wat2wasm

    app = tmp_path / "out.wasm"
    app.write_bytes(wat2wasm(g.output(1)))
    r = run(str(app))
    assert (r.returncode, r.stdout, r.stderr) == (0, ALL_BYTES, b"err\xff\0")


def test_stdin_is_the_process_stdin(tmp_path: Path) -> None:
    r = run(write(tmp_path, "echo.wat", g.ECHO), stdin=ALL_BYTES * 50)
    assert (r.returncode, r.stdout) == (0, ALL_BYTES * 50)


def test_args_argv0_env_and_inherit_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = write(tmp_path, "args.wat", g.ARGS_ENV)
    monkeypatch.setenv("FROM_HOST", "h")
    monkeypatch.setenv("ONLY_HOST", "o")
    r = run("--env", "A=1", "--env", "FROM_HOST", app, "x", "y z")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"args.wat\0x\0y z\0"
    assert r.stderr == b"A=1\0FROM_HOST=h\0"
    r = run("--argv0", "prog", "--inherit-env", "--env", "A=2", app)
    assert r.stdout == b"prog\0"
    pairs = r.stderr.split(b"\0")
    assert b"ONLY_HOST=o" in pairs and b"A=2" in pairs and b"A=1" not in pairs


def test_dir_read_and_written_then_readonly_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "in.txt").write_bytes(b"in\xff")
    app = write(tmp_path, "files.wat", g.FILES)
    r = run("--dir", f"{data}::/", app)
    assert (r.returncode, r.stdout) == (0, b"in\xff"), r.stderr
    assert (data / "out.txt").read_bytes() == b"copy:in\xff"
    (data / "out.txt").unlink()
    r = run("--dir", f"{data}::/:ro", app)
    assert (r.returncode, r.stdout, r.stderr) == (11, b"in\xff", bytes([63]))
    assert not (data / "out.txt").exists()


def test_dir_relative_host_path(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_bytes(b"here")
    r = run("--dir", ".", write(tmp_path, "files.wat", g.FILES), cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, b"here"), r.stderr
    assert (tmp_path / "out.txt").read_bytes() == b"copy:here"


def test_missing_dir_is_one_error_line(tmp_path: Path) -> None:
    r = run("--dir", f"{tmp_path / 'nope'}::/", write(tmp_path, "files.wat", g.FILES))
    assert r.returncode == 1
    assert r.stderr.decode().splitlines() == [
        f"error: cannot open directory {tmp_path / 'nope'}: No such file or directory"
    ]


def test_trap_exits_134_naming_start(tmp_path: Path) -> None:
    text = '(module (func (export "_start") unreachable))'
    r = run(write(tmp_path, "trap.wat", text))
    assert r.returncode == 134
    first = r.stderr.decode().splitlines()[0]
    assert (
        first == "error: wasm trap in `_start`: wasm trap: wasm `unreachable` instruction executed"
    )


def test_fuel_and_timeout_stop_a_loop(tmp_path: Path) -> None:
    app = write(tmp_path, "loop.wat", g.LOOP)
    r = run("-W", "fuel=100000", app)
    assert r.returncode == 134
    assert b"all fuel consumed" in r.stderr
    r = run("-W", "timeout=300ms", app)
    assert r.returncode == 134
    assert b"deadline of 0.3 s exceeded" in r.stderr


def test_max_memory_size(tmp_path: Path) -> None:
    app = write(tmp_path, "grow.wat", g.GROW.replace("PAGES", "100"))
    assert run(app).returncode == 0
    assert run("-W", "max-memory-size=1MiB", app).returncode == 1


def test_unknown_imports_listed_then_trapped(tmp_path: Path) -> None:
    app = write(tmp_path, "unknown.wat", g.UNKNOWN)
    r = run(app)
    assert r.returncode == 1
    assert r.stderr.decode().splitlines() == [
        f"error: {app} imports what WASI 0.1 does not provide:",
        "  env::foo",
        "  wasi_snapshot_preview1::no_such_call",
        "hint: --trap-unknown-imports runs it anyway; calls to these imports trap",
    ]
    r = run("--trap-unknown-imports", app)
    assert (r.returncode, r.stdout) == (0, b"ok\n")
    r = run("--trap-unknown-imports", "--invoke", "call_it", app)
    assert r.returncode == 134
    assert b"env::foo" in r.stderr


def test_invoke_prints_plain_numbers(tmp_path: Path) -> None:
    app = write(tmp_path, "calc.wat", g.CALC)
    cases = [
        (["--invoke", "add(40, 2)", app], b"42\n"),
        (["--invoke", "add", app, "40", "2"], b"42\n"),
        (["--invoke", "add(0xffffffff, 0)", app], b"-1\n"),
        (["--invoke", "mul64(-3, 1099511627776)", app], b"-3298534883328\n"),
        (["--invoke", "half(3)", app], b"1.5\n"),
        (["--invoke", "half(2)", app], b"1\n"),
        (["--invoke", "half(-0)", app], b"-0\n"),
        (["--invoke", "half(1e300)", app], b"5" + b"0" * 299 + b"\n"),
        (["--invoke", "half(inf)", app], b"inf\n"),
        (["--invoke", "half(nan)", app], b"NaN\n"),
        (["--invoke", "halff(0.1)", app], b"0.05\n"),
        (["--invoke", "pair()", app], b"-1\n0.25\n"),
        (["--invoke", "none", app], b""),
    ]
    for argv, expected in cases:
        r = run(*argv)
        assert (r.returncode, r.stdout) == (0, expected), (argv, r.stderr)


def test_invoke_errors_are_one_line(tmp_path: Path) -> None:
    app = write(tmp_path, "calc.wat", g.CALC)
    cases = [
        (["--invoke", "add(x, 1)", app], "error: --invoke: 'x' is not an i32"),
        (["--invoke", "add(1)", app], "error: --invoke: `add` takes 2 arguments, 1 given"),
        (["--invoke", "add(4294967296, 1)", app], "error: --invoke: '4294967296' is out of range for i32"),
        (["--invoke", "nope", app], f"error: --invoke: {app} exports no function `nope`"),
        (["--invoke", "ref(0)", app], "error: --invoke: a externref value cannot be given on the command line"),
        (["--invoke", "add(1, 2", app], "error: --invoke: 'add(1, 2': expected NAME(ARG, ...)"),
    ]  # fmt: skip
    for argv, line in cases:
        r = run(*argv)
        assert (r.returncode, r.stderr.decode().splitlines()) == (1, [line]), argv
    r = run("--invoke", "boom", app)
    assert r.returncode == 134
    assert r.stderr.decode().startswith("error: wasm trap in `boom`: ")


def test_invoke_of_a_reactor_runs_initialize_first(tmp_path: Path) -> None:
    app = write(tmp_path, "reactor.wat", g.REACTOR)
    assert run("--invoke", "get", app).stdout == b"41\n"
    assert run("--invoke", "bump(1)", app).stdout == b"42\n"
    assert run("--invoke", "leave(5)", app).returncode == 5


def test_module_only_and_component_only_flags(tmp_path: Path) -> None:
    r = run("-S", "http", write(tmp_path, "echo.wat", g.ECHO))
    assert r.returncode == 1
    assert r.stderr.decode().splitlines() == [
        f"error: -S http applies to components (wasi:http); {tmp_path / 'echo.wat'} is a core module"
    ]
    # --invoke takes both kinds: on a component, its WAVE form looks up the export
    comp = write(tmp_path, "comp.wat", g.COMPONENT)
    r = run("--invoke", "add(1, 2)", comp)
    assert r.returncode == 1
    assert r.stderr.decode().splitlines() == [
        "error: --invoke 'add(1, 2)': no exported function `add` "
        "(the component exports: `wasi:cli/run.run@0.3.0`)"
    ]


def test_invalid_module_is_one_error(tmp_path: Path) -> None:
    r = run(write(tmp_path, "bad.wat", '(module (func (export "_start") (i32.const 1)))'))
    assert r.returncode == 1
    assert r.stderr.decode().startswith(f"error: {tmp_path / 'bad.wat'}: ")


# --- a C program -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def c_program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    clang = shutil.which("clang")
    if clang is None:
        pytest.skip("clang is not installed (apt-get install clang lld wasi-libc)")
    d = tmp_path_factory.mktemp("c")
    (d / "prog.c").write_text(g.C_PROGRAM)
    built = subprocess.run(
        [clang, "--target=wasm32-wasi", "-O1", "-o", str(d / "prog.wasm"), str(d / "prog.c")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if built.returncode != 0:
        pytest.skip(f"clang cannot build for wasm32-wasi here: {built.stderr.strip()[:200]}")
    return d / "prog.wasm"


def test_c_program_args_env_files_and_exit(tmp_path: Path, c_program: Path) -> None:
    (tmp_path / "in.txt").write_bytes(b"hello, wasi\n")
    r = run("--env", "GREETING=hi", "--dir", f"{tmp_path}::/data", str(c_program), "x", "y z")
    assert r.returncode == 7, r.stderr
    assert r.stdout == b"arg 0: prog.wasm\narg 1: x\narg 2: y z\nGREETING=hi\n"
    assert r.stderr == b"done\n"
    assert (tmp_path / "out.txt").read_bytes() == b"HELLO, WASI\n"


def test_c_program_readonly_dir(tmp_path: Path, c_program: Path) -> None:
    (tmp_path / "in.txt").write_bytes(b"x")
    r = run("--dir", f"{tmp_path}::/data:ro", str(c_program))
    assert r.returncode == 3
    assert r.stderr == b"open out.txt: Operation not permitted\n"
    assert not (tmp_path / "out.txt").exists()


def test_sigint_stops_a_looping_module(tmp_path: Path) -> None:
    import signal
    import time

    env = dict(os.environ)
    env.setdefault("WASMLOOM_CACHE_DIR", str(Path(__file__).parent / ".cache" / "compile"))
    app = write(tmp_path, "loop.wat", g.LOOP)
    p = subprocess.Popen(
        [sys.executable, "-m", "wasmloom", "run", app], stderr=subprocess.PIPE, env=env
    )
    time.sleep(1.0)
    p.send_signal(signal.SIGINT)
    try:
        _, err = p.communicate(timeout=20)
    finally:
        p.kill()
    assert (p.returncode, err) == (130, b"error: interrupted (SIGINT)\n")


# --- compile ---------------------------------------------------------------------------


def _compile(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "wasmloom", "compile", *args],
        capture_output=True, timeout=120, env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_compile_a_module_to_an_artifact_then_run_it(tmp_path: Path) -> None:
    """`wasmloom compile` takes a core module too: its artifact runs as the module does,
    with nothing compiled again; a component's artifact is not taken for a module's."""
    app = write(tmp_path, "out.wat", g.output(3, 5))
    art = tmp_path / "out.cwasm"
    r = _compile(app, "-o", str(art))
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")
    empty = tmp_path / "empty-cache"
    r = subprocess.run(
        [sys.executable, "-m", "wasmloom", "run", str(art)],
        capture_output=True, timeout=120, env={**os.environ, "WASMLOOM_CACHE_DIR": str(empty)},
    )  # fmt: skip
    assert (r.returncode, r.stdout, r.stderr) == (5, ALL_BYTES * 3, b"err\xff\0")
    assert not any(empty.rglob("*.cwasm")), "an artifact's module is not compiled again"
    calc = tmp_path / "calc.cwasm"
    assert _compile(write(tmp_path, "calc.wat", g.CALC), "-o", str(calc)).returncode == 0
    r = run("--invoke", "add(40, 2)", str(calc))
    assert (r.returncode, r.stdout) == (0, b"42\n")
    data = art.read_bytes()
    (tmp_path / "bad.cwasm").write_bytes(data[:-9] + bytes([data[-9] ^ 1]) + data[-8:])
    r = run(str(tmp_path / "bad.cwasm"))
    assert r.returncode == 1
    assert r.stderr.decode().splitlines() == [
        f"error: {tmp_path / 'bad.cwasm'}: {tmp_path / 'bad.cwasm'} is damaged or was modified "
        "(its checksum does not match)"
    ]


def test_compile_a_module_into_the_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    r = _compile(write(tmp_path, "calc.wat", g.CALC), env={"WASMLOOM_CACHE_DIR": str(cache)})
    assert (r.returncode, r.stderr) == (0, b"")
    assert len(list(cache.rglob("*.cwasm"))) == 1
