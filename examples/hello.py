"""Load a component, implement its import in Python, call its export.

python3 examples/hello.py [NAME]
"""

import sys
from pathlib import Path

from wasmloom import Component, Linker, Store

component = Component.from_file(Path(__file__).with_name("greeter.wat"))
linker = Linker()
log: list[str] = []


def host_log(msg: str) -> None:
    log.append(msg)
    print(f"[guest log] {msg}")


linker.root().func_wrap("log", host_log)
store: Store[None] = Store()
instance = linker.instantiate(store, component)
greet = instance.get_func("greet")
assert greet is not None
print(greet(store, sys.argv[1] if len(sys.argv) > 1 else "wasmloom"))
