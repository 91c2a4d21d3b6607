"""Function-level lifting and lowering: parameters, results and their spilling.

A :class:`FuncABI` is built for one function type and set of canonical options
(string encoding, pointer type, sync or async); the specialised plan behind it
is cached per ``(FuncType, string_encoding, ptr_type, is_async)``. Its entry
points, for the two directions a call can cross the boundary:

- a call *into* a lifted function (``canon lift``): :meth:`FuncABI.lower_params`
  turns Python arguments into the core arguments (spilling them through the
  callee's realloc when they flatten to more than ``MAX_FLAT_PARAMS`` values)
  and :meth:`FuncABI.lift_results` turns the core results back (reading through
  the returned pointer when they flatten to more than ``MAX_FLAT_RESULTS``);
  async-lifted functions return through :meth:`FuncABI.lift_task_return`;
- a call *out of* a lowered import (``canon lower``):
  :meth:`FuncABI.lift_params` reads the guest's core arguments (through a
  params pointer when spilled) and :meth:`FuncABI.lower_results` writes the
  result (through the return pointer, the last core argument, when spilled).

Every entry point re-fetches the memory view first, because guest code may
have grown memory since the context was last used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from wasmloom.abi.codecs import ClassMap, Codec, get_codec, type_names
from wasmloom.abi.context import LiftLowerContext
from wasmloom.abi.layout import (
    MAX_FLAT_ASYNC_PARAMS,
    MAX_FLAT_PARAMS,
    MAX_FLAT_RESULTS,
    flatten_functype,
)
from wasmloom.errors import Trap
from wasmloom.types import (
    BorrowType,
    CoreFuncType,
    ErrorContextType,
    FuncType,
    FutureType,
    OwnType,
    StreamType,
    TupleType,
    ValType,
    contains,
)

__all__ = ["FuncABI", "LiftShape", "lift_calls", "lift_functions", "lift_shape"]


class _Plan:
    """The per-type part of a FuncABI, shared by every FuncABI of the same key."""

    def __init__(
        self, ft: FuncType, enc: str, ptr_type: str, classes: ClassMap | None = None
    ) -> None:
        self.ft = ft
        self.params = [get_codec(t, enc, ptr_type, classes) for t in ft.param_types()]
        self.result: Codec | None = (
            None if ft.result is None else get_codec(ft.result, enc, ptr_type, classes)
        )
        self.nflat_params = sum(len(c.flat) for c in self.params)
        self.nflat_results = 0 if self.result is None else len(self.result.flat)
        self.ptuple = (
            get_codec(TupleType(tuple(ft.param_types())), enc, ptr_type, classes)
            if self.params
            else None
        )


def _plan(ft: FuncType, enc: str, ptr_type: str, classes: ClassMap | None = None) -> _Plan:
    if classes is None:
        return _cached_plan(ft, (), enc, ptr_type, None)
    # with classes, same-shaped function types whose named types differ plan apart
    names = tuple(n for _, t in ft.params for n in type_names(t)) + type_names(ft.result)
    return _cached_plan(ft, names, enc, ptr_type, classes)


@cache
def _cached_plan(
    ft: FuncType,
    names: tuple[str | None, ...],
    enc: str,
    ptr_type: str,
    classes: ClassMap | None,
) -> _Plan:
    return _Plan(ft, enc, ptr_type, classes)


def _as_list(flat: Any) -> Sequence[Any]:
    if flat is None:
        return ()
    if isinstance(flat, list | tuple):
        return flat
    return (flat,)


class FuncABI:
    """The lift/lower entry points of one function type under one set of options.

    ``context`` is ``'lift'`` for a ``canon lift`` (an export) and ``'lower'``
    for a ``canon lower`` (an import); it selects the spill thresholds for
    async options. ``core_type`` is the flattened core function type.
    ``classes``, when given, lifts values of the types it maps into its
    classes (:class:`~wasmloom.abi.codecs.ClassMap`); the plan is cached per
    class map too.
    """

    __slots__ = (
        "core_type",
        "flat_param_lifts",
        "ft",
        "lift_params",
        "lift_results",
        "lift_task_return",
        "lower_params",
        "lower_results",
        "memo",
        "nparams",
        "result_codec",
        "result_spilled",
    )

    #: The parts of :attr:`lift_params` and :attr:`lower_results`, for a caller that
    #: writes them out in its own code (:mod:`wasmloom.runtime.lower`): the codec
    #: of each parameter (see :func:`lift_calls`) and whether any of them reads
    #: memory, or ``None`` when the parameters are spilled; the result's codec
    #: (``None``: no result) and whether it is stored through the return pointer
    #: (the last core argument).
    flat_param_lifts: tuple[list[Codec], bool] | None
    result_codec: Codec | None
    result_spilled: bool

    lower_params: Callable[[Any, Sequence[Any]], list[Any]]
    lift_results: Callable[[Any, Any], Any]
    lift_params: Callable[[Any, Sequence[Any]], list[Any]]
    lower_results: Callable[[Any, Any, Sequence[Any]], list[Any]]
    lift_task_return: Callable[[Any, Sequence[Any]], Any]
    #: What a caller derives from this plan alone and keeps for its next uses (each
    #: caller under keys of its own; the plan never reads it).
    memo: dict[Any, Any]

    def __init__(
        self, ft: FuncType, opts: Any, context: str = "lift", classes: ClassMap | None = None
    ) -> None:
        enc = opts.string_encoding
        mem = opts.memory
        ptr_type = "i32" if mem is None else mem.ptr_type
        is_async = bool(opts.is_async)
        self.ft = ft
        self.core_type: CoreFuncType = flatten_functype(opts, ft, context)
        p = _plan(ft, enc, ptr_type, classes)
        self.nparams = len(p.params)
        max_lift_params = (
            MAX_FLAT_ASYNC_PARAMS if is_async and context == "lower" else MAX_FLAT_PARAMS
        )
        max_lower_results = 0 if is_async else MAX_FLAT_RESULTS
        self.lower_params = _make_lower_values(p, p.nflat_params > MAX_FLAT_PARAMS)
        lift_spilled = p.nflat_params > max_lift_params
        self.lift_params = _make_lift_values(p, lift_spilled)
        self.flat_param_lifts = (
            None if lift_spilled else (list(p.params), not all(c.pure for c in p.params))
        )
        self.result_codec = p.result
        self.result_spilled = p.nflat_results > max_lower_results
        self.lift_results = _make_lift_result(p, p.nflat_results > MAX_FLAT_RESULTS)
        self.lift_task_return = _make_lift_result(p, p.nflat_results > MAX_FLAT_PARAMS)
        self.lower_results = _make_lower_result(p, self.result_spilled)
        self.memo = {}


def _arity_error(p: _Plan, args: Sequence[Any]) -> TypeError:
    return TypeError(f"{p.ft} takes {len(p.params)} argument(s), got {len(args)}")


# Flat lowering touches memory only through allocations, and each allocation
# re-fetches the view; until then the view is empty, so a stale view from an
# earlier call can never be used.
_NO_VIEW = memoryview(b"")


def _make_lower_values(p: _Plan, spill: bool) -> Callable[[Any, Sequence[Any]], list[Any]]:
    n = len(p.params)
    if not spill:
        lowers = [c.lower_flat for c in p.params]
        mem = not all(c.pure for c in p.params)
        if n == 0:

            def lower0(cx: Any, args: Sequence[Any]) -> list[Any]:
                if args:
                    raise _arity_error(p, args)
                return []

            return lower0
        lv1 = p.params[0].lower_value if n == 1 and not mem else None
        if lv1 is not None:

            def lower_value1(cx: Any, args: Sequence[Any]) -> list[Any]:
                if len(args) != 1:
                    raise _arity_error(p, args)
                return [lv1(cx, args[0])]

            return lower_value1
        if n == 1:
            lo1 = lowers[0]

            def lower1(cx: Any, args: Sequence[Any]) -> list[Any]:
                if len(args) != 1:
                    raise _arity_error(p, args)
                if mem:
                    cx.mv = _NO_VIEW
                out: list[Any] = []
                lo1(cx, args[0], out)
                return out

            return lower1
        if n == 2:
            lo_a, lo_b = lowers

            def lower2(cx: Any, args: Sequence[Any]) -> list[Any]:
                if len(args) != 2:
                    raise _arity_error(p, args)
                if mem:
                    cx.mv = _NO_VIEW
                out: list[Any] = []
                lo_a(cx, args[0], out)
                lo_b(cx, args[1], out)
                return out

            return lower2

        def lower_n(cx: Any, args: Sequence[Any]) -> list[Any]:
            if len(args) != n:
                raise _arity_error(p, args)
            if mem:
                cx.mv = _NO_VIEW
            out: list[Any] = []
            for lo, a in zip(lowers, args, strict=True):
                lo(cx, a, out)
            return out

        return lower_n
    tc = p.ptuple
    assert tc is not None
    size, align, store = tc.size, tc.align, tc.store
    amask = align - 1

    def lower_spilled(cx: Any, args: Sequence[Any]) -> list[Any]:
        if len(args) != n:
            raise _arity_error(p, args)
        # reallocate refreshes the view (and the lift budget's count) after the call
        ptr = cx.reallocate(0, 0, align, size)
        if ptr & amask or ptr + size > len(cx.mv):
            cx.check_alloc(ptr, align, size, "value")
        store(cx, args, ptr)
        return [ptr]

    return lower_spilled


def _make_lift_values(p: _Plan, spill: bool) -> Callable[[Any, Sequence[Any]], list[Any]]:
    if not spill:
        return _unrolled_lift(p.params, not all(c.pure for c in p.params))
    tc = p.ptuple
    assert tc is not None
    size, align, load = tc.size, tc.align, tc.load
    amask = align - 1

    def lift_spilled(cx: Any, flat: Sequence[Any]) -> list[Any]:
        cx.lift_used = 0  # cx.refresh(), in line
        if not cx.stable:
            cx.refresh()
        ptr = flat[0] & cx.ptr_mask
        if ptr & amask or ptr + size > len(cx.mv):
            cx.check_range(ptr, align, size, "value")
        return list(load(cx, ptr))

    return lift_spilled


LiftShape = tuple[tuple[int, bool], ...]


def lift_shape(codecs: Sequence[Codec]) -> LiftShape:
    """Per codec, how many core values it lifts and whether it has ``lift_values``:
    what the source :func:`lift_calls` writes depends on."""
    return tuple((len(c.flat), c.lift_values is not None) for c in codecs)


def _iterate_all(shape: LiftShape) -> bool:
    return sum(not direct for _, direct in shape) > 1


def lift_calls(shape: LiftShape, values: Sequence[str], seq: str) -> tuple[list[str], str | None]:
    """Python expressions lifting one value per codec of ``shape`` (:func:`lift_shape`),
    for a function written out in source, from the core values named ``values`` (the
    first values of the sequence named ``seq``; as many as the codecs flatten to).

    Returns the expressions and the statement making the iterator ``it`` they read
    (``None``: no iterator). They call ``l0``, ``l1``, ... (one per codec, in order;
    :func:`lift_functions`) with ``cx`` first. A codec with ``lift_values`` gets its
    values as arguments and the one codec without reads an iterator of its own
    values; when more than one has none, every codec reads one iterator of ``seq``.
    """
    if len(values) != sum(n for n, _ in shape):
        raise ValueError(f"{sum(n for n, _ in shape)} core values to lift, {len(values)} named")
    if _iterate_all(shape):
        return [f"l{i}(cx, it)" for i in range(len(shape))], f"it = iter({seq})"
    exprs = []
    make_it = None
    k = 0
    for i, (n, direct) in enumerate(shape):
        own = "".join(f", {v}" for v in values[k : k + n])
        k += n
        if direct:
            exprs.append(f"l{i}(cx{own})")
        else:
            make_it = f"it = iter(({own[2:]},))" if own else "it = iter(())"
            exprs.append(f"l{i}(cx, it)")
    return exprs, make_it


def lift_functions(codecs: Sequence[Codec]) -> list[Callable[..., Any]]:
    """The functions ``l0``, ``l1``, ... that :func:`lift_calls` of ``codecs`` call."""
    if _iterate_all(lift_shape(codecs)):
        return [c.lift_flat for c in codecs]
    return [c.lift_flat if c.lift_values is None else c.lift_values for c in codecs]


def _unrolled_lift(codecs: list[Codec], mem: bool) -> Callable[[Any, Sequence[Any]], list[Any]]:
    """``lift(cx, flat)``: the values ``codecs`` read one after the other from ``flat``,
    each call written out (no loop, no comprehension frame); ``mem``: they read memory.
    ``flat`` may hold more values than they read (an async lowering's result pointer)."""
    total = sum(len(c.flat) for c in codecs)
    exprs, make_it = lift_calls(lift_shape(codecs), [f"flat[{k}]" for k in range(total)], "flat")
    lines = ["def lift_n(cx, flat):"]
    if mem:
        lines += ["    cx.lift_used = 0", "    if not cx.stable:", "        cx.refresh()"]
    if make_it is not None:
        lines.append(f"    {make_it}")
    lines.append(f"    return [{', '.join(exprs)}]")
    namespace: dict[str, Any] = {f"l{i}": f for i, f in enumerate(lift_functions(codecs))}
    exec("\n".join(lines), namespace)
    return namespace["lift_n"]  # type: ignore[no-any-return]


def _make_lift_result(p: _Plan, spill: bool) -> Callable[[Any, Any], Any]:
    rc = p.result
    if rc is None:

        def lift_none(cx: Any, flat: Any) -> Any:
            return None

        return lift_none
    if not spill:
        lf = rc.lift_flat
        lv = rc.lift_values
        if len(rc.flat) == 1 and lv is not None:

            def lift_value(cx: Any, flat: Any) -> Any:
                if flat.__class__ is list or flat.__class__ is tuple:
                    return lv(cx, flat[0])
                return lv(cx, flat)

            return lift_value
        if len(rc.flat) == 1:

            def lift1(cx: Any, flat: Any) -> Any:
                if flat.__class__ is list or flat.__class__ is tuple:
                    return lf(cx, iter(flat))
                return lf(cx, iter((flat,)))

            return lift1

        def lift_flat(cx: Any, flat: Any) -> Any:
            cx.lift_used = 0  # cx.refresh(), in line
            if not cx.stable:
                cx.refresh()
            if flat.__class__ is tuple or flat.__class__ is list:  # _as_list, in line
                return lf(cx, iter(flat))
            return lf(cx, iter(_as_list(flat)))

        return lift_flat
    size, align, load = rc.size, rc.align, rc.load

    def lift_spilled(cx: Any, flat: Any) -> Any:
        cx.refresh()
        ptr = _as_list(flat)[0] & cx.ptr_mask
        cx.check_range(ptr, align, size, "value")
        return load(cx, ptr)

    return lift_spilled


def _make_lower_result(p: _Plan, spill: bool) -> Callable[[Any, Any, Sequence[Any]], list[Any]]:
    rc = p.result
    if rc is None:

        def lower_none(cx: Any, v: Any, flat_args: Sequence[Any]) -> list[Any]:
            return []

        return lower_none
    if not spill:
        lo = rc.lower_flat
        lv = rc.lower_value if rc.pure else None
        if lv is not None:
            # no memory touched: nothing to refresh

            def lower_value(cx: Any, v: Any, flat_args: Sequence[Any]) -> list[Any]:
                return [lv(cx, v)]

            return lower_value

        def lower_flat(cx: Any, v: Any, flat_args: Sequence[Any]) -> list[Any]:
            cx.lift_used = 0  # cx.refresh(), in line
            if not cx.stable:
                cx.refresh()
            out: list[Any] = []
            lo(cx, v, out)
            return out

        return lower_flat
    size, align, store = rc.size, rc.align, rc.store
    amask = align - 1

    def lower_spilled(cx: Any, v: Any, flat_args: Sequence[Any]) -> list[Any]:
        cx.lift_used = 0  # cx.refresh(), in line
        if not cx.stable:
            cx.refresh()
        ptr = flat_args[-1] & cx.ptr_mask
        if ptr & amask or ptr + size > len(cx.mv):
            cx.check_range(ptr, align, size, "value")
        store(cx, v, ptr)
        return []

    return lower_spilled


def _is_handle(t: ValType) -> bool:
    """Whether lowering a value of type ``t`` adds an entry to the callee's handle table."""
    return isinstance(t, OwnType | BorrowType | StreamType | FutureType | ErrorContextType)


def host_lowering(
    lower: Callable[[Any, Sequence[Any]], list[Any]], ft: FuncType
) -> Callable[[LiftLowerContext, Sequence[Any]], list[Any]]:
    """``lower`` (a :class:`FuncABI`'s ``lower_params``) for arguments the host supplied.

    A mistake of the host in them (a wrong type or count, an int out of range, a
    stream already handed over: ``TypeError``/``ValueError``) raises before any
    core code runs, and the callers leave the instance as it was. Lowering may
    have moved earlier arguments already: handles it added to the callee's
    table are taken out again and host stream/future objects it took are the
    host's again, so the failed call changed nothing but what the guest's
    realloc allocated (as on the sync path). Functions whose parameters hold no
    handles lower with ``lower`` itself.
    """
    if not any(contains(t, _is_handle) for _, t in ft.params):
        return lower

    def lower_undoable(cx: LiftLowerContext, args: Sequence[Any]) -> list[Any]:
        table = cx.inst.handles
        added: list[int] = []
        taken: list[tuple[Any, Any]] = []
        table.journal = added
        cx.taken = taken
        try:
            return lower(cx, args)
        except Trap:
            raise
        except Exception:
            table.journal = None
            table.undo(added)
            for reader, t in reversed(taken):  # a host StreamReader/FutureReader
                reader._untake(t)
            raise
        finally:
            table.journal = None
            cx.taken = None

    return lower_undoable
