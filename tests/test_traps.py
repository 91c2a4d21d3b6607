"""Traps and their messages, against tests/guests/traps.wat; load errors of bad binaries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from guest_util import component

from wasmloom import Component, DecodeError, Linker, Store, Trap, ValidationError


class HostError(Exception):
    pass


class Env:
    def __init__(self) -> None:
        self.pings = 0
        self.on_call: Callable[[], Any] = lambda: None
        linker = Linker()
        linker.root().func_wrap("host-ping", self.ping)
        linker.root().func_wrap("host-call", lambda: self.on_call())
        self.linker = linker
        self.store: Store[None] = Store()
        self.inst = linker.instantiate(self.store, component("traps"))

    def ping(self) -> None:
        self.pings += 1

    def __call__(self, name: str, *args: Any) -> Any:
        f = self.inst.get_func(name)
        assert f is not None, name
        return f(self.store, *args)


@pytest.fixture
def env() -> Env:
    return Env()


def test_unreachable_names_the_export(env: Env) -> None:
    with pytest.raises(Trap, match="unreachable") as e:
        env("boom")
    assert e.value.func == "boom" and "boom" in str(e.value)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bad-char", "invalid `char` bit pattern"),
        ("big-char", "invalid `char` bit pattern"),
        ("bad-utf8", "invalid utf-8"),
        ("bad-enum", "discriminant"),
        ("bad-option", "discriminant"),
        ("oob-string", "out of bounds"),
        ("oob-result", "out of bounds"),
        ("misaligned-result", "unaligned pointer"),
    ],
)
def test_invalid_values_lifted_from_the_guest(env: Env, name: str, message: str) -> None:
    with pytest.raises(Trap, match=message) as e:
        env(name)
    assert e.value.func == name


def test_empty_string_at_the_end_of_memory_is_in_bounds(env: Env) -> None:
    assert env("empty-at-end") == ""


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("take-misaligned", "realloc return: result not aligned"),
        ("take-oob", "realloc return: beyond end of memory"),
        ("take-trap", "unreachable"),
    ],
)
def test_realloc_misbehaviour(env: Env, name: str, message: str) -> None:
    assert env("take-ok", [1, 2, 3]) is None
    with pytest.raises(Trap, match=message):
        env(name, [1, 2, 3])


def test_realloc_is_checked_for_empty_lists_too(env: Env) -> None:
    # definitions.py's store_list_into_range calls realloc(0, 0, align, 0) and checks it
    with pytest.raises(Trap, match="realloc return: result not aligned"):
        env("take-misaligned", [])


def test_import_called_from_realloc_cannot_leave(env: Env) -> None:
    with pytest.raises(Trap, match="cannot leave component instance"):
        env("take-leave", [1])
    assert env.pings == 0


def test_import_called_from_post_return_cannot_leave(env: Env) -> None:
    with pytest.raises(Trap, match="cannot leave component instance"):
        env("give-with-post-return")
    assert env.pings == 0


def test_reentering_the_instance_from_a_host_call_traps(env: Env) -> None:
    env.on_call = lambda: env("boom")
    with pytest.raises(Trap, match="cannot enter component instance"):
        env("call-host")
    env.on_call = lambda: env("take-ok", [1])
    with pytest.raises(Trap, match="cannot enter component instance"):
        env("call-host")


def test_host_exception_propagates_unchanged(env: Env) -> None:
    err = HostError("from the host")

    def fail() -> None:
        raise err

    env.on_call = fail
    with pytest.raises(HostError) as e:
        env("call-host")
    assert e.value is err


def test_store_is_usable_after_a_trap(env: Env) -> None:
    with pytest.raises(Trap):
        env("boom")
    env.on_call = lambda: None
    fresh = env.linker.instantiate(env.store, component("traps"))
    f = fresh.get_func("take-ok")
    assert f is not None and f(env.store, [7]) is None
    assert fresh.get_func("empty-at-end")(env.store) == ""  # type: ignore[misc]


# --- bad binaries -------------------------------------------------------------------------


def test_malformed_binary_is_a_decode_error_with_an_offset() -> None:
    with pytest.raises(DecodeError) as e:
        Component.from_bytes(b"\0asm\x0d\x00\x01\x00\x07\xff")
    assert isinstance(e.value.offset, int) and e.value.offset > 0
    assert "offset" in str(e.value)


def test_not_wasm_at_all_is_a_decode_error() -> None:
    with pytest.raises(DecodeError) as e:
        Component.from_bytes(b"\xff\xfe\x00garbage")
    assert e.value.offset == 0


def test_invalid_component_is_a_validation_error() -> None:
    wat = """(component
      (core module $m (func (export "f") (result i32) (i32.const 0)))
      (core instance $i (instantiate $m))
      (func (export "f") (result string) (canon lift (core func $i "f")))
    )"""
    with pytest.raises(ValidationError, match="memory"):
        Component.from_bytes(wat)


def test_core_module_is_not_a_component() -> None:
    with pytest.raises(ValidationError, match="core module"):
        Component.from_bytes("(module)")


def test_a_wasm_trap_carries_the_guest_backtrace() -> None:
    wat = """(component
      (core module $m
        (func $innermost unreachable)
        (func $middle (call $innermost))
        (func (export "go") (call $middle)))
      (core instance $i (instantiate $m))
      (func (export "go") (canon lift (core func $i "go"))))"""
    store: Store[None] = Store()
    inst = Linker().instantiate(store, Component.from_bytes(wat))
    go = inst.get_func("go")
    assert go is not None
    assert not inst.poisoned
    with pytest.raises(Trap) as info:
        go(store)
    assert inst.poisoned  # a trap poisons the instance: it may not be entered again
    bt = info.value.backtrace
    assert [f.split("!")[1] for f in bt[:2]] == ["innermost", "middle"], bt
    assert all(f.startswith("0x") for f in bt)


def test_a_host_trap_has_no_wasm_backtrace(env: Env) -> None:
    env.on_call = lambda: (_ for _ in ()).throw(Trap("no"))
    with pytest.raises(Trap) as info:
        env("call-host")
    assert info.value.backtrace == ()
