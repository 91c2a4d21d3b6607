"""The Python code generator: a package of typed bindings for one WIT world.

:func:`generate` returns ``{file name: source}``; :func:`write` writes them.
The package holds one module per interface the world uses (named
``<namespace>_<package>_<interface>``) and ``__init__.py`` for the world:

- types: a dataclass per record, ``enum.Enum`` per enum, ``enum.Flag`` per
  flags, per variant one small dataclass per case (``.tag``, ``.value``; a
  subclass of :class:`~wasmloom.bindgen.rt.Case` or ``EmptyCase``) and a
  union alias; ``option<T>`` is ``T | None`` (``Some`` when nested), results
  are ``Ok``/``Err``; ``stream<T>``/``future<T>`` are
  :class:`~wasmloom.host.streams.StreamReader` /
  :class:`~wasmloom.host.streams.FutureReader` of ``T``; error-context is ``Any``;
- imported interfaces: a ``Host`` protocol (resources: ``Host<Resource>``
  protocols for the objects that implement them), ``add_to_linker(linker,
  getter)`` where ``getter`` maps the store's data to the implementation;
  it returns the resource types it defined, a frozen ``ResourceTypes``
  dataclass with one :class:`~wasmloom.ResourceType` field per resource
  (``None`` when the interface defines none);
- exported interfaces: an ``Exports`` class of typed methods, and a
  :class:`~wasmloom.bindgen.rt.GuestResource` class per exported resource;
  a sync function also gets an awaitable twin ``<name>_async`` (a sync call of
  an instance that may block cannot run under a running asyncio loop);
- the world: ``Imports`` (one attribute per imported interface, plus the
  world's own imported functions), ``add_to_linker(linker, getter)`` (its
  ``ResourceTypes`` has one field per imported interface that defines
  resources), and a class named after the world with
  ``instantiate(store, component, linker)``. A world with no types or
  functions of its own imports its interface modules only inside these, so
  importing one interface module does not load the others.

Each module imports :mod:`wasmloom.bindgen.rt` as ``_rt`` and the package's
own modules, nothing else; type tables name each named type by the ``_T_``
constant of the module defining it; no line is over 120 columns
(:mod:`wasmloom.bindgen.wrap` splits the long ones).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from wasmloom import types as T
from wasmloom.bindgen.naming import camel, const, snake
from wasmloom.bindgen.wrap import doc_lines, docstring, union, wrap_code
from wasmloom.wit import model as M
from wasmloom.wit.resolve import Resolve

__all__ = ["generate", "write"]

_PRIM_PY = {"bool": "bool", "f32": "float", "f64": "float", "char": "str", "string": "str"}
_GUEST_RESERVED = {"drop", "dropped", "owner", "rt", "rep", "own"}

_HEADER = """from __future__ import annotations

from wasmloom.bindgen import rt as _rt
"""


def _tuple(items: Iterable[str]) -> str:
    """A tuple display of ``items``: ``()``, ``(a,)``, ``(a, b)``."""
    xs = list(items)
    return f"({xs[0]},)" if len(xs) == 1 else f"({', '.join(xs)})"


def _name_arg(t: T.RecordType | T.VariantType | T.EnumType | T.FlagsType) -> str:
    """The ``name`` argument of a named type's constructor in generated code ("" if unnamed)."""
    return "" if t.name is None else f", {t.name!r}"


def _resources(iface: M.Interface) -> list[M.TypeDef]:
    """The resources ``iface`` defines."""
    return [td for td in iface.types.values() if isinstance(td.kind, M.Resource)]


def _resource_types(fields: list[str], by: str, maker: str) -> list[str]:
    """The ``ResourceTypes`` class of a module: what its ``add_to_linker`` returns."""
    return [
        f"@_rt.{maker}(frozen=True, slots=True)",
        "class ResourceTypes:",
        *docstring(f"The resource types :func:`add_to_linker` defined, by {by}.", "    "),
        *[f"    {f}" for f in fields],
    ]


class _Gen:
    def __init__(self, world: M.World, light_records: bool) -> None:
        self.world = world
        self.maker = "record" if light_records else "dataclass"  # what makes record classes
        self.imported: set[int] = set()
        self.exported: set[int] = set()
        self.ifaces: list[M.Interface] = []
        self.modname: dict[int, str] = {}
        self.world_types: list[M.TypeDef] = []
        for key, item in world.imports.items():
            if isinstance(item, M.Interface):
                self._add_iface(item, key)
                self.imported.add(id(item))
            elif isinstance(item, M.TypeDef):
                self.world_types.append(item)
        for key, item in world.exports.items():
            if isinstance(item, M.Interface):
                self._add_iface(item, key)
                self.exported.add(id(item))
        # interfaces reached only through types
        for iface in list(self.ifaces):
            for td in iface.types.values():
                self._reach(td)
        for td in self.world_types:
            self._reach(td)
        self.rt_ref: dict[T.ResourceType, tuple[str, str]] = {}
        for owner_mod, tds in self._all_typedefs():
            for td in tds:
                if isinstance(td.kind, M.Resource) and td.resource_type is not None:
                    assert td.name is not None
                    self.rt_ref[td.resource_type] = (owner_mod, "_RT_" + const(td.name))
        # named types a module defines as `_T_<NAME>`, by (type, WIT name): type tables name
        # them (the name too, as types compare by structure alone)
        self.vt_ref: dict[tuple[T.ValType, str | None], tuple[str, str]] = {}
        for owner_mod, tds in self._all_typedefs():
            for td in tds:
                if isinstance(td.kind, M.Record | M.Enum | M.Flags | M.Variant):
                    assert td.name is not None
                    vt = M.to_valtype(td)
                    named = (vt, getattr(vt, "name", None))
                    self.vt_ref.setdefault(named, (owner_mod, "_T_" + const(td.name)))
        self.vt_done: set[str] = set()  # the `_T_` names the module being written defined so far

    # -- bookkeeping ----------------------------------------------------------------

    def _add_iface(self, iface: M.Interface, key: str) -> None:
        if id(iface) in self.modname:
            return
        if iface.package is not None and iface.name is not None:
            pn = iface.package.name
            base = f"{snake(pn.namespace)}_{snake(pn.name)}_{snake(iface.name)}"
        else:
            base = "iface_" + snake(key)
        base = base.rstrip("_")
        name = base
        taken = set(self.modname.values())
        if name in taken and iface.package is not None and iface.package.name.version:
            name = base + "_v" + iface.package.name.version.replace(".", "_").replace("-", "_")
        i = 2
        while name in taken:
            name = f"{base}_{i}"
            i += 1
        self.modname[id(iface)] = name
        self.ifaces.append(iface)

    def _reach(self, t: M.Type | None) -> None:
        if not isinstance(t, M.TypeDef):
            return
        if isinstance(t.owner, M.Interface) and id(t.owner) not in self.modname:
            self._add_iface(t.owner, t.owner.name or "anon")
            for td in t.owner.types.values():
                self._reach(td)
        k = t.kind
        if isinstance(k, M.Alias):
            self._reach(k.target)
        elif isinstance(k, M.Handle):
            self._reach(k.resource)

    def _all_typedefs(self) -> Iterable[tuple[str, list[M.TypeDef]]]:
        for iface in self.ifaces:
            yield self.modname[id(iface)], list(iface.types.values())
        yield "", self.world_types

    def mod_of(self, td: M.TypeDef) -> str:
        """The module defining ``td`` ('' for the world's __init__)."""
        if isinstance(td.owner, M.Interface):
            return self.modname[id(td.owner)]
        return ""

    def is_export_owner(self, td: M.TypeDef) -> bool:
        o = td.owner
        return isinstance(o, M.Interface) and id(o) in self.exported and id(o) not in self.imported

    def ref(self, mod: str, here: str, name: str) -> str:
        if mod == here:
            return name
        if mod == "":
            raise AssertionError("interfaces cannot refer to world types")
        return f"_m_{mod}.{name}"

    # -- Python annotations -----------------------------------------------------------

    def resource_class(self, td: M.TypeDef) -> str:
        assert td.name is not None
        return camel(td.name) if self.is_export_owner(td) else "Host" + camel(td.name)

    def py(self, t: M.Type | None, here: str) -> str:
        if t is None:
            return "None"
        if isinstance(t, T.PrimType):
            return _PRIM_PY.get(t.name, "int")
        if isinstance(t, T.ErrorContextType):
            return "_rt.Any"
        k = t.kind
        if t.name is not None:
            if isinstance(k, M.Resource):
                return self.ref(self.mod_of(t), here, self.resource_class(t))
            return self.ref(self.mod_of(t), here, camel(t.name))
        if isinstance(k, M.Handle):
            r = M.unalias(k.resource)
            assert isinstance(r, M.TypeDef)
            return self.ref(self.mod_of(r), here, self.resource_class(r))
        if isinstance(k, M.List):
            e = M.unalias(k.type)
            if isinstance(e, T.PrimType) and e.name == "u8":
                return "bytes"
            return f"list[{self.py(k.type, here)}]"
        if isinstance(k, M.FixedList):
            return f"list[{self.py(k.type, here)}]"
        if isinstance(k, M.Tuple):
            if not k.types:
                return "tuple[()]"
            return "tuple[" + ", ".join(self.py(x, here) for x in k.types) + "]"
        if isinstance(k, M.Option):
            inner = M.unalias(k.type)
            if isinstance(inner, M.TypeDef) and isinstance(inner.kind, M.Option):
                return f"_rt.Some[{self.py(k.type, here)}] | None"
            return f"{self.py(k.type, here)} | None"
        if isinstance(k, M.Result):
            return f"_rt.Ok[{self.py(k.ok, here)}] | _rt.Err[{self.py(k.err, here)}]"
        if isinstance(k, M.Map):
            return f"dict[{self.py(k.key, here)}, {self.py(k.value, here)}]"
        if isinstance(k, M.Alias):
            return self.py(k.target, here)
        if isinstance(k, M.Stream):
            return f"_rt.StreamReader[{self.py(k.type, here)}]"
        if isinstance(k, M.Future):
            return f"_rt.FutureReader[{self.py(k.type, here)}]"
        return "_rt.Any"

    # -- type expressions ---------------------------------------------------------------

    def vt(self, t: T.ValType | None, here: str, top: bool = False) -> str:
        """The expression of value type ``t`` in module ``here``: a named type by its
        ``_T_`` name once defined (``top``: spelled out, for its definition)."""
        if t is None:
            return "None"
        ref = None if top else self.vt_ref.get((t, getattr(t, "name", None)))
        if ref is not None and (ref[0] != here or ref[1] in self.vt_done):
            return self.ref(ref[0], here, ref[1])
        if isinstance(t, T.PrimType):
            return "_rt." + t.name.upper()
        if isinstance(t, T.ErrorContextType):
            return "_rt.ErrorContextType()"
        if isinstance(t, T.ListType):
            return f"_rt.ListType({self.vt(t.t, here)}, {t.length})"
        if isinstance(t, T.RecordType):
            fs = _tuple(f"_rt.FieldType({f.label!r}, {self.vt(f.t, here)})" for f in t.fields)
            return f"_rt.RecordType({fs}{_name_arg(t)})"
        if isinstance(t, T.TupleType):
            return f"_rt.TupleType({_tuple(self.vt(x, here) for x in t.ts)})"
        if isinstance(t, T.VariantType):
            cs = _tuple(f"_rt.CaseType({c.label!r}, {self.vt(c.t, here)})" for c in t.cases)
            return f"_rt.VariantType({cs}{_name_arg(t)})"
        if isinstance(t, T.EnumType):
            return f"_rt.EnumType({t.labels!r}{_name_arg(t)})"
        if isinstance(t, T.FlagsType):
            return f"_rt.FlagsType({t.labels!r}{_name_arg(t)})"
        if isinstance(t, T.OptionType):
            return f"_rt.OptionType({self.vt(t.t, here)})"
        if isinstance(t, T.ResultType):
            return f"_rt.ResultType({self.vt(t.ok, here)}, {self.vt(t.error, here)})"
        if isinstance(t, T.MapType):
            return f"_rt.MapType({self.vt(t.k, here)}, {self.vt(t.v, here)})"
        if isinstance(t, T.OwnType | T.BorrowType):
            mod, name = self.rt_ref[t.rt]
            kind = "OwnType" if isinstance(t, T.OwnType) else "BorrowType"
            return f"_rt.{kind}({self.ref(mod, here, name)})"
        if isinstance(t, T.StreamType):
            return f"_rt.StreamType({self.vt(t.t, here)})"
        assert isinstance(t, T.FutureType)
        return f"_rt.FutureType({self.vt(t.t, here)})"

    def ft(self, f: M.Function, here: str) -> str:
        ft = f.functype()
        ps = _tuple(f"({n!r}, {self.vt(t, here)})" for n, t in ft.params)
        return f"_rt.FuncType({ps}, {self.vt(ft.result, here)}, {ft.is_async})"

    # -- modules -----------------------------------------------------------------------

    def deps(self, tds: Iterable[M.TypeDef], funcs: Iterable[M.Function], here: str) -> list[str]:
        """Modules (other than ``here``) whose types these types and functions reach."""
        seen: set[int] = set()
        mods: list[str] = []

        def visit(t: M.Type | None) -> None:
            if not isinstance(t, M.TypeDef) or id(t) in seen:
                return
            seen.add(id(t))
            if t.name is not None:
                m = self.mod_of(t)
                if m != here and m not in mods:
                    mods.append(m)
            k = t.kind
            sub: list[M.Type | None] = []
            if isinstance(k, M.Record):
                sub = [f.type for f in k.fields]
            elif isinstance(k, M.Variant):
                sub = [c.type for c in k.cases]
            elif isinstance(k, M.Alias | M.Option | M.List | M.FixedList):
                sub = [k.target if isinstance(k, M.Alias) else k.type]
            elif isinstance(k, M.Tuple):
                sub = list(k.types)
            elif isinstance(k, M.Result):
                sub = [k.ok, k.err]
            elif isinstance(k, M.Map):
                sub = [k.key, k.value]
            elif isinstance(k, M.Handle):
                sub = [k.resource]
            elif isinstance(k, M.Future | M.Stream):
                sub = [k.type]
            for s in sub:
                visit(s)

        for td in tds:
            visit(td)
        for f in funcs:
            for _, t in f.params:
                visit(t)
            visit(f.result)
        return mods

    def all_deps(self, mod: str, direct: list[str], dmap: dict[str, list[str]]) -> list[str]:
        out: list[str] = []

        def visit(m: str) -> None:
            if m in out or m == mod:
                return
            for d in dmap.get(m, []):
                visit(d)
            out.append(m)

        for d in direct:
            visit(d)
        return out

    def types_section(
        self, tds: list[M.TypeDef], here: str
    ) -> tuple[list[str], list[str], list[str]]:
        """(code, names of the `_TYPES` entries) for the named types ``tds``."""
        out: list[str] = []
        entries: list[str] = []
        aliases: list[str] = []
        for td in tds:
            if isinstance(td.kind, M.Resource):
                assert td.name is not None
                out.append(f"_RT_{const(td.name)} = _rt.ResourceType({td.name!r})")
        if out:
            out.append("")
        for td in tds:
            assert td.name is not None
            name = camel(td.name)
            k = td.kind
            tconst = "_T_" + const(td.name)
            if isinstance(k, M.Record):
                out += ["", f"@_rt.{self.maker}(slots=True)", f"class {name}:"]
                out += docstring(td.docs, "    ")
                for f in k.fields:
                    out.append(f"    {snake(f.name)}: {self.py(f.type, here)}")
                if not k.fields and not td.docs:
                    out.append("    pass")
                entries.append(f"({tconst}, {name})")
            elif isinstance(k, M.Enum):
                out += ["", f"class {name}(_rt.Enum):"]
                out += docstring(td.docs, "    ")
                for ec in k.cases:
                    out.append(f"    {const(ec.name)} = {ec.name!r}")
                entries.append(f"({tconst}, {name})")
            elif isinstance(k, M.Flags):
                out += ["", f"class {name}(_rt.Flag):"]
                out += docstring(td.docs, "    ")
                for i, fl in enumerate(k.flags):
                    out.append(f"    {const(fl.name)} = {1 << i}")
                if not k.flags and not td.docs:
                    out.append("    pass")
                entries.append(f"({tconst}, {name})")
            elif isinstance(k, M.Variant):
                cases = []
                for c in k.cases:
                    cn = name + camel(c.name).rstrip("_")
                    cases.append(cn)
                    if c.type is None:
                        base = "_rt.EmptyCase"
                    else:
                        payload = self.py(c.type, here)
                        assert '"' not in payload
                        base = f'_rt.Case["{payload}"]'  # a forward reference may be in it
                    out += ["", f"class {cn}({base}):"]
                    out += docstring(c.docs, "    ")
                    out.append("    __slots__ = ()")
                    out.append(f"    tag: _rt.ClassVar[_rt.Literal[{c.name!r}]] = {c.name!r}")
                out += ["", *union(f"{name}: _rt.TypeAlias", cases)]
                out += docstring(td.docs, "")
                entries.append(f"({tconst}, {_tuple(cases)})")
            elif isinstance(k, M.Resource):
                pass  # classes are emitted with the functions
            else:
                target = M.unalias(td)
                if (
                    isinstance(target, M.TypeDef)
                    and target.name is not None
                    and isinstance(target.kind, M.Record | M.Enum | M.Flags)
                ):
                    aliases.append(f"{name} = {self.py(target, here)}")
                elif isinstance(target, M.TypeDef) and isinstance(target.kind, M.Resource):
                    # resource classes come later in the module: a forward reference
                    aliases.append(f'{name}: _rt.TypeAlias = "{self.py(target, here)}"')
                elif (
                    isinstance(k, M.Alias)
                    and isinstance(target, M.TypeDef)
                    and isinstance(target.kind, M.Variant)
                ):
                    assert target.name is not None
                    aliases.append(
                        f"{name}: _rt.TypeAlias = "
                        f"{self.ref(self.mod_of(target), here, camel(target.name))}"
                    )
                else:
                    anon = self.py(M.TypeDef(None, k), here)
                    aliases.append(f'{name}: _rt.TypeAlias = "{anon}"')
        return out, aliases, entries

    def valtypes(self, tds: list[M.TypeDef], here: str) -> list[str]:
        out: list[str] = []
        self.vt_done = set()
        for td in tds:
            if isinstance(td.kind, M.Record | M.Enum | M.Flags | M.Variant):
                assert td.name is not None
                out.append(f"_T_{const(td.name)} = {self.vt(M.to_valtype(td), here, True)}")
                self.vt_done.add(f"_T_{const(td.name)}")
        return out

    # -- functions -------------------------------------------------------------------------

    def params(self, f: M.Function, here: str, skip_self: bool) -> list[tuple[str, str]]:
        ps = f.params[1:] if skip_self else f.params
        return [(snake(n), self.py(t, here)) for n, t in ps]

    def host_name(self, f: M.Function) -> str:
        """The method name on ``Host``: freestanding ``f``, ``r_new``, ``r_static``."""
        if f.kind == "freestanding" or f.resource is None:
            return snake(f.name)
        assert f.resource.name is not None
        r = snake(f.resource.name).rstrip("_")
        if f.kind == "constructor":
            return f"{r}_new"
        return f"{r}_{snake(f.name).rstrip('_')}"

    def sig(self, f: M.Function, here: str, skip_self: bool, first: str) -> str:
        ps = "".join(f", {n}: {t}" for n, t in self.params(f, here, skip_self))
        return f"({first}{ps}) -> {self.py(f.result, here)}"

    def host_section(
        self, funcs: list[M.Function], resources: list[M.TypeDef], here: str, link_name: str
    ) -> list[str]:
        acc = "accessor: _rt.Accessor[_rt.Any, _rt.Any], "
        out: list[str] = []
        for r in resources:
            assert r.name is not None
            out += ["", "", f"class Host{camel(r.name)}(_rt.Protocol):"]
            out += docstring(r.docs or f"The host's implementation of resource `{r.name}`.", "    ")
            out.append(
                "    # When the guest drops its last handle, the bindings forget the object\n"
                "    # and call its `drop()` method if it has one."
            )
            for f in funcs:
                if f.resource is r and f.kind == "method":
                    kw = "async def" if f.is_async else "def"
                    first = "self, " + acc.rstrip(", ") if f.is_async else "self"
                    out.append(f"    {kw} {snake(f.name)}{self.sig(f, here, True, first)}: ...")
        free = [f for f in funcs if f.kind != "method"]
        out += ["", "", "class Host(_rt.Protocol):"]
        out += docstring(
            "What the host implements for this interface: one method per function\n"
            "(constructors are `<resource>_new`, static functions `<resource>_<name>`).",
            "    ",
        )
        for f in free:
            kw = "async def" if f.is_async else "def"
            first = "self, " + acc.rstrip(", ") if f.is_async else "self"
            out.append(f"    {kw} {self.host_name(f)}{self.sig(f, here, False, first)}: ...")
        if not free:
            out.append("    pass")
        gt = (
            "_rt.Callable[[_rt.Any], Host]"
            if funcs
            else "_rt.Callable[[_rt.Any], object] | None = None"
        )
        ret_t = "ResourceTypes" if resources else "None"
        if resources:
            fields = [f"{snake(r.name or '')}: _rt.ResourceType" for r in resources]
            out += ["", "", *_resource_types(fields, "WIT resource name", self.maker)]
        out += [
            "",
            "",
            f"def add_to_linker(linker: _rt.Linker, getter: {gt}) -> {ret_t}:",
            '    """Define this interface in ``linker``, implemented by ``getter(store.data)``.',
            "",
            "    ``getter`` maps the store's data to the object implementing :class:`Host`:",
            "    the data itself (``lambda d: d``), a field of it (``lambda d: d.logger``),",
            "    or a view object built from several fields (``lambda d: View(d.a, d.b)``).",
            *(["    Returns the resource types it defined."] if resources else []),
            '    """',
            f"    _b = _rt.ImportBinder(linker, {link_name}, _ALL_TYPES)",
        ]
        if resources:
            out.append("    resources = ResourceTypes(")
            for r in resources:
                assert r.name is not None
                out.append(f"        {snake(r.name)}=_b.resource(_RT_{const(r.name)}, {r.name!r}),")
            out.append("    )")
        for f in funcs:
            fn = "_" + self.host_name(f) if f.kind != "method" else "_m_" + self.host_name(f)
            ps = self.params(f, here, False)
            args = "".join(f", {n}: {t}" for n, t in ps)
            ret = self.py(f.result, here)
            kw = "async def" if f.is_async else "def"
            out.append(f"    {kw} {fn}(store: _rt.Store[_rt.Any]{args}) -> {ret}:")
            names = [n for n, _ in ps]
            if f.kind == "method":
                call = f"{names[0]}.{snake(f.name)}"
                cargs = names[1:]
            else:
                call = f"getter(store.data).{self.host_name(f)}"
                cargs = names
            if f.is_async:
                cargs = ["_rt.Accessor(store, getter)", *cargs]
                ret_kw = "" if ret == "None" else "return "
                out.append(f"        {ret_kw}await {call}({', '.join(cargs)})")
            else:
                out.append(f"        return {call}({', '.join(cargs)})")
            out.append(f"    _b.func({f.component_name!r}, _FT_{self.ftname(f)}, {fn})")
        if resources:
            out.append("    return resources")
        return out

    def ftname(self, f: M.Function) -> str:
        return const(f.component_name.replace("[", "").replace("]", "_").replace(".", "_"))

    def exports_section(
        self,
        funcs: list[M.Function],
        resources: list[M.TypeDef],
        here: str,
        cls: str,
        default_path: str,
        doc: str,
    ) -> list[str]:
        out: list[str] = []
        for r in resources:
            assert r.name is not None
            out += ["", "", f"class {camel(r.name)}(_rt.GuestResource):"]
            out += docstring(r.docs or f"A handle to the guest's resource `{r.name}`.", "    ")
            out.append("    __slots__ = ()")
            methods = {snake(f.name): f for f in funcs if f.resource is r and f.kind == "method"}
            names = {m + "_" if m in _GUEST_RESERVED else m for m in methods}
            for mname, f in methods.items():
                if mname in _GUEST_RESERVED:
                    mname += "_"
                out += self.export_method(f, here, mname, True, names)
        out += ["", "", f"class {cls}:"]
        out += docstring(doc, "    ")
        fl = _tuple(f"({f.component_name!r}, _FT_{self.ftname(f)})" for f in funcs)
        out += [
            f"    _FUNCS: _rt.ClassVar[_rt.FuncTable] = {fl}",
            "",
            "    def __init__(",
            f"        self, store: _rt.Store[_rt.Any], instance: _rt.Instance, path: tuple[str, ...] = {default_path}",
            "    ) -> None:",
            "        self._store = store",
            "        b = _rt.ExportBinder(",
            "            instance, path, self._FUNCS, _ALL_TYPES, _GUEST_CLASSES, self",
            "        )",
        ]
        for f in funcs:
            attr = "_f_" + self.host_name(f)
            if f.is_async:
                out.append(f"        self.{attr}_func = b.host_func(store, {f.component_name!r})")
            else:
                out.append(f"        self.{attr} = b.call({f.component_name!r})")
                twin = "_a_" + self.host_name(f)
                out.append(f"        self.{twin} = b.call_async(store, {f.component_name!r})")
        names = {self.host_name(f) for f in funcs if f.kind != "method"}
        for f in funcs:
            if f.kind != "method":
                out += self.export_method(f, here, self.host_name(f), False, names)
        return out

    def export_method(
        self, f: M.Function, here: str, mname: str, on_resource: bool, names: set[str]
    ) -> list[str]:
        """A typed method calling export ``f``; a sync ``f`` also gets ``<mname>_async``
        (``await``-able, for code under a running event loop: inside
        ``store.run_concurrent`` a sync call of an instance that may block is refused).
        ``names`` are the class's other method names, which the twin's name avoids."""
        ps = self.params(f, here, on_resource)
        args = "".join(f", {n}: {t}" for n, t in ps)
        ret = self.py(f.result, here)
        owner = "self.owner" if on_resource else "self"
        vals = (["self"] if on_resource else []) + [n for n, _ in ps]
        arglist = "[" + ", ".join(vals) + "]"
        attr = f"{owner}._f_{self.host_name(f)}"
        kw = "async def" if f.is_async else "def"
        out = ["", f"    {kw} {mname}(self, store: _rt.Store[_rt.Any]{args}) -> {ret}:"]
        out += docstring(f.docs, "        ")
        out += [f"        if store is not {owner}._store:", "            _rt.wrong_store(store)"]
        if f.is_async:
            star = ", ".join(vals)
            out.append(f"        r: {ret} = await {attr}_func.call_async(store, {star})")
        else:
            out.append(f"        r: {ret} = {attr}({arglist})")
        out.append("        return r")
        if not f.is_async:
            aname = mname + "_async"
            while aname in names:
                aname += "_"
            out += [
                "",
                f"    async def {aname}(self, store: _rt.Store[_rt.Any]{args}) -> {ret}:",
                f'        """`{mname}`, awaitable: callable under a running event loop."""',
                f"        if store is not {owner}._store:",
                "            _rt.wrong_store(store)",
                f"        r: {ret} = await {owner}._a_{self.host_name(f)}({arglist})",
                "        return r",
            ]
        return out

    # -- files ---------------------------------------------------------------------------

    def iface_module(self, iface: M.Interface, dmap: dict[str, list[str]]) -> str:
        here = self.modname[id(iface)]
        tds = list(iface.types.values())
        funcs = list(iface.functions.values())
        direct = self.all_deps(here, dmap[here], dmap)
        title = iface.id or iface.name or here
        lines = [f'"""Bindings for `{title}` (generated by ``wasmloom bindgen``; do not edit).']
        if iface.docs:
            lines += ["", *doc_lines(iface.docs.strip(), "")]
        lines += ['"""', "", "# ruff: noqa", _HEADER]
        for d in direct:
            lines.append(f"from . import {d} as _m_{d}")
        code, aliases, entries = self.types_section(tds, here)
        lines += code
        lines += ["", *aliases]
        owned_res = _resources(iface)
        lines += ["", "", *self.valtypes(tds, here)]
        lines.append(f"_TYPES: _rt.TypeTable = [{', '.join(entries)}]")
        lines.append(
            "_ALL_TYPES: _rt.TypeTable = ["
            + "".join(f"*_m_{d}._TYPES, " for d in direct)
            + "*_TYPES]"
        )
        for f in funcs:
            lines.append(f"_FT_{self.ftname(f)} = {self.ft(f, here)}")
        is_exp = id(iface) in self.exported and id(iface) not in self.imported
        gc = (
            ", ".join(f"_RT_{const(r.name or '')}: {camel(r.name or '')}" for r in owned_res)
            if is_exp
            else ""
        )
        if id(iface) in self.imported:
            link = repr(iface.id or self._key(iface))
            lines += self.host_section(funcs, owned_res, here, link)
        if id(iface) in self.exported:
            path = f"({(iface.id or self._key(iface))!r},)"
            lines += self.exports_section(
                funcs,
                owned_res if is_exp else [],
                here,
                "Exports",
                path,
                f"Typed calls to the guest's export of `{title}`.",
            )
        lines += ["", f"_GUEST_CLASSES: _rt.GuestClasses = {{{gc}}}"]
        lines.append("")
        return "\n".join(wrap_code(lines))

    def _key(self, iface: M.Interface) -> str:
        for k, v in [*self.world.imports.items(), *self.world.exports.items()]:
            if v is iface:
                return k
        return iface.name or ""

    def attr_names(self) -> dict[int, str]:
        names: dict[int, str] = {}
        imported = [i for i in self.ifaces if id(i) in self.imported or id(i) in self.exported]
        short = [snake(i.name or self._key(i)) for i in imported]
        for i, s in zip(imported, short, strict=True):
            if short.count(s) > 1 and i.package is not None:
                s = snake(i.package.name.name) + "_" + s
            names[id(i)] = s
        return names

    def world_module(self, dmap: dict[str, list[str]]) -> str:
        w = self.world
        here = ""
        funcs_in = [f for f in w.imports.values() if isinstance(f, M.Function)]
        funcs_out = [f for f in w.exports.values() if isinstance(f, M.Function)]
        lines = [
            f'"""Bindings for world `{w.name}` (generated by ``wasmloom bindgen``; do not edit).',
            "",
        ]
        if w.docs:
            lines += [*doc_lines(w.docs.strip(), ""), ""]
        lines += [
            "Host side: implement each imported interface's ``Host`` protocol and call",
            "``add_to_linker(linker, getter)``, per interface (``getter`` gives that",
            "interface's implementation) or here for the whole world (``getter`` gives an",
            "object with one attribute per imported interface, see :class:`Imports`).",
            "The getter maps ``store.data`` to the implementation: ``lambda d: d``,",
            "``lambda d: d.logger``, or a view built from several fields.",
            "",
            f"Guest side: ``{camel(w.name)}.instantiate(store, component, linker)``.",
            '"""',
            "",
            "# ruff: noqa",
            _HEADER,
        ]
        direct = [self.modname[id(i)] for i in self.ifaces]
        # A world of interfaces only (no types or functions of its own) imports its
        # interface modules where they are used: a host that links some interfaces
        # one by one loads only theirs.
        lazy = not (self.world_types or funcs_in or funcs_out)
        mods = [f"from . import {m} as _m_{m}" for m in direct]
        if lazy:
            lines += ["if _rt.TYPE_CHECKING:", *(f"    {m}" for m in mods)]
        else:
            lines += mods
        code, aliases, entries = self.types_section(self.world_types, here)
        lines += [*code, "", *aliases]
        lines += ["", "", *self.valtypes(self.world_types, here)]
        lines.append(f"_TYPES: _rt.TypeTable = [{', '.join(entries)}]")
        all_types = "[" + "".join(f"*_m_{d}._TYPES, " for d in direct) + "*_TYPES]"
        if lazy:
            lines += [
                "",
                "",
                "def _all_types() -> _rt.TypeTable:",
                '    """The type table of the world (its interface modules imported here)."""',
                *(f"    {m}" for m in mods),
                f"    return {all_types}",
            ]
        else:
            lines.append(f"_ALL_TYPES: _rt.TypeTable = {all_types}")
        for f in funcs_in + funcs_out:
            lines.append(f"_FT_{self.ftname(f)} = {self.ft(f, here)}")
        attrs = self.attr_names()
        # Imports protocol
        lines += ["", "", "class Imports(_rt.Protocol):"]
        lines += docstring(
            "What the whole world's host side provides: one attribute per imported interface\n"
            "(its ``Host``) and one method per imported function.",
            "    ",
        )
        body = []
        for iface in self.ifaces:
            if id(iface) in self.imported and iface.functions:
                m = self.modname[id(iface)]
                body += ["    @property", f"    def {attrs[id(iface)]}(self) -> _m_{m}.Host: ..."]
        acc = "accessor: _rt.Accessor[_rt.Any, _rt.Any]"
        for f in funcs_in:
            kw = "async def" if f.is_async else "def"
            first = f"self, {acc}" if f.is_async else "self"
            body.append(f"    {kw} {snake(f.name)}{self.sig(f, here, False, first)}: ...")
        lines += body or ["    pass"]
        with_res = {
            attrs[id(i)]: f"_m_{self.modname[id(i)]}.ResourceTypes"
            for i in self.ifaces
            if id(i) in self.imported and _resources(i)
        }
        if with_res:
            lines += [
                "",
                "",
                *_resource_types(
                    [f"{a}: {t}" for a, t in with_res.items()], "interface", self.maker
                ),
            ]
        lines += [
            "",
            "",
            "def add_to_linker(linker: _rt.Linker, getter: _rt.Callable[[_rt.Any], Imports])"
            f" -> {'ResourceTypes' if with_res else 'None'}:",
            *docstring(
                "Define every import of the world in ``linker``; ``getter(store.data)`` implements"
                " :class:`Imports`."
                + ("\nReturns the resource types it defined." if with_res else ""),
                "    ",
            ),
        ]
        if lazy:
            lines += [
                f"    {m}" for i, m in zip(self.ifaces, mods, strict=True) if id(i) in self.imported
            ]
        for iface in self.ifaces:
            if id(iface) in self.imported:
                m = self.modname[id(iface)]
                a = attrs[id(iface)]
                keep = f"r_{a} = " if a in with_res else ""
                if not iface.functions:
                    lines.append(f"    {keep}_m_{m}.add_to_linker(linker)")
                    continue
                lines += [
                    f"    def _get_{a}(d: _rt.Any) -> _m_{m}.Host:",
                    f"        return getter(d).{a}",
                    f"    {keep}_m_{m}.add_to_linker(linker, _get_{a})",
                ]
        if funcs_in:
            lines.append("    _b = _rt.ImportBinder(linker, None, _ALL_TYPES)")
            for f in funcs_in:
                ps = self.params(f, here, False)
                args = "".join(f", {n}: {t}" for n, t in ps)
                ret = self.py(f.result, here)
                fn = "_" + snake(f.name)
                kw = "async def" if f.is_async else "def"
                lines.append(f"    {kw} {fn}(store: _rt.Store[_rt.Any]{args}) -> {ret}:")
                cargs = [n for n, _ in ps]
                if f.is_async:
                    cargs = ["_rt.Accessor(store, getter)", *cargs]
                    ret_kw = "" if ret == "None" else "return "
                    lines.append(
                        f"        {ret_kw}await getter(store.data).{snake(f.name)}"
                        f"({', '.join(cargs)})"
                    )
                else:
                    lines.append(
                        f"        return getter(store.data).{snake(f.name)}({', '.join(cargs)})"
                    )
                lines.append(f"    _b.func({f.name!r}, _FT_{self.ftname(f)}, {fn})")
        if with_res:
            lines.append(f"    return ResourceTypes({', '.join(f'{a}=r_{a}' for a in with_res)})")
        # the world class
        cls = camel(w.name)
        if cls in ("Imports", "Host"):
            cls += "World"
        exp = self.exports_section(
            funcs_out, [], here, cls, "()", f"Typed calls to the exports of world `{w.name}`."
        )
        # add interface attributes + instantiate
        extra = []
        for iface in self.ifaces:
            if id(iface) in self.exported:
                m = self.modname[id(iface)]
                key = iface.id or self._key(iface)
                extra.append(
                    f"        self.{attrs[id(iface)]} = _m_{m}.Exports(store, instance, ({key!r},))"
                )
        i = exp.index("        )") + 1
        exp[i:i] = ["        self.instance = instance", *extra]
        if lazy:
            j = exp.index("        b = _rt.ExportBinder(")
            used = [m for i, m in zip(self.ifaces, mods, strict=True) if id(i) in self.exported]
            exp[j:j] = [f"        {m}" for m in used]
            j = exp.index(
                "            instance, path, self._FUNCS, _ALL_TYPES, _GUEST_CLASSES, self"
            )
            exp[j] = "            instance, path, self._FUNCS, _all_types(), _GUEST_CLASSES, self"
        exp += [
            "",
            "    @classmethod",
            f"    def instantiate(cls, store: _rt.Store[_rt.Any], component: _rt.Component, linker: _rt.Linker) -> {cls}:",
            '        """Instantiate ``component`` with ``linker`` and bind its exports."""',
            "        return cls(store, linker.instantiate(store, component))",
        ]
        lines += exp
        lines += ["", "_GUEST_CLASSES: _rt.GuestClasses = {}"]
        lines.append("")
        return "\n".join(wrap_code(lines))


def generate(resolve: Resolve, world: M.World, *, light_records: bool = False) -> dict[str, str]:
    """The bindings package of ``world``: ``{file name: Python source}``.

    Records (and ``ResourceTypes``) are ``dataclasses.dataclass`` classes; with
    ``light_records`` they are made by :func:`wasmloom.types.dataclass` instead,
    which does not import :mod:`dataclasses` and makes a class for a fraction of
    its cost, while ``dataclasses.fields``/``asdict``/``replace``, ``==`` and
    ``repr`` still work on them (wasmloom's own WASI bindings use it)."""
    g = _Gen(world, light_records)
    files: dict[str, str] = {}
    dmap: dict[str, list[str]] = {}
    for iface in g.ifaces:
        here = g.modname[id(iface)]
        dmap[here] = g.deps(iface.types.values(), iface.functions.values(), here)
    for iface in g.ifaces:
        files[g.modname[id(iface)] + ".py"] = g.iface_module(iface, dmap)
    files["__init__.py"] = g.world_module(dmap)
    files["py.typed"] = ""
    return files


def write(
    resolve: Resolve, world: M.World, out: str | Path, *, light_records: bool = False
) -> list[Path]:
    """Generate the bindings of ``world`` into the directory ``out`` (``light_records``
    as for :func:`generate`); return the files."""
    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in generate(resolve, world, light_records=light_records).items():
        p = d / name
        p.write_text(text)
        paths.append(p)
    return paths
