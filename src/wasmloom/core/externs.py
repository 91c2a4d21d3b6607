"""Core externs (functions, memories, tables, globals, tags) and host functions."""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from functools import partial
from typing import Any, TypeAlias, TypeVar

import wasmtime
from wasmtime import _ffi as ffi

from wasmloom.binary.core_module import CoreGlobalDesc, CoreMemoryDesc, CoreTableDesc
from wasmloom.core.calls import CoreCall, _AsyncBinding
from wasmloom.core.capi import (
    _call_unchecked,
    _func_new_unchecked,
    _memory_data,
    _memory_data_size,
    _memory_size,
    _word,
)
from wasmloom.core.signatures import (
    _caller_factory,
    _host_callback,
    _HostEntry,
    _register_host,
    _signature,
)
from wasmloom.core.store import CoreStore
from wasmloom.core.traps import _raise_failure
from wasmloom.errors import WasmloomError
from wasmloom.types import CoreFuncType

# --- externs ---------------------------------------------------------------------------


class CoreFunc:
    """A core function in a store, with its type ``ty`` (derived once)."""

    __slots__ = ("_async", "_caller", "_ext", "_raw", "store", "ty")

    def __init__(self, store: CoreStore, raw: Any, ty: CoreFuncType) -> None:
        self.store = store
        self._raw = raw  # wasmtime_func_t; its address must stay stable
        self._ext: Any = None  # the wasmtime_extern_t of it, made once
        self.ty = ty
        self._caller: Callable[..., Any] | None = None
        self._async: _AsyncBinding | None = None

    def call_async(self, *args: Any) -> CoreCall:
        """Start this function on a fiber of its own; nothing runs until :meth:`CoreCall.poll`.

        Arguments as for :meth:`caller`. Use it for calls that may block in an
        :func:`async_host_func`; see :class:`CoreCall`.
        """
        binding = self._async
        if binding is None:
            binding = self._async = _AsyncBinding(self)
        return binding.start(*args)

    def caller(self) -> Callable[..., Any]:
        """Return a fast Python callable for this function: ``f(*args)``.

        Takes exactly ``len(ty.params)`` positional arguments: ints of any range
        for ``i32``/``i64`` (masked to the width), floats (or ints) for
        ``f32``/``f64``. Returns ``None`` for no result, the value for one,
        a tuple for several; ``i32``/``i64`` results are *unsigned*.

        Raises :class:`wasmloom.Trap` with wasmtime's trap text (without the wasm
        backtrace), e.g. ``"wasm trap: wasm `unreachable` instruction executed"``.
        If a host function raised a Python exception while this call was running,
        that exception itself is re-raised instead (a :class:`Trap` raised by the
        host function comes back as that same object, message unchanged).

        The callable is re-entrant: a host function may call it again while it
        is running (each nested activation gets its own buffer). The same
        callable is returned on every call. Raises ``NotImplementedError`` if the
        type has parameters or results other than i32/i64/f32/f64.
        """
        c = self._caller
        if c is None:
            c = self._caller = self._bind()
        return c

    def _bind(self) -> Callable[..., Any]:
        ty = self.ty
        factory = _caller_factory(ty)
        nslots = _signature(ty).nslots
        store = self.store
        a_func = ctypes.byref(self._raw)  # keeps the wasmtime_func_t alive with the caller
        a_n = _word(nslots)
        trap_index = 2 * nslots
        spare: list[Callable[..., Any]] = []

        def nested(*args: Any) -> Any:
            inner = spare.pop() if spare else make()
            try:
                return inner(*args)
            finally:
                spare.append(inner)

        buf_type = _buffer_type(16 * nslots + 8)

        def make() -> Callable[..., Any]:
            buf = buf_type()
            base = ctypes.addressof(buf)
            raw = memoryview(buf).cast("B")
            views = (raw.cast("I"), raw.cast("Q"), raw.cast("f"), raw.cast("d"))
            q = views[1]

            def fail(err: int | None) -> None:
                trap_addr = q[trap_index]
                q[trap_index] = 0
                _raise_failure(store, err, trap_addr)

            return factory(
                views,
                _call_unchecked,
                store.ctx_arg,
                a_func,
                _word(base),
                a_n,
                _word(base + 16 * nslots),
                trap_index,
                fail,
                nested,
            )

        return make()

    def call(self, *args: Any) -> Any:
        """Convenience: ``self.caller()(*args)``."""
        return self.caller()(*args)

    def to_wasmtime(self) -> wasmtime.Func:
        """This function as a ``wasmtime.Func`` (same store)."""
        return wasmtime.Func._from_raw(self._raw)

    def _as_extern(self) -> Any:
        ext = self._ext
        if ext is None:
            ext = self._ext = ffi.wasmtime_extern_t(
                ffi.WASMTIME_EXTERN_FUNC, ffi.wasmtime_extern_union(func=self._raw)
            )
        return ext

    def __repr__(self) -> str:
        return f"<CoreFunc {self.ty}>"


# Zeroed byte buffers' ctypes types by length, made once: ctypes keeps array types only
# while they are referenced, and one made anew per store is cyclic garbage (and costs
# as much to make as the rest of a caller).
_BUFFER_TYPES: dict[int, Any] = {}


def _buffer_type(n: int) -> Any:
    """The ctypes type ``c_char * n`` (kept for the process)."""
    t = _BUFFER_TYPES.get(n)
    if t is None:
        t = _BUFFER_TYPES[n] = ctypes.c_char * n
    return t


class CoreMemory:
    """A linear memory in a store; ``ty`` is its :class:`CoreMemoryDesc`.

    :meth:`view` gives zero-copy access. Any call into wasm and any
    :meth:`grow` may grow the memory: re-obtain the view afterwards rather
    than keeping an old one. The memory never moves (see :class:`Engine`),
    so an old view stays mapped for as long as it lives (it keeps the store
    alive), but it does not cover bytes added since it was taken: ``stable``
    (true) says so to :class:`~wasmloom.abi.context.LiftLowerContext`.
    """

    __slots__ = (
        "_arg",
        "_data_size",
        "_ext",
        "_raw",
        "_view",
        "_view_len",
        "ptr_type",
        "store",
        "ty",
    )

    #: The memory never moves or shrinks: a view stays valid for the bytes it covers.
    stable = True

    def __init__(self, store: CoreStore, raw: Any, ty: CoreMemoryDesc) -> None:
        self.store = store
        self._raw = raw  # wasmtime_memory_t
        self._ext: Any = None
        self._arg = ctypes.byref(raw)
        self.ty = ty
        self.ptr_type = "i64" if ty.memory64 else "i32"
        self._view: memoryview = memoryview(bytearray())
        self._view_len = -1
        # One ctypes call, its arguments bound once.
        self._data_size = partial(_memory_data_size, store.ctx_arg, self._arg)

    def view(self) -> memoryview:
        """A writable ``'B'`` memoryview of the whole memory, exactly its current size.

        Cached, and re-derived whenever the data size changed since the cached
        view was made, so the view returned never extends beyond the memory.
        One call into wasmtime (the data size) when the size did not change.
        """
        n = self._data_size()
        if n != self._view_len:
            if n:
                base = _memory_data(self.store.ctx_arg, self._arg)
                data = (ctypes.c_ubyte * n).from_address(base)
                data._owner = self  # a view keeps its memory (and store) alive
                self._view = memoryview(data).cast("B")
            else:
                self._view = memoryview(bytearray())
            self._view_len = n
        return self._view

    def data_size(self) -> int:
        """Current size in bytes."""
        return int(self._data_size())

    def size(self) -> int:
        """Current size in pages (like ``memory.size``)."""
        return int(_memory_size(self.store.ctx_arg, self._arg))

    def grow(self, pages: int) -> int:
        """Grow by ``pages``; return the previous size in pages, or -1 if it cannot grow."""
        if pages < 0:
            return -1
        prev = ctypes.c_uint64(0)
        err = ffi.wasmtime_memory_grow(
            self.store.wasmtime._context(), ctypes.byref(self._raw), pages, ctypes.byref(prev)
        )
        if err:
            ffi.wasmtime_error_delete(err)
            return -1
        return prev.value

    def _as_extern(self) -> Any:
        ext = self._ext
        if ext is None:
            ext = self._ext = ffi.wasmtime_extern_t(
                ffi.WASMTIME_EXTERN_MEMORY, ffi.wasmtime_extern_union(memory=self._raw)
            )
        return ext


class CoreTable:
    """A table in a store; ``ty`` is its :class:`CoreTableDesc`."""

    __slots__ = ("_ext", "_raw", "store", "ty")

    def __init__(self, store: CoreStore, raw: Any, ty: CoreTableDesc) -> None:
        self.store = store
        self._raw = raw
        self._ext: Any = None
        self.ty = ty

    def size(self) -> int:
        return int(ffi.wasmtime_table_size(self.store.wasmtime._context(), ctypes.byref(self._raw)))

    def get_func(self, index: int) -> CoreFunc | None:
        """The function at ``index`` of this ``funcref`` table.

        ``None`` when ``index`` is out of bounds or the element is a null
        reference. Only for ``funcref`` tables (other element types are refused
        before wasmtime is asked, see :func:`wrap_extern`).
        """
        if self.ty.element != "funcref":
            raise TypeError(f"not a funcref table: {self.ty.element}")
        if not 0 <= index < self.size():
            return None
        item = wasmtime.Table._from_raw(self._raw).get(self.store.wasmtime, index)
        if not isinstance(item, wasmtime.Func):
            return None
        f = wrap_extern(self.store, item)
        assert isinstance(f, CoreFunc)
        return f

    def _as_extern(self) -> Any:
        ext = self._ext
        if ext is None:
            ext = self._ext = ffi.wasmtime_extern_t(
                ffi.WASMTIME_EXTERN_TABLE, ffi.wasmtime_extern_union(table=self._raw)
            )
        return ext


class CoreGlobal:
    """A global in a store; ``ty`` is its :class:`CoreGlobalDesc`.

    :meth:`get`/:meth:`set` handle numeric globals (i32/i64 read back as
    wasmtime gives them: signed).
    """

    __slots__ = ("_ext", "_raw", "store", "ty")

    def __init__(self, store: CoreStore, raw: Any, ty: CoreGlobalDesc) -> None:
        self.store = store
        self._raw = raw
        self._ext: Any = None
        self.ty = ty

    def get(self) -> Any:
        return wasmtime.Global._from_raw(self._raw).value(self.store.wasmtime)

    def set(self, value: Any) -> None:
        if not self.ty.mutable:
            raise WasmloomError("cannot set an immutable global")
        try:
            wasmtime.Global._from_raw(self._raw).set_value(self.store.wasmtime, value)
        except wasmtime.WasmtimeError as e:
            raise WasmloomError(str(e)) from None

    def _as_extern(self) -> Any:
        ext = self._ext
        if ext is None:
            ext = self._ext = ffi.wasmtime_extern_t(
                ffi.WASMTIME_EXTERN_GLOBAL, ffi.wasmtime_extern_union(global_=self._raw)
            )
        return ext


class CoreTag:
    """An exception tag in a store; ``ty`` is the :class:`CoreFuncType` of its payload."""

    __slots__ = ("_ext", "_raw", "store", "ty")

    def __init__(self, store: CoreStore, raw: Any, ty: CoreFuncType) -> None:
        self.store = store
        self._raw = raw
        self._ext: Any = None
        self.ty = ty

    def _as_extern(self) -> Any:
        ext = self._ext
        if ext is None:
            ext = self._ext = ffi.wasmtime_extern_t(
                ffi.WASMTIME_EXTERN_TAG, ffi.wasmtime_extern_union(tag=self._raw)
            )
        return ext


CoreExtern: TypeAlias = CoreFunc | CoreMemory | CoreTable | CoreGlobal | CoreTag

_KIND_OF: dict[type, str] = {
    CoreFunc: "func",
    CoreMemory: "memory",
    CoreTable: "table",
    CoreGlobal: "global",
    CoreTag: "tag",
}


def _store_id_of(raw: Any) -> int:
    if isinstance(raw, ffi.wasmtime_table_t | ffi.wasmtime_memory_t | ffi.wasmtime_tag_t):
        return int(raw._anon_1.store_id)
    return int(raw.store_id)


_E = TypeVar("_E", CoreFunc, CoreMemory, CoreTable, CoreGlobal, CoreTag)

# --- host functions --------------------------------------------------------------------

HostFn: TypeAlias = Callable[..., Any]

_VALTYPES: dict[str, Callable[[], wasmtime.ValType]] = {
    "i32": wasmtime.ValType.i32,
    "i64": wasmtime.ValType.i64,
    "f32": wasmtime.ValType.f32,
    "f64": wasmtime.ValType.f64,
}


def _wasmtime_functype(ty: CoreFuncType) -> wasmtime.FuncType:
    return wasmtime.FuncType(
        [_VALTYPES[t]() for t in ty.params], [_VALTYPES[t]() for t in ty.results]
    )


# The last plan found for each CoreFuncType object: ``id(ty) -> (ty, the engine's
# functypes, plan)`` (the engine itself is not kept alive). Equal types are often
# distinct objects, and a dataclass's hash and equality run in Python: a hit here
# skips both.
_PLAN_BY_ID: dict[int, tuple[CoreFuncType, Any, tuple[wasmtime.FuncType, Any, Any]]] = {}


def _functype_plan(engine: Any, ty: CoreFuncType) -> tuple[wasmtime.FuncType, Any, Any]:
    """``(wasmtime type, its address as an argument, the shared host callback)`` of
    ``ty`` in ``engine``, made once per engine and type."""
    plans = engine.functypes
    hit = _PLAN_BY_ID.get(id(ty))
    if hit is not None and hit[0] is ty and hit[1] is plans:
        return hit[2]
    plan: tuple[wasmtime.FuncType, Any, Any] | None = plans.get(ty)
    if plan is None:
        wt_type = _wasmtime_functype(ty)
        a_type = ctypes.c_void_p(ctypes.cast(wt_type.ptr(), ctypes.c_void_p).value)
        plan = plans[ty] = (wt_type, a_type, _host_callback(ty))
    if len(_PLAN_BY_ID) >= 1024:
        _PLAN_BY_ID.clear()
    _PLAN_BY_ID[id(ty)] = (ty, plans, plan)
    return plan


def host_func(store: CoreStore, ty: CoreFuncType, fn: HostFn) -> CoreFunc:
    """A core function of type ``ty`` in ``store`` that calls ``fn`` (raw, unchecked).

    ``fn(*args)`` receives unsigned ints for i32/i64 and floats for f32/f64, and
    returns ``None`` (no results), a value (one result) or a tuple (several);
    ints may be of any range (masked to the width).

    If ``fn`` raises :class:`wasmloom.Trap`, the guest traps with exactly that
    message. If it raises anything else (including a wrong return value), the
    guest traps too, and the original exception is stored in
    ``store.pending`` and re-raised by the :meth:`CoreFunc.caller` call (or
    :func:`instantiate`) through which the trap unwinds; through nested
    wasm -> host -> wasm chains it keeps propagating outward unless a host
    function catches it. No exception ever escapes into wasmtime.

    Only i32/i64/f32/f64 are supported (``NotImplementedError`` otherwise).
    Every host function of one type shares one C callback, which finds ``fn``
    by the key wasmtime passes it; ``fn`` lives as long as ``store``.
    """
    return _entry_func(store, ty, _HostEntry(fn, store))


def deferred_host_func(store: CoreStore, ty: CoreFuncType, make: Callable[[], HostFn]) -> CoreFunc:
    """As :func:`host_func`, with ``fn`` made by ``make()`` when the guest first calls
    the function; ``fn`` then serves every later call. What ``make`` raises fails that
    call as an exception of ``fn`` would, and the next call runs ``make`` again. For
    functions that are costly to prepare and may never be called."""
    entry = _HostEntry(make, store)
    entry.fn = _MakeOnFirstCall(entry, make)
    return _entry_func(store, ty, entry)


class _MakeOnFirstCall:
    """A deferred host function's ``fn`` until its first call: makes the function,
    puts it in its entry (if ``make`` succeeds) and calls it. (One object where a
    closure would take four.)"""

    __slots__ = ("entry", "make")

    def __init__(self, entry: _HostEntry, make: Callable[[], HostFn]) -> None:
        self.entry = entry
        self.make = make

    def __call__(self, *args: Any) -> Any:
        fn = self.entry.fn = self.make()
        return fn(*args)


def _entry_func(store: CoreStore, ty: CoreFuncType, entry: _HostEntry) -> CoreFunc:
    keys = store._host_keys
    if keys is None:  # they leave the table when the store goes (CoreStore.__del__)
        keys = store._host_keys = []
    key = _register_host(entry, keys)
    _, a_type, c_callback = _functype_plan(store.engine, ty)
    # Made inside the function's extern: passed on as an import, it needs no other.
    ext = ffi.wasmtime_extern_t()
    ext.kind = _EXTERN_FUNC  # type: ignore[assignment]  # ctypes converts the int
    raw = ext.of.func  # a view of ext's payload (which it keeps alive)
    _func_new_unchecked(
        store.ctx_arg,
        a_type,
        c_callback,
        ctypes.c_void_p(key),
        None,
        ctypes.byref(raw),
    )
    store._keepalive.append(entry)
    store._check_id(int(raw.store_id), "function")
    func = CoreFunc(store, raw, ty)
    func._ext = ext
    return func


_EXTERN_FUNC = ffi.WASMTIME_EXTERN_FUNC.value


# --- aliasing existing wasmtime externs -------------------------------------------------


def _valtype_text(vt: wasmtime.ValType) -> str:
    text = str(vt)
    return "externref" if text == "anyref" else text


def wrap_extern(store: CoreStore, item: Any) -> CoreExtern:
    """Wrap a ``wasmtime`` extern (``Func``, ``Memory``, ``Table``, ``Global``, ``Tag``).

    ``item`` must belong to ``store.wasmtime``; its type is read once through
    wasmtime's API, so it must only involve MVP value types (wasmtime's C API
    aborts the process on GC reference types).
    """
    wt = store.wasmtime
    if isinstance(item, wasmtime.Func):
        ft = item.type(wt)
        ty = CoreFuncType(
            tuple(_valtype_text(p) for p in ft.params), tuple(_valtype_text(r) for r in ft.results)
        )
        raw = item._func
        store._check_id(_store_id_of(raw), "function")
        return CoreFunc(store, raw, ty)
    if isinstance(item, wasmtime.Memory):
        mt = item.type(wt)
        store._check_id(_store_id_of(item._memory), "memory")
        desc = CoreMemoryDesc(
            mt.limits.min, mt.limits.max, mt.is_64, mt.is_shared, mt.page_size_log2
        )
        return CoreMemory(store, item._memory, desc)
    if isinstance(item, wasmtime.Table):
        tt = item.type(wt)
        store._check_id(_store_id_of(item._table), "table")
        return CoreTable(
            store,
            item._table,
            CoreTableDesc(_valtype_text(tt.element), tt.limits.min, tt.limits.max),
        )
    if isinstance(item, wasmtime.Global):
        gt = item.type(wt)
        store._check_id(_store_id_of(item._global), "global")
        return CoreGlobal(
            store, item._global, CoreGlobalDesc(_valtype_text(gt.content), gt.mutable)
        )
    if isinstance(item, wasmtime.Tag):
        ft = item.type(wt).functype
        store._check_id(_store_id_of(item._tag), "tag")
        ty = CoreFuncType(
            tuple(_valtype_text(p) for p in ft.params), tuple(_valtype_text(r) for r in ft.results)
        )
        return CoreTag(store, item._tag, ty)
    raise TypeError(f"not a wasmtime extern: {type(item).__name__}")
