"""wasmloom.validate: wasm-tools verdicts, messages and the verdict caches."""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime

from wasmloom.errors import ValidationError
from wasmloom.validate import (
    cache_dir,
    clean_message,
    clear_memory_cache,
    validate_component,
    wasm_tools_version,
)

VALID = wasmtime.wat2wasm(
    """(component
      (core module $M (func (export "f") (result i32) (i32.const 1)))
      (core instance $m (instantiate $M))
      (func (export "f") (result u32) (canon lift (core func $m "f"))))"""
)
INVALID = wasmtime.wat2wasm(
    """(component
      (core module $M (func (export "f") (result i32) (i32.const 1)))
      (core instance $m (instantiate $M))
      (func (export "f") (result string) (canon lift (core func $m "f"))))"""
)


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    clear_memory_cache()
    return tmp_path / "cache" / "wasmloom" / "validate"


def test_valid_component_passes_and_is_cached_on_disk(private_cache: Path) -> None:
    assert cache_dir() == private_cache
    validate_component(bytes(VALID))
    files = list(private_cache.iterdir())
    assert len(files) == 1
    assert wasm_tools_version() in files[0].name
    assert files[0].read_text() == "ok"


def test_invalid_component_message_keeps_offset() -> None:
    with pytest.raises(ValidationError) as info:
        validate_component(bytes(INVALID))
    msg = str(info.value)
    assert msg.startswith("canonical option `memory` is required")
    assert msg.endswith(")") and "(at offset 0x" in msg
    assert "\n" not in msg


def test_core_module_is_validated_too() -> None:
    validate_component(bytes(wasmtime.wat2wasm('(module (func (export "f")))')))
    bad = wasmtime.wat2wasm("(module (func (result i32) (i64.const 0)))")
    with pytest.raises(ValidationError, match="type mismatch"):
        validate_component(bytes(bad))


def test_nested_namespace_names_stay_gated() -> None:
    nested = wasmtime.wat2wasm('(component (import "foo:bar:baz/qux" (func)))')
    with pytest.raises(ValidationError, match="not a valid extern name"):
        validate_component(bytes(nested))
    validate_component(bytes(wasmtime.wat2wasm('(component (import "foo:bar/qux" (func)))')))


def test_text_and_truncated_input_are_rejected_without_text_parsing() -> None:
    with pytest.raises(ValidationError, match="magic header"):
        validate_component(b"(component)")
    with pytest.raises(ValidationError, match="unexpected end-of-file"):
        validate_component(b"\x00as")
    with pytest.raises(ValidationError, match="unexpected end-of-file"):
        validate_component(b"\x00asm\x0d\x00\x01")


def test_disk_verdict_is_used_across_processes(private_cache: Path) -> None:
    validate_component(bytes(VALID))
    (entry,) = private_cache.iterdir()
    # A verdict on disk is trusted: forge one to prove it is read back.
    entry.write_text("invalid\nforged verdict")
    clear_memory_cache()
    with pytest.raises(ValidationError, match="forged verdict"):
        validate_component(bytes(VALID))
    # use_cache=False ignores both caches.
    validate_component(bytes(VALID), use_cache=False)


def test_invalid_verdict_is_cached_with_its_message(private_cache: Path) -> None:
    with pytest.raises(ValidationError) as first:
        validate_component(bytes(INVALID))
    clear_memory_cache()
    with pytest.raises(ValidationError) as second:
        validate_component(bytes(INVALID))
    assert str(first.value) == str(second.value)


def test_unwritable_cache_dir_is_tolerated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    validate_component(bytes(VALID))
    with pytest.raises(ValidationError):
        validate_component(bytes(INVALID))


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        (
            "error: type mismatch for import `b`\n"
            "resource types are not the same (ResourceId { globally_unique_id: 0, "
            "contextually_unique_id: 1 } vs. ResourceId { globally_unique_id: 0, "
            "contextually_unique_id: 0 }) (at offset 0x4f)\n",
            "type mismatch for import `b`: resource types are not the same (at offset 0x4f)",
        ),
        (
            "error: func 3 failed to validate\n\nCaused by:\n"
            "    0: type mismatch: expected i32 but nothing on stack (at offset 0x21)\n",
            "func 3 failed to validate: type mismatch: expected i32 but nothing on stack "
            "(at offset 0x21)",
        ),
        (
            "[2026-01-01T00:00:00Z WARN ] failed to parse DWARF information\n"
            "error: section out of order (at offset 0x1a)\n",
            "section out of order (at offset 0x1a)",
        ),
        (
            "error: unknown binary version:        0xd (at offset 0x4)\n",
            "unknown binary version: 0xd (at offset 0x4)",
        ),
    ],
)
def test_clean_message(stderr: str, expected: str) -> None:
    assert clean_message(stderr) == expected


def test_strong_uniqueness_follows_the_spec() -> None:
    """`a1` and `a-1` are strongly-unique (Explainer.md, name uniqueness), even though
    wasm-tools 1.262 rejects the pair; `a1` and `A1` are not."""
    import wasmtime

    from wasmloom.errors import ValidationError
    from wasmloom.validate import strongly_unique, validate_component

    ok = wasmtime.wat2wasm('(component (import "a1" (func)) (import "a-1" (func)))')
    validate_component(ok, use_cache=False)
    bad = wasmtime.wat2wasm('(component (import "a1" (func)) (import "A1" (func)))')
    with pytest.raises(ValidationError, match="conflicts"):
        validate_component(bad, use_cache=False)
    assert strongly_unique("[method]foo.bar", "[static]foo.baz")
    assert not strongly_unique("[method]foo.foo", "foo")
    assert not strongly_unique("[static]foo.bar", "[method]foo.BAR")
