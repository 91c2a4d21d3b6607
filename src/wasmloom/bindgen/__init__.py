"""Typed Python bindings for WIT worlds: generated (:mod:`.gen`) or built at run time (:mod:`.dynamic`).

``wasmloom bindgen WIT_PATH --world NAME -o OUT`` writes a package; see
:mod:`wasmloom.bindgen.gen` for what it holds. Generated code binds through
:mod:`wasmloom.bindgen.rt`, which has the canonical ABI lift values straight
into the generated classes.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wasmloom.bindgen.gen import generate, write

__all__ = ["generate", "write"]


def __getattr__(name: str) -> Any:
    # The generator (and the WIT parser it needs) loads on first use: generated
    # bindings import only the runtime part, :mod:`wasmloom.bindgen.rt`.
    if name in __all__:
        from wasmloom.bindgen import gen

        return getattr(gen, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
