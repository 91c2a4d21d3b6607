;; A small component: imports `log(msg: string)` from the host and exports
;; `greet(name: string) -> string`, which logs and returns "Hello, NAME!".
(component
  (import "log" (func $log (param "msg" string)))

  (core module $Mem
    (memory (export "mem") 1)
    (global $bump (mut i32) (i32.const 1024))
    ;; A bump allocator: enough for a demo, reset after each call by post-return.
    (func (export "realloc") (param i32 i32) (param $align i32) (param $size i32) (result i32)
      (local $p i32)
      (local.set $p (i32.and (i32.add (global.get $bump) (i32.sub (local.get $align) (i32.const 1)))
                             (i32.sub (i32.const 0) (local.get $align))))
      (global.set $bump (i32.add (local.get $p) (local.get $size)))
      (local.get $p))
    (func (export "reset") (param i32) (global.set $bump (i32.const 1024))))
  (core instance $mem (instantiate $Mem))

  (core func $log (canon lower (func $log) (memory (core memory $mem "mem"))))

  (core module $Main
    (import "mem" "mem" (memory 1))
    (import "mem" "realloc" (func $realloc (param i32 i32 i32 i32) (result i32)))
    (import "host" "log" (func $log (param i32 i32)))
    (data (i32.const 16) "Hello, ")
    ;; greet(name_ptr, name_len) -> pointer to (ptr, len) of the result
    (func (export "greet") (param $name i32) (param $len i32) (result i32)
      (local $out i32) (local $n i32)
      (local.set $n (i32.add (local.get $len) (i32.const 8)))
      (local.set $out (call $realloc (i32.const 0) (i32.const 0) (i32.const 1) (local.get $n)))
      (memory.copy (local.get $out) (i32.const 16) (i32.const 7))
      (memory.copy (i32.add (local.get $out) (i32.const 7)) (local.get $name) (local.get $len))
      (i32.store8 (i32.add (local.get $out) (i32.add (local.get $len) (i32.const 7))) (i32.const 33))
      (call $log (local.get $out) (local.get $n))
      (i32.store (i32.const 0) (local.get $out))
      (i32.store (i32.const 4) (local.get $n))
      (i32.const 0)))
  (core instance $main (instantiate $Main
    (with "mem" (instance $mem))
    (with "host" (instance (export "log" (func $log))))))

  (func (export "greet") (param "name" string) (result string)
    (canon lift (core func $main "greet") (memory (core memory $mem "mem"))
      (realloc (core func $mem "realloc")) (post-return (core func $mem "reset"))))
)
