"""The in-line fast paths of the value codecs agree with their general paths.

Handle codecs run the table look-up and its checks in line (``lift_flat``) and
reach memory through the same closures (``load``/``store``); variant codecs
pick the case by exact class before ``match``; tuples skip ``check`` for a
tuple; strings encode a plain ``str`` in line; type records compare with an
``is`` test per field. Each test drives both the fast and the general path.
"""

from __future__ import annotations

from typing import Any

import pytest
from abi_helpers import Env

from wasmloom import Trap
from wasmloom import types as T
from wasmloom.abi.codecs import get_codec
from wasmloom.abi.handles import BorrowScope, ResourceHandle
from wasmloom.errors import HandleError, WasmloomError
from wasmloom.values import Err, Ok, Resource, Some, Variant

# --- handles ------------------------------------------------------------------------------


def _through_memory(env: Env, t: T.ValType, v: Any, cx: Any = None) -> int:
    """Store ``v`` of handle type ``t`` at a fixed address; the index written there."""
    c = get_codec(t)
    c.store(env.cx() if cx is None else cx, v, 256)
    return int.from_bytes(env.mem.data[256:260], "little")


def test_own_handle_stored_and_loaded_through_memory_moves_the_handle() -> None:
    env = Env()
    rt = T.ResourceType("r")
    own = get_codec(T.OwnType(rt))
    i = _through_memory(env, T.OwnType(rt), Resource(rt, 7, True))
    h = env.inst.handles.get(i)
    assert isinstance(h, ResourceHandle) and h.own and h.rep == 7
    v = own.load(env.cx(), 256)
    assert isinstance(v, Resource) and v.own and v.rep == 7
    assert len(env.inst.handles) == 0
    with pytest.raises(Trap, match=f"unknown handle index {i}"):
        own.load(env.cx(), 256)  # moved out by the first load


def test_borrow_handle_lifted_from_memory_lends_until_the_scope_exits() -> None:
    env = Env()
    rt = T.ResourceType("r")
    i = _through_memory(env, T.OwnType(rt), Resource(rt, 9, True))
    scope = BorrowScope()
    v = get_codec(T.BorrowType(rt)).load(env.cx(scope), 256)
    assert isinstance(v, Resource) and not v.own and v.rep == 9
    h = env.inst.handles.get(i)
    assert h.num_lends == 1
    with pytest.raises(Trap, match="cannot remove owned resource while borrowed"):
        get_codec(T.OwnType(rt)).lift_flat(env.cx(), iter([i]))
    scope.exit()
    assert h.num_lends == 0
    with pytest.raises(HandleError, match="the borrow ended"):
        get_codec(T.BorrowType(rt)).lower_flat(env.cx(), v, [])


@pytest.mark.parametrize("how", ["flat", "memory"])
def test_handle_lift_traps_name_the_problem(how: str) -> None:
    env = Env()
    rt, other = T.ResourceType("r"), T.ResourceType("s")
    own = get_codec(T.OwnType(rt))
    borrowed = _through_memory(env, T.BorrowType(rt), Resource(rt, 1, False), env.cx(BorrowScope()))
    foreign = env.inst.handles.add(ResourceHandle(other, 2, True))
    plain = env.inst.handles.add(object())

    def lift(i: int) -> Any:
        if how == "flat":
            return own.lift_flat(env.cx(), iter([i]))
        env.mem.data[256:260] = i.to_bytes(4, "little")
        return own.load(env.cx(), 256)

    with pytest.raises(Trap, match=r"unknown handle index 0$"):
        lift(0)
    with pytest.raises(Trap, match="unknown handle index 4294967295"):
        lift(0xFFFF_FFFF)
    with pytest.raises(Trap, match="expected own handle but found borrow"):
        lift(borrowed)
    with pytest.raises(Trap, match="found a different guest-defined resource"):
        lift(foreign)
    with pytest.raises(Trap, match="expected resource handle"):
        lift(plain)


def test_borrow_lowered_counts_in_the_callee_scope() -> None:
    env = Env()
    rt = T.ResourceType("r")
    scope = BorrowScope()
    out: list[Any] = []
    get_codec(T.BorrowType(rt)).lower_flat(env.cx(scope), Resource(rt, 3, False), out)
    assert scope.num_borrows == 1
    h = env.inst.handles.get(out[0])  # every field of ResourceHandle(rt, 3, False, scope)
    assert type(h) is ResourceHandle and h.rt is rt and h.rep == 3 and h.own is False
    assert h.borrow_scope is scope and h.num_lends == 0
    with pytest.raises(Trap, match="borrow handles still remain"):
        scope.exit()


def test_class_map_converters_on_both_handle_paths() -> None:
    from wasmloom.abi.codecs.classes import ClassMap

    env = Env()
    rt = T.ResourceType("r")
    objs: dict[int, str] = {}

    def to_rep(s: str) -> int:
        objs[len(objs) + 1] = s
        return len(objs)

    classes = ClassMap([(T.OwnType(rt), (objs.__getitem__, to_rep))])
    own = get_codec(T.OwnType(rt), classes=classes)
    own.store(env.cx(), "a", 256)
    out: list[Any] = []
    own.lower_flat(env.cx(), "b", out)
    assert own.load(env.cx(), 256) == "a"
    assert own.lift_flat(env.cx(), iter(out)) == "b"
    assert len(env.inst.handles) == 0


# --- variants, tuples, strings --------------------------------------------------------------


class MyOk(Ok[int]):
    __slots__ = ()


class MySome(Some[int]):
    __slots__ = ()


@pytest.mark.parametrize(
    ("t", "v", "back"),
    [
        (T.ResultType(T.U32, T.STRING), Ok(5), Ok(5)),
        (T.ResultType(T.U32, T.STRING), Err("no"), Err("no")),
        (T.ResultType(T.U32, T.STRING), MyOk(6), Ok(6)),  # a subclass: through match
        (T.ResultType(None, None), Ok(), Ok()),
        (T.OptionType(T.U32), None, None),
        (T.OptionType(T.U32), 4, 4),
        (T.OptionType(T.U32), Some(4), 4),
        (T.OptionType(T.U32), MySome(4), 4),
        (T.OptionType(T.OptionType(T.U32)), Some(None), Some(None)),
        (T.OptionType(T.OptionType(T.U32)), Some(2), Some(2)),
        (T.TupleType((T.U8, T.STRING)), (1, "x"), (1, "x")),
        (T.TupleType((T.U8, T.STRING)), [1, "x"], (1, "x")),  # not a tuple: through check
        (T.STRING, "h\u00e9llo", "h\u00e9llo"),
        (T.ListType(T.U8), b"ab", b"ab"),  # bytes: in line
        (T.ListType(T.U8), bytearray(b"ab"), b"ab"),  # the others through prep
        (T.ListType(T.U8), memoryview(b"ab"), b"ab"),
        (T.ListType(T.U8), [97, 98], b"ab"),
        (T.ListType(T.STRING), ["a", "b"], ["a", "b"]),  # a list: no prep
        (T.ListType(T.STRING), ("a",), ["a"]),  # one element: no comprehension
        (T.ListType(T.STRING), [], []),
    ],
)
def test_fast_and_general_paths_round_trip(t: T.ValType, v: Any, back: Any) -> None:
    env = Env()
    env.top = 4096
    c = get_codec(t)
    c.store(env.cx(), v, 512)
    assert c.load(env.cx(), 512) == back
    out: list[Any] = []
    c.lower_flat(env.cx(), v, out)
    assert c.lift_flat(env.cx(), iter(out)) == back


@pytest.mark.parametrize(
    ("t", "v", "exc", "msg"),
    [
        (T.ResultType(T.U32, None), None, TypeError, "expected Ok"),
        (T.ResultType(T.U32, None), Ok("x"), TypeError, "WIT type"),
        (T.OptionType(T.OptionType(T.U8)), 3, TypeError, "expected None or Some"),
        (T.TupleType((T.U8, T.U8)), (1,), ValueError, "expected 2 elements"),
        (T.TupleType((T.U8, T.U8)), "ab", TypeError, "WIT type"),
        (T.STRING, "\ud800", ValueError, "lone surrogate"),
        (T.ListType(T.U8), "ab", TypeError, "WIT type"),
        (T.ListType(T.U8), [256], ValueError, "out of range"),
        (T.ListType(T.STRING), "ab", TypeError, "WIT type"),
        (T.VariantType((T.CaseType("a", None),)), Variant("b"), ValueError, "unknown case"),
    ],
)
def test_fast_paths_keep_the_host_value_errors(
    t: T.ValType, v: Any, exc: type[Exception], msg: str
) -> None:
    env = Env()
    env.top = 4096
    c = get_codec(t)
    with pytest.raises(exc, match=msg):
        c.store(env.cx(), v, 512)
    with pytest.raises(exc, match=msg):
        c.lower_flat(env.cx(), v, [])


def test_string_subclass_lowered_like_str() -> None:
    class S(str):
        pass

    env = Env()
    c = get_codec(T.STRING)
    out: list[Any] = []
    c.lower_flat(env.cx(), S("abc"), out)
    assert c.lift_flat(env.cx(), iter(out)) == "abc"


# --- type records ---------------------------------------------------------------------------


def _error_code() -> T.VariantType:
    return T.VariantType(
        tuple(T.CaseType(f"case-{i}", T.OptionType(T.STRING)) for i in range(40)), "error-code"
    )


def test_type_equality_is_structural_with_or_without_shared_parts() -> None:
    shared = _error_code()
    a = T.FutureType(T.ResultType(None, shared))
    b = T.FutureType(T.ResultType(None, shared))
    c = T.FutureType(T.ResultType(None, _error_code()))
    assert a == b == c and hash(a) == hash(b) == hash(c)
    other = T.VariantType((*_error_code().cases[:-1], T.CaseType("case-39", None)), "error-code")
    d = T.FutureType(T.ResultType(None, other))
    assert a != d and not (a == d)
    # the name is not part of a type's identity, and other classes are never equal
    assert T.RecordType((), "x") == T.RecordType((), "y")
    assert T.ListType(T.U8) != T.ListType(T.U8, 4)
    opt: Any = T.OptionType(T.U8)
    assert T.ListType(T.U8) != opt
    assert T.ListType(T.U8).__eq__(3) is NotImplemented


# --- the host objects behind host resource handles ----------------------------------------


def test_host_table_counts_owners_and_forgets_lends() -> None:
    from wasmloom.bindgen.rt import HostTable, _host_converters

    class Obj:
        dropped = 0

        def drop(self) -> None:
            Obj.dropped += 1

    tbl = HostTable()
    tbl.rt = T.ResourceType("thing")
    (take, add), (borrow_from_rep, lend) = _host_converters(tbl)
    a, b = Obj(), Obj()
    r = add(a)
    assert add(a) == r and len(tbl) == 1  # one rep per object, two owners
    assert borrow_from_rep(r) is a and tbl.get(r) is a
    assert take(r) is a and len(tbl) == 1  # one owner left
    tbl.drop(r)
    assert Obj.dropped == 1 and len(tbl) == 0
    mark = tbl.lend_mark()
    rb = lend(b)
    assert borrow_from_rep(rb) is b
    tbl.end_lends(mark)
    assert len(tbl) == 0
    for f in (borrow_from_rep, tbl.get, take):
        with pytest.raises(WasmloomError, match=f"no host `thing` object has representation {rb}"):
            f(rb)
    with pytest.raises(TypeError, match="expected a host `thing` object, got None"):
        add(None)
