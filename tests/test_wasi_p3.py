"""WASI 0.3.0 hosts (wasmloom.wasi.p3): bindings, stdio streams, filesystem, compile cache.

Guests are in ``tests/test_run.py`` and the official wasi-testsuite (see the
README); here the host objects run against a real store and a real
directory, their streams read and written through the host stream API.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from wasmloom import Store, core
from wasmloom.bindgen.gen import generate
from wasmloom.digest import sha256
from wasmloom.host.streams import BytesProducer, StreamReader
from wasmloom.values import Err, Ok
from wasmloom.wasi.cache import DiskCache, engine_fingerprint
from wasmloom.wasi.ctx import MemoryOutput, WasiCtxBuilder, WasiExit
from wasmloom.wasi.p3 import WasiP3
from wasmloom.wasi.p3.bindings import wasi_filesystem_types as F
from wasmloom.wasi.p3.filesystem import Descriptor
from wasmloom.wit.resolve import Resolve

ROOT = Path(__file__).resolve().parents[1]
WIT03 = ROOT / "src" / "wasmloom" / "wasi" / "wit" / "0.3.0"
BINDINGS = ROOT / "src" / "wasmloom" / "wasi" / "p3" / "bindings"

D = F.DescriptorFlags
NOFOLLOW = F.PathFlags(0)
NOOPEN = F.OpenFlags(0)


def test_bindings_regenerate_identically() -> None:
    """The package holds the cli ``imports`` world (its ``__init__``) plus the
    interface modules of ``wasi:http/service``; shared modules are identical."""
    r = Resolve()
    pkg = r.push_path(WIT03)
    files = generate(r, r.select_world(pkg, "imports"), light_records=True)
    http = next(p for p in r.packages.values() if p.name.name == "http")
    service = generate(r, r.select_world(http, "service"), light_records=True)
    for name, text in service.items():
        if name != "__init__.py":
            assert files.setdefault(name, text) == text, f"{name} differs between the worlds"
    committed = {p.name for p in BINDINGS.iterdir() if p.is_file()}
    assert committed == set(files), (
        "regenerate: bindgen.gen.write(..., light_records=True) of <wit/0.3.0> world "
        "imports, then the wasi_http_* modules of world wasi:http/service"
    )
    for name, text in files.items():
        assert (BINDINGS / name).read_text() == text, f"{name} differs from bindgen's output"


def make(tmp_path: Path, **kw: Any) -> tuple[Store[Any], WasiP3, MemoryOutput]:
    out = MemoryOutput()
    b = WasiCtxBuilder().args(["app", "x"]).env("K", "V").stdout(out).stdin_bytes(b"input!")
    b.preopen_dir(tmp_path, "/", readonly=kw.get("readonly", False))
    store: Store[Any] = Store()
    w = WasiP3(b.build(), store)
    store.data = w
    return store, w, out


async def collect(reader: Any) -> Any:
    chunks: list[Any] = []
    async for c in reader:
        chunks.append(c)
    if chunks and isinstance(chunks[0], bytes):
        return b"".join(chunks)
    return [x for c in chunks for x in c]


def test_cli_environment_exit_random(tmp_path: Path) -> None:
    _, w, _ = make(tmp_path)
    assert w.get_arguments() == ["app", "x"] and ("K", "V") in w.get_environment()
    with pytest.raises(WasiExit) as e:
        w.exit_with_code(9)
    assert e.value.code == 9
    with pytest.raises(WasiExit) as e:
        w.exit(Err(None))
    assert e.value.code == 1
    assert len(w.get_random_bytes(33)) == 33 and len(w.get_insecure_random_bytes(5)) == 5
    assert len(w.get_insecure_seed()) == 2


def test_stdout_and_stdin_streams(tmp_path: Path) -> None:
    store, w, out = make(tmp_path)

    async def main() -> Any:
        fut = w.stdout_write_via_stream(StreamReader.new(store, BytesProducer(b"out bytes")))
        res = await fut
        data, done = w.read_via_stream()
        return res, await collect(data), await done

    res, got, done = store.run_concurrent(main)
    assert res == Ok(None) and out.getvalue() == b"out bytes"
    assert bytes(got) == b"input!" and done == Ok(None)


def test_monotonic_wait_is_a_real_async_wait(tmp_path: Path) -> None:
    store, w, _ = make(tmp_path)

    async def main() -> int:
        t0 = w.monotonic_now()
        await asyncio.gather(w.wait_for(None, 50_000_000), w.wait_for(None, 50_000_000))  # type: ignore[arg-type]
        return w.monotonic_now() - t0

    took = store.run_concurrent(main)
    assert 50_000_000 <= took < 500_000_000  # concurrent, not 100 ms


def test_filesystem_roundtrip(tmp_path: Path) -> None:
    store, w, _ = make(tmp_path)
    (tmp_path / "a.txt").write_bytes(b"hello file")
    ((root, name),) = w.filesystem.get_directories()
    assert name == "/" and root.flags == D.READ | D.MUTATE_DIRECTORY

    async def main() -> Any:
        got: dict[str, Any] = {}
        f = (await root.open_at(None, NOFOLLOW, "a.txt", NOOPEN, F.DescriptorFlags(0))).value
        assert f.flags == D.READ
        data, done = f.read_via_stream(6)
        got["read"] = (await collect(data), await done)
        g = await root.open_at(None, NOFOLLOW, "new.txt", F.OpenFlags.CREATE, D.WRITE)
        fut = g.value.write_via_stream(StreamReader.new(store, BytesProducer(b"abc" * 1000)), 2)
        got["write"] = await fut
        fut = g.value.append_via_stream(StreamReader.new(store, BytesProducer(b"END")))
        got["append"] = await fut
        got["mkdir"] = await root.create_directory_at(None, "sub/")
        entries, done = root.read_directory()
        got["dir"] = sorted((e.name, e.type.tag) for e in await collect(entries))
        got["dir_done"] = await done
        got["stat"] = (await root.stat_at(None, NOFOLLOW, "new.txt")).value.size
        got["symlink_out"] = await root.symlink_at(None, "..", "up")
        got["symlink_in"] = await root.symlink_at(None, "../a.txt", "sub/link")
        got["escape"] = await root.open_at(None, NOFOLLOW, "../etc", NOOPEN, D.READ)
        got["absolute"] = await root.stat_at(None, NOFOLLOW, "/etc/passwd")
        got["missing"] = await root.open_at(None, NOFOLLOW, "nope", NOOPEN, D.READ)
        got["dir_write"] = await root.open_at(None, NOFOLLOW, "sub", NOOPEN, D.WRITE)
        got["read_dir_of_file"] = await f.remove_directory_at(None, "x")
        got["set_size_ro"] = await f.set_size(None, 1)
        got["advise_dir"] = await root.advise(None, 0, 0, F.Advice.NORMAL)
        got["same"] = await root.is_same_object(None, w.filesystem.get_directories()[0][0])
        return got

    got = store.run_concurrent(main)
    assert (bytes(got["read"][0]), got["read"][1]) == (b"file", Ok(None))
    assert got["write"] == Ok(None) and got["append"] == Ok(None)
    assert (tmp_path / "new.txt").read_bytes() == b"\0\0" + b"abc" * 1000 + b"END"
    assert got["mkdir"] == Ok(None) and (tmp_path / "sub").is_dir()
    assert got["dir"] == [
        ("a.txt", "regular-file"),
        ("new.txt", "regular-file"),
        ("sub", "directory"),
    ]
    assert got["dir_done"] == Ok(None)
    assert got["stat"] == 3005
    assert got["symlink_out"] == Err(F.ErrorCodeNotPermitted())
    assert got["symlink_in"] == Ok(None) and os.readlink(tmp_path / "sub" / "link") == "../a.txt"
    assert got["escape"] == Err(F.ErrorCodeNotPermitted())
    assert got["absolute"] == Err(F.ErrorCodeNotPermitted())
    assert got["missing"] == Err(F.ErrorCodeNoEntry())
    assert got["dir_write"] == Err(F.ErrorCodeIsDirectory())
    assert got["read_dir_of_file"] == Err(F.ErrorCodeNotDirectory())
    assert got["set_size_ro"] == Err(F.ErrorCodeBadDescriptor())
    assert got["advise_dir"] == Err(F.ErrorCodeBadDescriptor())
    assert got["same"] is True


def test_readonly_preopen_refuses_mutation(tmp_path: Path) -> None:
    store, w, _ = make(tmp_path, readonly=True)
    ((root, _),) = w.filesystem.get_directories()
    assert root.flags == D.READ

    async def main() -> Any:
        return (
            await root.create_directory_at(None, "d"),
            await root.open_at(None, NOFOLLOW, "f", F.OpenFlags.CREATE, D.WRITE),
        )

    assert store.run_concurrent(main) == (
        Err(F.ErrorCodeNotPermitted()),
        Err(F.ErrorCodeNotPermitted()),
    )
    assert not (tmp_path / "d").exists() and not (tmp_path / "f").exists()
    assert isinstance(root, Descriptor)


def test_disk_cache_serves_a_second_engine(tmp_path: Path) -> None:
    wasm = core.wat2wasm('(module (func (export "f") (result i32) i32.const 7))')
    e1 = core.Engine()
    e1.disk_cache = c1 = DiskCache(tmp_path)
    core.compile_module(e1, wasm)
    assert (c1.hits, c1.misses) == (0, 1)
    e2 = core.Engine()
    e2.disk_cache = c2 = DiskCache(tmp_path)
    core.compile_module(e2, wasm)
    assert (c2.hits, c2.misses) == (1, 0)
    # a corrupt entry is recompiled and replaced (a new file: e2 maps the old one, and a
    # mapped file changed in place would kill this process with SIGBUS)
    (entry,) = [p for p in c2.dir.rglob("*.cwasm")]
    entry.unlink()
    entry.write_bytes(b"junk")
    e3 = core.Engine()
    e3.disk_cache = DiskCache(tmp_path)
    core.compile_module(e3, wasm)
    assert entry.read_bytes() != b"junk"
    assert engine_fingerprint("a") != engine_fingerprint("b")


def test_a_module_mapped_from_the_disk_cache_runs_after_its_entry_is_replaced(
    tmp_path: Path,
) -> None:
    wasm = core.wat2wasm('(module (func (export "f") (result i32) i32.const 7))')
    e1 = core.Engine()
    e1.disk_cache = DiskCache(tmp_path)
    core.compile_module(e1, wasm)
    e2 = core.Engine()
    e2.disk_cache = c2 = DiskCache(tmp_path)
    (entry,) = [p for p in c2.dir.rglob("*.cwasm")]
    assert c2.load_file(sha256(wasm).digest()) == str(entry)
    module = core.compile_module(e2, wasm)  # wasmtime maps the entry's file
    assert (c2.hits, c2.misses) == (2, 0)
    blob = entry.read_bytes()
    c2.store(sha256(wasm).digest(), b"replaced")  # by a rename: the mapping keeps its file
    assert entry.read_bytes() == b"replaced"
    instance = core.instantiate(core.CoreStore(e2), module, [])
    assert instance.func("f").call() == 7
    assert blob
