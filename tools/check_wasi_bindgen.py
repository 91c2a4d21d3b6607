"""Generate bindings for every world of the WASI 0.2.x and 0.3.0 WIT packages and run mypy --strict.

    python3 tools/check_wasi_bindgen.py [JCO_TARBALL_OR_DIR]

The WIT comes from the npm package ``@bytecodealliance/jco`` (``npm pack``
fetches only its tarball; its WIT lives under ``lib/wit/builtin/<version>/``).
Nothing is copied into the project: everything happens in a temporary
directory. Exits 0 when every world generated and mypy accepted all of them,
2 when the WIT is unavailable (no npm, no network), else 1.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from wasmloom.bindgen.gen import write
from wasmloom.wit.resolve import Resolve

VERSIONS = ("0.2.12", "0.3.0")


def fetch_jco(dest: Path, given: str | None) -> Path | None:
    """The directory holding ``lib/wit/builtin``, or None when it cannot be had."""
    if given and Path(given).is_dir():
        return Path(given)
    tgz = Path(given) if given else None
    if tgz is None:
        if shutil.which("npm") is None:
            return None
        r = subprocess.run(
            ["npm", "pack", "@bytecodealliance/jco", "--silent"],
            cwd=dest, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        if r.returncode != 0:
            return None
        tgz = dest / r.stdout.strip().splitlines()[-1]
    with tarfile.open(tgz) as tf:
        tf.extractall(dest, filter="data")
    return dest / "package"


def worlds(builtin: Path, version: str, work: Path) -> list[tuple[str, Path, str]]:
    """``(label, package dir, world)`` for every world of every package of ``version``."""
    base = builtin / version
    pkgs = sorted(p for p in base.iterdir() if p.is_dir())
    out = []
    for p in pkgs:
        d = work / f"{version}-{p.name}"
        (d / "deps").mkdir(parents=True)
        shutil.copy(p / "package.wit", d / "package.wit")
        for q in pkgs:
            if q is not p:
                (d / "deps" / q.name).mkdir()
                shutil.copy(q / "package.wit", d / "deps" / q.name / "package.wit")
        r = Resolve()
        pkg = r.push_path(d)
        for w in pkg.worlds:
            out.append((f"{pkg.name}/{w}", d, w))
    return out


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        root = fetch_jco(work, sys.argv[1] if len(sys.argv) > 1 else None)
        if root is None:
            print("skipped: the jco package (npm) is not available")
            return 2
        builtin = root / "lib" / "wit" / "builtin"
        out = work / "out"
        out.mkdir()
        names = []
        for v in VERSIONS:
            for label, d, w in worlds(builtin, v, work):
                r = Resolve()
                pkg = r.push_path(d)
                mod = "wasi_" + label.replace(":", "_").replace("/", "_").replace("@", "_")
                mod = mod.replace(".", "_").replace("-", "_")
                write(r, r.select_world(pkg, w), out / mod)
                names.append((label, mod))
                print(f"generated {label} -> {mod}")
        res = subprocess.run(
            [sys.executable, "-m", "mypy", "--strict", "--no-incremental",
             *[str(out / m) for _, m in names]],
            capture_output=True, text=True,
        )  # fmt: skip
        print(res.stdout.strip())
        return 0 if res.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
