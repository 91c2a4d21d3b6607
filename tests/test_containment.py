"""Containment: fuel, deadlines, interrupts, limits, time-slicing and signals.

The guests (tests/guests/contain_*.wat) loop, recurse and grow; each is
stopped by the limit it hits, with that limit's trap, through the API and
through ``wasmloom run``, and the store (or the process) stays usable.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from wasmloom import Component, Engine, Linker, Store, StoreLimits, Trap, WasmloomError
from wasmloom.host.instance import Instance

GUESTS = Path(__file__).resolve().parent / "guests"
SPIN = GUESTS / "contain_spin.wat"
SPIN_CMD = GUESTS / "contain_spin_cmd.wat"
GROW_CMD = GUESTS / "contain_grow_cmd.wat"


def instance(store: Store[Any], component: Component | None = None) -> Instance:
    return Linker().instantiate(store, component or Component.from_file(SPIN, store.engine))


def call(store: Store[Any], inst: Instance, name: str, *args: Any) -> Any:
    f = inst.get_func(name)
    assert f is not None
    return f(store, *args)


# --- deadlines and interrupts -----------------------------------------------------------


def test_deadline_traps_a_looping_guest_and_the_store_stays_usable() -> None:
    store: Store[None] = Store()
    inst = instance(store)
    store.set_deadline(0.2)
    t0 = time.monotonic()
    with pytest.raises(Trap) as e:
        call(store, inst, "spin-forever")
    assert time.monotonic() - t0 < 2
    assert e.value.message == "deadline of 0.2 s exceeded"
    assert e.value.func == "spin-forever"
    with pytest.raises(Trap, match="cannot enter component instance"):
        call(store, inst, "count")  # the trap poisoned the instance
    with pytest.raises(Trap, match=r"deadline of 0\.2 s exceeded"):
        call(store, instance(store), "spin", 0)  # the deadline stays until moved
    store.set_deadline(None)
    assert call(store, instance(store), "spin", 1000) == 1000


def test_deadline_in_the_constructor() -> None:
    store: Store[None] = Store(deadline=0.1)
    with pytest.raises(Trap, match=r"deadline of 0\.1 s exceeded"):
        call(store, instance(store), "spin-forever")


def test_interrupt_from_another_thread() -> None:
    store: Store[None] = Store()
    inst = instance(store)
    timer = threading.Timer(0.2, store.interrupt)
    timer.start()
    with pytest.raises(Trap) as e:
        call(store, inst, "spin-forever")
    timer.join()
    assert e.value.message == "interrupted"
    # the interrupt is consumed by its trap
    assert call(store, instance(store), "spin", 1000) == 1000


def test_engine_without_epochs_refuses_deadlines() -> None:
    engine = Engine(epoch_interruption=False)
    store: Store[None] = Store(engine)
    with pytest.raises(WasmloomError, match="epoch interruption"):
        store.set_deadline(1)
    with pytest.raises(WasmloomError, match="epoch interruption"):
        store.interrupt()
    assert call(store, instance(store), "spin", 1000) == 1000


# --- fuel -------------------------------------------------------------------------------


def test_fuel_is_consumed_and_runs_out() -> None:
    engine = Engine(consume_fuel=True)
    store: Store[None] = Store(engine, fuel=1_000_000)
    inst = instance(store)
    assert call(store, inst, "spin", 1000) == 1000
    left = store.get_fuel()
    assert 0 < left < 1_000_000
    with pytest.raises(Trap) as e:
        call(store, inst, "spin-forever")
    assert "all fuel consumed" in e.value.message
    assert store.get_fuel() == 0
    store.set_fuel(10_000_000)
    assert call(store, instance(store), "spin", 1000) == 1000


def test_fuel_needs_an_engine_that_consumes_it() -> None:
    store: Store[None] = Store()
    with pytest.raises(WasmloomError, match="consume_fuel"):
        store.set_fuel(10)
    with pytest.raises(WasmloomError, match="consume_fuel"):
        store.get_fuel()
    with pytest.raises(ValueError):
        Store(Engine(consume_fuel=True), fuel=-1)


def test_a_store_without_fuel_given_runs_unlimited() -> None:
    store: Store[None] = Store(Engine(consume_fuel=True))
    assert call(store, instance(store), "spin", 100_000) == 100_000


# --- limits -----------------------------------------------------------------------------


def test_memory_limit_makes_growth_fail() -> None:
    store: Store[None] = Store(limits=StoreLimits(memory_size=16 << 20))
    assert call(store, instance(store), "grow-memory") == 256  # 16 MiB of 64 KiB pages


def test_table_limit_makes_growth_fail() -> None:
    store: Store[None] = Store(limits=StoreLimits(table_elements=10_000))
    assert call(store, instance(store), "grow-table", 1000) == 9001  # 1 + 9 x 1000


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (StoreLimits(instances=0), "instance count too high"),
        (StoreLimits(memories=0), "memory count too high"),
        (StoreLimits(tables=0), "table count too high"),
        (StoreLimits(memory_size=1000), "exceeds memory limits"),
    ],
)
def test_instantiation_limits_trap(limits: StoreLimits, message: str) -> None:
    store: Store[None] = Store(limits=limits)
    with pytest.raises(Trap, match=message):
        instance(store)


def test_store_limits_reject_bad_values() -> None:
    with pytest.raises(ValueError, match="memory_size"):
        StoreLimits(memory_size=-1)
    with pytest.raises(ValueError, match="handles"):
        StoreLimits(handles=True)


def test_max_wasm_stack_limits_recursion() -> None:
    engine = Engine(max_wasm_stack=64 << 10)
    store: Store[None] = Store(engine)
    with pytest.raises(Trap, match="call stack exhausted"):
        call(store, instance(store), "recurse", 0)
    with pytest.raises(ValueError, match="max_wasm_stack"):
        Engine(max_wasm_stack=1 << 30)


# --- time-slicing -----------------------------------------------------------------------


def test_a_looping_guest_yields_to_other_tasks_and_timeouts() -> None:
    store: Store[None] = Store(time_slicing=True)
    inst = instance(store)
    spin = inst.get_func("async-spin")
    assert spin is not None
    ticks = 0

    async def other() -> str:
        nonlocal ticks
        for _ in range(10):
            await asyncio.sleep(0.01)
            ticks += 1
        return "done"

    async def main() -> tuple[str, float]:
        o = asyncio.ensure_future(other())
        t0 = time.monotonic()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(spin.call_async(store, 0), 0.3)
        took = time.monotonic() - t0
        store.set_deadline(0)  # stop the guest, still looping after the cancellation
        return await o, took

    result, took = store.run_concurrent(main)
    assert result == "done" and ticks == 10
    assert took < 2


def test_a_looping_guest_does_not_stop_another_tasks_host_coroutine() -> None:
    store: Store[None] = Store(time_slicing=True)
    spinner = instance(store)
    finished: list[int] = []

    async def host_add(a: int) -> int:
        await asyncio.sleep(0.05)
        finished.append(a)
        return a + 100

    linker = Linker()
    linker.root().func_wrap("host-add", host_add)
    waiter = linker.instantiate(store, Component.from_file(GUESTS / "async_basic.wat"))
    spin, wait = spinner.get_func("async-spin"), waiter.get_func("callback-wait")
    assert spin is not None and wait is not None

    async def main() -> int:
        looping = asyncio.ensure_future(spin.call_async(store, 0))
        await asyncio.sleep(0.05)  # the spinner runs
        result = await asyncio.wait_for(wait.call_async(store, 7), 5)
        assert not looping.done()
        store.interrupt()
        with pytest.raises(Trap, match="interrupted"):
            await looping
        return int(result)

    assert store.run_concurrent(main) == 107
    assert finished == [7]


# --- signals ----------------------------------------------------------------------------


def test_sigint_interrupts_a_sync_call_with_keyboard_interrupt() -> None:
    script = textwrap.dedent(
        f"""
        import os, signal, threading, time
        from wasmloom import Component, Linker, Store
        c = Component.from_file({str(SPIN)!r})
        store = Store()
        inst = Linker().instantiate(store, c)
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
        t0 = time.monotonic()
        try:
            inst.get_func("spin-forever")(store)
        except KeyboardInterrupt:
            print("KeyboardInterrupt after", round(time.monotonic() - t0, 1))
        fresh = Linker().instantiate(store, c)
        print("then", fresh.get_func("spin")(store, 5))
        """
    )
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("KeyboardInterrupt after ")
    assert float(lines[0].rsplit(" ", 1)[1]) < 1.0
    assert lines[1] == "then 5"
    assert "Traceback" not in r.stderr


# --- the command line -------------------------------------------------------------------


def wasmloom(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wasmloom", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_run_timeout() -> None:
    t0 = time.monotonic()
    r = wasmloom("run", "-W", "timeout=1s", str(SPIN_CMD))
    assert time.monotonic() - t0 < 4 + 2  # 4 s, plus a loaded machine's start-up
    assert r.returncode == 134
    assert "deadline of 1 s exceeded" in r.stderr


@pytest.mark.parametrize("spelling", ["500ms", "0.5", "0.5s"])
def test_run_timeout_spellings(spelling: str) -> None:
    r = wasmloom("run", "-W", f"timeout={spelling}", str(SPIN_CMD))
    assert r.returncode == 134
    assert "deadline of 0.5 s exceeded" in r.stderr


def test_run_fuel() -> None:
    r = wasmloom("run", "-W", "fuel=20000000", str(SPIN_CMD))
    assert r.returncode == 134
    assert "fuel" in r.stderr


def test_run_max_memory_size_bounds_rss() -> None:
    # A small launcher measures its child: a child forked from this (large) test
    # process would carry the parent's resident pages in its peak.
    launcher = (
        "import resource, subprocess, sys\n"
        "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
        "sys.stderr.buffer.write(r.stderr)\n"
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    cmd = [sys.executable, "-m", "wasmloom", "run", "-W", "max-memory-size=16777216"]
    r = subprocess.run(
        [sys.executable, "-c", launcher, *cmd, str(GROW_CMD)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    code, maxrss_kib = map(int, r.stdout.split())
    assert code == 134, r.stderr
    assert "unreachable" in r.stderr  # the guest's own reaction to growth failing
    assert maxrss_kib < 150 * 1024


def test_run_max_wasm_stack() -> None:
    script = GUESTS / "contain_spin.wat"
    r = wasmloom("run", "-W", "max-wasm-stack=65536", str(script))
    assert r.returncode == 1  # not a command; the option itself parsed
    assert "exports no `wasi:cli/run`" in r.stderr


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("fuel=abc", "fuel=abc"),
        ("timeout=-1", "timeout"),
        ("timeout=3 weeks", "timeout"),
        ("max-memory-size=1.5", "max-memory-size"),
        ("nonsense=1", "unknown -W option: nonsense"),
        ("trap-on-grow-failure", "trap-on-grow-failure is not supported"),
        ("max-wasm-stack=1G", "max_wasm_stack"),
    ],
)
def test_run_rejects_bad_w_options(option: str, message: str) -> None:
    r = wasmloom("run", "-W", option, str(SPIN_CMD))
    assert r.returncode in (1, 2)
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def _signal_after(sig: int, delay: float) -> tuple[int, float, str]:
    p = subprocess.Popen(
        [sys.executable, "-m", "wasmloom", "run", str(SPIN_CMD)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(delay)
    assert p.poll() is None  # still looping
    p.send_signal(sig)
    t0 = time.monotonic()
    _, err = p.communicate(timeout=30)
    return p.returncode, time.monotonic() - t0, err.decode()


def test_run_sigint_exits_130_with_one_line() -> None:
    code, took, err = _signal_after(signal.SIGINT, 2)
    assert code == 130
    assert took < 4
    assert err == "error: interrupted (SIGINT)\n"


def test_run_sigterm_exits_promptly() -> None:
    code, took, _ = _signal_after(signal.SIGTERM, 1)
    assert code == -signal.SIGTERM
    assert took < 2


POST_RETURN_TRAPS = """
(component
  (core module $m
    (func (export "work") (param $n i32) (result i32)
      (local $i i32)
      (loop $l
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.ne (local.get $i) (local.get $n))))
      (local.get $i))
    (func (export "post") (param i32) unreachable))
  (core instance $i (instantiate $m))
  (func (export "work") (param "n" u32) (result u32)
    (canon lift (core func $i "work") (post-return (core func $i "post")))))
"""


def test_a_preempted_sync_call_still_reports_its_post_return_trap() -> None:
    # A fast ticker makes the long loop yield many times before the function returns;
    # the trap in its post-return is still the call's.
    engine = Engine(epoch_tick=0.0005)
    component = Component.from_bytes(POST_RETURN_TRAPS.encode(), engine)
    store: Store[None] = Store(engine, time_slicing=True)
    inst = Linker().instantiate(store, component)
    with pytest.raises(Trap, match="unreachable"):
        call(store, inst, "work", 30_000_000)
