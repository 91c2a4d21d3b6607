"""What a component's later instances reuse of the first one's built-ins: the
``task.return`` lifting plan, derived once per definition and result type, while
each instance keeps its own options, memory and traps.

Guests: tests/guests/conformance_task_return.wat (``task.return`` definitions with
and without a memory, in UTF-8 and UTF-16), tests/guests/context_dtor.wat (a result
of a resource type the instance defines).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from guest_util import component

from wasmloom import Linker, Store, Trap
from wasmloom.runtime.builtins import tasks

TASK_RETURN_INVALID = "invalid `task.return` signature and/or options for current task"


def _instance() -> tuple[Store[None], Any]:
    store: Store[None] = Store()
    return store, Linker().instantiate(store, component("conformance_task_return"))


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    made: list[Any] = []
    real = tasks.FuncABI

    def counted(*args: Any) -> Any:
        made.append(args)
        return real(*args)

    monkeypatch.setattr(tasks, "FuncABI", counted)
    return made


def test_a_later_instance_reuses_the_task_return_plans(monkeypatch: pytest.MonkeyPatch) -> None:
    _instance()  # the first instance derives the plans
    made = _counting(monkeypatch)
    for _ in range(2):
        store, inst = _instance()
        assert made == []
        for name, args, result in (
            ("same-memory-ok", (), "ok"),
            ("no-memory-ok", ("héllo",), 6),
            ("utf16-ok", (), "ok"),
        ):
            f = inst.get_func(name)
            assert f is not None
            assert f(store, *args) == result
    assert made == []


@pytest.mark.parametrize("name", ["string-encoding", "utf16-lift-utf8-return", "other-memory"])
def test_reused_task_return_plans_keep_each_instances_option_checks(name: str) -> None:
    for _ in range(3):
        store, inst = _instance()
        f = inst.get_func(name)
        assert f is not None
        with pytest.raises(Trap, match=f"^{TASK_RETURN_INVALID}"):
            f(store)
        assert inst.poisoned


def test_a_result_of_an_instances_own_resource_is_planned_per_instance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """context_dtor's ``task.return`` returns ``own<g>`` of a resource its instance
    defines: no plan keeps it (it would keep that instance alive), and each instance
    lifts its own handles."""
    made = _counting(monkeypatch)
    for n in range(2):
        store: Store[None] = Store()
        inst = Linker().instantiate(store, component("context_dtor"))
        assert len(made) == n + 1
        make, saw, drop = (inst.get_func(x) for x in ("make-async", "dtor-saw", "drop-it"))
        assert make is not None and saw is not None and drop is not None
        g = asyncio.run(make.call_async(store, 5))
        drop(store, g)
        assert saw(store) == 1000
    for _d, result_t, _form, _flat, _lift in tasks._task_return_plans.values():
        assert not tasks._holds_instance_resource(result_t)
