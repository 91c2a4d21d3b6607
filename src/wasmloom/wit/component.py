"""Decoding a component's type into a WIT world (the inverse of WIT -> component).

The component's type is computed by a type-level walk over all its
definitions: every index space a type can flow through (types, functions,
instances, components) is tracked, nested components are instantiated at the
type level (their definitions are walked again with their imports bound to the
``with`` arguments, so resources and named types flow through), and inline
exports, aliases and export ascriptions are followed. A type exported under a
name keeps that name, so WIT can refer to it.

Conventions follow wasm-tools: the world is ``root`` in package
``root:component``; an import or export named ``ns:pkg/iface@ver`` is
interface ``iface`` of package ``ns:pkg@ver``; other instance imports and
exports are inline interfaces under their plain names; the component's own
type imports become the world's types (``use`` when they alias an interface's
type); ``[method]r.f``, ``[static]r.f`` and ``[constructor]r`` become
resource functions.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TypeAlias

from wasmloom import types as T
from wasmloom.binary import ast
from wasmloom.binary.decoder import decode_component
from wasmloom.errors import DecodeError
from wasmloom.wit import model as M
from wasmloom.wit.resolve import Resolve
from wasmloom.wit.syntax import WitError

__all__ = ["is_wit_package", "package_from_component", "world_from_component"]

_PRIMS: dict[str, M.Type] = {n: T.PrimType(n) for n in T.PRIM_NAMES}
_PRIMS["error-context"] = T.ErrorContextType()
_IFACE_NAME = re.compile(r"^([^:/@]+):([^:/@]+)/([^:/@]+)(?:@(.+))?$")
# Kinds a type export names in place (``record r``); others become ``type t = ...``.
_NOMINAL = (M.Record, M.Variant, M.Enum, M.Flags, M.Resource)


@dataclass(slots=True)
class _Func:
    """A component function type."""

    params: list[tuple[str, M.Type]]
    result: M.Type | None
    is_async: bool


@dataclass(slots=True)
class _Inst:
    """An instance's type: its exports in order (types, functions, instances...)."""

    items: dict[str, _Item] = field(default_factory=dict)


@dataclass(slots=True)
class _InstType:
    """An ``(instance ...)`` type; each use is a fresh instance (fresh resources)."""

    decl: ast.InstanceTypeDef
    parent: _Scope

    def fresh(self) -> _Inst:
        _, exports = _walk_decls(self.decl.decls, _Scope(self.parent), None)
        return _Inst(exports)


@dataclass(slots=True)
class _Comp:
    """A component (a nested definition) or a component type, instantiable at type level."""

    body: ast.Component | ast.ComponentTypeDef
    parent: _Scope

    def instantiate(self, args: dict[str, _Item]) -> _Inst:
        if isinstance(self.body, ast.Component):
            _, exports = _walk(self.body, self.parent, args)
        else:
            _, exports = _walk_decls(self.body.decls, _Scope(self.parent), args)
        return _Inst(exports)


# What an index space entry can be: a WIT type, a function type, an instance
# (type), a component (type), or None for what WIT cannot express (values).
_Item: TypeAlias = M.Type | _Func | _Inst | _InstType | _Comp | None


def _named(name: str, t: _Item) -> M.TypeDef:
    """The type ``t`` exported (or imported) as ``name``.

    An anonymous record, variant, enum, flags or resource takes the name in
    place (so references to it print by name); anything else becomes
    ``type name = t``.
    """
    if isinstance(t, M.TypeDef) and t.name is None and isinstance(t.kind, _NOMINAL):
        t.name = name
        if t.resource_type is not None:
            t.resource_type.name = name
        return t
    if isinstance(t, _Comp | _InstType):
        raise WitError(
            f"type `{name}` is a component or instance type, which a world cannot hold"
            " (a WIT package encoded as a component is not a component's world)"
        )
    if not isinstance(t, M.TypeDef | T.PrimType | T.ErrorContextType):
        raise WitError(f"type `{name}` is not a value type or resource")
    return M.TypeDef(name, M.Alias(t))


class _Scope:
    """The index spaces of one component, component type or instance type."""

    def __init__(self, parent: _Scope | None) -> None:
        self.parent = parent
        self.types: list[_Item] = []
        self.funcs: list[_Item] = []
        self.instances: list[_Item] = []
        self.components: list[_Item] = []
        self.values: list[_Item] = []

    def outer(self, n: int) -> _Scope:
        s: _Scope | None = self
        for _ in range(n):
            s = s.parent if s is not None else None
        if s is None:
            raise WitError("outer alias escapes the component")
        return s

    def space(self, sort: ast.Sort) -> list[_Item] | None:
        """The index space of a component-level sort (None for core sorts)."""
        if sort == ast.Sort.TYPE:
            return self.types
        if sort == ast.Sort.FUNC:
            return self.funcs
        if sort == ast.Sort.INSTANCE:
            return self.instances
        if sort == ast.Sort.COMPONENT:
            return self.components
        if sort == ast.Sort.VALUE:
            return self.values
        return None

    def get(self, sort: ast.Sort, idx: int) -> _Item:
        sp = self.space(sort)
        if sp is None:
            return None
        if idx >= len(sp):
            raise WitError(f"{sort.value} index {idx} out of range")
        return sp[idx]

    def add(self, sort: ast.Sort, item: _Item) -> None:
        sp = self.space(sort)
        if sp is not None:
            sp.append(item)

    # --- types ---------------------------------------------------------------------

    def val(self, ref: ast.ValTypeRef | None) -> M.Type | None:
        return None if ref is None else self.valtype(ref)

    def valtype(self, ref: ast.ValTypeRef) -> M.Type:
        if isinstance(ref, str):
            return _PRIMS[ref]
        t = self.get(ast.Sort.TYPE, ref)
        if not isinstance(t, M.TypeDef | T.PrimType | T.ErrorContextType):
            raise WitError(f"type index {ref} is not a value type")
        return t

    def resource(self, idx: int) -> M.TypeDef:
        t = self.get(ast.Sort.TYPE, idx)
        if not (isinstance(t, M.TypeDef) and isinstance(M.unalias(t), M.TypeDef)):
            raise WitError(f"type index {idx} is not a resource")
        return t

    def defvaltype(self, d: ast.DefValType) -> M.Type:
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

    def typedef(self, d: ast.TypeDef) -> _Item:
        t = d.t
        if isinstance(t, ast.FuncTypeDef):
            return _Func(
                [(n, self.valtype(r)) for n, r in t.params], self.val(t.result), t.is_async
            )
        if isinstance(t, ast.InstanceTypeDef):
            return _InstType(t, self)
        if isinstance(t, ast.ComponentTypeDef):
            return _Comp(t, self)
        if isinstance(t, ast.ResourceTypeDef):
            return M.TypeDef(None, M.Resource(), resource_type=T.ResourceType())
        return self.defvaltype(t)

    def bound(self, name: str, b: ast.TypeBoundRef) -> M.TypeDef:
        """The type a ``(type (eq i))`` / ``(type (sub resource))`` import or export introduces."""
        if b.eq is None:
            return M.TypeDef(name, M.Resource(), resource_type=T.ResourceType(name))
        return _named(name, self.get(ast.Sort.TYPE, b.eq))

    def extern(self, name: str, t: ast.ExternTypeRef) -> _Item:
        """The item an import or export declaration of type ``t`` introduces."""
        if t.sort == ast.Sort.TYPE:
            assert t.bound is not None
            return self.bound(name, t.bound)
        if t.sort in (ast.Sort.FUNC, ast.Sort.COMPONENT):
            assert t.index is not None
            return self.get(ast.Sort.TYPE, t.index)
        if t.sort == ast.Sort.INSTANCE:
            assert t.index is not None
            it = self.get(ast.Sort.TYPE, t.index)
            if not isinstance(it, _InstType):
                raise WitError(f"type index {t.index} of `{name}` is not an instance type")
            return it.fresh()
        return None  # values, core modules

    def alias_export(self, d: ast.AliasExport) -> None:
        src = self.get(ast.Sort.INSTANCE, d.instance)
        item = src.items.get(d.name) if isinstance(src, _Inst) else None
        self.add(d.sort, item)

    def alias_outer(self, d: ast.AliasOuter) -> None:
        if d.sort in (ast.Sort.TYPE, ast.Sort.COMPONENT):
            self.add(d.sort, self.outer(d.count).get(d.sort, d.index))


_Externs: TypeAlias = dict[str, _Item]


def _import(s: _Scope, name: str, t: ast.ExternTypeRef, args: _Externs | None) -> _Item:
    """An import's item: the instantiation argument when bound, else its declared type."""
    item = args[name] if args is not None and name in args else s.extern(name, t)
    s.add(t.sort, item)
    return item


def _walk_decls(
    decls: list[ast.ComponentDecl] | list[ast.InstanceDecl],
    s: _Scope,
    args: _Externs | None,
) -> tuple[_Externs, _Externs]:
    """The imports and exports of a component or instance type's declarations."""
    imports: _Externs = {}
    exports: _Externs = {}
    for d in decls:
        if isinstance(d, ast.TypeDef):
            s.types.append(s.typedef(d))
        elif isinstance(d, ast.AliasOuter):
            s.alias_outer(d)
        elif isinstance(d, ast.AliasExport):
            s.alias_export(d)
        elif isinstance(d, ast.ImportDecl):
            imports[d.name.name] = _import(s, d.name.name, d.t, args)
        elif isinstance(d, ast.ExportDecl):
            item = s.extern(d.name.name, d.t)
            s.add(d.t.sort, item)
            exports[d.name.name] = item
    return imports, exports


def _walk(
    comp: ast.Component, parent: _Scope | None, args: _Externs | None
) -> tuple[_Externs, _Externs]:
    """The imports and exports of a component's definitions.

    With ``args`` (a type-level instantiation), imports named in ``args`` are
    those items; the others (and all imports when ``args`` is None) get fresh
    items from their declared types.
    """
    s = _Scope(parent)
    imports: _Externs = {}
    exports: _Externs = {}
    item: _Item
    for d in comp.definitions:
        if isinstance(d, ast.TypeDef):
            s.types.append(s.typedef(d))
        elif isinstance(d, ast.AliasExport):
            s.alias_export(d)
        elif isinstance(d, ast.AliasOuter):
            s.alias_outer(d)
        elif isinstance(d, ast.Import):
            if d.t.sort == ast.Sort.CORE_MODULE:
                continue  # core modules have no WIT form and no type-level role here
            imports[d.name.name] = _import(s, d.name.name, d.t, args)
        elif isinstance(d, ast.CanonLift):
            s.funcs.append(s.get(ast.Sort.TYPE, d.type_idx))
        elif isinstance(d, ast.Component):
            s.components.append(_Comp(d, s))
        elif isinstance(d, ast.Instantiate):
            c = s.get(ast.Sort.COMPONENT, d.component)
            if not isinstance(c, _Comp):
                raise WitError(f"component index {d.component} has no known type")
            with_args = {n: s.get(sort, idx) for n, sort, idx in d.args}
            s.instances.append(c.instantiate(with_args))
        elif isinstance(d, ast.InlineExports):
            inst = _Inst()
            for en, sort, idx in d.exports:
                item = s.get(sort, idx)
                inst.items[en.name] = _named(en.name, item) if sort == ast.Sort.TYPE else item
            s.instances.append(inst)
        elif isinstance(d, ast.Export) and d.sort != ast.Sort.CORE_MODULE:
            name = d.name.name
            if d.sort == ast.Sort.TYPE:
                base = s.get(ast.Sort.TYPE, d.index)
                if d.t is not None and d.t.bound is not None and d.t.bound.eq is not None:
                    base = s.get(ast.Sort.TYPE, d.t.bound.eq)
                item = _named(name, base)
            elif d.t is not None:
                item = s.extern(name, d.t)
            else:
                item = s.get(d.sort, d.index)
            s.add(d.sort, item)
            exports[name] = item
        elif isinstance(d, ast.ValueDef):
            s.values.append(None)
        elif isinstance(d, ast.Start):
            s.values.extend([None] * d.results)
    return imports, exports


class _Builder:
    """Turns a component's imports and exports into a world of ``root:component``."""

    def __init__(self) -> None:
        self.resolve = Resolve()
        self.root = M.Package(M.PackageName("root", "component"))
        self.world = M.World("root", self.root)
        self.root.worlds["root"] = self.world
        self.wtypes: dict[str, M.TypeDef] = {}

    def decls(self, decls: list[ast.ComponentDecl], parent: _Scope | None) -> None:
        """Fill ``self.world`` from a component type's declarations, in order."""
        imports, exports = _walk_decls(decls, _Scope(parent), None)
        for d in decls:
            if isinstance(d, ast.ImportDecl) and d.name.name in imports:
                self.item("import", d.name.name, imports[d.name.name], d.name.implements)
        for d in decls:
            if isinstance(d, ast.ExportDecl) and d.name.name in exports:
                self.item("export", d.name.name, exports[d.name.name], d.name.implements)
        self.order_imports()

    def package(self, ns: str, name: str, version: str | None) -> M.Package:
        key = str(M.PackageName(ns, name, version))
        pkg = self.resolve.packages.get(key)
        if pkg is None:
            pkg = self.resolve.packages[key] = M.Package(M.PackageName(ns, name, version))
        return pkg

    def interface(self, key: str, inst: _Inst, implements: str | None = None) -> M.Interface:
        """The interface of instance ``inst``, named by ``implements`` or else by ``key``.

        A named interface is one interface however many times it is met: an import
        and an export of it (or the copies an encoded package repeats) add the items
        it lacks, so each side keeps all its functions, as wit-component decodes it.
        """
        m = _IFACE_NAME.match(implements or key)
        if m:
            pkg = self.package(m.group(1), m.group(2), m.group(4))
            iface = pkg.interfaces.get(m.group(3))
            if iface is None:
                iface = M.Interface(m.group(3), pkg)
                pkg.interfaces[m.group(3)] = iface
        else:
            iface = M.Interface(None, self.root)
        for name, item in inst.items.items():
            if name in iface.functions:
                continue
            if name in iface.types:
                # already defined (an encoded package repeats a dependency's used items):
                # this copy stands for the definition
                if isinstance(item, M.TypeDef) and item is not iface.types[name]:
                    if item.owner is None:
                        item.kind = M.Alias(iface.types[name])
                        item.owner = iface
                        item.name = name
                continue
            if isinstance(item, M.TypeDef):
                target = item.kind.target if isinstance(item.kind, M.Alias) else None
                if isinstance(target, M.TypeDef) and target.name == name and target.owner is None:
                    item = target  # a re-export of a type no interface defines yet: define it here
                if item.owner is None:
                    item.owner = iface
                elif item.owner is not iface:
                    item = M.TypeDef(name, M.Alias(item), owner=iface)
                iface.types[name] = item
            elif not isinstance(item, _Func):
                raise WitError(f"`{name}` of `{key}` is not expressible in a WIT interface")
        for name, item in inst.items.items():
            if isinstance(item, _Func) and name not in iface.functions:
                iface.functions[name] = self.function(name, item, iface.types)
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

    def item(self, direction: str, name: str, item: _Item, implements: str | None) -> None:
        w = self.world
        items = w.imports if direction == "import" else w.exports
        if isinstance(item, _Inst):
            items[name] = self.interface(name, item, implements)
        elif isinstance(item, _Func):
            items[name] = self.function(name, item, self.wtypes)
        elif isinstance(item, M.TypeDef) and direction == "import":
            if item.owner is None:
                item.owner = w
            elif item.owner is not w:
                item = M.TypeDef(name, M.Alias(item), owner=w)
            w.imports[name] = item
            self.wtypes[name] = item
        elif isinstance(item, M.TypeDef):
            raise WitError(f"export `{name}` is a type: a world cannot export types")
        else:
            raise WitError(f"the type of {direction} `{name}` is not expressible as WIT")

    def run(self, comp: ast.Component) -> None:
        imports, exports = _walk(comp, None, None)
        for d in comp.definitions:
            if isinstance(d, ast.Import) and d.name.name in imports:
                self.item("import", d.name.name, imports[d.name.name], d.name.implements)
        for d in comp.definitions:
            if isinstance(d, ast.Export) and d.name.name in exports:
                self.item("export", d.name.name, exports[d.name.name], d.name.implements)
        self.order_imports()

    def order_imports(self) -> None:
        w = self.world
        types_first = {k: v for k, v in w.imports.items() if isinstance(v, M.TypeDef)}
        ifaces = {k: v for k, v in w.imports.items() if isinstance(v, M.Interface)}
        rest = {k: v for k, v in w.imports.items() if k not in types_first and k not in ifaces}
        w.imports = {**ifaces, **types_first, **rest}


def world_from_component(data: bytes | bytearray | memoryview) -> tuple[Resolve, M.World]:
    """Decode a component binary's type into a WIT world.

    The type covers every definition: nested components and their type-level
    instantiation, inline exports, aliases and ascriptions. Returns the
    :class:`Resolve` holding the world's package ``root:component`` and every
    package its interfaces belong to, and the world ``root``. Raises
    :class:`WitError` when the type has no WIT form (an exported component or
    value, a type exported by the world, an interface holding an instance), or :class:`DecodeError` for a
    malformed binary.
    """
    try:
        comp = decode_component(data)
    except DecodeError:
        raise
    b = _Builder()
    try:
        b.run(comp)
    except (IndexError, AssertionError, KeyError) as e:
        raise WitError(f"component type is not expressible as a WIT world ({e!r})") from e
    b.resolve.packages[str(b.root.name)] = b.root
    return b.resolve, b.world


def is_wit_package(data: bytes | bytearray | memoryview) -> bool:
    """Whether a component binary encodes a WIT package (wit-component's format).

    Such a component only exports component types named by plain labels; each
    holds one export: an instance type (an interface) or a component type (a world).
    """
    try:
        comp = decode_component(data)
    except DecodeError:
        return False
    return _package_exports(comp) is not None


def _package_exports(comp: ast.Component) -> list[tuple[str, ast.ComponentTypeDef]] | None:
    types: list[ast.TypeDef | None] = []
    out: list[tuple[str, ast.ComponentTypeDef]] = []
    for d in comp.definitions:
        if isinstance(d, ast.TypeDef):
            types.append(d)
        elif isinstance(d, ast.AliasExport | ast.AliasOuter) and d.sort == ast.Sort.TYPE:
            types.append(None)
        elif isinstance(d, ast.Import):
            return None
        elif isinstance(d, ast.Export):
            if d.sort != ast.Sort.TYPE or not 0 <= d.index < len(types):
                return None
            td = types[d.index]
            if td is None or not isinstance(td.t, ast.ComponentTypeDef):
                return None
            if ":" in d.name.name or "/" in d.name.name:
                return None  # the v1 format ("ns:pkg/wit") is not read
            out.append((d.name.name, td.t))
            types.append(td)  # an export of a type adds a type index
    return out or None


def package_from_component(data: bytes | bytearray | memoryview) -> tuple[Resolve, M.Package]:
    """Decode a WIT package encoded as a component (``wasm-tools component wit --wasm``).

    Returns a :class:`Resolve` holding the package and the (partial) packages its
    interfaces use, and the package. Docs come from the ``package-docs`` custom
    section when present. Raises :class:`WitError` when ``data`` is a component
    but not an encoded package, :class:`DecodeError` when it is malformed.
    """
    comp = decode_component(data)
    exports = _package_exports(comp)
    if exports is None:
        raise WitError("the component does not encode a WIT package")
    b = _Builder()
    main: M.Package | None = None
    top = _Scope(None)
    for label, ct in exports:
        inner = [d for d in ct.decls if isinstance(d, ast.ExportDecl)]
        if len(inner) != 1:
            raise WitError(f"`{label}`: expected a single export, found {len(inner)}")
        m = _IFACE_NAME.match(inner[0].name.name)
        if m is None:
            raise WitError(f"`{label}`: export `{inner[0].name.name}` is not a package item name")
        pkg = b.package(m.group(1), m.group(2), m.group(4))
        if main is None:
            main = pkg
        elif pkg is not main:
            raise WitError("item defined with mismatched package name")
        if inner[0].t.sort == ast.Sort.COMPONENT:
            s = _Scope(top)
            imports, exports_ = _walk_decls(ct.decls, s, None)
            for d in ct.decls:
                if isinstance(d, ast.ImportDecl):
                    it = imports[d.name.name]
                    if isinstance(it, _Inst):
                        b.interface(d.name.name, it, d.name.implements)
            wt = exports_[inner[0].name.name]
            if not isinstance(wt, _Comp) or not isinstance(wt.body, ast.ComponentTypeDef):
                raise WitError(f"`{label}` does not hold a component type")
            b.world = M.World(m.group(3), pkg)
            b.wtypes = {}
            b.decls(wt.body.decls, wt.parent)
            pkg.worlds[m.group(3)] = b.world
        elif inner[0].t.sort == ast.Sort.INSTANCE:
            imports, exports_ = _walk_decls(ct.decls, _Scope(top), None)
            for d in ct.decls:
                if isinstance(d, ast.ImportDecl):
                    it = imports[d.name.name]
                    if isinstance(it, _Inst):
                        b.interface(d.name.name, it, d.name.implements)
            inst = exports_[inner[0].name.name]
            if not isinstance(inst, _Inst):
                raise WitError(f"`{label}` does not hold an instance type")
            b.interface(inner[0].name.name, inst)
        else:
            raise WitError(f"`{label}` exports neither an interface nor a world")
    assert main is not None
    _apply_docs(main, _custom_section(bytes(data), "package-docs"))
    return b.resolve, main


def _custom_section(data: bytes, name: str) -> bytes | None:
    """The payload of the top-level custom section ``name`` (bounds-checked walk)."""
    pos, n = 8, len(data)

    def leb() -> int:
        nonlocal pos
        v = shift = 0
        while pos < n:
            byte = data[pos]
            pos += 1
            v |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return v
        raise WitError("truncated section header")

    while pos < n:
        sid = data[pos]
        pos += 1
        size = leb()
        end = pos + size
        if end > n:
            raise WitError("section extends past the end of the binary")
        if sid == 0:
            start = pos
            nlen = leb()
            if pos + nlen <= end and data[pos : pos + nlen] == name.encode():
                return data[pos + nlen : end]
            pos = start
        pos = end
    return None


def _apply_docs(pkg: M.Package, section: bytes | None) -> None:
    """Docs from a ``package-docs`` section (version byte 0 or 1, then JSON)."""
    if not section or section[0] not in (0, 1):
        return
    try:
        meta = json.loads(section[1:].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return
    if not isinstance(meta, dict):
        return

    def docs_of(v: object) -> str | None:
        if isinstance(v, str):
            return v
        if isinstance(v, dict) and isinstance(v.get("docs"), str):
            return str(v["docs"])
        return None

    pkg.docs = docs_of(meta) or pkg.docs
    for name, im in (meta.get("interfaces") or {}).items():
        iface = pkg.interfaces.get(name)
        if iface is None or not isinstance(im, dict):
            continue
        iface.docs = docs_of(im)
        for fname, fm in (im.get("funcs") or {}).items():
            if fname in iface.functions:
                iface.functions[fname].docs = docs_of(fm)
        for tname, tm in (im.get("types") or {}).items():
            if tname in iface.types:
                iface.types[tname].docs = docs_of(tm)
    for name, wm in (meta.get("worlds") or {}).items():
        w = pkg.worlds.get(name)
        if w is not None and isinstance(wm, dict):
            w.docs = docs_of(wm)
