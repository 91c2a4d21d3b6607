;; a named component instance is registered under its name: later components import it
(component $provider
  (core module $m
    (func (export "get") (result i32) i32.const 42))
  (export "m" (core module $m))
  (type $r (resource (rep i32)))
  (export "r" (type $r))
)

;; its core module and resource type, imported by name
(component
  (import "provider" (instance $p
    (export "m" (core module
      (export "get" (func (result i32)))))
    (export "r" (type (sub resource)))))
  (alias export $p "m" (core module $m))
  (core instance $i (instantiate $m))
  (func (export "get") (result u32) (canon lift (core func $i "get")))
)
(assert_return (invoke "get") (u32.const 42))

;; an unnamed one is not
(component
  (core module $m (func (export "get") (result i32) i32.const 7))
  (export "m" (core module $m))
)
(assert_unlinkable
  (component
    (import "anon" (instance (export "m" (core module)))))
  "anon")

;; a later instance of the same name shadows the earlier one
(component $provider
  (core module $m
    (func (export "get") (result i32) i32.const 43))
  (export "m" (core module $m))
)
(component
  (import "provider" (instance $p
    (export "m" (core module (export "get" (func (result i32)))))))
  (alias export $p "m" (core module $m))
  (core instance $i (instantiate $m))
  (func (export "get") (result u32) (canon lift (core func $i "get")))
)
(assert_return (invoke "get") (u32.const 43))

;; an instance of a named definition is registered under the instance's name
(component definition $def
  (core module $m (func (export "get") (result i32) i32.const 5))
  (export "m" (core module $m))
)
(component instance $five $def)
(component
  (import "five" (instance $p
    (export "m" (core module (export "get" (func (result i32)))))))
  (alias export $p "m" (core module $m))
  (core instance $i (instantiate $m))
  (func (export "get") (result u32) (canon lift (core func $i "get")))
)
(assert_return (invoke "get") (u32.const 5))

;; a named core instance, imported by a later core module
(module $lib (func (export "seven") (result i32) i32.const 7))
(module (import "lib" "seven" (func $seven (result i32)))
  (func (export "fourteen") (result i32) call $seven call $seven i32.add))
(assert_return (invoke "fourteen") (i32.const 14))
