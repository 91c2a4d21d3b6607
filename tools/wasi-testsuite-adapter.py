"""wasi-testsuite runtime adapter for wasmloom.

Use with the suite's own runner (Python >= 3.12)::

    cd wasi-testsuite
    python3.12 run-tests --runtime-adapter /path/to/wasmloom/tools/wasi-testsuite-adapter.py \\
        --json-output-location results.json

It runs ``wasmloom run`` (WASI 0.1 core modules and WASI 0.3 components alike;
with ``-Sinherit-network`` for the sockets tests;
``wasmloom serve -Scli --addr=127.0.0.1:0`` for the ``wasi:http/service``
world) with the interpreter named by ``$WASMLOOM_PYTHON`` (default:
``python3.11``, where wasmloom is installed), or the command in ``$WASMLOOM``
(shell-split) when set.
"""

import os
import shlex
import subprocess
from typing import Dict, List, Optional, Tuple

_CMD = shlex.split(
    os.getenv("WASMLOOM")
    or f"{shlex.quote(os.getenv('WASMLOOM_PYTHON', 'python3.11'))} -m wasmloom"
)


def get_name() -> str:
    return "wasmloom"


def get_version() -> str:
    out = subprocess.run(
        _CMD[:1] + ["-c", "import importlib.metadata as m; print(m.version('wasmloom'))"],
        capture_output=True,
        encoding="utf-8",
        check=False,
    )
    return out.stdout.strip() or "unknown"


def get_wasi_versions() -> List[str]:
    return ["wasm32-wasip1", "wasm32-wasip3"]


def get_wasi_worlds() -> List[str]:
    return ["wasi:cli/command", "wasi:http/service"]


def compute_argv(
    test_path: str,
    args_env_root: Tuple[List[str], Dict[str, str], Optional[str]],
    proposals: List[str],
    wasi_world: str,
    wasi_version: str,
) -> List[str]:
    args, env, root = args_env_root
    if wasi_world == "wasi:http/service":
        argv = [*_CMD, "serve", "-Scli", "--addr=127.0.0.1:0"]
    else:
        argv = [*_CMD, "run"]
        if "sockets" in proposals:
            argv.append("-Sinherit-network")
    for k, v in env.items():
        argv += ["--env", f"{k}={v}"]
    if root:
        argv += ["--dir", f"{root}::/"]
    argv.append(test_path)
    argv += args
    return argv
