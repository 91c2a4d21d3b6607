"""Decoding a component's type into a WIT world (the inverse of WIT -> component).

Conventions follow wasm-tools: the world is ``root`` in package
``root:component``; an import or export named ``ns:pkg/iface@ver`` is
interface ``iface`` of package ``ns:pkg@ver``; other instance imports and
exports are inline interfaces under their plain names; the component's own
type imports become the world's types (``use`` when they alias an interface's
type); ``[method]r.f``, ``[static]r.f`` and ``[constructor]r`` become
resource functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from wasmloom import types as T
from wasmloom.binary import ast
from wasmloom.binary.decoder import decode_component
from wasmloom.errors import DecodeError
from wasmloom.wit import model as M
from wasmloom.wit.resolve import Resolve
from wasmloom.wit.syntax import WitError

__all__ = ["world_from_component"]

_PRIMS: dict[str, M.Type] = {n: T.PrimType(n) for n in T.PRIM_NAMES}
_PRIMS["error-context"] = T.ErrorContextType()
_IFACE_NAME = re.compile(r"^([^:/@]+):([^:/@]+)/([^:/@]+)(?:@(.+))?$")


@dataclass(slots=True)
class _Func:
    params: list[tuple[str, M.Type]]
    result: M.Type | None
    is_async: bool


@dataclass(slots=True)
class _Inst:
    """An instance type: named types and functions in export order."""

    items: dict[str, M.TypeDef | _Func] = field(default_factory=dict)
    iface: M.Interface | None = None


class _Scope:
    def __init__(self, parent: _Scope | None) -> None:
        self.parent = parent
        self.types: list[Any] = []
        self.funcs: list[_Func | None] = []
        self.instances: list[_Inst | None] = []

    def outer(self, n: int) -> _Scope:
        s: _Scope | None = self
        for _ in range(n):
            assert s is not None
            s = s.parent
        if s is None:
            raise WitError("outer alias escapes the component")
        return s

    def val(self, ref: ast.ValTypeRef | None) -> M.Type | None:
        return None if ref is None else self.valtype(ref)

    def valtype(self, ref: ast.ValTypeRef) -> M.Type:
        if isinstance(ref, str):
            return _PRIMS[ref]
        t = self.types[ref]
        if not isinstance(t, M.TypeDef | T.PrimType | T.ErrorContextType):
            raise WitError(f"type index {ref} is not a value type")
        return t

    def resource(self, idx: int) -> M.TypeDef:
        t = self.types[idx]
        if not (isinstance(t, M.TypeDef) and isinstance(M.unalias(t), M.TypeDef)):
            raise WitError(f"type index {idx} is not a resource")
        return t

    def defvaltype(self, d: Any) -> M.Type:
        v, o = self.valtype, self.val
        k: M.TypeKind
        if isinstance(d, ast.PrimDef):
            return _PRIMS[d.name]
        if isinstance(d, ast.RecordDef):
            k = M.Record([M.RecordField(n, v(r)) for n, r in d.fields])
        elif isinstance(d, ast.VariantDef):
            k = M.Variant([M.Case(n, o(r)) for n, r in d.cases])
        elif isinstance(d, ast.ListDef):
            k = M.List(v(d.t)) if d.length is None else M.FixedList(v(d.t), d.length)
        elif isinstance(d, ast.TupleDef):
            k = M.Tuple([v(r) for r in d.ts])
        elif isinstance(d, ast.FlagsDef):
            k = M.Flags([M.Flag(n) for n in d.labels])
        elif isinstance(d, ast.EnumDef):
            k = M.Enum([M.EnumCase(n) for n in d.labels])
        elif isinstance(d, ast.OptionDef):
            k = M.Option(v(d.t))
        elif isinstance(d, ast.ResultDef):
            k = M.Result(o(d.ok), o(d.error))
        elif isinstance(d, ast.OwnDef):
            k = M.Handle(self.resource(d.type_idx))
        elif isinstance(d, ast.BorrowDef):
            k = M.Handle(self.resource(d.type_idx), borrow=True)
        elif isinstance(d, ast.StreamDef):
            k = M.Stream(o(d.t))
        elif isinstance(d, ast.FutureDef):
            k = M.Future(o(d.t))
        elif isinstance(d, ast.MapDef):
            k = M.Map(v(d.k), v(d.v))
        else:
            raise WitError(f"unsupported type definition {type(d).__name__}")
        return M.TypeDef(None, k)

    def typedef(self, d: ast.TypeDef) -> Any:
        t = d.t
        if isinstance(t, ast.FuncTypeDef):
            return _Func(
                [(n, self.valtype(r)) for n, r in t.params], self.val(t.result), t.is_async
            )
        if isinstance(t, ast.InstanceTypeDef):
            return self.instancetype(t)
        if isinstance(t, ast.ComponentTypeDef):
            return None
        if isinstance(t, ast.ResourceTypeDef):
            return M.TypeDef("resource", M.Resource(), resource_type=T.ResourceType())
        return self.defvaltype(t)

    def instancetype(self, d: ast.InstanceTypeDef) -> _Inst:
        inner = _Scope(self)
        inst = _Inst()
        for decl in d.decls:
            if isinstance(decl, ast.TypeDef):
                inner.types.append(inner.typedef(decl))
            elif isinstance(decl, ast.AliasOuter):
                if decl.sort == ast.Sort.TYPE:
                    inner.types.append(inner.outer(decl.count).types[decl.index])
            elif isinstance(decl, ast.AliasExport):
                src = inner.instances[decl.instance]
                inner.types.append(src.items.get(decl.name) if src else None)
            elif isinstance(decl, ast.ExportDecl):
                name = decl.name.name
                e = decl.t
                if e.sort == ast.Sort.TYPE:
                    assert e.bound is not None
                    td = inner.bound(name, e.bound)
                    inst.items[name] = td
                    inner.types.append(td)
                elif e.sort == ast.Sort.FUNC:
                    assert e.index is not None
                    f = inner.types[e.index]
                    if isinstance(f, _Func):
                        inst.items[name] = f
                elif e.sort == ast.Sort.INSTANCE:
                    assert e.index is not None
                    inner.instances.append(inner.types[e.index])
        return inst

    def bound(self, name: str, b: ast.TypeBoundRef) -> M.TypeDef:
        if b.eq is None:
            return M.TypeDef(name, M.Resource(), resource_type=T.ResourceType(name))
        t = self.types[b.eq]
        if isinstance(t, M.TypeDef) and t.name is None and t.owner is None:
            t.name = name
            return t
        return M.TypeDef(name, M.Alias(t))


class _Builder:
    def __init__(self) -> None:
        self.resolve = Resolve()
        self.root = M.Package(M.PackageName("root", "component"))
        self.world = M.World("root", self.root)
        self.root.worlds["root"] = self.world

    def package(self, ns: str, name: str, version: str | None) -> M.Package:
        key = str(M.PackageName(ns, name, version))
        pkg = self.resolve.packages.get(key)
        if pkg is None:
            pkg = self.resolve.packages[key] = M.Package(M.PackageName(ns, name, version))
        return pkg

    def interface(self, key: str, inst: _Inst) -> M.Interface:
        if inst.iface is not None:
            return inst.iface
        m = _IFACE_NAME.match(key)
        if m:
            pkg = self.package(m.group(1), m.group(2), m.group(4))
            iface = pkg.interfaces.get(m.group(3))
            if iface is not None:
                return iface
            iface = M.Interface(m.group(3), pkg)
            pkg.interfaces[m.group(3)] = iface
        else:
            iface = M.Interface(None, self.root)
        for name, item in inst.items.items():
            if isinstance(item, M.TypeDef):
                if item.owner is None:
                    item.owner = iface
                iface.types[name] = item
        for name, item in inst.items.items():
            if isinstance(item, _Func):
                fn = self.function(name, item, iface.types)
                iface.functions[name] = fn
        inst.iface = iface
        return iface

    def function(self, name: str, f: _Func, types: dict[str, M.TypeDef]) -> M.Function:
        kind, res, short = "freestanding", None, name
        for prefix, k in (
            ("[constructor]", "constructor"),
            ("[method]", "method"),
            ("[static]", "static"),
        ):
            if name.startswith(prefix):
                rest = name[len(prefix) :]
                rname, _, short = rest.partition(".")
                if k == "constructor":
                    short = "constructor"
                res = types.get(rname)
                kind = k if res is not None else "freestanding"
        if kind == "freestanding":
            short = name
        return M.Function(short, kind, f.params, f.result, res, f.is_async)

    def run(self, comp: ast.Component) -> None:
        s = _Scope(None)
        w = self.world
        wtypes: dict[str, M.TypeDef] = {}
        for d in comp.definitions:
            if isinstance(d, ast.TypeDef):
                s.types.append(s.typedef(d))
            elif isinstance(d, ast.AliasExport):
                src = s.instances[d.instance] if d.instance < len(s.instances) else None
                item = src.items.get(d.name) if src else None
                if d.sort == ast.Sort.TYPE:
                    s.types.append(item)
                elif d.sort == ast.Sort.FUNC:
                    s.funcs.append(item if isinstance(item, _Func) else None)
                elif d.sort == ast.Sort.INSTANCE:
                    s.instances.append(None)
            elif isinstance(d, ast.AliasOuter):
                if d.sort == ast.Sort.TYPE:
                    s.types.append(s.outer(d.count).types[d.index])
            elif isinstance(d, ast.Import):
                self.extern(s, "import", d.name.name, d.t, None, wtypes)
            elif isinstance(d, ast.CanonLift):
                f = s.types[d.type_idx]
                s.funcs.append(f if isinstance(f, _Func) else None)
            elif isinstance(d, ast.Instantiate):
                s.instances.append(None)
            elif isinstance(d, ast.InlineExports):
                inst = _Inst()
                for en, sort, idx in d.exports:
                    if sort == ast.Sort.FUNC and idx < len(s.funcs) and s.funcs[idx] is not None:
                        inst.items[en.name] = s.funcs[idx]  # type: ignore[assignment]
                    elif sort == ast.Sort.TYPE and isinstance(s.types[idx], M.TypeDef):
                        inst.items[en.name] = s.types[idx]
                s.instances.append(inst)
            elif isinstance(d, ast.Export):
                self.extern(s, "export", d.name.name, d.t, (d.sort, d.index), wtypes)
        types_first = {k: v for k, v in w.imports.items() if isinstance(v, M.TypeDef)}
        ifaces = {k: v for k, v in w.imports.items() if isinstance(v, M.Interface)}
        rest = {k: v for k, v in w.imports.items() if k not in types_first and k not in ifaces}
        w.imports = {**ifaces, **types_first, **rest}

    def extern(
        self,
        s: _Scope,
        direction: str,
        name: str,
        t: ast.ExternTypeRef | None,
        item: tuple[ast.Sort, int] | None,
        wtypes: dict[str, M.TypeDef],
    ) -> None:
        w = self.world
        items = w.imports if direction == "import" else w.exports
        sort = t.sort if t is not None else item[0] if item else None
        if sort == ast.Sort.INSTANCE:
            inst: Any = None
            if t is not None and t.index is not None:
                inst = s.types[t.index]
            elif item is not None:
                inst = s.instances[item[1]] if item[1] < len(s.instances) else None
            if not isinstance(inst, _Inst):
                raise WitError(f"cannot determine the type of {direction} `{name}`")
            iface = self.interface(name, inst)
            items[name if iface.id != name else iface.id] = iface
            s.instances.append(inst)
        elif sort == ast.Sort.FUNC:
            f: Any = None
            if t is not None and t.index is not None:
                f = s.types[t.index]
            elif item is not None:
                f = s.funcs[item[1]] if item[1] < len(s.funcs) else None
            if not isinstance(f, _Func):
                raise WitError(f"cannot determine the type of {direction} `{name}`")
            fn = self.function(name, f, wtypes)
            items[name] = fn
            s.funcs.append(f)
        elif sort == ast.Sort.TYPE:
            if t is not None and t.bound is not None:
                td = s.bound(name, t.bound)
            else:
                assert item is not None
                base = s.types[item[1]]
                td = M.TypeDef(name, M.Alias(base))
            if direction == "import":
                if td.owner is None:
                    td.owner = w
                w.imports[name] = td
                wtypes[name] = td
            s.types.append(td)


def world_from_component(data: bytes | bytearray | memoryview) -> tuple[Resolve, M.World]:
    """Decode a component binary's imports and exports into a WIT world.

    Returns the :class:`Resolve` holding the world's package ``root:component``
    and every package its interfaces belong to, and the world ``root``.
    Raises :class:`WitError` (or :class:`DecodeError` for a malformed binary).
    """
    try:
        comp = decode_component(data)
    except DecodeError:
        raise
    b = _Builder()
    try:
        b.run(comp)
    except (IndexError, AssertionError, KeyError) as e:
        # index spaces this decoder does not track (nested components, values...)
        raise WitError(f"component type is not expressible as a WIT world ({e!r})") from e
    b.resolve.packages[str(b.root.name)] = b.root
    return b.resolve, b.world
