;; A core exception thrown in one component does not unwind into another: it is
;; a trap at the boundary. $A's `throw` throws a tag no one catches; $B calls it
;; from inside a `try_table` whose `catch_all` would reach `unreachable`.
;;   throw:    $A's export, called by the host
;;   call-throw: $B's call of $A's `throw`
(component
  (component $A
    (core module $M
      (tag $t)
      (func (export "throw") (throw $t)))
    (core instance $m (instantiate $M))
    (func (export "throw") (canon lift (core func $m "throw"))))
  (component $B
    (import "throw" (func $throw))
    (core func $throw (canon lower (func $throw)))
    (core module $N
      (import "" "throw" (func $throw))
      (func (export "call-throw")
        (block $caught
          (try_table (catch_all $caught) (call $throw))
          (return))
        unreachable))
    (core instance $n (instantiate $N (with "" (instance (export "throw" (func $throw))))))
    (func (export "call-throw") (canon lift (core func $n "call-throw"))))
  (instance $a (instantiate $A))
  (instance $b (instantiate $B (with "throw" (func $a "throw"))))
  (export "throw" (func $a "throw"))
  (export "call-throw" (func $b "call-throw"))
)
