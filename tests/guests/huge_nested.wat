;; A stream and a future of list<list<list<list<u8>>>> values that are tiny in
;; the writer's memory but huge once copied: each level is a list of 1000
;; entries that all point at the same list of the level below, so one value
;; holds 1000^4 = 10^12 bytes in about 30 KB.
;;
;; $W (the writer) exports
;;   make-stream(grow) -> stream<T>: grows its memory by `grow` pages (a big
;;     memory makes a big default lift budget), returns a stream and writes
;;     one such value to it;
;;   make-future(grow) -> future<T>: the same through a future.
;; $R (a reader in another component) exports
;;   pull-stream(grow) -> u32, pull-future(grow) -> u32: call $W and read the
;;     value into its own memory (a bump realloc), returning the read's code.
(component
  (type $T (list (list (list (list u8)))))
  (type $S (stream $T))
  (type $F (future $T))
  (component $W
    (type $T (list (list (list (list u8)))))
    (type $S (stream $T))
    (type $F (future $T))
    (core module $Memory (memory (export "mem") 1))
    (core instance $memory (instantiate $Memory))
    (alias core export $memory "mem" (core memory $mem))
    (core func $stream.new (canon stream.new $S))
    (core func $stream.write (canon stream.write $S async (memory $mem)))
    (core func $stream.drop-writable (canon stream.drop-writable $S))
    (core func $future.new (canon future.new $F))
    (core func $future.write (canon future.write $F async (memory $mem)))
    (core func $future.drop-writable (canon future.drop-writable $F))
    (core func $ws.new (canon waitable-set.new))
    (core func $join (canon waitable.join))
    (core func $ret-stream (canon task.return (result $S)))
    (core func $ret-future (canon task.return (result $F)))
    (core module $M
      (import "" "mem" (memory 1))
      (import "" "stream.new" (func $stream.new (result i64)))
      (import "" "stream.write" (func $stream.write (param i32 i32 i32) (result i32)))
      (import "" "stream.drop-writable" (func $stream.drop-writable (param i32)))
      (import "" "future.new" (func $future.new (result i64)))
      (import "" "future.write" (func $future.write (param i32 i32) (result i32)))
      (import "" "future.drop-writable" (func $future.drop-writable (param i32)))
      (import "" "ws.new" (func $ws.new (result i32)))
      (import "" "join" (func $join (param i32 i32)))
      (import "" "ret-stream" (func $ret-stream (param i32)))
      (import "" "ret-future" (func $ret-future (param i32)))

      (global $out (mut i32) (i32.const 0))  ;; the writable end being written
      (global $is-stream (mut i32) (i32.const 0))

      ;; n (ptr, len) pairs at `at`
      (func $pairs (param $at i32) (param $n i32) (param $ptr i32) (param $len i32)
        (local $p i32)
        (local.set $p (local.get $at))
        (loop $next
          (i32.store (local.get $p) (local.get $ptr))
          (i32.store offset=4 (local.get $p) (local.get $len))
          (local.set $p (i32.add (local.get $p) (i32.const 8)))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br_if $next (local.get $n))))

      ;; the value at 30000: 1000 x (1000 x (1000 x (1000 bytes at 0)))
      (func $build (param $grow i32)
        (if (local.get $grow)
          (then (if (i32.eq (memory.grow (local.get $grow)) (i32.const -1)) (then unreachable))))
        (call $pairs (i32.const 1024) (i32.const 1000) (i32.const 0) (i32.const 1000))
        (call $pairs (i32.const 10240) (i32.const 1000) (i32.const 1024) (i32.const 1000))
        (call $pairs (i32.const 20480) (i32.const 1000) (i32.const 10240) (i32.const 1000))
        (call $pairs (i32.const 30000) (i32.const 1) (i32.const 20480) (i32.const 1000)))

      ;; write, then wait for the copy to finish (or the reader to go)
      (func $wait-for (param $end i32) (param $code i32) (result i32)
        (local $ws i32)
        (global.set $out (local.get $end))
        (if (i32.ne (local.get $code) (i32.const -1))
          (then (return (call $done (i32.const 0) (i32.const 0) (i32.const 0)))))
        (local.set $ws (call $ws.new))
        (call $join (local.get $end) (local.get $ws))
        (i32.or (i32.const 2 (; WAIT ;)) (i32.shl (local.get $ws) (i32.const 4))))

      (func $done (export "done") (param i32 i32 i32) (result i32)
        (if (global.get $is-stream)
          (then (call $stream.drop-writable (global.get $out)))
          (else (call $future.drop-writable (global.get $out))))
        (i32.const 0 (; EXIT ;)))

      (func (export "make-stream") (param $grow i32) (result i32)
        (local $ends i64)
        (local $w i32)
        (call $build (local.get $grow))
        (global.set $is-stream (i32.const 1))
        (local.set $ends (call $stream.new))
        (local.set $w (i32.wrap_i64 (i64.shr_u (local.get $ends) (i64.const 32))))
        (call $ret-stream (i32.wrap_i64 (local.get $ends)))
        (call $wait-for (local.get $w)
          (call $stream.write (local.get $w) (i32.const 30000) (i32.const 1))))

      (func (export "make-future") (param $grow i32) (result i32)
        (local $ends i64)
        (local $w i32)
        (call $build (local.get $grow))
        (global.set $is-stream (i32.const 0))
        (local.set $ends (call $future.new))
        (local.set $w (i32.wrap_i64 (i64.shr_u (local.get $ends) (i64.const 32))))
        (call $ret-future (i32.wrap_i64 (local.get $ends)))
        (call $wait-for (local.get $w)
          (call $future.write (local.get $w) (i32.const 30000))))
    )
    (core instance $m (instantiate $M (with "" (instance
      (export "mem" (memory $mem))
      (export "stream.new" (func $stream.new))
      (export "stream.write" (func $stream.write))
      (export "stream.drop-writable" (func $stream.drop-writable))
      (export "future.new" (func $future.new))
      (export "future.write" (func $future.write))
      (export "future.drop-writable" (func $future.drop-writable))
      (export "ws.new" (func $ws.new))
      (export "join" (func $join))
      (export "ret-stream" (func $ret-stream))
      (export "ret-future" (func $ret-future))))))
    (func (export "make-stream") async (param "grow" u32) (result $S)
      (canon lift (core func $m "make-stream") async (callback (core func $m "done"))))
    (func (export "make-future") async (param "grow" u32) (result $F)
      (canon lift (core func $m "make-future") async (callback (core func $m "done")))))

  (component $R
    (type $T (list (list (list (list u8)))))
    (type $S (stream $T))
    (type $F (future $T))
    (import "make-stream" (func $make-stream async (param "grow" u32) (result $S)))
    (import "make-future" (func $make-future async (param "grow" u32) (result $F)))
    (core module $Alloc
      (memory (export "mem") 1)
      (global $heap (mut i32) (i32.const 1024))
      ;; a bump allocator that grows memory as needed, and traps when it cannot
      (func (export "realloc") (param i32 i32 i32 i32) (result i32)
        (local $p i32)
        (local $end i32)
        (local.set $p (i32.and (i32.add (global.get $heap) (i32.const 7)) (i32.const -8)))
        (local.set $end (i32.add (local.get $p) (local.get 3)))
        (if (i32.lt_u (local.get $end) (local.get $p)) (then unreachable))
        (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
          (then
            (if (i32.eq
                  (memory.grow (i32.add (i32.shr_u (i32.sub (local.get $end)
                    (i32.mul (memory.size) (i32.const 65536))) (i32.const 16)) (i32.const 1)))
                  (i32.const -1))
              (then unreachable))))
        (global.set $heap (local.get $end))
        (local.get $p)))
    (core instance $alloc (instantiate $Alloc))
    (alias core export $alloc "mem" (core memory $mem))
    (alias core export $alloc "realloc" (core func $realloc))
    (core func $make-stream' (canon lower (func $make-stream)))
    (core func $make-future' (canon lower (func $make-future)))
    (core func $stream.read (canon stream.read $S (memory $mem) (realloc $realloc)))
    (core func $future.read (canon future.read $F (memory $mem) (realloc $realloc)))
    (core module $M
      (import "" "make-stream" (func $make-stream (param i32) (result i32)))
      (import "" "make-future" (func $make-future (param i32) (result i32)))
      (import "" "stream.read" (func $stream.read (param i32 i32 i32) (result i32)))
      (import "" "future.read" (func $future.read (param i32 i32) (result i32)))
      (func (export "pull-stream") (param $grow i32) (result i32)
        (call $stream.read (call $make-stream (local.get $grow)) (i32.const 16) (i32.const 1)))
      (func (export "pull-future") (param $grow i32) (result i32)
        (call $future.read (call $make-future (local.get $grow)) (i32.const 16))))
    (core instance $m (instantiate $M (with "" (instance
      (export "make-stream" (func $make-stream'))
      (export "make-future" (func $make-future'))
      (export "stream.read" (func $stream.read))
      (export "future.read" (func $future.read))))))
    (func (export "pull-stream") async (param "grow" u32) (result u32)
      (canon lift (core func $m "pull-stream")))
    (func (export "pull-future") async (param "grow" u32) (result u32)
      (canon lift (core func $m "pull-future"))))

  (instance $w (instantiate $W))
  (instance $r (instantiate $R
    (with "make-stream" (func $w "make-stream"))
    (with "make-future" (func $w "make-future"))))
  (export "make-stream" (func $w "make-stream"))
  (export "make-future" (func $w "make-future"))
  (export "pull-stream" (func $r "pull-stream"))
  (export "pull-future" (func $r "pull-future")))
