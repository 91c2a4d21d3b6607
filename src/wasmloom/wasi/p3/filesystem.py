"""WASI 0.3.0 ``wasi:filesystem/types`` and ``preopens`` over the shared sandbox.

Every descriptor wraps a :class:`~wasmloom.wasi.sandbox.Dir` or
:class:`~wasmloom.wasi.sandbox.File`; the sandbox decides what a path may
reach. Each blocking call runs in a worker thread (``asyncio.to_thread``),
never on the event loop: the ``async`` methods await it, and the stream
methods start it from their producer or consumer through ``store.spawn``.
``read-via-stream`` reads into guest memory from the worker's bytes;
``write-via-stream`` copies each chunk once (the guest's buffer is only
valid during the step) and writes it from the worker, with backpressure.
"""

from __future__ import annotations

import os
import stat as _stat
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from wasmloom.host.accessor import Accessor
from wasmloom.host.linker import Linker
from wasmloom.host.streams import (
    Destination,
    FutureReader,
    Source,
    StreamReader,
    StreamResult,
)
from wasmloom.values import Err, Ok
from wasmloom.wasi import sandbox as sb
from wasmloom.wasi.p3._parent import WasiParent
from wasmloom.wasi.p3._streams import AsyncChunkProducer, Completion, StreamError, take_bytes
from wasmloom.wasi.p3.bindings import wasi_filesystem_preopens as P
from wasmloom.wasi.p3.bindings import wasi_filesystem_types as F
from wasmloom.wasi.p3.bindings.wasi_clocks_system_clock import Instant

if TYPE_CHECKING:
    import asyncio
else:
    from wasmloom.aio import asyncio

__all__ = ["Descriptor", "FilesystemHost", "add_to_linker"]

R = TypeVar("R")
Result = Ok[R] | Err[F.ErrorCode]

_ERR_CLASSES: dict[str, type[Any]] = {c.tag: c for c in typing.get_args(F.ErrorCode)}
_TYPE_CLASSES: dict[str, type[Any]] = {c.tag: c for c in typing.get_args(F.DescriptorType)}
_CHUNK = 1 << 16


def wit_error(code: sb.ErrorCode) -> F.ErrorCode:
    """The generated ``error-code`` value for a sandbox error code."""
    cls = _ERR_CLASSES.get(code.value)
    if cls is None:
        return F.ErrorCodeOther(code.value)
    return cls()  # type: ignore[no-any-return]


def _type_of(mode: int) -> F.DescriptorType:
    return _type_label(sb.descriptor_type(mode))


def _type_label(label: str) -> F.DescriptorType:
    cls = _TYPE_CLASSES.get(label)
    if cls is None or label == "other":
        return F.DescriptorTypeOther(None)
    return cls()  # type: ignore[no-any-return]


def _instant(ns: int) -> Instant:
    return Instant(ns // 1_000_000_000, ns % 1_000_000_000)


def _stat_of(st: os.stat_result) -> F.DescriptorStat:
    return F.DescriptorStat(
        type=_type_of(st.st_mode),
        link_count=st.st_nlink,
        size=st.st_size,
        data_access_timestamp=_instant(st.st_atime_ns),
        data_modification_timestamp=_instant(st.st_mtime_ns),
        status_change_timestamp=_instant(st.st_ctime_ns),
    )


def _timestamp(t: F.NewTimestamp) -> sb.Timestamp:
    if isinstance(t, F.NewTimestampNow):
        return sb.Timestamp(now=True)
    if isinstance(t, F.NewTimestampTimestamp):
        v = t.value
        return sb.Timestamp(ns=v.seconds * 1_000_000_000 + v.nanoseconds)
    return sb.Timestamp()


def _dir_path(d: sb.Dir, path: str, must_exist: bool) -> str:
    """``path`` without trailing slashes, after checking what they demand.

    A trailing slash asks for a directory, following a final symbolic link
    (so a link leading out of the sandbox is refused as any path would be).
    """
    stripped = path.rstrip("/")
    if not stripped or stripped == path:
        return path
    try:
        st = d.stat_at(stripped, follow=True)
    except sb.FsError as e:
        if e.code is sb.ErrorCode.NO_ENTRY and not must_exist:
            return stripped
        raise
    if not _stat.S_ISDIR(st.st_mode):
        raise sb.FsError(sb.ErrorCode.NOT_DIRECTORY)
    if _is_link(d, stripped):
        raise sb.FsError(sb.ErrorCode.NOT_DIRECTORY if must_exist else sb.ErrorCode.EXIST)
    return stripped


def _climbs_out(target: str, link_path: str) -> bool:
    """Whether a link at ``link_path`` to ``target`` would point above the descriptor.

    Judged lexically from the link's directory: such links could only ever
    be refused when followed, so they are not created.
    """
    depth = len([c for c in link_path.split("/")[:-1] if c not in ("", ".")])
    if target.startswith("/"):
        return True
    for c in target.split("/"):
        if c == "..":
            depth -= 1
            if depth < 0:
                return True
        elif c not in ("", "."):
            depth += 1
    return False


def _is_link(d: sb.Dir, path: str) -> bool:
    try:
        return _stat.S_ISLNK(d.stat_at(path, follow=False).st_mode)
    except (sb.FsError, OSError):
        return False


def _oflags(o: F.OpenFlags) -> sb.OpenFlags:
    out = sb.OpenFlags.NONE
    for name in ("CREATE", "DIRECTORY", "EXCLUSIVE", "TRUNCATE"):
        if getattr(F.OpenFlags, name) in o:
            out |= getattr(sb.OpenFlags, name)
    return out


def _error_of(exc: BaseException) -> F.ErrorCode:
    """The guest-visible error for an exception from a worker."""
    if isinstance(exc, sb.FsError):
        return wit_error(exc.code)
    if isinstance(exc, OSError):
        return wit_error(sb.error_code(exc))
    if isinstance(exc, (OverflowError, ValueError)):
        return F.ErrorCodeInvalid()
    return F.ErrorCodeIo()


async def _run(fn: Callable[[], R]) -> Ok[R] | Err[F.ErrorCode]:
    """``Ok(fn())`` computed in a worker thread, or ``Err(error-code)``."""
    try:
        return Ok(await asyncio.to_thread(fn))
    except sb.FsError as e:
        return Err(wit_error(e.code))
    except OSError as e:
        return Err(wit_error(sb.error_code(e)))
    except (OverflowError, ValueError):
        return Err(F.ErrorCodeInvalid())


class Descriptor:
    """A guest's ``descriptor``: a sandboxed directory or file, with its ``descriptor-flags``."""

    __slots__ = ("flags", "fs", "node", "owned")

    def __init__(
        self, fs: FilesystemHost, node: sb.Dir | sb.File, flags: F.DescriptorFlags, owned: bool
    ) -> None:
        self.fs = fs
        self.node = node
        self.flags = flags
        self.owned = owned

    def drop(self) -> None:
        if self.owned:
            self.node.close()

    # -- helpers
    def _dir(self) -> sb.Dir:
        if not isinstance(self.node, sb.Dir):
            raise sb.FsError(sb.ErrorCode.NOT_DIRECTORY)
        return self.node

    def _file(self) -> sb.File:
        if not isinstance(self.node, sb.File):
            raise sb.FsError(sb.ErrorCode.BAD_DESCRIPTOR)
        return self.node

    def _mutable_dir(self) -> sb.Dir:
        d = self._dir()
        if F.DescriptorFlags.MUTATE_DIRECTORY not in self.flags:
            raise sb.FsError(sb.ErrorCode.NOT_PERMITTED)
        return d

    @staticmethod
    def _other(d: Any) -> Descriptor:
        if not isinstance(d, Descriptor):
            raise sb.FsError(sb.ErrorCode.BAD_DESCRIPTOR)
        return d

    # -- streams
    def read_via_stream(self, offset: int) -> tuple[Any, Any]:
        store = self.fs.w.store
        done = Completion()
        node = self.node
        pos = [offset]

        async def fetch(n: int) -> bytes:
            try:
                if not isinstance(node, sb.File):
                    raise sb.FsError(sb.ErrorCode.IS_DIRECTORY)
                if F.DescriptorFlags.READ not in self.flags:
                    raise sb.FsError(sb.ErrorCode.BAD_DESCRIPTOR)
                data = await asyncio.to_thread(node.read, n, pos[0])
            except sb.FsError as e:
                raise StreamError(wit_error(e.code)) from e
            except (OverflowError, ValueError) as e:
                raise StreamError(F.ErrorCodeInvalid()) from e
            pos[0] += len(data)
            return data

        producer = AsyncChunkProducer(store, fetch, done)
        return StreamReader.new(store, producer), FutureReader.new(store, done)

    def _write_stream(self, data: Any, offset: int | None) -> Any:
        store = self.fs.w.store
        done = Completion()
        data.pipe(store, _FileWriter(self, offset, done))
        return FutureReader.new(store, done)

    def write_via_stream(self, data: Any, offset: int) -> Any:
        return self._write_stream(data, offset)

    def append_via_stream(self, data: Any) -> Any:
        return self._write_stream(data, None)

    def read_directory(self) -> tuple[Any, Any]:
        store = self.fs.w.store
        done = Completion()
        producer = _DirLister(store, self, done)
        return StreamReader.new(store, producer), FutureReader.new(store, done)

    # -- async methods
    async def advise(
        self, accessor: Accessor[Any, Any], offset: int, length: int, advice: F.Advice
    ) -> Result[None]:
        return await _run(lambda: self._file().advise(offset, length, advice.value))

    async def sync_data(self, accessor: Accessor[Any, Any]) -> Result[None]:
        return await _run(self.node.sync_data)

    async def get_flags(self, accessor: Accessor[Any, Any]) -> Result[F.DescriptorFlags]:
        return Ok(self.flags)

    async def get_type(self, accessor: Accessor[Any, Any]) -> Result[F.DescriptorType]:
        return await _run(lambda: _type_of(self.node.stat().st_mode))

    async def set_size(self, accessor: Accessor[Any, Any], size: int) -> Result[None]:
        def go() -> None:
            f = self._file()
            if F.DescriptorFlags.WRITE not in self.flags:
                raise sb.FsError(sb.ErrorCode.BAD_DESCRIPTOR)
            f.set_size(size)

        return await _run(go)

    async def set_times(
        self, accessor: Accessor[Any, Any], atime: F.NewTimestamp, mtime: F.NewTimestamp
    ) -> Result[None]:
        return await _run(lambda: self.node.set_times(_timestamp(atime), _timestamp(mtime)))

    async def sync(self, accessor: Accessor[Any, Any]) -> Result[None]:
        return await _run(self.node.sync)

    async def create_directory_at(self, accessor: Accessor[Any, Any], path: str) -> Result[None]:
        def go() -> None:
            d = self._mutable_dir()
            d.create_directory_at(_dir_path(d, path, must_exist=False))

        return await _run(go)

    async def stat(self, accessor: Accessor[Any, Any]) -> Result[F.DescriptorStat]:
        return await _run(lambda: _stat_of(self.node.stat()))

    async def stat_at(
        self, accessor: Accessor[Any, Any], path_flags: F.PathFlags, path: str
    ) -> Result[F.DescriptorStat]:
        follow = F.PathFlags.SYMLINK_FOLLOW in path_flags
        return await _run(lambda: _stat_of(self._dir().stat_at(path, follow)))

    async def set_times_at(
        self,
        accessor: Accessor[Any, Any],
        path_flags: F.PathFlags,
        path: str,
        atime: F.NewTimestamp,
        mtime: F.NewTimestamp,
    ) -> Result[None]:
        follow = F.PathFlags.SYMLINK_FOLLOW in path_flags
        return await _run(
            lambda: self._mutable_dir().set_times_at(
                path, _timestamp(atime), _timestamp(mtime), follow
            )
        )

    async def link_at(
        self,
        accessor: Accessor[Any, Any],
        old_path_flags: F.PathFlags,
        old_path: str,
        new_descriptor: Any,
        new_path: str,
    ) -> Result[None]:
        follow = F.PathFlags.SYMLINK_FOLLOW in old_path_flags

        def go() -> None:
            new = self._other(new_descriptor)._mutable_dir()
            self._dir().link_at(old_path, new, new_path, follow)

        return await _run(go)

    async def open_at(
        self,
        accessor: Accessor[Any, Any],
        path_flags: F.PathFlags,
        path: str,
        open_flags: F.OpenFlags,
        flags: F.DescriptorFlags,
    ) -> Result[Any]:
        follow = F.PathFlags.SYMLINK_FOLLOW in path_flags
        oflags = _oflags(open_flags)
        if not flags & (F.DescriptorFlags.READ | F.DescriptorFlags.WRITE):
            flags |= F.DescriptorFlags.READ  # neither: read, as POSIX O_RDONLY
        if sb.OpenFlags.CREATE in oflags:
            flags |= F.DescriptorFlags.WRITE  # creating implies writing
        read = F.DescriptorFlags.READ in flags
        write = F.DescriptorFlags.WRITE in flags

        def go() -> Descriptor:
            d = self._dir()
            mutating = write or bool(oflags & (sb.OpenFlags.CREATE | sb.OpenFlags.TRUNCATE))
            mutate_dir = F.DescriptorFlags.MUTATE_DIRECTORY
            if mutating and mutate_dir not in self.flags:
                raise sb.FsError(sb.ErrorCode.NOT_PERMITTED)
            if mutate_dir in flags and mutate_dir not in self.flags:
                raise sb.FsError(sb.ErrorCode.NOT_PERMITTED)
            node = d.open_at(path, follow=follow, oflags=oflags, read=read, write=write)
            got = flags
            if isinstance(node, sb.Dir) and write:
                node.close()
                raise sb.FsError(sb.ErrorCode.IS_DIRECTORY)
            return Descriptor(self.fs, node, got, owned=True)

        return await _run(go)

    async def readlink_at(self, accessor: Accessor[Any, Any], path: str) -> Result[str]:
        return await _run(lambda: self._dir().readlink_at(path))

    async def remove_directory_at(self, accessor: Accessor[Any, Any], path: str) -> Result[None]:
        def go() -> None:
            d = self._mutable_dir()
            d.remove_directory_at(_dir_path(d, path, must_exist=True))

        return await _run(go)

    async def rename_at(
        self, accessor: Accessor[Any, Any], old_path: str, new_descriptor: Any, new_path: str
    ) -> Result[None]:
        def go() -> None:
            new = self._other(new_descriptor)._mutable_dir()
            self._mutable_dir().rename_at(old_path, new, new_path)

        return await _run(go)

    async def symlink_at(
        self, accessor: Accessor[Any, Any], old_path: str, new_path: str
    ) -> Result[None]:
        def go() -> None:
            d = self._mutable_dir()
            if _climbs_out(old_path, new_path):
                raise sb.FsError(sb.ErrorCode.NOT_PERMITTED, "link target leaves the directory")
            d.symlink_at(old_path, new_path)

        return await _run(go)

    async def unlink_file_at(self, accessor: Accessor[Any, Any], path: str) -> Result[None]:
        return await _run(lambda: self._mutable_dir().unlink_file_at(path))

    async def is_same_object(self, accessor: Accessor[Any, Any], other: Any) -> bool:
        if not isinstance(other, Descriptor):
            return False
        try:
            return await asyncio.to_thread(self.node.is_same_object, other.node)
        except (sb.FsError, OSError):
            return False

    async def metadata_hash(self, accessor: Accessor[Any, Any]) -> Result[F.MetadataHashValue]:
        def go() -> F.MetadataHashValue:
            lo, hi = self.node.metadata_hash()
            return F.MetadataHashValue(lo, hi)

        return await _run(go)

    async def metadata_hash_at(
        self, accessor: Accessor[Any, Any], path_flags: F.PathFlags, path: str
    ) -> Result[F.MetadataHashValue]:
        follow = F.PathFlags.SYMLINK_FOLLOW in path_flags

        def go() -> F.MetadataHashValue:
            lo, hi = self._dir().metadata_hash_at(path, follow)
            return F.MetadataHashValue(lo, hi)

        return await _run(go)


class _FileWriter:
    """Consumer of ``write-via-stream``/``append-via-stream``: one worker write at a time.

    Each step copies what the guest offers (its buffer is valid only during
    the step), starts the write in a worker and answers ``PENDING`` until
    it is done (backpressure); an error ends the stream and settles the
    result future with it.
    """

    def __init__(self, desc: Descriptor, offset: int | None, done: Completion) -> None:
        self.desc = desc
        self.offset = offset
        self.done = done
        self.task: asyncio.Task[int] | None = None

    def _write(self, data: bytes) -> int:
        d = self.desc
        if not isinstance(d.node, sb.File):
            raise sb.FsError(sb.ErrorCode.IS_DIRECTORY)
        if F.DescriptorFlags.WRITE not in d.flags:
            raise sb.FsError(sb.ErrorCode.BAD_DESCRIPTOR)
        view = memoryview(data)
        total = 0
        while view:
            if self.offset is None:
                n = d.node.append_write(view)
            else:
                n = d.node.write(view, self.offset)
                self.offset += n
            total += n
            view = view[n:]
        return total

    def poll_consume(self, store: Any, src: Source, finish: bool) -> StreamResult:
        task = self.task
        if task is not None:
            if not task.done():
                return StreamResult.CANCELLED if finish else StreamResult.PENDING
            self.task = None
            exc = task.exception()
            if exc is not None:
                self.done.settle(Err(_error_of(exc)))
                return StreamResult.DROPPED
        data = take_bytes(src)
        if not data:
            return StreamResult.COMPLETED
        task = self.task = self.desc.fs.w.store.spawn(asyncio.to_thread(self._write, data))
        task.add_done_callback(lambda _: src.wake())
        return StreamResult.PENDING

    def close(self) -> None:
        task = self.task
        if task is None or task.done():
            exc = task.exception() if task is not None and not task.cancelled() else None
            if exc is not None:
                self.done.settle(Err(_error_of(exc)))
            self.done.settle(Ok(None))
            return

        def finished(t: asyncio.Task[int]) -> None:
            exc = t.exception() if not t.cancelled() else None
            if exc is not None:
                self.done.settle(Err(_error_of(exc)))
            self.done.settle(Ok(None))

        task.add_done_callback(finished)


class _DirLister:
    """Producer of ``read-directory``: lists in a worker, then hands out the entries."""

    def __init__(self, store: Any, desc: Descriptor, done: Completion) -> None:
        self.store = store
        self.desc = desc
        self.done = done
        self.task: asyncio.Task[list[sb.DirEntry]] | None = None
        self.delivered = False

    def _list(self) -> list[sb.DirEntry]:
        d = self.desc
        if not isinstance(d.node, sb.Dir):
            raise sb.FsError(sb.ErrorCode.NOT_DIRECTORY)
        if F.DescriptorFlags.READ not in d.flags:
            raise sb.FsError(sb.ErrorCode.BAD_DESCRIPTOR)
        return d.node.read_dir()

    def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
        if self.delivered:
            self.done.settle(Ok(None))
            return StreamResult.DROPPED
        task = self.task
        if task is None:
            if finish:
                return StreamResult.CANCELLED
            task = self.task = self.store.spawn(asyncio.to_thread(self._list))
            wake = dst.wake
            task.add_done_callback(lambda _: wake())
            return StreamResult.PENDING
        if not task.done():
            return StreamResult.CANCELLED if finish else StreamResult.PENDING
        exc = task.exception()
        if exc is not None:
            self.done.settle(Err(_error_of(exc)))
            return StreamResult.DROPPED
        entries = [F.DirectoryEntry(type=_type_label(e.type), name=e.name) for e in task.result()]
        self.delivered = True
        if not entries:
            self.done.settle(Ok(None))
            return StreamResult.DROPPED
        dst.set_buffer(entries)
        return StreamResult.COMPLETED

    def close(self) -> None:
        task = self.task
        if task is not None and not task.done():
            task.cancel()
        self.done.settle(Ok(None))


class FilesystemHost:
    """``wasi:filesystem/preopens``: the context's preopens as descriptors."""

    def __init__(self, w: WasiParent) -> None:
        self.w = w

    def get_directories(self) -> list[tuple[Any, str]]:
        out: list[tuple[Any, str]] = []
        for p in self.w.ctx.preopens:
            flags = F.DescriptorFlags.READ
            if sb.Perms.WRITE in p.perms:
                flags |= F.DescriptorFlags.MUTATE_DIRECTORY
            out.append((Descriptor(self, p.dir, flags, owned=False), p.guest_path))
        return out


def add_to_linker(linker: Linker, getter: Callable[[Any], FilesystemHost]) -> None:
    """Define ``wasi:filesystem/types@0.3.0`` and ``preopens@0.3.0``."""
    F.add_to_linker(linker, getter)
    P.add_to_linker(linker, getter)
