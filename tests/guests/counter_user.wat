;; Imports a `counter` resource (another guest's, linked by the host) and a host function
;; taking a borrow of it: `lend` lends an owned counter to the host for one call.
(component
  (import "counter" (type $c (sub resource)))
  (import "host-peek" (func $peek (param "c" (borrow $c)) (result u32)))
  (core func $peek (canon lower (func $peek)))
  (core func $drop (canon resource.drop $c))
  (core module $main
    (import "host" "peek" (func $peek (param i32) (result i32)))
    (import "host" "drop" (func $drop (param i32)))
    (func (export "lend") (param $h i32) (result i32)
      (local $v i32)
      (local.set $v (call $peek (local.get $h)))
      (call $drop (local.get $h))
      (local.get $v)))
  (core instance $main (instantiate $main
    (with "host" (instance (export "peek" (func $peek)) (export "drop" (func $drop))))))
  (func (export "lend") (param "c" (own $c)) (result u32) (canon lift (core func $main "lend")))
)
