"""Huge values through streams and futures (tests/guests/huge_nested.wat).

The writer's value is a list<list<list<list<u8>>>> of 10^12 bytes in about 30
KB of its memory (every level reuses one list of the level below). Copied to
another guest or to the host, it must trap within the lift budget: by default
the size of the writer's memory, but never more than 128 MiB, even when the
writer grew its memory to nearly 4 GiB. The trap comes in well under a second,
the process grows by a bounded amount, and the store stays usable.
"""

from __future__ import annotations

import asyncio
import resource
import time
from typing import Any

import pytest
from guest_util import component

import wasmloom.host.streams  # noqa: F401  (streams lifted for the host are StreamReaders)
from wasmloom import Instance, Linker, Store, StoreLimits, Trap
from wasmloom.abi.context import DEFAULT_LIFT_BYTES

BIG = 60_000  # pages the writer grows by first: a memory of about 3.7 GiB
WASMTIME_WORDS = "too much data is being copied between the host and the guest"


def instantiate(store: Store[None]) -> Instance:
    return Linker().instantiate(store, component("huge_nested"))


def _maxrss_mib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _trap(budget: int) -> str:
    return rf"{WASMTIME_WORDS}: lifted value exceeds {budget} bytes \(lift limit\)"


def _call(store: Store[None], inst: Instance, name: str, *args: Any) -> Any:
    f = inst.get_func(name)
    assert f is not None
    return f(store, *args)


@pytest.mark.parametrize("name", ["pull-stream", "pull-future"])
@pytest.mark.parametrize(("grow", "budget"), [(0, 65536), (BIG, DEFAULT_LIFT_BYTES)])
def test_guest_to_guest_copy_traps_promptly(name: str, grow: int, budget: int) -> None:
    store: Store[None] = Store()
    inst = instantiate(store)
    rss = _maxrss_mib()
    t = time.monotonic()
    with pytest.raises(Trap, match=_trap(budget)):
        _call(store, inst, name, grow)
    assert time.monotonic() - t < 5
    assert _maxrss_mib() - rss < 600
    # The store stays usable: a fresh instance in it copies again (and traps again).
    with pytest.raises(Trap, match=_trap(65536)):
        _call(store, instantiate(store), name, 0)


async def _host_reads(store: Store[None], inst: Instance, name: str, grow: int) -> Any:
    f = inst.get_func(name)
    assert f is not None
    reader = await f.call_async(store, grow)
    if name == "make-future":
        return await reader
    async for chunk in reader:
        return chunk
    return None


@pytest.mark.parametrize("name", ["make-stream", "make-future"])
def test_copy_to_the_host_traps_promptly(name: str) -> None:
    store: Store[None] = Store()
    inst = instantiate(store)
    rss = _maxrss_mib()
    t = time.monotonic()
    with pytest.raises(Trap, match=_trap(DEFAULT_LIFT_BYTES)):
        asyncio.run(asyncio.wait_for(_host_reads(store, inst, name, BIG), 30))
    assert time.monotonic() - t < 5
    assert _maxrss_mib() - rss < 600


def test_an_explicit_budget_still_rules() -> None:
    store: Store[None] = Store(limits=StoreLimits(lift_bytes=1000))
    with pytest.raises(Trap, match=_trap(1000)):
        _call(store, instantiate(store), "pull-stream", BIG)
