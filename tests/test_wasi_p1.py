"""``wasmloom.wasi.p1``: WASI 0.1 core modules run from Python, on wasmtime's own WASI 0.1.

Guests are the WAT modules of ``tests/wasip1_guests.py``: stdout and stderr
byte for byte (all 256 byte values) to every kind of output, stdin from
bytes, files and pipes, argv and environment, a preopened directory read
and written (and refused when read-only), exit codes, traps, the store's
limits, reactors, and the refusal of imports WASI 0.1 lacks.
"""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import pytest
import wasip1_guests as g

from wasmloom import Engine, LinkError, Store, StoreLimits, Trap, ValidationError, WasmloomError
from wasmloom.wasi import p1

ALL_BYTES = bytes(range(256))


def mod(text: str, engine: Engine | None = None) -> p1.Module:
    return p1.Module.from_bytes(text, engine)


# --- stdio ---------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 300])
def test_stdout_and_stderr_byte_for_byte_into_bytearrays(count: int) -> None:
    out, err = bytearray(), bytearray()
    status = p1.run(mod(g.output(count)), p1.config(stdout=out, stderr=err))
    assert status == 0
    assert bytes(out) == ALL_BYTES * count
    assert bytes(err) == b"err\xff\0"


def test_stdout_and_stderr_to_paths_and_file_objects(tmp_path: Path) -> None:
    out_path = tmp_path / "out.bin"
    out_path.write_bytes(b"old contents, truncated")
    err_file = io.BytesIO()
    assert p1.run(mod(g.output(5)), p1.config(stdout=out_path, stderr=err_file)) == 0
    assert out_path.read_bytes() == ALL_BYTES * 5
    assert err_file.getvalue() == b"err\xff\0"


def test_stdout_to_a_pipe_descriptor_and_text_file(tmp_path: Path) -> None:
    r, w = os.pipe()
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(_read_all(r)))
    reader.start()
    text = tmp_path / "err.txt"
    with open(text, "w", encoding="latin-1") as tf:
        tf.write("before:")
        status = p1.run(mod(g.output(200)), p1.config(stdout=w, stderr=tf))
    os.close(w)
    reader.join(10)
    os.close(r)
    assert status == 0
    assert got == [ALL_BYTES * 200]  # 51 KiB: more than a pipe's buffer, read as it goes
    assert text.read_bytes() == b"before:err\xff\0"


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_output_discarded_by_default_and_sink_callable() -> None:
    chunks: list[bytes] = []
    assert p1.run(mod(g.output(2)), p1.config(stdout=chunks.append)) == 0
    assert b"".join(chunks) == ALL_BYTES * 2


def test_an_exception_in_an_output_sink_is_reraised() -> None:
    def sink(data: bytes) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        p1.run(mod(g.output(1)), p1.config(stdout=sink))


@pytest.mark.parametrize("size", [0, 3, 100_000])
def test_stdin_from_bytes(size: int) -> None:
    data = (ALL_BYTES * (size // 256 + 1))[:size]
    out = bytearray()
    assert p1.run(mod(g.ECHO), p1.config(stdin=data, stdout=out)) == 0
    assert bytes(out) == data


def test_stdin_from_a_path_a_file_object_and_a_pipe(tmp_path: Path) -> None:
    src = tmp_path / "in.bin"
    src.write_bytes(b"from a file\0\xff")
    for stdin in (src, str(src)):
        out = bytearray()
        assert p1.run(mod(g.ECHO), p1.config(stdin=stdin, stdout=out)) == 0
        assert bytes(out) == b"from a file\0\xff"
    with open(src, "rb") as f:
        f.read(5)  # a file object is read from where it stands
        out = bytearray()
        assert p1.run(mod(g.ECHO), p1.config(stdin=f, stdout=out)) == 0
    assert bytes(out) == b"a file\0\xff"
    out = bytearray()
    assert p1.run(mod(g.ECHO), p1.config(stdin=io.BytesIO(b"memory"), stdout=out)) == 0
    assert bytes(out) == b"memory"
    r, w = os.pipe()
    writer = threading.Thread(target=lambda: (os.write(w, ALL_BYTES * 400), os.close(w)))
    writer.start()
    out = bytearray()
    with os.fdopen(r, "rb") as pipe:
        assert p1.run(mod(g.ECHO), p1.config(stdin=pipe, stdout=out)) == 0
    writer.join(10)
    assert bytes(out) == ALL_BYTES * 400


def test_no_stdin_reads_end_of_file() -> None:
    out = bytearray()
    assert p1.run(mod(g.ECHO), p1.config(stdout=out)) == 0
    assert out == b""


# --- arguments, environment ----------------------------------------------------------


def test_args_and_env_as_given() -> None:
    out, err = bytearray(), bytearray()
    cfg = p1.config(args=["prog", "a b", "ü"], env={"A": "1", "EMPTY": ""}, stdout=out, stderr=err)
    assert p1.run(mod(g.ARGS_ENV), cfg) == 0
    assert bytes(out) == "prog\0a b\0ü\0".encode()
    assert bytes(err) == b"A=1\0EMPTY=\0"


def test_inherit_env_then_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASMLOOM_P1_TEST", "host")
    monkeypatch.setenv("WASMLOOM_P1_OTHER", "kept")
    err = bytearray()
    cfg = p1.config(inherit_env=True, env=[("WASMLOOM_P1_TEST", "guest")], stderr=err)
    assert p1.run(mod(g.ARGS_ENV), cfg) == 0
    pairs = bytes(err).split(b"\0")
    assert b"WASMLOOM_P1_TEST=guest" in pairs
    assert b"WASMLOOM_P1_OTHER=kept" in pairs
    assert b"WASMLOOM_P1_TEST=host" not in pairs


# --- preopened directories -------------------------------------------------------------


def test_preopen_read_and_written(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_bytes(b"hello\xff")
    (tmp_path / "out.txt").write_bytes(b"old old old old")
    out = bytearray()
    assert p1.run(mod(g.FILES), p1.config(dirs=[(str(tmp_path), "/")], stdout=out)) == 0
    assert bytes(out) == b"hello\xff"
    assert (tmp_path / "out.txt").read_bytes() == b"copy:hello\xff"


def test_readonly_preopen_reads_but_refuses_writes(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_bytes(b"read me")
    out, err = bytearray(), bytearray()
    cfg = p1.config(dirs=[(str(tmp_path), "/", True)], stdout=out, stderr=err)
    assert p1.run(mod(g.FILES), cfg) == 11  # opening out.txt failed
    assert bytes(out) == b"read me"
    assert bytes(err) == bytes([63])  # WASI errno `perm`
    assert sorted(os.listdir(tmp_path)) == ["in.txt"]
    (tmp_path / "out.txt").write_bytes(b"keep")  # an existing file is not truncated either
    assert p1.run(mod(g.FILES), p1.config(dirs=[(str(tmp_path), "/", True)])) == 11
    assert (tmp_path / "out.txt").read_bytes() == b"keep"


def test_no_preopen_means_no_files(tmp_path: Path) -> None:
    err = bytearray()
    assert p1.run(mod(g.FILES), p1.config(stderr=err)) == 10
    assert bytes(err) == bytes([8])  # WASI errno `badf`: there is no fd 3


def test_missing_preopen_directory_is_an_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError) as info:
        p1.run(mod(g.FILES), p1.config(dirs=[(str(tmp_path / "nope"), "/")]))
    assert info.value.filename == str(tmp_path / "nope")


# --- exit codes and traps --------------------------------------------------------------


@pytest.mark.parametrize("code", [0, 1, 3, 125])
def test_proc_exit_code_is_the_status(code: int) -> None:
    assert p1.run(mod(g.output(1, code))) == code


def test_proc_exit_outside_the_wasi_range_is_an_error() -> None:
    with pytest.raises(WasmloomError, match=r"invalid exit status") as info:
        p1.run(mod(g.output(0, 126)))
    assert not isinstance(info.value, Trap)


def test_a_trap_raises_with_the_backtrace() -> None:
    text = '(module (func $f unreachable) (func (export "_start") (call $f)))'
    with pytest.raises(Trap, match="unreachable") as info:
        p1.run(mod(text))
    assert len(info.value.backtrace) == 2


def test_a_module_without_start_runs_nothing() -> None:
    assert p1.run(mod(g.CALC)) == 0


# --- containment -----------------------------------------------------------------------


def test_fuel_stops_a_looping_module() -> None:
    engine = Engine(consume_fuel=True)
    with pytest.raises(Trap, match="all fuel consumed"):
        p1.run(mod(g.LOOP, engine), store=Store(engine, fuel=1_000_000))


def test_deadline_stops_a_looping_module() -> None:
    store: Store[None] = Store(deadline=0.2)
    with pytest.raises(Trap, match=r"deadline of 0.2 s exceeded"):
        p1.run(mod(g.LOOP), store=store)


def test_interrupt_stops_a_looping_module() -> None:
    store: Store[None] = Store()
    threading.Timer(0.1, store.interrupt).start()
    with pytest.raises(Trap, match="interrupted"):
        p1.run(mod(g.LOOP), store=store)


@pytest.mark.parametrize(("limit", "status"), [(None, 0), (1 << 20, 1)])
def test_memory_limit_fails_memory_grow(limit: int | None, status: int) -> None:
    store: Store[None] = Store(limits=StoreLimits(memory_size=limit))
    assert p1.run(mod(g.GROW.replace("PAGES", "100")), store=store) == status


def test_instance_limit_refuses_instantiation() -> None:
    store: Store[None] = Store(limits=StoreLimits(instances=0))
    with pytest.raises(Trap, match="resource limit exceeded"):
        p1.run(mod(g.CALC), store=store)


# --- instances: reactors and numbers ---------------------------------------------------


def test_reactor_initialize_then_calls() -> None:
    inst = p1.instantiate(mod(g.REACTOR))
    assert inst.call("get") == (41,)
    assert inst.call("bump", 1) == (42,)
    assert inst.call("bump", -50) == (-8,)
    with pytest.raises(p1.WasiP1Exit) as info:
        inst.call("leave", 9)
    assert info.value.code == 9


def test_calls_with_numbers() -> None:
    inst = p1.instantiate(mod(g.CALC))
    assert inst.call("add", 40, 2) == (42,)
    assert inst.call("add", 2**32 - 1, 0) == (-1,)
    assert inst.call("mul64", -3, 2**40) == (-3 * 2**40,)
    assert inst.call("half", 3) == (1.5,)
    assert inst.call("halff", 0.1) == (pytest.approx(0.05),)
    assert inst.call("pair") == (-1, 0.25)
    assert inst.call("none") == ()
    with pytest.raises(ValueError, match="out of range"):
        inst.call("add", 2**32, 0)
    with pytest.raises(ValueError, match="takes 2 arguments"):
        inst.call("add", 1)
    with pytest.raises(LinkError, match="only i32, i64, f32 and f64"):
        inst.call("ref", 0)
    with pytest.raises(LinkError, match="no export"):
        inst.call("missing")
    with pytest.raises(Trap, match="unreachable"):
        inst.call("boom")
    assert inst.call("add", 1, 1) == (2,)  # the instance is still usable after a trap


def test_one_wasi_instance_per_store() -> None:
    store: Store[None] = Store()
    p1.instantiate(mod(g.CALC), store=store)
    with pytest.raises(LinkError, match="fresh store"):
        p1.instantiate(mod(g.CALC), store=store)


# --- bad input -------------------------------------------------------------------------


def test_unknown_imports_are_named() -> None:
    module = mod(g.UNKNOWN)
    assert module.missing_wasip1_imports() == ["env::foo", "wasi_snapshot_preview1::no_such_call"]
    with pytest.raises(LinkError, match=r"env::foo, wasi_snapshot_preview1::no_such_call"):
        p1.run(module)


def test_trap_unknown_imports_runs_until_one_is_called() -> None:
    out = bytearray()
    assert p1.run(mod(g.UNKNOWN), p1.config(stdout=out), trap_unknown_imports=True) == 0
    assert out == b"ok\n"
    inst = p1.instantiate(mod(g.UNKNOWN), trap_unknown_imports=True)
    with pytest.raises(Trap):
        inst.call("call_it")


def test_wrongly_typed_wasi_import_is_a_link_error() -> None:
    text = """(module (import "wasi_snapshot_preview1" "proc_exit" (func (param i64)))
      (func (export "_start")))"""
    with pytest.raises(LinkError, match="proc_exit"):
        p1.run(mod(text))


def test_a_component_is_refused_as_a_module() -> None:
    with pytest.raises(ValidationError, match="expected a core module, found a component"):
        mod(g.COMPONENT)


def test_bad_stdio_values_are_type_errors() -> None:
    with pytest.raises(TypeError):
        p1.config(stdout=3.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        p1.config(stdin=object())  # type: ignore[arg-type]


def test_readme_snippet_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from wasmloom import wat2wasm

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    start = text.index("from wasmloom.wasi import p1\n\nout = bytearray()")
    start = text.rindex("```python", 0, start) + len("```python")
    code = text[start : text.index("```", start)]
    (tmp_path / "app.wasm").write_bytes(wat2wasm(g.ECHO))  # stdin to stdout
    (tmp_path / "calc.wasm").write_bytes(wat2wasm(g.CALC))
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    assert capsys.readouterr().out == "0 b'input'\n(42,)\n"


@pytest.mark.parametrize("bad", ["nul\0inside", "\udcff"])
def test_args_and_env_that_wasi_cannot_carry_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not valid UTF-8 without NUL"):
        p1.run(mod(g.ARGS_ENV), p1.config(args=["prog", bad]))
    with pytest.raises(ValueError, match="not valid UTF-8 without NUL"):
        p1.run(mod(g.ARGS_ENV), p1.config(env={"K": bad}))
