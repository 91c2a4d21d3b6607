;; The world `user` of tests/wit/bindgen/ares.wit: `run` (async, stackful)
;; makes a host counter, calls its async `bump` through a sync lowering (the
;; task suspends until the host's coroutine finishes), then `get`.
(component
  (type $api-t (instance
    (export "counter" (type $counter (sub resource)))
    (export "[constructor]counter" (func (param "start" u32) (result (own $counter))))
    (export "[method]counter.bump"
      (func async (param "self" (borrow $counter)) (param "by" u32) (result u32)))
    (export "[method]counter.get" (func (param "self" (borrow $counter)) (result u32)))))
  (import "example:ares/api" (instance $api (type $api-t)))
  (alias export $api "counter" (type $counter))
  (alias export $api "[constructor]counter" (func $new))
  (alias export $api "[method]counter.bump" (func $bump))
  (alias export $api "[method]counter.get" (func $get))
  (core func $c-new (canon lower (func $new)))
  (core func $c-bump (canon lower (func $bump)))
  (core func $c-get (canon lower (func $get)))
  (core func $c-drop (canon resource.drop $counter))
  (core func $task.return (canon task.return (result u32)))
  (core module $M
    (import "" "new" (func $new (param i32) (result i32)))
    (import "" "bump" (func $bump (param i32 i32) (result i32)))
    (import "" "get" (func $get (param i32) (result i32)))
    (import "" "drop" (func $drop (param i32)))
    (import "" "task.return" (func $ret (param i32)))
    (func (export "run") (param $start i32) (param $by i32)
      (local $h i32) (local $r i32)
      (local.set $h (call $new (local.get $start)))
      (local.set $r (i32.mul (call $bump (local.get $h) (local.get $by)) (i32.const 1000)))
      (local.set $r (i32.add (local.get $r) (call $get (local.get $h))))
      (call $drop (local.get $h))
      (call $ret (local.get $r))))
  (core instance $m (instantiate $M (with "" (instance
    (export "new" (func $c-new)) (export "bump" (func $c-bump)) (export "get" (func $c-get))
    (export "drop" (func $c-drop)) (export "task.return" (func $task.return))))))
  (func (export "run") async (param "start" u32) (param "by" u32) (result u32)
    (canon lift (core func $m "run") async))
)
