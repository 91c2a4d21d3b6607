"""WASI 0.1 (``wasi_snapshot_preview1``): running ``wasm32-wasip1`` core modules.

Most WASI programs in the wild are still WASI 0.1 core modules (Rust's and
Zig's ``wasm32-wasip1``, C through wasi-libc, AssemblyScript, TinyGo).
wasmloom runs them on the WASI 0.1 implementation that wasmtime embeds, in a
wasmloom :class:`~wasmloom.Store`, so its limits, fuel, deadline and
interrupt apply as for components::

    from wasmloom.wasi import p1

    out = bytearray()
    status = p1.run(
        "app.wasm",
        p1.config(args=["app", "--flag"], env={"LANG": "C"}, dirs=[("data", "/data")],
                  stdin=b"input", stdout=out, stderr=p1.INHERIT),
    )
    print(status, bytes(out))

- :func:`config` builds a :class:`WasiP1Config`: arguments (``args[0]`` is
  the program name), environment (``inherit_env`` first, then ``env``),
  preopened directories ``(host, guest)`` or ``(host, guest, readonly)``.
- stdin: ``None`` (empty), :data:`INHERIT` (the process's), ``bytes``, a
  path, a binary file object (a pipe or other stream is read by the guest
  as it goes; any other file object is read up front), or a file descriptor.
- stdout and stderr: ``None`` (discarded), :data:`INHERIT`, a path
  (created or truncated), a ``bytearray`` (appended to), a file object
  (written to; text files get the bytes through their ``buffer``), a file
  descriptor (a pipe, say), or a callable taking each written ``bytes``.
  Writes reach them while the guest runs, from one of wasmtime's threads; an
  exception they raise fails that write (EIO) and is re-raised once the guest
  returns.
- :func:`run` runs a command (its ``_start``) and returns its exit status: 0
  when ``_start`` returns, the code given to ``proc_exit`` otherwise. A trap
  raises :class:`~wasmloom.Trap` (the command line reports it and exits
  134); another error wasmtime reports (``proc_exit`` with a status outside
  ``0..126``) raises :class:`~wasmloom.WasmloomError`.
- :func:`instantiate` gives a :class:`WasiP1Instance` (its ``_initialize``
  run, for reactors), whose :meth:`~WasiP1Instance.call` calls any export
  with numbers; ``proc_exit`` raises :class:`WasiP1Exit`.

Imports other than WASI 0.1's are refused with a :class:`~wasmloom.LinkError`
naming them, unless ``trap_unknown_imports`` stubs them with functions that
trap when called. Not available: the older ``wasi_unstable`` snapshot
(wasmtime's embedding API does not provide it).
"""

from __future__ import annotations

import io
import math
import os
import stat
import struct
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import IO, Any

from wasmloom.host.module import (
    INHERIT,
    Inherit,
    Module,
    Number,
    OutputSink,
    WasiP1Config,
    WasiP1Exit,
    WasiP1Instance,
    instantiate_wasip1,
)
from wasmloom.host.store import Store

__all__ = [
    "INHERIT",
    "Inherit",
    "Module",
    "Number",
    "Output",
    "Stdin",
    "WasiP1Config",
    "WasiP1Exit",
    "WasiP1Instance",
    "config",
    "format_number",
    "instantiate",
    "parse_invoke",
    "parse_number",
    "run",
]

#: What :func:`config` takes for stdin (see the module docstring).
Stdin = Inherit | bytes | bytearray | memoryview | str | os.PathLike[str] | IO[Any] | int | None
#: What :func:`config` takes for stdout and stderr.
Output = Inherit | str | os.PathLike[str] | bytearray | IO[Any] | int | OutputSink | None

Preopen = tuple[str, str] | tuple[str, str, bool]


def config(
    *,
    args: Sequence[str] = (),
    env: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    inherit_env: bool = False,
    dirs: Iterable[Preopen] = (),
    stdin: Stdin = None,
    stdout: Output = None,
    stderr: Output = None,
    inherit_network: bool = False,
    allow_ip_name_lookup: bool = False,
) -> WasiP1Config:
    """A :class:`WasiP1Config` from Python objects (see the module docstring)."""
    merged: dict[str, str] = dict(os.environ) if inherit_env else {}
    merged.update(env.items() if isinstance(env, Mapping) else env)
    preopens = [(str(d[0]), str(d[1]), bool(d[2]) if len(d) > 2 else False) for d in dirs]
    return WasiP1Config(
        args=list(args),
        env=list(merged.items()),
        preopens=preopens,
        stdin=_stdin(stdin),
        stdout=_output(stdout, "stdout"),
        stderr=_output(stderr, "stderr"),
        inherit_network=inherit_network,
        allow_ip_name_lookup=allow_ip_name_lookup,
    )


def _streams_by_itself(fd: int) -> bool:
    """Whether ``fd`` is a pipe, socket or device (read as it goes, not up front)."""
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)


def _stdin(spec: Stdin) -> Inherit | bytes | str | None:
    if spec is None or spec is INHERIT:
        return spec
    if isinstance(spec, (bytes, bytearray, memoryview)):
        return bytes(spec)
    if isinstance(spec, (str, os.PathLike)):
        return os.fsdecode(os.fspath(spec))
    if isinstance(spec, bool):
        raise TypeError(f"stdin: not a file descriptor: {spec!r}")
    if isinstance(spec, int):
        return f"/dev/fd/{spec}" if _streams_by_itself(spec) else _read_fd(spec)
    read = getattr(spec, "read", None)
    if read is None:
        raise TypeError(f"stdin: expected bytes, a path, a file or a descriptor, not {spec!r}")
    fd = _fileno(spec)
    if fd is not None and _streams_by_itself(fd):
        return f"/dev/fd/{fd}"
    data = read()
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def _read_fd(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _fileno(f: Any) -> int | None:
    try:
        fd = f.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None
    return fd if isinstance(fd, int) else None


def _output(spec: Output, name: str) -> Inherit | str | OutputSink | None:
    if spec is None or spec is INHERIT:
        return spec
    if isinstance(spec, (str, os.PathLike)):
        return os.fsdecode(os.fspath(spec))
    if isinstance(spec, bytearray):
        return spec.extend
    if isinstance(spec, bool):
        raise TypeError(f"{name}: not a file descriptor: {spec!r}")
    if isinstance(spec, int):
        fd = spec

        def write_fd(data: bytes) -> None:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]

        return write_fd
    write = getattr(spec, "write", None)
    if write is not None:
        if isinstance(spec, io.TextIOBase):
            text = spec

            def write_text(data: bytes) -> None:
                text.flush()
                text.buffer.write(data)
                text.buffer.flush()

            return write_text
        binary: IO[Any] = spec  # type: ignore[assignment]

        def write_binary(data: bytes) -> None:
            binary.write(data)
            binary.flush()

        return write_binary
    if callable(spec):
        return spec
    raise TypeError(f"{name}: expected a path, a bytearray, a file, a descriptor or a callable")


def _module(module: Module | str | os.PathLike[str] | bytes, store: Store[Any] | None) -> Module:
    engine = store.engine if store is not None else None
    if isinstance(module, Module):
        return module
    if isinstance(module, (str, os.PathLike)):
        return Module.from_file(module, engine)
    return Module.from_bytes(module, engine)


def instantiate(
    module: Module | str | os.PathLike[str] | bytes,
    cfg: WasiP1Config | None = None,
    *,
    store: Store[Any] | None = None,
    trap_unknown_imports: bool = False,
) -> WasiP1Instance:
    """Instantiate a WASI 0.1 module (a :class:`Module`, a path, or its bytes or text) in
    ``store`` (a fresh one by default; one WASI 0.1 instance per store) and run its
    ``_initialize`` if it has one."""
    store = store if store is not None else Store()
    return instantiate_wasip1(
        store,
        _module(module, store),
        cfg if cfg is not None else config(),
        trap_unknown_imports=trap_unknown_imports,
    )


def run(
    module: Module | str | os.PathLike[str] | bytes,
    cfg: WasiP1Config | None = None,
    *,
    store: Store[Any] | None = None,
    trap_unknown_imports: bool = False,
) -> int:
    """Run a WASI 0.1 command: its default export (``""``, else ``_start``) after
    instantiation. Returns the exit status (0, or the code given to ``proc_exit``, in the
    start function too); a trap raises :class:`~wasmloom.Trap`. A module with neither
    export only runs its start function and ``_initialize``, and returns 0."""
    try:
        instance = instantiate(module, cfg, store=store, trap_unknown_imports=trap_unknown_imports)
        funcs = instance.funcs()
        default = next((n for n in ("", "_start") if n in funcs), None)
        if default is not None:
            instance.call(default)
    except WasiP1Exit as e:
        return e.code
    return 0


# --- numbers on the command line (``wasmloom run --invoke`` of a core module) ------------

_INT_BITS = {"i32": 32, "i64": 64}


def parse_invoke(spec: str, args: Sequence[str]) -> tuple[str, list[str]]:
    """``--invoke``'s export name and argument texts: ``NAME(1, 2.5)``, or ``NAME`` with the
    arguments given after APP (as Wasmtime takes them). Raises ``ValueError``."""
    name, paren, rest = spec.partition("(")
    name = name.strip()
    if not paren:
        return name, list(args)
    if not rest.rstrip().endswith(")"):
        raise ValueError(f"{spec!r}: expected NAME(ARG, ...)")
    inner = rest.rstrip()[:-1].strip()
    return name, [a.strip() for a in inner.split(",")] if inner else []


def parse_number(ty: str, text: str) -> Number:
    """A core value from its text: decimal or ``0x`` hex integers for i32/i64 (signed or
    unsigned range), decimal floats, ``inf`` and ``nan`` for f32/f64. Raises
    ``ValueError``, naming the type, for anything else or another type."""
    t = text.strip()
    bits = _INT_BITS.get(ty)
    if bits is not None:
        sign, digits = (-1, t[1:]) if t.startswith("-") else (1, t.removeprefix("+"))
        try:
            hexa = digits[:2].lower() == "0x"
            value = sign * int(digits[2:] if hexa else digits, 16 if hexa else 10)
        except ValueError:
            raise ValueError(f"{text!r} is not an {ty}") from None
        if not -(1 << (bits - 1)) <= value < (1 << bits):
            raise ValueError(f"{text!r} is out of range for {ty}")
        return value
    if ty in ("f32", "f64"):
        try:
            x = float(t)
        except ValueError:
            raise ValueError(f"{text!r} is not an {ty}") from None
        if ty == "f32" and math.isfinite(x) and abs(x) > 3.4028234663852886e38:
            raise ValueError(f"{text!r} is out of range for f32")
        return x
    raise ValueError(f"a {ty} value cannot be given on the command line")


def _shortest_f32(x: float) -> str:
    """The fewest significant digits that read back as the same f32."""
    want = struct.pack("<f", x)
    for digits in range(1, 10):
        text = f"{x:.{digits}g}"
        if struct.pack("<f", float(text)) == want:
            return text
    return repr(x)  # pragma: no cover - 9 digits always suffice


def format_number(ty: str, value: Number) -> str:
    """A core value as Wasmtime prints an ``--invoke`` result: integers signed, floats
    in plain decimal with the fewest digits that read back (``1``, ``0.05``, ``-0``,
    ``inf``, ``NaN``)."""
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    digits = _shortest_f32(value) if ty == "f32" else repr(value)
    text = format(Decimal(digits), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text == "0" and math.copysign(1.0, value) < 0:
        text = "-0"
    return text
