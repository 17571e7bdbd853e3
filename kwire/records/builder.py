"""Encoding and decoding the records inside a v2 batch (Kafka's DefaultRecord).

This module owns the record-level format: tests use it to make real batches the
way a client would, and the broker uses it for batches it writes itself
(internal topics, control records). The produce and fetch paths never call it.
Every codec is supported (kwire.records.compression).

A record, all varints zigzag-encoded (protobuf style):

    length varint | attributes int8 | timestampDelta varlong | offsetDelta varint
    keyLength varint (-1: null) | key | valueLength varint (-1: null) | value
    headerCount varint | per header: keyLength varint | key (UTF-8)
                                     valueLength varint (-1: null) | value
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from kwire.records.batch import (
    BATCH_HEADER_SIZE,
    CONTROL_BIT,
    LOG_OVERHEAD,
    MAGIC_V2,
    NO_PARTITION_LEADER_EPOCH,
    NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID,
    NO_SEQUENCE,
    TRANSACTIONAL_BIT,
    BatchError,
    BatchHeader,
    Buffer,
    Compression,
    pack_header,
    parse_header,
    update_crc,
)
from kwire.records.compression import compress, decompress

Header = tuple[str, bytes | None]
RecordInput = tuple[bytes | None, bytes | None, Sequence[Header]]


@dataclass(frozen=True, slots=True)
class Record:
    """One decoded record, with its absolute offset and timestamp."""

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...] = ()


def _zigzag(n: int) -> int:
    # Same result as Kafka's 32-bit and 64-bit zigzag for any value in range.
    return (n << 1) ^ (n >> 63)


def write_varint(out: bytearray, n: int) -> None:
    """Kafka's ByteUtils.writeVarint / writeVarlong (zigzag, 7 bits a byte)."""
    z = _zigzag(n)
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)


def read_varint(buf: Buffer, pos: int) -> tuple[int, int]:
    """(value, next position) of the zigzag varint at `pos`."""
    z = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise BatchError("varint runs past the end of the records")
        b = buf[pos]
        pos += 1
        z |= (b & 0x7F) << shift
        if not b & 0x80:
            return (z >> 1) ^ -(z & 1), pos
        shift += 7
        if shift > 63:
            raise BatchError("varint longer than 10 bytes")


def _write_bytes(out: bytearray, data: bytes | None) -> None:
    if data is None:
        write_varint(out, -1)
    else:
        write_varint(out, len(data))
        out += data


def _read_bytes(buf: Buffer, pos: int) -> tuple[bytes | None, int]:
    n, pos = read_varint(buf, pos)
    if n < 0:
        return None, pos
    if pos + n > len(buf):
        raise BatchError("record field runs past the end of the records")
    return bytes(buf[pos : pos + n]), pos + n


def encode_record(
    out: bytearray,
    offset_delta: int,
    timestamp_delta: int,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[Header],
) -> None:
    body = bytearray(b"\x00")  # record attributes: unused, always 0
    write_varint(body, timestamp_delta)
    write_varint(body, offset_delta)
    _write_bytes(body, key)
    _write_bytes(body, value)
    write_varint(body, len(headers))
    for name, header_value in headers:
        _write_bytes(body, name.encode())
        _write_bytes(body, header_value)
    write_varint(out, len(body))
    out += body


def build_batch(
    records: Sequence[RecordInput],
    base_timestamp: int,
    producer_id: int = NO_PRODUCER_ID,
    producer_epoch: int = NO_PRODUCER_EPOCH,
    base_sequence: int = NO_SEQUENCE,
    compression: Compression = Compression.NONE,
    transactional: bool = False,
    *,
    timestamps: Sequence[int] | None = None,
    base_offset: int = 0,
    partition_leader_epoch: int = NO_PARTITION_LEADER_EPOCH,
    control: bool = False,
) -> bytes:
    """One v2 batch as a producer would send it (CreateTime, CRC set).

    Every record gets `base_timestamp` unless `timestamps` gives one per record.
    """
    if not records:
        raise ValueError("a batch needs at least one record")
    if timestamps is None:
        timestamps = [base_timestamp] * len(records)
    if len(timestamps) != len(records):
        raise ValueError("timestamps must give one timestamp per record")
    body = bytearray()
    for delta, ((key, value, headers), ts) in enumerate(zip(records, timestamps, strict=True)):
        encode_record(body, delta, ts - base_timestamp, key, value, headers)
    payload = _compress(compression, bytes(body))
    attributes = int(compression)
    if transactional:
        attributes |= TRANSACTIONAL_BIT
    if control:
        attributes |= CONTROL_BIT
    header = BatchHeader(
        base_offset=base_offset,
        batch_length=BATCH_HEADER_SIZE - LOG_OVERHEAD + len(payload),
        partition_leader_epoch=partition_leader_epoch,
        magic=MAGIC_V2,
        crc=0,  # computed below, once the whole batch is in place
        attributes=attributes,
        last_offset_delta=len(records) - 1,
        base_timestamp=base_timestamp,
        max_timestamp=max(timestamps),
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
        records_count=len(records),
    )
    out = bytearray(header.size)
    pack_header(out, 0, header)
    out[BATCH_HEADER_SIZE:] = payload
    update_crc(out, 0)
    return bytes(out)


def decode_records(batch: Buffer) -> list[Record]:
    """The records of one v2 batch, with absolute offsets."""
    header = parse_header(batch)
    if len(batch) < header.size:
        raise BatchError(f"batch of {header.size} bytes truncated to {len(batch)}")
    payload = _decompress(header.compression, bytes(batch[BATCH_HEADER_SIZE : header.size]))
    records: list[Record] = []
    pos = 0
    for _ in range(header.records_count):
        length, pos = read_varint(payload, pos)
        end = pos + length
        if length < 0 or end > len(payload):
            raise BatchError("record length runs past the end of the records")
        record, pos = _decode_record(payload, pos + 1, header.base_offset, header.base_timestamp)
        if pos != end:
            raise BatchError("record length does not match its fields")
        records.append(record)
    if pos != len(payload):
        raise BatchError("bytes left after the last record")
    return records


def _decode_record(
    buf: bytes, pos: int, base_offset: int, base_timestamp: int
) -> tuple[Record, int]:
    # `pos` is just past the record's attributes byte, which carries nothing.
    timestamp_delta, pos = read_varint(buf, pos)
    offset_delta, pos = read_varint(buf, pos)
    key, pos = _read_bytes(buf, pos)
    value, pos = _read_bytes(buf, pos)
    count, pos = read_varint(buf, pos)
    headers: list[Header] = []
    for _ in range(count):
        name, pos = _read_bytes(buf, pos)
        if name is None:
            raise BatchError("record header key is null")
        header_value, pos = _read_bytes(buf, pos)
        headers.append((name.decode(), header_value))
    record = Record(
        base_offset + offset_delta, base_timestamp + timestamp_delta, key, value, tuple(headers)
    )
    return record, pos


def _compress(compression: Compression, data: bytes) -> bytes:
    return compress(compression, data)


def _decompress(compression: Compression, data: bytes) -> bytes:
    return decompress(compression, data)


# Control records (KIP-98): the key is int16 version 0 + int16 type; an end
# transaction marker's value is int16 version 0 + int32 coordinator epoch
# (Kafka's ControlRecordType and EndTransactionMarker).
CONTROL_TYPE_ABORT = 0
CONTROL_TYPE_COMMIT = 1
_CONTROL_KEY = struct.Struct(">hh")
_END_TXN_VALUE = struct.Struct(">hi")


@dataclass(frozen=True, slots=True)
class EndTxnMarker:
    """The record of a transaction marker's control batch."""

    commit: bool
    coordinator_epoch: int


def build_end_txn_marker(
    producer_id: int, producer_epoch: int, coordinator_epoch: int, commit: bool, timestamp: int
) -> bytes:
    """One control batch holding one end transaction marker, as Kafka's
    MemoryRecords.withEndTransactionMarker writes it: uncompressed, transactional
    and control bits, no sequence, the marker's record at offset delta 0."""
    key = _CONTROL_KEY.pack(0, CONTROL_TYPE_COMMIT if commit else CONTROL_TYPE_ABORT)
    value = _END_TXN_VALUE.pack(0, coordinator_epoch)
    return build_batch([(key, value, ())], timestamp, producer_id=producer_id,
                       producer_epoch=producer_epoch, transactional=True, control=True)


def read_end_txn_marker(batch: Buffer) -> EndTxnMarker | None:
    """The marker in a control batch; None when the batch is empty (the cleaner
    emptied it) or its first record is not a COMMIT/ABORT marker. Raises
    BatchError when the record cannot be read."""
    records = decode_records(batch)
    if not records:
        return None
    key, value = records[0].key, records[0].value
    if key is None or len(key) < _CONTROL_KEY.size:
        raise BatchError("control record without a valid key")
    _version, control_type = _CONTROL_KEY.unpack_from(key)
    if control_type not in (CONTROL_TYPE_ABORT, CONTROL_TYPE_COMMIT):
        return None
    if value is None or len(value) < _END_TXN_VALUE.size:
        raise BatchError("end transaction marker without a valid value")
    _value_version, coordinator_epoch = _END_TXN_VALUE.unpack_from(value)
    return EndTxnMarker(control_type == CONTROL_TYPE_COMMIT, coordinator_epoch)
