;; A callback-lifted task that awaits an async host import n times in a row:
;; `cycles(n)` calls `tick` (async-lowered) n times; each call that does not
;; return at once is joined to a waitable set and awaited (WAIT, then the
;; SUBTASK event). Returns how many calls had to be awaited. No blocking
;; built-in is imported, so the core code runs without fibers.
(component
  (import "tick" (func $tick async))
  (core module $M
    (import "" "task.return" (func $task.return (param i32)))
    (import "" "waitable-set.new" (func $ws.new (result i32)))
    (import "" "waitable-set.drop" (func $ws.drop (param i32)))
    (import "" "waitable.join" (func $join (param i32 i32)))
    (import "" "subtask.drop" (func $subtask.drop (param i32)))
    (import "" "tick" (func $tick (result i32)))
    (global $left (mut i32) (i32.const 0))
    (global $waited (mut i32) (i32.const 0))
    (global $ws (mut i32) (i32.const 0))

    ;; call tick until one has to be awaited (WAIT) or none is left (EXIT)
    (func $next (result i32)
      (local $st i32)
      (loop $again
        (if (i32.eqz (global.get $left))
          (then
            (call $ws.drop (global.get $ws))
            (call $task.return (global.get $waited))
            (return (i32.const 0 (; EXIT ;)))))
        (global.set $left (i32.sub (global.get $left) (i32.const 1)))
        (local.set $st (call $tick))
        (br_if $again (i32.eq (local.get $st) (i32.const 2 (; RETURNED ;)))))
      (global.set $waited (i32.add (global.get $waited) (i32.const 1)))
      (call $join (i32.shr_u (local.get $st) (i32.const 4)) (global.get $ws))
      (i32.or (i32.const 2 (; WAIT ;)) (i32.shl (global.get $ws) (i32.const 4))))

    (func (export "cycles") (param $n i32) (result i32)
      (global.set $left (local.get $n))
      (global.set $waited (i32.const 0))
      (global.set $ws (call $ws.new))
      (call $next))

    (func (export "cycles-cb") (param $ev i32) (param $i i32) (param $p i32) (result i32)
      (if (i32.ne (local.get $ev) (i32.const 1 (; SUBTASK ;))) (then unreachable))
      (if (i32.ne (local.get $p) (i32.const 2 (; RETURNED ;))) (then unreachable))
      (call $subtask.drop (local.get $i))
      (call $next))
  )
  (canon task.return (result u32) (core func $task.return))
  (canon waitable-set.new (core func $ws.new))
  (canon waitable-set.drop (core func $ws.drop))
  (canon waitable.join (core func $join))
  (canon subtask.drop (core func $subtask.drop))
  (canon lower (func $tick) async (core func $tick-lowered))
  (core instance $m (instantiate $M (with "" (instance
    (export "task.return" (func $task.return))
    (export "waitable-set.new" (func $ws.new))
    (export "waitable-set.drop" (func $ws.drop))
    (export "waitable.join" (func $join))
    (export "subtask.drop" (func $subtask.drop))
    (export "tick" (func $tick-lowered))
  ))))
  (func (export "cycles") async (param "n" u32) (result u32)
    (canon lift (core func $m "cycles") async (callback (core func $m "cycles-cb"))))
)
