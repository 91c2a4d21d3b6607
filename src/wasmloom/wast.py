"""A runner for the Component Model's ``.wast`` reference tests.

``wasm-tools json-from-wast`` turns a ``.wast`` file into a JSON list of
commands plus one binary (or ``.wat`` text, for text-malformed cases) per
module; :func:`run_wast` then executes those commands against wasmloom.
Components go through the public host API (``Component``, ``Linker``,
``Store``); core modules through :mod:`wasmloom.core` (``register`` makes a core
instance's exports importable by name).

A named instance (``(component $foo ...)``, ``(module $foo ...)``, or
``(component instance $foo $def)``) is registered under its name, as
Wasmtime's runner does: later components may import ``"foo"`` (an instance
of its exports) and later core modules ``"foo" "f"``. A later instance of the
same name shadows the earlier one. Wasmtime's runner passes on a component's
core modules and resource types; here every export is, functions included,
since all components of a file share one store.

A failing command is recorded (:class:`Failure`) and the run goes on with the
next command; a module that failed to load stays in place as a broken entry,
so later commands that use it fail too, with the load error as the reason.

JSON values (the ``args`` of an invoke and the ``expected`` results) are
converted with :func:`json_to_value` and compared with :func:`value_matches`,
following the public Python value mapping (records as ``Record``/dicts,
variants as ``Variant``, results as ``Ok``/``Err`` and so on).
"""

from __future__ import annotations

import enum
import json
import math
import struct
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wasmloom import core
from wasmloom.binary.decoder import is_core_module
from wasmloom.errors import DecodeError, LinkError, Trap, ValidationError, WasmloomError
from wasmloom.host.component import Component
from wasmloom.host.instance import Instance
from wasmloom.host.linker import Linker
from wasmloom.host.store import Store
from wasmloom.validate import validate_component, wasm_tools_executable
from wasmloom.values import Err, Ok, Some, Variant, py_name

__all__ = [
    "Failure",
    "SkipList",
    "WastResult",
    "expected_trap_text",
    "json_to_value",
    "run_wast",
    "show_json_value",
    "value_matches",
]

# --- results ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed command of a ``.wast`` file."""

    file: str
    line: int
    command: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.command}: {self.message}"


@dataclass(slots=True)
class WastResult:
    """The outcome of running one ``.wast`` file.

    ``commands`` counts the commands executed. ``skipped`` is the reason the
    file was not run at all (skip list, or ``json-from-wast`` rejected it);
    a skipped file has no commands and no failures.
    """

    path: str
    commands: int = 0
    failures: list[Failure] = field(default_factory=list)
    skipped: str | None = None
    passed_commands: list[tuple[int, str]] = field(default_factory=list)
    skipped_commands: list[tuple[int, str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the file ran and no command failed."""
        return self.skipped is None and not self.failures


class SkipList:
    """Files not to run, each with a reason.

    The file format is the component-model repository's ``test/nyi.txt``: one
    path per line, relative to the list's own directory; blank lines and
    lines starting with ``#`` are ignored.
    """

    def __init__(self, entries: Mapping[Path, str] | None = None) -> None:
        self._entries: dict[Path, str] = {p.resolve(): r for p, r in (entries or {}).items()}

    @classmethod
    def load(cls, list_file: str | Path) -> SkipList:
        list_path = Path(list_file)
        base = list_path.parent
        entries: dict[Path, str] = {}
        for raw in list_path.read_text(encoding="utf-8").splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            entries[base / line] = f"listed in {list_path.name}"
        return cls(entries)

    def reason_for(self, path: str | Path) -> str | None:
        """The reason ``path`` is skipped, or ``None`` if it should run."""
        return self._entries.get(Path(path).resolve())

    def __len__(self) -> int:
        return len(self._entries)


# --- JSON values ---------------------------------------------------------------------------

_INT_RANGES: dict[str, tuple[int, int]] = {
    "s8": (-(2**7), 2**7 - 1),
    "u8": (0, 2**8 - 1),
    "s16": (-(2**15), 2**15 - 1),
    "u16": (0, 2**16 - 1),
    "s32": (-(2**31), 2**31 - 1),
    "u32": (0, 2**32 - 1),
    "s64": (-(2**63), 2**63 - 1),
    "u64": (0, 2**64 - 1),
}

_CORE_INT_BITS = {"i32": 32, "i64": 64}


def _float_from_json(kind: str, text: str) -> float:
    """Decode a ``f32``/``f64`` JSON value: the IEEE bit pattern as decimal, or ``nan:*``."""
    if text.startswith("nan"):
        return math.nan
    bits = int(text)
    if kind in ("f32",):
        return float(struct.unpack("<f", struct.pack("<I", bits & 0xFFFFFFFF))[0])
    return float(struct.unpack("<d", struct.pack("<Q", bits & 0xFFFFFFFFFFFFFFFF))[0])


def _float_bits(kind: str, x: float) -> int:
    if kind == "f32":
        return int(struct.unpack("<I", struct.pack("<f", x))[0])
    return int(struct.unpack("<Q", struct.pack("<d", x))[0])


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def json_to_value(v: Mapping[str, Any]) -> Any:
    """Convert one ``json-from-wast`` value into the Python value passed to a function.

    Records become dicts keyed by label, enums their label ``str``, flags a
    list of label strs; variants, results and nested options use the classes
    of ``wasmloom.values``. A non-empty ``list`` of ``u8`` becomes ``bytes``.
    """
    kind = v["type"]
    value: Any = v.get("value")
    if kind == "bool":
        return bool(value)
    if kind in _INT_RANGES:
        return int(value)
    if kind in _CORE_INT_BITS:
        return _signed(int(value), _CORE_INT_BITS[kind])
    if kind in ("f32", "f64"):
        return _float_from_json(kind, str(value))
    if kind in ("char", "string"):
        return str(value)
    if kind == "list":
        items = list(value or [])
        if items and all(item["type"] == "u8" for item in items):
            return bytes(int(item["value"]) for item in items)
        return [json_to_value(item) for item in items]
    if kind == "tuple":
        return tuple(json_to_value(item) for item in value or [])
    if kind == "record":
        return {label: json_to_value(item) for label, item in value or []}
    if kind == "variant":
        payload = value.get("payload") if isinstance(value, Mapping) else None
        case = value["case"] if isinstance(value, Mapping) else value
        return Variant(case, None if payload is None else json_to_value(payload))
    if kind == "enum":
        return str(value)
    if kind == "flags":
        return [str(label) for label in value or []]
    if kind == "option":
        if value is None:
            return None
        inner = json_to_value(value)
        return Some(inner) if value["type"] == "option" else inner
    if kind == "result":
        (case, payload), *_ = dict(value).items()
        box = Ok if case.lower() == "ok" else Err
        return box(None if payload is None else json_to_value(payload))
    raise ValueError(f"unsupported JSON value type {kind!r}")


def _attr(obj: Any, label: str) -> tuple[bool, Any]:
    """Field ``label`` of a record value: an attribute (``-`` as ``_``) or a dict key."""
    if isinstance(obj, Mapping):
        if label in obj:
            return True, obj[label]
        return False, None
    name = label.replace("-", "_")
    if hasattr(obj, name):
        return True, getattr(obj, name)
    return False, None


def _flag_member_name(label: str) -> str:
    """The ``enum.Flag`` member name of a flags label, as ``wasmloom.values`` names them."""
    name = py_name(label)
    return name + "_" if name == "mro" else name


def _flag_names(actual: Any) -> set[str] | None:
    """Member names set in a flags value (an ``enum.Flag``, or an iterable of labels)."""
    if isinstance(actual, enum.Flag):
        return {str(m.name) for m in type(actual) if m in actual and m.value}
    if isinstance(actual, set | frozenset | list | tuple) and all(
        isinstance(x, str) for x in actual
    ):
        return {_flag_member_name(x) for x in actual}
    return None


def value_matches(actual: Any, expected: Mapping[str, Any]) -> bool:
    """True when the Python value ``actual`` equals the JSON value ``expected``.

    Floats compare by bit pattern (so ``-0.0`` differs from ``0.0``), except
    that an expected NaN matches any NaN.
    """
    kind = expected["type"]
    value: Any = expected.get("value")
    if kind == "bool":
        return isinstance(actual, bool) and actual == value
    if kind in _INT_RANGES:
        return isinstance(actual, int) and not isinstance(actual, bool) and actual == int(value)
    if kind in _CORE_INT_BITS:
        bits = _CORE_INT_BITS[kind]
        return (
            isinstance(actual, int)
            and not isinstance(actual, bool)
            and _signed(actual, bits) == _signed(int(value), bits)
        )
    if kind in ("f32", "f64"):
        if not isinstance(actual, float | int) or isinstance(actual, bool):
            return False
        want = _float_from_json(kind, str(value))
        if math.isnan(want):
            return math.isnan(actual)
        return _float_bits(kind, float(actual)) == _float_bits(kind, want)
    if kind in ("char", "string"):
        return isinstance(actual, str) and actual == value
    if kind in ("list", "tuple"):
        items = list(value or [])
        if kind == "tuple" and not isinstance(actual, tuple):
            return False
        if kind == "list" and not isinstance(actual, list | tuple | bytes | bytearray):
            return False
        seq = list(actual)
        return len(seq) == len(items) and all(
            value_matches(a, e) for a, e in zip(seq, items, strict=True)
        )
    if kind == "record":
        if isinstance(actual, str | bytes | int | float | list | tuple) or actual is None:
            return False
        for label, item in value or []:
            found, got = _attr(actual, label)
            if not found or not value_matches(got, item):
                return False
        return True
    if kind == "variant":
        case = value["case"] if isinstance(value, Mapping) else value
        payload = value.get("payload") if isinstance(value, Mapping) else None
        if getattr(actual, "tag", None) != case:
            return False
        got = getattr(actual, "value", None)
        return got is None if payload is None else value_matches(got, payload)
    if kind == "enum":
        if isinstance(actual, enum.Enum):
            return bool(actual.value == value)
        return isinstance(actual, str) and actual == value
    if kind == "flags":
        names = _flag_names(actual)
        return names is not None and names == {_flag_member_name(str(x)) for x in value or []}
    if kind == "option":
        if value is None:
            return actual is None
        if actual is None:
            return False
        if value["type"] == "option":
            return isinstance(actual, Some) and value_matches(actual.value, value)
        return value_matches(actual, value)
    if kind == "result":
        (case, payload), *_ = dict(value).items()
        box: type[Ok[Any] | Err[Any]] = Ok if case.lower() == "ok" else Err
        if not isinstance(actual, box):
            return False
        got = getattr(actual, "value", None)
        return got is None if payload is None else value_matches(got, payload)
    raise ValueError(f"unsupported JSON value type {kind!r}")


def show_json_value(v: Mapping[str, Any] | None) -> str:
    """Render a JSON value compactly, WAVE-like, for messages."""
    if v is None:
        return "none"
    kind = v["type"]
    value: Any = v.get("value")
    if kind in ("f32", "f64"):
        x = _float_from_json(kind, str(value))
        return f"{kind} {x!r}"
    if kind in ("string", "char"):
        return json.dumps(value, ensure_ascii=False)
    if kind in ("list", "tuple"):
        inner = ", ".join(show_json_value(x) for x in value or [])
        return f"[{inner}]" if kind == "list" else f"({inner})"
    if kind == "record":
        return "{" + ", ".join(f"{k}: {show_json_value(x)}" for k, x in value or []) + "}"
    if kind == "variant":
        case = value["case"] if isinstance(value, Mapping) else value
        payload = value.get("payload") if isinstance(value, Mapping) else None
        return str(case) if payload is None else f"{case}({show_json_value(payload)})"
    if kind == "enum":
        return str(value)
    if kind == "flags":
        return "{" + ", ".join(map(str, value or [])) + "}"
    if kind == "option":
        return "none" if value is None else f"some({show_json_value(value)})"
    if kind == "result":
        (case, payload), *_ = dict(value).items()
        name = "ok" if case.lower() == "ok" else "err"
        return name if payload is None else f"{name}({show_json_value(payload)})"
    return f"{kind} {value}"


# --- modules ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Definition:
    """A compiled module or component, or the error that prevented compiling it."""

    core: bool
    compiled: Any = None
    error: str | None = None


@dataclass(slots=True)
class _Instance:
    """An instance (core or component), or the error that prevented creating it."""

    core: bool
    instance: Any = None
    error: str | None = None
    skip: str | None = None


class _CommandFailed(Exception):
    """Raised inside the runner to fail the current command with a message."""


class _CommandSkipped(Exception):
    """Raised inside the runner to skip the current command, with the reason."""


# Test cases written for a feature the spec has since removed: skipped, with the reason.
_REMOVED_FEATURES = {
    "historically accepted as `cancellable`": (
        "uses the `cancellable` immediate, removed from the spec by component-model PR #716"
    ),
}


def _removed_feature(message: str) -> str | None:
    for needle, reason in _REMOVED_FEATURES.items():
        if needle in message:
            return reason
    return None


def _describe_exc(e: BaseException) -> str:
    if isinstance(e, WasmloomError):
        return f"{type(e).__name__}: {e}"
    return f"internal error: {type(e).__name__}: {e}"


class _Runner:
    """Executes the commands of one ``json-from-wast`` output."""

    def __init__(self, path: str, wasm_dir: Path, result: WastResult) -> None:
        self.path = path
        self.wasm_dir = wasm_dir
        self.result = result
        self.definitions: dict[str, _Definition] = {}
        self.instances: dict[str, _Instance] = {}
        self.current: _Instance | None = None
        self.registered: dict[str, _Instance] = {}
        #: named component instances, importable by later components under their names
        self.component_exports: dict[str, Instance] = {}
        self._store: Any = None
        self._core_store: core.CoreStore | None = None
        #: what `register` made importable by core modules: (module, name) -> extern
        self.core_exports: dict[tuple[str, str], core.CoreExtern] = {}

    # --- stores -----------------------------------------------------------------

    @property
    def store(self) -> Any:
        if self._store is None:
            self._store = Store()
        return self._store

    @property
    def core_store(self) -> core.CoreStore:
        if self._core_store is None:
            self._core_store = core.CoreStore()
        return self._core_store

    # --- loading ----------------------------------------------------------------------

    def read_module(self, cmd: Mapping[str, Any]) -> bytes:
        """The binary of a module command; ``.wat`` text is converted (errors propagate)."""
        path: Path = self.wasm_dir / str(cmd["filename"])
        if cmd.get("module_type") == "text" or path.suffix == ".wat":
            return core.wat2wasm(path.read_text(encoding="utf-8"))
        return path.read_bytes()

    def compile(self, data: bytes) -> _Definition:
        """Validate and compile a binary; raises ValidationError/DecodeError if bad."""
        if is_core_module(data):
            validate_component(data)
            try:
                return _Definition(
                    core=True, compiled=core.compile_module(core.default_engine(), data)
                )
            except ValidationError as e:
                raise ValidationError(str(e).splitlines()[0]) from e
        return _Definition(core=False, compiled=Component.from_bytes(data))

    def instantiate(self, definition: _Definition) -> _Instance:
        """Instantiate; Trap/LinkError (or wasmtime's errors) propagate."""
        if definition.error is not None:
            raise _CommandFailed(definition.error)
        if definition.core:
            module: core.CoreModule = definition.compiled
            imports = []
            for mod, name, _ in module.type.imports:
                item = self.core_exports.get((mod, name))
                if item is None:
                    raise LinkError(f"unknown import: `{mod}::{name}` has not been defined")
                imports.append(item)
            return _Instance(core=True, instance=core.instantiate(self.core_store, module, imports))
        linker = Linker()
        for name, registered in self.component_exports.items():
            linker.root().define_instance(name, registered)
        return _Instance(core=False, instance=linker.instantiate(self.store, definition.compiled))

    def register_instance(self, name: str, inst: _Instance) -> None:
        """Make a named instance's exports importable under ``name`` (shadowing any before)."""
        if inst.core:
            stale = [key for key in self.core_exports if key[0] == name]
            for key in stale:
                del self.core_exports[key]
            for export, item in inst.instance.exports.items():
                self.core_exports[(name, export)] = item
        else:
            self.component_exports[name] = inst.instance

    # --- invoking ----------------------------------------------------------------------

    def target(self, action: Mapping[str, Any]) -> _Instance:
        name = action.get("module")
        if name is not None:
            inst = self.instances.get(name)
            if inst is None:
                raise _CommandFailed(f"no instance named {name!r}")
        else:
            if self.current is None:
                raise _CommandFailed("no module instantiated yet")
            inst = self.current
        if inst.skip is not None:
            raise _CommandSkipped(inst.skip)
        if inst.error is not None:
            raise _CommandFailed(f"module not available: {inst.error}")
        return inst

    def invoke(self, action: Mapping[str, Any]) -> list[Any]:
        """Run an action; return its results as a list (empty for no result)."""
        if action.get("type") != "invoke":
            raise _CommandFailed(f"unsupported action type {action.get('type')!r}")
        inst = self.target(action)
        name = action["field"]
        try:
            args = [json_to_value(a) for a in action.get("args", [])]
        except (ValueError, KeyError, RuntimeError) as e:
            raise _CommandFailed(f"cannot convert arguments: {e}") from e
        if inst.core:
            func = inst.instance.exports.get(name)
            if not isinstance(func, core.CoreFunc):
                raise _CommandFailed(f"no exported function {name!r}")
            out = func.call(*args)
            if out is None:
                return []
            return list(out) if isinstance(out, list | tuple) else [out]
        func = inst.instance.get_func(name)
        if func is None:
            raise _CommandFailed(f"no exported function {name!r}")
        out = func(self.store, *args)
        has_result = getattr(func.type, "result", None) is not None
        return [out] if has_result else []

    # --- commands ---------------------------------------------------------------------------

    def run(self, commands: Iterable[Mapping[str, Any]]) -> None:
        for cmd in commands:
            self.result.commands += 1
            kind = str(cmd.get("type"))
            line = int(cmd.get("line", 0))
            handler: Callable[[Mapping[str, Any]], None] | None = getattr(self, "cmd_" + kind, None)
            try:
                if handler is None:
                    raise _CommandFailed(f"unsupported command {kind!r}")
                handler(cmd)
            except _CommandSkipped as e:
                self.result.skipped_commands.append((line, kind, str(e)))
            except _CommandFailed as e:
                self.fail(line, kind, str(e))
            except Exception as e:
                self.fail(line, kind, _describe_exc(e))
            else:
                self.result.passed_commands.append((line, kind))

    def fail(self, line: int, kind: str, message: str) -> None:
        self.result.failures.append(Failure(self.path, line, kind, message))

    def cmd_module(self, cmd: Mapping[str, Any]) -> None:
        name = cmd.get("name")
        try:
            definition = self.compile(self.read_module(cmd))
            if name is not None:
                self.definitions[name] = definition
            inst = self.instantiate(definition)
        except Exception as e:
            message = str(e) if isinstance(e, _CommandFailed) else _describe_exc(e)
            skip = _removed_feature(message)
            broken = _Instance(core=False, error=message, skip=skip)
            self.current = broken
            if name is not None:
                self.instances[name] = broken
                self.definitions.setdefault(name, _Definition(core=False, error=message))
            if skip is not None:
                raise _CommandSkipped(skip) from e
            raise _CommandFailed(message) from e
        self.current = inst
        if name is not None:
            self.instances[name] = inst
            self.register_instance(name, inst)

    def cmd_module_definition(self, cmd: Mapping[str, Any]) -> None:
        name = cmd.get("name")
        try:
            definition = self.compile(self.read_module(cmd))
        except Exception as e:
            if name is not None:
                self.definitions[name] = _Definition(core=False, error=_describe_exc(e))
            raise
        if name is not None:
            self.definitions[name] = definition
        if definition.error is not None:
            raise _CommandFailed(definition.error)

    def cmd_module_instance(self, cmd: Mapping[str, Any]) -> None:
        module = cmd.get("module")
        instance_name = cmd.get("instance")
        definition = self.definitions.get(module) if module is not None else None
        try:
            if definition is None:
                raise _CommandFailed(f"no module definition named {module!r}")
            inst = self.instantiate(definition)
        except Exception as e:
            message = str(e) if isinstance(e, _CommandFailed) else _describe_exc(e)
            broken = _Instance(core=False, error=message)
            self.current = broken
            if instance_name is not None:
                self.instances[instance_name] = broken
            raise _CommandFailed(message) from e
        self.current = inst
        if instance_name is not None:
            self.instances[instance_name] = inst
            self.register_instance(instance_name, inst)

    def cmd_register(self, cmd: Mapping[str, Any]) -> None:
        inst = self.target({"module": cmd.get("name")})
        if not inst.core:
            raise _CommandFailed("register of component instances is not supported")
        for export, item in inst.instance.exports.items():
            self.core_exports[(cmd["as"], export)] = item
        self.registered[cmd["as"]] = inst

    def cmd_action(self, cmd: Mapping[str, Any]) -> None:
        self.invoke(cmd["action"])

    def cmd_assert_return(self, cmd: Mapping[str, Any]) -> None:
        try:
            results = self.invoke(cmd["action"])
        except Trap as e:
            raise _CommandFailed(f"unexpected trap: {e}") from e
        expected = list(cmd.get("expected", []))
        if len(results) != len(expected) or not all(
            value_matches(a, e) for a, e in zip(results, expected, strict=True)
        ):
            want = ", ".join(show_json_value(e) for e in expected) or "no result"
            got = ", ".join(repr(r) for r in results) or "no result"
            raise _CommandFailed(f"expected {want}, got {got}")

    def _expect_trap(self, run: Callable[[], object], text: str, what: str) -> None:
        text = expected_trap_text(text)
        try:
            run()
        except Trap as e:
            if text not in str(e):
                raise _CommandFailed(f"trap message {str(e)!r} does not contain {text!r}") from e
            return
        raise _CommandFailed(f"expected a trap containing {text!r}, but {what}")

    def cmd_assert_trap(self, cmd: Mapping[str, Any]) -> None:
        self._expect_trap(lambda: self.invoke(cmd["action"]), cmd.get("text", ""), "it returned")

    def cmd_assert_exhaustion(self, cmd: Mapping[str, Any]) -> None:
        self.cmd_assert_trap(cmd)

    def _expect_bad(self, cmd: Mapping[str, Any], what: str) -> None:
        try:
            self.compile(self.read_module(cmd))
        except (ValidationError, DecodeError):
            return
        raise _CommandFailed(f"expected a {what} module ({cmd.get('text', '')!r}), but it loaded")

    def cmd_assert_invalid(self, cmd: Mapping[str, Any]) -> None:
        self._expect_bad(cmd, "invalid")

    def cmd_assert_malformed(self, cmd: Mapping[str, Any]) -> None:
        self._expect_bad(cmd, "malformed")

    def cmd_assert_uninstantiable(self, cmd: Mapping[str, Any]) -> None:
        definition = self.compile(self.read_module(cmd))
        self._expect_trap(
            lambda: self.instantiate(definition), cmd.get("text", ""), "it instantiated"
        )

    def cmd_assert_unlinkable(self, cmd: Mapping[str, Any]) -> None:
        definition = self.compile(self.read_module(cmd))
        try:
            self.instantiate(definition)
        except LinkError:
            return
        raise _CommandFailed("expected a link error, but it instantiated")


def expected_trap_text(text: str) -> str:
    """The part of an expected trap message that wasmloom's message must contain.

    A leading ``"wasm trap: "`` is an artefact of Wasmtime's message format
    and is not part of the message itself.
    """
    prefix = "wasm trap: "
    return text[len(prefix) :] if text.startswith(prefix) else text


# --- entry point -----------------------------------------------------------------------------


def json_from_wast(path: str | Path, out_dir: Path) -> tuple[list[dict[str, Any]] | None, str]:
    """Convert ``path`` with ``wasm-tools json-from-wast`` into ``out_dir``.

    Returns ``(commands, "")``, or ``(None, reason)`` when the tool rejects the file.
    """
    out_json = out_dir / "commands.json"
    proc = subprocess.run(
        [
            wasm_tools_executable(),
            "json-from-wast",
            str(path),
            "-o",
            str(out_json),
            "--wasm-dir",
            str(out_dir),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        reason = lines[0] if lines else f"exit status {proc.returncode}"
        if reason.startswith("error:"):
            reason = reason[len("error:") :].strip()
        return None, f"json-from-wast failed: {reason}"
    data = json.loads(out_json.read_text(encoding="utf-8"))
    return list(data.get("commands", [])), ""


def run_wast(path: str | Path, *, skip_list: SkipList | None = None) -> WastResult:
    """Run every command of the ``.wast`` file at ``path``.

    Never raises for problems in the file or in the runtime under test: they
    become :class:`Failure` entries, or ``skipped`` when the whole file cannot
    be converted or is on ``skip_list``.
    """
    result = WastResult(path=str(path))
    if skip_list is not None:
        reason = skip_list.reason_for(path)
        if reason is not None:
            result.skipped = reason
            return result
    with tempfile.TemporaryDirectory(prefix="wasmloom-wast-") as tmp:
        commands, reason = json_from_wast(path, Path(tmp))
        if commands is None:
            result.skipped = reason
            return result
        _Runner(str(path), Path(tmp), result).run(commands)
    return result
