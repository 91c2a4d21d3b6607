"""The guest used by bench/calls.py: one core module, lifted as a component.

The core module is kept as its own text so the raw-core peer can instantiate
exactly the same code without the component layer.
"""

CORE_MODULE = r"""
(module
  (import "host" "inc" (func $inc (param i32) (result i32)))
  (memory (export "mem") 48)
  (global $bump (mut i32) (i32.const 64))
  (func $realloc (export "realloc") (param $old i32) (param $oldsz i32) (param $align i32) (param $new i32) (result i32)
    (local $p i32) (local $have i32)
    (local.set $p (i32.and
      (i32.add (global.get $bump) (i32.sub (local.get $align) (i32.const 1)))
      (i32.sub (i32.const 0) (local.get $align))))
    (global.set $bump (i32.add (local.get $p) (local.get $new)))
    (local.set $have (i32.mul (memory.size) (i32.const 65536)))
    (if (i32.gt_u (global.get $bump) (local.get $have))
      (then (drop (memory.grow
        (i32.add (i32.shr_u (i32.sub (global.get $bump) (local.get $have)) (i32.const 16)) (i32.const 1))))))
    (local.get $p))
  (func (export "reset") (param i32) (global.set $bump (i32.const 64)))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "echo") (param i32 i32) (result i32)
    (i32.store (i32.const 8) (local.get 0))
    (i32.store (i32.const 12) (local.get 1))
    (i32.const 8))
  (func (export "record") (param i32 i64 f64 i32 i32) (result i32)
    (i32.store (i32.const 16) (local.get 0))
    (i64.store (i32.const 24) (local.get 1))
    (f64.store (i32.const 32) (local.get 2))
    (i32.store8 (i32.const 40) (local.get 3))
    (i32.store8 (i32.const 41) (local.get 4))
    (i32.const 16))
  (func (export "loop") (param $n i32) (result i32) (local $acc i32)
    (block $done (loop $next
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $acc (call $inc (local.get $acc)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $next)))
    (local.get $acc))
)
"""

COMPONENT = (
    r"""
(component
  (import "host-inc" (func $host-inc (param "x" u32) (result u32)))
  (core func $inc (canon lower (func $host-inc)))
  (core module $M """
    + CORE_MODULE.strip()[len("(module") : -1]
    + r""")
  (core instance $m (instantiate $M (with "host" (instance (export "inc" (func $inc))))))
  (type $rec (record (field "a" u32) (field "b" u64) (field "c" f64) (field "d" bool) (field "e" u8)))
  (export $rec' "rec" (type $rec))
  (func (export "add") (param "a" u32) (param "b" u32) (result u32)
    (canon lift (core func $m "add")))
  (func (export "echo") (param "s" string) (result string)
    (canon lift (core func $m "echo") (memory (core memory $m "mem"))
      (realloc (core func $m "realloc")) (post-return (core func $m "reset"))))
  (func (export "echo-bytes") (param "b" (list u8)) (result (list u8))
    (canon lift (core func $m "echo") (memory (core memory $m "mem"))
      (realloc (core func $m "realloc")) (post-return (core func $m "reset"))))
  (func (export "record") (param "r" $rec') (result $rec')
    (canon lift (core func $m "record") (memory (core memory $m "mem"))
      (realloc (core func $m "realloc"))))
  (func (export "loop") (param "n" u32) (result u32)
    (canon lift (core func $m "loop")))
)
"""
)
