"""Buffers of stream and future copies, and the host's views of them.

A copy moves elements between two buffers. Each has ``t`` (the element type),
``length`` elements of room or content, ``progress`` (how many moved so far),
``remain()``, ``is_zero_length()``, ``read(n) -> list`` (a source) and
``write(values)`` (a destination). A buffer whose ``raw`` is ``"u8"`` holds
bytes at ``ptr`` in a memory ``cx``, which the host ends read and write as one
block through ``cx.mv``: a view that covered the buffer's range when the copy
started, and still does (memories never move or shrink), so no step re-derives it.

- :class:`ListBuffer`: Python values, any element type.
- :class:`BytesBuffer`: bytes in a ``bytearray``, as a guest's ``stream<u8>``
  buffer in its memory.
- Guest buffers (in guest memory) live with the built-ins.

The host's producers and consumers never see a buffer: they get a
:class:`Destination`/:class:`Source` (streams) or a
:class:`FutureDestination`/:class:`FutureSource` (futures) around it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wasmloom import types as T
from wasmloom.errors import Trap

__all__ = [
    "BytesBuffer",
    "Destination",
    "FutureDestination",
    "FutureSource",
    "ListBuffer",
    "Source",
    "deliver",
]

U8 = T.PrimType("u8")
_NO_VIEW = memoryview(b"")
BYTES_TYPES = (bytes, bytearray, memoryview)


class ListBuffer:
    """A buffer of Python values: readable (``read``) from ``values``, writable up to ``capacity``.

    ``t`` is the element type (``None`` for a typeless stream).
    """

    __slots__ = ("length", "progress", "t", "values")

    raw = None

    def __init__(
        self, values: list[Any] | None = None, capacity: int | None = None, t: Any = None
    ) -> None:
        self.values: list[Any] = [] if values is None else values
        self.length = len(self.values) if capacity is None else capacity
        self.progress = 0
        self.t = t

    def remain(self) -> int:
        return self.length - self.progress

    def is_zero_length(self) -> bool:
        return self.length == 0

    def read(self, n: int) -> list[Any]:
        assert n <= self.remain()
        vs = self.values[self.progress : self.progress + n]
        self.progress += n
        return vs

    def write(self, vs: list[Any]) -> None:
        assert len(vs) <= self.remain()
        self.values.extend(vs)
        self.progress += len(vs)


class _BytesMemory:
    """The memory of a :class:`BytesBuffer`: a view of its ``bytearray`` (it never moves)."""

    __slots__ = ("mv",)

    def __init__(self, data: bytes | bytearray) -> None:
        self.mv = memoryview(data)

    def refresh(self) -> memoryview:
        return self.mv

    current_view = refresh


class BytesBuffer:
    """``length`` bytes from the start of ``data``: a ``stream<u8>`` buffer held in Python.

    A source reads ``data``'s bytes; a destination (``data`` a ``bytearray``)
    fills it from the start. Like a guest's ``u8`` buffer in its memory, the
    host ends read and write its bytes directly (``ptr`` into ``cx.mv``).
    """

    __slots__ = ("cx", "length", "progress", "ptr")

    t = U8
    raw = "u8"

    def __init__(self, data: bytes | bytearray, length: int | None = None) -> None:
        self.cx = _BytesMemory(data)
        self.ptr = 0
        self.length = len(data) if length is None else length
        self.progress = 0

    def remain(self) -> int:
        return self.length - self.progress

    def is_zero_length(self) -> bool:
        return self.length == 0

    def read(self, n: int) -> list[int]:
        assert n <= self.remain()
        p = self.ptr
        vs = list(self.cx.mv[p : p + n])
        self.ptr = p + n
        self.progress += n
        return vs

    def write(self, vs: list[Any]) -> None:
        assert len(vs) <= self.remain()
        p = self.ptr
        self.cx.mv[p : p + len(vs)] = bytes(vs)
        self.ptr = p + len(vs)
        self.progress += len(vs)

    def moved(self) -> bytes:
        """The bytes read from or written to the buffer so far."""
        return bytes(self.cx.mv[: self.ptr])


def deliver(buf: Any, items: Any, start: int) -> int:
    """Copy ``items[start:]`` into guest buffer ``buf`` as far as it has room; return the count.

    An item that does not lower to the element type traps, naming the type.
    """
    n: int = min(buf.remain(), len(items) - start)
    if n <= 0:
        return 0
    if isinstance(items, BYTES_TYPES) and buf.raw == "u8":
        # The buffer's range was checked against its view when the copy started
        # (memories never move or shrink): no need to re-derive the view.
        mv = buf.cx.mv
        p = buf.ptr
        mv[p : p + n] = memoryview(items)[start : start + n]
        buf.ptr = p + n
        buf.progress += n
    else:
        try:
            buf.write(list(items[start : start + n]))
        except (TypeError, ValueError, OverflowError) as e:
            raise Trap(f"the host produced an item that is not a valid `{buf.t}`: {e}") from e
    return n


# --- the host's views of a guest's buffer ------------------------------------------------


class Destination:
    """Where a producer puts the items of one read.

    For a guest reader, :meth:`remaining` is the room left in the guest's
    buffer; for a host reader it is ``None`` (no fixed capacity). Items given
    to :meth:`set_buffer` are delivered when the step returns; what the reader
    has no room for is kept and delivered to the next reads (the producer is
    not called again until all of it is delivered). For ``stream<u8>``,
    :meth:`as_direct` gives the reader's buffer itself (guest memory, checked
    when the read started) and :meth:`mark_written` commits bytes written to it;
    direct bytes come before buffered items.

    A Destination (and the views it gives) is for the step it is passed to:
    the same object serves the producer's later steps, re-armed for each.
    ``wake`` may be kept and called at any time.
    """

    __slots__ = ("_buf", "_host_bytes", "_items", "_t", "wake")

    def __init__(self, buf: Any, t: Any, wake: Callable[[], None]) -> None:
        self._buf = buf
        self._t = t
        self._items: Any = None
        self._host_bytes: bytearray | None = None
        #: Call (on the store's thread) when a PENDING step can make progress.
        self.wake = wake

    def rearm(self, buf: Any) -> None:
        """Serve the next step, into guest buffer ``buf``."""
        self._buf = buf
        self._items = None

    def remaining(self) -> int | None:
        """Room left in the reader's buffer (guest reader), or ``None`` (host reader)."""
        buf = self._buf
        return None if buf is None else buf.length - buf.progress

    def set_buffer(self, items: Any) -> None:
        """Hold ``items`` (a list, or bytes-like for ``stream<u8>``) for delivery."""
        self._items = items

    def take_buffer(self) -> Any:
        """Take back what :meth:`set_buffer` holds (``[]`` if nothing)."""
        items = self._items
        self._items = None
        return [] if items is None else items

    def as_direct(self, capacity: int) -> memoryview:
        """A writable view of up to ``capacity`` bytes of the reader's buffer (``stream<u8>`` only)."""
        buf = self._buf
        if buf is None or buf.raw != "u8":
            t = self._t if buf is None else buf.t
            if t != U8:
                raise TypeError(f"direct access needs a stream<u8>, not a stream<{t}>")
            scratch = bytearray(capacity)
            self._host_bytes = scratch
            return memoryview(scratch)
        # The buffer's range was checked against the memory when the read
        # started, and memories never move or shrink: the view is in bounds.
        n = buf.length - buf.progress
        if capacity < n:
            n = capacity
        p = buf.ptr
        return buf.cx.mv[p : p + n]  # type: ignore[no-any-return]

    def mark_written(self, n: int) -> None:
        """Commit ``n`` bytes written to the start of the last :meth:`as_direct` view."""
        buf = self._buf
        if buf is not None:
            progress = buf.progress + n
            if n < 0 or progress > buf.length:
                left = buf.length - buf.progress
                raise ValueError(f"mark_written({n}) exceeds the {left} bytes of room left")
            buf.ptr += n
            buf.progress = progress
        else:
            scratch = self._host_bytes
            if scratch is None or not 0 <= n <= len(scratch):
                raise ValueError(f"mark_written({n}) is beyond the direct view")
            self._host_bytes = None
            self._items = bytes(scratch[:n]) + bytes(self._items or b"")


class Source:
    """Where a consumer takes the items of one write from.

    :meth:`remaining` is the number of items left in the writer's buffer.
    :meth:`read` moves items into a list or ``bytearray``. For ``stream<u8>``
    from a guest, :meth:`as_direct` gives a read-only view of the writer's
    buffer (checked when the write started) and :meth:`mark_read` consumes
    bytes from its start.

    As for :class:`Destination`: use it during the step it is passed to (the
    same object serves later steps); ``wake`` may be kept.
    """

    __slots__ = ("_buf", "_items", "_pos", "_ro", "_ro_of", "_t", "taken", "wake")

    def __init__(self, buf: Any, t: Any, wake: Callable[[], None], items: Any = None) -> None:
        self._buf = buf
        self._t = t
        self._items = items
        self._pos = 0
        self.taken = 0
        # A read-only twin of the last memory view used (``_ro_of``), kept for later steps.
        self._ro_of: memoryview | None = None
        self._ro: memoryview = _NO_VIEW
        #: Call (on the store's thread) when a PENDING step can make progress.
        self.wake = wake

    def rearm(self, buf: Any) -> None:
        """Serve the next step, from guest buffer ``buf``."""
        self._buf = buf
        self.taken = 0

    def remaining(self) -> int:
        """Items left in the writer's buffer."""
        buf = self._buf
        if buf is None:
            return len(self._items) - self._pos
        return buf.length - buf.progress  # type: ignore[no-any-return]

    def read(self, buffer: Any, limit: int | None = None) -> int:
        """Append up to ``limit`` items (default: all) to ``buffer``; return how many."""
        n = self.remaining()
        if limit is not None:
            n = min(n, limit)
        if n <= 0:
            return 0
        buf = self._buf
        if buf is None:
            p = self._pos
            buffer.extend(self._items[p : p + n])
            self._pos = p + n
        elif buf.raw == "u8":
            mv = buf.cx.mv  # checked when the write started (see deliver)
            p = buf.ptr
            buffer.extend(mv[p : p + n])
            buf.ptr = p + n
            buf.progress += n
        else:
            buffer.extend(buf.read(n))
        self.taken += n
        return n

    def as_direct(self) -> memoryview:
        """A read-only view of the bytes left in the writer's buffer (``stream<u8>`` only)."""
        buf = self._buf
        if buf is None or buf.raw != "u8":
            t = self._t if buf is None else buf.t
            if t != U8:
                raise TypeError(f"direct access needs a stream<u8>, not a stream<{t}>")
            return memoryview(self._items).toreadonly()[self._pos :]
        # Checked against the memory when the write started (see Destination.as_direct).
        mv: memoryview = buf.cx.mv
        ro: memoryview
        if mv is self._ro_of:
            ro = self._ro
        else:
            ro = self._ro = mv.toreadonly()
            self._ro_of = mv
        p = buf.ptr
        return ro[p : p + buf.length - buf.progress]

    def mark_read(self, n: int) -> None:
        """Consume ``n`` bytes from the start of the :meth:`as_direct` view."""
        buf = self._buf
        if buf is not None:
            progress = buf.progress + n
            if n >= 0 and progress <= buf.length:
                buf.ptr += n
                buf.progress = progress
                self.taken += n
                return
            left = buf.length - buf.progress
        else:
            left = len(self._items) - self._pos
            if 0 <= n <= left:
                self._pos += n
                self.taken += n
                return
        raise ValueError(f"mark_read({n}) exceeds the {left} bytes left")


class FutureDestination:
    """Where a future producer puts its one value (:meth:`set`)."""

    __slots__ = ("has_value", "value", "wake")

    def __init__(self, wake: Callable[[], None]) -> None:
        self.has_value = False
        self.value: Any = None
        self.wake = wake

    def set(self, value: Any) -> None:
        self.value = value
        self.has_value = True


class FutureSource:
    """Where a future consumer takes the writer's one value from (:meth:`take`)."""

    __slots__ = ("_buf", "taken", "wake")

    def __init__(self, buf: Any, wake: Callable[[], None]) -> None:
        self._buf = buf
        self.taken = False
        self.wake = wake

    def take(self) -> Any:
        if self.taken:
            raise ValueError("the future's value was already taken")
        self.taken = True
        return self._buf.read(1)[0]
