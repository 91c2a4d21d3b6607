"""The ``wasmloom`` command line.

Subcommands:

- ``wasmloom wast [--skip-list FILE] [-v] PATH...`` runs Component Model
  ``.wast`` tests (a directory stands for every ``.wast`` file under it). It
  prints one line per file, ``PASS path (N commands)`` or
  ``FAIL path: k of N failed`` followed by the failed commands, then each
  skipped file with its reason, then exactly one summary line
  ``N passed, M failed[, K skipped]`` counting files (K also counts skipped cases,
  each listed above it with its reason). The exit status is 1
  when any file failed, else 0.
- ``wasmloom wit PATH`` prints a component's world, or a WIT package.
- ``wasmloom bindgen WIT_PATH --world NAME -o OUT`` writes a package of typed
  bindings (:mod:`wasmloom.bindgen`) and prints the files it wrote.
- ``wasmloom run [--dir HOST[::GUEST]] [--env K[=V]] APP [ARGS...]`` runs a
  WASI command component, or a WASI 0.1 core module (:mod:`wasmloom.wasi.run`);
  its exit code is the process's. ``--invoke NAME`` calls one export of a
  core module with numbers and prints its results.
- ``wasmloom serve [--addr HOST:PORT] [-S cli[=y|n]] [--dir ..] [--env ..] APP`` serves a
  ``wasi:http/handler@0.3.x`` or ``wasi:http/incoming-handler@0.2.x`` component over
  HTTP/1.1 (:mod:`wasmloom.wasi.serve`) until SIGINT or SIGTERM.
- ``wasmloom run --invoke 'NAME(ARGS)' APP`` calls one export of a component with
  arguments in WAVE and prints its results in WAVE (:mod:`wasmloom.wave`).
- ``wasmloom compile [-o OUT] [-W ..] APP`` compiles a component into the compile
  cache, or into a precompiled artifact OUT that ``run`` and ``serve`` accept.
- ``wasmloom --version`` prints wasmloom's version and wasmtime's.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

if TYPE_CHECKING:
    # argparse is imported where a parser is built: a plain ``run APP [ARGS...]``
    # needs none (_plain_run)
    import argparse

    from wasmloom.wasi.run import RunOptions, WasmOptions
    from wasmloom.wit.resolve import Resolve

__all__ = ["build_parser", "entry", "main"]

# Failed commands listed per file without -v.
_MAX_DETAILS = 20


def _expand(paths: Sequence[str]) -> list[Path]:
    """Files as given; directories become their ``.wast`` files, sorted."""
    out: list[Path] = []
    for p in map(Path, paths):
        out.extend(sorted(p.rglob("*.wast")) if p.is_dir() else [p])
    return out


def cmd_wast(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    from wasmloom.wast import SkipList, run_wast

    skip_list = SkipList.load(args.skip_list) if args.skip_list else None
    passed = failed = 0
    skipped: list[tuple[str, str]] = []
    skipped_cases: list[tuple[str, str]] = []
    for path in _expand(args.paths):
        if not path.is_file():
            failed += 1
            print(f"FAIL {path}: no such file", file=out, flush=True)
            continue
        result = run_wast(path, skip_list=skip_list)
        if result.skipped is not None:
            skipped.append((str(path), result.skipped))
            if args.verbose:
                print(f"SKIP {path}: {result.skipped}", file=out, flush=True)
            continue
        for line, kind, reason in result.skipped_commands:
            skipped_cases.append((f"{path}:{line} ({kind})", reason))
        if result.ok:
            passed += 1
            print(f"PASS {path} ({result.commands} commands)", file=out, flush=True)
            if args.verbose:
                for line, kind in result.passed_commands:
                    print(f"  ok   line {line}: {kind}", file=out)
        else:
            failed += 1
            n_failed = len(result.failures)
            print(f"FAIL {path}: {n_failed} of {result.commands} failed", file=out)
            if args.verbose:
                for line, kind in result.passed_commands:
                    print(f"  ok   line {line}: {kind}", file=out)
            shown = result.failures if args.verbose else result.failures[:_MAX_DETAILS]
            for f in shown:
                print(f"  FAIL line {f.line}: {f.command}: {f.message}", file=out)
            if len(shown) < n_failed:
                print(f"  ... {n_failed - len(shown)} more failures (-v shows all)", file=out)
            out.flush()
    for path_str, reason in skipped:
        print(f"skipped {path_str}: {reason}", file=out)
    for case, reason in skipped_cases:
        print(f"skipped case {case}: {reason}", file=out)
    summary = f"{passed} passed, {failed} failed"
    if skipped or skipped_cases:
        summary += f", {len(skipped) + len(skipped_cases)} skipped"
    print(summary, file=out, flush=True)
    return 1 if failed else 0


def _resolve(features: list[str]) -> Resolve:
    """A WIT resolve that also reads binary packages (``.wasm``, and ``.wat`` assembled)."""
    from wasmloom.wit.component import package_from_component
    from wasmloom.wit.resolve import Resolve

    return Resolve(features, decode_binary=package_from_component, wat2wasm=_wat2wasm)


def _wat2wasm(text: str) -> bytes:
    from wasmloom import wat2wasm  # only when a `.wat` package is met

    return wat2wasm(text)


def cmd_wit(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from wasmloom.errors import WasmloomError
    from wasmloom.wit.component import world_from_component
    from wasmloom.wit.printer import print_package, print_world

    out = out or sys.stdout
    path = Path(args.path)
    features = [f for f in (args.features or "").split(",") if f]
    try:
        if path.is_file() and path.read_bytes()[:4] == b"\0asm":
            _, world = world_from_component(path.read_bytes())
            out.write(print_world(world))
        else:
            r = _resolve(features)
            pkg = r.push_path(path)
            if args.world:
                out.write(print_world(r.select_world(pkg, args.world)))
            else:
                out.write(print_package(pkg))
    except (WasmloomError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_bindgen(args: argparse.Namespace) -> int:
    from wasmloom.bindgen.gen import write
    from wasmloom.errors import WasmloomError

    features = [f for f in (args.features or "").split(",") if f]
    try:
        r = _resolve(features)
        pkg = r.push_path(args.path)
        world = r.select_world(pkg, args.world)
        for p in write(r, world, args.out):
            print(p)
    except (WasmloomError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def _parse_dir(spec: str) -> tuple[str, str, bool]:
    """``HOST[::GUEST][:ro]`` (``:ro`` only after an explicit GUEST) -> (host, guest, readonly)."""
    readonly = False
    host, sep, guest = spec.partition("::")
    if not sep:
        guest = host
    elif guest.endswith(":ro"):
        guest, readonly = guest[:-3], True
    return host, guest, readonly


def _parse_env(spec: str) -> tuple[str, str | None]:
    k, sep, v = spec.partition("=")
    return k, (v if sep else None)


_SIZE_UNITS = {
    "": 1,
    "k": 1 << 10,
    "kib": 1 << 10,
    "m": 1 << 20,
    "mib": 1 << 20,
    "g": 1 << 30,
    "gib": 1 << 30,
}
_TIME_UNITS = {"": 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, "m": 60.0, "h": 3600.0}
_W_SIZES = {
    "max-memory-size": "memory_size",
    "max-table-elements": "table_elements",
    "max-instances": "instances",
    "max-tables": "tables",
    "max-memories": "memories",
}


def _parse_number(value: str, units: dict[str, Any], what: str) -> Any:
    text = value.strip().lower()
    digits = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = text[len(digits) :]
    if unit not in units or not digits:
        raise ValueError(
            f"-W {what}={value}: expected a number with a unit among "
            f"{', '.join(repr(u) for u in units if u)}, or none"
        )
    try:
        number = float(digits) if "." in digits else int(digits, 0)
    except ValueError:
        raise ValueError(f"-W {what}={value}: not a number") from None
    return number * units[unit]


def _parse_w_options(specs: Sequence[str]) -> WasmOptions:
    """``-W`` values (comma separated, Wasmtime's names) -> :class:`WasmOptions`."""
    from wasmloom.limits import StoreLimits
    from wasmloom.wasi.run import WasmOptions

    wasm = WasmOptions()
    sizes: dict[str, int] = {}
    for spec in specs:
        for item in filter(None, spec.split(",")):
            name, sep, value = item.partition("=")
            if name == "trap-on-grow-failure":
                raise ValueError(
                    "-W trap-on-grow-failure is not supported: wasmtime's C API gives a "
                    "store's limiter no such switch (growth past a limit returns -1)"
                )
            if not sep:
                raise ValueError(f"-W {name}: expected {name}=VALUE")
            if name == "fuel":
                fuel = _parse_number(value, {"": 1}, name)
                if not isinstance(fuel, int) or not 0 <= fuel < 2**64:
                    raise ValueError(f"-W fuel={value}: expected a whole number below 2**64")
                wasm.fuel = fuel
            elif name == "timeout":
                seconds = float(_parse_number(value, _TIME_UNITS, name))
                if seconds <= 0:
                    raise ValueError(f"-W timeout={value}: expected a positive duration")
                wasm.timeout = seconds
            elif name in _W_SIZES or name == "max-wasm-stack":
                n = _parse_number(value, _SIZE_UNITS, name)
                if not isinstance(n, int) or n < 0:
                    raise ValueError(f"-W {name}={value}: expected a whole number of bytes")
                if name == "max-wasm-stack":
                    wasm.max_wasm_stack = n
                else:
                    sizes[_W_SIZES[name]] = n
            else:
                raise ValueError(f"unknown -W option: {name}")
    wasm.limits = StoreLimits(**sizes)
    return wasm


def _w_options(args: argparse.Namespace) -> WasmOptions | None:
    """The ``-W`` options of ``run`` or ``serve``; None after reporting a bad one."""
    try:
        return _parse_w_options(args.W or [])
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return None


#: ``-S`` options of ``run``: the network ones, and Wasmtime's that change nothing here.
_RUN_S = {"inherit-network", "tcp", "udp", "allow-ip-name-lookup", "cli", "p3", "http"}


def _run_options(
    ns: argparse.Namespace, s_opts: dict[str, bool], wasm: WasmOptions, **more: Any
) -> RunOptions:
    """The ``RunOptions`` of ``run``'s and ``serve``'s shared flags (``more``: run's own)."""
    from wasmloom.wasi.run import RunOptions

    return RunOptions(
        app=ns.app,
        dirs=[_parse_dir(d) for d in ns.dir or []],
        env=[_parse_env(e) for e in ns.env or []],
        inherit_env=ns.inherit_env,
        trap_unknown_imports=ns.trap_unknown_imports,
        cache=not ns.no_cache,
        network=s_opts.get("inherit-network", False),
        allow_tcp=s_opts.get("tcp", True),
        allow_udp=s_opts.get("udp", True),
        allow_ip_name_lookup=s_opts.get("allow-ip-name-lookup", False),
        wasm=wasm,
        http=s_opts.get("http", False),
        **more,
    )


def _cache_code(args: argparse.Namespace) -> None:
    """Unless ``--no-cache``: keep the compiled Python code of wasmloom, wasmtime and the
    standard library in the compile cache where Python keeps no bytecode (:mod:`wasmloom.codecache`); before
    the command's imports."""
    if not args.no_cache:
        from wasmloom import codecache

        codecache.install_all()


def cmd_run(args: argparse.Namespace) -> int:
    _cache_code(args)
    from wasmloom.gcpause import gc_paused

    with gc_paused(freeze=True):  # the process keeps what its imports allocate
        from wasmloom.wasi.run import run_command

    s_opts = _s_options(args, "run")
    wasm = _w_options(args)
    if s_opts is None or wasm is None:
        return 2
    opts = _run_options(
        args,
        s_opts,
        wasm,
        args=list(args.args),
        argv0=args.argv0,
        invoke=args.invoke,
        settle_heap=True,
    )
    sys.stdout.flush()
    return run_command(opts)


def _parse_s_options(specs: Sequence[str]) -> dict[str, bool]:
    """``-S`` values (``name[=y|n]``, comma separated) -> {name: enabled}."""
    out: dict[str, bool] = {}
    for spec in specs:
        for item in filter(None, spec.split(",")):
            name, sep, val = item.partition("=")
            if sep and val not in ("y", "n", "yes", "no", "true", "false"):
                raise ValueError(f"-S {item}: expected {name}=y or {name}=n")
            out[name] = not sep or val in ("y", "yes", "true")
    return out


def _s_options(args: argparse.Namespace, command: str) -> dict[str, bool] | None:
    """The ``-S`` options of ``run`` or ``serve``; None after reporting a bad one."""
    try:
        s_opts = _parse_s_options(args.S or [])
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return None
    unknown = sorted(set(s_opts) - _RUN_S)
    if unknown:
        print(f"error: unknown -S option(s) for {command}: {', '.join(unknown)}", file=sys.stderr)
        return None
    return s_opts


def cmd_serve(args: argparse.Namespace) -> int:
    _cache_code(args)
    from wasmloom.wasi.serve import Limits, ServeOptions, serve

    s_opts = _s_options(args, "serve")
    wasm = _w_options(args)
    if s_opts is None or wasm is None:
        return 2
    opts = ServeOptions(
        run=_run_options(args, s_opts, wasm),
        addr=args.addr,
        cli=s_opts.get("cli", True),
        max_instance_reuse=args.max_instance_reuse_count,
        max_instance_concurrent_reuse=args.max_instance_concurrent_reuse_count,
        workers=args.workers,
        shutdown_grace=args.shutdown_grace,
        limits=Limits(
            header_timeout=args.header_timeout or None,
            keep_alive_timeout=args.keep_alive_timeout or None,
            body_timeout=args.body_timeout or None,
            max_connections=args.max_connections,
        ),
    )
    return serve(opts)


# --- version, compile, --invoke -------------------------------------------------------------


def version_text() -> str:
    """``wasmloom X (wasmtime Y)``: the installed versions."""
    from wasmloom.dists import package_version

    return f"wasmloom {package_version('wasmloom')} (wasmtime {package_version('wasmtime')})"


def _version_action() -> type[argparse.Action]:
    """The action of ``--version``: print :func:`version_text` and exit (computed only
    when asked)."""
    import argparse

    class VersionAction(argparse.Action):
        def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
            super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

        def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
            print(version_text())
            parser.exit()

    return VersionAction


def cmd_compile(args: argparse.Namespace) -> int:
    """Compile a component or core module into the cache, or (``-o``) into a precompiled
    artifact."""
    from wasmloom.errors import WasmloomError
    from wasmloom.wasi.cache import DiskCache, is_precompiled, write_artifact

    wasm = _w_options(args)
    if wasm is None:
        return 2
    try:
        data = Path(args.app).read_bytes()
    except OSError as e:
        print(f"error: cannot read {args.app}: {e.strerror}", file=sys.stderr)
        return 1
    if is_precompiled(data):
        print(f"error: {args.app} is precompiled already; give its .wasm or .wat", file=sys.stderr)
        return 1
    try:
        engine = wasm.new_engine()
        cache = None if args.no_cache else DiskCache(tag=engine.config_key)
        if args.output is None:
            from wasmloom import Component
            from wasmloom.host.module import Module, is_core_module, wasm_binary

            if cache is None:
                print("error: --no-cache without -o: nothing to write", file=sys.stderr)
                return 2
            engine.disk_cache = cache
            if is_core_module(wasm_binary(data)[:8]):
                Module.from_bytes(data, engine)
            else:
                Component.from_bytes(data, engine)
        else:
            write_artifact(data, engine, args.output, cache)
    except OSError as e:
        print(f"error: cannot write {args.output}: {e.strerror}", file=sys.stderr)
        return 1
    except (WasmloomError, ValueError) as e:
        print(f"error: {args.app}: {e}", file=sys.stderr)
        return 1
    return 0


def _add_compile(sub: Any) -> None:
    cp = sub.add_parser(
        "compile",
        help="compile a component or core module ahead of time",
        description=(
            "Compile a component's core modules (or a core module) with Cranelift: into the "
            "compile cache (so that `run` and `serve` start without compiling), or with -o "
            "into a precompiled artifact that `run` and `serve` accept in place of the program. "
            "An artifact runs only on the wasmtime and wasmloom versions and -W options "
            "(fuel, max-wasm-stack) it was compiled for."
        ),
    )
    cp.add_argument("-o", "--output", metavar="OUT", help="write a precompiled artifact to OUT")
    cp.add_argument(
        "--no-cache", action="store_true", help="neither read nor fill the compile cache"
    )
    _add_w(cp, " (only fuel and max-wasm-stack change the compiled code)")
    cp.add_argument("app", metavar="APP", help="the component (.wasm or .wat)")
    cp.set_defaults(func=cmd_compile)


def _add_w(p: argparse.ArgumentParser, note: str) -> None:
    p.add_argument(
        "-W",
        action="append",
        metavar="OPT=VALUE",
        help="containment, comma separated, as in wasmtime: fuel=N, timeout=DURATION (2s, "
        "100ms, 1), max-memory-size=BYTES, max-table-elements=N, max-instances=N, "
        "max-tables=N, max-memories=N, max-wasm-stack=BYTES" + note,
    )


def _add_invoke(p: argparse.ArgumentParser) -> None:
    """``run --invoke``: call one export instead of running the command."""
    p.add_argument(
        "--invoke",
        metavar="'NAME(ARGS)'",
        help="call this export instead of running the command and print its results: for a "
        "component, arguments and results in WAVE (NAME, or IFACE.NAME as my:pkg/api.add); "
        "for a core module, plain numbers one per line (NAME(40, 2), or NAME with the "
        "arguments after APP, as wasmtime takes them; a reactor's _initialize runs first)",
    )


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; given ``command`` (a subcommand's name), one that
    knows only that subcommand (building each costs start-up time)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="wasmloom", description="A WebAssembly Component Model runtime for Python."
    )
    parser.add_argument("--version", action=_version_action())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, add in _SUBCOMMANDS.items():
        if command is None or command == name:
            add(sub)
    return parser


def _add_wast(sub: Any) -> None:
    wast = sub.add_parser(
        "wast",
        help="run Component Model .wast tests",
        description="Run Component Model .wast tests (directories: every .wast under them).",
    )
    wast.add_argument(
        "--skip-list",
        metavar="FILE",
        help="file listing .wast paths (relative to FILE's directory) to skip, like nyi.txt",
    )
    wast.add_argument(
        "-v", "--verbose", action="store_true", help="list every command, passed or failed"
    )
    wast.add_argument("paths", nargs="+", metavar="PATH", help=".wast files or directories")
    wast.set_defaults(func=cmd_wast)


def _add_wit(sub: Any) -> None:
    wit = sub.add_parser(
        "wit",
        help="print the WIT of a component or of a WIT package",
        description="Print a component's world, or parse, resolve and print a WIT package.",
    )
    wit.add_argument("--world", metavar="NAME", help="print only this world of the package")
    wit.add_argument(
        "--features", metavar="F,...", help="enable these @unstable features (comma separated)"
    )
    wit.add_argument("path", metavar="PATH", help="a component (.wasm), a .wit file or a directory")
    wit.set_defaults(func=cmd_wit)


def _add_bindgen(sub: Any) -> None:
    bg = sub.add_parser(
        "bindgen",
        help="generate typed Python bindings for a WIT world",
        description="Generate a Python package of typed bindings for one world of a WIT package.",
    )
    bg.add_argument("path", metavar="WIT_PATH", help="a .wit file or a package directory")
    bg.add_argument("--world", metavar="NAME", help="the world (default: the package's only one)")
    bg.add_argument(
        "-o", "--out", required=True, metavar="OUT", help="the package directory to write"
    )
    bg.add_argument(
        "--features", metavar="F,...", help="enable these @unstable features (comma separated)"
    )
    bg.set_defaults(func=cmd_bindgen)


def _add_run(sub: Any) -> None:
    run = sub.add_parser(
        "run",
        help="run a WASI command component or WASI 0.1 core module",
        description=(
            "Run a WASI command component (.wasm or .wat): wasi:cli/run@0.3.x when exported, "
            "else wasi:cli/run@0.2.x; or a WASI 0.1 core module: its _start. The guest's "
            "exit code is the process's."
        ),
    )
    run.add_argument(
        "--dir",
        action="append",
        metavar="HOST[::GUEST]",
        help="give the guest the host directory HOST at GUEST (default: the same path); "
        "HOST::GUEST:ro preopens it read-only",
    )
    run.add_argument(
        "--env",
        action="append",
        metavar="K[=V]",
        help="set the guest's environment variable K to V (without =V: the host's value)",
    )
    run.add_argument(
        "--inherit-env", action="store_true", help="pass the whole host environment to the guest"
    )
    run.add_argument("--argv0", metavar="NAME", help="the guest's argv[0] (default: APP's name)")
    run.add_argument(
        "--trap-unknown-imports",
        action="store_true",
        help="satisfy imports this host lacks with functions that trap when called",
    )
    run.add_argument("--no-cache", action="store_true", help="do not use the on-disk compile cache")
    run.add_argument(
        "-S",
        action="append",
        metavar="OPT[=y|n]",
        help="WASI options, comma separated: inherit-network (sockets may use the host's "
        "network), tcp, udp (default on), allow-ip-name-lookup; cli, p3, http are accepted",
    )
    _add_w(run, "")
    _add_invoke(run)
    run.add_argument(
        "app", metavar="APP", help="the component or core module (.wasm, .wat or precompiled)"
    )
    run.add_argument("args", nargs="...", metavar="ARGS", help="the guest's arguments")  # REMAINDER
    run.set_defaults(func=cmd_run)


def _add_serve(sub: Any) -> None:
    sv = sub.add_parser(
        "serve",
        help="serve a wasi:http (0.3 or 0.2) component over HTTP/1.1",
        description=(
            "Serve a component exporting wasi:http/handler@0.3.x or, failing that, "
            "wasi:http/incoming-handler@0.2.x (instances are reused across requests, as "
            "Wasmtime does for WASIp3; a 0.2 instance takes one request at a time). The "
            "first stderr line is "
            "'Serving HTTP on http://HOST:PORT/'. SIGINT or SIGTERM stops the server (exit 0): it "
            "stops accepting and lets the requests in flight finish within --shutdown-grace; "
            "a second signal cancels them at once."
        ),
    )
    sv.add_argument(
        "--addr", default="0.0.0.0:8080", metavar="HOST:PORT", help="where to listen (port 0: any)"
    )
    sv.add_argument(
        "-S",
        action="append",
        metavar="OPT[=y|n]",
        help="WASI options, comma separated: cli (default on: link WASI 0.3.0 and 0.2.x as "
        "`run` does; cli=n: what wasi:http/service imports); inherit-network, tcp, udp, allow-ip-name-lookup "
        "as for `run`",
    )
    sv.add_argument("--dir", action="append", metavar="HOST[::GUEST]", help="as for `run`")
    sv.add_argument("--env", action="append", metavar="K[=V]", help="as for `run`")
    sv.add_argument(
        "--inherit-env", action="store_true", help="pass the whole host environment to the guest"
    )
    sv.add_argument(
        "--trap-unknown-imports",
        action="store_true",
        help="satisfy imports this host lacks with functions that trap when called",
    )
    sv.add_argument(
        "--max-instance-reuse-count",
        type=int,
        default=128,
        metavar="N",
        help="requests one instance serves before it is dropped (default 128, as Wasmtime does "
        "for WASIp3; 1: a fresh instance per request)",
    )
    sv.add_argument(
        "--max-instance-concurrent-reuse-count",
        type=int,
        default=16,
        metavar="N",
        help="requests one instance serves at the same time (default 16)",
    )
    sv.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="worker processes sharing the port (SO_REUSEPORT; default 1)",
    )
    sv.add_argument(
        "--header-timeout",
        type=float,
        default=10.0,
        metavar="SECS",
        help="close a connection whose request head is not complete after SECS (default 10; 0: none)",
    )
    sv.add_argument(
        "--keep-alive-timeout",
        type=float,
        default=30.0,
        metavar="SECS",
        help="close a connection idle between requests for SECS (default 30; 0: none)",
    )
    sv.add_argument(
        "--body-timeout",
        type=float,
        default=60.0,
        metavar="SECS",
        help="fail a request body when no byte of it came for SECS while the guest waits "
        "(default 60; 0: none)",
    )
    sv.add_argument(
        "--max-connections",
        type=int,
        default=4096,
        metavar="N",
        help="open connections per worker; accepting pauses at the cap (default 4096, kept "
        "below the open-file limit)",
    )
    sv.add_argument(
        "--shutdown-grace",
        type=float,
        default=10.0,
        metavar="SECS",
        help="on SIGINT or SIGTERM, give the requests in flight SECS to finish before they are "
        "cancelled (default 10; a second signal cancels them at once)",
    )
    sv.add_argument("--no-cache", action="store_true", help="do not use the on-disk compile cache")
    _add_w(sv, " (fuel and timeout apply to each request: a 5xx, and the instance is retired)")
    sv.add_argument("app", metavar="APP", help="the component (.wasm, .wat or precompiled)")
    sv.set_defaults(func=cmd_serve)


#: Each subcommand's part of the parser, in the order --help lists them.
_SUBCOMMANDS: dict[str, Callable[[Any], None]] = {
    "wast": _add_wast,
    "wit": _add_wit,
    "bindgen": _add_bindgen,
    "run": _add_run,
    "serve": _add_serve,
    "compile": _add_compile,
}


def _plain_run(argv: list[str]) -> argparse.Namespace | None:
    """For ``run APP [ARGS...]`` with no option before APP, the namespace the parser
    gives (every option at its default, everything after APP the guest's), made
    without argparse; None for any other command line (and for a ``--`` right after
    APP, which the parser drops)."""
    if len(argv) < 2 or argv[0] != "run" or argv[1].startswith("-") or argv[2:3] == ["--"]:
        return None
    from types import SimpleNamespace

    ns: Any = SimpleNamespace(
        version=None,
        command="run",
        dir=None,
        env=None,
        inherit_env=False,
        argv0=None,
        trap_unknown_imports=False,
        no_cache=False,
        S=None,
        W=None,
        invoke=None,
        app=argv[1],
        args=argv[2:],
        func=cmd_run,
    )
    return ns  # type: ignore[no-any-return]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _plain_run(argv)
    if args is None:
        # The first argument names the subcommand unless it is an option (--help, --version).
        command = argv[0] if argv and argv[0] in _SUBCOMMANDS else None
        args = build_parser(command).parse_args(argv)
    status: int = args.func(args)
    return status


def entry() -> NoReturn:
    """The ``wasmloom`` program (and ``python -m wasmloom``): :func:`main`, then exit with
    its status without tearing the interpreter down, as the wasmtime CLI exits without
    running destructors. What a normal exit does for the program still happens, in the
    same order: non-daemon threads are joined (``threading._shutdown``), ``atexit``
    handlers run, stdout and stderr are flushed (status 120 when stdout cannot be, as
    Python's own exit gives). Skipped: freeing every object and module, which costs a
    short command as much as a quarter of its run. An exception out of :func:`main`
    ends the process the normal way."""
    status = main()
    shutdown = getattr(threading, "_shutdown", None)
    run_exitfuncs = getattr(atexit, "_run_exitfuncs", None)
    if shutdown is None or run_exitfuncs is None:  # another Python: the normal exit
        sys.exit(status)
    shutdown()
    run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            if stream is sys.stdout and status == 0:
                status = 120
    os._exit(status & 0xFF)


if __name__ == "__main__":
    entry()
