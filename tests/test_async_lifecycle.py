"""Lifetimes at the edges of async calls: cancelling an awaited call, leaving
``async for`` early, a guest that traps after its host call returned, trap
names on resumed tasks, and the store's own event loop.

Guests: tests/guests/async_cancel.wat (a callback task waiting on a host
future) and tests/guests/streams_async.wat (``upper``, streaming after
``task.return``).
"""

from __future__ import annotations

import asyncio
import gc
import warnings
from typing import Any

import pytest
from guest_util import component

from wasmloom import Linker, Store, Trap
from wasmloom.host.streams import (
    Destination,
    FutureDestination,
    FutureReader,
    Source,
    StreamReader,
    StreamResult,
)
from wasmloom.runtime.tasks import instance_state

WAIT = 5.0


class Never:
    """A future producer that never produces; answers CANCELLED when the guest cancels."""

    def __init__(self) -> None:
        self.finishes: list[bool] = []
        self.closed = False

    def poll_produce(self, store: Any, dst: FutureDestination, finish: bool) -> StreamResult:
        self.finishes.append(finish)
        return StreamResult.CANCELLED if finish else StreamResult.PENDING

    def close(self) -> None:
        self.closed = True


class Later:
    """A future producer whose value is given later with :meth:`give` (outside guest code)."""

    def __init__(self) -> None:
        self.wake: Any = None
        self.value: int | None = None
        self.closed = False

    def poll_produce(self, store: Any, dst: FutureDestination, finish: bool) -> StreamResult:
        if self.value is None:
            self.wake = dst.wake
            return StreamResult.PENDING
        dst.set(self.value)
        return StreamResult.COMPLETED

    def give(self, value: int) -> None:
        self.value = value
        self.wake()

    def close(self) -> None:
        self.closed = True


class Cancel:
    def __init__(self) -> None:
        self.store: Store[None] = Store()
        self.inst = Linker().instantiate(self.store, component("async_cancel"))

    def func(self, name: str) -> Any:
        f = self.inst.get_func(name)
        assert f is not None
        return f

    def quiet(self) -> bool:
        """Nothing of the guest is left: no threads, handles, waiting or pending host work."""
        st = instance_state(self.inst._inst)
        return (
            len(st.threads) == 0
            and len(self.inst._inst.handles) == 0
            and not st.sched.waiting
            and st.sched.host_pending == 0
        )


async def _cancel_after_start(call: Any) -> None:
    task = asyncio.ensure_future(call)
    await asyncio.sleep(0.001)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, WAIT)


# --- 1. cancelling the awaiting asyncio task cancels the component task -----------------


@pytest.mark.parametrize("mode", [0, 1])
def test_cancelling_the_awaiting_task_delivers_task_cancelled(mode: int) -> None:
    """mode 0: the guest calls task.cancel; mode 1: it returns a value instead.
    Either way the awaiting call raises CancelledError; nothing is left behind."""
    g = Cancel()
    never = Never()

    async def main() -> int:
        await _cancel_after_start(
            g.func("wait").call_async(g.store, FutureReader.new(g.store, never), mode)
        )
        # the instance is fine: another call runs to completion
        return await asyncio.wait_for(
            g.func("wait").call_async(g.store, FutureReader.new(g.store, _value(g.store, 7)), 0),
            WAIT,
        )

    assert asyncio.run(main()) == 7
    assert g.func("cancelled")(g.store) == 1
    assert never.finishes == [False, True]  # the guest cancelled its read
    assert never.closed  # ...and dropped the future
    assert g.quiet()


def test_cancelling_with_wait_for_timeout() -> None:
    g = Cancel()

    async def main() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(
                g.func("wait").call_async(g.store, FutureReader.new(g.store, Never()), 0), 0.01
            )

    asyncio.run(main())
    assert g.func("cancelled")(g.store) == 1
    assert g.quiet()


def test_a_guest_that_ignores_cancellation_runs_on_without_blocking_the_host() -> None:
    """mode 2: the guest keeps waiting after TASK_CANCELLED; the host is not held up,
    and the task finishes (unobserved) once its future gets a value."""
    g = Cancel()
    later = Later()

    async def main() -> None:
        await _cancel_after_start(
            g.func("wait").call_async(g.store, FutureReader.new(g.store, later), 2)
        )
        assert g.func("cancelled")(g.store) == 1
        assert not g.quiet()
        later.give(5)
        for _ in range(50):
            if g.quiet():
                break
            await asyncio.sleep(0)

    asyncio.run(main())
    assert later.closed
    assert g.quiet()


# --- 2. leaving `async for` early drops the stream -------------------------------------------


class Endless:
    """Produces ``b"abc"`` forever into the reader's buffer; ``closed`` is set on disposal."""

    def __init__(self) -> None:
        self.produced = 0
        self.closed = asyncio.Event()

    def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
        room = dst.remaining()
        view = dst.as_direct(4096 if room is None else min(room, 4096))
        view[:] = (b"abc" * 1366)[: len(view)]
        dst.mark_written(len(view))
        self.produced += len(view)
        return StreamResult.COMPLETED

    def close(self) -> None:
        self.closed.set()


_INSTANCES: dict[int, Any] = {}


def _upper() -> tuple[Store[None], Any]:
    store: Store[None] = Store()
    inst = Linker().instantiate(store, component("streams_async"))
    f = inst.get_func("upper")
    assert f is not None
    _INSTANCES[id(f)] = inst
    return store, f


def upper_instance_func(store: Store[None], upper: Any, name: str) -> Any:
    f = _INSTANCES.pop(id(upper)).get_func(name)
    assert f is not None
    return f


def test_breaking_out_of_async_for_disposes_of_the_stream() -> None:
    store, upper = _upper()
    producer = Endless()

    async def main() -> bytes:
        out = await upper.call_async(store, StreamReader.new(store, producer))
        first = b""
        async for chunk in out:
            first = chunk
            break
        # the guest's next write sees DROPPED; it drops its input: the producer is closed
        await asyncio.wait_for(producer.closed.wait(), WAIT)
        return first

    first = asyncio.run(main())
    assert first and set(first) <= set(b"ABC")
    assert store.scheduler.host_pending == 0 and not store.scheduler.waiting


def test_aclose_of_the_chunk_iterator_disposes_of_the_stream() -> None:
    store, upper = _upper()
    producer = Endless()

    async def main() -> None:
        out = await upper.call_async(store, StreamReader.new(store, producer))
        it = aiter(out)
        assert (await anext(it)).startswith(b"ABC")
        await it.aclose()
        await asyncio.wait_for(producer.closed.wait(), WAIT)

    asyncio.run(main())
    assert store.scheduler.host_pending == 0 and not store.scheduler.waiting


# --- 3. a trap after the host call returned fails the host ends of the instance ------------


class BadAfterOne:
    """Produces one chunk, then PENDING; when woken it answers COMPLETED with nothing
    (a contract violation: the guest traps when it receives the read's event)."""

    def __init__(self) -> None:
        self.wake: Any = None
        self.calls = 0
        self.failed: BaseException | None = None
        self.closed = False

    def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
        self.calls += 1
        if self.calls == 1:
            dst.set_buffer(b"hello")
            return StreamResult.COMPLETED
        if self.wake is None:
            self.wake = dst.wake
            return StreamResult.PENDING
        return StreamResult.COMPLETED

    def fail(self, error: BaseException) -> None:
        self.failed = error

    def close(self) -> None:
        self.closed = True


class Recording:
    def __init__(self) -> None:
        self.data = bytearray()
        self.failed: BaseException | None = None
        self.closed = asyncio.Event()

    def poll_consume(self, store: Any, src: Source, finish: bool) -> StreamResult:
        src.read(self.data)
        return StreamResult.COMPLETED

    def fail(self, error: BaseException) -> None:
        self.failed = error

    def close(self) -> None:
        self.closed.set()


def _trap_later(consume: Any) -> tuple[BadAfterOne, list[BaseException], Any]:
    store, upper = _upper()
    producer = BadAfterOne()
    errors: list[BaseException] = []

    async def main() -> Any:
        asyncio.get_running_loop().set_exception_handler(
            lambda loop, ctx: errors.append(ctx["exception"])
        )
        out = await upper.call_async(store, StreamReader.new(store, producer))
        return await asyncio.wait_for(consume(store, out, producer), WAIT)

    result = asyncio.run(main())
    assert store.scheduler.host_pending == 0 and not store.scheduler.waiting
    return producer, errors, result


def test_a_late_trap_closes_the_host_consumer_of_the_output() -> None:
    async def consume(store: Any, out: StreamReader[Any], producer: BadAfterOne) -> Recording:
        c = Recording()
        out.pipe(store, c)
        while producer.wake is None:
            await asyncio.sleep(0)
        producer.wake()  # the guest traps on the read's event
        await c.closed.wait()  # would hang without the poisoning closing it
        return c

    producer, errors, c = _trap_later(consume)
    assert bytes(c.data) == b"HELLO"
    assert isinstance(c.failed, Trap) and "without producing any items" in str(c.failed)
    assert "(in upper)" in str(c.failed)  # 4. the resumed task's trap names the function
    assert producer.closed and producer.failed is c.failed
    assert [str(e) for e in errors] == [str(c.failed)]


def test_a_late_trap_is_raised_by_async_for() -> None:
    async def consume(store: Any, out: StreamReader[Any], producer: BadAfterOne) -> bytes:
        got = b""
        with pytest.raises(Trap, match=r"without producing any items.*\(in upper\)"):
            async for chunk in out:
                got += chunk
                while producer.wake is None:
                    await asyncio.sleep(0)
                producer.wake()
        return got

    producer, _, got = _trap_later(consume)
    assert got == b"HELLO" and producer.closed


def test_a_trap_fails_an_output_the_host_attaches_to_afterwards() -> None:
    """``upper`` waits to write its output, which nobody reads yet; another call into the
    instance traps. The output then fails with that trap when the host iterates it,
    and the input's producer is disposed of."""
    store, upper = _upper()
    cancel_read = upper_instance_func(store, upper, "cancel-read")
    producer = Endless()

    class Raising:
        def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
            raise RuntimeError("producer broke")

    async def main() -> None:
        out = await upper.call_async(store, StreamReader.new(store, producer))
        with pytest.raises(Trap, match=r"producer broke.*\(in cancel-read\)"):
            await cancel_read.call_async(store, StreamReader.new(store, Raising()))
        assert producer.closed.is_set()
        with pytest.raises(Trap, match=r"producer broke.*\(in cancel-read\)"):
            async for _chunk in out:
                pass

    asyncio.run(main())
    assert store.scheduler.host_pending == 0 and not store.scheduler.waiting


# --- 4. trap names on resumed tasks -------------------------------------------------------------


def _value(store: Store[None], v: int) -> FutureReader[Any]:
    async def soon() -> int:
        await asyncio.sleep(0.001)
        return v

    return FutureReader.new(store, soon())


def test_a_trap_in_a_resumed_task_names_the_function() -> None:
    g = Cancel()

    async def main() -> None:
        with pytest.raises(Trap, match=r"unreachable.*\(in wait\)"):
            await asyncio.wait_for(g.func("wait").call_async(g.store, _value(g.store, 1), 3), WAIT)

    asyncio.run(main())


def test_a_trap_in_a_resumed_task_names_the_function_in_a_sync_call() -> None:
    g = Cancel()
    with pytest.raises(Trap, match=r"unreachable.*\(in wait\)"):
        g.func("wait")(g.store, _value(g.store, 1), 3)


# --- 5. the store's own event loop -------------------------------------------------------------


def test_the_store_loop_is_closed_with_the_store() -> None:
    def use() -> None:
        g = Cancel()
        assert g.func("wait")(g.store, _value(g.store, 4), 0) == 4  # drives the store's own loop
        assert g.store.scheduler._loop is not None

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        use()
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)], caught


def test_store_close_closes_its_loop_and_stays_usable() -> None:
    g = Cancel()
    assert g.func("wait")(g.store, _value(g.store, 4), 0) == 4
    loop = g.store.scheduler._loop
    assert loop is not None
    g.store.close()
    assert loop.is_closed()
    assert g.func("wait")(g.store, _value(g.store, 5), 0) == 5
    g.store.close()
