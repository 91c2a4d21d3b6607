"""Sequential outgoing wasi:http requests per second to a loopback server, old client vs new.

``python bench/http_client.py [--old REV] [--requests N] [--rounds R]`` from the
repository root. The *old* client is the source tree of git revision ``REV``
(default ``4fae4ac``: the hand-written framing, a new connection per request);
the *new* one is this checkout's. Each child process drives one host client
without a guest (0.3: ``WasiHttp.send`` on an asyncio loop, then the body and
trailers read to their end; 0.2: ``outgoing-handler.handle`` from a plain
thread, blocking on the future and the body) for ``N`` sequential ``GET``s
to a small asyncio HTTP/1.1 server in its own process (keep-alive unless the
request says ``connection: close``; a 2-byte body). Old and new run
alternately, ``R`` rounds; the table shows the medians and new/old.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


# --- the server (a child process) -------------------------------------------------------------


class _Server(asyncio.Protocol):
    """Answers each request head with a 2-byte body; closes when the request asks to."""

    def connection_made(self, transport: Any) -> None:
        self.t = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            head, _, self.buf = self.buf.partition(b"\r\n\r\n")
            close = b"\nconnection: close" in head.lower()
            self.t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            if close:
                self.t.close()
                return


def serve() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        srv = await loop.create_server(_Server, "127.0.0.1", 0)
        print(srv.sockets[0].getsockname()[1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


# --- the clients (child processes, on the tree in PYTHONPATH) ---------------------------------


def p3_client(port: int, n: int) -> float:
    from wasmloom import Store
    from wasmloom.host.streams import FutureReader, ValueFutureProducer
    from wasmloom.values import Ok
    from wasmloom.wasi.ctx import WasiCtxBuilder
    from wasmloom.wasi.p3 import WasiP3
    from wasmloom.wasi.p3 import http as wh

    async def main() -> float:
        store: Store[None] = Store()
        http = wh.WasiHttp(WasiP3(WasiCtxBuilder().build(), store))

        async def one() -> None:
            trailers = FutureReader.new(store, ValueFutureProducer(Ok(None)))
            req = wh.Request(
                wh.Fields(), wh.Body(None, trailers), authority=f"127.0.0.1:{port}",
                path_with_query="/",
            )  # fmt: skip
            r = await http.send(None, req)  # type: ignore[arg-type]
            assert isinstance(r, Ok), r
            body = r.value.body
            data = b""
            async for chunk in body.contents:
                data += bytes(chunk)
            assert data == b"ok" and isinstance(await body.trailers, Ok)

        for _ in range(min(n // 10, 50)):  # warm up
            await one()
        t = time.perf_counter()
        for _ in range(n):
            await one()
        return n / (time.perf_counter() - t)

    return asyncio.run(main())


def p2_client(port: int, n: int) -> float:
    from wasmloom.values import Err
    from wasmloom.wasi.p2 import http as p2http

    h = p2http.WasiHttpP2()

    def one() -> None:
        req = h.outgoing_request_new(h.fields_new())
        req.set_authority(f"127.0.0.1:{port}")
        fut = h.handle(req, None).value
        fut.subscribe().block()
        resp = fut.get().value.value
        stream = resp.consume().value.stream().value
        data = b""
        while not isinstance(r := stream.blocking_read(65536), Err):
            data += r.value
        assert data == b"ok"

    for _ in range(min(n // 10, 50)):
        one()
    t = time.perf_counter()
    for _ in range(n):
        one()
    return n / (time.perf_counter() - t)


# --- the driver -------------------------------------------------------------------------------


def _child(src: Path, kind: str, port: int, n: int) -> float:
    env = dict(os.environ, PYTHONPATH=str(src))
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--port", str(port), "--requests", str(n)],
        env=env, capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    return float(json.loads(out.stdout))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--old", default="4fae4ac", help="git revision of the old client")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--child", choices=("server", "p3", "p2"))
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    if args.child == "server":
        serve()
        return
    if args.child is not None:
        client = p3_client if args.child == "p3" else p2_client
        print(json.dumps(client(args.port, args.requests)))
        return
    tmp = Path(tempfile.mkdtemp(prefix="wasmloom-http-client-"))
    server = subprocess.Popen(
        [sys.executable, __file__, "--child", "server"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.old, "src"], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
        trees = {"old": tmp / "src", "new": ROOT / "src"}
        print(
            f"{args.requests} sequential GETs to 127.0.0.1, {args.rounds} rounds (old: {args.old})"
        )
        print(f"{'client':8} {'old req/s':>10} {'new req/s':>10} {'new/old':>8}")
        for kind in ("p3", "p2"):
            got: dict[str, list[float]] = {"old": [], "new": []}
            for _ in range(args.rounds):
                for which, src in trees.items():
                    got[which].append(_child(src, kind, port, args.requests))
            old, new = (statistics.median(got[w]) for w in ("old", "new"))
            print(f"{'wasi:http ' + ('0.3' if kind == 'p3' else '0.2'):8} {old:10.0f} {new:10.0f} "
                  f"{new / old:8.2f}")  # fmt: skip
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
