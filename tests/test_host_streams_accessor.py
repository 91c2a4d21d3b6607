"""The Accessor of async host functions, against tests/guests/async_basic.wat."""

from __future__ import annotations

import asyncio
from typing import Any

from guest_util import component

from wasmloom import Linker, Store
from wasmloom.host.accessor import Accessor, host_async


class Data:
    def __init__(self) -> None:
        self.log: list[int] = []
        self.other: list[str] = []


async def add(acc: Accessor[Data, list[int]], a: int) -> int:
    await asyncio.sleep(0.001)
    acc.with_(lambda store, log: log.append(a))  # access holds after the await

    async def background() -> None:
        acc.with_getter(lambda d: d.other).with_(lambda s, other: other.append(f"bg{a}"))

    await acc.spawn(background())
    return a + 100


def test_async_host_function_with_an_accessor_under_run_concurrent() -> None:
    linker = Linker()
    linker.root().func_wrap("host-add", host_async(add, lambda d: d.log), with_store=True)
    store: Store[Data] = Store(data=Data())
    inst = linker.instantiate(store, component("async_basic"))
    names = ["callback-wait", "stackful-wait", "callback-wait"]

    async def main() -> list[Any]:
        calls = [inst.get_func(n).call_async(store, i) for i, n in enumerate(names)]  # type: ignore[union-attr]
        return list(await asyncio.gather(*calls))

    assert store.run_concurrent(main) == [100, 101, 102]
    assert sorted(store.data.log) == [0, 1, 2]
    assert sorted(store.data.other) == ["bg0", "bg1", "bg2"]


def test_getter_and_with_getter() -> None:
    store: Store[Data] = Store(data=Data())
    acc: Accessor[Data, list[int]] = Accessor(store, lambda d: d.log)
    assert acc.getter()(store.data) is store.data.log
    assert acc.with_getter(lambda d: d.other).get() is store.data.other
    assert acc.with_(lambda s, log: s is store and log is store.data.log)
