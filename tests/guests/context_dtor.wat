;; A destructor that runs when no thread of its instance does: it reaches the
;; instance's sync storage, not the slots of the task that ran there last.
;;   $X.make-async(x): callback-lifted async: slot 0 := x, returns a new `g`
;;   $X's `g` destructor: stores slot 0 + 1000 at address 100
;;   $X.dtor-saw():    what the last destructor stored
;;   $Y.drop-it(r):    drops `g` handle r (so $X's destructor runs under $Y's call)
(component
  (component $X
    (core func $get0 (canon context.get i32 0))
    (core func $set0 (canon context.set i32 0))
    (core module $D
      (import "" "get0" (func $get0 (result i32)))
      (memory (export "mem") 1)
      (func (export "dtor") (param i32)
        (i32.store (i32.const 100) (i32.add (call $get0) (i32.const 1000)))))
    (core instance $d (instantiate $D (with "" (instance (export "get0" (func $get0))))))
    (alias core export $d "dtor" (core func $dtor))
    (type $g (resource (rep i32) (dtor (core func $dtor))))
    (export $g-out "g" (type $g))
    (core func $g-new (canon resource.new $g))
    (core func $task.return (canon task.return (result (own $g))))
    (core module $M
      (import "" "set0" (func $set0 (param i32)))
      (import "" "g-new" (func $g-new (param i32) (result i32)))
      (import "" "task.return" (func $task.return (param i32)))
      (import "" "mem" (memory 1))
      (func (export "make-async") (param $x i32) (result i32)
        (call $set0 (local.get $x))
        (call $task.return (call $g-new (i32.const 7)))
        (i32.const 0))  ;; EXIT
      (func (export "cb") (param i32 i32 i32) (result i32) unreachable)
      (func (export "dtor-saw") (result i32) (i32.load (i32.const 100))))
    (core instance $m (instantiate $M (with "" (instance
      (export "set0" (func $set0)) (export "g-new" (func $g-new))
      (export "task.return" (func $task.return)) (export "mem" (memory $d "mem"))))))
    (func (export "make-async") async (param "x" u32) (result (own $g-out))
      (canon lift (core func $m "make-async") async (callback (core func $m "cb"))))
    (func (export "dtor-saw") (result u32) (canon lift (core func $m "dtor-saw"))))
  (component $Y
    (import "g" (type $g (sub resource)))
    (core func $drop (canon resource.drop $g))
    (core module $N
      (import "" "drop" (func $drop (param i32)))
      (func (export "drop-it") (param i32) (call $drop (local.get 0))))
    (core instance $n (instantiate $N (with "" (instance (export "drop" (func $drop))))))
    (func (export "drop-it") (param "r" (own $g)) (canon lift (core func $n "drop-it"))))
  (instance $x (instantiate $X))
  (alias export $x "g" (type $g))
  (instance $y (instantiate $Y (with "g" (type $g))))
  (export $g-out "g" (type $g))
  (export "make-async" (func $x "make-async") (func async (param "x" u32) (result (own $g-out))))
  (export "dtor-saw" (func $x "dtor-saw"))
  (export "drop-it" (func $y "drop-it") (func (param "r" (own $g-out)))))
