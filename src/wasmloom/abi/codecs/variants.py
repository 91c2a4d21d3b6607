"""Codecs of the variant family (variant, enum, option, result) and of flags."""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from itertools import islice
from typing import Any

from wasmloom.abi.codecs.base import (
    M32,
    Codec,
    GetCodec,
    f32_bits,
    f32_from_bits,
    f64_bits,
    f64_from_bits,
    type_error,
)
from wasmloom.abi.codecs.classes import ClassMap
from wasmloom.abi.layout import despecialize_abi, discriminant_type, flatten_type, payload_offset
from wasmloom.errors import Trap
from wasmloom.types import (
    CaseType,
    EnumType,
    FlagsType,
    OptionType,
    ResultType,
    ValType,
    VariantType,
)
from wasmloom.values import Err, Ok, Some, Variant, enum_class, flags_class

# --- variants (variant, enum, option, result) ---------------------------------------------


def _boxer(cls: type[Ok[Any] | Err[Any] | Some[Any]]) -> Callable[[Any], Any]:
    """``cls(payload)`` without the call of ``cls.__init__`` (which sets ``value``)."""
    new = cls.__new__

    def box(pv: Any) -> Any:
        o = new(cls)
        o.value = pv
        return o

    return box


_ok, _err, _some = _boxer(Ok), _boxer(Err), _boxer(Some)


def _coercer(have: str, want: str) -> Callable[[Any], Any] | None:
    """Lifting: turn a joined flat slot of type ``have`` into the case's own ``want``."""
    if have == want:
        return None
    if have == "i32" and want == "f32":
        return f32_from_bits
    if have == "i64" and want == "i32":
        return lambda x: x & M32
    if have == "i64" and want == "f32":
        return f32_from_bits
    if have == "i64" and want == "f64":
        return f64_from_bits
    raise AssertionError((have, want))


def _encoder(have: str, want: str) -> Callable[[Any], Any] | None:
    """Lowering: turn a case's flat value of type ``have`` into the joined slot type ``want``."""
    if have == want:
        return None
    if have == "f32":
        return f32_bits
    if have == "f64":
        return f64_bits
    return None  # i32 -> i64: unsigned ints need no change


def _variant_core(
    t: ValType,
    cases: tuple[Any, ...],
    enc: str,
    ptr_type: str,
    makers: Sequence[Callable[[Any], Any] | None],
    match: Callable[[Any], tuple[int, Any]],
    classes: ClassMap | None,
    get_codec: GetCodec,
    by_class: dict[type, int],
) -> Codec:
    """The codec of a variant-shaped type from ``makers`` (``makers[i](payload)`` is a
    lifted value of case ``i``; ``None``: the payload itself is) and ``match(v) -> (i,
    payload)``; a value whose class is in ``by_class`` is case ``by_class[cls]`` with
    its payload in ``.value`` (no call to ``match``)."""
    vt = despecialize_abi(t)
    assert isinstance(vt, VariantType)
    ncases = len(cases)
    dt = discriminant_type(vt.cases)
    dcode = {"u8": "B", "u16": "H", "u32": "I"}[dt.name]
    dst = struct.Struct("<" + dcode)
    d_unpack = dst.unpack_from
    d_pack = dst.pack_into
    poff = payload_offset(vt.cases, ptr_type)
    # The payload types come from ``cases``, not from ``vt``: despecialize_abi is
    # cached by shape, so ``vt`` may hold a same-shaped type of another name.
    payloads = [c.t if isinstance(c, CaseType) else c for c in cases]
    ccs = [None if pt is None else get_codec(pt, enc, ptr_type, classes) for pt in payloads]
    cloads = [None if c is None else c.load for c in ccs]
    cstores = [None if c is None else c.store for c in ccs]
    flat = flatten_type(vt, ptr_type)[1:]
    nslots = len(flat)
    zeros = [0.0 if f in ("f32", "f64") else 0 for f in flat]
    lift_plans: list[Any] = []
    lower_plans: list[Any] = []
    for c in ccs:
        if c is None:
            lift_plans.append(None)
            lower_plans.append(None)
            continue
        cf = c.flat
        conv = [_coercer(flat[i], want) for i, want in enumerate(cf)]
        enc_ = [_encoder(have, flat[i]) for i, have in enumerate(cf)]
        # a one-value payload read as it is goes to lift_values, without an iterator
        direct = c.lift_values if len(cf) == 1 and not any(conv) else None
        lift_plans.append((c.lift_flat, conv if any(conv) else None, direct))
        lower_plans.append((c.lower_flat, enc_ if any(enc_) else None, zeros[len(cf) :]))

    def bad_disc() -> Trap:
        return Trap("invalid variant discriminant")

    def load(cx: Any, p: int) -> Any:
        i = d_unpack(cx.mv, p)[0]
        if i >= ncases:
            raise bad_disc()
        ld = cloads[i]
        pv = None if ld is None else ld(cx, p + poff)
        m = makers[i]
        return pv if m is None else m(pv)

    # (the look-ups of ``by_class`` test membership first: no dict.get call per value)
    def store(cx: Any, v: Any, p: int) -> None:
        cls = v.__class__
        if cls not in by_class:
            i, v = match(v)
            d_pack(cx.mv, p, i)
            st = cstores[i]
            if st is not None:
                st(cx, v, p + poff)
            return
        i = by_class[cls]
        d_pack(cx.mv, p, i)
        st = cstores[i]
        if st is not None:
            st(cx, v.value, p + poff)

    def lift_flat(cx: Any, it: Iterator[Any]) -> Any:
        i = next(it) & M32
        slots: Any = list(islice(it, nslots)) if nslots else ()
        if i >= ncases:
            raise bad_disc()
        plan = lift_plans[i]
        if plan is None:
            pv = None
        else:
            lf, conv, direct = plan
            if direct is not None:
                pv = direct(cx, slots[0])
            elif conv is None:
                pv = lf(cx, iter(slots))
            else:
                vals = [x if cv is None else cv(x) for cv, x in zip(conv, slots, strict=False)]
                pv = lf(cx, iter(vals))
        m = makers[i]
        return pv if m is None else m(pv)

    def lower_flat(cx: Any, v: Any, out: list[Any]) -> None:
        cls = v.__class__
        if cls not in by_class:
            i, pv = match(v)
        else:
            i = by_class[cls]
            pv = None if lower_plans[i] is None else v.value
        out.append(i)
        plan = lower_plans[i]
        if plan is None:
            out.extend(zeros)
            return
        lo, encs, pad = plan
        if encs is None:
            lo(cx, pv, out)
        else:
            tmp: list[Any] = []
            lo(cx, pv, tmp)
            out.extend([x if e is None else e(x) for e, x in zip(encs, tmp, strict=True)])
        if pad:
            out.extend(pad)

    pure = all(c is None or c.pure for c in ccs)
    return Codec(t, ptr_type, load, store, lift_flat, lower_flat, pure)


def variant_codec(
    t: VariantType, enc: str, ptr_type: str, classes: ClassMap | None, get_codec: GetCodec
) -> Codec:
    labels = [c.label for c in t.cases]
    index = {label: i for i, label in enumerate(labels)}
    tname = str(t)

    def match(v: Any) -> tuple[int, Any]:
        if isinstance(v, Variant):
            i = index.get(v.tag)
            if i is None:
                raise ValueError(f"unknown case {v.tag!r} for WIT type `{tname}`")
            return i, v.value
        tag = getattr(v, "tag", None)
        if isinstance(tag, str):  # any object with a case label and a payload
            i = index.get(tag)
            if i is None:
                raise ValueError(f"unknown case {tag!r} for WIT type `{tname}`")
            return i, getattr(v, "value", None)
        raise type_error(tname, v)

    case_classes = None if classes is None else classes.get(t)
    if case_classes is not None:
        ctors = list(case_classes)
        by_class = {c: i for i, c in enumerate(ctors)}
        makers = [
            ctor if c.t is not None else _no_payload(ctor)
            for ctor, c in zip(ctors, t.cases, strict=True)
        ]
        return _variant_core(
            t, t.cases, enc, ptr_type, makers, match, classes, get_codec, by_class
        )
    makers = [partial(Variant, label) for label in labels]
    return _variant_core(t, t.cases, enc, ptr_type, makers, match, classes, get_codec, {})


def _no_payload(ctor: Callable[[], Any]) -> Callable[[Any], Any]:
    def make(pv: Any) -> Any:
        return ctor()

    return make


def enum_codec(t: EnumType, enc: str, ptr_type: str, classes: ClassMap | None = None) -> Codec:
    given = None if classes is None else classes.get(t)
    cls = enum_class(t) if given is None else given
    members = list(cls)
    index: dict[Any, int] = {}
    for i, m in enumerate(members):
        index[m] = i
        index[t.labels[i]] = i
    tname = str(t)
    n = len(members)
    dt = discriminant_type(n)
    dst = struct.Struct("<" + {"u8": "B", "u16": "H", "u32": "I"}[dt.name])
    d_unpack = dst.unpack_from
    d_pack = dst.pack_into

    def match(v: Any) -> int:
        try:
            i = index.get(v)
        except TypeError:
            i = None
        if i is None:
            if isinstance(v, enum.Enum) and v.value in index:
                return index[v.value]
            if isinstance(v, str):
                raise ValueError(f"unknown case {v!r} for WIT type `{tname}`")
            raise type_error(tname, v)
        return i

    def load(cx: Any, p: int) -> Any:
        i = d_unpack(cx.mv, p)[0]
        if i >= n:
            raise Trap("invalid variant discriminant")
        return members[i]

    def store(cx: Any, v: Any, p: int) -> None:
        d_pack(cx.mv, p, match(v))

    def lift_flat(cx: Any, it: Iterator[Any]) -> Any:
        i = next(it) & M32
        if i >= n:
            raise Trap("invalid variant discriminant")
        return members[i]

    def lower_flat(cx: Any, v: Any, out: list[Any]) -> None:
        out.append(match(v))

    return Codec(t, ptr_type, load, store, lift_flat, lower_flat, True)


def option_codec(
    t: OptionType, enc: str, ptr_type: str, classes: ClassMap | None, get_codec: GetCodec
) -> Codec:
    nested = isinstance(t.t, OptionType)
    tname = str(t)

    def match(v: Any) -> tuple[int, Any]:
        if v is None:
            return 0, None
        if isinstance(v, Some):
            return 1, v.value
        if nested:
            raise TypeError(
                f"expected None or Some(...) for WIT type `{tname}`, got {type(v).__name__}"
            )
        return 1, v

    # none: its payload, None; some: Some(payload) when nested, else the payload
    makers = (None, _some if nested else None)
    return _variant_core(
        t, (None, t.t), enc, ptr_type, makers, match, classes, get_codec, {type(None): 0, Some: 1}
    )


def result_codec(
    t: ResultType, enc: str, ptr_type: str, classes: ClassMap | None, get_codec: GetCodec
) -> Codec:
    tname = str(t)

    def match(v: Any) -> tuple[int, Any]:
        cls = v.__class__
        if cls is Ok:
            return 0, v.value
        if cls is Err:
            return 1, v.value
        if isinstance(v, Ok):
            return 0, v.value
        if isinstance(v, Err):
            return 1, v.value
        raise TypeError(
            f"expected Ok(...) or Err(...) for WIT type `{tname}`, got {type(v).__name__}"
        )

    return _variant_core(
        t, (t.ok, t.error), enc, ptr_type, (_ok, _err), match, classes, get_codec, {Ok: 0, Err: 1}
    )


# --- flags ---------------------------------------------------------------------------------


def flags_codec(t: FlagsType, ptr_type: str, classes: ClassMap | None = None) -> Codec:
    given = None if classes is None else classes.get(t)
    cls = flags_class(t) if given is None else given
    n = len(t.labels)
    mask = (1 << n) - 1
    bit_of = {label: 1 << i for i, label in enumerate(t.labels)}
    for m in cls:
        assert m.name is not None
        bit_of[m.name] = m.value
    st = struct.Struct("<" + ("B" if n <= 8 else "H" if n <= 16 else "I"))
    unpack_from = st.unpack_from
    pack_into = st.pack_into
    tname = str(t)

    def to_bits(v: Any) -> int:
        if isinstance(v, cls):
            return v.value
        if isinstance(v, str) or not hasattr(v, "__iter__"):
            raise type_error(tname, v)
        bits = 0
        for x in v:
            name = x.name if isinstance(x, enum.Flag) else x
            b = bit_of.get(name) if isinstance(name, str) else None
            if b is None:
                raise ValueError(f"unknown flag {x!r} for WIT type `{tname}`")
            bits |= b
        return bits

    def load(cx: Any, p: int) -> Any:
        return cls(unpack_from(cx.mv, p)[0] & mask)

    def store(cx: Any, v: Any, p: int) -> None:
        pack_into(cx.mv, p, to_bits(v))

    def lift_flat(cx: Any, it: Iterator[Any]) -> Any:
        return cls(next(it) & mask)

    def lower_flat(cx: Any, v: Any, out: list[Any]) -> None:
        out.append(to_bits(v))

    return Codec(t, ptr_type, load, store, lift_flat, lower_flat, True)
