"""No leaks in the async ABI: many async calls and streams leave no handles,
threads or waiting state behind, and resident memory stays where it was.

Default counts keep the suite fast; ``WASMLOOM_FULL_LEAK_TEST=1`` runs the
acceptance counts (100,000 async calls, 10,000 streams created and dropped).
"""

from __future__ import annotations

import asyncio
import gc
import os
from pathlib import Path
from typing import Any

from wasmloom import Component, Linker, Store
from wasmloom.runtime.scope import ComponentInstance
from wasmloom.runtime.tasks import instance_state

GUESTS = Path(__file__).parent / "guests"
FULL = os.environ.get("WASMLOOM_FULL_LEAK_TEST") == "1"
CALLS = 100_000 if FULL else 10_000
STREAMS = 10_000 if FULL else 1_000


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def instances_of(store: Store[Any]) -> list[ComponentInstance]:
    return [
        o for o in gc.get_objects() if isinstance(o, ComponentInstance) and o.store is store.core
    ]


def assert_clean(store: Store[Any]) -> None:
    insts = instances_of(store)
    assert insts
    for inst in insts:
        assert len(inst.handles) == 0, (inst, list(inst.handles))
        if inst.conc is not None:
            st = instance_state(inst)
            assert len(st.threads) == 0, (inst, list(st.threads))
            assert st.exclusive_thread is None
            assert st.backpressure == 0 and st.num_waiting_to_enter == 0
    sched = store.scheduler
    assert not sched.waiting and not sched.roots and sched.current is None
    assert sched.host_pending == 0


def test_many_async_calls_and_streams_leave_nothing_behind() -> None:
    plain: Store[None] = Store()
    add = Linker().instantiate(plain, Component.from_file(GUESTS / "async_plain.wat"))
    cb = add.get_func("add-callback")
    sf = add.get_func("add-stackful")

    async def tick() -> None:
        await asyncio.sleep(0)

    linker = Linker()
    linker.root().func_wrap("tick", tick)
    waits: Store[None] = Store()
    cycles = linker.instantiate(waits, Component.from_file(GUESTS / "async_cycle.wat"))
    cyc = cycles.get_func("cycles")

    pair: Store[None] = Store()
    streams = Linker().instantiate(pair, Component.from_file(GUESTS / "stream_pair.wat"))
    consume = streams.get_func("consume")
    assert cb and sf and cyc and consume

    def round_(calls: int, nstreams: int) -> None:
        # Async calls: callback-lifted and stackful called synchronously,
        # callback-lifted awaited, and awaited calls whose task waits on a
        # host coroutine (one subtask each).
        quarter = calls // 4
        for i in range(quarter):
            assert cb(plain, i, 1) == i + 1
            assert sf(plain, i, 2) == i + 2

        async def awaited() -> None:
            for i in range(quarter):
                assert await cb.call_async(plain, i, 3) == i + 3
                assert await cyc.call_async(waits, 1) == 1

        asyncio.run(awaited())
        # Streams between two guests, each created, written, read and dropped.
        for i in range(nstreams):
            n = 1 + (i * 7919) % 100_000
            assert consume(pair, n) == n

    round_(CALLS // 10, STREAMS // 10)  # warm up: caches, allocator arenas
    for s in (plain, waits, pair):
        assert_clean(s)
    gc.collect()
    before = rss_bytes()
    round_(CALLS, STREAMS)
    for s in (plain, waits, pair):
        assert_clean(s)
    gc.collect()
    after = rss_bytes()
    print(f"rss before {before / 2**20:.1f} MiB, after {after / 2**20:.1f} MiB")
    assert after <= before * 1.10, (before, after)
