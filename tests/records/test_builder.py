"""Record encoding: varints, round trips, and byte equality with kafka-python's
independent v2 batch builder."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kafka.record.default_records import (  # type: ignore[import-untyped]
    DefaultRecordBatch,
    DefaultRecordBatchBuilder,
)

from kwire.records.batch import BatchError, Compression, parse_header, validate_produce_batch
from kwire.records.builder import (
    Record,
    build_batch,
    decode_records,
    read_varint,
    write_varint,
)

INT64 = st.integers(-(2**63), 2**63 - 1)
headers_st = st.lists(st.tuples(st.text(max_size=8), st.none() | st.binary(max_size=8)), max_size=3)
record_st = st.tuples(
    st.none() | st.binary(max_size=32), st.none() | st.binary(max_size=64), headers_st
)


def varint(n: int) -> bytes:
    out = bytearray()
    write_varint(out, n)
    return bytes(out)


def test_varint_known_encodings() -> None:
    # Zigzag as in Kafka's ByteUtils: 0, -1, 1, -2, ... map to 0, 1, 2, 3, ...
    assert varint(0) == b"\x00"
    assert varint(-1) == b"\x01"
    assert varint(1) == b"\x02"
    assert varint(63) == b"\x7e"
    assert varint(-64) == b"\x7f"
    assert varint(64) == b"\x80\x01"
    assert varint(300) == b"\xd8\x04"
    assert varint(-(2**31)) == b"\xff\xff\xff\xff\x0f"


@given(INT64)
def test_varint_round_trip(n: int) -> None:
    encoded = varint(n)
    assert read_varint(b"\x09" + encoded, 1) == (n, 1 + len(encoded))


def test_truncated_varint_raises() -> None:
    with pytest.raises(BatchError):
        read_varint(b"\x80\x80", 0)


@given(
    st.lists(record_st, min_size=1, max_size=8),
    st.integers(0, 2**40),
    st.sampled_from([Compression.NONE, Compression.GZIP]),
    st.integers(-1, 2**40),
    st.integers(0, 2**15 - 1),
    st.integers(0, 2**31 - 1),
    st.data(),
)
def test_build_decode_round_trip(
    records: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]],
    base_ts: int,
    compression: Compression,
    producer_id: int,
    producer_epoch: int,
    base_sequence: int,
    data: st.DataObject,
) -> None:
    deltas = data.draw(
        st.lists(st.integers(0, 10**6), min_size=len(records), max_size=len(records))
    )
    timestamps = [base_ts + d for d in deltas]
    if producer_id < 0:
        producer_epoch, base_sequence = -1, -1
    batch = build_batch(
        records,
        base_ts,
        producer_id,
        producer_epoch,
        base_sequence,
        compression,
        timestamps=timestamps,
    )
    header = validate_produce_batch(batch)
    assert header == parse_header(batch)
    assert header.size == len(batch)
    assert header.records_count == len(records) and header.compression is compression
    assert header.max_timestamp == max(timestamps)
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (
        producer_id,
        producer_epoch,
        base_sequence,
    )
    expected = [
        Record(i, ts, key, value, tuple(hs))
        for i, ((key, value, hs), ts) in enumerate(zip(records, timestamps, strict=True))
    ]
    assert decode_records(batch) == expected


@given(st.lists(record_st, min_size=1, max_size=6), st.integers(0, 2**40))
def test_bytes_equal_kafka_python_builder(
    records: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]], ts: int
) -> None:
    theirs = DefaultRecordBatchBuilder(2, 0, False, 77, 3, 12, 1 << 30)
    for i, (key, value, headers) in enumerate(records):
        theirs.append(i, ts + i, key, value, headers)
    mine = build_batch(
        records,
        ts,
        77,
        3,
        12,
        timestamps=[ts + i for i in range(len(records))],
        partition_leader_epoch=0,  # kafka-python writes 0 where Java producers write -1
    )
    assert mine == bytes(theirs.build())


def test_kafka_python_reads_gzip_batch() -> None:
    batch = build_batch(
        [(b"a", b"1", [("h", None)]), (None, None, [])], 1000, compression=Compression.GZIP
    )
    theirs = DefaultRecordBatch(batch)
    assert theirs.validate_crc()
    got = [(r.offset, r.timestamp, r.key, r.value, r.headers) for r in theirs]
    assert got == [(0, 1000, b"a", b"1", [("h", None)]), (1, 1000, None, None, [])]


def test_control_and_offsets_options() -> None:
    batch = build_batch(
        [(b"\x00\x00\x00\x01", b"\x00\x00\x00\x00\x00\x05", [])],
        5,
        producer_id=4,
        producer_epoch=2,
        transactional=True,
        control=True,
        base_offset=40,
        partition_leader_epoch=3,
    )
    h = parse_header(batch)
    assert h.is_control and h.is_transactional
    assert (h.base_offset, h.partition_leader_epoch) == (40, 3)
    assert decode_records(batch)[0].offset == 40


def test_builder_refuses_what_it_cannot_build() -> None:
    with pytest.raises(ValueError):
        build_batch([], 0)
    with pytest.raises(ValueError):
        build_batch([(None, b"v", [])], 0, timestamps=[1, 2])


@pytest.mark.parametrize("codec", list(Compression))
def test_builder_round_trips_every_codec(codec: Compression) -> None:
    batch = build_batch([(b"k", b"v" * 100, [("h", b"x")]), (None, None, [])], 5,
                        compression=codec)
    assert parse_header(batch).compression == codec
    records = decode_records(batch)
    assert [(r.key, r.value, r.headers) for r in records] == [
        (b"k", b"v" * 100, (("h", b"x"),)), (None, None, ())]


def test_decode_rejects_truncated_and_inconsistent_batches() -> None:
    batch = build_batch([(b"k", b"v", [])], 0)
    with pytest.raises(BatchError):
        decode_records(batch[:-1])
    lying = bytearray(batch)
    lying[57:61] = (2).to_bytes(4, "big")  # records_count says 2, one is there
    with pytest.raises(BatchError):
        decode_records(bytes(lying))
