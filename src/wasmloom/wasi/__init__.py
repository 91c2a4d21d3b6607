"""WASI for wasmloom: the shared context and sandbox, and the 0.2.x / 0.3.0 hosts.

- :mod:`wasmloom.wasi.ctx`: :class:`WasiCtx` and its builder (args, env,
  stdio, preopens, clocks, random), one context for both WASI versions.
- :mod:`wasmloom.wasi.sandbox`: the filesystem sandbox both versions use.
- :mod:`wasmloom.wasi.p2`: WASI 0.2.x (``add_to_linker(linker, getter)``).
- :mod:`wasmloom.wasi.p3`: WASI 0.3.0.
- :mod:`wasmloom.wasi.run`: runs a command component of either version (``wasmloom run``).
"""

from wasmloom.wasi.ctx import WasiCtx, WasiCtxBuilder, WasiExit
from wasmloom.wasi.sandbox import ErrorCode, FsError, Perms

__all__ = ["ErrorCode", "FsError", "Perms", "WasiCtx", "WasiCtxBuilder", "WasiExit"]
