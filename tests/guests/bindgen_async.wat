;; The world `jobs` of tests/wit/bindgen/jobs.wit: the async export `run`
;; (stackful lift) returns `lookup(key) + 1`, calling the async import
;; `example:jobs/cache.lookup` through a sync lowering (the task suspends
;; until the host's coroutine finishes). The sync export `peek` returns `key * 2`; its
;; instance may block (because of `run`), so a sync call of it cannot run inside an
;; asyncio loop: the bindings' `peek_async` can.
(component
  (import "example:jobs/cache" (instance $cache
    (export "lookup" (func async (param "key" u32) (result u32)))))
  (alias export $cache "lookup" (func $lookup))
  (core module $M
    (import "" "task.return" (func $task.return (param i32)))
    (import "" "lookup" (func $lookup (param i32) (result i32)))
    (func (export "run") (param $k i32)
      (call $task.return (i32.add (call $lookup (local.get $k)) (i32.const 1))))
    (func (export "peek") (param $k i32) (result i32)
      (i32.mul (local.get $k) (i32.const 2))))
  (core func $task.return (canon task.return (result u32)))
  (core func $lookup-sync (canon lower (func $lookup)))
  (core instance $m (instantiate $M (with "" (instance
    (export "task.return" (func $task.return))
    (export "lookup" (func $lookup-sync))))))
  (func (export "run") async (param "key" u32) (result u32)
    (canon lift (core func $m "run") async))
  (func (export "peek") (param "key" u32) (result u32) (canon lift (core func $m "peek")))
)
