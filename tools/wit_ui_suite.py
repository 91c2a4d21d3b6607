"""Run the wasm-tools wit-parser UI suite against wasmloom.wit (not a CI test).

Usage: python tools/wit_ui_suite.py [WASM_TOOLS_GIT_DIR] [-v]
The directory is a git dir (as the `fetch` tool leaves it); the suite is
checked out into a temporary directory first.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from wasmloom.wit import WitError
from wasmloom.wit.printer import print_package
from wasmloom.wit.resolve import Resolve


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    verbose = "-v" in sys.argv
    git_dir = args[0] if args else "/work/.mirror/bytecodealliance+wasm-tools/repo"
    with tempfile.TemporaryDirectory() as tmp:
        tar = subprocess.run(
            ["git", "--git-dir", git_dir, "archive", "HEAD", "crates/wit-parser/tests/ui"],
            check=True, capture_output=True,
        ).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", tmp], input=tar, check=True)
        ui = Path(tmp) / "crates/wit-parser/tests/ui"
        valid = [p for p in sorted(ui.iterdir()) if p.name != "parse-fail" and _is_test(p)]
        fail = [p for p in sorted((ui / "parse-fail").iterdir()) if _is_test(p)]
        ok = rejected = round_trips = 0
        for p in valid:
            try:
                pkg = Resolve(features={"active"}).push_path(p)
                ok += 1
                text = print_package(pkg, deps=True)
                again = print_package(Resolve(features={"active"}).push_text(text), deps=True)
                if again == text:
                    round_trips += 1
                else:
                    print(f"ROUND TRIP DIFFERS {p.name}")
            except WitError as e:
                print(f"VALID FAILED {p.name}: {e}")
            except Exception as e:
                print(f"VALID CRASHED {p.name}: {type(e).__name__}: {e}")
        for p in fail:
            try:
                Resolve(features={"active"}).push_path(p)
                print(f"NOT REJECTED {p.name}")
            except WitError as e:
                rejected += 1
                if verbose:
                    print(f"rejected {p.name}: {str(e).splitlines()[0]}")
            except Exception as e:
                print(f"FAIL CRASHED {p.name}: {type(e).__name__}: {e}")
        n_valid = len(valid)
        print(f"valid resolved: {ok}/{n_valid} (binary-encoded packages included)")
        print(f"print -> parse -> print identical: {round_trips}/{ok}")
        print(f"parse-fail rejected: {rejected}/{len(fail)}")
        return 0 if ok == n_valid and rejected == len(fail) else 1


def _is_test(p: Path) -> bool:
    return p.is_dir() or p.suffix in (".wit", ".wat", ".wasm", ".md")


if __name__ == "__main__":
    sys.exit(main())
