"""Kafka's binary `__transaction_state` records (TransactionLogKey/Value).

Byte format only. A record is a key and a value, each prefixed by an int16
version (Kafka's CoordinatorRecordSerde); a None value is a tombstone (the
transactional id expired). Fields follow
transaction-coordinator/src/main/resources/common/message/:

    TransactionLogKey    v0   transactional_id string
    TransactionLogValue  v0   producer_id int64, producer_epoch int16,
                              transaction_timeout_ms int32, transaction_status int8,
                              transaction_partitions [topic string, partition_ids [int32]]?
                              (null when empty), last_update_timestamp_ms int64,
                              start_timestamp_ms int64
                         v1   v0, flexible; tagged: 0 previous_producer_id int64,
                              1 next_producer_id int64, 2 client_transaction_version int16

Kafka writes v0 unless transaction version 2 is enabled, which kwire does not
advertise; both versions are read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from kwire.coordinator.record_io import Reader, RecordDecodeError, Writer

KEY_VERSION = 0
VALUE_VERSION = 0
_FLEXIBLE_VALUE_VERSION = 1
_PREVIOUS_PRODUCER_ID_TAG = 0
_NEXT_PRODUCER_ID_TAG = 1
_CLIENT_TRANSACTION_VERSION_TAG = 2


@dataclass(frozen=True, slots=True)
class TransactionLogValue:
    producer_id: int
    producer_epoch: int
    transaction_timeout_ms: int
    transaction_status: int
    # (topic, partition) pairs, sorted, as the transaction holds them.
    partitions: tuple[tuple[str, int], ...]
    last_update_timestamp_ms: int
    start_timestamp_ms: int
    previous_producer_id: int = -1
    next_producer_id: int = -1
    client_transaction_version: int = 0


def encode_key(transactional_id: str) -> bytes:
    w = Writer()
    w.int16(KEY_VERSION)
    w.string(transactional_id)
    return bytes(w.buf)


def decode_key(data: bytes) -> str | None:
    """The transactional id, or None for a key of another version (a newer
    Kafka's record type kwire does not know: skipped, as Kafka skips them)."""
    r = Reader(data)
    if r.int16() != KEY_VERSION:
        return None
    return r.string()


def encode_value(value: TransactionLogValue) -> bytes:
    w = Writer()
    w.int16(VALUE_VERSION)
    w.int64(value.producer_id)
    w.int16(value.producer_epoch)
    w.int32(value.transaction_timeout_ms)
    w.int8(value.transaction_status)
    by_topic: dict[str, list[int]] = {}
    for topic, partition in value.partitions:
        by_topic.setdefault(topic, []).append(partition)
    # Kafka writes a null array for a transaction without partitions.
    w.array_len(len(by_topic) if by_topic else None)
    for topic, partitions in by_topic.items():
        w.string(topic)
        w.array_len(len(partitions))
        for p in partitions:
            w.int32(p)
    w.int64(value.last_update_timestamp_ms)
    w.int64(value.start_timestamp_ms)
    return bytes(w.buf)


def decode_value(data: bytes) -> TransactionLogValue:
    head = Reader(data)
    version = head.int16()
    if version not in (VALUE_VERSION, _FLEXIBLE_VALUE_VERSION):
        raise RecordDecodeError(f"unknown TransactionLogValue version {version}")
    r = Reader(data, flexible=version >= _FLEXIBLE_VALUE_VERSION)
    r.pos = head.pos
    producer_id = r.int64()
    producer_epoch = r.int16()
    timeout_ms = r.int32()
    status = r.int8()
    partitions: list[tuple[str, int]] = []
    for _ in range(max(0, r.nullable_array_len())):
        topic = r.string()
        partitions.extend((topic, r.int32()) for _ in range(r.array_len()))
        r.tags()
    last_update = r.int64()
    start = r.int64()
    tags = r.tags()
    return TransactionLogValue(
        producer_id, producer_epoch, timeout_ms, status, tuple(sorted(partitions)),
        last_update, start,
        previous_producer_id=_tagged(tags, _PREVIOUS_PRODUCER_ID_TAG, ">q", -1),
        next_producer_id=_tagged(tags, _NEXT_PRODUCER_ID_TAG, ">q", -1),
        client_transaction_version=_tagged(tags, _CLIENT_TRANSACTION_VERSION_TAG, ">h", 0),
    )


def _tagged(tags: dict[int, bytes], tag: int, fmt: str, default: int) -> int:
    data = tags.get(tag)
    if data is None:
        return default
    if len(data) != struct.calcsize(fmt):
        raise RecordDecodeError(f"tagged field {tag} has {len(data)} bytes")
    return int(struct.unpack(fmt, data)[0])
