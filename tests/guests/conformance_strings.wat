;; Strings at the edge of the canonical ABI, between two components and to the host.
;;
;; $Dst takes a string in UTF-8 or UTF-16 with a realloc that traps
;; (`unreachable`): a call that reaches it shows the destination's realloc ran.
;; $Src passes (ptr, len) as given, from a memory it can grow:
;;   grow(pages):           memory.grow; the old size in pages (-1 if it failed)
;;   utf8-utf8(ptr, len):   its UTF-8 bytes to $Dst's UTF-8 function
;;   utf8-utf16(ptr, len):  its UTF-8 bytes to $Dst's UTF-16 function
;;   compact-utf8(ptr, len): its latin1+utf16 string (len tagged or not) to $Dst's UTF-8 function
;;   compact-string(ptr, len): returns that latin1+utf16 string to the caller
(component
  (component $Dst
    (core module $M
      (memory (export "mem") 1)
      (func (export "f") (param i32 i32) unreachable)
      (func (export "realloc") (param i32 i32 i32 i32) (result i32) unreachable))
    (core instance $m (instantiate $M))
    (func (export "utf8") (param "s" string)
      (canon lift (core func $m "f") string-encoding=utf8
        (memory (core memory $m "mem")) (realloc (core func $m "realloc"))))
    (func (export "utf16") (param "s" string)
      (canon lift (core func $m "f") string-encoding=utf16
        (memory (core memory $m "mem")) (realloc (core func $m "realloc")))))

  (component $Src
    (import "utf8" (func $utf8 (param "s" string)))
    (import "utf16" (func $utf16 (param "s" string)))
    (core module $Libc
      (memory (export "mem") 1)
      (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))
    (core instance $libc (instantiate $Libc))
    (core func $utf8-utf8 (canon lower (func $utf8) string-encoding=utf8
      (memory (core memory $libc "mem"))))
    (core func $utf8-utf16 (canon lower (func $utf16) string-encoding=utf8
      (memory (core memory $libc "mem"))))
    (core func $compact-utf8 (canon lower (func $utf8) string-encoding=latin1+utf16
      (memory (core memory $libc "mem"))))
    (core module $N
      (import "" "mem" (memory 1))
      (func (export "ret") (param i32 i32) (result i32)
        (i32.store (i32.const 0) (local.get 0))
        (i32.store (i32.const 4) (local.get 1))
        (i32.const 0)))
    (core instance $n (instantiate $N (with "" (instance (export "mem" (memory $libc "mem"))))))
    (func (export "grow") (param "pages" u32) (result s32)
      (canon lift (core func $libc "grow")))
    (func (export "utf8-utf8") (param "ptr" u32) (param "len" u32)
      (canon lift (core func $utf8-utf8)))
    (func (export "utf8-utf16") (param "ptr" u32) (param "len" u32)
      (canon lift (core func $utf8-utf16)))
    (func (export "compact-utf8") (param "ptr" u32) (param "len" u32)
      (canon lift (core func $compact-utf8)))
    (func (export "compact-string") (param "ptr" u32) (param "len" u32) (result string)
      (canon lift (core func $n "ret") string-encoding=latin1+utf16
        (memory (core memory $libc "mem")))))

  (instance $dst (instantiate $Dst))
  (instance $src (instantiate $Src (with "utf8" (func $dst "utf8")) (with "utf16" (func $dst "utf16"))))
  (export "grow" (func $src "grow"))
  (export "utf8-utf8" (func $src "utf8-utf8"))
  (export "utf8-utf16" (func $src "utf8-utf16"))
  (export "compact-utf8" (func $src "compact-utf8"))
  (export "compact-string" (func $src "compact-string"))
)
