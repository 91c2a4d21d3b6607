"""Behaviours that suites kept outside the project found wrong (issue 15), with
Wasmtime as the reference, each shown on a WAT guest of tests/guests/conformance_*.wat.
"""

from __future__ import annotations

import pytest
from guest_util import component

from wasmloom import Linker, Store, Trap

# --- task.return must use the options of the lift it returns for ------------------------------

TASK_RETURN_INVALID = "invalid `task.return` signature and/or options for current task"


@pytest.mark.parametrize(
    ("name", "args", "result"),
    [
        ("same-memory-ok", (), "ok"),
        # the same memory, aliased from an instance that passes it on under its own export
        ("passed-memory-ok", (), "ok"),
        # the lift has a memory for its parameter; task.return's result needs none
        ("no-memory-ok", ("héllo",), 6),
        ("utf16-ok", (), "ok"),
    ],
)
def test_task_return_with_the_lifts_options_returns(
    name: str, args: tuple[str], result: object
) -> None:
    store: Store[None] = Store()
    inst = Linker().instantiate(store, component("conformance_task_return"))
    f = inst.get_func(name)
    assert f is not None
    assert f(store, *args) == result
    assert f(store, *args) == result


@pytest.mark.parametrize(
    "name",
    [
        "other-memory",
        "memory-not-lifted",
        "string-encoding",
        "string-encoding-u32",
        "utf16-lift-utf8-return",
    ],
)
def test_task_return_with_other_options_traps(name: str) -> None:
    store: Store[None] = Store()
    inst = Linker().instantiate(store, component("conformance_task_return"))
    f = inst.get_func(name)
    assert f is not None
    with pytest.raises(Trap, match=f"^{TASK_RETURN_INVALID}"):
        f(store)
    assert inst.poisoned


# --- backpressure counter -------------------------------------------------------------------


def test_backpressure_counter_range_and_overflow() -> None:
    """2^16-1 increments and as many decrements pass; one more either way traps
    "backpressure counter overflow", Wasmtime's words for both directions."""
    store: Store[None] = Store()
    inst = Linker().instantiate(store, component("async_traps"))
    f = inst.get_func("backpressure-max")
    assert f is not None
    assert f(store) == 0xFFFF
    assert f(store) == 0xFFFF
    for name in ("backpressure-overflow", "backpressure-underflow"):
        store = Store()
        inst = Linker().instantiate(store, component("async_traps"))
        g = inst.get_func(name)
        assert g is not None
        with pytest.raises(Trap, match=r"^backpressure counter overflow"):
            g(store)
