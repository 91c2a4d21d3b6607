;; Exports that take host arguments, lifted sync, async with a callback and
;; async stackful. The host chooses whether the instance may block: `pause`
;; given as a plain function keeps the core code off fibers; given as an
;; `async def` it makes every call of the instance a task on a fiber.
;;
;; add*:  a + b
;; len*:  the byte length of s, plus n
;; take*: the handle index the resource got (the guest drops it at once)
;; read*: the handle index the stream's readable end got (dropped at once)
;; pause-sync: calls `pause` (and blocks in it, when it is async) with backpressure on
(component
  (import "res" (type $res (sub resource)))
  (import "pause" (func $pause))
  (core module $Libc
    (memory (export "mem") 1)
    (global $next (mut i32) (i32.const 1024))
    ;; a bump allocator that never frees
    (func (export "realloc") (param i32 i32) (param $align i32) (param $size i32) (result i32)
      (local $p i32)
      (local.set $p
        (i32.and
          (i32.add (global.get $next) (i32.sub (local.get $align) (i32.const 1)))
          (i32.sub (i32.const 0) (local.get $align))))
      (global.set $next (i32.add (local.get $p) (local.get $size)))
      (local.get $p)))
  (core instance $libc (instantiate $Libc))
  (alias core export $libc "mem" (core memory $mem))
  (alias core export $libc "realloc" (core func $realloc))

  (type $S (stream u8))
  (core func $task.return (canon task.return (result u32)))
  (core func $res.drop (canon resource.drop $res))
  (core func $s.drop (canon stream.drop-readable $S))
  (core func $pause (canon lower (func $pause)))
  (core func $bp.inc (canon backpressure.inc))
  (core func $bp.dec (canon backpressure.dec))

  (core module $M
    (import "" "task.return" (func $task.return (param i32)))
    (import "" "res.drop" (func $res.drop (param i32)))
    (import "" "s.drop" (func $s.drop (param i32)))
    (import "" "pause" (func $pause))
    (import "" "bp.inc" (func $bp.inc))
    (import "" "bp.dec" (func $bp.dec))
    (func (export "cb") (param i32 i32 i32) (result i32) unreachable)

    (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
    (func (export "add-cb") (param i32 i32) (result i32)
      (call $task.return (i32.add (local.get 0) (local.get 1)))
      (i32.const 0 (; EXIT ;)))
    (func (export "add-stackful") (param i32 i32)
      (call $task.return (i32.add (local.get 0) (local.get 1))))

    (func (export "len") (param i32 i32 i32) (result i32) (i32.add (local.get 1) (local.get 2)))
    (func (export "len-cb") (param i32 i32 i32) (result i32)
      (call $task.return (i32.add (local.get 1) (local.get 2)))
      (i32.const 0))

    (func (export "take") (param $h i32) (param i32) (result i32)
      (call $res.drop (local.get $h))
      (local.get $h))
    (func (export "take-cb") (param $h i32) (param i32) (result i32)
      (call $res.drop (local.get $h))
      (call $task.return (local.get $h))
      (i32.const 0))

    (func (export "read-cb") (param $h i32) (param i32) (result i32)
      (call $s.drop (local.get $h))
      (call $task.return (local.get $h))
      (i32.const 0))

    (func (export "pause-sync") (result i32)
      (call $bp.inc) (call $pause) (call $bp.dec) (i32.const 0))
  )
  (core instance $m (instantiate $M (with "" (instance
    (export "task.return" (func $task.return))
    (export "res.drop" (func $res.drop))
    (export "s.drop" (func $s.drop))
    (export "pause" (func $pause))
    (export "bp.inc" (func $bp.inc))
    (export "bp.dec" (func $bp.dec))
  ))))

  (func (export "add") (param "a" u32) (param "b" u32) (result u32)
    (canon lift (core func $m "add")))
  (func (export "add-callback") async (param "a" u32) (param "b" u32) (result u32)
    (canon lift (core func $m "add-cb") async (callback (core func $m "cb"))))
  (func (export "add-stackful") async (param "a" u32) (param "b" u32) (result u32)
    (canon lift (core func $m "add-stackful") async))

  (func (export "len") (param "s" string) (param "n" u32) (result u32)
    (canon lift (core func $m "len") (memory $mem) (realloc $realloc)))
  (func (export "len-callback") async (param "s" string) (param "n" u32) (result u32)
    (canon lift (core func $m "len-cb") (memory $mem) (realloc $realloc)
      async (callback (core func $m "cb"))))

  (func (export "take") (param "r" (own $res)) (param "n" u32) (result u32)
    (canon lift (core func $m "take")))
  (func (export "take-callback") async (param "r" (own $res)) (param "n" u32) (result u32)
    (canon lift (core func $m "take-cb") async (callback (core func $m "cb"))))

  (func (export "read-callback") async (param "s" (stream u8)) (param "n" u32) (result u32)
    (canon lift (core func $m "read-cb") async (callback (core func $m "cb"))))

  (func (export "pause-sync") (result u32) (canon lift (core func $m "pause-sync")))
)
