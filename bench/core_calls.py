"""Core call costs: wasmtime-py's ``Func`` against wasmloom.core, in one run.

Run: ``python bench/core_calls.py``. Prints the median per-call cost (µs) of
repeated timing rounds for:

- calling an exported ``add(i32, i32) -> i32`` from Python;
- a guest loop calling a host import ``i32 -> i32`` (cost per host call,
  including the guest's loop, which is negligible).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import wasmtime

from wasmloom.core import CoreStore, compile_module, default_engine, host_func, instantiate
from wasmloom.types import CoreFuncType

WAT = """
(module
  (import "h" "f" (func $f (param i32) (result i32)))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "loop") (param i32)
    (block (loop
      (br_if 1 (i32.eqz (local.get 0)))
      (drop (call $f (local.get 0)))
      (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
      (br 0))))
)
"""

ROUNDS = 9


def median_us(run: Callable[[int], None], n: int) -> float:
    """Median over ROUNDS of the per-iteration cost of ``run(n)``, in µs."""
    times = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        run(n)
        times.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(times)


def main() -> None:
    engine = default_engine()
    wasm = wasmtime.wat2wasm(WAT)

    # wasmtime-py, as a user of its public API would write it
    wt_store = wasmtime.Store(engine.wasmtime)
    wt_module = wasmtime.Module(engine.wasmtime, wasm)
    ity = wasmtime.FuncType([wasmtime.ValType.i32()], [wasmtime.ValType.i32()])
    wt_host = wasmtime.Func(wt_store, ity, lambda x: x + 1)
    wt_inst = wasmtime.Instance(wt_store, wt_module, [wt_host])
    wt_exports = wt_inst.exports(wt_store)
    wt_add = wt_exports["add"]
    wt_loop = wt_exports["loop"]

    # wasmloom.core
    store = CoreStore(engine)
    host = host_func(store, CoreFuncType(("i32",), ("i32",)), lambda x: x + 1)
    inst = instantiate(store, compile_module(engine, wasm), [host])
    add = inst.func("add").caller()
    loop = inst.func("loop").caller()

    assert wt_add(wt_store, 2, 3) == add(2, 3) == 5

    def wt_add_run(n: int) -> None:
        for _ in range(n):
            wt_add(wt_store, 1, 2)

    def add_run(n: int) -> None:
        for _ in range(n):
            add(1, 2)

    def empty_run(n: int) -> None:
        for _ in range(n):
            pass

    rows = [
        ("add(i32,i32)->i32, wasmtime-py Func.__call__", median_us(wt_add_run, 20_000)),
        ("add(i32,i32)->i32, wasmloom caller()", median_us(add_run, 200_000)),
        (
            "host import i32->i32, wasmtime-py Func",
            median_us(lambda n: wt_loop(wt_store, n), 20_000),
        ),
        ("host import i32->i32, wasmloom host_func", median_us(loop, 200_000)),
        ("(empty Python loop iteration, for reference)", median_us(empty_run, 200_000)),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'call':<{width}}  median µs/call")
    print("-" * (width + 16))
    for name, us in rows:
        print(f"{name:<{width}}  {us:8.3f}")


if __name__ == "__main__":
    main()
