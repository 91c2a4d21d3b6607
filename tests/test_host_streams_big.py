"""Bulk data host -> guest -> host through the upper-casing guest, byte-exact and in bounded memory.

``WASMLOOM_STREAM_BYTES`` sets the size (default 64 MiB; the acceptance run is
1 GiB: ``WASMLOOM_STREAM_BYTES=1073741824``).
"""

from __future__ import annotations

import hashlib
import os
import resource
import time
from typing import Any

from guest_util import component

from wasmloom import Linker, Store
from wasmloom.host.streams import Destination, Source, StreamReader, StreamResult

TOTAL = int(os.environ.get("WASMLOOM_STREAM_BYTES", 64 << 20))
BLOCK = (b"The quick brown fox jumps over the lazy dog; 0123456789!\n" * 20000)[: 1 << 20]


class Pattern:
    """Produces ``total`` bytes of a repeated 1 MiB block, straight into the guest's buffer."""

    def __init__(self, total: int) -> None:
        self.left = total
        self.block = memoryview(BLOCK)
        self.pos = 0

    def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
        view = dst.as_direct(min(self.left, len(self.block) - self.pos))
        n = len(view)
        view[:] = self.block[self.pos : self.pos + n]
        dst.mark_written(n)
        self.pos = (self.pos + n) % len(self.block)
        self.left -= n
        return StreamResult.DROPPED if self.left == 0 else StreamResult.COMPLETED


class Hasher:
    """Hashes the bytes written, straight from the guest's buffer."""

    def __init__(self) -> None:
        self.h = hashlib.sha256()
        self.n = 0
        self.closed = False

    def poll_consume(self, store: Any, src: Source, finish: bool) -> StreamResult:
        view = src.as_direct()
        self.h.update(view)
        self.n += len(view)
        src.mark_read(len(view))
        return StreamResult.COMPLETED

    def close(self) -> None:
        self.closed = True


def expected_sha256(total: int) -> str:
    h = hashlib.sha256()
    up = BLOCK.upper()
    for _ in range(total // len(up)):
        h.update(up)
    h.update(up[: total % len(up)])
    return h.hexdigest()


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_bulk_upper_case_round_trip() -> None:
    store: Store[None] = Store()
    inst = Linker().instantiate(store, component("streams_rc"))

    def call(name: str, *args: Any) -> Any:
        f = inst.get_func(name)
        assert f is not None
        return f(store, *args)

    expected = expected_sha256(TOTAL)
    before = rss_kib()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    hasher = Hasher()
    v = call("new-stream")
    call("give", v & 0xFFFF_FFFF).pipe(store, hasher)
    h = call("hold", StreamReader.new(store, Pattern(TOTAL)))
    t = time.perf_counter()
    assert call("pump", h, v >> 32) == 0
    dt = time.perf_counter() - t
    peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    growth_mib = (max(peak_after - peak_before, rss_kib() - before)) / 1024
    print(
        f"\n{TOTAL / 2**20:.0f} MiB in {dt:.2f} s: {TOTAL / dt / 2**30:.2f} GiB/s,"
        f" RSS growth {growth_mib:.1f} MiB"
    )
    assert hasher.n == TOTAL and hasher.closed
    assert hasher.h.hexdigest() == expected
    assert growth_mib < 64
