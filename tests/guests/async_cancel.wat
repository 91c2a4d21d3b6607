;; A callback-ABI guest for host-side task cancellation and late traps
;; (tests/test_async_lifecycle.py).
;;
;; wait(f: future<u32>, mode: u32) -> u32: starts an async read of `f` and waits
;;   for it on a waitable set; when the value arrives, returns it. On
;;   TASK_CANCELLED, counts it and, by `mode`:
;;   0: cancels the read, drops `f`, `task.cancel`;
;;   1: cancels the read, drops `f`, returns 0xCCCC (`task.return`);
;;   2: ignores it and keeps waiting for the value.
;;   Mode 3: traps (`unreachable`) when the value arrives.
;; cancelled() -> u32: how many TASK_CANCELLED events the guest received (sync).
;;
;; One `wait` at a time: its state lives in globals. Memory: 16.. the value read.
(component
  (type $F (future u32))
  (core module $Memory (memory (export "mem") 1))
  (core instance $memory (instantiate $Memory))
  (alias core export $memory "mem" (core memory $mem))
  (core func $future.read (canon future.read $F async (memory $mem)))
  (core func $future.cancel-read (canon future.cancel-read $F async))
  (core func $future.drop-readable (canon future.drop-readable $F))
  (core func $ws.new (canon waitable-set.new))
  (core func $ws.drop (canon waitable-set.drop))
  (core func $join (canon waitable.join))
  (core func $task.cancel (canon task.cancel))
  (core func $ret (canon task.return (result u32)))
  (core module $M
    (import "" "mem" (memory 1))
    (import "" "future.read" (func $read (param i32 i32) (result i32)))
    (import "" "future.cancel-read" (func $cancel-read (param i32) (result i32)))
    (import "" "future.drop-readable" (func $drop-r (param i32)))
    (import "" "waitable-set.new" (func $ws-new (result i32)))
    (import "" "waitable-set.drop" (func $ws-drop (param i32)))
    (import "" "waitable.join" (func $join (param i32 i32)))
    (import "" "task.cancel" (func $task-cancel))
    (import "" "ret" (func $ret (param i32)))

    (global $f (mut i32) (i32.const 0))
    (global $ws (mut i32) (i32.const 0))
    (global $mode (mut i32) (i32.const 0))
    (global $cancelled (mut i32) (i32.const 0))

    (func $wait (result i32)
      (i32.or (i32.const 2 (; WAIT ;)) (i32.shl (global.get $ws) (i32.const 4))))

    (func $cleanup
      (if (global.get $ws)
        (then
          (call $join (global.get $f) (i32.const 0))
          (call $ws-drop (global.get $ws))
          (global.set $ws (i32.const 0))))
      (call $drop-r (global.get $f)))

    ;; the value is at 16: return it
    (func $done (result i32)
      (if (i32.eq (global.get $mode) (i32.const 3)) (then unreachable))
      (call $cleanup)
      (call $ret (i32.load (i32.const 16)))
      (i32.const 0 (; EXIT ;)))

    (func (export "wait") (param $f i32) (param $mode i32) (result i32)
      (global.set $f (local.get $f))
      (global.set $mode (local.get $mode))
      (if (i32.ne (call $read (local.get $f) (i32.const 16)) (i32.const -1))
        (then (return (call $done))))
      (global.set $ws (call $ws-new))
      (call $join (global.get $f) (global.get $ws))
      (call $wait))

    (func (export "callback") (param $event i32) (param $p1 i32) (param $p2 i32) (result i32)
      (if (i32.eq (local.get $event) (i32.const 6 (; TASK_CANCELLED ;)))
        (then
          (global.set $cancelled (i32.add (global.get $cancelled) (i32.const 1)))
          (if (i32.eq (global.get $mode) (i32.const 2)) (then (return (call $wait))))
          (if (i32.eq (call $cancel-read (global.get $f)) (i32.const -1)) (then unreachable))
          (call $cleanup)
          (if (i32.eq (global.get $mode) (i32.const 1))
            (then (call $ret (i32.const 0xCCCC)))
            (else (call $task-cancel)))
          (return (i32.const 0 (; EXIT ;)))))
      (if (i32.eq (local.get $event) (i32.const 4 (; FUTURE_READ ;)))
        (then (return (call $done))))
      unreachable)

    (func (export "cancelled") (result i32) (global.get $cancelled))
  )
  (core instance $m (instantiate $M (with "" (instance
    (export "mem" (memory $mem))
    (export "future.read" (func $future.read))
    (export "future.cancel-read" (func $future.cancel-read))
    (export "future.drop-readable" (func $future.drop-readable))
    (export "waitable-set.new" (func $ws.new))
    (export "waitable-set.drop" (func $ws.drop))
    (export "waitable.join" (func $join))
    (export "task.cancel" (func $task.cancel))
    (export "ret" (func $ret))))))
  (func (export "wait") async (param "f" $F) (param "mode" u32) (result u32)
    (canon lift (core func $m "wait") async (memory $mem) (callback (core func $m "callback"))))
  (func (export "cancelled") (result u32) (canon lift (core func $m "cancelled")))
)
