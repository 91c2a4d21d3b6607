"""Async costs, side by side in one run: ``python3 bench/async.py [--quick]``.

Rows (µs per call unless said otherwise):

- a sync-lifted call (``add``) against the same function lifted async with a
  callback (and stackful), called synchronously and awaited
  (``tests/guests/async_plain.wat``); budget: async <= 3x sync;
- the guest-await-host-future cycle (``tests/guests/async_cycle.wat``): one
  callback-lifted task calls the async host import ``tick`` n times; each time
  the host coroutine (``async def tick(): await asyncio.sleep(0)``) suspends
  once, so the guest gets STARTED, joins the subtask to a waitable set,
  returns WAIT, and is called back with the SUBTASK event once the event loop
  resumed and finished the coroutine. One cycle = one such wait/wake round
  trip (one event-loop turn included), averaged over n; budget <= 10 µs.
  Also shown: the same with a host coroutine that finishes without
  suspending (the guest sees RETURNED at once, nothing is awaited);
- ``stream<u8>`` throughput between two guest components
  (``tests/guests/stream_pair.wat``: a writer writes 64 KiB at a time, a
  reader reads into its own 64 KiB buffer, both callback-lifted) against a
  memcpy of the same bytes in 64 KiB chunks (memoryview slice assignment);
  budget >= 2 GiB/s.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from wasmloom import Component, Linker, Store

GUESTS = Path(__file__).resolve().parent.parent / "tests" / "guests"
CHUNK = 65536


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


def calls(n: int) -> list[tuple[str, float, str]]:
    store: Store[None] = Store()
    inst = Linker().instantiate(store, Component.from_file(GUESTS / "async_plain.wat"))
    add = inst.get_func("add")
    cb = inst.get_func("add-callback")
    sf = inst.get_func("add-stackful")
    assert add and cb and sf
    assert cb(store, 1, 2) == 3 and sf(store, 1, 2) == 3
    sync_us = per_call(lambda: add(store, 1, 2), n)
    cb_us = per_call(lambda: cb(store, 1, 2), n)
    sf_us = per_call(lambda: sf(store, 1, 2), n)

    async def awaited() -> tuple[float, float]:
        a = await per_await(lambda: cb.call_async(store, 1, 2), n)
        b = await per_await(lambda: add.call_async(store, 1, 2), n)
        return a, b

    cb_await, add_await = asyncio.run(awaited())

    def x(us: float, budget: float | None = None) -> str:
        r = us / sync_us
        s = f"{r:5.2f}x sync"
        if budget is not None:
            s += f"  (budget <= {budget:g}x: {'ok' if r <= budget else 'OVER'})"
        return s

    return [
        ("sync call (add)", sync_us, "µs"),
        ("async callback-lifted add, sync call", cb_us, "µs  " + x(cb_us, 3)),
        ("async stackful-lifted add, sync call", sf_us, "µs  " + x(sf_us)),
        ("async callback-lifted add, awaited", cb_await, "µs  " + x(cb_await, 3)),
        ("sync add, awaited", add_await, "µs  " + x(add_await)),
    ]


def cycles(n: int) -> list[tuple[str, float, str]]:
    comp = Component.from_file(GUESTS / "async_cycle.wat")

    async def suspends() -> None:
        await asyncio.sleep(0)

    async def finishes() -> None:
        return None

    rows = []
    for label, tick, waited, budget in (
        ("await cycle: host coroutine suspends once", suspends, n, 10.0),
        ("host coroutine finishing at once (no wait)", finishes, 0, None),
    ):
        linker = Linker()
        linker.root().func_wrap("tick", tick)
        store: Store[None] = Store()
        f = linker.instantiate(store, comp).get_func("cycles")
        assert f

        async def run(f: Any = f, store: Store[None] = store, waited: int = waited) -> float:
            best = float("inf")
            for _ in range(5):
                t = time.perf_counter()
                got = await f.call_async(store, n)
                best = min(best, (time.perf_counter() - t) / n)
                assert got == waited, (got, waited)
            return best * 1e6

        us = asyncio.run(run())
        note = "µs per cycle, awaited"
        if budget is not None:
            note += f"  (budget <= {budget:g} µs: {'ok' if us <= budget else 'OVER'})"
        rows.append((label, us, note))
    return rows


def streams(total: int) -> list[tuple[str, float, str]]:
    store: Store[None] = Store()
    inst = Linker().instantiate(store, Component.from_file(GUESTS / "stream_pair.wat"))
    consume = inst.get_func("consume")
    assert consume
    assert consume(store, 3 * CHUNK + 5) == 3 * CHUNK + 5
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        got = consume(store, total)
        best = min(best, time.perf_counter() - t)
        assert got == total
    guest = total / best / 2**30
    src = memoryview(bytearray(CHUNK))
    dst = memoryview(bytearray(CHUNK))
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(total // CHUNK):
            dst[:] = src
        best = min(best, time.perf_counter() - t)
    mc = total / best / 2**30
    ok = "ok" if guest >= 2 else "OVER"
    return [
        ("stream<u8> guest -> guest, 64 KiB buffers", guest, f"GiB/s  (budget >= 2: {ok})"),
        ("memcpy of the same bytes, 64 KiB chunks", mc, "GiB/s"),
    ]


def main() -> None:
    quick = "--quick" in sys.argv
    n = 2000 if quick else 20000
    rows = calls(n) + cycles(n) + streams((64 if quick else 512) << 20)
    for name, v, note in rows:
        print(f"{name:45} {v:9.2f} {note}")


if __name__ == "__main__":
    main()
