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

from wasmloom import Linker, Record, Store
from wasmloom.bindgen import dynamic
from wasmloom.bindgen.gen import write
from wasmloom.cli import main as cli_main
from wasmloom.host.accessor import Accessor
from wasmloom.wit import resolve_path

WIT = Path(__file__).parent / "wit" / "bindgen"
ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="session")
def gen_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    d = tmp_path_factory.mktemp("bindings")
    for wit, world, pkg in (
        ("app.wit", "app", "app_bindings"),
        ("demo.wit", "demo", "demo_bindings"),
        ("jobs.wit", "jobs", "jobs_bindings"),
    ):
        r, p = resolve_path(WIT / wit)
        write(r, r.select_world(p, world), d / pkg)
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
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "app_bindings", "demo_bindings", "jobs_bindings"],
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
