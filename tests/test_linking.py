"""Nested components and linking against tests/guests/linking.wat.

The guest instantiates nested components (with outer aliases), imports and
exports instances, and imports a versioned WASI-style interface with a resource.
"""

from __future__ import annotations

from typing import Any

import pytest
from guest_util import component

from wasmloom import Linker, LinkError, Resource, ResourceType, Store
from wasmloom import types as T
from wasmloom.typing import u32


class Host:
    """A full set of host definitions for the guest; ``skip`` leaves one out."""

    def __init__(self, streams: str = "wasi:io/streams@0.2.4", skip: str = "") -> None:
        self.logged: list[str] = []
        self.written: list[tuple[Resource, bytes]] = []
        self.dropped: list[int] = []
        self.linker = Linker()
        if skip != "iface":
            self.linker.instance("my:pkg/iface@1.0.0").func_wrap("add", self.add)
        if skip != "log":
            self.linker.root().func_wrap("log", self.logged.append)
        s = self.linker.instance(streams)
        self.os: ResourceType | None = None
        if skip != "output-stream":
            self.os = s.resource("output-stream", dtor=self.dropped.append)
        s.func_wrap("open", lambda: Resource(self.os, 77, True))  # type: ignore[arg-type]
        s.func_wrap("write", self.write)

    @staticmethod
    def add(a: u32, b: u32) -> u32:
        return (a + b) & 0xFFFF_FFFF

    def write(self, s: Resource, data: bytes) -> int:
        self.written.append((s, data))
        return len(data) * 2

    def instantiate(self) -> tuple[Store[None], Any]:
        store: Store[None] = Store()
        return store, self.linker.instantiate(store, component("linking"))


def test_nested_instances_and_instance_exports() -> None:
    store, inst = Host().instantiate()
    assert inst.exports() == ["api", "quad", "sum", "shout"]
    assert inst.get_func("api", "double")(store, 21) == 42
    assert inst.get_func("quad")(store, 5) == 20
    assert inst.get_func("sum")(store, 2**32 - 1, 2) == 1
    assert inst.get_func("api", "missing") is None and inst.get_func("nope") is None


def test_versioned_interface_with_a_host_resource() -> None:
    host = Host()
    store, inst = host.instantiate()
    assert inst.get_func("shout")(store, "héllo") == 12
    assert host.logged == ["héllo"]
    ((stream, data),) = host.written
    assert data == "héllo".encode() and stream.rt is host.os and not stream.own
    assert host.dropped == [77]


def test_semver_compatible_definition_satisfies_the_import() -> None:
    store, inst = Host(streams="wasi:io/streams@0.2.9").instantiate()
    assert inst.get_func("shout")(store, "x") == 2


@pytest.mark.parametrize("version", ["0.3.0", "0.1.4", "1.0.0"])
def test_semver_incompatible_definition_is_rejected(version: str) -> None:
    with pytest.raises(LinkError, match=r"wasi:io/streams@0\.2\.4"):
        Host(streams=f"wasi:io/streams@{version}").instantiate()


def test_highest_compatible_version_wins() -> None:
    host = Host(streams="wasi:io/streams@0.2.1")
    newer = host.linker.instance("wasi:io/streams@0.2.7")
    newer.resource("output-stream", host.os)
    newer.func_wrap("open", lambda: Resource(host.os, 5, True))  # type: ignore[arg-type]
    newer.func_wrap("write", lambda s, d: 1000)
    store, inst = host.instantiate()
    assert inst.get_func("shout")(store, "x") == 1000
    assert host.dropped == [5]


@pytest.mark.parametrize(
    ("skip", "name"),
    [
        ("iface", "my:pkg/iface@1.0.0"),
        ("log", "log"),
        ("output-stream", "wasi:io/streams@0.2.4/output-stream"),
    ],
)
def test_missing_import_is_named(skip: str, name: str) -> None:
    with pytest.raises(LinkError, match=f"`{name}`"):
        Host(skip=skip).instantiate()


def test_wrong_function_type_is_rejected() -> None:
    host = Host(skip="log")
    host.linker.root().func_wrap("log", print, type=T.FuncType((("msg", T.U32),), None))
    with pytest.raises(LinkError, match="log"):
        host.instantiate()


def test_wrong_arity_is_rejected() -> None:
    host = Host(skip="iface")
    host.linker.instance("my:pkg/iface@1.0.0").func_wrap("add", lambda a: a)
    with pytest.raises(LinkError, match="add"):
        host.instantiate()


def test_wrong_annotation_is_rejected() -> None:
    host = Host(skip="iface")

    def add(a: str, b: u32) -> u32:
        return b

    host.linker.instance("my:pkg/iface@1.0.0").func_wrap("add", add)
    with pytest.raises(LinkError, match="parameter `a`"):
        host.instantiate()


def test_function_where_a_resource_is_expected_is_rejected() -> None:
    host = Host(skip="output-stream")
    host.linker.instance("wasi:io/streams@0.2.4").func_wrap("output-stream", lambda: 0)
    with pytest.raises(LinkError, match="output-stream"):
        host.instantiate()


def test_instance_where_a_function_is_expected_is_rejected() -> None:
    host = Host(skip="log")
    host.linker.instance("log")
    with pytest.raises(LinkError, match="log"):
        host.instantiate()


def test_duplicate_definitions_are_rejected() -> None:
    linker = Linker()
    linker.root().func_wrap("f", print)
    with pytest.raises(LinkError, match="already defined"):
        linker.root().func_wrap("f", print)


def test_component_instance_exports_link_into_another_component() -> None:
    store, first = Host().instantiate()
    linker = Linker()
    linker.instance("my:pkg/iface@1.0.0").define_func("add", first.get_func("sum"))
    host = Host(skip="iface")
    host.linker = linker
    linker.root().func_wrap("log", host.logged.append)
    s = linker.instance("wasi:io/streams@0.2.4")
    rt = s.resource("output-stream")
    s.func_wrap("open", lambda: Resource(rt, 1, True))
    s.func_wrap("write", lambda r, d: 0)
    second = linker.instantiate(store, component("linking"))
    assert second.get_func("quad")(store, 3) == 12


def test_a_component_lists_its_top_level_imports_and_exports() -> None:
    c = component("wasi_p3_hello")
    assert c.import_names() == ["wasi:cli/types@0.3.0", "wasi:cli/stdout@0.3.0"]
    assert c.export_names() == ["wasi:cli/run@0.3.0"]
