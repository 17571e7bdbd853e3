"""Request and response headers (sans-IO).

Request header v1: api_key int16, api_version int16, correlation_id int32,
client_id nullable string (int16 length). v2 (flexible APIs) adds tagged fields.
Response header v0 is the correlation id; v1 adds an empty tagged-field section.
ApiVersions always answers with header v0, whatever its version (KIP-511:
the client cannot know yet whether the broker parses flexible headers).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from kwire.errors import ProtocolViolation

API_VERSIONS_KEY = 18

_FIXED = struct.Struct(">hhih")
_CORRELATION = struct.Struct(">i")


@dataclass(frozen=True, slots=True)
class RequestHeader:
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None


def parse_request_header(frame: bytes | memoryview) -> tuple[RequestHeader, int]:
    """Header fields common to v1 and v2, and the offset where the rest begins.
    Tagged fields of a v2 header are skipped by `skip_tagged_fields` once the
    caller knows the API is flexible."""
    if len(frame) < _FIXED.size:
        raise ProtocolViolation(f"request of {len(frame)} bytes is shorter than a header")
    api_key, api_version, correlation_id, client_len = _FIXED.unpack_from(frame, 0)
    pos = _FIXED.size
    client_id: str | None = None
    if client_len >= 0:
        end = pos + client_len
        if end > len(frame):
            raise ProtocolViolation("client_id runs past the end of the request")
        try:
            client_id = bytes(frame[pos:end]).decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolViolation("client_id is not UTF-8") from None
        pos = end
    elif client_len != -1:
        raise ProtocolViolation(f"invalid client_id length {client_len}")
    return RequestHeader(api_key, api_version, correlation_id, client_id), pos


def read_uvarint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise ProtocolViolation("varint runs past the end of the request")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 28:
            raise ProtocolViolation("varint longer than 5 bytes")


def tagged_fields(buf: bytes | memoryview, pos: int) -> tuple[list[tuple[int, int, int]], int]:
    """(tag, start, end) of each field in the tagged-field section at `pos`, and
    the position after the section."""
    count, pos = read_uvarint(buf, pos)
    if count > len(buf) - pos:
        raise ProtocolViolation(f"{count} tagged fields in {len(buf) - pos} bytes")
    found = []
    for _ in range(count):
        tag, pos = read_uvarint(buf, pos)
        size, pos = read_uvarint(buf, pos)
        end = pos + size
        if end > len(buf):
            raise ProtocolViolation("tagged field runs past the end of the request")
        found.append((tag, pos, end))
        pos = end
    return found, pos


def skip_tagged_fields(buf: bytes | memoryview, pos: int) -> int:
    return tagged_fields(buf, pos)[1]


def response_header(correlation_id: int, flexible: bool) -> bytes:
    if flexible:
        return _CORRELATION.pack(correlation_id) + b"\x00"
    return _CORRELATION.pack(correlation_id)
