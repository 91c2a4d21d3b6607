"""The per-call shortcuts of the canonical ABI runtime keep the general behaviour.

Canonical element types of streams and futures, borrow scopes made without an
``__init__``, and the handle-table adds done in line (which must still go
through :meth:`Table.add` while a lowering records what it adds).
"""

from __future__ import annotations

import pytest
from abi_helpers import Env

from wasmloom import Trap
from wasmloom import types as T
from wasmloom.abi.codecs import get_codec
from wasmloom.abi.codecs.handles import canonical_type
from wasmloom.abi.handles import BORROWS_REMAIN, BorrowScope, ResourceHandle
from wasmloom.runtime.async_values import lift_async_value, lower_async_value
from wasmloom.runtime.streams import ReadableStreamEnd, SharedStreamImpl


def _u8_list() -> T.ListType:
    return T.ListType(T.PrimType("u8"))


def test_equal_types_have_one_canonical_object() -> None:
    a, b = _u8_list(), _u8_list()
    assert a is not b and a == b
    assert canonical_type(a) is canonical_type(b)
    assert canonical_type(None) is None


def test_stream_codecs_carry_the_canonical_element_type() -> None:
    t = T.StreamType(_u8_list())
    codec = get_codec(t)
    assert codec.t == t
    assert codec.t.t is canonical_type(_u8_list())  # type: ignore[attr-defined]


def test_a_stream_typed_with_an_equal_type_lifts() -> None:
    env = Env()
    shared = SharedStreamImpl(_u8_list())  # its own (equal) type object
    i = env.inst.handles.add(ReadableStreamEnd(shared))
    assert lift_async_value(env.cx(), i, T.StreamType(_u8_list())) is shared
    with pytest.raises(Trap, match=f"unknown handle index {i}$"):
        env.inst.handles.get(i)


def test_lifting_a_missing_stream_traps() -> None:
    env = Env()
    with pytest.raises(Trap, match=r"unknown handle index 7$"):
        lift_async_value(env.cx(), 7, T.StreamType(None))


def test_borrow_scopes_start_empty_and_share_nothing() -> None:
    rt = T.ResourceType("r")
    h = ResourceHandle(rt, 1, True)
    first, second = BorrowScope(), BorrowScope()
    assert (first.num_borrows, first.ended, list(first.lenders)) == (0, False, [])
    first.add_lender(h)
    first.add_lender(h)
    assert h.num_lends == 2 and list(second.lenders) == []
    first.exit()
    assert h.num_lends == 0 and first.ended and not second.ended
    assert list(first.lenders) == []
    second.num_borrows += 1
    with pytest.raises(Trap, match=BORROWS_REMAIN):
        second.exit()


def test_a_journaled_lowering_records_the_slot_it_reuses() -> None:
    env = Env()
    table = env.inst.handles
    freed = table.add("x")
    table.remove(freed)
    added: list[int] = []
    table.journal = added
    t = T.StreamType(T.PrimType("u8"))
    i = lower_async_value(env.cx(), SharedStreamImpl(t.t), t)
    table.journal = None
    assert i == freed and added == [freed]
    table.undo(added)
    assert len(table) == 0
    # without a journal the freed slot is taken in line
    j = lower_async_value(env.cx(), SharedStreamImpl(t.t), t)
    assert j == freed and type(table.get(j)) is ReadableStreamEnd


def test_lowering_something_else_as_a_stream_is_a_type_error() -> None:
    env = Env()
    with pytest.raises(TypeError, match="expected a stream"):
        lower_async_value(env.cx(), object(), T.StreamType(None))
