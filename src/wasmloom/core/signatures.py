"""Call signatures: the raw value layouts of core function types, and the callers and
host-function adapters specialised once per type.
"""

from __future__ import annotations

import ctypes
import itertools
import struct
import weakref
from collections.abc import Callable
from typing import Any

from wasmtime import _ffi as ffi

from wasmloom.core.capi import _M32, _M64, _HostCallback, _trap_new
from wasmloom.errors import Trap
from wasmloom.types import CoreFuncType

# --- call signatures -------------------------------------------------------------------

_SLOT = {"i32": ("I", 4, _M32), "i64": ("Q", 2, _M64), "f32": ("f", 4, None), "f64": ("d", 2, None)}
_PAD = {"i32": "12x", "i64": "8x", "f32": "12x", "f64": "8x"}


class _Signature:
    """The ``wasmtime_val_raw_t`` slot layout of one core function type.

    Arguments occupy slots ``0..len(params)``, results overwrite slots
    ``0..len(results)``; each slot is 16 bytes. ``nslots`` is the buffer length
    in slots. ``params_struct``/``results_struct`` pack and unpack all slots at
    once.
    """

    __slots__ = ("buf_type", "nslots", "params_struct", "results_struct", "ty")

    def __init__(self, ty: CoreFuncType) -> None:
        for t in (*ty.params, *ty.results):
            if t not in _SLOT:
                raise NotImplementedError(f"core value type {t} cannot cross into Python")
        self.ty = ty
        self.nslots = max(len(ty.params), len(ty.results))
        # the ctypes view of the slots a host callback receives
        self.buf_type = ctypes.c_char * max(16 * self.nslots, 1)
        self.params_struct = struct.Struct("<" + "".join(_SLOT[t][0] + _PAD[t] for t in ty.params))
        self.results_struct = struct.Struct(
            "<" + "".join(_SLOT[t][0] + _PAD[t] for t in ty.results)
        )


_signatures: dict[CoreFuncType, _Signature] = {}


def _signature(ty: CoreFuncType) -> _Signature:
    sig = _signatures.get(ty)
    if sig is None:
        sig = _signatures[ty] = _Signature(ty)
    return sig


def _caller_source(ty: CoreFuncType) -> str:
    """Python source of a caller factory specialised to ``ty``.

    The factory binds one argument/result buffer; the returned function stores
    the (masked) arguments into typed memoryviews over it, makes the bare
    ``wasmtime_func_call_unchecked`` call, checks the error and trap slots and
    reads the results back. It refuses re-entry while busy and hands nested
    calls to ``nested`` (which uses another buffer).
    """
    args = [f"a{i}" for i in range(len(ty.params))]
    lines = [
        "def factory(views, call, a_ctx, a_func, a_buf, a_n, a_trap, trap_index, fail, nested):",
        "    I, Q, F, D = views",
        "    busy = False",
        f"    def caller({', '.join(args)}):",
        "        nonlocal busy",
        "        if busy:",
        f"            return nested({', '.join(args)})",
        "        try:",
        "            busy = True",
    ]
    view = {"I": "I", "Q": "Q", "f": "F", "d": "D"}
    for i, t in enumerate(ty.params):
        code, per, mask = _SLOT[t]
        value = f"a{i} & {mask:#x}" if mask is not None else f"a{i}"
        lines.append(f"            {view[code]}[{i * per}] = {value}")
    lines.append("            err = call(a_ctx, a_func, a_buf, a_n, a_trap)")
    lines.append("            if err or Q[trap_index]:")
    lines.append("                fail(err)")
    reads = []
    for i, t in enumerate(ty.results):
        code, per, _ = _SLOT[t]
        reads.append(f"{view[code]}[{i * per}]")
    if not reads:
        lines.append("            return None")
    elif len(reads) == 1:
        lines.append(f"            return {reads[0]}")
    else:
        lines.append(f"            return ({', '.join(reads)},)")
    lines += ["        finally:", "            busy = False", "    return caller"]
    return "\n".join(lines)


_caller_factories: dict[CoreFuncType, Callable[..., Callable[..., Any]]] = {}


def _caller_factory(ty: CoreFuncType) -> Callable[..., Callable[..., Any]]:
    factory = _caller_factories.get(ty)
    if factory is None:
        _signature(ty)  # rejects types that cannot cross
        namespace: dict[str, Any] = {}
        exec(_caller_source(ty), namespace)
        factory = _caller_factories[ty] = namespace["factory"]
    return factory


# --- host functions: one shared C callback per core type ------------------------------
#
# Every host function of one core type enters through the same ctypes callback (made
# once per type, for the life of the process); wasmtime passes it the function's
# ``env``, a key into ``_host_refs``. The table holds each :class:`_HostEntry` weakly
# (its store holds it strongly, and a host function usually refers to its store), and a
# store's keys leave the table when the store is freed. Keys are never reused, so a
# stale key finds nothing: the guest traps with :data:`STORE_GONE_MESSAGE`.

STORE_GONE_MESSAGE = "host function called after its store was freed"


class _HostEntry:
    """What the shared callback needs of one host function."""

    __slots__ = ("__weakref__", "depth", "fn", "store")

    def __init__(self, fn: Callable[..., Any], store: Any) -> None:
        self.fn = fn
        self.store = store  # a core.store.CoreStore: pending exceptions go there
        self.depth: list[int] = store._depth


_host_refs: dict[int, Callable[[], _HostEntry | None]] = {}
_host_keys = itertools.count(1)


def _register_host(entry: _HostEntry, keys: list[int]) -> int:
    """Enter ``entry`` in the table; its key is also added to ``keys`` (its store's)."""
    key = next(_host_keys)
    _host_refs[key] = weakref.ref(entry)
    keys.append(key)
    return key


def _forget_hosts(keys: list[int]) -> None:
    """Remove a freed store's keys from the table (never raises)."""
    try:
        pop = _host_refs.pop
        for key in keys:
            pop(key, None)
        keys.clear()
    except BaseException:
        pass


def _trap_ptr(message: str) -> int:
    data = message.encode("utf-8", "replace")
    try:
        return int(_trap_new(data, ctypes.c_size_t(len(data))))
    except BaseException:
        return int(_trap_new(b"host function failed", ctypes.c_size_t(20)))


def _host_error(entry: _HostEntry, e: BaseException) -> int:
    """The trap for exception ``e`` of ``entry``'s function; ``e`` becomes pending."""
    try:
        entry.store.pending = e
        if isinstance(e, Trap):
            message = e.message
        else:
            fn = entry.fn
            name = getattr(fn, "__qualname__", None) or type(fn).__name__
            message = f"host function {name} raised {type(e).__name__}: {e}"
    except BaseException:
        message = "host function raised an exception"
    return _trap_ptr(message)


def _host_gone(env: int) -> int:
    return _trap_ptr(STORE_GONE_MESSAGE)


_VIEW_CACHE_MAX = 256  # slot arrays seen (one per wasm stack depth that calls a host)


def _host_source(ty: CoreFuncType) -> str:
    """Python source of the shared host callback of ``ty``.

    The callback finds its :class:`_HostEntry` by ``env``, reads the arguments
    from the ``wasmtime_val_raw_t`` array, calls ``fn``, writes the results
    back and returns 0; any exception becomes a trap pointer through
    ``on_error`` and never escapes. ``depth[0]`` counts the Python host frames
    on the running stack while ``fn`` runs: one more than on entry, and back to
    its value on entry when ``fn`` returns (frames nest, and whatever ``fn``
    runs puts back what it changed), so it is restored rather than decremented.

    The array sits at the same address for every call from one place (a guest
    loop calling a built-in), so the object read through is kept per address:
    for all-``i32`` types an ``'I'`` memoryview (indexed directly, no tuple),
    otherwise a ctypes array for ``struct``.
    """
    n = len(ty.results)
    nparams = len(ty.params)
    fast = all(t == "i32" for t in (*ty.params, *ty.results))
    # The two look-ups subscript their dicts (a miss is the exception): no call of
    # ``dict.get`` per guest call.
    lines = [
        "def callback(env, caller, args, nargs):",
        "    try:",
        "        e = refs[env]()",
        "    except KeyError:",
        "        return gone(env)",
        "    if e is None:",
        "        return gone(env)",
        "    depth = e.depth",
        "    d = depth[0]",
        "    depth[0] = d + 1",
        "    try:",
    ]
    if nparams or n:
        lines += [
            "        try:",
            "            b = kept[args]",
            "        except KeyError:",
            "            b = keep(args)",
        ]
    if fast:
        call = f"e.fn({', '.join(f'b[{4 * i}]' for i in range(nparams))})"
    else:
        call = "e.fn(*unpack(b, 0))" if nparams else "e.fn()"
    lines.append(f"        r = {call}")
    if n == 0:
        lines += [
            "        if r is not None:",
            "            raise TypeError(f'host function returned {r!r}, expected None')",
        ]
    elif fast and n == 1:
        lines.append(f"        b[0] = r & {_M32:#x}")
    else:
        names = ["r"] if n == 1 else [f"r{i}" for i in range(n)]
        if n > 1:
            lines.append(f"        {', '.join(names)} = r")
        if fast:
            lines += [f"        b[{4 * i}] = {nm} & {_M32:#x}" for i, nm in enumerate(names)]
        else:
            packed = []
            for name, t in zip(names, ty.results, strict=True):
                mask = _SLOT[t][2]
                packed.append(f"{name} & {mask:#x}" if mask is not None else name)
            lines.append(f"        pack(b, 0, {', '.join(packed)})")
    lines += [
        "        return 0",
        "    except BaseException as exc:",
        "        return on_error(e, exc)",
        "    finally:",
        "        depth[0] = d",
    ]
    return "\n".join(lines)


_host_callbacks: dict[CoreFuncType, Any] = {}


def _host_callback(ty: CoreFuncType) -> Any:
    """The shared ``_HostCallback`` of ``ty`` (made once, kept for the process)."""
    c = _host_callbacks.get(ty)
    if c is None:
        sig = _signature(ty)
        fast = all(t == "i32" for t in (*ty.params, *ty.results))
        from_address = sig.buf_type.from_address
        kept: dict[int, Any] = {}

        def keep(address: int) -> Any:
            if len(kept) >= _VIEW_CACHE_MAX:
                kept.clear()
            b: Any = from_address(address)
            if fast:
                b = memoryview(b).cast("B").cast("I")
            kept[address] = b
            return b

        namespace: dict[str, Any] = {
            "refs": _host_refs,
            "gone": _host_gone,
            "on_error": _host_error,
            "kept": kept,
            "keep": keep,
            "unpack": sig.params_struct.unpack_from,
            "pack": sig.results_struct.pack_into,
        }
        exec(_host_source(ty), namespace)
        c = _host_callbacks[ty] = _HostCallback(namespace["callback"])
    return c


# --- fibers: async calls and async host functions --------------------------------------

_KIND = {"i32": 0, "i64": 1, "f32": 2, "f64": 3}  # WASMTIME_I32 ... WASMTIME_F64
_VAL_SIZE = ctypes.sizeof(ffi.wasmtime_val_t)  # 32: kind at offset 0, value at offset 8
_VAL_FMT = {"i32": "I20x", "i64": "Q16x", "f32": "f20x", "f64": "d16x"}


class _ValLayout:
    """``wasmtime_val_t`` array layouts of one core function type (checked calls)."""

    __slots__ = ("nargs", "nresults", "params", "results", "results_out", "ty")

    def __init__(self, ty: CoreFuncType) -> None:
        _signature(ty)  # rejects types that cannot cross
        self.ty = ty
        self.nargs = len(ty.params)
        self.nresults = len(ty.results)
        # params/results as wasmtime writes them (values only; kinds skipped)
        self.params = struct.Struct("<" + "".join("8x" + _VAL_FMT[t] for t in ty.params))
        self.results = struct.Struct("<" + "".join("8x" + _VAL_FMT[t] for t in ty.results))
        # results as a host function writes them (kind byte, then the value)
        self.results_out = struct.Struct("<" + "".join("B7x" + _VAL_FMT[t] for t in ty.results))


_val_layouts: dict[CoreFuncType, _ValLayout] = {}


def _val_layout(ty: CoreFuncType) -> _ValLayout:
    layout = _val_layouts.get(ty)
    if layout is None:
        layout = _val_layouts[ty] = _ValLayout(ty)
    return layout


def _writer_source(ty: CoreFuncType, name: str) -> str:
    """Source of ``name(r, address)``: store host results ``r`` as ``wasmtime_val_t``s."""
    n = len(ty.results)
    lines = [f"def {name}(r, address):"]
    if n == 0:
        lines += [
            "    if r is not None:",
            "        raise TypeError(f'host function returned {r!r}, expected None')",
        ]
        return "\n".join(lines)
    names = ["r"] if n == 1 else [f"r{i}" for i in range(n)]
    if n > 1:
        lines.append(f"    {', '.join(names)} = r")
    packed = []
    for nm, t in zip(names, ty.results, strict=True):
        mask = _SLOT[t][2]
        packed.append(f"{_KIND[t]}, {nm} & {mask:#x}" if mask is not None else f"{_KIND[t]}, {nm}")
    lines.append(f"    pack(from_address(address), 0, {', '.join(packed)})")
    return "\n".join(lines)


_writers: dict[CoreFuncType, Callable[[Any, int], None]] = {}


def _results_writer(ty: CoreFuncType) -> Callable[[Any, int], None]:
    writer = _writers.get(ty)
    if writer is None:
        layout = _val_layout(ty)
        namespace: dict[str, Any] = {
            "pack": layout.results_out.pack_into,
            "from_address": (ctypes.c_char * max(_VAL_SIZE * layout.nresults, 1)).from_address,
        }
        exec(_writer_source(ty, "write"), namespace)
        writer = _writers[ty] = namespace["write"]
    return writer
