"""Core instantiation: plain, or through a linker and wasmtime's async instantiation."""

from __future__ import annotations

import ctypes
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import repeat
from operator import is_
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

from wasmloom.core.capi import (
    _export_get,
    _future_delete,
    _future_poll,
    _instance_new,
    _linker_define,
    _linker_define_async_func,
    _linker_delete,
    _linker_instantiate_async,
    _linker_new,
)
from wasmloom.core.engine import CoreModule
from wasmloom.core.externs import (
    _E,
    _KIND_OF,
    CoreExtern,
    CoreFunc,
    CoreGlobal,
    CoreMemory,
    CoreTable,
    CoreTag,
)
from wasmloom.core.store import CoreStore
from wasmloom.core.traps import (
    START_BLOCK_MESSAGE,
    _cause,
    _error_from_ptr,
    _instantiation_error,
    _raise_failure,
)
from wasmloom.errors import LinkError, Trap
from wasmloom.types import CoreExternDesc

# --- instances -------------------------------------------------------------------------


class CoreInstance:
    """An instantiated core module: ``exports`` maps each export name to its extern."""

    __slots__ = ("exports", "module", "store")

    def __init__(
        self, store: CoreStore, module: CoreModule, exports: Mapping[str, CoreExtern]
    ) -> None:
        self.store = store
        self.module = module
        self.exports = exports

    def func(self, name: str) -> CoreFunc:
        """The exported function ``name`` (``LinkError`` if missing or not a function)."""
        return self._get(name, CoreFunc)

    def memory(self, name: str) -> CoreMemory:
        """The exported memory ``name`` (``LinkError`` if missing or not a memory)."""
        return self._get(name, CoreMemory)

    def _get(self, name: str, cls: type[_E]) -> _E:
        item = self.exports.get(name)
        if not isinstance(item, cls):
            what = "missing" if item is None else f"a {_KIND_OF[type(item)]}"
            raise LinkError(f"core export `{name}` is {what}, expected a {_KIND_OF[cls]}")
        return item


def _wrap_raw(store: CoreStore, item: Any, desc: CoreExternDesc) -> CoreExtern:
    """``item`` (a ``wasmtime_extern_t`` of its own) wrapped: the wrapper refers to its
    payload in place and reuses ``item`` when passed on as an import."""
    kind = item.kind
    out: CoreExtern
    if kind == _FUNC:
        out = CoreFunc(store, item.of.func, desc.type)
    elif kind == _MEMORY:
        out = CoreMemory(store, item.of.memory, desc.type)
    elif kind == _TABLE:
        out = CoreTable(store, item.of.table, desc.type)
    elif kind == _GLOBAL:
        out = CoreGlobal(store, item.of.global_, desc.type)
    elif kind == _TAG:
        out = CoreTag(store, item.of.tag, desc.type)
    else:
        raise LinkError(f"unsupported core extern kind {kind} (shared memories are not supported)")
    out._ext = item
    return out


_FUNC = ffi.WASMTIME_EXTERN_FUNC.value
_MEMORY = ffi.WASMTIME_EXTERN_MEMORY.value
_TABLE = ffi.WASMTIME_EXTERN_TABLE.value
_GLOBAL = ffi.WASMTIME_EXTERN_GLOBAL.value
_TAG = ffi.WASMTIME_EXTERN_TAG.value


def instantiate(
    store: CoreStore, module: CoreModule, imports: Sequence[CoreExtern]
) -> CoreInstance:
    """Instantiate ``module`` in ``store`` with ``imports`` in the module's import order.

    Raises :class:`LinkError` for a wrong number of imports, an import of the
    wrong kind, from another store, or of a type wasmtime rejects (wasmtime's
    message); :class:`Trap` if the start function traps (or the pending host
    exception, as for :meth:`CoreFunc.caller`).
    """
    if module.engine is not store.engine:
        raise LinkError("module was compiled for a different engine than the store's")
    expected = module.imports
    if len(imports) != len(expected):
        raise LinkError(f"module expects {len(expected)} imports, {len(imports)} given")
    externs = _extern_array(len(imports))
    for i, (item, (mod_name, name, desc)) in enumerate(zip(imports, expected, strict=True)):
        externs[i] = _checked_extern(store, item, desc.kind, mod_name, name)
    return _instantiate_externs(store, module, externs, len(imports))


class Wiring:
    """Where each import of one module came from, as :func:`instantiate_with` found it
    for one definition's arguments; given again, the next call reuses it.

    ``sources`` are the core instances whose exports are passed on: an argument by
    name (``(name, -1, export types)``) or one of ``instances`` by index (``("", i,
    export types)``); each is checked once per call (an instance of the same module,
    in the store). ``passed`` are the imports taken from a source: ``(import index,
    source number, export name as bytes, its length, argument name, import name,
    ExportRef or None)``; the :class:`ExportRef` must still be the argument's item.
    ``plain`` are the imports given as items: ``(index, argument name, name, kind)``.
    ``refs`` are the ``ExportRef`` of ``passed``, by argument: ``(argument name,
    import names, their ExportRefs)``.

    A reuse fills an imports array taken from ``spare`` (made with the C arguments
    of its ``passed`` imports, grouped by source) and puts it back afterwards, so
    a call per import is all a reuse makes of it, and those calls are made from C
    (``map``), without a Python loop over the imports.
    """

    __slots__ = ("module", "passed", "plain", "refs", "sources", "spare")

    def __init__(self) -> None:
        self.module: CoreModule | None = None
        self.sources: list[tuple[str, int, Any]] = []
        self.passed: list[tuple[int, int, bytes, Any, str, str, Any]] = []
        self.plain: list[tuple[int, str, str, str]] = []
        self.refs: list[tuple[str, tuple[str, ...], tuple[Any, ...]]] = []
        self.spare: list[_Filled] = []


# The C arguments of the imports passed from one source: (export names as bytes, their
# lengths, each import's slot in the imports array as a C argument), in import order.
_Group = tuple[tuple[bytes, ...], tuple[Any, ...], tuple[Any, ...]]
# An imports array kept by a Wiring: ``(the Wiring's passed list it was made for, the
# wasmtime_extern_t array, the _Group of each source)``.
_Filled = tuple[list[Any], Any, list[_Group]]
# At most this many arrays are kept per Wiring (one per instantiation in progress).
_SPARE_ARRAYS = 4
# Consumes an iterator, keeping nothing: drives the calls of a ``map`` from C.
_drain: Callable[[Iterable[Any]], None] = deque(maxlen=0).extend


def _take_filled(wiring: Wiring, n: int) -> _Filled:
    """An imports array of ``n`` entries for a reuse of ``wiring``, with its C arguments."""
    spare = wiring.spare
    try:
        return spare.pop()
    except IndexError:
        pass
    externs = _extern_array(n)
    byref, size = ctypes.byref, _EXTERN_SIZE
    per_source: list[list[tuple[bytes, Any, Any]]] = [[] for _ in wiring.sources]
    for i, slot, raw, raw_len, _m, _n, _r in wiring.passed:
        per_source[slot].append((raw, raw_len, byref(externs, i * size)))
    groups: list[_Group] = [
        (tuple(r for r, _, _ in g), tuple(n for _, n, _ in g), tuple(a for _, _, a in g))
        for g in per_source
    ]
    return wiring.passed, externs, groups


def _give_filled(wiring: Wiring, filled: _Filled) -> None:
    """Keep ``filled`` for the next reuse of ``wiring`` (unless ``wiring`` has changed
    since it was made, or enough are kept)."""
    spare = wiring.spare
    if filled[0] is wiring.passed and len(spare) < _SPARE_ARRAYS:
        spare.append(filled)


def instantiate_with(
    store: CoreStore,
    module: CoreModule,
    args: Mapping[str, Mapping[str, Any]],
    instances: Sequence[Mapping[str, Any]] = (),
    wiring: Wiring | None = None,
) -> CoreInstance:
    """Instantiate ``module`` with each import ``m::n`` taken from ``args[m][n]``.

    ``args`` maps an import module name to a core instance's exports (as
    :attr:`CoreInstance.exports`) or to a mapping of names to
    :data:`CoreExtern` or :class:`ExportRef` items (a component's inline core
    instance); an :class:`ExportRef` names an export of one of ``instances``.
    An export of an instance is passed on inside wasmtime, without being
    wrapped. Raises :class:`LinkError` for an argument or export that is
    missing or of the wrong kind, and as :func:`instantiate` does.

    With ``wiring`` (a :class:`Wiring` kept by the caller for one definition),
    a call whose arguments have the shape of the one that filled it skips the
    per-import lookups and checks.
    """
    if module.engine is not store.engine:
        raise LinkError("module was compiled for a different engine than the store's")
    n = len(module.imports)
    if wiring is not None and wiring.module is module:
        filled = _take_filled(wiring, n)
        try:
            if _rewire(store, wiring, args, instances, filled[1], filled[2]):
                return _instantiate_externs(store, module, filled[1], n)
        finally:
            _give_filled(wiring, filled)
    externs = _extern_array(n)
    _wire(store, module, args, instances, externs, wiring)
    return _instantiate_externs(store, module, externs, n)


# instantiate_with's arguments: exports by import module name, and core instances.
_Args = Mapping[str, Mapping[str, Any]]
_Instances = Sequence[Mapping[str, Any]]


def _wire(
    store: CoreStore,
    module: CoreModule,
    args: _Args,
    instances: _Instances,
    externs: Any,
    wiring: Wiring | None,
) -> None:
    """Fill ``externs`` with ``module``'s imports from ``args``, checked (see
    :func:`instantiate_with`); record in ``wiring`` where each came from."""
    ctx, byref, export_get, size = store.ctx_arg, ctypes.byref, _export_get, _EXTERN_SIZE
    slots: dict[tuple[str, int], int] = {}
    sources: list[tuple[str, int, Any]] = []
    passed: list[tuple[int, int, bytes, Any, str, str, Any]] = []
    plain: list[tuple[int, str, str, str]] = []
    for i, (mod_name, name, desc) in enumerate(module.imports):
        provided = args.get(mod_name)
        if provided is None:
            raise LinkError(f"core module import `{mod_name}` was not supplied")
        source: Any
        ref: Any = None
        if type(provided) is LazyExports:
            source, field, where = provided, name, (mod_name, -1)
        else:
            try:
                item = provided[name]
            except KeyError:
                raise LinkError(f"core instance `{mod_name}` has no export `{name}`") from None
            if type(item) is not ExportRef:
                externs[i] = _checked_extern(store, item, desc.kind, mod_name, name)
                plain.append((i, mod_name, name, desc.kind))
                continue
            ref = item
            source = instances[item[0]]
            field = item[1]
            where = ("", item[0])
            if type(source) is not LazyExports:  # pragma: no cover - refs name instances
                raise LinkError(f"import `{mod_name}::{name}`: not an instance's export")
        export = source._types.get(field)
        if export is None or export.kind != desc.kind or source._store is not store:
            at = f"import `{mod_name}::{name}`"
            if export is None:
                raise LinkError(f"core instance `{mod_name}` has no export `{name}`")
            if export.kind != desc.kind:
                raise LinkError(f"{at}: expected a {desc.kind}, got {export.kind}")
            raise LinkError(f"{at}: the {desc.kind} belongs to a different store")
        raw = source._names[field]  # written in place: no wrapper, no copy
        export_get(ctx, source._instance, raw, len(raw), byref(externs, i * size))
        slot = slots.get(where)
        if slot is None:
            slot = slots[where] = len(sources)
            sources.append((where[0], where[1], source._types))
        passed.append((i, slot, raw, len(raw), mod_name, name, ref))
    if wiring is not None:
        wiring.module = None  # while it changes
        wiring.sources = sources
        wiring.passed = passed
        wiring.plain = plain
        by_arg: dict[str, list[tuple[str, Any]]] = {}
        for _i, _s, _r, _l, m, name, ref in passed:
            if ref is not None:
                by_arg.setdefault(m, []).append((name, ref))
        wiring.refs = [
            (m, tuple(name for name, _ in got), tuple(ref for _, ref in got))
            for m, got in by_arg.items()
        ]
        wiring.spare = []
        wiring.module = module


def _rewire(
    store: CoreStore,
    wiring: Wiring,
    args: _Args,
    instances: _Instances,
    externs: Any,
    groups: list[_Group],
) -> bool:
    """Fill ``externs`` as ``wiring`` says (``groups``: the C arguments of its passed
    imports, see :class:`Wiring`); False (``externs`` partly filled) where the
    arguments do not have its shape."""
    found = []
    for mod_name, index, types in wiring.sources:
        if index < 0:
            source = args.get(mod_name)
        elif index < len(instances):
            source = instances[index]
        else:
            return False
        if type(source) is not LazyExports or source._types is not types:
            return False
        if source._store is not store:
            return False
        found.append(source._instance)
    for mod_name, names, refs in wiring.refs:
        provided = args.get(mod_name)
        if provided is None or not all(map(is_, map(provided.get, names), refs)):
            return False
    ctx, export_get = repeat(store.ctx_arg), _export_get
    for instance, (raws, lens, ats) in zip(found, groups, strict=True):
        _drain(map(export_get, ctx, repeat(instance), raws, lens, ats))
    for i, mod_name, name, kind in wiring.plain:
        provided = args.get(mod_name)
        item = None if provided is None else provided.get(name)
        if item is None or type(item) is ExportRef:
            return False
        externs[i] = _checked_extern(store, item, kind, mod_name, name)
    return True


def _checked_extern(store: CoreStore, item: Any, kind: str, mod_name: str, name: str) -> Any:
    """``item``'s ``wasmtime_extern_t``, for import ``mod_name::name`` of kind ``kind``."""
    got = _KIND_OF.get(type(item))
    if got != kind or item.store is not store:
        where = f"import `{mod_name}::{name}`"
        if got != kind:
            raise LinkError(f"{where}: expected a {kind}, got {got or type(item).__name__}")
        raise LinkError(f"{where}: the {got} belongs to a different store")
    return item._as_extern()


def _instantiate_externs(
    store: CoreStore, module: CoreModule, externs: Any, n: int
) -> CoreInstance:
    """Instantiate ``module`` with the first ``n`` of ``externs`` (checked) as its imports."""
    if store.async_only:
        return _instantiate_linked(store, module, externs)
    instance = ffi.wasmtime_instance_t()
    trap = ctypes.c_void_p()
    err = _instance_new(
        store.ctx_arg,
        module.wasmtime.ptr(),
        externs,
        n,
        ctypes.byref(instance),
        ctypes.byref(trap),
    )
    return _instantiated(store, module, instance, trap.value or 0, err or 0)


def _instantiated(
    store: CoreStore, module: CoreModule, instance: Any, trap: int, err: int
) -> CoreInstance:
    """The instance an instantiation made, or its trap or error (addresses, 0 if none) raised."""
    if trap:
        _raise_failure(store, None, trap)
    if err:
        message = _error_from_ptr(err)
        exc = store.take_pending()
        if exc is not None:
            raise exc
        raise _instantiation_error(_cause(message))
    store._check_id(int(instance.store_id), "instance")
    return _instance_of(store, module, instance)


def _new_linker(store: CoreStore) -> int:
    return int(
        _linker_new(
            ctypes.c_void_p(ctypes.cast(store.engine.wasmtime.ptr(), ctypes.c_void_p).value)
        )
    )


_EXTERN_SIZE = ctypes.sizeof(ffi.wasmtime_extern_t)
_TWO_WORDS = ctypes.c_size_t * 2  # made once: see core.externs._buffer_type
_ARRAY_TYPES: dict[int, Any] = {}


def _extern_array(n: int) -> Any:
    """A zeroed ``wasmtime_extern_t[max(n, 1)]``; its ctypes type made once per length
    (a new array type per call would be cyclic garbage for the collector)."""
    t = _ARRAY_TYPES.get(n)
    if t is None:
        t = ffi.wasmtime_extern_t * max(n, 1)
        if len(_ARRAY_TYPES) < 256:
            _ARRAY_TYPES[n] = t
    return t()


class LazyExports(Mapping[str, "CoreExtern"]):
    """A core instance's exports, each wrapped on first use.

    Components built by toolchains export thousands of core items of which a
    program uses a few; fetching them one by one on demand keeps start-up cheap.
    Names and kinds come from the module's type, so membership needs no call.
    """

    __slots__ = ("_cache", "_instance", "_names", "_store", "_types")

    def __init__(self, store: CoreStore, module: CoreModule, instance: Any) -> None:
        self._store = store
        self._instance = ctypes.byref(instance)
        self._types = module.export_types
        self._names = module.export_names
        self._cache: dict[str, CoreExtern] = {}

    def __getitem__(self, name: str) -> CoreExtern:
        item = self._cache.get(name)
        if item is not None:
            return item
        desc = self._types[name]  # KeyError for a name the module does not export
        raw = self._names[name]
        raw_item = ffi.wasmtime_extern_t()
        found = _export_get(
            self._store.ctx_arg,
            self._instance,
            raw,
            ctypes.c_size_t(len(raw)),
            ctypes.byref(raw_item),
        )
        if not found:  # pragma: no cover - the module type lists every export
            raise KeyError(name)
        item = self._cache[name] = _wrap_raw(self._store, raw_item, desc)
        return item

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __iter__(self) -> Iterator[str]:
        return iter(self._types)

    def __len__(self) -> int:
        return len(self._types)


class ExportRef(tuple[int, str]):
    """``(instance, name)``: export ``name`` of core instance number ``instance`` (of
    the ``instances`` given to :func:`instantiate_with`), named but not fetched:
    :func:`instantiate_with` passes it on inside wasmtime. (A tuple, made once
    per alias of a component and shared by its instantiations.)"""

    __slots__ = ()


def _instance_of(store: CoreStore, module: CoreModule, instance: Any) -> CoreInstance:
    return CoreInstance(store, module, LazyExports(store, module, instance))


# A module's imports as the linker defines them: per import in order, ``(index,
# first, module name, its length, name, its length)``, names encoded once; ``first``
# is the index of the first import of the same name (itself for that one). Made
# once per module: ``id(module) -> (module, steps, module pointer)``.
_LinkSteps = list[tuple[int, int, bytes, Any, bytes, Any]]
_LINK_PLANS: dict[int, tuple[CoreModule, _LinkSteps, Any]] = {}


def _link_plan(module: CoreModule) -> tuple[_LinkSteps, Any]:
    hit = _LINK_PLANS.get(id(module))
    if hit is not None and hit[0] is module:
        return hit[1], hit[2]
    steps: _LinkSteps = []
    first: dict[tuple[str, str], int] = {}
    for i, (mod_name, name, _desc) in enumerate(module.imports):
        j = first.setdefault((mod_name, name), i)
        m = mod_name.encode("utf-8")
        n = name.encode("utf-8")
        steps.append((i, j, m, ctypes.c_size_t(len(m)), n, ctypes.c_size_t(len(n))))
    a_module = ctypes.c_void_p(ctypes.cast(module.wasmtime.ptr(), ctypes.c_void_p).value)
    if len(_LINK_PLANS) >= 256:
        _LINK_PLANS.clear()
    _LINK_PLANS[id(module)] = (module, steps, a_module)
    return steps, a_module


def _run_instantiate(
    store: CoreStore, module: CoreModule, linker: Any, a_module: Any
) -> CoreInstance:
    """Run ``wasmtime_linker_instantiate_async`` to completion (start cannot block)."""
    instance = ffi.wasmtime_instance_t()
    slots = _TWO_WORDS()  # trap, error
    base = ctypes.addressof(slots)
    future = _linker_instantiate_async(
        linker,
        store.ctx_arg,
        a_module,
        ctypes.byref(instance),
        ctypes.c_void_p(base),
        ctypes.c_void_p(base + 8),
    )
    flag = store._fiber_flag()
    depth = store._depth
    saved_flag, saved_depth = flag[0], depth[0]
    flag[0] = 0
    depth[0] = 0
    store._instantiating += 1
    try:
        done = _future_poll(ctypes.c_void_p(future))
    finally:
        store._instantiating -= 1
        flag[0], depth[0] = saved_flag, saved_depth
        _future_delete(ctypes.c_void_p(future))
    if not done:  # impossible by construction: nothing can suspend with the flag clear
        raise Trap(START_BLOCK_MESSAGE)
    return _instantiated(store, module, instance, slots[0], slots[1])


def _instantiate_linked(
    store: CoreStore,
    module: CoreModule,
    externs: Sequence[Any],
    async_funcs: dict[int, tuple[wasmtime.FuncType, Any]] | None = None,
) -> CoreInstance:
    """Instantiate through a wasmtime linker and ``wasmtime_linker_instantiate_async``.

    ``externs[i]`` is the ``wasmtime_extern_t`` for import ``i`` (``None`` where
    ``async_funcs[i]`` gives the type and ``_AsyncCallback`` of an async host
    function to define there). The start function runs on a fiber with the
    may-block flag clear, so it cannot block; the instantiation completes in
    one poll.
    """
    steps, a_module = _link_plan(module)
    linker = ctypes.c_void_p(_new_linker(store))
    ctx, byref, define = store.ctx_arg, ctypes.byref, _linker_define
    try:
        for i, j, m, m_len, n, n_len in steps:
            extern = externs[i]
            if j != i:  # a name imported again: it must be the same item
                if _link_key(externs, j) != _link_key(externs, i):
                    where = _import_where(module, i)
                    raise LinkError(f"{where}: imported twice with different items")
                continue
            if extern is None:
                assert async_funcs is not None
                functype, callback = async_funcs[i]
                err = _linker_define_async_func(
                    linker,
                    m,
                    m_len,
                    n,
                    n_len,
                    ctypes.c_void_p(ctypes.cast(functype.ptr(), ctypes.c_void_p).value),
                    callback,
                    None,
                    None,
                )
            else:
                err = define(linker, ctx, m, m_len, n, n_len, byref(extern))
            if err:
                where = _import_where(module, i)
                raise LinkError(f"{where}: {_cause(_error_from_ptr(err))}")
        return _run_instantiate(store, module, linker, a_module)
    finally:
        _linker_delete(linker)


def _link_key(externs: Sequence[Any], i: int) -> bytes:
    extern = externs[i]
    return b"async%d" % i if extern is None else bytes(extern)


def _import_where(module: CoreModule, i: int) -> str:
    mod_name, name, _desc = module.imports[i]
    return f"import `{mod_name}::{name}`"
