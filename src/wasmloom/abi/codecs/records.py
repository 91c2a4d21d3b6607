"""Codecs of records and tuples."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from wasmloom.abi.codecs.base import Codec, GetCodec, type_error, word_packer
from wasmloom.abi.codecs.classes import ClassMap
from wasmloom.abi.layout import despecialize_abi, field_offsets
from wasmloom.types import RecordType, TupleType
from wasmloom.values import Record, py_name

# --- records and tuples ------------------------------------------------------------------


def record_codec(
    t: RecordType, enc: str, ptr_type: str, classes: ClassMap | None, get_codec: GetCodec
) -> Codec:
    offs = field_offsets(t.fields, ptr_type)
    fcs = [get_codec(f.t, enc, ptr_type, classes) for f in t.fields]
    cls = None if classes is None else classes.get(t)
    names = [py_name(f.label) for f in t.fields]
    if cls is not None:
        match_args = getattr(cls, "__match_args__", None)
        if match_args is not None and len(match_args) == len(names):
            names = list(match_args)
    labels = [f.label for f in t.fields]
    loads = list(zip(names, offs, [c.load for c in fcs], strict=True))
    stores = list(zip(names, labels, offs, [c.store for c in fcs], strict=True))
    lifts = list(zip(names, [c.lift_flat for c in fcs], strict=True))
    lowers = list(zip(names, labels, [c.lower_flat for c in fcs], strict=True))
    tname = str(t)
    new = Record.__new__

    def get(v: Any, name: str, label: str) -> Any:
        if isinstance(v, dict):
            if label in v:
                return v[label]
            if name in v:
                return v[name]
            raise TypeError(f"missing field `{label}` for WIT type `{tname}`")
        try:
            return getattr(v, name)
        except AttributeError:
            raise TypeError(
                f"expected a Record (or an object/dict with field `{label}`) for WIT type "
                f"`{tname}`, got {type(v).__name__}"
            ) from None

    def load(cx: Any, p: int) -> Any:
        r = new(Record)
        d = r.__dict__
        for name, off, ld in loads:
            d[name] = ld(cx, p + off)
        return r

    def store(cx: Any, v: Any, p: int) -> None:
        for name, label, off, st in stores:
            st(cx, get(v, name, label), p + off)

    def lift_flat(cx: Any, it: Iterator[Any]) -> Any:
        r = new(Record)
        d = r.__dict__
        for name, lf in lifts:
            d[name] = lf(cx, it)
        return r

    def lower_flat(cx: Any, v: Any, out: list[Any]) -> None:
        for name, label, lo in lowers:
            lo(cx, get(v, name, label), out)

    if cls is not None:
        # Unrolled once per record type: the class is called with each field's
        # value in order, with no intermediate list.
        env: dict[str, Any] = {"cls": cls}
        for i, c in enumerate(fcs):
            env[f"ld{i}"] = c.load
            env[f"lf{i}"] = c.lift_flat
        load_args = ", ".join(f"ld{i}(cx, p + {off})" for i, off in enumerate(offs))
        lift_args = ", ".join(f"lf{i}(cx, it)" for i in range(len(fcs)))
        exec(
            f"def load_cls(cx, p):\n    return cls({load_args})\n"
            f"def lift_flat_cls(cx, it):\n    return cls({lift_args})\n",
            env,
        )
        load_cls = env["load_cls"]
        lift_flat_cls = env["lift_flat_cls"]

        pure = all(c.pure for c in fcs)
        return Codec(t, ptr_type, load_cls, store, lift_flat_cls, lower_flat, pure)
    return Codec(t, ptr_type, load, store, lift_flat, lower_flat, all(c.pure for c in fcs))


def _tuple_store(fcs: list[Codec], offs: Sequence[int], check: Callable[[Any], Any]) -> Any:
    """``store(cx, v, p)`` of a tuple of ``fcs`` at offsets ``offs``, written out once per
    tuple type: the elements unpacked and stored in turn, those whose memory form is
    their core value (:func:`word_packer`) packed in line from ``lower_value``."""
    n = len(fcs)
    env: dict[str, Any] = {"check": check}
    names = [f"e{i}" for i in range(n)]
    lines = [
        "def store(cx, v, p):",
        f"    if v.__class__ is not tuple or len(v) != {n}:",
        "        v = check(v)",
    ]
    if n:
        lines.append(f"    {', '.join(names)}, = v")
    for i, (c, off) in enumerate(zip(fcs, offs, strict=True)):
        pack = word_packer(c)
        if pack is None:
            env[f"st{i}"] = c.store
            lines.append(f"    st{i}(cx, e{i}, p + {off})")
        else:
            env[f"lv{i}"] = c.lower_value
            env[f"pk{i}"] = pack
            lines += [f"    x{i} = lv{i}(cx, e{i})", f"    pk{i}(cx.mv, p + {off}, x{i})"]
    exec("\n".join(lines), env)
    return env["store"]


def tuple_codec(
    t: TupleType, enc: str, ptr_type: str, classes: ClassMap | None, get_codec: GetCodec
) -> Codec:
    rt = despecialize_abi(t)
    assert isinstance(rt, RecordType)
    offs = field_offsets(rt.fields, ptr_type)
    fcs = [get_codec(ti, enc, ptr_type, classes) for ti in t.ts]
    loads = list(zip(offs, [c.load for c in fcs], strict=True))
    lifts = [c.lift_flat for c in fcs]
    lowers = [c.lower_flat for c in fcs]
    n = len(fcs)
    tname = str(t)

    def check(v: Any) -> Any:
        if isinstance(v, str) or not hasattr(v, "__len__"):
            raise type_error(tname, v)
        if len(v) != n:
            raise ValueError(f"expected {n} elements for WIT type `{tname}`, got {len(v)}")
        return v

    def load(cx: Any, p: int) -> Any:
        return tuple([ld(cx, p + off) for off, ld in loads])

    store = _tuple_store(fcs, offs, check)

    def lift_flat(cx: Any, it: Iterator[Any]) -> Any:
        return tuple([lf(cx, it) for lf in lifts])

    def lower_flat(cx: Any, v: Any, out: list[Any]) -> None:
        if v.__class__ is not tuple or len(v) != n:
            v = check(v)
        for lo, e in zip(lowers, v, strict=True):
            lo(cx, e, out)

    return Codec(t, ptr_type, load, store, lift_flat, lower_flat, all(c.pure for c in fcs))
