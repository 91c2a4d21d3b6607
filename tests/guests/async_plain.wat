;; The same function lifted three ways, with no blocking import: sync (`add`),
;; async with a callback (`add-callback`) and async stackful (`add-stackful`).
(component
  (core module $M
    (import "" "task.return" (func $task.return (param i32)))
    (func (export "add") (param i32 i32) (result i32)
      (i32.add (local.get 0) (local.get 1)))
    (func (export "add-cb") (param i32 i32) (result i32)
      (call $task.return (i32.add (local.get 0) (local.get 1)))
      (i32.const 0 (; EXIT ;)))
    (func (export "cb") (param i32 i32 i32) (result i32) unreachable)
    (func (export "add-stackful") (param i32 i32)
      (call $task.return (i32.add (local.get 0) (local.get 1))))
  )
  (canon task.return (result u32) (core func $task.return))
  (core instance $m (instantiate $M (with "" (instance (export "task.return" (func $task.return))))))
  (func (export "add") (param "a" u32) (param "b" u32) (result u32)
    (canon lift (core func $m "add")))
  (func (export "add-callback") async (param "a" u32) (param "b" u32) (result u32)
    (canon lift (core func $m "add-cb") async (callback (core func $m "cb"))))
  (func (export "add-stackful") async (param "a" u32) (param "b" u32) (result u32)
    (canon lift (core func $m "add-stackful") async))
)
