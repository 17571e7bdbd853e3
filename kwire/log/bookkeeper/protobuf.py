"""Just enough of the protobuf wire format for BookKeeper's metadata messages.

BookKeeper keeps ledger metadata (LedgerMetadataFormat) and bookie registrations
(BookieServiceInfoFormat) in ZooKeeper as binary proto2 messages. kwire reads and
writes those few messages by hand instead of depending on generated code: a
varint, a length-delimited field, and a reader that yields (field, wire type,
value). Unknown fields are skipped, as protobuf readers do.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

VARINT = 0
FIXED64 = 1
LENGTH_DELIMITED = 2
FIXED32 = 5

_MASK64 = (1 << 64) - 1


def encode_varint(value: int) -> bytes:
    """A varint; negative numbers as their 64-bit two's complement (10 bytes), as
    protobuf encodes negative int32 and int64 values."""
    value &= _MASK64
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(data: bytes, pos: int) -> tuple[int, int]:
    """(unsigned value, next position)."""
    result = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result & _MASK64, pos
        shift += 7
        if shift >= 70:
            raise ValueError("malformed varint")


def signed64(value: int) -> int:
    """An int64/int32 field's value from its unsigned varint."""
    return value - (1 << 64) if value >= 1 << 63 else value


def field_varint(number: int, value: int) -> bytes:
    return encode_varint(number << 3 | VARINT) + encode_varint(value)


def field_bytes(number: int, value: bytes) -> bytes:
    return encode_varint(number << 3 | LENGTH_DELIMITED) + encode_varint(len(value)) + value


def fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of each field: an int for varint and fixed
    fields, bytes for length-delimited ones."""
    pos = 0
    end = len(data)
    while pos < end:
        key, pos = decode_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        value: int | bytes
        if wire_type == VARINT:
            value, pos = decode_varint(data, pos)
        elif wire_type == LENGTH_DELIMITED:
            size, pos = decode_varint(data, pos)
            if pos + size > end:
                raise ValueError("truncated length-delimited field")
            value = bytes(data[pos:pos + size])
            pos += size
        elif wire_type == FIXED64:
            (value,) = struct.unpack_from("<Q", data, pos)
            pos += 8
        elif wire_type == FIXED32:
            (value,) = struct.unpack_from("<I", data, pos)
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire_type}")
        yield number, wire_type, value
