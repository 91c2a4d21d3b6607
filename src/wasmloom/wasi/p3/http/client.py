"""What the outgoing client's request head and the server share: the request target and
the declared ``content-length``.

The client itself (framing, connections, the pool) is
:mod:`wasmloom.wasi.http_client`, shared by the 0.3 and 0.2 hosts.
"""

from __future__ import annotations

__all__: list[str] = []


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


def _content_length(fields: list[tuple[str, bytes]]) -> int | None:
    """The declared ``content-length`` (``None``: absent; ``-1``: invalid)."""
    values = {v.strip() for k, v in fields if k == "content-length"}
    if not values:
        return None
    if len(values) != 1:
        return -1
    v = values.pop()
    return int(v) if v.isdigit() else -1
