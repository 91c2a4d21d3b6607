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
step goes to zero.

    python bench/streams.py [MiB]
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, BinaryIO

from wasmloom import Component, Linker, Store
from wasmloom.host.streams import Destination, ListProducer, Source, StreamReader, StreamResult

GUEST = Path(__file__).parent.parent / "tests" / "guests" / "streams_rc.wat"
CHUNK = 65536
FILE_SIZE = 64 << 20  # files are read/written cyclically: RSS stays bounded

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
    """Writes what the guest writes to ``f``, rewinding every ``FILE_SIZE`` bytes."""

    def __init__(self, f: BinaryIO) -> None:
        self.f, self.pos = f, 0

    def wrote(self, n: int) -> None:
        self.pos += n
        if self.pos >= FILE_SIZE:
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


def main() -> None:
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    total = mib << 20
    small = min(total, 4 << 20)
    store: Store[None] = Store()
    inst = Linker().instantiate(store, Component.from_file(GUEST))

    def call(name: str, *args: Any) -> Any:
        f = inst.get_func(name)
        assert f is not None
        return f(store, *args)

    content = bytes(range(256)) * (FILE_SIZE // 256)
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    fd, path = tempfile.mkstemp(dir=shm, prefix="wasmloom-bench-")
    os.close(fd)
    Path(path).write_bytes(content)
    out_fd, out_path = tempfile.mkstemp(dir=shm, prefix="wasmloom-bench-out-")
    os.close(out_fd)

    def mem_in() -> BinaryIO:
        return io.BytesIO(content)

    def mem_out() -> BinaryIO:
        return io.BytesIO()

    def disk_in() -> BinaryIO:
        return open(path, "rb", buffering=0)

    def disk_out() -> BinaryIO:
        return open(out_path, "wb", buffering=0)

    def h2g(cls: Any, opener: Any, size: int) -> float:
        with opener() as f:
            h = call("hold", StreamReader.new(store, cls(f, size)))
            t = time.perf_counter()
            assert call("sink", h) == size
            return size / (time.perf_counter() - t)

    def g2h(cls: Any, opener: Any, size: int) -> float:
        with opener() as f:
            v = call("new-stream")
            call("give", v & 0xFFFF_FFFF).pipe(store, cls(f))
            t = time.perf_counter()
            assert call("source", v >> 32, size) == size
            return size / (time.perf_counter() - t)

    def file_alone(way: str, opener: Any, size: int) -> float:
        """The same file work with no stream: 64 KiB reads into (writes from) one buffer."""
        view = memoryview(bytearray(CHUNK))
        with opener() as f:
            done = 0
            t = time.perf_counter()
            if way == "host->guest":
                while done < size:
                    n = f.readinto(view)
                    if not n:
                        f.seek(0)
                        n = f.readinto(view)
                    done += n
            else:
                pos = 0
                while done < size:
                    n = f.write(view)
                    done += n
                    pos += n
                    if pos >= FILE_SIZE:
                        f.seek(0)
                        pos = 0
            return done / (time.perf_counter() - t)

    try:
        results: dict[tuple[str, str, str], float] = {}
        for fname, fin, fout in (("BytesIO", mem_in, mem_out), ("tmpfs file", disk_in, disk_out)):
            for kind, prod, cons, size in (
                ("direct", DirectFileProducer, DirectFileConsumer, total),
                ("copying", CopyingFileProducer, CopyingFileConsumer, total),
                ("items", ItemsFileProducer, ItemsFileConsumer, small),
            ):
                h2g(prod, fin, min(size, 8 << 20))  # warm up
                results[("host->guest", fname, kind)] = h2g(prod, fin, size)
                results[("guest->host", fname, kind)] = g2h(cons, fout, size)
            results[("host->guest", fname, "alone")] = file_alone("host->guest", fin, total)
            results[("guest->host", fname, "alone")] = file_alone("guest->host", fout, total)
    finally:
        os.unlink(path)
        os.unlink(out_path)

    src = memoryview(content)
    dst = memoryview(bytearray(FILE_SIZE))
    t = time.perf_counter()
    for _ in range(max(1, total // FILE_SIZE)):
        dst[:] = src
    bulk = max(1, total // FILE_SIZE) * FILE_SIZE / (time.perf_counter() - t)
    out = memoryview(bytearray(CHUNK))
    t = time.perf_counter()
    done = 0
    while done < total:
        for off in range(0, FILE_SIZE, CHUNK):
            out[:] = src[off : off + CHUNK]
        done += FILE_SIZE
    chunked = done / (time.perf_counter() - t)

    gib = 2**30
    print(f"stream<u8>, {mib} MiB per row, 64 KiB guest buffers (GiB/s; % of one-call memcpy)")
    print(
        f"  {'':<14}{'file':<12}{'direct':>16}{'copying':>16}{'items':>16}"
        f"{'file alone':>16}{'direct/copying':>16}{'direct/alone':>14}"
    )
    verdicts = []
    for way in ("host->guest", "guest->host"):
        for fname in ("BytesIO", "tmpfs file"):
            d = results[(way, fname, "direct")]
            c = results[(way, fname, "copying")]
            i = results[(way, fname, "items")]
            a = results[(way, fname, "alone")]
            cells = "".join(f"{r / gib:8.2f} ({r / bulk:4.0%})" for r in (d, c, i, a))
            print(f"  {way:<14}{fname:<12}{cells}{d / c:15.2f}x{d / a:13.0%}")
            ok = d >= 4 * gib and d >= 0.2 * bulk and d >= 2 * c
            verdicts.append((way, fname, ok, d, c))
    print(
        f"  memcpy, one call: {bulk / gib:.2f} GiB/s; 64 KiB at a time: {chunked / gib:.2f} GiB/s"
    )
    print("budget (direct >= 4 GiB/s, >= 20% of memcpy, >= 2x copying):")
    for way, fname, ok, d, c in verdicts:
        misses = []
        if d < 4 * gib:
            misses.append(f"{d / gib:.2f} < 4 GiB/s")
        if d < 0.2 * bulk:
            misses.append(f"{d / bulk:.0%} < 20% of memcpy")
        if d < 2 * c:
            misses.append(f"{d / c:.2f}x < 2x copying")
        print(f"  {way} {fname}: {'met' if ok else 'NOT met: ' + ', '.join(misses)}")
    n_items = 1_000_000
    for per_read in (16, 256):
        h = call("hold32", StreamReader.new(store, ListProducer(list(range(n_items)))))
        t = time.perf_counter()
        assert call("sink32", h, per_read) == n_items
        rate = n_items / (time.perf_counter() - t)
        print(f"stream<u32>, {per_read}-item guest buffers: {rate / 1e6:.2f} M items/s")


if __name__ == "__main__":
    main()
