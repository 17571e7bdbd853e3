"""Produce answers as Kafka 4.4 gives them for record-level refusals (record_errors,
error_message), broker-side recompression, and producer-id expiry.

Expected messages were captured from a Kafka 4.4.0 broker sent the same produce
requests (kwire/records/validator.py names the LogValidator rules).
"""

from __future__ import annotations

import datetime
import json
import struct
import uuid
from pathlib import Path
from typing import Any

import pytest
from _harness import InProcessBroker  # type: ignore[import-not-found]

from kwire.broker.partitions import PartitionManager
from kwire.broker.producer_state import Duplicate
from kwire.clock import ManualClock
from kwire.errors import ErrorCode
from kwire.log.api import LogConfig, TopicPartition
from kwire.log.memory import MemoryLogStore
from kwire.records.batch import (
    TIMESTAMP_TYPE_BIT,
    Compression,
    compute_crc,
    parse_header,
    update_crc,
)
from kwire.records.builder import build_batch, decode_records

LONG_MAX = 2**63 - 1
KEYLESS = "Compacted topic cannot accept message without key in topic partition {}"


@pytest.fixture
def kb(tmp_path: Path) -> InProcessBroker:
    return InProcessBroker(tmp_path, **{"producer.id.expiration.ms": "60000"})


async def _create(kb: InProcessBroker, name: str, **configs: str) -> None:
    r = await kb.call(19, 7, {"topics": [{
        "name": name, "num_partitions": 1, "replication_factor": 1, "assignments": (),
        "configs": [{"name": k, "value": v} for k, v in configs.items()]}],
        "timeout": 5000, "validate_only": False})
    assert r.topics[0].error_code == 0, r.topics[0].error_message


async def _produce(kb: InProcessBroker, topic: str, batch: bytes, version: int = 9) -> Any:
    r = await kb.call(0, version, {"transactional_id": None, "acks": -1, "timeout": 5000,
                                   "topic_data": [{"name": topic, "partition_data": [
                                       {"index": 0, "records": batch}]}]})
    return r.responses[0].partition_responses[0]


async def _fetch(kb: InProcessBroker, topic: str) -> bytes:
    r = await kb.call(1, 12, {
        "max_wait": 0, "min_bytes": 1, "max_bytes": 1 << 20, "isolation_level": 0,
        "session_id": 0, "session_epoch": -1, "forgotten_topics_data": (), "rack_id": "",
        "topics": [{"topic": topic, "partitions": [{"partition": 0, "fetch_offset": 0,
                                                    "partition_max_bytes": 1 << 20}]}]})
    return bytes(r.responses[0].partitions[0].records or b"")


def _errors(part: Any) -> list[tuple[int, str]]:
    return [(e.batch_index, e.batch_index_error_message) for e in part.record_errors]


# -- record-level refusals ----------------------------------------------------------


async def test_keyless_records_on_a_compacted_topic_are_named(kb: InProcessBroker) -> None:
    await _create(kb, "c", **{"cleanup.policy": "compact"})
    now = kb.clock.wall_ms()
    part = await _produce(kb, "c", build_batch(
        [(None, b"v", ()), (b"k", b"v", ()), (None, b"v", ())], now))
    msg = KEYLESS.format("c-0")
    assert part.error_code == ErrorCode.INVALID_RECORD and part.base_offset == -1
    assert part.log_start_offset == 0
    assert _errors(part) == [(0, msg), (2, msg)]
    assert part.error_message == (
        "One or more records have been rejected due to 2 record errors in total, and only "
        f"showing the first three errors at most: [RecordError(batchIndex=0, message='{msg}'), "
        f"RecordError(batchIndex=2, message='{msg}')]")
    assert await _fetch(kb, "c") == b""  # nothing of the batch was stored


async def test_compressed_keyless_batch_lists_every_record_and_shows_three(
    kb: InProcessBroker,
) -> None:
    await _create(kb, "c", **{"cleanup.policy": "compact,delete"})
    part = await _produce(kb, "c", build_batch([(None, b"v", ())] * 5, kb.clock.wall_ms(),
                                               compression=Compression.GZIP))
    msg = KEYLESS.format("c-0")
    assert part.error_code == ErrorCode.INVALID_RECORD
    assert _errors(part) == [(i, msg) for i in range(5)]
    assert "due to 5 record errors in total" in part.error_message
    assert part.error_message.count("RecordError(") == 3


async def test_keyed_records_on_a_compacted_topic_are_stored(kb: InProcessBroker) -> None:
    await _create(kb, "c", **{"cleanup.policy": "compact"})
    part = await _produce(kb, "c", build_batch([(b"k", b"v", ())] * 2, kb.clock.wall_ms()))
    assert (part.error_code, part.base_offset, _errors(part)) == (0, 0, [])


async def test_produce_before_v8_gets_the_code_only(kb: InProcessBroker) -> None:
    await _create(kb, "c", **{"cleanup.policy": "compact"})
    part = await _produce(kb, "c", build_batch([(None, b"v", ())], 0), version=7)
    assert part.error_code == ErrorCode.INVALID_RECORD
    assert not hasattr(part, "record_errors")


async def test_timestamp_past_after_max_ms_is_refused(kb: InProcessBroker) -> None:
    await _create(kb, "t")
    now = kb.clock.wall_ms()
    part = await _produce(kb, "t", build_batch([(b"k", b"v", ())] * 2, now,
                                               timestamps=[now, now + 7_200_000]))
    assert part.error_code == ErrorCode.INVALID_TIMESTAMP
    assert part.error_message == "One or more records have been rejected due to invalid timestamp"
    assert _errors(part) == [(1, (
        f"Timestamp {now + 7_200_000} of message with offset 1 is out of range. The timestamp "
        f"should be within [{now - LONG_MAX}, {now + 3_600_000}]"))]
    # An hour ahead is still in range; a month back is (before.max.ms is unbounded).
    part = await _produce(kb, "t", build_batch([(b"k", b"v", ())], now + 3_600_000))
    assert part.error_code == 0
    part = await _produce(kb, "t", build_batch([(b"k", b"v", ())], now - 30 * 86_400_000))
    assert part.error_code == 0


async def test_timestamp_before_max_ms_of_the_topic(kb: InProcessBroker) -> None:
    await _create(kb, "t", **{"message.timestamp.before.max.ms": "1000",
                              "message.timestamp.after.max.ms": "0"})
    now = kb.clock.wall_ms()
    part = await _produce(kb, "t", build_batch([(b"k", b"v", ())] * 3, now,
                                               timestamps=[now - 1000, now - 1001, now + 1]))
    assert part.error_code == ErrorCode.INVALID_TIMESTAMP
    bounds = f"should be within [{now - 1000}, {now}]"
    assert _errors(part) == [
        (1, f"Timestamp {now - 1001} of message with offset 1 is out of range. The timestamp "
            + bounds),
        (2, f"Timestamp {now + 1} of message with offset 2 is out of range. The timestamp "
            + bounds)]


async def test_log_append_time_mark_on_a_log_append_time_topic(kb: InProcessBroker) -> None:
    await _create(kb, "lat", **{"message.timestamp.type": "LogAppendTime"})
    await _create(kb, "ct")
    now = kb.clock.wall_ms()
    batch = bytearray(build_batch([(b"k", b"v", ()), (None, b"vv", ())], now))
    struct.pack_into(">h", batch, 21, TIMESTAMP_TYPE_BIT)
    update_crc(batch, 0)
    part = await _produce(kb, "lat", bytes(batch))
    assert part.error_code == ErrorCode.INVALID_TIMESTAMP
    tail = "Producer should not set timestamp type to LogAppendTime."
    assert _errors(part) == [
        (0, f"Invalid timestamp type in message DefaultRecord(offset=0, timestamp={now}, "
            f"key=1 bytes, value=1 bytes). {tail}"),
        (1, f"Invalid timestamp type in message DefaultRecord(offset=1, timestamp={now}, "
            f"key=0 bytes, value=2 bytes). {tail}")]
    assert (await _produce(kb, "ct", bytes(batch))).error_code == 0  # Kafka takes it there


@pytest.mark.parametrize("target", ["producer", "lz4"])
async def test_producers_log_append_time_mark_on_a_create_time_topic(
    kb: InProcessBroker, target: str
) -> None:
    # What Kafka 4.4.0 stored: in place, the mark is cleared and the records read
    # base + delta again; re-encoded, every record keeps the max timestamp it read.
    await _create(kb, "ct", **{"compression.type": target})
    now = kb.clock.wall_ms()
    stamps = [now - 1000, now - 500, now - 800]
    batch = bytearray(build_batch([(b"k", b"v", ())] * 3, now - 1000, timestamps=stamps))
    struct.pack_into(">h", batch, 21, TIMESTAMP_TYPE_BIT)
    update_crc(batch, 0)
    assert (await _produce(kb, "ct", bytes(batch))).error_code == 0
    stored = await _fetch(kb, "ct")
    header = parse_header(stored)
    assert not header.is_log_append_time and compute_crc(stored, 0, header.size) == header.crc
    assert header.max_timestamp == now - 500
    expected = stamps if target == "producer" else [now - 500] * 3
    assert [r.timestamp for r in decode_records(stored)] == expected


# -- recompression -------------------------------------------------------------------

TARGETS = {"uncompressed": Compression.NONE, "gzip": Compression.GZIP,
           "snappy": Compression.SNAPPY, "lz4": Compression.LZ4, "zstd": Compression.ZSTD}


@pytest.mark.parametrize("source", list(Compression))
@pytest.mark.parametrize("target", list(TARGETS))
async def test_batches_are_stored_in_the_topics_codec(
    kb: InProcessBroker, source: Compression, target: str
) -> None:
    await _create(kb, "z", **{"compression.type": target})
    now = kb.clock.wall_ms()
    records = [(b"k%d" % i, b"value-%d" % i * 50, [("h", b"x%d" % i)]) for i in range(20)]
    stamps = [now - 5, now - 9, *(now + i for i in range(18))]
    batch = build_batch(records, now - 5, producer_id=42, producer_epoch=3, base_sequence=7,
                        compression=source, timestamps=stamps)
    part = await _produce(kb, "z", batch)
    assert (part.error_code, part.base_offset) == (0, 0)
    stored = await _fetch(kb, "z")
    header = parse_header(stored)
    assert header.compression == TARGETS[target]
    assert compute_crc(stored, 0, header.size) == header.crc
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (42, 3, 7)
    assert (header.last_offset_delta, header.records_count) == (19, 20)
    assert (header.base_timestamp, header.max_timestamp) == (now - 5, now + 17)
    assert not header.is_transactional and not header.is_log_append_time
    got = decode_records(stored)
    assert [(r.key, r.value, r.headers) for r in got] == [
        (k, v, tuple(h)) for k, v, h in records]
    assert [r.timestamp for r in got] == stamps
    assert [r.offset for r in got] == list(range(20))
    # A retry is still a duplicate of the stored (re-encoded) batch.
    again = await _produce(kb, "z", batch)
    assert (again.error_code, again.base_offset) == (0, 0)


async def test_records_read_for_checks_are_rebuilt_in_the_topics_codec(
    kb: InProcessBroker,
) -> None:
    # Compacted: every record is read for its key, then rebuilt as Kafka's
    # buildRecordsAndAssignOffsets does (offset deltas from 0, first timestamp as base).
    await _create(kb, "cz", **{"compression.type": "zstd", "cleanup.policy": "compact"})
    now = kb.clock.wall_ms()
    records = [(b"k%d" % i, b"v" * i, [("h", None)]) for i in range(6)]
    batch = build_batch(records, now - 100, compression=Compression.SNAPPY,
                        timestamps=[now - 7, now, now - 3, now - 1, now - 2, now - 4])
    assert (await _produce(kb, "cz", batch)).error_code == 0
    stored = await _fetch(kb, "cz")
    header = parse_header(stored)
    assert header.compression == Compression.ZSTD
    assert (header.base_timestamp, header.max_timestamp) == (now - 7, now)
    assert compute_crc(stored, 0, header.size) == header.crc
    assert [(r.key, r.value, r.headers, r.timestamp) for r in decode_records(stored)] == [
        (k, v, tuple(h), t) for (k, v, h), t in zip(
            records, [now - 7, now, now - 3, now - 1, now - 2, now - 4], strict=True)]


async def test_recompressed_batch_on_a_log_append_time_topic(kb: InProcessBroker) -> None:
    await _create(kb, "z", **{"compression.type": "lz4",
                              "message.timestamp.type": "LogAppendTime"})
    part = await _produce(kb, "z", build_batch([(b"k", b"v", ())] * 3, 1_000))
    now = kb.clock.wall_ms()
    assert part.error_code == 0
    assert part.log_append_time == datetime.datetime.fromtimestamp(now / 1000, datetime.UTC)
    stored = await _fetch(kb, "z")
    header = parse_header(stored)
    assert header.compression == Compression.LZ4 and header.is_log_append_time
    assert header.max_timestamp == now and compute_crc(stored, 0, header.size) == header.crc


@pytest.mark.parametrize(("name", "value", "ok"), [
    ("compression.gzip.level", "9", True), ("compression.gzip.level", "-1", True),
    ("compression.gzip.level", "0", False), ("compression.gzip.level", "10", False),
    ("compression.lz4.level", "17", True), ("compression.lz4.level", "0", False),
    ("compression.zstd.level", "-131072", True), ("compression.zstd.level", "23", False),
])
async def test_compression_levels_are_kafkas(
    kb: InProcessBroker, name: str, value: str, ok: bool
) -> None:
    r = await kb.call(19, 7, {"topics": [{
        "name": "l", "num_partitions": 1, "replication_factor": 1, "assignments": (),
        "configs": [{"name": name, "value": value}]}], "timeout": 5000, "validate_only": True})
    assert (r.topics[0].error_code == 0) == ok, r.topics[0].error_message


async def test_levels_change_the_bytes_not_the_records(kb: InProcessBroker) -> None:
    value = bytes(range(256)) * 40
    sizes = []
    for level in ("1", "9"):
        await _create(kb, f"g{level}", **{"compression.type": "gzip",
                                          "compression.gzip.level": level})
        part = await _produce(kb, f"g{level}", build_batch([(b"k", value, ())] * 8, 1))
        assert part.error_code == 0
        stored = await _fetch(kb, f"g{level}")
        assert [r.value for r in decode_records(stored)] == [value] * 8
        sizes.append(len(stored))
    assert sizes[0] != sizes[1]


# -- producer-id expiry --------------------------------------------------------------


async def _idempotent(kb: InProcessBroker, topic: str, pid: int, seq: int) -> Any:
    return await _produce(kb, topic, build_batch(
        [(b"k", b"v", ())], kb.clock.wall_ms(), producer_id=pid, producer_epoch=0,
        base_sequence=seq))


async def test_producers_expire_after_producer_id_expiration_ms(kb: InProcessBroker) -> None:
    await _create(kb, "p")
    assert (await _idempotent(kb, "p", 1, 0)).error_code == 0
    kb.clock.advance(30_000)
    assert (await _idempotent(kb, "p", 2, 0)).error_code == 0
    manager = kb.broker.partitions
    kb.clock.advance(29_999)
    assert manager.remove_expired_producers() == (0, 2)
    kb.clock.advance(1)  # producer 1's last write is now 60000 ms old
    assert manager.remove_expired_producers() == (1, 1)
    assert manager.producer_count() == 1
    # Still known: a gap is refused. Expired: any sequence starts it afresh, as in Kafka.
    assert (await _idempotent(kb, "p", 2, 5)).error_code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert (await _idempotent(kb, "p", 1, 5)).error_code == 0
    assert (await _idempotent(kb, "p", 1, 6)).error_code == 0


async def test_expiry_follows_the_record_timestamps(kb: InProcessBroker) -> None:
    # Kafka's lastTimestamp is the batch's max timestamp, not the wall clock.
    await _create(kb, "p")
    old = build_batch([(b"k", b"v", ())], kb.clock.wall_ms() - 60_000, producer_id=3,
                      producer_epoch=0, base_sequence=0)
    assert (await _produce(kb, "p", old)).error_code == 0
    assert kb.broker.partitions.remove_expired_producers() == (1, 0)


TP = TopicPartition("t", 0)


async def _manager(store: MemoryLogStore, clock: ManualClock, tmp: Path | None,
                   ) -> tuple[PartitionManager, Any]:
    manager = PartitionManager(store, tmp, producer_id_expiration_ms=1_000, now_ms=clock.wall_ms)
    return manager, await manager.open(TP, 0, LogConfig(), False, 1 << 20)


async def _append(partition: Any, clock: ManualClock, pid: int) -> None:
    batch = bytearray(build_batch([(None, b"v", [])], clock.wall_ms(), producer_id=pid,
                                  producer_epoch=0, base_sequence=0))
    outcome = await partition.append(batch, parse_header(batch), clock.wall_ms())
    assert outcome.error_code == ErrorCode.NONE


async def test_shutdown_snapshot_leaves_expired_producers_out(tmp_path: Path) -> None:
    clock = ManualClock()
    store = MemoryLogStore(clock.wall_ms)
    manager, partition = await _manager(store, clock, tmp_path)
    await _append(partition, clock, 1)
    clock.advance(600)
    await _append(partition, clock, 2)
    clock.advance(400)  # producer 1 expired, never checked
    await manager.close()
    saved = json.loads((tmp_path / "t-0.json").read_text())
    assert [p["producer_id"] for p in saved["state"]["producers"]] == [2]
    _, reopened = await _manager(store, clock, tmp_path)
    assert reopened.producers.get(1) is None
    assert isinstance(reopened.producers.check(2, 0, 0, 0), Duplicate)


async def test_snapshot_and_replay_drop_producers_expired_while_down(tmp_path: Path) -> None:
    clock = ManualClock()
    store = MemoryLogStore(clock.wall_ms)
    manager, partition = await _manager(store, clock, tmp_path)
    await _append(partition, clock, 1)
    await manager.close()
    assert (tmp_path / "t-0.json").exists()
    clock.advance(1_000)
    _, from_snapshot = await _manager(store, clock, tmp_path)
    assert len(from_snapshot.producers) == 0
    _, from_log = await _manager(store, clock, None)  # no snapshot: replay of the log
    assert len(from_log.producers) == 0
    clock.advance(-1)  # a millisecond earlier the replayed producer is still known
    _, earlier = await _manager(store, clock, None)
    assert earlier.producers.get(1) is not None


async def test_refusals_answered_as_replica_manager_does(kb: InProcessBroker) -> None:
    # Kafka 4.4.0, same requests: only a RecordValidationException carries an
    # error_message; the log start offset comes with failures ReplicaManager does
    # not name (processFailedRecord), -1 with the ones it names and with
    # ProduceRequest.validateRecords' refusals.
    await _create(kb, "e", **{"max.message.bytes": "2000"})
    now = kb.clock.wall_ms()
    ok = await _produce(kb, "e", build_batch([(b"k", b"v", ())], now, producer_id=777,
                                             producer_epoch=5, base_sequence=0))
    assert (ok.error_code, ok.log_start_offset) == (0, 0)
    corrupt = bytearray(build_batch([(b"k", b"v", ())], now))
    corrupt[-1] ^= 1
    moved = bytearray(build_batch([(b"k", b"v", ())], now))
    struct.pack_into(">q", moved, 0, 5)
    cases = [
        (build_batch([(b"k", b"v", ())], now, producer_id=777, producer_epoch=4,
                     base_sequence=1), ErrorCode.INVALID_PRODUCER_EPOCH, 0),
        (build_batch([(b"k", b"v", ())], now, producer_id=777, producer_epoch=5,
                     base_sequence=3), ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, 0),
        (build_batch([(b"k", b"v" * 3000, ())], now), ErrorCode.MESSAGE_TOO_LARGE, -1),
        (bytes(corrupt), ErrorCode.CORRUPT_MESSAGE, -1),
        (build_batch([(b"k", b"v", ())], now, control=True), ErrorCode.INVALID_RECORD, 0),
        (build_batch([(b"k", b"v", ())], now) * 2, ErrorCode.INVALID_RECORD, -1),
        (bytes(moved), ErrorCode.INVALID_RECORD, 0),
        (b"", ErrorCode.INVALID_RECORD, -1),
    ]
    for batch, code, log_start_offset in cases:
        part = await _produce(kb, "e", batch, version=11)
        assert (part.error_code, part.log_start_offset, part.error_message,
                _errors(part)) == (code, log_start_offset, None, []), code


async def test_duplicate_batch_is_answered_with_the_stored_timestamp(
        kb: InProcessBroker) -> None:
    # Kafka 4.4.0: a retried idempotent batch gets the first offset and, as
    # log_append_time, the timestamp its first append stored: the batch's max
    # timestamp on a CreateTime topic, the append time on a LogAppendTime one.
    await _create(kb, "ct")
    await _create(kb, "lat", **{"message.timestamp.type": "LogAppendTime"})
    now = kb.clock.wall_ms()
    batch = build_batch([(b"k", b"v", ())] * 2, now - 5000, producer_id=42, producer_epoch=0,
                        base_sequence=0, timestamps=[now - 5000, now - 3000])
    def at(ms: int) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)

    first = await _produce(kb, "ct", batch)
    assert (first.error_code, first.base_offset, first.log_append_time) == (0, 0, None)  # -1
    again = await _produce(kb, "ct", batch)
    assert (again.error_code, again.base_offset, again.log_append_time) == (0, 0, at(now - 3000))
    first = await _produce(kb, "lat", batch)
    assert first.error_code == 0 and first.log_append_time == at(now)
    kb.clock.advance(1000)
    again = await _produce(kb, "lat", batch)
    assert (again.error_code, again.base_offset, again.log_append_time) == (0, 0, at(now))


async def test_produce_v13_naming_an_unknown_or_zero_topic_id(kb: InProcessBroker) -> None:
    for topic_id in (uuid.UUID(int=0), uuid.uuid4()):
        r = await kb.call(0, 13, {"transactional_id": None, "acks": -1, "timeout": 5000,
                                  "topic_data": [{"topic_id": topic_id, "partition_data": [
                                      {"index": 0, "records": build_batch(
                                          [(b"k", b"v", ())], kb.clock.wall_ms())}]}]})
        part = r.responses[0].partition_responses[0]
        assert part.error_code == ErrorCode.UNKNOWN_TOPIC_ID, topic_id


async def test_messages_kafka_gives_and_leaves_out(kb: InProcessBroker) -> None:
    # Kafka 4.4.0: a magic byte above 2 is worded (ByteBufferLogInputStream's
    # CorruptRecordException); a transactional batch without a transaction is not.
    await _create(kb, "m")
    now = kb.clock.wall_ms()
    magic3 = bytearray(build_batch([(b"k", b"v", ())], now))
    magic3[16] = 3
    part = await _produce(kb, "m", bytes(magic3))
    assert (part.error_code, part.error_message) == (
        ErrorCode.CORRUPT_MESSAGE, "Invalid magic found in record: 3")
    txn = build_batch([(b"k", b"v", ())], now, producer_id=1, producer_epoch=0,
                      base_sequence=0, transactional=True)
    part = await _produce(kb, "m", txn)
    assert part.error_code != 0 and part.error_message is None
