"""What ``wasmloom serve`` does to spend less CPU per request, checked for its behaviour.

Garbage collection: the instances that go out of service are freed by the service's
own full collections, and ``wasmloom serve`` tunes the collector.

An instance (its store, the instance, their closures) forms reference cycles, which
only a full collection frees. With the young generation's threshold raised (a request
leaves no cycles behind), those would come rarely and retired instances would pile
up; the service collects after every ``collect_every`` of them instead.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from cpy_build import componentize_py
from serve_guest import asgi_call, guest
from test_serve import Server

from wasmloom.asgi import App
from wasmloom.wasi.serve import server as serve_server

pytestmark = componentize_py


@pytest.fixture(scope="module", autouse=True)
def real_stdio() -> Iterator[None]:
    """Guests inherit the process' stdio by file descriptor (pytest's capture has none)."""
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = sys.__stdin__, sys.__stdout__, sys.__stderr__
    yield
    sys.stdin, sys.stdout, sys.stderr = saved


def test_instances_out_of_service_are_collected_every_collect_every() -> None:
    app = App(guest(), max_instance_reuse=1)
    service = app.service
    service.collect_every = 2
    stores: list[weakref.ref[Any]] = []
    full: list[int] = []
    make = service._new_slot

    def new_slot(loop: asyncio.AbstractEventLoop) -> Any:
        slot = make(loop)
        stores.append(weakref.ref(slot.store))
        return slot

    service._new_slot = new_slot  # type: ignore[method-assign]

    def seen(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info["generation"] == 2:
            full.append(info["collected"])

    async def run() -> None:
        for i in range(6):
            body = b"x" * (i + 1)
            sent = await asgi_call(app, "/echo", body)
            assert b"".join(m.get("body", b"") for m in sent[1:]) == body
            await asyncio.sleep(0)  # the collection runs once the request's frames are gone

    gc.disable()  # only the service's own collections run
    gc.callbacks.append(seen)
    try:
        asyncio.run(run())
    finally:
        gc.callbacks.remove(seen)
        gc.enable()
    # six instances served one request each and went: three collections freed them
    assert len(full) == 3, full
    assert all(n > 0 for n in full), full
    # (the instances made for spare are alive; the last one out waits for the next round)
    assert sum(r() is None for r in stores) >= 5, [r() for r in stores]


def test_serve_tunes_the_collector() -> None:
    app = App(guest())
    before = gc.get_threshold()
    try:
        serve_server._settle_heap(app.service)
        assert gc.get_threshold()[0] == serve_server._GEN0_THRESHOLD
        assert gc.get_freeze_count() > 0
        assert app.service.collect_every == serve_server._COLLECT_EVERY
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_a_request_body_that_stalls_runs_into_the_body_timeout() -> None:
    """A body's reads are bounded by ``--body-timeout`` (between two reads the guest waits
    on): the guest sees an error and the connection ends, well before the client gives up."""
    srv = Server(guest(), "--body-timeout", "0.5")
    try:
        with srv.connect() as s:
            s.sendall(b"POST /echo HTTP/1.1\r\nhost: h\r\ncontent-length: 100\r\n\r\n0123456789")
            s.settimeout(10)
            t0 = time.monotonic()
            got = b""
            try:
                while chunk := s.recv(65536):
                    got += chunk
            except (TimeoutError, ConnectionResetError):
                pass
            took = time.monotonic() - t0
        assert 0.4 <= took < 5, (took, got)
    finally:
        assert srv.stop() == 0
    assert "Traceback" not in "".join(srv.lines), srv.lines
