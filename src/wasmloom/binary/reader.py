"""A bounds-checked cursor over a WebAssembly binary: bytes, LEB128 integers, names, vectors.

One reader serves the component decoder and the core module type reader. A read
never goes past ``end``; what cannot be read raises
:class:`~wasmloom.errors.DecodeError` with the offset where reading failed and
the caller's description (``what``) of what was expected there.
"""

from __future__ import annotations

from wasmloom.errors import DecodeError

__all__ = ["MAX_NESTING", "Reader"]

MAX_NESTING = 100
"""Deepest nesting of components and component/instance/module types accepted."""


class Reader:
    """A cursor over ``data[pos:end]``; reads never go past ``end``."""

    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def at_end(self) -> bool:
        return self.pos >= self.end

    def u8(self, what: str) -> int:
        pos = self.pos
        if pos >= self.end:
            raise DecodeError(pos, what)
        self.pos = pos + 1
        return self.data[pos]

    def peek(self, what: str) -> int:
        if self.pos >= self.end:
            raise DecodeError(self.pos, what)
        return self.data[self.pos]

    def expect(self, byte: int, what: str) -> None:
        pos = self.pos
        if self.u8(what) != byte:
            raise DecodeError(pos, what)

    def flag(self, what: str) -> bool:
        """A ``0x00``/``0x01`` byte."""
        pos = self.pos
        b = self.u8(what)
        if b > 1:
            raise DecodeError(pos, what)
        return b == 1

    def skip(self, n: int, what: str) -> None:
        """Step over ``n`` bytes."""
        if n > self.end - self.pos:
            raise DecodeError(self.pos, what)
        self.pos += n

    def _leb(self, bits: int, what: str) -> tuple[int, int, int]:
        """The bytes of a LEB128 integer of at most ``bits`` bits.

        Returns the value read as unsigned, its last byte and the number of bits
        its bytes carry (7 per byte).
        """
        data = self.data
        start = pos = self.pos
        end = self.end
        result = 0
        shift = 0
        max_bytes = (bits + 6) // 7
        while True:
            if pos >= end:
                raise DecodeError(pos, what)
            b = data[pos]
            pos += 1
            result |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                break
            if pos - start >= max_bytes:
                raise DecodeError(pos, f"{what} of at most {max_bytes} bytes")
        self.pos = pos
        return result, b, shift

    def uleb(self, bits: int, what: str) -> int:
        """An unsigned LEB128 integer of at most ``bits`` bits."""
        result, _, _ = self._leb(bits, what)
        if result >> bits:
            raise DecodeError(self.pos - 1, f"{what} within {bits} bits")
        return result

    def sleb(self, bits: int, what: str) -> int:
        """A signed LEB128 integer of at most ``bits`` bits."""
        result, last, shift = self._leb(bits, what)
        if shift >= bits:
            # the unused high bits of the last byte must sign-extend bit ``bits - 1``
            sign_at = bits - 1 - (shift - 7)
            if last >> sign_at not in (0, 0x7F >> sign_at):
                raise DecodeError(self.pos - 1, f"{what} within {bits} bits")
        if last & 0x40:
            result -= 1 << shift
        return result

    def u32(self, what: str = "u32 LEB128") -> int:
        # fast path: one byte
        pos = self.pos
        if pos < self.end:
            b = self.data[pos]
            if b < 0x80:
                self.pos = pos + 1
                return b
        return self.uleb(32, what)

    def u64(self, what: str = "u64 LEB128") -> int:
        return self.uleb(64, what)

    def s32(self, what: str = "s32 LEB128") -> int:
        return self.sleb(32, what)

    def s33(self, what: str = "s33 LEB128") -> int:
        return self.sleb(33, what)

    def s64(self, what: str = "s64 LEB128") -> int:
        return self.sleb(64, what)

    def _length(self, what: str, noun: str) -> int:
        """A u32 count; the error text ``what noun`` is only formatted on the slow path."""
        pos = self.pos
        if pos < self.end:
            b = self.data[pos]
            if b < 0x80:  # fast path: one byte
                self.pos = pos + 1
                return b
        return self.uleb(32, f"{what} {noun}")

    def vec_len(self, what: str) -> int:
        """A vector length; each element takes at least one byte."""
        pos = self.pos
        n = self._length(what, "count")
        if n > self.end - self.pos:
            raise DecodeError(pos, f"{what} count within the remaining {self.end - self.pos} bytes")
        return n

    def name(self, what: str = "utf-8 name") -> str:
        pos = self.pos
        n = self._length(what, "length")
        start = self.pos
        stop = start + n
        if stop > self.end:
            raise DecodeError(pos, f"{what} length within the remaining {self.end - start} bytes")
        self.pos = stop
        try:
            return self.data[start:stop].decode("utf-8")
        except UnicodeDecodeError as e:
            raise DecodeError(start + e.start, what) from None

    def size(self, what: str) -> int:
        """A byte count that must fit in what remains; returns the end position."""
        pos = self.pos
        n = self._length(what, "size")
        if n > self.end - self.pos:
            raise DecodeError(pos, f"{what} size within the remaining {self.end - self.pos} bytes")
        return self.pos + n
