"""The bare C entry points of wasmtime's C API that wasmloom calls through ctypes.

A private CDLL handle, so these function objects carry no argtypes (wasmtime-py's
carry them, and converting arguments through argtypes costs more than the call).
Arguments are ctypes objects, ints that fit in a C int, or, on the paths taken
per call, prebuilt C argument objects (:func:`_word`, ``ctypes.byref``), which
ctypes passes on as they are; results are declared explicitly.
"""

from __future__ import annotations

import ctypes
from typing import Any

from wasmtime import _ffi as ffi

# --- bare C entry points ---------------------------------------------------------------

_lib = ctypes.CDLL(ffi.dll._name)
# The calls that return at once and run no guest code go through a PyDLL handle, which
# keeps the GIL over the call (through a CDLL handle ctypes drops and re-takes it).
_lib_held = ctypes.PyDLL(ffi.dll._name)

_call_unchecked = _lib.wasmtime_func_call_unchecked
_call_unchecked.restype = ctypes.c_void_p
_func_new_unchecked = _lib_held.wasmtime_func_new_unchecked
_func_new_unchecked.restype = None
_trap_new = _lib_held.wasmtime_trap_new
_trap_new.restype = ctypes.c_void_p
_memory_data_size = _lib_held.wasmtime_memory_data_size
_memory_data_size.restype = ctypes.c_size_t
_memory_data = _lib_held.wasmtime_memory_data
_memory_data.restype = ctypes.c_void_p
_memory_size = _lib_held.wasmtime_memory_size
_memory_size.restype = ctypes.c_uint64
# Only makes the call's future: its guest code runs when the future is polled.
_func_call_async = _lib_held.wasmtime_func_call_async
_func_call_async.restype = ctypes.c_void_p
_future_poll = _lib.wasmtime_call_future_poll
_future_poll.restype = ctypes.c_bool
_future_delete = _lib_held.wasmtime_call_future_delete
_future_delete.restype = None
_linker_new = _lib_held.wasmtime_linker_new
_linker_new.restype = ctypes.c_void_p
_linker_delete = _lib_held.wasmtime_linker_delete
_linker_delete.restype = None
_linker_define = _lib_held.wasmtime_linker_define
_linker_define.restype = ctypes.c_void_p
_linker_define_async_func = _lib_held.wasmtime_linker_define_async_func
_linker_define_async_func.restype = ctypes.c_void_p
_linker_instantiate_async = _lib.wasmtime_linker_instantiate_async
_linker_instantiate_async.restype = ctypes.c_void_p
_instance_new = _lib.wasmtime_instance_new
_instance_new.restype = ctypes.c_void_p
_export_get = _lib_held.wasmtime_instance_export_get
_export_get.restype = ctypes.c_bool
_increment_epoch = _lib_held.wasmtime_engine_increment_epoch
_increment_epoch.restype = None
_set_epoch_deadline = _lib_held.wasmtime_context_set_epoch_deadline
_set_epoch_deadline.restype = None
_epoch_deadline_callback = _lib_held.wasmtime_store_epoch_deadline_callback
_epoch_deadline_callback.restype = None
_store_new = _lib_held.wasmtime_store_new
_store_new.restype = ctypes.POINTER(ffi.wasmtime_store_t)
_store_context = _lib_held.wasmtime_store_context
_store_context.restype = ctypes.POINTER(ffi.wasmtime_context_t)
_store_delete = _lib.wasmtime_store_delete
_store_delete.restype = None
_error_new = _lib_held.wasmtime_error_new
_error_new.restype = ctypes.c_void_p
_check_signals = ctypes.pythonapi.PyErr_CheckSignals
_check_signals.restype = ctypes.c_int
_memmove = ctypes.memmove

_HostCallback = ctypes.CFUNCTYPE(
    ctypes.c_size_t, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_size_t
)
# wasmtime_func_async_callback_t: (env, caller, args, nargs, results, nresults, trap_ret,
# continuation); every pointer is taken as an address.
_AsyncCallback = ctypes.CFUNCTYPE(None, *([ctypes.c_size_t] * 8))
# wasmtime_func_async_continuation_callback_t and the continuation's finalizer.
_ContinuationCallback = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_size_t)
_ContinuationFinalizer = ctypes.CFUNCTYPE(None, ctypes.c_size_t)

_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF


# The base of every _word: a zero-length view at address 0, never read or written.
_ADDRESS_ZERO = (ctypes.c_char * 0).from_address(0)


def _word(value: int) -> Any:
    """A reusable C argument that passes the machine word ``value`` (an address or a
    ``size_t``, 0 <= value < 2**63) to a function of this module.

    It is ``ctypes.byref(_ADDRESS_ZERO, value)``: ctypes passes such an argument
    on as it is, where a ``c_void_p`` or ``c_size_t`` argument is converted anew
    on every call. Pointers and ``size_t`` are passed alike on the 64-bit
    platforms wasmtime supports (x86_64, aarch64), whose addresses are below
    2**63.
    """
    return ctypes.byref(_ADDRESS_ZERO, value)
