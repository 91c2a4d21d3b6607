"""WASI 0.2.x ``wasi:http``: ``types`` and ``outgoing-handler`` over the 0.2 stream resources.

Implemented against the bindings generated from the project's WIT
(:mod:`wasmloom.wasi.p2.bindings`, modules ``wasi_http_*``)::

    add_to_linker(linker, lambda d: host_for(d.ctx))

WASI 0.2 calls are synchronous: a guest runs on a thread of its own (``wasmloom
serve`` calls ``incoming-handler.handle`` through :func:`asyncio.to_thread`),
while the network I/O runs on an asyncio event loop, the :class:`LoopBridge`
of the :class:`WasiHttpP2`: the server's loop when serving, else a private
loop on a daemon thread made on first use. A host call that waits (a
``blocking-read``, a ``pollable.block``, a write that waits for the
connection to drain) blocks the guest's thread, never the loop.

Bodies:

- an incoming body (request or response) is read from the connection with
  :class:`wasmloom.wasi.p3.http.IncomingBody` (content-length, chunked with
  trailers, or to the end); its ``input-stream`` reads ahead one chunk at a
  time, ``read`` returns what has arrived and ``subscribe`` is ready when
  something has (or the end or an error);
- an outgoing body (response or request) is kept in memory until its message
  is on its way (``response-outparam.set``, ``outgoing-handler.handle``), then
  each write goes to the connection and waits for it to drain. It is framed
  with the message's ``content-length`` when there is one (a body of another
  size is an ``HTTP-*-body-size`` error), else chunked, ending with the
  trailers given to ``outgoing-body.finish``.

Header fields follow the 0.3 rules (:class:`wasmloom.wasi.p3.http.Fields`):
the fields of a message, and those ``headers()`` hands out, are immutable.
The HTTP/1.1 parsing and error mapping are shared with the 0.3 client.

Modules: :mod:`.common` (the loop bridge, ``fields``), :mod:`.incoming` (incoming
messages and bodies), :mod:`.outgoing` (outgoing messages and bodies, options,
the response outparam) and :mod:`.host` (:class:`WasiHttpP2`, the client,
:func:`host_for`, :func:`add_to_linker`).
"""

from wasmloom.wasi.p2.http.common import Fields, LoopBridge
from wasmloom.wasi.p2.http.host import WasiHttpP2, add_to_linker, host_for
from wasmloom.wasi.p2.http.incoming import IncomingBody, IncomingRequest
from wasmloom.wasi.p2.http.outgoing import (
    OutgoingBody,
    OutgoingResponse,
    ResponseOutparam,
    WireSink,
)

__all__ = [
    "Fields",
    "IncomingBody",
    "IncomingRequest",
    "LoopBridge",
    "OutgoingBody",
    "OutgoingResponse",
    "ResponseOutparam",
    "WasiHttpP2",
    "WireSink",
    "add_to_linker",
    "host_for",
]
