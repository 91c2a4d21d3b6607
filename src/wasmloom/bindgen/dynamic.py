"""Typed bindings built at run time from an instance's own export types (no generation step).

``ex = exports(store, instance)`` gives an object with one method per exported
function, Python-named (``ex.greet(store, "x")``; constructors ``r_new``,
methods and statics ``r_name``), and one nested object per exported instance
(named by the interface, ``ex.api.swap(store, ...)``; ``ex["full:name/x"]``
also works). Records lift into dataclasses, variants into one class per case
(``.tag``, ``.value``), enums and flags into ``enum.Enum``/``enum.Flag``
classes, made once per type: ``ex.classes[t]`` gives the class of a type.
Values go through the canonical ABI straight into these classes, as with
generated bindings.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Sequence
from typing import Any, ClassVar

from wasmloom import types as T
from wasmloom.bindgen.naming import camel, const, snake
from wasmloom.bindgen.rt import wrong_store
from wasmloom.host.instance import Instance
from wasmloom.host.store import Store
from wasmloom.host.typed import ClassMap, ExportedFunc, host_caller, specialise

__all__ = ["DynamicExports", "exports", "py_func_name"]

_IFACE = re.compile(r"^(?:[^:/@]+:[^:/@]+/)?([^:/@]+)(?:@.*)?$")


def py_func_name(name: str) -> str:
    """``greet`` -> ``greet``; ``[constructor]r`` -> ``r_new``; ``[method]r.f`` -> ``r_f``."""
    if name.startswith("[constructor]"):
        return snake(name[len("[constructor]") :]).rstrip("_") + "_new"
    m = re.match(r"^\[(?:method|static)\]([^.]+)\.(.+)$", name)
    if m:
        return snake(m[1]).rstrip("_") + "_" + snake(m[2]).rstrip("_")
    return snake(name)


def _classes_for(t: T.ValType | None, out: dict[T.ValType, Any]) -> None:
    if t is None or t in out:
        return
    if isinstance(t, T.RecordType):
        fields = [(snake(f.label), Any) for f in t.fields]
        out[t] = dataclasses.make_dataclass("Record", fields, slots=True)
        for f in t.fields:
            _classes_for(f.t, out)
    elif isinstance(t, T.VariantType):
        cases = []
        for c in t.cases:
            ns: dict[str, Any] = {"__annotations__": {"tag": ClassVar[str]}, "tag": c.label}
            field = ("value", Any, dataclasses.field(default=None))
            cls = dataclasses.make_dataclass(
                camel(c.label).rstrip("_"), [field], namespace=ns, slots=True
            )
            cases.append(cls)
            _classes_for(c.t, out)
        out[t] = tuple(cases)
    elif isinstance(t, T.EnumType):
        out[t] = enum.Enum("Enum", [(const(label), label) for label in t.labels])
    elif isinstance(t, T.FlagsType):
        out[t] = enum.Flag("Flags", [(const(label), 1 << i) for i, label in enumerate(t.labels)])
    elif isinstance(t, T.ListType | T.OptionType):
        _classes_for(t.t, out)
    elif isinstance(t, T.TupleType):
        for x in t.ts:
            _classes_for(x, out)
    elif isinstance(t, T.ResultType):
        _classes_for(t.ok, out)
        _classes_for(t.error, out)
    elif isinstance(t, T.MapType):
        _classes_for(t.k, out)
        _classes_for(t.v, out)


class _DynFunc:
    __slots__ = ("_call", "_store", "name", "type")

    def __init__(self, store: Store[Any], f: ExportedFunc, name: str) -> None:
        self._store = store
        self._call = host_caller(f)
        self.name = name
        self.type = f.type

    def __call__(self, store: Store[Any], *args: Any) -> Any:
        if store is not self._store:
            wrong_store(store)
        return self._call(args)

    def __repr__(self) -> str:
        return f"<dynamic export {self.name}: {self.type}>"


class DynamicExports:
    """Exported functions as methods, exported instances as nested objects."""

    def __init__(
        self,
        store: Store[Any],
        items: dict[str, Any],
        classes: ClassMap,
        path: Sequence[str] = (),
    ) -> None:
        self.classes = {t: cls for (t, _), cls in classes.map.items()}
        self._items: dict[str, Any] = {}
        for name, item in items.items():
            if isinstance(item, ExportedFunc):
                f = _DynFunc(store, specialise(item, classes), "/".join([*path, name]))
                self._items[name] = f
                setattr(self, py_func_name(name), f)
            elif isinstance(item, dict):
                sub = DynamicExports(store, item, classes, [*path, name])
                self._items[name] = sub
                m = _IFACE.match(name)
                attr = snake(m[1] if m else name)
                if not hasattr(self, attr):
                    setattr(self, attr, sub)

    def __getitem__(self, name: str) -> Any:
        return self._items[name]

    def __getattr__(self, name: str) -> Any:  # for mypy: attributes are dynamic
        raise AttributeError(name)

    def __dir__(self) -> list[str]:
        return sorted(k for k in self.__dict__ if not k.startswith("_"))


def _funcs(items: dict[str, Any]) -> list[ExportedFunc]:
    out: list[ExportedFunc] = []
    for item in items.values():
        if isinstance(item, ExportedFunc):
            out.append(item)
        elif isinstance(item, dict):
            out += _funcs(item)
    return out


def exports(store: Store[Any], instance: Instance) -> DynamicExports:
    """The typed exports of ``instance``, built from its own types."""
    entries: dict[T.ValType, Any] = {}
    for f in _funcs(instance.exports_map):
        for _, t in f.type.params:
            _classes_for(t, entries)
        _classes_for(f.type.result, entries)
    return DynamicExports(store, instance.exports_map, ClassMap(entries))
