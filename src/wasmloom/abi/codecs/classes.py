"""Python classes to lift values into: :class:`ClassMap`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from wasmloom.types import EnumType, FlagsType, RecordType, ValType, VariantType, contains


class ClassMap:
    """Python classes to lift values of given types into (an optional input of :func:`get_codec`).

    Keys are value types; a type absent from the map keeps the default value
    mapping. The value of each kind of key:

    - :class:`RecordType`: a class called with the field values positionally,
      in WIT order; its ``__match_args__`` (as dataclasses have), when present,
      names the attributes lowering reads (else the labels with ``-`` -> ``_``);
    - :class:`VariantType`: a tuple of one class per case, called with the
      payload (with no argument for a case without one); lowering accepts an
      instance of a case class, reading its payload from ``.value``;
    - :class:`EnumType`: an ``enum.Enum`` class whose members are in label order;
    - :class:`FlagsType`: an ``enum.Flag`` class where label ``i`` is bit ``1 << i``;
    - :class:`OwnType` / :class:`BorrowType`: a pair ``(from_rep, to_rep)``;
      lifting gives ``from_rep(rep)`` and lowering passes ``to_rep(value)`` on.

    Lowering still accepts everything the default mapping accepts. A named
    type (``name`` set, as typed bindings make them) is looked up by its
    structure and name, so same-shaped named types keep their own classes;
    an unnamed one by its structure alone. Class maps compare by content, so
    they key the codec caches.
    """

    __slots__ = ("_by_shape", "_hash", "_key", "map")

    def __init__(self, entries: Mapping[ValType, Any] | Iterable[tuple[ValType, Any]]) -> None:
        pairs = entries.items() if isinstance(entries, Mapping) else entries
        self.map: dict[tuple[ValType, str | None], Any] = {(t, _name(t)): cls for t, cls in pairs}
        # the same entries by shape alone, for unnamed types (the last one wins)
        self._by_shape: dict[ValType, Any] = {t: cls for (t, _), cls in self.map.items()}
        self._key = frozenset(self.map.items())
        self._hash = hash(self._key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ClassMap) and self._key == other._key

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"ClassMap({len(self.map)} types)"

    def get(self, t: ValType) -> Any:
        """The class (or converters) for values of ``t``; ``None`` if it has none."""
        name = _name(t)
        if name is None:
            return self._by_shape.get(t)
        return self.map.get((t, name))

    def applies_to(self, t: ValType | None) -> bool:
        """Whether ``t`` or a type nested in it has an entry."""
        return contains(t, lambda u: self.get(u) is not None)


def _name(t: ValType) -> str | None:
    if isinstance(t, RecordType | VariantType | EnumType | FlagsType):
        return t.name
    return None


def type_names(t: ValType | None) -> tuple[str | None, ...]:
    """The names of ``t`` and the types nested in it, in a fixed order (a cache key part)."""
    out: list[str | None] = []

    def visit(u: ValType) -> bool:
        out.append(_name(u))
        return False

    contains(t, visit)
    return tuple(out)
