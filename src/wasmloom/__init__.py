"""wasmloom: a WebAssembly Component Model runtime for Python.

The host API in brief::

    from wasmloom import Component, Linker, Store

    component = Component.from_file("app.wasm")
    store = Store(data=my_state)
    linker = Linker()
    linker.instance("my:pkg/log").func_wrap("log", lambda msg: print(msg))
    instance = linker.instantiate(store, component)
    print(instance.get_func("greet")(store, "world"))
"""

from __future__ import annotations

import importlib

# Not typing's: where Python keeps no bytecode, the package's import is compiled from
# source before `wasmloom run` installs its code cache (wasmloom.codecache), and typing
# brings re, enum and copyreg (about 300 KB of source) with it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from wasmloom.core import Engine, wat2wasm
    from wasmloom.errors import (
        DecodeError,
        HandleError,
        LinkError,
        Trap,
        ValidationError,
        WasmloomError,
    )
    from wasmloom.host.component import Component
    from wasmloom.host.instance import Func, Instance
    from wasmloom.host.linker import InstancePre, Linker, LinkerInstance
    from wasmloom.host.store import Store
    from wasmloom.limits import StoreLimits
    from wasmloom.types import FuncType, ResourceType
    from wasmloom.values import Err, Ok, Record, Resource, Some, Variant

__all__ = [
    "Component",
    "DecodeError",
    "Engine",
    "Err",
    "Func",
    "FuncType",
    "HandleError",
    "Instance",
    "InstancePre",
    "LinkError",
    "Linker",
    "LinkerInstance",
    "Ok",
    "Record",
    "Resource",
    "ResourceType",
    "Some",
    "Store",
    "StoreLimits",
    "Trap",
    "ValidationError",
    "Variant",
    "WasmloomError",
    "wat2wasm",
]

# Each name is imported on first use: ``import wasmloom`` stays cheap, and a
# command loads only the layers it touches.
_WHERE = {
    "Component": "wasmloom.host.component",
    "DecodeError": "wasmloom.errors",
    "Engine": "wasmloom.core",
    "Err": "wasmloom.values",
    "Func": "wasmloom.host.instance",
    "FuncType": "wasmloom.types",
    "HandleError": "wasmloom.errors",
    "Instance": "wasmloom.host.instance",
    "InstancePre": "wasmloom.host.linker",
    "LinkError": "wasmloom.errors",
    "Linker": "wasmloom.host.linker",
    "LinkerInstance": "wasmloom.host.linker",
    "Ok": "wasmloom.values",
    "Record": "wasmloom.values",
    "Resource": "wasmloom.values",
    "ResourceType": "wasmloom.types",
    "Some": "wasmloom.values",
    "Store": "wasmloom.host.store",
    "StoreLimits": "wasmloom.limits",
    "Trap": "wasmloom.errors",
    "ValidationError": "wasmloom.errors",
    "Variant": "wasmloom.values",
    "WasmloomError": "wasmloom.errors",
    "wat2wasm": "wasmloom.core",
}


if not TYPE_CHECKING:  # for the type checker, the imports above are the names

    def __getattr__(name: str) -> Any:
        where = _WHERE.get(name)
        if where is None:  # a submodule, as `import wasmloom; wasmloom.types` always gave
            module = f"wasmloom.{name}"
            if not name.startswith("_"):
                try:
                    return importlib.import_module(module)
                except ModuleNotFoundError as e:
                    if e.name != module:
                        raise
            raise AttributeError(f"module 'wasmloom' has no attribute {name!r}")
        value = getattr(importlib.import_module(where), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(globals()) | set(__all__))
