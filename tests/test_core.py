"""wasmloom.core against real core modules written in WAT."""

from __future__ import annotations

import math

import pytest
import wasmtime

from wasmloom import DecodeError, LinkError, Trap, ValidationError
from wasmloom.core import (
    CoreFunc,
    CoreGlobal,
    CoreGlobalDesc,
    CoreMemory,
    CoreMemoryDesc,
    CoreStore,
    CoreTable,
    CoreTableDesc,
    CoreTag,
    Engine,
    compile_module,
    default_engine,
    host_func,
    instantiate,
    module_type,
    wrap_extern,
)
from wasmloom.types import CoreExternDesc, CoreFuncType

I32_I32 = CoreFuncType(("i32",), ("i32",))


def compile_wat(text: str, engine: Engine | None = None):  # type: ignore[no-untyped-def]
    return compile_module(engine or default_engine(), wasmtime.wat2wasm(text))


def inst(text: str, imports=(), store: CoreStore | None = None):  # type: ignore[no-untyped-def]
    store = store or CoreStore()
    return instantiate(store, compile_wat(text), list(imports))


NUMERIC = """
(module
  (func (export "i32") (param i32) (result i32) local.get 0)
  (func (export "i64") (param i64) (result i64) local.get 0)
  (func (export "f32") (param f32) (result f32) local.get 0)
  (func (export "f64") (param f64) (result f64) local.get 0)
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "neg64") (result i64) i64.const -1)
  (func (export "none"))
  (func (export "swap") (param i64 f32 f64 i32) (result i32 f64 f32 i64)
    local.get 3 local.get 2 local.get 1 local.get 0)
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "unreachable") unreachable)
  (memory 1)
  (func (export "oob") (result i32) (i32.load (i32.const 70000)))
)
"""


# --- calls and results -------------------------------------------------------------------


def test_every_core_type_round_trips() -> None:
    i = inst(NUMERIC)
    assert i.func("i32").call(7) == 7
    assert i.func("i32").call(-1) == 0xFFFFFFFF  # results are unsigned
    assert i.func("i32").call(2**32 + 5) == 5  # args are masked to the width
    assert i.func("i64").call(-2) == 2**64 - 2
    assert i.func("i64").call(2**63) == 2**63
    assert i.func("f32").call(1.5) == 1.5
    assert i.func("f32").call(3) == 3.0
    assert math.isinf(i.func("f32").call(float("inf")))
    assert i.func("f64").call(0.1) == 0.1
    assert math.isnan(i.func("f64").call(float("nan")))
    assert i.func("neg64").call() == 2**64 - 1
    assert i.func("none").call() is None
    assert i.func("swap").call(-1, 2.5, 1e300, 9) == (9, 1e300, 2.5, 2**64 - 1)
    assert i.func("add").ty == CoreFuncType(("i32", "i32"), ("i32",))


def test_caller_is_cached_and_checks_arity() -> None:
    f = inst(NUMERIC).func("add")
    assert f.caller() is f.caller()
    add = f.caller()
    assert add(0xFFFFFFFF, 2) == 1
    with pytest.raises(TypeError):
        add(1)
    with pytest.raises(TypeError):
        add(1, "x")
    assert add(2, 3) == 5  # still usable after bad arguments


def test_traps_carry_wasmtime_messages() -> None:
    i = inst(NUMERIC)
    with pytest.raises(Trap) as e:
        i.func("unreachable").call()
    assert e.value.message == "wasm trap: wasm `unreachable` instruction executed"
    with pytest.raises(Trap) as e:
        i.func("div").call(1, 0)
    assert e.value.message == "wasm trap: integer divide by zero"
    with pytest.raises(Trap) as e:
        i.func("oob").call()
    # wasmtime's context comes first, joined as anyhow does: "context: cause"
    assert e.value.message.endswith(": wasm trap: out of bounds memory access")
    assert i.func("div").call(6, 3) == 2  # the store survives traps
    assert i.store.pending is None


# --- host functions ----------------------------------------------------------------------

HOST = """
(module
  (import "h" "f" (func $f (param i32) (result i32)))
  (func (export "call") (param i32) (result i32) (call $f (local.get 0)))
)
"""


def test_host_function_values() -> None:
    store = CoreStore()
    seen: list[tuple[int, ...]] = []

    def fn(a: int, b: int, c: float, d: float) -> tuple[int, int, float, float]:
        seen.append((a, b))
        return (-1, -2, c * 2, d * 2)

    ty = CoreFuncType(("i32", "i64", "f32", "f64"), ("i32", "i64", "f32", "f64"))
    h = host_func(store, ty, fn)
    i = inst(
        """(module
          (import "h" "f" (func $f (param i32 i64 f32 f64) (result i32 i64 f32 f64)))
          (func (export "go") (param i32 i64 f32 f64) (result i32 i64 f32 f64)
            (call $f (local.get 0) (local.get 1) (local.get 2) (local.get 3))))""",
        [h],
        store,
    )
    assert i.func("go").call(-5, -6, 1.25, 2.5) == (2**32 - 1, 2**64 - 2, 2.5, 5.0)
    assert seen == [(2**32 - 5, 2**64 - 6)]  # host sees unsigned ints
    # a host function is callable directly, too
    assert h.call(1, 2, 0.5, 0.5) == (2**32 - 1, 2**64 - 2, 1.0, 1.0)


def test_host_function_no_params_no_results() -> None:
    store = CoreStore()
    h = host_func(store, CoreFuncType((), ()), lambda: 5)
    with pytest.raises(TypeError, match="expected None"):
        h.call()
    h2 = host_func(store, CoreFuncType((), ()), lambda: None)
    assert h2.call() is None


def test_host_trap_message_is_exact() -> None:
    store = CoreStore()

    def fn(x: int) -> int:
        raise Trap(f"host says no to {x}")

    i = inst(HOST, [host_func(store, I32_I32, fn)], store)
    with pytest.raises(Trap) as e:
        i.func("call").call(3)
    assert e.value.message == "host says no to 3"
    assert store.pending is None


def test_host_python_exception_is_reraised() -> None:
    store = CoreStore()
    boom = KeyError("boom")

    def fn(x: int) -> int:
        if x == 1:
            raise boom
        return x * 10

    i = inst(HOST, [host_func(store, I32_I32, fn)], store)
    call = i.func("call").caller()
    with pytest.raises(KeyError) as e:
        call(1)
    assert e.value is boom
    assert store.pending is None
    assert call(2) == 20


def test_host_bad_return_value_is_reraised() -> None:
    store = CoreStore()
    i = inst(HOST, [host_func(store, I32_I32, lambda x: "nope")], store)
    with pytest.raises(TypeError):
        i.func("call").call(1)
    i2 = inst(HOST, [host_func(store, I32_I32, lambda x: (1, 2))], store)
    with pytest.raises(TypeError):
        i2.func("call").call(1)


class Stop(BaseException):
    pass


def test_base_exception_does_not_escape_the_callback() -> None:
    store = CoreStore()

    def fn(x: int) -> int:
        raise Stop()

    i = inst(HOST, [host_func(store, I32_I32, fn)], store)
    with pytest.raises(Stop):
        i.func("call").call(1)


CHAIN = """
(module
  (import "h" "outer" (func $outer (param i32) (result i32)))
  (import "h" "inner" (func $inner (param i32) (result i32)))
  (func (export "entry") (param i32) (result i32) (call $outer (local.get 0)))
  (func (export "middle") (param i32) (result i32) (call $inner (local.get 0)))
)
"""


def chain(inner_fn, catch: bool = False):  # type: ignore[no-untyped-def]
    """wasm entry -> host outer -> wasm middle -> host inner."""
    store = CoreStore()
    middle: list[CoreFunc] = []
    log: list[str] = []

    def outer(x: int) -> int:
        try:
            return int(middle[0].call(x)) + 1
        except KeyError:
            log.append("outer caught")
            if not catch:
                raise
            return 1000

    i = inst(
        CHAIN,
        [host_func(store, I32_I32, outer), host_func(store, I32_I32, inner_fn)],
        store,
    )
    middle.append(i.func("middle"))
    return i, store, log


def test_nested_chain_values() -> None:
    i, _, _ = chain(lambda x: x * 2)
    assert i.func("entry").call(5) == 11


def test_nested_chain_exception_reaches_outermost_caller() -> None:
    boom = KeyError("deep")

    def inner(x: int) -> int:
        raise boom

    i, store, log = chain(inner)
    with pytest.raises(KeyError) as e:
        i.func("entry").call(5)
    assert e.value is boom
    assert log == ["outer caught"]  # it passed through the intermediate host frame
    assert store.pending is None
    assert i.func("middle").call is not None


def test_nested_chain_exception_can_be_caught_midway() -> None:
    def inner(x: int) -> int:
        raise KeyError("deep")

    i, store, _ = chain(inner, catch=True)
    assert i.func("entry").call(5) == 1000
    assert store.pending is None


def test_nested_chain_trap_keeps_message() -> None:
    def inner(x: int) -> int:
        raise Trap("inner trap")

    i, _, _ = chain(inner)
    with pytest.raises(Trap, match=r"^inner trap$"):
        i.func("entry").call(5)


def test_reentrant_same_caller() -> None:
    """fact(n) = n * fact(n - 1) with the recursion going wasm -> host -> same export."""
    store = CoreStore()
    fact: list[CoreFunc] = []

    def host(n: int) -> int:
        return int(fact[0].caller()(n - 1))

    i = inst(
        """(module
          (import "h" "rec" (func $rec (param i64) (result i64)))
          (func (export "fact") (param i64) (result i64)
            (if (result i64) (i64.le_u (local.get 0) (i64.const 1))
              (then (i64.const 1))
              (else (i64.mul (local.get 0) (call $rec (local.get 0)))))))""",
        [host_func(store, CoreFuncType(("i64",), ("i64",)), host)],
        store,
    )
    fact.append(i.func("fact"))
    assert fact[0].call(20) == math.factorial(20)
    assert fact[0].call(25) == math.factorial(25) % 2**64
    assert fact[0].call(5) == 120


# --- memory ------------------------------------------------------------------------------

MEM = """
(module
  (memory (export "mem") 1 4)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "store") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
)
"""


def test_memory_view_tracks_growth() -> None:
    i = inst(MEM)
    mem = i.memory("mem")
    assert mem.ptr_type == "i32"
    assert mem.ty == CoreMemoryDesc(1, 4)
    v = mem.view()
    assert len(v) == 65536 and mem.size() == 1 and mem.data_size() == 65536
    assert mem.view() is v  # cached while the size is unchanged
    v[100] = 42
    assert i.func("load").call(100) == 42
    i.func("store").call(7, 9)
    assert v[7] == 9
    assert i.func("grow").call(1) == 1  # the guest grows it
    v2 = mem.view()
    assert len(v2) == 2 * 65536 and v2[100] == 42
    v2[65536 + 5] = 1
    assert i.func("load").call(65536 + 5) == 1
    assert mem.grow(1) == 2  # the host grows it
    assert len(mem.view()) == 3 * 65536
    assert mem.grow(5) == -1  # beyond the maximum
    assert len(mem.view()) == 3 * 65536
    with pytest.raises(IndexError):
        mem.view()[3 * 65536]


def test_memory_view_after_grow_inside_host_call() -> None:
    store = CoreStore()
    mem: list[CoreMemory] = []
    grow: list[CoreFunc] = []

    def fn(x: int) -> int:
        before = len(mem[0].view())
        grow[0].call(x)
        after = mem[0].view()
        after[len(after) - 1] = 0xAB
        return len(after) - before

    i = inst(
        """(module
          (import "h" "f" (func $f (param i32) (result i32)))
          (memory (export "mem") 1)
          (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
          (func (export "call") (param i32) (result i32) (call $f (local.get 0)))
          (func (export "last") (result i32)
            (i32.load8_u (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 1)))))""",
        [host_func(store, I32_I32, fn)],
        store,
    )
    mem.append(i.memory("mem"))
    grow.append(i.func("grow"))
    assert i.func("call").call(3) == 3 * 65536
    assert i.func("last").call() == 0xAB


def test_memory64_and_empty_memory() -> None:
    i = inst('(module (memory (export "m") i64 0))')
    mem = i.memory("m")
    assert mem.ptr_type == "i64" and mem.ty.memory64
    assert len(mem.view()) == 0
    assert mem.grow(1) == 0
    assert len(mem.view()) == 65536


# --- module types ------------------------------------------------------------------------


def test_module_imports_and_exports() -> None:
    m = compile_wat(
        """(module
          (type $t (func (param i32)))
          (import "a" "f" (func (param i64) (result f32)))
          (import "a" "m" (memory 1 2))
          (import "a" "g" (global (mut i32)))
          (import "a" "t" (table 3 funcref))
          (import "a" "e" (tag (param i32)))
          (func (export "ff") (type $t))
          (global (export "gg") i64 (i64.const 5))
          (memory (export "mm") i64 2)
          (table (export "tt") 1 10 externref)
          (tag (export "ee") (type $t))
          (export "f2" (func 0)))"""
    )
    assert m.imports == (
        ("a", "f", CoreExternDesc("func", CoreFuncType(("i64",), ("f32",)))),
        ("a", "m", CoreExternDesc("memory", CoreMemoryDesc(1, 2))),
        ("a", "g", CoreExternDesc("global", CoreGlobalDesc("i32", True))),
        ("a", "t", CoreExternDesc("table", CoreTableDesc("funcref", 3, None))),
        ("a", "e", CoreExternDesc("tag", CoreFuncType(("i32",), ()))),
    )
    assert m.exports == (
        ("ff", CoreExternDesc("func", CoreFuncType(("i32",), ()))),
        ("gg", CoreExternDesc("global", CoreGlobalDesc("i64", False))),
        ("mm", CoreExternDesc("memory", CoreMemoryDesc(2, None, memory64=True))),
        ("tt", CoreExternDesc("table", CoreTableDesc("externref", 1, 10))),
        ("ee", CoreExternDesc("tag", CoreFuncType(("i32",), ()))),
        ("f2", CoreExternDesc("func", CoreFuncType(("i64",), ("f32",)))),
    )
    assert m.type.imports == m.imports


def test_gc_types_do_not_crash() -> None:
    """wasmtime's C API aborts on these types; we read them from the binary instead."""
    text = """(module
      (rec (type $s (struct (field i32) (field (mut i8)))) (type $a (array (mut f64))))
      (type $f (func (param (ref null $s) anyref v128) (result (ref $a))))
      (global (export "g") (mut (ref null $s)) (ref.null $s))
      (func (export "f") (type $f) (array.new_default $a (i32.const 1))))"""
    m = compile_wat(text)
    assert m.export_types["f"].type == CoreFuncType(
        ("(ref null 0)", "anyref", "v128"), ("(ref 1)",)
    )
    assert m.export_types["g"].type == CoreGlobalDesc("(ref null 0)", True)
    i = instantiate(CoreStore(), m, [])
    f = i.exports["f"]
    assert isinstance(f, CoreFunc)
    with pytest.raises(NotImplementedError):
        f.caller()
    assert module_type(wasmtime.wat2wasm(text)) == m.type


def test_a_module_type_survives_its_marshalled_form_and_an_old_form_is_refused() -> None:
    import marshal

    from wasmloom.binary.core_module import module_type_from_data, module_type_to_data

    text = """(module
      (import "a" "f" (func (param i32) (result i32)))
      (import "a" "g" (func (param i32) (result i32)))
      (import "b" "m" (memory 1 2))
      (import "b" "t" (table 3 funcref))
      (global (export "g") (mut i64) (i64.const 0))
      (func (export "f") (param i32) (result i32) (local.get 0))
      (func (export "h") (param i32) (result i32) (local.get 0)))"""
    mt = module_type(wasmtime.wat2wasm(text))
    back = module_type_from_data(marshal.loads(marshal.dumps(module_type_to_data(mt))))
    assert back == mt
    # equal descriptions are one object, as a module of thousands of functions needs
    assert back.imports[0][2] is back.imports[1][2] is back.exports[1][1]
    old = (tuple((m, n, (d.kind, d.type.params, d.type.results)) for m, n, d in mt.imports[:2]), ())
    with pytest.raises(ValueError, match="not a module type"):
        module_type_from_data(old)


def test_validation_errors() -> None:
    with pytest.raises(ValidationError, match="type mismatch"):
        compile_wat("(module (func (result i32) i64.const 1))")
    with pytest.raises(ValidationError):
        compile_module(default_engine(), b"\0asm\x02\0\0\0")
    with pytest.raises(ValidationError):
        compile_module(default_engine(), b"not wasm")


def test_module_cache_by_content() -> None:
    engine = Engine()
    a = compile_wat(NUMERIC, engine)
    b = compile_wat(NUMERIC, engine)
    assert a is b
    assert compile_wat(NUMERIC) is not a  # per engine


# --- linking -----------------------------------------------------------------------------


def test_link_errors() -> None:
    store = CoreStore()
    m = compile_wat(HOST)
    with pytest.raises(LinkError, match="expects 1 imports, 0 given"):
        instantiate(store, m, [])
    mem = inst('(module (memory (export "m") 1))', store=store).memory("m")
    with pytest.raises(LinkError, match="expected a func, got memory"):
        instantiate(store, m, [mem])
    wrong = host_func(store, CoreFuncType(("i64",), ()), lambda x: None)
    with pytest.raises(LinkError, match="incompatible import type"):
        instantiate(store, m, [wrong])
    other = host_func(CoreStore(), I32_I32, lambda x: x)
    with pytest.raises(LinkError, match="different store"):
        instantiate(store, m, [other])
    with pytest.raises(LinkError, match="different engine"):
        instantiate(CoreStore(Engine()), m, [host_func(store, I32_I32, lambda x: x)])
    with pytest.raises(LinkError, match="missing"):
        instantiate(store, m, [host_func(store, I32_I32, lambda x: x)]).memory("nope")


def test_start_function_traps() -> None:
    with pytest.raises(Trap, match="unreachable"):
        inst("(module (func $s unreachable) (start $s))")
    store = CoreStore()

    def fn(x: int) -> int:
        raise ValueError("from start")

    with pytest.raises(ValueError, match="from start"):
        inst(
            """(module (import "h" "f" (func $f (param i32) (result i32)))
               (func $s (drop (call $f (i32.const 0)))) (start $s))""",
            [host_func(store, I32_I32, fn)],
            store,
        )
    assert store.pending is None


def test_one_store_many_instances_sharing_memory_and_tables() -> None:
    store = CoreStore()
    provider = inst(
        """(module
          (memory (export "mem") 1)
          (table (export "tab") 2 funcref)
          (global (export "g") (mut i32) (i32.const 0))
          (tag (export "tag") (param i32)))""",
        store=store,
    )
    mem, tab, glob, tag = (provider.exports[n] for n in ("mem", "tab", "g", "tag"))
    assert isinstance(tab, CoreTable) and tab.size() == 2
    assert isinstance(glob, CoreGlobal) and isinstance(tag, CoreTag)
    user = compile_wat(
        """(module
          (import "p" "mem" (memory 1))
          (import "p" "tab" (table 2 funcref))
          (import "p" "g" (global $g (mut i32)))
          (import "p" "tag" (tag (param i32)))
          (func (export "bump") (param i32) (result i32)
            (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (local.get 0)))
            (global.set $g (i32.add (global.get $g) (i32.const 1)))
            (i32.load (i32.const 0))))"""
    )
    instances = [instantiate(store, user, [mem, tab, glob, tag]) for _ in range(50)]
    for k, i in enumerate(instances):
        assert i.func("bump").call(1) == k + 1
    assert glob.get() == 50
    glob.set(7)
    assert glob.get() == 7
    assert isinstance(mem, CoreMemory) and mem.view()[0] == 50


def test_wrap_wasmtime_externs() -> None:
    store = CoreStore()
    wt = store.wasmtime
    fty = wasmtime.FuncType([wasmtime.ValType.i32()], [wasmtime.ValType.i32()])
    f = wrap_extern(store, wasmtime.Func(wt, fty, lambda x: x + 100))
    assert isinstance(f, CoreFunc) and f.ty == I32_I32
    assert f.call(1) == 101
    m = wrap_extern(store, wasmtime.Memory(wt, wasmtime.MemoryType(wasmtime.Limits(1, None))))
    assert isinstance(m, CoreMemory) and len(m.view()) == 65536
    i = inst(HOST, [f], store)
    assert i.func("call").call(5) == 105
    assert isinstance(i.func("call").to_wasmtime()(wt, 6), int)
    with pytest.raises(TypeError):
        wrap_extern(store, object())


def test_wrap_wasmtime_tag_and_global() -> None:
    store = CoreStore()
    wt = store.wasmtime
    tag_ty = wasmtime.TagType(wasmtime.FuncType([wasmtime.ValType.i32()], []))
    tag = wrap_extern(store, wasmtime.Tag(wt, tag_ty))
    assert isinstance(tag, CoreTag) and tag.ty == CoreFuncType(("i32",), ())
    gty = wasmtime.GlobalType(wasmtime.ValType.i64(), True)
    g = wrap_extern(store, wasmtime.Global(wt, gty, 5))
    assert isinstance(g, CoreGlobal) and g.ty == CoreGlobalDesc("i64", True)
    i = inst(
        """(module (import "a" "t" (tag (param i32))) (import "a" "g" (global $g (mut i64)))
           (func (export "get") (result i64) global.get $g))""",
        [tag, g],
        store,
    )
    assert i.func("get").call() == 5


def test_store_is_usable_after_many_traps() -> None:
    store = CoreStore()
    calls = 0

    def fn(x: int) -> int:
        nonlocal calls
        calls += 1
        if x % 3 == 0:
            raise Trap("three")
        if x % 3 == 1:
            raise RuntimeError("one")
        return x

    call = inst(HOST, [host_func(store, I32_I32, fn)], store).func("call").caller()
    for x in range(300):
        if x % 3 == 0:
            with pytest.raises(Trap, match="three"):
                call(x)
        elif x % 3 == 1:
            with pytest.raises(RuntimeError, match="one"):
                call(x)
        else:
            assert call(x) == x
    assert calls == 300 and store.pending is None


def test_caller_and_view_outlive_their_wrappers() -> None:
    import gc

    add = inst(NUMERIC).func("add").caller()  # instance, func and store are now unreferenced
    view = inst(MEM).memory("mem").view()
    gc.collect()
    assert add(40, 2) == 42
    view[0] = 1
    assert view[0] == 1


def test_wat2wasm() -> None:
    from wasmloom.core import wat2wasm

    assert wat2wasm("(module)").startswith(b"\0asm\x01\0\0\0")
    assert wat2wasm("(component)").startswith(b"\0asm")
    with pytest.raises(DecodeError):
        wat2wasm("(module (func $f) (func $f))")
