;; Which threads may run while a synchronous (non-async-typed) call blocks.
;;
;; $Main's sync-typed exports block (thread.suspend, thread.suspend-then-resume,
;; or a sync call of an async-typed import) in four situations:
;;   - "quick-alone": sync-calls $Lib's async-typed "quick" with no other thread
;;     ready: a task that may not block may not make that call (trap);
;;   - "quick-ready": the same call with a fresh thread of its own made ready
;;     first: allowed, "quick" answers 7 at once;
;;   - "bounce": switches three times to the helper thread ("spawn-helper")
;;     which makes the call's thread ready again each time; meanwhile the
;;     parked callback loops of "park" (ready, but needing the stack for
;;     themselves) and the ready threads of $Other ("arm") must never run:
;;     each traps if it does;
;;   - "suspend-alone": suspends with no thread of $Main to run: a trap
;;     ('deadlock detected' when some thread is ready but may not run).
;; $Driver calls "bounce" from another component (a guest caller).
(component
  (component $Lib
    (core module $M
      (func (export "quick") (result i32) (i32.const 7)))
    (core instance $m (instantiate $M))
    (func (export "quick") async (result u32) (canon lift (core func $m "quick"))))

  (component $Main
    (import "quick" (func $quick async (result u32)))
    (core module $Table (table (export "tbl") 2 funcref))
    (core instance $table (instantiate $Table))
    (core module $M
      (import "" "tbl" (table 2 funcref))
      (import "" "quick" (func $quick (result i32)))
      (import "" "task.return" (func $task.return (param i32)))
      (import "" "new" (func $new (param i32 i32) (result i32)))
      (import "" "index" (func $index (result i32)))
      (import "" "suspend" (func $suspend (result i32)))
      (import "" "resume-later" (func $resume-later (param i32)))
      (import "" "suspend-then-resume" (func $suspend-then-resume (param i32) (result i32)))

      ;; 1 while a sync call is on the stack: a parked callback loop traps if it runs then
      (global $busy (mut i32) (i32.const 0))
      (global $helper (mut i32) (i32.const -1))
      (global $caller (mut i32) (i32.const -1))

      ;; 0: does nothing
      (func $t-noop (param i32))
      ;; 1: the helper: makes the blocked caller ready again, then waits to be switched to
      (func $t-helper (param i32)
        (loop $again
          (call $resume-later (global.get $caller))
          (drop (call $suspend))
          (br $again)))
      (elem (table 0) (i32.const 0) func $t-noop $t-helper)

      (func (export "quick-alone") (result i32)
        (call $quick))
      (func (export "quick-ready") (result i32)
        (call $resume-later (call $new (i32.const 0) (i32.const 0)))
        (call $quick))

      (func (export "spawn-helper") (result i32)
        (global.set $helper (call $new (i32.const 1) (i32.const 0)))
        (call $task.return (i32.const 0))
        (i32.const 0 (; EXIT ;)))

      (func (export "park") (result i32)
        (call $task.return (i32.const 1))
        (i32.const 1 (; YIELD ;)))
      (func (export "park-cb") (param i32 i32 i32) (result i32)
        (if (global.get $busy) (then unreachable))
        (i32.const 1 (; YIELD ;)))

      (func (export "bounce") (result i32)
        (local $n i32)
        (global.set $busy (i32.const 1))
        (global.set $caller (call $index))
        (loop $round
          (drop (call $suspend-then-resume (global.get $helper)))
          (local.set $n (i32.add (local.get $n) (i32.const 1)))
          (br_if $round (i32.lt_u (local.get $n) (i32.const 3))))
        (global.set $busy (i32.const 0))
        (local.get $n))

      (func (export "suspend-alone")
        (global.set $busy (i32.const 1))
        (drop (call $suspend))
        unreachable)
    )
    (core type $start (func (param i32)))
    (alias core export $table "tbl" (core table $tbl))
    (core func $new (canon thread.new-indirect $start (core table $tbl)))
    (core func $quick' (canon lower (func $quick)))
    (core func $task.return (canon task.return (result u32)))
    (core func $index (canon thread.index))
    (core func $suspend (canon thread.suspend))
    (core func $resume-later (canon thread.resume-later))
    (core func $suspend-then-resume (canon thread.suspend-then-resume))
    (core instance $m (instantiate $M (with "" (instance
      (export "tbl" (table $tbl))
      (export "quick" (func $quick'))
      (export "task.return" (func $task.return))
      (export "new" (func $new))
      (export "index" (func $index))
      (export "suspend" (func $suspend))
      (export "resume-later" (func $resume-later))
      (export "suspend-then-resume" (func $suspend-then-resume))))))
    (func (export "quick-alone") (result u32) (canon lift (core func $m "quick-alone")))
    (func (export "quick-ready") (result u32) (canon lift (core func $m "quick-ready")))
    (func (export "spawn-helper") async (result u32)
      (canon lift (core func $m "spawn-helper") async (callback (core func $m "park-cb"))))
    (func (export "park") async (result u32)
      (canon lift (core func $m "park") async (callback (core func $m "park-cb"))))
    (func (export "bounce") (result u32) (canon lift (core func $m "bounce")))
    (func (export "suspend-alone") (canon lift (core func $m "suspend-alone"))))

  (component $Other
    (core module $Table (table (export "tbl") 1 funcref))
    (core instance $table (instantiate $Table))
    (core module $M
      (import "" "tbl" (table 1 funcref))
      (import "" "new" (func $new (param i32 i32) (result i32)))
      (import "" "resume-later" (func $resume-later (param i32)))
      (func $t-boom (param i32) unreachable)
      (elem (table 0) (i32.const 0) func $t-boom)
      ;; leaves a ready thread that traps if it ever runs
      (func (export "arm")
        (call $resume-later (call $new (i32.const 0) (i32.const 0)))))
    (core type $start (func (param i32)))
    (alias core export $table "tbl" (core table $tbl))
    (core func $new (canon thread.new-indirect $start (core table $tbl)))
    (core func $resume-later (canon thread.resume-later))
    (core instance $m (instantiate $M (with "" (instance
      (export "tbl" (table $tbl))
      (export "new" (func $new))
      (export "resume-later" (func $resume-later))))))
    (func (export "arm") (canon lift (core func $m "arm"))))

  (component $Driver
    (import "bounce" (func $bounce (result u32)))
    (core func $bounce' (canon lower (func $bounce)))
    (core module $M
      (import "" "bounce" (func $bounce (result i32)))
      (func (export "drive") (result i32) (call $bounce)))
    (core instance $m (instantiate $M (with "" (instance (export "bounce" (func $bounce'))))))
    (func (export "drive") (result u32) (canon lift (core func $m "drive"))))

  (instance $lib (instantiate $Lib))
  (instance $main (instantiate $Main (with "quick" (func $lib "quick"))))
  (instance $other (instantiate $Other))
  (instance $driver (instantiate $Driver (with "bounce" (func $main "bounce"))))
  (export "quick-alone" (func $main "quick-alone"))
  (export "quick-ready" (func $main "quick-ready"))
  (export "spawn-helper" (func $main "spawn-helper"))
  (export "park" (func $main "park"))
  (export "bounce" (func $main "bounce"))
  (export "suspend-alone" (func $main "suspend-alone"))
  (export "arm" (func $other "arm"))
  (export "drive" (func $driver "drive")))
