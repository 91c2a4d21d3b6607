"""What instantiation remembers per type object: hashes, "holds no handle", buffer kinds."""

from __future__ import annotations

import pickle

import pytest

from wasmloom import types as T
from wasmloom.runtime.builtins.streams import BufferKind
from wasmloom.runtime.subtype import holds_handle, subst_valtype


def error_code(n: int = 40) -> T.VariantType:
    cases = [T.CaseType(f"case{i}", None if i % 2 else T.OptionType(T.STRING)) for i in range(n)]
    return T.VariantType(tuple(cases), "wasi:http/types#error-code")


def test_a_frozen_type_keeps_its_hash_and_pickles_only_its_fields() -> None:
    a, b = error_code(), error_code()
    assert a is not b and a == b and hash(a) == hash(b)
    assert hash(a) == hash(a)  # the kept value, unchanged
    ft = T.FutureType(T.ResultType(None, a))
    assert ft.__getstate__() == [ft.t]  # type: ignore[attr-defined]
    back = pickle.loads(pickle.dumps(ft))
    assert back == ft and hash(back) == hash(ft)
    assert repr(T.ListType(T.U8)) == "ListType(t=PrimType(name='u8'), length=None)"
    with pytest.raises(T.FrozenInstanceError):
        a._hash = 1  # type: ignore[attr-defined]


def test_holds_handle_looks_inside_streams_futures_and_every_compound() -> None:
    r = T.ResourceType("r")
    own = T.OwnType(r)
    assert not holds_handle(None) and not holds_handle(T.U32)
    assert not holds_handle(error_code())
    assert not holds_handle(T.StreamType(None)) and not holds_handle(T.FutureType(T.U8))
    for t in (
        own,
        T.BorrowType(r),
        T.FutureType(own),
        T.StreamType(T.ListType(T.BorrowType(r))),
        T.RecordType((T.FieldType("a", T.U8), T.FieldType("b", T.OptionType(own)))),
        T.TupleType((T.U8, own)),
        T.VariantType((T.CaseType("x", None), T.CaseType("y", own))),
        T.ResultType(None, own),
        T.MapType(T.STRING, own),
    ):
        assert holds_handle(t), t
        assert holds_handle(t), t  # a "yes" is never remembered as a "no"


def test_substitution_reaches_resources_in_futures_and_keeps_handle_free_types() -> None:
    r, r2 = T.ResourceType("r"), T.ResourceType("r2")
    m = {r: r2}
    ec = error_code()
    assert subst_valtype(ec, m) is ec
    ft = T.FutureType(T.ResultType(T.OwnType(r), ec))
    got = subst_valtype(ft, m)
    assert got == T.FutureType(T.ResultType(T.OwnType(r2), ec))
    assert isinstance(got, T.FutureType) and isinstance(got.t, T.ResultType)
    assert got.t.error is ec  # the unchanged part keeps its identity


def test_buffer_kinds_are_shared_per_type_unless_the_type_names_a_resource() -> None:
    k = BufferKind(T.ResultType(None, error_code()), "utf8", "i32")
    assert BufferKind(T.ResultType(None, error_code()), "utf8", "i32") is k
    assert BufferKind(T.ResultType(None, error_code()), "utf16", "i32") is not k
    assert BufferKind(T.U8, "utf8", "i32").raw == "u8"
    assert BufferKind(None, "utf8", "i32").codec is None
    own = T.OwnType(T.ResourceType("r"))
    assert BufferKind(own, "utf8", "i32") is not BufferKind(own, "utf8", "i32")
