"""The shape of generated bindings: one import, no line over 120 columns.

Checked on the bundled WASI 0.2 and 0.3 bindings and on bindings generated
from tests/wit/bindgen/*.wit; the splitting itself on small lines of code.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from wasmloom.bindgen.gen import generate
from wasmloom.bindgen.wrap import WIDTH, docstring, union, wrap_code
from wasmloom.wit import resolve_path

ROOT = Path(__file__).resolve().parent.parent
WASI = ROOT / "src" / "wasmloom" / "wasi"
WIT = Path(__file__).parent / "wit" / "bindgen"
WORLDS = [
    ("app.wit", "app"),
    ("demo.wit", "demo"),
    ("jobs.wit", "jobs"),
    ("res.wit", "res"),
    ("ares.wit", "user"),
    ("ares.wit", "provider"),
    ("twins.wit", "twins"),
    ("twins.wit", "twins-user"),
]


def _sources() -> dict[str, str]:
    out = {}
    for version in ("p2", "p3"):
        for p in sorted((WASI / version / "bindings").glob("*.py")):
            out[f"wasi/{version}/{p.name}"] = p.read_text()
    for wit, world in WORLDS:
        r, pkg = resolve_path(WIT / wit)
        for name, text in generate(r, r.select_world(pkg, world)).items():
            if name.endswith(".py"):
                out[f"{wit}:{world}/{name}"] = text
    return out


SOURCES = _sources()


def test_no_generated_line_is_over_120_columns() -> None:
    long = [
        f"{name}:{i} ({len(ln)})"
        for name, text in SOURCES.items()
        for i, ln in enumerate(text.splitlines(), 1)
        if len(ln) > WIDTH
    ]
    assert long == [], f"lines over {WIDTH} columns"


def test_generated_modules_import_only_the_bindings_runtime() -> None:
    """No preamble: ``wasmloom.bindgen.rt`` and the package's own modules, nothing else."""
    for name, text in SOURCES.items():
        imports = []
        for node in ast.parse(text).body:
            if isinstance(node, ast.Import):
                imports += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = ",".join(f"{a.name} as {a.asname}" for a in node.names)
                imports.append(f"{'.' * node.level}{node.module or ''}:{names}")
        first = ["__future__:annotations as None", "wasmloom.bindgen:rt as _rt"]
        assert imports[:2] == first, name
        for imp in imports[2:]:
            module, _, names = imp.partition(":")
            assert module == "." and re.fullmatch(r"(\w+) as _m_\1", names), (name, imp)


def test_long_calls_split_one_argument_a_line() -> None:
    line = "X = f(" + ", ".join(f"'arg{i}'" for i in range(30)) + ")"
    out = wrap_code([line])
    assert out[0] == "X = f(" and out[-1] == ")"
    assert out[1:-1] == [f"    'arg{i}'," for i in range(30)]  # a call gets a trailing comma


def test_subscripts_tuples_and_strings_keep_their_meaning() -> None:
    long = "A" * 60
    # a subscript gets no trailing comma (X[a,] is X[(a,)]), a one-item tuple keeps its own
    out = wrap_code([f"def f(a: list[{long}], b: dict[str, {long}]) -> None: ..."])
    assert out == [
        "def f(",
        f"    a: list[{long}],",
        f"    b: dict[str, {long}],",
        ") -> None: ...",
    ]
    half = "A" * 50
    out = wrap_code([f"A_LONG_TARGET_NAME = (('{half}', '{half}'),)"])
    assert out == ["A_LONG_TARGET_NAME = (", f"    ('{half}', '{half}'),", ")"]
    # brackets and commas inside a string are text
    text = "(, ]" * 40
    out = wrap_code([f"g('{text}', 1)"])
    assert out == ["g(", f"    '{text}',", "    1,", ")"]


def test_wrapped_code_compiles_to_the_same_tree() -> None:
    src = "X = f(" + ", ".join(f"g({i}, [{i}, ('s,]', {i})])" for i in range(20)) + ")"
    out = wrap_code([src])
    assert max(map(len, out)) <= WIDTH
    assert ast.dump(ast.parse("\n".join(out))) == ast.dump(ast.parse(src))


def test_docstrings_and_comments_are_not_split_as_code() -> None:
    words = " ".join(["word(with, commas)"] * 12)
    doc = docstring(words, "    ")
    assert doc[0].startswith('    """word') and doc[-1] == '    """'
    assert all(len(ln) <= WIDTH for ln in doc)
    assert wrap_code([*doc, "# " + words]) == [*doc, "# " + words]


def test_long_unions_go_one_member_a_line() -> None:
    members = [f"Case{i}LongEnoughName" for i in range(8)]
    assert union("T: _rt.TypeAlias", members[:2]) == [
        "T: _rt.TypeAlias = Case0LongEnoughName | Case1LongEnoughName"
    ]
    out = union("T: _rt.TypeAlias", members)
    assert out == ["T: _rt.TypeAlias = (", "    Case0LongEnoughName"] + [
        f"    | {m}" for m in members[1:]
    ] + [")"]
