;; The world `twins-user` of tests/wit/bindgen/twins.wit: `run` passes a point
;; (1, 2) and a size (3, 4) to the host's `take`.
(component
  (type $sink-t (instance
    (type $p0 (record (field "x" s32) (field "y" s32)))
    (export "point" (type $p (eq $p0)))
    (type $s0 (record (field "x" s32) (field "y" s32)))
    (export "size" (type $s (eq $s0)))
    (export "take" (func (param "p" $p) (param "s" $s) (result u32)))))
  (import "example:twins/sink" (instance $sink (type $sink-t)))
  (alias export $sink "take" (func $take))
  (core func $c-take (canon lower (func $take)))
  (core module $M
    (import "" "take" (func $take (param i32 i32 i32 i32) (result i32)))
    (func (export "run") (result i32)
      (call $take (i32.const 1) (i32.const 2) (i32.const 3) (i32.const 4))))
  (core instance $m (instantiate $M (with "" (instance (export "take" (func $c-take))))))
  (func (export "run") (result u32) (canon lift (core func $m "run")))
)
