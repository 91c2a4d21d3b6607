"""Running a WASI command component: what ``wasmloom run`` does.

:func:`run_command` loads a component (``.wasm`` or ``.wat``), links WASI
0.3.0 (:mod:`wasmloom.wasi.p3`) and, when available, WASI 0.2.x
(:mod:`wasmloom.wasi.p2`, served at any 0.2 patch version), instantiates it
and calls ``wasi:cli/run@0.3.x`` when exported, else ``wasi:cli/run@0.2.x``.
The result is the process exit status: 0 for ``ok``, 1 for ``err``, the code
given to ``exit``/``exit-with-code``, and for a trap 134 (as Wasmtime does
on Unix) after a report on stderr naming the WIT function.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from operator import attrgetter
from typing import TYPE_CHECKING, Any, TextIO

from wasmloom.errors import LinkError, Trap, WasmloomError
from wasmloom.gcpause import gc_paused
from wasmloom.host.component import Component
from wasmloom.host.instance import Func, Instance
from wasmloom.host.linker import Linker
from wasmloom.host.module import is_core_module, wasm_binary
from wasmloom.host.store import Store
from wasmloom.limits import StoreLimits
from wasmloom.values import Err
from wasmloom.wasi.ctx import WasiCtx, WasiCtxBuilder, WasiExit

if TYPE_CHECKING:  # what the option classes are, to the type checker
    from dataclasses import dataclass, field
else:  # and what makes them at run time (a fraction of dataclass's start-up cost)
    from wasmloom.types import dataclass, field

# WASI 0.1, 0.2, 0.3, wasi:http and WAVE are imported where they are used: a
# command loads only the host it links.
if TYPE_CHECKING:
    from wasmloom import Engine
    from wasmloom.wasi import p1
    from wasmloom.wasi.p3.host import WasiP3
    from wasmloom.wasi.p3.http import WasiHttp
    from wasmloom.wave import Call

__all__ = [
    "RunOptions",
    "RunState",
    "WasmOptions",
    "find_export",
    "invoke_export",
    "link_wasi",
    "missing_imports",
    "new_store",
    "run_command",
]

TRAP_EXIT = 134
INTERRUPT_EXIT = 130


@dataclass(slots=True)
class WasmOptions:
    """The containment options of ``run`` and ``serve`` (Wasmtime's ``-W`` spellings).

    ``fuel``: units of guest work (for ``serve``, given to each request);
    ``timeout``: seconds (for ``serve``, per request); ``limits``: the
    store's :class:`~wasmloom.StoreLimits`; ``max_wasm_stack``: bytes.
    """

    fuel: int | None = None
    timeout: float | None = None
    limits: StoreLimits = field(default_factory=StoreLimits)
    max_wasm_stack: int | None = None

    def engine(self) -> Engine:
        """The engine these options need: the default one, unless fuel or a stack size is set."""
        from wasmloom import Engine

        if self.fuel is None and self.max_wasm_stack is None:
            return Engine.default()
        return self.new_engine()

    def new_engine(self) -> Engine:
        """A new engine of the configuration these options need."""
        from wasmloom import Engine

        return Engine(consume_fuel=self.fuel is not None, max_wasm_stack=self.max_wasm_stack)


_RUN_RE = re.compile(r"^wasi:cli/run@0\.(?P<minor>[23])\.\d+(?:-.*)?$")


@dataclass(slots=True)
class RunOptions:
    """What ``wasmloom run`` was asked to do (mirrors its flags)."""

    app: str
    args: list[str] = field(default_factory=list)
    #: ``(host, guest, readonly)`` preopens
    dirs: list[tuple[str, str, bool]] = field(default_factory=list)
    #: ``(key, value)``; value ``None`` inherits the host's value of ``key``
    env: list[tuple[str, str | None]] = field(default_factory=list)
    inherit_env: bool = False
    argv0: str | None = None
    trap_unknown_imports: bool = False
    cache: bool = True
    #: sockets may use the host's network (``-S inherit-network``)
    network: bool = False
    allow_tcp: bool = True
    allow_udp: bool = True
    allow_ip_name_lookup: bool = False
    #: fuel, timeout and limits (``-W``)
    wasm: WasmOptions = field(default_factory=WasmOptions)
    #: ``-S http`` was given (components only: refused for a core module)
    http: bool = False
    #: ``--invoke``: the export to call instead of running the command
    invoke: str | None = None
    #: the process ends with the command (as ``wasmloom run``'s does): what loading,
    #: linking and instantiating allocated is frozen out of the garbage collector's
    #: sight (:func:`~wasmloom.gcpause.gc_paused`) and never freed
    settle_heap: bool = False


class RunState:
    """The store data of a command: its WASI context and the 0.3 host state (with wasi:http)."""

    def __init__(self, ctx: WasiCtx) -> None:
        self.ctx = ctx
        self._store: Store[Any] | None = None
        self._p3: WasiP3 | None = None

    def bind(self, store: Store[Any]) -> None:
        """Serve ``store`` (the 0.3 host is made, and bound, when first used)."""
        self._store = store
        if self._p3 is not None:
            self._p3.bind(store)

    @property
    def p3(self) -> WasiP3:
        """The WASI 0.3 host state (made on first use: a 0.2 command never needs it)."""
        if self._p3 is None:
            from wasmloom.wasi.p3.host import WasiP3

            self._p3 = WasiP3(self.ctx)
            if self._store is not None:
                self._p3.bind(self._store)
        return self._p3

    @functools.cached_property
    def http(self) -> WasiHttp:
        """The wasi:http 0.3 host state (made on first use; then an attribute: the bindings
        read it a few times a request)."""
        from wasmloom.wasi.p3.http import WasiHttp

        return WasiHttp(self.p3)


def guest_argv(opts: RunOptions) -> list[str]:
    """The guest's arguments: ``--argv0`` (default: APP's file name), then ``opts.args``."""
    argv0 = opts.argv0 if opts.argv0 is not None else os.path.basename(opts.app)
    return [argv0, *opts.args]


def guest_env(opts: RunOptions) -> list[tuple[str, str]]:
    """The ``--env`` pairs, with the host's value for a bare ``--env K`` (skipped when unset)."""
    out: list[tuple[str, str]] = []
    for k, v in opts.env:
        if v is None:
            v = os.environ.get(k)
        if v is not None:
            out.append((k, v))
    return out


def build_ctx(opts: RunOptions) -> WasiCtx:
    b = WasiCtxBuilder()
    b.args(guest_argv(opts))
    if opts.inherit_env:
        b.inherit_env()
    for k, v in guest_env(opts):
        b.env(k, v)
    b.inherit_stdio()
    for host, guest, ro in opts.dirs:
        b.preopen_dir(host, guest, readonly=ro)
    if opts.network:
        b.inherit_network()
    b.allow_tcp(opts.allow_tcp).allow_udp(opts.allow_udp)
    b.allow_ip_name_lookup(opts.allow_ip_name_lookup)
    return b.build()


def link_wasi(linker: Linker, imports: Iterable[str] | None = None) -> bool:
    """Define WASI 0.3.0 (wasi:http included) and (if importable) 0.2.x for :class:`RunState`
    data; True if 0.2 is. Given ``imports`` (a component's import names), only the
    interfaces these name are defined and their modules imported: a command of
    wasi:cli alone loads no filesystem, sockets or http host. (0.2's wasi:http is not
    defined here: ``wasmloom run`` adds it when a component imports it.)"""
    names = None if imports is None else list(imports)
    if names is None or any("@0.3." in n for n in names):
        from wasmloom.wasi.p3.host import add_to_linker

        add_to_linker(linker, attrgetter("p3"), imports=names)
        if names is None or any(n.startswith("wasi:http/") and "@0.3." in n for n in names):
            from wasmloom.wasi.p3.http import add_to_linker as http_add_to_linker

            http_add_to_linker(linker, attrgetter("http"))
    if names is not None and not any("@0.2." in n for n in names):
        return False
    try:
        from wasmloom.wasi import p2
    except ImportError:
        return False
    p2_add = getattr(p2, "add_to_linker", None)
    if p2_add is None:
        return False
    p2_add(linker, lambda d: d.ctx, imports=names)
    return True


def missing_imports(linker: Linker, component: Component) -> list[str]:
    """The component's top-level imports (WIT paths) that ``linker`` does not define."""
    root = linker.root()
    return [name for name in component.import_names() if root.lookup(name) is None]


def check_imports(
    linker: Linker,
    component: Component,
    app: str,
    trap_unknown: bool,
    hint: Callable[[list[str]], str],
    err: TextIO,
) -> bool:
    """With ``trap_unknown``, stub what ``linker`` lacks; else report it on ``err``, then
    ``hint(missing)``. True when the component can be instantiated."""
    if trap_unknown:
        linker.define_unknown_imports_as_traps(component)
        return True
    missing = missing_imports(linker, component)
    if not missing:
        return True
    print(f"error: {app} imports what this host does not provide:", file=err)
    for name in missing:
        print(f"  {name}", file=err)
    print(hint(missing), file=err)
    return False


def _find_run(instance: Instance) -> tuple[Func, bool] | None:
    best: tuple[int, str] | None = None
    for name in instance.exports():
        m = _RUN_RE.match(name)
        if m is not None:
            minor = int(m["minor"])
            if best is None or minor > best[0]:
                best = (minor, name)
    if best is None:
        return None
    f = instance.get_func(best[1], "run")
    if f is None:
        return None
    return f, best[0] == 3


def is_core_module_file(path: str) -> bool:
    """Whether ``path`` holds a core module (binary, text assembled, or a precompiled
    artifact of one), not a component; False when it cannot be read or assembled (the
    component path reports why)."""
    from wasmloom.wasi.cache import artifact_holds_module, is_artifact

    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if head[:4] != b"\0asm":
                data = head + f.read()
                if is_artifact(data):
                    return artifact_holds_module(data)
                head = wasm_binary(data)[:8]
    except (OSError, WasmloomError):
        return False
    return is_core_module(head)


def load_component(path: str, engine: Engine) -> Component:
    """``path`` as a component: a ``.wasm`` or ``.wat`` file, or a precompiled artifact
    (``wasmloom compile -o``; :class:`~wasmloom.wasi.cache.ArtifactError` when it cannot run)."""
    from wasmloom.wasi.cache import is_precompiled, load_artifact

    with open(path, "rb") as f:
        head = f.read(64)
        if not is_precompiled(head):  # a component: through the cache's record of the file
            return Component.from_file(path, engine)
        data = head + f.read()
    return load_artifact(data, engine, path)


def load_app(
    app: str, cache: bool, err: TextIO, wasm: WasmOptions | None = None
) -> Component | None:
    """Compile ``app`` on the engine ``wasm`` needs (with the disk cache when ``cache``); None
    after reporting why it cannot be loaded."""
    wasm = wasm if wasm is not None else WasmOptions()
    try:
        engine = wasm.engine()
    except ValueError as e:
        print(f"error: {e}", file=err)
        return None
    if cache and engine.disk_cache is None:
        from wasmloom.wasi.cache import DiskCache

        engine.disk_cache = DiskCache(tag=engine.config_key)
    from wasmloom.wasi.cache import ArtifactError

    try:
        return load_component(app, engine)
    except OSError as e:
        print(f"error: cannot read {app}: {e.strerror}", file=err)
    except ArtifactError as e:
        print(f"error: {e}", file=err)
    except WasmloomError as e:
        print(f"error: {app}: {e}", file=err)
    return None


def checked_ctx(opts: RunOptions, err: TextIO) -> WasiCtx | None:
    """:func:`build_ctx`, or ``None`` after reporting what could not be opened: a preopen,
    or the process's stdio when it has no file descriptor (as under a test runner)."""
    try:
        return build_ctx(opts)
    except OSError as e:
        if e.filename is None:
            print(f"error: cannot give the guest this process's stdio: {e}", file=err)
        else:
            print(f"error: cannot open directory {e.filename}: {e.strerror}", file=err)
        return None


def new_store(component: Component, state: RunState, wasm: WasmOptions) -> Store[RunState]:
    """A time-sliced store for ``component`` with ``wasm``'s limits and fuel, its WASI
    state bound (the deadline is the caller's to set)."""
    store: Store[RunState] = Store(
        component.engine, state, limits=wasm.limits, fuel=wasm.fuel, time_slicing=True
    )
    state.bind(store)
    return store


def run_command(opts: RunOptions, err: TextIO | None = None) -> int:
    """Run ``opts.app`` as a WASI command; returns the exit status (see the module doc).

    With ``opts.invoke``, calls that export instead (:func:`invoke_export`).
    With ``opts.wasm.timeout`` the guest traps once it has run that long
    (instantiation included). SIGINT stops a running guest within an epoch
    tick: the status is then 130, after one line on stderr.
    """
    err = err if err is not None else sys.stderr
    try:
        if is_core_module_file(opts.app):
            return run_module(opts, err)
        if opts.invoke is not None:
            return invoke_export(opts, err)
        return _run_command(opts, err)
    except KeyboardInterrupt:
        print("error: interrupted (SIGINT)", file=err)
        return INTERRUPT_EXIT


def _instantiate(opts: RunOptions, err: TextIO) -> tuple[Instance, Store[RunState]] | int:
    """``opts.app`` loaded, linked with WASI and instantiated; or the exit status after
    reporting why it could not be. The garbage collector is paused meanwhile: what
    loading, linking and instantiating allocate lives as long as the instance."""
    with gc_paused(freeze=opts.settle_heap):
        return _load_and_instantiate(opts, err)


def _load_and_instantiate(
    opts: RunOptions, err: TextIO
) -> tuple[Instance, Store[RunState]] | int:
    component = load_app(opts.app, opts.cache, err, opts.wasm)
    if component is None:
        return 1
    ctx = checked_ctx(opts, err)
    if ctx is None:
        return 1
    state = RunState(ctx)
    store = new_store(component, state, opts.wasm)
    linker = Linker()
    have_p2 = link_wasi(linker, component.import_names())
    if have_p2 and any(n.startswith("wasi:http/") for n in missing_imports(linker, component)):
        from wasmloom.wasi.p2 import http as p2http  # wasi:http 0.2, linked only when imported

        p2http.add_to_linker(linker, lambda d: p2http.host_for(d.ctx))

    def hint(missing: list[str]) -> str:
        text = "hint: --trap-unknown-imports runs it anyway; calls to these imports trap"
        if not have_p2 and any("@0.2." in n for n in missing):
            text += " (WASI 0.2.x is not available in this build)"
        return text

    if not check_imports(linker, component, opts.app, opts.trap_unknown_imports, hint, err):
        return 1
    if opts.wasm.timeout is not None:
        store.set_deadline(opts.wasm.timeout)
    try:
        return linker.instantiate_pre(component).instantiate(store), store
    except LinkError as e:
        print(f"error: {e}", file=err)
        print("hint: --trap-unknown-imports stubs imports this host lacks", file=err)
        return 1
    except WasiExit as e:
        return e.code
    except Trap as e:
        _report_trap(e, "instantiation", err)
        return TRAP_EXIT


def _run_command(opts: RunOptions, err: TextIO) -> int:
    ready = _instantiate(opts, err)
    if isinstance(ready, int):
        return ready
    instance, store = ready
    ctx = store.data.ctx
    found = _find_run(instance)
    if found is None:
        print(f"error: {opts.app} exports no `wasi:cli/run` (0.3.x or 0.2.x)", file=err)
        return 1
    func, is_p3 = found
    done = _call(store, func, (), is_p3, func.name, err)
    if isinstance(done, _Ended):
        return done.status
    return _flush(ctx, 1 if isinstance(done.result, Err) else 0)


@dataclass(slots=True)
class _Ended:
    """A call that ended the program: its exit status (stdio flushed)."""

    status: int


@dataclass(slots=True)
class _Returned:
    result: Any


def _call(
    store: Store[RunState], func: Func, args: tuple[Any, ...], is_async: bool, shown: str,
    err: TextIO,
) -> _Returned | _Ended:  # fmt: skip
    """Call ``func`` (an async export too, through the synchronous entry point): its result, or the
    status a WASI exit or a trap (reported, naming ``shown``) ends the program with."""
    ctx = store.data.ctx
    try:
        # An async export is driven by the synchronous entry point too: the store's
        # event loop (and asyncio) is only made once host work waits on it.
        return _Returned(func(store, *args))
    except WasiExit as e:
        return _Ended(_flush(ctx, e.code))
    except Trap as e:
        exit_code = _exit_in(e)
        if exit_code is not None:
            return _Ended(_flush(ctx, exit_code))
        _report_trap(e, shown, err)
        return _Ended(_flush(ctx, TRAP_EXIT))


def _exit_in(e: BaseException) -> int | None:
    """The code of a :class:`WasiExit` a trap was raised from, if any."""
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, WasiExit):
            return cur.code
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None


def _flush(ctx: WasiCtx, code: int) -> int:
    for out in (ctx.stdout, ctx.stderr):
        try:
            out.flush()
        except OSError:
            pass
    return code


def _report_trap(e: Trap, where: str, err: TextIO) -> None:
    print(f"error: wasm trap in `{where}`: {e}", file=err)
    if e.backtrace:
        print("guest backtrace:", file=err)
        for i, frame in enumerate(e.backtrace):
            print(f"  {i}: {frame}", file=err)


# --- WASI 0.1 core modules ---------------------------------------------------------------


def run_module(opts: RunOptions, err: TextIO) -> int:
    """Run ``opts.app``, a core module, with WASI 0.1 (:mod:`wasmloom.wasi.p1`): its
    ``_start`` (or the export ``""``), or the ``--invoke`` export, whose results are
    printed one per line. The status: as :func:`run_command`'s, the code given to
    ``proc_exit`` for an exit, and 1 for an error wasmtime reports that is no trap."""
    from wasmloom.wasi import p1

    if opts.http:
        print(f"error: -S http applies to components (wasi:http); {opts.app} is a core module",
              file=err)  # fmt: skip
        return 1
    module = _load_module(opts, err)
    if module is None:
        return 1
    if not opts.trap_unknown_imports:
        missing = module.missing_wasip1_imports()
        if missing:
            print(f"error: {opts.app} imports what WASI 0.1 does not provide:", file=err)
            for import_name in missing:
                print(f"  {import_name}", file=err)
            print("hint: --trap-unknown-imports runs it anyway; calls to these imports trap",
                  file=err)  # fmt: skip
            return 1
    call = _module_call(opts, module, err)
    if call is None:
        return 1
    name, args = call
    cfg = p1.config(
        args=guest_argv(opts),
        env=guest_env(opts),
        inherit_env=opts.inherit_env,
        dirs=opts.dirs,
        stdin=p1.INHERIT,
        stdout=p1.INHERIT,
        stderr=p1.INHERIT,
        inherit_network=opts.network,
        allow_ip_name_lookup=opts.allow_ip_name_lookup,
    )
    store: Store[None] = Store(module.engine, None, limits=opts.wasm.limits, fuel=opts.wasm.fuel)
    if opts.wasm.timeout is not None:
        store.set_deadline(opts.wasm.timeout)
    where = "instantiation"
    try:
        instance = p1.instantiate(
            module, cfg, store=store, trap_unknown_imports=opts.trap_unknown_imports
        )
        if name is None:
            return 0
        where = name if name else "the default export"
        results = instance.call(name, *args)
    except p1.WasiP1Exit as e:
        return e.code
    except OSError as e:
        print(f"error: cannot open directory {e.filename}: {e.strerror}", file=err)
        return 1
    except Trap as e:
        _report_trap(e, where, err)
        return TRAP_EXIT
    except (WasmloomError, ValueError) as e:
        print(f"error: {opts.app}: {e}", file=err)
        return 1
    if opts.invoke is not None:
        types = instance.func_type(name).results
        sys.stdout.write(
            "".join(f"{p1.format_number(t, v)}\n" for t, v in zip(types, results, strict=True))
        )
        sys.stdout.flush()
    return 0


def _load_module(opts: RunOptions, err: TextIO) -> p1.Module | None:
    from wasmloom.wasi import p1

    try:
        engine = opts.wasm.engine()
    except ValueError as e:
        print(f"error: {e}", file=err)
        return None
    if opts.cache and engine.disk_cache is None:
        from wasmloom.wasi.cache import DiskCache

        engine.disk_cache = DiskCache(tag=engine.config_key)
    from wasmloom.wasi.cache import is_precompiled, load_module_artifact

    try:
        with open(opts.app, "rb") as f:
            data = f.read()
        if is_precompiled(data):
            return load_module_artifact(data, engine, opts.app)
        return p1.Module.from_bytes(data, engine)
    except OSError as e:
        print(f"error: cannot read {opts.app}: {e.strerror}", file=err)
    except WasmloomError as e:
        print(f"error: {opts.app}: {e}", file=err)
    return None


def _module_call(
    opts: RunOptions, module: p1.Module, err: TextIO
) -> tuple[str | None, list[p1.Number]] | None:
    """The export to call and its arguments: ``--invoke``'s (``NAME(1, 2)``, or ``NAME``
    with the arguments after APP, as Wasmtime takes them), else ``""`` or ``_start``
    (``None`` when the module has neither); None after reporting a bad ``--invoke``."""
    from wasmloom.wasi import p1

    funcs = module.func_types()
    if opts.invoke is None:
        default = next((n for n in ("", "_start") if n in funcs), None)
        return default, []
    try:
        name, texts = p1.parse_invoke(opts.invoke, opts.args)
        ty = funcs.get(name)
        if ty is None:
            raise ValueError(f"{opts.app} exports no function `{name}`")
        if len(texts) != len(ty.params):
            raise ValueError(f"`{name}` takes {len(ty.params)} arguments, {len(texts)} given")
        args = [p1.parse_number(t, text) for t, text in zip(ty.params, texts, strict=True)]
    except ValueError as e:
        print(f"error: --invoke: {e}", file=err)
        return None
    return name, args


# --- --invoke ----------------------------------------------------------------------------------


def invoke_export(opts: RunOptions, err: TextIO, out: TextIO | None = None) -> int:
    """``wasmloom run --invoke 'name(args)'``: call one export of ``opts.app``, with WASI
    linked as for a command, and print its results in WAVE on ``out`` (stdout).

    ``name`` is found as ``wasmtime run --invoke`` finds it (:func:`find_export`);
    the arguments are WAVE values of the parameter types. The status is 0
    after a call that returned (whatever it returned), 2 for an ``--invoke``
    that does not parse, 1 for one that does not fit the component, and as
    for a command after a trap or an exit.
    """
    from wasmloom.wave import WaveError, parse_call, results_to_wave

    out = out if out is not None else sys.stdout
    text = opts.invoke or ""
    try:
        call = parse_call(text)
    except WaveError as e:
        print(f"error: --invoke {text!r}: {e}", file=err)
        return 2
    ready = _instantiate(opts, err)
    if isinstance(ready, int):
        return ready
    instance, store = ready
    found = find_export(instance, call)
    if isinstance(found, str):
        print(f"error: --invoke {text!r}: {found}", file=err)
        return 1
    func, shown = found
    try:
        args = call.arguments(func.type)
    except WaveError as e:
        print(f"error: --invoke {text!r}: {e}", file=err)
        return 1
    done = _call(store, func, tuple(args), func.type.is_async, shown, err)
    if isinstance(done, _Ended):
        return done.status
    result = done.result
    _flush(store.data.ctx, 0)
    types = func.type.result_types()
    try:
        text_out = results_to_wave([result] if types else [], types)
    except WaveError as e:
        print(f"error: {shown} returned a value WAVE cannot show: {e.reason}", file=err)
        return 1
    print(text_out, file=out, flush=True)
    return 0


def find_export(instance: Instance, call: Call) -> tuple[Func, str] | str:
    """The function ``call`` names, with the name to show; or why there is none.

    A bare ``f`` is a top-level export ``f``, else the one function ``f`` of
    the exported instances (several are an error listing them, as Wasmtime
    does). ``iface.f`` / ``iface#f`` is function ``f`` of instance export
    ``iface``; without a version, ``iface`` matches the one version exported.
    """
    funcs: list[tuple[str, ...]] = list(_functions(instance, instance.exports_map, ()))
    if call.interface is None:
        top: list[tuple[str, ...]] = [p for p in funcs if p == (call.func,)]
        matches = top or [p for p in funcs if p[-1] == call.func]
    else:
        want = call.interface
        matches = [p for p in funcs if len(p) == 2 and p[1] == call.func and p[0] == want]
        if not matches and "@" not in want:
            matches = [
                p
                for p in funcs
                if len(p) == 2 and p[1] == call.func and p[0].partition("@")[0] == want
            ]
    if not matches:
        names = ", ".join(f"`{_spelling(p)}`" for p in funcs) or "none"
        return f"no exported function `{call.name}` (the component exports: {names})"
    if len(matches) > 1:
        names = ", ".join(f"`{_spelling(p)}`" for p in matches)
        return f"several exported functions are named `{call.func}`; say which: {names}"
    path = matches[0]
    func = instance.get_func(*path)
    assert func is not None
    return func, _spelling(path)


def _functions(
    instance: Instance, exports: dict[str, Any], path: tuple[str, ...]
) -> Iterator[tuple[str, ...]]:
    """The paths of the functions among ``exports`` (nested instances included)."""
    for name, item in exports.items():
        if isinstance(item, dict):
            yield from _functions(instance, item, (*path, name))
        elif instance.get_func(*path, name) is not None:
            yield (*path, name)


def _spelling(path: tuple[str, ...]) -> str:
    """An export path as ``--invoke`` spells it (Wasmtime's ``ns:pkg/iface.f@1.0.0``)."""
    if len(path) == 1:
        return path[0]
    base, _, version = path[-2].partition("@")
    return f"{base}.{path[-1]}" + (f"@{version}" if version else "")
