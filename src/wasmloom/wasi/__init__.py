"""WASI for wasmloom: the shared context and sandbox, and the 0.2.x / 0.3.0 hosts.

- :mod:`wasmloom.wasi.ctx`: :class:`WasiCtx` and its builder (args, env,
  stdio, preopens, clocks, random), one context for both WASI versions.
- :mod:`wasmloom.wasi.sandbox`: the filesystem sandbox both versions use.
- :mod:`wasmloom.wasi.p2`: WASI 0.2.x (``add_to_linker(linker, getter)``).
- :mod:`wasmloom.wasi.p3`: WASI 0.3.0.
- :mod:`wasmloom.wasi.run`: runs a command component of either version (``wasmloom run``).
"""

from collections.abc import Iterable

from wasmloom.wasi.ctx import WasiCtx, WasiCtxBuilder, WasiExit
from wasmloom.wasi.sandbox import ErrorCode, FsError, Perms

__all__ = [
    "ErrorCode",
    "FsError",
    "Perms",
    "WasiCtx",
    "WasiCtxBuilder",
    "WasiExit",
    "imported_interfaces",
]


def imported_interfaces(names: Iterable[str], version: str) -> set[str]:
    """The interfaces (``"wasi:cli/exit"``, no version) among ``names`` (a component's
    import names, ``"wasi:cli/exit@0.2.4"``) whose version starts with ``version``
    (``"0.2."``): what the hosts' ``add_to_linker(..., imports=)`` define."""
    out = set()
    for n in names:
        name, _, v = n.partition("@")
        if "/" in name and v.startswith(version):
            out.add(name)
    return out


def interface_of(module: str) -> str:
    """The interface of a generated WASI bindings module: ``"wasi_cli_terminal_stdin"``
    is ``"wasi:cli/terminal-stdin"``."""
    ns, pkg, name = module.split("_", 2)
    return f"{ns}:{pkg}/{name.replace('_', '-')}"
