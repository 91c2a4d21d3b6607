"""Streams and futures leave no reference cycles once both ends are gone.

Each wasi:http request makes a few streams and futures; any cycle among
their objects waits for the cyclic collector, which then costs CPU on every
request. These tests run many round-trips against a real guest
(tests/guests/streams_rc.wat) with the collector off, then count the objects
of the copy machine still alive: reference counting alone must have freed
them. A late call on an end whose stream is over still gets its answer.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from guest_util import ComponentGuest

from wasmloom.host.streams import (
    BytearrayConsumer,
    BytesProducer,
    FutureReader,
    FutureSource,
    StreamReader,
    StreamResult,
    ValueFutureProducer,
)
from wasmloom.runtime.builtins.guest_buffers import GuestBuffer
from wasmloom.runtime.streams import (
    CopyEnd,
    FutureRendezvous,
    SharedFutureImpl,
    SharedStreamImpl,
    StreamRendezvous,
)
from wasmloom.runtime.streams.buffers import Destination, Source
from wasmloom.runtime.streams.host_ends import (
    ConsumerEnd,
    FutureConsumerEnd,
    FutureProducerEnd,
    HostPump,
    ProducerEnd,
)

BLOCKED = 0xFFFF_FFFF
COMPLETED, DROPPED = 0, 1
ROUNDS = 200
MACHINE = (
    SharedStreamImpl,
    SharedFutureImpl,
    StreamRendezvous,
    FutureRendezvous,
    ProducerEnd,
    ConsumerEnd,
    FutureProducerEnd,
    FutureConsumerEnd,
    HostPump,
    Destination,
    Source,
    CopyEnd,
    GuestBuffer,
    StreamReader,
    FutureReader,
)


class Guest(ComponentGuest):
    def __init__(self) -> None:
        super().__init__("streams_rc")

    def pair(self, what: str) -> tuple[int, int]:
        v = self(f"new-{what}")
        return v & 0xFFFF_FFFF, v >> 32


@pytest.fixture
def g() -> Guest:
    return Guest()


@pytest.fixture
def no_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def live() -> int:
    """How many objects of the copy machine are alive (freed or not by the collector)."""
    return sum(isinstance(o, MACHINE) for o in gc.get_objects())


class Take:
    """A future consumer that keeps the value."""

    def __init__(self) -> None:
        self.got: list[Any] = []

    def poll_consume(self, store: Any, src: FutureSource, finish: bool) -> StreamResult:
        self.got.append(src.take())
        return StreamResult.COMPLETED


def host_to_guest_stream(g: Guest) -> None:
    h = g("hold", StreamReader.new(g.store, BytesProducer(b"hello")))
    assert g("read", h, 100) == DROPPED | 5 << 4
    g("drop-readable", h)


def guest_to_host_stream(g: Guest) -> None:
    r, w = g.pair("stream")
    c = BytearrayConsumer()
    g("give", r).pipe(g.store, c)
    g("fill", b"xy")
    assert g("write", w, 2) == COMPLETED | 2 << 4
    g("drop-writable", w)
    assert c.closed and c.data == b"xy"


def guest_to_guest_stream(g: Guest) -> None:
    r, w = g.pair("stream")
    g("fill", b"abc")
    assert g("write", w, 3) == BLOCKED  # pending on the rendezvous until the read
    assert g("read", r, 10) == COMPLETED | 3 << 4
    g("drop-readable", r)
    g("cancel-write", w)  # the write already moved its items: it reports them
    g("drop-writable", w)


def host_to_host_stream(g: Guest) -> None:
    c = BytearrayConsumer()
    StreamReader.new(g.store, BytesProducer(b"hello")).pipe(g.store, c)
    assert c.closed and c.data == b"hello"


def host_to_guest_future(g: Guest) -> None:
    h = g("hold-f", FutureReader.new(g.store, ValueFutureProducer(7)))
    assert g("read-f", h) == COMPLETED
    g("drop-f-readable", h)


def guest_to_host_future(g: Guest) -> None:
    r, w = g.pair("future")
    take = Take()
    g("give-f", r).pipe(g.store, take)
    assert g("write-f", w, 5) == COMPLETED
    g("drop-f-writable", w)
    assert take.got == [5]


def guest_to_guest_future(g: Guest) -> None:
    r, w = g.pair("future")
    assert g("read-f", r) == BLOCKED
    assert g("write-f", w, 9) == COMPLETED
    assert g("event", r) == 4  # FUTURE_READ, COMPLETED: the read is over
    g("drop-f-writable", w)
    g("drop-f-readable", r)


def host_to_host_future(g: Guest) -> None:
    take = Take()
    FutureReader.new(g.store, ValueFutureProducer(3)).pipe(g.store, take)
    assert take.got == [3]


@pytest.mark.parametrize(
    "round_trip",
    [
        host_to_guest_stream,
        guest_to_host_stream,
        guest_to_guest_stream,
        host_to_host_stream,
        host_to_guest_future,
        guest_to_host_future,
        guest_to_guest_future,
        host_to_host_future,
    ],
)
def test_round_trips_are_freed_without_the_cyclic_collector(
    g: Guest, no_gc: None, round_trip: Callable[[Guest], None]
) -> None:
    round_trip(g)  # warm up: each built-in keeps its last buffer (and so its end) for reuse
    before = live()
    for _ in range(ROUNDS):
        round_trip(g)
    left = live() - before
    # Reference counting freed every stream and future: nothing grew with the rounds.
    assert left <= 2, f"{left} objects of the copy machine left after {ROUNDS} rounds"
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        cyclic = [o for o in gc.garbage if isinstance(o, MACHINE)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert cyclic == []


def test_late_copies_on_a_dropped_stream_or_future_still_see_dropped(g: Guest) -> None:
    # The reader dropped first: the writer's next write sees DROPPED, then it may drop.
    r, w = g.pair("stream")
    g("drop-readable", r)
    assert g("write", w, 3) == DROPPED
    g("drop-writable", w)
    r, w = g.pair("future")
    g("drop-f-readable", r)
    assert g("write-f", w, 1) == DROPPED
    g("drop-f-writable", w)
    # A host reader of a guest stream the writer already dropped: the consumer ends at once.
    r, w = g.pair("stream")
    reader = g("give", r)
    g("drop-writable", w)
    c = BytearrayConsumer()
    reader.pipe(g.store, c)
    assert c.closed and c.data == b""
    # A closed host reader keeps its clear error.
    reader = StreamReader.new(g.store, BytesProducer(b"x"))
    reader.close()
    with pytest.raises(ValueError, match="already piped, closed or handed over"):
        reader.into_producer()
    freader = FutureReader.new(g.store, ValueFutureProducer(1))
    freader.close()
    with pytest.raises(ValueError, match="already piped, closed or handed over"):
        freader.into_producer()


def test_a_future_copy_that_pended_gives_its_buffer_to_the_next_copy(
    g: Guest, monkeypatch: pytest.MonkeyPatch
) -> None:
    guest_to_guest_future(g)  # warm up: the read pends, the write completes at once
    made: list[GuestBuffer] = []
    init = GuestBuffer.__init__

    def counting_init(self: GuestBuffer, *args: Any) -> None:
        made.append(self)
        init(self, *args)

    monkeypatch.setattr(GuestBuffer, "__init__", counting_init)
    for _ in range(3):
        guest_to_guest_future(g)  # the read's event came: its buffer is the next read's
    r, w = g.pair("future")
    assert g("read-f", r) == BLOCKED
    assert g("cancel-read-f", r) == 2  # CANCELLED: over, its buffer kept as well
    assert g("read-f", r) == BLOCKED
    assert g("write-f", w, 11) == COMPLETED
    assert g("event", r) == 4 and g("peek-u32") == 11
    g("drop-f-writable", w)
    g("drop-f-readable", r)
    assert made == []
