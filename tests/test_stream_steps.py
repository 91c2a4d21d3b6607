"""The first step of a copy, run in line by the host's stream ends, and one-shot future copies.

A host end runs the first step of each guest copy itself; any answer but the
common one (items moved, COMPLETED) goes through the checking loop, which runs
the step again when it was woken during it. Against tests/guests/streams_rc.wat.
"""

from __future__ import annotations

from typing import Any

from guest_util import ComponentGuest

from wasmloom.host.streams import FutureReader, Source, StreamResult, ValueFutureProducer

BLOCKED = 0xFFFF_FFFF
COMPLETED, DROPPED = 0, 1


class Guest(ComponentGuest):
    def __init__(self) -> None:
        super().__init__("streams_rc")


class WakesItself:
    """A consumer whose first step wakes itself and answers PENDING; it then takes
    ``limit`` bytes a step."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.calls = 0
        self.data = bytearray()

    def poll_consume(self, store: Any, src: Source, finish: bool) -> StreamResult:
        self.calls += 1
        if self.calls == 1:
            src.wake()  # ready already: the write need not wait for an event
            return StreamResult.PENDING
        src.read(self.data, self.limit)
        return StreamResult.COMPLETED


def test_consumer_woken_during_its_own_step_is_stepped_again_at_once() -> None:
    g = Guest()
    v = g("new-stream")
    c = WakesItself(limit=2)
    g("give", v & 0xFFFF_FFFF).pipe(g.store, c)
    g("fill", b"hello")
    assert g("write", v >> 32, 5) == COMPLETED | (2 << 4)  # completed inside the write
    assert c.calls == 2
    # The next write is the common case: taken in the first step, no loop.
    assert g("write", v >> 32, 3) == COMPLETED | (2 << 4)
    assert c.calls == 3 and bytes(c.data) == b"hehe"


def test_a_host_future_is_read_inside_the_call_and_its_reader_is_done() -> None:
    g = Guest()
    h = g("hold-f", FutureReader.new(g.store, ValueFutureProducer(7)))
    assert g("read-f", h) == COMPLETED  # no event: the producer answered at once
    assert g("peek-u32") == 7
    g("drop-f-readable", h)


def test_a_guest_future_written_to_a_host_reader_completes_inside_the_call() -> None:
    g = Guest()
    v = g("new-future")
    got: list[Any] = []

    class Take:
        def poll_consume(self, store: Any, src: Any, finish: bool) -> StreamResult:
            got.append(src.take())
            return StreamResult.COMPLETED

    g("give-f", v & 0xFFFF_FFFF).pipe(g.store, Take())
    w = v >> 32
    assert g("write-f", w, 11) == COMPLETED
    assert got == [11]
    g("drop-f-writable", w)  # written: the end may be dropped
