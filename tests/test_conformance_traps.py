"""Trap wording as Wasmtime's (issue 15, item 14), where users search for its words.

Covered here: a core exception reaching the boundary between two components
(tests/guests/conformance_exceptions.wat). The other messages changed to
Wasmtime's are checked where their conditions are tested:
"cannot resume thread which is not suspended" (test_async_threads.py),
"stream read/write count too large" (test_safety.py), "string pointer not
aligned to 2" (test_conformance_strings.py). A stream read or write after
the other end dropped keeps the words the spec's tests check ("cannot read
from stream after ..."), which differ from Wasmtime's.
"""

from __future__ import annotations

import pytest
from guest_util import component

from wasmloom import Instance, Linker, Store, Trap


def instance() -> tuple[Store[None], Instance]:
    store: Store[None] = Store()
    return store, Linker().instantiate(store, component("conformance_exceptions"))


def test_an_exception_is_a_trap_at_the_component_boundary() -> None:
    """The caller's catch_all never sees it (it would trap `unreachable`)."""
    store, inst = instance()
    f = inst.get_func("call-throw")
    assert f is not None
    with pytest.raises(Trap, match=r"^uncaught exception propagated out of component"):
        f(store)


def test_an_exception_out_of_a_host_call_keeps_wasmtimes_core_words() -> None:
    store, inst = instance()
    f = inst.get_func("throw")
    assert f is not None
    with pytest.raises(Trap, match=r"^thrown Wasm exception"):
        f(store)
