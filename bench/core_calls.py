"""Core call costs: wasmtime-py's ``Func`` against wasmloom.core, in one run.

Run: ``python bench/core_calls.py``. Prints the median per-call cost (µs) of
repeated timing rounds for:

- calling an exported ``add(i32, i32) -> i32`` from Python;
- a guest loop calling a host import ``i32 -> i32`` (cost per host call,
  including the guest's loop, which is negligible);
- fibers (in a second, async-only store): ``call_async`` + one ``poll`` +
  ``close`` of ``add``; a call that pauses once in an async host function and
  is resumed; each extra ``poll`` of a paused call that makes no progress;
  ``caller()`` of ``add`` in the async-only store.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import wasmtime

from wasmloom.core import (
    Blocked,
    CoreStore,
    async_host_func,
    compile_module,
    default_engine,
    host_func,
    instantiate,
)
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

ASYNC_WAT = """
(module
  (import "h" "wait" (func $wait (param i32) (result i32)))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "wait") (param i32) (result i32) (call $wait (local.get 0)))
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
        *fiber_rows(),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'call':<{width}}  median µs/call")
    print("-" * (width + 16))
    for name, us in rows:
        print(f"{name:<{width}}  {us:8.3f}")


def fiber_rows() -> list[tuple[str, float]]:
    """Costs of wasmloom.core's fibers, in a store made async-only by an async import."""
    engine = default_engine()
    store = CoreStore(engine)
    state = {"ready": False}

    def wait(x: int) -> Blocked:  # x == 0: never ready
        return Blocked(lambda: x != 0 and state["ready"], lambda: x + 1)

    wait_f = async_host_func(store, CoreFuncType(("i32",), ("i32",)), wait)
    inst = instantiate(store, compile_module(engine, wasmtime.wat2wasm(ASYNC_WAT)), [wait_f])
    add = inst.func("add")
    wait_export = inst.func("wait")
    add_caller = add.caller()

    def one_poll(n: int) -> None:
        for _ in range(n):
            call = add.call_async(1, 2)
            call.poll()
            call.close()

    def pause_resume(n: int) -> None:
        for _ in range(n):
            state["ready"] = False
            call = wait_export.call_async(1)
            call.poll()
            state["ready"] = True
            call.poll()
            call.close()

    paused = wait_export.call_async(0)
    assert paused.poll() is False

    def idle_poll(n: int) -> None:
        poll = paused.poll
        for _ in range(n):
            poll()

    def sync_add(n: int) -> None:
        for _ in range(n):
            add_caller(1, 2)

    rows = [
        ("add, call_async + 1 poll + close", median_us(one_poll, 20_000)),
        ("call pausing once in an async import, resumed", median_us(pause_resume, 10_000)),
        ("each extra poll of a paused call (no progress)", median_us(idle_poll, 50_000)),
        ("add, caller() in an async-only store", median_us(sync_add, 200_000)),
    ]
    paused.close()
    return rows


if __name__ == "__main__":
    main()
