"""Batch header parsing, produce validation (every error code), in-place rewrites,
and walking stored batches with torn tails."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kwire.errors import ErrorCode
from kwire.records.batch import (
    BATCH_HEADER_SIZE,
    INT32_MAX,
    LOG_OVERHEAD,
    MAGIC_V2,
    NO_SEQUENCE,
    BatchError,
    Compression,
    InvalidBatch,
    assign_offsets,
    compute_crc,
    increment_sequence,
    iter_batches,
    pack_header,
    parse_header,
    set_log_append_time,
    update_crc,
    valid_prefix,
    validate_produce_batch,
)
from kwire.records.builder import build_batch, decode_records

TS = 1_700_000_000_000


def make(n: int = 3, **kwargs: Any) -> bytes:
    records = [(b"k%d" % i, b"value-%d" % i, [("h", b"x")]) for i in range(n)]
    return build_batch(records, TS, **kwargs)


def patched(batch: bytes, *, fix_crc: bool = True, **fields: Any) -> bytes:
    """The batch with header fields replaced, CRC recomputed unless told not to."""
    buf = bytearray(batch)
    pack_header(buf, 0, dataclasses.replace(parse_header(buf), **fields))
    if fix_crc:
        update_crc(buf, 0)
    return bytes(buf)


def crc_ok(buf: bytes | bytearray, pos: int = 0) -> bool:
    header = parse_header(buf, pos)
    return compute_crc(buf, pos, header.size) == header.crc


def error_of(buf: bytes, **kwargs: Any) -> ErrorCode:
    with pytest.raises(InvalidBatch) as info:
        validate_produce_batch(buf, **kwargs)
    return info.value.error_code


# -- parsing ------------------------------------------------------------------


def test_parse_header_fields_and_properties() -> None:
    batch = make(3, producer_id=42, producer_epoch=7, base_sequence=10, transactional=True)
    h = parse_header(batch)
    assert (h.base_offset, h.magic, h.partition_leader_epoch) == (0, MAGIC_V2, -1)
    assert h.batch_length == len(batch) - LOG_OVERHEAD and h.size == len(batch)
    assert h.crc == compute_crc(batch, 0, len(batch))
    assert (h.last_offset_delta, h.records_count, h.last_offset, h.next_offset) == (2, 3, 2, 3)
    assert (h.base_timestamp, h.max_timestamp) == (TS, TS)
    assert (h.producer_id, h.producer_epoch, h.base_sequence) == (42, 7, 10)
    assert h.has_producer_id and h.is_transactional
    assert not h.is_control and not h.is_log_append_time
    assert h.compression is Compression.NONE
    assert h.last_sequence == 12


def test_parse_header_at_position_and_too_short() -> None:
    batch = make(1)
    assert parse_header(b"\x00" * 5 + batch, 5) == parse_header(batch)
    with pytest.raises(BatchError) as info:
        parse_header(batch[: BATCH_HEADER_SIZE - 1])
    assert info.value.error_code == ErrorCode.CORRUPT_MESSAGE
    with pytest.raises(BatchError):
        parse_header(batch, len(batch) - 10)


def test_flags_and_unknown_codec() -> None:
    h = parse_header(make(1, compression=Compression.GZIP))
    assert h.compression is Compression.GZIP
    h = parse_header(patched(make(1), attributes=0x20 | 0x08))
    assert h.is_control and h.is_log_append_time and not h.has_producer_id
    with pytest.raises(ValueError):
        _ = parse_header(patched(make(1), attributes=5)).compression


def test_last_sequence_wraps_like_kafka() -> None:
    h = parse_header(make(3, producer_id=1, producer_epoch=0, base_sequence=INT32_MAX - 1))
    assert h.last_sequence == 0  # MAX-1, MAX, 0
    assert parse_header(make(3)).last_sequence == NO_SEQUENCE
    assert increment_sequence(INT32_MAX, 1) == 0
    assert increment_sequence(5, 4) == 9


# -- produce validation ---------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"compression": Compression.GZIP},
        {"producer_id": 9, "producer_epoch": 0, "base_sequence": 0},
        {"producer_id": 9, "producer_epoch": 0, "base_sequence": 0, "transactional": True},
    ],
)
def test_valid_batches_pass(kwargs: dict[str, Any]) -> None:
    batch = make(4, **kwargs)
    for buf in (batch, bytearray(batch), memoryview(batch)):
        assert validate_produce_batch(buf) == parse_header(batch)


def test_no_complete_batch_is_invalid_record() -> None:
    batch = make()
    assert error_of(b"") == ErrorCode.INVALID_RECORD
    assert error_of(batch[:11]) == ErrorCode.INVALID_RECORD
    assert error_of(batch[:-1]) == ErrorCode.INVALID_RECORD


def test_impossible_length_or_magic_is_corrupt() -> None:
    batch = make()
    assert error_of(patched(batch, batch_length=13, fix_crc=False)) == ErrorCode.CORRUPT_MESSAGE
    assert error_of(patched(batch, magic=3)) == ErrorCode.CORRUPT_MESSAGE
    assert error_of(patched(batch, magic=-1)) == ErrorCode.CORRUPT_MESSAGE


def test_old_magic_is_invalid_record() -> None:
    assert error_of(patched(make(), magic=1)) == ErrorCode.INVALID_RECORD
    assert error_of(patched(make(), magic=0)) == ErrorCode.INVALID_RECORD


def test_v2_batch_shorter_than_header_is_corrupt() -> None:
    short = bytearray(make()[:40])
    short[8:12] = (40 - LOG_OVERHEAD).to_bytes(4, "big")
    assert error_of(bytes(short)) == ErrorCode.CORRUPT_MESSAGE


def test_more_than_one_batch_is_invalid_record() -> None:
    assert error_of(make() + make()) == ErrorCode.INVALID_RECORD


def test_trailing_partial_batch_is_ignored_like_kafka() -> None:
    batch = make()
    # Kafka's batch iterator stops at a partial batch and the log trims it.
    assert validate_produce_batch(batch + b"\x00\x01\x02").size == len(batch)
    assert validate_produce_batch(batch + make()[:-1]).size == len(batch)
    # ... but a trailing length no batch can have is corrupt.
    assert error_of(batch + bytes(12)) == ErrorCode.CORRUPT_MESSAGE


def test_zstd_needs_produce_v7() -> None:
    zstd = patched(make(), attributes=int(Compression.ZSTD))
    assert error_of(zstd, produce_version=6) == ErrorCode.UNSUPPORTED_COMPRESSION_TYPE
    assert validate_produce_batch(zstd, produce_version=7).compression is Compression.ZSTD
    assert validate_produce_batch(zstd).compression is Compression.ZSTD


def test_nonzero_base_offset_is_invalid_record() -> None:
    # The base offset is outside the CRC, so the CRC is still right.
    assert error_of(patched(make(), base_offset=5, fix_crc=False)) == ErrorCode.INVALID_RECORD


def test_batch_over_max_message_bytes() -> None:
    batch = make()
    assert error_of(batch, max_message_bytes=len(batch) - 1) == ErrorCode.MESSAGE_TOO_LARGE
    assert validate_produce_batch(batch, max_message_bytes=len(batch)).size == len(batch)


def test_crc_mismatch_is_corrupt() -> None:
    batch = bytearray(make())
    batch[-1] ^= 0xFF
    assert error_of(bytes(batch)) == ErrorCode.CORRUPT_MESSAGE
    assert error_of(patched(make(), records_count=7, fix_crc=False)) == ErrorCode.CORRUPT_MESSAGE


def test_unknown_codec_is_unknown_server_error_like_kafka() -> None:
    for codec in (5, 6, 7):
        assert error_of(patched(make(), attributes=codec)) == ErrorCode.UNKNOWN_SERVER_ERROR


@pytest.mark.parametrize(
    "fields",
    [
        {"last_offset_delta": -1},  # empty offset range
        {"records_count": 0},
        {"records_count": -3},
        {"records_count": 4},  # count != lastOffsetDelta + 1
        {"last_offset_delta": 5},
        {"attributes": 0x20},  # control batch from a client
        {"producer_id": 3, "producer_epoch": 0, "base_sequence": -1},
        {"producer_id": 3, "producer_epoch": 0, "base_sequence": -7},
    ],
)
def test_batch_field_errors_are_invalid_record(fields: dict[str, Any]) -> None:
    assert error_of(patched(make(3), **fields)) == ErrorCode.INVALID_RECORD


# -- broker rewrites -------------------------------------------------------------


def test_assign_offsets_keeps_crc_valid() -> None:
    buf = bytearray(b"\xaa" * 7 + make(3))
    before = parse_header(buf, 7)
    assign_offsets(buf, 7, 1_000_000, 12)
    after = parse_header(buf, 7)
    assert (after.base_offset, after.partition_leader_epoch, after.last_offset) == (
        1_000_000,
        12,
        1_000_002,
    )
    assert after.crc == before.crc and crc_ok(buf, 7)
    assert [r.offset for r in decode_records(buf[7:])] == [1_000_000, 1_000_001, 1_000_002]


@pytest.mark.parametrize("compression", [Compression.NONE, Compression.GZIP])
def test_set_log_append_time_recomputes_crc(compression: Compression) -> None:
    buf = bytearray(make(2, compression=compression, transactional=True))
    before = parse_header(buf)
    set_log_append_time(buf, 0, TS + 999)
    after = parse_header(buf)
    assert after.is_log_append_time and after.is_transactional
    assert after.compression is compression
    assert after.max_timestamp == TS + 999 and after.base_timestamp == before.base_timestamp
    assert after.crc != before.crc and crc_ok(buf)
    assert validate_produce_batch(bytes(buf)) == after
    assert len(decode_records(buf)) == 2


# -- walking stored batches ------------------------------------------------------


def chain(sizes: list[int]) -> tuple[bytes, list[int]]:
    """Batches of the given record counts, offsets assigned; and their start positions."""
    out = bytearray()
    positions = []
    offset = 0
    for n in sizes:
        positions.append(len(out))
        batch = bytearray(make(n))
        assign_offsets(batch, 0, offset, 0)
        offset += n
        out += batch
    return bytes(out), positions


def test_iter_batches_walks_a_chain() -> None:
    buf, positions = chain([1, 4, 2])
    found = list(iter_batches(buf))
    assert [pos for pos, _ in found] == positions
    assert [h.base_offset for _, h in found] == [0, 1, 5]
    assert list(iter_batches(buf, positions[1])) == found[1:]
    assert valid_prefix(buf)[0] == len(buf)


def test_valid_prefix_stops_at_corruption() -> None:
    buf, positions = chain([1, 2, 3])
    bad_crc = bytearray(buf)
    bad_crc[positions[2] - 1] ^= 1  # last byte of the second batch
    assert valid_prefix(bad_crc)[0] == positions[1]
    bad_magic = bytearray(buf)
    bad_magic[positions[1] + 16] = 1
    assert valid_prefix(bad_magic)[0] == positions[1]
    zero_tail = buf + bytes(4096)  # pre-allocated, never written
    assert [p for p, _ in iter_batches(zero_tail)] == positions
    assert valid_prefix(zero_tail)[0] == len(buf)
    assert valid_prefix(b"")[0] == 0


@given(st.lists(st.integers(1, 5), min_size=1, max_size=6))
def test_truncation_never_yields_a_partial_batch(sizes: list[int]) -> None:
    buf, positions = chain(sizes)
    ends = [p + parse_header(buf, p).size for p in positions]
    for cut in range(len(buf) + 1):  # every torn tail, including one byte short
        torn = buf[:cut]
        whole = [p for p, end in zip(positions, ends, strict=True) if end <= cut]
        found = list(iter_batches(torn))
        assert [p for p, _ in found] == whole
        assert all(p + h.size <= cut and crc_ok(torn, p) for p, h in found)
        assert valid_prefix(torn)[0] == max([0] + [e for e in ends if e <= cut])
