"""``wasmloom serve``: load, link and check once, then serve in one process or ``N`` workers.

With ``workers`` above 1 the parent process compiles the component, reserves
the port (a socket bound with ``SO_REUSEPORT``, not listening) and starts
the workers (``multiprocessing``, spawned: each gets the pickled component,
so none compiles). Each worker listens on the same port with
``SO_REUSEPORT`` and the kernel spreads connections across them. The
``Serving HTTP on`` line comes once every worker listens. A worker that dies
is started again (at most once a second); SIGINT or SIGTERM stops them all
(each finishes its requests in flight within a grace period) and the parent
returns 0.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, TextIO

from wasmloom.host.component import Component
from wasmloom.host.linker import Linker
from wasmloom.wasi.run import RunOptions, check_imports, checked_ctx, load_app
from wasmloom.wasi.serve.handler import find_handler, is_p2, link
from wasmloom.wasi.serve.http1 import HttpServer, Limits
from wasmloom.wasi.serve.service import Service, quiet_traps

__all__ = ["ServeOptions", "parse_addr", "prepare_service", "serve"]


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
    #: processes sharing the port
    workers: int = 1
    #: timeouts and connection limits of the HTTP server
    limits: Limits = field(default_factory=Limits)
    #: seconds the requests in flight get to finish once SIGINT or SIGTERM came
    shutdown_grace: float = 10.0


def parse_addr(addr: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[V6]:PORT`` for IPv6) -> (host, port)."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"invalid address {addr!r}: expected HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host or "0.0.0.0", int(port)


def prepare_service(opts: ServeOptions, component: Component, err: TextIO) -> Service | None:
    """Link WASI for ``component`` and check what it imports; None after reporting."""
    run_opts = opts.run
    export = find_handler(component)
    if export is None:
        print(
            f"error: {run_opts.app} exports no `wasi:http/handler` (0.3.x) "
            "or `wasi:http/incoming-handler` (0.2.x)",
            file=err,
        )
        return None
    linker = Linker()
    link(linker, opts.cli, is_p2(export))

    def hint(missing: list[str]) -> str:
        return "hint: --trap-unknown-imports serves it anyway"

    if not check_imports(linker, component, run_opts.app, run_opts.trap_unknown_imports, hint, err):
        return None
    if checked_ctx(run_opts, err) is None:  # the preopens can be opened
        return None
    return Service(
        component,
        linker,
        export,
        run_opts,
        err,
        opts.max_instance_reuse,
        opts.max_instance_concurrent_reuse,
    )


def _socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _shown(sock: socket.socket) -> str:
    bound = sock.getsockname()
    host = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    return f"http://{host}:{bound[1]}/"


def serve(opts: ServeOptions, err: TextIO | None = None) -> int:
    """Serve ``opts.run.app`` until SIGINT or SIGTERM; returns the exit status (0 when stopped)."""
    err = err if err is not None else sys.stderr
    try:
        host, port = parse_addr(opts.addr)
    except ValueError as e:
        print(f"error: {e}", file=err)
        return 2
    if opts.workers < 1:
        print("error: --workers must be at least 1", file=err)
        return 2
    component = load_app(opts.run.app, opts.run.cache, err, opts.run.wasm)
    if component is None:
        return 1
    service = prepare_service(opts, component, err)
    if service is None:
        return 1
    try:
        sock = _socket(host, port, opts.workers > 1)
    except OSError as e:
        print(f"error: cannot listen on {host}:{port}: {e.strerror}", file=err, flush=True)
        return 1
    if opts.workers > 1:
        return _supervise(opts, component, sock, err)
    _settle_heap(service)
    sock.listen(4096)
    code = asyncio.run(_serve_one(service, opts, sock, err, announce=True))
    _leave(service, code, err)
    return code


async def _serve_one(
    service: Service,
    opts: ServeOptions,
    sock: socket.socket,
    err: TextIO,
    announce: bool,
    ready: Connection | None = None,
) -> int:
    loop = asyncio.get_running_loop()
    quiet_traps(loop, service.log)
    stop = asyncio.Event()  # the first signal: drain
    now = asyncio.Event()  # the second: cancel what is left at once

    def on_signal() -> None:
        (now if stop.is_set() else stop).set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    server = HttpServer(service, opts.limits)
    if announce:
        print(f"Serving HTTP on {_shown(sock)}", file=err, flush=True)
    server.listen(sock)
    service.start()  # the first instances are made while the server waits for requests
    if ready is not None:
        ready.send(os.getpid())
        ready.close()
    await stop.wait()
    if announce:
        print(
            f"Stopping: waiting up to {opts.shutdown_grace:g}s for requests in flight "
            "(signal again to quit sooner)",
            file=err,
            flush=True,
        )
    await server.close(opts.shutdown_grace, now)
    return 0


def _leave(service: Service, code: int, err: TextIO) -> None:
    """The loop is closed: a 0.2 guest call blocked in the host (its instance retired,
    it traps once it returns) must not keep the process alive, nor make the interpreter
    wait for its thread at exit."""
    if not service.guest_threads_idle(1.0):
        err.flush()
        sys.stdout.flush()
        os._exit(code)


def _settle_heap(service: Service) -> None:
    """Tune the cyclic garbage collector for a server process.

    What loading made (the decoded component, types, modules, the resolved imports)
    lives as long as the server: it is moved out of the collector's sight, so no
    collection walks it again (about 37,000 objects and 9.5 ms for wasi-testsuite's
    small http-service-echo; more for bigger components). A request leaves no
    reference cycles behind, so the young generation's collections, which every
    :data:`_GEN0_THRESHOLD` allocations not yet freed trigger, would mostly walk the
    requests in flight; instances going out of service are freed by the service's own
    full collections (:attr:`Service.collect_every`)."""
    service.resolve()
    service.collect_every = _COLLECT_EVERY
    gc.collect()
    gc.freeze()
    gc.set_threshold(_GEN0_THRESHOLD, *gc.get_threshold()[1:])


#: allocations (less deallocations) between two collections of the young generation
_GEN0_THRESHOLD = 20_000
#: instances out of service between two full collections (see :meth:`Service._went`): a
#: collection walks the live instances too (about 8 ms for http-service-echo's under 50
#: connections, plus 0.3 ms per dead one), so rarer collections cost less per request,
#: at the price of up to this many dead instances kept until the next one
_COLLECT_EVERY = 16


# --- workers ------------------------------------------------------------------------------


def _worker(
    opts: ServeOptions, component: Component, addr: tuple[str, int], ready: Connection
) -> None:
    """A worker process: link, listen on ``addr`` with ``SO_REUSEPORT``, serve until
    SIGINT or SIGTERM."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us with SIGTERM
    err = sys.stderr
    service = prepare_service(opts, component, err)
    if service is None:
        sys.exit(1)
    try:
        sock = _socket(addr[0], addr[1], True)
        _settle_heap(service)
        sock.listen(4096)
    except OSError as e:
        print(f"error: a worker cannot listen on {addr}: {e.strerror}", file=err, flush=True)
        sys.exit(1)
    code = asyncio.run(_serve_one(service, opts, sock, err, False, ready))
    _leave(service, code, err)
    sys.exit(code)


def _supervise(opts: ServeOptions, component: Component, sock: socket.socket, err: TextIO) -> int:
    """Start ``opts.workers`` workers on ``sock``'s port; restart those that die; stop them
    all on SIGINT or SIGTERM."""
    ctx = multiprocessing.get_context("spawn")
    addr = sock.getsockname()[:2]
    stopping = False

    procs: list[Any] = []

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal stopping
        if stopping:  # the second signal: the workers cancel what they still serve
            for p in procs:
                if p.exitcode is None:
                    p.terminate()
        stopping = True

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}

    def start() -> Any:
        parent_end, child_end = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_worker, args=(opts, component, addr, child_end), daemon=True)
        p.start()
        child_end.close()
        return p, parent_end

    try:
        started = [start() for _ in range(opts.workers)]
        for p, conn in started:
            try:
                conn.recv()  # the worker listens
            except EOFError:
                print("error: a worker failed to start", file=err, flush=True)
                stopping = True
            conn.close()
            procs.append(p)
        if not stopping:
            print(f"Serving HTTP on {_shown(sock)}", file=err, flush=True)
        last_restart = 0.0
        while not stopping:
            time.sleep(0.1)
            for i, p in enumerate(procs):
                if p.exitcode is not None and not stopping:
                    print(
                        f"error: worker {p.pid} exited with status {p.exitcode}; restarting",
                        file=err,
                        flush=True,
                    )
                    time.sleep(max(0.0, last_restart + 1 - time.monotonic()))
                    last_restart = time.monotonic()
                    q, conn = start()
                    conn.close()
                    procs[i] = q
        return 0 if all(p.exitcode in (None, 0) for p in procs) or stopping else 1
    finally:
        for p in procs:
            if p.exitcode is None:
                p.terminate()  # SIGTERM: the worker stops gracefully
        deadline = time.monotonic() + opts.shutdown_grace + 5
        for p in procs:
            p.join(max(0.0, deadline - time.monotonic()))
            if p.exitcode is None:
                p.kill()
                p.join()
        sock.close()
        for s, h in old.items():
            signal.signal(s, h)
