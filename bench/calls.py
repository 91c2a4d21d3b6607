"""Call costs: raw core calls vs wasmtime-py's component API vs wasmloom, one run.

    python3 bench/calls.py [--quick]

Every peer runs the same core code (bench/calls_guest.py) in the same process:

- raw core: the core function through wasmloom.core's ctypes caller, with the
  bytes copied in and out by hand (the floor for any component runtime);
- wasmtime-py: ``wasmtime.component.Func`` (plus its required ``post_return``);
- wasmloom: ``Instance.get_func(...)(store, ...)``;
- wasmloom typed: the same instance through bindings generated from
  bench/calls.wit (``wasmloom bindgen``), values lifted into generated classes.

Prints the median time per call for each workload, wasmloom's ratio to
wasmtime-py with the budgets of the core-runtime issue, and the ratio of
typed (generated) calls to hand-typed ``Func`` calls.
"""

from __future__ import annotations

import importlib
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import wasmtime
import wasmtime.component as wc

sys.path.insert(0, str(Path(__file__).parent))
from calls_guest import COMPONENT, CORE_MODULE

import wasmloom
from wasmloom import core

LOOP_N = 10_000


def per_call(fn: Callable[[], Any], inner: int, rounds: int) -> float:
    """Median seconds per call over ``rounds`` batches of ``inner`` calls."""
    fn()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t0) / inner)
    return statistics.median(times)


class Rec:
    def __init__(self) -> None:
        self.a, self.b, self.c, self.d, self.e = 1, 2, 3.5, True, 5


def main() -> None:
    quick = "--quick" in sys.argv
    scale = 0.2 if quick else 1.0
    s1k = "x" * 1024
    s1m = "y" * (1 << 20)
    b1m = bytes(range(256)) * 4096
    wasm = wasmtime.wat2wasm(COMPONENT)

    # --- wasmloom
    wl_store: wasmloom.Store[None] = wasmloom.Store()
    wl_linker = wasmloom.Linker()
    wl_linker.root().func_wrap("host-inc", lambda x: x + 1)
    wl_inst = wl_linker.instantiate(wl_store, wasmloom.Component.from_bytes(bytes(wasm)))

    def wl(name: str) -> Any:
        f = wl_inst.get_func(name)
        assert f is not None
        return f

    wl_add, wl_echo, wl_bytes, wl_rec, wl_loop = (
        wl(n) for n in ("add", "echo", "echo-bytes", "record", "loop")
    )
    wl_record = wasmloom.Record(a=1, b=2, c=3.5, d=True, e=5)

    # --- wasmloom, typed: bindings generated from bench/calls.wit, same instance
    from wasmloom.bindgen.gen import write
    from wasmloom.wit import resolve_path

    gen_dir = tempfile.mkdtemp(prefix="wasmloom-bench-")
    r, pkg = resolve_path(Path(__file__).parent / "calls.wit")
    write(r, r.select_world(pkg, "calls"), Path(gen_dir) / "calls_bindings")
    sys.path.insert(0, gen_dir)
    bindings: Any = importlib.import_module("calls_bindings")
    typed = bindings.Calls(wl_store, wl_inst)
    typed_record = bindings.Rec(1, 2, 3.5, True, 5)

    # --- wasmtime-py's component API
    engine = wasmtime.Engine()
    wt_store = wasmtime.Store(engine)
    wt_linker = wc.Linker(engine)
    with wt_linker.root() as root:
        root.add_func("host-inc", lambda store, x: x + 1)
    wt_inst = wt_linker.instantiate(wt_store, wc.Component(engine, wasm))

    def wt(name: str) -> Callable[..., Any]:
        f = wt_inst.get_func(wt_store, name)
        assert f is not None

        def call(*args: Any) -> Any:
            r = f(wt_store, *args)
            f.post_return(wt_store)
            return r

        return call

    wt_add, wt_echo, wt_bytes, wt_rec, wt_loop = (
        wt(n) for n in ("add", "echo", "echo-bytes", "record", "loop")
    )
    wt_record = Rec()

    # --- raw core calls on the same core module
    cs = core.CoreStore(core.default_engine())
    cm = core.compile_module(cs.engine, wasmtime.wat2wasm(CORE_MODULE))
    inc = core.host_func(cs, wasmloom.types.CoreFuncType(("i32",), ("i32",)), lambda x: x + 1)
    ci = core.instantiate(cs, cm, [inc])
    mem = ci.exports["mem"]
    assert isinstance(mem, core.CoreMemory)
    raw_add = ci.exports["add"].caller()  # type: ignore[union-attr]
    raw_echo_f = ci.exports["echo"].caller()  # type: ignore[union-attr]
    raw_rec_f = ci.exports["record"].caller()  # type: ignore[union-attr]
    raw_loop = ci.exports["loop"].caller()  # type: ignore[union-attr]
    unpack2 = struct.Struct("<II").unpack_from
    unpack_rec = struct.Struct("<I4xQdBB").unpack_from

    def raw_echo_bytes(b: bytes) -> bytes:
        mv = mem.view()
        n = len(b)
        mv[64 : 64 + n] = b
        p, ln = unpack2(mv, raw_echo_f(64, n))
        return bytes(mv[p : p + ln])

    def raw_echo(s: str) -> str:
        return raw_echo_bytes(s.encode()).decode()

    def raw_rec() -> Any:
        return unpack_rec(mem.view(), raw_rec_f(1, 2, 3.5, 1, 5))

    # sanity: all peers agree
    assert wl_add(wl_store, 1, 2) == wt_add(1, 2) == raw_add(1, 2) == 3
    assert wl_echo(wl_store, s1k) == wt_echo(s1k) == raw_echo(s1k) == s1k
    assert wl_bytes(wl_store, b1m) == bytes(wt_bytes(b1m)) == raw_echo_bytes(b1m) == b1m
    r = wl_rec(wl_store, wl_record)
    assert (r.a, r.b, r.c, r.d, r.e) == (1, 2, 3.5, True, 5)
    assert wl_loop(wl_store, 100) == wt_loop(100) == raw_loop(100) == 100
    assert typed.add(wl_store, 1, 2) == 3 and typed.echo(wl_store, s1k) == s1k
    assert typed.record(wl_store, typed_record) == typed_record

    def n(x: int) -> int:
        return max(1, int(x * scale))

    rows: list[tuple[str, float, float, float, float, str]] = []

    def row(
        name: str,
        raw: Callable[[], Any],
        wtp: Callable[[], Any],
        wlm: Callable[[], Any],
        typ: Callable[[], Any],
        inner: int,
        rounds: int,
        budget: str,
        div: int = 1,
    ) -> None:
        rows.append(
            (
                name,
                per_call(raw, inner, rounds) / div,
                per_call(wtp, inner, rounds) / div,
                per_call(wlm, inner, rounds) / div,
                per_call(typ, inner, rounds) / div,
                budget,
            )
        )

    row(
        "add(u32,u32)->u32",
        lambda: raw_add(1, 2),
        lambda: wt_add(1, 2),
        lambda: wl_add(wl_store, 1, 2),
        lambda: typed.add(wl_store, 1, 2),
        n(20000),
        7,
        "<= 2.5 us and <= 0.25x wasmtime-py",
    )
    row(
        "echo(string) 1 KiB",
        lambda: raw_echo(s1k),
        lambda: wt_echo(s1k),
        lambda: wl_echo(wl_store, s1k),
        lambda: typed.echo(wl_store, s1k),
        n(5000),
        7,
        "<= 5 us",
    )
    row(
        "echo(string) 1 MiB",
        lambda: raw_echo(s1m),
        lambda: wt_echo(s1m),
        lambda: wl_echo(wl_store, s1m),
        lambda: typed.echo(wl_store, s1m),
        n(20),
        5,
        "<= 1 ms",
    )
    row(
        "list<u8> 1 MiB in+out",
        lambda: raw_echo_bytes(b1m),
        lambda: wt_bytes(b1m),
        lambda: wl_bytes(wl_store, b1m),
        lambda: typed.echo_bytes(wl_store, b1m),
        n(20),
        5,
        "",
    )
    row(
        "5-field record in+out",
        raw_rec,
        lambda: wt_rec(wt_record),
        lambda: wl_rec(wl_store, wl_record),
        lambda: typed.record(wl_store, typed_record),
        n(5000),
        7,
        "",
    )
    row(
        "host import u32->u32 (per call)",
        lambda: raw_loop(LOOP_N),
        lambda: wt_loop(LOOP_N),
        lambda: wl_loop(wl_store, LOOP_N),
        lambda: typed.loop(wl_store, LOOP_N),
        1,
        n(7) + 2,
        "<= 1.5 us per call",
        div=LOOP_N,
    )

    def fmt(s: float) -> str:
        return f"{s * 1e6:10.2f}"

    print(
        f"{'workload':34} {'raw core us':>11} {'wasmtime-py us':>14} {'wasmloom us':>11} "
        f"{'wl/wt-py':>9} {'typed us':>9} {'typed/Func':>10}  budget"
    )
    for name, raw, wtp, wlm, typ, budget in rows:
        print(
            f"{name:34} {fmt(raw):>11} {fmt(wtp):>14} {fmt(wlm):>11} {wlm / wtp:9.3f} "
            f"{fmt(typ):>9} {typ / wlm:10.3f}  {budget}"
        )


if __name__ == "__main__":
    main()
