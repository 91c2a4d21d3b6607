"""The canon section of a component binary: ``canon lift``, ``canon lower`` and the built-ins."""

from __future__ import annotations

from wasmloom.binary.ast import CanonBuiltin, CanonLift, CanonLower, CanonOpts
from wasmloom.binary.component_types import read_resultlist
from wasmloom.binary.core_types import read_core_valtype
from wasmloom.binary.reader import Reader
from wasmloom.errors import DecodeError

__all__ = ["read_canon"]

STRING_ENCODINGS = {0x00: "utf8", 0x01: "utf16", 0x02: "latin1+utf16"}

# canon built-ins with no immediates
_CANON_PLAIN: dict[int, str] = {
    0x24: "backpressure.inc",
    0x25: "backpressure.dec",
    0x05: "task.cancel",
    0x0D: "subtask.drop",
    0x1E: "error-context.drop",
    0x1F: "waitable-set.new",
    0x22: "waitable-set.drop",
    0x23: "waitable.join",
    0x26: "thread.index",
    0x28: "thread.resume-later",
    0x42: "thread.available-parallelism",
}
# canon built-ins whose only immediate is a type index
_CANON_TYPE: dict[int, str] = {
    0x02: "resource.new",
    0x03: "resource.drop",
    0x04: "resource.rep",
    0x0E: "stream.new",
    0x13: "stream.drop-readable",
    0x14: "stream.drop-writable",
    0x15: "future.new",
    0x1A: "future.drop-readable",
    0x1B: "future.drop-writable",
    0x2E: "stream.forward",
    0x2F: "future.forward",
}
# a type index and canon options
_CANON_TYPE_OPTS: dict[int, str] = {
    0x0F: "stream.read",
    0x10: "stream.write",
    0x16: "future.read",
    0x17: "future.write",
}
# a type index and `async?`
_CANON_TYPE_ASYNC: dict[int, str] = {
    0x11: "stream.cancel-read",
    0x12: "stream.cancel-write",
    0x18: "future.cancel-read",
    0x19: "future.cancel-write",
}
# only `cancel?`
_CANON_CANCEL: dict[int, str] = {
    0x29: "thread.suspend",
    0x0C: "thread.yield",
    0x2A: "thread.suspend-then-resume",
    0x2B: "thread.yield-then-resume",
    0x2C: "thread.suspend-then-promote",
    0x2D: "thread.yield-then-promote",
}


def _read_canon_opts(r: Reader) -> CanonOpts:
    opts = CanonOpts()
    seen: set[int] = set()
    for _ in range(r.vec_len("canon option")):
        pos = r.pos
        b = r.u8("canon option")
        key = 0 if b <= 0x02 else b  # the string encodings conflict with each other
        if key in seen:
            raise DecodeError(pos, "no duplicate or conflicting canon options")
        seen.add(key)
        if b <= 0x02:
            opts.string_encoding = STRING_ENCODINGS[b]
        elif b == 0x03:
            opts.memory = r.u32()
        elif b == 0x04:
            opts.realloc = r.u32()
        elif b == 0x05:
            opts.post_return = r.u32()
        elif b == 0x06:
            opts.is_async = True
        elif b == 0x07:
            opts.callback = r.u32()
        elif b == 0x08:
            opts.core_type = r.u32()
        elif b == 0x09:
            opts.gc = True
        else:
            raise DecodeError(pos, "canon option")
    return opts


def read_canon(r: Reader) -> CanonLift | CanonLower | CanonBuiltin:
    pos = r.pos
    b = r.u8("canon opcode")
    if b == 0x00:
        r.expect(0x00, "core func sort (0x00) of canon lift")
        f = r.u32()
        opts = _read_canon_opts(r)
        return CanonLift(f, opts, r.u32(), pos)
    if b == 0x01:
        r.expect(0x00, "func sort (0x00) of canon lower")
        f = r.u32()
        return CanonLower(f, _read_canon_opts(r), pos)
    name = _CANON_PLAIN.get(b)
    if name is not None:
        return CanonBuiltin(name, offset=pos)
    name = _CANON_TYPE.get(b)
    if name is not None:
        return CanonBuiltin(name, type_idx=r.u32(), offset=pos)
    name = _CANON_TYPE_OPTS.get(b)
    if name is not None:
        t = r.u32()
        return CanonBuiltin(name, type_idx=t, opts=_read_canon_opts(r), offset=pos)
    name = _CANON_TYPE_ASYNC.get(b)
    if name is not None:
        t = r.u32()
        return CanonBuiltin(name, type_idx=t, is_async=r.flag("async? (0x00 or 0x01)"), offset=pos)
    name = _CANON_CANCEL.get(b)
    if name is not None:
        return CanonBuiltin(name, cancellable=r.flag("cancel? (0x00 or 0x01)"), offset=pos)
    if b == 0x09:
        result = read_resultlist(r)
        has_result = result is not None
        return CanonBuiltin(
            "task.return",
            result=result,
            has_result=has_result,
            opts=_read_canon_opts(r),
            offset=pos,
        )
    if b in (0x0A, 0x0B):
        vt = read_core_valtype(r)
        name = "context.get" if b == 0x0A else "context.set"
        return CanonBuiltin(name, core_valtype=vt, index=r.u32(), offset=pos)
    if b == 0x06:
        return CanonBuiltin("subtask.cancel", is_async=r.flag("async? (0x00 or 0x01)"), offset=pos)
    if b in (0x1C, 0x1D):
        name = "error-context.new" if b == 0x1C else "error-context.debug-message"
        return CanonBuiltin(name, opts=_read_canon_opts(r), offset=pos)
    if b in (0x20, 0x21):
        name = "waitable-set.wait" if b == 0x20 else "waitable-set.poll"
        cancellable = r.flag("cancel? (0x00 or 0x01)")
        return CanonBuiltin(name, cancellable=cancellable, memory=r.u32(), offset=pos)
    if b == 0x27:
        ft = r.u32()
        return CanonBuiltin("thread.new-indirect", core_type_idx=ft, table=r.u32(), offset=pos)
    if b == 0x40:
        return CanonBuiltin("thread.spawn-ref", core_type_idx=r.u32(), offset=pos)
    if b == 0x41:
        ft = r.u32()
        return CanonBuiltin("thread.spawn-indirect", core_type_idx=ft, table=r.u32(), offset=pos)
    raise DecodeError(pos, "canon opcode")
