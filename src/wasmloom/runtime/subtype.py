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


def subst_valtype(t: T.ValType | None, m: Subst) -> T.ValType | None:
    """``t`` with every resource type in ``m`` replaced by its binding."""
    if t is None or not m:
        return t
    s = subst_valtype
    if isinstance(t, T.OwnType):
        return T.OwnType(m.get(t.rt, t.rt))
    if isinstance(t, T.BorrowType):
        return T.BorrowType(m.get(t.rt, t.rt))
    if isinstance(t, T.ListType):
        return T.ListType(s(t.t, m), t.length)  # type: ignore[arg-type]
    if isinstance(t, T.OptionType):
        return T.OptionType(s(t.t, m))  # type: ignore[arg-type]
    if isinstance(t, T.RecordType):
        fields = tuple(T.FieldType(f.label, s(f.t, m)) for f in t.fields)  # type: ignore[arg-type]
        return T.RecordType(fields, t.name)
    if isinstance(t, T.TupleType):
        return T.TupleType(tuple(s(x, m) for x in t.ts))  # type: ignore[misc]
    if isinstance(t, T.VariantType):
        return T.VariantType(tuple(T.CaseType(c.label, s(c.t, m)) for c in t.cases), t.name)
    if isinstance(t, T.ResultType):
        return T.ResultType(s(t.ok, m), s(t.error, m))
    if isinstance(t, T.MapType):
        return T.MapType(s(t.k, m), s(t.v, m))  # type: ignore[arg-type]
    if isinstance(t, T.StreamType):
        return T.StreamType(s(t.t, m))
    if isinstance(t, T.FutureType):
        return T.FutureType(s(t.t, m))
    return t


def subst_functype(ft: T.FuncType, m: Subst) -> T.FuncType:
    if not m:
        return ft
    return T.FuncType(
        tuple((n, subst_valtype(t, m)) for n, t in ft.params),  # type: ignore[misc]
        subst_valtype(ft.result, m),
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
