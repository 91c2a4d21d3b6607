"""The state of component instantiation: instances, their index spaces, definitions.

:class:`ComponentInstance` is the runtime state of one instance (the spec's
``ComponentInstance``: handle table, ``may_enter``/``may_leave``, poisoning);
:class:`Scope` holds the index spaces of one component scope while
:func:`wasmloom.runtime.instance.instantiate` walks its definitions;
:class:`ComponentDef` is a decoded component ready to instantiate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from wasmloom import core
from wasmloom.abi.context import CanonOptions
from wasmloom.abi.handles import Table
from wasmloom.binary import ast
from wasmloom.errors import LinkError
from wasmloom.runtime.typeresolve import TypeScope

if TYPE_CHECKING:  # what ComponentDef is, to the type checker
    from dataclasses import dataclass
else:  # and what makes it at run time: a dataclass without importing dataclasses
    from wasmloom.types import dataclass

__all__ = ["ComponentDef", "ComponentInstance", "InstanceExports", "Scope"]

Sort = ast.Sort


class InstanceExports(dict[str, Any]):
    """The exports of a component instance (or an instance bundle), by name."""


@dataclass(eq=False)
class ComponentDef:
    """A component definition ready to instantiate.

    ``compiled`` maps ``id(ast.CoreModule)`` to its compiled module; nested
    definitions share their root's map. ``outer`` is the scope the component
    was defined in (``None`` at the root), for outer aliases.
    """

    ast: ast.Component
    compiled: dict[int, core.CoreModule]
    outer: Scope | None = None
    name: str | None = None


class ComponentInstance:
    """Runtime state of one component instance, as the spec's ``ComponentInstance``."""

    __slots__ = (
        "conc",
        "handles",
        "may_enter",
        "may_leave",
        "name",
        "parent",
        "poisoned",
        "realloc_storage",
        "store",
        "sync_storage",
    )

    def __init__(self, store: core.CoreStore, parent: ComponentInstance | None, name: str) -> None:
        self.store = store
        self.parent = parent
        self.name = name
        self.handles: Table[Any] = Table(store.limits.handles)
        self.may_enter = True
        self.may_leave = True
        self.poisoned = False
        self.conc: Any = None  # wasmloom.runtime.tasks.InstanceState, created on first async use
        #: The context-local storage (``context.get``/``set``) of the sync call running
        #: without a thread (the sync fast path): every such call sets it to None,
        #: and the first ``context.*`` of the call makes zeroed slots.
        self.sync_storage: list[int] | None = None
        #: The fresh slots of the ``realloc`` call running now (see
        #: :meth:`wasmloom.abi.context.LiftLowerContext.reallocate`), else None.
        self.realloc_storage: list[int] | None = None

    def self_and_ancestors(self) -> list[ComponentInstance]:
        out: list[ComponentInstance] = []
        inst: ComponentInstance | None = self
        while inst is not None:
            out.append(inst)
            inst = inst.parent
        return out

    def entering_set(self, caller: ComponentInstance | None) -> list[ComponentInstance]:
        mine = self.self_and_ancestors()
        if caller is None:
            return mine
        theirs = caller.self_and_ancestors()
        return [i for i in mine if i not in theirs]

    def __repr__(self) -> str:
        return f"<component instance {self.name}>"


class Scope(TypeScope):
    """All index spaces of one component scope during instantiation."""

    def __init__(self, parent: Scope | None) -> None:
        super().__init__(parent)
        self.core_funcs: list[Any] = []
        self.core_tables: list[Any] = []
        self.core_memories: list[Any] = []
        self.core_globals: list[Any] = []
        self.core_tags: list[Any] = []
        self.core_modules: list[core.CoreModule] = []
        self.core_instances: list[Mapping[str, Any]] = []
        self.funcs: list[Any] = []
        self.values: list[Any] = []
        self.components: list[ComponentDef] = []
        self.comp_instances: list[InstanceExports] = []
        # The canonical options of this scope's lifts and lowerings, by the canonopts
        # that name them (see runtime.instance._canon_options).
        self.canon_memo: dict[tuple[Any, ...], CanonOptions] = {}
        # The index space of each sort (the lists above are only ever appended to).
        self._spaces: dict[Sort, list[Any]] = {
            Sort.CORE_FUNC: self.core_funcs,
            Sort.CORE_TABLE: self.core_tables,
            Sort.CORE_MEMORY: self.core_memories,
            Sort.CORE_GLOBAL: self.core_globals,
            Sort.CORE_TAG: self.core_tags,
            Sort.CORE_TYPE: self.core_types,
            Sort.CORE_MODULE: self.core_modules,
            Sort.CORE_INSTANCE: self.core_instances,
            Sort.FUNC: self.funcs,
            Sort.VALUE: self.values,
            Sort.TYPE: self.types,
            Sort.COMPONENT: self.components,
            Sort.INSTANCE: self.comp_instances,
        }

    def space(self, sort: Sort) -> list[Any]:
        return self._spaces[sort]

    def get(self, sort: Sort, idx: int) -> Any:
        space = self._spaces[sort]
        if idx >= len(space):
            raise LinkError(f"{sort.value} index {idx} out of bounds")
        return space[idx]

    def push(self, sort: Sort, item: Any) -> None:
        self._spaces[sort].append(item)

    def canon_options(self, o: ast.CanonOpts) -> CanonOptions:
        """Turn a ``canonopt`` list into :class:`CanonOptions` with this scope's live memory and functions."""
        memory = None if o.memory is None else self.core_memories[o.memory]
        realloc = None if o.realloc is None else self.core_funcs[o.realloc].caller()
        post_return = None if o.post_return is None else self.core_funcs[o.post_return].caller()
        callback = None if o.callback is None else self.core_funcs[o.callback].caller()
        return CanonOptions(
            string_encoding=o.string_encoding,  # type: ignore[arg-type]
            memory=memory,
            realloc=realloc,
            post_return=post_return,
            is_async=o.is_async,
            callback=callback,
        )
