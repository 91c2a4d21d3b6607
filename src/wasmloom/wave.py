"""WAVE, the WebAssembly Value Encoding: component values as text.

WAVE is the text form ``wasmtime run --invoke`` reads and prints
(github.com/bytecodealliance/wasm-tools, crates/wasm-wave). Values look like
WIT: ``true``, ``-7``, ``3.5``, ``nan``, ``'x'``, ``"a\\tb"``, ``[1, 2]``,
``(1, "a")``, ``{name: "x", size: 3}``, ``circle(2.5)``, ``north``,
``some(1)`` / ``none``, ``ok("x")`` / ``err(1)``, ``{read, write}``. A case
label that is also a keyword (``true false some none ok err inf nan``) is
written with a leading ``%`` (``%ok``); ``//`` starts a comment.

Parsing has two steps, as in wasm-wave: :func:`parse_value` /
:func:`parse_call` read the text into :class:`Node` trees without types, and
:func:`to_value` / :meth:`Call.arguments` give them a type, producing the
Python values the host API uses (``wasmloom.values``). :func:`to_wave`
prints a value of a type; :func:`results_to_wave` prints a function's
results as ``wasmtime run --invoke`` does. Every error is a
:class:`WaveError` with the offset it refers to.

``map``, resources, streams, futures and error contexts have no WAVE form.
"""

from __future__ import annotations

import enum
import math
import re
import struct
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from wasmloom.errors import WasmloomError
from wasmloom.types import (
    EnumType,
    FlagsType,
    FuncType,
    ListType,
    OptionType,
    PrimType,
    RecordType,
    ResultType,
    TupleType,
    ValType,
    VariantType,
)
from wasmloom.values import Err, Ok, Record, Some, Variant, enum_class, flags_class, py_name

__all__ = [
    "Call",
    "Node",
    "WaveError",
    "parse_call",
    "parse_value",
    "results_to_wave",
    "to_value",
    "to_wave",
    "value_from_wave",
]

KEYWORDS = frozenset({"true", "false", "some", "none", "ok", "err", "inf", "nan"})

#: How deeply values may nest (the parser recurses once per level).
MAX_DEPTH = 100

_INT_RANGES = {
    f"{sign}{bits}": (-(1 << bits - 1), (1 << bits - 1) - 1)
    if sign == "s"
    else (0, (1 << bits) - 1)
    for sign in "su"
    for bits in (8, 16, 32, 64)
}


class WaveError(WasmloomError):
    """Text that is not WAVE, or a WAVE value that does not fit its type.

    ``offset`` is where in the text the problem is (a character index);
    ``reason`` the message without it.
    """

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(f"{reason} (at offset {offset})")
        self.reason = reason
        self.offset = offset


# --- lexing --------------------------------------------------------------------------------

_WORD0 = r"(?:[a-z][a-z0-9]*|[A-Z][A-Z0-9]*)"
_WORD = r"(?:[a-z0-9]+|[A-Z0-9]+)"
_LABEL = rf"{_WORD0}(?:-{_WORD})*"
_SKIP_RE = re.compile(r"(?:[ \t\n\r]+|//[^\n]*)*")
_NUMBER_RE = re.compile(r"-inf|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_LABEL_RE = re.compile(rf"%?{_LABEL}")
_ESCAPE = r"\\(?:['\"tnr\\]|u\{[0-9a-fA-F]{1,6}\})"
_CHAR_RE = re.compile(rf"'(?:[^\\'\n]|{_ESCAPE})'")
_STRING_RE = re.compile(rf"\"(?:[^\\\"\n]|{_ESCAPE})*\"")
_ESCAPE_RE = re.compile(_ESCAPE)
_INT_RE = re.compile(r"-?(?:0|[1-9][0-9]*)")
_PUNCT = frozenset("{}()[]:,")
# ``ns:pkg/iface.func@1.2.3`` (wasmtime's spelling) or ``ns:pkg/iface@1.2.3#func``
_SEMVER = r"(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)"
_FUNC_NAME_RE = re.compile(
    rf"(?:(?P<pkg>{_LABEL}:{_LABEL})/)?(?P<a>{_LABEL})"
    rf"(?:(?:@(?P<v1>{_SEMVER}))?#(?P<hash>{_LABEL})|\.(?P<dot>{_LABEL})(?:@(?P<v2>{_SEMVER}))?)?"
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # a punctuation character, or number, label, char, string, mstring
    start: int
    end: int
    text: str


class _Lexer:
    def __init__(self, src: str, pos: int = 0) -> None:
        self.src = src
        self.pos = pos

    def skip(self) -> None:
        m = _SKIP_RE.match(self.src, self.pos)
        assert m is not None
        self.pos = m.end()

    def peek(self) -> _Token | None:
        saved = self.pos
        try:
            return self.next()
        except WaveError:
            return None
        finally:
            self.pos = saved

    def next(self) -> _Token | None:
        """The next token, or ``None`` at the end of the text."""
        self.skip()
        src, pos = self.src, self.pos
        if pos >= len(src):
            return None
        c = src[pos]
        if c in _PUNCT:
            return self._take(c, pos + 1)
        if src.startswith('"""', pos):
            end = src.find('"""', pos + 3)
            if end < 0:
                raise WaveError("unterminated multiline string", pos)
            return self._take("mstring", end + 3)
        for kind, rx in (("number", _NUMBER_RE), ("label", _LABEL_RE), ("char", _CHAR_RE)):
            m = rx.match(src, pos)
            if m is not None:
                return self._take(kind, m.end())
        m = _STRING_RE.match(src, pos)
        if m is not None:
            return self._take("string", m.end())
        if c in "'\"":
            raise _literal_error(src, pos)
        raise WaveError(f"unexpected character {c!r}", pos)

    def _take(self, kind: str, end: int) -> _Token:
        tok = _Token(kind, self.pos, end, self.src[self.pos : end])
        self.pos = end
        return tok


def _literal_error(src: str, pos: int) -> WaveError:
    """Why the char or string literal at ``pos`` does not lex."""
    quote = src[pos]
    i = pos + 1
    while i < len(src) and src[i] != quote:
        if src[i] == "\n":
            return WaveError("a line break inside quotes (write it as \\n)", i)
        if src[i] == "\\":
            m = _ESCAPE_RE.match(src, i)
            if m is None:
                return WaveError("invalid character escape", i)
            i = m.end()
        else:
            i += 1
    if i >= len(src):
        return WaveError("unterminated string" if quote == '"' else "unterminated char", pos)
    return WaveError("a char literal holds one character or escape, as in 'x'", pos)


def _unescape(body: str, offset: int) -> str:
    """A string literal's body with its escapes decoded."""
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    while True:
        j = body.find("\\", i)
        if j < 0:
            out.append(body[i:])
            return "".join(out)
        out.append(body[i:j])
        m = _ESCAPE_RE.match(body, j)
        if m is None:
            raise WaveError("invalid character escape", offset + j)
        esc = m.group()
        if esc[1] == "u":
            cp = int(esc[3:-1], 16)
            if cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
                raise WaveError(f"\\u{{{esc[3:-1]}}} is not a Unicode scalar value", offset + j)
            out.append(chr(cp))
        else:
            out.append({"t": "\t", "n": "\n", "r": "\r"}.get(esc[1], esc[1]))
        i = m.end()


def _multiline(tok: _Token) -> str:
    body = tok.text[3:-3]
    pos = tok.start + 3
    if body.startswith("\r\n"):
        body, pos = body[2:], pos + 2
    elif body.startswith("\n"):
        body, pos = body[1:], pos + 1
    else:
        raise WaveError('opening """ must be followed immediately by a line break', pos)
    lines = body.split("\n")
    indent = lines.pop()
    if indent.strip(" "):
        raise WaveError('closing """ must be on a line of its own, after spaces only', tok.end - 3)
    out: list[str] = []
    for line in lines:
        if not line.startswith(indent):
            raise WaveError('lines must be indented at least as much as the closing """', pos)
        text = line[len(indent) :]
        text = text[:-1] if text.endswith("\r") else text
        out.append(_unescape(text, pos + len(indent)))
        pos += len(line) + 1
    return "\n".join(out)


# --- the untyped tree ------------------------------------------------------------------------


@dataclass(slots=True)
class Node:
    """A parsed WAVE value, not yet typed.

    ``kind``: ``number``, ``char``, ``string``, ``bool``, ``label`` (a case
    without payload), ``case`` (a case with one), ``some``, ``none``, ``ok``,
    ``err``, ``tuple``, ``list``, ``record``, ``flags``. ``text`` is the
    token's text for leaves and the label (without ``%``) for cases; ``items``
    the children (a record's are its values, named by ``labels``).
    """

    kind: str
    start: int
    end: int
    text: str = ""
    items: list[Node] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)


class _Parser:
    def __init__(self, lexer: _Lexer) -> None:
        self.lex = lexer
        self.depth = 0

    def expect(self, kinds: str, what: str) -> _Token:
        tok = self.lex.next()
        if tok is None:
            raise WaveError(f"unexpected end of input, expected {what}", len(self.lex.src))
        if tok.kind not in kinds.split():
            raise WaveError(f"unexpected {tok.text!r}, expected {what}", tok.start)
        return tok

    def finish(self) -> None:
        self.lex.skip()
        if self.lex.pos < len(self.lex.src):
            raise WaveError("unexpected characters after the value", self.lex.pos)

    def value(self) -> Node:
        if self.depth >= MAX_DEPTH:
            raise WaveError(f"values nest deeper than {MAX_DEPTH} levels", self.lex.pos)
        self.depth += 1
        try:
            return self._value(self.expect("number label char string mstring ( [ {", "a value"))
        finally:
            self.depth -= 1

    def _value(self, tok: _Token) -> Node:
        k = tok.kind
        if k == "number":
            return Node("number", tok.start, tok.end, tok.text)
        if k == "char":
            return Node("char", tok.start, tok.end, _char_of(tok))
        if k == "string":
            return Node("string", tok.start, tok.end, _unescape(tok.text[1:-1], tok.start + 1))
        if k == "mstring":
            return Node("string", tok.start, tok.end, _multiline(tok))
        if k == "(":
            items = self.sequence(")")
            if not items:
                raise WaveError("empty tuple", tok.start)
            return Node("tuple", tok.start, self.lex.pos, items=items)
        if k == "[":
            items = self.sequence("]")
            return Node("list", tok.start, self.lex.pos, items=items)
        if k == "{":
            return self.record_or_flags(tok.start)
        return self.labelled(tok)

    def labelled(self, tok: _Token) -> Node:
        word = tok.text
        if word in ("true", "false"):
            return Node("bool", tok.start, tok.end, word)
        if word in ("inf", "nan"):
            return Node("number", tok.start, tok.end, word)
        if word == "none":
            return Node("none", tok.start, tok.end)
        nxt = self.lex.peek()
        if word == "some" or (nxt is not None and nxt.kind == "("):
            self.expect("(", f"'(' after {word}")
            payload = self.value()
            self.expect(")", "')'")
            kind = word if word in ("some", "ok", "err") else "case"
            return Node(kind, tok.start, self.lex.pos, word.lstrip("%"), [payload])
        if word in ("ok", "err"):
            return Node(word, tok.start, tok.end, word)
        return Node("label", tok.start, tok.end, word.lstrip("%"))

    def sequence(self, close: str) -> list[Node]:
        items: list[Node] = []
        nxt = self.lex.peek()
        if nxt is not None and nxt.kind == close:
            self.lex.next()
            return items
        while True:
            items.append(self.value())
            tok = self.expect(f", {close}", f"',' or '{close}'")
            if tok.kind == close:
                return items
            nxt = self.lex.peek()
            if nxt is not None and nxt.kind == close:  # a trailing comma
                self.lex.next()
                return items

    def record_or_flags(self, start: int) -> Node:
        first = self.expect("label : }", "a label, ':' or '}'")
        if first.kind == ":":
            self.expect("}", "'}' after '{:'")
            return Node("record", start, self.lex.pos)
        if first.kind == "}":
            return Node("flags", start, self.lex.pos)
        nxt = self.lex.peek()
        is_record = nxt is not None and nxt.kind == ":"
        node = Node("record" if is_record else "flags", start, 0)
        tok = first
        while True:
            label = tok.text.lstrip("%")
            if label in node.labels:
                what = "field" if is_record else "flag"
                raise WaveError(f"duplicate {what} {label!r}", tok.start)
            node.labels.append(label)
            if is_record:
                self.expect(":", "':'")
                node.items.append(self.value())
            sep = self.expect(", }", "',' or '}'")
            if sep.kind == ",":
                nxt = self.lex.peek()
                if nxt is not None and nxt.kind == "}":
                    self.lex.next()
                    break
                tok = self.expect("label", "a label")
                continue
            break
        node.end = self.lex.pos
        return node


def _char_of(tok: _Token) -> str:
    body = tok.text[1:-1]
    return _unescape(body, tok.start + 1) if body.startswith("\\") else body


def parse_value(text: str) -> Node:
    """Parse one WAVE value (whitespace and comments around it allowed)."""
    p = _Parser(_Lexer(text))
    node = p.value()
    p.finish()
    return node


@dataclass(slots=True)
class Call:
    """A parsed function call ``name(args...)`` (:func:`parse_call`).

    ``name`` as written; ``interface`` the instance export it names (``None``
    for a bare function name), with its version; ``func`` the function's own
    name; ``args`` the untyped arguments.
    """

    name: str
    interface: str | None
    func: str
    args: list[Node]
    end: int

    def arguments(self, ft: FuncType) -> list[Any]:
        """The arguments as Python values of ``ft``'s parameter types.

        Missing trailing ``option`` arguments are ``none``; too many or too
        few arguments are a :class:`WaveError`.
        """
        params = ft.params
        if len(self.args) > len(params):
            extra = self.args[len(params)]
            raise WaveError(
                f"`{self.name}` takes {_count(len(params), 'argument')}, {_given(len(self.args))}",
                extra.start,
            )
        out = [to_value(node, t) for node, (_, t) in zip(self.args, params, strict=False)]
        for pname, t in params[len(self.args) :]:
            if not isinstance(t, OptionType):
                raise WaveError(
                    f"`{self.name}` takes {_count(len(params), 'argument')}, "
                    f"{_given(len(self.args))} (missing `{pname}: {t}`)",
                    self.end - 1,
                )
            out.append(None)
        return out


def _given(n: int) -> str:
    return f"{n} was given" if n == 1 else f"{n} were given"


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def parse_call(text: str) -> Call:
    """Parse ``name(arg, ...)`` as ``wasmtime run --invoke`` takes it.

    ``name`` is a function name (``add``), or one inside an exported instance:
    ``iface.add``, ``ns:pkg/iface.add``, ``ns:pkg/iface.add@1.2.3`` (wasmtime's
    spellings), or ``ns:pkg/iface#add``, ``ns:pkg/iface@1.2.3#add``.
    """
    m = _FUNC_NAME_RE.match(text)
    if m is None:
        raise WaveError("expected a function name, then its arguments in parentheses", 0)
    if m["hash"] is not None:
        iface: str | None = m["a"] if m["pkg"] is None else f"{m['pkg']}/{m['a']}"
        iface = iface if m["v1"] is None else f"{iface}@{m['v1']}"
        func = m["hash"]
    elif m["dot"] is not None:
        iface = m["a"] if m["pkg"] is None else f"{m['pkg']}/{m['a']}"
        iface = iface if m["v2"] is None else f"{iface}@{m['v2']}"
        func = m["dot"]
    elif m["pkg"] is None:
        iface, func = None, m["a"]
    else:
        raise WaveError("an interface name needs a function: `ns:pkg/iface.func(...)`", m.end())
    p = _Parser(_Lexer(text, m.end()))
    p.expect("(", f"'(' after the function name {m.group()!r}")
    args = p.sequence(")")
    end = p.lex.pos
    p.finish()
    return Call(m.group(), iface, func, args, end)


# --- typing: nodes -> values -------------------------------------------------------------------


def _bad(node: Node, t: ValType) -> WaveError:
    shown = node.text if node.kind in ("number", "bool", "label", "case") else f"a {node.kind}"
    if node.kind in ("some", "none", "ok", "err"):
        shown = node.kind
    return WaveError(f"expected a value of type `{t}`, found {shown}", node.start)


def to_value(node: Node, t: ValType) -> Any:
    """The Python value of type ``t`` that ``node`` denotes (see ``wasmloom.values``)."""
    if isinstance(t, PrimType):
        return _prim(node, t)
    if isinstance(t, ListType):
        if node.kind != "list":
            raise _bad(node, t)
        if t.length is not None and len(node.items) != t.length:
            raise WaveError(f"`{t}` needs {t.length} elements, not {len(node.items)}", node.start)
        if t.t == PrimType("u8"):
            return bytes(_prim(n, PrimType("u8")) for n in node.items)
        return [to_value(n, t.t) for n in node.items]
    if isinstance(t, TupleType):
        if node.kind != "tuple":
            raise _bad(node, t)
        if len(node.items) != len(t.ts):
            raise WaveError(f"`{t}` has {len(t.ts)} elements, not {len(node.items)}", node.start)
        return tuple(to_value(n, ti) for n, ti in zip(node.items, t.ts, strict=True))
    if isinstance(t, RecordType):
        return _record(node, t)
    if isinstance(t, VariantType):
        if node.kind not in ("label", "case"):
            raise _bad(node, t)
        for c in t.cases:
            if c.label == node.text:
                return Variant(c.label, _payload(node, c.t, c.label))
        raise WaveError(f"`{node.text}` is not a case of `{t}`", node.start)
    if isinstance(t, EnumType):
        if node.kind != "label":
            raise _bad(node, t)
        if node.text not in t.labels:
            raise WaveError(f"`{node.text}` is not a case of `{t}`", node.start)
        return enum_class(t)(node.text)
    if isinstance(t, OptionType):
        if node.kind == "none":
            return None
        if node.kind == "some":
            v = to_value(node.items[0], t.t)
        elif _flattens(t.t):
            v = to_value(node, t.t)
        else:
            raise _bad(node, t)
        return Some(v) if isinstance(t.t, OptionType) else v
    if isinstance(t, ResultType):
        if node.kind in ("ok", "err"):
            inner = t.ok if node.kind == "ok" else t.error
            v = _payload(node, inner, node.kind)
            return Ok(v) if node.kind == "ok" else Err(v)
        if t.ok is not None and _flattens(t.ok):
            return Ok(to_value(node, t.ok))
        raise _bad(node, t)
    if isinstance(t, FlagsType):
        return _flags(node, t)
    raise WaveError(f"values of type `{t}` have no WAVE form", node.start)


def _flattens(t: ValType) -> bool:
    """Whether a ``some``/``ok`` payload of type ``t`` may be written without its wrapper."""
    return not isinstance(t, OptionType | ResultType)


def _payload(node: Node, t: ValType | None, label: str) -> Any:
    if t is None:
        if node.items:
            raise WaveError(f"case `{label}` has no payload", node.items[0].start)
        return None
    if not node.items:
        raise WaveError(f"case `{label}` needs a payload of type `{t}`", node.end)
    return to_value(node.items[0], t)


def _record(node: Node, t: RecordType) -> Record:
    if node.kind != "record":
        raise _bad(node, t)
    given = dict(zip(node.labels, node.items, strict=True))
    names = {f.label for f in t.fields}
    for label, n in given.items():
        if label not in names:
            raise WaveError(f"`{t}` has no field `{label}`", n.start)
    fields: dict[str, Any] = {}
    for f in t.fields:
        given_node = given.get(f.label)
        if given_node is not None:
            fields[py_name(f.label)] = to_value(given_node, f.t)
        elif isinstance(f.t, OptionType):
            fields[py_name(f.label)] = None
        else:
            raise WaveError(f"missing field `{f.label}` of `{t}`", node.start)
    return Record(**fields)


def _flags(node: Node, t: FlagsType) -> enum.Flag:
    cls = flags_class(t)
    if node.kind == "record" and not node.labels:
        raise _bad(node, t)
    if node.kind != "flags":
        raise _bad(node, t)
    value = cls(0)
    for label in node.labels:
        if label not in t.labels:
            raise WaveError(f"`{label}` is not a flag of `{t}`", node.start)
        value |= cls(1 << t.labels.index(label))
    return value


def _prim(node: Node, t: PrimType) -> Any:
    name = t.name
    if name == "bool":
        if node.kind != "bool":
            raise _bad(node, t)
        return node.text == "true"
    if name in ("char", "string"):
        if node.kind != name:
            raise _bad(node, t)
        return node.text
    if node.kind != "number":
        raise _bad(node, t)
    text = node.text
    if name in ("f32", "f64"):
        return _float(text, name == "f32")
    lo, hi = _INT_RANGES[name]
    if _INT_RE.fullmatch(text) is None or (lo == 0 and text.startswith("-")):
        raise WaveError(f"{text} is not a value of type `{name}`", node.start)
    v = int(text) if len(text) < 30 else hi + 1
    if not lo <= v <= hi:
        raise WaveError(f"{text} is out of range for `{name}` ({lo} to {hi})", node.start)
    return v


_F32_OVERFLOW = Fraction(2**128 - 2**103)  # halfway between the largest f32 and 2**128


def _float(text: str, f32: bool) -> float:
    if text in ("nan", "inf", "-inf"):
        return float(text)
    d = float(text)  # correctly rounded to f64; inf beyond its range
    if not f32 or d == 0.0 or math.isinf(d):
        return d
    if abs(d) > 3.5e38:
        return math.copysign(math.inf, d)
    exact = Fraction(text)
    if abs(exact) >= _F32_OVERFLOW:
        return math.copysign(math.inf, d)
    # the f32 nearest the exact decimal (rounding via f64 first can be off by one)
    bits = _f32_bits(_f32_round(d)) & 0x7FFFFFFF
    sign = -1 if d < 0 else 1
    best: tuple[Fraction, int, int] | None = None
    for b in (bits - 1, bits, bits + 1):
        if not 0 <= b < 0x7F800000:
            continue
        dist = abs(Fraction(_f32_from(b)) * sign - exact)
        key = (dist, b & 1, b)
        if best is None or key < best:
            best = key
    assert best is not None
    return math.copysign(_f32_from(best[2]), d)


def _f32_round(x: float) -> float:
    try:
        return float(struct.unpack("<f", struct.pack("<f", x))[0])
    except OverflowError:
        return math.copysign(3.4028234663852886e38, x)


def _f32_bits(x: float) -> int:
    return int(struct.unpack("<I", struct.pack("<f", x))[0])


def _f32_from(bits: int) -> float:
    return float(struct.unpack("<f", struct.pack("<I", bits))[0])


def value_from_wave(text: str, t: ValType) -> Any:
    """Parse ``text`` as one WAVE value of type ``t``."""
    return to_value(parse_value(text), t)


# --- printing ----------------------------------------------------------------------------------

# Other_Grapheme_Extend (Unicode's PropList): besides Mn and Me, these extend a grapheme.
_OTHER_EXTEND = (
    {0x09BE, 0x09D7, 0x0B3E, 0x0B57, 0x0BBE, 0x0BD7, 0x0CC2, 0x0CD5, 0x0CD6, 0x0D3E, 0x0D57}
    | {0x0DCF, 0x0DDF, 0x1B35, 0x200C, 0x302E, 0x302F, 0xFF9E, 0xFF9F, 0x1133E, 0x11357}
    | {0x114B0, 0x114BD, 0x115AF, 0x11930, 0x1D165, *range(0x1D16E, 0x1D173)}
    | set(range(0xE0020, 0xE0080))
)
_SIMPLE_ESCAPES = {"\\": "\\\\", '"': '\\"', "'": "\\'", "\t": "\\t", "\r": "\\r", "\n": "\\n"}


def _escape(ch: str) -> str:
    """One character as the WAVE writer prints it: Rust's escapes of ``char``."""
    simple = _SIMPLE_ESCAPES.get(ch)
    if simple is not None:
        return simple
    if " " <= ch <= "~":
        return ch
    cp = ord(ch)
    if unicodedata.category(ch) in ("Mn", "Me") or cp in _OTHER_EXTEND or not ch.isprintable():
        return f"\\u{{{cp:x}}}"
    return ch


def _label(label: str) -> str:
    return "%" + label if label in KEYWORDS else label


def _f32_shortest(x: float) -> str:
    """The shortest decimal that reads back as the f32 ``x`` (the closest such one)."""
    v = Fraction(abs(x))
    bits = _f32_bits(abs(x))
    lo = Fraction(_f32_from(bits - 1)) if bits > 0 else Fraction(0)
    hi = Fraction(_f32_from(bits + 1)) if bits + 1 < 0x7F800000 else Fraction(2**128)
    low, high = (lo + v) / 2, (v + hi) / 2
    inclusive = bits % 2 == 0  # a tie rounds to the even neighbour: this one

    def inside(c: Fraction) -> bool:
        return low <= c <= high if inclusive else low < c < high

    e = math.floor(math.log10(abs(x)))
    while Fraction(10) ** e > v:
        e -= 1
    while Fraction(10) ** (e + 1) <= v:
        e += 1
    for k in range(1, 10):
        scale = Fraction(10) ** (k - 1 - e)
        t = v * scale
        best: tuple[Fraction, int] | None = None
        for n in {math.floor(t), math.ceil(t)}:
            c = Fraction(n) / scale
            if inside(c):
                key = (abs(c - v), n % 2)
                if best is None or key < (best[0], best[1] % 2):
                    best = (key[0], n)
        if best is not None:
            text = format(Decimal(best[1]).scaleb(e - k + 1).normalize(), "f")
            return "-" + text if x < 0 else text
    raise AssertionError(x)  # nine digits always suffice for an f32


def _float_text(x: float, f32: bool) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0.0:
        return "-0" if math.copysign(1.0, x) < 0 else "0"
    if f32:
        return _f32_shortest(x)
    # positional, with no exponent or trailing zeros, as Rust's Display prints floats
    return format(Decimal(repr(x)).normalize(), "f")


def to_wave(value: Any, t: ValType) -> str:
    """``value`` (a Python value of type ``t``) as WAVE text, as wasm-wave prints it."""
    out: list[str] = []
    _write(out, value, t)
    return "".join(out)


def _write(out: list[str], v: Any, t: ValType) -> None:
    if isinstance(t, PrimType):
        name = t.name
        if name == "bool":
            out.append("true" if v else "false")
        elif name in ("f32", "f64"):
            out.append(_float_text(float(v), name == "f32"))
        elif name == "char":
            out.append("'" + _escape(v) + "'")
        elif name == "string":
            out.append('"' + "".join(map(_escape, v)) + '"')
        else:
            out.append(str(int(v)))
    elif isinstance(t, ListType | TupleType):
        types = [t.t] * len(v) if isinstance(t, ListType) else t.ts
        out.append("[" if isinstance(t, ListType) else "(")
        for i, (x, xt) in enumerate(zip(v, types, strict=True)):
            if i:
                out.append(", ")
            _write(out, x, xt)
        out.append("]" if isinstance(t, ListType) else ")")
    elif isinstance(t, RecordType):
        out.append("{")
        first = True
        for f in t.fields:
            x = v.get(f.label) if isinstance(v, dict) else getattr(v, py_name(f.label))
            if x is None and isinstance(f.t, OptionType):
                continue
            out.append(f"{f.label}: " if first else f", {f.label}: ")
            first = False
            _write(out, x, f.t)
        out.append(":}" if first else "}")
    elif isinstance(t, VariantType):
        case = next(c for c in t.cases if c.label == v.tag)
        out.append(_label(case.label))
        if case.t is not None:
            _wrapped(out, v.value, case.t)
    elif isinstance(t, EnumType):
        out.append(_label(v.value if isinstance(v, enum.Enum) else v))
    elif isinstance(t, OptionType):
        if v is None:
            out.append("none")
        else:
            out.append("some")
            _wrapped(out, v.value if isinstance(v, Some) else v, t.t)
    elif isinstance(t, ResultType):
        ok = isinstance(v, Ok)
        out.append("ok" if ok else "err")
        inner = t.ok if ok else t.error
        if inner is not None:
            _wrapped(out, v.value, inner)
    elif isinstance(t, FlagsType):
        names = _flag_labels(v, t)
        out.append("{" + ", ".join(label for label in t.labels if label in names) + "}")
    else:
        raise WaveError(f"values of type `{t}` have no WAVE form", 0)


def _wrapped(out: list[str], v: Any, t: ValType) -> None:
    out.append("(")
    _write(out, v, t)
    out.append(")")


def _flag_labels(v: Any, t: FlagsType) -> set[str]:
    if isinstance(v, enum.Flag):
        return {t.labels[i] for i in range(len(t.labels)) if v.value >> i & 1}
    return {str(x.name) if isinstance(x, enum.Flag) else str(x) for x in v}


def results_to_wave(values: Sequence[Any], types: Sequence[ValType]) -> str:
    """A function's results as ``wasmtime run --invoke`` prints them: one result
    as its value, none as ``()``, several as a tuple."""
    if len(types) == 1:
        return to_wave(values[0], types[0])
    return "(" + ", ".join(to_wave(v, t) for v, t in zip(values, types, strict=True)) + ")"
