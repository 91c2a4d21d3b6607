"""Generated and dynamic bindings against a real guest (tests/guests/bindgen_app.wat).

Bindings for tests/wit/bindgen/*.wit are generated once per session into a
temporary directory, imported, run, and checked with ``mypy --strict``.
"""

from __future__ import annotations

import asyncio
import importlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from guest_util import component

from wasmloom import Linker, Record, Store, Trap
from wasmloom.bindgen import dynamic
from wasmloom.bindgen.gen import write
from wasmloom.cli import main as cli_main
from wasmloom.errors import WasmloomError
from wasmloom.host.accessor import Accessor
from wasmloom.wit import resolve_path

WIT = Path(__file__).parent / "wit" / "bindgen"
ROOT = Path(__file__).parent.parent


# Typed use of the generated resource bindings: checked by mypy --strict with the packages.
RES_USER = """
from __future__ import annotations

from wasmloom import Component, Linker, ResourceType, Store

import res_bindings
from res_bindings import example_res_blobs as blobs


class Blob:  # implements blobs.HostBlob
    def __init__(self, data: bytes) -> None:
        self.data = bytearray(data)

    def size(self) -> int:
        return len(self.data)

    def append(self, more: bytes) -> None:
        self.data += more

    def drop(self) -> None:
        self.data.clear()


class Blobs:  # implements blobs.Host
    def blob_new(self, init: bytes) -> blobs.HostBlob:
        return Blob(init)

    def blob_merge(self, a: blobs.HostBlob, b: blobs.HostBlob) -> blobs.HostBlob:
        return Blob(bytes(a.size() + b.size()))

    def consume(self, b: blobs.HostBlob) -> int:
        return b.size()

    def peek(self, b: blobs.HostBlob) -> int:
        return b.size()

    def make(self, n: int) -> blobs.HostBlob:
        return Blob(bytes(n))


class Data:
    def __init__(self) -> None:
        self.blobs = Blobs()


def run(component: Component) -> int:
    store = Store(data=Data())
    linker = Linker()
    blob_type: ResourceType = blobs.add_to_linker(linker, lambda d: d.blobs).blob
    assert blob_type.name == "blob"
    guest = res_bindings.Res.instantiate(store, component, linker)
    c = guest.counters.counter_new(store, 1)
    n: int = c.inc(store) + guest.new_blob(store, b"x")
    c.drop(store)
    return n
"""


@pytest.fixture(scope="session")
def gen_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    d = tmp_path_factory.mktemp("bindings")
    for wit, world, pkg in (
        ("app.wit", "app", "app_bindings"),
        ("demo.wit", "demo", "demo_bindings"),
        ("jobs.wit", "jobs", "jobs_bindings"),
        ("res.wit", "res", "res_bindings"),
        ("ares.wit", "user", "ares_user_bindings"),
        ("ares.wit", "provider", "ares_provider_bindings"),
        ("twins.wit", "twins", "twins_bindings"),
        ("twins.wit", "twins-user", "twins_user_bindings"),
    ):
        r, p = resolve_path(WIT / wit)
        write(r, r.select_world(p, world), d / pkg)
    (d / "res_user.py").write_text(RES_USER)
    sys.path.insert(0, str(d))
    yield d
    sys.path.remove(str(d))


@pytest.fixture(scope="session")
def app(gen_dir: Path) -> ModuleType:
    return importlib.import_module("app_bindings")


class Logger:
    def __init__(self) -> None:
        self.lines: list[tuple[Any, str]] = []

    def log(self, level: Any, msg: str) -> None:
        self.lines.append((level, msg))


class Data:
    def __init__(self) -> None:
        self.logger = Logger()


def test_generated_packages_pass_mypy_strict(gen_dir: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "app_bindings", "demo_bindings", "jobs_bindings", "res_bindings", "ares_user_bindings", "ares_provider_bindings", "twins_bindings", "twins_user_bindings", "res_user.py"],
        cwd=gen_dir, capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout


def test_readme_example_field_getter(app: ModuleType) -> None:
    logging = importlib.import_module("app_bindings.example_app_logging")
    geo = importlib.import_module("app_bindings.example_app_geo")
    store = Store(data=Data())
    linker = Linker()
    logging.add_to_linker(linker, lambda data: data.logger)
    geo.add_to_linker(linker)
    guest = app.App.instantiate(store, component("bindgen_app"), linker)
    assert guest.greet(store, "world") == "world"
    assert store.data.logger.lines == [(logging.Level.INFO, "world")]
    assert type(store.data.logger.lines[0][0]) is logging.Level


def test_values_lift_into_generated_classes(app: ModuleType) -> None:
    geo = importlib.import_module("app_bindings.example_app_geo")
    store = Store(data=Data())
    linker = Linker()
    app.add_to_linker(linker, lambda d: d)  # the data itself implements Imports
    store.data.logging = store.data.logger  # type: ignore[attr-defined]
    guest = app.App.instantiate(store, component("bindgen_app"), linker)
    p = guest.move(store, app.Point(1, 2), 5)
    assert type(p) is geo.Point and p == geo.Point(6, 2)
    r = guest.shape_id(store, geo.ShapeRect(geo.Point(3, 4)))
    assert type(r) is geo.ShapeRect and r.value == geo.Point(3, 4) and r.tag == "rect"
    assert guest.shape_id(store, geo.ShapeCircle(2.5)) == geo.ShapeCircle(2.5)
    assert guest.shape_id(store, geo.ShapeNone()) == geo.ShapeNone()
    got = guest.perms_id(store, geo.Perms.READ | geo.Perms.WRITE)
    assert type(got) is geo.Perms and got == geo.Perms.READ | geo.Perms.WRITE
    # lowering still takes the plain value mapping
    assert guest.move(store, Record(x=0, y=1), 1) == geo.Point(1, 1)


def test_world_add_to_linker_with_a_view_object(app: ModuleType) -> None:
    class View:
        def __init__(self, logger: Logger, prefix: str) -> None:
            self.logger, self.prefix = logger, prefix

        @property
        def logging(self) -> View:
            return self

        def log(self, level: Any, msg: str) -> None:
            self.logger.log(level, self.prefix + msg)

    store = Store(data=Data())
    linker = Linker()
    app.add_to_linker(linker, lambda d: View(d.logger, "> "))
    guest = app.App.instantiate(store, component("bindgen_app"), linker)
    guest.greet(store, "hi")
    assert [m for _, m in store.data.logger.lines] == ["> hi"]


def test_wrong_store_is_refused(app: ModuleType) -> None:
    store = Store(data=Data())
    linker = Linker()
    app.add_to_linker(linker, lambda d: type("I", (), {"logging": d.logger})())
    guest = app.App.instantiate(store, component("bindgen_app"), linker)
    with pytest.raises(Exception, match="store"):
        guest.greet(Store(), "x")


def test_dynamic_exports_use_their_own_types() -> None:
    linker = Linker()
    seen: list[Any] = []
    linker.instance("example:app/logging").func_wrap("log", lambda lv, msg: seen.append(lv))
    linker.instance("example:app/geo")
    store: Store[None] = Store()
    ex = dynamic.exports(store, linker.instantiate(store, component("bindgen_app")))
    assert ex.greet(store, "dyn") == "dyn"
    p = ex.move(store, Record(x=1, y=2), 3)
    assert (p.x, p.y) == (4, 2) and dataclasses_is(p)
    rect = ex.shape_id(store, Record(tag="rect", value=Record(x=1, y=1)))
    assert rect.tag == "rect" and (rect.value.x, rect.value.y) == (1, 1)
    assert ex.perms_id(store, ["read"]).name == "READ"


def dataclasses_is(v: object) -> bool:
    import dataclasses

    return dataclasses.is_dataclass(v)


def test_cli_bindgen(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        cli_main(["bindgen", str(WIT / "app.wit"), "--world", "app", "-o", str(tmp_path / "b")])
        == 0
    )
    assert (tmp_path / "b" / "__init__.py").is_file()
    assert "example_app_logging.py" in capsys.readouterr().out
    assert (
        cli_main(["bindgen", str(WIT / "app.wit"), "--world", "nope", "-o", str(tmp_path / "c")])
        == 1
    )


def test_accessor_reaches_store_and_implementation() -> None:
    store = Store(data=Data())
    acc = Accessor(store, lambda d: d.logger)
    assert acc.with_(lambda s, impl: (s is store, impl is store.data.logger)) == (True, True)


def test_wasi_bindings_pass_mypy_strict() -> None:
    """WASI 0.2.x and 0.3.0 (from the jco npm package) through the generator and mypy."""
    if shutil.which("npm") is None:
        pytest.skip("npm is not available")
    r = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "check_wasi_bindgen.py")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if r.returncode == 2:
        pytest.skip(r.stdout.strip())
    assert r.returncode == 0, r.stdout[-3000:]


def _readme_snippet(marker: str) -> str:
    text = (ROOT / "README.md").read_text()
    for block in text.split("```python\n")[1:]:
        code = block.split("```")[0]
        if marker in code:
            return code
    raise AssertionError(f"no README snippet mentions {marker}")


def test_readme_async_example_runs(gen_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _readme_snippet("jobs_bindings")
    guest = str(ROOT / "tests" / "guests" / "bindgen_async.wat")
    assert '"jobs.wasm"' in code
    exec(compile(code.replace('"jobs.wasm"', repr(guest)), "README.md", "exec"), {})
    assert capsys.readouterr().out.splitlines() == ["[3, 41]", "[1, 20]"]


def test_async_export_and_import_with_the_data_itself(gen_dir: Path) -> None:
    jobs = importlib.import_module("jobs_bindings")

    class Impl:  # the store's data implements the world's Imports (attribute `cache`)
        def __init__(self) -> None:
            self.seen: list[tuple[int, bool]] = []

        @property
        def cache(self) -> Impl:
            return self

        async def lookup(self, accessor: Accessor[Any, Any], key: int) -> int:
            await asyncio.sleep(0)
            self.seen.append((key, accessor.get() is self))
            return key + 100

    store = Store(data=Impl())
    linker = Linker()
    jobs.add_to_linker(linker, lambda d: d)
    guest = jobs.Jobs.instantiate(store, component("bindgen_async"), linker)

    async def main() -> int:
        r: int = await guest.run(store, 5)
        return r

    assert store.run_concurrent(main) == 106
    assert store.data.seen == [(5, True)]


def test_a_sync_export_of_an_instance_that_may_block_has_an_awaitable_twin(
    gen_dir: Path,
) -> None:
    jobs = importlib.import_module("jobs_bindings")

    class Cache:
        async def lookup(self, accessor: Accessor[Any, Any], key: int) -> int:
            await asyncio.sleep(0)
            return key + 100

    store = Store(data=Cache())
    linker = Linker()
    jobs.add_to_linker(linker, lambda d: type("Data", (), {"cache": d})())
    guest = jobs.Jobs.instantiate(store, component("bindgen_async"), linker)
    assert guest.peek(store, 4) == 8  # no loop running: the sync call drives the store

    async def main() -> tuple[int, int, int]:
        with pytest.raises(WasmloomError, match="running asyncio loop"):
            guest.peek(store, 1)
        a, b = await asyncio.gather(guest.run(store, 5), guest.peek_async(store, 21))
        return a, b, await guest.peek_async(store, 3)

    assert store.run_concurrent(main) == (106, 42, 6)
    assert not hasattr(guest, "run_async")  # an async export is awaitable already


# --- resources: tests/wit/bindgen/res.wit, tests/guests/bindgen_resources.wat ----------


class Blob:
    """A host `blob`: records its `drop()` calls."""

    def __init__(self, data: bytes) -> None:
        self.data = bytearray(data)
        self.drops = 0

    def size(self) -> int:
        return len(self.data)

    def append(self, more: bytes) -> None:
        self.data += more

    def drop(self) -> None:
        self.drops += 1


class Blobs:
    """The host's `blobs` interface: remembers every blob it made and every blob it was given."""

    def __init__(self) -> None:
        self.made: list[Blob] = []
        self.seen: list[tuple[str, Any]] = []
        self.fixed: Blob | None = None  # make() returns this one when set

    def _new(self, data: bytes) -> Blob:
        b = Blob(data)
        self.made.append(b)
        return b

    def blob_new(self, init: bytes) -> Blob:
        return self._new(init)

    def blob_merge(self, a: Blob, b: Blob) -> Blob:
        self.seen.append(("merge", (a, b)))
        return self._new(bytes(a.data + b.data))

    def consume(self, b: Blob) -> int:
        self.seen.append(("consume", b))
        return b.size()

    def peek(self, b: Blob) -> int:
        self.seen.append(("peek", b))
        return b.size()

    def make(self, n: int) -> Blob:
        return self.fixed if self.fixed is not None else self._new(b"x" * n)


class ResData:
    def __init__(self) -> None:
        self.blobs = Blobs()


@pytest.fixture
def res(gen_dir: Path) -> ModuleType:
    return importlib.import_module("res_bindings")


def _res_guest(res: ModuleType, store: Store[ResData]) -> tuple[Any, Any]:
    """(the guest's bindings, the host table behind `blob` handles)."""
    from wasmloom.bindgen import rt

    blobs = importlib.import_module("res_bindings.example_res_blobs")
    linker = Linker()
    blobs.add_to_linker(linker, lambda d: d.blobs)
    guest = res.Res.instantiate(store, component("bindgen_resources"), linker)
    table = rt._host_tables[rt._linker_rts[linker][blobs._RT_BLOB]]
    return guest, table


def test_add_to_linker_returns_its_resource_types(res: ModuleType, app: ModuleType) -> None:
    blobs = importlib.import_module("res_bindings.example_res_blobs")
    linker = Linker()
    types = blobs.add_to_linker(linker, lambda d: d.blobs)
    assert isinstance(types, blobs.ResourceTypes)
    assert types.blob is linker.instance("example:res/blobs").lookup("blob").rt
    # the world's: one field per imported interface that defines resources
    linker = Linker()
    world = res.add_to_linker(linker, lambda d: d)
    assert world == res.ResourceTypes(blobs=blobs.ResourceTypes(world.blobs.blob))
    assert world.blobs.blob is linker.instance("example:res/blobs").lookup("blob").rt
    # none defined: None
    logging = importlib.import_module("app_bindings.example_app_logging")
    assert logging.add_to_linker(Linker(), lambda d: d) is None
    assert not hasattr(logging, "ResourceTypes") and not hasattr(app, "ResourceTypes")


def test_host_resource_constructor_methods_static_and_drop(res: ModuleType) -> None:
    store = Store(data=ResData())
    guest, table = _res_guest(res, store)
    host = store.data.blobs
    a = guest.new_blob(store, b"abc")  # [constructor]blob
    (ba,) = host.made
    assert guest.blob_size(store, a) == 3  # [method]blob.size reaches the object
    guest.blob_append(store, a, b"de")
    assert ba.data == b"abcde"
    assert guest.peek(store, a) == 5 and host.seen[-1] == ("peek", ba)  # borrow<blob>
    b = guest.make(store, 3)  # returns own<blob>
    bb = host.made[1]
    m = guest.merge(store, a, b)  # [static]blob.merge with two borrows
    assert host.seen[-1][1][0] is ba and host.seen[-1][1][1] is bb
    assert guest.blob_size(store, m) == 8 and len(table) == 3
    guest.drop_blob(store, b)
    assert (ba.drops, bb.drops) == (0, 1) and len(table) == 2
    guest.drop_blob(store, a)
    guest.drop_blob(store, m)
    assert [x.drops for x in host.made] == [1, 1, 1] and len(table) == 0
    with pytest.raises(Trap):  # the guest uses a handle it dropped
        guest.blob_size(store, a)
    assert [x.drops for x in host.made] == [1, 1, 1]


def test_host_object_owned_twice_is_dropped_after_the_last_handle(res: ModuleType) -> None:
    store = Store(data=ResData())
    guest, table = _res_guest(res, store)
    shared = Blob(b"shared")
    store.data.blobs.fixed = shared
    h1, h2 = guest.make(store, 0), guest.make(store, 0)
    assert h1 != h2 and len(table) == 1
    guest.drop_blob(store, h1)
    assert shared.drops == 0 and guest.blob_size(store, h2) == 6
    guest.drop_blob(store, h2)
    assert shared.drops == 1 and len(table) == 0


def test_own_handles_move_between_host_and_guest(res: ModuleType) -> None:
    store = Store(data=ResData())
    guest, table = _res_guest(res, store)
    host = store.data.blobs
    h = guest.new_blob(store, b"abcd")
    (b,) = host.made
    # the guest gives its own<blob> to the host's `consume`: the host has it back, no drop()
    assert guest.consume(store, h) == 4 and host.seen[-1] == ("consume", b)
    assert b.drops == 0 and len(table) == 0
    # a world export returns own<blob>: the host gets the very object
    h = guest.new_blob(store, b"xy")
    got = guest.give(store, h)
    assert got is host.made[1] and len(table) == 0 and got.drops == 0
    # the host passes an object to the guest as own<blob>; the guest drops it
    mine = Blob(b"mine")
    k = guest.keep(store, mine)
    assert guest.blob_size(store, k) == 4 and len(table) == 1
    guest.drop_blob(store, k)
    assert mine.drops == 1 and len(table) == 0
    with pytest.raises(TypeError, match="blob"):
        guest.keep(store, None)


def test_host_lends_an_object_for_one_call(res: ModuleType) -> None:
    store = Store(data=ResData())
    guest, table = _res_guest(res, store)
    lent = Blob(b"lent")
    assert guest.lend(store, lent) == 4
    assert len(table) == 0 and lent.drops == 0  # the entry lasted for the call only
    # lending an object the guest also owns keeps the guest's entry
    owned = Blob(b"owned!")
    h = guest.keep(store, owned)
    assert guest.lend(store, owned) == 6 and len(table) == 1
    assert guest.blob_size(store, h) == 6
    guest.drop_blob(store, h)
    assert owned.drops == 1 and len(table) == 0


def test_guest_resource_through_the_generated_class(res: ModuleType) -> None:
    counters = importlib.import_module("res_bindings.example_res_counters")
    store = Store(data=ResData())
    guest, _ = _res_guest(res, store)
    c = guest.counters
    x = c.counter_new(store, 5)
    assert type(x) is counters.Counter and x.own and not x.dropped
    assert x.inc(store) == 6 and x.get(store) == 6
    y = c.counter_new(store, 10)
    x.add(store, y)  # borrow<counter> of another handle
    assert (x.get(store), y.get(store)) == (16, 10)
    s = c.counter_sum(store, x, y)  # static, two borrows, returns own
    assert type(s) is counters.Counter and s.get(store) == 26
    assert c.drops(store) == 0
    y.drop(store)  # the guest's destructor runs once
    assert c.drops(store) == 1 and y.dropped
    y.drop(store)
    assert c.drops(store) == 1
    with pytest.raises(WasmloomError, match="dropped or moved"):
        y.get(store)
    with pytest.raises(WasmloomError, match="dropped or moved"):
        x.add(store, y)
    # passing an own handle to the guest moves it; the guest drops it
    assert c.take(store, s) == 26 and c.drops(store) == 2 and s.dropped
    with pytest.raises(WasmloomError, match="dropped or moved"):
        s.inc(store)
    s.drop(store)  # nothing left to drop
    assert c.drops(store) == 2
    assert x.get(store) == 16
    x.drop(store)
    assert c.drops(store) == 3


def test_guest_resource_methods_have_awaitable_twins(res: ModuleType) -> None:
    # every guest of a time-sliced store runs on fibers: its instances may block
    store = Store(data=ResData(), time_slicing=True)
    guest, _ = _res_guest(res, store)
    c = guest.counters

    async def main() -> tuple[int, int, int]:
        x = await c.counter_new_async(store, 5)
        with pytest.raises(WasmloomError, match="running asyncio loop"):
            x.inc(store)
        n = await x.inc_async(store)
        y = await c.counter_new_async(store, 10)
        await x.add_async(store, y)
        s = await c.counter_sum_async(store, x, y)
        return n, await x.get_async(store), await c.take_async(store, s)

    assert store.run_concurrent(main) == (6, 16, 26)


def test_awaitable_twins_avoid_the_names_of_other_methods(tmp_path: Path) -> None:
    wit = tmp_path / "names.wit"
    wit.write_text(
        "package example:names;\n"
        "world names {\n  export foo: func() -> u32;\n  export foo-async: func() -> u32;\n}\n"
    )
    r, p = resolve_path(wit)
    write(r, r.select_world(p, "names"), tmp_path / "names_bindings")
    text = (tmp_path / "names_bindings" / "__init__.py").read_text()
    for name in ("foo", "foo_async", "foo_async_", "foo_async_async"):
        assert f"    def {name}(self" in text or f"    async def {name}(self" in text, name
    assert "async def foo_async_(self" in text and "    def foo_async(self" in text
    compile(text, "names_bindings/__init__.py", "exec")


def test_guest_resource_bad_uses(res: ModuleType) -> None:
    store = Store(data=ResData())
    guest, _ = _res_guest(res, store)
    x = guest.counters.counter_new(store, 1)
    other: Store[ResData] = Store(data=ResData())
    with pytest.raises(WasmloomError, match="store"):
        x.inc(other)
    with pytest.raises(WasmloomError, match="store"):
        x.drop(other)
    assert not x.dropped and x.inc(store) == 2
    # a handle of another instance (same component) is a different resource type
    guest2, _ = _res_guest(res, other)
    z = guest2.counters.counter_new(other, 7)
    with pytest.raises(TypeError, match="Counter"):
        guest.counters.take(store, z)
    with pytest.raises(TypeError, match="Counter"):
        x.add(store, 3)
    assert not z.dropped and z.get(other) == 7


def test_resource_bindings_typed_use(gen_dir: Path) -> None:
    user = importlib.import_module("res_user")
    assert user.run(component("bindgen_resources")) == 3


# --- async resource methods: tests/wit/bindgen/ares.wit --------------------------------


class HostCounter:
    """The host's `counter`: `bump` awaits before it answers."""

    def __init__(self, start: int) -> None:
        self.value = start
        self.dropped = False

    async def bump(self, accessor: Accessor[Any, Any], by: int) -> int:
        await asyncio.sleep(0.01)  # the guest task stays suspended meanwhile
        accessor.get().bumps.append(by)
        self.value += by
        return self.value

    def get(self) -> int:
        return self.value

    def drop(self) -> None:
        self.dropped = True


class CounterApi:
    def __init__(self) -> None:
        self.made: list[HostCounter] = []
        self.bumps: list[int] = []

    def counter_new(self, start: int) -> HostCounter:
        self.made.append(HostCounter(start))
        return self.made[-1]


def test_host_async_resource_method_called_by_a_guest(gen_dir: Path) -> None:
    user = importlib.import_module("ares_user_bindings")
    api_mod = importlib.import_module("ares_user_bindings.example_ares_api")
    store = Store(data=CounterApi())
    linker = Linker()
    api_mod.add_to_linker(linker, lambda d: d)
    guest = user.User.instantiate(store, component("bindgen_async_res"), linker)

    async def main() -> list[int]:
        # two guest tasks at once, each suspended in the host's async method
        rs: list[int] = await asyncio.gather(guest.run(store, 5, 2), guest.run(store, 10, 3))
        return rs

    assert store.run_concurrent(main) == [7007, 13013]
    assert sorted(store.data.bumps) == [2, 3]
    assert [c.dropped for c in store.data.made] == [True, True]


def test_guest_async_resource_method_awaited_by_the_host(gen_dir: Path) -> None:
    provider = importlib.import_module("ares_provider_bindings")
    store: Store[None] = Store()
    guest = provider.Provider.instantiate(store, component("bindgen_async_res_provider"), Linker())
    api = guest.api

    async def main() -> tuple[int, int, int]:
        c = api.counter_new(store, 40)
        a = await c.bump(store, 1)
        b = await c.bump(store, 1)
        got = c.get(store)
        c.drop(store)
        return a, b, got

    assert store.run_concurrent(main) == (41, 42, 42)


# --- types of the same shape under different names: tests/wit/bindgen/twins.wit -----


def test_same_shaped_types_lift_into_their_own_classes(gen_dir: Path) -> None:
    twins = importlib.import_module("twins_bindings")
    shapes = importlib.import_module("twins_bindings.example_twins_shapes")
    store: Store[None] = Store()
    guest = twins.Twins.instantiate(store, component("bindgen_twins"), Linker())
    api = guest.shapes
    p, s = api.origin(store), api.extent(store)
    assert type(p) is shapes.Point and p == shapes.Point(1, 2)
    assert type(s) is shapes.Size and s == shapes.Size(3, 4)
    c, light = api.paint(store), api.lamp(store)
    assert type(c) is shapes.Color and c is shapes.Color.GREEN
    assert type(light) is shapes.Light and light is shapes.Light.RED
    bp, bs = api.both(store)
    assert (type(bp), type(bs)) == (shapes.Point, shapes.Size)
    assert (bp, bs) == (shapes.Point(5, 6), shapes.Size(7, 8))
    # inside an option (a variant whose despecialized form is shared by shape)
    mp, ms = api.maybe_point(store), api.maybe_size(store)
    assert (type(mp), type(ms)) == (shapes.Point, shapes.Size)
    assert (mp, ms) == (shapes.Point(10, 9), shapes.Size(20, 9))
    # an async export's result (lifted by the guest's task.return)
    later = store.run_concurrent(lambda: api.later_size(store))
    assert type(later) is shapes.Size and later == shapes.Size(30, 40)


def test_same_shaped_parameters_lift_into_their_own_classes(gen_dir: Path) -> None:
    user = importlib.import_module("twins_user_bindings")
    sink = importlib.import_module("twins_user_bindings.example_twins_sink")
    seen: list[Any] = []

    class Sink:
        def take(self, p: Any, s: Any) -> int:
            seen.append((p, s))
            return 7

    store = Store(data=Sink())
    linker = Linker()
    sink.add_to_linker(linker, lambda d: d)
    guest = user.TwinsUser.instantiate(store, component("bindgen_twins_user"), linker)
    assert guest.run(store) == 7
    [(p, s)] = seen
    assert (type(p), type(s)) == (sink.Point, sink.Size)
    assert (p, s) == (sink.Point(1, 2), sink.Size(3, 4))


def test_a_later_instance_reuses_the_bindings_plans(
    app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The class map and the lifting plans of an instance's exports are derived once:
    later instances, through the same linker or a new one, reuse them and still lift
    into the generated classes."""
    from wasmloom.host import typed

    geo = importlib.import_module("app_bindings.example_app_geo")
    shared = Linker()
    app.add_to_linker(shared, lambda d: d)

    def guest(linker: Linker) -> tuple[Store[Data], Any]:
        store = Store(data=Data())
        store.data.logging = store.data.logger  # type: ignore[attr-defined]
        return store, app.App.instantiate(store, component("bindgen_app"), linker)

    guest(shared)
    made: list[Any] = []
    real = typed.FuncABI
    monkeypatch.setattr(typed, "FuncABI", lambda *a: made.append(a) or real(*a))
    for _ in range(2):
        own = Linker()
        app.add_to_linker(own, lambda d: d)
        for linker in (shared, own):
            store, g = guest(linker)
            p = g.move(store, app.Point(1, 2), 5)
            assert type(p) is geo.Point and p == geo.Point(6, 2)
            r = g.shape_id(store, geo.ShapeRect(geo.Point(3, 4)))
            assert type(r) is geo.ShapeRect and r.value == geo.Point(3, 4)
            got = g.perms_id(store, geo.Perms.READ)
            assert type(got) is geo.Perms and got == geo.Perms.READ
    assert made == []


def test_guest_resources_of_each_instance_stay_its_own(res: ModuleType) -> None:
    """Converters of guest resources refer to their bindings object: each instance's
    handles name its own, and refuse another instance's store."""
    stores = [Store(data=ResData()) for _ in range(2)]
    guests = [_res_guest(res, s)[0] for s in stores]
    xs = [g.counters.counter_new(s, n) for g, s, n in zip(guests, stores, (1, 10), strict=True)]
    assert xs[0].inc(stores[0]) == 2 and xs[1].inc(stores[1]) == 11
    assert xs[0].owner is guests[0].counters and xs[1].owner is guests[1].counters
    with pytest.raises(WasmloomError, match="store"):
        xs[0].drop(stores[1])
    xs[0].drop(stores[0])
    xs[1].drop(stores[1])
    assert guests[0].counters.drops(stores[0]) == 1 and guests[1].counters.drops(stores[1]) == 1


def test_bindings_of_an_instances_own_resources_are_not_kept(res: ModuleType) -> None:
    """No binder plan is kept for exports that use the instance's own resources (the
    converters of its class map refer to the instance's bindings object)."""
    from wasmloom.bindgen import rt

    counters = importlib.import_module("res_bindings.example_res_counters")
    store = Store(data=ResData())
    guest, _ = _res_guest(res, store)
    assert guest.counters.counter_new(store, 1).get(store) == 1
    assert all(p.args[2] is not counters._GUEST_CLASSES for p in rt._binder_plans.values())


def test_instances_of_guest_resource_bindings_keep_the_class_codec_cache_bounded(
    res: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each instance's bindings have a class map of their own (its converters refer to
    them): the codecs made for them are cached only up to the cache's bound."""
    from wasmloom.abi import codecs

    monkeypatch.setattr(codecs, "_CLASS_CACHE_MAX", 8)
    for i in range(12):
        store = Store(data=ResData())
        guest, _ = _res_guest(res, store)
        assert guest.counters.counter_new(store, i).get(store) == i
        assert len(codecs._class_cache) <= 8
