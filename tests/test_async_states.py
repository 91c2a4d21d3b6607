"""Sans-I/O tests of the async state machines: waitables, stream/future copies, subtasks."""

from __future__ import annotations

import pytest

from wasmloom.errors import Trap
from wasmloom.runtime.streams import (
    CopyResult,
    CopyState,
    ListBuffer,
    ReadableFutureEnd,
    ReadableStreamEnd,
    SharedFutureImpl,
    SharedStreamImpl,
    WritableFutureEnd,
    WritableStreamEnd,
)
from wasmloom.runtime.tasks import Subtask, SubtaskState, unpack_callback_result
from wasmloom.runtime.waitables import EventCode, Waitable, WaitableSet


def test_waitable_set_delivers_in_join_order_and_clears() -> None:
    ws = WaitableSet()
    a, b = Waitable(), Waitable()
    a.join(ws)
    b.join(ws)
    assert ws.poll() == (EventCode.NONE, 0, 0)
    b.set_pending_event(lambda: (EventCode.STREAM_READ, 2, 0))
    a.set_pending_event(lambda: (EventCode.SUBTASK, 1, 2))
    assert ws.get_pending_event() == (EventCode.SUBTASK, 1, 2)
    assert ws.get_pending_event() == (EventCode.STREAM_READ, 2, 0)
    assert not ws.has_pending_event()


def test_waitable_moves_between_sets() -> None:
    s1, s2 = WaitableSet(), WaitableSet()
    w = Waitable()
    w.join(s1)
    w.join(s2)
    assert s1.elems == [] and s2.elems == [w]
    w.join(None)
    assert s2.elems == [] and not w.in_waitable_set()


def test_waitable_set_with_waiter_cannot_drop() -> None:
    ws = WaitableSet()
    ws.num_waiting = 1
    with pytest.raises(Trap, match="cannot drop waitable set with waiters"):
        ws.drop()


def _events(log: list[object]) -> tuple[object, object]:
    return (lambda reclaim: log.append("copy"), lambda r: log.append(r))


def test_stream_write_then_read_partial() -> None:
    s = SharedStreamImpl(None)
    log: list[object] = []
    src = ListBuffer([1, 2, 3])
    s.write(
        "A", src, lambda reclaim: log.append(("w-copy", reclaim)), lambda r: log.append(("w", r))
    )
    assert s.pending_buffer is src
    dst = ListBuffer(capacity=2)
    s.read("B", dst, lambda reclaim: log.append("r-copy"), lambda r: log.append(("r", r)))
    assert dst.values == [1, 2]
    assert log[-1] == ("r", CopyResult.COMPLETED)
    assert log[0][0] == "w-copy"  # type: ignore[index]
    # the writer still has 1 element pending until it reclaims its buffer
    assert s.pending_buffer is src and src.remain() == 1


def test_stream_zero_length_write_rendezvous() -> None:
    s = SharedStreamImpl(None)
    log: list[object] = []
    s.read("B", ListBuffer(capacity=0), lambda rc: None, lambda r: log.append(("r", r)))
    s.write("A", ListBuffer([]), lambda rc: None, lambda r: log.append(("w", r)))
    assert log == [("w", CopyResult.COMPLETED)]


def test_stream_drop_notifies_pending_copy() -> None:
    s = SharedStreamImpl(None)
    log: list[object] = []
    s.read("B", ListBuffer(capacity=4), lambda rc: None, lambda r: log.append(r))
    s.drop()
    assert log == [CopyResult.DROPPED]
    s.write("A", ListBuffer([1]), lambda rc: None, lambda r: log.append(r))
    assert log == [CopyResult.DROPPED, CopyResult.DROPPED]


def test_stream_cancel() -> None:
    s = SharedStreamImpl(None)
    log: list[object] = []
    s.write("A", ListBuffer([1]), lambda rc: None, lambda r: log.append(r))
    s.cancel()
    assert log == [CopyResult.CANCELLED] and s.pending_buffer is None


def test_intra_component_stream_of_non_numbers_traps() -> None:
    s = SharedStreamImpl("string")
    s.write("A", ListBuffer(["x"]), lambda rc: None, lambda r: None)
    with pytest.raises(Trap, match="intra-component stream"):
        s.read("A", ListBuffer(capacity=1), lambda rc: None, lambda r: None)


def test_future_write_then_read() -> None:
    f = SharedFutureImpl(None)
    log: list[object] = []
    f.write("A", ListBuffer([7]), lambda r: log.append(("w", r)))
    dst = ListBuffer(capacity=1)
    f.read("B", dst, lambda r: log.append(("r", r)))
    assert dst.values == [7]
    assert log == [("w", CopyResult.COMPLETED), ("r", CopyResult.COMPLETED)]


def test_future_write_after_reader_dropped() -> None:
    f = SharedFutureImpl(None)
    f.drop()
    log: list[object] = []
    f.write("A", ListBuffer([7]), lambda r: log.append(r))
    assert log == [CopyResult.DROPPED]


def test_copy_end_drop_rules() -> None:
    s = SharedStreamImpl(None)
    r, w = ReadableStreamEnd(s), WritableStreamEnd(s)
    r.state = CopyState.COPYING
    with pytest.raises(Trap, match="cannot remove busy stream"):
        r.drop()
    w.state = CopyState.COPYING
    with pytest.raises(Trap, match="cannot drop busy stream"):
        w.drop()
    w.state = CopyState.IDLE
    r.state = CopyState.IDLE
    r.drop()
    assert s.dropped
    w.drop()
    fs = SharedFutureImpl(None)
    fw = WritableFutureEnd(fs)
    with pytest.raises(Trap, match="cannot drop future write end without first writing a value"):
        fw.drop()
    fw.state = CopyState.DONE
    fw.drop()
    ReadableFutureEnd(fs).drop()


def test_subtask_lifecycle() -> None:
    st = Subtask()
    assert st.state is SubtaskState.STARTING and not st.resolved()
    with pytest.raises(Trap, match="cannot drop a subtask which has not yet resolved"):
        st.drop()
    st.state = SubtaskState.STARTED
    st.resolve(SubtaskState.RETURNED, [])
    assert st.resolved() and not st.resolve_delivered()
    assert st.event(5) == (EventCode.SUBTASK, 5, 2)
    assert st.resolve_delivered()
    st.drop()


def test_subtask_cancelled_states() -> None:
    a = Subtask()
    a.resolve(SubtaskState.CANCELLED_BEFORE_STARTED, [])
    assert a.event(1) == (EventCode.SUBTASK, 1, 3)
    b = Subtask()
    b.state = SubtaskState.STARTED
    b.resolve(SubtaskState.CANCELLED_BEFORE_RETURNED, [])
    assert b.event(2) == (EventCode.SUBTASK, 2, 4)


@pytest.mark.parametrize("code", [3, 4, 15])
def test_unsupported_callback_codes(code: int) -> None:
    with pytest.raises(Trap, match="unsupported callback code"):
        unpack_callback_result(code)


def test_callback_code_unpacks_waitable_set() -> None:
    assert unpack_callback_result(2 | (7 << 4)) == (2, 7)
