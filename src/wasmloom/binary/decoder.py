"""Decode a component binary (Binary.md) into the AST of :mod:`wasmloom.binary.ast`.

Contract:

- :func:`decode_component` returns the component's definitions in binary order
  (sections flattened), so index spaces can be built by walking them in order.
- Every malformed input raises :class:`~wasmloom.errors.DecodeError` carrying the
  byte offset (relative to the start of the outermost binary) and what was
  expected there. No other exception escapes, whatever the input.
- Embedded core modules are sliced, not parsed: ``CoreModule.data`` is the
  module's complete binary. Decoding cost is linear in the number of
  component-level items, not in the size of embedded core modules.
- Only the encoding is checked. Index bounds, type well-formedness and the other
  rules Binary.md calls "validation" are the validator's job, with two
  exceptions the AST cannot represent: duplicate canon options and duplicate name
  attributes are rejected here.
- The ``component-name`` custom section fills ``Component.name``/``names``; an
  ill-formed name section is ignored (as the spec requires), other custom
  sections are skipped.

The grammar is split by concept: :mod:`~wasmloom.binary.reader` (bytes, LEB128,
names), :mod:`~wasmloom.binary.core_types` (``core:type``),
:mod:`~wasmloom.binary.component_types` (sorts, names, extern types, aliases,
``type``), :mod:`~wasmloom.binary.canon` (``canon``); this module reads the
preamble and the sections.

Encodings follow Binary.md as implemented by wasm-tools 1.262 where the two
differ: ``thread.spawn-ref``/``thread.spawn-indirect``/
``thread.available-parallelism`` carry no ``shared`` immediate, and
``stream.forward`` (0x2e) and ``future.forward`` (0x2f) are accepted.
"""

from __future__ import annotations

from wasmloom.binary.ast import (
    Component,
    CoreInlineExports,
    CoreInstantiate,
    CoreModule,
    Definition,
    Export,
    Import,
    InlineExports,
    Instantiate,
    Start,
    ValueDef,
)
from wasmloom.binary.canon import read_canon
from wasmloom.binary.component_types import (
    read_alias,
    read_core_sort,
    read_extern_name,
    read_extern_type,
    read_sort,
    read_type,
    read_valtype,
)
from wasmloom.binary.core_types import read_core_type
from wasmloom.binary.preamble import (
    COMPONENT_LAYER,
    COMPONENT_VERSION,
    CORE_PREAMBLE,
    MAGIC,
    is_component,
    is_core_module,
)
from wasmloom.binary.reader import MAX_NESTING, Reader
from wasmloom.errors import DecodeError

__all__ = ["MAX_NESTING", "decode_component", "is_component", "is_core_module"]


def decode_component(data: bytes | bytearray | memoryview) -> Component:
    """Decode a complete component binary.

    Raises :class:`DecodeError` for malformed input (and only that).
    """
    buf = bytes(data)
    try:
        r = Reader(buf, 0, len(buf))
        comp = _read_component(r, 0)
        if r.pos != r.end:  # pragma: no cover - sections run to the end
            raise DecodeError(r.pos, "end of binary")
        return comp
    except RecursionError:
        raise DecodeError(0, f"nesting depth at most {MAX_NESTING}") from None
    except MemoryError:
        raise DecodeError(0, "a binary small enough to decode") from None


# --- sections ---------------------------------------------------------------------------


def _read_component(r: Reader, depth: int) -> Component:
    """Read a component (preamble and sections) spanning ``r.pos`` to ``r.end``."""
    start = r.pos
    data = r.data
    if r.end - start < 4 or data[start : start + 4] != MAGIC:
        raise DecodeError(start, "magic \\0asm")
    if r.end - start < 8:
        raise DecodeError(start + 4, "component version 0x0d and layer 1")
    if data[start + 4 : start + 8] == CORE_PREAMBLE[4:]:
        raise DecodeError(start + 4, "a component (version 0x0d, layer 1), not a core module")
    if data[start + 4 : start + 6] != COMPONENT_VERSION:
        raise DecodeError(start + 4, "component version 0x0d")
    if data[start + 6 : start + 8] != COMPONENT_LAYER:
        raise DecodeError(start + 6, "layer 1 (component)")
    r.pos = start + 8
    comp = Component(offset=start, size=r.end - start)
    defs = comp.definitions
    end = r.end
    while r.pos < end:
        spos = r.pos
        sid = r.u8("section id")
        if sid > 12:
            raise DecodeError(spos, "section id (0 to 12)")
        send = r.size("section")
        r.end = send
        _read_section(r, sid, defs, comp, depth)
        if r.pos != send:
            raise DecodeError(r.pos, "end of section (section size mismatch)")
        r.end = end
    return comp


def _read_section(r: Reader, sid: int, defs: list[Definition], comp: Component, depth: int) -> None:
    pos = r.pos
    if sid == 0:
        name = r.name("custom section name")
        if name == "component-name":
            _read_name_section(Reader(r.data, r.pos, r.end), comp)
        r.pos = r.end
    elif sid == 1:
        if r.data[pos : pos + 8] != CORE_PREAMBLE:
            raise DecodeError(pos, "core module preamble (\\0asm, version 1)")
        defs.append(CoreModule(r.data[pos : r.end], pos))
        r.pos = r.end
    elif sid == 2:
        for _ in range(r.vec_len("core instance")):
            ipos = r.pos
            kind = r.u8("core instance (0x00 or 0x01)")
            if kind == 0x00:
                module = r.u32()
                args = []
                for _ in range(r.vec_len("instantiate argument")):
                    name = r.name()
                    r.expect(0x12, "core instance sort (0x12)")
                    args.append((name, r.u32()))
                defs.append(CoreInstantiate(module, args, ipos))
            elif kind == 0x01:
                exports = []
                for _ in range(r.vec_len("inline export")):
                    name = r.name()
                    sort = read_core_sort(r)
                    exports.append((name, sort, r.u32()))
                defs.append(CoreInlineExports(exports, ipos))
            else:
                raise DecodeError(ipos, "core instance (0x00 or 0x01)")
    elif sid == 3:
        for _ in range(r.vec_len("core type")):
            defs.append(read_core_type(r, depth))
    elif sid == 4:
        if depth >= MAX_NESTING:
            raise DecodeError(pos, f"nesting depth at most {MAX_NESTING}")
        defs.append(_read_component(r, depth + 1))
    elif sid == 5:
        for _ in range(r.vec_len("instance")):
            ipos = r.pos
            kind = r.u8("instance (0x00 or 0x01)")
            if kind == 0x00:
                component = r.u32()
                cargs = []
                for _ in range(r.vec_len("instantiate argument")):
                    name = r.name()
                    sort = read_sort(r)
                    cargs.append((name, sort, r.u32()))
                defs.append(Instantiate(component, cargs, ipos))
            elif kind == 0x01:
                iexports = []
                for _ in range(r.vec_len("inline export")):
                    en = read_extern_name(r)
                    sort = read_sort(r)
                    iexports.append((en, sort, r.u32()))
                defs.append(InlineExports(iexports, ipos))
            else:
                raise DecodeError(ipos, "instance (0x00 or 0x01)")
    elif sid == 6:
        for _ in range(r.vec_len("alias")):
            defs.append(read_alias(r))
    elif sid == 7:
        for _ in range(r.vec_len("type")):
            defs.append(read_type(r, depth))
    elif sid == 8:
        for _ in range(r.vec_len("canon")):
            defs.append(read_canon(r))
    elif sid == 9:
        f = r.u32()
        values = [r.u32() for _ in range(r.vec_len("start argument"))]
        defs.append(Start(f, values, r.u32(), pos))
    elif sid == 10:
        for _ in range(r.vec_len("import")):
            ipos = r.pos
            en = read_extern_name(r)
            defs.append(Import(en, read_extern_type(r), ipos))
    elif sid == 11:
        for _ in range(r.vec_len("export")):
            epos = r.pos
            en = read_extern_name(r)
            sort = read_sort(r)
            idx = r.u32()
            t = read_extern_type(r) if r.flag("optional export type (0x00 or 0x01)") else None
            defs.append(Export(en, sort, idx, t, epos))
    else:  # sid == 12
        for _ in range(r.vec_len("value")):
            vpos = r.pos
            vt = read_valtype(r)
            vend = r.size("value")
            defs.append(ValueDef(vt, r.data[r.pos : vend], vpos))
            r.pos = vend


def _read_name_section(r: Reader, comp: Component) -> None:
    """Fill ``comp.name``/``comp.names``; an ill-formed subsection is ignored."""
    while not r.at_end():
        try:
            sid = r.u8("name subsection id")
            send = r.size("name subsection")
        except DecodeError:
            return
        sub = Reader(r.data, r.pos, send)
        r.pos = send
        try:
            if sid == 0:
                name = sub.name()
                if sub.at_end():
                    comp.name = name
            elif sid == 1:
                sort = read_sort(sub)
                names: dict[int, str] = {}
                for _ in range(sub.vec_len("name")):
                    idx = sub.u32()
                    names[idx] = sub.name()
                if sub.at_end():
                    comp.names[sort] = names
        except DecodeError:
            continue
