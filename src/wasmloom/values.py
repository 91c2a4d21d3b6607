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

from wasmloom.errors import HandleError, Trap, WasmloomError
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


# The states of a Resource: built by hand, given out by the runtime (live), then moved
# to the guest as `own` or dropped by the host.
_BY_HAND, _LIVE, _MOVED, _DROPPED = range(4)


class Resource:
    """A resource handle value as the host sees it.

    ``rt`` is the resource type, ``rep`` the representation (an ``i32`` the
    implementation chose), ``own`` whether this is an owning handle (``own<R>``)
    or a borrow (``borrow<R>``). All three are read-only.

    A host builds handles of its own resource types by hand. A handle of a
    resource a guest implements is one the runtime gave out: a call's result,
    or a host function's argument. It cannot be forged, copied or changed,
    and the runtime refuses it (:class:`~wasmloom.errors.HandleError`, before
    the guest is entered) once it was dropped (:meth:`drop`), moved to the
    guest as ``own``, or, for a borrow, once the call that lent it returned.
    """

    __slots__ = ("_own", "_rep", "_rt", "_scope", "_state")

    def __init__(self, rt: ResourceType, rep: int, own: bool) -> None:
        self._rt = rt
        self._rep = rep
        self._own = own
        self._state = _BY_HAND
        self._scope: Any = None

    @property
    def rt(self) -> ResourceType:
        """The resource type."""
        return self._rt

    @property
    def rep(self) -> int:
        """The representation the resource's implementation chose."""
        return self._rep

    @property
    def own(self) -> bool:
        """Whether this is an owning handle (``own<R>``) rather than a borrow."""
        return self._own

    @property
    def dropped(self) -> bool:
        """Whether this handle was dropped, or moved to the guest as ``own``."""
        return self._state >= _MOVED

    def drop(self, store: Any) -> None:
        """Drop this owned handle: the resource's destructor runs, once.

        ``store`` is the store the handle belongs to. Dropping a handle already
        dropped or moved to the guest, or a borrow (not the host's to drop),
        does nothing. Raises :class:`~wasmloom.errors.HandleError` for a handle
        built by hand for a guest's resource, and :class:`~wasmloom.errors.Trap`
        when the implementing instance cannot be entered (it trapped, or is on
        the stack).
        """
        rt = self._rt
        impl = rt.impl
        if impl is not None and getattr(store, "core", store) is not impl.store:
            raise WasmloomError(f"{self!r} belongs to another store than the one passed to drop()")
        if self._state == _BY_HAND and impl is not None:
            raise self._refused()
        if not self._own or self._state >= _MOVED:
            return
        if impl is not None and (impl.poisoned or not impl.may_enter):
            raise Trap(f"cannot enter component instance to drop {self!r}")
        self._state = _DROPPED
        dtor = rt.dtor
        if dtor is not None:
            dtor(self._rep)

    def _refused(self) -> HandleError:
        state = self._state
        if state == _BY_HAND:
            return HandleError(
                f"{self!r} was not given out by the runtime: a handle to a resource a guest "
                "implements comes from a call's result or a host function's argument"
            )
        if state == _LIVE:
            return HandleError(f"{self!r}: the borrow ended when the call that lent it returned")
        how = "dropped" if state == _DROPPED else "moved to the guest"
        return HandleError(f"{self!r} was {how}; a handle dropped or moved cannot be used")

    def _give(self, own: bool) -> int:
        """The rep to lower into a guest; lowered as ``own``, the handle moves there.

        Raises :class:`~wasmloom.errors.HandleError` for a handle the host does
        not hold (see the class docstring).
        """
        state = self._state
        if state == _LIVE:
            scope = self._scope
            if scope is not None and scope.ended:
                raise self._refused()
            if own:
                self._state = _MOVED
            return self._rep
        if state == _BY_HAND and self._rt.impl is None:
            return self._rep  # the host's own resource type: its reps are its own
        raise self._refused()

    def _untake(self, before: Any) -> None:
        """Undo :meth:`_give` of an ``own`` handle whose call failed before the guest ran."""
        self._state = _LIVE

    def __copy__(self) -> Resource:
        return self

    def __deepcopy__(self, memo: Any) -> Resource:
        return self

    def __reduce__(self) -> Any:
        raise TypeError("resource handles cannot be pickled")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Resource):
            return NotImplemented
        return self._rt is other._rt and self._rep == other._rep and self._own == other._own

    def __hash__(self) -> int:
        return hash((id(self._rt), self._rep, self._own))

    def __repr__(self) -> str:
        kind = "own" if self._own else "borrow"
        return f"Resource({kind}<{self._rt.name}>, rep={self._rep})"


_R = TypeVar("_R", bound=Resource)


def _given_out(r: _R, scope: Any = None) -> _R:
    """Mark ``r`` as a live handle the runtime gives the host (only the runtime's lift calls
    this); a borrow is valid while ``scope`` (the lending call's) has not ``ended``."""
    r._state = _LIVE
    r._scope = scope
    return r


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
