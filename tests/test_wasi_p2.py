"""WASI 0.2.x (wasmloom.wasi.p2): a real componentize-py program, the host objects, the bindings.

The guest is built by componentize-py from the source below (about 7 s) and
cached under tests/.cache/, keyed by a hash of its sources and the tool's
version (tests/cpy_build.py); the tests skip when componentize-py is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cpy_build import build, component, tree

from wasmloom import Component, Linker, Store
from wasmloom.bindgen.gen import generate
from wasmloom.values import Err, Ok
from wasmloom.wasi import WasiCtxBuilder, p2
from wasmloom.wasi.ctx import BytesInput, ManualClock, MemoryOutput, WasiCtx
from wasmloom.wasi.p2 import host as H
from wasmloom.wasi.p2.bindings import wasi_filesystem_types as fs
from wasmloom.wasi.p2.bindings import wasi_io_streams as streams
from wasmloom.wit.resolve import Resolve

ROOT = Path(__file__).resolve().parent.parent
WIT02 = ROOT / "src" / "wasmloom" / "wasi" / "wit" / "0.2"
BINDINGS = ROOT / "src" / "wasmloom" / "wasi" / "p2" / "bindings"


# --- the generated bindings are what bindgen makes of our WIT ------------------------------


def test_bindings_regenerate_identically() -> None:
    """The package holds the cli ``imports`` world (its ``__init__``) plus the
    interface modules of ``wasi:http/proxy``; shared modules are identical."""
    r = Resolve()
    pkg = r.push_path(WIT02)
    files = generate(r, r.select_world(pkg, "imports"), light_records=True)
    http = next(p for p in r.packages.values() if p.name.name == "http")
    for name, text in generate(r, r.select_world(http, "proxy"), light_records=True).items():
        if name != "__init__.py":
            assert files.setdefault(name, text) == text, f"{name} differs between the worlds"
    committed = {p.name for p in BINDINGS.iterdir() if p.is_file()}
    assert committed == set(files), (
        "regenerate: bindgen.gen.write(..., light_records=True) of <wit/0.2> world "
        "imports, then the wasi_http_* modules of world wasi:http/proxy"
    )
    for name, text in files.items():
        assert (BINDINGS / name).read_text() == text, f"{name} differs from bindgen's output"


# --- a componentize-py guest --------------------------------------------------------------

_APP_WIT = """package local:app;

world app {
  export wasi:cli/run@0.2.9;
}
"""

_APP_PY = """import os
import sys
import time

from wit_world import exports


class Run(exports.Run):
    def run(self) -> None:
        print("hello from python", sys.argv[1:], os.environ.get("GREETING"))
        print("stdin:", sys.stdin.read().upper(), end="")
        print("files:", sorted(os.listdir("/data")))
        with open("/data/in.txt") as f:
            print("in.txt:", f.read().strip())
        with open("/data/out.txt", "w") as f:
            f.write("written by the guest\\n")
        t0 = time.monotonic()
        time.sleep(0.25)
        print("slept:", time.monotonic() - t0 >= 0.25)
        for path in ("/data/../../etc/passwd", "/etc/passwd"):
            try:
                open(path).read()
                print("escape: allowed")
            except OSError as e:
                print("escape:", type(e).__name__)
        sys.stdout.flush()
        print("to stderr", file=sys.stderr)
        code = int(os.environ.get("EXIT_CODE", "0"))
        if code:
            sys.exit(code)
"""


def _build_guest() -> Path:
    files = tree(WIT02 / "deps", "wit/deps")
    files["wit/deps/cli/cli.wit"] = (WIT02 / "cli.wit").read_text()
    files["wit/app.wit"] = _APP_WIT
    files["app.py"] = _APP_PY
    return build("wasi-p2-app", files, wit="wit", world="app")


@pytest.fixture(scope="module")
def guest() -> Component:
    return component(_build_guest())


class Data:
    def __init__(self, wasi: WasiCtx) -> None:
        self.wasi = wasi


def _run(guest: Component, ctx: WasiCtx) -> int:
    linker = Linker()

    def wasi(d: Data) -> WasiCtx:
        return d.wasi

    p2.add_to_linker(linker, wasi)
    store = Store(data=Data(ctx))
    return p2.run(store, linker.instantiate(store, guest))


def _ctx(tmp_path: Path, out: MemoryOutput, err: MemoryOutput, exit_code: int) -> WasiCtx:
    data = tmp_path / "data"
    data.mkdir()
    (data / "in.txt").write_text("input file\n")
    (data / "b").mkdir()
    return (
        WasiCtxBuilder()
        .args(["app", "one", "two"])
        .env("GREETING", "hey")
        .env("EXIT_CODE", str(exit_code))
        .stdin_bytes(b"some input\n")
        .stdout(out)
        .stderr(err)
        .preopen_dir(data, "/data")
        .build()
    )


EXPECTED = (
    b"hello from python ['one', 'two'] hey\n"
    b"stdin: SOME INPUT\n"
    b"files: ['b', 'in.txt']\n"
    b"in.txt: input file\n"
    b"slept: True\n"
    b"escape: PermissionError\n"  # the sandbox's not-permitted
    b"escape: FileNotFoundError\n"  # wasi-libc finds no preopen for /etc
)


def test_componentize_py_program(guest: Component, tmp_path: Path) -> None:
    out, err = MemoryOutput(), MemoryOutput()
    ctx = _ctx(tmp_path, out, err, 0)
    assert _run(guest, ctx) == 0
    assert out.getvalue() == EXPECTED
    assert err.getvalue() == b"to stderr\n"
    assert (tmp_path / "data" / "out.txt").read_text() == "written by the guest\n"


def test_componentize_py_program_exit_code_and_manual_clock(
    guest: Component, tmp_path: Path
) -> None:
    out, err = MemoryOutput(), MemoryOutput()
    ctx = _ctx(tmp_path, out, err, 3)
    clock = ManualClock()
    ctx.monotonic_clock = clock
    ctx.wall_clock = clock.wall()
    # sys.exit(3) reaches wasi:cli/exit as `err` (0.2.9's stable exit has no code): status 1
    assert _run(guest, ctx) == 1
    assert out.getvalue() == EXPECTED
    assert clock.now() >= 250_000_000  # the sleep advanced the manual clock, instantly


# --- host objects, without a guest ---------------------------------------------------------


def test_stdin_stream_semantics() -> None:
    s = H.StdinStream(BytesInput(b"abcdef"))
    assert s.read(0) == Ok(b"")
    assert s.read(2) == Ok(b"ab")
    assert s.blocking_read(10) == Ok(b"cdef")
    r = s.blocking_read(1)
    assert isinstance(r, Err) and isinstance(r.value, streams.StreamErrorClosed)
    assert s.subscribe().ready()


def test_output_stream_writes_through() -> None:
    out = MemoryOutput()
    o = H.StdioOutputStream(out)
    assert o.check_write() == Ok(H.WRITE_BUDGET)
    assert o.write(b"ab") == Ok(None)
    assert o.blocking_write_and_flush(b"cd") == Ok(None)
    assert o.write_zeroes(2) == Ok(None)
    assert o.splice(H.StdinStream(BytesInput(b"xyz")), 2) == Ok(2)
    assert out.getvalue() == b"abcd\0\0xy"


def test_poll_with_manual_clock() -> None:
    clock = ManualClock()
    ctx = WasiCtxBuilder().manual_clock(clock).build()
    mc = H.MonotonicClockHost(ctx)
    a, b = mc.subscribe_duration(100), mc.subscribe_instant(50)
    assert not a.ready() and not b.ready()
    assert H.Poll().poll([a, b]) == [1]
    assert clock.now() == 50
    assert H.Poll().poll([a, b]) == [1]  # b stays ready; a is not yet
    assert H.Poll().poll([a]) == [0]
    assert clock.now() == 100
    assert H.Poll().poll([a, b]) == [0, 1]


def test_random_and_env_hosts() -> None:
    ctx = WasiCtxBuilder().deterministic_random(7).args(["a"]).env("K", "V").cwd("/w").build()
    h = p2.host_for(ctx)
    assert h is p2.host_for(ctx)
    assert len(h.random.get_random_bytes(16)) == 16
    again = WasiCtxBuilder().deterministic_random(7).build()
    assert H.RandomHost(again).get_random_bytes(16) == H.RandomHost(
        WasiCtxBuilder().deterministic_random(7).build()
    ).get_random_bytes(16)
    assert h.insecure_seed.insecure_seed() == (7, 8)
    assert h.environment.get_arguments() == ["a"]
    assert h.environment.get_environment() == [("K", "V")]
    assert h.environment.initial_cwd() == "/w"


def _root(tmp_path: Path, readonly: bool = False) -> H.Descriptor:
    (tmp_path / "f").write_bytes(b"hello")
    ctx = WasiCtxBuilder().preopen_dir(tmp_path, "/", readonly=readonly).build()
    [(d, name)] = H.FilesystemHost(ctx).get_directories()
    assert name == "/"
    return d


def test_descriptor_operations(tmp_path: Path) -> None:
    d = _root(tmp_path)
    F, OF, P = fs.DescriptorFlags, fs.OpenFlags, fs.PathFlags
    assert d.get_flags() == Ok(F.READ | F.MUTATE_DIRECTORY)
    r = d.open_at(P.SYMLINK_FOLLOW, "f", OF(0), F.READ)
    assert isinstance(r, Ok)
    f = r.value
    assert f.read(3, 0) == Ok((b"hel", False))
    assert f.read(10, 3) == Ok((b"lo", True))
    assert f.write(b"x", 0) == Err(fs.ErrorCode.BAD_DESCRIPTOR)
    st = f.stat()
    assert isinstance(st, Ok) and st.value.type is fs.DescriptorType.REGULAR_FILE
    assert st.value.size == 5

    w = d.open_at(P(0), "new", OF.CREATE | OF.EXCLUSIVE, F.READ | F.WRITE)
    assert isinstance(w, Ok)
    out = w.value.write_via_stream(0)
    assert isinstance(out, Ok)
    assert out.value.blocking_write_and_flush(b"12345") == Ok(None)
    app = w.value.append_via_stream()
    assert isinstance(app, Ok) and app.value.write(b"67") == Ok(None)
    inp = w.value.read_via_stream(2)
    assert isinstance(inp, Ok) and inp.value.blocking_read(100) == Ok(b"34567")
    assert (tmp_path / "new").read_bytes() == b"1234567"

    assert d.create_directory_at("dir") == Ok(None)
    sub = d.open_at(P(0), "dir", OF.DIRECTORY, F.READ)
    assert isinstance(sub, Ok)
    assert sub.value.get_flags() == Ok(F.READ)  # no mutate-directory asked: none given
    assert sub.value.create_directory_at("x") == Err(fs.ErrorCode.READ_ONLY)
    assert d.symlink_at("f", "link") == Ok(None)
    assert d.readlink_at("link") == Ok("f")
    lst = d.stat_at(P(0), "link")
    assert isinstance(lst, Ok) and lst.value.type is fs.DescriptorType.SYMBOLIC_LINK
    assert d.rename_at("new", d, "renamed") == Ok(None)
    assert d.link_at(P(0), "renamed", d, "hard") == Ok(None)
    assert d.unlink_file_at("hard") == Ok(None)
    entries = d.read_directory()
    assert isinstance(entries, Ok)
    names = []
    while True:
        e = entries.value.read_directory_entry()
        assert isinstance(e, Ok)
        if e.value is None:
            break
        names.append((e.value.name, e.value.type))
    assert sorted(names) == [
        ("dir", fs.DescriptorType.DIRECTORY),
        ("f", fs.DescriptorType.REGULAR_FILE),
        ("link", fs.DescriptorType.SYMBOLIC_LINK),
        ("renamed", fs.DescriptorType.REGULAR_FILE),
    ]
    assert d.remove_directory_at("dir") == Ok(None)
    assert d.is_same_object(d)
    assert not d.is_same_object(f)
    assert d.metadata_hash() == d.metadata_hash()
    ts = fs.NewTimestampTimestamp(fs.Datetime(1_000_000, 5))
    assert d.set_times_at(P(0), "f", ts, fs.NewTimestampNoChange()) == Ok(None)
    assert (tmp_path / "f").stat().st_atime_ns == 1_000_000 * 10**9 + 5
    # errors of the sandbox reach the guest as error-codes
    assert d.open_at(P(0), "../x", OF(0), F.READ) == Err(fs.ErrorCode.NOT_PERMITTED)
    assert d.open_at(P(0), "/etc", OF(0), F.READ) == Err(fs.ErrorCode.NOT_PERMITTED)
    assert d.open_at(P(0), "nope", OF(0), F.READ) == Err(fs.ErrorCode.NO_ENTRY)


def test_read_only_preopen_descriptor(tmp_path: Path) -> None:
    d = _root(tmp_path, readonly=True)
    F, OF, P = fs.DescriptorFlags, fs.OpenFlags, fs.PathFlags
    assert d.get_flags() == Ok(F.READ)
    assert d.open_at(P(0), "f", OF(0), F.WRITE) == Err(fs.ErrorCode.READ_ONLY)
    assert d.open_at(P(0), "g", OF.CREATE, F.READ) == Err(fs.ErrorCode.READ_ONLY)
    assert d.open_at(P(0), ".", OF(0), F.READ | F.MUTATE_DIRECTORY) == Err(fs.ErrorCode.READ_ONLY)
    assert d.unlink_file_at("f") == Err(fs.ErrorCode.READ_ONLY)


def test_stream_error_carries_filesystem_code(tmp_path: Path) -> None:
    d = _root(tmp_path)
    f = d.open_at(fs.PathFlags(0), "f", fs.OpenFlags(0), fs.DescriptorFlags.READ)
    assert isinstance(f, Ok)
    f.value.inner.close()  # the OS descriptor is gone: the next read fails
    r = H.FileInputStream(f.value.inner, 0).blocking_read(1)  # type: ignore[arg-type]
    assert isinstance(r, Err) and isinstance(r.value, streams.StreamErrorLastOperationFailed)
    err: Any = r.value.value
    assert H.FilesystemHost(WasiCtx()).filesystem_error_code(err) is fs.ErrorCode.BAD_DESCRIPTOR
