"""Limits on what a store's guests may use: the data every layer reads, nothing else.

A :class:`StoreLimits` is given to :class:`wasmloom.Store` (``limits=``) and
applies to everything instantiated in that store. ``None`` means unlimited
for every field except :attr:`StoreLimits.lift_bytes`, whose default is
relative to the guest's memory. Each limit, when hit, fails in one named way:

- ``memory_size``: ``memory.grow`` beyond it returns -1 to the guest, as in
  Wasmtime's default limiter; a memory declared larger fails instantiation.
- ``table_elements``: ``table.grow`` beyond it returns -1; likewise.
- ``instances``, ``tables``, ``memories``: instantiation fails with a
  :class:`~wasmloom.Trap` naming the limit.

Wasmtime's ``trap_on_grow_failure`` has no counterpart: its C API, which
wasmloom runs on, gives a store's limiter no such switch.
- ``handles``: a component instance's handle table (resources, streams,
  futures, waitable sets, subtasks, error contexts, threads) holding more
  entries traps "handle limit of N reached".
- ``lift_bytes``: one lift of a value from guest memory (a string, a list, and
  everything nested in them; a stream or future copy between guests or to the
  host lifts too) reading more than this many bytes traps "too much data is
  being copied between the host and the guest: lifted value exceeds N bytes".
  The default (``None``) is the size of the memory the value is read from, at
  most 128 MiB (Wasmtime's default hostcall fuel): a value that does not alias
  itself can never be larger than the memory, so below that only amplification
  (many list elements pointing at one string) is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what StoreLimits is, to the type checker
    from dataclasses import dataclass
else:  # and what makes it at run time: a dataclass without importing dataclasses
    from wasmloom.types import dataclass

__all__ = ["StoreLimits"]


@dataclass(frozen=True, slots=True)
class StoreLimits:
    """Resource limits of one store (see the module docstring for each one's failure)."""

    memory_size: int | None = None
    """Bytes one linear memory may grow to."""
    table_elements: int | None = None
    """Elements one core table may grow to."""
    instances: int | None = None
    """Core instances the store may hold."""
    tables: int | None = None
    """Core tables the store may hold."""
    memories: int | None = None
    """Linear memories the store may hold."""
    handles: int | None = None
    """Live entries one component instance's handle table may hold."""
    lift_bytes: int | None = None
    """Bytes one lift may read from guest memory (default: that memory's size, at most 128 MiB)."""

    def __post_init__(self) -> None:
        for name in (
            "memory_size",
            "table_elements",
            "instances",
            "tables",
            "memories",
            "handles",
            "lift_bytes",
        ):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
                raise ValueError(
                    f"StoreLimits.{name} must be a non-negative int or None, not {v!r}"
                )
