"""wasmloom.core fibers: CoreFunc.call_async / CoreCall, Blocked, async_host_func.

Guests are real core modules written in WAT. The three process-level hazards
(abort, interpreter corruption, use after free) are each exercised in a
subprocess, so a missing guard shows as a failed test, not a dead pytest.

The stores here tick once an hour: a call on a fiber yields at an epoch tick
(time-slicing, tested in test_preemption.py), which would make "completes at
once" depend on how busy the machine is.
"""

from __future__ import annotations

import gc
import itertools
import os
import random
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import pytest
import wasmtime

from wasmloom import Trap, WasmloomError
from wasmloom.core import (
    NESTED_BLOCK_MESSAGE,
    START_BLOCK_MESSAGE,
    SYNC_BLOCK_MESSAGE,
    Blocked,
    CoreCall,
    CoreInstance,
    CoreStore,
    Engine,
    async_host_func,
    compile_module,
    host_func,
    instantiate,
)
from wasmloom.types import CoreFuncType

#: No epoch tick comes during a test (see the module docstring).
ENGINE = Engine(epoch_tick=3600.0)
NO_TICK = {**os.environ, "WASMLOOM_EPOCH_TICK": "3600"}

GUEST = """
(module
  (import "h" "w32" (func $w32 (param i32) (result i32)))
  (import "h" "w64" (func $w64 (param i64) (result i64)))
  (import "h" "wf32" (func $wf32 (param f32) (result f32)))
  (import "h" "wf64" (func $wf64 (param f64) (result f64)))
  (import "h" "sync" (func $sync (param i32) (result i32)))
  (memory (export "mem") 1)
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "w32") (param i32) (result i32) (i32.add (call $w32 (local.get 0)) (i32.const 1)))
  (func (export "w64") (param i64) (result i64) (i64.mul (call $w64 (local.get 0)) (i64.const 3)))
  (func (export "wf32") (param f32) (result f32)
    (f32.add (call $wf32 (local.get 0)) (f32.const 0.5)))
  (func (export "wf64") (param f64) (result f64)
    (f64.mul (call $wf64 (local.get 0)) (f64.const 2)))
  (func (export "two") (param i32) (result i32 i64)
    (call $w32 (local.get 0)) (i64.const -1))
  (func $rec (export "rec") (param i32 i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (call $w32 (local.get 1)))
      (else (i32.add (call $rec (i32.sub (local.get 0) (i32.const 1)) (local.get 1))
                     (i32.const 1)))))
  (func (export "trap_after") (param i32) (result i32)
    (drop (call $w32 (local.get 0))) unreachable)
  (func (export "nested") (param i32) (result i32)
    (i32.add (call $sync (local.get 0)) (call $w32 (local.get 0))))
  (func (export "realloc") (param i32) (result i32)
    (i32.store (i32.const 16) (local.get 0)) (i32.mul (local.get 0) (i32.const 2)))
  (func (export "sync_only") (param i32) (result i32) (call $sync (local.get 0)))
)
"""

I32 = CoreFuncType(("i32",), ("i32",))


def finish_value(k: int) -> int:
    return (k * 10 + 7) & 0xFFFFFFFF


class Host:
    """The guest's imports: each w* import blocks until its key is released."""

    def __init__(self, store: CoreStore) -> None:
        self.store = store
        self.released: set[float] = set()
        self.immediate: set[float] = set()
        self.raise_in: dict[float, BaseException] = {}
        self.polls = 0
        self.realloc: Callable[..., Any] | None = None

    def waiter(self, result: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def fn(k: Any) -> Any:
            if k in self.immediate:
                return result(k)

            def ready() -> bool:
                self.polls += 1
                return k in self.released

            def finish() -> Any:
                exc = self.raise_in.get(k)
                if exc is not None:
                    raise exc
                return result(k)

            return Blocked(ready, finish)

        return fn

    def sync(self, x: int) -> int:
        assert self.realloc is not None
        return int(self.realloc(x)) + 1  # a nested sync call, realloc-style

    def imports(self) -> list[Any]:
        s = self.store
        return [
            async_host_func(s, I32, self.waiter(finish_value)),
            async_host_func(s, CoreFuncType(("i64",), ("i64",)), self.waiter(lambda k: k * 10 + 7)),
            async_host_func(s, CoreFuncType(("f32",), ("f32",)), self.waiter(lambda k: k * 4)),
            async_host_func(s, CoreFuncType(("f64",), ("f64",)), self.waiter(lambda k: k / 4)),
            host_func(s, I32, self.sync),
        ]


def setup() -> tuple[CoreStore, Host, CoreInstance]:
    store = CoreStore(ENGINE)
    host = Host(store)
    module = compile_module(ENGINE, wasmtime.wat2wasm(GUEST))
    inst = instantiate(store, module, host.imports())
    host.realloc = inst.func("realloc").caller()
    return store, host, inst


def run_isolated(code: str) -> str:
    """Run ``code`` in a fresh interpreter; fail (not crash) if the process dies."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env=NO_TICK,
    )
    assert proc.returncode == 0, f"subprocess died ({proc.returncode}): {proc.stderr[-2000:]}"
    return proc.stdout


# --- basics ------------------------------------------------------------------------------


def test_call_async_without_blocking() -> None:
    store, _host, inst = setup()
    assert store.async_only
    call = inst.func("add").call_async(-1, 5)
    assert isinstance(call, CoreCall) and not call.done and call.result is None
    assert call.poll() is True
    assert call.result == 4 and call.done
    assert call.poll() is True  # idempotent after completion
    call.close()
    call.close()
    assert call.result == 4
    with pytest.raises(TypeError):
        inst.func("add").call_async(1)


def test_immediate_results_and_every_value_type() -> None:
    _store, host, inst = setup()
    host.immediate |= {5, 2**40, 1.25, 0.75}
    for name, arg, expected in [
        ("w32", 5, 58),
        ("w64", 2**40, ((2**40 * 10 + 7) * 3) % 2**64),
        ("wf32", 1.25, 5.5),
        ("wf64", 0.75, 0.375),
    ]:
        call = inst.func(name).call_async(arg)
        assert call.poll() is True
        assert call.result == expected, name
    call = inst.func("two").call_async(5)
    assert call.poll() and call.result == (57, 2**64 - 1)


def test_several_paused_calls_per_store_every_value_type() -> None:
    """Regression test for undocumented wasmtime behaviour: many paused futures per store."""
    for order in ("fifo", "lifo", "random"):
        store, host, inst = setup()
        rng = random.Random(order)
        started: list[tuple[CoreCall, float, Any]] = []
        for i in range(1, 9):
            for name, key, expected in [
                ("w32", i, finish_value(i) + 1),
                ("w64", 1000 + i, ((1000 + i) * 10 + 7) * 3),
                ("wf32", i + 0.25, (i + 0.25) * 4 + 0.5),
                ("wf64", i + 0.5, (i + 0.5) / 4 * 2),
            ]:
                call = inst.func(name).call_async(key)
                assert call.poll() is False
                started.append((call, key, expected))
        for call, _, _ in started:  # nothing released: still paused
            assert call.poll() is False
        if order == "lifo":
            started.reverse()
        elif order == "random":
            rng.shuffle(started)
        for call, key, expected in started:
            host.released.add(key)
            assert call.poll() is True
            assert call.result == expected
        assert not store.wasmtime.futures


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_pause_at_various_depths_resume_in_any_order(order: tuple[int, ...]) -> None:
    _store, host, inst = setup()
    rec = inst.func("rec")
    depths = [10, 1000, 5000]
    calls = [rec.call_async(d, 100 + i) for i, d in enumerate(depths)]
    assert [c.poll() for c in calls] == [False] * 3
    for i in order:
        host.released.add(100 + i)
        assert calls[i].poll() is True
        assert calls[i].result == finish_value(100 + i) + depths[i]


def test_trap_in_resumed_call_and_store_stays_usable() -> None:
    _store, host, inst = setup()
    call = inst.func("trap_after").call_async(3)
    other = inst.func("w32").call_async(4)
    assert call.poll() is False and other.poll() is False
    host.released |= {3, 4}
    with pytest.raises(Trap, match="unreachable"):
        call.poll()
    assert call.closed
    with pytest.raises(WasmloomError, match="closed"):
        call.poll()
    assert other.poll() and other.result == finish_value(4) + 1
    assert inst.func("add").caller()(2, 3) == 5


def test_host_exceptions_are_reraised_from_poll() -> None:
    store, host, inst = setup()
    w32 = inst.func("w32")
    error = ValueError("boom")
    host.raise_in[1] = error
    host.released.add(1)
    call = w32.call_async(1)
    with pytest.raises(ValueError) as info:
        call.poll()
    assert info.value is error
    trap = Trap("custom trap text")
    host.raise_in[2] = trap
    call = w32.call_async(2)
    assert call.poll() is False
    host.released.add(2)
    with pytest.raises(Trap) as tinfo:
        call.poll()
    assert tinfo.value is trap and trap.message == "custom trap text"
    assert store.pending is None

    def bad(x: int) -> Any:
        raise KeyError(x)

    s2 = CoreStore(ENGINE)
    f = async_host_func(s2, I32, bad)
    with pytest.raises(KeyError):
        c = f.call_async(1)
        c.poll()

    def wrong(x: int) -> Any:
        return "not an int"

    f = async_host_func(s2, I32, wrong)
    with pytest.raises(TypeError):
        f.call_async(1).poll()

    def bad_ready(x: int) -> Any:
        return Blocked(lambda: 1 / 0 > 0, lambda: 1)

    f = async_host_func(s2, I32, bad_ready)
    with pytest.raises(ZeroDivisionError):
        f.call_async(1).poll()
    g = async_host_func(s2, I32, lambda x: x + 1)
    c = g.call_async(41)
    assert c.poll() and c.result == 42


def test_close_paused_calls_10k_cycles_without_leak() -> None:
    from wasmloom import core

    store, host, inst = setup()
    w32 = inst.func("w32")
    before = len(core._suspension_owners)
    for i in range(10_000):
        call = w32.call_async(i)
        assert call.poll() is False
        call.close()
        assert call.closed
    assert len(core._suspension_owners) == before
    assert not store._suspensions
    assert not store.wasmtime.futures
    host.immediate.add(7)
    call = w32.call_async(7)
    assert call.poll() and call.result == finish_value(7) + 1
    assert inst.func("add").caller()(1, 1) == 2


def test_store_close_closes_paused_calls() -> None:
    store, host, inst = setup()
    calls = [inst.func("w32").call_async(i) for i in range(5)]
    assert not any(c.poll() for c in calls)
    store.close()
    assert all(c.closed for c in calls)
    for c in calls:
        with pytest.raises(WasmloomError, match="closed"):
            c.poll()
        c.close()
    host.immediate.add(9)
    c = inst.func("w32").call_async(9)
    assert c.poll() and c.result == finish_value(9) + 1


def test_mixing_caller_and_call_async_in_an_async_only_store() -> None:
    _store, host, inst = setup()
    add = inst.func("add").caller()
    nested = inst.func("nested")
    assert add(1, 2) == 3
    assert inst.func("sync_only").caller()(5) == 11  # sync host func -> nested realloc
    call = nested.call_async(6)
    assert call.poll() is False
    assert add(3, 4) == 7  # a sync call while a call is paused
    assert inst.memory("mem").view()[16] == 6
    host.released.add(6)
    assert call.poll() and call.result == 13 + finish_value(6)
    # a plain host function may start and finish another call from inside a fiber
    s2 = CoreStore(ENGINE)
    h2 = Host(s2)
    module = compile_module(ENGINE, wasmtime.wat2wasm(GUEST))
    imports = h2.imports()
    inner_calls: list[Any] = []

    def spawn(x: int) -> int:
        c = inst.func("w32").call_async(x)  # another store's fiber, polled here
        host.immediate.add(x)
        assert c.poll()
        inner_calls.append(c.result)
        return x

    imports[4] = host_func(s2, I32, spawn)
    i2 = instantiate(s2, module, imports)
    c2 = i2.func("nested").call_async(8)
    h2.released.add(8)
    assert c2.poll() is True
    assert c2.result == 8 + finish_value(8)
    assert inner_calls == [finish_value(8) + 1]


def test_guard_messages_in_process() -> None:
    _store, host, inst = setup()
    with pytest.raises(Trap) as info:
        inst.func("w32").caller()(1)
    assert info.value.message == SYNC_BLOCK_MESSAGE
    # a blocking import under a Python host frame on the fiber traps, fn is not run
    calls_before = host.polls
    host.realloc = inst.func("w32").caller()
    call = inst.func("sync_only").call_async(3)
    with pytest.raises(Trap) as info:
        call.poll()
    assert info.value.message == NESTED_BLOCK_MESSAGE
    assert host.polls == calls_before


def test_reentrant_poll_and_close_are_refused() -> None:
    store = CoreStore(ENGINE)
    holder: dict[str, CoreCall] = {}
    seen: list[str] = []

    def fn(x: int) -> Any:
        for op in (holder["c"].poll, holder["c"].close, store.close):
            try:
                op()
            except WasmloomError as e:
                seen.append(str(e))
        return x

    f = async_host_func(store, I32, fn)
    holder["c"] = c = f.call_async(1)
    assert c.poll() and c.result == 1
    assert len(seen) == 3 and "running" in seen[0] and "running" in seen[1]


# --- instantiation ------------------------------------------------------------------------

START = """
(module
  (import "h" "f" (func $f (param i32) (result i32)))
  (import "h" "s" (func $s (param i32) (result i32)))
  (global $g (mut i32) (i32.const 0))
  (func $start (global.set $g (call $IMPORT (i32.const 4))))
  (start $start)
  (func (export "g") (result i32) (global.get $g))
)
"""


def test_start_function_cannot_block() -> None:
    store = CoreStore(ENGINE)
    f = async_host_func(store, I32, lambda x: Blocked(lambda: True, lambda: x))
    s = host_func(store, I32, lambda x: x * 3)
    module = compile_module(ENGINE, wasmtime.wat2wasm(START.replace("IMPORT", "f")))
    with pytest.raises(Trap) as info:
        instantiate(store, module, [f, s])
    assert info.value.message == START_BLOCK_MESSAGE
    module = compile_module(ENGINE, wasmtime.wat2wasm(START.replace("IMPORT", "s")))
    inst = instantiate(store, module, [f, s])  # async-only store, non-blocking start
    assert inst.func("g").caller()() == 12
    c = inst.func("g").call_async()
    assert c.poll() and c.result == 12


def test_async_only_instantiation_links_by_name() -> None:
    store = CoreStore(ENGINE)
    f = async_host_func(store, I32, lambda x: x + 1)
    g = async_host_func(store, I32, lambda x: x + 2)
    wat = """(module (import "h" "f" (func $a (param i32) (result i32)))
                     (import "h" "f" (func $b (param i32) (result i32)))
                     (func (export "x") (param i32) (result i32)
                       (call $b (call $a (local.get 0)))))"""
    module = compile_module(ENGINE, wasmtime.wat2wasm(wat))
    inst = instantiate(store, module, [f, f])
    c = inst.func("x").call_async(1)
    assert c.poll() and c.result == 3
    from wasmloom import LinkError

    with pytest.raises(LinkError, match="imported twice"):
        instantiate(store, module, [f, g])
    with pytest.raises(LinkError):
        instantiate(store, module, [f])


# --- random operations --------------------------------------------------------------------


def test_random_operations_give_no_wrong_results() -> None:
    store, host, inst = setup()
    rng = random.Random(1234)
    funcs = {n: inst.func(n) for n in ("w32", "w64", "nested", "rec", "trap_after")}
    realloc = inst.func("realloc").caller()
    live: dict[int, tuple[CoreCall, Any]] = {}
    keys = itertools.count(1)
    wrong = 0
    checked = 0
    wrong_cases: list[Any] = []
    for _ in range(2500):
        op = rng.random()
        if op < 0.3 or not live:
            k = next(keys)
            kind = rng.choice(list(funcs))
            expected: Any
            if kind == "w32":
                call, expected = funcs[kind].call_async(k), finish_value(k) + 1
            elif kind == "w64":
                call, expected = funcs[kind].call_async(k), (k * 10 + 7) * 3
            elif kind == "nested":
                call, expected = funcs[kind].call_async(k), 2 * k + 1 + finish_value(k)
            elif kind == "rec":
                d = rng.randrange(0, 200)
                call, expected = funcs[kind].call_async(d, k), finish_value(k) + d
            else:
                call, expected = funcs[kind].call_async(k), Trap
            if rng.random() < 0.2:
                host.immediate.add(k)  # returns at once; finish() is never called
            elif rng.random() < 0.1:
                host.raise_in[k] = expected = RuntimeError(k)
            live[k] = (call, expected)
        elif op < 0.5:
            host.released.add(rng.choice(list(live)))
        elif op < 0.85:
            k = rng.choice(list(live))
            call, expected = live[k]
            try:
                done = call.poll()
            except Trap as e:
                done = True
                ok = expected is Trap or e is expected
                if not ok:
                    wrong_cases.append((k, call, e, expected))
                wrong += not ok
                checked += 1
                del live[k]
            except RuntimeError as e:
                done = True
                wrong += e is not expected
                if e is not expected:
                    wrong_cases.append((k, call, e, expected))
                checked += 1
                del live[k]
            else:
                if done:
                    if call.result != expected:
                        wrong_cases.append((k, call, call.result, expected))
                    wrong += call.result != expected
                    checked += 1
                    del live[k]
                elif k in host.released and k not in host.raise_in:
                    wrong_cases.append((k, call, "not finished", expected))
                    wrong += 1  # released but did not finish
        elif op < 0.95:
            k = rng.choice(list(live))
            live.pop(k)[0].close()
        else:
            x = rng.randrange(1 << 20)
            wrong += realloc(x) != 2 * x
            checked += 1
    for call, _ in live.values():
        call.close()
    assert wrong == 0, wrong_cases
    assert checked > 300
    assert not store.wasmtime.futures
    gc.collect()


# --- the three hazards, each in its own process ------------------------------------------

PRELUDE = """
import gc, wasmtime
from wasmloom import Trap, WasmloomError
from wasmloom.core import *
from wasmloom.types import CoreFuncType
I32 = CoreFuncType(("i32",), ("i32",))
WAT = '''(module
  (import "h" "block" (func $b (param i32) (result i32)))
  (import "h" "sync" (func $s (param i32) (result i32)))
  (func (export "inner") (param i32) (result i32) (call $b (local.get 0)))
  (func (export "outer") (param i32) (result i32) (i32.add (call $s (local.get 0)) (i32.const 1))))'''
def make(store, sync=lambda x: x):
    gate = {"open": False}
    b = async_host_func(store, I32, lambda x: Blocked(lambda: gate["open"], lambda: x * 2))
    s = host_func(store, I32, sync)
    inst = instantiate(store, compile_module(default_engine(), wasmtime.wat2wasm(WAT)), [b, s])
    return gate, inst
"""


def test_hazard_sync_call_reaching_async_import_traps_instead_of_aborting() -> None:
    out = run_isolated(
        PRELUDE
        + """
store = CoreStore()
gate, inst = make(store)
for f in (inst.func("inner").caller(), inst.func("inner").call):
    try:
        f(1)
    except Trap as e:
        print("trap:", e.message)
# the same through a table (call_indirect) and through another instance's import
wat2 = '''(module (import "h" "b" (func $b (param i32) (result i32)))
  (table 1 funcref) (elem (i32.const 0) $b) (type $t (func (param i32) (result i32)))
  (func (export "ind") (param i32) (result i32) (call_indirect (type $t) (local.get 0) (i32.const 0))))'''
i2 = instantiate(store, compile_module(default_engine(), wasmtime.wat2wasm(wat2)), [inst.func("inner")])
try:
    i2.func("ind").caller()(3)
except Trap as e:
    print("trap:", e.message)
c = i2.func("ind").call_async(3); print(c.poll()); gate["open"] = True; print(c.poll(), c.result)
print("alive")
"""
    )
    assert out.count("trap: " + SYNC_BLOCK_MESSAGE) == 3
    assert out.endswith("False\nTrue 6\nalive\n")


def test_hazard_pausing_with_python_frames_on_the_fiber_traps() -> None:
    out = run_isolated(
        PRELUDE
        + """
store = CoreStore()
holder = {}
gate, inst = make(store, sync=lambda x: holder["inner"](x) + 10)
holder["inner"] = inst.func("inner").caller()
c = inst.func("outer").call_async(5)
try:
    print("poll", c.poll())
except Trap as e:
    print("trap:", e.message)
def deep(k): return 0 if k == 0 else 1 + deep(k - 1)
print(deep(200))
gate["open"] = True
c = inst.func("inner").call_async(5); print(c.poll(), c.result)
print("alive")
"""
    )
    assert out == f"trap: {NESTED_BLOCK_MESSAGE}\n200\nTrue 10\nalive\n"


def test_hazard_dropping_a_store_with_paused_calls() -> None:
    out = run_isolated(
        PRELUDE
        + """
# 1. explicit close of the wasmtime store while calls are paused
store = CoreStore()
gate, inst = make(store)
calls = [inst.func("inner").call_async(i) for i in range(3)]
print([c.poll() for c in calls])
store.wasmtime.close()
for c in calls:
    c.close()
    try:
        c.poll()
    except WasmloomError as e:
        print("inert:", e)
# 2. a garbage cycle holding the store and its paused calls
for _ in range(20):
    store = CoreStore()
    gate, inst = make(store)
    calls = [inst.func("inner").call_async(i) for i in range(3)]
    [c.poll() for c in calls]
    cycle = [store, calls, inst, gate]
    cycle.append(cycle)
    gate["cycle"] = cycle
    del store, calls, inst, gate, cycle
    gc.collect()
# 3. plain drop, CoreStore.close() first
store = CoreStore()
gate, inst = make(store)
c = inst.func("inner").call_async(1); c.poll()
store.close()
print(c.closed)
del store, inst, gate, c
gc.collect()
from wasmloom import core
print(len(core._suspension_owners))  # every paused call above was collected and unwound
print("alive")
"""
    )
    assert out.startswith("[False, False, False]\n")
    assert out.count("inert: CoreCall.poll: the call was closed") == 3
    assert out.endswith("True\n0\nalive\n")
