"""A wasi:http component as a request handler, apart from any HTTP framing.

:class:`Service` owns the compiled component, its linker and the pool of
instances, and answers one request at a time through an :class:`Exchange`:
the HTTP/1.1 server (:mod:`.http1`) and the ASGI app (:mod:`wasmloom.asgi`)
each implement one. A request is what the framing layer parsed (method,
target, authority, the fields left once the forbidden ones are taken out, a
body); the response goes out as a head (:meth:`Exchange.start`), body bytes
on :attr:`Exchange.writer`, then :meth:`Exchange.finish` with the trailers,
or :meth:`Exchange.fail` when the body cannot be completed (the bytes already
written are delivered, then the connection closes).

Instances are reused as Wasmtime 49 does for WASIp3 components: one instance
(with its own store and WASI state) serves up to ``max_reuse`` requests, at
most ``max_concurrent`` at a time; a trap poisons it and it takes no more.
A 0.2 ``incoming-handler`` is a synchronous call made on a worker thread of
the service's own, one request at a time per instance.

Instances are made off the event loop, one at a time, on a daemon thread of
the service's own (each has its own store, used by that thread alone until
the instance is handed to the loop). A request that finds no instance with
room waits for whichever comes first: an instance made for it, or one that
another request releases. Ahead of demand, the service keeps ``warm`` idle
instances ready (made in the background once the server listens, and after
each request that takes an idle one), so a fresh or retiring instance is
replaced before a request has to wait for it. At most ``max_instances``
instances live at once (further requests wait for one to be released); no
instance is made for spare once the server drains, and stopping never waits
for one being made.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import gc
import http
import queue
import sys
import threading
from collections import deque
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TextIO

from wasmloom.errors import LinkError, Trap, WasmloomError
from wasmloom.host.component import Component
from wasmloom.host.instance import Instance
from wasmloom.host.linker import InstancePre, Linker
from wasmloom.host.store import Store
from wasmloom.values import Err, Ok
from wasmloom.wasi.ctx import WasiExit
from wasmloom.wasi.p2 import http as p2http
from wasmloom.wasi.p2.bindings import wasi_http_incoming_handler
from wasmloom.wasi.p3 import http as wh
from wasmloom.wasi.p3.bindings import wasi_http_handler
from wasmloom.wasi.p3.bindings import wasi_http_types as H
from wasmloom.wasi.p3.http import bodies as wbodies
from wasmloom.wasi.p3.http import client as wire
from wasmloom.wasi.p3.http import fields as wfields
from wasmloom.wasi.p3.http import messages as wmsg
from wasmloom.wasi.run import RunOptions, RunState, build_ctx, new_store
from wasmloom.wasi.serve.handler import is_p2

__all__ = [
    "Exchange",
    "Service",
    "quiet_traps",
    "reason",
    "split_fields",
]

_METHODS = wmsg._METHODS
_SCHEME_HTTP = H.SchemeHTTP()
_BODY_SIZE = H.ErrorCodeHTTPResponseBodySize
_content_length = wire._content_length
_OK = wfields._OK


_REASONS = {s.value: s.phrase for s in http.HTTPStatus}


def reason(status: int) -> str:
    return _REASONS.get(status, "")


def split_fields(
    fields: list[tuple[str, bytes]],
) -> tuple[str | None, list[tuple[str, bytes]]]:
    """The ``host`` field (the request's authority) and the fields a guest may see.

    As Wasmtime does: ``host`` becomes the authority, and the fields a guest
    may not set (hop-by-hop ones, ``host``; :data:`wh.FORBIDDEN`) are left out.
    """
    authority: str | None = None
    kept: list[tuple[str, bytes]] = []
    forbidden = wh.FORBIDDEN
    for k, v in fields:
        if k in forbidden:
            if k == "host" and authority is None:
                authority = v.decode("latin-1")
        else:
            kept.append((k, v))
    return authority, kept


def quiet_traps(loop: asyncio.AbstractEventLoop, log: Any = None) -> None:
    """Keep traps of guest tasks that outlive their request out of the loop's error log
    ("Task exception was never retrieved" tracebacks): the service reports each request's
    trap in one line. Other errors go to the handler that was there; with ``log`` (the
    loop is the server's own), a lost connection (the client went away: the service has
    said so) is not reported again, and anything else in one line, without a traceback."""
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, Trap):
            return
        if log is not None:
            if not isinstance(exc, ConnectionError):
                what = f": {type(exc).__name__}: {exc}" if exc is not None else ""
                log(f"error: {context.get('message', 'unexpected error')}{what}")
        elif previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


class Exchange(Protocol):
    """One request's way back to the client (the framing layer's side).

    ``writer`` takes the body bytes (chunk-framed by the service when
    :meth:`start` said so). After :meth:`start`, exactly one of :meth:`finish`
    and :meth:`fail` is called.
    """

    writer: asyncio.StreamWriter
    #: whether the connection may carry another request
    keep: bool
    #: whether :meth:`start` was called
    answered: bool

    def start(
        self,
        status: int,
        entries: list[tuple[str, bytes]],
        length: int | None,
        has_body: bool,
        framed: bool = True,
    ) -> bool:
        """Send the head; True if the body must be chunk-framed on :attr:`writer`.

        ``length`` is the guest's ``content-length``; ``has_body``: the guest gave a
        body stream; ``framed``: the message may have a body on the wire (not a
        response to HEAD, nor a 1xx, 204 or 304), else no framing field is added."""
        ...  # fmt: skip

    def finish(self, chunked: bool, trailers: wh.Fields | None) -> None:
        """The body ended well: end it (with ``trailers`` where the wire allows)."""
        ...  # fmt: skip

    def fail(self) -> None:
        """The body cannot be completed: deliver what was written, then close."""
        ...  # fmt: skip

    def error(self, status: int, text: str) -> None:
        """Answer with a short plain-text response (nothing was sent yet); then close."""
        ...  # fmt: skip


class _Slot:
    """One instance with its store and WASI state, and the requests it took on."""

    __slots__ = ("active", "handler", "http", "instance", "loop", "state", "store", "uses")

    def __init__(
        self,
        state: RunState,
        store: Store[RunState],
        instance: Instance,
        handler: Any,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        #: the event loop it was made for (its requests run there)
        self.loop = loop
        self.state = state
        self.store = store
        self.instance = instance
        self.handler = handler
        #: the store's wasi:http 0.3 host (``None`` for a 0.2 handler)
        self.http: wh.WasiHttp | None = None
        self.uses = 0
        self.active = 0


class _Maker:
    """A daemon thread that runs the jobs given to it (making instances) one at a time;
    being a daemon, it never keeps the process alive."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="wasmloom-instances", daemon=True)
        self._thread.start()

    def submit(self, job: Any) -> None:
        self._jobs.put(job)

    def close(self) -> None:
        """End the thread once the job it runs (if any) is done."""
        self._jobs.put(None)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            job()


class Service:
    """Serves requests with one compiled component (see the module docstring)."""

    def __init__(
        self,
        component: Component,
        linker: Linker,
        export: str,
        run_opts: RunOptions,
        err: TextIO | None = None,
        max_reuse: int = 128,
        max_concurrent: int = 16,
        max_instances: int = 64,
        warm: int = 1,
    ) -> None:
        self.component = component
        self.linker = linker
        self._instance_pre: InstancePre | None = None  # imports resolved once for every slot
        self.export = export
        self.run_opts = run_opts
        self.err = err if err is not None else sys.stderr
        self.max_reuse = max(1, max_reuse)
        # a 0.2 handler is a synchronous call: one request at a time per instance
        self.p2 = is_p2(export)
        self.max_concurrent = 1 if self.p2 else max(1, max_concurrent)
        self.max_instances = max(1, max_instances)
        #: idle instances kept ready ahead of demand
        self.warm = max(0, warm)
        self.pool: list[_Slot] = []  # instances that may take another request
        self.busy: set[_Slot] = set()  # instances serving a request now
        self._waiters: deque[asyncio.Future[_Slot]] = deque()  # requests waiting for one
        self._maker: _Maker | None = None
        self._making: asyncio.AbstractEventLoop | None = None  # an instance is being made for it
        self._warming = True  # spare instances may be made (not once the server drains)
        self._warm_failed = False  # the last instance made for spare failed: wait for demand
        self._guest_threads: ThreadPoolExecutor | None = None
        #: the server is stopping: the instances are retired, failures are expected
        self.stopping = False
        self._calls = 0  # 0.2 calls running on guest threads
        self._calls_done = threading.Condition()
        #: a full garbage collection after every ``collect_every`` instances that went out
        #: of service (0: none; the collector's own thresholds decide)
        self.collect_every = 0
        self._gone = 0  # instances out of service since the last such collection

    def log(self, msg: str) -> None:
        print(msg, file=self.err, flush=True)

    def _report(self, msg: str) -> None:
        """Log what went wrong with one request, unless the server is stopping (a request
        cancelled at shutdown gets its one line from the server, not one per consequence)."""
        if not self.stopping:
            self.log(msg)

    # -- one request

    def handle(
        self,
        ex: Exchange,
        method: str,
        target: str,
        authority: str | None,
        headers: list[tuple[str, bytes]],
        body: wh.IncomingBody | None,
    ) -> Coroutine[Any, Any, bool]:
        """Serve one request through ``ex`` (a coroutine to await): True if the exchange
        ended well (the connection may serve another request when ``ex.keep`` too).
        ``-W timeout`` bounds it: past it the request gets a 500 (or, when its head is
        out, a cut connection) and its instance is retired."""
        dispatch = self._dispatch(ex, method, target, authority, headers, body)
        timeout = self.run_opts.wasm.timeout
        return dispatch if timeout is None else self._timed(timeout, ex, dispatch)

    async def _timed(
        self, timeout: float, ex: Exchange, dispatch: Coroutine[Any, Any, bool]
    ) -> bool:
        try:
            async with asyncio.timeout(timeout):
                return await dispatch
        except TimeoutError:
            self.log(f"error: a request ran past -W timeout={timeout:g}s: its instance is retired")
            if ex.answered:
                ex.fail()
            else:
                ex.error(500, "the handler timed out\n")
            return False

    async def _dispatch(
        self,
        ex: Exchange,
        method: str,
        target: str,
        authority: str | None,
        headers: list[tuple[str, bytes]],
        body: wh.IncomingBody | None,
    ) -> bool:
        loop = asyncio.get_running_loop()
        slot = self._pooled(loop)
        if slot is None:
            try:
                slot = await self._acquire(loop)
            except (Trap, LinkError, WasiExit, WasmloomError) as e:
                self.log(f"error: instantiating {self.run_opts.app}: {e}")
                ex.error(500, "instantiation failed\n")
                return False
        http = slot.http
        if http is None:
            try:
                return await self._dispatch_p2(ex, slot, method, target, authority, headers, body)
            except asyncio.CancelledError:
                self._retire(slot)  # timed out (or the server stops): the guest may still run
                raise
        healthy = False
        try:
            request = wh.Request(
                wh.Fields(headers),
                None if body is None else http.incoming_body(body),
                method=_METHODS.get(method) or H.MethodOther(method),
                path_with_query=target,
                scheme=_SCHEME_HTTP,
                authority=authority,
            )
            try:
                result = await slot.handler.handle(slot.store, request)
            except (Trap, WasiExit) as e:
                self._report(f"error: wasm trap in `{self.export}/handle`: {e}")
                ex.error(500, "the handler trapped\n")
                return False
            healthy = True
            if isinstance(result, Err):
                label = wh.error_label(result.value)
                self._report(f"error: the handler returned an error: {label}")
                ex.error(500, f"error: {label}\n")
                return False
            response = result.value
            if not isinstance(response, wh.Response):
                self._report(f"error: the handler returned {response!r}, not a response")
                ex.error(500, "bad response\n")
                return False
            ok = await self._respond(ex, method, response)
            healthy = not slot.instance.poisoned
            if ok and not healthy:
                self._report(
                    f"error: wasm trap in `{self.export}` after its response: instance retired"
                )
            return ok
        except asyncio.CancelledError:
            self._retire(slot)  # timed out (or the server stops): the guest may still run
            raise
        finally:
            self._release(slot, healthy)

    async def _respond(self, ex: Exchange, method: str, response: wh.Response) -> bool:
        status = response.status
        rbody = response.body
        response.body = None
        if rbody is None:
            rbody = wh.Body(None, None)
        sent, rbody.sent = rbody.sent, None
        entries = response.headers.entries
        limit = None
        for name, _ in entries:
            if name == "content-length":
                limit = _content_length(entries)
                break
        no_body = method == "HEAD" or status in (204, 304) or 100 <= status < 200
        contents = rbody.contents
        chunked = ex.start(
            status, entries, limit, not no_body and contents is not None, not no_body
        )
        if no_body:
            rbody.close()
            result: Ok[Any] | Err[Any] = _OK
            ex.finish(False, None)
        else:
            # the body: its contents, then its trailers (the guest's body ends are ours)
            trailers = rbody.trailers
            rbody.contents = rbody.trailers = None
            try:
                if contents is not None:
                    err = await wbodies.send_contents(
                        ex.writer, contents, chunked, limit, _BODY_SIZE
                    )
                else:  # (wbodies.length_error of no bytes)
                    err = None if not limit else Err(_BODY_SIZE(0))
                if err is not None:
                    result = err
                elif trailers is None:
                    result = _OK
                    ex.finish(chunked, None)
                else:
                    read = wbodies.TrailersRead(trailers)
                    trailers = None
                    got = read.result
                    result = got if got is not None else await read.wait()
                    if isinstance(result, Ok):
                        ex.finish(chunked, result.value)
                        result = _OK
            finally:
                if trailers is not None:
                    trailers.close()
        if sent is not None:
            sent.settle(result)
        if isinstance(result, Err):
            self._report(f"error: sending the response body: {wh.error_label(result.value)}")
            ex.fail()
            return False
        return True

    # -- instances

    def start(self) -> None:
        """Start making the :attr:`warm` spare instances in the background (on the
        running loop's behalf); requests do not need it, it only spares the first ones
        the wait."""
        self._more(asyncio.get_running_loop())

    def stop_warming(self) -> None:
        """Make no more spare instances (the server drains): only requests that wait
        for one still get one made."""
        self._warming = False

    def resolve(self) -> None:
        """Resolve the component's imports now, once for every instance (else the first
        instance made does; a failure is left to it: the request that waits reports it)."""
        if self._instance_pre is None:
            try:
                self._instance_pre = self.linker.instantiate_pre(self.component)
            except (Trap, LinkError, WasiExit, WasmloomError):
                pass

    def _new_slot(self, loop: asyncio.AbstractEventLoop) -> _Slot:
        """A new instance (run on the maker thread: the store is its alone until the
        slot is handed to ``loop``)."""
        state = RunState(build_ctx(self.run_opts))
        store = new_store(self.component, state, self.run_opts.wasm)
        if self._instance_pre is None:
            self._instance_pre = self.linker.instantiate_pre(self.component)
        instance = self._instance_pre.instantiate(store)
        handler: Any
        if self.p2:
            p2http.host_for(state.ctx).bridge = p2http.LoopBridge(loop)
            handler = wasi_http_incoming_handler.Exports(store, instance, (self.export,))
            return _Slot(state, store, instance, handler, loop)
        handler = wasi_http_handler.Exports(store, instance, (self.export,))
        slot = _Slot(state, store, instance, handler, loop)
        slot.http = state.http
        return slot

    def _has_room(self, slot: _Slot) -> bool:
        return (
            slot.active < self.max_concurrent
            and slot.uses < self.max_reuse
            and not slot.instance.poisoned
        )

    def _pooled(self, loop: asyncio.AbstractEventLoop) -> _Slot | None:
        """A pooled instance of ``loop`` with room, taken for one more request; None
        when there is none (or the pool holds instances of an earlier loop: see
        :meth:`_acquire`)."""
        mc, mr = self.max_concurrent, self.max_reuse
        for slot in self.pool:
            if slot.loop is not loop:
                return None
            if slot.active < mc and slot.uses < mr and not slot.instance.poisoned:
                self._take(slot)
                self._more(loop)
                return slot
        return None

    async def _acquire(self, loop: asyncio.AbstractEventLoop) -> _Slot:
        """An instance for one more request: a pooled one with room, else the first
        one that is made or released for this request."""
        for slot in list(self.pool):
            if slot.loop is not loop:  # made for an earlier loop (asyncio.run again)
                if not slot.active:
                    self.pool.remove(slot)
            elif self._has_room(slot):
                self._take(slot)
                break
        else:
            waiter: asyncio.Future[_Slot] = loop.create_future()
            self._waiters.append(waiter)
            self._more(loop)
            try:
                slot = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    self._release(waiter.result(), True)  # handed over as we were cancelled
                raise
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        self._more(loop)
        return slot

    def _take(self, slot: _Slot) -> None:
        slot.uses += 1
        slot.active += 1
        self.busy.add(slot)
        fuel = self.run_opts.wasm.fuel
        if fuel is not None and slot.uses > 1:  # each request brings its fuel
            slot.store.set_fuel(min(slot.store.get_fuel() + fuel, 2**64 - 1))
        if slot.uses >= self.max_reuse and slot in self.pool:
            self.pool.remove(slot)  # serves what it has taken on, then goes

    def _offer(self, slot: _Slot) -> None:
        """Hand ``slot`` to the requests waiting for an instance, while it has room."""
        waiters = self._waiters
        for waiter in list(waiters):
            if not self._has_room(slot):
                break
            if waiter.done():
                waiters.remove(waiter)
            elif waiter.get_loop() is slot.loop:  # (a waiter of another loop stays)
                waiters.remove(waiter)
                self._take(slot)
                waiter.set_result(slot)

    def _live(self) -> int:
        """Instances alive: pooled, or serving a request."""
        return len(self.busy.union(self.pool))

    def _want(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Whether to make one more instance for ``loop`` now."""
        if self._making is loop:
            return False
        for w in self._waiters:
            if not w.done():
                break  # a request waits for one
        else:
            if self.stopping or not self._warming or self._warm_failed:
                return False
            spare, warm, mr = 0, self.warm, self.max_reuse
            for s in self.pool:
                if spare >= warm:
                    return False
                if not s.active and s.uses < mr and not s.instance.poisoned:  # idle, has room
                    spare += 1
            if spare >= warm:
                return False
        return self._live() < self.max_instances

    def _more(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start making an instance on the maker thread if one is wanted."""
        if not self._want(loop):
            return
        self._making = loop
        if self._maker is None:
            self._maker = _Maker()
        context = contextvars.copy_context()

        def make() -> None:
            result: _Slot | BaseException
            try:
                result = context.run(self._new_slot, loop)
            except BaseException as e:
                result = e
            try:
                loop.call_soon_threadsafe(self._made, loop, result)
            except RuntimeError:  # the loop is closed: the server has stopped
                pass

        self._maker.submit(make)

    def _made(self, loop: asyncio.AbstractEventLoop, result: _Slot | BaseException) -> None:
        """On the loop: an instance was made (or failed to be); hand it over or pool it."""
        if self._making is loop:
            self._making = None
        if isinstance(result, BaseException):
            waiter = next((w for w in self._waiters if not w.done()), None)
            if waiter is not None:
                self._waiters.remove(waiter)
                waiter.set_exception(result)
            else:
                self._warm_failed = True  # reported by the next request that needs one
        elif self.stopping and not self._waiters:
            result.store.set_deadline(0)
        else:
            self._warm_failed = False
            self.pool.append(result)
            self._offer(result)
        self._more(loop)

    def _release(self, slot: _Slot, healthy: bool) -> None:
        slot.active -= 1
        pooled = slot in self.pool
        if pooled and (not healthy or slot.instance.poisoned):
            self.pool.remove(slot)  # a trap poisons the instance: no new requests go there
            pooled = False
        if not slot.active:
            self.busy.discard(slot)
            if not pooled and self.collect_every:
                self._went(slot.loop)
        waiters = self._waiters
        if pooled and waiters:
            self._offer(slot)
        if waiters:
            self._more(waiters[0].get_loop())

    def _went(self, loop: asyncio.AbstractEventLoop) -> None:
        """An instance went out of service. Its objects form reference cycles (the store,
        the instance and their closures), freed only by a full collection: one runs, once the
        current request's frames are gone, after every :attr:`collect_every` of them, so the
        memory they hold stays bounded however rare the collector's own full collections
        are."""
        self._gone += 1
        if self._gone >= self.collect_every:
            self._gone = 0
            loop.call_soon(gc.collect)

    def _retire(self, slot: _Slot) -> None:
        """Take ``slot`` out of service: guest code still running in its store traps
        at its next epoch tick."""
        if slot in self.pool:
            self.pool.remove(slot)
        slot.store.set_deadline(0)

    def retire_all(self) -> None:
        """:meth:`_retire` every instance in use (the server is stopping)."""
        self.stopping = True
        self._warming = False
        for slot in [*self.pool, *self.busy]:
            self._retire(slot)
        if self._guest_threads is not None:
            self._guest_threads.shutdown(wait=False, cancel_futures=True)
        if self._maker is not None:
            self._maker.close()  # an instance being made is dropped once made
            self._maker = None

    # -- 0.2

    def _call_on_thread(self, func: Any, *args: Any) -> asyncio.Future[Any]:
        """``func(*args)`` on a thread of the service's guest pool (a blocking 0.2 call)."""
        if self._guest_threads is None:
            self._guest_threads = ThreadPoolExecutor(64, thread_name_prefix="wasi-http-p2")
        call = functools.partial(self._counted, contextvars.copy_context().run, func, *args)
        return asyncio.get_running_loop().run_in_executor(self._guest_threads, call)

    def _counted(self, func: Any, *args: Any) -> Any:
        with self._calls_done:
            self._calls += 1
        try:
            return func(*args)
        finally:
            with self._calls_done:
                self._calls -= 1
                self._calls_done.notify_all()

    def guest_threads_idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the 0.2 calls on guest threads to end; False
        if one still runs (blocked in the host: the process must not wait for it)."""
        with self._calls_done:
            return self._calls_done.wait_for(lambda: self._calls == 0, timeout)

    async def _dispatch_p2(
        self,
        ex: Exchange,
        slot: _Slot,
        method: str,
        target: str,
        authority: str | None,
        headers: list[tuple[str, bytes]],
        body: wh.IncomingBody | None,
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
                    self._report(f"error: wasm trap in `{self.export}/handle`: {e}")
                    ex.error(500, "the handler trapped\n")
                    return False
                healthy = True
                self._report("error: the handler returned without setting a response")
                ex.error(500, "no response\n")
                return False
            result = got.result()
            if isinstance(result, Err):
                label = wh.error_label(result.value)
                self._report(f"error: the handler returned an error: {label}")
                ex.error(500, f"error: {label}\n")
                return False
            response = result.value
            assert isinstance(response, p2http.OutgoingResponse)
            entries = response.fields.entries
            status = response.status
            limit = wire._content_length(entries)
            no_body = method == "HEAD" or status in (204, 304) or 100 <= status < 200
            chunked = ex.start(status, entries, limit, not no_body, not no_body)
            size_error = H.ErrorCodeHTTPResponseBodySize
            # the sink frames chunks and writes the trailers itself
            sink = p2http.WireSink(ex.writer, chunked, limit, size_error, discard=no_body)
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
                    self._report(f"error: sending the response body: {wh.error_label(r.value)}")
                    ex.fail()
                    await asyncio.wait({call})
                    healthy = call.exception() is None
                    return False
            ex.finish(False, None)
            await asyncio.wait({call})
            e = call.exception()
            if e is not None:
                self._report(f"error: wasm trap in `{self.export}/handle`: {e}")
                ex.fail()
                return False
            healthy = True
            return True
        finally:
            if call.done():
                self._release(slot, healthy)
            else:  # the instance is in use until the guest's call ends
                call.add_done_callback(lambda _: self._release(slot, False))
