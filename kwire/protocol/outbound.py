"""Requests a broker sends to another broker, and their responses (sans-IO).

The other direction of codec.py: the broker encodes a request header and a kio
request entity built from a plain dict, and decodes the response frame into the
kio response entity of that version. Used by broker/inter_broker.py (Kafka's
TransactionMarkerChannelManager sends WriteTxnMarkers the same way).
"""

from __future__ import annotations

import io
import struct
from typing import Any

from kio.serial import entity_writer

from kwire.errors import ProtocolViolation
from kwire.protocol.codec import Body, build, is_flexible, load_request_schema, load_response_schema
from kwire.protocol.headers import API_VERSIONS_KEY, skip_tagged_fields
from kwire.protocol.reader import entity_reader

_HEADER = struct.Struct(">hhi")
_INT16 = struct.Struct(">h")
_CORRELATION = struct.Struct(">i")


def encode_request(api_key: int, version: int, correlation_id: int, client_id: str | None,
                   body: Body) -> bytes:
    """Request header (v1, or v2 with an empty tagged-field section for a flexible
    version) followed by the request body; without the 4-byte size prefix."""
    out = io.BytesIO()
    out.write(_HEADER.pack(api_key, version, correlation_id))
    if client_id is None:
        out.write(_INT16.pack(-1))
    else:
        raw = client_id.encode("utf-8")
        out.write(_INT16.pack(len(raw)))
        out.write(raw)
    if is_flexible(api_key, version):
        out.write(b"\x00")
    cls = load_request_schema(api_key, version)
    entity_writer(cls)(out, build(cls, body))
    return out.getvalue()


def response_correlation_id(frame: bytes | memoryview) -> int:
    if len(frame) < _CORRELATION.size:
        raise ProtocolViolation(f"response of {len(frame)} bytes is shorter than a header")
    (correlation_id,) = _CORRELATION.unpack_from(frame, 0)
    return int(correlation_id)


def decode_response(api_key: int, version: int, frame: bytes | memoryview) -> Any:
    """The kio response entity in `frame` (a whole response without its size
    prefix). Response header v1 (flexible versions; never ApiVersions, whose
    header is always v0) carries tagged fields after the correlation id."""
    pos = _CORRELATION.size
    if len(frame) < pos:
        raise ProtocolViolation(f"response of {len(frame)} bytes is shorter than a header")
    if is_flexible(api_key, version) and api_key != API_VERSIONS_KEY:
        pos = skip_tagged_fields(frame, pos)
    try:
        entity, _end = entity_reader(load_response_schema(api_key, version))(frame, pos)
    except ProtocolViolation:
        raise
    except Exception as exc:  # kio's primitive readers raise several types for bad input
        raise ProtocolViolation(f"cannot decode response api_key={api_key} v{version}: "
                                f"{exc}") from None
    return entity
