"""Codecs of the values that live in handle tables: resources, streams, futures, error contexts."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Any

from wasmloom.abi.codecs.base import M32, Codec, type_error
from wasmloom.abi.codecs.classes import ClassMap
from wasmloom.abi.context import AsyncValues
from wasmloom.abi.handles import lift_borrow, lift_own, lower_borrow, lower_own
from wasmloom.types import BorrowType, ErrorContextType, OwnType, ValType
from wasmloom.values import Resource, _given_out

# --- handles ----------------------------------------------------------------------------------

_I32 = struct.Struct("<I")


def _handle_codec(
    t: ValType,
    ptr_type: str,
    lift: Callable[[Any, int], Any],
    lower: Callable[[Any, Any], int],
    lift_flat: Callable[[Any, Iterator[Any]], Any] | None = None,
) -> Codec:
    """The codec of a handle type from its ``lift(cx, i)`` and ``lower(cx, v)`` (and a
    ``lift_flat`` of its own, when it has one with ``lift`` in line)."""
    unpack_from = _I32.unpack_from
    pack_into = _I32.pack_into

    def load(cx: Any, p: int) -> Any:
        return lift(cx, unpack_from(cx.mv, p)[0])

    def store(cx: Any, v: Any, p: int) -> None:
        pack_into(cx.mv, p, lower(cx, v))

    def lift_next(cx: Any, it: Iterator[Any]) -> Any:
        return lift(cx, next(it) & M32)

    def lower_flat(cx: Any, v: Any, out: list[Any]) -> None:
        out.append(lower(cx, v))

    return Codec(t, ptr_type, load, store, lift_flat or lift_next, lower_flat, True)


def _moved(cx: Any, v: Resource) -> None:
    """Note an own handle moved into a call, for the undo of a failed lowering."""
    taken = getattr(cx, "taken", None)
    if taken is not None:
        taken.append((v, None))


def resource_codec(
    t: OwnType | BorrowType, ptr_type: str, classes: ClassMap | None = None
) -> Codec:
    """Lift into :class:`Resource` handles the host holds (see its docstring for the rules
    of guest-implemented resources); lower from them, or through ``classes``' converters."""
    rt = t.rt
    own = isinstance(t, OwnType)
    tname = str(t)
    conv = None if classes is None else classes.get(t)
    lift_h, lower_h = (lift_own, lower_own) if own else (lift_borrow, lower_borrow)
    if conv is not None:
        from_rep, to_rep = conv

        def lift_conv(cx: Any, i: int) -> Any:
            v = from_rep(lift_h(cx, i, rt))
            if isinstance(v, Resource):
                _given_out(v, None if own else cx.borrow_scope)
            return v

        def lift_conv_flat(cx: Any, it: Iterator[Any]) -> Any:
            v = from_rep(lift_h(cx, next(it) & M32, rt))
            if isinstance(v, Resource):
                _given_out(v, None if own else cx.borrow_scope)
            return v

        def lower_conv(cx: Any, v: Any) -> int:
            rep = to_rep(v)
            if own and isinstance(v, Resource):
                _moved(cx, v)
            return lower_h(cx, rep, rt)

        return _handle_codec(t, ptr_type, lift_conv, lower_conv, lift_conv_flat)

    def lift(cx: Any, i: int) -> Resource:
        return _given_out(Resource(rt, lift_h(cx, i, rt), own), None if own else cx.borrow_scope)

    def lower(cx: Any, v: Any) -> int:
        if not isinstance(v, Resource):
            raise type_error(tname, v)
        if v.rt is not rt:
            raise TypeError(f"resource of type `{v.rt.name}` passed for WIT type `{tname}`")
        if own and not v.own:
            raise TypeError(f"a borrowed resource cannot be passed as `{tname}`")
        rep = v._give(own)
        if own:
            _moved(cx, v)
        return lower_h(cx, rep, rt)

    return _handle_codec(t, ptr_type, lift, lower)


def async_value_codec(t: ValType, ptr_type: str) -> Codec:
    """Streams, futures and error contexts: lifted and lowered by ``cx.async_values``
    (:class:`~wasmloom.abi.context.AsyncValues`), streams and futures through the
    host's ``wrap``/``unwrap`` as well."""

    def values(cx: Any) -> AsyncValues:
        v: AsyncValues | None = cx.async_values
        if v is None:
            raise NotImplementedError(f"lifting/lowering `{t}` values is not available")
        return v

    if isinstance(t, ErrorContextType):

        def lift_error_context(cx: Any, i: int) -> Any:
            return values(cx).lift_error_context(cx, i, t)

        def lower_error_context(cx: Any, v: Any) -> int:
            return values(cx).lower_error_context(cx, v, t)

        return _handle_codec(t, ptr_type, lift_error_context, lower_error_context)

    def lift(cx: Any, i: int) -> Any:
        vals = values(cx)
        v = vals.lift_async_value(cx, i, t)
        if not cx.fused:
            v = vals.wrap(cx, v, t)
        return v

    def lower(cx: Any, v: Any) -> int:
        vals = values(cx)
        taken = getattr(cx, "taken", None)
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
