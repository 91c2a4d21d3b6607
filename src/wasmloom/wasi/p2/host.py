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

from typing import Any

from wasmloom.errors import Trap
from wasmloom.values import Err, Ok
from wasmloom.wasi import sandbox as sb
from wasmloom.wasi.ctx import MAX_RANDOM_BYTES, WasiCtx, WasiExit
from wasmloom.wasi.p2.bindings import wasi_cli_terminal_input as term_in
from wasmloom.wasi.p2.bindings import wasi_cli_terminal_output as term_out
from wasmloom.wasi.p2.bindings import wasi_clocks_wall_clock as wall
from wasmloom.wasi.p2.bindings import wasi_filesystem_types as fs
from wasmloom.wasi.p2.io import BLOCKING_WRITE_MAX as BLOCKING_WRITE_MAX
from wasmloom.wasi.p2.io import WRITE_BUDGET as WRITE_BUDGET
from wasmloom.wasi.p2.io import ClockPollable, Error, FileOutputStream, IoError, Streams, _blen
from wasmloom.wasi.p2.io import FileInputStream as FileInputStream
from wasmloom.wasi.p2.io import Poll as Poll
from wasmloom.wasi.p2.io import Pollable as Pollable
from wasmloom.wasi.p2.io import StdinStream as StdinStream
from wasmloom.wasi.p2.io import StdioOutputStream as StdioOutputStream
from wasmloom.wasi.p2.io import wait_fds as wait_fds
from wasmloom.wasi.p2.sockets import SocketsHost

# The `X as X` imports above re-export what moved to .io, where tests reach it before.
__all__ = ["P2Host", "host_for"]

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


# --- filesystem --------------------------------------------------------------------------


def _code(e: sb.FsError) -> Err[fs.ErrorCode]:
    return Err(fs.ErrorCode(e.code.value))


def _dt(ns: int) -> wall.Datetime | None:
    """The ``datetime`` of ``ns`` since the epoch; None before it (u64 seconds cannot say)."""
    if ns < 0:
        return None
    return wall.Datetime(ns // 1_000_000_000, ns % 1_000_000_000)


def _stat(st: Any) -> fs.DescriptorStat:
    return fs.DescriptorStat(
        fs.DescriptorType(sb.descriptor_type(st.st_mode)),
        st.st_nlink,
        st.st_size,
        _dt(st.st_atime_ns),
        _dt(st.st_mtime_ns),
        _dt(st.st_ctime_ns),
    )


def _ts(t: fs.NewTimestamp) -> sb.Timestamp:
    if isinstance(t, fs.NewTimestampNow):
        return sb.Timestamp(now=True)
    if isinstance(t, fs.NewTimestampTimestamp):
        return sb.Timestamp(ns=t.value.seconds * 1_000_000_000 + t.value.nanoseconds)
    return sb.Timestamp()


def _follow(flags: fs.PathFlags) -> bool:
    return fs.PathFlags.SYMLINK_FOLLOW in flags


class Descriptor:
    """A ``descriptor``: a sandbox :class:`~wasmloom.wasi.sandbox.Dir` or ``File``.

    ``owned`` descriptors close their OS descriptor when the guest drops them;
    preopens are lent (the context owns them).
    """

    def __init__(self, inner: sb.Dir | sb.File, owned: bool = True) -> None:
        self.inner = inner
        self.owned = owned

    def drop(self) -> None:
        if self.owned:
            self.inner.close()

    def _dir(self) -> sb.Dir:
        if not isinstance(self.inner, sb.Dir):
            raise sb.FsError(sb.ErrorCode.NOT_DIRECTORY)
        return self.inner

    def _file(self) -> sb.File:
        if not isinstance(self.inner, sb.File):
            raise sb.FsError(sb.ErrorCode.IS_DIRECTORY)
        return self.inner

    def read_via_stream(self, offset: int) -> Ok[FileInputStream] | Err[fs.ErrorCode]:
        try:
            f = self._file()
            if not f.readable:
                raise sb.FsError(sb.ErrorCode.BAD_DESCRIPTOR)
            return Ok(FileInputStream(f, offset))
        except sb.FsError as e:
            return _code(e)

    def write_via_stream(self, offset: int) -> Ok[FileOutputStream] | Err[fs.ErrorCode]:
        try:
            f = self._file()
            if not f.writable:
                raise sb.FsError(sb.ErrorCode.BAD_DESCRIPTOR)
            return Ok(FileOutputStream(f, offset))
        except sb.FsError as e:
            return _code(e)

    def append_via_stream(self) -> Ok[FileOutputStream] | Err[fs.ErrorCode]:
        try:
            f = self._file()
            if not f.writable:
                raise sb.FsError(sb.ErrorCode.BAD_DESCRIPTOR)
            return Ok(FileOutputStream(f, None))
        except sb.FsError as e:
            return _code(e)

    def advise(self, offset: int, length: int, advice: fs.Advice) -> Ok[None] | Err[fs.ErrorCode]:
        try:
            self._file().advise(offset, length, advice.value)
        except sb.FsError as e:
            return _code(e)
        return Ok(None)

    def sync_data(self) -> Ok[None] | Err[fs.ErrorCode]:
        try:
            self.inner.sync_data()
        except sb.FsError as e:
            return _code(e)
        return Ok(None)

    def sync(self) -> Ok[None] | Err[fs.ErrorCode]:
        try:
            self.inner.sync()
        except sb.FsError as e:
            return _code(e)
        return Ok(None)

    def get_flags(self) -> Ok[fs.DescriptorFlags] | Err[fs.ErrorCode]:
        i = self.inner
        f = fs.DescriptorFlags(0)
        if isinstance(i, sb.Dir):
            f |= fs.DescriptorFlags.READ
            if sb.Perms.WRITE in i.perms:
                f |= fs.DescriptorFlags.MUTATE_DIRECTORY
        else:
            if i.readable:
                f |= fs.DescriptorFlags.READ
            if i.writable:
                f |= fs.DescriptorFlags.WRITE
        return Ok(f)

    def get_type(self) -> Ok[fs.DescriptorType] | Err[fs.ErrorCode]:
        try:
            return Ok(fs.DescriptorType(sb.descriptor_type(self.inner.stat().st_mode)))
        except sb.FsError as e:
            return _code(e)

    def set_size(self, size: int) -> Ok[None] | Err[fs.ErrorCode]:
        try:
            self._file().set_size(size)
        except sb.FsError as e:
            return _code(e)
        return Ok(None)

    def set_times(
        self, data_access_timestamp: fs.NewTimestamp, data_modification_timestamp: fs.NewTimestamp
    ) -> Ok[None] | Err[fs.ErrorCode]:
        try:
            self.inner.set_times(_ts(data_access_timestamp), _ts(data_modification_timestamp))
        except sb.FsError as e:
            return _code(e)
        return Ok(None)

    def read(self, length: int, offset: int) -> Ok[tuple[bytes, bool]] | Err[fs.ErrorCode]:
        try:
            f = self._file()
            data = f.read(length, offset)
        except sb.FsError as e:
            return _code(e)
        n = _blen(data)
        eof = n == 0 or (n < length and offset + n >= f.stat().st_size)
        return Ok((data, eof))

    def write(self, buffer: bytes, offset: int) -> Ok[int] | Err[fs.ErrorCode]:
        try:
            return Ok(self._file().write(buffer, offset))
        except sb.FsError as e:
            return _code(e)

    def read_directory(self) -> Ok[DirectoryEntryStream] | Err[fs.ErrorCode]:
        try:
            return Ok(DirectoryEntryStream(self._dir().read_dir()))
        except sb.FsError as e:
            return _code(e)

    def create_directory_at(self, path: str) -> Ok[None] | Err[fs.ErrorCode]:
        try:
            self._dir().create_directory_at(path)
        except sb.FsError as e:
            return _code(e)
        return Ok(None)

    def stat(self) -> Ok[fs.DescriptorStat] | Err[fs.ErrorCode]:
        try:
            return Ok(_stat(self.inner.stat()))
        except sb.FsError as e:
            return _code(e)

    def stat_at(
        self, path_flags: fs.PathFlags, path: str
    ) -> Ok[fs.DescriptorStat] | Err[fs.ErrorCode]:
        try:
            return Ok(_stat(self._dir().stat_at(path, _follow(path_flags))))
        except sb.FsError as e:
            return _code(e)

    def set_times_at(
        self,
        path_flags: fs.PathFlags,
        path: str,
        data_access_timestamp: fs.NewTimestamp,
        data_modification_timestamp: fs.NewTimestamp,
    ) -> Ok[None] | Err[fs.ErrorCode]:
        try:
            self._dir().set_times_at(
                path,
                _ts(data_access_timestamp),
                _ts(data_modification_timestamp),
                _follow(path_flags),
            )
        except sb.FsError as e:
            return _code(e)
        return Ok(None)

    def link_at(
        self, old_path_flags: fs.PathFlags, old_path: str, new_descriptor: Descriptor, new_path: str
    ) -> Ok[None] | Err[fs.ErrorCode]:
        try:
            self._dir().link_at(old_path, new_descriptor._dir(), new_path, _follow(old_path_flags))
        except sb.FsError as e:
            return _code(e)
        return Ok(None)

    def open_at(
        self,
        path_flags: fs.PathFlags,
        path: str,
        open_flags: fs.OpenFlags,
        flags: fs.DescriptorFlags,
    ) -> Ok[Descriptor] | Err[fs.ErrorCode]:
        D = fs.DescriptorFlags
        try:
            d = self._dir()
            if D.MUTATE_DIRECTORY in flags and sb.Perms.WRITE not in d.perms:
                raise sb.FsError(sb.ErrorCode.READ_ONLY)
            inner = d.open_at(
                path,
                follow=_follow(path_flags),
                oflags=sb.OpenFlags(open_flags.value),
                read=D.READ in flags,
                write=D.WRITE in flags,
            )
        except sb.FsError as e:
            return _code(e)
        if isinstance(inner, sb.Dir) and D.MUTATE_DIRECTORY not in flags:
            inner.perms = inner.perms & ~sb.Perms.WRITE
        return Ok(Descriptor(inner))

    def readlink_at(self, path: str) -> Ok[str] | Err[fs.ErrorCode]:
        try:
            return Ok(self._dir().readlink_at(path))
        except sb.FsError as e:
            return _code(e)

    def remove_directory_at(self, path: str) -> Ok[None] | Err[fs.ErrorCode]:
        try:
            self._dir().remove_directory_at(path)
        except sb.FsError as e:
            return _code(e)
        return Ok(None)

    def rename_at(
        self, old_path: str, new_descriptor: Descriptor, new_path: str
    ) -> Ok[None] | Err[fs.ErrorCode]:
        try:
            self._dir().rename_at(old_path, new_descriptor._dir(), new_path)
        except sb.FsError as e:
            return _code(e)
        return Ok(None)

    def symlink_at(self, old_path: str, new_path: str) -> Ok[None] | Err[fs.ErrorCode]:
        try:
            self._dir().symlink_at(old_path, new_path)
        except sb.FsError as e:
            return _code(e)
        return Ok(None)

    def unlink_file_at(self, path: str) -> Ok[None] | Err[fs.ErrorCode]:
        try:
            self._dir().unlink_file_at(path)
        except sb.FsError as e:
            return _code(e)
        return Ok(None)

    def is_same_object(self, other: Descriptor) -> bool:
        try:
            return self.inner.is_same_object(other.inner)
        except sb.FsError:
            return False

    def metadata_hash(self) -> Ok[fs.MetadataHashValue] | Err[fs.ErrorCode]:
        try:
            return Ok(fs.MetadataHashValue(*self.inner.metadata_hash()))
        except sb.FsError as e:
            return _code(e)

    def metadata_hash_at(
        self, path_flags: fs.PathFlags, path: str
    ) -> Ok[fs.MetadataHashValue] | Err[fs.ErrorCode]:
        try:
            return Ok(
                fs.MetadataHashValue(*self._dir().metadata_hash_at(path, _follow(path_flags)))
            )
        except sb.FsError as e:
            return _code(e)


class DirectoryEntryStream:
    def __init__(self, entries: list[sb.DirEntry]) -> None:
        self.entries = entries
        self.pos = 0

    def read_directory_entry(self) -> Ok[fs.DirectoryEntry | None] | Err[fs.ErrorCode]:
        if self.pos >= len(self.entries):
            return Ok(None)
        e = self.entries[self.pos]
        self.pos += 1
        return Ok(fs.DirectoryEntry(fs.DescriptorType(e.type), e.name))


class FilesystemHost:
    """``wasi:filesystem/types`` and ``preopens``."""

    def __init__(self, ctx: WasiCtx) -> None:
        self.ctx = ctx

    def filesystem_error_code(self, err: IoError) -> fs.ErrorCode | None:
        code = getattr(err, "code", None)
        return None if code is None else fs.ErrorCode(code.value)

    def get_directories(self) -> list[tuple[Descriptor, str]]:
        return [(Descriptor(p.dir, owned=False), p.guest_path) for p in self.ctx.preopens]


# --- the world ---------------------------------------------------------------------------


class P2Host:
    """One attribute per imported interface of ``wasi:cli/imports@0.2.9``, over one context."""

    def __init__(self, ctx: WasiCtx) -> None:
        self.ctx = ctx
        cli = CliHost(ctx)
        rnd = RandomHost(ctx)
        files = FilesystemHost(ctx)
        socks = SocketsHost(ctx)
        self.poll = Poll()
        self.monotonic_clock = MonotonicClockHost(ctx)
        self.wall_clock = WallClockHost(ctx)
        self.error = Error()
        self.streams = Streams()
        self.types = files
        self.preopens = files
        self.instance_network = socks
        self.udp = socks
        self.udp_create_socket = socks
        self.tcp = socks
        self.tcp_create_socket = socks
        self.ip_name_lookup = socks
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


def host_for(ctx: WasiCtx) -> P2Host:
    """The :class:`P2Host` of ``ctx`` (made once, kept in ``ctx.hosts["p2"]``)."""
    h = ctx.hosts.get("p2")
    if h is None or h.ctx is not ctx:
        h = ctx.hosts["p2"] = P2Host(ctx)
    return h
