;; A WASI 0.3 command whose run loops forever.
(component
  (core module $m
    (memory (export "mem") 1)
    (func (export "run") (loop $l (br $l))))
  (core instance $i (instantiate $m))
  (type $run_t (func async (result (result))))
  (func $run (type $run_t) (canon lift (core func $i "run") async))
  (instance $ri (export "run" (func $run)))
  (export "wasi:cli/run@0.3.0" (instance $ri)))
