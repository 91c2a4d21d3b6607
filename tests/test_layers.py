"""The layers of wasmloom import one way (see README, "Layout").

Every import of every module under src/wasmloom is read from its source (lazy
imports inside functions and ``TYPE_CHECKING`` ones included), and three rules
are checked:

- a module imports nothing of a higher layer (the ranks below), nor what the
  layering forbids beside that: wit imports none of core, runtime, abi; wasi,
  bindgen and cli none of core, runtime, abi; wasi nothing of binary;
- only the core package imports ``wasmtime``;
- no two modules import each other, directly or around a cycle.

``KNOWN`` lists the imports and cycles that break these rules today, each to be
removed by the layout issue; the test fails on any other, and on an entry of
``KNOWN`` that no longer occurs (so the list only shrinks).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
ROOT = SRC / "wasmloom"

#: layer of each top-level module or package of wasmloom -> rank (lower is below)
RANK = {
    "errors": 0, "limits": 0, "types": 0, "values": 0, "wave": 0, "binary": 0, "aio": 0,
    "codecache": 0, "digest": 0, "dists": 0, "gcpause": 0,
    "core": 1, "validate": 1,
    "wit": 2, "abi": 2,
    "runtime": 3,
    "host": 4, "typing": 4, "wasmloom": 4,  # the package's __init__ is the host API
    "bindgen": 5,
    "wasi": 6, "asgi": 6,
    "cli": 7, "wast": 7, "__main__": 7,
}  # fmt: skip
FORBIDDEN = {
    "wit": {"core", "runtime", "abi"},
    "wasi": {"core", "runtime", "abi", "binary"},
    "bindgen": {"core", "runtime", "abi"},
    "cli": {"core", "runtime", "abi"},
    "asgi": {"core", "runtime", "abi", "binary"},
}

#: Breaks of the rules that exist today ("importer -> imported"; cycles as the
#: sorted modules of each strongly connected set).
KNOWN: set[str] = set()


def _modname(path: Path) -> str:
    name = ".".join(path.relative_to(SRC).with_suffix("").parts)
    return name.removesuffix(".__init__")


def _imports() -> dict[str, set[str]]:
    """Each module -> the wasmloom modules (and ``wasmtime``) it imports."""
    files = sorted(ROOT.rglob("*.py"))
    modules = {_modname(f) for f in files}
    out: dict[str, set[str]] = defaultdict(set)
    for f in files:
        me = _modname(f)
        package = me if f.name == "__init__.py" else me.rpartition(".")[0]
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    module = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    module = node.module or ""
                # `from pkg import mod` imports pkg.mod; `from pkg import name`, pkg itself
                targets = [
                    f"{module}.{a.name}" if f"{module}.{a.name}" in modules else module
                    for a in node.names
                ]
            for t in targets:
                if t == "wasmtime" or t.startswith("wasmtime."):
                    out[me].add("wasmtime")
                    continue
                while t and t not in modules:  # a name inside a module -> the module
                    t = t.rpartition(".")[0]
                if t and t != me:
                    out[me].add(t)
    return out


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _breaks(imports: dict[str, set[str]]) -> set[str]:
    found = set()
    for me, targets in imports.items():
        mine = _layer(me)
        for t in targets:
            if t == "wasmtime":
                if mine != "core":
                    found.add(f"{me} -> wasmtime")
                continue
            theirs = _layer(t)
            if theirs == mine:
                continue
            if RANK[theirs] > RANK[mine] or theirs in FORBIDDEN.get(mine, ()):
                found.add(f"{me} -> {t}")
    return found


def _cycles(imports: dict[str, set[str]]) -> set[str]:
    """Strongly connected sets of more than one module (Tarjan's algorithm)."""
    graph = {m: {t for t in ts if t.startswith("wasmloom.")} for m, ts in imports.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[str] = set()

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                scc.append(w)
                if w == v:
                    break
            # a package's __init__ re-exporting its own modules is no cycle of layers
            scc = [m for m in scc if not any(o.startswith(m + ".") for o in scc)]
            if len(scc) > 1:
                found.add("cycle: " + ", ".join(sorted(scc)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_module_has_a_layer() -> None:
    assert {_layer(m) for m in _imports()} <= set(RANK)


def test_imports_run_one_way_and_have_no_cycles() -> None:
    imports = _imports()
    found = _breaks(imports) | _cycles(imports)
    assert sorted(found - KNOWN) == [], "new imports against the layers"
    assert sorted(KNOWN - found) == [], "fixed: remove these from KNOWN"


def test_binary_never_imports_core_and_only_core_imports_wasmtime() -> None:
    imports = _imports()
    for me, targets in imports.items():
        if _layer(me) == "binary":
            assert not any(_layer(t) == "core" for t in targets if t != "wasmtime"), me
    users = {me for me, targets in imports.items() if "wasmtime" in targets}
    assert {_layer(m) for m in users} <= {"core"}


def _readme_layout() -> set[str]:
    """The paths README's "Layout" section lists (the first word of each line of its block)."""
    text = (SRC.parent / "README.md").read_text()
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```\n", 2)[1]
    return {line.split()[0] for line in block.splitlines() if line.strip()}


def test_readme_layout_names_every_module() -> None:
    """README's Layout names each package and hand-written module, and nothing that is gone."""
    tree: set[str] = set()
    for f in ROOT.rglob("*.py"):
        rel = f.relative_to(ROOT)
        if "bindings" in rel.parts[:-1]:
            continue  # generated: the bindings package has one line
        if f.name == "__init__.py" and rel.parent != Path("."):
            tree.add(f"{rel.parent.as_posix()}/")
        else:
            tree.add(rel.as_posix())
    for pkg in ("wasi/p2/bindings", "wasi/p3/bindings", "wasi/wit"):
        tree.add(f"{pkg}/")
    listed = _readme_layout()
    assert not tree - listed, f"missing from README's Layout: {sorted(tree - listed)}"
    assert not listed - tree, f"listed in README's Layout but gone: {sorted(listed - tree)}"
