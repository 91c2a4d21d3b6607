"""WASI 0.3.0 wasi:sockets with a real guest, against Python asyncio peers on 127.0.0.1.

The guest (below) is Python compiled by componentize-py against the project's
own WIT (world ``wasi:cli/command@0.3.0``, which imports ``wasi:sockets``),
built once per checkout (tests/cpy_build.py). Each test runs it in-process,
on the same asyncio loop as its Python peer, with the scenario in its
arguments; the guest reports on stdout. ``wasmloom run -S inherit-network``
is checked as a subprocess.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from cpy_build import build, component, componentize_py, tree

from wasmloom import Linker, Store
from wasmloom.host.accessor import Accessor
from wasmloom.host.streams import BytesProducer, StreamReader
from wasmloom.values import Ok
from wasmloom.wasi.ctx import MemoryOutput, WasiCtxBuilder
from wasmloom.wasi.p3.bindings import wasi_sockets_types as S
from wasmloom.wasi.p3.sockets import error_code
from wasmloom.wasi.run import RunState, link_wasi

ROOT = Path(__file__).resolve().parents[1]
WIT03 = ROOT / "src" / "wasmloom" / "wasi" / "wit" / "0.3.0"
TIMEOUT = 60.0

pytestmark = componentize_py

_APP_WIT = "package local:sockets-test;\n\nworld app {\n  include wasi:cli/command@0.3.0;\n}\n"

_APP_PY = """import hashlib

import componentize_py_async_support as cas
import wit_world
from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import environment
from wit_world.imports import ip_name_lookup as nl
from wit_world.imports import wasi_sockets_types as st

V4 = st.IpAddressFamily.IPV4


def v4(port, ip=(127, 0, 0, 1)):
    return st.IpSocketAddress_Ipv4(st.Ipv4SocketAddress(port=port, address=ip))


def show(addr):
    v = addr.value
    if isinstance(addr, st.IpSocketAddress_Ipv4):
        return ".".join(map(str, v.address)) + ":" + str(v.port)
    return "[" + ":".join("%x" % x for x in v.address) + "]:" + str(v.port)


def show_ip(a):
    if isinstance(a, st.IpAddress_Ipv4):
        return ".".join(map(str, a.value))
    return ":".join("%x" % x for x in a.value)


def name(e):
    return type(e.value).__name__.split("_", 1)[1]


def result(r):
    return "ok" if isinstance(r, Ok) else "err:" + type(r.value).__name__.split("_", 1)[1]


def payload(n):
    return (bytes(range(256)) * (n // 256 + 1))[:n]


def sha(data):
    return hashlib.sha256(data).hexdigest()


def out(*words):
    print(*words, flush=True)


async def read_all(rx):
    data = bytearray()
    with rx:
        while not rx.writer_dropped:
            data += await rx.read(65536)
    return bytes(data)


async def write_all(tx, data):
    with tx:
        await tx.write_all(data)


async def send(sock, data):
    tx, rx = wit_world.byte_stream()
    sent = sock.send(rx)
    cas.spawn(write_all(tx, data))
    return result(await sent.read())


async def receive(sock):
    rx, done = sock.receive()
    data = await read_all(rx)
    return data, result(await done.read())


async def tcp_client(port, n):
    sock = st.TcpSocket.create(V4)
    sock.set_keep_alive_enabled(True)
    sock.set_keep_alive_idle_time(3_000_000_000)
    sock.set_hop_limit(42)
    await sock.connect(v4(port))
    out("connected", show(sock.get_local_address()), show(sock.get_remote_address()))
    out(
        "options", sock.get_keep_alive_enabled(), sock.get_keep_alive_idle_time(),
        sock.get_hop_limit(), sock.get_is_listening(), sock.get_address_family().name,
    )
    out("sent", n, await send(sock, payload(n)))
    data, res = await receive(sock)
    out("received", len(data), sha(data), res)
    try:
        await sock.connect(v4(port))
    except Err as e:
        out("reconnect", name(e))


async def tcp_server():
    sock = st.TcpSocket.create(V4)
    sock.bind(v4(0))
    sock.set_listen_backlog_size(4)
    accept = sock.listen()
    out("listening", sock.get_local_address().value.port, sock.get_is_listening())
    with accept:
        conns = await accept.read(1)
    conn = conns[0]
    out("accepted", show(conn.get_remote_address()), show(conn.get_local_address()))
    data, res = await receive(conn)
    out("got", len(data), sha(data), res)
    out("replied", await send(conn, data[::-1] + b"!"))


async def udp(port):
    a = st.UdpSocket.create(V4)
    try:
        await a.receive()
    except Err as e:
        out("unbound-receive", name(e))
    a.bind(v4(0))
    await a.send(b"ping", v4(port))
    data, src = await a.receive()
    out("udp", data.decode(), show(src))
    b = st.UdpSocket.create(V4)
    b.connect(v4(port))
    out("connected", show(b.get_remote_address()), b.get_local_address().value.port != 0)
    await b.send(b"ping-connected", None)
    data, src = await b.receive()
    out("udp", data.decode(), show(src))
    b.disconnect()
    try:
        await b.send(b"x", None)
    except Err as e:
        out("disconnected-send", name(e))
    try:
        await b.send(bytes(70000), v4(port))
    except Err as e:
        out("too-large", name(e))


async def lookup(names):
    for n in names:
        try:
            addrs = await nl.resolve_addresses(n)
        except Err as e:
            out("lookup", n, "err:" + name(e))
        else:
            out("lookup", n, *sorted(set(show_ip(a) for a in addrs)))


async def denied(port):
    sock = st.TcpSocket.create(V4)
    for what, fn in (("tcp-bind", lambda: sock.bind(v4(0))),
                     ("udp-bind", lambda: st.UdpSocket.create(V4).bind(v4(0)))):
        try:
            fn()
            out(what, "ok")
        except Err as e:
            out(what, name(e))
    try:
        await sock.connect(v4(port))
        out("tcp-connect", "ok")
    except Err as e:
        out("tcp-connect", name(e))
    try:
        await st.UdpSocket.create(V4).send(b"x", v4(port))
        out("udp-send", "ok")
    except Err as e:
        out("udp-send", name(e))
    await lookup(["localhost"])


class Run(exports.Run):
    async def run(self):
        args = environment.get_arguments()[1:]
        cmd, rest = args[0], args[1:]
        if cmd == "tcp-client":
            await tcp_client(int(rest[0]), int(rest[1]))
        elif cmd == "tcp-server":
            await tcp_server()
        elif cmd == "udp":
            await udp(int(rest[0]))
        elif cmd == "lookup":
            await lookup(rest)
        elif cmd == "denied":
            await denied(int(rest[0]))
        else:
            raise Err(None)
"""


@pytest.fixture(scope="module")
def guest() -> Path:
    files = {"wit/app.wit": _APP_WIT, "app.py": _APP_PY, **tree(WIT03 / "deps", "wit/deps")}
    files["wit/deps/cli/cli.wit"] = (WIT03 / "cli.wit").read_text()
    return build("sockets-guest", files, wit="wit", world="app")


class LineOutput(MemoryOutput):
    """Collects the guest's stdout; :meth:`line` awaits a complete line starting with a word.

    The guest may write one line in several pieces, so a line counts only once
    its newline has arrived.
    """

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Event()

    def write(self, data: bytes | memoryview) -> None:
        super().write(data)
        self.changed.set()

    def lines(self) -> list[str]:
        return self.getvalue().decode().splitlines()

    async def line(self, word: str) -> list[str]:
        """The first complete line (ended by a newline) whose first word is ``word``."""
        while True:
            for ln in self.getvalue().decode().split("\n")[:-1]:
                if ln.split()[:1] == [word]:
                    return ln.split()
            self.changed.clear()
            await self.changed.wait()


async def run_guest(
    app: Path,
    args: list[str],
    *,
    network: bool = True,
    lookup: bool = False,
    out: LineOutput | None = None,
) -> tuple[Any, list[str]]:
    """Run the guest's ``wasi:cli/run`` on the running loop; its result and stdout lines."""
    out = out if out is not None else LineOutput()
    err = MemoryOutput()
    b = WasiCtxBuilder().args(["app", *args]).stdout(out).stderr(err)
    b.allow_ip_name_lookup(lookup)
    if network:
        b.inherit_network()
    state = RunState(b.build())
    store: Store[RunState] = Store(data=state)
    state.p3.bind(store)
    linker = Linker()
    link_wasi(linker)
    inst = linker.instantiate(store, component(app))
    func = inst.get_func("wasi:cli/run@0.3.0", "run")
    assert func is not None
    try:
        result = await asyncio.wait_for(func.call_async(store), TIMEOUT)
    except Exception as e:
        raise AssertionError(
            f"{e}\nstdout: {out.lines()}\nstderr: {err.getvalue().decode()}"
        ) from e
    return result, out.lines()


def _run(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return asyncio.run(main())


def _pattern(n: int) -> bytes:
    return (bytes(range(256)) * (n // 256 + 1))[:n]


def test_tcp_connect_exchanges_bytes_both_ways(guest: Path) -> None:
    """The guest sends 512 KiB and reads the reply; the server checks and replies byte for byte."""
    n = 1 << 19
    reply = hashlib.sha256(_pattern(n)).digest() * 10_000  # 320 KB
    seen: list[Any] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(writer.get_extra_info("peername"))
        seen.append(await reader.read())  # until the guest ends its send stream
        writer.write(reply)
        await writer.drain()
        writer.close()

    async def main() -> tuple[Any, list[str]]:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        seen.append(server.sockets[0].getsockname()[1])
        async with server:
            return await run_guest(guest, ["tcp-client", str(seen[0]), str(n)])

    result, lines = _run(main)
    assert result == Ok(None), lines
    port, peer, data = seen
    assert data == _pattern(n)
    assert lines[0] == f"connected 127.0.0.1:{peer[1]} 127.0.0.1:{port}"
    assert lines[1] == "options True 3000000000 42 False IPV4"
    assert lines[2] == f"sent {n} ok"
    assert lines[3] == f"received {len(reply)} {hashlib.sha256(reply).hexdigest()} ok"
    assert lines[4] == "reconnect InvalidState"


def test_tcp_listen_accepts_a_python_client(guest: Path) -> None:
    data = os.urandom(300_000)
    got: list[bytes] = []

    async def client(out: LineOutput) -> None:
        port = int((await out.line("listening"))[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        got.append(f"127.0.0.1:{writer.get_extra_info('sockname')[1]}".encode())
        writer.write(data)
        await writer.drain()
        writer.write_eof()
        got.append(await reader.read())
        writer.close()

    async def main() -> tuple[Any, list[str]]:
        out = LineOutput()
        task = asyncio.create_task(client(out))
        r = await run_guest(guest, ["tcp-server"], out=out)
        await asyncio.wait_for(task, TIMEOUT)
        return r

    result, lines = _run(main)
    assert result == Ok(None), lines
    port = lines[0].split()[1]
    assert lines[0] == f"listening {port} True"
    assert lines[1] == f"accepted {got[0].decode()} 127.0.0.1:{port}"
    assert lines[2] == f"got {len(data)} {hashlib.sha256(data).hexdigest()} ok"
    assert lines[3] == "replied ok"
    assert got[1] == data[::-1] + b"!"


def test_udp_send_and_receive(guest: Path) -> None:
    received: list[tuple[bytes, Any]] = []

    class Echo(asyncio.DatagramProtocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def datagram_received(self, data: bytes, addr: Any) -> None:
            received.append((data, addr))
            self.transport.sendto(b"pong:" + data, addr)

    async def main() -> tuple[Any, list[str], int]:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
        port: int = transport.get_extra_info("sockname")[1]
        try:
            result, lines = await run_guest(guest, ["udp", str(port)])
        finally:
            transport.close()
        return result, lines, port

    result, lines, port = _run(main)
    assert result == Ok(None), lines
    assert [d for d, _ in received] == [b"ping", b"ping-connected"]
    assert received[0][1] != received[1][1]  # two sockets, two source ports
    assert lines == [
        "unbound-receive InvalidState",
        f"udp pong:ping 127.0.0.1:{port}",
        f"connected 127.0.0.1:{port} True",
        f"udp pong:ping-connected 127.0.0.1:{port}",
        "disconnected-send InvalidArgument",
        "too-large DatagramTooLarge",
    ]


def test_name_lookup(guest: Path) -> None:
    names = ["localhost", "127.0.0.1", "::1", "[::1]", "not a name!", ""]
    result, lines = _run(lambda: run_guest(guest, ["lookup", *names], lookup=True))
    assert result == Ok(None), lines
    local = lines[0].split()
    assert local[:2] == ["lookup", "localhost"] and "127.0.0.1" in local[2:]
    assert lines[1:] == [
        "lookup 127.0.0.1 127.0.0.1",
        "lookup ::1 0:0:0:0:0:0:0:1",
        "lookup [::1] 0:0:0:0:0:0:0:1",
        "lookup not a name! err:InvalidArgument",
        "lookup  err:InvalidArgument",
    ]


def test_network_not_allowed_is_access_denied(guest: Path) -> None:
    with socket.socket() as listener:  # something to refuse to reach
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        result, lines = _run(lambda: run_guest(guest, ["denied", str(port)], network=False))
    assert result == Ok(None), lines
    assert lines == [
        "tcp-bind AccessDenied",
        "udp-bind AccessDenied",
        "tcp-connect AccessDenied",
        "udp-send AccessDenied",
        "lookup localhost err:AccessDenied",
    ]


def test_wasmloom_run_inherit_network(guest: Path) -> None:
    """``-S inherit-network`` (in a comma list with Wasmtime's harmless keys) grants the
    network; without it the guest is refused."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = str(listener.getsockname()[1])
        cmd = [sys.executable, "-m", "wasmloom", "run"]

        def run(*opts: str) -> list[str]:
            r = subprocess.run(
                [*cmd, *opts, str(guest), "denied", port], capture_output=True, timeout=120
            )
            assert r.returncode == 0, r.stderr.decode()
            return r.stdout.decode().splitlines()

        assert run()[0] == "tcp-bind AccessDenied"
        allowed = run("-S", "p3,inherit-network", "-Sallow-ip-name-lookup")
        assert allowed[:2] == ["tcp-bind ok", "udp-bind ok"]
        assert allowed[2] == "tcp-connect ok"
        assert "127.0.0.1" in allowed[4]
        r = subprocess.run([*cmd, "-S", "bogus", str(guest)], capture_output=True, timeout=60)
        assert r.returncode == 2 and b"unknown -S option" in r.stderr


# --- the rules, host side (no guest) --------------------------------------------------------


def _host(network: bool = True) -> tuple[Store[Any], Any]:
    b = WasiCtxBuilder()
    if network:
        b.inherit_network()
    state = RunState(b.build())
    store: Store[Any] = Store(data=state)
    state.p3.bind(store)
    return store, state.p3.sockets


def _v4(port: int, ip: tuple[int, int, int, int] = (127, 0, 0, 1)) -> Any:
    return S.IpSocketAddressIpv4(S.Ipv4SocketAddress(port, ip))


def _v6(port: int, ip: tuple[int, ...] = (0, 0, 0, 0, 0, 0, 0, 1)) -> Any:
    return S.IpSocketAddressIpv6(S.Ipv6SocketAddress(port, 0, ip, 0))  # type: ignore[arg-type]


def _tag(r: Any) -> str:
    return "ok" if isinstance(r, Ok) else r.value.tag


def test_tcp_rules() -> None:
    store, host = _host()
    v6 = host.tcp_socket_create(S.IpAddressFamily.IPV6).value
    mapped = (0, 0, 0, 0, 0, 0xFFFF, 0x7F00, 1)
    assert _tag(v6.bind(_v4(0))) == "invalid-argument"  # the other family
    assert _tag(v6.bind(_v6(0, mapped))) == "invalid-argument"  # no dual stack
    assert _tag(v6.bind(_v6(0, (0xFF02, 0, 0, 0, 0, 0, 0, 1)))) == "invalid-argument"  # multicast
    sock = host.tcp_socket_create(S.IpAddressFamily.IPV4).value
    assert _tag(sock.get_local_address()) == "invalid-state"
    assert _tag(sock.set_listen_backlog_size(0)) == "invalid-argument"
    assert _tag(sock.set_receive_buffer_size(0)) == "invalid-argument"
    assert _tag(sock.set_keep_alive_count(0)) == "invalid-argument"
    assert _tag(sock.set_hop_limit(0)) == "invalid-argument"
    assert sock.set_send_buffer_size(1 << 16) == Ok(None)
    assert sock.get_send_buffer_size().value >= 1 << 15
    assert _tag(sock.bind(_v4(0))) == "ok"
    assert _tag(sock.bind(_v4(0))) == "invalid-state"
    other = host.tcp_socket_create(S.IpAddressFamily.IPV4).value
    accepting = other.listen()  # unbound: an ephemeral port
    assert _tag(accepting) == "ok"
    accepting.value.close()
    assert other.get_is_listening() and other.get_local_address().value.value.port != 0
    assert _tag(other.listen()) == "invalid-state"
    third = host.tcp_socket_create(S.IpAddressFamily.IPV4).value
    assert _tag(third.bind(other.get_local_address().value)) == "address-in-use"
    acc: Accessor[Any, Any] = Accessor(store)
    assert _tag(asyncio.run(third.connect(acc, _v4(0)))) == "invalid-argument"
    assert _tag(asyncio.run(third.connect(acc, _v4(80, (0, 0, 0, 0))))) == "invalid-argument"
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]  # bound, not listening: connecting is refused
    assert _tag(asyncio.run(third.connect(acc, _v4(port)))) == "connection-refused"
    closed.close()
    assert _tag(third.get_keep_alive_enabled()) == "invalid-state"  # after a failed connect
    for s in (v6, sock, other, third):
        s.drop()
    _, denied = _host(network=False)
    s2 = denied.tcp_socket_create(S.IpAddressFamily.IPV4).value
    assert _tag(s2.bind(_v4(0))) == "access-denied" and _tag(s2.listen()) == "access-denied"
    s2.drop()


def test_udp_rules() -> None:
    _, host = _host()
    sock = host.udp_socket_create(S.IpAddressFamily.IPV4).value
    assert _tag(sock.disconnect()) == "invalid-state"
    assert _tag(sock.connect(_v4(0))) == "invalid-argument"
    assert _tag(sock.connect(_v4(9, (0, 0, 0, 0)))) == "invalid-argument"
    assert _tag(sock.connect(_v4(9))) == "ok"  # binds implicitly
    local = sock.get_local_address().value
    assert local.value.port != 0 and sock.get_remote_address().value == _v4(9)
    assert _tag(sock.connect(_v4(10))) == "ok" and sock.get_remote_address().value == _v4(10)
    assert _tag(sock.disconnect()) == "ok"
    assert _tag(sock.get_remote_address()) == "invalid-state"
    assert sock.get_local_address().value.value.port == local.value.port
    assert _tag(sock.set_unicast_hop_limit(0)) == "invalid-argument"
    assert sock.set_unicast_hop_limit(7) == Ok(None) and sock.get_unicast_hop_limit() == Ok(7)
    sock.drop()


def test_error_codes_of_os_errors() -> None:
    assert error_code(ConnectionRefusedError(errno.ECONNREFUSED, "x")).tag == "connection-refused"
    assert error_code(OSError(errno.EADDRNOTAVAIL, "x")).tag == "address-not-bindable"
    assert error_code(OSError(errno.EPIPE, "x")).tag == "connection-broken"
    assert error_code(OSError(errno.EMSGSIZE, "x")).tag == "datagram-too-large"
    other = error_code(OSError(errno.ENOENT, "No such file"))
    assert other == S.ErrorCodeOther("No such file")


def test_tcp_streams_with_host_ends() -> None:
    """The send and receive streams also serve host readers and writers (no guest memory)."""
    data = os.urandom(200_000)

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.read())
        await writer.drain()
        writer.close()

    async def main() -> tuple[Any, ...]:
        store, host = _host()
        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        async with server:
            sock = host.tcp_socket_create(S.IpAddressFamily.IPV4).value
            port = server.sockets[0].getsockname()[1]
            connected = await sock.connect(Accessor(store), _v4(port))
            sent = sock.send(StreamReader.new(store, BytesProducer(data)))
            again = await sock.send(StreamReader.new(store, BytesProducer(b"x")))
            rx, done = sock.receive()
            # a host-created stream has no element type: chunks come as lists of ints
            got = b"".join([bytes(chunk) async for chunk in rx])
            rx2, done2 = sock.receive()
            rx2.close()
            result = (connected, await sent, again, got, await done, _tag(await done2))
            sock.drop()
            return result

    connected, sent, again, got, done, twice = _run(main)
    assert (connected, sent, done) == (Ok(None), Ok(None), Ok(None))
    assert _tag(again) == "invalid-state" and twice == "invalid-state"
    assert got == data
