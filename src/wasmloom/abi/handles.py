"""Handle tables, resource handles and the resource built-ins.

Semantics follow the spec's ``Table``, ``ResourceHandle`` and ``canon resource.*``
(its ``lift_own`` / ``lift_borrow`` / ``lower_own`` / ``lower_borrow`` are specialised
per type in :func:`wasmloom.abi.codecs.handles.resource_codec`); trap messages follow
Wasmtime.

A call's borrows are tracked by one :class:`BorrowScope`. On the callee side
(where borrowed handles are *lowered* into the callee's table) it counts
``num_borrows``, which must be back to zero by the end of the call. On the
caller side (where handles are *lifted* as borrows from the caller's table) it
records the lending handles, whose ``num_lends`` keeps the caller from dropping
them during the call; :meth:`BorrowScope.exit` releases them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from wasmloom.errors import Trap
from wasmloom.types import ResourceType

__all__ = [
    "BORROWS_REMAIN",
    "BorrowScope",
    "ResourceHandle",
    "Table",
    "resource_drop",
    "resource_handle",
    "resource_new",
    "resource_rep",
]

E = TypeVar("E")

#: The trap of a call that ends while its callee still holds borrowed handles.
BORROWS_REMAIN = "borrow handles still remain at the end of the call"


def _unknown(i: int) -> Trap:
    return Trap(f"unknown handle index {i & 0xFFFF_FFFF}")


class Table(Generic[E]):
    """A component instance's handle table: index 0 is reserved, freed slots are reused.

    ``limit`` bounds the live entries (a store's ``StoreLimits.handles``);
    adding one more traps "handle limit of N reached". ``MAX_LENGTH`` is the
    absolute cap of every table ("handle table full"). Freed slots are reused
    before the array grows, so the array never holds more than ``limit``
    slots and the check only runs when it grows.
    """

    MAX_LENGTH = 2**28 - 1

    __slots__ = ("array", "free", "journal", "limit", "max_index")

    def __init__(self, limit: int | None = None) -> None:
        self.array: list[E | None] = [None]
        self.free: list[int] = []
        self.limit = limit
        # the largest index the array may grow to
        self.max_index = Table.MAX_LENGTH if limit is None else min(limit, Table.MAX_LENGTH)
        #: When a list, :meth:`add` appends each index it fills (see :meth:`undo`).
        self.journal: list[int] | None = None

    def __iter__(self) -> Iterator[E]:
        for e in self.array:
            if e is not None:
                yield e

    def __len__(self) -> int:
        return len(self.array) - 1 - len(self.free)

    def get(self, i: int) -> E:
        """The element at ``i``; traps 'unknown handle index i' when there is none."""
        if i >= 0:
            try:
                e = self.array[i]
            except IndexError:
                pass
            else:
                if e is not None:
                    return e
        raise _unknown(i)

    def add(self, e: E) -> int:
        """Put ``e`` in a free slot (the latest freed first), else at the end; its index."""
        free = self.free
        if free:
            i = free.pop()
            self.array[i] = e
        else:
            a = self.array
            i = len(a)
            if i > self.max_index:
                if i > Table.MAX_LENGTH:
                    raise Trap("handle table full")
                raise Trap(f"handle limit of {self.limit} reached")
            a.append(e)
        if self.journal is not None:
            self.journal.append(i)
        return i

    def remove(self, i: int) -> E:
        """Take out the element at ``i`` (traps as :meth:`get` when there is none)."""
        a = self.array
        if i >= 0:
            try:
                e = a[i]
            except IndexError:
                pass
            else:
                if e is not None:
                    a[i] = None
                    self.free.append(i)
                    return e
        raise _unknown(i)

    def undo(self, added: list[int]) -> None:
        """Take out the entries a journal recorded (``added``), latest first, as if never added."""
        for i in reversed(added):
            self.remove(i)
        added.clear()


class BorrowScope:
    """The borrows of one call (see the module docstring); ``ended`` once the call returned.

    The fields start as class-level defaults, with no ``__init__``: a scope is
    made for every call that passes borrows, and making one runs no Python code.
    ``lenders`` is empty (a tuple) until the first lend makes it a list.
    """

    num_borrows = 0
    ended = False
    lenders: list[ResourceHandle] | tuple[()] = ()

    def add_lender(self, h: ResourceHandle) -> None:
        h.num_lends += 1
        lenders = self.lenders
        if isinstance(lenders, list):
            lenders.append(h)
        else:
            self.lenders = [h]

    def exit(self) -> None:
        """End the call: trap if the callee still holds borrows; release the lends."""
        self.ended = True
        lenders = self.lenders
        if lenders:
            for h in lenders:
                h.num_lends -= 1
            self.lenders = ()
        if self.num_borrows:
            raise Trap(BORROWS_REMAIN)

    def release(self) -> None:
        """Release the lends without the borrow check (for calls that trapped)."""
        self.ended = True
        for h in self.lenders:
            h.num_lends -= 1
        self.lenders = ()


class ResourceHandle:
    """An entry of a handle table for a resource: ``own`` or a borrow within ``borrow_scope``."""

    __slots__ = ("borrow_scope", "num_lends", "own", "rep", "rt")

    def __init__(
        self, rt: ResourceType, rep: int, own: bool, borrow_scope: BorrowScope | None = None
    ) -> None:
        self.rt = rt
        self.rep = rep
        self.own = own
        self.borrow_scope = borrow_scope
        self.num_lends = 0

    def __repr__(self) -> str:
        kind = "own" if self.own else "borrow"
        return f"<{kind} handle {self.rt.name} rep={self.rep} lends={self.num_lends}>"


def resource_handle(inst: Any, i: int, rt: ResourceType) -> ResourceHandle:
    """The handle ``i`` (not negative) of ``inst``'s table, a handle of resource type ``rt``;
    traps naming what is wrong when it is not one."""
    a = inst.handles.array  # Table.get in line
    h = a[i] if i < len(a) else None
    if h.__class__ is not ResourceHandle:
        if h is None:
            raise _unknown(i)
        raise Trap(f"handle index {i} used with the wrong type, expected resource handle")
    if h.rt is not rt:
        raise Trap(
            f"handle index {i} used with the wrong type, expected guest-defined "
            "resource but found a different guest-defined resource"
        )
    return h


# --- canon resource.new / resource.rep / resource.drop ------------------------------


def resource_new(inst: Any, rt: ResourceType, rep: int) -> int:
    """``canon resource.new``: a new owned handle to ``rep`` in ``inst``'s table."""
    if not inst.may_leave:
        raise Trap("cannot leave component instance")
    i: int = inst.handles.add(ResourceHandle(rt, rep & 0xFFFF_FFFF, True))
    return i


def resource_rep(inst: Any, rt: ResourceType, i: int) -> int:
    """``canon resource.rep``: the rep behind handle ``i``."""
    return resource_handle(inst, i & 0xFFFF_FFFF, rt).rep


def resource_drop(inst: Any, rt: ResourceType, i: int) -> None:
    """``canon resource.drop``: remove handle ``i``; run the destructor for owned handles.

    ``rt.dtor``, when set, is called as ``rt.dtor(rep)``; it is responsible for
    entering ``rt.impl`` (Wasmtime traps 'cannot enter component instance' there
    when the implementation is not enterable).
    """
    if not inst.may_leave:
        raise Trap("cannot leave component instance")
    i &= 0xFFFF_FFFF
    h = resource_handle(inst, i, rt)
    if h.num_lends:
        raise Trap("cannot remove owned resource while borrowed")
    table = inst.handles  # Table.remove in line (the entry is there)
    table.array[i] = None
    table.free.append(i)
    if h.own:
        impl = rt.impl
        if impl is not None and impl is not inst and getattr(impl, "may_enter", True) is False:
            raise Trap("cannot enter component instance")
        if rt.dtor is not None:
            rt.dtor(h.rep)
    else:
        scope = h.borrow_scope
        if scope is not None:
            scope.num_borrows -= 1
