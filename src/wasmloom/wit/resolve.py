"""Resolving parsed WIT into the model: name lookup, ``use``, ``include``, gates, deps.

:class:`Resolve` holds every package loaded so far. ``push_path`` loads a
file or a directory (its ``*.wit`` files form the root package; ``deps/``
holds further packages, each a file or a directory) and resolves packages in
dependency order, rejecting cycles.

This module works on WIT text. Packages encoded as components (``.wasm``, or
``.wat`` text) are read through callbacks the caller supplies: ``decode_binary``
(:func:`wasmloom.wit.component.package_from_component`) and ``wat2wasm`` (an
assembler, which wit does not have).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeAlias

from wasmloom import types as T
from wasmloom.errors import DecodeError
from wasmloom.wit import model as M
from wasmloom.wit import syntax as S
from wasmloom.wit.syntax import Span, WitError

__all__ = ["DecodeBinary", "Resolve", "Wat2Wasm", "WitError", "resolve_path", "resolve_text"]

#: Decodes a WIT package encoded as a component binary into the resolve its
#: decoding built and the package (raises WitError or DecodeError).
DecodeBinary: TypeAlias = Callable[[bytes], "tuple[Resolve, M.Package]"]
#: Assembles WebAssembly text into its binary (raises DecodeError).
Wat2Wasm: TypeAlias = Callable[[str], bytes]

_PRIMS: dict[str, M.Type] = {n: T.PrimType(n) for n in T.PRIM_NAMES}
_PRIMS["error-context"] = T.ErrorContextType()


def _stability(g: S.Gate) -> M.Stability:
    return M.Stability(g.since, g.unstable, g.deprecated)


class Resolve:
    """All loaded packages. ``features`` enables ``@unstable(feature = ...)`` items.

    ``decode_binary`` reads packages encoded as components (``.wasm`` files, and
    :meth:`push_binary`); ``wat2wasm`` assembles ``.wat`` ones first. Without
    them, such a package is an error.
    """

    def __init__(
        self,
        features: Iterable[str] = (),
        *,
        decode_binary: DecodeBinary | None = None,
        wat2wasm: Wat2Wasm | None = None,
    ) -> None:
        self.features = set(features)
        self.decode_binary = decode_binary
        self.wat2wasm = wat2wasm
        self.packages: dict[str, M.Package] = {}
        self._used: dict[str, M.Package] = {}
        self._loading = False

    # -- loading ----------------------------------------------------------------

    def push_text(self, text: str, name: str = "<string>") -> M.Package:
        """Parse and resolve one WIT document; returns its main package."""
        decls = S.parse_file(S.Source(name, text))
        return self._push_units([decls], [])

    def push_path(self, path: str | Path) -> M.Package:
        """Load a ``.wit`` file or a package directory (with its ``deps/``)."""
        p = Path(path)
        if p.is_dir():
            main = _parse_dir(p)
            d = p / "deps"
            self._loading = True
            try:
                return self._push_dir(p, main, d)
            finally:
                self._loading = False
                self._add_used()
        if p.suffix in (".wasm", ".wat"):
            return self.push_binary(self._read_binary(p), str(p))
        return self._push_units([_parse(p)], [])

    def _push_dir(self, p: Path, main: list[list[S.PackageDecl]], d: Path) -> M.Package:
        deps: list[list[S.PackageDecl]] = []
        if d.is_dir():
            for e in sorted(d.iterdir()):
                if e.is_dir():
                    deps.append(_merge_unit(_parse_dir(e)))
                elif e.suffix == ".wit":
                    deps.append(_merge_unit([_parse(e)]))
                elif e.suffix in (".wasm", ".wat"):
                    self.push_binary(self._read_binary(e), str(e))
        return self._push_units(main, deps)

    def push_binary(self, data: bytes, name: str = "<binary>") -> M.Package:
        """Add a WIT package encoded as a component (``wasm-tools component wit --wasm``).

        Its own package must not be loaded yet; packages it only uses are added
        (with the items it uses) when absent.
        """
        if self.decode_binary is None:
            raise WitError(f"{name}: a binary WIT package, and no `decode_binary` to read it")
        try:
            r, pkg = self.decode_binary(data)
        except DecodeError as e:
            raise WitError(f"{name}: {e}") from e
        except WitError as e:
            raise WitError(f"{name}: {e}") from e
        key = str(pkg.name)
        if key in self.packages:
            raise WitError(f"{name}: package `{key}` is defined more than once")
        self.packages[key] = pkg
        self._used.update((k, v) for k, v in r.packages.items() if k != key)
        if not self._loading:
            self._add_used()
        return pkg

    def _read_binary(self, path: Path) -> bytes:
        """A binary-encoded package: ``.wasm`` bytes, or ``.wat`` text assembled."""
        try:
            data = path.read_bytes()
        except OSError as e:
            raise WitError(f"{path}: {e}") from e
        if path.suffix == ".wat" or not data.startswith(b"\0asm"):
            if self.wat2wasm is None:
                raise WitError(f"{path}: WebAssembly text, and no `wat2wasm` to assemble it")
            try:
                return self.wat2wasm(data.decode("utf-8", "replace"))
            except DecodeError as e:
                raise WitError(f"{path}: {e}") from e
        return data

    def _add_used(self) -> None:
        """Packages binary packages use that no loaded source defines (partial copies)."""
        for k, v in self._used.items():
            self.packages.setdefault(k, v)
        self._used.clear()

    def _push_units(
        self, main_files: list[list[S.PackageDecl]], deps: list[list[S.PackageDecl]]
    ) -> M.Package:
        mains: list[S.PackageDecl] = []
        nested: list[S.PackageDecl] = []
        for f in main_files:
            if f[0].name is not None or f[0].items:
                mains.append(f[0])
            nested.extend(f[1:])
        named = [d for d in mains if d.name is not None]
        if not named:
            if nested and not any(d.items for d in mains):
                main_name = nested[-1].name
                assert main_name is not None
                root = [nested[-1]]
                nested = nested[:-1]
            else:
                sp = mains[0].span if mains else None
                raise WitError("no `package` header was found in any WIT file", sp)
        else:
            main_name = named[0].name
            assert main_name is not None
            for d in named[1:]:
                if str(d.name) != str(main_name):
                    raise WitError(
                        f"package identifier `{d.name}` does not match previous package name "
                        f"of `{main_name}`",
                        d.span,
                    )
            docs = [d for d in named if d.docs]
            if len(docs) > 1:
                raise WitError("found doc comments on multiple `package` items", docs[1].span)
            root = mains
            for d in root:
                if d.name is None and d.items:
                    d.name = main_name
        groups: dict[str, list[S.PackageDecl]] = {}
        order: list[str] = []
        for unit in [*deps, nested]:
            local: dict[str, list[S.PackageDecl]] = {}
            for d in unit:
                key = str(d.name)
                if (
                    key in local
                    and d is not unit[0]
                    and any(x.source is d.source for x in local[key])
                ):
                    raise WitError(f"package `{key}` is defined more than once", d.span)
                local.setdefault(key, []).append(d)
            for key, ds in local.items():
                if key not in groups:
                    groups[key] = ds
                    order.append(key)
                elif _item_names(groups[key]) != _item_names(ds):
                    raise WitError(
                        f"package `{key}` is defined differently in two places", ds[0].span
                    )
        root_key = str(main_name)
        if root_key in groups:
            raise WitError(f"package `{root_key}` is defined more than once", root[0].span)
        groups[root_key] = root
        order.append(root_key)
        for key in _topo(groups, order):
            if key in self.packages:
                continue
            self.packages[key] = _PackageResolver(self, groups[key]).run()
        return self.packages[root_key]

    # -- lookup -----------------------------------------------------------------

    def find_package(self, name: S.PackageName, span: Span | None) -> M.Package:
        key = str(M.PackageName(name.namespace, name.name, name.version))
        pkg = self.packages.get(key)
        if pkg is None:
            raise WitError(f"package `{key}` not found", span)
        return pkg

    def select_world(self, pkg: M.Package, world: str | None = None) -> M.World:
        """World selection as WIT tooling does it: the only world, a name, or a path."""
        if world is None:
            if len(pkg.worlds) != 1:
                raise WitError(f"package `{pkg.name}` has {len(pkg.worlds)} worlds; name one")
            return next(iter(pkg.worlds.values()))
        if ":" in world:
            p, _, w = world.rpartition("/")
            ns, _, rest = p.partition(":")
            name, _, ver = rest.partition("@")
            if "@" in w:
                w, _, ver = w.partition("@")
            pkg = self.find_package(S.PackageName(ns, name, ver or None), None)
            world = w
        if world not in pkg.worlds:
            raise WitError(f"no world named `{world}` in package `{pkg.name}`")
        return pkg.worlds[world]


def _parse(path: Path) -> list[S.PackageDecl]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise WitError(f"{path}: {e}") from e
    return S.parse_file(S.Source(str(path), text))


def _parse_dir(path: Path) -> list[list[S.PackageDecl]]:
    return [_parse(f) for f in sorted(path.glob("*.wit")) if f.is_file()]


def _merge_unit(files: list[list[S.PackageDecl]]) -> list[S.PackageDecl]:
    """The package decls of a dependency (a file or a directory)."""
    out: list[S.PackageDecl] = []
    main_name: S.PackageName | None = None
    for f in files:
        for i, d in enumerate(f):
            if i == 0 and d.name is None:
                if d.items:
                    out.append(d)
                continue
            if i == 0 and main_name is None:
                main_name = d.name
            out.append(d)
    for d in out:
        if d.name is None:
            if main_name is None:
                raise WitError("no `package` header was found in any WIT file", d.span)
            d.name = main_name
    return out


def _item_names(decls: list[S.PackageDecl]) -> list[str]:
    return sorted(
        i.path.name if isinstance(i, S.TopUse) else i.name for d in decls for i in d.items
    )


def _refs(decls: list[S.PackageDecl]) -> set[str]:
    out: set[str] = set()

    def path(p: S.UsePath | None) -> None:
        if p is not None and p.package is not None:
            n = p.package
            out.add(str(M.PackageName(n.namespace, n.name, n.version)))

    def iface_items(items: list[S.FuncDecl | S.TypeDecl | S.UseDecl]) -> None:
        for it in items:
            if isinstance(it, S.UseDecl):
                path(it.path)

    for d in decls:
        for item in d.items:
            if isinstance(item, S.TopUse):
                path(item.path)
            elif isinstance(item, S.InterfaceDecl):
                iface_items(item.items)
            else:
                for w in item.items:
                    if isinstance(w, S.UseDecl | S.IncludeDecl):
                        path(w.path)
                    elif isinstance(w, S.ExternDecl):
                        path(w.path)
                        if w.iface is not None:
                            iface_items(w.iface.items)
    return out


def _topo(groups: dict[str, list[S.PackageDecl]], order: list[str]) -> list[str]:
    out: list[str] = []
    state: dict[str, int] = {}

    def visit(k: str, span: Span | None) -> None:
        s = state.get(k)
        if s == 2:
            return
        if s == 1:
            raise WitError(f"package `{k}` depends on itself", span)
        state[k] = 1
        for dep in sorted(_refs(groups[k])):
            if dep in groups and dep != k:
                visit(dep, groups[k][0].span)
        state[k] = 2
        out.append(k)

    for k in order:
        visit(k, groups[k][0].span)
    return out


# --- one package ------------------------------------------------------------------------


class _Scope:
    """Names visible to type references inside an interface or world."""

    def __init__(self) -> None:
        self.names: dict[str, M.TypeDef] = {}
        self.lower: dict[str, str] = {}
        self.disabled: set[str] = set()


class _PackageResolver:
    def __init__(self, resolve: Resolve, decls: list[S.PackageDecl]) -> None:
        self.r = resolve
        self.decls = decls
        n = decls[0].name
        assert n is not None
        self.pkg = M.Package(M.PackageName(n.namespace, n.name, n.version))
        self.pkg.docs = next((d.docs for d in decls if d.docs), None)
        self.iface_decls: dict[str, tuple[S.InterfaceDecl, S.PackageDecl]] = {}
        self.world_decls: dict[str, tuple[S.WorldDecl, S.PackageDecl]] = {}
        self.disabled_ifaces: set[str] = set()
        self.in_progress: set[str] = set()
        self.file_uses: dict[int, dict[str, S.UsePath]] = {}

    def enabled(self, g: S.Gate) -> bool:
        if g.unstable is not None and g.since is not None:
            raise WitError("cannot have both `@since` and `@unstable`", g.span)
        if g.deprecated is not None and g.since is None and g.unstable is None:
            raise WitError("must pair `@deprecated` with `@since` or `@unstable`", g.span)
        for v in (g.since, g.deprecated):
            if v is None:
                continue
            cur = self.pkg.name.version
            if cur is None:
                raise WitError("feature gates require a package version", g.span)
            if _semver_key(v) > _semver_key(cur):
                raise WitError(
                    f"feature gate cannot reference unreleased version {v} of package "
                    f"[{self.pkg.name}] (current version {cur})",
                    g.span,
                )
        return g.unstable is None or g.unstable in self.r.features

    def check_excluded_container(self, item: S.InterfaceDecl | S.WorldDecl) -> None:
        """Reject a type left enabled inside an excluded interface or world.

        As in wit-parser, an item's gate does not inherit its container's: a type
        whose own gate is active (or absent) needs its container, so excluding the
        container is an error.
        """
        what = "interface" if isinstance(item, S.InterfaceDecl) else "world"
        for it in item.items:
            if isinstance(it, S.TypeDecl):
                spans = [it.span] if self.enabled(it.gate) else []
            elif isinstance(it, S.UseDecl):
                spans = [sp for _, _, sp in it.names] if self.enabled(it.gate) else []
            else:
                continue
            for sp in spans:
                raise WitError(
                    f"found a reference to a {what} which is excluded due to its feature not "
                    f"being activated; this type is not gated by a feature but its {what} is",
                    sp,
                )

    def run(self) -> M.Package:
        names: dict[str, Span] = {}
        for d in self.decls:
            uses: dict[str, S.UsePath] = {}
            for item in d.items:
                if isinstance(item, S.TopUse):
                    continue
                if item.name in names:
                    raise WitError(f"duplicate item named `{item.name}`", item.span)
                names[item.name] = item.span
                if not self.enabled(item.gate):
                    self.disabled_ifaces.add(item.name)
                    self.check_excluded_container(item)
                    continue
                if isinstance(item, S.InterfaceDecl):
                    self.iface_decls[item.name] = (item, d)
                else:
                    self.world_decls[item.name] = (item, d)
            for item in d.items:
                if isinstance(item, S.TopUse):
                    if item.alias in uses or item.alias in names:
                        raise WitError(f"name `{item.alias}` already defined", item.span)
                    uses[item.alias] = item.path
            self.file_uses[id(d)] = uses
        for d in self.decls:
            for item in d.items:
                if isinstance(item, S.TopUse):
                    self.lookup_iface(item.path, d)
        for name in self.iface_decls:
            self.interface(name, None)
        for name in self.world_decls:
            self.world(name, None)
        self.pkg.interfaces = {n: self.pkg.interfaces[n] for n in self.iface_decls}
        self.pkg.worlds = {n: self.pkg.worlds[n] for n in self.world_decls}
        return self.pkg

    # interfaces

    def interface(self, name: str, span: Span | None) -> M.Interface:
        if name in self.pkg.interfaces:
            return self.pkg.interfaces[name]
        if name not in self.iface_decls:
            if name in self.world_decls:
                raise WitError(f"name `{name}` is defined as a world, not an interface", span)
            raise WitError(f"interface or world `{name}` not found in package", span)
        key = "i:" + name
        if key in self.in_progress:
            raise WitError(f"interface `{name}` depends on itself", span)
        self.in_progress.add(key)
        decl, file = self.iface_decls[name]
        iface = M.Interface(name, self.pkg, docs=decl.docs, stability=_stability(decl.gate))
        self.fill_interface(iface, decl.items, file)
        self.in_progress.discard(key)
        self.pkg.interfaces[name] = iface
        return iface

    def lookup_iface(self, path: S.UsePath, file: S.PackageDecl) -> M.Interface:
        if path.package is not None:
            p = path.package
            if str(M.PackageName(p.namespace, p.name, p.version)) == str(self.pkg.name):
                return self.interface(path.name, path.span)
            pkg = self.r.find_package(p, path.span)
            if path.name not in pkg.interfaces:
                what = "world" if path.name in pkg.worlds else "interface"
                raise WitError(f"{what} `{path.name}` not found in package `{pkg.name}`", path.span)
            return pkg.interfaces[path.name]
        uses = self.file_uses.get(id(file), {})
        if path.name in uses:
            target = uses[path.name]
            if target.package is None:
                return self.interface(target.name, target.span)
            return self.lookup_iface(target, file)
        if path.name in self.disabled_ifaces:
            raise WitError(
                f"interface `{path.name}` is excluded due to its feature not being activated",
                path.span,
            )
        return self.interface(path.name, path.span)

    def lookup_world(self, path: S.UsePath, file: S.PackageDecl) -> M.World:
        if path.package is not None:
            p = path.package
            if str(M.PackageName(p.namespace, p.name, p.version)) != str(self.pkg.name):
                pkg = self.r.find_package(p, path.span)
                if path.name not in pkg.worlds:
                    raise WitError(f"world `{path.name}` not found in package", path.span)
                return pkg.worlds[path.name]
        if path.name in self.iface_decls:
            raise WitError(f"`{path.name}` is an interface, not a world", path.span)
        return self.world(path.name, path.span)

    def fill_interface(
        self,
        iface: M.Interface,
        items: list[S.FuncDecl | S.TypeDecl | S.UseDecl],
        file: S.PackageDecl,
        scope: _Scope | None = None,
    ) -> None:
        scope = scope or _Scope()
        owner_name = iface.name or "interface"
        pending: list[tuple[S.TypeDecl, M.TypeDef]] = []
        funcs: list[S.FuncDecl | tuple[S.FuncDecl, M.TypeDef]] = []
        for item in items:
            gate = item.gate
            if isinstance(item, S.UseDecl):
                if not self.enabled(gate):
                    continue
                target = self.lookup_iface(item.path, file)
                if target is iface:
                    raise WitError("interface cannot `use` from itself", item.path.span)
                for n, local, sp in item.names:
                    if n not in target.types:
                        raise WitError(f"type `{n}` not defined in interface", sp)
                    td = M.TypeDef(local, M.Alias(target.types[n]), iface, item.docs)
                    td.stability = _stability(gate)
                    self.define(scope, local, td, sp)
                    iface.types[local] = td
            elif isinstance(item, S.TypeDecl):
                if not self.enabled(gate):
                    scope.disabled.add(item.name)
                    _check_excluded_resource(self, item)
                    continue
                td = self.declare_type(item, iface)
                self.define(scope, item.name, td, item.span)
                iface.types[item.name] = td
                pending.append((item, td))
                for f in item.funcs or []:
                    if self.enabled(f.gate):
                        funcs.append((f, td))
            else:
                if not self.enabled(gate):
                    continue
                funcs.append(item)
        self.finish_types(scope, pending)
        fnames: set[str] = set(scope.lower)
        fd: S.FuncDecl
        for entry in funcs:
            if isinstance(entry, tuple):
                fd, res = entry
                fn = self.resource_func(scope, fd, res)
                key = fn.component_name
                dkey = f"{res.name}.{fd.name}".lower()
            else:
                fd = entry
                fn = self.function(scope, fd)
                key = fn.name
                dkey = key.lower()
            if dkey in fnames:
                raise WitError(f"duplicate function name `{fd.name}` in {owner_name}", fd.span)
            fnames.add(dkey)
            iface.functions[key] = fn

    def define(self, scope: _Scope, name: str, td: M.TypeDef, span: Span) -> None:
        low = name.lower()
        if low in scope.lower:
            raise WitError(f"name `{name}` is defined more than once", span)
        scope.lower[low] = name
        scope.names[name] = td

    def declare_type(self, item: S.TypeDecl, owner: M.Interface | M.World) -> M.TypeDef:
        td = M.TypeDef(item.name, M.Resource(), owner, item.docs, _stability(item.gate))
        if item.kind == "resource":
            td.resource_type = T.ResourceType(item.name)
        return td

    def finish_types(self, scope: _Scope, pending: list[tuple[S.TypeDecl, M.TypeDef]]) -> None:
        self.decl_of = {id(td): d for d, td in pending}
        self.done: set[int] = set()
        self.busy: set[int] = set()
        for d, td in pending:
            self.finish(scope, d, td)

    def finish(self, scope: _Scope, d: S.TypeDecl, td: M.TypeDef) -> None:
        if id(td) in self.done:
            return
        if id(td) in self.busy:
            raise WitError(f"type `{d.name}` depends on itself", d.span)
        self.busy.add(id(td))

        def ty(t: S.Ty | None) -> M.Type:
            assert t is not None
            return self.ty(scope, t)

        seen: set[str] = set()
        for f in d.fields:
            if f.name.lower() in seen:
                raise WitError(f"`{f.name}` is defined more than once", f.span)
            seen.add(f.name.lower())
            if f.gate.unstable is not None or f.gate.since is not None:
                self.enabled(f.gate)
        if d.kind == "record":
            td.kind = M.Record([M.RecordField(f.name, ty(f.t), f.docs) for f in d.fields if f.t])
        elif d.kind == "variant":
            td.kind = M.Variant(
                [M.Case(f.name, None if f.t is None else ty(f.t), f.docs) for f in d.fields]
            )
        elif d.kind == "enum":
            td.kind = M.Enum([M.EnumCase(f.name, f.docs) for f in d.fields])
        elif d.kind == "flags":
            td.kind = M.Flags([M.Flag(f.name, f.docs) for f in d.fields])
        elif d.kind == "type":
            assert d.t is not None
            td.kind = M.Alias(ty(d.t))
        self.busy.discard(id(td))
        self.done.add(id(td))

    def named(self, scope: _Scope, n: S.TyName) -> M.TypeDef:
        td = scope.names.get(n.name)
        if td is None:
            if n.name in scope.disabled:
                raise WitError(
                    "found a reference to a type which is excluded due to its feature not "
                    "being activated",
                    n.span,
                )
            raise WitError(f"type `{n.name}` does not exist", n.span)
        d = getattr(self, "decl_of", {}).get(id(td))
        if d is not None:
            self.finish(scope, d, td)
        return td

    def is_resource(self, td: M.TypeDef) -> bool:
        u = M.unalias(td)
        return isinstance(u, M.TypeDef) and isinstance(u.kind, M.Resource)

    def ty(self, scope: _Scope, t: S.Ty) -> M.Type:
        def ty(x: S.Ty) -> M.Type:
            return self.ty(scope, x)

        if isinstance(t, S.TyPrim):
            return _PRIMS[t.name]
        if isinstance(t, S.TyName):
            return self.named(scope, t)
        if isinstance(t, S.TyHandle):
            td = self.named(scope, t.name)
            if not self.is_resource(td):
                raise WitError(
                    f"type `{t.name.name}` used in a handle must be a resource", t.name.span
                )
            return M.TypeDef(None, M.Handle(td, t.borrow))
        k: M.TypeKind
        if isinstance(t, S.TyList):
            k = M.List(ty(t.t)) if t.length is None else M.FixedList(ty(t.t), t.length)
        elif isinstance(t, S.TyTuple):
            k = M.Tuple([ty(x) for x in t.ts])
        elif isinstance(t, S.TyOption):
            k = M.Option(ty(t.t))
        elif isinstance(t, S.TyResult):
            k = M.Result(None if t.ok is None else ty(t.ok), None if t.err is None else ty(t.err))
        elif isinstance(t, S.TyMap):
            k = M.Map(ty(t.k), ty(t.v))
        elif isinstance(t, S.TyFuture):
            k = M.Future(None if t.t is None else ty(t.t))
        else:
            k = M.Stream(None if t.t is None else ty(t.t))
        return M.TypeDef(None, k)

    def sig(self, scope: _Scope, fd: S.FuncDecl) -> tuple[list[tuple[str, M.Type]], M.Type | None]:
        params: list[tuple[str, M.Type]] = []
        seen: set[str] = set()
        for n, t, sp in fd.sig.params:
            if n.lower() in seen:
                raise WitError(f"param `{n}` is defined more than once", sp)
            seen.add(n.lower())
            params.append((n, self.ty(scope, t)))
        result = None if fd.sig.result is None else self.ty(scope, fd.sig.result)
        if result is not None and _has_borrow(result):
            raise WitError(
                f"function `{fd.name}` returns a type which contains a `borrow<T>` which is not "
                "supported",
                fd.span,
            )
        return params, result

    def function(self, scope: _Scope, fd: S.FuncDecl) -> M.Function:
        params, result = self.sig(scope, fd)
        return M.Function(
            fd.name, "freestanding", params, result, None, fd.sig.is_async, fd.docs,
            _stability(fd.gate),
        )  # fmt: skip

    def resource_func(self, scope: _Scope, fd: S.FuncDecl, res: M.TypeDef) -> M.Function:
        params, result = self.sig(scope, fd)
        own = M.TypeDef(None, M.Handle(res))
        if fd.kind == "constructor":
            if result is None:
                result = own
            else:
                ok = _handle_target(result)
                if (
                    ok is None
                    and isinstance(result, M.TypeDef)
                    and isinstance(result.kind, M.Result)
                ):
                    ok = None if result.kind.ok is None else _handle_target(result.kind.ok)
                if ok is not res:
                    raise WitError(
                        "constructor result must be the resource type or `result<r, e>`", fd.span
                    )
        elif fd.kind == "method":
            if any(n == "self" for n, _ in params):
                raise WitError("`self` is an implicit parameter of methods", fd.span)
            params.insert(0, ("self", M.TypeDef(None, M.Handle(res, borrow=True))))
        return M.Function(
            fd.name, fd.kind, params, result, res, fd.sig.is_async, fd.docs, _stability(fd.gate)
        )

    # worlds

    def world(self, name: str, span: Span | None) -> M.World:
        if name in self.pkg.worlds:
            return self.pkg.worlds[name]
        if name not in self.world_decls:
            raise WitError(f"world `{name}` not found in package", span)
        key = "w:" + name
        if key in self.in_progress:
            raise WitError(f"world `{name}` includes itself", span)
        self.in_progress.add(key)
        decl, file = self.world_decls[name]
        w = M.World(name, self.pkg, docs=decl.docs, stability=_stability(decl.gate))
        self.fill_world(w, decl, file)
        self.in_progress.discard(key)
        self.pkg.worlds[name] = w
        return w

    def fill_world(self, w: M.World, decl: S.WorldDecl, file: S.PackageDecl) -> None:
        scope = _Scope()
        pending: list[tuple[S.TypeDecl, M.TypeDef]] = []
        funcs: list[tuple[S.FuncDecl, M.TypeDef]] = []
        type_ifaces: list[M.Interface] = []
        # types and uses first: world functions may refer to them
        for item in decl.items:
            if isinstance(item, S.UseDecl) and self.enabled(item.gate):
                target = self.lookup_iface(item.path, file)
                type_ifaces.append(target)
                for n, local, sp in item.names:
                    if n not in target.types:
                        raise WitError(f"type `{n}` not defined in interface", sp)
                    td = M.TypeDef(local, M.Alias(target.types[n]), w, item.docs)
                    self.define(scope, local, td, sp)
            elif isinstance(item, S.TypeDecl):
                if not self.enabled(item.gate):
                    scope.disabled.add(item.name)
                    _check_excluded_resource(self, item)
                    continue
                td = self.declare_type(item, w)
                self.define(scope, item.name, td, item.span)
                pending.append((item, td))
                funcs.extend((f, td) for f in item.funcs or [] if self.enabled(f.gate))
        self.finish_types(scope, pending)
        imports: dict[str, M.WorldItem] = {}
        exports: dict[str, M.WorldItem] = {}
        spans: dict[str, Span] = {}

        def add(
            direction: str, key: str, item: M.WorldItem, span: Span, dedup: bool = False
        ) -> None:
            mine = imports if direction == "import" else exports
            low = key.lower()
            for k in mine:
                if k.lower() == low:
                    if dedup and mine[k] is item:
                        return
                    raise WitError(
                        f"{direction} `{key}` conflicts with prior {direction} of the same name",
                        span,
                    )
            mine[key] = item
            spans[key] = span

        for name, td in scope.names.items():
            imports[name] = td
        for fd, res in funcs:
            fn = self.resource_func(scope, fd, res)
            add("import", fn.component_name, fn, fd.span)
        for item in decl.items:
            if isinstance(item, S.ExternDecl):
                if not self.enabled(item.gate):
                    continue
                if item.func is not None:
                    fd = S.FuncDecl(item.name, item.span, item.docs, item.gate, item.func)
                    fn = self.function(scope, fd)
                    add(item.direction, item.name, fn, item.span)
                elif item.iface is not None:
                    iface = M.Interface(
                        None, self.pkg, docs=item.docs, stability=_stability(item.gate)
                    )
                    self.fill_interface(iface, item.iface.items, file)
                    add(item.direction, item.name, iface, item.span)
                else:
                    assert item.path is not None
                    iface = self.lookup_iface(item.path, file)
                    key = item.name or iface.id or item.path.name
                    add(item.direction, key, iface, item.span)
            elif isinstance(item, S.IncludeDecl):
                if not self.enabled(item.gate):
                    continue
                other = self.lookup_world(item.path, file)
                renames = {a: b for a, b, _ in item.with_}
                used: set[str] = set()
                for src, dst in ((other.imports, "import"), (other.exports, "export")):
                    for k, v in src.items():
                        nk = renames.get(k, k)
                        if nk != k:
                            used.add(k)
                        if isinstance(v, M.TypeDef) and dst == "import" and nk in imports:
                            if imports[nk] is v:
                                continue
                        add(dst, nk, v, item.path.span, dedup=True)
                for a, _, sp in item.with_:
                    if a not in used:
                        raise WitError(f"`{a}` does not exist in the included world", sp)
        _elaborate(w, imports, exports, type_ifaces, decl.span)

    # end of _PackageResolver


def _check_excluded_resource(pr: _PackageResolver, item: S.TypeDecl) -> None:
    """Reject an enabled function of an excluded resource: it refers to the resource."""
    for f in item.funcs or []:
        if pr.enabled(f.gate):
            raise WitError(
                "found a reference to a type which is excluded due to its feature not being "
                "activated",
                f.span,
            )


def _semver_key(v: str) -> tuple[int, int, int, int, str]:
    core, _, pre = v.split("+")[0].partition("-")
    a, b, c = (int(x) for x in core.split("."))
    return (a, b, c, 0 if pre else 1, pre)


def _handle_target(t: M.Type) -> M.TypeDef | None:
    if isinstance(t, M.TypeDef) and isinstance(M.unalias(t), M.TypeDef):
        u = M.unalias(t)
        if isinstance(u, M.TypeDef) and isinstance(u.kind, M.Resource):
            return u
    if isinstance(t, M.TypeDef) and isinstance(t.kind, M.Handle) and not t.kind.borrow:
        u = M.unalias(t.kind.resource)
        return u if isinstance(u, M.TypeDef) else None
    return None


def _has_borrow(t: M.Type | None, depth: int = 0) -> bool:
    if not isinstance(t, M.TypeDef) or depth > 200:
        return False
    k = t.kind
    if isinstance(k, M.Handle):
        return k.borrow
    if isinstance(k, M.Alias):
        return _has_borrow(k.target, depth + 1)
    if isinstance(k, M.Record):
        return any(_has_borrow(f.type, depth + 1) for f in k.fields)
    if isinstance(k, M.Variant):
        return any(_has_borrow(c.type, depth + 1) for c in k.cases)
    if isinstance(k, M.Tuple):
        return any(_has_borrow(x, depth + 1) for x in k.types)
    if isinstance(k, M.Option | M.List | M.FixedList):
        return _has_borrow(k.type, depth + 1)
    if isinstance(k, M.Result):
        return _has_borrow(k.ok, depth + 1) or _has_borrow(k.err, depth + 1)
    if isinstance(k, M.Map):
        return _has_borrow(k.key, depth + 1) or _has_borrow(k.value, depth + 1)
    return False


def interface_deps(iface: M.Interface) -> list[M.Interface]:
    """Interfaces whose types ``iface`` uses, in first-use order."""
    out: list[M.Interface] = []
    for td in iface.types.values():
        if isinstance(td.kind, M.Alias) and isinstance(td.kind.target, M.TypeDef):
            owner = td.kind.target.owner
            if isinstance(owner, M.Interface) and owner is not iface and owner not in out:
                out.append(owner)
    return out


def _key(iface: M.Interface) -> str:
    return iface.id or str(iface.name)


def _elaborate(
    w: M.World,
    imports: dict[str, M.WorldItem],
    exports: dict[str, M.WorldItem],
    type_ifaces: list[M.Interface],
    span: Span,
) -> None:
    """Add the interfaces that imports, exports and world types depend on as imports."""
    new_imports: dict[str, M.WorldItem] = {}
    exported = {id(v) for v in exports.values() if isinstance(v, M.Interface)}

    def add_import(iface: M.Interface, stack: tuple[int, ...] = ()) -> None:
        for dep in interface_deps(iface):
            if id(dep) not in stack:
                add_import(dep, (*stack, id(iface)))
        if iface.name is not None:
            k = _key(iface)
            new_imports.setdefault(k, iface)

    for iface in type_ifaces:
        add_import(iface)
    for k, v in imports.items():
        if isinstance(v, M.Interface):
            for dep in interface_deps(v):
                add_import(dep)
        new_imports.setdefault(k, v)
        if isinstance(v, M.Interface) and v.name is not None and k != _key(v):
            continue
    new_exports: dict[str, M.WorldItem] = {}

    def add_export_deps(iface: M.Interface, stack: tuple[int, ...] = ()) -> None:
        for dep in interface_deps(iface):
            if id(dep) in exported:
                if id(dep) not in stack:
                    add_export_deps(dep, (*stack, id(iface)))
                new_exports.setdefault(_key(dep), dep)
            else:
                add_import(dep)

    for k, v in exports.items():
        if isinstance(v, M.Interface):
            add_export_deps(v)
        new_exports.setdefault(k, v)
    # world types come first among imports, as declared
    types_first = {k: v for k, v in imports.items() if isinstance(v, M.TypeDef)}
    rest = {k: v for k, v in new_imports.items() if k not in types_first}
    ifaces = {k: v for k, v in rest.items() if isinstance(v, M.Interface)}
    others = {k: v for k, v in rest.items() if not isinstance(v, M.Interface)}
    w.imports = {**ifaces, **types_first, **others}
    # An export's dependencies are exported interfaces or imported ones; an
    # imported one cannot lead back to an exported interface (wit-parser's rule:
    # the export would see types of an interface that the world also exports
    # through an import).
    exported_named = {id(v) for v in new_exports.values() if isinstance(v, M.Interface)}
    for v in new_exports.values():
        if not isinstance(v, M.Interface):
            continue
        via_exports: set[int] = set()
        via_imports: set[int] = set()
        stack = [(d, id(d) in exported_named) for d in interface_deps(v)]
        while stack:
            d, on_export_path = stack.pop()
            seen = via_exports if on_export_path else via_imports
            if id(d) in seen:
                continue
            seen.add(id(d))
            stack.extend((e, on_export_path and id(e) in exported_named) for e in interface_deps(d))
        if via_imports & exported_named:
            raise WitError(
                f"interface `{_key(v)}` transitively depends on an interface in incompatible ways",
                span,
            )
    w.exports = new_exports


def resolve_path(
    path: str | Path,
    features: Iterable[str] = (),
    *,
    decode_binary: DecodeBinary | None = None,
    wat2wasm: Wat2Wasm | None = None,
) -> tuple[Resolve, M.Package]:
    """Load a WIT file or directory; returns the resolve and its root package.

    ``decode_binary`` and ``wat2wasm`` read binary packages (see :class:`Resolve`).
    """
    r = Resolve(features, decode_binary=decode_binary, wat2wasm=wat2wasm)
    return r, r.push_path(path)


def resolve_text(
    text: str, features: Iterable[str] = (), name: str = "<string>"
) -> tuple[Resolve, M.Package]:
    """Parse and resolve WIT source text; returns the resolve and its main package."""
    r = Resolve(features)
    return r, r.push_text(text, name)
