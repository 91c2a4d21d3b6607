;; Guests that do not stop by themselves: loops, recursion and growth, each as a
;; plain export, and `spin` also as a callback-lifted async export.
(component
  (core func $task_return (canon task.return))
  (core module $M
    (import "" "task.return" (func $task.return))
    (memory (export "mem") 1)
    (table $t 1 funcref)
    (global $g (mut i32) (i32.const 0))
    ;; loops until the counter wraps to `n` (n = 0: about 2^32 iterations, forever in practice)
    (func $spin (export "spin") (param $n i32) (result i32)
      (local $i i32)
      (loop $l
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (global.set $g (local.get $i))
        (br_if $l (i32.ne (local.get $i) (local.get $n))))
      (local.get $i))
    (func (export "spin-forever") (loop $l (br $l)))
    (func $recurse (export "recurse") (param $n i32) (result i32)
      (i32.add (call $recurse (i32.add (local.get $n) (i32.const 1))) (i32.const 1)))
    ;; grows memory a page at a time, touching each page, until growth fails;
    ;; returns the number of pages reached
    (func (export "grow-memory") (result i32)
      (local $p i32)
      (block $done
        (loop $l
          (local.set $p (memory.grow (i32.const 1)))
          (br_if $done (i32.eq (local.get $p) (i32.const -1)))
          (i32.store (i32.mul (local.get $p) (i32.const 65536)) (local.get $p))
          (br $l)))
      (memory.size))
    ;; grows the table by `n` elements at a time until growth fails; returns its size
    (func (export "grow-table") (param $n i32) (result i32)
      (block $done
        (loop $l
          (br_if $done (i32.eq (table.grow $t (ref.null func) (local.get $n)) (i32.const -1)))
          (br $l)))
      (table.size $t))
    (func (export "async-spin") (param $n i32) (result i32)
      (drop (call $spin (local.get $n)))
      (call $task.return)
      (i32.const 0 (; EXIT ;)))
    (func (export "async-cb") (param i32 i32 i32) (result i32) unreachable)
    (func (export "count") (result i32) (global.get $g)))
  (core instance $i (instantiate $M
    (with "" (instance (export "task.return" (func $task_return))))))
  (func (export "spin") (param "n" u32) (result u32) (canon lift (core func $i "spin")))
  (func (export "spin-forever") (canon lift (core func $i "spin-forever")))
  (func (export "recurse") (param "n" u32) (result u32) (canon lift (core func $i "recurse")))
  (func (export "grow-memory") (result u32) (canon lift (core func $i "grow-memory")))
  (func (export "grow-table") (param "n" u32) (result u32) (canon lift (core func $i "grow-table")))
  (func (export "count") (result u32) (canon lift (core func $i "count")))
  (func (export "async-spin") async (param "n" u32)
    (canon lift (core func $i "async-spin") async (callback (core func $i "async-cb")))))
