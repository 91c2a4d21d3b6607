"""Behaviours that suites kept outside the project found wrong (issue 15), with
Wasmtime as the reference, each shown on a WAT guest of tests/guests/conformance_*.wat.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from guest_util import component

from wasmloom import Func, Linker, Resource, ResourceType, Store, Trap
from wasmloom.host.streams import BytesProducer, StreamReader

# --- task.return must use the options of the lift it returns for ------------------------------

TASK_RETURN_INVALID = "invalid `task.return` signature and/or options for current task"


@pytest.mark.parametrize(
    ("name", "args", "result"),
    [
        ("same-memory-ok", (), "ok"),
        # the same memory, aliased from an instance that passes it on under its own export
        ("passed-memory-ok", (), "ok"),
        # the lift has a memory for its parameter; task.return's result needs none
        ("no-memory-ok", ("héllo",), 6),
        ("utf16-ok", (), "ok"),
    ],
)
def test_task_return_with_the_lifts_options_returns(
    name: str, args: tuple[str], result: object
) -> None:
    store: Store[None] = Store()
    inst = Linker().instantiate(store, component("conformance_task_return"))
    f = inst.get_func(name)
    assert f is not None
    assert f(store, *args) == result
    assert f(store, *args) == result


@pytest.mark.parametrize(
    "name",
    [
        "other-memory",
        "memory-not-lifted",
        "string-encoding",
        "string-encoding-u32",
        "utf16-lift-utf8-return",
    ],
)
def test_task_return_with_other_options_traps(name: str) -> None:
    store: Store[None] = Store()
    inst = Linker().instantiate(store, component("conformance_task_return"))
    f = inst.get_func(name)
    assert f is not None
    with pytest.raises(Trap, match=f"^{TASK_RETURN_INVALID}"):
        f(store)
    assert inst.poisoned


# --- backpressure counter -------------------------------------------------------------------


def test_backpressure_counter_range_and_overflow() -> None:
    """2^16-1 increments and as many decrements pass; one more either way traps
    "backpressure counter overflow", Wasmtime's words for both directions."""
    store: Store[None] = Store()
    inst = Linker().instantiate(store, component("async_traps"))
    f = inst.get_func("backpressure-max")
    assert f is not None
    assert f(store) == 0xFFFF
    assert f(store) == 0xFFFF
    for name in ("backpressure-overflow", "backpressure-underflow"):
        store = Store()
        inst = Linker().instantiate(store, component("async_traps"))
        g = inst.get_func(name)
        assert g is not None
        with pytest.raises(Trap, match=r"^backpressure counter overflow"):
            g(store)


# --- a host's wrong argument leaves the instance usable ----------------------------------------


class ArgsEnv:
    """tests/guests/conformance_args.wat; ``fibers``: its `pause` import is an ``async def``,
    so the instance may block and every call of it is a task on a fiber."""

    def __init__(self, fibers: bool) -> None:
        self.dropped: list[int] = []
        self.release = asyncio.Event() if fibers else None
        linker = Linker()
        self.res: ResourceType = linker.root().resource("res", dtor=self.dropped.append)
        if fibers:

            async def pause() -> None:
                assert self.release is not None
                await self.release.wait()

            linker.root().func_wrap("pause", pause)
        else:
            linker.root().func_wrap("pause", lambda: None)
        self.store: Store[None] = Store()
        self.inst = linker.instantiate(self.store, component("conformance_args"))

    def func(self, name: str) -> Func:
        f = self.inst.get_func(name)
        assert f is not None
        return f

    def own(self, rep: int) -> Resource:
        return Resource(self.res, rep, True)

    def reader(self, data: bytes = b"abc") -> StreamReader[int]:
        return StreamReader.new(self.store, BytesProducer(data))


ADD_FUNCS = ["add", "add-callback", "add-stackful"]
BAD_ADD_ARGS = [
    pytest.param(("x", 1), id="str"),
    pytest.param((1.5, 1), id="float"),
    pytest.param((1,), id="too-few"),
    pytest.param((1, 2, 3), id="too-many"),
    pytest.param((-1, 1), id="negative"),
    pytest.param((1, 2**32), id="too-big"),
]


def _error_of(call: Any) -> BaseException:
    with pytest.raises(Exception) as info:
        call()
    return info.value


def _same_message(got: BaseException, want: BaseException) -> bool:
    # a wrong count names the function type, which says `async` for async functions
    return str(got).replace("async func", "func") == str(want)


def _sync_path_error(args: tuple[Any, ...]) -> BaseException:
    """What the plain sync path raises for ``args`` (the reference)."""
    env = ArgsEnv(fibers=False)
    return _error_of(lambda: env.func("add")(env.store, *args))


@pytest.mark.parametrize("fibers", [False, True], ids=["plain", "fibers"])
@pytest.mark.parametrize("name", ADD_FUNCS)
@pytest.mark.parametrize("args", BAD_ADD_ARGS)
def test_wrong_argument_raises_before_entering(
    fibers: bool, name: str, args: tuple[Any, ...]
) -> None:
    """As the sync path does: TypeError/ValueError, the instance still usable."""
    want = _sync_path_error(args)
    assert type(want) in (TypeError, ValueError)
    env = ArgsEnv(fibers)
    f = env.func(name)
    got = _error_of(lambda: f(env.store, *args))
    assert type(got) is type(want) and _same_message(got, want)
    assert not env.inst.poisoned
    assert f(env.store, 2, 3) == 5

    async def awaited() -> int:
        with pytest.raises(type(want)) as info:
            await f.call_async(env.store, *args)
        assert _same_message(info.value, want)
        return int(await f.call_async(env.store, 4, 5))

    assert asyncio.run(awaited()) == 9
    assert not env.inst.poisoned


@pytest.mark.parametrize("fibers", [False, True], ids=["plain", "fibers"])
@pytest.mark.parametrize("name", ["len", "len-callback"])
def test_unencodable_string_argument(fibers: bool, name: str) -> None:
    env = ArgsEnv(fibers)
    f = env.func(name)
    with pytest.raises(ValueError, match="surrogate"):
        f(env.store, "a\ud800", 1)
    assert f(env.store, "héllo", 1) == 7


@pytest.mark.parametrize("fibers", [False, True], ids=["plain", "fibers"])
@pytest.mark.parametrize("name", ["take", "take-callback"])
def test_failed_call_takes_no_resource(fibers: bool, name: str) -> None:
    """The own handle lowered before a later argument fails leaves the guest's table."""
    env = ArgsEnv(fibers)
    f = env.func(name)
    with pytest.raises(ValueError, match="out of range"):
        f(env.store, env.own(1), -1)
    with pytest.raises(TypeError):
        f(env.store, env.own(2), "x")
    # the guest's handle table is as before: the next handle gets index 1 again
    assert f(env.store, env.own(3), 0) == 1
    assert env.dropped == [3]
    assert not env.inst.poisoned


@pytest.mark.parametrize("fibers", [False, True], ids=["plain", "fibers"])
def test_stream_already_handed_over(fibers: bool) -> None:
    env = ArgsEnv(fibers)
    f = env.func("read-callback")

    async def main() -> None:
        reader = env.reader()
        assert await f.call_async(env.store, reader, 0) == 1
        with pytest.raises(ValueError, match="already piped, closed or handed over"):
            await f.call_async(env.store, reader, 0)
        assert await env.func("add-callback").call_async(env.store, 1, 2) == 3
        # a later argument fails: the stream stays the host's, the guest's table as before
        other = env.reader()
        with pytest.raises(ValueError, match="out of range"):
            await f.call_async(env.store, other, -1)
        assert await f.call_async(env.store, other, 0) == 1

    asyncio.run(main())
    assert not env.inst.poisoned


def test_wrong_argument_while_the_instance_is_busy() -> None:
    """A task queued behind backpressure (a sync task blocked in the instance set it)
    fails when it would have started, and the instance carries on."""
    env = ArgsEnv(fibers=True)
    assert env.release is not None

    async def main() -> tuple[int, int]:
        paused = asyncio.ensure_future(env.func("pause-sync").call_async(env.store))
        await asyncio.sleep(0)
        bad = asyncio.ensure_future(env.func("add-callback").call_async(env.store, -1, 1))
        good = asyncio.ensure_future(env.func("add-callback").call_async(env.store, 1, 1))
        await asyncio.sleep(0)
        assert not paused.done() and not bad.done() and not good.done()
        env.release.set()
        with pytest.raises(ValueError, match="out of range"):
            await bad
        return await paused, await good

    assert asyncio.run(main()) == (0, 2)
    assert not env.inst.poisoned
