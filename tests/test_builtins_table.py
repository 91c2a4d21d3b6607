"""The canon built-ins: one ``canon_*`` function per spec built-in, through one table."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from wasmloom.binary import ast as bast
from wasmloom.binary import canon
from wasmloom.errors import LinkError
from wasmloom.runtime import builtins
from wasmloom.runtime.builtins import BUILTINS, builtin

#: What the decoder reads but the runtime does not run yet (linking traps with LinkError).
UNSUPPORTED = {
    "thread.spawn-ref",
    "thread.spawn-indirect",
    "thread.available-parallelism",
    "stream.forward",
    "future.forward",
}


def _decoder_names() -> set[str]:
    """The built-in names the binary decoder produces (the string constants of its
    ``_CANON_*`` tables and of ``read_canon``, in binary/canon.py)."""
    tree = ast.parse(Path(canon.__file__).read_text())
    places: list[ast.AST] = []
    for node in tree.body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id.startswith("_CANON_") for t in targets):
                places.append(node)
        elif isinstance(node, ast.FunctionDef) and node.name == "read_canon":
            places.append(node)
    return {
        c.value
        for p in places
        for c in ast.walk(p)
        if isinstance(c, ast.Constant)
        and isinstance(c.value, str)
        and re.fullmatch(r"[a-z-]+\.[a-z-]+", c.value)
    }


def _canon_name(name: str) -> str:
    return "canon_" + name.replace(".", "_").replace("-", "_")


def test_every_builtin_the_decoder_knows_is_in_the_table_or_unsupported() -> None:
    names = _decoder_names()
    assert len(names) > 40  # the parse above found the decoder's tables
    assert set(BUILTINS) <= names
    assert names - set(BUILTINS) == UNSUPPORTED


def test_each_entry_is_the_canon_function_named_after_it() -> None:
    modules = [
        getattr(builtins, m)
        for m in ("tasks", "waitables", "streams", "threads", "error_context", "resources")
    ]
    canon = {
        name: f
        for mod in modules
        for name, f in vars(mod).items()
        if name.startswith("canon_") and inspect.isfunction(f) and f.__module__ == mod.__name__
    }
    assert len(canon) >= 40
    for name, f in BUILTINS.items():
        assert f.__name__ == _canon_name(name), name
        assert f.__doc__ and f.__doc__.startswith(f"``canon {name}``"), name
    # and every canon_* function of the sections is in the table
    assert sorted(canon) == sorted(f.__name__ for f in BUILTINS.values())


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_an_unsupported_builtin_is_a_link_error(name: str) -> None:
    with pytest.raises(LinkError, match=f"canon {name} is not supported yet"):
        builtin(None, None, None, bast.CanonBuiltin(name))  # type: ignore[arg-type]
