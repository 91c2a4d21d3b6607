"""WASI 0.1 (``wasi_snapshot_preview1``) for core modules: wasmtime's own implementation.

wasmloom implements WASI 0.2 and 0.3 itself, for components. For WASI 0.1
core modules it uses the implementation wasmtime embeds (complete, and
sandboxed by cap-std), and this module is the only place that touches it:
``wasmtime.WasiConfig``, ``wasmtime.Linker.define_wasi`` and the custom
stdio callbacks of its C API.

- :class:`WasiP1Config`: arguments, environment, preopened directories
  (read-only ones included), stdio and network switches, as plain data.
- :func:`missing_imports`: the imports of a module that WASI 0.1 does not
  provide, as ``module::name``.
- :func:`instantiate` links WASI 0.1 (optionally stubbing unknown imports
  with functions that trap) and instantiates a :class:`CoreModule` in a
  :class:`CoreStore`, whose limits, fuel, deadline and interrupt apply as for
  any guest. The result is a :class:`WasiP1Instance`, whose
  :meth:`~WasiP1Instance.call` runs one export with numbers.

How a call ends: normally (its results), :class:`WasiP1Exit` for
``proc_exit`` (its ``code``), :class:`~wasmloom.Trap` for a trap (fuel, the
deadline and :meth:`CoreStore.interrupt` included), a plain
:class:`~wasmloom.WasmloomError` for any other error wasmtime reports (such
as ``proc_exit`` with a status outside ``0..126``, which Wasmtime's CLI
reports as an error, exit status 1). A Python exception raised while the
guest ran (by a stdio callback, or a signal handler at an epoch tick) is
re-raised instead.
"""

from __future__ import annotations

import ctypes
import enum
import errno
import itertools
import math
import os
import struct
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

from wasmloom.core.capi import _lib
from wasmloom.core.engine import CoreModule
from wasmloom.core.store import INTERRUPTED_MESSAGE, CoreStore
from wasmloom.core.traps import _backtrace, _cause, _instantiation_error
from wasmloom.errors import LinkError, Trap, WasmloomError
from wasmloom.types import CoreFuncType

__all__ = [
    "INHERIT",
    "Inherit",
    "Number",
    "OutputSink",
    "WasiP1Config",
    "WasiP1Exit",
    "WasiP1Instance",
    "instantiate",
    "missing_imports",
]

Number = int | float


class Inherit(enum.Enum):
    """The stdio stream of the host process itself."""

    INHERIT = "inherit"


INHERIT = Inherit.INHERIT

#: Receives each chunk the guest writes; an exception fails that write (EIO) and is
#: re-raised by the call once the guest returns.
OutputSink = Callable[[bytes], object]


@dataclass
class WasiP1Config:
    """What a WASI 0.1 guest is given.

    ``args``: its argv (``args[0]`` is the program name); ``env``: its
    environment, in order; ``preopens``: ``(host_dir, guest_path, readonly)``
    (a read-only preopen refuses every write, create, rename and removal
    under it). Stdio: ``stdin`` is :data:`INHERIT` (the host's), ``bytes``
    (read from memory), a path (opened for reading), or ``None`` (empty);
    ``stdout`` and ``stderr`` are :data:`INHERIT`, a path (created or
    truncated), an :data:`OutputSink`, or ``None`` (discarded).
    ``inherit_network``: WASI 0.1 socket calls may use the host's network;
    ``allow_ip_name_lookup`` likewise for name lookups.
    """

    args: list[str] = field(default_factory=list)
    env: list[tuple[str, str]] = field(default_factory=list)
    preopens: list[tuple[str, str, bool]] = field(default_factory=list)
    stdin: Inherit | bytes | str | os.PathLike[str] | None = None
    stdout: Inherit | str | os.PathLike[str] | OutputSink | None = None
    stderr: Inherit | str | os.PathLike[str] | OutputSink | None = None
    inherit_network: bool = False
    allow_ip_name_lookup: bool = False


class WasiP1Exit(WasmloomError):
    """The guest called ``proc_exit``; ``code`` is its exit status."""

    def __init__(self, code: int) -> None:
        super().__init__(f"guest exited with status {code}")
        self.code = code


# --- stdio callbacks -------------------------------------------------------------------

# Each custom output of a live WASI context -> (sink, its store, weakly): the C callback
# finds its sink by the key wasmtime hands back. No finalizer is given to wasmtime:
# it would run on one of wasmtime's worker threads when the context is freed, which
# may be during interpreter shutdown (a Python callback then aborts the process), so
# entries go when their store is collected instead.
_sinks: dict[int, tuple[OutputSink, weakref.ref[CoreStore]]] = {}
_sink_keys = itertools.count(1)

_OutputCallback = ctypes.CFUNCTYPE(
    ctypes.c_ssize_t, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_size_t
)


def _on_output(key: int, data: int, size: int) -> int:
    """A write to a custom stdout/stderr (on a wasmtime worker thread, while the guest
    waits for it); never raises (ctypes callbacks must not)."""
    try:
        entry = _sinks.get(key)
        if entry is None:
            return -errno.EBADF
        sink, ref = entry
        try:
            sink(ctypes.string_at(data, size) if size else b"")
        except BaseException as e:
            store = ref()
            if store is not None and store.pending is None:
                store.pending = e
            return -errno.EIO
        return size
    except BaseException:
        return -errno.EIO


_OUTPUT_CB = _OutputCallback(_on_output)
_set_stdout_custom = _lib.wasi_config_set_stdout_custom
_set_stdout_custom.restype = None
_set_stderr_custom = _lib.wasi_config_set_stderr_custom
_set_stderr_custom.restype = None


def _is_c_string(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\0" not in text


def _path(p: str | os.PathLike[str]) -> str:
    return os.fsdecode(os.fspath(p))


def _set_output(
    config: wasmtime.WasiConfig,
    store: CoreStore,
    spec: Inherit | str | os.PathLike[str] | OutputSink | None,
    name: str,
) -> None:
    if spec is None:
        return  # wasmtime's default: written bytes are discarded
    if spec is INHERIT:
        getattr(config, f"inherit_{name}")()
    elif isinstance(spec, (str, os.PathLike)):
        try:
            setattr(config, f"{name}_file", _path(spec))
        except wasmtime.WasmtimeError:
            raise OSError(errno.ENOENT, f"cannot open {name} file", _path(spec)) from None
    elif callable(spec):
        key = next(_sink_keys)
        _sinks[key] = (spec, weakref.ref(store))
        weakref.finalize(store, _sinks.pop, key, None)
        setter = _set_stdout_custom if name == "stdout" else _set_stderr_custom
        setter(
            ctypes.c_void_p(ctypes.cast(config.ptr(), ctypes.c_void_p).value),
            _OUTPUT_CB,
            ctypes.c_void_p(key),
            None,
        )
    else:
        raise TypeError(f"{name}: expected INHERIT, a path, a callable or None, not {spec!r}")


def _wasi_config(cfg: WasiP1Config, store: CoreStore) -> wasmtime.WasiConfig:
    """A ``wasmtime.WasiConfig`` for ``cfg``. Raises ``OSError`` for a preopen or stdio
    file that cannot be opened."""
    config = wasmtime.WasiConfig()
    for text in (*cfg.args, *(kv for pair in cfg.env for kv in pair)):
        if not _is_c_string(text):
            raise ValueError(f"not valid UTF-8 without NUL, as WASI needs: {text!r}")
    config.argv = list(cfg.args)
    config.env = [(k, v) for k, v in cfg.env]
    for host, guest, readonly in cfg.preopens:
        if not os.path.isdir(host):
            code = errno.ENOTDIR if os.path.exists(host) else errno.ENOENT
            raise OSError(code, os.strerror(code), host)
        try:
            config.preopen_dir(host, guest, not readonly)
        except wasmtime.WasmtimeError:
            raise OSError(errno.EACCES, "cannot preopen directory", host) from None
    stdin = cfg.stdin
    if stdin is INHERIT:
        config.inherit_stdin()
    elif isinstance(stdin, (bytes, bytearray, memoryview)):
        data = bytes(stdin)
        vec = ffi.wasm_byte_vec_t()
        buf = (ctypes.c_ubyte * max(len(data), 1)).from_buffer_copy(data or b"\0")
        ffi.wasm_byte_vec_new(ctypes.byref(vec), len(data), buf)
        ffi.wasi_config_set_stdin_bytes(config.ptr(), ctypes.byref(vec))
    elif isinstance(stdin, (str, os.PathLike)):
        try:
            config.stdin_file = _path(stdin)
        except wasmtime.WasmtimeError:
            raise OSError(errno.ENOENT, "cannot open stdin file", _path(stdin)) from None
    elif stdin is not None:
        raise TypeError(f"stdin: expected INHERIT, bytes, a path or None, not {stdin!r}")
    _set_output(config, store, cfg.stdout, "stdout")
    _set_output(config, store, cfg.stderr, "stderr")
    if cfg.inherit_network:
        ffi.wasi_config_inherit_network(config.ptr())
    if cfg.allow_ip_name_lookup:
        ffi.wasi_config_allow_ip_name_lookup(config.ptr(), True)
    return config


# --- linking ---------------------------------------------------------------------------


def _wasi_linker(engine: wasmtime.Engine) -> wasmtime.Linker:
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    return linker


def _missing(linker: wasmtime.Linker, store: wasmtime.Store, module: CoreModule) -> list[str]:
    out: list[str] = []
    for mod_name, name, _desc in module.imports:
        try:
            linker.get(store, mod_name, name)
        except wasmtime.WasmtimeError:
            label = f"{mod_name}::{name}"
            if label not in out:
                out.append(label)
    return out


def missing_imports(module: CoreModule) -> list[str]:
    """The imports of ``module`` (``module::name``, in order) that WASI 0.1 does not define.

    (A defined import of the wrong type is reported by :func:`instantiate`.)
    """
    engine = module.engine.wasmtime
    return _missing(_wasi_linker(engine), wasmtime.Store(engine), module)


#: The stores given a WASI 0.1 context (wasmtime takes one per store).
_wasip1_stores: weakref.WeakSet[CoreStore] = weakref.WeakSet()


def instantiate(
    store: CoreStore,
    module: CoreModule,
    config: WasiP1Config,
    *,
    trap_unknown_imports: bool = False,
) -> WasiP1Instance:
    """Instantiate ``module`` in ``store`` with WASI 0.1 configured by ``config``.

    A store takes one WASI 0.1 context: use a fresh store per program.
    ``trap_unknown_imports`` satisfies imports WASI 0.1 lacks with functions
    that trap when called; without it such imports raise :class:`LinkError`
    naming each of them. A start function's ``proc_exit`` raises
    :class:`WasiP1Exit`, its trap :class:`~wasmloom.Trap`. Raises
    ``OSError`` for a preopened directory or stdio file that cannot be opened.
    """
    if module.engine is not store.engine:
        raise LinkError("module was compiled for a different engine than the store's")
    if store in _wasip1_stores:
        raise LinkError("this store already has a WASI 0.1 instance: use a fresh store")
    engine = store.engine.wasmtime
    linker = _wasi_linker(engine)
    wstore = store.wasmtime
    if trap_unknown_imports:
        linker.define_unknown_imports_as_traps(module.wasmtime)
    else:
        missing = _missing(linker, wstore, module)
        if missing:
            raise LinkError(
                "the module imports what WASI 0.1 does not provide: " + ", ".join(missing)
            )
    wstore.set_wasi(_wasi_config(config, store))
    _wasip1_stores.add(store)
    raw = _guard(store, lambda: linker.instantiate(wstore, module.wasmtime), link=True)
    return WasiP1Instance(store, module, raw)


# --- calls -----------------------------------------------------------------------------

_NUMERIC = frozenset({"i32", "i64", "f32", "f64"})
_DEADLINE_PREFIX = "deadline of "
_STUB_PREFIX = "unknown import: "


def _guard(store: CoreStore, fn: Callable[[], Any], *, link: bool = False) -> Any:
    """Run ``fn`` (a wasmtime-py call into the guest); map its failure as the module doc says."""
    store.pending = None
    try:
        result = fn()
    except wasmtime.ExitTrap as e:
        exc = store.take_pending()
        if exc is not None:
            raise exc from None
        raise WasiP1Exit(e.code) from None
    except wasmtime.Trap as e:
        exc = store.take_pending()
        if exc is not None:
            raise exc from None
        text = str(e)
        raise Trap(_cause(text), backtrace=_backtrace(text)) from None
    except wasmtime.WasmtimeError as e:
        exc = store.take_pending()
        if exc is not None:
            raise exc from None
        text = str(e)
        message = _cause(text)
        if _is_trap(message):
            raise Trap(message, backtrace=_backtrace(text)) from None
        if link:
            raise _instantiation_error(message) from None
        raise WasmloomError(message) from None
    exc = store.take_pending()
    if exc is not None:
        raise exc
    return result


def _is_trap(message: str) -> bool:
    """Whether an error is one of the store's epoch traps (deadline, interrupt), or the
    call of an import that ``trap_unknown_imports`` stubbed."""
    return (
        message.startswith(_DEADLINE_PREFIX)
        or message.startswith(_STUB_PREFIX)
        or message == INTERRUPTED_MESSAGE
        or message.startswith(f"{INTERRUPTED_MESSAGE} by ")
    )


class WasiP1Instance:
    """A core module instantiated with WASI 0.1 (see :func:`instantiate`)."""

    __slots__ = ("_exports", "_instance", "module", "store")

    def __init__(self, store: CoreStore, module: CoreModule, instance: wasmtime.Instance) -> None:
        self.store = store
        self.module = module
        self._instance = instance
        self._exports: Any = None

    def funcs(self) -> list[str]:
        """The names of the exported functions, in export order."""
        return [name for name, desc in self.module.exports if desc.kind == "func"]

    def func_type(self, name: str) -> CoreFuncType:
        """The type of the exported function ``name`` (:class:`LinkError` if there is none)."""
        desc = self.module.export_types.get(name)
        if desc is None:
            raise LinkError(f"the module has no export `{name}`")
        if desc.kind != "func":
            raise LinkError(f"export `{name}` is a {desc.kind}, not a function")
        ty: CoreFuncType = desc.type
        return ty

    def call(self, name: str, *args: Number) -> tuple[Number, ...]:
        """Call the exported function ``name`` with numbers; returns its results.

        ``i32``/``i64`` take ints (in the signed or unsigned range of their
        width) and come back signed; ``f32``/``f64`` take and give floats. A
        function whose type has other kinds of values raises :class:`LinkError`
        without being called; a wrong number or range of arguments raises
        ``ValueError``. How a call fails: see the module docstring.
        """
        ty = self.func_type(name)
        odd = [t for t in (*ty.params, *ty.results) if t not in _NUMERIC]
        if odd:
            raise LinkError(
                f"`{name}` has type {ty}: only i32, i64, f32 and f64 values can be passed"
            )
        if len(args) != len(ty.params):
            raise ValueError(f"`{name}` takes {len(ty.params)} arguments, {len(args)} given")
        vals = [_to_val(t, a, i) for i, (t, a) in enumerate(zip(ty.params, args, strict=True))]
        exports = self._exports
        if exports is None:
            exports = self._exports = self._instance.exports(self.store.wasmtime)
        func = exports[name]
        result = _guard(self.store, lambda: func(self.store.wasmtime, *vals))
        if result is None:
            return ()
        results = tuple(result) if isinstance(result, list) else (result,)
        return tuple(_from_val(t, v) for t, v in zip(ty.results, results, strict=True))


_RANGES = {"i32": 32, "i64": 64}


def _to_val(ty: str, value: Number, index: int) -> wasmtime.Val:
    if ty in _RANGES:
        bits = _RANGES[ty]
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"argument {index + 1}: expected an integer for {ty}, not {value!r}")
        if not -(1 << (bits - 1)) <= value < (1 << bits):
            raise ValueError(f"argument {index + 1}: {value} is out of range for {ty}")
        signed = value - (1 << bits) if value >= 1 << (bits - 1) else value
        return wasmtime.Val.i32(signed) if ty == "i32" else wasmtime.Val.i64(signed)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"argument {index + 1}: expected a number for {ty}, not {value!r}")
    x = float(value)
    if ty == "f32":
        if math.isfinite(x) and abs(x) > 3.4028234663852886e38:
            raise ValueError(f"argument {index + 1}: {value} is out of range for f32")
        return wasmtime.Val.f32(x)
    return wasmtime.Val.f64(x)


def _from_val(ty: str, value: Any) -> Number:
    if ty in _RANGES:
        bits = _RANGES[ty]
        v = int(value) & ((1 << bits) - 1)
        return v - (1 << bits) if v >> (bits - 1) else v
    x = float(value)
    if ty == "f32":
        x = struct.unpack("<f", struct.pack("<f", x))[0]
    return x
