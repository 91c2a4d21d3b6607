"""WASI for wasmloom: the shared context and sandbox, and the 0.2.x / 0.3.0 hosts.

- :mod:`wasmloom.wasi.ctx`: :class:`WasiCtx` and its builder (args, env,
  stdio, preopens, clocks, random), one context for both WASI versions.
- :mod:`wasmloom.wasi.sandbox`: the filesystem sandbox both versions use.
- :mod:`wasmloom.wasi.p2`: WASI 0.2.x (``add_to_linker(linker, getter)``).
- :mod:`wasmloom.wasi.p3`: WASI 0.3.0.
- :mod:`wasmloom.wasi.run`: runs a command component of either version (``wasmloom run``).
"""

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from wasmloom.wasi.ctx import WasiCtx, WasiCtxBuilder, WasiExit

if TYPE_CHECKING:
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


if not TYPE_CHECKING:  # the sandbox loads when a name of it is used: a command without
    # preopens never needs it

    def __getattr__(name: str) -> Any:
        if name in ("ErrorCode", "FsError", "Perms"):
            from wasmloom.wasi import sandbox

            return getattr(sandbox, name)
        raise AttributeError(f"module 'wasmloom.wasi' has no attribute {name!r}")


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
