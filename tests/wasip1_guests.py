"""WASI 0.1 core modules written in WAT for the tests of ``wasmloom.wasi.p1`` and of
``wasmloom run`` on core modules (each a complete module text)."""

from __future__ import annotations

_IMPORTS = """
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 2)
  ;; write(fd, ptr, len), the whole of it (iovec at 0, nwritten at 8); exit 99 on an error
  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (local $n i32)
    (loop $more
      (i32.store (i32.const 0) (local.get $ptr))
      (i32.store (i32.const 4) (local.get $len))
      (if (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))
        (then (call $proc_exit (i32.const 99))))
      (local.set $n (i32.load (i32.const 8)))
      (local.set $ptr (i32.add (local.get $ptr) (local.get $n)))
      (local.set $len (i32.sub (local.get $len) (local.get $n)))
      (br_if $more (i32.gt_s (local.get $len) (i32.const 0)))))
  ;; read(fd, ptr, cap) -> bytes read (iovec at 16, nread at 24); exit 98 on an error
  (func $read (param $fd i32) (param $ptr i32) (param $cap i32) (result i32)
    (i32.store (i32.const 16) (local.get $ptr))
    (i32.store (i32.const 20) (local.get $cap))
    (if (call $fd_read (local.get $fd) (i32.const 16) (i32.const 1) (i32.const 24))
      (then (call $proc_exit (i32.const 98))))
    (i32.load (i32.const 24)))
"""


def module(body: str, imports: str = "") -> str:
    """A module with the helpers above, ``imports`` and ``body``."""
    return f"(module\n{imports}\n{_IMPORTS}\n{body}\n)"


#: All 256 byte values (at 1024) written COUNT times to stdout, then "err\xff\0" to stderr;
#: exits with CODE through proc_exit (or returns from _start when CODE is -1).
OUTPUT = module(
    r"""
  (data (i32.const 2000) "err\ff\00")
  (func (export "_start") (local $i i32)
    (loop $fill
      (i32.store8 (i32.add (i32.const 1024) (local.get $i)) (local.get $i))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $fill (i32.lt_u (local.get $i) (i32.const 256))))
    (local.set $i (i32.const 0))
    (loop $out
      (if (i32.lt_u (local.get $i) (i32.const COUNT))
        (then
          (call $write (i32.const 1) (i32.const 1024) (i32.const 256))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $out))))
    (call $write (i32.const 2) (i32.const 2000) (i32.const 5))
    (if (i32.ge_s (i32.const CODE) (i32.const 0))
      (then (call $proc_exit (i32.const CODE)))))
"""
)


def output(count: int, code: int = -1) -> str:
    return OUTPUT.replace("COUNT", str(count)).replace("CODE", str(code))


#: Copies stdin to stdout, 4 KiB at a time, until end of file.
ECHO = module(
    """
  (func (export "_start") (local $n i32)
    (loop $l
      (local.set $n (call $read (i32.const 0) (i32.const 4096) (i32.const 4096)))
      (if (local.get $n)
        (then (call $write (i32.const 1) (i32.const 4096) (local.get $n)) (br $l)))))
"""
)

#: Writes its argv to stdout as args_get lays it out (each argument NUL-terminated), then
#: its environment ("K=V\0" each) to stderr.
ARGS_ENV = module(
    """
  (func (export "_start")
    (drop (call $args_sizes_get (i32.const 32) (i32.const 36)))
    (drop (call $args_get (i32.const 4096) (i32.const 8192)))
    (call $write (i32.const 1) (i32.const 8192) (i32.load (i32.const 36)))
    (drop (call $environ_sizes_get (i32.const 32) (i32.const 36)))
    (drop (call $environ_get (i32.const 4096) (i32.const 8192)))
    (call $write (i32.const 2) (i32.const 8192) (i32.load (i32.const 36))))
""",
    imports="""
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get"
    (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
""",
)

#: In the first preopened directory (fd 3): reads "in.txt" and prints it to stdout, then
#: creates "out.txt" (truncating it) and writes "copy:" and the same bytes into it.
#: Exits 0; when opening in.txt or out.txt fails, writes the WASI errno (one byte) to stderr
#: and exits 10 or 11.
FILES = module(
    r"""
  (data (i32.const 3000) "in.txt")
  (data (i32.const 3008) "out.txt")
  (data (i32.const 3016) "copy:")
  (func $fail (param $errno i32) (param $code i32)
    (i32.store8 (i32.const 48) (local.get $errno))
    (call $write (i32.const 2) (i32.const 48) (i32.const 1))
    (call $proc_exit (local.get $code)))
  (func (export "_start") (local $err i32) (local $n i32) (local $fd i32)
    ;; path_open(dirfd, dirflags, path, len, oflags, rights, inheriting, fdflags, &fd):
    ;; in.txt with fd_read (0x2), out.txt created and truncated (oflags 9) with fd_write (0x40)
    (local.set $err (call $path_open (i32.const 3) (i32.const 0) (i32.const 3000) (i32.const 6)
      (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 40)))
    (if (local.get $err) (then (call $fail (local.get $err) (i32.const 10))))
    (local.set $n (call $read (i32.load (i32.const 40)) (i32.const 8192) (i32.const 4096)))
    (call $write (i32.const 1) (i32.const 8192) (local.get $n))
    (local.set $err (call $path_open (i32.const 3) (i32.const 0) (i32.const 3008) (i32.const 7)
      (i32.const 9) (i64.const 0x40) (i64.const 0) (i32.const 0) (i32.const 44)))
    (if (local.get $err) (then (call $fail (local.get $err) (i32.const 11))))
    (local.set $fd (i32.load (i32.const 44)))
    (call $write (local.get $fd) (i32.const 3016) (i32.const 5))
    (call $write (local.get $fd) (i32.const 8192) (local.get $n)))
""",
    imports="""
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
""",
)

#: Loops forever in _start.
LOOP = module('(func (export "_start") (loop $l (br $l)))')

#: Grows its memory by PAGES pages; exits 1 when memory.grow fails, else 0.
GROW = module(
    """
  (func (export "_start")
    (call $proc_exit (i32.eq (memory.grow (i32.const PAGES)) (i32.const -1))))
"""
)

#: A module without WASI: numbers in, numbers out (for --invoke).
CALC = """(module
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "mul64") (param i64 i64) (result i64) (i64.mul (local.get 0) (local.get 1)))
  (func (export "half") (param f64) (result f64) (f64.div (local.get 0) (f64.const 2)))
  (func (export "halff") (param f32) (result f32) (f32.div (local.get 0) (f32.const 2)))
  (func (export "pair") (result i32 f64) (i32.const -1) (f64.const 0.25))
  (func (export "none"))
  (func (export "ref") (param externref))
  (func (export "boom") (result i32) unreachable))
"""

#: A reactor: _initialize sets a global that `get` returns; `bump` adds to it.
REACTOR = module(
    """
  (global $g (mut i32) (i32.const 0))
  (func (export "_initialize") (global.set $g (i32.const 41)))
  (func (export "get") (result i32) (global.get $g))
  (func (export "bump") (param i32) (result i32)
    (global.set $g (i32.add (global.get $g) (local.get 0))) (global.get $g))
  (func (export "leave") (param i32) (call $proc_exit (local.get 0)))
"""
)

#: Imports something WASI 0.1 does not provide (and a WASI 0.1 name that does not exist).
UNKNOWN = module(
    """
  (func (export "_start") (call $write (i32.const 1) (i32.const 3000) (i32.const 3)))
  (func (export "call_it") (call $foo))
  (data (i32.const 3000) "ok\\n")
""",
    imports="""
  (import "env" "foo" (func $foo))
  (import "wasi_snapshot_preview1" "no_such_call" (func $nope))
""",
)

#: A component, for the refusals of module-only paths.
COMPONENT = """(component
  (core module $m (func (export "run") (result i32) (i32.const 0)))
  (core instance $i (instantiate $m))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $ri (export "run" (func $run)))
  (export "wasi:cli/run@0.3.0" (instance $ri)))
"""

#: A C program for clang --target=wasm32-wasi: prints its arguments and $GREETING, copies
#: /data/in.txt into /data/out.txt (upper-cased), writes to stderr, exits 7.
C_PROGRAM = r"""
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    for (int i = 0; i < argc; i++) printf("arg %d: %s\n", i, argv[i]);
    const char *g = getenv("GREETING");
    printf("GREETING=%s\n", g ? g : "(unset)");
    FILE *in = fopen("/data/in.txt", "r");
    if (!in) { perror("open in.txt"); return 2; }
    char buf[256];
    size_t n = fread(buf, 1, sizeof buf, in);
    fclose(in);
    for (size_t i = 0; i < n; i++) buf[i] = (char)toupper((unsigned char)buf[i]);
    FILE *out = fopen("/data/out.txt", "w");
    if (!out) { perror("open out.txt"); return 3; }
    fwrite(buf, 1, n, out);
    fclose(out);
    fprintf(stderr, "done\n");
    return 7;
}
"""
