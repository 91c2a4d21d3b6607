;; Context-local storage kept in wasm (the runtime's ContextSlots): slots set by
;; one task survive while other tasks of the instance run and set theirs.
;;   hold(x):   callback-lifted async: slot 0 := x, slot 1 := x + 1, YIELD;
;;              on each resume traps (`unreachable`) unless the slots are still
;;              x and x + 1; returns x after 3 yields (x < 64: its count is at x)
;;   peek():    sync: slot 0 + slot 1 (0: each sync call starts with zeroed slots)
;;   wide(x):   in a nested component whose slots are i64: slot 0 := x, slot 1 :=
;;              x + 1; returns slot 0 xor slot 1 (both full 64-bit values)
(component
  (component $W
    (core func $get0 (canon context.get i64 0))
    (core func $set0 (canon context.set i64 0))
    (core func $get1 (canon context.get i64 1))
    (core func $set1 (canon context.set i64 1))
    (core module $M
      (import "" "get0" (func $get0 (result i64)))
      (import "" "set0" (func $set0 (param i64)))
      (import "" "get1" (func $get1 (result i64)))
      (import "" "set1" (func $set1 (param i64)))
      (func (export "wide") (param $x i64) (result i64)
        (if (i64.ne (call $get0) (i64.const 0)) (then unreachable))
        (call $set0 (local.get $x))
        (call $set1 (i64.add (local.get $x) (i64.const 1)))
        (i64.xor (call $get0) (call $get1))))
    (core instance $m (instantiate $M (with "" (instance
      (export "get0" (func $get0)) (export "set0" (func $set0))
      (export "get1" (func $get1)) (export "set1" (func $set1))))))
    (func (export "wide") (param "x" u64) (result u64) (canon lift (core func $m "wide"))))
  (instance $w (instantiate $W))
  (core func $get0 (canon context.get i32 0))
  (core func $set0 (canon context.set i32 0))
  (core func $get1 (canon context.get i32 1))
  (core func $set1 (canon context.set i32 1))
  (core func $task.return (canon task.return (result u32)))
  (core module $M
    (import "" "get0" (func $get0 (result i32)))
    (import "" "set0" (func $set0 (param i32)))
    (import "" "get1" (func $get1 (result i32)))
    (import "" "set1" (func $set1 (param i32)))
    (import "" "task.return" (func $task.return (param i32)))
    (memory (export "mem") 1)
    ;; yields left per task, by slot 0 (the task's x, below 64)
    (func (export "hold") (param $x i32) (result i32)
      (call $set0 (local.get $x))
      (call $set1 (i32.add (local.get $x) (i32.const 1)))
      (i32.store8 (local.get $x) (i32.const 3))
      (i32.const 1))  ;; YIELD
    (func (export "hold-cb") (param i32 i32 i32) (result i32)
      (local $x i32)
      (local.set $x (call $get0))
      (if (i32.ne (call $get1) (i32.add (local.get $x) (i32.const 1))) (then unreachable))
      (i32.store8 (local.get $x) (i32.sub (i32.load8_u (local.get $x)) (i32.const 1)))
      (if (i32.load8_u (local.get $x)) (then (return (i32.const 1))))
      (call $task.return (local.get $x))
      (i32.const 0))  ;; EXIT
    (func (export "peek") (result i32)
      (i32.add (call $get0) (call $get1))))
  (core instance $m (instantiate $M (with "" (instance
    (export "get0" (func $get0)) (export "set0" (func $set0))
    (export "get1" (func $get1)) (export "set1" (func $set1))
    (export "task.return" (func $task.return))))))
  (func (export "hold") async (param "x" u32) (result u32)
    (canon lift (core func $m "hold") async (callback (core func $m "hold-cb"))))
  (func (export "peek") (result u32) (canon lift (core func $m "peek")))
  (export "wide" (func $w "wide")))
