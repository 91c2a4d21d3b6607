;; Nested components, outer aliases, instance imports and exports.
;; Imports the instance `my:pkg/iface@1.0.0` (add) and root functions `log`, and the
;; WASI-like instance `wasi:io/streams@0.2.4` (resource `output-stream`, `open`, `write`).
(component $outer
  (type $t u32)
  (import "my:pkg/iface@1.0.0" (instance $iface
    (export "add" (func (param "a" u32) (param "b" u32) (result u32)))))
  (import "wasi:io/streams@0.2.4" (instance $streams
    (export "output-stream" (type $os (sub resource)))
    (export "open" (func (result (own $os))))
    (export "write" (func (param "s" (borrow $os)) (param "data" (list u8)) (result u64)))))
  (import "log" (func $log (param "msg" string)))
  (alias export $iface "add" (func $add))
  (alias export $streams "output-stream" (type $os))
  (alias export $streams "open" (func $open))
  (alias export $streams "write" (func $write))

  (core module $libc
    (memory (export "mem") 1)
    (global $bump (mut i32) (i32.const 4096))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (i32.and (i32.add (global.get $bump) (i32.sub (local.get 2) (i32.const 1)))
                             (i32.sub (i32.const 0) (local.get 2))))
      (global.set $bump (i32.add (local.get $p) (local.get 3)))
      (local.get $p)))

  ;; `double(x) = add(x, x)`, using the outer component's type `$t` by an outer alias.
  (component $doubler
    (alias outer $outer $t (type $t))
    (import "add" (func $add (param "a" $t) (param "b" $t) (result $t)))
    (core func $add (canon lower (func $add)))
    (core module $m
      (import "" "add" (func $add (param i32 i32) (result i32)))
      (func (export "double") (param i32) (result i32) (call $add (local.get 0) (local.get 0))))
    (core instance $i (instantiate $m (with "" (instance (export "add" (func $add))))))
    (func (export "double") (param "x" $t) (result $t) (canon lift (core func $i "double"))))

  ;; `quad(x) = double(double(x))`, importing an instance; calls `double` through a nested
  ;; component that re-exports it, typed by `$t` two levels out.
  (component $quadder
    (import "dbl" (instance $dbl (export "double" (func (param "x" u32) (result u32)))))
    (alias export $dbl "double" (func $double))
    (component $relay
      (alias outer $outer $t (type $t))
      (import "f" (func $f (param "x" $t) (result $t)))
      (export "f" (func $f)))
    (instance $relayed (instantiate $relay (with "f" (func $double))))
    (alias export $relayed "f" (func $double2))
    (core func $double (canon lower (func $double2)))
    (core module $m
      (import "" "double" (func $double (param i32) (result i32)))
      (func (export "quad") (param i32) (result i32) (call $double (call $double (local.get 0)))))
    (core instance $i (instantiate $m (with "" (instance (export "double" (func $double))))))
    (func (export "quad") (param "x" u32) (result u32) (canon lift (core func $i "quad"))))

  (instance $d1 (instantiate $doubler (with "add" (func $add))))
  (instance $q (instantiate $quadder (with "dbl" (instance $d1))))
  (export "api" (instance $d1))
  (alias export $q "quad" (func $quad))
  (export "quad" (func $quad))
  (export "sum" (func $add))

  ;; `shout(msg)`: logs msg, opens a stream, writes msg's bytes to it, drops the stream.
  (core instance $libc (instantiate $libc))
  (alias core export $libc "mem" (core memory $mem))
  (alias core export $libc "realloc" (core func $realloc))
  (core func $log (canon lower (func $log) (memory $mem)))
  (core func $open (canon lower (func $open)))
  (core func $write (canon lower (func $write) (memory $mem)))
  (core func $drop (canon resource.drop $os))
  (core module $shout
    (import "" "log" (func $log (param i32 i32)))
    (import "" "open" (func $open (result i32)))
    (import "" "write" (func $write (param i32 i32 i32) (result i64)))
    (import "" "drop" (func $drop (param i32)))
    (func (export "shout") (param $p i32) (param $n i32) (result i64)
      (local $h i32) (local $r i64)
      (call $log (local.get $p) (local.get $n))
      (local.set $h (call $open))
      (local.set $r (call $write (local.get $h) (local.get $p) (local.get $n)))
      (call $drop (local.get $h))
      (local.get $r)))
  (core instance $s (instantiate $shout (with "" (instance
    (export "log" (func $log)) (export "open" (func $open))
    (export "write" (func $write)) (export "drop" (func $drop))))))
  (func (export "shout") (param "msg" string) (result u64)
    (canon lift (core func $s "shout") (memory $mem) (realloc $realloc)))
)
