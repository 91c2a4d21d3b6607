"""Preemption is invisible to guests: the async suites pass with a 50x faster ticker.

At every epoch tick a guest running on a fiber yields to the asyncio loop, and its
instance is preempted until it runs again (wasmloom.runtime.tasks). With the default
10 ms tick the suites' short guests rarely cross a tick; here the ticker runs every
0.2 ms (``$WASMLOOM_EPOCH_TICK``), so they are preempted everywhere, and every
outcome (results, traps and their messages, poisoning, stream and future ends) must
stay what it is without preemption.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SUITES = [
    "test_async_traps.py",
    "test_async_threads.py",
    "test_async_lifecycle.py",
    "test_async_api.py",
    "test_post_return_blocking.py",
    "test_host_streams_async.py",
    "test_componentize_async.py",
]


def test_async_suites_pass_when_preempted_everywhere() -> None:
    env = dict(os.environ, WASMLOOM_EPOCH_TICK="0.0002")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-x",
            *(str(TESTS / s) for s in SUITES),
        ],
        cwd=TESTS.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
