"""The filesystem sandbox shared by WASI 0.2.x and 0.3.0.

A guest reaches the host filesystem only through :class:`Dir` and
:class:`File` objects, each wrapping an open OS file descriptor. Every path
a guest gives is resolved *relative to a descriptor*, component by
component, with ``openat``-style calls (``os.open(name, dir_fd=...)``,
``O_NOFOLLOW``); host paths are never built by joining strings. Hence:

- an absolute path, or a ``..`` that would climb above the descriptor the
  path is relative to, is refused with ``not-permitted``;
- symbolic links are read (``readlinkat``) and expanded by the sandbox
  itself, under the same rules: a link whose target is absolute or climbs
  out is refused with ``not-permitted``; more than 40 expansions give
  ``loop``. The kernel never follows a link on the guest's behalf;
- a directory renamed while a path is being resolved cannot move the walk
  outside: each step holds a descriptor of the directory it is in, and
  ``..`` pops back to a descriptor already held, never asks the kernel;
- a hard link can only be created between two paths that both resolve
  inside the sandbox (``link-at`` resolves both through these rules).

Permissions: a :class:`Dir` has :class:`Perms`. Without ``WRITE``,
every mutation (create, truncate, write-open, mkdir, unlink, rmdir, rename,
symlink, link, set-times) fails with ``read-only``. Files and directories
opened from a directory inherit at most its permissions. Writing through a
descriptor not opened for writing fails with ``bad-descriptor``, reading
one not opened for reading likewise.

Errors are :class:`FsError` carrying an :class:`ErrorCode` whose values are
the labels of WASI's filesystem ``error-code`` (the same in 0.2 and 0.3);
:func:`error_code` maps an ``OSError``.

Numbers from the guest are u64 (s64 for 0.3 timestamps), wider than the OS
takes; they are checked here, before any system call, as Wasmtime answers
them: an offset or size above :data:`MAX_FILE_OFFSET` is ``invalid`` (but
``advise`` past it has nothing to advise and succeeds), a timestamp whose
seconds do not fit a signed 64-bit ``time_t`` is ``overflow``. A read returns
at most :data:`MAX_READ` bytes, whatever length was asked for.

Every call here is blocking file I/O. The async WASI implementations run
them in a worker thread (``asyncio.to_thread``); the synchronous WASI 0.2
calls run them in place, on the guest's thread.
"""

from __future__ import annotations

import enum
import errno
import os
import stat as _stat
import time
from collections import deque
from dataclasses import dataclass

__all__ = [
    "MAX_FILE_OFFSET",
    "MAX_READ",
    "MAX_SYMLINK_EXPANSIONS",
    "Dir",
    "DirEntry",
    "ErrorCode",
    "File",
    "FsError",
    "OpenFlags",
    "Perms",
    "Timestamp",
    "descriptor_type",
    "error_code",
]

MAX_SYMLINK_EXPANSIONS = 40
#: The largest file offset or size (``off_t`` is signed 64-bit).
MAX_FILE_OFFSET = (1 << 63) - 1
#: The most bytes one :meth:`File.read` returns (and allocates).
MAX_READ = 1 << 30
#: Reads up to this long allocate what was asked without looking at the file's size.
_SMALL_READ = 1 << 16
#: The range of nanosecond timestamps whose seconds fit a signed 64-bit ``time_t``.
_MIN_TIME_NS = -(1 << 63) * 1_000_000_000
_MAX_TIME_NS = ((1 << 63) - 1) * 1_000_000_000 + 999_999_999

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_PATH = getattr(os, "O_PATH", os.O_RDONLY)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_WALK_FLAGS = _O_PATH | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC


class ErrorCode(enum.Enum):
    """WASI filesystem ``error-code``; each value is the WIT label."""

    ACCESS = "access"
    WOULD_BLOCK = "would-block"
    ALREADY = "already"
    BAD_DESCRIPTOR = "bad-descriptor"
    BUSY = "busy"
    DEADLOCK = "deadlock"
    QUOTA = "quota"
    EXIST = "exist"
    FILE_TOO_LARGE = "file-too-large"
    ILLEGAL_BYTE_SEQUENCE = "illegal-byte-sequence"
    IN_PROGRESS = "in-progress"
    INTERRUPTED = "interrupted"
    INVALID = "invalid"
    IO = "io"
    IS_DIRECTORY = "is-directory"
    LOOP = "loop"
    TOO_MANY_LINKS = "too-many-links"
    MESSAGE_SIZE = "message-size"
    NAME_TOO_LONG = "name-too-long"
    NO_DEVICE = "no-device"
    NO_ENTRY = "no-entry"
    NO_LOCK = "no-lock"
    INSUFFICIENT_MEMORY = "insufficient-memory"
    INSUFFICIENT_SPACE = "insufficient-space"
    NOT_DIRECTORY = "not-directory"
    NOT_EMPTY = "not-empty"
    NOT_RECOVERABLE = "not-recoverable"
    UNSUPPORTED = "unsupported"
    NO_TTY = "no-tty"
    NO_SUCH_DEVICE = "no-such-device"
    OVERFLOW = "overflow"
    NOT_PERMITTED = "not-permitted"
    PIPE = "pipe"
    READ_ONLY = "read-only"
    INVALID_SEEK = "invalid-seek"
    TEXT_FILE_BUSY = "text-file-busy"
    CROSS_DEVICE = "cross-device"


_ERRNO: dict[int, ErrorCode] = {
    errno.EACCES: ErrorCode.ACCESS,
    errno.EAGAIN: ErrorCode.WOULD_BLOCK,
    errno.EALREADY: ErrorCode.ALREADY,
    errno.EBADF: ErrorCode.BAD_DESCRIPTOR,
    errno.EBUSY: ErrorCode.BUSY,
    errno.EDEADLK: ErrorCode.DEADLOCK,
    errno.EDQUOT: ErrorCode.QUOTA,
    errno.EEXIST: ErrorCode.EXIST,
    errno.EFBIG: ErrorCode.FILE_TOO_LARGE,
    errno.EILSEQ: ErrorCode.ILLEGAL_BYTE_SEQUENCE,
    errno.EINPROGRESS: ErrorCode.IN_PROGRESS,
    errno.EINTR: ErrorCode.INTERRUPTED,
    errno.EINVAL: ErrorCode.INVALID,
    errno.EIO: ErrorCode.IO,
    errno.EISDIR: ErrorCode.IS_DIRECTORY,
    errno.ELOOP: ErrorCode.LOOP,
    errno.EMLINK: ErrorCode.TOO_MANY_LINKS,
    errno.EMSGSIZE: ErrorCode.MESSAGE_SIZE,
    errno.ENAMETOOLONG: ErrorCode.NAME_TOO_LONG,
    errno.ENODEV: ErrorCode.NO_DEVICE,
    errno.ENOENT: ErrorCode.NO_ENTRY,
    errno.ENOLCK: ErrorCode.NO_LOCK,
    errno.ENOMEM: ErrorCode.INSUFFICIENT_MEMORY,
    errno.ENOSPC: ErrorCode.INSUFFICIENT_SPACE,
    errno.ENOTDIR: ErrorCode.NOT_DIRECTORY,
    errno.ENOTEMPTY: ErrorCode.NOT_EMPTY,
    errno.ENOTRECOVERABLE: ErrorCode.NOT_RECOVERABLE,
    errno.ENOTSUP: ErrorCode.UNSUPPORTED,
    errno.EOPNOTSUPP: ErrorCode.UNSUPPORTED,
    errno.ENOTTY: ErrorCode.NO_TTY,
    errno.ENXIO: ErrorCode.NO_SUCH_DEVICE,
    errno.EOVERFLOW: ErrorCode.OVERFLOW,
    errno.EPERM: ErrorCode.NOT_PERMITTED,
    errno.EPIPE: ErrorCode.PIPE,
    errno.EROFS: ErrorCode.READ_ONLY,
    errno.ESPIPE: ErrorCode.INVALID_SEEK,
    errno.ETXTBSY: ErrorCode.TEXT_FILE_BUSY,
    errno.EXDEV: ErrorCode.CROSS_DEVICE,
}


def error_code(e: OSError) -> ErrorCode:
    """The WASI ``error-code`` for an ``OSError`` (``io`` when there is no closer one)."""
    return _ERRNO.get(e.errno or 0, ErrorCode.IO)


class FsError(Exception):
    """A filesystem operation failed with WASI ``error-code`` :attr:`code`."""

    def __init__(self, code: ErrorCode, detail: str = "") -> None:
        super().__init__(f"{code.value}{': ' + detail if detail else ''}")
        self.code = code

    @classmethod
    def from_os(cls, e: OSError) -> FsError:
        return cls(error_code(e), e.strerror or "")


class Perms(enum.Flag):
    """What a descriptor allows: ``READ`` (read, list, stat) and ``WRITE`` (write, mutate)."""

    NONE = 0
    READ = enum.auto()
    WRITE = enum.auto()


class OpenFlags(enum.Flag):
    """WASI ``open-flags``."""

    NONE = 0
    CREATE = enum.auto()
    DIRECTORY = enum.auto()
    EXCLUSIVE = enum.auto()
    TRUNCATE = enum.auto()


@dataclass(frozen=True, slots=True)
class Timestamp:
    """A ``new-timestamp``: ``ns`` since the epoch, or ``now``; ``None`` means no change."""

    ns: int | None = None
    now: bool = False


@dataclass(frozen=True, slots=True)
class DirEntry:
    """One directory entry: its name and descriptor-type label."""

    name: str
    type: str


def descriptor_type(mode: int) -> str:
    """The WASI ``descriptor-type`` label of an ``st_mode``."""
    if _stat.S_ISREG(mode):
        return "regular-file"
    if _stat.S_ISDIR(mode):
        return "directory"
    if _stat.S_ISLNK(mode):
        return "symbolic-link"
    if _stat.S_ISCHR(mode):
        return "character-device"
    if _stat.S_ISBLK(mode):
        return "block-device"
    if _stat.S_ISFIFO(mode):
        return "fifo"
    if _stat.S_ISSOCK(mode):
        return "socket"
    return "unknown"


def _oserr(e: OSError) -> FsError:
    return FsError.from_os(e)


class _Resolved:
    """The parent directory descriptor and final name of a resolved path.

    Owns the descriptors opened along the way; :meth:`close` releases them.
    """

    __slots__ = ("_owned", "fd", "name")

    def __init__(self, fd: int, name: str, owned: list[int]) -> None:
        self.fd = fd
        self.name = name
        self._owned = owned

    def close(self) -> None:
        for fd in self._owned:
            os.close(fd)
        self._owned = []

    def __enter__(self) -> _Resolved:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _split(path: str) -> list[str]:
    return [p for p in path.split("/") if p]


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        os.readlink(name, dir_fd=dir_fd)
    except OSError:
        return False
    return True


def resolve(base: int, path: str, follow: bool) -> _Resolved:
    """Resolve ``path`` relative to the directory descriptor ``base``.

    Returns the descriptor of the directory that holds the final component,
    and that component (``"."`` for the directory itself). With ``follow``,
    a final symbolic link is expanded too; otherwise the caller operates on
    the link itself (and must not follow it: ``O_NOFOLLOW``,
    ``follow_symlinks=False``). See the module docstring for the rules.
    """
    if path == "":
        raise FsError(ErrorCode.NO_ENTRY, "empty path")
    if "\0" in path:
        raise FsError(ErrorCode.INVALID, "NUL in path")
    if path.startswith("/"):
        raise FsError(ErrorCode.NOT_PERMITTED, f"absolute path {path!r}")
    parts = deque(_split(path))
    if path.endswith("/"):
        parts.append(".")  # a trailing slash: the final component must be a directory
    stack = [base]
    owned: list[int] = []
    expansions = 0
    try:
        while parts:
            name = parts.popleft()
            last = not parts
            if name == ".":
                if last:
                    return _Resolved(stack[-1], ".", owned)
                continue
            if name == "..":
                if len(stack) == 1:
                    raise FsError(ErrorCode.NOT_PERMITTED, f"{path!r} leaves its directory")
                fd = stack.pop()
                owned.remove(fd)
                os.close(fd)
                if last:
                    return _Resolved(stack[-1], ".", owned)
                continue
            if last and not follow:
                return _Resolved(stack[-1], name, owned)
            try:
                target = os.readlink(name, dir_fd=stack[-1])
            except OSError as e:
                if e.errno == errno.EINVAL:  # not a symbolic link
                    target = None
                elif e.errno == errno.ENOENT and last:
                    return _Resolved(stack[-1], name, owned)
                else:
                    raise
            if target is not None:
                expansions += 1
                if expansions > MAX_SYMLINK_EXPANSIONS:
                    raise FsError(ErrorCode.LOOP, f"too many symbolic links in {path!r}")
                if target.startswith("/"):
                    raise FsError(ErrorCode.NOT_PERMITTED, f"link to absolute path {target!r}")
                tparts = _split(target)
                if target.endswith("/") or not tparts:
                    tparts.append(".")
                parts.extendleft(reversed(tparts))
                continue
            if last:
                return _Resolved(stack[-1], name, owned)
            try:
                fd = os.open(name, _WALK_FLAGS, dir_fd=stack[-1])
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR) and _is_link(name, stack[-1]):
                    # replaced by a link since readlink: look again
                    expansions += 1
                    if expansions > MAX_SYMLINK_EXPANSIONS:
                        raise FsError(ErrorCode.LOOP, f"too many symbolic links in {path!r}") from e
                    parts.appendleft(name)
                    continue
                raise
            owned.append(fd)
            stack.append(fd)
        return _Resolved(stack[-1], ".", owned)  # only "." / ".." components
    except BaseException as e:
        for fd in owned:
            os.close(fd)
        if isinstance(e, OSError):
            raise _oserr(e) from e
        raise


def _offset(value: int, what: str = "offset") -> int:
    """``value`` as a file offset or size; ``invalid`` above :data:`MAX_FILE_OFFSET`."""
    if value > MAX_FILE_OFFSET:
        raise FsError(ErrorCode.INVALID, f"{what} {value} is beyond the largest file offset")
    return value


def _times(
    current: os.stat_result | None, atime: Timestamp, mtime: Timestamp
) -> tuple[int, int] | None:
    """The ``ns=`` pair for ``os.utime``; None when neither time changes.

    A given time out of the OS's range is ``overflow`` (:class:`FsError`).
    """
    if atime.ns is None and not atime.now and mtime.ns is None and not mtime.now:
        return None
    now = time.time_ns()

    def pick(t: Timestamp, cur: int) -> int:
        if t.now:
            return now
        if t.ns is not None:
            if not _MIN_TIME_NS <= t.ns <= _MAX_TIME_NS:
                raise FsError(ErrorCode.OVERFLOW, "timestamp out of range")
            return t.ns
        return cur

    assert current is not None
    return pick(atime, current.st_atime_ns), pick(mtime, current.st_mtime_ns)


class _Descriptor:
    __slots__ = ("_closed", "fd", "perms")

    def __init__(self, fd: int, perms: Perms) -> None:
        self.fd = fd
        self.perms = perms
        self._closed = False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            os.close(self.fd)

    def __del__(self) -> None:
        try:
            self.close()
        except OSError:
            pass

    def stat(self) -> os.stat_result:
        try:
            return os.fstat(self.fd)
        except OSError as e:
            raise _oserr(e) from e

    def is_same_object(self, other: _Descriptor) -> bool:
        a, b = self.stat(), other.stat()
        return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)

    def metadata_hash(self) -> tuple[int, int]:
        return _hash_stat(self.stat())

    def sync(self) -> None:
        try:
            os.fsync(self.fd)
        except OSError as e:
            if e.errno != errno.EINVAL:
                raise _oserr(e) from e

    def sync_data(self) -> None:
        try:
            os.fdatasync(self.fd)
        except OSError as e:
            if e.errno != errno.EINVAL:
                raise _oserr(e) from e

    def set_times(self, atime: Timestamp, mtime: Timestamp) -> None:
        self._need_write()
        ns = _times(self.stat(), atime, mtime)
        if ns is None:
            return
        try:
            os.utime(self.fd, ns=ns)
        except OSError as e:
            raise _oserr(e) from e

    def _need_write(self) -> None:
        if Perms.WRITE not in self.perms:
            raise FsError(ErrorCode.READ_ONLY)


def _hash_stat(st: os.stat_result) -> tuple[int, int]:
    import hashlib  # here: loading it costs every command ~2 ms, and only metadata-hash needs it

    h = hashlib.blake2b(
        f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}".encode(), digest_size=16
    ).digest()
    return int.from_bytes(h[:8], "little"), int.from_bytes(h[8:], "little")


class File(_Descriptor):
    """An open regular file (or other non-directory). ``readable``/``writable`` as opened."""

    __slots__ = ("append", "readable", "writable")

    def __init__(self, fd: int, perms: Perms, readable: bool, writable: bool) -> None:
        super().__init__(fd, perms)
        self.readable = readable
        self.writable = writable
        self.append = False

    def read(self, n: int, offset: int) -> bytes:
        """Up to ``min(n, MAX_READ)`` bytes at ``offset`` (``b""`` at or past the end).

        The buffer is sized by what the file holds, not by ``n``: a long read
        of a regular file asks the OS for at most the bytes from ``offset`` to
        its current end (at least one, so the OS still judges the offset).
        """
        if not self.readable:
            raise FsError(ErrorCode.BAD_DESCRIPTOR, "not opened for reading")
        _offset(offset)
        n = min(n, MAX_READ)
        try:
            if n > _SMALL_READ:
                st = os.fstat(self.fd)
                if _stat.S_ISREG(st.st_mode):
                    n = min(n, max(st.st_size - offset, 1))
            return os.pread(self.fd, n, offset)
        except OSError as e:
            raise _oserr(e) from e
        except MemoryError as e:
            raise FsError(ErrorCode.INSUFFICIENT_MEMORY, f"a read of {n} bytes") from e

    def write(self, data: bytes | memoryview, offset: int) -> int:
        """Write ``data`` at ``offset``; returns the count written."""
        if not self.writable:
            raise FsError(ErrorCode.BAD_DESCRIPTOR, "not opened for writing")
        _offset(offset)
        try:
            return os.pwrite(self.fd, data, offset)
        except OSError as e:
            raise _oserr(e) from e

    def append_write(self, data: bytes | memoryview) -> int:
        """Write ``data`` at the end of the file."""
        if not self.writable:
            raise FsError(ErrorCode.BAD_DESCRIPTOR, "not opened for writing")
        try:
            return os.pwrite(self.fd, data, os.fstat(self.fd).st_size)
        except OSError as e:
            raise _oserr(e) from e

    def set_size(self, size: int) -> None:
        if not self.writable:
            raise FsError(ErrorCode.BAD_DESCRIPTOR, "not opened for writing")
        _offset(size, "size")
        try:
            os.ftruncate(self.fd, size)
        except OSError as e:
            raise _oserr(e) from e

    def advise(self, offset: int, length: int, advice: str) -> None:
        """Pass ``advice`` on the range to the OS (when it takes such advice).

        A ``length`` above :data:`MAX_FILE_OFFSET` is ``invalid``; a range
        starting past it holds nothing to advise about (no error).
        """
        _offset(length, "length")
        if offset > MAX_FILE_OFFSET:
            return
        names = {
            "normal": "POSIX_FADV_NORMAL",
            "sequential": "POSIX_FADV_SEQUENTIAL",
            "random": "POSIX_FADV_RANDOM",
            "will-need": "POSIX_FADV_WILLNEED",
            "dont-need": "POSIX_FADV_DONTNEED",
            "no-reuse": "POSIX_FADV_NOREUSE",
        }
        fadvise = getattr(os, "posix_fadvise", None)
        adv = getattr(os, names.get(advice, ""), None)
        if fadvise is None or adv is None:
            return
        try:
            fadvise(self.fd, offset, length, adv)
        except OSError as e:
            raise _oserr(e) from e

    def set_times(self, atime: Timestamp, mtime: Timestamp) -> None:
        ns = _times(self.stat(), atime, mtime)
        if ns is None:
            return
        if not self.writable and Perms.WRITE not in self.perms:
            raise FsError(ErrorCode.READ_ONLY)
        try:
            os.utime(self.fd, ns=ns)
        except OSError as e:
            raise _oserr(e) from e


class Dir(_Descriptor):
    """An open directory: every path operation resolves inside it (see the module doc)."""

    __slots__ = ()

    @classmethod
    def open_host(cls, host_path: str, perms: Perms) -> Dir:
        """Open a host directory as a sandbox root (a preopen). Raises ``OSError``."""
        fd = os.open(host_path, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
        return cls(fd, perms)

    # --- opening ---------------------------------------------------------------------
    def open_at(
        self,
        path: str,
        *,
        follow: bool = True,
        oflags: OpenFlags = OpenFlags.NONE,
        read: bool = True,
        write: bool = False,
    ) -> Dir | File:
        """Open ``path``: a :class:`Dir` when it is a directory, else a :class:`File`."""
        mutating = write or bool(oflags & (OpenFlags.CREATE | OpenFlags.TRUNCATE))
        if mutating and Perms.WRITE not in self.perms:
            raise FsError(ErrorCode.READ_ONLY)
        if not read and not write:
            read = True  # a descriptor needs some access mode; WASI allows neither
        if oflags & OpenFlags.DIRECTORY and (write or oflags & OpenFlags.TRUNCATE):
            raise FsError(ErrorCode.INVALID)
        flags = os.O_CLOEXEC | _O_NOFOLLOW
        if oflags & OpenFlags.CREATE:
            flags |= os.O_CREAT
        if oflags & OpenFlags.EXCLUSIVE:
            flags |= os.O_EXCL
        if oflags & OpenFlags.TRUNCATE:
            flags |= os.O_TRUNC
        if oflags & OpenFlags.DIRECTORY:
            flags |= _O_DIRECTORY
        if oflags & OpenFlags.CREATE and oflags & OpenFlags.EXCLUSIVE:
            follow = False  # O_CREAT|O_EXCL never follows a final link
        for _ in range(4):
            with resolve(self.fd, path, follow) as r:
                try:
                    fd = self._open_final(r.fd, r.name, flags, read, write)
                except OSError as e:
                    if e.errno == errno.ELOOP and follow:
                        continue  # the final name became a link after resolution
                    if e.errno == errno.ELOOP and not follow:
                        raise FsError(ErrorCode.LOOP, f"{path!r} is a symbolic link") from e
                    raise _oserr(e) from e
            st = os.fstat(fd)
            perms = self.perms
            if _stat.S_ISDIR(st.st_mode):
                return Dir(fd, perms)
            if oflags & OpenFlags.DIRECTORY:
                os.close(fd)
                raise FsError(ErrorCode.NOT_DIRECTORY)
            return File(fd, perms, read, write)
        raise FsError(ErrorCode.LOOP, f"{path!r} keeps changing")

    @staticmethod
    def _open_final(dfd: int, name: str, flags: int, read: bool, write: bool) -> int:
        acc = os.O_RDWR if read and write else os.O_WRONLY if write else os.O_RDONLY
        return os.open(name, flags | acc, 0o666, dir_fd=dfd)

    # --- metadata --------------------------------------------------------------------
    def stat_at(self, path: str, follow: bool = True) -> os.stat_result:
        with resolve(self.fd, path, follow) as r:
            try:
                return os.stat(r.name, dir_fd=r.fd, follow_symlinks=False)
            except OSError as e:
                raise _oserr(e) from e

    def metadata_hash_at(self, path: str, follow: bool = True) -> tuple[int, int]:
        return _hash_stat(self.stat_at(path, follow))

    def set_times_at(
        self, path: str, atime: Timestamp, mtime: Timestamp, follow: bool = True
    ) -> None:
        self._need_write()
        with resolve(self.fd, path, follow) as r:
            try:
                cur = os.stat(r.name, dir_fd=r.fd, follow_symlinks=False)
                ns = _times(cur, atime, mtime)
                if ns is not None:
                    os.utime(r.name, ns=ns, dir_fd=r.fd, follow_symlinks=False)
            except OSError as e:
                raise _oserr(e) from e

    def readlink_at(self, path: str) -> str:
        with resolve(self.fd, path, False) as r:
            try:
                return os.readlink(r.name, dir_fd=r.fd)
            except OSError as e:
                raise _oserr(e) from e

    def read_dir(self) -> list[DirEntry]:
        """The entries of this directory, without ``.`` and ``..``."""
        if Perms.READ not in self.perms:
            raise FsError(ErrorCode.ACCESS)
        out: list[DirEntry] = []
        try:
            with os.scandir(self.fd) as it:
                for e in it:
                    try:
                        mode = e.stat(follow_symlinks=False).st_mode
                        kind = descriptor_type(mode)
                    except OSError:
                        kind = "unknown"
                    out.append(DirEntry(e.name, kind))
        except OSError as e:
            raise _oserr(e) from e
        return out

    # --- mutation --------------------------------------------------------------------
    def create_directory_at(self, path: str) -> None:
        self._need_write()
        with resolve(self.fd, path, False) as r:
            try:
                os.mkdir(r.name, 0o777, dir_fd=r.fd)
            except OSError as e:
                raise _oserr(e) from e

    def remove_directory_at(self, path: str) -> None:
        self._need_write()
        with resolve(self.fd, path, False) as r:
            try:
                os.rmdir(r.name, dir_fd=r.fd)
            except OSError as e:
                raise _oserr(e) from e

    def unlink_file_at(self, path: str) -> None:
        self._need_write()
        with resolve(self.fd, path, False) as r:
            try:
                st = os.stat(r.name, dir_fd=r.fd, follow_symlinks=False)
                if _stat.S_ISDIR(st.st_mode):
                    raise FsError(ErrorCode.IS_DIRECTORY)
                os.unlink(r.name, dir_fd=r.fd)
            except OSError as e:
                raise _oserr(e) from e

    def rename_at(self, old_path: str, new_dir: Dir, new_path: str) -> None:
        self._need_write()
        new_dir._need_write()
        with resolve(self.fd, old_path, False) as a, resolve(new_dir.fd, new_path, False) as b:
            try:
                os.rename(a.name, b.name, src_dir_fd=a.fd, dst_dir_fd=b.fd)
            except OSError as e:
                raise _oserr(e) from e

    def symlink_at(self, target: str, path: str) -> None:
        """Create a symbolic link ``path`` -> ``target``.

        The target is stored as given, but one that could never resolve
        inside the sandbox (absolute) is refused with ``not-permitted``.
        """
        self._need_write()
        if target.startswith("/"):
            raise FsError(ErrorCode.NOT_PERMITTED, "absolute link target")
        with resolve(self.fd, path, False) as r:
            try:
                os.symlink(target, r.name, dir_fd=r.fd)
            except OSError as e:
                raise _oserr(e) from e

    def link_at(self, old_path: str, new_dir: Dir, new_path: str, follow: bool = False) -> None:
        """Create the hard link ``new_path`` (in ``new_dir``) to ``old_path``."""
        new_dir._need_write()
        with resolve(self.fd, old_path, follow) as a, resolve(new_dir.fd, new_path, False) as b:
            try:
                os.link(a.name, b.name, src_dir_fd=a.fd, dst_dir_fd=b.fd, follow_symlinks=False)
            except OSError as e:
                raise _oserr(e) from e
