"""Streams and futures: one copy machine for guest and host ends (sans-I/O).

- :mod:`.machine`: the shared state of a stream or future, the guest's ends,
  the peer interface (:class:`StreamPeer`/:class:`FuturePeer`: the other side
  of a copy) and its guest↔guest implementation (the rendezvous).
- :mod:`.buffers`: the buffers a copy moves elements between, and the views
  the host's producers and consumers get of them.
- :mod:`.host_ends`: the peer when one end is the host's: its producer or
  consumer answers each copy, under contracts checked after every step.
"""

from wasmloom.runtime.streams.buffers import BytesBuffer, ListBuffer
from wasmloom.runtime.streams.machine import (
    MAX_BUFFER_LENGTH,
    Buffer,
    CopyEnd,
    CopyResult,
    CopyState,
    FailedEnd,
    FuturePeer,
    FutureRendezvous,
    ReadableFutureEnd,
    ReadableStreamEnd,
    SharedFutureImpl,
    SharedStreamImpl,
    StreamPeer,
    StreamRendezvous,
    WritableFutureEnd,
    WritableStreamEnd,
    fail_host_ends,
)

__all__ = [
    "MAX_BUFFER_LENGTH",
    "Buffer",
    "BytesBuffer",
    "CopyEnd",
    "CopyResult",
    "CopyState",
    "FailedEnd",
    "FuturePeer",
    "FutureRendezvous",
    "ListBuffer",
    "ReadableFutureEnd",
    "ReadableStreamEnd",
    "SharedFutureImpl",
    "SharedStreamImpl",
    "StreamPeer",
    "StreamRendezvous",
    "WritableFutureEnd",
    "WritableStreamEnd",
    "fail_host_ends",
]
