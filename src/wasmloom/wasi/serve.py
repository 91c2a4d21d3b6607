"""``wasmloom serve``: run a ``wasi:http/handler@0.3.x`` component as an HTTP/1.1 server
(or a ``wasi:http/incoming-handler@0.2.x`` one, see the last paragraph).

:func:`serve` compiles the component once, links WASI (as ``wasmloom run``
does, :func:`~wasmloom.wasi.run.link_wasi`, when ``cli`` is on;
otherwise only what the ``wasi:http/service`` world imports: 0.3.0 clocks,
random, stdio and http) and
listens with :func:`asyncio.start_server`. Its first line on stderr is
``Serving HTTP on http://HOST:PORT/`` (the bound port when 0 was asked).

Instances are reused as Wasmtime 49 does for WASIp3 components: one
instance (with its own store and WASI state) serves up to
``max_instance_reuse`` requests (default 128), at most
``max_instance_concurrent_reuse`` at a time (default 16), concurrently as
the Component Model allows (async exports, backpressure); a new instance is
made when every pooled one is busy. That amortizes instantiation (about
45 ms for a 21 MB componentize-py guest: 57 ms a request without reuse, 1 ms
with it). The price is isolation: a guest's globals outlive a request, and a
trap poisons the instance, failing the requests it is serving; a poisoned
instance takes no new ones. ``1`` and ``1`` give a fresh instance per
request (Wasmtime's WASIp2 behaviour, from an ``InstancePre``).

All requests run on the one event loop. The request body is a host stream
read from the connection while the guest reads it; the response body is
written while the guest writes it (``content-length`` when the guest set
one, else chunked with the guest's trailers). Connections are kept alive
between requests whose bodies were read to their end.

SIGINT or SIGTERM stops the server: it stops accepting, cancels what is in
flight, and :func:`serve` returns 0.

A component exporting no 0.3 handler but ``wasi:http/incoming-handler@0.2.x``
(world ``wasi:http/proxy``) is served by the same loop with the 0.2 host
(:mod:`wasmloom.wasi.p2.http`, linked besides WASI 0.2; without ``cli``, only
what the proxy world imports). Its ``handle`` is a synchronous call made on a
worker thread (a pool of the server's own, apart from the loop's default
executor, which name lookups use), so an instance serves one request
at a time; the response head is written when the guest calls
``response-outparam.set``, the body as the guest writes it. An instance is
busy until ``handle`` returns, even when the response was already sent.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import http
import re
import signal
import sys
import weakref
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TextIO

from wasmloom.errors import LinkError, Trap, WasmloomError
from wasmloom.host.component import Component
from wasmloom.host.instance import Instance
from wasmloom.host.linker import Linker
from wasmloom.host.store import Store
from wasmloom.values import Err, Ok
from wasmloom.wasi.ctx import WasiExit
from wasmloom.wasi.p2 import http as p2http
from wasmloom.wasi.p2.bindings import wasi_http_incoming_handler
from wasmloom.wasi.p3 import http as wh
from wasmloom.wasi.p3.bindings import wasi_http_handler
from wasmloom.wasi.p3.bindings import wasi_http_types as H
from wasmloom.wasi.p3.host import add_to_linker as p3_add_to_linker
from wasmloom.wasi.p3.http import client as wire
from wasmloom.wasi.p3.http import fields as wfields
from wasmloom.wasi.p3.http import messages as wmsg
from wasmloom.wasi.run import (
    RunOptions,
    RunState,
    build_ctx,
    check_imports,
    checked_ctx,
    link_wasi,
    load_app,
    new_store,
)

__all__ = ["ServeOptions", "Server", "serve"]

_HANDLER_RE = re.compile(r"^wasi:http/handler@0\.3\.\d+(?:-.*)?$")
_HANDLER_P2_RE = re.compile(r"^wasi:http/incoming-handler@0\.2\.\d+(?:-.*)?$")
_MAX_HEAD = 64 * 1024
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "upgrade", "te"})


@dataclass
class ServeOptions:
    """What ``wasmloom serve`` was asked to do (mirrors its flags).

    ``run`` holds what serve shares with ``wasmloom run``: the app, its
    preopens, environment and network permissions, and the loading options
    (its ``args`` are unused: a service gets none).
    """

    run: RunOptions
    addr: str = "0.0.0.0:8080"
    #: link the WASI cli worlds (0.3.0 and 0.2.x), like ``wasmtime serve -Scli``
    cli: bool = True
    #: requests one instance serves (1: a fresh instance per request); Wasmtime's p3 default
    max_instance_reuse: int = 128
    #: requests one instance serves at the same time; Wasmtime's p3 default
    max_instance_concurrent_reuse: int = 16


def parse_addr(addr: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[V6]:PORT`` for IPv6) -> (host, port)."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"invalid address {addr!r}: expected HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host or "0.0.0.0", int(port)


def _find_handler(component: Component) -> str | None:
    """The component's ``wasi:http/handler@0.3.x`` export, else its
    ``wasi:http/incoming-handler@0.2.x`` one."""
    names = component.export_names()
    p3 = [n for n in names if _HANDLER_RE.match(n)]
    p2 = [n for n in names if _HANDLER_P2_RE.match(n)]
    found = p3 or p2
    return found[0] if found else None


def _is_p2(export: str) -> bool:
    return _HANDLER_P2_RE.match(export) is not None


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


class _BadRequest(Exception):
    pass


class _Slot:
    """One instance with its store and WASI state, and the requests it took on."""

    __slots__ = ("active", "handler", "instance", "state", "store", "uses")

    def __init__(
        self,
        state: RunState,
        store: Store[RunState],
        instance: Instance,
        handler: Any,
    ) -> None:
        self.state = state
        self.store = store
        self.instance = instance
        self.handler = handler
        self.uses = 0
        self.active = 0

    def poisoned(self) -> bool:
        """Whether a trap (perhaps in a task that outlived its request) poisoned the instance."""
        return self.instance.poisoned


class Server:
    """Serves one compiled component; :meth:`handle_connection` is the asyncio callback.

    An instance serves up to ``max_reuse`` requests, at most ``max_concurrent`` at a
    time (1 and 1: a fresh instance per request).
    """

    def __init__(
        self,
        component: Component,
        linker: Linker,
        export: str,
        run_opts: RunOptions,
        err: TextIO,
        max_reuse: int = 1,
        max_concurrent: int = 1,
    ) -> None:
        self.component = component
        self.linker = linker
        self.export = export
        self.run_opts = run_opts
        self.err = err
        self.max_reuse = max(1, max_reuse)
        # a 0.2 handler is a synchronous call: one request at a time per instance
        self.p2 = _is_p2(export)
        self.max_concurrent = 1 if self.p2 else max(1, max_concurrent)
        self.pool: list[_Slot] = []
        self.tasks: set[asyncio.Task[Any]] = set()
        self.busy: set[_Slot] = set()  # instances serving a request now
        self._answered: weakref.WeakSet[Any] = weakref.WeakSet()  # response head sent
        self._guest_threads: ThreadPoolExecutor | None = None

    def _call_on_thread(self, func: Any, *args: Any) -> asyncio.Future[Any]:
        """``func(*args)`` on a thread of the server's guest pool (a blocking 0.2 call)."""
        if self._guest_threads is None:
            self._guest_threads = ThreadPoolExecutor(64, thread_name_prefix="wasi-http-p2")
        call = functools.partial(contextvars.copy_context().run, func, *args)
        return asyncio.get_running_loop().run_in_executor(self._guest_threads, call)

    def _log(self, msg: str) -> None:
        print(msg, file=self.err, flush=True)

    async def handle_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        try:
            while await self._one(reader, writer):
                pass
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except _BadRequest as e:
            self._simple(writer, 400, str(e), keep=False)
        finally:
            if task is not None:
                self.tasks.discard(task)
            writer.close()

    def _simple(
        self, writer: asyncio.StreamWriter, status: int, text: str, keep: bool = False
    ) -> None:
        body = text.encode("utf-8", "replace")
        head = (
            f"HTTP/1.1 {status} {_reason(status)}\r\ncontent-type: text/plain; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\n"
        )
        if not keep:
            head += "connection: close\r\n"
        try:
            writer.write(head.encode("latin-1") + b"\r\n" + body)
        except (OSError, RuntimeError):
            pass

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request on the connection; True to read another."""
        line = await reader.readline()
        while line in (b"\r\n", b"\n"):  # tolerated empty lines between requests
            line = await reader.readline()
        if not line:
            return False
        parts = line.rstrip(b"\r\n").split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            raise _BadRequest("malformed request line")
        method, target, version = (p.decode("latin-1") for p in parts)
        if not wh.valid_name(method):
            raise _BadRequest("malformed method")
        fields: list[tuple[str, bytes]] = []
        total = len(line)
        while True:
            fl = await reader.readuntil(b"\n")
            total += len(fl)
            if total > _MAX_HEAD:
                raise _BadRequest("request head too large")
            fl = fl.rstrip(b"\r\n")
            if not fl:
                break
            entry = wh.parse_field_line(fl)
            if entry is None:
                raise _BadRequest("malformed header field")
            fields.append(entry)
        conn = b",".join(v for k, v in fields if k == "connection").lower()
        keep = (version == "HTTP/1.1" and b"close" not in conn) or b"keep-alive" in conn
        te = b",".join(v for k, v in fields if k == "transfer-encoding").lower()
        length = wire._content_length(fields)
        body: wh.IncomingBody | None = None
        if te:
            if te.split(b",")[-1].strip() != b"chunked":
                raise _BadRequest("unsupported transfer-encoding")
            body = wh.IncomingBody(reader, chunked=True)
        elif length is not None:
            if length < 0:
                raise _BadRequest("invalid content-length")
            body = wh.IncomingBody(reader, length=length) if length else None
        if body is not None and any(
            k == "expect" and v.lower() == b"100-continue" for k, v in fields
        ):
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        headers = [(k, v) for k, v in fields if k not in _HOP_BY_HOP]
        authority = next((v.decode("latin-1") for k, v in fields if k == "host"), None)
        if target.startswith(("http://", "https://")):  # absolute-form
            rest = target.split("://", 1)[1]
            auth, slash, path = rest.partition("/")
            authority, target = auth, slash + path
        ok = await self._limited(
            self._dispatch(method, target, authority, headers, body, writer, keep), writer
        )
        if body is not None and not body.done:
            return False  # the guest left the request body unread: the framing is lost
        return ok and keep

    async def _limited(self, dispatch: Coroutine[Any, Any, bool], writer: Any) -> bool:
        """Run one request's ``dispatch`` under ``-W timeout``: past it the request gets
        a 500 (or, when its head is out, a cut connection) and its instance is retired."""
        timeout = self.run_opts.wasm.timeout
        if timeout is None:
            return await dispatch
        self._answered.discard(writer)
        try:
            async with asyncio.timeout(timeout):
                return await dispatch
        except TimeoutError:
            self._log(f"error: a request ran past -W timeout={timeout:g}s: its instance is retired")
            if writer in self._answered:
                writer.transport.abort()
            else:
                self._simple(writer, 500, "the handler timed out\n")
            return False

    def _retire(self, slot: _Slot) -> None:
        """Take ``slot`` out of service: guest code still running in its store traps
        at its next epoch tick."""
        if slot in self.pool:
            self.pool.remove(slot)
        slot.store.set_deadline(0)

    def retire_all(self) -> None:
        """:meth:`_retire` every instance in use (the server is stopping)."""
        for slot in [*self.pool, *self.busy]:
            self._retire(slot)

    async def _dispatch(
        self,
        method: str,
        target: str,
        authority: str | None,
        headers: list[tuple[str, bytes]],
        body: wh.IncomingBody | None,
        writer: asyncio.StreamWriter,
        keep: bool,
    ) -> bool:
        try:
            slot = self._acquire()
        except (Trap, LinkError, WasiExit, WasmloomError) as e:
            self._log(f"error: instantiating {self.run_opts.app}: {e}")
            self._simple(writer, 500, "instantiation failed\n")
            return False
        if self.p2:
            try:
                return await self._dispatch_p2(
                    slot, method, target, authority, headers, body, writer, keep
                )
            except asyncio.CancelledError:
                self._retire(slot)  # timed out (or the server stops): the guest may still run
                raise
        healthy = False
        try:
            request = wh.Request(
                wh.Fields(headers),
                slot.state.http.incoming_body(body),
                method=wmsg._METHODS.get(method) or H.MethodOther(method),
                path_with_query=target,
                scheme=H.SchemeHTTP(),
                authority=authority,
            )
            try:
                result = await slot.handler.handle(slot.store, request)
            except (Trap, WasiExit) as e:
                self._log(f"error: wasm trap in `{self.export}/handle`: {e}")
                self._simple(writer, 500, "the handler trapped\n")
                return False
            healthy = True
            if isinstance(result, Err):
                label = wh.error_label(result.value)
                self._log(f"error: the handler returned an error: {label}")
                self._simple(writer, 500, f"error: {label}\n")
                return False
            assert isinstance(result, Ok)
            response = result.value
            if not isinstance(response, wh.Response):
                self._log(f"error: the handler returned {result.value!r}, not a response")
                self._simple(writer, 500, "bad response\n")
                return False
            return await self._respond(method, response, writer, keep, body)
        except asyncio.CancelledError:
            self._retire(slot)  # timed out (or the server stops): the guest may still run
            raise
        finally:
            self._release(slot, healthy)

    # -- instances

    def _new_slot(self) -> _Slot:
        state = RunState(build_ctx(self.run_opts))
        store = new_store(self.component, state, self.run_opts.wasm)
        instance = self.linker.instantiate(store, self.component)
        handler: Any
        if self.p2:
            p2http.host_for(state.ctx).bridge = p2http.LoopBridge(asyncio.get_running_loop())
            handler = wasi_http_incoming_handler.Exports(store, instance, (self.export,))
        else:
            handler = wasi_http_handler.Exports(store, instance, (self.export,))
        return _Slot(state, store, instance, handler)

    def _acquire(self) -> _Slot:
        """An instance for one more request: a pooled one with room, else a new one."""
        for slot in self.pool:
            if slot.active < self.max_concurrent and not slot.poisoned():
                break
        else:
            slot = self._new_slot()
            if self.max_reuse > 1:
                self.pool.append(slot)
        slot.uses += 1
        slot.active += 1
        self.busy.add(slot)
        fuel = self.run_opts.wasm.fuel
        if fuel is not None and slot.uses > 1:  # each request brings its fuel
            slot.store.set_fuel(min(slot.store.get_fuel() + fuel, 2**64 - 1))
        if slot.uses >= self.max_reuse and slot in self.pool:
            self.pool.remove(slot)  # serves what it has taken on, then goes
        return slot

    def _release(self, slot: _Slot, healthy: bool) -> None:
        slot.active -= 1
        if not slot.active:
            self.busy.discard(slot)
        if (not healthy or slot.poisoned()) and slot in self.pool:
            self.pool.remove(slot)  # a trap poisons the instance: no new requests go there

    async def _dispatch_p2(
        self,
        slot: _Slot,
        method: str,
        target: str,
        authority: str | None,
        headers: list[tuple[str, bytes]],
        body: wh.IncomingBody | None,
        writer: asyncio.StreamWriter,
        keep: bool,
    ) -> bool:
        """Call a ``wasi:http/incoming-handler@0.2.x`` ``handle`` on a worker thread; the
        response goes out once the guest ``set`` it, its body while the guest writes it."""
        loop = asyncio.get_running_loop()
        got: asyncio.Future[Any] = loop.create_future()

        def settle(result: Any) -> None:
            if not got.done():
                got.set_result(result)

        def deliver(result: Any) -> None:
            loop.call_soon_threadsafe(settle, result)

        bridge = p2http.host_for(slot.state.ctx).bridge
        request = p2http.IncomingRequest(bridge, method, target, authority, headers, body)
        out = p2http.ResponseOutparam(deliver)
        call = self._call_on_thread(slot.handler.handle, slot.store, request, out)
        healthy = False
        try:
            await asyncio.wait({got, call}, return_when=asyncio.FIRST_COMPLETED)
            if not got.done():
                e = call.exception()
                if e is not None:
                    self._log(f"error: wasm trap in `{self.export}/handle`: {e}")
                    self._simple(writer, 500, "the handler trapped\n")
                    return False
                healthy = True
                self._log("error: the handler returned without setting a response")
                self._simple(writer, 500, "no response\n")
                return False
            result = got.result()
            if isinstance(result, Err):
                label = wh.error_label(result.value)
                self._log(f"error: the handler returned an error: {label}")
                self._simple(writer, 500, f"error: {label}\n")
                return False
            response = result.value
            assert isinstance(response, p2http.OutgoingResponse)
            entries = response.fields.entries
            status = response.status
            limit = wire._content_length(entries)
            no_body = method == "HEAD" or status in (204, 304) or 100 <= status < 200
            keep = keep and (body is None or body.done)
            chunked = not no_body and limit is None
            self._write_head(writer, status, entries, chunked, False, keep)
            size_error = H.ErrorCodeHTTPResponseBodySize
            sink = p2http.WireSink(writer, chunked, limit, size_error, discard=no_body)
            response.pipe.attach(sink)

            def ended(_: Any) -> None:
                if not response.body_taken:
                    response.pipe.end_unused()
                response.pipe.abandon(H.ErrorCodeInternalError("the handler returned"))

            call.add_done_callback(ended)
            if not no_body:
                await asyncio.wait({sink.done, call}, return_when=asyncio.FIRST_COMPLETED)
                if not sink.done.done():
                    await asyncio.sleep(0)  # let `ended` abort it
                r = sink.done.result() if sink.done.done() else Err(H.ErrorCodeInternalError(None))
                if isinstance(r, Err):
                    self._log(f"error: sending the response body: {wh.error_label(r.value)}")
                    writer.transport.abort()
                    await asyncio.wait({call})
                    healthy = call.exception() is None
                    return False
            await writer.drain()
            await asyncio.wait({call})
            e = call.exception()
            if e is not None:
                self._log(f"error: wasm trap in `{self.export}/handle`: {e}")
                return False
            healthy = True
            return True
        finally:
            if call.done():
                self._release(slot, healthy)
            else:  # the instance is in use until the guest's call ends
                call.add_done_callback(lambda _: self._release(slot, False))

    def _write_head(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        entries: list[tuple[str, bytes]],
        chunked: bool,
        empty: bool,
        keep: bool,
    ) -> None:
        head = [f"HTTP/1.1 {status} {_reason(status)}\r\n".encode("latin-1")]
        head.append(wfields._fields_bytes((k, v) for k, v in entries if k not in _HOP_BY_HOP))
        if chunked:
            head.append(b"transfer-encoding: chunked\r\n")
        elif empty:
            head.append(b"content-length: 0\r\n")
        if not keep:
            head.append(b"connection: close\r\n")
        writer.write(b"".join(head) + b"\r\n")
        self._answered.add(writer)

    async def _respond(
        self,
        method: str,
        response: wh.Response,
        writer: asyncio.StreamWriter,
        keep: bool,
        req_body: wh.IncomingBody | None,
    ) -> bool:
        status = response.status
        rbody = response.body or wh.Body(None, None)
        response.body = None
        sent = rbody.sent
        rbody.sent = None
        entries = response.headers.entries
        limit = wire._content_length(entries)
        no_body = method == "HEAD" or status in (204, 304) or 100 <= status < 200
        keep = keep and (req_body is None or req_body.done)
        chunked = not no_body and limit is None and rbody.contents is not None
        self._write_head(writer, status, entries, chunked, limit is None and not no_body, keep)
        if no_body:
            rbody.close()
            result: Ok[None] | Err[Any] = Ok(None)
            await writer.drain()
        else:
            result = await wh.write_body(
                writer,
                rbody,
                chunked=chunked,
                limit=limit if limit is not None else (None if chunked else 0),
                size_error=lambda n: H.ErrorCodeHTTPResponseBodySize(n),
            )
        if sent is not None:
            sent.settle(result)
        if isinstance(result, Err):
            self._log(f"error: sending the response body: {wh.error_label(result.value)}")
            writer.transport.abort()
            return False
        return True


def _link(linker: Linker, cli: bool, p2: bool = False) -> bool:
    """Define WASI for :class:`RunState` data; True if 0.2.x is.

    ``p2``: for a 0.2 handler, wasi:http 0.2 too (and, without ``cli``, only what
    the ``wasi:http/proxy`` world imports).
    """
    if p2:
        if cli:
            link_wasi(linker)
        else:
            _link_proxy_imports(linker)
        p2http.add_to_linker(linker, lambda d: p2http.host_for(d.ctx))
        return True
    if cli:
        return link_wasi(linker)
    p3_add_to_linker(linker, lambda d: d.p3, cli=False)
    wh.add_to_linker(linker, lambda d: d.http)
    return False


def _link_proxy_imports(linker: Linker) -> None:
    """wasi:io, clocks, random and stdio 0.2: what ``wasi:http/proxy@0.2.x`` imports besides http."""
    from wasmloom.wasi.p2 import bindings as b2
    from wasmloom.wasi.p2.host import host_for as p2_host_for

    def part(attr: str) -> Any:
        return lambda d: getattr(p2_host_for(d.ctx), attr)

    for mod, attr in (
        (b2.wasi_io_error, "error"),
        (b2.wasi_io_poll, "poll"),
        (b2.wasi_io_streams, "streams"),
        (b2.wasi_clocks_monotonic_clock, "monotonic_clock"),
        (b2.wasi_clocks_wall_clock, "wall_clock"),
        (b2.wasi_random_random, "random"),
        (b2.wasi_cli_stdin, "stdin"),
        (b2.wasi_cli_stdout, "stdout"),
        (b2.wasi_cli_stderr, "stderr"),
    ):
        mod.add_to_linker(linker, part(attr))


def serve(opts: ServeOptions, err: TextIO | None = None) -> int:
    """Serve ``opts.run.app`` until SIGINT or SIGTERM; returns the exit status (0 when stopped)."""
    err = err if err is not None else sys.stderr
    run_opts = opts.run
    app = run_opts.app
    try:
        host, port = parse_addr(opts.addr)
    except ValueError as e:
        print(f"error: {e}", file=err)
        return 2
    component = load_app(app, run_opts.cache, err, run_opts.wasm)
    if component is None:
        return 1
    export = _find_handler(component)
    if export is None:
        print(
            f"error: {app} exports no `wasi:http/handler` (0.3.x) "
            "or `wasi:http/incoming-handler` (0.2.x)",
            file=err,
        )
        return 1
    linker = Linker()
    _link(linker, opts.cli, _is_p2(export))

    def hint(missing: list[str]) -> str:
        return "hint: --trap-unknown-imports serves it anyway"

    if not check_imports(linker, component, app, run_opts.trap_unknown_imports, hint, err):
        return 1
    if checked_ctx(run_opts, err) is None:  # the preopens can be opened
        return 1
    server = Server(
        component,
        linker,
        export,
        run_opts,
        err,
        opts.max_instance_reuse,
        opts.max_instance_concurrent_reuse,
    )
    return asyncio.run(_main(server, host, port, err))


async def _main(server: Server, host: str, port: int, err: TextIO) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        srv = await asyncio.start_server(server.handle_connection, host, port, limit=_MAX_HEAD)
    except OSError as e:
        print(f"error: cannot listen on {host}:{port}: {e.strerror}", file=err, flush=True)
        return 1
    bound = srv.sockets[0].getsockname()
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    print(f"Serving HTTP on http://{shown}:{bound[1]}/", file=err, flush=True)
    async with srv:
        await stop.wait()
        srv.close()
        server.retire_all()  # a looping guest must not hold the server up
        for task in list(server.tasks):
            task.cancel()
        if server.tasks:
            await asyncio.wait(list(server.tasks), timeout=5)
    return 0
