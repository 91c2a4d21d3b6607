"""The copy machine's host ends, driven from Python with no wasm.

A stream or future whose peer is a host end (ProducerEnd, ConsumerEnd and the
future ends) is copied through its ``Shared*Impl`` exactly as a guest's
``stream.read``/``stream.write`` does, with in-Python buffers (ListBuffer,
BytesBuffer) in place of guest memory. The producers and consumers are real
objects whose steps each test scripts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from wasmloom import Store
from wasmloom import types as T
from wasmloom.errors import Trap
from wasmloom.host.streams import BytearrayConsumer, BytesProducer
from wasmloom.runtime.streams import (
    BytesBuffer,
    CopyResult,
    FailedEnd,
    ListBuffer,
    SharedFutureImpl,
    SharedStreamImpl,
    StreamRendezvous,
)
from wasmloom.runtime.streams.host_ends import (
    ConsumerEnd,
    FutureConsumerEnd,
    FutureProducerEnd,
    HostPump,
    ProducerEnd,
    StreamResult,
)
from wasmloom.runtime.streams.machine import DROPPED_END

COMPLETED = StreamResult.COMPLETED
CANCELLED = StreamResult.CANCELLED
DROPPED = StreamResult.DROPPED
PENDING = StreamResult.PENDING

Step = Callable[[Any, bool], Any]


class Scripted:
    """A producer or consumer (stream or future) whose steps are ``steps``, in order.

    Each step gets the step's dst/src and ``finish`` and returns the answer.
    Records every ``finish`` it was called with, keeps the last ``wake``, and
    counts ``close()`` and records ``fail(error)``.
    """

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.calls: list[bool] = []
        self.wake: Callable[[], None] | None = None
        self.closed = 0
        self.failed: BaseException | None = None

    def _step(self, store: Any, view: Any, finish: bool) -> Any:
        self.calls.append(finish)
        self.wake = view.wake
        return self.steps.pop(0)(view, finish)

    poll_produce = _step
    poll_consume = _step

    def close(self) -> None:
        self.closed += 1

    def fail(self, error: BaseException) -> None:
        self.failed = error


class Copy:
    """The callbacks of one guest copy: the events it got, in order."""

    def __init__(self) -> None:
        self.done: list[CopyResult] = []
        self.reclaims: list[Callable[[], None]] = []

    def on_copy(self, reclaim: Callable[[], None]) -> None:
        self.reclaims.append(reclaim)

    def on_copy_done(self, result: CopyResult) -> None:
        self.done.append(result)


def give(items: Any, answer: StreamResult = COMPLETED) -> Step:
    def step(dst: Any, finish: bool) -> Any:
        dst.set_buffer(items)
        return answer

    return step


def answer(result: Any) -> Step:
    return lambda view, finish: result


def take_all(into: list[Any], result: StreamResult = COMPLETED) -> Step:
    def step(src: Any, finish: bool) -> Any:
        src.read(into)
        return result

    return step


def producer_stream(producer: Any, store: Any = None, t: Any = None) -> SharedStreamImpl:
    end = ProducerEnd(store, producer)
    shared = SharedStreamImpl(t, end)
    end.shared = shared
    return shared


def consumer_stream(consumer: Any, store: Any = None, t: Any = None) -> SharedStreamImpl:
    shared = SharedStreamImpl(t)
    ConsumerEnd(store, consumer, shared).attach()
    return shared


def read(shared: Any, dst: Any) -> Copy:
    c = Copy()
    shared.read(None, dst, c.on_copy, c.on_copy_done)
    return c


def write(shared: Any, src: Any) -> Copy:
    c = Copy()
    shared.write(None, src, c.on_copy, c.on_copy_done)
    return c


# --- the peer interface -------------------------------------------------------------------------


def test_a_stream_starts_as_a_rendezvous_and_a_consumer_takes_its_place() -> None:
    shared = SharedStreamImpl(None)
    assert isinstance(shared.peer, StreamRendezvous)
    got: list[Any] = []
    consumer = Scripted(take_all(got))
    ConsumerEnd(None, consumer, shared).attach()
    assert isinstance(shared.peer, ConsumerEnd)
    c = write(shared, ListBuffer([1, 2]))
    assert c.done == [CopyResult.COMPLETED] and got == [1, 2]


def test_the_host_ends_serve_one_direction() -> None:
    prod = producer_stream(Scripted())
    with pytest.raises(Trap, match="cannot write to the host's end of a stream"):
        write(prod, ListBuffer([1]))
    cons = consumer_stream(Scripted())
    with pytest.raises(Trap, match="cannot read from the host's end of a stream"):
        read(cons, ListBuffer(capacity=1))


# --- stream producer ----------------------------------------------------------------------------


def test_produce_runs_at_once_inside_the_read() -> None:
    producer = Scripted(give(["a", "b"]))
    shared = producer_stream(producer)
    dst = ListBuffer(capacity=4)
    c = read(shared, dst)
    assert producer.calls == [False]
    assert c.done == [CopyResult.COMPLETED] and dst.values == ["a", "b"]
    # the fast path answers without callbacks
    producer.steps.append(give(["c"]))
    assert shared.peer.read_now(None, ListBuffer(capacity=4)) is CopyResult.COMPLETED


def test_bytes_go_straight_into_a_bytes_buffer() -> None:
    producer = BytesProducer(b"hello world")
    shared = producer_stream(producer, t=T.PrimType("u8"))
    first = BytesBuffer(bytearray(5))
    assert read(shared, first).done == [CopyResult.COMPLETED]
    assert first.moved() == b"hello"
    rest = BytesBuffer(bytearray(16))
    # the producer's last bytes come with its DROPPED: the read reports DROPPED with them
    assert read(shared, rest).done == [CopyResult.DROPPED]
    assert rest.moved() == b" world" and rest.progress == 6


def test_bytes_given_to_set_buffer_are_copied_into_a_bytes_buffer() -> None:
    producer = Scripted(give(b"xyz"))
    shared = producer_stream(producer, t=T.PrimType("u8"))
    a, b = BytesBuffer(bytearray(2)), BytesBuffer(bytearray(4))
    assert read(shared, a).done == [CopyResult.COMPLETED]
    assert read(shared, b).done == [CopyResult.COMPLETED]
    assert (a.moved(), b.moved()) == (b"xy", b"z")


def test_items_beyond_the_readers_room_are_kept_for_the_next_reads() -> None:
    producer = Scripted(give([1, 2, 3, 4, 5]))
    shared = producer_stream(producer)
    a, b = ListBuffer(capacity=2), ListBuffer(capacity=10)
    assert read(shared, a).done == [CopyResult.COMPLETED]
    assert read(shared, b).done == [CopyResult.COMPLETED]
    assert (a.values, b.values) == ([1, 2], [3, 4, 5])
    assert producer.calls == [False]  # the second read needed no step


def test_pending_then_wake_delivers_the_read() -> None:
    store: Store[None] = Store()
    producer = Scripted(answer(PENDING), give([7]))
    shared = producer_stream(producer, store)
    dst = ListBuffer(capacity=3)
    c = read(shared, dst)
    assert c.done == [] and dst.values == []
    assert store.scheduler.host_pending == 1  # a waiting guest is not deadlocked
    assert producer.wake is not None
    producer.wake()
    assert c.done == [CopyResult.COMPLETED] and dst.values == [7]
    assert store.scheduler.host_pending == 0
    assert producer.calls == [False, False]


def test_a_wake_with_no_copy_pending_runs_no_step() -> None:
    producer = Scripted(give([1]))
    shared = producer_stream(producer)
    read(shared, ListBuffer(capacity=1))
    assert producer.wake is not None
    producer.wake()
    assert producer.calls == [False]


def test_zero_length_read_is_a_readiness_probe() -> None:
    producer = Scripted(answer(COMPLETED), give(["x"]), answer(DROPPED))
    shared = producer_stream(producer)
    # COMPLETED with nothing produced is fine when the reader has no room
    assert read(shared, ListBuffer(capacity=0)).done == [CopyResult.COMPLETED]
    # items given to a zero-length read are kept for the next one
    assert read(shared, ListBuffer(capacity=0)).done == [CopyResult.COMPLETED]
    dst = ListBuffer(capacity=5)
    assert read(shared, dst).done == [CopyResult.COMPLETED] and dst.values == ["x"]
    assert producer.calls == [False, False]


def test_cancel_asks_with_finish_and_cancelled_ends_the_read() -> None:
    producer = Scripted(answer(PENDING), answer(CANCELLED))
    shared = producer_stream(producer)
    c = read(shared, ListBuffer(capacity=2))
    shared.cancel()
    assert producer.calls == [False, True]
    assert c.done == [CopyResult.CANCELLED]


def test_a_producer_may_finish_gracefully_after_cancel() -> None:
    producer = Scripted(answer(PENDING), answer(PENDING), give([9]))
    shared = producer_stream(producer)
    dst = ListBuffer(capacity=2)
    c = read(shared, dst)
    shared.cancel()
    assert c.done == []
    assert producer.wake is not None
    producer.wake()
    assert producer.calls == [False, True, True]
    assert c.done == [CopyResult.COMPLETED] and dst.values == [9]


def test_dropped_ends_the_stream_and_disposes_of_the_producer() -> None:
    producer = Scripted(answer(DROPPED))
    shared = producer_stream(producer)
    assert read(shared, ListBuffer(capacity=2)).done == [CopyResult.DROPPED]
    assert producer.closed == 1
    # no step after DROPPED: the producer's end left the stream
    assert shared.peer is DROPPED_END
    assert read(shared, ListBuffer(capacity=2)).done == [CopyResult.DROPPED]
    shared.drop()  # the reader drops its end
    assert producer.calls == [False] and producer.closed == 1


def test_items_given_with_dropped_come_first() -> None:
    producer = Scripted(give([1, 2, 3], DROPPED))
    shared = producer_stream(producer)
    a, b = ListBuffer(capacity=2), ListBuffer(capacity=2)
    assert read(shared, a).done == [CopyResult.COMPLETED]
    assert isinstance(shared.peer, ProducerEnd)  # it keeps the item left for the next read
    assert read(shared, b).done == [CopyResult.COMPLETED]
    assert read(shared, ListBuffer(capacity=2)).done == [CopyResult.DROPPED]
    assert (a.values, b.values) == ([1, 2], [3])
    assert producer.closed == 1


def _raise(dst: Any, finish: bool) -> Any:
    raise ValueError("boom")


@pytest.mark.parametrize(
    ("step", "rule"),
    [
        (give([1], PENDING), "stream producer returned PENDING after producing items"),
        (
            answer(COMPLETED),
            "stream producer returned COMPLETED without producing any items"
            " while the reader had capacity",
        ),
        (answer(CANCELLED), "stream producer returned CANCELLED when finish was false"),
        (answer("done"), "stream producer returned 'done', not a StreamResult"),
        (_raise, r"stream producer failed: ValueError\('boom'\)"),
    ],
)
def test_a_broken_producer_rule_traps_the_read(step: Step, rule: str) -> None:
    shared = producer_stream(Scripted(step))
    with pytest.raises(Trap, match=rule):
        read(shared, ListBuffer(capacity=2))


def test_an_item_that_is_not_a_byte_traps_naming_the_type() -> None:
    shared = producer_stream(Scripted(give([1, "x"])), t=T.PrimType("u8"))
    with pytest.raises(Trap, match="the host produced an item that is not a valid `u8`"):
        read(shared, BytesBuffer(bytearray(4)))


def test_a_rule_broken_after_wake_traps_when_the_event_is_received() -> None:
    store: Store[None] = Store()
    producer = Scripted(answer(PENDING), answer(CANCELLED))
    shared = producer_stream(producer, store)
    c = read(shared, ListBuffer(capacity=2))
    assert producer.wake is not None
    producer.wake()  # outside guest code: nothing raises here
    assert c.done == [] and len(c.reclaims) == 1
    assert store.scheduler.host_pending == 0
    with pytest.raises(Trap, match="returned CANCELLED when finish was false"):
        c.reclaims[0]()


def test_the_readers_drop_disposes_of_the_producer_once() -> None:
    producer = Scripted()
    shared = producer_stream(producer)
    shared.drop()
    shared.drop()
    assert producer.closed == 1 and producer.calls == []


def test_a_trap_in_the_reader_fails_then_disposes_of_the_producer() -> None:
    store: Store[None] = Store()
    producer = Scripted(answer(PENDING))
    shared = producer_stream(producer, store)
    c = read(shared, ListBuffer(capacity=2))
    trap = Trap("the reader trapped")
    shared.peer.fail(trap)
    assert producer.failed is trap and producer.closed == 1
    assert store.scheduler.host_pending == 0  # the pending read is forgotten
    assert producer.wake is not None
    producer.wake()
    assert c.done == [] and c.reclaims == []


# --- stream consumer ----------------------------------------------------------------------------


def test_consume_runs_at_once_inside_the_write() -> None:
    got: list[Any] = []
    consumer = Scripted(take_all(got))
    shared = consumer_stream(consumer)
    src = ListBuffer([1, 2, 3])
    assert write(shared, src).done == [CopyResult.COMPLETED]
    assert got == [1, 2, 3] and src.progress == 3 and consumer.calls == [False]


def test_bytes_come_straight_from_a_bytes_buffer() -> None:
    consumer = BytearrayConsumer()
    shared = consumer_stream(consumer, t=T.PrimType("u8"))
    assert write(shared, BytesBuffer(b"abc")).done == [CopyResult.COMPLETED]
    assert write(shared, BytesBuffer(b"de")).done == [CopyResult.COMPLETED]
    assert bytes(consumer.data) == b"abcde"


def test_a_write_pending_before_the_consumer_attaches_is_taken_over() -> None:
    shared = SharedStreamImpl(None)
    c = write(shared, ListBuffer([4, 5]))
    assert c.done == []
    got: list[Any] = []
    ConsumerEnd(None, Scripted(take_all(got)), shared).attach()
    assert c.done == [CopyResult.COMPLETED] and got == [4, 5]


def test_a_consumer_may_take_items_and_answer_pending() -> None:
    got: list[Any] = []

    def take_one(src: Any, finish: bool) -> Any:
        src.read(got, 1)
        return PENDING

    consumer = Scripted(take_one, answer(COMPLETED))
    shared = consumer_stream(consumer)
    src = ListBuffer([1, 2, 3])
    c = write(shared, src)
    assert c.done == [] and got == [1] and src.progress == 1
    assert consumer.wake is not None
    consumer.wake()
    # the item taken while PENDING counts for this write
    assert c.done == [CopyResult.COMPLETED] and src.progress == 1


def test_zero_length_write_is_a_readiness_probe() -> None:
    consumer = Scripted(answer(COMPLETED))
    shared = consumer_stream(consumer)
    assert write(shared, ListBuffer([])).done == [CopyResult.COMPLETED]
    assert consumer.calls == [False]


def test_cancel_asks_the_consumer_with_finish() -> None:
    consumer = Scripted(answer(PENDING), answer(CANCELLED))
    shared = consumer_stream(consumer)
    c = write(shared, ListBuffer([1]))
    shared.cancel()
    assert consumer.calls == [False, True] and c.done == [CopyResult.CANCELLED]


def test_consumer_dropped_refuses_the_rest() -> None:
    got: list[Any] = []
    consumer = Scripted(take_all(got, DROPPED))
    shared = consumer_stream(consumer)
    src = ListBuffer([1, 2])
    assert write(shared, src).done == [CopyResult.DROPPED]
    assert got == [1, 2] and src.progress == 2 and consumer.closed == 1
    assert shared.peer is DROPPED_END  # the consumer's end left the stream
    assert write(shared, ListBuffer([3])).done == [CopyResult.DROPPED]
    shared.drop()  # the writer drops its end
    assert consumer.calls == [False] and consumer.closed == 1


@pytest.mark.parametrize(
    ("step", "rule"),
    [
        (
            answer(COMPLETED),
            "stream consumer returned COMPLETED without consuming any items"
            " while items were available",
        ),
        (answer(CANCELLED), "stream consumer returned CANCELLED when finish was false"),
        (answer(None), "stream consumer returned None, not a StreamResult"),
        (_raise, r"stream consumer failed: ValueError\('boom'\)"),
    ],
)
def test_a_broken_consumer_rule_traps_the_write(step: Step, rule: str) -> None:
    shared = consumer_stream(Scripted(step))
    with pytest.raises(Trap, match=rule):
        write(shared, ListBuffer([1]))


def test_the_writers_drop_disposes_of_the_consumer() -> None:
    consumer = Scripted()
    shared = consumer_stream(consumer)
    shared.drop()
    assert consumer.closed == 1 and consumer.calls == []


def test_a_consumer_attaching_after_the_writer_trapped_fails_with_the_trap() -> None:
    shared = SharedStreamImpl(None)
    trap = Trap("the writer trapped")
    shared.peer.fail(trap)  # what fail_host_ends does for a stream with no host end yet
    assert isinstance(shared.peer, FailedEnd) and shared.dropped
    consumer = Scripted()
    ConsumerEnd(None, consumer, shared).attach()
    assert consumer.failed is trap and consumer.closed == 1


# --- host to host -------------------------------------------------------------------------------


def test_a_host_pump_feeds_the_consumer_and_disposes_of_both() -> None:
    producer = Scripted(give([1, 2]), give([3], DROPPED))
    shared = producer_stream(producer)
    got: list[Any] = []
    consumer = Scripted(take_all(got), take_all(got))
    end = shared.peer
    assert isinstance(end, ProducerEnd)
    HostPump(None, end, consumer).run()
    assert got == [1, 2, 3]
    assert producer.closed == 1 and consumer.closed == 1


# --- futures ------------------------------------------------------------------------------------


def future_producer(producer: Any, store: Any = None) -> SharedFutureImpl:
    end = FutureProducerEnd(store, producer)
    shared = SharedFutureImpl(None, end)
    end.shared = shared
    return shared


def future_consumer(consumer: Any) -> SharedFutureImpl:
    shared = SharedFutureImpl(None)
    FutureConsumerEnd(None, consumer, shared).attach()
    return shared


def read_future(shared: SharedFutureImpl, dst: Any) -> Copy:
    c = Copy()
    shared.read(None, dst, c.on_copy_done)
    return c


def write_future(shared: SharedFutureImpl, src: Any) -> Copy:
    c = Copy()
    shared.write(None, src, c.on_copy_done)
    return c


def set_value(value: Any, result: StreamResult = COMPLETED) -> Step:
    def step(dst: Any, finish: bool) -> Any:
        dst.set(value)
        return result

    return step


def test_future_produce_runs_inside_the_read_and_completes_the_future() -> None:
    producer = Scripted(set_value(42))
    shared = future_producer(producer)
    dst = ListBuffer(capacity=1)
    assert read_future(shared, dst).done == [CopyResult.COMPLETED]
    assert dst.values == [42] and producer.closed == 1
    assert read_future(shared, ListBuffer(capacity=1)).done == [CopyResult.DROPPED]
    assert producer.calls == [False]


def test_future_pending_then_wake() -> None:
    store: Store[None] = Store()
    producer = Scripted(answer(PENDING), set_value("v"))
    shared = future_producer(producer, store)
    dst = ListBuffer(capacity=1)
    c = read_future(shared, dst)
    assert c.done == [] and store.scheduler.host_pending == 1
    assert producer.wake is not None
    producer.wake()
    assert c.done == [CopyResult.COMPLETED] and dst.values == ["v"]
    assert store.scheduler.host_pending == 0


def test_future_cancel_with_finish() -> None:
    producer = Scripted(answer(PENDING), answer(CANCELLED), set_value(1))
    shared = future_producer(producer)
    c = read_future(shared, ListBuffer(capacity=1))
    shared.cancel()
    assert c.done == [CopyResult.CANCELLED] and producer.calls == [False, True]
    # the reader may read again
    dst = ListBuffer(capacity=1)
    assert read_future(shared, dst).done == [CopyResult.COMPLETED] and dst.values == [1]


def test_future_producer_dropped() -> None:
    producer = Scripted(set_value(5, DROPPED))
    shared = future_producer(producer)
    dst = ListBuffer(capacity=1)
    assert read_future(shared, dst).done == [CopyResult.DROPPED]
    assert dst.values == [] and producer.closed == 1


@pytest.mark.parametrize(
    ("step", "rule"),
    [
        (set_value(1, PENDING), "future producer returned PENDING after producing the value"),
        (answer(COMPLETED), "future producer returned COMPLETED without producing the value"),
        (answer(CANCELLED), "future producer returned CANCELLED when finish was false"),
        (answer(0), "future producer returned 0, not a StreamResult"),
        (_raise, "future producer failed"),
    ],
)
def test_a_broken_future_producer_rule_traps_the_read(step: Step, rule: str) -> None:
    with pytest.raises(Trap, match=rule):
        read_future(future_producer(Scripted(step)), ListBuffer(capacity=1))


def test_a_future_rule_broken_after_wake_traps_when_the_event_is_received() -> None:
    producer = Scripted(answer(PENDING), answer(COMPLETED))
    shared = future_producer(producer)
    c = read_future(shared, ListBuffer(capacity=1))
    assert producer.wake is not None
    producer.wake()
    assert len(c.done) == 1
    with pytest.raises(Trap, match="returned COMPLETED without producing the value"):
        int(c.done[0])


def test_future_consumer_takes_the_written_value() -> None:
    got: list[Any] = []

    def take(src: Any, finish: bool) -> Any:
        got.append(src.take())
        return COMPLETED

    consumer = Scripted(take)
    shared = future_consumer(consumer)
    assert write_future(shared, ListBuffer([7])).done == [CopyResult.COMPLETED]
    assert got == [7] and consumer.closed == 1


def test_future_consumer_completed_without_taking_traps() -> None:
    shared = future_consumer(Scripted(answer(COMPLETED)))
    with pytest.raises(Trap, match="future consumer returned COMPLETED without taking the value"):
        write_future(shared, ListBuffer([7]))


def test_future_consumer_dropped_refuses_the_value() -> None:
    consumer = Scripted(answer(DROPPED))
    shared = future_consumer(consumer)
    src = ListBuffer([7])
    assert write_future(shared, src).done == [CopyResult.DROPPED]
    assert src.progress == 0 and consumer.closed == 1


def test_the_future_readers_drop_disposes_of_the_producer() -> None:
    producer = Scripted()
    shared = future_producer(producer)
    shared.drop()
    assert producer.closed == 1 and producer.calls == []
