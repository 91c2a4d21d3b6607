"""InstancePre (``Linker.instantiate_pre``) and the compile cache's record of a file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from wasmloom import Component, Linker, LinkError, Store, core, wat2wasm
from wasmloom.wasi.cache import DiskCache

# A counter in a core global, and a host import told each new value.
COUNTER = """
(component
  (import "tell" (func $tell (param "x" u32)))
  (core module $M
    (import "" "tell" (func $tell (param i32)))
    (global $n (mut i32) (i32.const START))
    (func (export "incr") (result i32)
      (global.set $n (i32.add (global.get $n) (i32.const 1)))
      (call $tell (global.get $n))
      (global.get $n)))
  (core func $tell-lowered (canon lower (func $tell)))
  (core instance $m (instantiate $M (with "" (instance (export "tell" (func $tell-lowered))))))
  (func (export "incr") (result u32) (canon lift (core func $m "incr")))
)
"""


def counter(start: int = 100) -> bytes:
    return wat2wasm(COUNTER.replace("START", str(start)))


def test_one_pre_many_stores_gives_independent_instances() -> None:
    told: list[tuple[str, int]] = []
    linker = Linker()
    linker.root().func_wrap("tell", lambda store, x: told.append((store.data, x)), with_store=True)
    pre = linker.instantiate_pre(Component.from_bytes(counter()))
    stores: list[Store[str]] = [Store(data=name) for name in ("a", "b", "c")]
    incr = []
    for store in stores:
        f = pre.instantiate(store).get_func("incr")
        assert f is not None
        incr.append(f)
    assert incr[0](stores[0]) == 101
    assert incr[0](stores[0]) == 102
    assert incr[1](stores[1]) == 101  # its own global, not the first instance's
    assert incr[2](stores[2]) == 101
    assert incr[0](stores[0]) == 103
    # each store's host function was bound to that store
    assert told == [("a", 101), ("a", 102), ("b", 101), ("c", 101), ("a", 103)]
    # and a second instance in the same store is independent too
    again = pre.instantiate(stores[1]).get_func("incr")
    assert again is not None and again(stores[1]) == 101


def test_a_link_error_is_reported_by_instantiate_pre() -> None:
    comp = Component.from_bytes(counter())
    with pytest.raises(LinkError, match="`tell`"):
        Linker().instantiate_pre(comp)
    wrong_type = Linker()

    def two(x: int, y: int) -> None: ...

    wrong_type.root().func_wrap("tell", two)
    with pytest.raises(LinkError, match="tell"):
        wrong_type.instantiate_pre(comp)
    not_a_func = Linker()
    not_a_func.root().instance("tell")
    with pytest.raises(LinkError, match="`tell` expects function, found an instance"):
        not_a_func.instantiate_pre(comp)


def test_the_linker_instantiates_again_after_its_definitions_change() -> None:
    comp = Component.from_bytes(counter())
    linker = Linker()
    with pytest.raises(LinkError):
        linker.instantiate(Store(), comp)
    linker.define_unknown_imports_as_traps(comp)
    store: Store[None] = Store()
    f = linker.instantiate(store, comp).get_func("incr")
    assert f is not None
    with pytest.raises(Exception, match="unknown import `tell` has not been defined"):
        f(store)
    # a prepared component keeps what it resolved; the linker's next instantiate does not
    told: list[int] = []
    fresh = Linker()
    fresh.root().func_wrap("tell", told.append)
    pre = fresh.instantiate_pre(comp)
    store2: Store[None] = Store()
    g = pre.instantiate(store2).get_func("incr")
    assert g is not None and g(store2) == 101 and told == [101]


def test_instances_of_a_resource_defining_component_do_not_share_types() -> None:
    wat = """
    (component
      (type $r (resource (rep i32)))
      (core func $new (canon resource.new $r))
      (core func $rep (canon resource.rep $r))
      (core module $M
        (import "" "new" (func $new (param i32) (result i32)))
        (import "" "rep" (func $rep (param i32) (result i32)))
        (func (export "make") (param i32) (result i32) (call $new (local.get 0)))
        ;; a borrow of its own resource arrives as the representation
        (func (export "read") (param i32) (result i32) (local.get 0)))
      (core instance $m (instantiate $M (with "" (instance
        (export "new" (func $new)) (export "rep" (func $rep))))))
      (type $own (own $r))
      (type $borrow (borrow $r))
      (func $make (param "x" u32) (result $own) (canon lift (core func $m "make")))
      (func $read (param "h" $borrow) (result u32) (canon lift (core func $m "read")))
      (export $R "r" (type $r))
      (export "make" (func $make) (func (param "x" u32) (result (own $R))))
      (export "read" (func $read) (func (param "h" (borrow $R)) (result u32)))
    )
    """
    pre = Linker().instantiate_pre(Component.from_bytes(wat2wasm(wat)))
    store: Store[None] = Store()
    a, b = pre.instantiate(store), pre.instantiate(store)
    make_a, read_a, read_b = a.get_func("make"), a.get_func("read"), b.get_func("read")
    assert make_a is not None and read_a is not None and read_b is not None
    h = make_a(store, 42)
    assert read_a(store, h) == 42
    with pytest.raises(Exception, match="resource"):
        read_b(store, h)  # a handle of the other instance's resource type


def _load(path: Path, cache: Path) -> Any:
    engine = core.Engine()
    engine.disk_cache = DiskCache(cache)
    comp = Component.from_file(path, engine)
    told: list[int] = []
    linker = Linker()
    linker.root().func_wrap("tell", told.append)
    store: Store[None] = Store(engine)
    f = linker.instantiate(store, comp).get_func("incr")
    assert f is not None
    return f(store)


def test_a_record_is_used_for_an_unchanged_file_and_never_for_a_changed_one(
    tmp_path: Path,
) -> None:
    app, cache = tmp_path / "app.wasm", tmp_path / "cache"
    app.write_bytes(counter(100))
    assert _load(app, cache) == 101
    records = list(cache.rglob("files/*/*"))
    assert len(records) == 1
    assert _load(app, cache) == 101  # through the record
    assert list(cache.rglob("files/*/*")) == records
    # the same size and modification time, other content, written in place
    st = app.stat()
    other = counter(200)
    assert len(other) == st.st_size
    with open(app, "r+b") as f:
        f.write(other)
    os.utime(app, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert app.stat().st_mtime_ns == st.st_mtime_ns and app.stat().st_ino == st.st_ino
    assert _load(app, cache) == 201
    assert len(list(cache.rglob("files/*/*"))) == 2


def test_a_damaged_record_or_types_entry_is_only_a_miss(tmp_path: Path) -> None:
    app, cache = tmp_path / "app.wasm", tmp_path / "cache"
    app.write_bytes(counter(5))
    assert _load(app, cache) == 6
    damaged = list(cache.rglob("files/*/*")) + list(cache.rglob("*.types"))
    assert len(damaged) == 2
    for p in damaged:
        p.write_bytes(b"junk")
    assert _load(app, cache) == 6
    assert all(p.read_bytes() != b"junk" for p in cache.rglob("*.types"))
