;; A WASI 0.2 command asking wasi:random for 2^64-1 bytes: the host must trap
;; (the request is over its limit) before it allocates anything.
(component
  (import "wasi:random/random@0.2.4" (instance $random
    (export "get-random-bytes" (func (param "len" u64) (result (list u8))))))
  (core module $mem
    (memory (export "mem") 1)
    (global $next (mut i32) (i32.const 1024))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (global.get $next))
      (global.set $next (i32.add (global.get $next) (local.get 3)))
      (local.get $p)))
  (core instance $mi (instantiate $mem))
  (alias core export $mi "mem" (core memory $memory))
  (alias core export $mi "realloc" (core func $realloc))
  (core func $get_random_bytes
    (canon lower (func $random "get-random-bytes") (memory $memory) (realloc $realloc)))
  (core module $m
    (import "" "get-random-bytes" (func $get_random_bytes (param i64 i32)))
    (func (export "run") (result i32)
      (call $get_random_bytes (i64.const -1) (i32.const 16))  ;; len = 2^64-1
      (i32.const 0)))
  (core instance $i (instantiate $m (with "" (instance
    (export "get-random-bytes" (func $get_random_bytes))))))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $ri (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $ri)))
