"""WasiCtxBuilder and the stdio/clock/random pieces of the shared WASI context."""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path

import pytest

from wasmloom.wasi.ctx import (
    BytesInput,
    FileInput,
    FileOutput,
    ManualClock,
    MemoryOutput,
    SystemMonotonicClock,
    WasiCtxBuilder,
)
from wasmloom.wasi.sandbox import Perms


def test_args_env_and_inheritance(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASMLOOM_TEST_VAR", "host")
    monkeypatch.setenv("WASMLOOM_TEST_KEEP", "mine-wins")
    ctx = (
        WasiCtxBuilder()
        .args(["app"])
        .arg("x")
        .env("WASMLOOM_TEST_KEEP", "set")
        .env("A", "1")
        .env("A", "2")
        .inherit_env()
        .build()
    )
    env = dict(ctx.env)
    assert ctx.args == ["app", "x"]
    assert env["A"] == "2" and [k for k, _ in ctx.env].count("A") == 1
    assert env["WASMLOOM_TEST_KEEP"] == "set"  # set values win over inherited ones
    assert env["WASMLOOM_TEST_VAR"] == "host"


def test_build_once() -> None:
    b = WasiCtxBuilder()
    b.build()
    with pytest.raises(RuntimeError):
        b.build()


def test_defaults_are_closed() -> None:
    ctx = WasiCtxBuilder().build()
    assert ctx.args == [] and ctx.env == [] and ctx.preopens == []
    assert ctx.stdin.read(10) == b""


def test_stdio_sources_and_sinks(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.write_bytes(b"file-bytes")
    with open(src, "rb") as f:
        fi = FileInput(f)
        assert fi.read(4) == b"file" and fi.ready()
    fd = os.open(src, os.O_RDONLY)
    try:
        assert FileInput(fd).read(100) == b"file-bytes"
    finally:
        os.close(fd)
    assert BytesInput(b"abc").read(2) == b"ab"
    bio = io.BytesIO()
    FileOutput(bio).write(memoryview(b"view"))
    assert bio.getvalue() == b"view"
    dst = tmp_path / "out"
    wfd = os.open(dst, os.O_WRONLY | os.O_CREAT)
    try:
        FileOutput(wfd).write(memoryview(b"x" * 100_000))
    finally:
        os.close(wfd)
    assert dst.read_bytes() == b"x" * 100_000
    m = MemoryOutput()
    asyncio.run(m.write_async(b"async"))
    assert m.getvalue() == b"async"
    assert asyncio.run(FileInput(io.BytesIO(b"q")).read_async(5)) == b"q"


def test_preopens(tmp_path: Path) -> None:
    ctx = (
        WasiCtxBuilder()
        .preopen_dir(tmp_path, "/rw")
        .preopen_dir(str(tmp_path), "/ro", readonly=True)
        .build()
    )
    assert [(p.guest_path, p.perms) for p in ctx.preopens] == [
        ("/rw", Perms.READ | Perms.WRITE),
        ("/ro", Perms.READ),
    ]
    ctx.close()
    with pytest.raises(OSError):
        WasiCtxBuilder().preopen_dir(tmp_path / "missing", "/m")


def test_clocks_and_random() -> None:
    c = ManualClock(monotonic_ns=10, wall_ns=5_000_000_001)
    ctx = WasiCtxBuilder().manual_clock(c).deterministic_random(1).build()
    assert ctx.monotonic_clock.now() == 10
    ctx.monotonic_clock.wait_until(1_000)
    assert c.now() == 1_000
    assert ctx.wall_clock.now() == (5, 991)
    asyncio.run(c.wait_until_async(2_000))
    assert c.now() == 2_000
    a = WasiCtxBuilder().deterministic_random(1).build()
    assert ctx.secure_random(8) == a.secure_random(8)
    assert ctx.insecure_seed == (1, 2)
    s = SystemMonotonicClock()
    t = s.now()
    s.wait_until(t + 1_000_000)
    assert s.now() >= t + 1_000_000
