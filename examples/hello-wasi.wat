;; A WASI 0.3 command written by hand: it exports wasi:cli/run@0.3.0, creates a
;; stream, hands its readable end to wasi:cli/stdout's write-via-stream and
;; writes one line into it.   Run it with:  python3 -m wasmloom run examples/hello-wasi.wat
(component
  (import "wasi:cli/types@0.3.0" (instance $types
    (type $ec (enum "io" "illegal-byte-sequence" "pipe"))
    (export "error-code" (type (eq $ec)))))
  (alias export $types "error-code" (type $error-code))
  (import "wasi:cli/stdout@0.3.0" (instance $stdout
    (export "error-code" (type $ec (eq $error-code)))
    (export "write-via-stream"
      (func (param "data" (stream u8)) (result (future (result (error $ec))))))))
  (type $s (stream u8))
  (core module $mem (memory (export "mem") 1))
  (core instance $mi (instantiate $mem))
  (alias core export $mi "mem" (core memory $memory))
  (core func $write_via_stream (canon lower (func $stdout "write-via-stream")))
  (core func $stream_new (canon stream.new $s))
  (core func $stream_write (canon stream.write $s (memory $memory)))
  (core func $drop_writable (canon stream.drop-writable $s))
  (core func $task_return (canon task.return (result (result))))
  (core module $m
    (import "" "mem" (memory 1))
    (import "" "ret" (func $ret (param i32)))
    (import "" "wvs" (func $wvs (param i32) (result i32)))
    (import "" "new" (func $new (result i64)))
    (import "" "write" (func $write (param i32 i32 i32) (result i32)))
    (import "" "dropw" (func $dropw (param i32)))
    (data (i32.const 16) "Hello from a WASI 0.3 component, run by wasmloom!\n")
    (func (export "run")
      (local $pair i64) (local $w i32)
      (local.set $pair (call $new))
      (local.set $w (i32.wrap_i64 (i64.shr_u (local.get $pair) (i64.const 32))))
      (drop (call $wvs (i32.wrap_i64 (local.get $pair))))
      (drop (call $write (local.get $w) (i32.const 16) (i32.const 50)))
      (call $dropw (local.get $w))
      (call $ret (i32.const 0))))
  (core instance $i (instantiate $m (with "" (instance
    (export "mem" (memory $memory))
    (export "wvs" (func $write_via_stream))
    (export "new" (func $stream_new))
    (export "write" (func $stream_write))
    (export "dropw" (func $drop_writable))
    (export "ret" (func $task_return))))))
  (type $run_t (func async (result (result))))
  (func $run (type $run_t) (canon lift (core func $i "run") async))
  (instance $ri (export "run" (func $run)))
  (export "wasi:cli/run@0.3.0" (instance $ri)))
