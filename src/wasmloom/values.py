"""Python classes for component values.

The mapping between WIT types and Python values (fixed, public):

- integers and floats: ``int`` / ``float``; ``bool``: ``bool``
- ``char`` and ``string``: ``str``
- ``list<u8>``: ``bytes`` (lowering also takes ``bytearray``/``memoryview``)
- ``list<T>`` and ``list<T, N>``: ``list`` (lowering takes any sequence)
- ``tuple<...>``: ``tuple``
- ``record``: :class:`Record`, attributes named by label with ``-`` -> ``_``
  (lowering accepts any object with those attributes, or a ``dict`` keyed by label)
- ``variant``: :class:`Variant` (``.tag`` is the WIT case label)
- ``enum``: a member of :func:`enum_class` (member values are the WIT labels;
  lowering also accepts the label ``str``)
- ``flags``: a value of :func:`flags_class` (lowering also accepts an iterable
  of label strings)
- ``option<T>``: the value or ``None``; when ``T`` is itself an option the
  present case is :class:`Some` (lowering accepts :class:`Some` always)
- ``result``: :class:`Ok` / :class:`Err` (``value`` is ``None`` without payload)
- ``map<K, V>``: ``dict``
- ``own<R>`` / ``borrow<R>``: :class:`Resource`
"""

from __future__ import annotations

import enum
from typing import Any, Generic, TypeVar, cast, overload

from wasmloom.types import EnumType, FlagsType, ResourceType

__all__ = [
    "Err",
    "Ok",
    "Record",
    "Resource",
    "Some",
    "Variant",
    "enum_class",
    "flags_class",
    "py_name",
]


def py_name(label: str) -> str:
    """The Python attribute name of a WIT label: ``-`` becomes ``_``."""
    return label.replace("-", "_")


def _member_name(label: str) -> str:
    # ``mro`` is the one kebab-case name enum refuses as a member name.
    name = py_name(label)
    return name + "_" if name == "mro" else name


class Record:
    """A record value: one attribute per field.

    ``Record(a=1, b_c=2)``. Two records are equal when their attributes are.
    """

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __repr__(self) -> str:
        return "Record(" + ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items()) + ")"

    __hash__ = None  # type: ignore[assignment]


class Variant:
    """A variant value: the case label ``tag`` and its payload ``value``."""

    __slots__ = ("tag", "value")

    def __init__(self, tag: str, value: Any = None) -> None:
        self.tag = tag
        self.value = value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Variant):
            return NotImplemented
        return self.tag == other.tag and self.value == other.value

    def __hash__(self) -> int:
        return hash((self.tag, self.value))

    def __repr__(self) -> str:
        if self.value is None:
            return f"Variant({self.tag!r})"
        return f"Variant({self.tag!r}, {self.value!r})"


_T = TypeVar("_T")


class _Box(Generic[_T]):
    __slots__ = ("value",)

    value: _T

    @overload
    def __init__(self: _Box[None]) -> None: ...
    @overload
    def __init__(self, value: _T) -> None: ...
    def __init__(self, value: Any = None) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return bool(self.value == other.value)

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.value))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.value!r})"


class Ok(_Box[_T]):
    """The ``ok`` case of a ``result``; ``value`` is ``None`` when it has no payload.

    Generic in the payload type for annotations: ``Ok[int] | Err[str]``.
    """

    __slots__ = ()


class Err(_Box[_T]):
    """The ``error`` case of a ``result``; ``value`` is ``None`` when it has no payload."""

    __slots__ = ()


class Some(_Box[_T]):
    """The present case of an ``option`` whose payload may itself be ``None``."""

    __slots__ = ()

    def __init__(self, value: _T) -> None:
        self.value = value


class Resource:
    """A resource handle value as the host sees it.

    ``rt`` is the resource type, ``rep`` the representation (an ``i32`` the
    implementation chose), ``own`` whether this is an owning handle (``own<R>``)
    or a borrow (``borrow<R>``).
    """

    __slots__ = ("own", "rep", "rt")

    def __init__(self, rt: ResourceType, rep: int, own: bool) -> None:
        self.rt = rt
        self.rep = rep
        self.own = own

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Resource):
            return NotImplemented
        return self.rt is other.rt and self.rep == other.rep and self.own == other.own

    def __hash__(self) -> int:
        return hash((id(self.rt), self.rep, self.own))

    def __repr__(self) -> str:
        kind = "own" if self.own else "borrow"
        return f"Resource({kind}<{self.rt.name}>, rep={self.rep})"


_enum_classes: dict[EnumType, type[enum.Enum]] = {}
_flags_classes: dict[FlagsType, type[enum.Flag]] = {}


def enum_class(t: EnumType) -> type[enum.Enum]:
    """The Python ``enum.Enum`` class of ``t`` (one per structurally equal type).

    Member names are the labels with ``-`` -> ``_`` (``mro`` becomes ``mro_``); member values are the labels.
    """
    cached = _enum_classes.get(t)
    if cached is not None:
        return cached
    cls: Any = enum.Enum("Enum", [(_member_name(label), label) for label in t.labels])  # type: ignore[misc]
    cls.__qualname__ = f"enum<{', '.join(t.labels)}>"
    _enum_classes[t] = cls
    return cast("type[enum.Enum]", cls)


def flags_class(t: FlagsType) -> type[enum.Flag]:
    """The Python ``enum.Flag`` class of ``t`` (one per structurally equal type).

    Member names are as for :func:`enum_class`; label ``i`` is bit ``1 << i``.
    """
    cached = _flags_classes.get(t)
    if cached is not None:
        return cached
    members = [(_member_name(label), 1 << i) for i, label in enumerate(t.labels)]
    cls: Any = enum.Flag("Flags", members, boundary=enum.STRICT)  # type: ignore[misc]
    cls.__qualname__ = f"flags<{', '.join(t.labels)}>"
    _flags_classes[t] = cls
    return cast("type[enum.Flag]", cls)
