"""Async call costs, side by side: ``python3 bench/async.py [--quick]``.

Rows: a sync-lifted call vs the same function lifted async with a callback
(and stackful), called synchronously and awaited; one guest-await-host-future
cycle (a callback task awaiting an ``async def`` host import that completes
at once). Stream throughput between guests is not measured yet.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from wasmloom import Component, Linker, Store

GUESTS = Path(__file__).resolve().parent.parent / "tests" / "guests"


def per_call(fn: Any, n: int) -> float:
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t) / n)
    return best * 1e6


async def per_await(make: Any, n: int) -> float:
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            await make()
        best = min(best, (time.perf_counter() - t) / n)
    return best * 1e6


def main() -> None:
    n = 2000 if "--quick" in sys.argv else 20000
    store: Store[None] = Store()
    inst = Linker().instantiate(store, Component.from_file(GUESTS / "async_plain.wat"))
    add = inst.get_func("add")
    cb = inst.get_func("add-callback")
    sf = inst.get_func("add-stackful")
    assert add and cb and sf
    sync_us = per_call(lambda: add(store, 1, 2), n)
    rows = [("sync call (add)", sync_us, None)]
    cb_us = per_call(lambda: cb(store, 1, 2), n)
    rows.append(("async callback-lifted, sync call", cb_us, 3.0))
    rows.append(("async stackful-lifted, sync call", per_call(lambda: sf(store, 1, 2), n), None))

    async def awaited() -> tuple[float, float]:
        a = await per_await(lambda: cb.call_async(store, 1, 2), n)
        b = await per_await(lambda: add.call_async(store, 1, 2), n)
        return a, b

    cb_await, add_await = asyncio.run(awaited())
    rows.append(("async callback-lifted, awaited", cb_await, 3.0))
    rows.append(("sync call, awaited", add_await, None))

    async def ready(a: int) -> int:
        return a + 100

    linker = Linker()
    linker.root().func_wrap("host-add", ready)
    store2: Store[None] = Store()
    inst2 = linker.instantiate(store2, Component.from_file(GUESTS / "async_basic.wat"))
    cw = inst2.get_func("callback-wait")
    assert cw

    async def cycles() -> float:
        return await per_await(lambda: cw.call_async(store2, 1), n // 4)

    cycle = asyncio.run(cycles())
    rows.append(("guest-await-host-future call (awaited)", cycle, None))
    print(f"{'measure':45} {'µs':>8} {'x sync':>7}  budget")
    for name, us, budget in rows:
        ratio = us / sync_us
        b = "" if budget is None else f"<= {budget:g}x {'ok' if ratio <= budget else 'OVER'}"
        print(f"{name:45} {us:8.2f} {ratio:7.2f}  {b}")


if __name__ == "__main__":
    main()
