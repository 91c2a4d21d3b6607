"""runtime.subtype.same_type: structural type equality, remembered per pair of objects."""

from __future__ import annotations

from wasmloom import types as T
from wasmloom.runtime import subtype


def _error_code() -> T.VariantType:
    cases = tuple(T.CaseType(f"c{i}", T.PrimType("string") if i % 2 else None) for i in range(40))
    return T.VariantType(cases, "error-code")


def test_equal_distinct_objects_are_the_same_type_and_remembered() -> None:
    a = T.FutureType(T.ResultType(None, _error_code()))
    b = T.FutureType(T.ResultType(None, _error_code()))
    assert a is not b
    subtype._SAME.clear()
    assert subtype.same_type(a, b)
    assert (id(a), id(b)) in subtype._SAME
    assert subtype.same_type(a, b)  # answered from the memo
    assert subtype.same_type(a, a)


def test_different_types_are_not_the_same_and_not_remembered() -> None:
    a = T.FutureType(T.ResultType(None, _error_code()))
    c = T.FutureType(T.ResultType(T.PrimType("u8"), _error_code()))
    subtype._SAME.clear()
    assert not subtype.same_type(a, c)
    assert not subtype._SAME
    assert not subtype.same_type(T.StreamType(T.PrimType("u8")), T.StreamType(T.PrimType("u32")))


def test_the_memo_is_bounded() -> None:
    subtype._SAME.clear()
    kept = [
        (T.ListType(T.PrimType("u8")), T.ListType(T.PrimType("u8")))
        for _ in range(subtype._SAME_MAX + 5)
    ]
    for a, b in kept:
        assert subtype.same_type(a, b)
    assert 0 < len(subtype._SAME) <= subtype._SAME_MAX
