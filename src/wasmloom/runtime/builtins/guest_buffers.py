"""Guest buffers of the stream and future built-ins (the spec's ``BufferGuestImpl``).

:class:`BufferKind` is what a built-in derives once from its element type;
:class:`GuestBuffer` is one copy's range of elements in a guest's memory,
bounds-checked against that memory before any view of it is taken.
"""

from __future__ import annotations

from typing import Any

from wasmloom import types as T
from wasmloom.abi import codecs
from wasmloom.abi.codecs import get_codec
from wasmloom.abi.context import LiftLowerContext
from wasmloom.errors import Trap
from wasmloom.runtime.streams import MAX_BUFFER_LENGTH
from wasmloom.runtime.subtype import holds_handle


class BufferKind:
    """What a stream or future built-in knows once about its element type.

    ``codec`` lifts and lowers one element (``None`` for a typeless stream);
    ``raw`` names a number type whose elements copy between memories as plain
    bytes (``None`` otherwise).

    It depends on its arguments only, so ``BufferKind(t, ...)`` returns one shared
    object per element type, string encoding and pointer type (for element types
    that hold no handle; those name an instance's resource types, and are made
    anew): instantiating a component does not rebuild its streams' codecs.
    """

    __slots__ = ("codec", "prepare", "raw", "read", "t", "write")

    _made: dict[tuple[Any, str, str], BufferKind] = {}

    def __new__(cls, t: Any, string_encoding: str, ptr_type: str) -> BufferKind:
        key = (t, string_encoding, ptr_type)
        made = cls._made
        kind = made.get(key)
        if kind is not None:
            return kind
        kind = super().__new__(cls)
        kind.t = t
        kind.codec = c = None if t is None else get_codec(t, string_encoding, ptr_type)
        kind.raw = t.name if isinstance(t, T.PrimType) and t.name in _RAW_NAMES else None
        # Element readers and writers specialised as for list<t> (numbers as one block).
        kind.read = None
        kind.prepare = None
        kind.write = None
        if c is not None:
            kind.read = codecs.elements_reader(t, c)
            kind.prepare, kind.write = codecs.elements_writer(t, c)
        if not holds_handle(t):
            if len(made) >= 1024:
                made.clear()
            made[key] = kind
        return kind

    t: Any
    codec: Any
    raw: str | None
    read: Any
    prepare: Any
    write: Any


class GuestBuffer:
    """``n`` elements of type ``t`` at ``ptr`` in a guest's memory (the spec's ``BufferGuestImpl``).

    The range is bounds-checked against the memory when the buffer is made or
    reset for the next copy (against the built-in's kept view first, re-derived
    only when the range goes beyond it); memories never move or shrink, so it
    stays in bounds, and ``cx.mv`` keeps covering it.
    """

    __slots__ = (
        "_align_mask",
        "_size",
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
        self.kind = kind
        self.t = kind.t
        self.cx = cx
        self.codec = c = kind.codec
        # Numbers are the same bytes in every guest memory: copies move them as a block.
        self.raw = kind.raw
        # The bytes of one element (0: a typeless stream, nothing in memory) and
        # the pointer bits its alignment leaves clear.
        self._size = 0 if c is None else c.size
        self._align_mask = 0 if c is None else c.align - 1
        self.reset(ptr, length, None)

    def reset(self, ptr: int, length: int, owner: Any) -> None:
        """Serve a new copy by end ``owner`` of ``length`` elements at ``ptr`` (an
        unsigned pointer of the memory's width), checked against the memory.

        A built-in reuses its buffer of a copy that completed inside the call
        (nothing else holds it then) rather than making a new one.
        """
        if length > MAX_BUFFER_LENGTH:
            raise Trap("stream read/write count too large")
        # The end copying through this buffer, and whether it cancelled the copy
        # after the other side had already copied into or out of it.
        self.owner: Any = owner
        self.cancelled = False
        self.ptr = ptr
        self.length = length
        self.progress = 0
        if length and self._size:
            if ptr & self._align_mask:
                raise Trap("unaligned pointer")
            # Memories never move or shrink, so the cached view is good for every
            # range it covers: re-derive it only when the range goes beyond it.
            end = ptr + length * self._size
            cx = self.cx
            if end > len(cx.mv) and end > len(cx.current_view()):
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
        cx.lift_used = 0  # cx.refresh(), in line
        if not cx.stable:
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
        # Both ranges were checked against the views when the buffers were made
        # (see reset); memories only grow, so those views still cover them.
        dst_mv = self.cx.mv
        src_mv = src.cx.mv
        dp = self.ptr
        sp = src.ptr
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
        cx.lift_used = 0  # cx.refresh(), in line
        if not cx.stable:
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
