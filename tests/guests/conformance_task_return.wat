;; `task.return` with options that do or do not match those of the lifted
;; function it returns for. The options compared are the memory (by identity of
;; the memory, whatever alias names it) and the string encoding; a `task.return`
;; without a memory is accepted whatever the lift's memory (the result needs none).
;; Every export is lifted async (stackful); the ones whose name ends in `-ok`
;; return, the others trap.
(component
  (core module $Libc
    (memory (export "mem") 1)
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) (i32.const 4096)))
  (core module $Other (memory (export "mem") 1))
  ;; passes the memory it imports on under its own export
  (core module $Pass
    (import "" "mem" (memory 1))
    (export "mem" (memory 0)))
  (core instance $libc (instantiate $Libc))
  (core instance $other (instantiate $Other))
  (core instance $pass (instantiate $Pass (with "" (instance $libc))))
  (alias core export $libc "mem" (core memory $mem))
  (alias core export $pass "mem" (core memory $mem-passed))
  (alias core export $other "mem" (core memory $other-mem))
  (alias core export $libc "realloc" (core func $realloc))

  (core func $ret-str (canon task.return (result string) (memory $mem)))
  (core func $ret-str-passed (canon task.return (result string) (memory $mem-passed)))
  (core func $ret-str-other (canon task.return (result string) (memory $other-mem)))
  (core func $ret-str-utf16 (canon task.return (result string) (memory $mem) string-encoding=utf16))
  (core func $ret-u32 (canon task.return (result u32)))
  (core func $ret-u32-mem (canon task.return (result u32) (memory $mem)))
  (core func $ret-u32-utf16 (canon task.return (result u32) string-encoding=utf16))

  (core module $M
    (import "" "mem" (memory 1))
    (import "" "ret-str" (func $ret-str (param i32 i32)))
    (import "" "ret-str-passed" (func $ret-str-passed (param i32 i32)))
    (import "" "ret-str-other" (func $ret-str-other (param i32 i32)))
    (import "" "ret-str-utf16" (func $ret-str-utf16 (param i32 i32)))
    (import "" "ret-u32" (func $ret-u32 (param i32)))
    (import "" "ret-u32-mem" (func $ret-u32-mem (param i32)))
    (import "" "ret-u32-utf16" (func $ret-u32-utf16 (param i32)))
    (data (i32.const 16) "ok")
    (data (i32.const 32) "o\00k\00")  ;; "ok" in UTF-16LE
    (func (export "same-memory") (call $ret-str (i32.const 16) (i32.const 2)))
    (func (export "passed-memory") (call $ret-str-passed (i32.const 16) (i32.const 2)))
    (func (export "other-memory") (call $ret-str-other (i32.const 16) (i32.const 2)))
    (func (export "utf16") (call $ret-str-utf16 (i32.const 32) (i32.const 2)))
    (func (export "u32") (call $ret-u32 (i32.const 7)))
    (func (export "u32-mem") (call $ret-u32-mem (i32.const 7)))
    (func (export "u32-utf16") (call $ret-u32-utf16 (i32.const 7)))
    ;; the length of the string argument
    (func (export "len") (param i32 i32) (call $ret-u32 (local.get 1)))
  )
  (core instance $m (instantiate $M (with "" (instance
    (export "mem" (memory $mem))
    (export "ret-str" (func $ret-str))
    (export "ret-str-passed" (func $ret-str-passed))
    (export "ret-str-other" (func $ret-str-other))
    (export "ret-str-utf16" (func $ret-str-utf16))
    (export "ret-u32" (func $ret-u32))
    (export "ret-u32-mem" (func $ret-u32-mem))
    (export "ret-u32-utf16" (func $ret-u32-utf16))
  ))))

  ;; the memories match
  (func (export "same-memory-ok") async (result string)
    (canon lift (core func $m "same-memory") async (memory $mem)))
  (func (export "passed-memory-ok") async (result string)
    (canon lift (core func $m "passed-memory") async (memory $mem)))
  ;; the lift has a memory (for its parameter), task.return has none (its result needs none)
  (func (export "no-memory-ok") async (param "s" string) (result u32)
    (canon lift (core func $m "len") async (memory $mem) (realloc $realloc)))
  ;; both UTF-16
  (func (export "utf16-ok") async (result string)
    (canon lift (core func $m "utf16") async (memory $mem) string-encoding=utf16))

  ;; another memory
  (func (export "other-memory") async (result string)
    (canon lift (core func $m "other-memory") async (memory $mem)))
  ;; a memory where the lift has none
  (func (export "memory-not-lifted") async (result u32)
    (canon lift (core func $m "u32-mem") async))
  ;; another string encoding, with and without strings in the result
  (func (export "string-encoding") async (result string)
    (canon lift (core func $m "utf16") async (memory $mem)))
  (func (export "string-encoding-u32") async (result u32)
    (canon lift (core func $m "u32-utf16") async))
  (func (export "utf16-lift-utf8-return") async (result string)
    (canon lift (core func $m "same-memory") async (memory $mem) string-encoding=utf16))
)
