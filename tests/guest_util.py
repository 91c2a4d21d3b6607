"""Shared helpers for the tests that run the hand-written guests in tests/guests/."""

from __future__ import annotations

import functools
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wasmloom import Component, Instance, Linker, Store

GUESTS = Path(__file__).parent / "guests"


@functools.cache
def component(name: str) -> Component:
    """The guest ``tests/guests/<name>.wat``, loaded once per test session."""
    return Component.from_file(GUESTS / f"{name}.wat")


class ComponentGuest:
    """A store with one instance of the test guest ``name`` (no imports), whose
    exports are called by name: ``g("export", *args)``."""

    def __init__(self, name: str) -> None:
        self.store: Store[None] = Store()
        self.inst = Linker().instantiate(self.store, component(name))

    def __call__(self, export: str, *args: Any) -> Any:
        f = self.inst.get_func(export)
        assert f is not None, export
        return f(self.store, *args)


def host_imports(name: str) -> list[str]:
    """The names of the root-level function imports ``host-*`` of a guest's text."""
    return re.findall(r'\(import "(host-[a-z0-9-]+)" \(func', (GUESTS / f"{name}.wat").read_text())


class Recorder:
    """Host functions that record what the guest passed and return a chosen value.

    By default each function returns its argument (a tuple of them, for several).
    ``returns[name] = fn`` replaces the result with ``fn(*args)``.
    """

    def __init__(self) -> None:
        self.seen: dict[str, list[tuple[Any, ...]]] = {}
        self.returns: dict[str, Callable[..., Any]] = {}

    def func(self, name: str) -> Callable[..., Any]:
        def host(*args: Any) -> Any:
            self.seen.setdefault(name, []).append(args)
            fn = self.returns.get(name)
            if fn is not None:
                return fn(*args)
            return args[0] if len(args) == 1 else tuple(args)

        return host

    def last(self, name: str) -> tuple[Any, ...]:
        return self.seen[name][-1]


def instantiate_echo(name: str, rec: Recorder) -> tuple[Store[None], Instance]:
    """Instantiate guest ``name`` with every ``host-*`` import bound to ``rec``."""
    linker = Linker()
    for imp in host_imports(name):
        linker.root().func_wrap(imp, rec.func(imp))
    store: Store[None] = Store()
    return store, linker.instantiate(store, component(name))


def has_ipv6_loopback() -> bool:
    """Whether this machine can bind a socket to ``::1``."""
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False
