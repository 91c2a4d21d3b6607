"""Stream copies and memory views: the built-ins keep their view of guest memory
from step to step, so a memory that grew in between must neither make a valid
range trap nor let an invalid one through (tests/guests/streams_grow.wat)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from guest_util import component

from wasmloom import Linker, Store, Trap
from wasmloom import types as T
from wasmloom.abi.handles import Table
from wasmloom.host.streams import BytearrayConsumer, BytesProducer, StreamReader
from wasmloom.runtime.builtins.streams import _EndFinder
from wasmloom.runtime.streams import (
    ReadableStreamEnd,
    SharedStreamImpl,
    WritableStreamEnd,
)

PAGE = 65536
COMPLETED = 0


class Guest:
    def __init__(self) -> None:
        self.store: Store[None] = Store()
        self.inst = Linker().instantiate(self.store, component("streams_grow"))

    def __call__(self, name: str, *args: Any) -> Any:
        f = self.inst.get_func(name)
        assert f is not None, name
        return f(self.store, *args)


def test_read_into_pages_added_between_steps() -> None:
    g = Guest()
    h = g("hold", StreamReader.new(g.store, BytesProducer(b"abcdefgh")))
    assert g("read", h, 100, 2) == COMPLETED | (2 << 4)  # the built-in takes its view here
    assert g("grow", 1) == 1
    # the new page is in bounds, and the bytes land there
    assert g("read", h, PAGE + 10, 3) == COMPLETED | (3 << 4)
    assert [g("load8", PAGE + 10 + k) for k in range(3)] == list(b"cde")
    # one byte past the grown memory is still out of bounds
    with pytest.raises(Trap, match="pointer out of bounds of memory"):
        g("read", h, 2 * PAGE - 1, 2)


def test_write_from_pages_added_between_steps() -> None:
    g = Guest()
    v = g("new-stream")
    sink = BytearrayConsumer()
    g("give", v & 0xFFFF_FFFF).pipe(g.store, sink)
    w = v >> 32
    g("store8", 7, ord("x"))
    assert g("write", w, 7, 1) == COMPLETED | (1 << 4)
    assert g("grow", 2) == 1
    for k, b in enumerate(b"grown"):
        g("store8", 2 * PAGE + k, b)
    assert g("write", w, 2 * PAGE, 5) == COMPLETED | (5 << 4)
    assert bytes(sink.data) == b"xgrown"
    with pytest.raises(Trap, match="pointer out of bounds of memory"):
        g("write", w, 3 * PAGE - 2, 3)


def test_a_reused_buffer_is_checked_again() -> None:
    """The built-in reuses its buffer from copy to copy; each copy's range is checked anew."""
    g = Guest()
    h = g("hold", StreamReader.new(g.store, BytesProducer(b"x" * 100)))
    assert g("read", h, 0, 4) == COMPLETED | (4 << 4)
    with pytest.raises(Trap, match="pointer out of bounds of memory"):
        g("read", h, PAGE - 2, 4)


def _table_with(shared: SharedStreamImpl) -> tuple[Any, int, int]:
    inst = SimpleNamespace(handles=Table())
    r = inst.handles.add(ReadableStreamEnd(shared))
    w = inst.handles.add(WritableStreamEnd(shared))
    return inst, r, w


def test_end_finder_remembers_equal_types_and_traps_on_others() -> None:
    t = T.StreamType(T.ListType(T.STRING))
    twin = T.ListType(T.STRING)  # equal to t.t, another object
    assert twin == t.t and twin is not t.t
    find = _EndFinder(ReadableStreamEnd, t)
    inst, r, w = _table_with(SharedStreamImpl(twin))
    # The stream takes the built-in's own (equal) type: identity from then on.
    assert find(inst, r).shared.t is t.t
    assert find.same == {id(twin): twin}
    assert find(inst, r).shared.t is t.t
    inst2, r2, _ = _table_with(SharedStreamImpl(twin))  # another stream of the twin type
    assert find(inst2, r2).shared.t is t.t  # remembered: no structural comparison
    with pytest.raises(Trap, match="expected stream read end"):
        find(inst, w)
    other, r3, _ = _table_with(SharedStreamImpl(T.ListType(T.U8)))
    with pytest.raises(Trap, match="used with the wrong type, expected stream read end"):
        find(other, r3)
    with pytest.raises(Trap, match="unknown handle index"):
        find(inst, 99)
