;; Binaries that decode but break a validation rule.
(assert_invalid
  (component
    (core module $M (func (export "f") (param i32) (result i32) (local.get 0)))
    (core instance $m (instantiate $M))
    (func (export "f") (param "x" u32) (result u32) (canon lift (core func $m "g")))
  )
  "no export named `g`")

(assert_invalid
  (component
    (core module $M (func (export "f") (result i32) (i32.const 0)))
    (core instance $m (instantiate $M))
    (func (export "f") (result string) (canon lift (core func $m "f")))
  )
  "canonical option `memory` is required")

(assert_invalid
  (component (type (func (result (borrow 7)))))
  "type index out of bounds")

;; A valid component, loaded (and instantiated) normally.
(component
  (core module $M (func (export "f") (result i32) (i32.const 7)))
  (core instance $m (instantiate $M))
  (func (export "f") (result u32) (canon lift (core func $m "f")))
)
