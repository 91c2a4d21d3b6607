"""Stream throughput, host <-> guest, against tests/guests/streams_rc.wat.

One run prints, side by side, for stream<u8> with 64 KiB guest buffers:

- host->guest: the producer reads a file into the stream. *direct*:
  ``f.readinto(dst.as_direct(room))``, the file's bytes land in guest memory;
  *copying*: ``chunk = f.read(room)`` (a fresh bytes object), then
  ``dst.set_buffer(chunk)`` (the runtime copies it into guest memory).
- guest->host: the consumer writes what the guest wrote to a file. *direct*:
  ``f.write(src.as_direct())``; *copying*: ``src.read(buf)`` into a fresh
  bytearray, then ``f.write(buf)``.

Both paths do the same producer/consumer work; only the buffer handling
differs. Two kinds of file: an in-memory one (``io.BytesIO``: its read and
write are memcpys) and a real file on tmpfs (``/dev/shm``, unbuffered
``FileIO``: read/write system calls). The per-item path (lists of ints, what
any non-u8 element type takes) is shown for scale, then memcpy of the same
bytes, then stream<u32> items/s with small guest buffers. *file alone* is the
same file work with no stream at all (64 KiB reads into, or writes from, one
buffer): the bound that the direct path approaches as the runtime's cost per
step goes to zero. Each is measured twice: with 1 MiB of data, read and
written cyclically, which stays in the CPU caches (so the rows show the
runtime's own cost), and with 64 MiB, which streams from and to main memory;
the memcpy peer is measured on the same two sizes.

First, per-step costs (``--steps`` prints only these), in CPU time of this
thread (``time.thread_time``: time spent waiting for a core on a loaded machine
is left out), each the median of several rounds that alternate with their peer:

- a 64 KiB zero-copy step, host->guest (the producer copies 64 KiB into
  ``dst.as_direct(...)``) and guest->host (the consumer copies
  ``src.as_direct()`` out), against a 64 KiB memcpy (memoryview slice
  assignment) between the same buffers: the step's *fixed cost* is its time
  less the memcpy's; budget: fixed cost <= 1.5 us, stream >= 50% of memcpy;
- a null step (the producer or consumer commits the whole buffer without
  copying a byte): the runtime's fixed cost plus the protocol calls;
- 1-byte writes: the guest's ``stream.write`` of 1 byte to a host consumer
  (a guest loop), a host producer giving 1 byte per read (``set_buffer``), and
  a host call of a guest export that writes 1 byte (the export's function
  looked up once, outside the timed loop); budget <= 10 us.

    python bench/streams.py [MiB] [--steps]
"""

from __future__ import annotations

import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, BinaryIO

from wasmloom import Component, Linker, Store
from wasmloom.host.streams import Destination, ListProducer, Source, StreamReader, StreamResult

GUEST = Path(__file__).parent.parent / "tests" / "guests" / "streams_rc.wat"
CHUNK = 65536
# Files are read and written cyclically (RSS stays bounded): a 1 MiB one stays
# in the CPU caches, a 64 MiB one streams from and to main memory.
DATA_SIZES = ((1 << 20, "1 MiB"), (64 << 20, "64 MiB"))

COMPLETED = StreamResult.COMPLETED
DROPPED = StreamResult.DROPPED


class _FileProducer:
    """Reads ``total`` bytes from ``f`` (rewinding at its end) into the stream."""

    def __init__(self, f: BinaryIO, total: int) -> None:
        self.f, self.left = f, total


class DirectFileProducer(_FileProducer):
    def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
        room = dst.remaining()
        assert room is not None
        view = dst.as_direct(min(room, self.left))
        n = self.f.readinto(view)  # type: ignore[attr-defined]
        if not n:
            self.f.seek(0)
            n = self.f.readinto(view)  # type: ignore[attr-defined]
        dst.mark_written(n)
        self.left -= n
        return DROPPED if self.left == 0 else COMPLETED


class CopyingFileProducer(_FileProducer):
    def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
        room = dst.remaining()
        assert room is not None
        want = min(room, self.left)
        chunk = self.f.read(want)
        if not chunk:
            self.f.seek(0)
            chunk = self.f.read(want)
        dst.set_buffer(chunk)
        self.left -= len(chunk)
        return DROPPED if self.left == 0 else COMPLETED


class ItemsFileProducer(_FileProducer):
    def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
        room = dst.remaining()
        assert room is not None
        want = min(room, self.left)
        chunk = self.f.read(want)
        if not chunk:
            self.f.seek(0)
            chunk = self.f.read(want)
        dst.set_buffer(list(chunk))
        self.left -= len(chunk)
        return DROPPED if self.left == 0 else COMPLETED


class _FileConsumer:
    """Writes what the guest writes to ``f``, rewinding every ``size`` bytes."""

    def __init__(self, f: BinaryIO, size: int) -> None:
        self.f, self.pos, self.size = f, 0, size

    def wrote(self, n: int) -> None:
        self.pos += n
        if self.pos >= self.size:
            self.f.seek(0)
            self.pos = 0


class DirectFileConsumer(_FileConsumer):
    def poll_consume(self, store: Any, src: Source, finish: bool) -> StreamResult:
        view = src.as_direct()
        n = self.f.write(view)
        src.mark_read(n)
        self.wrote(n)
        return COMPLETED


class CopyingFileConsumer(_FileConsumer):
    def poll_consume(self, store: Any, src: Source, finish: bool) -> StreamResult:
        buf = bytearray()
        src.read(buf)
        self.wrote(self.f.write(buf))
        return COMPLETED


class ItemsFileConsumer(_FileConsumer):
    def poll_consume(self, store: Any, src: Source, finish: bool) -> StreamResult:
        items: list[int] = []
        src.read(items)
        self.wrote(self.f.write(bytes(items)))
        return COMPLETED


def _file_alone(way: str, f: Any, size: int, total: int) -> float:
    """The file work with no stream: 64 KiB reads into (writes from) one buffer."""
    view = memoryview(bytearray(CHUNK))
    done = pos = 0
    t = time.perf_counter()
    while done < total:
        if way == "host->guest":
            n = f.readinto(view)
            if not n:
                f.seek(0)
                n = f.readinto(view)
        else:
            n = f.write(view)
            pos += n
            if pos >= size:
                f.seek(0)
                pos = 0
        done += n
    return done / (time.perf_counter() - t)


def _memcpy(size: int, total: int) -> float:
    """memcpy of ``total`` bytes out of a ``size``-byte source, 64 KiB at a time."""
    src = memoryview(bytes(range(256)) * (size // 256))
    out = memoryview(bytearray(CHUNK))
    done = 0
    t = time.perf_counter()
    while done < total:
        for off in range(0, size, CHUNK):
            out[:] = src[off : off + CHUNK]
        done += size
    return done / (time.perf_counter() - t)


# --- per-step costs ------------------------------------------------------------------------

_SRC = memoryview(bytes(range(256)) * (CHUNK // 256))
_OUT = memoryview(bytearray(CHUNK))


class CopyingStepProducer:
    """Copies 64 KiB into the reader's buffer per step (``copy``), or only commits it."""

    def __init__(self, total: int, copy: bool) -> None:
        self.left, self.copy = total, copy

    def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
        view = dst.as_direct(CHUNK)  # up to 64 KiB: as much as the reader has room for
        n = len(view)
        if self.copy:
            view[:] = _SRC if n == CHUNK else _SRC[:n]
        dst.mark_written(n)
        self.left -= n
        return DROPPED if self.left <= 0 else COMPLETED


class CopyingStepConsumer:
    """Copies the writer's bytes out per step (``copy``), or only consumes them."""

    def __init__(self, copy: bool) -> None:
        self.copy = copy

    def poll_consume(self, store: Any, src: Source, finish: bool) -> StreamResult:
        view = src.as_direct()
        n = len(view)
        if self.copy:
            if n == CHUNK:
                _OUT[:] = view
            else:
                _OUT[:n] = view
        src.mark_read(n)
        return COMPLETED


class ByteProducer:
    """One byte per read (``set_buffer``), ``count`` times."""

    def __init__(self, count: int) -> None:
        self.left = count

    def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
        dst.set_buffer(b"x")
        self.left -= 1
        return DROPPED if self.left == 0 else COMPLETED


def _memcpy_step(n: int) -> float:
    """Seconds per 64 KiB memcpy between the two step buffers' peers."""
    src, out = _SRC, _OUT
    t = time.thread_time()
    for _ in range(n):
        out[:] = src
    return (time.thread_time() - t) / n


def step_costs(store: Any, call: Any, export: Any, rounds: int) -> None:
    """Print the per-step table (see the module docstring); medians of ``rounds``.

    ``call(name, *args)`` calls export ``name``; ``export(name)`` is its function.
    """
    n = 4000

    def h2g(copy: bool) -> float:
        h = call("hold", StreamReader.new(store, CopyingStepProducer(n * CHUNK, copy)))
        t = time.thread_time()
        assert call("sink", h) == n * CHUNK
        return (time.thread_time() - t) / n

    def g2h(copy: bool) -> float:
        v = call("new-stream")
        call("give", v & 0xFFFF_FFFF).pipe(store, CopyingStepConsumer(copy))
        t = time.thread_time()
        assert call("source", v >> 32, n * CHUNK) == n * CHUNK
        return (time.thread_time() - t) / n

    def byte_write() -> float:
        v = call("new-stream")
        call("give", v & 0xFFFF_FFFF).pipe(store, CopyingStepConsumer(False))
        t = time.thread_time()
        assert call("drip", v >> 32, 1, n) == n
        dt = (time.thread_time() - t) / n
        call("drop-writable", v >> 32)
        return dt

    def byte_read() -> float:
        h = call("hold", StreamReader.new(store, ByteProducer(n)))
        t = time.thread_time()
        assert call("sink", h) == n
        return (time.thread_time() - t) / n

    def byte_export() -> float:
        v = call("new-stream")
        call("give", v & 0xFFFF_FFFF).pipe(store, CopyingStepConsumer(False))
        w = v >> 32
        k = n // 4
        write = export("write")  # looked up once, as a host keeps the function it calls
        t = time.thread_time()
        for _ in range(k):
            write(store, w, 1)
        dt = (time.thread_time() - t) / k
        call("drop-writable", w)
        return dt

    cases: dict[str, Any] = {
        "memcpy": lambda: _memcpy_step(n),
        "h2g": lambda: h2g(True),
        "g2h": lambda: g2h(True),
        "h2g null": lambda: h2g(False),
        "g2h null": lambda: g2h(False),
        "byte write": byte_write,
        "byte read": byte_read,
        "byte export": byte_export,
    }
    samples: dict[str, list[float]] = {k: [] for k in cases}
    for fn in cases.values():
        fn()  # warm up
    for _ in range(rounds):
        for k, fn in cases.items():
            samples[k].append(fn())
    us = {k: statistics.median(v) * 1e6 for k, v in samples.items()}
    m = us["memcpy"]
    print(f"per-step costs, median of {rounds} rounds (us per step)")
    print(f"  64 KiB memcpy (memoryview slice assignment): {m:6.2f}")
    verdicts = []
    for way in ("h2g", "g2h"):
        name = "host->guest" if way == "h2g" else "guest->host"
        step, null = us[way], us[f"{way} null"]
        fixed = step - m
        share = m / step
        print(
            f"  {name} 64 KiB zero-copy step: {step:6.2f}  fixed cost {fixed:5.2f}"
            f" ({share:4.0%} of memcpy)   null step {null:5.2f}"
        )
        verdicts.append(
            (
                f"{name} fixed cost {fixed:.2f} <= 1.5 us, {share:.0%} >= 50% of memcpy",
                fixed <= 1.5 and share >= 0.5,
            )
        )
    for key, what in (
        ("byte write", "guest stream.write of 1 byte to a host consumer"),
        ("byte read", "guest stream.read of 1 byte from a host producer"),
        ("byte export", "host call of a guest export writing 1 byte"),
    ):
        print(f"  {what}: {us[key]:6.2f}")
        verdicts.append((f"{what} {us[key]:.2f} <= 10 us", us[key] <= 10))
    print("budget:")
    for text, ok in verdicts:
        print(f"  {'met' if ok else 'NOT met'}: {text}")


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    mib = int(args[0]) if args else 256
    total = mib << 20
    small = min(total, 4 << 20)
    store: Store[None] = Store()
    inst = Linker().instantiate(store, Component.from_file(GUEST))

    def export(name: str) -> Any:
        f = inst.get_func(name)
        assert f is not None
        return f

    def call(name: str, *args: Any) -> Any:
        return export(name)(store, *args)

    step_costs(store, call, export, 9)
    if "--steps" in sys.argv:
        return

    def h2g(cls: Any, f: Any, size: int) -> float:
        h = call("hold", StreamReader.new(store, cls(f, size)))
        t = time.perf_counter()
        assert call("sink", h) == size
        return size / (time.perf_counter() - t)

    def g2h(cls: Any, f: Any, file_size: int, size: int) -> float:
        v = call("new-stream")
        call("give", v & 0xFFFF_FFFF).pipe(store, cls(f, file_size))
        t = time.perf_counter()
        assert call("source", v >> 32, size) == size
        return size / (time.perf_counter() - t)

    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    results: dict[tuple[str, str, str, str], float] = {}
    memcpy: dict[str, float] = {}
    for file_size, dname in DATA_SIZES:
        content = bytes(range(256)) * (file_size // 256)
        fd, path = tempfile.mkstemp(dir=shm, prefix="wasmloom-bench-")
        os.close(fd)
        Path(path).write_bytes(content)
        out_fd, out_path = tempfile.mkstemp(dir=shm, prefix="wasmloom-bench-out-")
        os.close(out_fd)
        files: dict[str, tuple[Any, Any]] = {
            "BytesIO": (lambda c=content: io.BytesIO(c), io.BytesIO),
            "tmpfs file": (
                lambda p=path: open(p, "rb", buffering=0),
                lambda p=out_path: open(p, "wb", buffering=0),
            ),
        }
        try:
            for fname, (fin, fout) in files.items():
                for kind, prod, cons, size in (
                    ("direct", DirectFileProducer, DirectFileConsumer, total),
                    ("copying", CopyingFileProducer, CopyingFileConsumer, total),
                    ("items", ItemsFileProducer, ItemsFileConsumer, small),
                ):
                    with fin() as f:
                        h2g(prod, f, min(size, 8 << 20))  # warm up
                        results[(dname, "host->guest", fname, kind)] = h2g(prod, f, size)
                    with fout() as f:
                        results[(dname, "guest->host", fname, kind)] = g2h(cons, f, file_size, size)
                with fin() as f:
                    results[(dname, "host->guest", fname, "alone")] = _file_alone(
                        "host->guest", f, file_size, total
                    )
                with fout() as f:
                    results[(dname, "guest->host", fname, "alone")] = _file_alone(
                        "guest->host", f, file_size, total
                    )
        finally:
            os.unlink(path)
            os.unlink(out_path)
        memcpy[dname] = _memcpy(file_size, total)

    gib = 2**30
    print(
        f"stream<u8>, {mib} MiB per row, 64 KiB guest buffers"
        " (GiB/s; % of a 64 KiB-at-a-time memcpy out of the same data)"
    )
    print(
        f"  {'data':<8}{'':<13}{'file':<12}{'direct':>15}{'copying':>15}{'items':>15}"
        f"{'file alone':>15}{'direct/copying':>16}{'direct/alone':>14}"
    )
    verdicts = []
    for _, dname in DATA_SIZES:
        bulk = memcpy[dname]
        for way in ("host->guest", "guest->host"):
            for fname in ("BytesIO", "tmpfs file"):
                d, c, i, a = (
                    results[(dname, way, fname, k)] for k in ("direct", "copying", "items", "alone")
                )
                cells = "".join(f"{r / gib:7.2f} ({r / bulk:4.0%})" for r in (d, c, i, a))
                print(f"  {dname:<8}{way:<13}{fname:<12}{cells}{d / c:15.2f}x{d / a:13.0%}")
                verdicts.append((dname, way, fname, d, c, bulk))
    for _, dname in DATA_SIZES:
        print(f"  memcpy, 64 KiB at a time, out of {dname}: {memcpy[dname] / gib:.2f} GiB/s")
    print("budget (direct >= 4 GiB/s, >= 20% of memcpy, >= 2x copying):")
    for dname, way, fname, d, c, bulk in verdicts:
        misses = []
        if d < 4 * gib:
            misses.append(f"{d / gib:.2f} < 4 GiB/s")
        if d < 0.2 * bulk:
            misses.append(f"{d / bulk:.0%} < 20% of memcpy")
        if d < 2 * c:
            misses.append(f"{d / c:.2f}x < 2x copying")
        verdict = "NOT met: " + ", ".join(misses) if misses else "met"
        print(f"  {dname} {way} {fname}: {verdict}")
    n_items = 1_000_000
    for per_read in (16, 256):
        h = call("hold32", StreamReader.new(store, ListProducer(list(range(n_items)))))
        t = time.perf_counter()
        assert call("sink32", h, per_read) == n_items
        rate = n_items / (time.perf_counter() - t)
        print(f"stream<u32>, {per_read}-item guest buffers: {rate / 1e6:.2f} M items/s")


if __name__ == "__main__":
    main()
