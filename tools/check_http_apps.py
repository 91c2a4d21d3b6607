"""Issue 16's acceptance checks against wasi:http apps built outside the tree.

Usage: ``python3 tools/check_http_apps.py APP.wasm [APP.wasm ...]`` where each app
serves ``POST /echo`` and ``GET /hash-all`` (``url`` fields: fetch each and answer
``<url>: <sha256>`` lines), as componentize-py's ``examples/http`` (wasi:http/proxy
0.2) and ``examples/http-p3`` (wasi:http/service 0.3) do. For each: a 300 KiB echo
byte for byte; ``/hash-all`` of two files of a loopback server, both SHA-256s in
the answer; then wrk (20 connections, ``POST /echo``) and SIGINT after 4 s: the
time to exit and the count of ``Traceback`` and ``panicked`` lines on stderr.
Needs wrk (Debian package). Not run in CI: the apps are not in the tree.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FILES = {"/a.bin": os.urandom(200 * 1024), "/b.txt": b"hello\n" * 100}


class _Files(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        data = FILES.get(self.path)
        self.send_response(200 if data is not None else 404)
        self.send_header("content-length", str(len(data or b"")))
        self.end_headers()
        self.wfile.write(data or b"")

    def log_message(self, format: str, *args: object) -> None:
        pass


def _start(app: str) -> tuple[subprocess.Popen[bytes], str, int]:
    cmd = [sys.executable, "-m", "wasmloom", "serve", "--addr", "127.0.0.1:0", app]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    assert proc.stderr is not None
    m = re.search(r"http://([\d.]+):(\d+)", proc.stderr.readline().decode())
    if m is None:
        proc.kill()
        raise SystemExit(f"{app}: serve printed no address")
    return proc, m.group(1), int(m.group(2))


def _request(
    host: str, port: int, method: str, path: str, body: bytes | None, fields: list[tuple[str, str]]
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=60)
    conn.putrequest(method, path)
    for k, v in fields:
        conn.putheader(k, v)
    if body is not None:
        conn.putheader("content-length", str(len(body)))
    conn.endheaders(body)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def check(app: str, base: str, lua: str) -> bool:
    print("==", app)
    proc, host, port = _start(app)
    body = os.urandom(300 * 1024)
    st, got = _request(host, port, "POST", "/echo", body, [("content-type", "application/x")])
    echo_ok = st == 200 and got == body
    print(f"echo 300 KiB: {st}, {'byte for byte' if echo_ok else f'WRONG ({len(got)} bytes)'}")
    urls = [base + "/a.bin", base + "/b.txt"]
    st, got = _request(host, port, "GET", "/hash-all", None, [("url", u) for u in urls])
    text = got.decode(errors="replace")
    hashes = [hashlib.sha256(FILES[u[len(base) :]]).hexdigest() for u in urls]
    hash_ok = st == 200 and all(f"{u}: {h}" in text for u, h in zip(urls, hashes, strict=True))
    print(f"hash-all: {st}, {'both SHA-256s correct' if hash_ok else 'WRONG: ' + text[:300]}")
    wrk = subprocess.Popen(
        ["wrk", "-t2", "-c20", "-d10s", "-s", lua, f"http://{host}:{port}/echo"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(4)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    took = time.monotonic() - t0
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace")
    wrk.wait()
    tb, panics = err.count("Traceback"), err.count("panicked")
    print(
        f"SIGINT under wrk (20 connections): exit {proc.returncode} in {took:.2f} s, "
        f"{tb} Traceback lines, {panics} panicked lines"
    )
    return echo_ok and hash_ok and proc.returncode == 0 and took < 5 and tb == 0 and panics == 0


def main() -> int:
    files = ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    threading.Thread(target=files.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{files.server_address[1]}"
    lua = f"/tmp/check_http_apps_{os.getpid()}.lua"
    with open(lua, "w") as f:
        f.write('wrk.method = "POST"\nwrk.body = string.rep("x", 1024)\n')
    try:
        ok = all([check(app, base, lua) for app in sys.argv[1:]])
    finally:
        files.shutdown()
        os.unlink(lua)
    print("all checks passed" if ok else "SOME CHECKS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
