"""Stream throughput, host <-> guest, against tests/guests/streams_rc.wat.

Rows (one run, side by side): stream<u8> host->guest and guest->host with
64 KiB guest buffers, through the direct path (``as_direct``), through
buffered bytes (``set_buffer``/``read`` into a bytearray) and through the
generic per-item path (lists of ints, what any non-u8 element type takes);
memcpy of the same bytes; stream<u32> items/s with 16-item guest buffers.

    python bench/streams.py [MiB]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from wasmloom import Component, Linker, Store
from wasmloom.host.streams import Destination, ListProducer, Source, StreamReader, StreamResult

GUEST = Path(__file__).parent.parent / "tests" / "guests" / "streams_rc.wat"
CHUNK = 65536


class DirectProducer:
    def __init__(self, data: memoryview) -> None:
        self.data, self.pos = data, 0

    def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
        view = dst.as_direct(len(self.data) - self.pos)
        n = len(view)
        view[:] = self.data[self.pos : self.pos + n]
        dst.mark_written(n)
        self.pos += n
        return StreamResult.DROPPED if self.pos == len(self.data) else StreamResult.COMPLETED


class BytesBufferProducer:
    def __init__(self, data: memoryview) -> None:
        self.data, self.pos = data, 0

    def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
        room = dst.remaining()
        assert room is not None
        n = min(room, len(self.data) - self.pos)
        dst.set_buffer(bytes(self.data[self.pos : self.pos + n]))
        self.pos += n
        return StreamResult.DROPPED if self.pos == len(self.data) else StreamResult.COMPLETED


class ItemsProducer(BytesBufferProducer):
    def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
        room = dst.remaining()
        assert room is not None
        n = min(room, len(self.data) - self.pos)
        dst.set_buffer(list(self.data[self.pos : self.pos + n]))
        self.pos += n
        return StreamResult.DROPPED if self.pos == len(self.data) else StreamResult.COMPLETED


class DirectConsumer:
    def __init__(self, size: int) -> None:
        self.out = memoryview(bytearray(CHUNK))

    def poll_consume(self, store: Any, src: Source, finish: bool) -> StreamResult:
        view = src.as_direct()
        n = len(view)
        self.out[:n] = view
        src.mark_read(n)
        return StreamResult.COMPLETED


class BytesBufferConsumer:
    def __init__(self, size: int) -> None:
        self.out = bytearray()

    def poll_consume(self, store: Any, src: Source, finish: bool) -> StreamResult:
        self.out.clear()
        src.read(self.out)
        return StreamResult.COMPLETED


class ItemsConsumer(BytesBufferConsumer):
    def poll_consume(self, store: Any, src: Source, finish: bool) -> StreamResult:
        items: list[int] = []
        src.read(items)
        return StreamResult.COMPLETED


def main() -> None:
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    total = mib << 20
    store: Store[None] = Store()
    inst = Linker().instantiate(store, Component.from_file(GUEST))

    def call(name: str, *args: Any) -> Any:
        f = inst.get_func(name)
        assert f is not None
        return f(store, *args)

    data = memoryview(bytes(range(256)) * (total // 256))

    def h2g(cls: Any, size: int) -> float:
        h = call("hold", StreamReader.new(store, cls(data[:size])))
        t = time.perf_counter()
        assert call("sink", h) == size
        return size / (time.perf_counter() - t)

    def g2h(cls: Any, size: int) -> float:
        v = call("new-stream")
        call("give", v & 0xFFFF_FFFF).pipe(store, cls(size))
        t = time.perf_counter()
        assert call("source", v >> 32, size) == size
        return size / (time.perf_counter() - t)

    small = min(total, 4 << 20)
    gib = 2**30
    rows = [
        ("host->guest direct (as_direct)", h2g(DirectProducer, total)),
        ("host->guest bytes via set_buffer", h2g(BytesBufferProducer, total)),
        ("host->guest generic items (list)", h2g(ItemsProducer, small)),
        ("guest->host direct (as_direct)", g2h(DirectConsumer, total)),
        ("guest->host bytes via read(bytearray)", g2h(BytesBufferConsumer, total)),
        ("guest->host generic items (list)", g2h(ItemsConsumer, small)),
    ]
    dst = memoryview(bytearray(total))
    t = time.perf_counter()
    dst[:] = data
    bulk = total / (time.perf_counter() - t)
    out = memoryview(bytearray(CHUNK))
    t = time.perf_counter()
    for off in range(0, total, CHUNK):
        out[:] = data[off : off + CHUNK]
    chunked = total / (time.perf_counter() - t)
    print(f"stream<u8>, {mib} MiB, 64 KiB guest buffers")
    for name, rate in rows:
        print(f"  {name:<40} {rate / gib:8.2f} GiB/s  ({rate / bulk:6.1%} of memcpy)")
    print(f"  {'memcpy, one call':<40} {bulk / gib:8.2f} GiB/s")
    print(f"  {'memcpy, 64 KiB at a time':<40} {chunked / gib:8.2f} GiB/s")
    d_h2g, c_h2g, i_h2g = rows[0][1], rows[1][1], rows[2][1]
    d_g2h, c_g2h, i_g2h = rows[3][1], rows[4][1], rows[5][1]
    print(
        f"  direct / bytes path: {d_h2g / c_h2g:.2f}x (host->guest), {d_g2h / c_g2h:.2f}x"
        f" (guest->host); direct / generic items path: {d_h2g / i_h2g:.0f}x, {d_g2h / i_g2h:.0f}x"
    )
    n_items = 1_000_000
    for per_read in (16, 256):
        h = call("hold32", StreamReader.new(store, ListProducer(list(range(n_items)))))
        t = time.perf_counter()
        assert call("sink32", h, per_read) == n_items
        rate = n_items / (time.perf_counter() - t)
        print(f"stream<u32>, {per_read}-item guest buffers: {rate / 1e6:.2f} M items/s")


if __name__ == "__main__":
    main()
