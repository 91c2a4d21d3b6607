"""Strings in every encoding, host <-> guest and component -> component.

Guest: tests/guests/strings.wat. Instance ``<enc>`` keeps strings in ``<enc>``
and calls the host; instance ``<e1>-to-<e2>`` is a component using ``<e1>``
calling one using ``<e2>``, so each call transcodes e1 -> e2 -> host -> e2 -> e1.
``raw`` returns the bytes the callee actually holds.
"""

from __future__ import annotations

from typing import Any

import pytest
from guest_util import component

from wasmloom import Instance, Linker, Store

ENCODINGS = ["utf8", "utf16", "compact"]
SAMPLES = [
    "",
    "hello, world",
    "café, naïve, ÿ\x80\xff",
    "€uro and ☃ snow",
    "astral 🎉𝄞😀",
    "mixed: a é € 🎉 z" * 50,
    "\0",
]


def encoded(s: str, enc: str) -> bytes:
    """The bytes a component with string encoding ``enc`` holds for ``s``."""
    if enc == "utf8":
        return s.encode("utf-8")
    if enc == "utf16":
        return s.encode("utf-16-le")
    try:
        return s.encode("latin-1")
    except UnicodeEncodeError:
        return s.encode("utf-16-le")


class Env:
    def __init__(self) -> None:
        self.seen: list[str] = []
        linker = Linker()
        linker.root().func_wrap("host-echo", self.host_echo)
        self.store: Store[None] = Store()
        self.inst: Instance = linker.instantiate(self.store, component("strings"))

    def host_echo(self, s: str) -> str:
        self.seen.append(s)
        return "<" + s[::-1] + ">"

    def call(self, instance: str, func: str, s: str) -> Any:
        f = self.inst.get_func(instance, func)
        assert f is not None
        return f(self.store, s)


@pytest.fixture(scope="module")
def env() -> Env:
    return Env()


@pytest.mark.parametrize("enc", ENCODINGS)
def test_host_and_guest_in_each_encoding(env: Env, enc: str) -> None:
    for s in SAMPLES:
        assert env.call(enc, "echo", s) == "<" + s[::-1] + ">"
        assert env.seen[-1] == s
        assert env.call(enc, "raw", s) == encoded(s, enc), (enc, s)


@pytest.mark.parametrize("dst", ENCODINGS)
@pytest.mark.parametrize("src", ENCODINGS)
def test_component_to_component_every_pair(env: Env, src: str, dst: str) -> None:
    inst = f"{src}-to-{dst}"
    for s in SAMPLES:
        assert env.call(inst, "echo", s) == "<" + s[::-1] + ">", (inst, s)
        assert env.seen[-1] == s
        assert env.call(inst, "raw", s) == encoded(s, dst), (inst, s)


def test_long_strings_cross_page_boundaries(env: Env) -> None:
    s = ("é" * 40_000) + "🎉" + ("x" * 40_000)
    for inst in ("compact-to-utf8", "utf8-to-compact", "utf16-to-compact", "compact-to-utf16"):
        assert env.call(inst, "echo", s) == "<" + s[::-1] + ">"
    latin = "ÿ" * 100_000
    assert env.call("utf8-to-compact", "raw", latin) == b"\xff" * 100_000


@pytest.mark.parametrize("enc", ENCODINGS)
def test_lone_surrogates_cannot_be_lowered(env: Env, enc: str) -> None:
    with pytest.raises(ValueError, match="lone surrogate"):
        env.call(enc, "echo", "bad \ud800")
    assert env.call(enc, "echo", "ok") == "<ko>"
