import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kwire.errors import ProtocolViolation
from kwire.protocol.codec import build, decode_request, encode_response, error_body, is_flexible
from kwire.protocol.headers import parse_request_header, response_header, skip_tagged_fields


def _header_v1(api_key: int, version: int, correlation_id: int, client_id: bytes | None) -> bytes:
    out = struct.pack(">hhi", api_key, version, correlation_id)
    if client_id is None:
        return out + struct.pack(">h", -1)
    return out + struct.pack(">h", len(client_id)) + client_id


def test_header_v1_and_v2() -> None:
    frame = _header_v1(3, 12, 7, b"rdkafka") + b"\x00" + b"rest"
    header, pos = parse_request_header(frame)
    assert (header.api_key, header.api_version, header.correlation_id) == (3, 12, 7)
    assert header.client_id == "rdkafka"
    assert is_flexible(3, 12)
    assert frame[skip_tagged_fields(frame, pos):] == b"rest"
    header, _ = parse_request_header(_header_v1(18, 0, 1, None))
    assert header.client_id is None


@pytest.mark.parametrize("frame", [b"", b"\x00\x03\x00", _header_v1(3, 1, 1, b"abc")[:-1],
                                   struct.pack(">hhih", 3, 1, 1, -5)])
def test_malformed_headers_are_protocol_violations(frame: bytes) -> None:
    with pytest.raises(ProtocolViolation):
        parse_request_header(frame)


@given(st.binary(max_size=64))
def test_random_bytes_never_escape_as_other_errors(data: bytes) -> None:
    try:
        header, pos = parse_request_header(data)
        skip_tagged_fields(data, pos)
        decode_request(3, 12, data, pos)
    except ProtocolViolation:
        pass


def test_response_headers() -> None:
    assert response_header(5, False) == b"\x00\x00\x00\x05"
    assert response_header(5, True) == b"\x00\x00\x00\x05\x00"


def test_build_drops_fields_the_version_lacks_and_converts_milliseconds() -> None:
    body = {"throttle_time": 250, "error_code": 0,
            "api_keys": [{"api_key": 0, "min_version": 0, "max_version": 13}],
            "supported_features": ()}
    v0 = encode_response(18, 0, body)
    # v0: error_code int16, array of (key, min, max); no throttle time
    assert v0 == b"\x00\x00" + b"\x00\x00\x00\x01" + b"\x00\x00\x00\x00\x00\x0d"
    v1 = encode_response(18, 1, body)
    assert v1.endswith(b"\x00\x00\x00\xfa")


def test_build_refuses_missing_required_field() -> None:
    from kio.index import load_response_schema

    with pytest.raises(KeyError, match="api_keys"):
        build(load_response_schema(18, 3), {"error_code": 0})


def test_error_body_for_api_with_top_level_error() -> None:
    body = error_body(22, 4, 42, None)
    assert body["error_code"] == 42
    assert encode_response(22, 4, body)
    with pytest.raises(KeyError):
        error_body(0, 9, 42, None)
