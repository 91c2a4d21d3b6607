"""Codecs of the values that live in handle tables: resources, streams, futures, error contexts."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Any

from wasmloom.abi.codecs.base import M32, Codec, type_error
from wasmloom.abi.codecs.classes import ClassMap
from wasmloom.abi.context import AsyncValues
from wasmloom.abi.handles import ResourceHandle, resource_handle
from wasmloom.errors import Trap
from wasmloom.types import BorrowType, ErrorContextType, FutureType, OwnType, StreamType, ValType
from wasmloom.values import Resource, _given_out

# --- handles ----------------------------------------------------------------------------------

_I32 = struct.Struct("<I")


def _handle_codec(
    t: ValType, ptr_type: str, lift: Callable[[Any, int], Any], lower: Callable[[Any, Any], int]
) -> Codec:
    """The codec of a handle type from its ``lift(cx, index)`` (any int: it masks) and its
    ``lower(cx, v) -> index`` (the hot directions: handles are lifted from flat values
    and lowered into memory, the results of a call); the others call them without a
    frame of their own. They are also the codec's ``lift_values`` and ``lower_value``."""
    unpack_from = _I32.unpack_from
    pack_into = _I32.pack_into

    def load(cx: Any, p: int) -> Any:
        return lift(cx, unpack_from(cx.mv, p)[0])

    def lift_flat(cx: Any, it: Iterator[Any]) -> Any:
        return lift(cx, next(it))

    def store(cx: Any, v: Any, p: int) -> None:
        i = lower(cx, v)
        pack_into(cx.mv, p, i)

    def lower_flat(cx: Any, v: Any, out: list[Any]) -> None:
        out.append(lower(cx, v))

    return Codec(t, ptr_type, load, store, lift_flat, lower_flat, True, lift, lower)


def _moved(cx: Any, v: Resource) -> None:
    """Note an own handle moved into a call, for the undo of a failed lowering."""
    taken = getattr(cx, "taken", None)
    if taken is not None:
        taken.append((v, None))


# The fields resource_codec's lowering sets in line for ResourceHandle.__init__ (kept in
# step by this check).
if set(ResourceHandle.__slots__) != {"borrow_scope", "num_lends", "own", "rep", "rt"}:
    raise AssertionError("resource_codec: ResourceHandle fields changed")


def resource_codec(
    t: OwnType | BorrowType, ptr_type: str, classes: ClassMap | None = None
) -> Codec:
    """Lift into :class:`Resource` handles the host holds (see its docstring for the rules
    of guest-implemented resources); lower from them, or through ``classes``' converters.

    The spec's ``lift_own`` / ``lift_borrow`` / ``lower_own`` / ``lower_borrow`` run here,
    specialised for the type: the table look-up and its checks are in line, and any
    failing check goes to :func:`~wasmloom.abi.handles.resource_handle` for its trap.
    """
    rt = t.rt
    own = isinstance(t, OwnType)
    tname = str(t)
    conv = None if classes is None else classes.get(t)
    from_rep, to_rep = (None, None) if conv is None else conv
    RH = ResourceHandle
    new_handle = RH.__new__

    def lift(cx: Any, i: int) -> Any:
        i &= M32
        inst = cx.inst
        a = inst.handles.array
        try:  # the entry, or None past the end (indices are unsigned)
            h = a[i]
        except IndexError:
            h = None
        if h.__class__ is not RH or h.rt is not rt:
            h = resource_handle(inst, i, rt)  # traps
        if own:
            if h.num_lends:
                raise Trap("cannot remove owned resource while borrowed")
            if not h.own:
                raise Trap(
                    f"handle index {i} used with the wrong type, expected own handle but found borrow"
                )
            a[i] = None  # Table.remove in line
            inst.handles.free.append(i)
            scope = None
        else:
            scope = cx.borrow_scope
            if scope is not None:
                h.num_lends += 1  # BorrowScope.add_lender in line
                lenders = scope.lenders
                if lenders:
                    lenders.append(h)
                else:  # the first lend (or the scope's list is empty)
                    scope.lenders = [h]
        if from_rep is None:
            return _given_out(Resource(rt, h.rep, own), scope)
        v = from_rep(h.rep)
        if isinstance(v, Resource):
            _given_out(v, scope)
        return v

    def rep_of(cx: Any, v: Any) -> int:
        """The rep of :class:`Resource` ``v`` (moving an owned handle into the call)."""
        if not isinstance(v, Resource):
            raise type_error(tname, v)
        if v.rt is not rt:
            raise TypeError(f"resource of type `{v.rt.name}` passed for WIT type `{tname}`")
        if own and not v.own:
            raise TypeError(f"a borrowed resource cannot be passed as `{tname}`")
        rep = v._give(own)
        if own:
            _moved(cx, v)
        return rep

    def lower(cx: Any, v: Any) -> int:
        if to_rep is None:
            rep = rep_of(cx, v)
        else:
            rep = to_rep(v)
            if own and isinstance(v, Resource):
                _moved(cx, v)
        inst = cx.inst
        if own:
            scope = None
        else:
            if inst is rt.impl:  # a borrow inside its implementation is the rep itself
                return rep
            scope = cx.borrow_scope
            if scope is not None:
                scope.num_borrows += 1
        h = new_handle(RH)  # ResourceHandle(rt, rep, own, scope), in line
        h.rt = rt
        h.rep = rep
        h.own = own
        h.borrow_scope = scope
        h.num_lends = 0
        table = inst.handles
        free = table.free
        if free and table.journal is None:  # Table.add in line, for a reused slot
            i: int = free.pop()
            table.array[i] = h
            return i
        i = table.add(h)
        return i

    return _handle_codec(t, ptr_type, lift, lower)


# One object per element type of streams and futures (see canonical_type). Bounded:
# cleared when full (the identity checks then fall back to comparing structurally).
_CANONICAL: dict[Any, Any] = {}
_CANONICAL_MAX = 4096


def canonical_type(t: Any) -> Any:
    """The one object kept for types equal to ``t`` (``t`` itself the first time).

    Each stream and future built-in and each function type resolves its own type
    objects, so equal element types are often distinct objects. Those of the
    built-ins and of the stream and future codecs go through here once, at link
    time, so the handle checks of every copy, drop and lift compare them with
    one ``is`` rather than structurally.
    """
    if t is None:
        return None
    try:
        c = _CANONICAL.get(t)
    except TypeError:  # an unhashable type: kept as it is
        return t
    if c is None:
        if len(_CANONICAL) >= _CANONICAL_MAX:
            _CANONICAL.clear()
        _CANONICAL[t] = c = t
    return c


def async_value_codec(t: ValType, ptr_type: str) -> Codec:
    """Streams, futures and error contexts: lifted and lowered by ``cx.async_values``
    (:class:`~wasmloom.abi.context.AsyncValues`), streams and futures through the
    host's ``wrap``/``unwrap`` as well."""

    def unavailable() -> NotImplementedError:
        return NotImplementedError(f"lifting/lowering `{t}` values is not available")

    if isinstance(t, ErrorContextType):

        def lift_error_context(cx: Any, i: int) -> Any:
            vals: AsyncValues | None = cx.async_values
            if vals is None:
                raise unavailable()
            return vals.lift_error_context(cx, i & M32, t)

        def lower_error_context(cx: Any, v: Any) -> int:
            vals: AsyncValues | None = cx.async_values
            if vals is None:
                raise unavailable()
            return vals.lower_error_context(cx, v, t)

        return _handle_codec(t, ptr_type, lift_error_context, lower_error_context)

    assert isinstance(t, StreamType | FutureType)
    et = canonical_type(t.t)
    if et is not t.t:
        t = type(t)(et)  # the same type, its element type the canonical object

    def lift(cx: Any, i: int) -> Any:
        vals: AsyncValues | None = cx.async_values
        if vals is None:
            raise unavailable()
        v = vals.lift_async_value(cx, i & M32, t)
        if not cx.fused:
            v = vals.wrap(cx, v, t)
        return v

    def lower(cx: Any, v: Any) -> int:
        vals: AsyncValues | None = cx.async_values
        if vals is None:
            raise unavailable()
        try:
            taken = cx.taken
        except AttributeError:  # a context without the undo record
            taken = None
        if taken is None:
            v = vals.unwrap(cx, v, t)
        else:
            shared = getattr(v, "shared", None)
            before = getattr(shared, "t", None)
            u = vals.unwrap(cx, v, t)
            if u is not v:
                taken.append((v, before))
            v = u
        return vals.lower_async_value(cx, v, t)

    return _handle_codec(t, ptr_type, lift, lower)
