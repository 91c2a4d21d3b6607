"""Streams and futures, sans-I/O.

- :mod:`.machine`: the copy and rendezvous state machines and the guest's ends.
- :mod:`.buffers`: the buffers a copy moves elements between, and the views
  the host's producers and consumers get of them.
- :mod:`.host_ends`: the host's end of a stream or future, run by its producer
  or consumer.
"""

from wasmloom.runtime.streams.buffers import ListBuffer
from wasmloom.runtime.streams.machine import (
    MAX_BUFFER_LENGTH,
    Buffer,
    CopyEnd,
    CopyResult,
    CopyState,
    ReadableFutureEnd,
    ReadableStreamEnd,
    SharedFutureImpl,
    SharedStreamImpl,
    WritableFutureEnd,
    WritableStreamEnd,
)

__all__ = [
    "MAX_BUFFER_LENGTH",
    "Buffer",
    "CopyEnd",
    "CopyResult",
    "CopyState",
    "ListBuffer",
    "ReadableFutureEnd",
    "ReadableStreamEnd",
    "SharedFutureImpl",
    "SharedStreamImpl",
    "WritableFutureEnd",
    "WritableStreamEnd",
]
