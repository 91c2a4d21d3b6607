"""``link_wasi`` links (and imports) only the WASI packages a component imports.

A command of wasi:cli alone must not load the filesystem, sockets or http hosts or
their bindings (checked in a fresh interpreter's ``sys.modules``); a component
that imports wasi:http still gets it; with no component known, everything links.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from wasmloom import Component, Linker
from wasmloom.wasi import imported_interfaces, interface_of, p2
from wasmloom.wasi.run import link_wasi, missing_imports

ROOT = Path(__file__).resolve().parents[1]
HELLO = ROOT / "tests" / "guests" / "wasi_p3_hello.wat"
CLI_EXIT = Path("/tmp/wts/ts/tests/rust/testsuite/wasm32-wasip3/cli-exit.wasm")
HEAVY = ("filesystem", "sockets", "http")

# A WASI 0.2 command: `run` calls wasi:cli/exit with `err`, so the status is 1.
P2_EXIT_WAT = """(component
  (import "wasi:cli/exit@0.2.4" (instance $exit
    (export "exit" (func (param "status" (result))))))
  (core func $exit (canon lower (func $exit "exit")))
  (core module $m
    (import "" "exit" (func $exit (param i32)))
    (func (export "run") (result i32) (call $exit (i32.const 1)) unreachable))
  (core instance $i (instantiate $m (with "" (instance (export "exit" (func $exit))))))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $ri (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $ri)))
"""

# A WASI 0.3 command that makes a wasi:http `fields` and asks it for "x-a": `ok` (status
# 0) when the answer is false, as it is for empty fields.
P3_HTTP_WAT = """(component
  (import "wasi:http/types@0.3.0" (instance $http
    (export "fields" (type $f (sub resource)))
    (export "[constructor]fields" (func (result (own $f))))
    (export "[method]fields.has" (func (param "self" (borrow $f)) (param "name" string)
      (result bool)))))
  (alias export $http "fields" (type $fields))
  (core module $mem (memory (export "mem") 1))
  (core instance $mi (instantiate $mem))
  (alias core export $mi "mem" (core memory $memory))
  (core func $new (canon lower (func $http "[constructor]fields")))
  (core func $has (canon lower (func $http "[method]fields.has") (memory $memory)))
  (core func $drop (canon resource.drop $fields))
  (core module $m
    (import "" "mem" (memory 1))
    (import "" "new" (func $new (result i32)))
    (import "" "has" (func $has (param i32 i32 i32) (result i32)))
    (import "" "drop" (func $drop (param i32)))
    (data (i32.const 16) "x-a")
    (func (export "run") (result i32)
      (local $h i32) (local $r i32)
      (local.set $h (call $new))
      (local.set $r (call $has (local.get $h) (i32.const 16) (i32.const 3)))
      (call $drop (local.get $h))
      (local.get $r)))
  (core instance $i (instantiate $m (with "" (instance
    (export "mem" (memory $memory))
    (export "new" (func $new))
    (export "has" (func $has))
    (export "drop" (func $drop))))))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $ri (export "run" (func $run)))
  (export "wasi:cli/run@0.3.0" (instance $ri)))
"""

# Runs `wasmloom run APP` in this interpreter, then prints its status and the WASI
# modules it loaded.
_PROBE = """
import json, sys
from wasmloom.cli import main
try:
    rc = main(["run", sys.argv[1]])
except SystemExit as e:
    rc = e.code
mods = sorted(m for m in sys.modules if m.startswith("wasmloom.wasi."))
print(json.dumps({"rc": rc, "modules": mods}))
"""


def _probe(app: Path, tmp_path: Path) -> dict[str, Any]:
    env = dict(os.environ, WASMLOOM_CACHE_DIR=str(tmp_path / "cache"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    r = subprocess.run(
        [sys.executable, "-c", _PROBE, str(app)],
        capture_output=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 0, r.stderr.decode()
    out: dict[str, Any] = json.loads(r.stdout.decode().splitlines()[-1])
    return out


def _wasm(tmp_path: Path, name: str, wat: str) -> Path:
    p = tmp_path / name
    p.write_bytes(wasmtime.wat2wasm(wat))
    return p


def _heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if any(h in m for h in HEAVY)]


@pytest.mark.parametrize("case", ["p3-hello", "p2-exit", "cli-exit"])
def test_a_cli_only_command_loads_no_filesystem_sockets_or_http(case: str, tmp_path: Path) -> None:
    if case == "p3-hello":
        app, status = _wasm(tmp_path, "hello.wasm", HELLO.read_text()), 0
    elif case == "p2-exit":
        app, status = _wasm(tmp_path, "exit.wasm", P2_EXIT_WAT), 1
    else:
        if not CLI_EXIT.exists():
            pytest.skip("wasi-testsuite is not checked out at /tmp/wts")
        app, status = CLI_EXIT, 1  # it calls exit(err)
    got = _probe(app, tmp_path)
    assert got["rc"] == status
    assert _heavy(got["modules"]) == []
    # the filesystem sandbox only with a file: a 0.2 command has the streams host,
    # which loads it when a file stream is made or a stream fails
    assert "wasmloom.wasi.sandbox" not in got["modules"]
    if case != "p3-hello":
        assert "wasmloom.wasi.p2.io" in got["modules"]
    # the generated world modules are there, their interface modules only as used
    if case != "p3-hello":
        assert "wasmloom.wasi.p2.bindings.wasi_cli_exit" in got["modules"]
        # nor the interfaces of packages it does import but not these ones
        assert "wasmloom.wasi.p2.bindings.wasi_random_random" not in got["modules"]


def test_a_command_that_imports_wasi_http_gets_it(tmp_path: Path) -> None:
    got = _probe(_wasm(tmp_path, "http.wasm", P3_HTTP_WAT), tmp_path)
    assert got["rc"] == 0  # fields.has("x-a") on new fields answered false
    assert "wasmloom.wasi.p3.http.host" in got["modules"]
    assert not any("sockets" in m or "filesystem" in m for m in got["modules"])


def test_imported_interfaces_by_version() -> None:
    names = [
        "wasi:cli/exit@0.3.0",
        "wasi:http/types@0.3.0-rc-2025-09-16",
        "wasi:io/streams@0.2.4",
        "wasi:cli/stdout@0.2.4",
        "wasi:cli/stdin@1.2.0",
        "local:app/thing",
        "plain",
    ]
    assert imported_interfaces(names, "0.3.") == {"wasi:cli/exit", "wasi:http/types"}
    assert imported_interfaces(names, "0.2.") == {"wasi:io/streams", "wasi:cli/stdout"}
    assert imported_interfaces([], "0.2.") == set()
    assert interface_of("wasi_sockets_ip_name_lookup") == "wasi:sockets/ip-name-lookup"


def _defined(linker: Linker) -> dict[str, list[str]]:
    root = linker.root()
    return {
        name: sorted(getattr(item, "_defs", {}))
        for name, item in root._defs.items()  # what the linker holds
    }


def test_every_0_2_interface_named_links_the_whole_world() -> None:
    """The per-interface path of ``p2.add_to_linker`` covers every interface of the world."""
    whole, parts = Linker(), Linker()
    p2.add_to_linker(whole, lambda d: d)
    every = [f"{name}@0.2.4" for name in _defined(whole)]
    p2.add_to_linker(parts, lambda d: d, imports=every)
    assert _defined(parts) == _defined(whole)
    cli = Linker()
    p2.add_to_linker(cli, lambda d: d, imports=["wasi:cli/exit@0.2.0", "wasi:cli/run@0.3.0"])
    assert list(_defined(cli)) == ["wasi:cli/exit@0.2.9"]


def test_every_0_3_interface_named_links_what_the_whole_set_does() -> None:
    from wasmloom.wasi.p3.host import add_to_linker

    whole, parts = Linker(), Linker()
    add_to_linker(whole, lambda d: d)
    every = [n.replace("@0.3.0", "@0.3.1") for n in _defined(whole)]
    add_to_linker(parts, lambda d: d, imports=every)
    assert _defined(parts) == _defined(whole)
    service, parts = Linker(), Linker()
    add_to_linker(service, lambda d: d, cli=False)
    add_to_linker(parts, lambda d: d, cli=False, imports=every)
    assert _defined(parts) == _defined(service)
    assert "wasi:cli/exit@0.3.0" not in _defined(service)


def test_without_a_component_everything_links() -> None:
    """``link_wasi(linker)`` (as ``serve`` and hosts that link first call it) defines all."""
    linker = Linker()
    assert link_wasi(linker) is True
    names = set(_defined(linker))
    for want in (
        "wasi:http/types@0.3.0",
        "wasi:sockets/types@0.3.0",
        "wasi:filesystem/types@0.3.0",
        "wasi:sockets/tcp@0.2.9",
        "wasi:filesystem/types@0.2.9",
        "wasi:cli/exit@0.3.0",
    ):
        assert want in names, want


def test_lazy_linking_satisfies_what_the_component_imports(tmp_path: Path) -> None:
    comp = Component.from_bytes(wasmtime.wat2wasm(P3_HTTP_WAT))
    linker = Linker()
    assert link_wasi(linker, comp.import_names()) is False  # no 0.2 import
    assert missing_imports(linker, comp) == []
    assert "wasi:filesystem/types@0.3.0" not in _defined(linker)
