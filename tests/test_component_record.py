"""A component loaded through its cache record: its modules' bytes are sliced from the
file only when something reads them, and read as they would have been sliced at load."""

from __future__ import annotations

import errno
import os
import pickle
from pathlib import Path

import pytest

from wasmloom import Component, Linker, Store, core, wat2wasm
from wasmloom.host.component import _core_modules
from wasmloom.wasi.cache import DiskCache

# A function returning N + 1, so that components of different N are different files.
GET = """
(component
  (core module $M
    (func (export "get") (result i32) (i32.add (i32.const N) (i32.const 1))))
  (core instance $m (instantiate $M))
  (func (export "incr") (result u32) (canon lift (core func $m "get")))
)
"""


def counter(n: int) -> bytes:
    return wat2wasm(GET.replace("N", str(n)))


def _component(app: Path, cache: Path) -> Component:
    engine = core.Engine()
    engine.disk_cache = DiskCache(cache)
    return Component.from_file(app, engine)


def _incr(comp: Component) -> int:
    store: Store[None] = Store(comp.engine)
    f = Linker().instantiate(store, comp).get_func("incr")
    assert f is not None
    result: int = f(store)
    return result


def test_a_warm_load_slices_no_module_and_its_bytes_read_as_the_files(tmp_path: Path) -> None:
    app, cache = tmp_path / "app.wasm", tmp_path / "cache"
    app.write_bytes(counter(7))
    assert _incr(_component(app, cache)) == 8  # makes the record and the compiled entry
    comp = _component(app, cache)  # through the record
    (module,) = _core_modules(comp.definition.ast)
    assert module._file is not None  # nothing read the module: no slice made
    assert _incr(comp) == 8  # instantiating reads none either
    assert module._file is not None
    fresh = Component.from_bytes(app.read_bytes())
    (decoded,) = _core_modules(fresh.definition.ast)
    assert module.data == decoded.data and module.data.startswith(b"\0asm")
    assert module == decoded and repr(module) == repr(decoded)
    again = pickle.loads(pickle.dumps(comp))
    (copied,) = _core_modules(again.definition.ast)
    assert type(copied.data) is bytes and copied == decoded
    assert _incr(again) == 8


def test_a_module_missing_from_the_disk_cache_compiles_from_the_files_bytes(
    tmp_path: Path,
) -> None:
    app, cache = tmp_path / "app.wasm", tmp_path / "cache"
    app.write_bytes(counter(41))
    assert _incr(_component(app, cache)) == 42
    entries = list(cache.rglob("*.cwasm")) + list(cache.rglob("*.types"))
    assert len(entries) == 2
    for p in entries:
        p.unlink()
    comp = _component(app, cache)  # the record, but neither compiled code nor types
    (module,) = _core_modules(comp.definition.ast)
    assert module._file is None  # compiling and parsing read the bytes
    assert _incr(comp) == 42
    assert len(list(cache.rglob("*.cwasm")) + list(cache.rglob("*.types"))) == 2


def _recorded(tmp_path: Path, n: int) -> tuple[Path, Path]:
    """A counter(n) file and a compile cache holding its record and compiled module."""
    app, cache = tmp_path / "app.wasm", tmp_path / "cache"
    app.write_bytes(counter(n))
    assert _incr(_component(app, cache)) == n + 1
    return app, cache


def test_a_warm_load_keeps_the_file_it_read_when_the_path_is_replaced(tmp_path: Path) -> None:
    app, cache = _recorded(tmp_path, 3)
    comp = _component(app, cache)  # through the record: the module's bytes not read yet
    (module,) = _core_modules(comp.definition.ast)
    assert module._file is not None
    new = tmp_path / "new.wasm"
    new.write_bytes(counter(9))
    os.replace(new, app)  # a rebuild that renames its output into place
    (decoded,) = _core_modules(Component.from_bytes(counter(3)).definition.ast)
    assert module.data == decoded.data  # read from the file that was loaded
    assert _incr(pickle.loads(pickle.dumps(comp))) == 4


def test_module_bytes_of_a_file_changed_in_place_after_a_warm_load_are_refused(
    tmp_path: Path,
) -> None:
    app, cache = _recorded(tmp_path, 5)
    comp = _component(app, cache)
    (module,) = _core_modules(comp.definition.ast)
    with open(app, "r+b") as f:
        f.write(counter(6))  # the same size, written in place: the bytes loaded are gone
    with pytest.raises(OSError) as e:
        module.data  # noqa: B018
    assert e.value.errno == errno.ESTALE and e.value.filename == str(app)
    assert _incr(comp) == 6  # what was compiled at load still runs
    assert _incr(_component(app, cache)) == 7  # a new load sees the new file
