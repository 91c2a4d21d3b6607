"""Precise annotations for host functions: ``def f(x: u32) -> s64: ...``.

Each alias is the Python type carrying the WIT type in ``Annotated`` metadata,
so type checkers see plain ``int``/``float``/``str`` while
``Linker.func_wrap`` checks the exact WIT type at link time.
"""

from __future__ import annotations

from typing import Annotated

from wasmloom import types as T

u8 = Annotated[int, T.U8]
s8 = Annotated[int, T.S8]
u16 = Annotated[int, T.U16]
s16 = Annotated[int, T.S16]
u32 = Annotated[int, T.U32]
s32 = Annotated[int, T.S32]
u64 = Annotated[int, T.U64]
s64 = Annotated[int, T.S64]
f32 = Annotated[float, T.F32]
f64 = Annotated[float, T.F64]
char = Annotated[str, T.CHAR]
string = Annotated[str, T.STRING]

__all__ = ["char", "f32", "f64", "s8", "s16", "s32", "s64", "string", "u8", "u16", "u32", "u64"]
