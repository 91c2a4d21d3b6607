"""Typed Python bindings for WIT worlds: generated (:mod:`.gen`) or built at run time (:mod:`.dynamic`).

``wasmloom bindgen WIT_PATH --world NAME -o OUT`` writes a package; see
:mod:`wasmloom.bindgen.gen` for what it holds. Generated code binds through
:mod:`wasmloom.bindgen.rt`, which has the canonical ABI lift values straight
into the generated classes.
"""

from wasmloom.bindgen.gen import generate, write

__all__ = ["generate", "write"]
