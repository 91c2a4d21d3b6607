"""A blocking built-in called from post-return traps 'cannot leave component instance'.

Post-return runs with ``may_leave`` clear and through the plain sync call path,
so the rule must be reported before the fiber layer's generic "cannot block"
refusal (values/post-return.wast checks the same).
"""

from __future__ import annotations

import pytest

import wasmloom

GUEST = """
(component
  (core func $yield (canon thread.yield))
  (core module $M
    (import "" "yield" (func $yield (result i32)))
    (func (export "f") (result i32) (i32.const 7))
    (func (export "post") (param i32) (drop (call $yield))))
  (core instance $m (instantiate $M (with "" (instance (export "yield" (func $yield))))))
  (func (export "f") (result u32)
    (canon lift (core func $m "f") (post-return (core func $m "post"))))
)
"""


def test_blocking_builtin_in_post_return_cannot_leave() -> None:
    component = wasmloom.Component.from_bytes(GUEST)
    store: wasmloom.Store[None] = wasmloom.Store()
    f = wasmloom.Linker().instantiate(store, component).get_func("f")
    assert f is not None
    with pytest.raises(wasmloom.Trap, match="cannot leave component instance"):
        f(store)
