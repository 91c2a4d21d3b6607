"""The stream and future built-ins.

``stream.new``, ``stream.read``, ``stream.write``, ``stream.cancel-read``,
``stream.cancel-write``, ``stream.drop-readable``, ``stream.drop-writable``
and their ``future.*`` twins: each is its own ``canon_*`` function, and the
twins share one private helper per operation (:func:`_new`, :func:`_copy`,
:func:`_cancel`, :func:`_drop`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from wasmloom import core
from wasmloom.abi.codecs.handles import canonical_type
from wasmloom.abi.context import LiftLowerContext
from wasmloom.binary import ast
from wasmloom.errors import Trap
from wasmloom.runtime.builtins.common import (
    _SYNC_IN_SET,
    CT,
    I32,
    _check_leave,
    _check_may_block,
    _maker,
    _options,
    _wait_sync,
)
from wasmloom.runtime.builtins.guest_buffers import BufferKind, GuestBuffer
from wasmloom.runtime.streams import (
    MAX_BUFFER_LENGTH,
    CopyEnd,
    CopyResult,
    CopyState,
    ReadableFutureEnd,
    ReadableStreamEnd,
    SharedFutureImpl,
    SharedStreamImpl,
    WritableFutureEnd,
    WritableStreamEnd,
)
from wasmloom.runtime.streams.buffers import Destination, Source
from wasmloom.runtime.streams.host_ends import ConsumerEnd, ProducerEnd, StreamResult
from wasmloom.runtime.streams.machine import (
    CANCELLING_COPY,
    COPY_CANCELLED,
    COPY_COMPLETED,
    COPY_DROPPED,
    COPYING,
    DONE,
    DROPPED_END,
    IDLE,
)
from wasmloom.runtime.tasks import BLOCKED
from wasmloom.runtime.waitables import EventCode, EventTuple, Waitable

if TYPE_CHECKING:
    from wasmloom.runtime.scope import ComponentInstance, Scope


def _type(scope: Scope, d: ast.CanonBuiltin) -> Any:
    """The stream or future type a built-in works on."""
    assert d.type_idx is not None
    return scope.types[d.type_idx]


def canon_stream_new(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon stream.new``: a new stream; the handles of its two ends as one i64."""
    return _new(store, inst, _type(scope, d), True)


def canon_future_new(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon future.new``: a new future; the handles of its two ends as one i64."""
    return _new(store, inst, _type(scope, d), False)


def _new(store: core.CoreStore, inst: ComponentInstance, t: Any, is_stream: bool) -> core.CoreFunc:
    """A ``{stream,future}.new`` of type ``t``."""
    et = canonical_type(t.t)
    table = inst.handles
    add = table.add
    array = table.array
    free = table.free
    if is_stream:
        shared_cls: Any = SharedStreamImpl
        readable: Any = ReadableStreamEnd
        writable: Any = WritableStreamEnd
    else:
        shared_cls, readable, writable = SharedFutureImpl, ReadableFutureEnd, WritableFutureEnd

    def new() -> int:
        if not inst.may_leave:
            raise Trap("cannot leave component instance")
        shared = shared_cls(et)
        r = readable(shared)
        w = writable(shared)
        # Table.add in line for a reused slot (the latest freed first)
        if free and table.journal is None:
            ri: int = free.pop()
            array[ri] = r
        else:
            ri = add(r)
        if free and table.journal is None:
            wi: int = free.pop()
            array[wi] = w
        else:
            wi = add(w)
        return ri | (wi << 32)

    return core.host_func(store, CT((), ("i64",)), new)


class _EndFinder:
    """Finds the end of class ``cls`` and type ``t`` (a stream or future type) at a
    handle index, for one built-in; traps on a wrong class or element type.

    Element types compare by identity first. One that is equal but another object
    (a stream the host made, typed by another component's view of it) is compared
    structurally once, then remembered: a deep comparison of a large type (a
    variant of 40 cases) per call would cost tens of microseconds. The stream or
    future then takes this built-in's (equal) type object, so the built-ins' own
    identity check passes on its next copies and drop.
    """

    __slots__ = ("cls", "et", "same")

    def __init__(self, cls: type, t: Any) -> None:
        self.cls: Any = cls
        self.et = canonical_type(t.t)
        # Equal element types seen, by id (each kept alive here, so ids stay theirs).
        self.same: dict[int, Any] = {}

    def __call__(self, inst: Any, i: int) -> CopyEnd:
        e: Any = inst.handles.get(i)
        if type(e) is not self.cls:
            raise Trap(f"handle index {i} used with the wrong type, expected {_end_name(self.cls)}")
        shared = e.shared
        et = shared.t
        if et is not self.et:
            if self.same.get(id(et)) is not et:
                if et != self.et:
                    raise Trap(
                        f"handle index {i} used with the wrong type, expected {_end_name(self.cls)}"
                    )
                if len(self.same) < 16:
                    self.same[id(et)] = et
            shared.t = self.et
        return e  # type: ignore[no-any-return]


def _end_name(cls: type) -> str:
    names: dict[type, str] = {
        ReadableStreamEnd: "stream read end",
        WritableStreamEnd: "stream write end",
        ReadableFutureEnd: "future read end",
        WritableFutureEnd: "future write end",
    }
    return names.get(cls, "stream or future")


def _check_copy(e: CopyEnd, is_async: bool) -> None:
    if e.state is DONE:
        kind = e.kind()
        if e.is_stream:
            if e.readable:
                # The spec's tests check these words; Wasmtime's drop "from stream".
                raise Trap(
                    "cannot read from stream after being notified that the writable end dropped"
                )
            raise Trap("cannot write to stream after being notified that the readable end dropped")
        if e.readable:
            raise Trap(f"cannot read from {kind} after previous read succeeded")
        if e.done_reason is COPY_DROPPED:
            raise Trap(
                "cannot write to future after previous write succeeded or readable end dropped"
            )
        raise Trap("cannot write to future after previous write succeeded")
    if e.state is not IDLE:
        raise Trap("cannot have concurrent operations active on a future/stream")
    if e.in_waitable_set() and not is_async:
        raise Trap(_SYNC_IN_SET)


def canon_stream_read(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon stream.read``: read up to ``n`` elements from a stream into ``ptr``."""
    return _copy(store, inst, scope, d, ReadableStreamEnd)


def canon_stream_write(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon stream.write``: write up to ``n`` elements at ``ptr`` to a stream."""
    return _copy(store, inst, scope, d, WritableStreamEnd)


def canon_future_read(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon future.read``: read a future's value into ``ptr``."""
    return _copy(store, inst, scope, d, ReadableFutureEnd)


def canon_future_write(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon future.write``: write the value at ``ptr`` to a future."""
    return _copy(store, inst, scope, d, WritableFutureEnd)


def _copy(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin, cls: type
) -> core.CoreFunc:
    """A ``{stream,future}.{read,write}`` through end class ``cls``."""
    t = _type(scope, d)
    opts = _options(scope, d)
    pt = opts.ptr_type
    mk = _maker(store, inst, not opts.is_async)
    if cls is ReadableStreamEnd or cls is WritableStreamEnd:
        return mk(CT((I32, pt, I32), (I32,)), _stream_copy(inst, cls, t, opts))
    return mk(CT((I32, pt), (I32,)), _future_copy(inst, cls, t, opts))


class _CopyEntry:
    """What a ``stream.read``/``write`` or ``future.read``/``write`` built-in checks and
    takes on entry, made once per built-in: the end at an index, and a buffer for the copy.

    :attr:`spare` is the buffer of the last copy that completed inside the call,
    or of a future copy that pended and is over (see
    :meth:`~wasmloom.runtime.streams.CopyEnd.future_copy_done`): nothing holds
    it any more, so the next copy reuses it (taken while a copy runs, so a
    nested copy through the same built-in makes its own).
    """

    __slots__ = (
        "_align_mask",
        "_array",
        "_find",
        "_size",
        "cls",
        "cx",
        "et",
        "inst",
        "is_async",
        "kind",
        "spare",
    )

    def __init__(self, inst: Any, cls: Any, t: Any, opts: Any) -> None:
        self.inst = inst
        self.cls = cls
        self.is_async: bool = opts.is_async
        self.cx = cx = LiftLowerContext(opts, inst, None)
        self.kind = kind = BufferKind(t.t, cx.string_encoding, cx.ptr_type)
        self._array = inst.handles.array
        self.et = canonical_type(t.t)
        self._find = _EndFinder(cls, t)
        self._size = 0 if kind.codec is None else kind.codec.size
        self._align_mask = 0 if kind.codec is None else kind.codec.align - 1
        self.spare: GuestBuffer | None = None

    def start(self, i: int, ptr: int, n: int) -> tuple[Any, GuestBuffer]:
        """The end at index ``i``, now copying (trapping as the spec does when it may
        not), and a buffer of ``n`` elements at ``ptr`` for its copy (:attr:`spare` if
        there is one), checked against the memory.

        ``copy`` in :func:`_stream_copy` makes these same checks in line, on the
        stream step's hot path: a change to one is a change to both."""
        inst = self.inst
        if not inst.may_leave:
            raise Trap("cannot leave component instance")
        is_async = self.is_async
        if not is_async:
            _check_may_block(inst)
        # Table.get in line (indices from wasm are unsigned; the finder traps as get does)
        try:  # the entry, or None past the end
            e: Any = self._array[i]
        except IndexError:
            e = None
        if type(e) is not self.cls or e.shared.t is not self.et:
            e = self._find(inst, i)
        if e.state is not IDLE or (not is_async and e.wset is not None):
            _check_copy(e, is_async)
        buffer = self.spare
        if buffer is None:
            buffer = GuestBuffer(self.kind, self.cx, ptr, n)
            buffer.owner = e
        else:
            self.spare = None
            buffer.reset(ptr, n, e)
        e.state = COPYING
        return e, buffer


def _stream_copy(inst: Any, cls: Any, t: Any, opts: Any) -> Callable[[int, int, int], int]:
    """The ``stream.read`` (``cls`` readable) or ``stream.write`` built-in of stream type ``t``.

    When the other side of the copy (the stream's peer: the other guest's
    pending copy, or the host's producer or consumer) answers at once, the
    copy completes inside the call with no pending event; otherwise the copy
    is pending and its result is delivered as an event.

    The checks and the buffer of :meth:`_CopyEntry.start` are made in line,
    with what they read of the entry held here: the buffer of the last copy
    that completed inside the call is reset for the next (taken while a copy
    runs, so a nested copy through the same built-in makes its own).
    """
    entry = _CopyEntry(inst, cls, t, opts)
    is_async = entry.is_async
    readable = cls is ReadableStreamEnd
    code = EventCode.STREAM_READ if readable else EventCode.STREAM_WRITE
    array, et, find, kind, cx = entry._array, entry.et, entry._find, entry.kind, entry.cx
    size, align_mask = entry._size, entry._align_mask
    spare: GuestBuffer | None = None

    dropped = CopyResult.DROPPED
    # The host end that answers this built-in's copies in line (see copy), and the
    # step answer of its common case.
    host_end: Any = ProducerEnd if readable else ConsumerEnd
    host_view: Any = Destination if readable else Source
    completed = StreamResult.COMPLETED

    def copy(i: int, ptr: int, n: int) -> int:
        nonlocal spare
        # _CopyEntry.start, in line
        if not inst.may_leave:
            raise Trap("cannot leave component instance")
        if not is_async:
            _check_may_block(inst)
        # Table.get in line (indices from wasm are unsigned; the finder traps as get does)
        try:  # the entry, or None past the end
            e: Any = array[i]
        except IndexError:
            e = None
        if type(e) is not cls or e.shared.t is not et:
            e = find(inst, i)
        if e.state is not IDLE or (not is_async and e.wset is not None):
            _check_copy(e, is_async)
        buffer = spare
        if buffer is None:
            buffer = GuestBuffer(kind, cx, ptr, n)
        else:
            spare = None
            if n <= MAX_BUFFER_LENGTH and not ptr & align_mask and ptr + n * size <= len(cx.mv):
                # reset(), inlined for a range inside the view (the owner and the
                # cancelled flag are set below, where a copy may outlive the call)
                buffer.ptr = ptr
                buffer.length = n
                buffer.progress = 0
            else:
                buffer.reset(ptr, n, e)
        e.state = COPYING
        peer = e.shared.peer
        if (
            type(peer) is host_end
            and not peer.polling
            and not peer.ended
            and not peer.disposed
            and (not readable or peer.leftover is None)
        ):
            # The host's step, in line (what ProducerEnd.read_now or
            # ConsumerEnd.write_now run, without their frames): a step that moves
            # bytes and answers COMPLETED is the common case; any other answer
            # goes through settle, which checks it (and runs the step again if
            # woken).
            v = peer.view
            if v is None:  # the end's first step (ProducerEnd.poll/ConsumerEnd.poll make it so)
                v = peer.view = host_view(None, None, peer.wake)
            v._buf = buffer
            # (peer.finish, which only settle reads, is cleared below where the copy
            # goes on through settle)
            peer.rewake = False
            peer.polling = True
            try:
                if readable:
                    v._items = None
                    r = peer.obj.poll_produce(peer.store, v, False)
                    # bytes written straight into the buffer (its progress starts at 0)
                    if r is completed and v._items is None and buffer.progress:
                        peer.polling = False
                        e.state = IDLE
                        spare = buffer
                        return buffer.progress << 4
                else:
                    v.taken = 0
                    r = peer.obj.poll_consume(peer.store, v, False)
                    if r is completed and v.taken:
                        peer.polling = False
                        e.state = IDLE
                        spare = buffer
                        return buffer.progress << 4
            except BaseException as exc:
                raise peer.step_failed(exc)  # noqa: B904 (the cause is set there)
            buffer.owner = e
            buffer.cancelled = False
            peer.finish = False
            peer.op = (buffer,)
            if not readable:
                peer.taken = v.taken
                peer.avail = n
            r = peer.settle(r)
        else:
            buffer.owner = e
            buffer.cancelled = False
            r = peer.read_now(inst, buffer) if readable else peer.write_now(inst, buffer)
        if r is not None:
            if r is dropped:
                e.state = DONE
                e.done_reason = r
            else:
                e.state = IDLE
            spare = buffer
            return r | (buffer.progress << 4)  # type: ignore[no-any-return]
        peer.pend(*_stream_copy_events(e, i, code, buffer))
        if is_async and e.pending_event is None:
            return BLOCKED  # _finish_copy, in line for the common case
        return _finish_copy(inst, e, is_async)

    return copy


def _stream_copy_events(
    e: CopyEnd, i: int, code: EventCode, buffer: GuestBuffer
) -> tuple[Callable[[Callable[[], None]], None], Callable[[CopyResult], None]]:
    """The ``on_copy``/``on_copy_done`` callbacks of a stream copy: each sets ``e``'s event."""

    def stream_event(result: CopyResult, reclaim: Callable[[], None]) -> EventTuple:
        reclaim()
        if result is COPY_COMPLETED and buffer.cancelled and buffer.remain() > 0:
            # As in Wasmtime: cancelling a copy that made partial progress reports
            # CANCELLED with that progress.
            result = COPY_CANCELLED
        if result is COPY_DROPPED:
            e.state = DONE
            e.done_reason = result
        else:
            e.state = IDLE
        return (code, i, int(result) | (buffer.progress << 4))

    def on_copy(reclaim: Callable[[], None]) -> None:
        e.set_pending_event(partial(stream_event, COPY_COMPLETED, reclaim))

    def on_copy_done(result: CopyResult) -> None:
        e.set_pending_event(partial(stream_event, result, _noop))

    return on_copy, on_copy_done


def _noop() -> None:
    return None


def _finish_copy(inst: Any, e: CopyEnd, is_async: bool) -> int:
    if e.pending_event is None:
        if not is_async:
            return cast(int, _wait_sync(inst, e, lambda: e.get_pending_event()[2]))
        return BLOCKED
    return e.get_pending_event()[2]


def _future_copy(inst: Any, cls: Any, t: Any, opts: Any) -> Callable[[int, int], int]:
    """The ``future.read`` (``cls`` readable) or ``future.write`` built-in of future type ``t``.

    As for a stream copy, a copy the peer answers at once completes inside
    the call, with no pending event.
    """
    entry = _CopyEntry(inst, cls, t, opts)
    is_async = entry.is_async
    readable = cls is ReadableFutureEnd
    idle = CopyState.IDLE
    done = CopyState.DONE
    cancelled = CopyResult.CANCELLED

    def copy(i: int, ptr: int) -> int:
        e, buffer = entry.start(i, ptr, 1)
        peer = e.shared.peer
        r = peer.read_now(inst, buffer) if readable else peer.write_now(inst, buffer)
        if r is not None:
            if r is cancelled:
                e.state = idle
            else:  # as CopyEnd.future_copy_event
                e.state = done
                e.done_reason = r
            entry.spare = buffer
            return int(r)
        # for the copy's event, and the buffer back to entry once the copy is over
        # (see CopyEnd.future_copy_done)
        e.index = i
        e.copy_buffer = buffer
        e.keeper = entry
        peer.pend(e.future_copy_done)
        if is_async and e.pending_event is None:
            return BLOCKED  # _finish_copy, in line for the common case
        return _finish_copy(inst, e, is_async)

    return copy


def canon_stream_cancel_read(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon stream.cancel-read``: cancel the stream read in progress."""
    return _cancel(store, inst, scope, d, ReadableStreamEnd)


def canon_stream_cancel_write(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon stream.cancel-write``: cancel the stream write in progress."""
    return _cancel(store, inst, scope, d, WritableStreamEnd)


def canon_future_cancel_read(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon future.cancel-read``: cancel the future read in progress."""
    return _cancel(store, inst, scope, d, ReadableFutureEnd)


def canon_future_cancel_write(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon future.cancel-write``: cancel the future write in progress."""
    return _cancel(store, inst, scope, d, WritableFutureEnd)


def _cancel(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin, cls: type
) -> core.CoreFunc:
    """A ``{stream,future}.cancel-{read,write}`` through end class ``cls``."""
    find = _EndFinder(cls, _type(scope, d))
    a = d.is_async
    mk = _maker(store, inst, not a)
    return mk(CT((I32,), (I32,)), lambda i: _cancel_copy(inst, find, a, i))


def _cancel_copy(inst: Any, find: _EndFinder, is_async: bool, i: int) -> int:
    _check_leave(inst)
    if not is_async:
        _check_may_block(inst)
    e = find(inst, i)
    if e.state is not COPYING or e.has_sync_waiter:
        raise Trap(f"{e.kind()} end is not being {'read' if e.readable else 'written'}")
    if e.in_waitable_set() and not is_async:
        raise Trap(_SYNC_IN_SET)
    e.state = CANCELLING_COPY
    if not e.has_pending_event():
        e.shared.cancel()
    else:
        pending = getattr(e.shared, "pending_buffer", None)
        if isinstance(pending, GuestBuffer) and pending.owner is e:
            pending.cancelled = True
    return _finish_copy(inst, e, is_async)


def canon_stream_drop_readable(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon stream.drop-readable``: drop a stream's readable end."""
    return _drop(store, inst, scope, d, ReadableStreamEnd)


def canon_stream_drop_writable(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon stream.drop-writable``: drop a stream's writable end."""
    return _drop(store, inst, scope, d, WritableStreamEnd)


def canon_future_drop_readable(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon future.drop-readable``: drop a future's readable end."""
    return _drop(store, inst, scope, d, ReadableFutureEnd)


def canon_future_drop_writable(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon future.drop-writable``: drop a future's writable end."""
    return _drop(store, inst, scope, d, WritableFutureEnd)


def _drop(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin, cls: Any
) -> core.CoreFunc:
    """A ``{stream,future}.drop-{readable,writable}`` through end class ``cls``."""
    t = _type(scope, d)
    find = _EndFinder(cls, t)
    et = canonical_type(t.t)
    handles = inst.handles
    array = handles.array
    free = handles.free
    idle = CopyState.IDLE
    done = CopyState.DONE
    # Which states may drop without CopyEnd.check_drop (which traps for the others):
    # a future's writable end only once its value was written or the reader dropped.
    idle_ok = cls is not WritableFutureEnd

    def drop(i: int) -> None:
        if not inst.may_leave:
            raise Trap("cannot leave component instance")
        # Table.get in line (indices from wasm are unsigned; the finder traps as get does)
        try:  # the entry, or None past the end (indices are unsigned)
            e: Any = array[i]
        except IndexError:
            e = None
        if type(e) is not cls or e.shared.t is not et:
            e = find(inst, i)
        state = e.state
        if state is not done and (state is not idle or not idle_ok):
            e.check_drop()  # traps
        array[i] = None  # Table.remove in line (the entry is there)
        free.append(i)
        # e.release(), in line
        shared = e.shared
        if not shared.dropped:
            if shared.peer is DROPPED_END:
                shared.dropped = True  # shared.drop(): a peer that left hears nothing
            else:
                shared.drop()
        if e.wset is None:
            e.pending_event = None
        else:
            Waitable.drop(e)

    return core.host_func(store, CT((I32,), ()), drop)
