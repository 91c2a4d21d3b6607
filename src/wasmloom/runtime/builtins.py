"""The async canon built-ins: tasks, waitables, streams, futures, threads, error contexts.

Each built-in is one short function named after the spec's ``canon_*``,
guards first. :func:`builtin` turns a ``canon`` definition into the core host
function a guest imports. Trap messages follow Wasmtime.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from wasmloom import core
from wasmloom import types as T
from wasmloom.abi import codecs
from wasmloom.abi.codecs import get_codec
from wasmloom.abi.context import LiftLowerContext
from wasmloom.abi.funcabi import FuncABI
from wasmloom.abi.layout import MAX_FLAT_PARAMS, flatten_types
from wasmloom.abi.strings import lift_string, lower_string
from wasmloom.binary import ast
from wasmloom.errors import LinkError, Trap
from wasmloom.runtime.host_streams import ConsumerEnd, ProducerEnd
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
from wasmloom.runtime.tasks import (
    BLOCKED,
    SYNC_BLOCK,
    Subtask,
    Task,
    Thread,
    check_may_leave,
    instance_state,
)
from wasmloom.runtime.waitables import EventCode, EventTuple, Waitable, WaitableSet

if TYPE_CHECKING:
    from wasmloom.runtime.scope import ComponentInstance, Scope

__all__ = ["ErrorContext", "builtin"]

I32 = "i32"


@dataclass(eq=False)
class ErrorContext:
    """An ``error-context`` value: an immutable debug message."""

    debug_message: str


# --- helpers ---------------------------------------------------------------------------


def _check_leave(inst: Any) -> None:
    if not inst.may_leave:
        raise Trap("cannot leave component instance")


_SYNC_IN_SET = "waitable cannot be used synchronously while added to a waitable set"


def _check_may_block(inst: Any) -> None:
    """A synchronous (blocking) built-in: trap at once in a task that may not block."""
    t = _thread(inst)
    if t is None or not t.task.may_block():
        raise Trap(SYNC_BLOCK)


def _thread(inst: Any) -> Thread | None:
    t = instance_state(inst).sched.current
    if t is None or t.task.inst is not inst:
        return None
    return t


def _task(inst: Any, what: str) -> Task:
    t = _thread(inst)
    if t is None:
        raise Trap(f"`{what}` called outside of an async task")
    return t.task


def _get(inst: Any, i: int, cls: type, what: str) -> Any:
    e = inst.handles.get(i & 0xFFFF_FFFF)
    if not isinstance(e, cls):
        raise Trap(f"handle index {i} used with the wrong type, expected {what}")
    return e


def _wait_sync(inst: Any, w: Waitable, finish: Callable[[], Any]) -> Any:
    """Block the current thread until ``w`` has a pending event, then ``finish()``."""
    thread = _thread(inst)
    if thread is None:
        raise Trap(SYNC_BLOCK)
    w.has_sync_waiter = True

    def done(cancelled: bool) -> Any:
        w.has_sync_waiter = False
        return finish()

    try:
        return thread.block(w.has_pending_event, False, done)
    except BaseException:
        w.has_sync_waiter = False
        raise


def _maker(
    store: core.CoreStore, inst: Any, blocking: bool
) -> Callable[[T.CoreFuncType, Any], core.CoreFunc]:
    if blocking:
        return lambda ty, fn: _blocking(store, inst, ty, fn)
    return lambda ty, fn: core.host_func(store, ty, fn)


def _blocking(store: core.CoreStore, inst: Any, ty: T.CoreFuncType, fn: Any) -> core.CoreFunc:
    """A built-in that may suspend the calling thread: its instance runs on fibers."""
    instance_state(inst).may_block = True
    return core.async_host_func(store, ty, fn, on_sync=lambda: check_may_leave(inst))


def _store_event(inst: Any, mem: Any, ptr: int, event: EventTuple) -> int:
    code, p1, p2 = event
    mv = mem.view()
    ptr &= 0xFFFF_FFFF
    if ptr & 3:
        raise Trap("unaligned pointer")
    if ptr + 8 > len(mv):
        raise Trap("pointer out of bounds of memory")
    mv[ptr : ptr + 4] = (p1 & 0xFFFF_FFFF).to_bytes(4, "little")
    mv[ptr + 4 : ptr + 8] = (p2 & 0xFFFF_FFFF).to_bytes(4, "little")
    return int(code)


# --- tasks -------------------------------------------------------------------------------


def canon_task_return(inst: Any, result_t: T.ValType | None, opts: Any) -> Callable[..., None]:
    """``canon task.return`` for one definition: the core function's body.

    The lifting plan is derived once here. Results never hold borrows, so
    one lift context serves every call.
    """
    lift = FuncABI(T.FuncType((), result_t), opts, "lift").lift_task_return
    shared = LiftLowerContext(opts, inst, None)
    sched = instance_state(inst).sched
    # The options of the last lift whose tasks this definition returned for.
    matched: list[Any] = [None]

    def task_return(*flat: Any) -> None:
        if not inst.may_leave:
            raise Trap("cannot leave component instance")
        t = sched.current
        if t is None or t.task.inst is not inst:
            raise Trap("`task.return` called outside of an async task")
        task = t.task
        r = task.ft.result
        topts = task.opts
        if (
            not topts.is_async
            or (r is not result_t and r != result_t)
            or (topts is not matched[0] and not _same_lift_options(opts, topts))
        ):
            raise Trap("invalid `task.return` signature and/or options for current task")
        matched[0] = topts
        lr = task.lift_return
        task.return_((lift if lr is None else lr)(shared, flat))

    return task_return


def _same_lift_options(ret: Any, lifted: Any) -> bool:
    """Whether a ``task.return``'s options (``ret``) lift values as the task's ``canon lift`` does.

    The spec's ``LiftOptions.equal``: the same string encoding and the same
    memory, by identity of the memory (the same memory reached through other
    aliases or instances is the same). As in Wasmtime, a ``task.return``
    without a memory (its result needs none) matches whatever the lift's.
    """
    if ret.string_encoding != lifted.string_encoding:
        return False
    mem = ret.memory
    return mem is None or _same_memory(mem, lifted.memory)


def _same_memory(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if a is None or b is None:
        return False
    # Two wrappers of one linear memory see the same bytes at the same address.
    va, vb = a.view(), b.view()
    if len(va) != len(vb) or not len(va):
        return False
    return ctypes.addressof(ctypes.c_char.from_buffer(va)) == ctypes.addressof(
        ctypes.c_char.from_buffer(vb)
    )


def canon_task_cancel(inst: Any) -> None:
    _check_leave(inst)
    task = _task(inst, "task.cancel")
    if not task.opts.is_async:
        raise Trap("`task.cancel` called by a synchronous task")
    task.cancel()


def _storage(inst: Any) -> list[int]:
    t = _thread(inst)
    # A sync-lifted call of a sync-typed function runs without a Thread object
    # (the fast path); it uses the instance's own slots.
    if t is None:
        return instance_state(inst).sync_storage
    s = t.storage
    if s is None:
        s = t.storage = [0, 0]
    return s


def canon_context_get(inst: Any, i: int) -> int:
    return _storage(inst)[i]


def canon_context_set(inst: Any, i: int, v: int) -> None:
    _storage(inst)[i] = v


# Wasmtime's words for leaving the counter's range either way (2^16 or -1).
_BACKPRESSURE_RANGE = "backpressure counter overflow"


def canon_backpressure_inc(inst: Any) -> None:
    st = instance_state(inst)
    if st.backpressure + 1 >= 2**16:
        raise Trap(_BACKPRESSURE_RANGE)
    st.backpressure += 1


def canon_backpressure_dec(inst: Any) -> None:
    st = instance_state(inst)
    if st.backpressure == 0:
        raise Trap(_BACKPRESSURE_RANGE)
    st.backpressure -= 1


# --- waitables -------------------------------------------------------------------------------


def canon_waitable_set_new(inst: Any) -> int:
    _check_leave(inst)
    return int(inst.handles.add(WaitableSet()))


def canon_waitable_set_wait(inst: Any, cancellable: bool, mem: Any, si: int, ptr: int) -> int:
    _check_leave(inst)
    wset: WaitableSet = _get(inst, si, WaitableSet, "waitable set")
    thread = _thread(inst)
    if thread is None:
        raise Trap(SYNC_BLOCK)
    wset.num_waiting += 1

    def finish(cancelled: bool) -> int:
        wset.num_waiting -= 1
        event = (EventCode.TASK_CANCELLED, 0, 0) if cancelled else wset.get_pending_event()
        return _store_event(inst, mem, ptr, event)

    try:
        return cast(int, thread.block(wset.has_pending_event, cancellable, finish))
    except BaseException:
        wset.num_waiting -= 1
        raise


def canon_waitable_set_poll(inst: Any, cancellable: bool, mem: Any, si: int, ptr: int) -> int:
    _check_leave(inst)
    wset: WaitableSet = _get(inst, si, WaitableSet, "waitable set")
    thread = _thread(inst)
    if thread is not None and thread.task.deliver_pending_cancel(cancellable):
        return _store_event(inst, mem, ptr, (EventCode.TASK_CANCELLED, 0, 0))
    return _store_event(inst, mem, ptr, wset.poll())


def canon_waitable_set_drop(inst: Any, i: int) -> None:
    _check_leave(inst)
    wset: WaitableSet = _get(inst, i, WaitableSet, "waitable set")
    wset.drop()
    inst.handles.remove(i)


def canon_waitable_join(inst: Any, wi: int, si: int) -> None:
    _check_leave(inst)
    w: Waitable = _get(inst, wi, Waitable, "waitable")
    if w.has_sync_waiter:
        raise Trap(_SYNC_IN_SET)
    if si == 0:
        w.join(None)
    else:
        w.join(_get(inst, si, WaitableSet, "waitable set"))


def _waitable_join_of(inst: Any) -> Callable[[int, int], None]:
    """:func:`canon_waitable_join` bound to ``inst``, with the handle lookups in line."""
    array = inst.handles.array

    def waitable_join(wi: int, si: int) -> None:
        if not inst.may_leave:
            raise Trap("cannot leave component instance")
        wi &= 0xFFFF_FFFF
        si &= 0xFFFF_FFFF
        w = array[wi] if wi < len(array) else None
        if not isinstance(w, Waitable):
            canon_waitable_join(inst, wi, si)  # traps with the general message
            return
        if w.has_sync_waiter:
            raise Trap(_SYNC_IN_SET)
        if si == 0:
            w.join(None)
            return
        ws = array[si] if si < len(array) else None
        if not isinstance(ws, WaitableSet):
            canon_waitable_join(inst, wi, si)
            return
        old = w.wset
        if old is not None:
            old.elems.remove(w)
        w.wset = ws
        ws.elems.append(w)

    return waitable_join


# --- subtasks --------------------------------------------------------------------------------


def canon_subtask_cancel(inst: Any, is_async: bool, i: int) -> int:
    _check_leave(inst)
    if not is_async:
        _check_may_block(inst)
    subtask: Subtask = _get(inst, i, Subtask, "subtask")
    if subtask.resolve_delivered():
        raise Trap("`subtask.cancel` called after terminal status delivered")
    if subtask.cancellation_requested:
        raise Trap("`subtask.cancel` called twice")
    if subtask.in_waitable_set() and not is_async:
        raise Trap(_SYNC_IN_SET)
    if not subtask.resolved():
        subtask.cancellation_requested = True
        assert subtask.on_cancel is not None
        subtask.on_cancel(inst)
        if not subtask.resolved():
            if not is_async:
                return cast(int, _wait_sync(inst, subtask, lambda: _cancelled_state(subtask, i)))
            return BLOCKED
    return _cancelled_state(subtask, i)


def _cancelled_state(subtask: Subtask, i: int) -> int:
    if not subtask.has_pending_event():
        subtask.set_pending_event(lambda: subtask.event(i))
    subtask.get_pending_event()
    return int(subtask.state)


def canon_subtask_drop(inst: Any, i: int) -> None:
    _check_leave(inst)
    s: Subtask = _get(inst, i, Subtask, "subtask")
    s.drop()
    inst.handles.remove(i)


def _subtask_drop_of(inst: Any) -> Callable[[int], None]:
    """:func:`canon_subtask_drop` bound to ``inst``, with the handle lookups in line."""
    table = inst.handles
    array = table.array

    def subtask_drop(i: int) -> None:
        if not inst.may_leave:
            raise Trap("cannot leave component instance")
        i &= 0xFFFF_FFFF
        s = array[i] if 0 < i < len(array) else None
        if not isinstance(s, Subtask):
            canon_subtask_drop(inst, i)  # traps with the general message
            return
        s.drop()
        array[i] = None
        table.free.append(i)

    return subtask_drop


# --- streams and futures ---------------------------------------------------------------------


class BufferKind:
    """What a stream or future built-in knows once about its element type.

    ``codec`` lifts and lowers one element (``None`` for a typeless stream);
    ``raw`` names a number type whose elements copy between memories as plain
    bytes (``None`` otherwise).
    """

    __slots__ = ("codec", "prepare", "raw", "read", "t", "write")

    def __init__(self, t: Any, string_encoding: str, ptr_type: str) -> None:
        self.t = t
        self.codec = c = None if t is None else get_codec(t, string_encoding, ptr_type)
        self.raw = t.name if isinstance(t, T.PrimType) and t.name in _RAW_NAMES else None
        # Element readers and writers specialised as for list<t> (numbers as one block).
        self.read: Any = None
        self.prepare: Any = None
        self.write: Any = None
        if c is not None:
            self.read = codecs.elements_reader(t, c)
            self.prepare, self.write = codecs.elements_writer(t, c)


class GuestBuffer:
    """``n`` elements of type ``t`` at ``ptr`` in a guest's memory (the spec's ``BufferGuestImpl``).

    The range is bounds-checked against the memory when the buffer is made;
    memories never move or shrink, so it stays in bounds.
    """

    __slots__ = (
        "cancelled",
        "codec",
        "cx",
        "kind",
        "length",
        "owner",
        "progress",
        "ptr",
        "raw",
        "t",
    )

    def __init__(self, kind: BufferKind, cx: LiftLowerContext, ptr: int, length: int) -> None:
        if length > MAX_BUFFER_LENGTH:
            raise Trap("buffer too large")
        self.kind = kind
        # The end copying through this buffer, and whether it cancelled the copy
        # after the other side had already copied into or out of it.
        self.owner: Any = None
        self.cancelled = False
        self.t = kind.t
        self.cx = cx
        self.ptr = ptr = ptr & cx.ptr_mask
        self.length = length
        self.progress = 0
        self.codec = c = kind.codec
        # Numbers are the same bytes in every guest memory: copies move them as a block.
        self.raw = kind.raw
        if c is not None and length > 0:
            if ptr & (c.align - 1):
                raise Trap("unaligned pointer")
            # The cached view never exceeds the memory (memories only grow):
            # re-derive it only when the range goes beyond it.
            end = ptr + length * c.size
            if end > len(cx.mv) and end > len(cx.refresh()):
                raise Trap("pointer out of bounds of memory")

    def remain(self) -> int:
        return self.length - self.progress

    def is_zero_length(self) -> bool:
        return self.length == 0

    def read(self, n: int) -> list[Any]:
        c = self.codec
        self.progress += n
        if c is None:
            return [None] * n
        cx = self.cx
        cx.refresh()
        ptr = self.ptr
        vs = self.kind.read(cx, ptr, n)
        self.ptr = ptr + n * c.size
        return vs if vs.__class__ is list else list(vs)

    def move_from(self, src: Any, n: int) -> bool:
        """Copy ``n`` elements from guest buffer ``src`` as one block of bytes
        (one memoryview slice assignment); ``False`` if the elements need lifting."""
        raw = self.raw
        if raw is None or type(src) is not GuestBuffer or src.raw != raw:
            return False
        assert self.codec is not None
        nbytes = n * self.codec.size
        dst_mv = self.cx.refresh()
        src_mv = src.cx.refresh()
        dp = self.ptr
        sp = src.ptr
        # Both ranges were checked when the buffers were made; memories only grow.
        if dp + nbytes > len(dst_mv) or sp + nbytes > len(src_mv):
            raise Trap("pointer out of bounds of memory")
        dst_mv[dp : dp + nbytes] = src_mv[sp : sp + nbytes]
        self.ptr = dp + nbytes
        self.progress += n
        src.ptr = sp + nbytes
        src.progress += n
        return True

    def write(self, vs: list[Any]) -> None:
        c = self.codec
        self.progress += len(vs)
        if c is None:
            return
        cx = self.cx
        cx.refresh()
        size = c.size
        ptr = self.ptr
        if self.raw is not None:
            # Numbers: checked and packed as one block; a bad element falls
            # through to the element-wise path, which reports it.
            try:
                block = self.kind.prepare(vs)
            except (TypeError, ValueError):
                pass
            else:
                self.kind.write(cx, block, ptr)
                self.ptr = ptr + len(vs) * size
                return
        store = c.store
        for k, v in enumerate(vs):
            store(cx, v, ptr + k * size)
        self.ptr = ptr + len(vs) * size


_RAW_NAMES = frozenset({"u8", "s8", "u16", "s16", "u32", "s32", "u64", "s64", "f32", "f64"})


def canon_copy_new(inst: Any, t: Any, is_stream: bool) -> int:
    _check_leave(inst)
    if is_stream:
        shared: Any = SharedStreamImpl(t.t)
        ri = inst.handles.add(ReadableStreamEnd(shared))
        wi = inst.handles.add(WritableStreamEnd(shared))
    else:
        shared = SharedFutureImpl(t.t)
        ri = inst.handles.add(ReadableFutureEnd(shared))
        wi = inst.handles.add(WritableFutureEnd(shared))
    return int(ri) | (int(wi) << 32)


def _end(inst: Any, i: int, cls: type, t: Any) -> CopyEnd:
    h = inst.handles.get(i & 0xFFFF_FFFF)
    ok = type(h) is cls
    if not ok:
        raise Trap(f"handle index {i} used with the wrong type, expected {_end_name(cls)}")
    e = cast(CopyEnd, h)
    et = e.shared.t
    if et is not t.t and et != t.t:
        raise Trap(f"handle index {i} used with the wrong type, expected {_end_name(cls)}")
    return e


def _end_name(cls: type) -> str:
    names: dict[type, str] = {
        ReadableStreamEnd: "stream read end",
        WritableStreamEnd: "stream write end",
        ReadableFutureEnd: "future read end",
        WritableFutureEnd: "future write end",
    }
    return names.get(cls, "stream or future")


def _check_copy(e: CopyEnd, is_async: bool) -> None:
    if e.state is CopyState.DONE:
        kind = e.kind()
        if e.is_stream:
            if e.readable:
                raise Trap(
                    "cannot read from stream after being notified that the writable end dropped"
                )
            raise Trap("cannot write to stream after being notified that the readable end dropped")
        if e.readable:
            raise Trap(f"cannot read from {kind} after previous read succeeded")
        if e.done_reason is CopyResult.DROPPED:
            raise Trap(
                "cannot write to future after previous write succeeded or readable end dropped"
            )
        raise Trap("cannot write to future after previous write succeeded")
    if e.state is not CopyState.IDLE:
        raise Trap("cannot have concurrent operations active on a future/stream")
    if e.in_waitable_set() and not is_async:
        raise Trap(_SYNC_IN_SET)


def stream_copy(inst: Any, cls: Any, t: Any, opts: Any) -> Callable[[int, int, int], int]:
    """The ``stream.read`` (``cls`` readable) or ``stream.write`` built-in of stream type ``t``.

    When the other end is the host's producer or consumer and it answers at
    once, the copy completes inside the call with no pending event (the
    common case for host streams); otherwise the result is delivered as an
    event, as for a copy between guests.
    """
    cx = LiftLowerContext(opts, inst, None)
    kind = BufferKind(t.t, cx.string_encoding, cx.ptr_type)
    is_async = opts.is_async
    readable = cls is ReadableStreamEnd
    code = EventCode.STREAM_READ if readable else EventCode.STREAM_WRITE
    host_cls: Any = ProducerEnd if readable else ConsumerEnd

    idle = CopyState.IDLE
    copying = CopyState.COPYING
    handles = inst.handles

    def copy(i: int, ptr: int, n: int) -> int:
        if not inst.may_leave:
            raise Trap("cannot leave component instance")
        if not is_async:
            _check_may_block(inst)
        e: Any = handles.get(i & 0xFFFF_FFFF)
        if type(e) is not cls or e.shared.t is not t.t:
            e = _end(inst, i, cls, t)
        if e.state is not idle or (not is_async and e.wset is not None):
            _check_copy(e, is_async)
        buffer = GuestBuffer(kind, cx, ptr, n & 0xFFFF_FFFF)
        buffer.owner = e
        e.state = copying
        host: Any = e.shared.host
        pending = False
        if type(host) is host_cls and not host.polling:
            r = host.copy_now(buffer)
            pending = r is None
            if not pending:
                if r is CopyResult.DROPPED:
                    e.state = CopyState.DONE
                    e.done_reason = r
                else:
                    e.state = CopyState.IDLE
                return int(r) | (buffer.progress << 4)
        on_copy, on_copy_done = _stream_copy_events(e, i, code, buffer)
        if pending:
            host.pend(on_copy, on_copy_done)
        else:
            e.copy(inst, buffer, on_copy, on_copy_done)
        return _finish_copy(inst, e, is_async)

    return copy


def _stream_copy_events(
    e: CopyEnd, i: int, code: EventCode, buffer: GuestBuffer
) -> tuple[Callable[[Callable[[], None]], None], Callable[[CopyResult], None]]:
    """The ``on_copy``/``on_copy_done`` callbacks of a stream copy: each sets ``e``'s event."""

    def stream_event(result: CopyResult, reclaim: Callable[[], None]) -> EventTuple:
        reclaim()
        if result is CopyResult.COMPLETED and buffer.cancelled and buffer.remain() > 0:
            # As in Wasmtime: cancelling a copy that made partial progress reports
            # CANCELLED with that progress.
            result = CopyResult.CANCELLED
        if result is CopyResult.DROPPED:
            e.state = CopyState.DONE
            e.done_reason = result
        else:
            e.state = CopyState.IDLE
        return (code, i, int(result) | (buffer.progress << 4))

    def on_copy(reclaim: Callable[[], None]) -> None:
        e.set_pending_event(partial(stream_event, CopyResult.COMPLETED, reclaim))

    def on_copy_done(result: CopyResult) -> None:
        e.set_pending_event(partial(stream_event, result, _noop))

    return on_copy, on_copy_done


def _noop() -> None:
    return None


def _finish_copy(inst: Any, e: CopyEnd, is_async: bool) -> int:
    if not e.has_pending_event():
        if not is_async:
            return cast(int, _wait_sync(inst, e, lambda: e.get_pending_event()[2]))
        return BLOCKED
    return e.get_pending_event()[2]


def future_copy(inst: Any, cls: type, t: Any, opts: Any) -> Callable[[int, int], int]:
    """The ``future.read`` (``cls`` readable) or ``future.write`` built-in of future type ``t``."""
    cx = LiftLowerContext(opts, inst, None)
    kind = BufferKind(t.t, cx.string_encoding, cx.ptr_type)
    is_async = opts.is_async
    code = EventCode.FUTURE_READ if cls is ReadableFutureEnd else EventCode.FUTURE_WRITE

    def copy(i: int, ptr: int) -> int:
        _check_leave(inst)
        if not is_async:
            _check_may_block(inst)
        e = _end(inst, i, cls, t)
        _check_copy(e, is_async)
        buffer = GuestBuffer(kind, cx, ptr, 1)

        def future_event(result: CopyResult) -> EventTuple:
            if result is CopyResult.DROPPED or result is CopyResult.COMPLETED:
                e.state = CopyState.DONE
                e.done_reason = result
            else:
                e.state = CopyState.IDLE
            return (code, i, int(result))

        def on_copy_done(result: CopyResult) -> None:
            e.set_pending_event(partial(future_event, result))

        e.state = CopyState.COPYING
        e.copy(inst, buffer, on_copy_done)  # type: ignore[attr-defined]
        return _finish_copy(inst, e, is_async)

    return copy


def canon_cancel_copy(inst: Any, cls: type, t: Any, is_async: bool, i: int) -> int:
    _check_leave(inst)
    if not is_async:
        _check_may_block(inst)
    e = _end(inst, i, cls, t)
    if e.state is not CopyState.COPYING or e.has_sync_waiter:
        raise Trap(f"{e.kind()} end is not being {'read' if e.readable else 'written'}")
    if e.in_waitable_set() and not is_async:
        raise Trap(_SYNC_IN_SET)
    e.state = CopyState.CANCELLING_COPY
    if not e.has_pending_event():
        e.shared.cancel()
    else:
        pending = getattr(e.shared, "pending_buffer", None)
        if isinstance(pending, GuestBuffer) and pending.owner is e:
            pending.cancelled = True
    return _finish_copy(inst, e, is_async)


def canon_drop_end(inst: Any, cls: type, t: Any, i: int) -> None:
    _check_leave(inst)
    e = _end(inst, i, cls, t)
    e.check_drop()
    inst.handles.remove(i & 0xFFFF_FFFF)
    e.drop()


# lifting/lowering stream and future values across a call


def lift_async_value(cx: Any, i: int, t: Any) -> Any:
    inst = cx.inst
    is_stream = isinstance(t, T.StreamType)
    cls = ReadableStreamEnd if is_stream else ReadableFutureEnd
    kind = "stream" if is_stream else "future"
    e = inst.handles.get(i & 0xFFFF_FFFF)
    if not isinstance(e, cls) or e.shared.t != t.t:
        raise Trap(f"handle index {i} used with the wrong type, expected {_end_name(cls)}")
    if e.copying():
        raise Trap(f"cannot remove busy {kind}")
    if e.state is CopyState.DONE:
        if is_stream:
            raise Trap("cannot lift stream after being notified that the writable end dropped")
        raise Trap("cannot lift future after previous read succeeded")
    if e.in_waitable_set():
        raise Trap(f"cannot lift {kind} while it's in a waitable set")
    inst.handles.remove(i & 0xFFFF_FFFF)
    return e.shared


def lower_async_value(cx: Any, v: Any, t: Any) -> int:
    if isinstance(t, T.StreamType):
        if not isinstance(v, SharedStreamImpl):
            raise TypeError(f"expected a stream for `{t}`, got {type(v).__name__}")
        return int(cx.inst.handles.add(ReadableStreamEnd(v)))
    if not isinstance(v, SharedFutureImpl):
        raise TypeError(f"expected a future for `{t}`, got {type(v).__name__}")
    return int(cx.inst.handles.add(ReadableFutureEnd(v)))


def lift_error_context(cx: Any, i: int, t: Any) -> Any:
    return _get(cx.inst, i, ErrorContext, "error-context")


def lower_error_context(cx: Any, v: Any, t: Any) -> int:
    return int(cx.inst.handles.add(v))


# --- error contexts ----------------------------------------------------------------------------


def canon_error_context_new(inst: Any, opts: Any, ptr: int, units: int) -> int:
    _check_leave(inst)
    cx = LiftLowerContext(opts, inst, None)
    cx.refresh()
    msg = lift_string(cx, ptr & cx.ptr_mask, units)
    return int(inst.handles.add(ErrorContext(msg)))


def canon_error_context_debug_message(inst: Any, opts: Any, i: int, ptr: int) -> None:
    _check_leave(inst)
    ec: ErrorContext = _get(inst, i, ErrorContext, "error-context")
    cx = LiftLowerContext(opts, inst, None)
    cx.refresh()
    p, n = lower_string(cx, ec.debug_message)
    cx.refresh()
    ptr &= cx.ptr_mask
    cx.check_range(ptr, 4, 8, "value")
    cx.mv[ptr : ptr + 4] = p.to_bytes(4, "little")
    cx.mv[ptr + 4 : ptr + 8] = n.to_bytes(4, "little")


def canon_error_context_drop(inst: Any, i: int) -> None:
    _check_leave(inst)
    _get(inst, i, ErrorContext, "error-context")
    inst.handles.remove(i)


# --- threads -------------------------------------------------------------------------------------


def canon_thread_yield(inst: Any, cancellable: bool) -> int:
    _check_leave(inst)
    t = _thread(inst)
    if t is None:
        return 0
    return cast(int, t.yield_(cancellable, int))


def canon_thread_index(inst: Any) -> int:
    _check_leave(inst)
    t = _thread(inst)
    if t is None:
        raise Trap("`thread.index` called outside of a thread")
    if t.index is None:
        # A task's implicit thread started by the direct host-call path takes
        # its index on first use (nothing else took one since it started).
        t.index = instance_state(inst).threads.add(t)
    return t.index


def _current(inst: Any, what: str) -> Thread:
    _check_leave(inst)
    t = _thread(inst)
    if t is None:
        raise Trap(f"`{what}` called outside of a thread")
    return t


def _other(inst: Any, i: int, suspended: bool) -> Thread:
    other = instance_state(inst).threads.get(i & 0xFFFF_FFFF)
    if suspended and not other.suspended():
        raise Trap(f"thread {i} is not suspended")
    return other


def canon_thread_new_indirect(inst: Any, ft: T.CoreFuncType, table: Any, fi: int, c: int) -> int:
    thread = _current(inst, "thread.new-indirect")
    task = thread.task
    f = table.get_func(fi & 0xFFFF_FFFF)
    if f is None:
        raise Trap(f"invalid table index {fi} for `thread.new-indirect`")
    if f.ty != ft:
        raise Trap("indirect call type mismatch for `thread.new-indirect`")
    new_thread = Thread(task, None)

    def start(cancelled: bool) -> None:
        new_thread.run_core(True, f, None, (c,), lambda _: task.unregister_thread(new_thread))

    new_thread.cont = start
    task.register_thread(new_thread)
    assert new_thread.index is not None
    return new_thread.index


def canon_thread_resume_later(inst: Any, i: int) -> None:
    _check_leave(inst)
    _other(inst, i, True).resume_later()


def canon_thread_suspend(inst: Any, cancellable: bool) -> Any:
    return _current(inst, "thread.suspend").suspend(cancellable)


def canon_thread_switch(inst: Any, what: str, cancellable: bool, i: int) -> Any:
    thread = _current(inst, what)
    then_wait = what.startswith("thread.yield")
    if what.endswith("-promote"):
        return thread.promote(cancellable, _other(inst, i, False), then_wait)
    return thread.switch(cancellable, _other(inst, i, True), then_wait)


# --- dispatch -----------------------------------------------------------------------------------


def builtin(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """The core function for an async canon built-in."""
    name = d.name
    hf = core.host_func
    CT = T.CoreFuncType
    if name == "task.return":
        result_t = scope.opt_valtype(d.result) if d.has_result else None
        opts = scope.canon_options(d.opts or ast.CanonOpts())
        opts.is_async = True
        flat = flatten_types([result_t] if result_t is not None else [], opts.ptr_type)
        if len(flat) > MAX_FLAT_PARAMS:
            flat = [opts.ptr_type]
        return hf(store, CT(tuple(flat), ()), canon_task_return(inst, result_t, opts))
    if name == "task.cancel":
        return hf(store, CT((), ()), lambda: canon_task_cancel(inst))
    if name in ("context.get", "context.set"):
        slot = d.index or 0
        vt = d.core_valtype or I32
        if slot > 1:
            raise LinkError(f"invalid context slot {slot}")
        if name == "context.get":
            return hf(store, CT((), (vt,)), lambda: canon_context_get(inst, slot))
        return hf(store, CT((vt,), ()), lambda v: canon_context_set(inst, slot, v))
    if name == "backpressure.inc":
        return hf(store, CT((), ()), lambda: canon_backpressure_inc(inst))
    if name == "backpressure.dec":
        return hf(store, CT((), ()), lambda: canon_backpressure_dec(inst))
    if name == "waitable-set.new":
        return hf(store, CT((), (I32,)), lambda: canon_waitable_set_new(inst))
    if name in ("waitable-set.wait", "waitable-set.poll"):
        assert d.memory is not None
        mem = scope.core_memories[d.memory]
        fn = canon_waitable_set_wait if name == "waitable-set.wait" else canon_waitable_set_poll
        c = d.cancellable
        mk = _maker(store, inst, name == "waitable-set.wait")
        return mk(CT((I32, I32), (I32,)), lambda si, p: fn(inst, c, mem, si, p))
    if name == "waitable-set.drop":
        return hf(store, CT((I32,), ()), lambda i: canon_waitable_set_drop(inst, i))
    if name == "waitable.join":
        return hf(store, CT((I32, I32), ()), _waitable_join_of(inst))
    if name == "subtask.cancel":
        a = d.is_async
        mk = _maker(store, inst, not a)
        return mk(CT((I32,), (I32,)), lambda i: canon_subtask_cancel(inst, a, i))
    if name == "subtask.drop":
        return hf(store, CT((I32,), ()), _subtask_drop_of(inst))
    if name.startswith(("stream.", "future.")):
        return _copy_builtin(store, inst, scope, d)
    if name == "error-context.new":
        opts = scope.canon_options(d.opts or ast.CanonOpts())
        pt = opts.ptr_type
        return hf(
            store, CT((pt, pt), (I32,)), lambda p, n: canon_error_context_new(inst, opts, p, n)
        )
    if name == "error-context.debug-message":
        opts = scope.canon_options(d.opts or ast.CanonOpts())
        pt = opts.ptr_type
        return hf(
            store,
            CT((I32, pt), ()),
            lambda i, p: canon_error_context_debug_message(inst, opts, i, p),
        )
    if name == "error-context.drop":
        return hf(store, CT((I32,), ()), lambda i: canon_error_context_drop(inst, i))
    if name == "thread.yield":
        c = d.cancellable
        return _blocking(store, inst, CT((), (I32,)), lambda: canon_thread_yield(inst, c))
    if name == "thread.index":
        return hf(store, CT((), (I32,)), lambda: canon_thread_index(inst))
    if name == "thread.new-indirect":
        assert d.core_type_idx is not None and d.table is not None
        ft = scope.core_types[d.core_type_idx]
        table = scope.core_tables[d.table]
        # Threads run on fibers, and so does the code that creates and resumes them.
        instance_state(inst).may_block = True
        return hf(
            store,
            CT((I32, I32), (I32,)),
            lambda fi, c: canon_thread_new_indirect(inst, ft, table, fi, c),
        )
    if name == "thread.resume-later":
        instance_state(inst).may_block = True
        return hf(store, CT((I32,), ()), lambda i: canon_thread_resume_later(inst, i))
    if name == "thread.suspend":
        c = d.cancellable
        return _blocking(store, inst, CT((), (I32,)), lambda: canon_thread_suspend(inst, c))
    if name in (
        "thread.suspend-then-resume",
        "thread.yield-then-resume",
        "thread.suspend-then-promote",
        "thread.yield-then-promote",
    ):
        c = d.cancellable
        return _blocking(
            store, inst, CT((I32,), (I32,)), lambda i: canon_thread_switch(inst, name, c, i)
        )
    raise LinkError(f"canon {name} is not supported yet")


def _copy_builtin(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    assert d.type_idx is not None
    t = scope.types[d.type_idx]
    hf = core.host_func
    CT = T.CoreFuncType
    kind, op = d.name.split(".")
    is_stream = kind == "stream"
    rcls: type = ReadableStreamEnd if is_stream else ReadableFutureEnd
    wcls: type = WritableStreamEnd if is_stream else WritableFutureEnd
    if op == "new":
        return hf(store, CT((), ("i64",)), lambda: canon_copy_new(inst, t, is_stream))
    if op in ("read", "write"):
        opts = scope.canon_options(d.opts or ast.CanonOpts())
        cls = rcls if op == "read" else wcls
        pt = opts.ptr_type
        mk = _maker(store, inst, not opts.is_async)
        if is_stream:
            return mk(CT((I32, pt, I32), (I32,)), stream_copy(inst, cls, t, opts))
        return mk(CT((I32, pt), (I32,)), future_copy(inst, cls, t, opts))
    if op in ("cancel-read", "cancel-write"):
        cls = rcls if op == "cancel-read" else wcls
        a = d.is_async
        mk = _maker(store, inst, not a)
        return mk(CT((I32,), (I32,)), lambda i: canon_cancel_copy(inst, cls, t, a, i))
    if op in ("drop-readable", "drop-writable"):
        cls = rcls if op == "drop-readable" else wcls
        return hf(store, CT((I32,), ()), lambda i: canon_drop_end(inst, cls, t, i))
    raise LinkError(f"canon {d.name} is not supported yet")
