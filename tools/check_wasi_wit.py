"""Compare the project's WASI WIT with WASI WIT that others wrote, type by type.

    python3 tools/check_wasi_wit.py jco [TARBALL_OR_DIR]
    python3 tools/check_wasi_wit.py components FILE_OR_DIR...

``jco``: the WASI WIT that the npm package ``@bytecodealliance/jco`` ships
under ``lib/wit/builtin/{0.2.x,0.3.0}/`` (fetched with ``npm pack`` into
``tests/.cache/`` unless a tarball or an unpacked directory is given). Every
package the project also defines must match exactly: the same interfaces,
types, functions and world items.

``components``: the worlds that real components carry. The imported WASI
interfaces of each component must be a subset of ours: every imported type
and function exists in our WIT and matches.

Versions match semver-compatibly (``wasi:io@0.2.4`` against our
``wasi:io@0.2.9``). Both sides load with every ``@unstable`` feature on.
Functions compare by name, kind, parameter names and types, result and
async-ness; named types compare structurally with their name and the
interface that defines them; resources by name and defining interface (their
methods are functions). Exits 0 when everything matches, 1 on a difference,
2 when the reference WIT is unavailable.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from wasmloom import types as T
from wasmloom.wit import model as M
from wasmloom.wit.component import world_from_component
from wasmloom.wit.resolve import Resolve
from wasmloom.wit.syntax import WitError

ROOT = Path(__file__).resolve().parent.parent
WIT_DIR = ROOT / "src" / "wasmloom" / "wasi" / "wit"
CACHE = ROOT / "tests" / ".cache"
# The project's WIT trees: series -> directory (the wasi:cli package with deps/).
SERIES = {"0.3": WIT_DIR / "0.3.0", "0.2": WIT_DIR / "0.2"}
JCO_VERSION = "1.35.0"
_UNSTABLE = re.compile(r"@unstable\(\s*feature\s*=\s*([A-Za-z0-9-]+)\s*\)")


class Unavailable(Exception):
    """The reference WIT cannot be had here (no npm, no network, no tool)."""


# --- loading ---------------------------------------------------------------------------


def _features(files: Iterable[Path]) -> set[str]:
    out: set[str] = set()
    for f in files:
        out.update(_UNSTABLE.findall(f.read_text(encoding="utf-8")))
    return out


def load_ours(series: str) -> tuple[Resolve, M.Package]:
    """Our WIT tree of a series ("0.3" or "0.2"), every unstable feature enabled."""
    d = SERIES[series]
    r = Resolve(_features(d.rglob("*.wit")))
    return r, r.push_path(d)


def load_files(files: list[Path]) -> Resolve:
    """Single-file packages in any order: each loads once the ones it uses are loaded."""
    r = Resolve(_features(files))
    pending = sorted(files)
    while pending:
        failed: list[Path] = []
        last: WitError | None = None
        for f in pending:
            try:
                r.push_path(f)
            except WitError as e:
                failed.append(f)
                last = e
        if len(failed) == len(pending):
            assert last is not None
            raise last
        pending = failed
    return r


def jco_dirs(root: Path) -> dict[str, Path]:
    """``lib/wit/builtin/<version>`` directories of an unpacked jco, by version."""
    cands = [p for p in root.rglob("builtin") if p.is_dir() and p.parent.name == "wit"]
    if not cands:
        raise Unavailable(f"no lib/wit/builtin under {root}")
    return {d.name: d for d in sorted(cands[0].iterdir()) if re.fullmatch(r"0\.[23]\.\d+", d.name)}


def fetch_jco(given: str | None = None, version: str = JCO_VERSION) -> Path:
    """An unpacked jco WIT tree: ``given`` (a directory or a tarball), else the cache,
    else ``npm pack`` into the cache. Raises :class:`Unavailable`."""
    if given is not None:
        p = Path(given)
        if p.is_dir():
            return p
        if not p.is_file():
            raise Unavailable(f"{p} does not exist")
        dest = Path(tempfile.mkdtemp(prefix="jco-"))
        _unpack(p, dest)
        return dest
    dest = CACHE / f"jco-{version}"
    if (dest / "package").is_dir():
        return dest
    if shutil.which("npm") is None:
        raise Unavailable("npm is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            r = subprocess.run(
                ["npm", "pack", f"@bytecodealliance/jco@{version}", "--silent"],
                cwd=tmp, capture_output=True, text=True, timeout=180,
            )  # fmt: skip
        except subprocess.TimeoutExpired as e:
            raise Unavailable("npm pack timed out") from e
        tgz = sorted(Path(tmp).glob("*.tgz"))
        if r.returncode != 0 or not tgz:
            raise Unavailable(f"npm pack failed: {r.stderr.strip()[-300:]}")
        part = Path(tempfile.mkdtemp(prefix="jco-", dir=CACHE if CACHE.is_dir() else None))
        _unpack(tgz[0], part)
    CACHE.mkdir(parents=True, exist_ok=True)
    if not dest.exists():
        part.rename(dest)
    return dest


def _unpack(tgz: Path, dest: Path) -> None:
    """Extract only the tarball's ``*.wit`` files."""
    with tarfile.open(tgz) as tf:
        members = [
            m
            for m in tf.getmembers()
            if m.isfile() and m.name.endswith(".wit") and ".." not in m.name
        ]
        tf.extractall(dest, members=members, filter="data")


def component_imports(data: bytes) -> Resolve:
    """The packages of a component's world (imported and exported interfaces), from its binary."""
    return world_from_component(data)[0]


# --- canonical forms ---------------------------------------------------------------------


def compat(version: str | None) -> str:
    """The semver-compatibility key of a version: ``0.2.9`` -> ``0.2``, ``1.4.0`` -> ``1``."""
    if version is None:
        return ""
    parts = version.split("-")[0].split(".")
    return ".".join(parts[:2]) if parts[0] == "0" else parts[0]


def pkg_key(name: M.PackageName) -> str:
    return f"{name.namespace}:{name.name}@{compat(name.version)}"


def owner_key(owner: M.Interface | M.World | None) -> str:
    if isinstance(owner, M.Interface) and owner.package is not None:
        return f"{pkg_key(owner.package.name)}/{owner.name}"
    if isinstance(owner, M.World):
        return f"world {owner.name}"
    return "?"


def item_key(key: str) -> str:
    """A world item name with its version made semver-compatible."""
    name, at, ver = key.partition("@")
    return f"{name}@{compat(ver)}" if at else key


Canon = str | tuple[object, ...] | None


def canon(t: M.Type | None, value: bool = True) -> Canon:
    """A structural, resolve-independent form of a type.

    ``value``: ``t`` is used as a value type, where a bare resource means an
    owned handle (WIT writes ``own<r>`` as ``r``; a decoded binary has the handle).
    """
    if t is None:
        return None
    t = M.unalias(t)
    if isinstance(t, T.PrimType):
        return t.name
    if isinstance(t, T.ErrorContextType):
        return "error-context"
    k = t.kind
    if isinstance(k, M.Resource):
        res = ("resource", owner_key(t.owner), t.name)
        return ("own", res) if value else res
    body: Canon
    if isinstance(k, M.Record):
        body = ("record", tuple((f.name, canon(f.type)) for f in k.fields))
    elif isinstance(k, M.Variant):
        body = ("variant", tuple((c.name, canon(c.type)) for c in k.cases))
    elif isinstance(k, M.Enum):
        body = ("enum", tuple(c.name for c in k.cases))
    elif isinstance(k, M.Flags):
        body = ("flags", tuple(f.name for f in k.flags))
    elif isinstance(k, M.Tuple):
        body = ("tuple", tuple(canon(x) for x in k.types))
    elif isinstance(k, M.Option):
        body = ("option", canon(k.type))
    elif isinstance(k, M.Result):
        body = ("result", canon(k.ok), canon(k.err))
    elif isinstance(k, M.List):
        body = ("list", canon(k.type))
    elif isinstance(k, M.FixedList):
        body = ("list", canon(k.type), k.length)
    elif isinstance(k, M.Map):
        body = ("map", canon(k.key), canon(k.value))
    elif isinstance(k, M.Future):
        body = ("future", canon(k.type))
    elif isinstance(k, M.Stream):
        body = ("stream", canon(k.type))
    elif isinstance(k, M.Handle):
        body = ("borrow" if k.borrow else "own", canon(k.resource, value=False))
    else:  # pragma: no cover - Alias is unaliased above
        raise TypeError(f"unexpected type kind {k!r}")
    if t.name is not None and isinstance(k, M.Record | M.Variant | M.Enum | M.Flags):
        return ("named", owner_key(t.owner), t.name, body)
    return body


def signature(f: M.Function) -> Canon:
    return (
        f.kind,
        f.resource.name if f.resource is not None else None,
        tuple((n, canon(t)) for n, t in f.params),
        canon(f.result),
        f.is_async,
    )


# --- comparison --------------------------------------------------------------------------


@dataclass
class Report:
    """Counts of what matched, and every difference found (empty: all matched)."""

    label: str
    interfaces: int = 0
    functions: int = 0
    types: int = 0
    worlds: int = 0
    diffs: list[str] = field(default_factory=list)
    skipped: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.diffs

    def summary(self) -> str:
        s = (
            f"{self.label}: {self.interfaces} interfaces, {self.functions} functions, "
            f"{self.types} types, {self.worlds} worlds matched; {len(self.diffs)} differences"
        )
        if self.skipped:
            s += f" (not ours, skipped: {', '.join(sorted(self.skipped))})"
        return s


def _packages(r: Resolve) -> Iterator[M.Package]:
    return (p for p in r.packages.values() if p.name.namespace == "wasi")


def compare(ours: Resolve, theirs: Resolve, report: Report, subset: bool) -> Report:
    """Compare every WASI package of ``theirs`` that ``ours`` defines.

    ``subset``: ``theirs`` is what a component imports, so only its items are
    checked; otherwise both sides must hold the same items, worlds included.
    """
    mine = {pkg_key(p.name): p for p in _packages(ours)}
    for tp in _packages(theirs):
        op = mine.get(pkg_key(tp.name))
        if op is None:
            report.skipped.add(str(tp.name))
            continue
        for name, ti in tp.interfaces.items():
            oi = op.interfaces.get(name)
            if oi is None:
                report.diffs.append(f"{tp.name}: interface `{name}` is not in ours")
                continue
            compare_interface(oi, ti, report, subset)
        if subset:
            continue
        for name in op.interfaces.keys() - tp.interfaces.keys():
            report.diffs.append(f"{tp.name}: our interface `{name}` is not in theirs")
        for name, tw in tp.worlds.items():
            ow = op.worlds.get(name)
            if ow is None:
                report.diffs.append(f"{tp.name}: world `{name}` is not in ours")
                continue
            compare_world(ow, tw, report)
        for name in op.worlds.keys() - tp.worlds.keys():
            report.diffs.append(f"{tp.name}: our world `{name}` is not in theirs")
    return report


def compare_interface(o: M.Interface, t: M.Interface, report: Report, subset: bool) -> None:
    where = o.id or o.name
    n = len(report.diffs)
    for name, tt in t.types.items():
        ot = o.types.get(name)
        if ot is None:
            report.diffs.append(f"{where}: type `{name}` is not in ours")
        elif canon(ot, value=False) != canon(tt, value=False):
            report.diffs.append(
                f"{where}: type `{name}` differs: ours {canon(ot, value=False)}, "
                f"theirs {canon(tt, value=False)}"
            )
        else:
            report.types += 1
    for name, tf in t.functions.items():
        of = o.functions.get(name)
        if of is None:
            report.diffs.append(f"{where}: function `{name}` is not in ours")
        elif signature(of) != signature(tf):
            report.diffs.append(
                f"{where}: function `{name}` differs: ours {signature(of)}, theirs {signature(tf)}"
            )
        else:
            report.functions += 1
    if not subset:
        for name in o.types.keys() - t.types.keys():
            report.diffs.append(f"{where}: our type `{name}` is not in theirs")
        for name in o.functions.keys() - t.functions.keys():
            report.diffs.append(f"{where}: our function `{name}` is not in theirs")
    if len(report.diffs) == n:
        report.interfaces += 1


def _world_items(items: dict[str, M.WorldItem]) -> dict[str, Canon]:
    out: dict[str, Canon] = {}
    for k, v in items.items():
        if isinstance(v, M.Interface):
            out[item_key(k)] = "interface"
        elif isinstance(v, M.Function):
            out[item_key(k)] = signature(v)
        else:
            out[item_key(k)] = canon(v)
    return out


def compare_world(o: M.World, t: M.World, report: Report) -> None:
    n = len(report.diffs)
    for direction, oi, ti in (("import", o.imports, t.imports), ("export", o.exports, t.exports)):
        a, b = _world_items(oi), _world_items(ti)
        for k in sorted(a.keys() | b.keys()):
            if k not in a:
                report.diffs.append(f"world {o.name}: {direction} `{k}` is not in ours")
            elif k not in b:
                report.diffs.append(f"world {o.name}: our {direction} `{k}` is not in theirs")
            elif a[k] != b[k]:
                report.diffs.append(f"world {o.name}: {direction} `{k}` differs")
    if len(report.diffs) == n:
        report.worlds += 1


# --- the two modes -----------------------------------------------------------------------


def check_jco(root: Path) -> list[Report]:
    """Compare our two series with the matching jco WIT trees."""
    dirs = jco_dirs(root)
    reports = []
    for series in SERIES:
        vers = [v for v in dirs if compat(v) == series]
        if not vers:
            raise Unavailable(f"jco ships no WASI {series}.x WIT")
        # the newest patch version whose tree holds wasi:cli
        ver = max(
            (v for v in vers if (dirs[v] / "wasi-cli").is_dir()),
            key=lambda v: tuple(int(x) for x in v.split(".")),
        )
        theirs = load_files(sorted(dirs[ver].rglob("*.wit")))
        ours, _ = load_ours(series)
        reports.append(compare(ours, theirs, Report(f"jco {ver} vs ours {series}"), subset=False))
    return reports


def check_component(path: Path, label: str | None = None) -> Report:
    """Compare the WASI 0.3 and 0.2 interfaces a component imports or exports with ours."""
    theirs = component_imports(path.read_bytes())
    report = Report(label or path.name)
    for series in SERIES:
        ours, _ = load_ours(series)
        compare(ours, theirs, report, subset=True)
    # packages of the other series are "skipped" by one pass and compared by the other
    compared = {pkg_key(p.name) for s in SERIES for p in _packages(load_ours(s)[0])}
    report.skipped = {s for s in report.skipped if _key_of(s) not in compared}
    return report


def _key_of(name: str) -> str:
    pkg, _, ver = name.partition("@")
    return f"{pkg}@{compat(ver)}"


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("jco", "components"):
        print(__doc__)
        return 2
    reports: list[Report] = []
    if argv[0] == "jco":
        try:
            reports = check_jco(fetch_jco(argv[1] if len(argv) > 1 else None))
        except Unavailable as e:
            print(f"skipped: {e}")
            return 2
    else:
        files: list[Path] = []
        for a in argv[1:]:
            p = Path(a)
            files.extend(sorted(p.glob("*.wasm")) if p.is_dir() else [p])
        reports = [check_component(f) for f in files]
    for r in reports:
        print(r.summary())
        for d in r.diffs:
            print("  " + d)
    if len(reports) > 1:
        total = Report(f"total over {len(reports)}")
        for r in reports:
            total.interfaces += r.interfaces
            total.functions += r.functions
            total.types += r.types
            total.worlds += r.worlds
            total.diffs += r.diffs
        print(total.summary())
    return 0 if all(r.ok for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
