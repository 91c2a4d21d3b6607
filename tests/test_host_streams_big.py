"""Bulk data host -> guest -> host through an upper-casing guest, byte-exact and in bounded memory.

The main run goes through ``upper: async func(s: stream<u8>) -> stream<u8>``
of tests/guests/streams_async.wat (callback ABI: async reads and writes, a
waitable set between events), called with ``await func.call_async`` under
asyncio; the host feeds it with a producer and drains it with a consumer,
both working directly in guest memory and both answering PENDING now and
then (woken from the event loop), so the guest really waits between events.

``WASMLOOM_STREAM_BYTES`` sets the size (default 64 MiB; the acceptance run is
1 GiB: ``WASMLOOM_STREAM_BYTES=1073741824 pytest -s tests/test_host_streams_big.py``).
"""

from __future__ import annotations

import asyncio
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
PAUSE_EVERY = 64  # every 64th step answers PENDING and is woken from the event loop


class Pattern:
    """Produces ``total`` bytes of a repeated 1 MiB block, straight into the guest's buffer."""

    def __init__(self, total: int, pause_every: int = 0) -> None:
        self.left = total
        self.block = memoryview(BLOCK)
        self.pos = 0
        self.steps = 0
        self.pause_every = pause_every
        self.pauses = 0
        self.closed = False

    def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
        self.steps += 1
        if self.pause_every and self.steps % self.pause_every == 0 and not finish:
            self.pauses += 1
            asyncio.get_running_loop().call_soon(dst.wake)
            return StreamResult.PENDING
        view = dst.as_direct(min(self.left, len(self.block) - self.pos))
        n = len(view)
        view[:] = self.block[self.pos : self.pos + n]
        dst.mark_written(n)
        self.pos = (self.pos + n) % len(self.block)
        self.left -= n
        return StreamResult.DROPPED if self.left == 0 else StreamResult.COMPLETED

    def close(self) -> None:
        self.closed = True


class Hasher:
    """Hashes the bytes written, straight from the guest's buffer; ``done`` resolves at the end."""

    def __init__(self, pause_every: int = 0) -> None:
        self.h = hashlib.sha256()
        self.n = 0
        self.closed = False
        self.steps = 0
        self.pause_every = pause_every
        self.done: asyncio.Future[None] | None = None

    def poll_consume(self, store: Any, src: Source, finish: bool) -> StreamResult:
        self.steps += 1
        view = src.as_direct()
        self.h.update(view)
        self.n += len(view)
        src.mark_read(len(view))
        if self.pause_every and self.steps % self.pause_every == 0 and not finish:
            asyncio.get_running_loop().call_soon(src.wake)  # backpressure, then more
            return StreamResult.PENDING
        return StreamResult.COMPLETED

    def close(self) -> None:
        self.closed = True
        if self.done is not None and not self.done.done():
            self.done.set_result(None)


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


def test_bulk_upper_case_round_trip_through_the_async_guest() -> None:
    store: Store[None] = Store()
    inst = Linker().instantiate(store, component("streams_async"))
    upper = inst.get_func("upper")
    assert upper is not None
    expected = expected_sha256(TOTAL)
    producer = Pattern(TOTAL, PAUSE_EVERY)
    hasher = Hasher(PAUSE_EVERY)

    async def main() -> float:
        hasher.done = asyncio.get_running_loop().create_future()
        t = time.perf_counter()
        out = await upper.call_async(store, StreamReader.new(store, producer))
        assert isinstance(out, StreamReader)
        out.pipe(store, hasher)
        await hasher.done
        return time.perf_counter() - t

    before = rss_kib()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    dt = asyncio.run(main())
    peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    growth_mib = (max(peak_after - peak_before, rss_kib() - before)) / 1024
    print(
        f"\nasync upper: {TOTAL / 2**20:.0f} MiB in {dt:.2f} s: {TOTAL / dt / 2**30:.2f} GiB/s,"
        f" peak RSS growth {growth_mib:.1f} MiB, {producer.pauses} producer pauses"
    )
    assert hasher.n == TOTAL and hasher.closed and producer.closed
    assert producer.pauses > 0
    assert hasher.h.hexdigest() == expected
    assert growth_mib < 64


def test_bulk_upper_case_through_the_sync_pump() -> None:
    total = min(TOTAL, 16 << 20)
    store: Store[None] = Store()
    inst = Linker().instantiate(store, component("streams_rc"))

    def call(name: str, *args: Any) -> Any:
        f = inst.get_func(name)
        assert f is not None
        return f(store, *args)

    hasher = Hasher()
    v = call("new-stream")
    call("give", v & 0xFFFF_FFFF).pipe(store, hasher)
    h = call("hold", StreamReader.new(store, Pattern(total)))
    assert call("pump", h, v >> 32) == 0
    assert hasher.n == total and hasher.closed
    assert hasher.h.hexdigest() == expected_sha256(total)
