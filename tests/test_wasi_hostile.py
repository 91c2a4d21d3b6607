"""Hostile numbers at every WASI host function: an error code or a Trap, nothing else.

Whatever integer a guest passes (offsets, lengths, sizes, timestamps,
durations, socket options), a WASI 0.2 or 0.3 host function answers with its
WASI result (``Ok``/``Err`` or a plain value) or raises :class:`wasmloom.Trap`;
no ``OverflowError``, ``ValueError``, ``MemoryError`` or ``OSError`` escapes,
and no host function allocates what an unchecked guest length asks for.

The host objects are the real ones, built the way tests/test_wasi_p2.py,
tests/test_wasi_p3.py and the socket tests build them, over a real
directory and real loopback sockets. Hypothesis draws every integer argument
from the extremes below, limited to the range of its WIT type (the canonical
ABI lifts nothing else). The end-to-end tests run WAT guests under
``wasmloom run``; their expected answers are those Wasmtime 49.0.3 gives the
same guests.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from guest_util import has_ipv6_loopback
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wasmloom import Store, Trap
from wasmloom.host.accessor import Accessor
from wasmloom.host.streams import BytesProducer, StreamReader
from wasmloom.values import Err, Ok
from wasmloom.wasi import sandbox as sb
from wasmloom.wasi.ctx import (
    MAX_RANDOM_BYTES,
    MAX_WAIT_SLICE_NS,
    BytesInput,
    ManualClock,
    NullOutput,
    SystemMonotonicClock,
    WasiCtx,
    WasiCtxBuilder,
)
from wasmloom.wasi.p2 import host as H
from wasmloom.wasi.p2 import sockets as P2S
from wasmloom.wasi.p2.bindings import wasi_clocks_wall_clock as wall
from wasmloom.wasi.p2.bindings import wasi_filesystem_types as fs2
from wasmloom.wasi.p2.bindings import wasi_sockets_network as net
from wasmloom.wasi.p2.bindings import wasi_sockets_tcp as tcp
from wasmloom.wasi.p2.bindings import wasi_sockets_udp as udp
from wasmloom.wasi.p3 import WasiP3
from wasmloom.wasi.p3.bindings import wasi_clocks_system_clock as sysclock
from wasmloom.wasi.p3.bindings import wasi_filesystem_types as fs3
from wasmloom.wasi.p3.bindings import wasi_sockets_types as S

GUESTS = Path(__file__).parent / "guests"

#: The integers every argument is drawn from (those its WIT type can hold).
EXTREMES = (0, 1, 2**31, 2**32 - 1, 2**63 - 1, 2**63, 2**64 - 1)
U64_MAX = 2**64 - 1

U64 = st.sampled_from(EXTREMES)
U32 = st.sampled_from([v for v in EXTREMES if v < 2**32])
U16 = st.sampled_from([0, 1, 2**15, 2**16 - 1])
U8 = st.sampled_from([0, 1, 2**7, 2**8 - 1])
S64 = st.sampled_from([-(2**63), -(2**31), -1, *[v for v in EXTREMES if v < 2**63]])

#: Fast and reproducible: a fixed sequence of examples, no deadline (file and
#: socket calls vary in time on a loaded machine).
hostile = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def answer(call: Callable[[], Any]) -> Any:
    """What ``call()`` returns, or the :class:`Trap` it raises; any other exception fails."""
    try:
        return call()
    except Trap as t:
        assert str(t), "a trap says why"
        return t


def result(call: Callable[[], Any]) -> Any:
    """:func:`answer` of a function whose WIT result is a ``result<_, _>``."""
    r = answer(call)
    assert isinstance(r, (Ok, Err, Trap)), r
    return r


def run_async(store: Store[Any], make: Callable[[], Any]) -> Any:
    """The value of the coroutine ``make()`` run in ``store``, or the Trap it raises."""

    async def main() -> Any:
        return await make()

    return answer(lambda: store.run_concurrent(main))


# --- WASI 0.2: filesystem --------------------------------------------------------------------


@dataclass
class P2Files:
    root: H.Descriptor
    data: H.Descriptor  # "data": b"hello", opened for reading
    sink: H.Descriptor  # "sink": opened for writing (its size is set freely)
    both: H.Descriptor  # "both": read and write, for the streams


def _p2_open(root: H.Descriptor, name: str, flags: fs2.DescriptorFlags) -> H.Descriptor:
    r = root.open_at(fs2.PathFlags(0), name, fs2.OpenFlags.CREATE, flags)
    assert isinstance(r, Ok), r
    return r.value


@pytest.fixture(scope="module")
def p2files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[P2Files]:
    d = tmp_path_factory.mktemp("p2")
    (d / "data").write_bytes(b"hello")
    ctx = WasiCtxBuilder().preopen_dir(d, "/").build()
    [(root, _)] = H.FilesystemHost(ctx).get_directories()
    F = fs2.DescriptorFlags
    files = P2Files(
        root,
        _p2_open(root, "data", F.READ),
        _p2_open(root, "sink", F.WRITE),
        _p2_open(root, "both", F.READ | F.WRITE),
    )
    yield files
    for f in (files.data, files.sink, files.both):
        f.drop()
    ctx.close()


@hostile
@given(length=U64, offset=U64)
def test_p2_descriptor_read(p2files: P2Files, length: int, offset: int) -> None:
    r = result(lambda: p2files.data.read(length, offset))
    if offset > sb.MAX_FILE_OFFSET:
        assert r == Err(fs2.ErrorCode.INVALID)
    elif isinstance(r, Ok):
        data, _ = r.value
        assert data == b"hello"[offset : offset + length]
    assert isinstance(result(lambda: p2files.root.read(length, offset)), Err)  # a directory


def test_p2_long_read_allocates_what_the_file_holds(p2files: P2Files) -> None:
    """read(2^64-1, 0) of a five-byte file asks the OS for five bytes, not for MAX_READ."""
    tracemalloc.start()
    try:
        r = p2files.data.read(U64_MAX, 0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r == Ok((b"hello", True))
    assert peak < 1 << 20


@hostile
@given(offset=U64)
def test_p2_descriptor_write(p2files: P2Files, offset: int) -> None:
    r = result(lambda: p2files.sink.write(b"x", offset))
    if offset > sb.MAX_FILE_OFFSET:
        assert r == Err(fs2.ErrorCode.INVALID)
    result(lambda: p2files.data.write(b"x", offset))  # not opened for writing


@hostile
@given(size=U64)
def test_p2_descriptor_set_size(p2files: P2Files, size: int) -> None:
    r = result(lambda: p2files.sink.set_size(size))
    if size > sb.MAX_FILE_OFFSET:
        assert r == Err(fs2.ErrorCode.INVALID)
    result(lambda: p2files.sink.set_size(0))


@hostile
@given(offset=U64, length=U64, advice=st.sampled_from(list(fs2.Advice)))
def test_p2_descriptor_advise(
    p2files: P2Files, offset: int, length: int, advice: fs2.Advice
) -> None:
    r = result(lambda: p2files.data.advise(offset, length, advice))
    if length > sb.MAX_FILE_OFFSET:
        assert r == Err(fs2.ErrorCode.INVALID)


@st.composite
def p2_timestamps(draw: st.DrawFn) -> fs2.NewTimestamp:
    kind = draw(st.sampled_from(["no-change", "now", "timestamp"]))
    if kind == "no-change":
        return fs2.NewTimestampNoChange()
    if kind == "now":
        return fs2.NewTimestampNow()
    return fs2.NewTimestampTimestamp(wall.Datetime(draw(U64), draw(U32)))


@hostile
@given(atime=p2_timestamps(), mtime=p2_timestamps())
def test_p2_descriptor_set_times(
    p2files: P2Files, atime: fs2.NewTimestamp, mtime: fs2.NewTimestamp
) -> None:
    r = result(lambda: p2files.both.set_times(atime, mtime))
    for t in (atime, mtime):
        if isinstance(t, fs2.NewTimestampTimestamp) and t.value.seconds >= 2**63:
            assert r == Err(fs2.ErrorCode.OVERFLOW)
    result(lambda: p2files.root.set_times_at(fs2.PathFlags(0), "both", atime, mtime))
    # whatever the times became, stat describes them
    for d in (p2files.both, p2files.root):
        assert isinstance(result(d.stat), Ok)
    assert isinstance(result(lambda: p2files.root.stat_at(fs2.PathFlags(0), "both")), Ok)


@hostile
@given(offset=U64, length=U64)
def test_p2_file_input_stream(p2files: P2Files, offset: int, length: int) -> None:
    s = result(lambda: p2files.data.read_via_stream(offset))
    assert isinstance(s, Ok)
    stream = s.value
    for call in (stream.read, stream.blocking_read, stream.skip, stream.blocking_skip):
        r = result(functools.partial(call, length))
        if isinstance(r, Ok) and isinstance(r.value, bytes):
            assert len(r.value) <= 5


@hostile
@given(offset=U64, length=U64)
def test_p2_file_output_stream(p2files: P2Files, offset: int, length: int) -> None:
    s = result(lambda: p2files.both.write_via_stream(offset))
    assert isinstance(s, Ok)
    out = s.value
    w = result(lambda: out.write(b"x"))
    if offset > sb.MAX_FILE_OFFSET:
        assert isinstance(w, Err)
    z = result(lambda: out.write_zeroes(length))
    if length > out.write_budget:
        assert isinstance(z, Trap)
    z = result(lambda: out.blocking_write_zeroes_and_flush(length))
    if length > H.BLOCKING_WRITE_MAX:
        assert isinstance(z, Trap)
    src = result(lambda: p2files.data.read_via_stream(0)).value
    result(lambda: out.splice(src, length))
    result(lambda: out.blocking_splice(src, length))
    app = result(p2files.both.append_via_stream)
    assert isinstance(app, Ok)
    result(lambda: app.value.write_zeroes(length))
    result(lambda: p2files.both.set_size(0))


# --- WASI 0.2: stdio streams, clocks, random ------------------------------------------------


@hostile
@given(length=U64)
def test_p2_stdio_streams(length: int) -> None:
    stdin = H.StdinStream(BytesInput(b"some input"))
    reads: tuple[Callable[[int], Any], ...] = (
        stdin.read,
        stdin.blocking_read,
        stdin.skip,
        stdin.blocking_skip,
    )
    for read in reads:
        result(functools.partial(read, length))
    out = H.StdioOutputStream(NullOutput())
    for write in (out.write_zeroes, out.blocking_write_zeroes_and_flush):
        result(functools.partial(write, length))
    result(lambda: out.splice(H.StdinStream(BytesInput(b"abc")), length))
    result(lambda: out.blocking_splice(H.StdinStream(BytesInput(b"abc")), length))


@hostile
@given(start=U64, when=U64)
def test_p2_monotonic_clock_with_a_manual_clock(start: int, when: int) -> None:
    clock = ManualClock(monotonic_ns=start)
    mc = H.MonotonicClockHost(WasiCtxBuilder().manual_clock(clock).build())
    for p in (
        answer(lambda: mc.subscribe_duration(when)),
        answer(lambda: mc.subscribe_instant(when)),
    ):
        assert H.Poll().poll([p]) == [0]  # the manual clock moves to the deadline
        assert 0 <= mc.now() <= U64_MAX  # a u64 still: deadlines saturate


@hostile
@given(when=U64)
def test_p2_monotonic_clock_far_deadlines(when: int) -> None:
    mc = H.MonotonicClockHost(WasiCtx())
    for p in (
        answer(lambda: mc.subscribe_duration(when)),
        answer(lambda: mc.subscribe_instant(when)),
    ):
        answer(p.ready)
        assert p.deadline() is not None and p.deadline() <= U64_MAX
        assert 1 in H.Poll().poll([p, H.Pollable()])


def test_p2_wait_fds_with_a_timeout_beyond_the_os() -> None:
    a, b = socket.socketpair()
    with a, b:
        b.send(b"x")
        for seconds in (2**31, U64_MAX / 1e9):
            assert H.wait_fds([(a.fileno(), False)], seconds)


def test_system_clock_sleeps_in_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    class Stop(Exception):
        pass

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        raise Stop

    monkeypatch.setattr(time, "sleep", sleep)  # the module ctx sleeps with
    with pytest.raises(Stop):
        SystemMonotonicClock().wait_until(U64_MAX)
    assert slept == [MAX_WAIT_SLICE_NS / 1e9]


class _Recording:
    """A random source that records what it was asked for and returns a few bytes."""

    def __init__(self) -> None:
        self.asked: list[int] = []

    def __call__(self, n: int) -> bytes:
        self.asked.append(n)
        return bytes(min(n, 16))


@hostile
@given(length=st.sampled_from([*EXTREMES, MAX_RANDOM_BYTES, MAX_RANDOM_BYTES + 1]))
def test_p2_random(length: int) -> None:
    secure, insecure = _Recording(), _Recording()
    rnd = H.RandomHost(WasiCtxBuilder().secure_random(secure).insecure_random(insecure).build())
    for call in (rnd.get_random_bytes, rnd.get_insecure_random_bytes):
        r = answer(functools.partial(call, length))
        assert isinstance(r, Trap) == (length > MAX_RANDOM_BYTES)
    assert all(n <= MAX_RANDOM_BYTES for n in secure.asked + insecure.asked)


# --- WASI 0.2: sockets -----------------------------------------------------------------------


needs_ipv6 = pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback here")


@pytest.fixture(scope="module")
def p2net() -> P2S.SocketsHost:
    return P2S.SocketsHost(WasiCtxBuilder().inherit_network().build())


def _ok(r: Any) -> Any:
    assert isinstance(r, Ok), r
    return r.value


def _v6(port: int, flow: int = 0, scope: int = 0) -> net.IpSocketAddress:
    loopback = (0, 0, 0, 0, 0, 0, 0, 1)
    return net.IpSocketAddressIpv6(net.Ipv6SocketAddress(port, flow, loopback, scope))


def _v4(port: int) -> net.IpSocketAddress:
    return net.IpSocketAddressIpv4(net.Ipv4SocketAddress(port, (127, 0, 0, 1)))


@hostile
@given(value=U64, count=U32, hops=U8)
def test_p2_tcp_options(p2net: P2S.SocketsHost, value: int, count: int, hops: int) -> None:
    s = _ok(p2net.create_tcp_socket(net.IpAddressFamily.IPV4))
    try:
        for call, v in (
            (s.set_listen_backlog_size, value),
            (s.set_keep_alive_idle_time, value),
            (s.set_keep_alive_interval, value),
            (s.set_keep_alive_count, count),
            (s.set_hop_limit, hops),
            (s.set_receive_buffer_size, value),
            (s.set_send_buffer_size, value),
        ):
            result(functools.partial(call, v))
        for get in (
            s.keep_alive_idle_time,
            s.keep_alive_interval,
            s.keep_alive_count,
            s.hop_limit,
            s.receive_buffer_size,
            s.send_buffer_size,
        ):
            v = _ok(result(get))
            assert 0 <= v <= U64_MAX
    finally:
        s.drop()


@hostile
@given(value=U64, hops=U8, max_results=U64)
def test_p2_udp_options_and_receive(
    p2net: P2S.SocketsHost, value: int, hops: int, max_results: int
) -> None:
    u = _ok(p2net.create_udp_socket(net.IpAddressFamily.IPV4))
    try:
        for call, v in (
            (u.set_unicast_hop_limit, hops),
            (u.set_receive_buffer_size, value),
            (u.set_send_buffer_size, value),
        ):
            result(functools.partial(call, v))
        _ok(u.start_bind(p2net.instance_network(), _v4(0)))
        _ok(u.finish_bind())
        incoming, outgoing = _ok(u.stream(None))
        me = _ok(u.local_address())
        assert _ok(outgoing.check_send()) > 0
        assert _ok(outgoing.send([udp.OutgoingDatagram(b"ping", me)])) == 1
        H.Poll().poll([incoming.subscribe()])
        got = _ok(result(lambda: incoming.receive(max_results)))
        assert len(got) <= max(max_results, 0) and len(got) <= 1
    finally:
        u.drop()


@needs_ipv6
@hostile
@given(port=U16, flow=U32, scope=U32)
def test_p2_ipv6_addresses(p2net: P2S.SocketsHost, port: int, flow: int, scope: int) -> None:
    n = p2net.instance_network()
    t = _ok(p2net.create_tcp_socket(net.IpAddressFamily.IPV6))
    u = _ok(p2net.create_udp_socket(net.IpAddressFamily.IPV6))
    try:
        result(lambda: t.start_bind(n, _v6(0, flow, scope)))
        c = _ok(p2net.create_tcp_socket(net.IpAddressFamily.IPV6))
        try:
            result(lambda: c.start_connect(n, _v6(port, flow, scope)))
        finally:
            c.drop()
        if isinstance(result(lambda: u.start_bind(n, _v6(0))), Ok):
            _ok(u.finish_bind())
            result(lambda: u.stream(_v6(port, flow, scope)))
            pair = result(lambda: u.stream(None))
            if isinstance(pair, Ok):
                out = pair.value[1]
                result(out.check_send)
                datagram = udp.OutgoingDatagram(b"x", _v6(port, flow, scope))
                result(lambda: out.send([datagram]))
    finally:
        t.drop()
        u.drop()


class _TcpPair:
    """A connected pair of 0.2 TCP sockets over 127.0.0.1, with their streams."""

    def __init__(self, h: P2S.SocketsHost) -> None:
        n = h.instance_network()
        self.listener = _ok(h.create_tcp_socket(net.IpAddressFamily.IPV4))
        _ok(self.listener.start_bind(n, _v4(0)))
        _ok(self.listener.finish_bind())
        _ok(self.listener.start_listen())
        _ok(self.listener.finish_listen())
        port = _ok(self.listener.local_address()).value.port
        self.client = _ok(h.create_tcp_socket(net.IpAddressFamily.IPV4))
        _ok(self.client.start_connect(n, _v4(port)))
        self.client.subscribe().block()
        self.cin, self.cout = _ok(self.client.finish_connect())
        self.listener.subscribe().block()
        self.server, self.sin, self.sout = _ok(self.listener.accept())

    def drop(self) -> None:
        for r in (self.cin, self.cout, self.client, self.sin, self.sout, self.server):
            r.drop()
        self.listener.drop()


@hostile
@given(length=U64)
def test_p2_tcp_streams(p2net: P2S.SocketsHost, length: int) -> None:
    pair = _TcpPair(p2net)
    try:
        assert _ok(pair.sout.blocking_write_and_flush(b"data")) is None
        _ok(pair.server.shutdown(tcp.ShutdownType.SEND))  # then the end: no read blocks for ever
        for call in (pair.cin.blocking_read, pair.cin.read, pair.cin.skip, pair.cin.blocking_skip):
            result(functools.partial(call, length))
        for call in (pair.cout.write_zeroes, pair.cout.blocking_write_zeroes_and_flush):
            z = result(functools.partial(call, length))
            if length > P2S.SOCKET_WRITE_BUDGET:
                assert isinstance(z, Trap)
        result(lambda: pair.cout.splice(H.StdinStream(BytesInput(b"abc")), length))
    finally:
        pair.drop()


# --- WASI 0.3 --------------------------------------------------------------------------------


@dataclass
class P3Host:
    store: Store[Any]
    w: WasiP3
    root: Any
    data: Any  # "data": b"hello", read only
    both: Any  # "both": read and write


@pytest.fixture(scope="module")
def p3host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[P3Host]:
    d = tmp_path_factory.mktemp("p3")
    (d / "data").write_bytes(b"hello")
    secure, insecure = _Recording(), _Recording()
    ctx = (
        WasiCtxBuilder()
        .preopen_dir(d, "/")
        .secure_random(secure)
        .insecure_random(insecure)
        .inherit_network()
        .build()
    )
    store: Store[Any] = Store()
    w = WasiP3(ctx, store)
    store.data = w
    ((root, _),) = w.filesystem.get_directories()
    D, NOFOLLOW = fs3.DescriptorFlags, fs3.PathFlags(0)

    async def open_files() -> tuple[Any, Any]:
        data = await root.open_at(None, NOFOLLOW, "data", fs3.OpenFlags(0), D.READ)
        both = await root.open_at(None, NOFOLLOW, "both", fs3.OpenFlags.CREATE, D.READ | D.WRITE)
        return _ok(data), _ok(both)

    data, both = store.run_concurrent(open_files)
    yield P3Host(store, w, root, data, both)
    data.drop()
    both.drop()
    ctx.close()


async def _collect(reader: Any) -> bytes:
    chunks = [bytes(c) async for c in reader]
    return b"".join(chunks)


@hostile
@given(offset=U64, length=U64, size=U64, advice=st.sampled_from(list(fs3.Advice)))
def test_p3_descriptor_numbers(
    p3host: P3Host, offset: int, length: int, size: int, advice: fs3.Advice
) -> None:
    h = p3host

    async def go() -> dict[str, Any]:
        got: dict[str, Any] = {}
        stream, done = h.data.read_via_stream(offset)
        got["read"] = (await _collect(stream), await done)
        data = StreamReader.new(h.store, BytesProducer(b"x"))
        got["write"] = await h.both.write_via_stream(data, offset)
        got["advise"] = await h.data.advise(None, offset, length, advice)
        got["set_size"] = await h.both.set_size(None, size)
        got["reset"] = await h.both.set_size(None, 0)
        return got

    got = run_async(h.store, go)
    assert isinstance(got, dict), got
    for name, r in got.items():
        assert isinstance(r[1] if name == "read" else r, (Ok, Err)), (name, r)
    data, done = got["read"]
    if offset > sb.MAX_FILE_OFFSET:
        assert data == b"" and done == Err(fs3.ErrorCodeInvalid())
        assert got["write"] == Err(fs3.ErrorCodeInvalid())
    else:
        assert data == b"hello"[offset:]
    if size > sb.MAX_FILE_OFFSET:
        assert got["set_size"] == Err(fs3.ErrorCodeInvalid())
    if length > sb.MAX_FILE_OFFSET:
        assert got["advise"] == Err(fs3.ErrorCodeInvalid())


@st.composite
def p3_timestamps(draw: st.DrawFn) -> fs3.NewTimestamp:
    kind = draw(st.sampled_from(["no-change", "now", "timestamp"]))
    if kind == "no-change":
        return fs3.NewTimestampNoChange()
    if kind == "now":
        return fs3.NewTimestampNow()
    return fs3.NewTimestampTimestamp(sysclock.Instant(draw(S64), draw(U32)))


@hostile
@given(atime=p3_timestamps(), mtime=p3_timestamps())
def test_p3_set_times(p3host: P3Host, atime: fs3.NewTimestamp, mtime: fs3.NewTimestamp) -> None:
    h = p3host

    async def go() -> tuple[Any, ...]:
        return (
            await h.both.set_times(None, atime, mtime),
            await h.root.set_times_at(None, fs3.PathFlags(0), "both", atime, mtime),
            await h.both.stat(None),
        )

    got = run_async(h.store, go)
    assert isinstance(got, tuple), got
    assert all(isinstance(r, (Ok, Err)) for r in got), got
    assert isinstance(got[2], Ok)


@hostile
@given(max_len=st.sampled_from([*EXTREMES, MAX_RANDOM_BYTES, MAX_RANDOM_BYTES + 1]))
def test_p3_random(p3host: P3Host, max_len: int) -> None:
    w = p3host.w
    for call in (w.get_random_bytes, w.get_insecure_random_bytes):
        assert len(answer(functools.partial(call, max_len))) <= min(max_len, 16)
    asked = w.ctx.secure_random.asked + w.ctx.insecure_random.asked  # type: ignore[attr-defined]
    assert all(n <= MAX_RANDOM_BYTES for n in asked)


@hostile
@given(start=U64, when=U64)
def test_p3_monotonic_waits_with_a_manual_clock(start: int, when: int) -> None:
    clock = ManualClock(monotonic_ns=start)
    store: Store[Any] = Store()
    w = WasiP3(WasiCtxBuilder().manual_clock(clock).build(), store)
    acc: Accessor[Any, Any] = Accessor(store)
    for wait in (w.wait_for, w.wait_until):
        assert run_async(store, functools.partial(wait, acc, when)) is None
        assert 0 <= w.monotonic_now() <= U64_MAX  # a u64 still: deadlines saturate
    assert isinstance(w.system_now(), sysclock.Instant)


@hostile
@given(when=U64)
def test_p3_monotonic_waits_with_the_system_clock(when: int) -> None:
    store: Store[Any] = Store()
    w = WasiP3(WasiCtx(), store)
    acc: Accessor[Any, Any] = Accessor(store)

    async def go(wait: Callable[[Any, int], Any]) -> str:
        try:
            await asyncio.wait_for(wait(acc, when), 0.005)
        except TimeoutError:
            return "waiting"
        return "done"

    for wait in (w.wait_for, w.wait_until):
        got = run_async(store, functools.partial(go, wait))
        assert got in ("waiting", "done")
        if when == 0:
            assert got == "done"


@hostile
@given(value=U64, count=U32, hops=U8)
def test_p3_socket_options(p3host: P3Host, value: int, count: int, hops: int) -> None:
    socks = p3host.w.sockets
    t = _ok(socks.tcp_socket_create(S.IpAddressFamily.IPV4))
    u = _ok(socks.udp_socket_create(S.IpAddressFamily.IPV4))
    try:
        for call, v in (
            (t.set_listen_backlog_size, value),
            (t.set_keep_alive_idle_time, value),
            (t.set_keep_alive_interval, value),
            (t.set_keep_alive_count, count),
            (t.set_hop_limit, hops),
            (t.set_receive_buffer_size, value),
            (t.set_send_buffer_size, value),
            (u.set_unicast_hop_limit, hops),
            (u.set_receive_buffer_size, value),
            (u.set_send_buffer_size, value),
        ):
            result(functools.partial(call, v))
        for get in (
            t.get_keep_alive_idle_time,
            t.get_keep_alive_interval,
            t.get_keep_alive_count,
            t.get_hop_limit,
            t.get_receive_buffer_size,
            t.get_send_buffer_size,
            u.get_unicast_hop_limit,
            u.get_receive_buffer_size,
            u.get_send_buffer_size,
        ):
            assert 0 <= _ok(result(get)) <= U64_MAX
    finally:
        t.drop()
        u.drop()


def _s6(port: int, flow: int = 0, scope: int = 0) -> S.IpSocketAddress:
    loopback = (0, 0, 0, 0, 0, 0, 0, 1)
    return S.IpSocketAddressIpv6(S.Ipv6SocketAddress(port, flow, loopback, scope))


@needs_ipv6
@hostile
@given(port=U16.filter(bool), flow=U32, scope=U32)
def test_p3_ipv6_addresses(p3host: P3Host, port: int, flow: int, scope: int) -> None:
    h = p3host
    socks = h.w.sockets
    addr = _s6(port, flow, scope)
    t = _ok(socks.tcp_socket_create(S.IpAddressFamily.IPV6))
    c = _ok(socks.tcp_socket_create(S.IpAddressFamily.IPV6))
    u = _ok(socks.udp_socket_create(S.IpAddressFamily.IPV6))
    v = _ok(socks.udp_socket_create(S.IpAddressFamily.IPV6))
    try:
        result(lambda: t.bind(_s6(0, flow, scope)))
        result(lambda: u.bind(_s6(0, flow, scope)))
        result(lambda: v.connect(addr))

        async def go() -> tuple[Any, Any]:
            connected = await asyncio.wait_for(c.connect(None, addr), 5)
            sent = await asyncio.wait_for(u.send(None, b"x", addr), 5)
            return connected, sent

        got = run_async(h.store, go)
        assert isinstance(got, tuple) and all(isinstance(r, (Ok, Err)) for r in got), got
        if flow >= 2**20:  # no flow label is that wide
            assert got == (Err(S.ErrorCodeInvalidArgument()), Err(S.ErrorCodeInvalidArgument()))
    finally:
        for s in (t, c, u, v):
            s.drop()


# --- end to end: guests under `wasmloom run` -------------------------------------------------


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ)
    env.setdefault("WASMLOOM_CACHE_DIR", str(Path(__file__).parent / ".cache" / "compile"))
    return subprocess.run(
        [sys.executable, "-m", "wasmloom", "run", *args],
        capture_output=True, timeout=60, cwd=cwd, env=env,
    )  # fmt: skip


def test_guest_random_bytes_of_u64_max_traps() -> None:
    """get-random-bytes(2^64-1) from WASI 0.2: a trap naming the limit, exit status 134."""
    r = _run(str(GUESTS / "hostile_random.wat"))
    err = r.stderr.decode()
    assert r.returncode == 134, err
    assert "get-random-bytes" in err and str(MAX_RANDOM_BYTES) in err
    assert "Traceback" not in err and r.stdout == b""


#: What tests/guests/hostile_p2_fs.wat prints, one line per call: ``ok``, ``eNN``
#: (a filesystem error-code, by its index) or ``sNN`` (a stream-error case:
#: 00 is last-operation-failed). These are Wasmtime 49.0.3's answers.
_FS_EXPECTED = {
    "A": "ok",  # open-at "f" (create, read|write)
    "B": "ok",  # write "hello" at 0
    "C": "e12",  # read(1, 2^63): invalid
    "D": "e12",  # read(1, 2^64-1): invalid
    "E": "ok",  # read(2^64-1, 0): the five bytes
    "F": "e12",  # read(2^63-1, 2^63-1): invalid (the OS's EINVAL)
    "G": "e12",  # write at 2^63: invalid
    "H": "e12",  # write at 2^63-1: invalid (the OS's EINVAL)
    "I": "e12",  # set-size(2^63): invalid
    "J": "e12",  # set-size(2^64-1): invalid
    "K": "e08",  # set-size(2^63-1): file-too-large (the OS's EFBIG; see below)
    "L": "ok",  # advise(2^63, 1): nothing there to advise about
    "M": "e12",  # advise(0, 2^64-1): invalid
    "N": "ok",  # advise(2^63-1, 2^63-1)
    "O": "e30",  # set-times seconds 2^64-1: overflow
    "P": "ok",  # set-times nanoseconds 2^32-1 (carried into the seconds)
    "Q": "ok",  # set-times mtime 2^63-1 s (the OS clamps it)
    "R": "e30",  # set-times seconds 2^63: overflow
    "S": "ok",  # read-via-stream(2^63)
    "T": "s00",  # ... then blocking-read: last-operation-failed
    "U": "ok",  # read-via-stream(0)
    "V": "ok",  # ... then blocking-read(2^64-1)
    "W": "ok",  # write-via-stream(2^63)
    "X": "s00",  # ... then blocking-write-and-flush: last-operation-failed
    "Y": "ok",  # write-via-stream(0), then write-zeroes(2^64-1) traps
}


def test_guest_filesystem_numbers_beyond_the_os(tmp_path: Path) -> None:
    """A WASI 0.2 guest passing 2^63, 2^64-1 and friends as offsets, sizes and times."""
    r = _run("--dir", f"{tmp_path}::/", str(GUESTS / "hostile_p2_fs.wat"))
    err = r.stderr.decode()
    lines = dict(line.split(" ", 1) for line in r.stdout.decode().splitlines())
    if lines.get("K") == "ok":  # a filesystem whose files may be 2^63-1 bytes long
        lines["K"] = "e08"
    assert lines == _FS_EXPECTED, err
    assert r.returncode == 134, err
    assert "write-zeroes" in err and "check-write" in err and "Traceback" not in err
    assert (tmp_path / "f").read_bytes() == b"hello"
