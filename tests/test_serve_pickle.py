"""Pickled components: a compiled component shipped to worker processes
(``ProcessPoolExecutor``, spawned) runs there without being compiled again."""

from __future__ import annotations

import multiprocessing
import pickle
import time
from concurrent.futures import ProcessPoolExecutor

import pytest

from wasmloom import Component, Store, core
from wasmloom.host.linker import Linker

# an outer component with a nested one, each with its own core module
_WAT = """
(component
  (component $inner
    (core module $m (func (export "mul") (param i32 i32) (result i32)
      local.get 0 local.get 1 i32.mul))
    (core instance $i (instantiate $m))
    (func (export "mul") (param "a" u32) (param "b" u32) (result u32)
      (canon lift (core func $i "mul"))))
  (instance $n (instantiate $inner))
  (core module $m (func (export "add") (param i32 i32) (result i32)
    local.get 0 local.get 1 i32.add))
  (core instance $i (instantiate $m))
  (func (export "add") (param "a" u32) (param "b" u32) (result u32)
    (canon lift (core func $i "add")))
  (export "mul" (func $n "mul"))
)
"""


def _run(component: Component, a: int, b: int) -> tuple[int, int, float, bool]:
    """In the worker: instantiate and call; whether a compile happened there."""
    t = time.perf_counter()
    store: Store[None] = Store(component.engine)
    inst = Linker().instantiate(store, component)
    add, mul = inst.get_func("add"), inst.get_func("mul")
    assert add is not None and mul is not None
    return (
        add(store, a, b),
        mul(store, a, b),
        time.perf_counter() - t,
        (component.engine is core.default_engine()),
    )


def test_a_pickled_component_runs_in_process_pool_workers() -> None:
    component = Component.from_bytes(_WAT)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=ctx) as pool:
        results = list(pool.map(_run, [component] * 4, range(4), [10] * 4))
    assert [(r[0], r[1]) for r in results] == [(a + 10, a * 10) for a in range(4)]
    assert all(r[3] for r in results)  # the default engine, there as here


def test_the_pickle_carries_compiled_code_and_engine_settings() -> None:
    engine = core.Engine(consume_fuel=True, epoch_tick=0.5)
    component = Component.from_bytes(_WAT, engine)
    data = pickle.dumps(component)
    n = len(component.definition.compiled)
    assert n == 2 and len(data) > 2 * 1000  # two native artifacts, not just the wasm
    back = pickle.loads(data)
    assert back.export_names() == component.export_names()
    assert back.engine.consume_fuel and back.engine.epoch_tick == 0.5
    assert pickle.loads(data).engine is back.engine  # one engine per settings and process
    store: Store[None] = Store(back.engine, fuel=10_000)
    add = Linker().instantiate(store, back).get_func("add")
    assert add is not None and add(store, 2, 3) == 5


def test_a_mismatched_pickle_is_refused() -> None:
    component = Component.from_bytes(_WAT)
    fn, (tree, artifacts, settings) = component.__reduce__()
    with pytest.raises(ValueError, match="artifacts"):
        fn(tree, artifacts[:1], settings)
