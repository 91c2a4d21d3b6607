"""What instantiation remembers per type object: hashes, "holds no handle", buffer kinds."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from wasmloom import types as T
from wasmloom.limits import StoreLimits
from wasmloom.runtime.builtins.guest_buffers import BufferKind
from wasmloom.runtime.subtype import holds_handle, subst_valtype
from wasmloom.wasi.ctx import WasiCtx
from wasmloom.wasi.p2.bindings import wasi_clocks_wall_clock as wall


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


def test_records_made_without_dataclasses_are_dataclasses_to_its_functions() -> None:
    limits = StoreLimits(handles=3)
    assert dataclasses.is_dataclass(limits) and limits.__match_args__[0] == "memory_size"
    assert dataclasses.replace(limits, tables=2) == StoreLimits(tables=2, handles=3)
    with pytest.raises(ValueError, match=r"StoreLimits\.tables"):  # __post_init__ still checks
        dataclasses.replace(limits, tables=-1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        limits.tables = 1  # type: ignore[misc]
    assert dataclasses.fields(StoreLimits)[0].name == "memory_size"
    assert dataclasses.asdict(wall.Datetime(5, 6)) == {"seconds": 5, "nanoseconds": 6}
    assert repr(wall.Datetime(5, 6)) == "Datetime(seconds=5, nanoseconds=6)"
    ctx = WasiCtx(args=["a"])
    assert WasiCtx.cwd is None and ctx.args == ["a"] and ctx.env == []
    assert "hosts=" not in repr(ctx) and ctx == dataclasses.replace(ctx, hosts={"p2": 1})
    hosts = next(f for f in dataclasses.fields(ctx) if f.name == "hosts")
    assert not hosts.compare and not hosts.repr


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
