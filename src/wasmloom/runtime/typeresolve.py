"""Resolving the binary AST's type definitions into :mod:`wasmloom.types` objects.

A :class:`TypeScope` holds the type and core-type index spaces of one scope (a
component, a component type or an instance type) and a link to its enclosing
scope for outer aliases. Resolution is eager and happens while the
instantiator walks a component's definitions, so resource types defined by
the component are the per-instance, generative ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wasmloom import types as T
from wasmloom.binary import ast
from wasmloom.errors import LinkError

PRIMS: dict[str, T.ValType] = {name: T.PrimType(name) for name in T.PRIM_NAMES}
PRIMS["error-context"] = T.ErrorContextType()

# An entry of a type index space: a value type, a function/instance/component
# type, a resource type, or a core type.
TypeEntry = Any


class TypeScope:
    """The type index spaces of one scope; ``parent`` is the enclosing scope."""

    def __init__(self, parent: TypeScope | None) -> None:
        self.parent = parent
        self.types: list[TypeEntry] = []
        self.core_types: list[Any] = []
        # When set, called to resolve `alias export` of a type from an instance
        # index (component scopes only; the instantiator provides it).
        self.instance_type_export: Callable[[int, str], TypeEntry] | None = None
        # Instance/component types declared in this scope, by instance index,
        # for `alias export` inside instance and component types.
        self.instances: list[T.InstanceType] = []

    def outer(self, count: int) -> TypeScope:
        scope: TypeScope | None = self
        for _ in range(count):
            assert scope is not None
            scope = scope.parent
        if scope is None:
            raise LinkError(f"outer alias count {count} escapes the outermost scope")
        return scope

    def valtype(self, ref: ast.ValTypeRef) -> T.ValType:
        if isinstance(ref, str):
            return PRIMS[ref]
        t = self.types[ref]
        return t  # type: ignore[no-any-return]

    def opt_valtype(self, ref: ast.ValTypeRef | None) -> T.ValType | None:
        return None if ref is None else self.valtype(ref)

    def resource(self, idx: int) -> T.ResourceType:
        rt = self.types[idx]
        if not isinstance(rt, T.ResourceType):
            raise LinkError(f"type index {idx} is not a resource type")
        return rt

    # -- definitions ----------------------------------------------------------

    def defvaltype(self, d: ast.DefValType) -> T.ValType:
        v = self.valtype
        if isinstance(d, ast.PrimDef):
            return PRIMS[d.name]
        if isinstance(d, ast.RecordDef):
            return T.RecordType(tuple(T.FieldType(label, v(r)) for label, r in d.fields))
        if isinstance(d, ast.VariantDef):
            return T.VariantType(tuple(T.CaseType(lb, self.opt_valtype(r)) for lb, r in d.cases))
        if isinstance(d, ast.ListDef):
            return T.ListType(v(d.t), d.length)
        if isinstance(d, ast.TupleDef):
            return T.TupleType(tuple(v(r) for r in d.ts))
        if isinstance(d, ast.FlagsDef):
            return T.FlagsType(tuple(d.labels))
        if isinstance(d, ast.EnumDef):
            return T.EnumType(tuple(d.labels))
        if isinstance(d, ast.OptionDef):
            return T.OptionType(v(d.t))
        if isinstance(d, ast.ResultDef):
            return T.ResultType(self.opt_valtype(d.ok), self.opt_valtype(d.error))
        if isinstance(d, ast.OwnDef):
            return T.OwnType(self.resource(d.type_idx))
        if isinstance(d, ast.BorrowDef):
            return T.BorrowType(self.resource(d.type_idx))
        if isinstance(d, ast.StreamDef):
            return T.StreamType(self.opt_valtype(d.t))
        if isinstance(d, ast.FutureDef):
            return T.FutureType(self.opt_valtype(d.t))
        if isinstance(d, ast.MapDef):
            return T.MapType(v(d.k), v(d.v))
        raise AssertionError(f"unknown defvaltype {d!r}")

    def functype(self, d: ast.FuncTypeDef) -> T.FuncType:
        return T.FuncType(
            tuple((name, self.valtype(r)) for name, r in d.params),
            self.opt_valtype(d.result),
            d.is_async,
        )

    def typedef(
        self, d: ast.TypeDef, make_resource: Callable[[ast.ResourceTypeDef], T.ResourceType]
    ) -> TypeEntry:
        t = d.t
        if isinstance(t, ast.FuncTypeDef):
            return self.functype(t)
        if isinstance(t, ast.InstanceTypeDef):
            return self.instancetype(t)
        if isinstance(t, ast.ComponentTypeDef):
            return self.componenttype(t)
        if isinstance(t, ast.ResourceTypeDef):
            return make_resource(t)
        return self.defvaltype(t)

    def core_typedef(self, d: ast.CoreTypeDef) -> list[Any]:
        """Resolve a core type definition; a rec group yields several entries."""
        t = d.t
        if isinstance(t, ast.CoreRecGroup):
            out: list[Any] = []
            for sub in t.types:
                if isinstance(sub, ast.CoreFuncTypeDef):
                    out.append(T.CoreFuncType(tuple(sub.params), tuple(sub.results)))
                else:
                    out.append(sub)
            return out
        return [self.moduletype(t)]

    def moduletype(self, d: ast.CoreModuleTypeDef) -> T.ModuleType:
        inner = TypeScope(self)
        imports: list[tuple[str, str, T.CoreExternDesc]] = []
        exports: list[tuple[str, T.CoreExternDesc]] = []
        for decl in d.decls:
            if isinstance(decl, ast.CoreImportDecl):
                imports.append((decl.module, decl.name, inner.core_extern(decl.desc)))
            elif isinstance(decl, ast.CoreExportDecl):
                exports.append((decl.name, inner.core_extern(decl.desc)))
            elif isinstance(decl, ast.CoreOuterAlias):
                inner.core_types.append(inner.outer(decl.count).core_types[decl.index])
            else:
                inner.core_types.extend(inner.core_typedef(decl))
        return T.ModuleType(tuple(imports), tuple(exports))

    def core_extern(self, desc: ast.CoreExternTypeRef) -> T.CoreExternDesc:
        if desc.kind in ("func", "tag"):
            assert desc.type_idx is not None
            return T.CoreExternDesc(desc.kind, self.core_types[desc.type_idx])  # type: ignore[arg-type]
        if desc.kind == "table":
            return T.CoreExternDesc("table", (desc.reftype, desc.limits))
        if desc.kind == "memory":
            return T.CoreExternDesc("memory", (desc.limits, desc.memory64, desc.shared))
        return T.CoreExternDesc("global", (desc.valtype, desc.mutable))

    # -- instance and component types -----------------------------------------

    def _decls(
        self, decls: list[Any], exports: dict[str, T.ExternType], imports: dict[str, T.ExternType]
    ) -> None:
        for decl in decls:
            if isinstance(decl, ast.CoreTypeDef):
                self.core_types.extend(self.core_typedef(decl))
            elif isinstance(decl, ast.TypeDef):
                self.types.append(self.typedef(decl, _no_resource))
            elif isinstance(decl, ast.AliasOuter):
                target = self.outer(decl.count)
                if decl.sort == ast.Sort.CORE_TYPE:
                    self.core_types.append(target.core_types[decl.index])
                else:
                    self.types.append(target.types[decl.index])
            elif isinstance(decl, ast.AliasExport):
                it = self.instances[decl.instance]
                et = it.exports[decl.name]
                self.types.append(_bound_type(et))
            elif isinstance(decl, ast.ExportDecl | ast.ImportDecl):
                name = decl.name.name
                et = self.externtype(decl.t, name)
                (exports if isinstance(decl, ast.ExportDecl) else imports)[name] = et
                if isinstance(et, T.TypeBound):
                    self.types.append(et.t)
                elif isinstance(et, T.InstanceType):
                    self.instances.append(et)

    def instancetype(self, d: ast.InstanceTypeDef) -> T.InstanceType:
        inner = TypeScope(self)
        it = T.InstanceType()
        inner._decls(d.decls, it.exports, {})
        return it

    def componenttype(self, d: ast.ComponentTypeDef) -> T.ComponentType:
        inner = TypeScope(self)
        ct = T.ComponentType()
        inner._decls(d.decls, ct.exports, ct.imports)
        return ct

    def externtype(self, e: ast.ExternTypeRef, name: str) -> T.ExternType:
        s = e.sort
        if s == ast.Sort.TYPE:
            assert e.bound is not None
            if e.bound.eq is None:
                return T.TypeBound(T.ResourceType(_plain(name)), sub_resource=True)
            return T.TypeBound(self.types[e.bound.eq])
        if s == ast.Sort.CORE_MODULE:
            assert e.index is not None
            return self.core_types[e.index]  # type: ignore[no-any-return]
        if s == ast.Sort.VALUE:
            if e.value_type is not None:
                return T.ValueBound(self.valtype(e.value_type))
            raise LinkError("value imports bounded by a value index are not supported")
        assert e.index is not None
        t = self.types[e.index]
        return t  # type: ignore[no-any-return]


def _plain(name: str) -> str:
    return name.split("@")[0]


def _bound_type(et: T.ExternType) -> TypeEntry:
    if isinstance(et, T.TypeBound):
        return et.t
    return et


def _no_resource(d: ast.ResourceTypeDef) -> T.ResourceType:
    raise LinkError("resource type definitions are not allowed inside component or instance types")
