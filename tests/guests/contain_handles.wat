;; Filling the instance's handle table (StoreLimits.handles): each export calls
;; one built-in `n` times and returns the last handle it got. `streams` and
;; `futures` add two handles per call (the readable and the writable end).
;; `drop-resource`, `drop-set` and `drop-error` free one handle each.
(component
  (type $r (resource (rep i32)))
  (type $S (stream u8))
  (type $F (future u8))
  (core module $libc (memory (export "mem") 1))
  (core instance $libc (instantiate $libc))
  (alias core export $libc "mem" (core memory $mem))

  (core func $r.new (canon resource.new $r))
  (core func $r.drop (canon resource.drop $r))
  (core func $s.new (canon stream.new $S))
  (core func $f.new (canon future.new $F))
  (core func $ws.new (canon waitable-set.new))
  (core func $ws.drop (canon waitable-set.drop))
  (core func $ec.new (canon error-context.new (memory $mem)))
  (core func $ec.drop (canon error-context.drop))

  (core module $M
    (import "" "r.new" (func $r.new (param i32) (result i32)))
    (import "" "r.drop" (func $r.drop (param i32)))
    (import "" "s.new" (func $s.new (result i64)))
    (import "" "f.new" (func $f.new (result i64)))
    (import "" "ws.new" (func $ws.new (result i32)))
    (import "" "ws.drop" (func $ws.drop (param i32)))
    (import "" "ec.new" (func $ec.new (param i32 i32) (result i32)))
    (import "" "ec.drop" (func $ec.drop (param i32)))
    (func (export "resources") (param $n i32) (result i32)
      (local $h i32)
      (block $done
        (loop $l
          (br_if $done (i32.eqz (local.get $n)))
          (local.set $h (call $r.new (local.get $n)))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $l)))
      (local.get $h))
    (func (export "streams") (param $n i32) (result i32)
      (local $h i32)
      (block $done
        (loop $l
          (br_if $done (i32.eqz (local.get $n)))
          (local.set $h (i32.wrap_i64 (i64.shr_u (call $s.new) (i64.const 32))))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $l)))
      (local.get $h))
    (func (export "futures") (param $n i32) (result i32)
      (local $h i32)
      (block $done
        (loop $l
          (br_if $done (i32.eqz (local.get $n)))
          (local.set $h (i32.wrap_i64 (i64.shr_u (call $f.new) (i64.const 32))))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $l)))
      (local.get $h))
    (func (export "sets") (param $n i32) (result i32)
      (local $h i32)
      (block $done
        (loop $l
          (br_if $done (i32.eqz (local.get $n)))
          (local.set $h (call $ws.new))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $l)))
      (local.get $h))
    (func (export "errors") (param $n i32) (result i32)
      (local $h i32)
      (block $done
        (loop $l
          (br_if $done (i32.eqz (local.get $n)))
          (local.set $h (call $ec.new (i32.const 0) (i32.const 0)))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $l)))
      (local.get $h))
    (func (export "drop-resource") (param i32) (call $r.drop (local.get 0)))
    (func (export "drop-set") (param i32) (call $ws.drop (local.get 0)))
    (func (export "drop-error") (param i32) (call $ec.drop (local.get 0))))
  (core instance $m (instantiate $M (with "" (instance
    (export "r.new" (func $r.new))
    (export "r.drop" (func $r.drop))
    (export "s.new" (func $s.new))
    (export "f.new" (func $f.new))
    (export "ws.new" (func $ws.new))
    (export "ws.drop" (func $ws.drop))
    (export "ec.new" (func $ec.new))
    (export "ec.drop" (func $ec.drop))))))

  (func (export "resources") (param "n" u32) (result u32) (canon lift (core func $m "resources")))
  (func (export "streams") (param "n" u32) (result u32) (canon lift (core func $m "streams")))
  (func (export "futures") (param "n" u32) (result u32) (canon lift (core func $m "futures")))
  (func (export "sets") (param "n" u32) (result u32) (canon lift (core func $m "sets")))
  (func (export "errors") (param "n" u32) (result u32) (canon lift (core func $m "errors")))
  (func (export "drop-resource") (param "h" u32) (canon lift (core func $m "drop-resource")))
  (func (export "drop-set") (param "h" u32) (canon lift (core func $m "drop-set")))
  (func (export "drop-error") (param "h" u32) (canon lift (core func $m "drop-error")))
)
