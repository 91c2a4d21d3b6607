"""Host streams and futures against a real guest (tests/guests/streams_rc.wat).

The guest's exports are sync functions, each doing one async stream/future
built-in (so none blocks), which lets a test drive every step of a copy.
"""

from __future__ import annotations

import asyncio
import gc
import io
import struct
import warnings
from typing import Any

import pytest
from guest_util import ComponentGuest

from wasmloom import Trap
from wasmloom.host.streams import (
    AsyncIterableProducer,
    AwaitableFutureProducer,
    BytearrayConsumer,
    BytesProducer,
    Destination,
    FileConsumer,
    FileProducer,
    FutureDestination,
    FutureReader,
    FutureSource,
    ListProducer,
    Source,
    StreamReader,
    StreamResult,
    ValueFutureProducer,
)

BLOCKED = 0xFFFF_FFFF
COMPLETED, DROPPED, CANCELLED = 0, 1, 2
STREAM_READ, STREAM_WRITE, FUTURE_READ = 2, 3, 4


class Guest(ComponentGuest):
    def __init__(self) -> None:
        super().__init__("streams_rc")

    def event(self, h: int) -> tuple[int, int]:
        """(event code, payload) of handle ``h``'s pending event, or (0, 0)."""
        v = self("event", h)
        return v & 0xFFFF_FFFF, v >> 32

    def new_stream(self) -> tuple[int, int]:
        v = self("new-stream")
        return v & 0xFFFF_FFFF, v >> 32

    def guest_stream(self) -> tuple[StreamReader[Any], int]:
        """A stream the guest writes (its writable end's handle) and the host reads."""
        r, w = self.new_stream()
        return self("give", r), w


@pytest.fixture
def g() -> Guest:
    return Guest()


def code(n: int, result: int = COMPLETED) -> int:
    return result | (n << 4)


class Pending:
    """A producer that stays PENDING until ``feed`` gives it data; records its calls."""

    def __init__(self) -> None:
        self.data = b""
        self.eof = False
        self.wake: Any = None
        self.calls: list[tuple[int | None, bool]] = []
        self.closed = 0
        self.on_finish = StreamResult.CANCELLED

    def feed(self, data: bytes, eof: bool = False) -> None:
        self.data += data
        self.eof = eof
        self.wake()

    def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
        self.calls.append((dst.remaining(), finish))
        if self.data:
            dst.set_buffer(self.data)
            self.data = b""
            return StreamResult.DROPPED if self.eof else StreamResult.COMPLETED
        if self.eof:
            return StreamResult.DROPPED
        if finish:
            return self.on_finish
        self.wake = dst.wake
        return StreamResult.PENDING

    def close(self) -> None:
        self.closed += 1


# --- producing into a guest -------------------------------------------------------------------


def test_direct_production_writes_into_guest_memory(g: Guest) -> None:
    seen: list[int] = []

    class Direct:
        def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
            view = dst.as_direct(1000)
            seen.append(len(view))
            view[:3] = b"abc"
            dst.mark_written(3)
            return StreamResult.COMPLETED

    h = g("hold", StreamReader.new(g.store, Direct()))
    assert g("read", h, 8) == code(3)
    assert g("peek", 3) == b"abc"
    assert seen == [8]  # the view is the guest's buffer, clipped to its length


def test_bytes_producer_splits_across_reads_then_drops(g: Guest) -> None:
    p = BytesProducer(b"hello world")
    h = g("hold", StreamReader.new(g.store, p))
    assert g("read", h, 5) == code(5)
    assert g("peek", 5) == b"hello"
    assert g("read", h, 100) == code(6, DROPPED)
    assert g("peek", 6) == b" world"


def test_leftover_items_are_kept_for_the_next_reads(g: Guest) -> None:
    calls = []

    class Once:
        def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
            calls.append(dst.remaining())
            dst.set_buffer(b"0123456789")
            return StreamResult.COMPLETED

    h = g("hold", StreamReader.new(g.store, Once()))
    assert g("read", h, 4) == code(4)
    assert g("read", h, 4) == code(4)
    assert g("read", h, 4) == code(2)
    assert g("peek", 2) == b"89"
    assert calls == [4]  # not called again until everything was delivered


def test_list_producer_for_a_u32_stream(g: Guest) -> None:
    h = g("hold32", StreamReader.new(g.store, ListProducer(list(range(1000)))))
    assert g("sink32", h, 7) == 1000


def test_u32_items_land_in_guest_memory_exactly(g: Guest) -> None:
    items = [0, 1, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 12345]
    h = g("hold32", StreamReader.new(g.store, ListProducer(items)))
    assert g("read32", h, 4) == code(4)
    assert list(struct.unpack("<4I", g("peek", 16))) == items[:4]
    assert g("read32", h, 4) == code(2)  # the rest; the producer then ends the stream
    assert list(struct.unpack("<2I", g("peek", 8))) == items[4:]


@pytest.mark.parametrize("bad", [-1, 1 << 32, "7", 1.5])
def test_a_u32_item_out_of_range_traps_and_names_the_type(g: Guest, bad: object) -> None:
    h = g("hold32", StreamReader.new(g.store, ListProducer([1, bad, 3])))
    with pytest.raises(Trap) as info:
        g("read32", h, 4)
    assert "u32" in str(info.value)


def test_pending_producer_completes_the_read_when_woken(g: Guest) -> None:
    p = Pending()
    h = g("hold", StreamReader.new(g.store, p))
    assert g("read", h, 10) == BLOCKED
    assert g.event(h) == (0, 0)
    p.feed(b"late")
    assert g.event(h) == (STREAM_READ, code(4))
    assert g("peek", 4) == b"late"
    p.feed(b"!", eof=True)
    assert g("read", h, 10) == code(1, DROPPED)


def test_producer_woken_during_its_own_step_is_stepped_again_at_once(g: Guest) -> None:
    class WakesItself:
        def __init__(self) -> None:
            self.calls = 0

        def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
            self.calls += 1
            if self.calls == 1:
                dst.wake()  # ready already: the read need not wait for an event
                return StreamResult.PENDING
            dst.set_buffer(b"now")
            return StreamResult.COMPLETED

    p = WakesItself()
    h = g("hold", StreamReader.new(g.store, p))
    assert g("read", h, 10) == code(3)  # completed inside the read
    assert p.calls == 2
    assert g("peek", 3) == b"now"


def test_zero_length_read_is_a_readiness_probe(g: Guest) -> None:
    p = Pending()
    h = g("hold", StreamReader.new(g.store, p))
    assert g("read", h, 0) == BLOCKED  # not ready: the probe waits
    p.feed(b"xyz")  # ready: the items are kept for the next read
    assert g.event(h) == (STREAM_READ, code(0))
    assert p.calls == [(0, False), (0, False)]
    assert g("read", h, 10) == code(3)
    assert g("peek", 3) == b"xyz"


def test_zero_length_probe_answered_completed_without_items(g: Guest) -> None:
    h = g("hold", StreamReader.new(g.store, BytesProducer(b"ab")))
    assert g("read", h, 0) == code(0)
    assert g("read", h, 8) == code(2, DROPPED)


def test_cancelling_a_read_calls_the_producer_with_finish(g: Guest) -> None:
    p = Pending()
    h = g("hold", StreamReader.new(g.store, p))
    assert g("read", h, 10) == BLOCKED
    assert g("cancel-read", h) == code(0, CANCELLED)
    assert p.calls == [(10, False), (10, True)]
    # the stream goes on
    assert g("read", h, 10) == BLOCKED
    p.feed(b"more")
    assert g.event(h) == (STREAM_READ, code(4))


def test_cancelled_producer_may_still_deliver_what_it_has(g: Guest) -> None:
    class Wrap:
        def __init__(self) -> None:
            self.n = 0

        def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
            self.n += 1
            if not finish:
                return StreamResult.PENDING
            dst.set_buffer(b"partial")
            return StreamResult.COMPLETED

    h = g("hold", StreamReader.new(g.store, Wrap()))
    assert g("read", h, 10) == BLOCKED
    assert g("cancel-read", h) == code(7)
    assert g("peek", 7) == b"partial"


def test_graceful_cancellation_may_stay_pending(g: Guest) -> None:
    p = Pending()
    p.on_finish = StreamResult.PENDING
    h = g("hold", StreamReader.new(g.store, p))
    assert g("read", h, 10) == BLOCKED
    assert g("cancel-read", h) == BLOCKED
    p.feed(b"done")
    assert g.event(h) == (STREAM_READ, code(4))


def test_guest_dropping_its_end_disposes_of_the_producer(g: Guest) -> None:
    p = Pending()
    h = g("hold", StreamReader.new(g.store, p))
    assert g("read", h, 10) == BLOCKED
    p.feed(b"some")
    g.event(h)
    assert p.closed == 0
    g("drop-readable", h)
    assert p.closed == 1


def test_file_producer_reads_into_guest_memory(g: Guest) -> None:
    data = bytes(range(256)) * 1000
    h = g("hold", StreamReader.new(g.store, FileProducer(io.BytesIO(data))))
    assert g("sink", h) == len(data)


# --- consuming from a guest ---------------------------------------------------------------------


def test_direct_consumption_reads_guest_memory(g: Guest) -> None:
    out = io.BytesIO()
    reader, w = g.guest_stream()
    reader.pipe(g.store, FileConsumer(out))
    g("fill", b"stream data")
    assert g("write", w, 11) == code(11)
    assert out.getvalue() == b"stream data"


def test_consumer_attached_late_takes_the_pending_write(g: Guest) -> None:
    reader, w = g.guest_stream()
    g("fill", b"early")
    assert g("write", w, 5) == BLOCKED
    c = BytearrayConsumer()
    reader.pipe(g.store, c)
    assert g.event(w) == (STREAM_WRITE, code(5))
    assert c.data == b"early"


def test_partial_consumption_and_backpressure(g: Guest) -> None:
    class Slow:
        def __init__(self) -> None:
            self.got = bytearray()
            self.wake: Any = None

        def poll_consume(self, store: Any, src: Source, finish: bool) -> StreamResult:
            if self.wake is None:
                src.read(self.got, 2)
                self.wake = src.wake
                return StreamResult.PENDING  # took items; the writer waits
            return StreamResult.COMPLETED

    c = Slow()
    reader, w = g.guest_stream()
    reader.pipe(g.store, c)
    g("fill", b"abcdef")
    assert g("write", w, 6) == BLOCKED
    assert c.got == b"ab"
    c.wake()
    assert g.event(w) == (STREAM_WRITE, code(2))


def test_guest_dropping_the_writer_ends_the_stream_for_the_consumer(g: Guest) -> None:
    c = BytearrayConsumer()
    reader, w = g.guest_stream()
    reader.pipe(g.store, c)
    g("fill", b"xy")
    g("write", w, 2)
    assert not c.closed
    g("drop-writable", w)
    assert c.closed and c.data == b"xy"


def test_consumer_dropping_tells_the_writer(g: Guest) -> None:
    class OneShot:
        def poll_consume(self, store: Any, src: Source, finish: bool) -> StreamResult:
            src.read(bytearray(), 1)
            return StreamResult.DROPPED

    reader, w = g.guest_stream()
    reader.pipe(g.store, OneShot())
    g("fill", b"xy")
    assert g("write", w, 2) == code(1, DROPPED)


def test_cancelling_a_write_calls_the_consumer_with_finish(g: Guest) -> None:
    calls = []

    class Never:
        def poll_consume(self, store: Any, src: Source, finish: bool) -> StreamResult:
            calls.append(finish)
            return StreamResult.CANCELLED if finish else StreamResult.PENDING

    reader, w = g.guest_stream()
    reader.pipe(g.store, Never())
    g("fill", b"xy")
    assert g("write", w, 2) == BLOCKED
    assert g("cancel-write", w) == code(0, CANCELLED)
    assert calls == [False, True]


def test_zero_length_write_probe(g: Guest) -> None:
    reader, w = g.guest_stream()
    c = BytearrayConsumer()
    reader.pipe(g.store, c)
    assert g("write", w, 0) == code(0)


def test_closing_a_reader_drops_the_writer(g: Guest) -> None:
    reader, w = g.guest_stream()
    g("fill", b"xy")
    assert g("write", w, 2) == BLOCKED
    reader.close()
    assert g.event(w) == (STREAM_WRITE, code(0, DROPPED))


def test_guarded_reader_closes_on_exit(g: Guest) -> None:
    reader, w = g.guest_stream()

    async def main() -> None:
        async with reader:
            pass

    asyncio.run(main())
    g("fill", b"xy")
    assert g("write", w, 2) == code(0, DROPPED)


def test_forgotten_reader_warns_and_unblocks_the_writer(g: Guest) -> None:
    reader, w = g.guest_stream()
    g("fill", b"xy")
    assert g("write", w, 2) == BLOCKED
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del reader
        gc.collect()
    assert any(issubclass(c.category, ResourceWarning) for c in caught)
    assert g.event(w) == (STREAM_WRITE, code(0, DROPPED))


# --- contracts ------------------------------------------------------------------------------------


class Bad:
    def __init__(self, step: Any) -> None:
        self.step = step

    def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
        return self.step(dst, finish)  # type: ignore[no-any-return]

    def poll_consume(self, store: Any, src: Source, finish: bool) -> StreamResult:
        return self.step(src, finish)  # type: ignore[no-any-return]


def _pending_after_items(dst: Destination, finish: bool) -> StreamResult:
    dst.set_buffer(b"x")
    return StreamResult.PENDING


def _raise(dst: Any, finish: bool) -> StreamResult:
    raise RuntimeError("disk on fire")


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (_pending_after_items, "stream producer returned PENDING after producing items"),
        (
            lambda d, f: StreamResult.COMPLETED,
            "stream producer returned COMPLETED without producing any items while the reader",
        ),
        (lambda d, f: StreamResult.CANCELLED, "stream producer returned CANCELLED when finish"),
        (_raise, "stream producer failed: RuntimeError\\('disk on fire'\\)"),
        (lambda d, f: 42, "stream producer returned 42, not a StreamResult"),
    ],
)
def test_producer_contract_violations_trap(g: Guest, step: Any, message: str) -> None:
    h = g("hold", StreamReader.new(g.store, Bad(step)))
    with pytest.raises(Trap, match=message):
        g("read", h, 4)
    # the process and other stores are fine
    g2 = Guest()
    h2 = g2("hold", StreamReader.new(g2.store, BytesProducer(b"ok")))
    assert g2("read", h2, 4) == code(2, DROPPED)


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            lambda s, f: StreamResult.COMPLETED,
            "stream consumer returned COMPLETED without consuming any items while items",
        ),
        (lambda s, f: StreamResult.CANCELLED, "stream consumer returned CANCELLED when finish"),
        (_raise, "stream consumer failed"),
    ],
)
def test_consumer_contract_violations_trap(g: Guest, step: Any, message: str) -> None:
    reader, w = g.guest_stream()
    reader.pipe(g.store, Bad(step))
    g("fill", b"xy")
    with pytest.raises(Trap, match=message):
        g("write", w, 2)


def test_violation_after_wake_traps_when_the_guest_gets_the_event(g: Guest) -> None:
    wake: list[Any] = []

    def step(dst: Destination, finish: bool) -> StreamResult:
        if not wake:
            wake.append(dst.wake)
            return StreamResult.PENDING
        return StreamResult.COMPLETED  # nothing produced: a violation

    h = g("hold", StreamReader.new(g.store, Bad(step)))
    assert g("read", h, 4) == BLOCKED
    wake[0]()  # the host is fine...
    with pytest.raises(Trap, match="without producing any items"):
        g.event(h)  # ...the guest traps
    with pytest.raises(Trap, match="cannot enter component instance"):
        g("peek", 1)  # like any trap, it poisons the instance


def test_mark_written_beyond_the_view_traps(g: Guest) -> None:
    def step(dst: Destination, finish: bool) -> StreamResult:
        dst.as_direct(4)
        dst.mark_written(5)
        return StreamResult.COMPLETED

    h = g("hold", StreamReader.new(g.store, Bad(step)))
    with pytest.raises(Trap, match="mark_written\\(5\\) exceeds"):
        g("read", h, 4)


# --- host to host ---------------------------------------------------------------------------------


def test_host_created_reader_handed_back_turns_into_its_producer(g: Guest) -> None:
    p = BytesProducer(b"bypass")
    h = g("hold", StreamReader.new(g.store, p))
    back = g("give", h)
    assert isinstance(back, StreamReader)
    assert back.into_producer() is p


def test_host_to_host_pipe_bypasses_the_guest(g: Guest) -> None:
    c = BytearrayConsumer()
    StreamReader.new(g.store, BytesProducer(b"abc" * 1000)).pipe(g.store, c)
    assert c.data == b"abc" * 1000 and c.closed


# --- futures ------------------------------------------------------------------------------------------


def test_host_future_read_by_the_guest(g: Guest) -> None:
    h = g("hold-f", FutureReader.new(g.store, ValueFutureProducer(7)))
    assert g("read-f", h) == COMPLETED
    assert g("peek-u32") == 7


def test_pending_future_producer_and_cancellation(g: Guest) -> None:
    state: dict[str, Any] = {}

    class Later:
        def poll_produce(self, store: Any, dst: FutureDestination, finish: bool) -> StreamResult:
            if "value" in state:
                dst.set(state["value"])
                return StreamResult.COMPLETED
            if finish:
                return StreamResult.CANCELLED
            state["wake"] = dst.wake
            return StreamResult.PENDING

    h = g("hold-f", FutureReader.new(g.store, Later()))
    assert g("read-f", h) == BLOCKED
    assert g("cancel-read-f", h) == CANCELLED
    assert g("read-f", h) == BLOCKED
    state["value"] = 99
    state["wake"]()
    assert g.event(h) == (FUTURE_READ, COMPLETED)
    assert g("peek-u32") == 99


def test_future_producer_contract(g: Guest) -> None:
    class Empty:
        def poll_produce(self, store: Any, dst: FutureDestination, finish: bool) -> StreamResult:
            return StreamResult.COMPLETED

    h = g("hold-f", FutureReader.new(g.store, Empty()))
    with pytest.raises(Trap, match="future producer returned COMPLETED without producing"):
        g("read-f", h)


def test_guest_future_consumed_by_the_host(g: Guest) -> None:
    v = g("new-future")
    r, w = v & 0xFFFF_FFFF, v >> 32
    fr = g("give-f", r)
    got = []

    class Take:
        def poll_consume(self, store: Any, src: FutureSource, finish: bool) -> StreamResult:
            got.append(src.take())
            return StreamResult.COMPLETED

    fr.pipe(g.store, Take())
    assert g("write-f", w, 5) == COMPLETED
    assert got == [5]


def test_awaiting_a_guest_future(g: Guest) -> None:
    v = g("new-future")
    r, w = v & 0xFFFF_FFFF, v >> 32
    fr = g("give-f", r)

    async def main() -> Any:
        waiter = asyncio.ensure_future(fr)
        await asyncio.sleep(0)
        assert g("write-f", w, 123) == COMPLETED
        return await waiter

    assert asyncio.run(main()) == 123


def test_future_from_an_awaitable(g: Guest) -> None:
    async def main() -> None:
        async def compute() -> int:
            await asyncio.sleep(0.001)
            return 41 + 1

        h = g("hold-f", FutureReader.new(g.store, AwaitableFutureProducer(compute())))
        assert g("read-f", h) == BLOCKED
        for _ in range(100):
            await asyncio.sleep(0.001)
            ev = g.event(h)
            if ev[0]:
                break
        assert ev == (FUTURE_READ, COMPLETED)
        assert g("peek-u32") == 42

    asyncio.run(main())


# --- asyncio adapters ---------------------------------------------------------------------------------


def test_async_generator_producer(g: Guest) -> None:
    async def chunks() -> Any:
        for part in (b"one ", b"two ", b"three"):
            await asyncio.sleep(0)
            yield part

    async def main() -> bytes:
        h = g("hold", StreamReader.new(g.store, AsyncIterableProducer(chunks())))
        got = b""
        while True:
            c = g("read", h, 64)
            while c == BLOCKED:
                await asyncio.sleep(0)
                ev, c2 = g.event(h)
                if ev:
                    c = c2
            got += g("peek", c >> 4)
            if c & 0xF == DROPPED:
                return got

    assert asyncio.run(main()) == b"one two three"


def test_asyncio_stream_reader_producer(g: Guest) -> None:
    from wasmloom.host.streams import StreamReaderProducer

    async def main() -> int:
        sr = asyncio.StreamReader()
        sr.feed_data(b"x" * 100_000)
        sr.feed_eof()
        h = g("hold", StreamReader.new(g.store, StreamReaderProducer(sr)))
        total = 0
        while True:
            r = g("sink", h)
            total += r & ~(1 << 63)
            if not r >> 63:
                return total
            while True:
                await asyncio.sleep(0)
                ev, c = g.event(h)
                if ev:
                    total += c >> 4
                    if c & 0xF == DROPPED:
                        return total
                    break

    assert asyncio.run(main()) == 100_000


def test_async_for_over_a_guest_stream(g: Guest) -> None:
    reader, w = g.guest_stream()

    async def main() -> bytes:
        got = b""

        async def writer() -> None:
            for part in (b"ab", b"cd"):
                g("fill", part)
                c = g("write", w, 2)
                while c == BLOCKED:
                    await asyncio.sleep(0)
                    ev, c = g.event(w)
                    c = BLOCKED if not ev else c
            g("drop-writable", w)

        task = asyncio.ensure_future(writer())
        async for chunk in reader:
            got += chunk
        await task
        return got

    assert asyncio.run(main()) == b"abcd"


def test_the_streams_guide_examples_run(monkeypatch: pytest.MonkeyPatch) -> None:
    import re
    from pathlib import Path

    root = Path(__file__).parent.parent
    monkeypatch.chdir(root)
    text = (root / "docs" / "streams.md").read_text()
    code = "\n".join(re.findall(r"```python\n(.*?)```", text, re.S))
    exec(compile(code, "docs/streams.md", "exec"), {"__name__": "docs"})
