;; Values whose lift reads more of the guest's memory than it holds (the lift
;; budget, StoreLimits.lift_bytes) and values that do not.
;;
;; Memory is 9 pages (589,824 bytes). `aliased(n, len)` returns a list<string>
;; of `n` entries that all point at one string of `len` bytes; `distinct(n, len)`
;; one of `n` different strings of `len` bytes each. Their entries sit at 8, the
;; strings right after them. `aliased-lists` reads the same memory as
;; list<list<u8>>, `pair(len)` returns two strings that are the same `len`
;; bytes, `string(len)` and `bytes(len)` one value of `len` bytes, and
;; `pass-aliased(n, len)` passes the aliased list to the host import `host-take`.
;; `stream(n, len, distinct)` (async) returns a stream<string> at once and then
;; writes the aliased or distinct entries into it (copied when the host reads).
(component
  (import "host-take" (func $host-take (param "l" (list string)) (result u32)))
  (core module $libc
    (memory (export "mem") 9))
  (core instance $libc (instantiate $libc))
  (alias core export $libc "mem" (core memory $mem))
  (core func $host-take (canon lower (func $host-take) (memory $mem)))
  (type $SS (stream string))
  (core func $ss.new (canon stream.new $SS))
  (core func $ss.write (canon stream.write $SS async (memory $mem)))
  (core func $ss.drop-w (canon stream.drop-writable $SS))
  (core func $task.return (canon task.return (result $SS)))
  (core func $ws.new (canon waitable-set.new))
  (core func $join (canon waitable.join))

  (core module $M
    (import "libc" "mem" (memory 9))
    (import "host" "take" (func $host-take (param i32 i32) (result i32)))
    (import "host" "ss.new" (func $ss.new (result i64)))
    (import "host" "ss.write" (func $ss.write (param i32 i32 i32) (result i32)))
    (import "host" "ss.drop-w" (func $ss.drop-w (param i32)))
    (import "host" "task.return" (func $task.return (param i32)))
    (import "host" "ws.new" (func $ws.new (result i32)))
    (import "host" "join" (func $join (param i32 i32)))
    ;; writes the entries and strings; returns the address of the entries
    (func $fill (param $n i32) (param $len i32) (param $distinct i32) (result i32)
      (local $i i32) (local $str i32)
      (local.set $str (i32.add (i32.const 8) (i32.mul (local.get $n) (i32.const 8))))
      (memory.fill (local.get $str) (i32.const 0x61)
        (select (i32.mul (local.get $n) (local.get $len)) (local.get $len) (local.get $distinct)))
      (block $done
        (loop $l
          (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
          (i32.store (i32.add (i32.const 8) (i32.mul (local.get $i) (i32.const 8)))
            (select
              (i32.add (local.get $str) (i32.mul (local.get $i) (local.get $len)))
              (local.get $str)
              (local.get $distinct)))
          (i32.store (i32.add (i32.const 12) (i32.mul (local.get $i) (i32.const 8)))
            (local.get $len))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $l)))
      (i32.const 8))
    ;; a (ptr, len) pair at 0 (the return area of a spilled result)
    (func $ret (param $p i32) (param $n i32) (result i32)
      (i32.store (i32.const 0) (local.get $p))
      (i32.store (i32.const 4) (local.get $n))
      (i32.const 0))
    (func (export "aliased") (param $n i32) (param $len i32) (result i32)
      (call $ret (call $fill (local.get $n) (local.get $len) (i32.const 0)) (local.get $n)))
    (func (export "distinct") (param $n i32) (param $len i32) (result i32)
      (call $ret (call $fill (local.get $n) (local.get $len) (i32.const 1)) (local.get $n)))
    (func (export "one") (param $len i32) (result i32)
      (memory.fill (i32.const 16) (i32.const 0x62) (local.get $len))
      (call $ret (i32.const 16) (local.get $len)))
    (func (export "pair") (param $len i32) (result i32)
      (memory.fill (i32.const 16) (i32.const 0x63) (local.get $len))
      (i32.store (i32.const 0) (i32.const 16))
      (i32.store (i32.const 4) (local.get $len))
      (i32.store (i32.const 8) (i32.const 16))
      (i32.store (i32.const 12) (local.get $len))
      (i32.const 0))
    (func (export "pass-aliased") (param $n i32) (param $len i32) (result i32)
      (call $host-take (call $fill (local.get $n) (local.get $len) (i32.const 0)) (local.get $n)))
    ;; an async (callback) export: returns the readable end of a stream at once,
    ;; then writes the entries into it; when the write is done it drops the writable end
    (global $w (mut i32) (i32.const 0))
    (func (export "stream") (param $n i32) (param $len i32) (param $distinct i32) (result i32)
      (local $ends i64) (local $ws i32)
      (local.set $ends (call $ss.new))
      (global.set $w (i32.wrap_i64 (i64.shr_u (local.get $ends) (i64.const 32))))
      (call $task.return (i32.wrap_i64 (local.get $ends)))
      (if (i32.ne (i32.const -1 (; BLOCKED ;))
            (call $ss.write (global.get $w)
              (call $fill (local.get $n) (local.get $len) (local.get $distinct))
              (local.get $n)))
        (then unreachable))
      (local.set $ws (call $ws.new))
      (call $join (global.get $w) (local.get $ws))
      (i32.or (i32.const 2 (; WAIT ;)) (i32.shl (local.get $ws) (i32.const 4))))
    (func (export "stream-cb") (param i32 i32 i32) (result i32)
      (call $join (global.get $w) (i32.const 0))
      (call $ss.drop-w (global.get $w))
      (i32.const 0 (; EXIT ;))))
  (core instance $m (instantiate $M
    (with "libc" (instance $libc))
    (with "host" (instance
      (export "take" (func $host-take))
      (export "ss.new" (func $ss.new))
      (export "ss.write" (func $ss.write))
      (export "ss.drop-w" (func $ss.drop-w))
      (export "task.return" (func $task.return))
      (export "ws.new" (func $ws.new))
      (export "join" (func $join))))))

  (func (export "aliased") (param "n" u32) (param "len" u32) (result (list string))
    (canon lift (core func $m "aliased") (memory $mem)))
  (func (export "aliased-lists") (param "n" u32) (param "len" u32) (result (list (list u8)))
    (canon lift (core func $m "aliased") (memory $mem)))
  (func (export "distinct") (param "n" u32) (param "len" u32) (result (list string))
    (canon lift (core func $m "distinct") (memory $mem)))
  (func (export "string") (param "len" u32) (result string)
    (canon lift (core func $m "one") (memory $mem)))
  (func (export "bytes") (param "len" u32) (result (list u8))
    (canon lift (core func $m "one") (memory $mem)))
  (func (export "pair") (param "len" u32) (result (tuple string string))
    (canon lift (core func $m "pair") (memory $mem)))
  (func (export "pass-aliased") (param "n" u32) (param "len" u32) (result u32)
    (canon lift (core func $m "pass-aliased")))
  (func (export "stream") async (param "n" u32) (param "len" u32) (param "distinct" bool)
    (result (stream string))
    (canon lift (core func $m "stream") async (callback (core func $m "stream-cb"))))
)
