;; A WASI 0.3 command whose run grows memory a page at a time, touching each
;; page, until growth fails; then it traps (unreachable).
(component
  (core module $m
    (memory (export "mem") 1)
    (func (export "run") (local $p i32)
      (block $done
        (loop $l
          (local.set $p (memory.grow (i32.const 1)))
          (br_if $done (i32.eq (local.get $p) (i32.const -1)))
          (i32.store (i32.mul (local.get $p) (i32.const 65536)) (local.get $p))
          (br $l)))
      unreachable))
  (core instance $i (instantiate $m))
  (type $run_t (func async (result (result))))
  (func $run (type $run_t) (canon lift (core func $i "run") async))
  (instance $ri (export "run" (func $run)))
  (export "wasi:cli/run@0.3.0" (instance $ri)))
