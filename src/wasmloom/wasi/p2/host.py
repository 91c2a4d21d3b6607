"""WASI 0.2.x implemented over a :class:`~wasmloom.wasi.ctx.WasiCtx`, against the generated bindings.

Every interface of ``wasi:cli/imports@0.2.9`` has one implementation object
here; :class:`P2Host` gathers them with one attribute per interface, as the
generated world-level ``add_to_linker`` expects.

Blocking: WASI 0.2 functions are synchronous, so ``poll``, ``pollable.block``,
``blocking-read``/``blocking-write-and-flush`` and file I/O run on the thread
that called the guest, and block it while they wait. No event loop runs
during such a call in this implementation (the guest's call is itself
synchronous); hosts that drive guests from asyncio should call them through
``asyncio.to_thread`` or use WASI 0.3, whose implementation moves blocking
file I/O to worker threads.

Output: ``write`` passes the bytes the canonical ABI lifted straight to the
output (``os.write`` for descriptors), with no further copy.

Hostile numbers: every u64 a guest may pass gets its WASI answer, as in
Wasmtime: file offsets and sizes out of the OS's range are ``invalid`` and
timestamps ``overflow`` (:mod:`wasmloom.wasi.sandbox` checks them); reads
return at most what a cap allows, never allocating what the guest asked
for; clock deadlines saturate at 2^64-1; and a length that breaks a
function's stated precondition traps (:class:`~wasmloom.errors.Trap`):
``get-random-bytes`` above :data:`~wasmloom.wasi.ctx.MAX_RANDOM_BYTES`,
``write-zeroes`` above what ``check-write`` allows,
``blocking-write-zeroes-and-flush`` above :data:`~wasmloom.wasi.p2.io.BLOCKING_WRITE_MAX`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wasmloom.errors import Trap
from wasmloom.values import Err, Ok
from wasmloom.wasi.ctx import MAX_RANDOM_BYTES, WasiCtx, WasiExit
from wasmloom.wasi.p2.bindings import wasi_cli_terminal_input as term_in
from wasmloom.wasi.p2.bindings import wasi_cli_terminal_output as term_out
from wasmloom.wasi.p2.bindings import wasi_clocks_wall_clock as wall
from wasmloom.wasi.p2.io import BLOCKING_WRITE_MAX as BLOCKING_WRITE_MAX
from wasmloom.wasi.p2.io import WRITE_BUDGET as WRITE_BUDGET
from wasmloom.wasi.p2.io import ClockPollable, Error, Streams
from wasmloom.wasi.p2.io import FileInputStream as FileInputStream
from wasmloom.wasi.p2.io import Poll as Poll
from wasmloom.wasi.p2.io import Pollable as Pollable
from wasmloom.wasi.p2.io import StdinStream as StdinStream
from wasmloom.wasi.p2.io import StdioOutputStream as StdioOutputStream
from wasmloom.wasi.p2.io import wait_fds as wait_fds

if TYPE_CHECKING:
    from wasmloom.wasi.p2.filesystem import Descriptor as Descriptor
    from wasmloom.wasi.p2.filesystem import DirectoryEntryStream as DirectoryEntryStream
    from wasmloom.wasi.p2.filesystem import FilesystemHost
    from wasmloom.wasi.p2.sockets import SocketsHost

# The `X as X` imports above re-export what moved to .io, where tests reach it before;
# the filesystem's classes (in .filesystem) are re-exported on first use.
__all__ = ["P2Host", "host_for"]
_FILESYSTEM = ("Descriptor", "DirectoryEntryStream", "FilesystemHost")

if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        if name in _FILESYSTEM:
            from wasmloom.wasi.p2 import filesystem

            return getattr(filesystem, name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: The largest u64: where clock deadlines saturate.
_U64_MAX = (1 << 64) - 1


# --- clocks and random -------------------------------------------------------------------


class MonotonicClockHost:
    def __init__(self, ctx: WasiCtx) -> None:
        self.ctx = ctx

    def now(self) -> int:
        return self.ctx.monotonic_clock.now()

    def resolution(self) -> int:
        return self.ctx.monotonic_clock.resolution()

    def subscribe_instant(self, when: int) -> Pollable:
        return ClockPollable(self.ctx.monotonic_clock, when)

    def subscribe_duration(self, when: int) -> Pollable:
        """Ready ``when`` ns from now; a deadline past 2^64-1 saturates there."""
        c = self.ctx.monotonic_clock
        return ClockPollable(c, min(c.now() + when, _U64_MAX))


class WallClockHost:
    def __init__(self, ctx: WasiCtx) -> None:
        self.ctx = ctx

    def now(self) -> wall.Datetime:
        s, ns = self.ctx.wall_clock.now()
        return wall.Datetime(s, ns)

    def resolution(self) -> wall.Datetime:
        s, ns = self.ctx.wall_clock.resolution()
        return wall.Datetime(s, ns)


def _random_len(func: str, len: int) -> int:
    """``len``, or a trap when it is above :data:`~wasmloom.wasi.ctx.MAX_RANDOM_BYTES`."""
    if len > MAX_RANDOM_BYTES:
        raise Trap(f"{func}: requested {len} bytes, more than the limit of {MAX_RANDOM_BYTES}")
    return len


class RandomHost:
    """``random``, ``insecure`` and ``insecure-seed``.

    A request for more than :data:`~wasmloom.wasi.ctx.MAX_RANDOM_BYTES`
    bytes traps, before any is made (0.2 must return exactly ``len`` bytes).
    """

    def __init__(self, ctx: WasiCtx) -> None:
        self.ctx = ctx

    def get_random_bytes(self, len: int) -> bytes:
        return self.ctx.secure_random(_random_len("get-random-bytes", len))

    def get_random_u64(self) -> int:
        return int.from_bytes(self.ctx.secure_random(8), "little")

    def get_insecure_random_bytes(self, len: int) -> bytes:
        return self.ctx.insecure_random(_random_len("get-insecure-random-bytes", len))

    def get_insecure_random_u64(self) -> int:
        return int.from_bytes(self.ctx.insecure_random(8), "little")

    def insecure_seed(self) -> tuple[int, int]:
        return self.ctx.insecure_seed


# --- cli ---------------------------------------------------------------------------------


class CliHost:
    """environment, exit, stdin/stdout/stderr and the terminal interfaces."""

    def __init__(self, ctx: WasiCtx) -> None:
        self.ctx = ctx
        self._stdin: StdinStream | None = None

    def get_environment(self) -> list[tuple[str, str]]:
        return list(self.ctx.env)

    def get_arguments(self) -> list[str]:
        return list(self.ctx.args)

    def initial_cwd(self) -> str | None:
        return self.ctx.cwd

    def exit(self, status: Ok[None] | Err[None]) -> None:
        raise WasiExit(0 if isinstance(status, Ok) else 1)

    def exit_with_code(self, status_code: int) -> None:
        raise WasiExit(status_code)

    def get_stdin(self) -> StdinStream:
        # One buffer for all handles: bytes read ahead by one stay visible to the next.
        if self._stdin is None or self._stdin.source is not self.ctx.stdin:
            self._stdin = StdinStream(self.ctx.stdin)
        return self._stdin

    def get_stdout(self) -> StdioOutputStream:
        return StdioOutputStream(self.ctx.stdout)

    def get_stderr(self) -> StdioOutputStream:
        return StdioOutputStream(self.ctx.stderr)

    def get_terminal_stdin(self) -> term_in.HostTerminalInput | None:
        return TerminalInput() if self.ctx.stdin.is_terminal() else None

    def get_terminal_stdout(self) -> term_out.HostTerminalOutput | None:
        return TerminalOutput() if self.ctx.stdout.is_terminal() else None

    def get_terminal_stderr(self) -> term_out.HostTerminalOutput | None:
        return TerminalOutput() if self.ctx.stderr.is_terminal() else None


class TerminalInput:
    pass


class TerminalOutput:
    pass


# --- the world ---------------------------------------------------------------------------


class P2Host:
    """One attribute per imported interface of ``wasi:cli/imports@0.2.9``, over one context."""

    def __init__(self, ctx: WasiCtx) -> None:
        self.ctx = ctx
        cli = CliHost(ctx)
        rnd = RandomHost(ctx)
        self._files: FilesystemHost | None = None
        self._sockets: SocketsHost | None = None
        self.poll = Poll()
        self.monotonic_clock = MonotonicClockHost(ctx)
        self.wall_clock = WallClockHost(ctx)
        self.error = Error()
        self.streams = Streams()
        self.random = rnd
        self.insecure = rnd
        self.insecure_seed = rnd
        self.environment = cli
        self.exit = cli
        self.stdin = cli
        self.stdout = cli
        self.stderr = cli
        self.terminal_stdin = cli
        self.terminal_stdout = cli
        self.terminal_stderr = cli

    @property
    def filesystem(self) -> FilesystemHost:
        """The ``wasi:filesystem`` interfaces' host (made on first use)."""
        if self._files is None:
            from wasmloom.wasi.p2.filesystem import FilesystemHost

            self._files = FilesystemHost(self.ctx)
        return self._files

    types = preopens = filesystem

    @property
    def sockets(self) -> SocketsHost:
        """The ``wasi:sockets`` interfaces' host (made on first use: a command without
        sockets does not load them)."""
        if self._sockets is None:
            from wasmloom.wasi.p2.sockets import SocketsHost

            self._sockets = SocketsHost(self.ctx)
        return self._sockets

    instance_network = udp = udp_create_socket = tcp = tcp_create_socket = ip_name_lookup = sockets


def host_for(ctx: WasiCtx) -> P2Host:
    """The :class:`P2Host` of ``ctx`` (made once, kept in ``ctx.hosts["p2"]``)."""
    h = ctx.hosts.get("p2")
    if h is None or h.ctx is not ctx:
        h = ctx.hosts["p2"] = P2Host(ctx)
    return h
