"""Tests of the component binary decoder against components written in WAT and bytes by hand."""

from __future__ import annotations

import time

import pytest
import wasmtime

from wasmloom.binary import ast, decode_component, is_component, is_core_module
from wasmloom.binary.decoder import MAX_NESTING
from wasmloom.errors import DecodeError

PREAMBLE = b"\x00asm\x0d\x00\x01\x00"
CORE_PREAMBLE = b"\x00asm\x01\x00\x00\x00"


def leb(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def sec(sid: int, body: bytes) -> bytes:
    return bytes([sid]) + leb(len(body)) + body


def name(s: str) -> bytes:
    raw = s.encode()
    return leb(len(raw)) + raw


# Every section, every type constructor, nested components, outer aliases, names.
ALL_SECTIONS_WAT = """
(component $top
  (core module $m
    (func (export "f") (param i32) (result i32) local.get 0)
    (memory (export "mem") 1)
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) i32.const 0)
    (func (export "post") (param i32))
  )
  (core instance $i (instantiate $m))
  (alias core export $i "f" (core func $cf))
  (alias core export $i "mem" (core memory $mem))
  (alias core export $i "post" (core func $post))
  (core instance $ie (export "f2" (func $cf)) (export "m2" (memory $mem)))
  (core type $ct (func (param i32) (result i32)))
  (core type $mt (module
    (type $t (func (param i64)))
    (import "a" "b" (func (type $t)))
    (import "a" "t" (table 1 2 funcref))
    (import "a" "g" (global (mut i32)))
    (import "a" "m" (memory 1 10))
    (export "e" (func (type $t)))
  ))
  (type $r (record (field "a" u32) (field "b-c" string)))
  (type $v (variant (case "x") (case "y" $r)))
  (type $l (list u8))
  (type $fl (list u32 4))
  (type $t (tuple u8 s64 f32))
  (type $fg (flags "p" "q"))
  (type $e (enum "one" "two"))
  (type $o (option char))
  (type $res (result $l (error string)))
  (type $res0 (result))
  (type $s (stream u8))
  (type $s0 (stream))
  (type $fu (future $t))
  (type $ec error-context)
  (type $mp (map string u32))
  (type $u u32)
  (type $ft (func (param "a" u32) (result u32)))
  (type $aft (func async (param "s" string)))
  (type $it (instance
    (type $x (func))
    (export "x" (func (type $x)))
    (export "res" (type (sub resource)))
    (alias outer $top $r (type $rr))
    (export "rr" (type (eq $rr)))
  ))
  (type $cty (component
    (type $f0 (func))
    (import "i" (func (type $f0)))
    (core type (module))
    (export "o" (instance (type $it)))
  ))
  (import "imp" (instance $imp (type $it)))
  (alias export $imp "x" (func $x))
  (import "res" (type $res1 (sub resource)))
  (type $rsrc (resource (rep i32) (dtor (core func $post))))
  (type $own (own $rsrc))
  (type $borrow (borrow $rsrc))
  (alias core export $i "realloc" (core func $realloc))
  (func $lifted (type $ft) (canon lift (core func $cf) (memory $mem) (realloc $realloc) (post-return $post) string-encoding=utf16))
  (core func $lowered (canon lower (func $x)))
  (core func (canon resource.new $rsrc))
  (core func (canon resource.drop $rsrc))
  (core func (canon resource.rep $rsrc))
  (component $inner
    (import "x" (func))
    (alias outer $top $ft (type $ft2))
    (component $deeper)
  )
  (instance $inst (instantiate $inner (with "x" (func $x))))
  (instance $inl (export "g" (func $lifted)))
  (export "lifted" (func $lifted) (func (type $ft)))
  (export "inst" (instance $inl))
)
"""

# Async lift/lower and every async and thread built-in the tools accept.
ASYNC_WAT = """
(component
  (core module $m
    (memory (export "mem") 1)
    (table (export "tbl") 1 funcref)
    (func (export "run") (param i32) (result i32) i32.const 0)
    (func (export "cb") (param i32 i32 i32) (result i32) i32.const 0)
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) i32.const 0)
  )
  (core instance $i (instantiate $m))
  (alias core export $i "mem" (core memory $mem))
  (alias core export $i "tbl" (core table $tbl))
  (alias core export $i "run" (core func $run))
  (alias core export $i "cb" (core func $cb))
  (alias core export $i "realloc" (core func $realloc))
  (type $st (stream u8))
  (type $fu (future string))
  (type $ft (func async (param "x" u32) (result string)))
  (func $f (type $ft) (canon lift (core func $run) async (callback $cb) (memory $mem) (realloc $realloc)))
  (core func (canon lower (func $f) async (memory $mem) (realloc $realloc)))
  (core func (canon backpressure.inc))
  (core func (canon backpressure.dec))
  (core func (canon task.return (result string) (memory $mem) string-encoding=utf8))
  (core func (canon task.return))
  (core func (canon task.cancel))
  (core func (canon context.get i32 0))
  (core func (canon context.set i32 1))
  (core func (canon subtask.cancel async))
  (core func (canon subtask.drop))
  (core func (canon stream.new $st))
  (core func (canon stream.read $st async (memory $mem)))
  (core func (canon stream.write $st (memory $mem)))
  (core func (canon stream.cancel-read $st async))
  (core func (canon stream.cancel-write $st))
  (core func (canon stream.drop-readable $st))
  (core func (canon stream.drop-writable $st))
  (core func (canon future.new $fu))
  (core func (canon future.read $fu (memory $mem) (realloc $realloc)))
  (core func (canon future.write $fu async (memory $mem)))
  (core func (canon future.cancel-read $fu))
  (core func (canon future.cancel-write $fu async))
  (core func (canon future.drop-readable $fu))
  (core func (canon future.drop-writable $fu))
  (core func (canon error-context.new (memory $mem) string-encoding=latin1+utf16))
  (core func (canon error-context.debug-message (memory $mem) (realloc $realloc)))
  (core func (canon error-context.drop))
  (core func (canon waitable-set.new))
  (core func (canon waitable-set.wait (memory $mem)))
  (core func (canon waitable-set.poll (memory $mem)))
  (core func (canon waitable-set.drop))
  (core func (canon waitable.join))
  (core func (canon thread.index))
  (core type $tft (func (param i32)))
  (core func (canon thread.new-indirect $tft (core table $tbl)))
  (core func (canon thread.resume-later))
  (core func (canon thread.suspend))
  (core func (canon thread.yield))
  (core func (canon thread.suspend-then-resume))
  (core func (canon thread.yield-then-resume))
  (core func (canon thread.suspend-then-promote))
  (core func (canon thread.yield-then-promote))
  (core func (canon stream.forward $st))
  (core func (canon future.forward $fu))
  (export "f" (func $f))
)
"""

# Core types: rec groups, GC struct/array/sub types, module types.
CORE_TYPES_WAT = """
(component
  (core rec
    (type $s (struct (field (mut i32)) (field i8)))
    (type $a (array (mut i16)))
  )
  (core type $sub (sub (func (param (ref null $s)) (result funcref))))
  (core type $fin (sub final $sub (func (param (ref null $s)) (result funcref))))
  (core type $plain (func (param i64 f32 f64 externref) (result (ref $s))))
  (core type $mt (module
    (import "m" "tag" (tag (param i32)))
    (import "m" "mem64" (memory i64 1))
    (import "m" "sm" (memory 1 2 shared))
    (export "g" (global i64))
  ))
)
"""


def decode_wat(text: str) -> ast.Component:
    return decode_component(wasmtime.wat2wasm(text))


def test_preamble_predicates() -> None:
    comp = wasmtime.wat2wasm("(component)")
    core = wasmtime.wat2wasm("(module)")
    assert comp == PREAMBLE
    assert is_component(comp) and not is_core_module(comp)
    assert is_core_module(core) and not is_component(core)
    assert not is_component(b"\x00asm") and not is_core_module(b"")
    assert is_component(memoryview(comp))
    assert decode_component(comp) == ast.Component(size=8)


def test_all_sections() -> None:
    c = decode_wat(ALL_SECTIONS_WAT)
    d = c.definitions
    kinds = [type(x).__name__ for x in d]
    assert kinds[:8] == [
        "CoreModule",
        "CoreInstantiate",
        "AliasCoreExport",
        "AliasCoreExport",
        "AliasCoreExport",
        "CoreInlineExports",
        "CoreTypeDef",
        "CoreTypeDef",
    ]
    m = d[0]
    assert isinstance(m, ast.CoreModule) and m.data.startswith(CORE_PREAMBLE)
    assert wasmtime.Module(wasmtime.Engine(), m.data).exports[0].name == "f"
    assert d[1] == ast.CoreInstantiate(0, [], d[1].offset)
    assert d[2] == ast.AliasCoreExport(ast.Sort.CORE_FUNC, 0, "f", d[2].offset)
    assert d[3] == ast.AliasCoreExport(ast.Sort.CORE_MEMORY, 0, "mem", d[3].offset)
    assert isinstance(d[5], ast.CoreInlineExports)
    assert d[5].exports == [("f2", ast.Sort.CORE_FUNC, 0), ("m2", ast.Sort.CORE_MEMORY, 0)]
    assert isinstance(d[6], ast.CoreTypeDef) and isinstance(d[6].t, ast.CoreRecGroup)
    assert d[6].t.types == [ast.CoreFuncTypeDef(["i32"], ["i32"], d[6].offset)]
    mt = d[7].t
    assert isinstance(mt, ast.CoreModuleTypeDef)
    assert [type(x).__name__ for x in mt.decls] == [
        "CoreTypeDef",
        "CoreImportDecl",
        "CoreImportDecl",
        "CoreImportDecl",
        "CoreImportDecl",
        "CoreExportDecl",
    ]
    imports = [x for x in mt.decls if isinstance(x, ast.CoreImportDecl)]
    descs = {i.name: i.desc for i in imports}
    assert descs["b"].kind == "func" and descs["b"].type_idx == 0
    assert descs["t"].kind == "table" and descs["t"].reftype == "funcref"
    assert descs["t"].limits == (1, 2)
    assert descs["g"].kind == "global" and descs["g"].valtype == "i32" and descs["g"].mutable
    assert descs["m"].kind == "memory" and descs["m"].limits == (1, 10)

    types = [x.t for x in d if isinstance(x, ast.TypeDef)]
    shapes = [type(t).__name__ for t in types]
    assert shapes == [
        "RecordDef", "VariantDef", "ListDef", "ListDef", "TupleDef", "FlagsDef", "EnumDef",
        "OptionDef", "ResultDef", "ResultDef", "StreamDef", "StreamDef", "FutureDef", "PrimDef",
        "MapDef", "PrimDef", "FuncTypeDef", "FuncTypeDef", "InstanceTypeDef",
        "ComponentTypeDef", "ResourceTypeDef", "OwnDef", "BorrowDef",
    ]  # fmt: skip
    rec, var, lst, fixed, tup, flags, enum, opt, res, res0, st, st0, fut, ec, mp, u32 = types[:16]
    assert isinstance(rec, ast.RecordDef) and rec.fields == [("a", "u32"), ("b-c", "string")]
    assert isinstance(var, ast.VariantDef) and var.cases == [("x", None), ("y", 0)]
    assert isinstance(lst, ast.ListDef) and (lst.t, lst.length) == ("u8", None)
    assert isinstance(fixed, ast.ListDef) and (fixed.t, fixed.length) == ("u32", 4)
    assert isinstance(tup, ast.TupleDef) and tup.ts == ["u8", "s64", "f32"]
    assert isinstance(flags, ast.FlagsDef) and flags.labels == ["p", "q"]
    assert isinstance(enum, ast.EnumDef) and enum.labels == ["one", "two"]
    assert isinstance(opt, ast.OptionDef) and opt.t == "char"
    assert isinstance(res, ast.ResultDef) and (res.ok, res.error) == (2, "string")
    assert isinstance(res0, ast.ResultDef) and (res0.ok, res0.error) == (None, None)
    assert isinstance(st, ast.StreamDef) and st.t == "u8"
    assert isinstance(st0, ast.StreamDef) and st0.t is None
    assert isinstance(fut, ast.FutureDef) and fut.t == 4
    assert isinstance(ec, ast.PrimDef) and ec.name == "error-context"
    assert isinstance(mp, ast.MapDef) and (mp.k, mp.v) == ("string", "u32")
    assert isinstance(u32, ast.PrimDef) and u32.name == "u32"
    ft, aft, it, cty, rsrc, own, borrow = types[16:]
    assert isinstance(ft, ast.FuncTypeDef)
    assert (ft.params, ft.result, ft.is_async) == ([("a", "u32")], "u32", False)
    assert isinstance(aft, ast.FuncTypeDef)
    assert (aft.params, aft.result, aft.is_async) == ([("s", "string")], None, True)
    assert isinstance(it, ast.InstanceTypeDef)
    assert [type(x).__name__ for x in it.decls] == [
        "TypeDef", "ExportDecl", "ExportDecl", "AliasOuter", "ExportDecl",
    ]  # fmt: skip
    res_export = it.decls[2]
    assert isinstance(res_export, ast.ExportDecl) and res_export.name.name == "res"
    assert res_export.t.sort is ast.Sort.TYPE and res_export.t.bound is not None
    assert res_export.t.bound.eq is None  # (sub resource)
    outer = it.decls[3]
    assert isinstance(outer, ast.AliasOuter)
    assert (outer.sort, outer.count, outer.index) == (ast.Sort.TYPE, 1, 0)
    eq_export = it.decls[4]
    assert isinstance(eq_export, ast.ExportDecl) and eq_export.t.bound is not None
    assert eq_export.t.bound.eq == 2
    assert isinstance(cty, ast.ComponentTypeDef)
    assert [type(x).__name__ for x in cty.decls] == [
        "TypeDef", "ImportDecl", "CoreTypeDef", "AliasOuter", "ExportDecl",
    ]  # fmt: skip
    assert isinstance(rsrc, ast.ResourceTypeDef) and (rsrc.rep, rsrc.dtor) == ("i32", 1)
    assert isinstance(own, ast.OwnDef) and own.type_idx == 21
    assert isinstance(borrow, ast.BorrowDef) and borrow.type_idx == 21

    imp = [x for x in d if isinstance(x, ast.Import)]
    assert [(i.name.name, i.t.sort) for i in imp] == [
        ("imp", ast.Sort.INSTANCE),
        ("res", ast.Sort.TYPE),
    ]
    lift = next(x for x in d if isinstance(x, ast.CanonLift))
    assert (lift.core_func, lift.type_idx) == (0, 16)
    assert lift.opts == ast.CanonOpts("utf16", memory=0, realloc=2, post_return=1)
    lower = next(x for x in d if isinstance(x, ast.CanonLower))
    assert lower.func == 0 and lower.opts == ast.CanonOpts()
    builtins = [(x.name, x.type_idx) for x in d if isinstance(x, ast.CanonBuiltin)]
    assert builtins == [("resource.new", 21), ("resource.drop", 21), ("resource.rep", 21)]

    inner = next(x for x in d if isinstance(x, ast.Component))
    assert inner.name == "inner"
    assert [type(x).__name__ for x in inner.definitions] == [
        "TypeDef", "Import", "AliasOuter", "Component",
    ]  # fmt: skip
    ialias = inner.definitions[2]
    assert isinstance(ialias, ast.AliasOuter)
    assert (ialias.sort, ialias.count, ialias.index) == (ast.Sort.TYPE, 1, 16)
    deeper = inner.definitions[3]
    assert isinstance(deeper, ast.Component) and deeper.name == "deeper"
    assert deeper.definitions == [] and deeper.size == 34

    inst = next(x for x in d if isinstance(x, ast.Instantiate))
    assert inst.component == 0 and inst.args == [("x", ast.Sort.FUNC, 0)]
    inl = next(x for x in d if isinstance(x, ast.InlineExports))
    assert inl.exports == [(ast.ExternName("g"), ast.Sort.FUNC, 1)]
    exports = [x for x in d if isinstance(x, ast.Export)]
    assert [(e.name.name, e.sort, e.index) for e in exports] == [
        ("lifted", ast.Sort.FUNC, 1),
        ("inst", ast.Sort.INSTANCE, 2),
    ]
    assert exports[0].t is not None and exports[0].t.sort is ast.Sort.FUNC
    assert exports[0].t.index == 16 and exports[1].t is None

    # the component-name section
    assert c.name == "top"
    assert c.names[ast.Sort.CORE_MODULE] == {0: "m"}
    assert c.names[ast.Sort.FUNC] == {0: "x", 1: "lifted"}
    assert c.names[ast.Sort.TYPE][16] == "ft"
    assert c.names[ast.Sort.INSTANCE] == {0: "imp", 1: "inst", 2: "inl"}
    assert c.names[ast.Sort.COMPONENT] == {0: "inner"}


def test_offsets_are_absolute() -> None:
    data = wasmtime.wat2wasm(ALL_SECTIONS_WAT)
    c = decode_component(data)
    m = c.definitions[0]
    assert isinstance(m, ast.CoreModule)
    assert data[m.offset : m.offset + len(m.data)] == m.data
    inner = next(x for x in c.definitions if isinstance(x, ast.Component))
    assert data[inner.offset : inner.offset + 8] == PREAMBLE
    first = inner.definitions[0]
    assert isinstance(first, ast.TypeDef) and data[first.offset] == 0x40
    rec = c.definitions[8]
    assert isinstance(rec, ast.TypeDef) and data[rec.offset] == 0x72


def test_async_canon() -> None:
    d = decode_wat(ASYNC_WAT).definitions
    lift = next(x for x in d if isinstance(x, ast.CanonLift))
    assert lift.opts == ast.CanonOpts(memory=0, realloc=2, is_async=True, callback=1)
    assert lift.type_idx == 2
    lower = next(x for x in d if isinstance(x, ast.CanonLower))
    assert lower.opts == ast.CanonOpts(memory=0, realloc=2, is_async=True)
    b = {}
    order = []
    for x in d:
        if isinstance(x, ast.CanonBuiltin):
            order.append(x.name)
            b.setdefault(x.name, []).append(x)
    assert order == [
        "backpressure.inc", "backpressure.dec", "task.return", "task.return", "task.cancel",
        "context.get", "context.set", "subtask.cancel", "subtask.drop",
        "stream.new", "stream.read", "stream.write", "stream.cancel-read", "stream.cancel-write",
        "stream.drop-readable", "stream.drop-writable",
        "future.new", "future.read", "future.write", "future.cancel-read", "future.cancel-write",
        "future.drop-readable", "future.drop-writable",
        "error-context.new", "error-context.debug-message", "error-context.drop",
        "waitable-set.new", "waitable-set.wait", "waitable-set.poll", "waitable-set.drop",
        "waitable.join", "thread.index", "thread.new-indirect", "thread.resume-later",
        "thread.suspend", "thread.yield", "thread.suspend-then-resume",
        "thread.yield-then-resume", "thread.suspend-then-promote", "thread.yield-then-promote",
        "stream.forward", "future.forward",
    ]  # fmt: skip
    tr1, tr0 = b["task.return"]
    assert (tr1.result, tr1.has_result) == ("string", True)
    assert tr1.opts == ast.CanonOpts(memory=0)
    assert (tr0.result, tr0.has_result, tr0.opts) == (None, False, ast.CanonOpts())
    get, set_ = b["context.get"][0], b["context.set"][0]
    assert (get.core_valtype, get.index, set_.core_valtype, set_.index) == ("i32", 0, "i32", 1)
    assert b["subtask.cancel"][0].is_async
    read, write = b["stream.read"][0], b["stream.write"][0]
    assert read.type_idx == 0 and read.opts == ast.CanonOpts(memory=0, is_async=True)
    assert write.opts == ast.CanonOpts(memory=0)
    assert b["stream.cancel-read"][0].is_async and not b["stream.cancel-write"][0].is_async
    assert not b["future.cancel-read"][0].is_async and b["future.cancel-write"][0].is_async
    assert b["future.read"][0].type_idx == 1
    assert b["future.read"][0].opts == ast.CanonOpts(memory=0, realloc=2)
    ecn = b["error-context.new"][0]
    assert ecn.opts == ast.CanonOpts("latin1+utf16", memory=0)
    wait = b["waitable-set.wait"][0]
    assert (wait.memory, wait.cancellable) == (0, False)
    ni = b["thread.new-indirect"][0]
    assert (ni.core_type_idx, ni.table) == (0, 0)
    assert b["stream.forward"][0].type_idx == 0 and b["future.forward"][0].type_idx == 1


def test_core_gc_types() -> None:
    data = wasmtime.wat2wasm(CORE_TYPES_WAT)
    d = decode_component(data).definitions
    assert all(isinstance(x, ast.CoreTypeDef) for x in d)
    rec = d[0].t
    assert isinstance(rec, ast.CoreRecGroup)
    s, a = rec.types
    assert isinstance(s, ast.CoreGcTypeDef) and s.kind == "struct"
    assert isinstance(a, ast.CoreGcTypeDef) and a.kind == "array"
    assert data[s.offset : s.offset + len(s.raw)] == s.raw
    sub = d[1].t
    assert isinstance(sub, ast.CoreRecGroup)
    assert data[d[1].offset : d[1].offset + 2] == b"\x00\x50"  # the 0x00 prefix of a sub type
    (st,) = sub.types
    assert isinstance(st, ast.CoreGcTypeDef) and st.kind == "func" and st.raw[0] == 0x50
    fin = d[2].t
    assert isinstance(fin, ast.CoreRecGroup) and isinstance(fin.types[0], ast.CoreGcTypeDef)
    plain = d[3].t
    assert isinstance(plain, ast.CoreRecGroup)
    assert plain.types[0] == ast.CoreFuncTypeDef(
        ["i64", "f32", "f64", "externref"], ["(ref 0)"], plain.offset
    )
    mt = d[4].t
    assert isinstance(mt, ast.CoreModuleTypeDef)
    descs = [x.desc for x in mt.decls if isinstance(x, ast.CoreImportDecl | ast.CoreExportDecl)]
    tag, mem64, shared, glob = descs
    assert (tag.kind, tag.type_idx) == ("tag", 0)
    assert (mem64.kind, mem64.memory64, mem64.limits) == ("memory", True, (1, None))
    assert (shared.shared, shared.limits) == (True, (1, 2))
    assert (glob.kind, glob.valtype, glob.mutable) == ("global", "i64", False)


def test_name_attributes() -> None:
    c = decode_wat(
        '(component (import "a" (implements "a:b/c") (instance))'
        ' (import "b" (external-id "id") (func))'
        ' (import "wasi:http/types@0.2.0" (instance)))'
    )
    names = [x.name for x in c.definitions if isinstance(x, ast.Import)]
    assert names == [
        ast.ExternName("a", implements="a:b/c"),
        ast.ExternName("b", external_id="id"),
        ast.ExternName("wasi:http/types@0.2.0"),
    ]
    # all three attributes, and the 0x01 form, by hand
    attrs = b"\x03" + b"\x00" + name("a:b/c") + b"\x01" + name("-rc1") + b"\x02" + name("x")
    body = (
        b"\x02"
        + b"\x02" + name("i") + attrs + b"\x05\x00"
        + b"\x01" + name("j") + b"\x05\x00"
    )  # fmt: skip
    data = PREAMBLE + sec(7, b"\x01\x42\x00") + sec(10, body)
    d = decode_component(data).definitions
    assert isinstance(d[1], ast.Import) and isinstance(d[2], ast.Import)
    assert d[1].name == ast.ExternName("i", "a:b/c", "-rc1", "x")
    assert d[2].name == ast.ExternName("j")
    dup = PREAMBLE + sec(10, b"\x01\x02" + name("i") + b"\x02\x02" + name("x") + b"\x02" + name("y") + b"\x05\x00")  # fmt: skip
    with pytest.raises(DecodeError) as e:
        decode_component(dup)
    assert e.value.offset == 18 and e.value.expected == "at most one external-id attribute"


def test_values_and_start() -> None:
    data = (
        PREAMBLE
        + sec(12, b"\x02" + b"\x79\x01\x2a" + b"\x73\x03\x02hi")
        + sec(9, b"\x00\x01\x00\x01")
        + sec(10, b"\x02\x00" + name("v") + b"\x02\x01\x79" + b"\x00" + name("w") + b"\x02\x00\x01")
    )  # fmt: skip
    d = decode_component(data).definitions
    assert d[0] == ast.ValueDef("u32", b"\x2a", 11)
    assert d[1] == ast.ValueDef("string", b"\x02hi", 14)
    assert d[2] == ast.Start(0, [0], 1, 21)
    assert isinstance(d[3], ast.Import) and d[3].t.value_type == "u32"
    assert isinstance(d[4], ast.Import) and d[4].t.value_eq == 1


def test_canon_by_hand() -> None:
    body = (
        b"\x06"
        + b"\x40\x03"  # thread.spawn-ref (core type 3)
        + b"\x41\x03\x01"  # thread.spawn-indirect type 3 table 1
        + b"\x42"  # thread.available-parallelism
        + b"\x20\x01\x02"  # waitable-set.wait cancellable (memory 2)
        + b"\x0c\x01"  # thread.yield cancellable
        + b"\x00\x00\x07\x07\x03\x01\x04\x04\x06\x07\x02\x08\x05\x09\x00\x04"  # lift, all options
    )
    d = decode_component(PREAMBLE + sec(8, body)).definitions
    spawn, spawn_ind, par, wait, yld, lift = d
    assert isinstance(spawn, ast.CanonBuiltin) and spawn.name == "thread.spawn-ref"
    assert spawn.core_type_idx == 3
    assert isinstance(spawn_ind, ast.CanonBuiltin) and spawn_ind.name == "thread.spawn-indirect"
    assert (spawn_ind.core_type_idx, spawn_ind.table) == (3, 1)
    assert isinstance(par, ast.CanonBuiltin) and par.name == "thread.available-parallelism"
    assert isinstance(wait, ast.CanonBuiltin) and (wait.cancellable, wait.memory) == (True, 2)
    assert isinstance(yld, ast.CanonBuiltin) and yld.name == "thread.yield" and yld.cancellable
    assert isinstance(lift, ast.CanonLift) and lift.core_func == 7 and lift.type_idx == 4
    assert lift.opts == ast.CanonOpts(
        "utf8", memory=1, realloc=4, is_async=True, callback=2, core_type=5, gc=True
    )


def test_multibyte_type_indices() -> None:
    body = b"\x02\x70" + leb(200) + b"\x6b" + leb(0xFFFFFFFF)
    d = decode_component(PREAMBLE + sec(7, body)).definitions
    assert [x.t for x in d if isinstance(x, ast.TypeDef)] == [
        ast.ListDef(200, None, 11),
        ast.OptionDef(0xFFFFFFFF, 14),
    ]


def test_core_extern_types_by_hand() -> None:
    decls = (
        b"\x03"
        + b"\x00" + name("m") + name("f") + b"\x20\x00"  # exact func import
        + b"\x00" + name("m") + name("mem") + b"\x02\x09\x01\x02\x10"  # page size 2^16
        + b"\x03" + name("t") + b"\x01\x64\x70\x04\x00"  # table64 (ref func)
    )  # fmt: skip
    d = decode_component(PREAMBLE + sec(3, b"\x01\x50" + decls)).definitions
    mt = d[0].t
    assert isinstance(mt, ast.CoreModuleTypeDef)
    f, mem, tbl = (
        x.desc for x in mt.decls if isinstance(x, ast.CoreImportDecl | ast.CoreExportDecl)
    )
    assert (f.kind, f.exact, f.type_idx) == ("func", True, 0)
    assert (mem.limits, mem.page_size_log2) == ((1, 2), 16)
    assert (tbl.reftype, tbl.memory64, tbl.limits) == ("(ref func)", True, (0, None))


def test_names_section_lenient() -> None:
    good = sec(0, name("component-name") + sec(0, name("me")))
    bad = sec(0, name("component-name") + b"\x01\x05\x07\xff\xff\xff\xff")
    other = sec(0, name("producers") + b"\xff\xff")
    c = decode_component(PREAMBLE + good + bad + other)
    assert c.name == "me" and c.names == {} and c.definitions == []
    # a custom section's own name must still be UTF-8
    with pytest.raises(DecodeError) as e:
        decode_component(PREAMBLE + sec(0, b"\x01\xff"))
    assert (e.value.offset, e.value.expected) == (11, "custom section name")


@pytest.mark.parametrize(
    ("data", "offset", "expected"),
    [
        (b"", 0, "magic \\0asm"),
        (b"\x00asx\x0d\x00\x01\x00", 0, "magic \\0asm"),
        (b"\x00asm", 4, "component version 0x0d and layer 1"),
        (CORE_PREAMBLE, 4, "a component (version 0x0d, layer 1), not a core module"),
        (b"\x00asm\x0e\x00\x01\x00", 4, "component version 0x0d"),
        (b"\x00asm\x0d\x00\x02\x00", 6, "layer 1 (component)"),
        (PREAMBLE + b"\x0d\x00", 8, "section id (0 to 12)"),
        (PREAMBLE + b"\x07", 9, "section size"),
        (PREAMBLE + b"\x07\x05\x01", 9, "section size within the remaining 1 bytes"),
        (PREAMBLE + sec(7, b"\x01\x73\x00"), 12, "end of section (section size mismatch)"),
        (PREAMBLE + sec(7, b"\x01\x72\x01"), 12, "record field count within the remaining 0 bytes"),
        (PREAMBLE + sec(7, b"\x01\x72\x01\x80"), 14, "utf-8 name length"),
        (PREAMBLE + sec(7, b"\x80\x80\x80\x80\x80\x00"), 15, "type count of at most 5 bytes"),
        (PREAMBLE + sec(7, b"\xff\xff\xff\xff\x1f"), 14, "type count within 32 bits"),
        (PREAMBLE + sec(7, b"\xff\xff\xff\xff\x0f"), 10, "type count within the remaining 0 bytes"),
        (PREAMBLE + sec(10, b"\x01\x00\x02\xff\xfe\x01\x00"), 13, "utf-8 name"),
        (PREAMBLE + sec(10, b"\x01\x00\x02ab\x07\x00"), 15, "extern type"),
        (PREAMBLE + sec(8, b"\x01\x50"), 11, "canon opcode"),
        (PREAMBLE + sec(8, b"\x01\x01\x00\x00\x02\x03\x00\x03\x01"), 17, "no duplicate or conflicting canon options"),
        (PREAMBLE + sec(7, b"\x01\x60"), 11, "type definition"),
        (PREAMBLE + sec(7, b"\x01\x70\x40"), 12, "value type"),
        (PREAMBLE + sec(7, b"\x01\x6b\x6b"), 12, "value type"),
        (PREAMBLE + sec(7, b"\x01\x6a\x02"), 12, "optional value type (0x00 or 0x01)"),
        (PREAMBLE + sec(7, b"\x01\x71\x01\x01x\x00\x01"), 16, "variant case terminator 0x00"),
        (PREAMBLE + sec(6, b"\x01\x01\x02\x00\x00"), 11, "outer alias sort (core module, core type, type, component)"),
        (PREAMBLE + sec(11, b"\x01\x00\x01e\x01\x00\x02"), 16, "optional export type (0x00 or 0x01)"),
        (PREAMBLE + sec(1, b"\x00asm\x0d\x00\x01\x00"), 10, "core module preamble (\\0asm, version 1)"),
        (PREAMBLE + sec(4, b"\x00asm"), 14, "component version 0x0d and layer 1"),
        (PREAMBLE + sec(3, b"\x01\x00\x60"), 12, "non-final sub type (0x50)"),
        (PREAMBLE + sec(3, b"\x01\x60\x01\x40\x00"), 13, "core value type"),
    ],
)  # fmt: skip
def test_decode_errors(data: bytes, offset: int, expected: str) -> None:
    with pytest.raises(DecodeError) as e:
        decode_component(data)
    assert (e.value.offset, e.value.expected) == (offset, expected)
    assert f"{offset:#x}" in str(e.value)


def test_every_truncation_is_a_decode_error() -> None:
    data = wasmtime.wat2wasm(ALL_SECTIONS_WAT)
    boundaries = {8}  # a component may end after any complete section
    pos = 8
    while pos < len(data):
        size, pos = 0, pos + 1
        shift = 0
        while data[pos] & 0x80:
            size |= (data[pos] & 0x7F) << shift
            shift += 7
            pos += 1
        size |= data[pos] << shift
        pos += 1 + size
        boundaries.add(pos)
    assert len(data) in boundaries and len(boundaries) > 10
    for n in range(len(data) + 1):
        if n in boundaries:
            decode_component(data[:n])
        else:
            with pytest.raises(DecodeError):
                decode_component(data[:n])


def test_deep_nesting_is_a_decode_error() -> None:
    # nested components
    data = PREAMBLE
    for _ in range(MAX_NESTING + 5):
        data = PREAMBLE + sec(4, data)
    with pytest.raises(DecodeError) as e:
        decode_component(data)
    assert e.value.expected == f"nesting depth at most {MAX_NESTING}"
    ok = PREAMBLE
    for _ in range(MAX_NESTING):
        ok = PREAMBLE + sec(4, ok)
    assert len(decode_component(ok).definitions) == 1
    # instance types nested far beyond Python's recursion limit
    body = b"\x42\x01\x01" * 20000 + b"\x42\x00"
    with pytest.raises(DecodeError) as e:
        decode_component(PREAMBLE + sec(7, b"\x01" + body))
    assert e.value.expected == f"nesting depth at most {MAX_NESTING}"


def test_huge_counts_fail_before_allocating() -> None:
    for body in [
        b"\x01\x72\xff\xff\xff\xff\x0f",  # record with 2^32-1 fields
        b"\x01\x6e\xff\xff\xff\xff\x0f",  # flags
        b"\x01\x40\xff\xff\xff\xff\x0f",  # func params
    ]:
        with pytest.raises(DecodeError) as e:
            decode_component(PREAMBLE + sec(7, body))
        assert e.value.offset == 12
    with pytest.raises(DecodeError) as e:
        decode_component(PREAMBLE + sec(10, b"\x01\x00\xff\xff\xff\xff\x0f"))
    assert e.value.expected == "utf-8 name length within the remaining 0 bytes"


def test_big_core_module_decodes_fast() -> None:
    payload = 19_000_000
    custom = b"\x00" + leb(payload + 2) + name("x") + bytes(payload)
    core = CORE_PREAMBLE + custom
    data = PREAMBLE + sec(1, core) + sec(7, b"\x01\x73")
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        c = decode_component(data)
        best = min(best, time.perf_counter() - t0)
    m = c.definitions[0]
    assert isinstance(m, ast.CoreModule) and m.data == core
    assert best < 0.1
