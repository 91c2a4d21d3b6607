"""The bundled examples the README's set-up commands run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_hello_wasi_runs() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "wasmloom", "run", str(EXAMPLES / "hello-wasi.wat")],
        capture_output=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"Hello from a WASI 0.3 component, run by wasmloom!\n"


def test_hello_py_embeds_a_component() -> None:
    r = subprocess.run(
        [sys.executable, str(EXAMPLES / "hello.py"), "Zoë"],
        capture_output=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == "[guest log] Hello, Zoë!\nHello, Zoë!\n"
