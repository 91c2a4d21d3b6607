"""The WASI context: what a guest's WASI imports see, shared by WASI 0.2.x and 0.3.0.

A :class:`WasiCtx` holds the arguments, the environment, the three stdio
streams, the preopened directories, the clocks and the random sources of one
guest. Build one with :class:`WasiCtxBuilder`::

    ctx = (
        WasiCtxBuilder()
        .args(["app", "--verbose"])
        .env("LANG", "C").inherit_env()
        .stdin_bytes(b"hello\\n").inherit_stdout().stderr_file(log)
        .preopen_dir("/srv/data", "/data", readonly=True)
        .build()
    )

Host implementations (``wasmloom.wasi.p2``, ``wasmloom.wasi.p3``) read the
context through their ``add_to_linker(linker, getter)``, where ``getter``
maps the store's data to the :class:`WasiCtx`.

Contracts the implementations rely on:

- :class:`Input` (stdin): ``read(n)`` blocks until at least one byte or the
  end (``b""``); ``read_async(n)`` is the same from a coroutine and never
  blocks the event loop (blocking sources read in a worker thread).
- :class:`Output` (stdout, stderr): ``write(data)`` writes all of ``data``
  (``bytes`` or a ``memoryview`` that is only valid during the call: an
  output must not keep it); ``write_async`` likewise from a coroutine.
- Clocks: :class:`WallClock` and :class:`MonotonicClock`. Waiting for the
  monotonic clock goes through the clock (``wait_until``), so a
  :class:`ManualClock` makes sleeps instant and deterministic.
- Random: ``secure_random(n)`` and ``insecure_random(n)`` return ``n`` bytes;
  ``insecure_seed`` is a pair of u64. The hosts never ask for more than
  :data:`MAX_RANDOM_BYTES` at once (WASI 0.2 traps on a longer request,
  WASI 0.3 returns at most that many).
- Preopens: :class:`Preopen` holds an open :class:`~wasmloom.wasi.sandbox.Dir`,
  the only way the guest reaches the host filesystem (see
  :mod:`wasmloom.wasi.sandbox`).
- A guest's ``exit`` raises :class:`WasiExit`, which propagates out of the
  call into the guest; catch it around the call (``WasiExit.code``).
"""

from __future__ import annotations

import io
import os
import random as _random
import select
import sys
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

if TYPE_CHECKING:
    import asyncio
    from dataclasses import dataclass, field

    from wasmloom.wasi.sandbox import Dir, Perms
else:
    from wasmloom.aio import asyncio
    from wasmloom.types import dataclass, field  # dataclasses without importing dataclasses

__all__ = [
    "MAX_RANDOM_BYTES",
    "MAX_WAIT_SLICE_NS",
    "AsyncReaderInput",
    "AsyncWriterOutput",
    "BytesInput",
    "FileInput",
    "FileOutput",
    "Input",
    "ManualClock",
    "MemoryOutput",
    "MonotonicClock",
    "NullOutput",
    "Output",
    "Preopen",
    "SystemMonotonicClock",
    "SystemWallClock",
    "WallClock",
    "WasiCtx",
    "WasiCtxBuilder",
    "WasiExit",
]

#: The most random bytes one ``get-random-bytes`` or ``get-insecure-random-bytes``
#: call produces (64 MiB, Wasmtime's limit too).
MAX_RANDOM_BYTES = 1 << 26

#: The longest single sleep of the system monotonic clock: a longer wait (a guest
#: may ask for up to 2^64-1 ns, more than the OS sleeps take) sleeps in slices.
MAX_WAIT_SLICE_NS = 86_400 * 1_000_000_000


class WasiExit(Exception):
    """The guest called ``exit``; ``code`` is its exit status (0 for success)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"guest exited with status {code}")
        self.code = code


# --- stdio ---------------------------------------------------------------------------


class Input(Protocol):
    """A source of bytes for the guest's stdin."""

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes (at least 1 unless at the end); ``b""`` at the end. Blocks."""
        ...

    async def read_async(self, n: int) -> bytes:
        """:meth:`read` from a coroutine, without blocking the event loop."""
        ...

    def ready(self) -> bool:
        """True when :meth:`read` would not block."""
        ...

    def is_terminal(self) -> bool: ...


class Output(Protocol):
    """A sink of bytes for the guest's stdout or stderr."""

    def write(self, data: bytes | memoryview) -> None:
        """Write all of ``data``; ``data`` may be a view of guest memory, valid only now."""
        ...

    async def write_async(self, data: bytes | memoryview) -> None:
        """:meth:`write` from a coroutine, without blocking the event loop."""
        ...

    def flush(self) -> None: ...

    def is_terminal(self) -> bool: ...


class BytesInput:
    """Stdin from a fixed byte string."""

    def __init__(self, data: bytes = b"") -> None:
        self._data = memoryview(bytes(data))
        self._pos = 0

    def read(self, n: int) -> bytes:
        chunk = bytes(self._data[self._pos : self._pos + n])
        self._pos += len(chunk)
        return chunk

    async def read_async(self, n: int) -> bytes:
        return self.read(n)

    def ready(self) -> bool:
        return True

    def is_terminal(self) -> bool:
        return False


class FileInput:
    """Stdin from a binary file object or an OS file descriptor (``0`` inherits stdin)."""

    def __init__(self, source: BinaryIO | int, terminal: bool | None = None) -> None:
        self._fd: int | None = source if isinstance(source, int) else None
        self._file: BinaryIO | None = None if isinstance(source, int) else source
        if terminal is None:
            try:
                fd = self._fd if self._fd is not None else self._file.fileno()  # type: ignore[union-attr]
                terminal = os.isatty(fd)
            except (OSError, ValueError, io.UnsupportedOperation):
                terminal = False
        self._tty = terminal

    def read(self, n: int) -> bytes:
        if self._fd is not None:
            return os.read(self._fd, n)
        assert self._file is not None
        r1 = getattr(self._file, "read1", None)
        data = r1(n) if r1 is not None else self._file.read(n)
        return bytes(data or b"")

    async def read_async(self, n: int) -> bytes:
        return await asyncio.to_thread(self.read, n)

    def ready(self) -> bool:
        try:
            fd = self._fd if self._fd is not None else self._file.fileno()  # type: ignore[union-attr]
        except (OSError, ValueError, io.UnsupportedOperation):
            return True  # an in-memory file never blocks
        try:
            r, _, _ = select.select([fd], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(r)

    def is_terminal(self) -> bool:
        return self._tty


class AsyncReaderInput:
    """Stdin from an :class:`asyncio.StreamReader`.

    :meth:`read_async` awaits the reader. The blocking :meth:`read` (used by
    WASI 0.2) runs the reader's loop to completion when that loop is not
    running; called while it runs, it raises ``RuntimeError``.
    """

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def read(self, n: int) -> bytes:
        loop = asyncio.get_event_loop_policy().get_event_loop()
        return loop.run_until_complete(self._reader.read(n))

    async def read_async(self, n: int) -> bytes:
        return await self._reader.read(n)

    def ready(self) -> bool:
        return False

    def is_terminal(self) -> bool:
        return False


class FileOutput:
    """Stdout/stderr to a binary file object or an OS file descriptor (``1``/``2`` inherit).

    With a descriptor, writes go straight from the given view to ``os.write``
    with no intermediate copy.
    """

    def __init__(self, sink: BinaryIO | int, terminal: bool | None = None) -> None:
        self._fd: int | None = sink if isinstance(sink, int) else None
        self._file: BinaryIO | None = None if isinstance(sink, int) else sink
        if terminal is None:
            try:
                fd = self._fd if self._fd is not None else self._file.fileno()  # type: ignore[union-attr]
                terminal = os.isatty(fd)
            except (OSError, ValueError, io.UnsupportedOperation):
                terminal = False
        self._tty = terminal

    def write(self, data: bytes | memoryview) -> None:
        if self._fd is not None:
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
        else:
            assert self._file is not None
            self._file.write(data)

    async def write_async(self, data: bytes | memoryview) -> None:
        # The view may not outlive the call that gave it: copy before leaving the loop.
        await asyncio.to_thread(self.write, bytes(data))

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def is_terminal(self) -> bool:
        return self._tty


class MemoryOutput:
    """Stdout/stderr collected in memory; :meth:`getvalue` returns everything written."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def write(self, data: bytes | memoryview) -> None:
        self._buf += data

    async def write_async(self, data: bytes | memoryview) -> None:
        self._buf += data

    def flush(self) -> None:
        pass

    def is_terminal(self) -> bool:
        return False

    def getvalue(self) -> bytes:
        return bytes(self._buf)


class NullOutput:
    """Stdout/stderr discarded."""

    def write(self, data: bytes | memoryview) -> None:
        pass

    async def write_async(self, data: bytes | memoryview) -> None:
        pass

    def flush(self) -> None:
        pass

    def is_terminal(self) -> bool:
        return False


class AsyncWriterOutput:
    """Stdout/stderr to an :class:`asyncio.StreamWriter`.

    :meth:`write` buffers in the writer (copying the view) and does not wait
    for it to drain; :meth:`write_async` also awaits ``drain()``.
    """

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    def write(self, data: bytes | memoryview) -> None:
        self._writer.write(bytes(data))

    async def write_async(self, data: bytes | memoryview) -> None:
        self._writer.write(bytes(data))
        await self._writer.drain()

    def flush(self) -> None:
        pass

    def is_terminal(self) -> bool:
        return False


# --- clocks ----------------------------------------------------------------------------


class WallClock(Protocol):
    """A wall clock: time since the Unix epoch."""

    def now(self) -> tuple[int, int]:
        """``(seconds, nanoseconds)`` since 1970-01-01T00:00:00Z."""
        ...

    def resolution(self) -> tuple[int, int]: ...


class MonotonicClock(Protocol):
    """A monotonic clock in nanoseconds, and waiting for it."""

    def now(self) -> int: ...

    def resolution(self) -> int: ...

    def wait_until(self, deadline: int) -> None:
        """Block until :meth:`now` >= ``deadline``."""
        ...

    async def wait_until_async(self, deadline: int) -> None:
        """Wait until :meth:`now` >= ``deadline`` without blocking the event loop."""
        ...


class SystemWallClock:
    """The host's real-time clock."""

    def now(self) -> tuple[int, int]:
        ns = time.time_ns()
        return ns // 1_000_000_000, ns % 1_000_000_000

    def resolution(self) -> tuple[int, int]:
        r = time.get_clock_info("time").resolution
        ns = max(1, int(r * 1e9))
        return ns // 1_000_000_000, ns % 1_000_000_000


class SystemMonotonicClock:
    """The host's monotonic clock (``time.monotonic_ns``)."""

    def now(self) -> int:
        return time.monotonic_ns()

    def resolution(self) -> int:
        return max(1, int(time.get_clock_info("monotonic").resolution * 1e9))

    def wait_until(self, deadline: int) -> None:
        """Sleep until ``deadline``, however far (in slices of :data:`MAX_WAIT_SLICE_NS`)."""
        while True:
            left = deadline - time.monotonic_ns()
            if left <= 0:
                return
            time.sleep(min(left, MAX_WAIT_SLICE_NS) / 1e9)

    async def wait_until_async(self, deadline: int) -> None:
        while True:
            left = deadline - time.monotonic_ns()
            if left <= 0:
                return
            await asyncio.sleep(min(left, MAX_WAIT_SLICE_NS) / 1e9)


class ManualClock:
    """A deterministic clock serving as both wall and monotonic clock.

    Time only moves through :meth:`advance` or by waiting: ``wait_until``
    returns at once, having moved the time to the deadline.
    """

    def __init__(self, monotonic_ns: int = 0, wall_ns: int = 1_700_000_000 * 10**9) -> None:
        self._mono = monotonic_ns
        self._wall0 = wall_ns - monotonic_ns

    def advance(self, ns: int) -> None:
        self._mono += ns

    def now(self) -> int:  # monotonic
        return self._mono

    def resolution(self) -> int:
        return 1

    def wall_now(self) -> tuple[int, int]:
        ns = self._wall0 + self._mono
        return ns // 1_000_000_000, ns % 1_000_000_000

    def wait_until(self, deadline: int) -> None:
        self._mono = max(self._mono, deadline)

    async def wait_until_async(self, deadline: int) -> None:
        self._mono = max(self._mono, deadline)

    def wall(self) -> WallClock:
        """This clock's wall-clock view (the same time line, offset to an epoch)."""
        return _ManualWall(self)


class _ManualWall:
    def __init__(self, clock: ManualClock) -> None:
        self._c = clock

    def now(self) -> tuple[int, int]:
        return self._c.wall_now()

    def resolution(self) -> tuple[int, int]:
        return 0, 1


# --- preopens and the context -----------------------------------------------------------


@dataclass
class Preopen:
    """A host directory the guest sees at ``guest_path``, with ``perms``."""

    dir: Dir
    guest_path: str
    host_path: str

    @property
    def perms(self) -> Perms:
        return self.dir.perms


def _insecure_random_source(seed: int | None) -> Callable[[int], bytes]:
    rng = _random.Random(seed)
    return rng.randbytes


@dataclass
class WasiCtx:
    """Everything a guest's WASI imports see. Build with :class:`WasiCtxBuilder`.

    The fields may be read and replaced freely before the guest runs; the
    WASI implementations read them on every call.
    """

    args: list[str] = field(default_factory=list)
    env: list[tuple[str, str]] = field(default_factory=list)
    cwd: str | None = None
    stdin: Input = field(default_factory=BytesInput)
    stdout: Output = field(default_factory=NullOutput)
    stderr: Output = field(default_factory=NullOutput)
    preopens: list[Preopen] = field(default_factory=list)
    wall_clock: WallClock = field(default_factory=SystemWallClock)
    monotonic_clock: MonotonicClock = field(default_factory=SystemMonotonicClock)
    secure_random: Callable[[int], bytes] = os.urandom
    insecure_random: Callable[[int], bytes] = field(
        default_factory=lambda: _insecure_random_source(None)
    )
    insecure_seed: tuple[int, int] = field(
        default_factory=lambda: (
            int.from_bytes(os.urandom(8), "little"),
            int.from_bytes(os.urandom(8), "little"),
        )
    )
    #: Sockets may bind, connect and send to addresses (``inherit_network``).
    network: bool = False
    #: Sockets of each kind may be created (addresses still need ``network``).
    allow_tcp: bool = True
    allow_udp: bool = True
    #: ``ip-name-lookup`` may resolve names.
    allow_ip_name_lookup: bool = False
    #: Per-implementation state (``"p2"``, ``"p3"``): WASI hosts cache what they
    #: derive from this context here. Not part of the context's meaning.
    hosts: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def close(self) -> None:
        """Close the preopened directories."""
        for p in self.preopens:
            p.dir.close()


class WasiCtxBuilder:
    """Fluent builder of a :class:`WasiCtx`; every method returns the builder.

    By default: no arguments, an empty environment, empty stdin, discarded
    stdout and stderr, no preopens, the system clocks, ``os.urandom``, no
    network (sockets can be created but reach no address; no name lookup).
    """

    def __init__(self) -> None:
        self._ctx = WasiCtx()
        self._built = False

    # arguments and environment
    def args(self, args: Iterable[str]) -> WasiCtxBuilder:
        """Set the arguments (``args[0]`` is conventionally the program name)."""
        self._ctx.args = list(args)
        return self

    def arg(self, arg: str) -> WasiCtxBuilder:
        self._ctx.args.append(arg)
        return self

    def inherit_args(self) -> WasiCtxBuilder:
        self._ctx.args = list(sys.argv)
        return self

    def env(self, key: str, value: str) -> WasiCtxBuilder:
        """Set one environment variable (replacing an earlier value of ``key``)."""
        self._ctx.env = [(k, v) for k, v in self._ctx.env if k != key]
        self._ctx.env.append((key, value))
        return self

    def envs(self, pairs: Iterable[tuple[str, str]]) -> WasiCtxBuilder:
        for k, v in pairs:
            self.env(k, v)
        return self

    def inherit_env(self) -> WasiCtxBuilder:
        """Add the host process's environment (variables set earlier keep their values)."""
        have = {k for k, _ in self._ctx.env}
        self._ctx.env.extend((k, v) for k, v in os.environ.items() if k not in have)
        return self

    def cwd(self, path: str | None) -> WasiCtxBuilder:
        """The guest's initial working directory as ``initial-cwd`` reports it."""
        self._ctx.cwd = path
        return self

    # stdio
    def stdin(self, source: Input) -> WasiCtxBuilder:
        self._ctx.stdin = source
        return self

    def stdin_bytes(self, data: bytes) -> WasiCtxBuilder:
        return self.stdin(BytesInput(data))

    def stdin_file(self, f: BinaryIO | int) -> WasiCtxBuilder:
        return self.stdin(FileInput(f))

    def stdin_reader(self, reader: asyncio.StreamReader) -> WasiCtxBuilder:
        return self.stdin(AsyncReaderInput(reader))

    def inherit_stdin(self) -> WasiCtxBuilder:
        return self.stdin(FileInput(sys.stdin.fileno()))

    def stdout(self, sink: Output) -> WasiCtxBuilder:
        self._ctx.stdout = sink
        return self

    def stdout_file(self, f: BinaryIO | int) -> WasiCtxBuilder:
        return self.stdout(FileOutput(f))

    def stdout_writer(self, writer: asyncio.StreamWriter) -> WasiCtxBuilder:
        return self.stdout(AsyncWriterOutput(writer))

    def inherit_stdout(self) -> WasiCtxBuilder:
        sys.stdout.flush()
        return self.stdout(FileOutput(sys.stdout.fileno()))

    def stderr(self, sink: Output) -> WasiCtxBuilder:
        self._ctx.stderr = sink
        return self

    def stderr_file(self, f: BinaryIO | int) -> WasiCtxBuilder:
        return self.stderr(FileOutput(f))

    def stderr_writer(self, writer: asyncio.StreamWriter) -> WasiCtxBuilder:
        return self.stderr(AsyncWriterOutput(writer))

    def inherit_stderr(self) -> WasiCtxBuilder:
        sys.stderr.flush()
        return self.stderr(FileOutput(sys.stderr.fileno()))

    def inherit_stdio(self) -> WasiCtxBuilder:
        return self.inherit_stdin().inherit_stdout().inherit_stderr()

    # filesystem
    def preopen_dir(
        self, host_path: str | os.PathLike[str], guest_path: str, *, readonly: bool = False
    ) -> WasiCtxBuilder:
        """Give the guest ``host_path`` as ``guest_path``; read-only or read-write.

        The directory is opened now (``OSError`` if it cannot be); the guest
        reaches nothing outside it (:mod:`wasmloom.wasi.sandbox`).
        """
        from wasmloom.wasi.sandbox import Dir, Perms

        perms = Perms.READ if readonly else Perms.READ | Perms.WRITE
        d = Dir.open_host(os.fspath(host_path), perms)
        self._ctx.preopens.append(Preopen(d, guest_path, os.fspath(host_path)))
        return self

    # clocks and random
    def wall_clock(self, clock: WallClock) -> WasiCtxBuilder:
        self._ctx.wall_clock = clock
        return self

    def monotonic_clock(self, clock: MonotonicClock) -> WasiCtxBuilder:
        self._ctx.monotonic_clock = clock
        return self

    def manual_clock(self, clock: ManualClock | None = None) -> WasiCtxBuilder:
        """Use one deterministic :class:`ManualClock` as both clocks."""
        c = clock if clock is not None else ManualClock()
        self._ctx.monotonic_clock = c
        self._ctx.wall_clock = c.wall()
        return self

    def secure_random(self, source: Callable[[int], bytes]) -> WasiCtxBuilder:
        self._ctx.secure_random = source
        return self

    def insecure_random(self, source: Callable[[int], bytes]) -> WasiCtxBuilder:
        self._ctx.insecure_random = source
        return self

    def insecure_seed(self, seed: tuple[int, int]) -> WasiCtxBuilder:
        self._ctx.insecure_seed = seed
        return self

    def deterministic_random(self, seed: int = 0) -> WasiCtxBuilder:
        """Seeded, reproducible bytes for all three random interfaces (tests only)."""
        rng = _random.Random(seed)
        self._ctx.secure_random = rng.randbytes
        self._ctx.insecure_random = _insecure_random_source(seed + 1)
        self._ctx.insecure_seed = (seed, seed + 1)
        return self

    # network
    def inherit_network(self) -> WasiCtxBuilder:
        """Let sockets use the host's network: bind, connect and send to any address."""
        self._ctx.network = True
        return self

    def allow_tcp(self, enable: bool) -> WasiCtxBuilder:
        self._ctx.allow_tcp = enable
        return self

    def allow_udp(self, enable: bool) -> WasiCtxBuilder:
        self._ctx.allow_udp = enable
        return self

    def allow_ip_name_lookup(self, enable: bool) -> WasiCtxBuilder:
        self._ctx.allow_ip_name_lookup = enable
        return self

    def build(self) -> WasiCtx:
        """The context; a builder builds once."""
        if self._built:
            raise RuntimeError("WasiCtxBuilder.build() was already called")
        self._built = True
        return self._ctx
