"""Link-time type checking: does a provided definition satisfy an import's type?

Value types match by equality; resource types declared ``(sub resource)`` in
the import are bound to the provided resource types as matching proceeds, and
later comparisons substitute them (the spec's "type substitution on
instantiate").
"""

from __future__ import annotations

from wasmloom import types as T
from wasmloom.errors import LinkError

Subst = dict[T.ResourceType, T.ResourceType]

# Pairs of distinct type objects found equal: ``(id(a), id(b)) -> (a, b)``. The entry
# holds both objects, so neither id can be reused while it is there. Bounded: cleared
# when full (instances made later bring new type objects).
_SAME: dict[tuple[int, int], tuple[object, object]] = {}
_SAME_MAX = 4096


def same_type(a: object, b: object) -> bool:
    """``a == b`` for (immutable) types, remembered per pair of objects.

    Types are compared structurally, and equal types often are distinct objects (each
    canon built-in and each binding resolves its own): a ``future<result<_, error-code>>``
    costs microseconds to compare on every handle check. A pair found equal once is
    answered with one dict lookup from then on.
    """
    if a is b:
        return True
    hit = _SAME.get((id(a), id(b)))
    if hit is not None and hit[0] is a and hit[1] is b:
        return True
    if a != b:
        return False
    if len(_SAME) >= _SAME_MAX:
        _SAME.clear()
    _SAME[(id(a), id(b))] = (a, b)
    return True


# Type objects known to hold no handle type: ``id(t) -> t``. Only such types are
# remembered (they refer to no resource type, so to no instance); bounded as _SAME.
_NO_HANDLES: dict[int, object] = {}


def holds_handle(t: T.ValType | None) -> bool:
    """Whether an ``own`` or ``borrow`` type occurs anywhere in ``t`` (stream and
    future element types included). A "no" is remembered per type object."""
    if t is None or t.__class__ is T.PrimType:
        return False
    if _NO_HANDLES.get(id(t)) is t:
        return False
    if _find_handle(t):
        return True
    if len(_NO_HANDLES) >= _SAME_MAX:
        _NO_HANDLES.clear()
    _NO_HANDLES[id(t)] = t
    return False


def _find_handle(t: T.ValType | None) -> bool:
    if t is None:
        return False
    if isinstance(t, T.OwnType | T.BorrowType):
        return True
    if isinstance(t, T.ListType | T.OptionType | T.StreamType | T.FutureType):
        return _find_handle(t.t)
    if isinstance(t, T.RecordType):
        return any(_find_handle(f.t) for f in t.fields)
    if isinstance(t, T.TupleType):
        return any(_find_handle(x) for x in t.ts)
    if isinstance(t, T.VariantType):
        return any(_find_handle(c.t) for c in t.cases)
    if isinstance(t, T.ResultType):
        return _find_handle(t.ok) or _find_handle(t.error)
    if isinstance(t, T.MapType):
        return _find_handle(t.k) or _find_handle(t.v)
    return False


def subst_valtype(t: T.ValType | None, m: Subst) -> T.ValType | None:
    """``t`` with every resource type in ``m`` replaced by its binding.

    The parts that change are made anew; ``t`` itself (or a part of it) comes back
    when nothing in it changes, so most types keep their identity (and the ``is``
    tests of :func:`same_type` and of the plan caches hold). A type that holds no
    handle comes back at once (:func:`holds_handle`).
    """
    if t is None or not m or not holds_handle(t):
        return t
    s = subst_valtype
    if isinstance(t, T.OwnType | T.BorrowType):
        rt = m.get(t.rt)
        if rt is None or rt is t.rt:
            return t
        return T.OwnType(rt) if isinstance(t, T.OwnType) else T.BorrowType(rt)
    if isinstance(t, T.ListType):
        u = s(t.t, m)
        return t if u is t.t else T.ListType(u, t.length)  # type: ignore[arg-type]
    if isinstance(t, T.OptionType):
        u = s(t.t, m)
        return t if u is t.t else T.OptionType(u)  # type: ignore[arg-type]
    if isinstance(t, T.RecordType):
        ftypes = [s(f.t, m) for f in t.fields]
        if all(u is f.t for u, f in zip(ftypes, t.fields, strict=True)):
            return t
        fields = tuple(
            T.FieldType(f.label, u)  # type: ignore[arg-type]
            for f, u in zip(t.fields, ftypes, strict=True)
        )
        return T.RecordType(fields, t.name)
    if isinstance(t, T.TupleType):
        ts = [s(x, m) for x in t.ts]
        if all(u is x for u, x in zip(ts, t.ts, strict=True)):
            return t
        return T.TupleType(tuple(ts))  # type: ignore[arg-type]
    if isinstance(t, T.VariantType):
        ctypes = [s(c.t, m) for c in t.cases]
        if all(u is c.t for u, c in zip(ctypes, t.cases, strict=True)):
            return t
        cases = tuple(T.CaseType(c.label, u) for c, u in zip(t.cases, ctypes, strict=True))
        return T.VariantType(cases, t.name)
    if isinstance(t, T.ResultType):
        ok, err = s(t.ok, m), s(t.error, m)
        return t if ok is t.ok and err is t.error else T.ResultType(ok, err)
    if isinstance(t, T.MapType):
        k, v = s(t.k, m), s(t.v, m)
        return t if k is t.k and v is t.v else T.MapType(k, v)  # type: ignore[arg-type]
    if isinstance(t, T.StreamType):
        u = s(t.t, m)
        return t if u is t.t else T.StreamType(u)
    if isinstance(t, T.FutureType):
        u = s(t.t, m)
        return t if u is t.t else T.FutureType(u)
    return t


def subst_functype(ft: T.FuncType, m: Subst) -> T.FuncType:
    if not m:
        return ft
    params = [subst_valtype(t, m) for _, t in ft.params]
    result = subst_valtype(ft.result, m)
    if result is ft.result and all(u is t for u, (_, t) in zip(params, ft.params, strict=True)):
        return ft
    return T.FuncType(
        tuple((n, u) for (n, _), u in zip(ft.params, params, strict=True)),  # type: ignore[misc]
        result,
        ft.is_async,
    )


def check_func(provided: T.FuncType, expected: T.FuncType, m: Subst, what: str) -> None:
    exp = subst_functype(expected, m)
    if [t for _, t in provided.params] != [
        t for _, t in exp.params
    ] or provided.result != exp.result:
        raise LinkError(f"type mismatch for {what}: expected `{exp}`, found `{provided}`")
    if [n for n, _ in provided.params] != [n for n, _ in exp.params]:
        raise LinkError(
            f"type mismatch for {what}: parameter names differ: expected `{exp}`, found `{provided}`"
        )
    if provided.is_async != exp.is_async:
        raise LinkError(f"type mismatch for {what}: expected `{exp}`, found `{provided}`")


def check_type(provided: object, expected: T.TypeBound, m: Subst, what: str) -> None:
    if expected.sub_resource:
        if not isinstance(provided, T.ResourceType):
            raise LinkError(
                f"type mismatch for {what}: expected a resource type, found `{provided}`"
            )
        assert isinstance(expected.t, T.ResourceType)
        m[expected.t] = provided
        return
    exp: object = expected.t
    if isinstance(exp, T.ResourceType):
        exp = m.get(exp, exp)
    else:
        exp = subst_valtype(expected.t, m)  # type: ignore[arg-type]
    if provided != exp:
        raise LinkError(f"type mismatch for {what}: expected `{exp}`, found `{provided}`")
