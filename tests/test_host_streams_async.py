"""Host streams and futures with an async, callback-ABI guest (tests/guests/streams_async.wat).

Every call goes through ``await func.call_async(store, ...)`` under asyncio;
the guest's tasks keep streaming after ``task.return`` and wait on a
waitable set whenever a read or write blocks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from guest_util import component

from wasmloom import Linker, Store, Trap
from wasmloom.host.streams import (
    AsyncIterableProducer,
    BytearrayConsumer,
    BytesProducer,
    Destination,
    FutureReader,
    StreamReader,
    StreamResult,
)

COMPLETED, DROPPED, CANCELLED = 0, 1, 2
PATTERN = b"abc" * 30_000


class Guest:
    def __init__(self) -> None:
        self.store: Store[None] = Store()
        self.inst = Linker().instantiate(self.store, component("streams_async"))

    async def __call__(self, name: str, *args: Any) -> Any:
        f = self.inst.get_func(name)
        assert f is not None, name
        return await f.call_async(self.store, *args)


class Ended(BytearrayConsumer):
    """A bytearray consumer whose ``ended`` future resolves when it is disposed of."""

    def __init__(self) -> None:
        super().__init__()
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def close(self) -> None:
        super().close()
        if not self.ended.done():
            self.ended.set_result(None)


class Endless:
    """Produces ``b"abc"`` forever, straight into the reader's buffer; records ``close()``."""

    def __init__(self) -> None:
        self.produced = 0
        self.closed = False

    def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
        room = dst.remaining()
        view = dst.as_direct(65536 if room is None else room)
        n = len(view)
        k = self.produced % 3
        view[:] = PATTERN[k : k + n]
        dst.mark_written(n)
        self.produced += n
        return StreamResult.COMPLETED

    def close(self) -> None:
        self.closed = True


class Steps:
    """A producer driven by ``step(dst, finish)``; records the ``finish`` flags and the store."""

    def __init__(self, step: Callable[[Destination, bool], StreamResult]) -> None:
        self.step = step
        self.finishes: list[bool] = []
        self.stores: list[Any] = []
        self.closed = False

    def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
        self.finishes.append(finish)
        self.stores.append(store)
        return self.step(dst, finish)

    def close(self) -> None:
        self.closed = True


def test_upper_round_trip_with_a_producer_and_a_consumer() -> None:
    g = Guest()

    async def main() -> bytes:
        out = await g("upper", StreamReader.new(g.store, BytesProducer(b"hello, streams " * 9000)))
        assert isinstance(out, StreamReader) and out.store is g.store
        c = Ended()
        out.pipe(g.store, c)
        await c.ended
        return bytes(c.data)

    assert asyncio.run(main()) == b"HELLO, STREAMS " * 9000


def test_async_for_over_the_guest_output_attaches_with_the_real_store() -> None:
    g = Guest()

    async def words() -> AsyncIterator[bytes]:
        for w in (b"one ", b"two ", b"three"):
            await asyncio.sleep(0.001)  # the guest waits on its read meanwhile
            yield w

    async def main() -> bytes:
        out = await g("upper", StreamReader.new(g.store, AsyncIterableProducer(words())))
        assert out.store is g.store
        got = b""
        async for chunk in out:  # each chunk is taken while the iterator waits
            got += chunk
        return got

    assert asyncio.run(main()) == b"ONE TWO THREE"


def test_guest_future_of_a_string_is_awaited() -> None:
    g = Guest()

    async def main() -> str:
        fut = await g("greeting")
        assert isinstance(fut, FutureReader) and fut.store is g.store
        return await fut  # type: ignore[no-any-return]

    assert asyncio.run(main()) == "hello from the guest"


def test_guest_dropping_its_ends_mid_stream_disposes_of_producer_and_consumer() -> None:
    g = Guest()
    producer = Endless()

    async def main() -> Ended:
        out = await g("upper-prefix", StreamReader.new(g.store, producer), 100_000)
        c = Ended()
        out.pipe(g.store, c)
        await c.ended  # the guest dropped its writable end: the consumer is closed
        return c

    c = asyncio.run(main())
    assert c.closed and producer.closed  # ...and its readable end: the producer is closed
    assert bytes(c.data) == (b"ABC" * 40_000)[:100_000]
    assert producer.produced >= 100_000


def test_cancellation_mid_copy_calls_the_producer_with_finish() -> None:
    g = Guest()

    def step(dst: Destination, finish: bool) -> StreamResult:
        if not finish:
            return StreamResult.PENDING  # the read is under way...
        view = dst.as_direct(7)  # ...the guest cancels: wrap up with what there is
        view[:] = b"partial"
        dst.mark_written(7)
        return StreamResult.CANCELLED

    producer = Steps(step)
    code, data = asyncio.run(g("cancel-read", StreamReader.new(g.store, producer)))
    assert (code & 0xF, code >> 4, data) == (CANCELLED, 7, b"partial")
    assert producer.finishes == [False, True]
    assert producer.stores == [g.store, g.store]
    assert producer.closed  # the guest dropped its end afterwards


def test_cancellation_with_nothing_moved() -> None:
    g = Guest()
    producer = Steps(lambda dst, finish: StreamResult.CANCELLED if finish else StreamResult.PENDING)
    code, data = asyncio.run(g("cancel-read", StreamReader.new(g.store, producer)))
    assert (code, data) == (CANCELLED, b"")
    assert producer.finishes == [False, True]


def test_a_trap_delivered_through_a_later_event_poisons_the_instance() -> None:
    g = Guest()
    wake: list[Any] = []

    def step(dst: Destination, finish: bool) -> StreamResult:
        if not wake:
            wake.append(dst.wake)
            return StreamResult.PENDING
        return StreamResult.COMPLETED  # nothing produced: a contract violation

    errors: list[BaseException] = []

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(
            lambda loop, ctx: errors.append(ctx["exception"])
        )
        out = await g("upper", StreamReader.new(g.store, Steps(step)))
        out.close()
        wake[0]()  # outside guest code: the host is fine, the guest traps on the event
        for _ in range(20):
            await asyncio.sleep(0)
        with pytest.raises(Trap, match="cannot enter component instance"):
            await g("greeting")

    asyncio.run(main())
    assert any(isinstance(e, Trap) and "without producing any items" in str(e) for e in errors), (
        errors
    )
