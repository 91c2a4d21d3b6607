"""A wasi:http component as an ASGI 3 application: serve it with any ASGI server.

::

    from wasmloom.asgi import App
    app = App("service.wasm", env={"GREETING": "hi"}, dirs=[("data", "/data")])

Then ``uvicorn mymodule:app``, ``hypercorn mymodule:app``, or with no code
at all, the factory reading its settings from the environment::

    WASMLOOM_APP=service.wasm uvicorn --factory wasmloom.asgi:create_app --workers 4
    WASMLOOM_APP=service.wasm hypercorn 'wasmloom.asgi:create_app()'

The component exports ``wasi:http/handler@0.3.x`` or
``wasi:http/incoming-handler@0.2.x``; instances are pooled and reused as
``wasmloom serve`` does (:class:`wasmloom.wasi.serve.Service`). Request and
response bodies stream both ways with backpressure (the guest reads the
request body as the server receives it; its response body goes to the
server as the guest writes it). A 0.3 guest's response trailers are sent when
the server offers the ``http.response.trailers`` extension. The ``host``
header becomes the request's authority (the server's address when absent);
the fields a guest may not see (hop-by-hop ones) are left out. A body the
guest cannot complete (it trapped after the head went out) ends the
response early, and the server closes the connection. Lifespan events are
answered; at shutdown the requests in flight get ``shutdown_grace`` seconds
to finish, those left are cancelled (one log line each, a 503 when nothing
was sent yet) and the instances are stopped.

Environment of :func:`create_app`: ``WASMLOOM_APP`` (the component, required),
``WASMLOOM_ENV`` (``K=V`` lines for the guest), ``WASMLOOM_INHERIT_ENV``
(``1``: the whole environment), ``WASMLOOM_DIRS`` (``HOST::GUEST`` lines, the
preopened directories), ``WASMLOOM_CLI``
(``0``: link only what ``wasi:http/service`` imports), ``WASMLOOM_TIMEOUT``
and ``WASMLOOM_FUEL`` (per request), ``WASMLOOM_MAX_INSTANCE_REUSE`` and
``WASMLOOM_MAX_INSTANCE_CONCURRENT_REUSE``, ``WASMLOOM_SHUTDOWN_GRACE`` (seconds).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any, TextIO

from wasmloom.errors import WasmloomError
from wasmloom.host.component import Component
from wasmloom.values import Ok
from wasmloom.wasi.p3 import http as wh
from wasmloom.wasi.p3.bindings import wasi_http_types as H
from wasmloom.wasi.run import RunOptions, WasmOptions, load_app
from wasmloom.wasi.serve.server import ServeOptions, prepare_service
from wasmloom.wasi.serve.service import Service, quiet_traps, split_fields

__all__ = ["App", "create_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_HIGH_WATER = 64 * 1024


class App:
    """An ASGI 3 application serving ``component`` (a path or a :class:`Component`).

    The WASI options are those of ``wasmloom serve``: ``env`` (a mapping, or
    ``(key, value)`` pairs; a value ``None`` inherits the host's),
    ``inherit_env``, ``dirs`` (``(host, guest)`` preopens), ``network``
    (sockets may use the host's network), ``cli`` (link WASI's cli worlds;
    off: only what ``wasi:http/service`` imports), ``wasm`` (fuel, timeout and
    limits per request), the instance reuse counts, and ``cache`` (the
    on-disk compile cache, for a path). Raises :class:`WasmloomError` when the
    component cannot be loaded or linked.
    """

    def __init__(
        self,
        component: Component | str | os.PathLike[str],
        *,
        env: Mapping[str, str | None] | Iterable[tuple[str, str | None]] = (),
        inherit_env: bool = False,
        dirs: Iterable[tuple[str, str]] = (),
        network: bool = False,
        cli: bool = True,
        wasm: WasmOptions | None = None,
        max_instance_reuse: int = 128,
        max_instance_concurrent_reuse: int = 16,
        cache: bool = True,
        trap_unknown_imports: bool = False,
        err: TextIO | None = None,
        shutdown_grace: float = 10.0,
    ) -> None:
        err = err if err is not None else sys.stderr
        wasm = wasm if wasm is not None else WasmOptions()
        name = component if not isinstance(component, Component) else "component"
        pairs = list(env.items()) if isinstance(env, Mapping) else list(env)
        run = RunOptions(
            app=os.fspath(name),
            env=pairs,
            inherit_env=inherit_env,
            dirs=[(h, g, False) for h, g in dirs],
            network=network,
            cache=cache,
            trap_unknown_imports=trap_unknown_imports,
            wasm=wasm,
        )
        if not isinstance(component, Component):
            loaded = load_app(run.app, cache, err, wasm)
            if loaded is None:
                raise WasmloomError(f"cannot load {run.app} (see above)")
            component = loaded
        opts = ServeOptions(
            run=run,
            cli=cli,
            max_instance_reuse=max_instance_reuse,
            max_instance_concurrent_reuse=max_instance_concurrent_reuse,
        )
        service = prepare_service(opts, component, err)
        if service is None:
            raise WasmloomError(f"cannot serve {run.app} (see above)")
        self.service: Service = service
        self.shutdown_grace = shutdown_grace
        #: the requests in flight (each served in a task of its own) and what they are
        self._inflight: dict[asyncio.Task[bool], str] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:
            raise ValueError(f"wasmloom.asgi.App serves http, not {kind!r}")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                quiet_traps(asyncio.get_running_loop())
                self.service.start()  # instances are made ahead of the first requests
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await self._drain()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path") or scope["path"].encode("utf-8")
        target = raw.decode("latin-1")
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        fields = [(k.decode("latin-1").lower(), bytes(v)) for k, v in scope["headers"]]
        authority, headers = split_fields(fields)
        if authority is None and scope.get("server"):
            host, port = scope["server"][:2]
            authority = f"{host}:{port}" if port is not None else str(host)
        has_body = any(k in ("content-length", "transfer-encoding") for k, _ in fields) and not any(
            k == "content-length" and v.strip() == b"0" for k, v in fields
        )
        body = _AsgiBody(receive) if has_body else None
        trailers = "http.response.trailers" in (scope.get("extensions") or {})
        ex = _AsgiExchange(send, trailers)
        method = scope["method"]
        inner = asyncio.ensure_future(
            self.service.handle(ex, method, target, authority, headers, body)
        )
        self._inflight[inner] = f"{method} {target}"
        try:
            await inner
        except asyncio.CancelledError:
            if not (inner.cancelled() and self.service.stopping):
                raise  # the server cancelled this request (inner was cancelled with it)
            # cancelled at shutdown (:meth:`_drain`, which logged it)
            if ex.answered:
                ex.fail()
            else:
                ex.error(503, "the server is shutting down\n")
        finally:
            self._inflight.pop(inner, None)
            await ex.close()

    async def _drain(self) -> None:
        """Give the requests in flight :attr:`shutdown_grace` seconds, then cancel those
        left (one line each) and retire every instance."""
        self.service.stop_warming()
        if self._inflight:
            await asyncio.wait(list(self._inflight), timeout=self.shutdown_grace)
        left = [(t, what) for t, what in self._inflight.items() if not t.done()]
        for _, what in left:
            self.service.log(
                f"shutdown: cancelled {what} (still running after {self.shutdown_grace:g}s)"
            )
        self.service.retire_all()
        for t, _ in left:
            t.cancel()
        if left:
            await asyncio.wait([t for t, _ in left], timeout=1)


class _AsgiBody(wh.IncomingBody):
    """A request body read from ASGI ``http.request`` messages as the guest asks."""

    def __init__(self, receive: Receive) -> None:
        super().__init__(asyncio.StreamReader())  # the reader is unused: receive() feeds it
        self.receive = receive
        self.pending = b""
        self.more = True

    async def _read(self, n: int) -> bytes:
        if self.done:
            if not isinstance(self.result, Ok):
                raise self._fail(self.result.value if self.result is not None else None)
            return b""
        while not self.pending:
            if not self.more:
                self._end(Ok(None))
                return b""
            msg = await self.receive()
            if msg["type"] != "http.request":  # http.disconnect: the client went away
                raise self._fail(H.ErrorCodeConnectionTerminated())
            self.pending = bytes(msg.get("body", b""))
            self.more = bool(msg.get("more_body", False))
        n = max(n, 1)
        data, self.pending = self.pending[:n], self.pending[n:]
        return data


class _AsgiTransport(asyncio.Transport):
    """Turns the writes of a response body into ASGI messages, sent in order by a pump
    task; pauses the writer past :data:`_HIGH_WATER` unsent bytes."""

    def __init__(self, send: Send, protocol: asyncio.streams.FlowControlMixin) -> None:
        super().__init__()
        self.send = send
        self.protocol = protocol
        self.queue: deque[Message] = deque()
        self.unsent = 0
        self.paused = False
        self.closing = False
        self.wake = asyncio.Event()
        self.pump = asyncio.get_running_loop().create_task(self._pump())

    def message(self, msg: Message) -> None:
        if not self.closing:
            self.queue.append(msg)
            self.wake.set()

    def write(self, data: Any) -> None:
        if self.closing or not data:
            return
        self.message({"type": "http.response.body", "body": bytes(data), "more_body": True})
        self.unsent += len(data)
        if self.unsent > _HIGH_WATER and not self.paused:
            self.paused = True
            self.protocol.pause_writing()

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True
        self.wake.set()

    def abort(self) -> None:
        self.queue.clear()
        self.close()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    async def _pump(self) -> None:
        try:
            while True:
                while self.queue:
                    msg = self.queue.popleft()
                    await self.send(msg)
                    if msg["type"] == "http.response.body":
                        self.unsent -= len(msg["body"])
                        if self.paused and self.unsent <= _HIGH_WATER // 2:
                            self.paused = False
                            self.protocol.resume_writing()
                if self.closing:
                    return
                self.wake.clear()
                await self.wake.wait()
        except OSError:  # the server could not send: the client is gone
            self.closing = True
            self.queue.clear()
        finally:
            self.protocol.connection_lost(None)  # wake drain() waiters


class _AsgiExchange:
    """The :class:`~wasmloom.wasi.serve.service.Exchange` of one ASGI request."""

    def __init__(self, send: Send, trailers: bool) -> None:
        loop = asyncio.get_running_loop()
        self.protocol = asyncio.streams.FlowControlMixin(loop)
        self.transport = _AsgiTransport(send, self.protocol)
        self.writer = asyncio.StreamWriter(self.transport, self.protocol, None, loop)
        self.trailers = trailers
        self.keep = True
        self.answered = False
        self.complete = False

    def start(
        self,
        status: int,
        entries: list[tuple[str, bytes]],
        length: int | None,
        has_body: bool,
        framed: bool = True,
    ) -> bool:
        self.answered = True
        headers = [(k.encode("latin-1"), v) for k, v in entries]
        if length is None and not has_body and framed:
            headers.append((b"content-length", b"0"))
        msg: Message = {"type": "http.response.start", "status": status, "headers": headers}
        if self.trailers and has_body:
            msg["trailers"] = True
        self.transport.message(msg)
        return False  # the ASGI server frames the body

    def finish(self, chunked: bool, trailers: wh.Fields | None) -> None:
        self.complete = True
        self.transport.message({"type": "http.response.body", "body": b"", "more_body": False})
        if self.trailers:
            entries = trailers.entries if trailers is not None else []
            self.transport.message(
                {
                    "type": "http.response.trailers",
                    "headers": [(k.encode("latin-1"), v) for k, v in entries],
                    "more_trailers": False,
                }
            )

    def fail(self) -> None:
        # ASGI has no abort: the response stays incomplete and the server closes the connection
        self.keep = False
        self.transport.close()

    def error(self, status: int, text: str) -> None:
        if self.answered:
            self.fail()
            return
        self.answered = self.complete = True
        body = text.encode("utf-8", "replace")
        self.transport.message(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        self.transport.message({"type": "http.response.body", "body": body})

    async def close(self) -> None:
        """Send what is queued; the request is over."""
        self.transport.close()
        await self.transport.pump


def create_app() -> App:
    """An :class:`App` configured by the environment (see the module docstring); for
    ``uvicorn --factory wasmloom.asgi:create_app`` and ``hypercorn 'wasmloom.asgi:create_app()'``."""
    environ = os.environ
    app = environ.get("WASMLOOM_APP")
    if not app:
        raise WasmloomError("WASMLOOM_APP names no component")
    env: list[tuple[str, str | None]] = []
    for line in environ.get("WASMLOOM_ENV", "").splitlines():
        if line.strip():
            k, sep, v = line.partition("=")
            env.append((k, v if sep else None))
    dirs: list[tuple[str, str]] = []
    for line in environ.get("WASMLOOM_DIRS", "").splitlines():
        if line.strip():
            host, sep, guest = line.partition("::")
            dirs.append((host, guest if sep else host))
    timeout = environ.get("WASMLOOM_TIMEOUT")
    fuel = environ.get("WASMLOOM_FUEL")
    wasm = WasmOptions(
        timeout=float(timeout) if timeout else None, fuel=int(fuel) if fuel else None
    )
    return App(
        app,
        env=env,
        inherit_env=environ.get("WASMLOOM_INHERIT_ENV", "0") not in ("", "0", "n", "no"),
        dirs=dirs,
        cli=environ.get("WASMLOOM_CLI", "1") not in ("0", "n", "no"),
        wasm=wasm,
        max_instance_reuse=int(environ.get("WASMLOOM_MAX_INSTANCE_REUSE") or 128),
        max_instance_concurrent_reuse=int(
            environ.get("WASMLOOM_MAX_INSTANCE_CONCURRENT_REUSE") or 16
        ),
        shutdown_grace=float(environ.get("WASMLOOM_SHUTDOWN_GRACE") or 10),
    )
