"""Generated code within :data:`WIDTH` columns: docstrings reflowed, long lines split at brackets.

:func:`docstring` writes a docstring, wrapping only its lines that are too
long. :func:`wrap_code` splits every other long line the way a formatter
would: at its widest bracket pair, one item per line, each item split again
while it is still too long::

    _FT_SET_TIMES = _rt.FuncType(
        (
            ('path', _rt.STRING),
            ...
        ),
        None,
        False,
    )

A trailing comma is added after the last item of a call, a def or a list
(never inside a subscript, where ``X[a,]`` is not ``X[a]``, nor after the
one item of a parenthesised expression). Brackets inside string literals
are not brackets.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

__all__ = ["WIDTH", "doc_lines", "docstring", "union", "wrap_code"]

#: The longest line generated code may have.
WIDTH = 120

_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = frozenset(_OPEN.values())


def doc_lines(text: str, indent: str) -> list[str]:
    """The lines of ``text`` indented by ``indent``, each too long a line reflowed to fit."""
    out: list[str] = []
    for ln in text.splitlines():
        if not ln:
            out.append("")
        elif len(indent) + len(ln) <= WIDTH:
            out.append(indent + ln)
        else:
            lead = ln[: len(ln) - len(ln.lstrip())]
            out += textwrap.wrap(
                ln.strip(),
                WIDTH,
                initial_indent=indent + lead,
                subsequent_indent=indent + lead,
                break_long_words=False,
                break_on_hyphens=False,
            )
    return out


def docstring(text: str | None, indent: str) -> list[str]:
    """The docstring lines of ``text`` (none when it is empty)."""
    if not text:
        return []
    body = text.strip().replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    lines = doc_lines('"""' + body, indent)
    if len(lines) == 1 and len(lines[0]) + 3 <= WIDTH:
        return [lines[0] + '"""']
    return [*lines, f'{indent}"""']


def union(target: str, members: list[str]) -> list[str]:
    """``target = A | B | ...``, one member per line in parentheses when one line is too long."""
    line = f"{target} = {' | '.join(members)}"
    if len(line) <= WIDTH:
        return [line]
    return [f"{target} = (", f"    {members[0]}", *[f"    | {m}" for m in members[1:]], ")"]


def wrap_code(lines: list[str]) -> list[str]:
    """``lines`` of generated code with every line of code over :data:`WIDTH` split.

    Lines inside a docstring and comments are left as they are.
    """
    out: list[str] = []
    in_doc = False
    for line in lines:
        for ln in line.split("\n"):
            stripped = ln.lstrip()
            quotes = ln.count('"""')
            if in_doc or stripped.startswith(("#", '"""')):
                out.append(ln)
                in_doc = in_doc != (quotes % 2 == 1)
                continue
            out += _wrap(ln)
    return out


def _code(text: str) -> Iterator[tuple[int, str]]:
    """``(index, character)`` of each character of ``text`` outside its string literals."""
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        else:
            yield i, ch
        i += 1


def _groups(body: str) -> list[tuple[int, int]]:
    """The outermost bracket pairs of ``body``, as (open, close) indices (unmatched ones skipped)."""
    out: list[tuple[int, int]] = []
    stack: list[int] = []
    for i, ch in _code(body):
        if ch in _OPEN:
            stack.append(i)
        elif ch in _CLOSE and stack:
            o = stack.pop()
            if not stack:
                out.append((o, i))
    return out


def _items(inner: str) -> list[str]:
    """The comma-separated items of a bracket's contents (commas nested deeper are kept)."""
    items: list[str] = []
    depth = 0
    start = 0
    for i, ch in _code(inner):
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(inner[start:i].strip())
            start = i + 1
    last = inner[start:].strip()
    if last:
        items.append(last)
    return items


def _wrap(line: str) -> list[str]:
    if len(line) <= WIDTH:
        return [line]
    body = line.lstrip()
    indent = line[: len(line) - len(body)]
    groups = [(o, c) for o, c in _groups(body) if body[o + 1 : c].strip()]
    if not groups:
        return [line]  # nothing to split at
    o, c = max(groups, key=lambda g: g[1] - g[0])
    inner = body[o + 1 : c]
    items = _items(inner)
    after_name = o > 0 and (body[o - 1].isalnum() or body[o - 1] in "_)]")
    if inner.rstrip().endswith(","):
        trailing = True
    elif body[o] == "[":
        trailing = not after_name  # a list literal, not a subscript
    elif body[o] == "(":
        trailing = after_name or len(items) > 1  # a call or a def; else a tuple, not (x)
    else:
        trailing = True
    out = _wrap(indent + body[: o + 1])
    for i, item in enumerate(items):
        comma = "," if i < len(items) - 1 or trailing else ""
        out += _wrap(f"{indent}    {item}{comma}")
    out += _wrap(indent + body[c:])
    return out
