"""Which wasi:http export a component serves, and the WASI a service links for it."""

from __future__ import annotations

import re
from typing import Any

from wasmloom.host.component import Component
from wasmloom.host.linker import Linker
from wasmloom.wasi.p2 import http as p2http
from wasmloom.wasi.p3 import http as wh
from wasmloom.wasi.p3.host import add_to_linker as p3_add_to_linker
from wasmloom.wasi.run import link_wasi

__all__ = ["find_handler", "is_p2", "link"]

_HANDLER_RE = re.compile(r"^wasi:http/handler@0\.3\.\d+(?:-.*)?$")
_HANDLER_P2_RE = re.compile(r"^wasi:http/incoming-handler@0\.2\.\d+(?:-.*)?$")


def find_handler(component: Component) -> str | None:
    """The component's ``wasi:http/handler@0.3.x`` export, else its
    ``wasi:http/incoming-handler@0.2.x`` one."""
    names = component.export_names()
    p3 = [n for n in names if _HANDLER_RE.match(n)]
    p2 = [n for n in names if _HANDLER_P2_RE.match(n)]
    found = p3 or p2
    return found[0] if found else None


def is_p2(export: str) -> bool:
    return _HANDLER_P2_RE.match(export) is not None


def link(linker: Linker, cli: bool, p2: bool = False) -> bool:
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
