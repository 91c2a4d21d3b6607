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
from wasmloom.host.linker import Linker, LinkerInstance
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
