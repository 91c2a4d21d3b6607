"""Containment: what a guest can make the host allocate through lifts and handle tables.

The lift budget (``StoreLimits.lift_bytes``, by default the size of the memory
read) against tests/guests/contain_lift.wat: values whose entries alias one
string trap before the host allocates them, in results, in a host import's
parameters and in stream copies; values that do not alias still lift. The
handle limit (``StoreLimits.handles``) against tests/guests/contain_handles.wat:
each built-in that adds to the instance's handle table traps at the first
entry past the limit, freed entries are reused, and the store stays usable.
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
from wasmloom.abi.codecs import get_codec
from wasmloom.abi.context import BytearrayMemory, CanonOptions, LiftLowerContext
from wasmloom.abi.handles import Table
from wasmloom.abi.strings import lift_string
from wasmloom.runtime.builtins.guest_buffers import BufferKind, GuestBuffer
from wasmloom.runtime.tasks import instance_state
from wasmloom.types import ListType, PrimType, TupleType

MEMORY = 9 * 65536  # the lift guest's memory
N = 60_000  # 60,000 entries pointing at one 60 KB string: 3.6 GB if lifted


class Guest:
    """An instance of a containment guest in ``store``; ``g("f", ...)`` calls export ``f``."""

    def __init__(self, name: str, store: Store[None]) -> None:
        self.taken: list[list[str]] = []
        linker = Linker()
        linker.root().func_wrap("host-take", self.host_take)
        self.store = store
        self.inst: Instance = linker.instantiate(store, component(name))

    def host_take(self, strings: list[str]) -> int:
        self.taken.append(strings)
        return len(strings)

    def func(self, name: str) -> Any:
        f = self.inst.get_func(name)
        assert f is not None, name
        return f

    def __call__(self, name: str, *args: Any) -> Any:
        return self.func(name)(self.store, *args)


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _lift_trap(budget: int) -> str:
    return rf"lifted value exceeds {budget} bytes \(lift limit\)"


def _assert_store_usable(store: Store[None]) -> None:
    fresh = Guest("contain_lift", store)
    assert fresh("distinct", 3, 4) == ["aaaa"] * 3


# --- the lift budget ------------------------------------------------------------------


@pytest.mark.parametrize("export", ["aliased", "aliased-lists"])
def test_aliased_entries_trap_quickly_without_allocating(export: str) -> None:
    store: Store[None] = Store()
    g = Guest("contain_lift", store)
    rss = _maxrss_mib()
    t0 = time.perf_counter()
    with pytest.raises(Trap, match=_lift_trap(MEMORY)) as info:
        g(export, N, N)
    assert time.perf_counter() - t0 < 2.0
    assert _maxrss_mib() - rss < 200
    assert export in str(info.value)
    with pytest.raises(Trap, match="cannot enter component instance"):
        g(export, 1, 1)  # the trap poisoned the instance
    _assert_store_usable(store)


def test_distinct_strings_filling_the_memory_still_lift() -> None:
    g = Guest("contain_lift", Store())
    # 8,000 bytes of entries and 500,000 of strings: most of the 576 KiB memory
    out = g("distinct", 1000, 500)
    assert len(out) == 1000 and all(s == "a" * 500 for s in out)
    # aliasing within the memory's size is not refused either
    assert g("aliased", 100, 5000) == ["a" * 5000] * 100


def test_the_budget_covers_every_string_of_a_tuple() -> None:
    g = Guest("contain_lift", Store())
    assert g("pair", 200_000) == ("c" * 200_000, "c" * 200_000)
    with pytest.raises(Trap, match=_lift_trap(MEMORY)):
        g("pair", 300_000)  # two views of the same 300,000 bytes


def test_aliased_parameters_of_a_host_import_trap_before_the_call() -> None:
    store: Store[None] = Store()
    g = Guest("contain_lift", store)
    assert g("pass-aliased", 10, 100) == 10
    with pytest.raises(Trap, match=_lift_trap(MEMORY)):
        g("pass-aliased", N, N)
    assert [len(t) for t in g.taken] == [10]  # the host function never ran
    _assert_store_usable(store)


def test_an_explicit_budget_lower_than_the_memory() -> None:
    store: Store[None] = Store(limits=StoreLimits(lift_bytes=10_000))
    g = Guest("contain_lift", store)
    assert g("distinct", 10, 992) == ["a" * 992] * 10  # 80 + 9,920 bytes
    assert g("string", 10_000) == "b" * 10_000
    assert g("bytes", 10_000) == b"b" * 10_000
    for args in [("distinct", 10, 993), ("string", 10_001), ("bytes", 10_001)]:
        g = Guest("contain_lift", store)
        with pytest.raises(Trap, match=_lift_trap(10_000)):
            g(*args)
    _assert_store_usable(store)


def test_an_explicit_budget_higher_than_the_memory() -> None:
    store: Store[None] = Store(limits=StoreLimits(lift_bytes=10_000_000))
    g = Guest("contain_lift", store)
    # 6 MB lifted out of 576 KiB of memory: allowed, the budget is explicit
    assert g("aliased", 100, 60_000) == ["a" * 60_000] * 100
    rss = _maxrss_mib()
    with pytest.raises(Trap, match=_lift_trap(10_000_000)):
        g("aliased", N, N)
    assert _maxrss_mib() - rss < 200
    _assert_store_usable(store)


def test_a_zero_budget_allows_only_empty_strings_and_lists() -> None:
    store: Store[None] = Store(limits=StoreLimits(lift_bytes=0))
    g = Guest("contain_lift", store)
    assert g("string", 0) == ""
    assert g("bytes", 0) == b""
    with pytest.raises(Trap, match=_lift_trap(0)):
        g("string", 1)


async def _read_all(g: Guest, n: int, length: int, distinct: bool) -> list[str]:
    reader = await g.func("stream").call_async(g.store, n, length, distinct)
    out: list[str] = []
    async for chunk in reader:
        out.extend(chunk)
    return out


def test_stream_copies_lift_within_the_budget() -> None:
    store: Store[None] = Store()
    g = Guest("contain_lift", store)
    assert asyncio.run(_read_all(g, 1000, 500, True)) == ["a" * 500] * 1000
    g = Guest("contain_lift", store)
    rss = _maxrss_mib()
    with pytest.raises(Trap, match=_lift_trap(MEMORY)):
        asyncio.run(asyncio.wait_for(_read_all(g, N, N, False), 10))
    assert _maxrss_mib() - rss < 200
    g = Guest("contain_lift", store)
    assert asyncio.run(_read_all(g, 3, 4, False)) == ["aaaa"] * 3


def _cx(size: int = 65536) -> LiftLowerContext:
    cx = LiftLowerContext(CanonOptions(memory=BytearrayMemory(size)), None)
    cx.refresh()
    return cx


def test_each_lift_has_its_own_budget() -> None:
    cx = _cx()
    for _ in range(3):  # one context, several lifts: refresh() starts each one
        cx.refresh()
        assert lift_string(cx, 0, 40_000) == "\0" * 40_000
    with pytest.raises(Trap, match=_lift_trap(65536)):
        lift_string(cx, 0, 40_000)  # the same lift again: 80,000 bytes


def test_elements_of_no_size_count_one_byte_each() -> None:
    codec = get_codec(ListType(TupleType(())))
    cx = _cx()
    assert codec.lift_flat(cx, iter([0, 1000])) == [()] * 1000
    cx.refresh()
    with pytest.raises(Trap, match=_lift_trap(65536)):
        codec.lift_flat(cx, iter([0, 0xFFFF_FFFF]))


def test_a_stream_buffer_read_is_one_lift() -> None:
    cx = _cx()
    mem = cx.mv
    for i in range(1000):  # 1,000 (ptr, len) entries at 0, all pointing at 10,000 bytes at 8,000
        mem[8 * i : 8 * i + 8] = (8000).to_bytes(4, "little") + (10_000).to_bytes(4, "little")
    kind = BufferKind(PrimType("string"), "utf8", "i32")
    assert GuestBuffer(kind, cx, 0, 5).read(5) == ["\0" * 10_000] * 5
    with pytest.raises(Trap, match=_lift_trap(65536)):
        GuestBuffer(kind, cx, 0, 1000).read(1000)


# --- the handle limit ------------------------------------------------------------------


def test_resource_handles_stop_at_the_limit_and_freed_ones_are_reused() -> None:
    store: Store[None] = Store(limits=StoreLimits(handles=1000))
    g = Guest("contain_handles", store)
    assert g("resources", 1000) == 1000  # handles 1..1000
    for h in (5, 17, 999):
        g("drop-resource", h)
    assert g("resources", 3) == 5  # the freed slots, reused
    with pytest.raises(Trap, match="handle limit of 1000 reached") as info:
        g("resources", 1)
    assert "resources" in str(info.value)
    with pytest.raises(Trap, match="cannot enter component instance"):
        g("resources", 1)
    fresh = Guest("contain_handles", store)
    assert fresh("resources", 1000) == 1000
    with pytest.raises(Trap, match="handle limit of 1000 reached"):
        fresh("resources", 1)


@pytest.mark.parametrize(
    ("export", "per_call", "drop"),
    [
        ("streams", 2, None),  # the readable and the writable end
        ("futures", 2, None),
        ("sets", 1, "drop-set"),
        ("errors", 1, "drop-error"),
    ],
)
def test_every_kind_of_handle_counts(export: str, per_call: int, drop: str | None) -> None:
    store: Store[None] = Store(limits=StoreLimits(handles=1000))
    g = Guest("contain_handles", store)
    last = g(export, 1000 // per_call)
    assert last == 1000
    if drop is not None:
        g(drop, 10)
        assert g(export, 1) == 10
    with pytest.raises(Trap, match="handle limit of 1000 reached"):
        g(export, 1)
    with pytest.raises(Trap, match="cannot enter component instance"):
        g(export, 1)
    fresh = Guest("contain_handles", store)
    assert fresh(export, 1000 // per_call) == 1000


def test_without_a_limit_handles_are_not_bounded_by_it() -> None:
    g = Guest("contain_handles", Store())
    assert g("resources", 5000) == 5000


def test_the_thread_table_takes_the_limit_too() -> None:
    store: Store[None] = Store(limits=StoreLimits(handles=7))
    g = Guest("contain_handles", store)
    inst = g.inst._inst
    assert inst.handles.limit == 7
    assert instance_state(inst).threads.limit == 7


def test_table_limit_counts_live_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    t: Table[str] = Table(2)
    assert (t.add("a"), t.add("b")) == (1, 2)
    with pytest.raises(Trap, match="handle limit of 2 reached"):
        t.add("c")
    assert t.remove(1) == "a"
    assert t.add("c") == 1 and len(t) == 2
    with pytest.raises(Trap, match="handle limit of 2 reached"):
        t.add("d")
    monkeypatch.setattr(Table, "MAX_LENGTH", 3)
    for table in (Table[str](), Table[str](10)):  # the absolute cap keeps its message
        for e in "abc":
            table.add(e)
        with pytest.raises(Trap, match="handle table full"):
            table.add("d")
