"""WASI 0.3.0 ``wasi:http``: the ``types`` resources and the outgoing ``client``, on asyncio.

Implemented against the bindings generated from the project's WIT
(:mod:`wasmloom.wasi.p3.bindings`, modules ``wasi_http_*``)::

    http = WasiHttp(p3)                       # p3: the store's WasiP3
    add_to_linker(linker, lambda d: d.http)

Resources (all host objects):

- :class:`Fields`: an ordered multimap; names are lower-cased HTTP tokens,
  values bytes of RFC 9110 ``field-content`` (SP, HTAB, VCHAR, obs-text).
  Syntax errors are ``invalid-syntax``; hop-by-hop and ``host`` names
  (:data:`FORBIDDEN`) are ``forbidden``; fields owned by a request or
  response, or handed out by ``get-headers``, are ``immutable``.
- :class:`Request`, :class:`Response`, :class:`RequestOptions`: the
  messages and their settings (validated as RFC 9110 / RFC 3986 say).
- A body is a ``stream<u8>`` plus a ``future`` of the trailers. ``new``
  returns a future that resolves once the body was transmitted (by the host
  sending it, or by the guest that called ``consume-body``, whose ``res``
  future is forwarded to it).

:meth:`WasiHttp.send` (``wasi:http/client.send``) speaks HTTP/1.1 over
asyncio streams (``http`` and, through :mod:`ssl`, ``https``): the request
body is sent chunked (with its trailers) unless a ``content-length`` is
given; the response body is a host stream read from the connection
(``content-length``, chunked with trailers, or until the close). Failures
map to ``error-code`` cases (DNS, refused, timeouts, protocol, sizes).
The server side (``wasmloom serve``) is :mod:`wasmloom.wasi.serve`.

Modules: :mod:`.fields` (the field rules and :class:`Fields`), :mod:`.messages`
(requests, responses, options), :mod:`.bodies` (incoming and outgoing bodies),
:mod:`.client` (the HTTP/1.1 wire), :mod:`.errors` (``error-code`` values) and
:mod:`.host` (:class:`WasiHttp` and :func:`add_to_linker`).
"""

from wasmloom.wasi.p3.http.bodies import Body, IncomingBody, write_body
from wasmloom.wasi.p3.http.errors import error_label
from wasmloom.wasi.p3.http.fields import FORBIDDEN, Fields, parse_field_line, valid_name
from wasmloom.wasi.p3.http.host import WasiHttp, add_to_linker
from wasmloom.wasi.p3.http.messages import Request, RequestOptions, Response, method_name

__all__ = [
    "FORBIDDEN",
    "Body",
    "Fields",
    "IncomingBody",
    "Request",
    "RequestOptions",
    "Response",
    "WasiHttp",
    "add_to_linker",
    "error_label",
    "method_name",
    "parse_field_line",
    "valid_name",
    "write_body",
]
