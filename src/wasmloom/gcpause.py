"""Pausing Python's cyclic garbage collector over a burst of allocation."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused(freeze: bool = False) -> Iterator[None]:
    """No automatic collection inside the block; afterwards the collector is enabled
    again if (and only if) it was on entry. With ``freeze``, every object alive at
    the end of the block is then moved out of the collector's sight for good
    (:func:`gc.freeze`, which no collection walks and nothing frees): only for a
    process whose start-up allocations live until it exits, as a command's do.

    For start-up work that allocates tens of thousands of objects which stay alive
    (imported modules, a decoded component, its resolved types and lowering plans):
    there the young-generation collections, and the full collection they end up
    triggering, walk objects that cannot be garbage. Nothing is lost by pausing:
    cycles made inside the block are found by the first collection after it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if enabled:
            gc.enable()
