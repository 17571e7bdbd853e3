"""Record-level ListOffsets lookups inside one batch: first record at or after a
timestamp, and the record with the max timestamp, for every codec, checked
against brute force and against kafka-python's and aiokafka's batch encoders and
kafka-python's reader. Real client batches are in test_compression.py."""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Sequence

import pytest
from aiokafka.record.default_records import (  # type: ignore[import-untyped]
    DefaultRecordBatchBuilder as AioBatchBuilder,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.record.default_records import (  # type: ignore[import-untyped]
    DefaultRecordBatch,
    DefaultRecordBatchBuilder,
)

from kwire.records.batch import (
    BATCH_HEADER_SIZE,
    CONTROL_BIT,
    LOG_OVERHEAD,
    MAGIC_V2,
    BatchError,
    BatchHeader,
    Compression,
    pack_header,
    parse_header,
    set_log_append_time,
    update_crc,
)
from kwire.records.builder import build_batch, encode_record
from kwire.records.compression import compress
from kwire.records.timestamps import (
    first_record_at_or_after,
    max_timestamp_record,
    record_timestamps,
)

CODECS = list(Compression)
T = 1_700_000_000_000


def make_batch(
    timestamps: Sequence[int],
    codec: Compression = Compression.NONE,
    *,
    base_offset: int = 0,
    offset_deltas: Sequence[int] | None = None,
    base_timestamp: int | None = None,
    attributes: int = 0,
    value: bytes = b"v" * 20,
) -> bytes:
    """A v2 batch with one record per timestamp (offset deltas 0.. unless given:
    a compacted batch keeps its base offset and last offset delta, with gaps)."""
    if offset_deltas is None:
        offset_deltas = range(len(timestamps))
    if base_timestamp is None:
        base_timestamp = timestamps[0] if timestamps else T
    body = bytearray()
    for delta, ts in zip(offset_deltas, timestamps, strict=True):
        encode_record(body, delta, ts - base_timestamp, b"k", value, [("h", b"x")])
    payload = compress(codec, bytes(body))
    header = BatchHeader(
        base_offset=base_offset,
        batch_length=BATCH_HEADER_SIZE - LOG_OVERHEAD + len(payload),
        partition_leader_epoch=0,
        magic=MAGIC_V2,
        crc=0,
        attributes=attributes | codec,
        last_offset_delta=max(offset_deltas, default=0),
        base_timestamp=base_timestamp,
        max_timestamp=max(timestamps, default=-1),
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        records_count=len(timestamps),
    )
    out = bytearray(header.size)
    pack_header(out, 0, header)
    out[BATCH_HEADER_SIZE:] = payload
    update_crc(out, 0)
    return bytes(out)


def brute_first(
    records: Sequence[tuple[int, int]], target: int, min_offset: int = 0
) -> tuple[int, int] | None:
    return next(((o, t) for o, t in records if t >= target and o >= min_offset), None)


def brute_max(records: Sequence[tuple[int, int]]) -> tuple[int, int] | None:
    if not records:
        return None
    top = max(t for _, t in records)
    return next((o, t) for o, t in records if t == top)


def kafka_python_view(batch: bytes) -> list[tuple[int, int]]:
    return [(r.offset, r.timestamp) for r in DefaultRecordBatch(batch)]


# -- examples ------------------------------------------------------------------


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
def test_out_of_order_timestamps(codec: Compression) -> None:
    deltas = [50, 10, 30, 10, 70, 70, 20]
    batch = make_batch([T + d for d in deltas], codec, base_offset=100)
    assert list(record_timestamps(batch)) == [(100 + i, T + d) for i, d in enumerate(deltas)]
    assert first_record_at_or_after(batch, 0) == (100, T + 50)
    assert first_record_at_or_after(batch, T + 50) == (100, T + 50)
    assert first_record_at_or_after(batch, T + 51) == (104, T + 70)
    assert first_record_at_or_after(batch, T + 70) == (104, T + 70)
    assert first_record_at_or_after(batch, T + 71) is None
    assert first_record_at_or_after(batch, T + 5, min_offset=101) == (101, T + 10)
    assert first_record_at_or_after(batch, T + 5, min_offset=107) is None
    assert max_timestamp_record(batch) == (104, T + 70)


def test_base_timestamp_need_not_be_the_minimum() -> None:
    # Deltas from baseTimestamp may be negative (zigzag varlongs).
    batch = make_batch([T - 5000, T + 3, T - 2**40], base_timestamp=T)
    assert list(record_timestamps(batch)) == [(0, T - 5000), (1, T + 3), (2, T - 2**40)]
    assert max_timestamp_record(batch) == (1, T + 3)
    assert first_record_at_or_after(batch, T - 2**41) == (0, T - 5000)


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
def test_log_append_time(codec: Compression) -> None:
    buf = bytearray(make_batch([T + 50, T + 10, T + 90], codec, base_offset=7))
    set_log_append_time(buf, 0, T + 500)
    batch = bytes(buf)
    assert parse_header(batch).is_log_append_time
    assert list(record_timestamps(batch)) == [(7, T + 500), (8, T + 500), (9, T + 500)]
    assert list(record_timestamps(batch)) == kafka_python_view(batch)
    assert first_record_at_or_after(batch, T + 95) == (7, T + 500)
    assert first_record_at_or_after(batch, T + 500) == (7, T + 500)
    assert first_record_at_or_after(batch, T + 501) is None
    assert first_record_at_or_after(batch, 0, min_offset=9) == (9, T + 500)
    assert max_timestamp_record(batch) == (7, T + 500)


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
def test_compacted_batch_with_offset_gaps(codec: Compression) -> None:
    # Compaction removed offsets 10, 12 and 13; the batch keeps base offset 10.
    batch = make_batch([T + 5, T + 9, T + 7], codec, base_offset=10, offset_deltas=[1, 4, 5])
    assert list(record_timestamps(batch)) == [(11, T + 5), (14, T + 9), (15, T + 7)]
    assert first_record_at_or_after(batch, T + 6) == (14, T + 9)
    assert first_record_at_or_after(batch, T + 6, min_offset=15) == (15, T + 7)
    assert max_timestamp_record(batch) == (14, T + 9)
    buf = bytearray(batch)
    set_log_append_time(buf, 0, T + 100)
    assert max_timestamp_record(buf) == (11, T + 100)
    assert first_record_at_or_after(buf, T) == (11, T + 100)


def test_batch_without_records() -> None:
    # Compaction may keep an empty batch for its producer state.
    batch = make_batch([])
    assert list(record_timestamps(batch)) == []
    assert first_record_at_or_after(batch, 0) is None
    assert max_timestamp_record(batch) is None


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
def test_control_batches(codec: Compression) -> None:
    batch = make_batch([T + 9], codec, base_offset=42, attributes=CONTROL_BIT | 0x10)
    assert parse_header(batch).is_control
    assert first_record_at_or_after(batch, T) is None
    assert max_timestamp_record(batch) is None
    # Kafka's own searches do not skip them.
    assert first_record_at_or_after(batch, T, skip_control=False) == (42, T + 9)
    assert max_timestamp_record(batch, skip_control=False) == (42, T + 9)
    marker = build_batch(
        [(b"\x00\x00\x00\x01", b"\x00\x00\x00\x00\x00\x05", [])],
        T + 3, producer_id=1, producer_epoch=0, transactional=True, control=True,
    )
    assert first_record_at_or_after(marker, T) is None
    assert first_record_at_or_after(marker, T, skip_control=False) == (0, T + 3)


def test_reads_only_as_far_as_needed() -> None:
    batch = bytearray(make_batch([T + 1, T + 2, T + 3]))
    # Break the last record's length varint: records before it still answer.
    first_len = batch[BATCH_HEADER_SIZE] >> 1
    last = BATCH_HEADER_SIZE + 2 * (first_len + 1)
    assert batch[last] >> 1 == first_len
    batch[last] = 0x7E  # 63 bytes: past the end
    assert first_record_at_or_after(batch, T + 2) == (1, T + 2)
    with pytest.raises(BatchError):
        first_record_at_or_after(batch, T + 3)
    with pytest.raises(BatchError):
        max_timestamp_record(batch)


def test_bad_batches() -> None:
    batch = make_batch([T, T + 1], Compression.GZIP)
    with pytest.raises(BatchError):
        first_record_at_or_after(batch[:-1], T)  # truncated
    with pytest.raises(BatchError):
        first_record_at_or_after(batch[:30], T)  # header cut short
    wrong_magic = bytearray(batch)
    wrong_magic[16] = 1
    with pytest.raises(BatchError):
        max_timestamp_record(wrong_magic)
    codec_5 = bytearray(batch)
    struct.pack_into(">h", codec_5, 21, 5)
    with pytest.raises(BatchError):
        max_timestamp_record(codec_5)
    garbage = bytearray(make_batch([T, T + 1]))
    garbage[BATCH_HEADER_SIZE:] = b"\xff" * (len(garbage) - BATCH_HEADER_SIZE)
    with pytest.raises(BatchError):
        max_timestamp_record(garbage)
    # More records announced than the payload holds.
    header = parse_header(batch)
    overcount = bytearray(batch)
    pack_header(overcount, 0, dataclasses.replace(header, records_count=3))
    with pytest.raises(BatchError):
        max_timestamp_record(overcount)


# -- client encoders -----------------------------------------------------------


@pytest.mark.parametrize("builder_cls", [DefaultRecordBatchBuilder, AioBatchBuilder],
                         ids=["kafka-python", "aiokafka"])
@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
def test_client_encoders(builder_cls: type, codec: Compression) -> None:
    deltas = [300, -20, 0, 300, 7, 299, -21, 150]
    builder = builder_cls(2, int(codec), False, -1, -1, -1, 2**20)
    for i, d in enumerate(deltas):
        builder.append(i, timestamp=T + d, key=b"key", value=b"value " * 30, headers=[])
    batch = bytes(builder.build())
    assert parse_header(batch).compression == codec  # compressible, so not sent plain
    records = [(i, T + d) for i, d in enumerate(deltas)]
    assert list(record_timestamps(batch)) == records
    assert kafka_python_view(batch) == records
    for target in sorted({T + d + k for d in deltas for k in (-1, 0, 1)}):
        assert first_record_at_or_after(batch, target) == brute_first(records, target)
    assert max_timestamp_record(batch) == (0, T + 300)


# -- properties ----------------------------------------------------------------

timestamps_st = st.lists(st.integers(T - 1000, T + 1000), max_size=40)


@settings(max_examples=300, deadline=None)
@given(
    timestamps=timestamps_st,
    target=st.integers(T - 1100, T + 1100),
    codec=st.sampled_from(CODECS),
    base_offset=st.integers(0, 2**40),
    min_skip=st.integers(0, 45),
)
def test_first_record_matches_brute_force(
    timestamps: list[int], target: int, codec: Compression, base_offset: int, min_skip: int
) -> None:
    batch = make_batch(timestamps, codec, base_offset=base_offset)
    records = [(base_offset + i, ts) for i, ts in enumerate(timestamps)]
    assert first_record_at_or_after(batch, target) == brute_first(records, target)
    min_offset = base_offset + min_skip
    assert first_record_at_or_after(batch, target, min_offset=min_offset) == brute_first(
        records, target, min_offset
    )
    assert max_timestamp_record(batch) == brute_max(records)
    if records:
        assert kafka_python_view(batch) == records


@settings(max_examples=100, deadline=None)
@given(
    timestamps=st.lists(st.integers(-(2**50), 2**50), min_size=1, max_size=20),
    base_timestamp=st.integers(-(2**50), 2**50),
    gaps=st.lists(st.integers(1, 2**20), min_size=20, max_size=20),
    lat=st.none() | st.integers(0, 2**50),
    target=st.integers(-(2**51), 2**51),
)
def test_wide_deltas_gaps_and_log_append_time(
    timestamps: list[int], base_timestamp: int, gaps: list[int], lat: int | None, target: int
) -> None:
    offset_deltas = [sum(gaps[: i + 1]) for i in range(len(timestamps))]
    buf = bytearray(make_batch(
        timestamps, Compression.ZSTD, base_offset=5, offset_deltas=offset_deltas,
        base_timestamp=base_timestamp,
    ))
    if lat is not None:
        set_log_append_time(buf, 0, lat)
        timestamps = [lat] * len(timestamps)
    records = [(5 + d, ts) for d, ts in zip(offset_deltas, timestamps, strict=True)]
    assert list(record_timestamps(buf)) == records
    assert first_record_at_or_after(buf, target) == brute_first(records, target)
    assert max_timestamp_record(buf) == brute_max(records)
