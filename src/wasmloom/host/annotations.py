"""Checking a Python host function's annotations against a WIT function type.

``func_wrap`` accepts ordinary annotations (``int``, ``str``, ``bytes``,
``list[int]``, ``tuple[int, str]``, ``X | None``...) and the precise aliases
of :mod:`wasmloom.typing` (``u32 = Annotated[int, U32]``). At link time each
annotation must be able to carry the WIT type it meets; an unannotated
parameter accepts anything.
"""

from __future__ import annotations

import enum
import types as pytypes
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import inspect

from wasmloom import types as T
from wasmloom.errors import LinkError

_INTS = {"s8", "u8", "s16", "u16", "s32", "u32", "s64", "u64"}


def _params(fn: Callable[..., Any], with_store: bool) -> list[inspect.Parameter]:
    import inspect

    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    ps = [
        p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return ps[1:] if with_store else ps


def functype_from_annotations(fn: Callable[..., Any], with_store: bool) -> None:
    """Check that ``fn``'s signature can be inspected; raise ``TypeError`` if not callable."""
    if not callable(fn):
        raise TypeError(f"{fn!r} is not callable")


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except Exception:
        return {}


def check_annotations(fn: Callable[..., Any], ft: T.FuncType, with_store: bool, path: str) -> None:
    """Raise :class:`LinkError` if ``fn`` cannot implement ``ft``."""
    import inspect

    params = _params(fn, with_store)
    try:
        sig = inspect.signature(fn)
        variadic = any(p.kind == p.VAR_POSITIONAL for p in sig.parameters.values())
    except (TypeError, ValueError):
        return
    if not variadic and len(params) != len(ft.params):
        raise LinkError(
            f"host function for `{path}` takes {len(params)} parameter(s), "
            f"but the import's type is `{ft}`"
        )
    hints = _hints(fn)
    for p, (pname, t) in zip(params, ft.params, strict=False):
        ann = hints.get(p.name)
        if ann is not None and not annotation_fits(ann, t):
            raise LinkError(
                f"host function for `{path}`: parameter `{p.name}` is annotated `{ann}`, "
                f"which cannot carry `{pname}: {t}`"
            )
    ret = hints.get("return")
    if ret is not None and "return" in hints:
        if ft.result is None:
            if ret is not type(None):
                raise LinkError(
                    f"host function for `{path}` returns `{ret}`, but the import has no result"
                )
        elif not annotation_fits(ret, ft.result):
            raise LinkError(
                f"host function for `{path}` returns `{ret}`, which cannot carry `{ft.result}`"
            )


def annotation_fits(ann: Any, t: T.ValType) -> bool:
    """Whether values of annotation ``ann`` can be lowered as (or lifted from) ``t``."""
    if ann is Any or ann is object:
        return True
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin is typing.Annotated:
        extra = [a for a in args[1:] if _is_valtype(a)]
        if extra:
            return bool(extra[0] == t)
        return annotation_fits(args[0], t)
    if origin in (typing.Union, pytypes.UnionType):
        non_none = [a for a in args if a is not type(None)]
        if isinstance(t, T.OptionType) and len(non_none) < len(args):
            rest = non_none[0] if len(non_none) == 1 else typing.Union[tuple(non_none)]  # noqa: UP007
            return annotation_fits(rest, t.t)
        return any(annotation_fits(a, t) for a in non_none)
    if isinstance(t, T.PrimType):
        n = t.name
        if n in _INTS:
            return ann is int
        if n in ("f32", "f64"):
            return ann in (float, int)
        if n in ("char", "string"):
            return ann is str
        return ann is bool
    if isinstance(t, T.ListType):
        if ann in (bytes, bytearray, memoryview):
            return t.t == T.U8
        if origin in (list, tuple, typing.Sequence) or ann in (list, tuple):
            return not args or annotation_fits(args[0], t.t)
        return _is_collections_sequence(origin)
    if isinstance(t, T.TupleType):
        if origin is tuple:
            return len(args) == len(t.ts) and all(
                annotation_fits(a, x) for a, x in zip(args, t.ts, strict=True)
            )
        return ann is tuple
    if isinstance(t, T.OptionType):
        return annotation_fits(ann, t.t)
    if isinstance(t, T.EnumType):
        return ann is str or (isinstance(ann, type) and issubclass(ann, enum.Enum))
    if isinstance(t, T.FlagsType):
        return (isinstance(ann, type) and issubclass(ann, enum.Flag)) or origin in (set, frozenset)
    if isinstance(t, T.MapType):
        return origin is dict or ann is dict
    # records, variants, results, resources, streams, futures: any class is acceptable
    return isinstance(ann, type) or origin is not None


def _is_collections_sequence(origin: Any) -> bool:
    import collections.abc as cabc

    return origin in (cabc.Sequence, cabc.Iterable, cabc.Collection)


def _is_valtype(x: Any) -> bool:
    return type(x).__module__ == T.__name__ and not isinstance(x, T.ResourceType)
