"""The ``wasmloom`` command line, run as a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

WAST = Path(__file__).parent / "wast"


def wasmloom(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wasmloom", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_passing_files() -> None:
    proc = wasmloom("wast", WAST / "core.wast", WAST / "malformed.wast")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines == [
        f"PASS {WAST / 'core.wast'} (11 commands)",
        f"PASS {WAST / 'malformed.wast'} (5 commands)",
        "2 passed, 0 failed",
    ]


def test_verbose_lists_every_command() -> None:
    proc = wasmloom("wast", "-v", WAST / "core.wast")
    assert proc.returncode == 0
    assert "  ok   line 5: register" in proc.stdout.splitlines()
    assert proc.stdout.splitlines()[-1] == "1 passed, 0 failed"


def test_failures_skips_and_summary(tmp_path: Path) -> None:
    failing = tmp_path / "failing.wast"
    failing.write_text(
        '(module (func (export "one") (result i32) (i32.const 1)))\n'
        '(assert_return (invoke "one") (i32.const 2))\n'
        '(assert_return (invoke "one") (i32.const 1))\n'
    )
    skipped = tmp_path / "later.wast"
    skipped.write_text("(module)\n")
    rejected = tmp_path / "rejected.wast"
    rejected.write_text(
        "(component (canon waitable-set.wait cancellable (memory 0) (core func)))\n"
    )
    nyi = tmp_path / "nyi.txt"
    nyi.write_text("./later.wast\n")

    proc = wasmloom("wast", "--skip-list", nyi, failing, skipped, rejected, WAST / "malformed.wast")
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines[0] == f"FAIL {failing}: 1 of 3 failed"
    assert lines[1] == "  FAIL line 2: assert_return: expected i32 2, got 1"
    assert lines[2] == f"PASS {WAST / 'malformed.wast'} (5 commands)"
    assert lines[3] == f"skipped {skipped}: listed in nyi.txt"
    assert lines[4].startswith(f"skipped {rejected}: json-from-wast failed:")
    assert "cancellable" in lines[4]
    assert lines[5:] == ["1 passed, 1 failed, 2 skipped"]


def test_directory_argument_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.wast").write_text('(assert_malformed (module binary "") "eof")\n')
    missing = tmp_path / "missing.wast"
    proc = wasmloom("wast", tmp_path, missing)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        f"PASS {tmp_path / 'sub' / 'a.wast'} (1 commands)",
        f"FAIL {missing}: no such file",
        "1 passed, 1 failed",
    ]


def test_usage_errors() -> None:
    assert wasmloom().returncode == 2
    assert wasmloom("wast").returncode == 2
    help_text = wasmloom("--help")
    assert help_text.returncode == 0 and "wast" in help_text.stdout
