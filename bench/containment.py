"""What containment costs: epoch interruption, fuel and time-slicing, one run.

    python3 bench/containment.py [--quick]

The same guest (tests/guests/contain_spin.wat) runs in four stores, measured
in turn in the same process:

- no epochs: ``Engine(epoch_interruption=False)``, the floor;
- epochs: the default engine (epoch checks compiled in, the ticker running),
  what every store gets;
- fuel: ``Engine(consume_fuel=True)`` with unlimited fuel;
- time-sliced: the default engine with ``Store(time_slicing=True)`` (every
  guest on a fiber).

Workloads: a sync call of ``spin(1)`` (per-call cost), ``spin(10_000_000)``
(guest compute: a tight loop) and an awaited async call of ``async-spin(1)``
(the async path). Prints the median per call and each store's ratio to the
first. Budget (containment issue): epochs cost at most 10% on a call.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wasmloom import Component, Engine, Linker, Store

SPIN = Path(__file__).resolve().parent.parent / "tests" / "guests" / "contain_spin.wat"


def setup(engine: Engine | None, time_slicing: bool = False) -> tuple[Store[None], Any]:
    engine = engine if engine is not None else Engine()
    store: Store[None] = Store(engine, time_slicing=time_slicing)
    inst = Linker().instantiate(store, Component.from_file(SPIN, engine))
    return store, inst


def per_call(fn: Callable[[], Any], inner: int) -> float:
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t0) / inner


def main() -> None:
    quick = "--quick" in sys.argv
    rounds = 3 if quick else 7
    scale = 0.2 if quick else 1.0
    default = Engine()
    configs = {
        "no epochs": setup(Engine(epoch_interruption=False)),
        "epochs (default)": setup(default),
        "fuel": setup(Engine(consume_fuel=True)),
        "time-sliced": setup(default, time_slicing=True),
    }
    loop = asyncio.new_event_loop()

    def workloads(store: Store[None], inst: Any) -> dict[str, tuple[Callable[[], Any], int]]:
        spin = inst.get_func("spin")
        aspin = inst.get_func("async-spin")

        async def many_async() -> None:
            for _ in range(1000):
                await aspin.call_async(store, 1)

        return {
            "call spin(1)": (lambda: spin(store, 1), int(20000 * scale)),
            "spin(10M) guest loop": (lambda: spin(store, 10_000_000), max(1, int(3 * scale))),
            "awaited async-spin(1)": (
                lambda: loop.run_until_complete(many_async()),
                max(1, int(5 * scale)),
            ),
        }

    names = list(workloads(*configs["no epochs"]))
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):  # interleaved: drift hits every store alike
        for cname, (store, inst) in configs.items():
            for wname, (fn, inner) in workloads(store, inst).items():
                fn()
                div = 1000 if wname.startswith("awaited") else 1
                times.setdefault((cname, wname), []).append(per_call(fn, inner) / div)
    print(f"{'workload':<24}" + "".join(f"{c:>20}" for c in configs))
    for wname in names:
        base = statistics.median(times[("no epochs", wname)])
        cells = []
        for cname in configs:
            med = statistics.median(times[(cname, wname)])
            unit = f"{med * 1e6:.2f} us" if med < 1e-3 else f"{med * 1e3:.1f} ms"
            cells.append(f"{unit} ({med / base:.2f}x)")
        print(f"{wname:<24}" + "".join(f"{c:>20}" for c in cells))
    loop.close()


if __name__ == "__main__":
    main()
