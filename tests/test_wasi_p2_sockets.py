"""WASI 0.2 ``wasi:sockets`` (wasmloom.wasi.p2.sockets): a componentize-py guest using Python's
``socket`` module against servers and clients of this process on 127.0.0.1, and the host
objects' state rules called directly.

The guest is built by componentize-py (tests/cpy_build.py, cached); its CPython reaches the
network through wasi-libc, which uses ``wasi:sockets@0.2``. Its ``socket`` module has no
``idna`` codec, so the guest passes numeric addresses to ``connect``/``bind`` (whose ASCII
fast path needs no codec) rather than calling ``create_connection``.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cpy_build import build, component, tree
from guest_util import has_ipv6_loopback

from wasmloom import Component, Linker, Store
from wasmloom.values import Err, Ok
from wasmloom.wasi import WasiCtxBuilder, p2
from wasmloom.wasi.ctx import MemoryOutput, WasiCtx
from wasmloom.wasi.p2 import sockets as P
from wasmloom.wasi.p2.bindings import wasi_io_streams as streams
from wasmloom.wasi.p2.bindings import wasi_sockets_network as net
from wasmloom.wasi.p2.bindings import wasi_sockets_tcp as tcp
from wasmloom.wasi.p2.bindings import wasi_sockets_udp as udp

ROOT = Path(__file__).resolve().parent.parent
WIT02 = ROOT / "src" / "wasmloom" / "wasi" / "wit" / "0.2"
E = net.ErrorCode
V4 = net.IpAddressFamily.IPV4

# The bytes the two sides send: long enough to need several reads and writes.
TO_GUEST = bytes(range(256)) * 1200
FROM_GUEST = bytes((i * 7 + 3) % 256 for i in range(200_000))

_APP_WIT = """package local:app;

world app {
  export wasi:cli/run@0.2.9;
}
"""

_APP_PY = """import hashlib
import os
import socket
import subprocess
import sys
import sys

from wit_world import exports


def payload():
    return bytes((i * 7 + 3) % 256 for i in range(200_000))


def recv_all(s):
    chunks = []
    while True:
        b = s.recv(65536)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def client(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.connect(("127.0.0.1", port))
    print("local", s.getsockname()[0], "peer", s.getpeername())
    s.sendall(payload())
    s.shutdown(socket.SHUT_WR)
    data = recv_all(s)
    s.close()
    print("received", len(data), hashlib.sha256(data).hexdigest())


def server():
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.bind(("127.0.0.1", 0))
    ls.listen(4)
    print("port", ls.getsockname()[1], flush=True)
    c, addr = ls.accept()
    data = recv_all(c)
    c.sendall(data[::-1])
    c.close()
    ls.close()
    print("served", len(data), addr[0])


def udp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    for word in (b"ping", b"pong"):
        s.sendto(word, ("127.0.0.1", port))
        data, addr = s.recvfrom(1000)
        print("udp", data.decode(), addr[1] == port)
    s.connect(("127.0.0.1", port))
    s.send(b"connected")
    print("udp", s.recv(1000).decode(), s.getpeername()[1] == port)
    s.close()


def lookup(port):
    for host in (b"localhost", b"127.0.0.1", b"no such host!"):
        try:
            infos = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)
            print("lookup", sorted({sa for _, _, _, _, sa in infos}))
        except OSError as e:
            print("lookup", type(e).__name__)


def denied(port):
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            if kind == socket.SOCK_STREAM:
                s.connect(("127.0.0.1", port))
            else:
                s.sendto(b"x", ("127.0.0.1", port))
            print("allowed")
        except OSError as e:
            print("refused", type(e).__name__)
        s.close()


def refused(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.connect(("127.0.0.1", port))
        print("connected")
    except OSError as e:
        print("refused", type(e).__name__)
    s.close()


def timeout(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    s.settimeout(0.3)
    try:
        s.recv(10)
        print("received")
    except TimeoutError:
        print("timed out")
    s.settimeout(5)
    s.sendall(b"go")
    print("then", s.recv(10))
    s.close()


class Run(exports.Run):
    def run(self) -> None:
        mode = os.environ["MODE"]
        port = int(os.environ.get("PORT", "0"))
        if mode == "server":
            server()
        else:
            modes = {"client": client, "udp": udp, "denied": denied, "refused": refused}
            modes["timeout"] = timeout
            modes["lookup"] = lookup
            modes[mode](port)
        sys.stdout.flush()
"""


def _build_guest() -> Path:
    files = tree(WIT02 / "deps", "wit/deps")
    files["wit/deps/cli/cli.wit"] = (WIT02 / "cli.wit").read_text()
    files["wit/app.wit"] = _APP_WIT
    files["app.py"] = _APP_PY
    return build("wasi-p2-sockets", files, wit="wit", world="app")


@pytest.fixture(scope="module")
def guest() -> Component:
    return component(_build_guest())


class Data:
    def __init__(self, wasi: WasiCtx) -> None:
        self.wasi = wasi


def _run(
    guest: Component,
    mode: str,
    port: int,
    out: MemoryOutput,
    network: bool = True,
    lookup: bool = False,
) -> int:
    b = WasiCtxBuilder().env("MODE", mode).env("PORT", str(port)).stdout(out)
    if network:
        b = b.inherit_network()
    b = b.allow_ip_name_lookup(lookup)
    linker = Linker()
    p2.add_to_linker(linker, lambda d: d.wasi)
    store = Store(data=Data(b.build()))
    return p2.run(store, linker.instantiate(store, guest))


def _lines(out: MemoryOutput) -> list[str]:
    return out.getvalue().decode().splitlines()


# --- the guest ---------------------------------------------------------------------------


@pytest.mark.componentize_py
def test_guest_connects_to_asyncio_server(guest: Component) -> None:
    received = bytearray()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.extend(await reader.read(-1))  # until the guest shuts its sending side
        writer.write(TO_GUEST)
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def main() -> int:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await asyncio.wait_for(
                asyncio.to_thread(_run, guest, "client", port, out), timeout=60
            )

    out = MemoryOutput()
    assert asyncio.run(main()) == 0
    assert bytes(received) == FROM_GUEST
    lines = _lines(out)
    assert lines[0].startswith("local 127.0.0.1 peer ('127.0.0.1', ")
    assert lines[1] == f"received {len(TO_GUEST)} {hashlib.sha256(TO_GUEST).hexdigest()}"


@pytest.mark.componentize_py
def test_guest_listens_and_accepts(guest: Component) -> None:
    out = MemoryOutput()
    result: list[int] = []
    t = threading.Thread(target=lambda: result.append(_run(guest, "server", 0, out)))
    t.start()
    try:
        deadline = time.monotonic() + 30
        while not out.getvalue().startswith(b"port ") or b"\n" not in out.getvalue():
            assert time.monotonic() < deadline, "the guest never listened"
            time.sleep(0.01)
        port = int(_lines(out)[0].split()[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as c:
            c.sendall(TO_GUEST)
            c.shutdown(socket.SHUT_WR)
            reply = bytearray()
            while chunk := c.recv(65536):
                reply += chunk
    finally:
        t.join(60)
    assert result == [0]
    assert bytes(reply) == TO_GUEST[::-1]
    assert _lines(out)[1] == f"served {len(TO_GUEST)} 127.0.0.1"


@pytest.mark.componentize_py
def test_guest_udp(guest: Component) -> None:
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))
    srv.settimeout(30)
    port = srv.getsockname()[1]
    seen: list[bytes] = []

    def echo() -> None:
        for _ in range(3):
            data, addr = srv.recvfrom(1000)
            seen.append(data)
            srv.sendto(data.upper(), addr)

    t = threading.Thread(target=echo)
    t.start()
    out = MemoryOutput()
    try:
        assert _run(guest, "udp", port, out) == 0
    finally:
        t.join(30)
        srv.close()
    assert seen == [b"ping", b"pong", b"connected"]
    assert _lines(out) == ["udp PING True", "udp PONG True", "udp CONNECTED True"]


@pytest.mark.componentize_py
def test_guest_without_network_is_refused(guest: Component) -> None:
    with socket.socket() as ls:
        ls.bind(("127.0.0.1", 0))
        ls.listen()
        ls.settimeout(0.2)
        out = MemoryOutput()
        assert _run(guest, "denied", ls.getsockname()[1], out, network=False) == 0
        with pytest.raises(TimeoutError):
            ls.accept()  # nothing reached the listener
    assert _lines(out) == ["refused PermissionError", "refused PermissionError"]


@pytest.mark.componentize_py
def test_guest_connection_refused(guest: Component) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        out = MemoryOutput()
        assert _run(guest, "refused", port, out) == 0
    assert _lines(out) == ["refused ConnectionRefusedError"]


# --- the host objects --------------------------------------------------------------------


def _host(network: bool = True, lookup: bool = False) -> P.SocketsHost:
    b = WasiCtxBuilder()
    if network:
        b = b.inherit_network()
    return P.SocketsHost(b.allow_ip_name_lookup(lookup).build())


def _v4(port: int, ip: tuple[int, int, int, int] = (127, 0, 0, 1)) -> net.IpSocketAddress:
    return net.IpSocketAddressIpv4(net.Ipv4SocketAddress(port, ip))


def _ok(r: Ok[Any] | Err[Any]) -> Any:
    assert isinstance(r, Ok), r
    return r.value


def _wait(p: Any) -> None:
    deadline = time.monotonic() + 10
    while not p.ready():
        assert time.monotonic() < deadline
        time.sleep(0.001)


def _listener(h: P.SocketsHost) -> tuple[P.TcpSocket, int]:
    n = h.instance_network()
    s = _ok(h.create_tcp_socket(V4))
    _ok(s.start_bind(n, _v4(0)))
    _ok(s.finish_bind())
    _ok(s.start_listen())
    _ok(s.finish_listen())
    port = _ok(s.local_address()).value.port
    return s, port


class Pair:
    """A listener, a client connected to it and the accepted socket, each with its streams."""

    def __init__(self, h: P.SocketsHost) -> None:
        self.ls, port = _listener(h)
        self.c = _ok(h.create_tcp_socket(V4))
        _ok(self.c.start_connect(h.instance_network(), _v4(port)))
        self.c.subscribe().block()
        self.cin, self.cout = _ok(self.c.finish_connect())
        self.ls.subscribe().block()
        self.a, self.ain, self.aout = _ok(self.ls.accept())

    def drop(self) -> None:
        for obj in (self.cin, self.cout, self.c, self.ain, self.aout, self.a, self.ls):
            obj.drop()


def test_tcp_state_rules() -> None:
    h = _host()
    n = h.instance_network()
    s = _ok(h.create_tcp_socket(V4))
    assert s.finish_bind() == Err(E.NOT_IN_PROGRESS)
    assert s.start_listen() == Err(E.INVALID_STATE)  # not bound
    assert s.local_address() == Err(E.INVALID_STATE)
    assert s.remote_address() == Err(E.INVALID_STATE)
    assert s.accept() == Err(E.INVALID_STATE)
    assert s.finish_connect() == Err(E.NOT_IN_PROGRESS)
    assert s.shutdown(tcp.ShutdownType.BOTH) == Err(E.INVALID_STATE)
    assert s.start_bind(n, _v4(0, (224, 0, 0, 1))) == Err(E.INVALID_ARGUMENT)  # multicast
    v6 = net.IpSocketAddressIpv6(net.Ipv6SocketAddress(0, 0, (0, 0, 0, 0, 0, 0, 0, 1), 0))
    assert s.start_bind(n, v6) == Err(E.INVALID_ARGUMENT)  # the other family
    assert s.start_bind(n, _v4(0)) == Ok(None)
    assert s.local_address() == Err(E.INVALID_STATE)  # bind started, not finished
    assert s.start_bind(n, _v4(0)) == Err(E.INVALID_STATE)
    assert s.finish_bind() == Ok(None)
    assert s.finish_bind() == Err(E.NOT_IN_PROGRESS)
    assert _ok(s.local_address()).value.port != 0
    assert s.set_listen_backlog_size(0) == Err(E.INVALID_ARGUMENT)
    assert s.set_listen_backlog_size(16) == Ok(None)
    assert not s.is_listening()
    assert s.start_listen() == Ok(None)
    assert s.start_listen() == Err(E.CONCURRENCY_CONFLICT)
    assert s.finish_listen() == Ok(None)
    assert s.is_listening()
    assert s.finish_listen() == Err(E.NOT_IN_PROGRESS)
    assert s.accept() == Err(E.WOULD_BLOCK)
    assert not s.subscribe().ready()
    assert s.start_connect(n, _v4(80)) == Err(E.INVALID_STATE)
    assert s.address_family() is V4
    s.drop()


def test_tcp_connect_accept_and_streams() -> None:
    h = _host()
    n = h.instance_network()
    ls, port = _listener(h)
    c = _ok(h.create_tcp_socket(V4))
    assert c.start_connect(n, _v4(0)) == Err(E.INVALID_ARGUMENT)  # port 0
    assert c.start_connect(n, _v4(port, (0, 0, 0, 0))) == Err(E.INVALID_ARGUMENT)  # unspecified
    assert c.start_connect(n, _v4(port)) == Ok(None)
    assert c.start_connect(n, _v4(port)) == Err(E.CONCURRENCY_CONFLICT)
    _wait(c.subscribe())
    cin, cout = _ok(c.finish_connect())
    assert c.finish_connect() == Err(E.NOT_IN_PROGRESS)
    _wait(ls.subscribe())
    a, ain, aout = _ok(ls.accept())
    assert _ok(a.remote_address()) == _ok(c.local_address())
    assert _ok(c.remote_address()).value.port == port
    assert c.start_listen() == Err(E.INVALID_STATE)

    # one way: a big write is taken whole and finished by blocking-flush
    assert cin.read(10) == Ok(b"")  # nothing yet, and no blocking
    assert _ok(cout.check_write()) == P.SOCKET_WRITE_BUDGET
    assert _ok(cout.write(FROM_GUEST)) is None
    got = bytearray()
    while len(got) < len(FROM_GUEST):
        if cout.pending:
            assert cout.check_write() == Ok(0)
        cout.flush()
        r = ain.read(1 << 16)
        got += _ok(r)
    assert bytes(got) == FROM_GUEST
    assert cout.blocking_flush() == Ok(None)

    # the other way, then the end of the stream
    assert aout.blocking_write_and_flush(b"reply") == Ok(None)
    _wait(cin.subscribe())
    assert cin.blocking_read(100) == Ok(b"reply")
    assert a.shutdown(tcp.ShutdownType.SEND) == Ok(None)
    r = cin.blocking_read(100)
    assert isinstance(r, Err) and isinstance(r.value, streams.StreamErrorClosed)

    # options work on a connected socket
    assert c.set_keep_alive_enabled(True) == Ok(None)
    assert c.keep_alive_enabled() == Ok(True)
    assert c.set_hop_limit(0) == Err(E.INVALID_ARGUMENT)
    assert c.set_hop_limit(33) == Ok(None) and c.hop_limit() == Ok(33)
    assert c.set_keep_alive_idle_time(0) == Err(E.INVALID_ARGUMENT)
    assert c.set_keep_alive_idle_time(5_000_000_000) == Ok(None)
    assert c.keep_alive_idle_time() == Ok(5_000_000_000)
    assert _ok(c.receive_buffer_size()) > 0

    for obj in (cin, cout, c, ain, aout, a, ls):
        obj.drop()


def test_tcp_connection_refused_then_closed() -> None:
    h = _host()
    n = h.instance_network()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        c = _ok(h.create_tcp_socket(V4))
        assert c.start_connect(n, _v4(port)) == Ok(None)
        _wait(c.subscribe())
        assert c.finish_connect() == Err(E.CONNECTION_REFUSED)
        assert c.start_connect(n, _v4(port)) == Err(E.INVALID_STATE)  # closed
        c.drop()


def test_access_denied() -> None:
    h = _host(network=False)
    n = h.instance_network()
    s = _ok(h.create_tcp_socket(V4))
    assert s.start_bind(n, _v4(0)) == Err(E.ACCESS_DENIED)
    assert s.start_connect(n, _v4(80)) == Err(E.ACCESS_DENIED)
    u = _ok(h.create_udp_socket(V4))
    assert u.start_bind(n, _v4(0)) == Err(E.ACCESS_DENIED)
    assert h.resolve_addresses(n, "localhost") == Err(E.ACCESS_DENIED)
    ctx = WasiCtxBuilder().inherit_network().allow_tcp(False).allow_udp(False).build()
    h2 = P.SocketsHost(ctx)
    assert h2.create_tcp_socket(V4) == Err(E.ACCESS_DENIED)
    assert h2.create_udp_socket(V4) == Err(E.ACCESS_DENIED)
    s.drop()
    u.drop()


def test_udp_streams() -> None:
    h = _host()
    n = h.instance_network()
    a = _ok(h.create_udp_socket(V4))
    b = _ok(h.create_udp_socket(V4))
    assert a.stream(None) == Err(E.INVALID_STATE)  # not bound
    assert a.finish_bind() == Err(E.NOT_IN_PROGRESS)
    for s in (a, b):
        _ok(s.start_bind(n, _v4(0)))
        assert s.local_address() == Err(E.INVALID_STATE)
        _ok(s.finish_bind())
    a_addr, b_addr = _ok(a.local_address()), _ok(b.local_address())
    ain, aout = _ok(a.stream(None))
    bin_, bout = _ok(b.stream(a_addr))  # b talks to a only
    assert _ok(b.remote_address()) == a_addr
    assert a.remote_address() == Err(E.INVALID_STATE)

    assert bout.send([]) == Ok(0)
    n_ok = _ok(bout.check_send())
    assert n_ok >= 2
    assert bout.send(
        [udp.OutgoingDatagram(b"one", None), udp.OutgoingDatagram(b"two", a_addr)]
    ) == Ok(2)
    _wait(ain.subscribe())
    got: list[udp.IncomingDatagram] = []
    deadline = time.monotonic() + 10
    while len(got) < 2 and time.monotonic() < deadline:
        got += _ok(ain.receive(10))
    assert [(d.data, d.remote_address) for d in got] == [(b"one", b_addr), (b"two", b_addr)]

    # a sends to b by address; a datagram too large is refused
    _ok(aout.check_send())
    big = udp.OutgoingDatagram(bytes(70_000), b_addr)
    assert aout.send([big]) == Err(E.DATAGRAM_TOO_LARGE)
    _ok(aout.check_send())
    assert aout.send([udp.OutgoingDatagram(b"back", b_addr)]) == Ok(1)
    _wait(bin_.subscribe())
    assert [d.data for d in _ok(bin_.receive(5))] == [b"back"]
    assert ain.receive(5) == Ok([])

    # without check-send's permission, send traps
    from wasmloom.errors import Trap

    _, fresh_out = _ok(a.stream(None))
    with pytest.raises(Trap):
        fresh_out.send([udp.OutgoingDatagram(b"x", b_addr)])
    assert aout.check_send() == Err(E.INVALID_STATE)  # an earlier stream pair stops working
    for s in (a, b):
        s.drop()


def test_ip_name_lookup() -> None:
    h = _host(lookup=True)
    n = h.instance_network()
    st = _ok(h.resolve_addresses(n, "127.0.0.1"))
    assert st.subscribe().ready()
    assert st.resolve_next_address() == Ok(net.IpAddressIpv4((127, 0, 0, 1)))
    assert st.resolve_next_address() == Ok(None)
    assert h.resolve_addresses(n, "not a name!") == Err(E.INVALID_ARGUMENT)
    st = _ok(h.resolve_addresses(n, "localhost"))
    st.subscribe().block()
    first = _ok(st.resolve_next_address())
    assert first in (net.IpAddressIpv4((127, 0, 0, 1)), net.IpAddressIpv6((0, 0, 0, 0, 0, 0, 0, 1)))


@pytest.mark.componentize_py
def test_wasmloom_run_inherit_network(guest: Component) -> None:
    """``wasmloom run -S inherit-network`` gives a 0.2 guest the network."""
    with socket.socket() as ls:
        ls.bind(("127.0.0.1", 0))
        ls.listen()
        ls.settimeout(60)

        def serve() -> None:
            c, _ = ls.accept()
            with c:
                data = bytearray()
                while chunk := c.recv(65536):
                    data += chunk
                c.sendall(bytes(data[::-1]))

        t = threading.Thread(target=serve)
        t.start()
        cmd = [sys.executable, "-m", "wasmloom", "run", "-S", "inherit-network"]
        env = ["--env", "MODE=client", "--env", f"PORT={ls.getsockname()[1]}"]
        try:
            r = subprocess.run([*cmd, *env, str(_build_guest())], capture_output=True, timeout=120)
        finally:
            t.join(60)
    assert r.returncode == 0, r.stderr.decode()
    digest = hashlib.sha256(FROM_GUEST[::-1]).hexdigest()
    assert r.stdout.decode().splitlines()[1] == f"received {len(FROM_GUEST)} {digest}"


def test_poll_wakes_on_a_socket_or_a_timeout() -> None:
    """``poll`` on a socket and a clock waits for whichever comes first, without spinning."""
    from wasmloom.wasi.p2.host import MonotonicClockHost, Poll

    h = _host()
    p = Pair(h)
    cin, aout = p.cin, p.aout
    clocks = MonotonicClockHost(h.ctx)

    t0 = time.monotonic()
    assert Poll().poll([cin.subscribe(), clocks.subscribe_duration(50_000_000)]) == [1]
    assert 0.04 <= time.monotonic() - t0 < 2

    timer = threading.Timer(0.05, lambda: aout.blocking_write_and_flush(b"hi"))
    timer.start()
    t0 = time.monotonic()
    assert Poll().poll([cin.subscribe(), clocks.subscribe_duration(10_000_000_000)]) == [0]
    assert time.monotonic() - t0 < 5
    timer.join()
    assert cin.read(10) == Ok(b"hi")
    p.drop()


def test_tcp_shutdown_receive_ends_the_input_stream() -> None:
    p = Pair(_host())
    c, cin, cout, ain, aout = p.c, p.cin, p.cout, p.ain, p.aout
    assert aout.blocking_write_and_flush(b"queued") == Ok(None)
    cin.subscribe().block()
    assert c.shutdown(tcp.ShutdownType.RECEIVE) == Ok(None)
    r = cin.read(100)  # what was queued is discarded
    assert isinstance(r, Err) and isinstance(r.value, streams.StreamErrorClosed)
    assert cout.blocking_write_and_flush(b"still sending") == Ok(None)  # the other direction
    ain.subscribe().block()
    assert ain.read(100) == Ok(b"still sending")
    p.drop()


@pytest.mark.componentize_py
def test_guest_socket_timeout(guest: Component) -> None:
    """A guest's ``settimeout`` polls the socket with a clock: it times out, then receives."""
    with socket.socket() as ls:
        ls.bind(("127.0.0.1", 0))
        ls.listen()
        ls.settimeout(30)
        got: list[bytes] = []

        def serve() -> None:
            c, _ = ls.accept()
            with c:
                got.append(c.recv(10))  # the guest's "go", after its timeout
                c.sendall(b"reply")

        t = threading.Thread(target=serve)
        t.start()
        out = MemoryOutput()
        t0 = time.monotonic()
        try:
            assert _run(guest, "timeout", ls.getsockname()[1], out) == 0
        finally:
            t.join(30)
        assert time.monotonic() - t0 >= 0.3
    assert got == [b"go"]
    assert _lines(out) == ["timed out", "then b'reply'"]


@pytest.mark.componentize_py
def test_guest_name_lookup(guest: Component) -> None:
    out = MemoryOutput()
    assert _run(guest, "lookup", 80, out, lookup=True) == 0
    lines = _lines(out)
    assert lines == ["lookup [('127.0.0.1', 80)]"] * 2 + ["lookup OSError"]  # an invalid name
    out = MemoryOutput()
    assert _run(guest, "lookup", 80, out) == 0
    assert _lines(out) == ["lookup PermissionError"] * 3


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback here")
def test_tcp_over_ipv6() -> None:
    h = _host()
    n = h.instance_network()
    V6 = net.IpAddressFamily.IPV6
    loop6 = (0, 0, 0, 0, 0, 0, 0, 1)
    ls = _ok(h.create_tcp_socket(V6))
    _ok(ls.start_bind(n, net.IpSocketAddressIpv6(net.Ipv6SocketAddress(0, 0, loop6, 0))))
    _ok(ls.finish_bind())
    _ok(ls.start_listen())
    _ok(ls.finish_listen())
    addr = _ok(ls.local_address())
    assert addr.tag == "ipv6" and addr.value.address == loop6
    c = _ok(h.create_tcp_socket(V6))
    mapped = (0, 0, 0, 0, 0, 0xFFFF, 0x7F00, 1)  # ::ffff:127.0.0.1
    v4_mapped = net.IpSocketAddressIpv6(net.Ipv6SocketAddress(addr.value.port, 0, mapped, 0))
    assert c.start_connect(n, v4_mapped) == Err(E.INVALID_ARGUMENT)
    assert c.start_connect(n, _v4(addr.value.port)) == Err(E.INVALID_ARGUMENT)
    _ok(c.start_connect(n, addr))
    c.subscribe().block()
    cin, cout = _ok(c.finish_connect())
    ls.subscribe().block()
    a, ain, aout = _ok(ls.accept())
    assert a.address_family() is V6
    assert cout.blocking_write_and_flush(b"over v6") == Ok(None)
    assert ain.blocking_read(100) == Ok(b"over v6")
    for obj in (cin, cout, c, ain, aout, a, ls):
        obj.drop()
