"""``wasmloom serve``: a ``wasi:http/handler@0.3.x`` component (or a
``wasi:http/incoming-handler@0.2.x`` one) as an HTTP/1.1 server.

:func:`serve` compiles the component once, links WASI (as ``wasmloom run``
does when ``cli`` is on; otherwise only what the ``wasi:http/service`` or
``wasi:http/proxy`` world imports) and listens. Its first line on stderr is
``Serving HTTP on http://HOST:PORT/`` (the bound port when 0 was asked).
SIGINT or SIGTERM stops it: it stops accepting, lets requests in flight
finish within ``shutdown_grace`` seconds (a second signal: at once), cancels
those left with one log line each, and :func:`serve` returns 0.

Modules:

- :mod:`.service`: the component as a request handler (instances, the guest
  call, the response), behind the small :class:`~.service.Exchange`
  interface that both the HTTP/1.1 server and :mod:`wasmloom.asgi` implement;
- :mod:`.http1`: the HTTP/1.1 server (httptools), its timeouts and limits;
- :mod:`.server`: :func:`serve`, in one process or ``--workers N``.
"""

from wasmloom.wasi.serve.handler import find_handler, link
from wasmloom.wasi.serve.http1 import HttpServer, Limits
from wasmloom.wasi.serve.server import ServeOptions, parse_addr, serve
from wasmloom.wasi.serve.service import Exchange, Service

_link = link  # the name the tests know

__all__ = [
    "Exchange",
    "HttpServer",
    "Limits",
    "ServeOptions",
    "Service",
    "find_handler",
    "link",
    "parse_addr",
    "serve",
]
