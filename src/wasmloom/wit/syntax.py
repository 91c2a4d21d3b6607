"""WIT lexing and parsing into a syntax tree (no name resolution).

The parser follows the grammar of the Component Model's ``WIT.md``. Every
node keeps the :class:`Span` of the token that names it, so the resolver can
report errors with a file, a line and a column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TypeAlias

from wasmloom.errors import WasmloomError

__all__ = ["Source", "Span", "WitError", "parse_file"]


class Source:
    """The text of one WIT file and its name, for error positions."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of ``offset``."""
        line = self.text.count("\n", 0, offset) + 1
        start = self.text.rfind("\n", 0, offset) + 1
        return line, offset - start + 1

    def line_text(self, line: int) -> str:
        lines = self.text.split("\n")
        return lines[line - 1].rstrip("\r") if 0 < line <= len(lines) else ""


@dataclass(frozen=True, slots=True)
class Span:
    source: Source
    offset: int


class WitError(WasmloomError):
    """A WIT document is malformed or does not resolve.

    ``file``, ``line`` and ``column`` locate the error when known; the message
    then ends with the offending source line and a caret under the column.
    """

    def __init__(self, message: str, span: Span | None = None) -> None:
        self.message = message
        self.file: str | None = None
        self.line: int | None = None
        self.column: int | None = None
        text = message
        if span is not None:
            self.file = span.source.name
            self.line, self.column = span.source.position(span.offset)
            src = span.source.line_text(self.line)
            caret = " " * (self.column - 1) + "^"
            text = f"{self.file}:{self.line}:{self.column}: {message}\n    {src}\n    {caret}"
        super().__init__(text)


# --- lexer ---------------------------------------------------------------------

KEYWORDS = frozenset(
    "as async bool borrow char constructor enum export f32 f64 flags from func future import "
    "include interface list map option own package record resource result s16 s32 s64 s8 "
    "static stream string tuple type u16 u32 u64 u8 use variant with world "
    "error-context".split()
)

_PUNCT = {"->": "->"} | {c: c for c in "=,:;(){}<>*/.@_"}
_WORD = re.compile(r"%?[A-Za-z0-9_-]+")
_VERSION = re.compile(
    r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?"
)
_ID_WORD = re.compile(r"[a-z][a-z0-9]*|[A-Z][A-Z0-9]*")
_ID_FRAGMENT = re.compile(r"[a-z0-9]+|[A-Z0-9]+")  # a fragment after the first
_FORBIDDEN = re.compile("[\u202a-\u202e\u2066-\u2069\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(slots=True)
class Token:
    kind: str  # 'id' | 'kw' | 'int' | 'str' | punctuation | 'eof'
    text: str
    offset: int
    end: int
    docs: str | None  # doc comments immediately before the token


def valid_id(name: str) -> bool:
    """A WIT identifier (a component-model ``label``): ``a1-2-b``, ``XML-2``; not ``1-a``."""
    first, *rest = name.split("-")
    return bool(_ID_WORD.fullmatch(first)) and all(_ID_FRAGMENT.fullmatch(w) for w in rest)


class Lexer:
    def __init__(self, source: Source) -> None:
        self.src = source
        self.text = source.text
        self.pos = 0
        m = _FORBIDDEN.search(self.text)
        if m:
            raise WitError("forbidden control or bidirectional character", self.span(m.start()))

    def span(self, offset: int) -> Span:
        return Span(self.src, offset)

    def _skip(self) -> str | None:
        text, docs = self.text, []
        while self.pos < len(text):
            c = text[self.pos]
            if c in " \t\r\n":
                self.pos += 1
            elif text.startswith("//", self.pos):
                end = text.find("\n", self.pos)
                end = len(text) if end < 0 else end
                if text.startswith("///", self.pos) and not text.startswith("////", self.pos):
                    docs.append(text[self.pos + 3 : end].rstrip("\r"))
                self.pos = end
            elif text.startswith("/*", self.pos):
                start, depth, i = self.pos, 1, self.pos + 2
                while depth:
                    if i >= len(text):
                        raise WitError("unterminated block comment", self.span(start))
                    if text.startswith("/*", i):
                        depth, i = depth + 1, i + 2
                    elif text.startswith("*/", i):
                        depth, i = depth - 1, i + 2
                    else:
                        i += 1
                body = text[start + 2 : i - 2]
                if body.startswith("*") and not body.startswith("**") and body != "*":
                    for line in body[1:].strip("\n").split("\n"):
                        s = line.strip()
                        docs.append(s[1:] if s.startswith("*") else line.rstrip())
                self.pos = i
            else:
                break
        return "\n".join(d[1:] if d.startswith(" ") else d for d in docs) if docs else None

    def next(self) -> Token:
        docs = self._skip()
        text, p = self.text, self.pos
        if p >= len(text):
            return Token("eof", "", p, p, docs)
        c = text[p]
        if text.startswith("->", p):
            self.pos = p + 2
            return Token("->", "->", p, p + 2, docs)
        if c == '"':
            i = p + 1
            while i < len(text) and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            if i >= len(text):
                raise WitError("unterminated string", self.span(p))
            self.pos = i + 1
            return Token("str", text[p + 1 : i], p, i + 1, docs)
        m = _WORD.match(text, p)
        if m and m.group() != "_":
            word = m.group()
            self.pos = m.end()
            if word.isdigit():
                return Token("int", word, p, m.end(), docs)
            if word.startswith("%"):
                name = word[1:]
                if not valid_id(name):
                    raise WitError(f"invalid identifier `{word}`", self.span(p))
                return Token("id", name, p, m.end(), docs)
            if word in KEYWORDS:
                return Token("kw", word, p, m.end(), docs)
            if not valid_id(word):
                raise WitError(f"invalid identifier `{word}`", self.span(p))
            return Token("id", word, p, m.end(), docs)
        if c in _PUNCT:
            self.pos = p + 1
            return Token(c, c, p, p + 1, docs)
        raise WitError(f"unexpected character {c!r}", self.span(p))

    def version(self) -> tuple[str, int]:
        """Read a semver at the current position (no whitespace skipped)."""
        m = _VERSION.match(self.text, self.pos)
        if not m:
            raise WitError("expected a semver version", self.span(self.pos))
        self.pos = m.end()
        return m.group(), m.start()


# --- syntax tree -------------------------------------------------------------------


@dataclass(slots=True)
class PackageName:
    namespace: str
    name: str
    version: str | None = None

    def __str__(self) -> str:
        v = f"@{self.version}" if self.version else ""
        return f"{self.namespace}:{self.name}{v}"


@dataclass(slots=True)
class Gate:
    since: str | None = None
    unstable: str | None = None
    deprecated: str | None = None
    external_id: str | None = None
    span: Span | None = None


@dataclass(slots=True)
class UsePath:
    """``iface`` (``package`` None) or ``ns:pkg/iface@ver``."""

    name: str
    span: Span
    package: PackageName | None = None


@dataclass(slots=True)
class TyName:
    name: str
    span: Span


@dataclass(slots=True)
class TyPrim:
    name: str


@dataclass(slots=True)
class TyList:
    t: Ty
    length: int | None = None


@dataclass(slots=True)
class TyTuple:
    ts: list[Ty]


@dataclass(slots=True)
class TyOption:
    t: Ty


@dataclass(slots=True)
class TyResult:
    ok: Ty | None
    err: Ty | None


@dataclass(slots=True)
class TyMap:
    k: Ty
    v: Ty


@dataclass(slots=True)
class TyHandle:
    borrow: bool
    name: TyName


@dataclass(slots=True)
class TyFuture:
    t: Ty | None


@dataclass(slots=True)
class TyStream:
    t: Ty | None


Ty: TypeAlias = TyName | TyPrim | TyList | TyTuple | TyOption | TyResult | TyMap | TyHandle | TyFuture | TyStream  # fmt: skip


@dataclass(slots=True)
class FuncSig:
    params: list[tuple[str, Ty, Span]]
    result: Ty | None
    is_async: bool = False


@dataclass(slots=True)
class Named:
    """Common fields of items: name, its span, docs and gate."""

    name: str
    span: Span
    docs: str | None
    gate: Gate


@dataclass(slots=True)
class FuncDecl(Named):
    sig: FuncSig = field(default_factory=lambda: FuncSig([], None))
    kind: str = "freestanding"  # | 'method' | 'static' | 'constructor'


@dataclass(slots=True)
class Field(Named):
    t: Ty | None = None


@dataclass(slots=True)
class TypeDecl(Named):
    kind: str = "type"  # record variant enum flags resource type
    t: Ty | None = None  # for 'type'
    fields: list[Field] = field(default_factory=list)  # fields, cases, labels
    funcs: list[FuncDecl] | None = None  # resource body (None: `resource r;`)


@dataclass(slots=True)
class UseDecl:
    path: UsePath
    names: list[tuple[str, str, Span]]  # (name, local name, span)
    gate: Gate
    docs: str | None


@dataclass(slots=True)
class InterfaceDecl(Named):
    items: list[FuncDecl | TypeDecl | UseDecl] = field(default_factory=list)


@dataclass(slots=True)
class ExternDecl(Named):
    """``import``/``export``: ``name`` is the plain name, or '' for ``import use-path;``."""

    direction: str = "import"
    func: FuncSig | None = None
    iface: InterfaceDecl | None = None
    path: UsePath | None = None


@dataclass(slots=True)
class IncludeDecl:
    path: UsePath
    with_: list[tuple[str, str, Span]]
    gate: Gate
    docs: str | None


@dataclass(slots=True)
class WorldDecl(Named):
    items: list[ExternDecl | UseDecl | TypeDecl | IncludeDecl] = field(default_factory=list)


@dataclass(slots=True)
class TopUse:
    path: UsePath
    alias: str
    span: Span


@dataclass(slots=True)
class PackageDecl:
    """One package's items from one file (the file's own package or a nested block)."""

    name: PackageName | None
    span: Span
    docs: str | None
    items: list[InterfaceDecl | WorldDecl | TopUse] = field(default_factory=list)
    source: Source | None = None


# --- parser ---------------------------------------------------------------------------

_PRIMS = frozenset("bool s8 u8 s16 u16 s32 u32 s64 u64 f32 f64 char string error-context".split())


class Parser:
    def __init__(self, source: Source) -> None:
        self.lx = Lexer(source)
        self.src = source
        self.tok = self.lx.next()
        self.prev_end = 0
        self.depth = 0

    # token helpers
    def span(self, tok: Token | None = None) -> Span:
        return Span(self.src, (tok or self.tok).offset)

    def describe(self, t: Token) -> str:
        if t.kind == "eof":
            return "eof"
        if t.kind == "kw":
            return f"keyword `{t.text}`"
        if t.kind == "id":
            return "an identifier"
        return f"`{t.text}`"

    def fail(self, expected: str) -> WitError:
        return WitError(f"expected {expected}, found {self.describe(self.tok)}", self.span())

    def advance(self) -> Token:
        t = self.tok
        self.prev_end = t.end
        self.tok = self.lx.next()
        return t

    def at(self, kind: str, text: str | None = None) -> bool:
        return self.tok.kind == kind and (text is None or self.tok.text == text)

    def at_kw(self, word: str) -> bool:
        return self.tok.kind == "kw" and self.tok.text == word

    def eat(self, kind: str, text: str | None = None) -> bool:
        if self.at(kind, text):
            self.advance()
            return True
        return False

    def expect(self, kind: str, what: str | None = None) -> Token:
        if self.tok.kind != kind:
            raise self.fail(what or f"`{kind}`")
        return self.advance()

    def expect_kw(self, word: str) -> Token:
        if not self.at_kw(word):
            raise self.fail(f"`{word}`")
        return self.advance()

    def ident(self) -> Token:
        if self.tok.kind != "id":
            raise self.fail("an identifier or string")
        return self.advance()

    def version_after_at(self) -> str:
        # '@' was just consumed; the version follows with no whitespace
        self.lx.pos = self.prev_end
        v, _ = self.lx.version()
        self.prev_end = self.lx.pos
        self.tok = self.lx.next()
        return v

    # top level
    def parse_file(self) -> list[PackageDecl]:
        docs = self.tok.docs
        out: list[PackageDecl] = []
        main: PackageDecl | None = None
        if self.at_kw("package"):
            start = self.advance()
            name = self.package_name()
            if self.at("{"):
                out.append(self.nested_package(name, start, docs))
            else:
                self.expect(";")
                main = PackageDecl(name, self.span(start), docs, source=self.src)
        if main is None:
            main = PackageDecl(None, self.span(), None if out else docs, source=self.src)
        while not self.at("eof"):
            if self.at_kw("package"):
                start = self.advance()
                d = start.docs
                name = self.package_name()
                if not self.at("{"):
                    raise self.fail("`{`")
                out.append(self.nested_package(name, start, d))
                continue
            main.items.append(self.package_item())
        out.insert(0, main)
        return out

    def nested_package(self, name: PackageName, start: Token, docs: str | None) -> PackageDecl:
        self.expect("{")
        pkg = PackageDecl(name, self.span(start), docs, source=self.src)
        while not self.eat("}"):
            if self.at("eof"):
                raise self.fail("`}`")
            pkg.items.append(self.package_item())
        return pkg

    def package_name(self) -> PackageName:
        ns = self.ident().text
        self.expect(":")
        name = self.ident().text
        if self.at(":") or self.at("/"):
            raise WitError("nested namespaces or package paths are not supported", self.span())
        version = self.version_after_at() if self.eat("@") else None
        return PackageName(ns, name, version)

    def gates(self) -> Gate:
        g = Gate(span=self.span())
        while self.at("@"):
            self.advance()
            word = self.ident().text
            self.expect("(")
            if word == "external-id":
                g.external_id = self.expect("str", "a string").text
            elif word in ("since", "deprecated", "unstable"):
                key = self.ident().text
                want = "feature" if word == "unstable" else "version"
                if key != want:
                    raise WitError(f"expected `{want}`", self.span())
                self.expect("=")
                if word == "unstable":
                    g.unstable = self.ident().text
                else:
                    self.lx.pos = self.prev_end
                    self.lx._skip()
                    v, _ = self.lx.version()
                    self.prev_end = self.lx.pos
                    self.tok = self.lx.next()
                    if word == "since":
                        if g.since is not None:
                            raise WitError("duplicate @since", g.span)
                        g.since = v
                    else:
                        g.deprecated = v
            else:
                raise WitError(f"unknown attribute `@{word}`", self.span())
            self.expect(")")
        return g

    def package_item(self) -> InterfaceDecl | WorldDecl | TopUse:
        docs = self.tok.docs
        if self.at_kw("use"):
            start = self.advance()
            path = self.use_path()
            alias = path.name
            if self.eat_kw("as"):
                alias = self.ident().text
            self.expect(";")
            return TopUse(path, alias, self.span(start))
        gate = self.gates()
        if self.at_kw("interface"):
            self.advance()
            return self.interface_body(docs, gate)
        if self.at_kw("world"):
            self.advance()
            return self.world_body(docs, gate)
        raise self.fail("`world`, `interface` or `use`")

    def eat_kw(self, word: str) -> bool:
        if self.at_kw(word):
            self.advance()
            return True
        return False

    def use_path(self) -> UsePath:
        t = self.ident()
        if self.at(":"):
            self.advance()
            name = self.ident().text
            if self.at(":"):
                raise WitError("nested namespaces are not supported", self.span())
            self.expect("/")
            iface = self.ident()
            if self.at("/"):
                raise WitError("nested package paths are not supported", self.span())
            version = self.version_after_at() if self.eat("@") else None
            return UsePath(iface.text, self.span(t), PackageName(t.text, name, version))
        return UsePath(t.text, self.span(t))

    # interfaces
    def interface_body(self, docs: str | None, gate: Gate) -> InterfaceDecl:
        t = self.ident()
        decl = InterfaceDecl(t.text, self.span(t), docs, gate)
        self.expect("{")
        while not self.eat("}"):
            decl.items.append(self.interface_item())
        return decl

    def interface_item(self) -> FuncDecl | TypeDecl | UseDecl:
        docs = self.tok.docs
        gate = self.gates()
        if self.at_kw("use"):
            return self.use_item(docs, gate)
        if self.tok.kind == "kw" and self.tok.text in (
            "record", "variant", "enum", "flags", "resource", "type"
        ):  # fmt: skip
            return self.typedef_item(docs, gate)
        if self.tok.kind == "id":
            t = self.advance()
            self.expect(":")
            sig = self.func_sig()
            self.expect(";")
            return FuncDecl(t.text, self.span(t), docs, gate, sig)
        raise self.fail("`type`, `resource` or `func`")

    def use_item(self, docs: str | None, gate: Gate) -> UseDecl:
        self.expect_kw("use")
        path = self.use_path()
        self.expect(".")
        self.expect("{")
        names: list[tuple[str, str, Span]] = []
        while not self.at("}"):
            t = self.ident()
            local = self.ident().text if self.eat_kw("as") else t.text
            names.append((t.text, local, self.span(t)))
            if not self.eat(","):
                break
            if self.at("}"):
                break
        self.expect("}")
        self.expect(";")
        return UseDecl(path, names, gate, docs)

    def func_sig(self) -> FuncSig:
        is_async = self.eat_kw("async")
        self.expect_kw("func")
        params = self.param_list()
        result = self.ty() if self.eat("->") else None
        return FuncSig(params, result, is_async)

    def param_list(self) -> list[tuple[str, Ty, Span]]:
        self.expect("(")
        params: list[tuple[str, Ty, Span]] = []
        while not self.eat(")"):
            t = self.ident()
            self.expect(":")
            params.append((t.text, self.ty(), self.span(t)))
            if not self.eat(","):
                self.expect(")")
                break
        return params

    def typedef_item(self, docs: str | None, gate: Gate) -> TypeDecl:
        kind = self.advance().text
        t = self.ident()
        decl = TypeDecl(t.text, self.span(t), docs, gate, kind)
        if kind == "type":
            self.expect("=")
            decl.t = self.ty()
            self.expect(";")
            return decl
        if kind == "resource":
            if self.eat(";"):
                return decl
            decl.funcs = []
            self.expect("{")
            while not self.eat("}"):
                decl.funcs.append(self.resource_func())
            return decl
        self.expect("{")
        while not self.eat("}"):
            fdocs = self.tok.docs
            fgate = self.gates() if kind == "flags" or kind == "enum" else Gate()
            if fgate.since or fgate.unstable or fgate.deprecated:
                raise WitError("feature gates are not allowed here", fgate.span)
            ft = self.ident()
            f = Field(ft.text, self.span(ft), fdocs, fgate)
            if kind == "record":
                self.expect(":")
                f.t = self.ty()
            elif kind == "variant" and self.eat("("):
                f.t = self.ty()
                self.expect(")")
            decl.fields.append(f)
            if not self.eat(","):
                self.expect("}")
                break
        if kind in ("variant", "enum") and not decl.fields:
            raise WitError(f"empty {kind}", decl.span)
        return decl

    def resource_func(self) -> FuncDecl:
        docs = self.tok.docs
        gate = self.gates()
        if self.at_kw("constructor"):
            t = self.advance()
            params = self.param_list()
            result = self.ty() if self.eat("->") else None
            self.expect(";")
            return FuncDecl(
                "constructor", self.span(t), docs, gate, FuncSig(params, result), "constructor"
            )
        t = self.ident()
        self.expect(":")
        kind = "static" if self.eat_kw("static") else "method"
        sig = self.func_sig()
        self.expect(";")
        return FuncDecl(t.text, self.span(t), docs, gate, sig, kind)

    # types
    def ty(self) -> Ty:
        self.depth += 1
        if self.depth > 100:
            raise WitError("type nesting is too deep", self.span())
        try:
            return self._ty()
        finally:
            self.depth -= 1

    def _ty(self) -> Ty:
        t = self.tok
        if t.kind == "id":
            self.advance()
            return TyName(t.text, self.span(t))
        if t.kind != "kw":
            raise self.fail("a type")
        w = t.text
        if w in _PRIMS:
            self.advance()
            return TyPrim(w)
        self.advance()
        if w == "list":
            self.expect("<")
            inner = self.ty()
            length = None
            if self.eat(","):
                n = self.expect("int", "a length")
                length = int(n.text)
                if length == 0:
                    raise WitError("invalid list length 0", self.span(n))
                if length >= 2**32:
                    raise WitError("list length too large", self.span(n))
            self.expect(">")
            return TyList(inner, length)
        if w == "tuple":
            self.expect("<")
            if self.eat(">"):
                return TyTuple([])
            ts = [self.ty()]
            while self.eat(","):
                if self.at(">"):
                    break
                ts.append(self.ty())
            self.expect(">")
            return TyTuple(ts)
        if w == "option":
            self.expect("<")
            inner = self.ty()
            self.expect(">")
            return TyOption(inner)
        if w == "result":
            if not self.eat("<"):
                return TyResult(None, None)
            ok = None if self.eat("_") else self.ty()
            err = None
            if self.eat(","):
                err = self.ty()
            elif ok is None:
                raise self.fail("`,`")
            self.expect(">")
            return TyResult(ok, err)
        if w == "map":
            self.expect("<")
            ks = self.span()
            k = self.ty()
            if not (isinstance(k, TyPrim) and k.name not in ("f32", "f64", "error-context")):
                raise WitError("invalid map key type", ks)
            self.expect(",")
            v = self.ty()
            self.expect(">")
            return TyMap(k, v)
        if w in ("own", "borrow"):
            self.expect("<")
            n = self.ident()
            self.expect(">")
            return TyHandle(w == "borrow", TyName(n.text, self.span(n)))
        if w in ("future", "stream"):
            elem: Ty | None = None
            if self.eat("<"):
                elem = self.ty()
                self.expect(">")
            return TyFuture(elem) if w == "future" else TyStream(elem)
        raise WitError(f"expected a type, found keyword `{w}`", self.span(t))

    # worlds
    def world_body(self, docs: str | None, gate: Gate) -> WorldDecl:
        t = self.ident()
        decl = WorldDecl(t.text, self.span(t), docs, gate)
        self.expect("{")
        while not self.eat("}"):
            decl.items.append(self.world_item())
        return decl

    def world_item(self) -> ExternDecl | UseDecl | TypeDecl | IncludeDecl:
        docs = self.tok.docs
        gate = self.gates()
        if self.at_kw("use"):
            return self.use_item(docs, gate)
        if self.at_kw("include"):
            self.advance()
            path = self.use_path()
            with_: list[tuple[str, str, Span]] = []
            if self.eat_kw("with"):
                self.expect("{")
                while not self.eat("}"):
                    a = self.ident()
                    self.expect_kw("as")
                    b = self.ident()
                    with_.append((a.text, b.text, self.span(a)))
                    if not self.eat(","):
                        self.expect("}")
                        break
                self.eat(";")
            else:
                self.expect(";")
            return IncludeDecl(path, with_, gate, docs)
        if self.at_kw("import") or self.at_kw("export"):
            direction = self.advance().text
            return self.extern_item(direction, docs, gate)
        if self.tok.kind == "kw" and self.tok.text in (
            "record", "variant", "enum", "flags", "resource", "type"
        ):  # fmt: skip
            return self.typedef_item(docs, gate)
        raise self.fail("`import`, `export`, `include`, `use`, or type definition")

    def extern_item(self, direction: str, docs: str | None, gate: Gate) -> ExternDecl:
        t = self.ident()
        # `id:` followed directly (no whitespace) by an id is a package path
        if self.at(":") and self.tok.offset == t.end:
            colon = self.tok
            save = (self.lx.pos, self.tok, self.prev_end)
            self.advance()
            if self.tok.kind == "id" and self.tok.offset == colon.end:
                name = self.ident().text
                self.expect("/")
                iface = self.ident()
                version = self.version_after_at() if self.eat("@") else None
                path = UsePath(iface.text, self.span(t), PackageName(t.text, name, version))
                self.expect(";")
                return ExternDecl("", self.span(t), docs, gate, direction, path=path)
            self.lx.pos, self.tok, self.prev_end = save
        if self.eat(";"):
            return ExternDecl(
                "", self.span(t), docs, gate, direction, path=UsePath(t.text, self.span(t))
            )
        self.expect(":")
        d = ExternDecl(t.text, self.span(t), docs, gate, direction)
        if self.at_kw("func") or self.at_kw("async"):
            d.func = self.func_sig()
            self.expect(";")
        elif self.at_kw("interface"):
            self.advance()
            self.expect("{")
            body = InterfaceDecl(t.text, self.span(t), docs, gate)
            while not self.eat("}"):
                body.items.append(self.interface_item())
            d.iface = body
        else:
            d.path = self.use_path()
            self.expect(";")
        return d


def parse_file(source: Source) -> list[PackageDecl]:
    """Parse one WIT file: its own package (``name`` None without a header) first,
    then its nested ``package ... { }`` blocks."""
    return Parser(source).parse_file()
