"""A componentize-py guest with async exports, an async import, ``stream<u8>`` and ``future<string>``.

The guest (below) is real Python compiled by componentize-py (the callback
ABI, WASI 0.2.9 imports), built once per checkout and compiled once per
session (tests/cpy_build.py). Its exports are awaited from asyncio; the host
side uses the public stream API (docs/streams.md): zero-copy producers and
consumers, ``async for``, awaitable futures, and an ``async def`` import.
"""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import random
from typing import Any

import pytest
from cpy_build import build, component, componentize_py

from wasmloom import Component, Instance, Linker, Store, Trap
from wasmloom.host.accessor import Accessor, host_async
from wasmloom.host.streams import (
    AsyncIterableProducer,
    Destination,
    FutureReader,
    Source,
    StreamReader,
    StreamResult,
)
from wasmloom.wasi import WasiCtxBuilder, p2
from wasmloom.wasi.ctx import MemoryOutput, WasiCtx

pytestmark = componentize_py

_WIT = """package test:app;

interface host {
  log: func(msg: string);
  fetch: async func(url: string) -> string;
}

world app {
  import host;
  export hello: func(name: string) -> string;
  export upper: async func(s: stream<u8>) -> stream<u8>;
  export head: async func(s: stream<u8>, n: u32) -> stream<u8>;
  export later: async func(url: string) -> future<string>;
  export await-future: async func(f: future<string>) -> string;
  export fail: async func(msg: string) -> string;
  export fail-sync: func(msg: string) -> string;
}
"""

_PY = '''import componentize_py_async_support as cas
import wit_world
from wit_world.imports import host


async def _pump(src, dst, limit):
    """Upper-case at most `limit` bytes from src into dst, then drop both ends."""
    total = 0
    with src, dst:
        while total < limit and not src.writer_dropped and not dst.reader_dropped:
            chunk = await src.read(min(65536, limit - total))
            if chunk:
                total += await dst.write_all(chunk.upper())
        host.log(
            f"pump: {total} bytes, writer dropped: {src.writer_dropped},"
            f" reader dropped: {dst.reader_dropped}"
        )


class WitWorld(wit_world.WitWorld):
    def hello(self, name):
        host.log(f"hello {name}")
        return f"Hello, {name}!"

    async def upper(self, s):
        tx, rx = wit_world.byte_stream()
        cas.spawn(_pump(s, tx, 1 << 62))
        return rx

    async def head(self, s, n):
        tx, rx = wit_world.byte_stream()
        cas.spawn(_pump(s, tx, n))
        return rx

    async def later(self, url):
        tx, rx = wit_world.string_future(lambda: "default")

        async def fill():
            await tx.write(await host.fetch(url))

        cas.spawn(fill())
        return rx

    async def await_future(self, f):
        return "got " + await f.read()

    async def fail(self, msg):
        await host.fetch(msg)
        raise ValueError(msg)

    def fail_sync(self, msg):
        raise ValueError(msg)
'''

WAIT = 20.0  # seconds before a test calls it a hang


@pytest.fixture(scope="module")
def guest() -> Component:
    return component(
        build("async-app", {"app.wit": _WIT, "app.py": _PY}, wit="app.wit", world="app")
    )


class Data:
    """Host state: the WASI context, what the guest logged, what `fetch` saw."""

    def __init__(self) -> None:
        self.stderr = MemoryOutput()
        self.wasi: WasiCtx = WasiCtxBuilder().stderr(self.stderr).build()
        self.log: list[str] = []
        self.pumped = asyncio.Event()  # set by the guest's "pump: ..." log line
        self.fetched: list[str] = []
        self.fetching = 0
        self.max_fetching = 0


def _log(store: Store[Data], msg: str) -> None:
    store.data.log.append(msg)
    if msg.startswith("pump:"):
        store.data.pumped.set()


async def _fetch(acc: Accessor[Data, Data], url: str) -> str:
    d = acc.get()
    d.fetching += 1
    d.max_fetching = max(d.max_fetching, d.fetching)
    await asyncio.sleep(0.02 if url != "slow" else 0.2)
    acc.with_(lambda store, data: data.fetched.append(url))
    d.fetching -= 1
    return f"body of {url}"


def _wasi(d: Data) -> WasiCtx:
    return d.wasi


def _instantiate(
    guest: Component, store: Store[Data] | None = None
) -> tuple[Store[Data], Instance]:
    linker = Linker()
    p2.add_to_linker(linker, _wasi)
    host = linker.instance("test:app/host")
    host.func_wrap("log", _log, with_store=True)
    host.func_wrap("fetch", host_async(_fetch), with_store=True)
    if store is None:
        store = Store(data=Data())
    return store, linker.instantiate(store, guest)


def _func(inst: Instance, name: str) -> Any:
    f = inst.get_func(name)
    assert f is not None, name
    return f


# --- host producers and consumers that work in guest memory ------------------------------


def _is_guest_memory(view: memoryview) -> bool:
    return isinstance(view.obj, ctypes.Array)


class DirectProducer:
    """Produces ``data`` (or endless ``b"x"`` when None) straight into the guest's buffer."""

    def __init__(self, data: bytes | None) -> None:
        self.data = data
        self.pos = 0
        self.direct_steps = 0
        self.closed = asyncio.Event()

    def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
        room = dst.remaining()
        assert room is not None and room > 0  # a guest reader, never a probe here
        view = dst.as_direct(room)
        assert _is_guest_memory(view)
        if self.data is None:
            view[:] = b"x" * len(view)
            n = len(view)
        else:
            n = min(len(view), len(self.data) - self.pos)
            view[:n] = self.data[self.pos : self.pos + n]
        dst.mark_written(n)
        self.pos += n
        self.direct_steps += 1
        if self.data is not None and self.pos == len(self.data):
            return StreamResult.DROPPED
        return StreamResult.COMPLETED

    def close(self) -> None:
        assert not self.closed.is_set(), "disposed of twice"
        self.closed.set()


class DirectConsumer:
    """Hashes what the guest writes, read straight from its buffer; DROPPED after ``limit`` bytes."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self.h = hashlib.sha256()
        self.n = 0
        self.head = bytearray()
        self.closed = asyncio.Event()

    def poll_consume(self, store: Any, src: Source, finish: bool) -> StreamResult:
        view = src.as_direct()
        assert _is_guest_memory(view) and view.readonly
        if self.limit is not None:
            view = view[: self.limit - self.n]
        self.h.update(view)
        if len(self.head) < 16:
            self.head += view[: 16 - len(self.head)]
        self.n += len(view)
        src.mark_read(len(view))
        if self.limit is not None and self.n >= self.limit:
            return StreamResult.DROPPED  # the host is done: the guest's writer sees DROPPED
        return StreamResult.COMPLETED

    def close(self) -> None:
        assert not self.closed.is_set(), "disposed of twice"
        self.closed.set()


async def _within(aw: Any) -> Any:
    return await asyncio.wait_for(aw, WAIT)


# --- the tests ------------------------------------------------------------------------------


def test_sync_export_and_sync_import(guest: Component) -> None:
    store, inst = _instantiate(guest)
    assert _func(inst, "hello")(store, "sync") == "Hello, sync!"

    async def main() -> str:
        return await _func(inst, "hello").call_async(store, "async")  # type: ignore[no-any-return]

    assert asyncio.run(main()) == "Hello, async!"
    assert store.data.log == ["hello sync", "hello async"]


def test_future_resolved_by_an_async_host_import(guest: Component) -> None:
    store, inst = _instantiate(guest)

    async def main() -> tuple[bool, str]:
        fut = await _func(inst, "later").call_async(store, "https://example.org/a")
        assert isinstance(fut, FutureReader)
        # the export returned before its spawned work awaited the host's fetch
        pending = not store.data.fetched
        return pending, await _within(fut)

    assert store.run_concurrent(main) == (True, "body of https://example.org/a")
    assert store.data.fetched == ["https://example.org/a"]


def test_host_future_read_by_the_guest(guest: Component) -> None:
    store, inst = _instantiate(guest)

    async def value() -> str:
        await asyncio.sleep(0.01)
        return "from the host"

    async def main() -> str:
        fut = FutureReader.new(store, value())
        return await _within(_func(inst, "await-future").call_async(store, fut))  # type: ignore[no-any-return]

    assert asyncio.run(main()) == "got from the host"


def test_upper_zero_copy_megabytes(guest: Component) -> None:
    data = random.Random(3).randbytes(3 << 20)
    store, inst = _instantiate(guest)
    producer, consumer = DirectProducer(data), DirectConsumer()

    async def main() -> None:
        out = await _func(inst, "upper").call_async(store, StreamReader.new(store, producer))
        assert isinstance(out, StreamReader)
        out.pipe(store, consumer)
        await _within(consumer.closed.wait())  # the guest dropped its writer: end of stream
        await _within(producer.closed.wait())

    asyncio.run(main())
    assert consumer.n == len(data)
    assert consumer.h.hexdigest() == hashlib.sha256(data.upper()).hexdigest()
    assert producer.direct_steps >= len(data) // 65536
    assert store.data.log == [
        f"pump: {len(data)} bytes, writer dropped: True, reader dropped: False"
    ]


def test_concurrent_calls(guest: Component) -> None:
    store, inst = _instantiate(guest)
    texts = [f"stream {i} ".encode() * (1000 * (i + 1)) for i in range(3)]

    async def collect(text: bytes) -> bytes:
        out = await _func(inst, "upper").call_async(
            store, StreamReader.new(store, DirectProducer(text))
        )
        got = b""
        async for chunk in out:
            got += chunk
        return got

    async def later(url: str) -> str:
        fut = await _func(inst, "later").call_async(store, url)
        return await fut  # type: ignore[no-any-return]

    async def main() -> list[Any]:
        calls = [collect(t) for t in texts] + [later(f"u{i}") for i in range(4)]
        calls.append(_func(inst, "hello").call_async(store, "between"))
        return list(await _within(asyncio.gather(*calls)))

    results = store.run_concurrent(main)
    assert results[:3] == [t.upper() for t in texts]
    assert results[3:7] == [f"body of u{i}" for i in range(4)]
    assert results[7] == "Hello, between!"
    assert store.data.max_fetching == 4  # the four fetches were in flight together
    assert sorted(store.data.fetched) == ["u0", "u1", "u2", "u3"]


def test_upper_fed_by_a_slow_async_producer(guest: Component) -> None:
    """A producer that answers PENDING until its async generator yields (woken from
    asyncio), and the result read with ``async for``."""
    store, inst = _instantiate(guest)
    words = [b"streams ", b"from ", b"an ", b"async ", b"generator"]

    async def gen() -> Any:
        for w in words:
            await asyncio.sleep(0.005)
            yield w

    async def main() -> bytes:
        src = StreamReader.new(store, AsyncIterableProducer(gen()))
        out = await _func(inst, "upper").call_async(store, src)
        got = b""
        async for chunk in out:
            got += chunk
        return got

    assert asyncio.run(asyncio.wait_for(main(), WAIT)) == b"".join(words).upper()
    n = len(b"".join(words))
    assert store.data.log == [f"pump: {n} bytes, writer dropped: True, reader dropped: False"]


def test_host_drops_the_output_mid_stream(guest: Component) -> None:
    """The host consumer answers DROPPED after 200 kB of an endless stream: the guest's
    write sees it, the guest stops and drops its input, and the producer is disposed of."""
    store, inst = _instantiate(guest)
    producer, consumer = DirectProducer(None), DirectConsumer(limit=200_000)

    async def main() -> None:
        out = await _func(inst, "upper").call_async(store, StreamReader.new(store, producer))
        out.pipe(store, consumer)
        await _within(producer.closed.wait())
        await _within(store.data.pumped.wait())

    asyncio.run(main())
    assert consumer.n == 200_000 and bytes(consumer.head) == b"X" * 16
    assert consumer.h.hexdigest() == hashlib.sha256(b"X" * 200_000).hexdigest()
    [line] = store.data.log
    assert line.endswith("writer dropped: False, reader dropped: True"), line
    assert consumer.closed.is_set()  # answering DROPPED disposes of the consumer (once)


def test_host_closes_the_output_at_once(guest: Component) -> None:
    store, inst = _instantiate(guest)
    producer = DirectProducer(None)

    async def main() -> None:
        out = await _func(inst, "upper").call_async(store, StreamReader.new(store, producer))
        out.close()
        await _within(producer.closed.wait())
        await _within(store.data.pumped.wait())

    asyncio.run(main())
    [line] = store.data.log
    assert line.endswith("reader dropped: True"), line
    # the guest read at most one chunk ahead before its first write saw the drop
    assert producer.pos <= 65536


def test_breaking_out_of_async_for_disposes_of_the_stream(guest: Component) -> None:
    """Leaving ``async for`` over the output drops it: the guest's write sees DROPPED,
    it stops and drops its input, and the host producer is disposed of."""
    store, inst = _instantiate(guest)
    producer = DirectProducer(None)

    async def main() -> None:
        out = await _func(inst, "upper").call_async(store, StreamReader.new(store, producer))
        async for _chunk in out:
            break
        await _within(producer.closed.wait())
        await _within(store.data.pumped.wait())

    asyncio.run(main())
    [line] = store.data.log
    assert line.endswith("reader dropped: True"), line


def test_guest_drops_both_ends_mid_stream(guest: Component) -> None:
    """``head`` stops after n bytes of an endless host stream and drops both of its ends:
    the host producer and the host consumer are each disposed of (``close()``)."""
    store, inst = _instantiate(guest)
    producer, consumer = DirectProducer(None), DirectConsumer()
    n = 100_000

    async def main() -> None:
        out = await _func(inst, "head").call_async(store, StreamReader.new(store, producer), n)
        out.pipe(store, consumer)
        await _within(producer.closed.wait())
        await _within(consumer.closed.wait())

    asyncio.run(main())
    assert consumer.n == n and consumer.h.hexdigest() == hashlib.sha256(b"X" * n).hexdigest()
    assert producer.pos == n  # the guest asked for exactly what it needed
    assert store.data.log == [f"pump: {n} bytes, writer dropped: False, reader dropped: False"]


def test_cancelling_the_awaiting_task(guest: Component) -> None:
    """Cancelling the asyncio task that awaits an export raises CancelledError there at
    once and cancels the component task. componentize-py's callback does not handle
    TASK_CANCELLED yet (its event loop raises NotImplementedError: a trap), so that
    instance is poisoned, the trap goes to the loop's exception handler, and the
    store stays usable."""
    store, inst = _instantiate(guest)
    never: asyncio.Future[str] | None = None
    errors: list[BaseException] = []

    async def main() -> str:
        nonlocal never
        asyncio.get_running_loop().set_exception_handler(
            lambda loop, ctx: errors.append(ctx["exception"])
        )
        never = asyncio.get_running_loop().create_future()
        call = asyncio.ensure_future(
            _func(inst, "await-future").call_async(store, FutureReader.new(store, never))
        )
        await asyncio.sleep(0.01)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await _within(call)
        for _ in range(500):  # the guest may be preempted (time-sliced) while it winds down
            if never.cancelled():
                break
            await asyncio.sleep(0.01)
        assert never.cancelled()  # the host future's producer was disposed of
        _, other = _instantiate(guest, store)
        return await _within(_func(other, "hello").call_async(store, "after"))  # type: ignore[no-any-return]

    assert store.run_concurrent(main) == "Hello, after!"
    [trap] = errors
    assert isinstance(trap, Trap) and "(in await-future)" in str(trap)


def test_guest_trap_surfaces_on_the_awaiting_call(guest: Component) -> None:
    store, inst = _instantiate(guest)

    async def main() -> None:
        with pytest.raises(Trap) as e:
            await _within(_func(inst, "fail").call_async(store, "boom"))
        assert "unreachable" in str(e.value)

    asyncio.run(main())
    assert store.data.fetched == ["boom"]  # it trapped after the awaited import returned
    assert b"ValueError('boom')" in store.data.stderr.getvalue()  # componentize-py's panic
    # the instance is poisoned; the store is not
    with pytest.raises(Trap):
        _func(inst, "hello")(store, "again")
    _, other = _instantiate(guest, store)
    assert _func(other, "hello")(store, "other") == "Hello, other!"


def test_guest_trap_in_a_sync_export(guest: Component) -> None:
    store, inst = _instantiate(guest)
    with pytest.raises(Trap):
        _func(inst, "fail-sync")(store, "sync boom")
    assert b"ValueError: sync boom" in store.data.stderr.getvalue()  # the guest's traceback
