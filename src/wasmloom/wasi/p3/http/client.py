"""The HTTP/1.1 wire of the outgoing client: request target, response head, connection.

:meth:`~wasmloom.wasi.p3.http.host.WasiHttp.send` drives these; the 0.2
client (:mod:`wasmloom.wasi.p2.http`) shares them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from wasmloom.wasi.p3.bindings import wasi_http_types as H
from wasmloom.wasi.p3.http.errors import error_label
from wasmloom.wasi.p3.http.fields import parse_field_line

__all__: list[str] = []


_MAX_HEAD = 64 * 1024  # bytes of a response head (status line and fields) the client reads


def _wire_target(path_with_query: str | None) -> str:
    """The request-target: ``/`` when absent, non-ASCII characters percent-encoded as UTF-8."""
    if not path_with_query:
        return "/"
    if path_with_query.isascii():
        return path_with_query
    return "".join(
        c if c.isascii() else "".join(f"%{b:02X}" for b in c.encode("utf-8"))
        for c in path_with_query
    )


class _Connection:
    """Closes a client connection once both the request body and the response are done."""

    __slots__ = ("pending", "writer")

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.pending = 2

    def release(self) -> None:
        self.pending -= 1
        if self.pending == 0:
            self.writer.close()

    def abort(self) -> None:
        self.writer.transport.abort()


def _content_length(fields: list[tuple[str, bytes]]) -> int | None:
    """The declared ``content-length`` (``None``: absent; ``-1``: invalid)."""
    values = {v.strip() for k, v in fields if k == "content-length"}
    if not values:
        return None
    if len(values) != 1:
        return -1
    v = values.pop()
    return int(v) if v.isdigit() else -1


class _HeadError(Exception):
    def __init__(self, code: Any) -> None:
        super().__init__(error_label(code))
        self.code = code


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, list[tuple[str, bytes]]]:
    """Reads a response's status line and fields (skipping 1xx interim responses)."""
    while True:
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.LimitOverrunError:
            raise _HeadError(H.ErrorCodeHTTPResponseHeaderSectionSize(None)) from None
        parts = line.rstrip(b"\r\n").split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise _HeadError(H.ErrorCodeHTTPProtocolError())
        status = int(parts[1])
        fields: list[tuple[str, bytes]] = []
        total = len(line)
        while True:
            try:
                fl = await reader.readuntil(b"\n")
            except asyncio.LimitOverrunError:
                raise _HeadError(H.ErrorCodeHTTPResponseHeaderSectionSize(None)) from None
            total += len(fl)
            if total > _MAX_HEAD:
                raise _HeadError(H.ErrorCodeHTTPResponseHeaderSectionSize(_MAX_HEAD))
            fl = fl.rstrip(b"\r\n")
            if not fl:
                break
            entry = parse_field_line(fl)
            if entry is None:
                raise _HeadError(H.ErrorCodeHTTPProtocolError())
            fields.append(entry)
        if not 100 <= status < 200 or status == 101:
            return status, fields
