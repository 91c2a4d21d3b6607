"""WASI 0.2 ``wasi:filesystem`` (``types``, ``preopens``) over the sandbox of a :class:`~wasmloom.wasi.ctx.WasiCtx`.

Loaded by :class:`~wasmloom.wasi.p2.host.P2Host` on first use, so a command that
imports no filesystem interface does not load it. Numbers out of the OS's range
get their WASI answer (see :mod:`wasmloom.wasi.p2.host`).
"""

from __future__ import annotations

from typing import Any

from wasmloom.values import Err, Ok
from wasmloom.wasi import sandbox as sb
from wasmloom.wasi.ctx import WasiCtx
from wasmloom.wasi.p2.bindings import wasi_clocks_wall_clock as wall
from wasmloom.wasi.p2.bindings import wasi_filesystem_types as fs
from wasmloom.wasi.p2.io import FileInputStream, FileOutputStream, IoError, _blen

__all__ = ["Descriptor", "DirectoryEntryStream", "FilesystemHost"]


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
