"""Printing the WIT model back as canonical WIT text.

:func:`print_package` prints a package; :func:`print_world` prints one world
in its package. With ``deps`` (the default for worlds) every foreign
interface the output refers to is printed too, as nested ``package ... { }``
blocks, so the text parses back on its own to the same model.
"""

from __future__ import annotations

from wasmloom import types as T
from wasmloom.wit import model as M
from wasmloom.wit.resolve import interface_deps
from wasmloom.wit.syntax import KEYWORDS, WitError

__all__ = ["print_package", "print_type", "print_world"]

_IND = "  "


def _id(name: str) -> str:
    return f"%{name}" if name in KEYWORDS else name


def _pkg(n: M.PackageName) -> str:
    return f"{_id(n.namespace)}:{_id(n.name)}" + (f"@{n.version}" if n.version else "")


def print_type(t: M.Type) -> str:
    """A type as written in WIT (named types by name)."""
    if not isinstance(t, M.TypeDef):
        return str(t)
    if t.name is not None:
        return _id(t.name)
    k = t.kind
    o = print_type
    if isinstance(k, M.Handle):
        r = k.resource.name or "?"
        return f"borrow<{_id(r)}>" if k.borrow else _id(r)
    if isinstance(k, M.List):
        return f"list<{o(k.type)}>"
    if isinstance(k, M.FixedList):
        return f"list<{o(k.type)}, {k.length}>"
    if isinstance(k, M.Option):
        return f"option<{o(k.type)}>"
    if isinstance(k, M.Tuple):
        return "tuple<" + ", ".join(o(x) for x in k.types) + ">"
    if isinstance(k, M.Result):
        if k.ok is None and k.err is None:
            return "result"
        if k.err is None:
            assert k.ok is not None
            return f"result<{o(k.ok)}>"
        ok = "_" if k.ok is None else o(k.ok)
        return f"result<{ok}, {o(k.err)}>"
    if isinstance(k, M.Map):
        return f"map<{o(k.key)}, {o(k.value)}>"
    if isinstance(k, M.Future):
        return "future" if k.type is None else f"future<{o(k.type)}>"
    if isinstance(k, M.Stream):
        return "stream" if k.type is None else f"stream<{o(k.type)}>"
    if isinstance(k, M.Alias):
        return o(k.target)
    raise WitError(f"an anonymous {type(k).__name__.lower()} is not expressible in WIT")


class _Printer:
    def __init__(self, home: M.Package | None) -> None:
        self.home = home
        self.out: list[str] = []

    def line(self, depth: int, text: str) -> None:
        self.out.append(_IND * depth + text if text else "")

    def docs(self, depth: int, docs: str | None) -> None:
        if docs:
            for ln in docs.split("\n"):
                self.line(depth, f"/// {ln}".rstrip())

    def gate(self, depth: int, s: M.Stability) -> None:
        if s.since:
            self.line(depth, f"@since(version = {s.since})")
        if s.unstable:
            self.line(depth, f"@unstable(feature = {s.unstable})")
        if s.deprecated:
            self.line(depth, f"@deprecated(version = {s.deprecated})")

    def iface_path(self, iface: M.Interface) -> str:
        assert iface.name is not None
        if iface.package is self.home or iface.package is None:
            return _id(iface.name)
        n = iface.package.name
        v = f"@{n.version}" if n.version else ""
        return f"{_id(n.namespace)}:{_id(n.name)}/{_id(iface.name)}{v}"

    def params(self, ps: list[tuple[str, M.Type]]) -> str:
        return ", ".join(f"{_id(n)}: {print_type(t)}" for n, t in ps)

    def sig(self, f: M.Function, params: list[tuple[str, M.Type]]) -> str:
        s = ("async func(" if f.is_async else "func(") + self.params(params) + ")"
        return s if f.result is None else f"{s} -> {print_type(f.result)}"

    def uses(self, depth: int, types: list[M.TypeDef]) -> list[M.TypeDef]:
        """Print ``use`` lines for aliases of other owners' types; returns the rest."""
        groups: dict[int, tuple[M.Interface, list[str]]] = {}
        rest: list[M.TypeDef] = []
        for td in types:
            k = td.kind
            if (
                isinstance(k, M.Alias)
                and isinstance(k.target, M.TypeDef)
                and isinstance(k.target.owner, M.Interface)
                and k.target.owner is not td.owner
                and k.target.name is not None
            ):
                src = k.target.owner
                name = _id(k.target.name)
                entry = name if k.target.name == td.name else f"{name} as {_id(td.name or '')}"
                groups.setdefault(id(src), (src, []))[1].append(entry)
            else:
                rest.append(td)
        for src, names in groups.values():
            self.line(depth, f"use {self.iface_path(src)}.{{{', '.join(names)}}};")
        return rest

    def typedef(self, depth: int, td: M.TypeDef, funcs: list[M.Function]) -> None:
        self.docs(depth, td.docs)
        self.gate(depth, td.stability)
        k, n = td.kind, _id(td.name or "")
        if isinstance(k, M.Record):
            self.block(
                depth,
                f"record {n}",
                [(f.docs, f"{_id(f.name)}: {print_type(f.type)},") for f in k.fields],
            )
        elif isinstance(k, M.Variant):
            cases = [
                (c.docs, _id(c.name) + ("" if c.type is None else f"({print_type(c.type)})") + ",")
                for c in k.cases
            ]
            self.block(depth, f"variant {n}", cases)
        elif isinstance(k, M.Enum):
            self.block(depth, f"enum {n}", [(c.docs, f"{_id(c.name)},") for c in k.cases])
        elif isinstance(k, M.Flags):
            self.block(depth, f"flags {n}", [(f.docs, f"{_id(f.name)},") for f in k.flags])
        elif isinstance(k, M.Resource):
            mine = [f for f in funcs if f.resource is td]
            if not mine:
                self.line(depth, f"resource {n};")
                return
            self.line(depth, f"resource {n} {{")
            for f in mine:
                self.docs(depth + 1, f.docs)
                self.gate(depth + 1, f.stability)
                if f.kind == "constructor":
                    r = f.result
                    own = isinstance(r, M.TypeDef) and isinstance(r.kind, M.Handle)
                    res = "" if r is None or own else f" -> {print_type(r)}"
                    self.line(depth + 1, f"constructor({self.params(f.params)}){res};")
                elif f.kind == "method":
                    self.line(depth + 1, f"{_id(f.name)}: {self.sig(f, f.params[1:])};")
                else:
                    self.line(depth + 1, f"{_id(f.name)}: static {self.sig(f, f.params)};")
            self.line(depth, "}")
        else:
            assert isinstance(k, M.Alias)
            self.line(depth, f"type {n} = {print_type(k.target)};")

    def block(self, depth: int, head: str, items: list[tuple[str | None, str]]) -> None:
        if not items:
            self.line(depth, f"{head} {{}}")
            return
        self.line(depth, f"{head} {{")
        for docs, text in items:
            self.docs(depth + 1, docs)
            self.line(depth + 1, text)
        self.line(depth, "}")

    def interface_body(self, depth: int, iface: M.Interface) -> None:
        rest = self.uses(depth, list(iface.types.values()))
        funcs = list(iface.functions.values())
        for td in rest:
            self.typedef(depth, td, funcs)
        for f in funcs:
            if f.kind == "freestanding":
                self.docs(depth, f.docs)
                self.gate(depth, f.stability)
                self.line(depth, f"{_id(f.name)}: {self.sig(f, f.params)};")

    def interface(self, depth: int, iface: M.Interface) -> None:
        self.docs(depth, iface.docs)
        self.gate(depth, iface.stability)
        if not iface.types and not iface.functions:
            self.line(depth, f"interface {_id(iface.name or '')} {{}}")
            return
        self.line(depth, f"interface {_id(iface.name or '')} {{")
        self.interface_body(depth + 1, iface)
        self.line(depth, "}")

    def world(self, depth: int, w: M.World) -> None:
        self.docs(depth, w.docs)
        self.gate(depth, w.stability)
        self.line(depth, f"world {_id(w.name)} {{")
        d = depth + 1
        types = [v for v in w.imports.values() if isinstance(v, M.TypeDef)]
        funcs = [v for v in w.imports.values() if isinstance(v, M.Function)]
        for direction, items in (("import", w.imports), ("export", w.exports)):
            for key, item in items.items():
                if isinstance(item, M.Interface):
                    if item.name is None:
                        self.docs(d, item.docs)
                        self.gate(d, item.stability)
                        self.line(d, f"{direction} {_id(key)}: interface {{")
                        self.interface_body(d + 1, item)
                        self.line(d, "}")
                    elif key == item.id:
                        self.gate(d, item.stability if item.package is self.home else M.UNGATED)
                        self.line(d, f"{direction} {self.iface_path(item)};")
                    else:
                        self.line(d, f"{direction} {_id(key)}: {self.iface_path(item)};")
                elif isinstance(item, M.Function) and item.kind == "freestanding":
                    self.docs(d, item.docs)
                    self.gate(d, item.stability)
                    self.line(d, f"{direction} {_id(key)}: {self.sig(item, item.params)};")
            if direction == "import":
                for td in self.uses(d, types):
                    self.typedef(d, td, funcs)
        self.line(depth, "}")


def _package_doc(p: _Printer, pkg: M.Package, depth: int) -> None:
    p.docs(depth, pkg.docs)


def _foreign(
    pkg: M.Package | None, roots: list[M.Interface]
) -> dict[int, tuple[M.Package, list[M.Interface]]]:
    """Interfaces of other packages reachable from ``roots``, grouped by package."""
    seen: set[int] = set()
    out: dict[int, tuple[M.Package, list[M.Interface]]] = {}
    stack = list(roots)
    order: list[M.Interface] = []
    while stack:
        i = stack.pop(0)
        if id(i) in seen:
            continue
        seen.add(id(i))
        order.append(i)
        stack.extend(interface_deps(i))
    for i in order:
        if i.package is not None and i.package is not pkg and i.name is not None:
            out.setdefault(id(i.package), (i.package, []))[1].append(i)
    return out


def _world_ifaces(w: M.World) -> list[M.Interface]:
    return [v for v in (*w.imports.values(), *w.exports.values()) if isinstance(v, M.Interface)] + [
        td.kind.target.owner
        for td in w.imports.values()
        if isinstance(td, M.TypeDef)
        and isinstance(td.kind, M.Alias)
        and isinstance(td.kind.target, M.TypeDef)
        and isinstance(td.kind.target.owner, M.Interface)
    ]


def _deps(p: _Printer, home: M.Package, roots: list[M.Interface]) -> None:
    for pkg, ifaces in _foreign(home, roots).values():
        ordered = [i for i in pkg.interfaces.values() if i in ifaces]
        ordered += [i for i in ifaces if i not in ordered]
        p.line(0, "")
        p.line(0, f"package {_pkg(pkg.name)} {{")
        sub = _Printer(pkg)
        for n, i in enumerate(_topo_ifaces(ordered)):
            if n:
                sub.line(0, "")
            sub.interface(1, i)
        p.out.extend(sub.out)
        p.line(0, "}")


def _topo_ifaces(ifaces: list[M.Interface]) -> list[M.Interface]:
    out: list[M.Interface] = []
    ids = {id(i) for i in ifaces}

    def visit(i: M.Interface) -> None:
        if i in out:
            return
        for d in interface_deps(i):
            if id(d) in ids and d is not i:
                visit(d)
        out.append(i)

    for i in ifaces:
        visit(i)
    return out


def print_package(pkg: M.Package, deps: bool = False) -> str:
    """The package as WIT text; with ``deps``, foreign interfaces it uses as nested packages."""
    p = _Printer(pkg)
    _package_doc(p, pkg, 0)
    p.line(0, f"package {_pkg(pkg.name)};")
    for i in _topo_ifaces(list(pkg.interfaces.values())):
        p.line(0, "")
        p.interface(0, i)
    for w in pkg.worlds.values():
        p.line(0, "")
        p.world(0, w)
    if deps:
        roots = list(pkg.interfaces.values())
        for w in pkg.worlds.values():
            roots += _world_ifaces(w)
        _deps(p, pkg, roots)
    return "\n".join(p.out) + "\n"


def print_world(world: M.World, deps: bool = True) -> str:
    """One world in its package (``package`` header first), plus the foreign interfaces it uses."""
    pkg = world.package
    assert pkg is not None
    p = _Printer(pkg)
    p.line(0, f"package {_pkg(pkg.name)};")
    local = [i for i in _foreign(None, _world_ifaces(world)).get(id(pkg), (pkg, []))[1]]
    for i in _topo_ifaces(local):
        p.line(0, "")
        p.interface(0, i)
    p.line(0, "")
    p.world(0, world)
    if deps:
        _deps(p, pkg, _world_ifaces(world))
    return "\n".join(p.out) + "\n"


def _unused(t: T.ValType) -> None:  # pragma: no cover - keeps the import for typing
    del t
