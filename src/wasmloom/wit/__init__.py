"""WIT: parsing, resolving and printing WIT, and decoding a component's world.

- :func:`resolve_path` / :func:`resolve_text` load WIT into a :class:`Resolve`.
- :func:`print_package` / :func:`print_world` emit canonical WIT text.
- :func:`world_from_component` decodes a component binary's type into a world.
"""

from wasmloom.wit.model import (
    Function,
    Interface,
    Package,
    PackageName,
    Stability,
    Type,
    TypeDef,
    World,
    to_valtype,
)  # fmt: skip
from wasmloom.wit.resolve import Resolve, resolve_path, resolve_text
from wasmloom.wit.syntax import WitError

__all__ = [
    "Function", "Interface", "Package", "PackageName", "Resolve", "Stability", "Type",
    "TypeDef", "WitError", "World", "resolve_path", "resolve_text", "to_valtype",
]  # fmt: skip
