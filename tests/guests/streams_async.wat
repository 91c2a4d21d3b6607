;; An async, callback-ABI stream guest (used by tests/test_host_streams_async.py,
;; tests/test_host_streams_big.py and bench/streams.py).
;;
;; upper(s) -> stream<u8>: creates an output stream, returns its readable end
;;   with task.return, then loops: async stream.read of `s` into a 64 KiB buffer,
;;   SIMD ASCII upper-casing, async stream.write to the output, waiting on a
;;   waitable set whenever a read or write blocks, until `s` ends; then drops
;;   both ends.
;; upper-prefix(s, limit) -> stream<u8>: the same, but after `limit` bytes it
;;   drops both ends mid-stream (the writer of `s` sees DROPPED).
;; greeting() -> future<string>: returns a future it then writes "hello from
;;   the guest" to (waiting until the reader takes it).
;; cancel-read(s) -> u32: starts a read of up to 64 bytes, yields once if it
;;   blocked, then cancels it; returns the cancel's code (result | n << 4)
;;   followed by the bytes read (as (code, list<u8>)).
;;
;; One call at a time: the task state lives in globals.
;; Memory: 16.. event/return area, 256.. greeting text, 1024.. small buffer,
;; 65536.. the 64 KiB stream buffer (+16 bytes of SIMD slack).
(component
  (type $S (stream u8))
  (type $FS (future string))
  (core module $Memory (memory (export "mem") 3))
  (core instance $memory (instantiate $Memory))
  (alias core export $memory "mem" (core memory $mem))
  (core func $stream.new (canon stream.new $S))
  (core func $stream.read (canon stream.read $S async (memory $mem)))
  (core func $stream.write (canon stream.write $S async (memory $mem)))
  (core func $stream.cancel-read (canon stream.cancel-read $S async))
  (core func $stream.drop-readable (canon stream.drop-readable $S))
  (core func $stream.drop-writable (canon stream.drop-writable $S))
  (core func $future.new (canon future.new $FS))
  (core func $future.write (canon future.write $FS async (memory $mem)))
  (core func $future.drop-writable (canon future.drop-writable $FS))
  (core func $ws.new (canon waitable-set.new))
  (core func $ws.drop (canon waitable-set.drop))
  (core func $join (canon waitable.join))
  (core func $ret-stream (canon task.return (result $S)))
  (core func $ret-future (canon task.return (result $FS)))
  (core func $ret-cancel (canon task.return (result (tuple u32 (list u8))) (memory $mem)))
  (core module $M
    (import "" "mem" (memory 3))
    (import "" "stream.new" (func $new (result i64)))
    (import "" "stream.read" (func $read (param i32 i32 i32) (result i32)))
    (import "" "stream.write" (func $write (param i32 i32 i32) (result i32)))
    (import "" "stream.cancel-read" (func $cancel-read (param i32) (result i32)))
    (import "" "stream.drop-readable" (func $drop-r (param i32)))
    (import "" "stream.drop-writable" (func $drop-w (param i32)))
    (import "" "future.new" (func $fnew (result i64)))
    (import "" "future.write" (func $fwrite (param i32 i32) (result i32)))
    (import "" "future.drop-writable" (func $fdrop-w (param i32)))
    (import "" "waitable-set.new" (func $ws-new (result i32)))
    (import "" "waitable-set.drop" (func $ws-drop (param i32)))
    (import "" "waitable.join" (func $join (param i32 i32)))
    (import "" "ret-stream" (func $ret-stream (param i32)))
    (import "" "ret-future" (func $ret-future (param i32)))
    (import "" "ret-cancel" (func $ret-cancel (param i32 i32 i32)))
    (data (i32.const 256) "hello from the guest")

    (global $in (mut i32) (i32.const 0))    ;; readable end of the input
    (global $out (mut i32) (i32.const 0))   ;; writable end of the output
    (global $ws (mut i32) (i32.const 0))
    (global $n (mut i32) (i32.const 0))     ;; bytes in the buffer
    (global $off (mut i32) (i32.const 0))   ;; bytes of the buffer written so far
    (global $eof (mut i32) (i32.const 0))
    (global $left (mut i64) (i64.const 0))  ;; bytes still to read
    (global $mode (mut i32) (i32.const 0))  ;; 0 upper, 1 greeting, 2 cancel-read

    ;; ASCII upper-case $n bytes at $p, 16 at a time (may touch 15 bytes past the end)
    (func $upper (param $p i32) (param $n i32)
      (local $end i32) (local $v v128)
      (local.set $end (i32.add (local.get $p) (local.get $n)))
      (block $b (loop $l
        (br_if $b (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $v (v128.load (local.get $p)))
        (v128.store (local.get $p)
          (i8x16.sub (local.get $v)
            (v128.and
              (i8x16.lt_u (i8x16.sub (local.get $v) (i8x16.splat (i32.const 97)))
                          (i8x16.splat (i32.const 26)))
              (i8x16.splat (i32.const 32)))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $l))))

    (func $wait (result i32)
      (i32.or (i32.const 2 (; WAIT ;)) (i32.shl (global.get $ws) (i32.const 4))))

    ;; both ends dropped, the set too: the task exits
    (func $finish (result i32)
      (call $drop-r (global.get $in))
      (call $drop-w (global.get $out))
      (call $ws-drop (global.get $ws))
      (i32.const 0 (; EXIT ;)))

    ;; a read's result arrived: take its bytes
    (func $got-read (param $code i32)
      (local $k i32)
      (local.set $k (i32.shr_u (local.get $code) (i32.const 4)))
      (global.set $left (i64.sub (global.get $left) (i64.extend_i32_u (local.get $k))))
      (if (i32.or (i32.eq (i32.and (local.get $code) (i32.const 0xf)) (i32.const 1))
                  (i64.eqz (global.get $left)))
        (then (global.set $eof (i32.const 1))))
      (call $upper (i32.const 65536) (local.get $k))
      (global.set $n (local.get $k))
      (global.set $off (i32.const 0)))

    ;; the main loop: write what is buffered, read more; a callback code
    (func $run (result i32)
      (local $code i32) (local $want i32)
      (loop $L
        (if (i32.ge_u (global.get $off) (global.get $n))
          (then
            (if (global.get $eof) (then (return (call $finish))))
            (local.set $want (i32.const 65536))
            (if (i64.lt_u (global.get $left) (i64.const 65536))
              (then (local.set $want (i32.wrap_i64 (global.get $left)))))
            (local.set $code (call $read (global.get $in) (i32.const 65536) (local.get $want)))
            (if (i32.eq (local.get $code) (i32.const -1)) (then (return (call $wait))))
            (call $got-read (local.get $code))
            (br $L)))
        (local.set $code (call $write (global.get $out)
          (i32.add (i32.const 65536) (global.get $off))
          (i32.sub (global.get $n) (global.get $off))))
        (if (i32.eq (local.get $code) (i32.const -1)) (then (return (call $wait))))
        (if (call $got-write (local.get $code)) (then (return (call $finish))))
        (br $L))
      unreachable)

    ;; a write's result arrived; 1 if the reader dropped its end
    (func $got-write (param $code i32) (result i32)
      (global.set $off (i32.add (global.get $off) (i32.shr_u (local.get $code) (i32.const 4))))
      (i32.eq (i32.and (local.get $code) (i32.const 0xf)) (i32.const 1)))

    (func $start (param $r i32) (param $limit i64) (result i32)
      (local $v i64)
      (global.set $mode (i32.const 0))
      (global.set $in (local.get $r))
      (local.set $v (call $new))
      (global.set $out (i32.wrap_i64 (i64.shr_u (local.get $v) (i64.const 32))))
      (global.set $n (i32.const 0))
      (global.set $off (i32.const 0))
      (global.set $eof (i32.const 0))
      (global.set $left (local.get $limit))
      (call $ret-stream (i32.wrap_i64 (local.get $v)))
      (global.set $ws (call $ws-new))
      (call $join (global.get $in) (global.get $ws))
      (call $join (global.get $out) (global.get $ws))
      (call $run))

    (func (export "upper") (param $r i32) (result i32)
      (call $start (local.get $r) (i64.const -1)))
    (func (export "upper-prefix") (param $r i32) (param $limit i64) (result i32)
      (call $start (local.get $r) (local.get $limit)))

    (func (export "greeting") (result i32)
      (local $v i64) (local $code i32)
      (global.set $mode (i32.const 1))
      (local.set $v (call $fnew))
      (global.set $out (i32.wrap_i64 (i64.shr_u (local.get $v) (i64.const 32))))
      (call $ret-future (i32.wrap_i64 (local.get $v)))
      (i32.store (i32.const 16) (i32.const 256))
      (i32.store (i32.const 20) (i32.const 20))
      (local.set $code (call $fwrite (global.get $out) (i32.const 16)))
      (if (i32.ne (local.get $code) (i32.const -1))
        (then (call $fdrop-w (global.get $out)) (return (i32.const 0))))
      (global.set $ws (call $ws-new))
      (call $join (global.get $out) (global.get $ws))
      (call $wait))

    (func (export "cancel-read") (param $r i32) (result i32)
      (local $code i32)
      (global.set $mode (i32.const 2))
      (global.set $in (local.get $r))
      (local.set $code (call $read (local.get $r) (i32.const 1024) (i32.const 64)))
      (if (i32.ne (local.get $code) (i32.const -1))
        (then (call $cancel-done (local.get $code)) (return (i32.const 0))))
      (i32.const 1 (; YIELD ;)))

    (func $cancel-done (param $code i32)
      (call $drop-r (global.get $in))
      (call $ret-cancel (local.get $code) (i32.const 1024)
        (i32.shr_u (local.get $code) (i32.const 4))))

    (func (export "callback") (param $event i32) (param $p1 i32) (param $p2 i32) (result i32)
      (local $code i32)
      (if (i32.eq (global.get $mode) (i32.const 1))
        (then
          (if (i32.ne (local.get $event) (i32.const 5 (; FUTURE_WRITE ;))) (then unreachable))
          (call $join (global.get $out) (i32.const 0))
          (call $fdrop-w (global.get $out))
          (call $ws-drop (global.get $ws))
          (return (i32.const 0))))
      (if (i32.eq (global.get $mode) (i32.const 2))
        (then
          (if (i32.ne (local.get $event) (i32.const 0 (; NONE ;))) (then unreachable))
          (local.set $code (call $cancel-read (global.get $in)))
          (if (i32.eq (local.get $code) (i32.const -1)) (then unreachable))
          (call $cancel-done (local.get $code))
          (return (i32.const 0))))
      (if (i32.eq (local.get $event) (i32.const 2 (; STREAM_READ ;)))
        (then
          (call $got-read (local.get $p2))
          (return (call $run))))
      (if (i32.eq (local.get $event) (i32.const 3 (; STREAM_WRITE ;)))
        (then
          (if (call $got-write (local.get $p2)) (then (return (call $finish))))
          (return (call $run))))
      unreachable)
  )
  (core instance $m (instantiate $M (with "" (instance
    (export "mem" (memory $mem))
    (export "stream.new" (func $stream.new))
    (export "stream.read" (func $stream.read))
    (export "stream.write" (func $stream.write))
    (export "stream.cancel-read" (func $stream.cancel-read))
    (export "stream.drop-readable" (func $stream.drop-readable))
    (export "stream.drop-writable" (func $stream.drop-writable))
    (export "future.new" (func $future.new))
    (export "future.write" (func $future.write))
    (export "future.drop-writable" (func $future.drop-writable))
    (export "waitable-set.new" (func $ws.new))
    (export "waitable-set.drop" (func $ws.drop))
    (export "waitable.join" (func $join))
    (export "ret-stream" (func $ret-stream))
    (export "ret-future" (func $ret-future))
    (export "ret-cancel" (func $ret-cancel))))))
  (func (export "upper") async (param "s" $S) (result $S)
    (canon lift (core func $m "upper") async (callback (core func $m "callback"))))
  (func (export "upper-prefix") async (param "s" $S) (param "limit" u64) (result $S)
    (canon lift (core func $m "upper-prefix") async (callback (core func $m "callback"))))
  (func (export "greeting") async (result $FS)
    (canon lift (core func $m "greeting") async (callback (core func $m "callback"))))
  (func (export "cancel-read") async (param "s" $S) (result (tuple u32 (list u8)))
    (canon lift (core func $m "cancel-read") async (memory $mem) (callback (core func $m "callback"))))
)
