"""Tests of the byte reader shared by the component decoder and the core module type reader."""

from __future__ import annotations

import pytest

from wasmloom.binary.reader import Reader
from wasmloom.errors import DecodeError


def test_unsigned_leb128_of_each_width() -> None:
    assert Reader(b"\x05").u32() == 5
    assert Reader(b"\xe5\x8e\x26").u32() == 624485
    assert Reader(b"\xff\xff\xff\xff\x0f").u32() == 2**32 - 1
    assert Reader(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01").u64() == 2**64 - 1
    r = Reader(b"\x80\x00\x07")  # a padded zero, then 7
    assert (r.u32(), r.u32(), r.at_end()) == (0, 7, True)


def test_signed_leb128_of_each_width() -> None:
    assert Reader(b"\x7f").s32() == -1
    assert Reader(b"\xc0\xbb\x78").s33() == -123456
    assert Reader(b"\x80\x80\x80\x80\x78").s32() == -(2**31)
    assert Reader(b"\xff\xff\xff\xff\x07").s32() == 2**31 - 1
    assert Reader(b"\xff\xff\xff\xff\x0f").s33() == 2**32 - 1
    assert Reader(b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x7f").s64() == -(2**63)
    assert Reader(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x00").s64() == 2**63 - 1


@pytest.mark.parametrize(
    ("data", "read", "offset", "expected"),
    [
        (b"", "u32", 0, "u32 LEB128"),
        (b"\x80\x80", "u32", 2, "u32 LEB128"),
        (b"\x80\x80\x80\x80\x80\x00", "u32", 5, "u32 LEB128 of at most 5 bytes"),
        (b"\xff\xff\xff\xff\x1f", "u32", 4, "u32 LEB128 within 32 bits"),
        (b"\xff\xff\xff\xff\x0f", "s32", 4, "s32 LEB128 within 32 bits"),
        (b"\x80\x80\x80\x80\x70", "s32", 4, "s32 LEB128 within 32 bits"),
        (b"\xff\xff\xff\xff\x2f", "s33", 4, "s33 LEB128 within 33 bits"),
        (b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", "s64", 9, "s64 LEB128 within 64 bits"),
        (b"\x80" * 10, "s64", 10, "s64 LEB128 of at most 10 bytes"),
    ],
)
def test_leb128_errors_name_the_offset_and_the_width(
    data: bytes, read: str, offset: int, expected: str
) -> None:
    with pytest.raises(DecodeError) as e:
        getattr(Reader(data), read)()
    assert (e.value.offset, e.value.expected) == (offset, expected)


def test_reads_stop_at_end_not_at_the_end_of_the_data() -> None:
    r = Reader(b"\x01\x02\x03", 1, 2)
    assert r.u8("byte") == 2
    with pytest.raises(DecodeError) as e:
        r.u8("next byte")
    assert (e.value.offset, e.value.expected) == (2, "next byte")
    with pytest.raises(DecodeError):
        Reader(b"\x01\x02\x03", 0, 2).skip(3, "three bytes")


def test_names_vectors_and_sizes_fit_in_what_remains() -> None:
    r = Reader(b"\x02hi\x01\x00")
    assert (r.name(), r.vec_len("x"), r.size("y"), r.pos) == ("hi", 1, 5, 5)
    with pytest.raises(DecodeError) as e:
        Reader(b"\x05ab").name()
    assert e.value.expected == "utf-8 name length within the remaining 2 bytes"
    with pytest.raises(DecodeError) as e:
        Reader(b"\x03\x00").vec_len("field")
    assert e.value.expected == "field count within the remaining 1 bytes"
    with pytest.raises(DecodeError) as e:
        Reader(b"\x01\xff").name()
    assert (e.value.offset, e.value.expected) == (1, "utf-8 name")
