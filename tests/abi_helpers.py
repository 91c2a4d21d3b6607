"""Shared helpers for the canonical ABI tests: a bump allocator over BytearrayMemory."""

from __future__ import annotations

from typing import Any

from wasmloom.abi.context import BytearrayMemory, CanonOptions, LiftLowerContext
from wasmloom.abi.handles import Table


class Inst:
    """A minimal component instance: a handle table and the may_leave flag."""

    def __init__(self) -> None:
        self.handles: Table[Any] = Table()
        self.may_leave = True
        self.may_enter = True


class Env:
    """A memory with a bump realloc that records its calls."""

    def __init__(
        self, encoding: str = "utf8", ptr_type: str = "i32", size: int = 1 << 16, start: int = 64
    ) -> None:
        self.mem = BytearrayMemory(size, ptr_type)
        self.top = start
        self.calls: list[tuple[int, int, int, int]] = []
        self.inst = Inst()
        self.opts = CanonOptions(
            string_encoding=encoding,  # type: ignore[arg-type]
            memory=self.mem,
            realloc=self.realloc,
        )

    def realloc(self, old: int, old_size: int, align: int, new_size: int) -> int:
        self.calls.append((old, old_size, align, new_size))
        assert not self.inst.may_leave
        if old and new_size <= old_size:
            return old  # shrink in place
        p = -(-self.top // align) * align
        self.top = p + new_size
        if old:
            self.mem.data[p : p + old_size] = self.mem.data[old : old + old_size]
        return p

    def cx(self, scope: Any = None, fused: bool = False) -> LiftLowerContext:
        cx = LiftLowerContext(self.opts, self.inst, scope, fused=fused)
        cx.refresh()
        return cx
