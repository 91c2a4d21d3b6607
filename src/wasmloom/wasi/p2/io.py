"""``wasi:io`` 0.2.x: ``error``, ``poll`` and ``streams``, and the pollable and stream
base classes the other 0.2 hosts (:mod:`.host`, :mod:`.sockets`, :mod:`.http`) build on.

Blocking and the limits on hostile lengths are as :mod:`wasmloom.wasi.p2.host` describes.
"""

from __future__ import annotations

import math
import select
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from wasmloom.errors import Trap
from wasmloom.values import Err, Ok
from wasmloom.wasi.ctx import Input, MonotonicClock, Output
from wasmloom.wasi.p2.bindings import wasi_io_streams as streams

if TYPE_CHECKING:
    import concurrent.futures

    # the filesystem sandbox is imported when a file stream is made or an error is met:
    # a command that opens no file never loads it
    from wasmloom.wasi import sandbox as sb

__all__ = [
    "BLOCKING_WRITE_MAX",
    "WRITE_BUDGET",
    "ClockPollable",
    "Error",
    "FileInputStream",
    "FileOutputStream",
    "FuturePollable",
    "InputPollable",
    "InputStreamBase",
    "IoError",
    "OutputStreamBase",
    "Poll",
    "Pollable",
    "StdinStream",
    "StdioOutputStream",
    "Streams",
    "wait_fds",
]

#: How many bytes ``check-write`` allows at once.
WRITE_BUDGET = 1 << 20
#: The most bytes ``blocking-write-zeroes-and-flush`` takes (WASI's limit: 4096).
BLOCKING_WRITE_MAX = 4096
#: The longest single wait of :func:`wait_fds`, in milliseconds (a C ``int``).
_MAX_POLL_MS = (1 << 31) - 1

_CLOSED = Err(streams.StreamErrorClosed())


# --- io: error, poll ---------------------------------------------------------------------


class IoError:
    """An ``error`` resource: a message, and the filesystem error code when there is one."""

    def __init__(self, message: str, code: sb.ErrorCode | None = None) -> None:
        self.message = message
        self.code = code

    def to_debug_string(self) -> str:
        return self.message


def _fs_error() -> type[sb.FsError]:
    """The sandbox's error class (imported on first need)."""
    from wasmloom.wasi.sandbox import FsError

    return FsError


def _failed(e: sb.FsError | OSError) -> Err[streams.StreamError]:
    if isinstance(e, OSError):
        e = _fs_error().from_os(e)
    return Err(streams.StreamErrorLastOperationFailed(IoError(str(e), e.code)))


class Pollable:
    """A ``pollable`` that is always ready."""

    def ready(self) -> bool:
        return True

    def block(self) -> None:
        pass

    def deadline(self) -> int | None:
        """The monotonic instant at which this becomes ready, when that is known."""
        return None

    def seconds_left(self) -> float | None:
        """How long (real time) until :meth:`deadline`, when there is one."""
        return None

    def wait_fd(self) -> tuple[int, bool] | None:
        """An OS descriptor, and whether for writing, whose readiness may make this ready."""
        return None


class FuturePollable(Pollable):
    """Ready once a :class:`concurrent.futures.Future` (work on another thread) is done."""

    def __init__(self, fut: concurrent.futures.Future[Any]) -> None:
        self.fut = fut

    def ready(self) -> bool:
        return self.fut.done()

    def block(self) -> None:
        import concurrent.futures

        concurrent.futures.wait([self.fut])


class ClockPollable(Pollable):
    def __init__(self, clock: MonotonicClock, deadline: int) -> None:
        self.clock = clock
        self.at = deadline

    def ready(self) -> bool:
        return self.clock.now() >= self.at

    def block(self) -> None:
        self.clock.wait_until(self.at)

    def deadline(self) -> int | None:
        return self.at

    def seconds_left(self) -> float | None:
        return max(0, self.at - self.clock.now()) / 1e9


class InputPollable(Pollable):
    def __init__(self, stream: StdinStream) -> None:
        self.stream = stream

    def ready(self) -> bool:
        return self.stream.has_data()

    def block(self) -> None:
        self.stream.fill()


class Poll:
    """``wasi:io/poll``: waits on the OS thread (see the module docstring)."""

    def poll(self, in_: Sequence[Pollable]) -> list[int]:
        if not in_:
            raise Trap("poll: the list of pollables is empty")
        delay = 0.0005
        while True:
            ready = [i for i, p in enumerate(in_) if p.ready()]
            if ready:
                return ready
            waits = [p for p in in_ if p.deadline() is None]
            if not waits:
                soonest = min(in_, key=lambda p: p.deadline() or 0)
                soonest.block()
                continue
            if len(waits) == len(in_) and len(in_) == 1:
                in_[0].block()
                continue
            fds = [p.wait_fd() for p in in_]
            if any(fds) and all(
                f is not None or p.deadline() is not None for p, f in zip(in_, fds, strict=True)
            ):
                lefts = [t for t in (p.seconds_left() for p in in_) if t is not None]
                wait_fds([f for f in fds if f is not None], min(lefts, default=None))
                continue
            time.sleep(delay)
            delay = min(delay * 2, 0.01)


def wait_fds(fds: Sequence[tuple[int, bool]], timeout: float | None) -> bool:
    """Wait until one of ``fds`` (descriptor, for writing) is ready, has failed or hung up,
    or ``timeout`` seconds pass (None: no limit); whether one is ready.

    A timeout longer than the OS takes (about 24 days) waits that long only:
    callers look again and wait anew."""
    p = select.poll()
    for fd, write in fds:
        p.register(fd, select.POLLOUT if write else select.POLLIN)
    ms = -1 if timeout is None else min(math.ceil(timeout * 1000), _MAX_POLL_MS)
    return bool(p.poll(ms))


class Error:
    """``wasi:io/error`` (its functions are all methods of the resource)."""


# --- io: streams -------------------------------------------------------------------------


class InputStreamBase:
    def read(self, len: int) -> Ok[bytes] | Err[streams.StreamError]:
        return self.blocking_read(len)

    def blocking_read(self, len: int) -> Ok[bytes] | Err[streams.StreamError]:
        raise NotImplementedError

    def skip(self, len: int) -> Ok[int] | Err[streams.StreamError]:
        r = self.read(len)
        return Ok(_blen(r.value)) if isinstance(r, Ok) else r

    def blocking_skip(self, len: int) -> Ok[int] | Err[streams.StreamError]:
        r = self.blocking_read(len)
        return Ok(_blen(r.value)) if isinstance(r, Ok) else r

    def subscribe(self) -> Pollable:
        return Pollable()


class StdinStream(InputStreamBase):
    """stdin: ``read`` returns what is available without blocking; ``blocking-read`` waits."""

    def __init__(self, source: Input) -> None:
        self.source = source
        self.buf = b""
        self.eof = False

    def has_data(self) -> bool:
        return bool(self.buf) or self.eof or self.source.ready()

    def fill(self) -> None:
        if not self.buf and not self.eof:
            data = self.source.read(65536)
            if data:
                self.buf = data
            else:
                self.eof = True

    def _take(self, n: int) -> Ok[bytes] | Err[streams.StreamError]:
        if self.buf:
            out, self.buf = self.buf[:n], self.buf[n:]
            return Ok(out)
        if self.eof:
            return _CLOSED  # type: ignore[return-value]
        return Ok(b"")

    def read(self, len: int) -> Ok[bytes] | Err[streams.StreamError]:
        if len == 0:
            return Ok(b"")
        if not self.buf and not self.eof and self.source.ready():
            self.fill()
        return self._take(len)

    def blocking_read(self, len: int) -> Ok[bytes] | Err[streams.StreamError]:
        if len == 0:
            return Ok(b"")
        self.fill()
        return self._take(len)

    def subscribe(self) -> Pollable:
        return InputPollable(self)


class FileInputStream(InputStreamBase):
    """``read-via-stream``: reads the file from an offset; never blocks for long."""

    def __init__(self, file: sb.File, offset: int) -> None:
        self.file = file
        self.offset = offset

    def blocking_read(self, len: int) -> Ok[bytes] | Err[streams.StreamError]:
        if len == 0:
            return Ok(b"")
        try:
            data = self.file.read(min(len, 1 << 24), self.offset)
        except _fs_error() as e:
            return _failed(e)
        if not data:
            return _CLOSED  # type: ignore[return-value]
        self.offset += _blen(data)
        return Ok(data)


def _blen(b: bytes) -> int:
    return len(b)


class OutputStreamBase:
    """Writes complete at once: ``check-write`` always allows :attr:`write_budget` bytes.

    ``write-zeroes`` of more than :attr:`write_budget` bytes, and
    ``blocking-write-zeroes-and-flush`` of more than :data:`BLOCKING_WRITE_MAX`,
    trap (as in Wasmtime) before anything is allocated.
    """

    #: The most bytes ``check-write`` ever allows (a subclass may allow fewer at times).
    write_budget = WRITE_BUDGET

    def _write(self, data: bytes) -> None:
        raise NotImplementedError

    def check_write(self) -> Ok[int] | Err[streams.StreamError]:
        return Ok(self.write_budget)

    def write(self, contents: bytes) -> Ok[None] | Err[streams.StreamError]:
        try:
            self._write(contents)
        except (_fs_error(), OSError) as e:
            return _failed(e)
        return Ok(None)

    def blocking_write_and_flush(self, contents: bytes) -> Ok[None] | Err[streams.StreamError]:
        r = self.write(contents)
        return self.flush() if isinstance(r, Ok) else r

    def flush(self) -> Ok[None] | Err[streams.StreamError]:
        return Ok(None)

    def blocking_flush(self) -> Ok[None] | Err[streams.StreamError]:
        return self.flush()

    def subscribe(self) -> Pollable:
        return Pollable()

    def write_zeroes(self, len: int) -> Ok[None] | Err[streams.StreamError]:
        if len > self.write_budget:
            raise Trap(
                f"write-zeroes: {len} bytes, more than check-write allows ({self.write_budget})"
            )
        return self.write(bytes(len))

    def blocking_write_zeroes_and_flush(self, len: int) -> Ok[None] | Err[streams.StreamError]:
        if len > BLOCKING_WRITE_MAX:
            raise Trap(
                f"blocking-write-zeroes-and-flush: {len} bytes, more than {BLOCKING_WRITE_MAX}"
            )
        return self.blocking_write_and_flush(bytes(len))

    def splice(self, src: InputStreamBase, len: int) -> Ok[int] | Err[streams.StreamError]:
        r = src.read(len)
        if not isinstance(r, Ok):
            return r
        w = self.write(r.value)
        return Ok(_blen(r.value)) if isinstance(w, Ok) else w

    def blocking_splice(self, src: InputStreamBase, len: int) -> Ok[int] | Err[streams.StreamError]:
        r = src.blocking_read(len)
        if not isinstance(r, Ok):
            return r
        w = self.write(r.value)
        return Ok(_blen(r.value)) if isinstance(w, Ok) else w


class StdioOutputStream(OutputStreamBase):
    def __init__(self, sink: Output) -> None:
        self.sink = sink
        self._write = sink.write  # type: ignore[method-assign]

    def flush(self) -> Ok[None] | Err[streams.StreamError]:
        try:
            self.sink.flush()
        except OSError as e:
            return _failed(e)
        return Ok(None)


class FileOutputStream(OutputStreamBase):
    """``write-via-stream`` (at an offset that advances) or ``append-via-stream``."""

    def __init__(self, file: sb.File, offset: int | None) -> None:
        self.file = file
        self.offset = offset

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self.offset is None:
                n = self.file.append_write(view)
            else:
                n = self.file.write(view, self.offset)
                self.offset += n
            view = view[n:]


class Streams:
    """``wasi:io/streams`` (its functions are all methods of the resources)."""
