from __future__ import annotations

import struct
import uuid
from pathlib import Path
from typing import Any

import pytest
from _harness import InProcessBroker  # type: ignore[import-not-found]

from kwire.errors import ErrorCode, ProtocolViolation
from kwire.records.batch import parse_header
from kwire.records.builder import build_batch, decode_records


@pytest.fixture
def kb(tmp_path: Path) -> InProcessBroker:
    return InProcessBroker(tmp_path)


async def _create(kb: InProcessBroker, name: str, partitions: int = 3, **configs: str) -> Any:
    return await kb.call(19, 7, {"topics": [{
        "name": name, "num_partitions": partitions, "replication_factor": 1,
        "assignments": (), "configs": [{"name": k.replace("_", "."), "value": v}
                                       for k, v in configs.items()]}],
        "timeout": 5000, "validate_only": False})


async def test_api_versions_advertises_kafka_ranges(kb: InProcessBroker) -> None:
    r = await kb.call(18, 3, {"client_software_name": "kwire-test",
                              "client_software_version": "1.0"})
    keys = {k.api_key: (k.min_version, k.max_version) for k in r.api_keys}
    assert r.error_code == 0
    assert keys[0] == (0, 13) and keys[1] == (4, 18) and keys[18] == (0, 4)
    assert keys[11] == (0, 9) and keys[10] == (0, 6)
    # Kafka 4.4.0's ranges (kio 0.6.5 cannot encode ApiVersions v5 nor DeleteGroups v3).
    assert keys[2] == (1, 11) and keys[8] == (2, 10) and keys[9] == (1, 10)
    assert keys[35] == (1, 5) and keys[42] == (0, 2)
    # Transactions: Kafka 4.4.0's ranges, except EndTxn v5 (transaction version 2,
    # not offered) and TxnOffsetCommit v6 (kio stops at v5).
    assert {k: keys[k] for k in (22, 24, 25, 26, 27, 28, 61, 65, 66)} == {
        22: (0, 5), 24: (0, 5), 25: (0, 4), 26: (0, 4), 27: (1, 2), 28: (0, 5), 61: (0, 0),
        65: (0, 0), 66: (0, 2)}


async def test_api_versions_unknown_version_answers_v0(kb: InProcessBroker) -> None:
    frame = struct.pack(">hhih", 18, 77, 9, -1)
    chunks = await kb.dispatcher.dispatch(frame, "127.0.0.1")
    assert chunks is not None
    raw = b"".join(chunks)
    correlation_id, error_code, count = struct.unpack_from(">ihi", raw)
    assert (correlation_id, error_code) == (9, ErrorCode.UNSUPPORTED_VERSION)
    # Only ApiVersions' own range, as Kafka answers (KIP-511).
    assert count == 1 and struct.unpack_from(">hhh", raw, 10) == (18, 0, 4)


async def test_api_versions_invalid_software_name_lists_no_apis(kb: InProcessBroker) -> None:
    r = await kb.call(18, 3, {"client_software_name": "bad name!",
                              "client_software_version": "1.0"})
    assert (r.error_code, r.api_keys) == (ErrorCode.INVALID_REQUEST, ())


async def test_unknown_api_key_and_version_close_the_connection(kb: InProcessBroker) -> None:
    with pytest.raises(ProtocolViolation):
        await kb.dispatcher.dispatch(struct.pack(">hhih", 999, 0, 1, -1), "h")
    with pytest.raises(ProtocolViolation):
        await kb.dispatcher.dispatch(struct.pack(">hhih", 3, 99, 1, -1), "h")


async def test_create_topics_errors(kb: InProcessBroker) -> None:
    assert (await _create(kb, "ok")).topics[0].error_code == 0
    assert (await _create(kb, "ok")).topics[0].error_code == ErrorCode.TOPIC_ALREADY_EXISTS
    assert (await _create(kb, "bad name!")).topics[0].error_code == (
        ErrorCode.INVALID_TOPIC_EXCEPTION)
    assert (await _create(kb, "p0", 0)).topics[0].error_code == ErrorCode.INVALID_PARTITIONS
    r = await _create(kb, "cfg", 1, retention_ms="abc")
    assert r.topics[0].error_code == ErrorCode.INVALID_CONFIG
    r = await kb.call(19, 7, {"topics": [{"name": "rf", "num_partitions": 1,
                                          "replication_factor": 3, "assignments": (),
                                          "configs": ()}], "timeout": 1, "validate_only": False})
    assert r.topics[0].error_code == ErrorCode.INVALID_REPLICATION_FACTOR


async def test_metadata_auto_creates_and_keeps_topic_ids(kb: InProcessBroker) -> None:
    def ask(names: list[str], auto: bool = True) -> Any:
        return kb.call(3, 12, {"topics": [{"name": n, "topic_id": None} for n in names],
                               "allow_auto_topic_creation": auto,
                               "include_topic_authorized_operations": False})

    # Kafka 4 (KRaft): the creating request answers UNKNOWN_TOPIC_OR_PARTITION ...
    first = await ask(["auto"])
    assert [(t.name, t.error_code, t.partitions, t.is_internal) for t in first.topics] == [
        ("auto", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, (), False)]
    # ... and the topic shows from the next one on.
    r = await ask(["auto", "auto"])
    assert len(r.topics) == 1  # a name asked twice is answered once (a set, in Kafka)
    topic = r.topics[0]
    assert topic.error_code == 0 and len(topic.partitions) == 1
    assert topic.partitions[0].leader_id == 1 and topic.partitions[0].leader_epoch == 0
    again = await kb.call(3, 12, {"topics": None, "allow_auto_topic_creation": False,
                                  "include_topic_authorized_operations": False})
    assert [t.topic_id for t in again.topics] == [topic.topic_id]
    assert r.controller_id == 1 and r.cluster_id
    # Known topics first, then invalid names, then what this request would create.
    mixed = await ask(["new-one", "bad name!", "auto"], auto=False)
    assert [(t.name, t.error_code) for t in mixed.topics] == [
        ("auto", 0), ("bad name!", ErrorCode.INVALID_TOPIC_EXCEPTION),
        ("new-one", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)]
    assert "new-one" not in kb.broker.snapshot().topics
    # Internal names are flagged internal even when absent (Topic.isInternal).
    absent = await ask(["__transaction_state"])
    assert [(t.error_code, t.is_internal) for t in absent.topics] == [
        (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, True)]


async def test_metadata_by_topic_id(kb: InProcessBroker) -> None:
    topic = await kb.broker.create_topic("t", 2, {})
    unknown = uuid.UUID(int=5)
    r = await kb.call(3, 12, {"topics": [{"name": None, "topic_id": topic.topic_id},
                                         {"name": None, "topic_id": unknown},
                                         {"name": "ignored", "topic_id": None}],
                              "allow_auto_topic_creation": True,
                              "include_topic_authorized_operations": False})
    # Unknown ids first; with any id in the request, names are ignored.
    assert [(t.name, t.topic_id, t.error_code) for t in r.topics] == [
        (None, unknown, ErrorCode.UNKNOWN_TOPIC_ID), ("t", topic.topic_id, 0)]
    assert "ignored" not in kb.broker.snapshot().topics
    # v10-11 carry the field but Kafka refuses ids there: the whole request fails.
    old = await kb.call(3, 11, {"topics": [{"name": "t", "topic_id": topic.topic_id}],
                                "allow_auto_topic_creation": True,
                                "include_topic_authorized_operations": False})
    assert [(t.name, t.error_code, t.partitions) for t in old.topics] == [
        ("t", ErrorCode.INVALID_REQUEST, ())]
    assert old.brokers == ()


async def _produce(kb: InProcessBroker, topic: str, batch: bytes, partition: int = 0,
                   acks: int = -1, version: int = 9) -> Any:
    return await kb.call(0, version, {"transactional_id": None, "acks": acks, "timeout": 5000,
                                      "topic_data": [{"name": topic, "partition_data": [
                                          {"index": partition, "records": batch}]}]})


async def test_produce_fetch_round_trip_and_idempotent_duplicate(kb: InProcessBroker) -> None:
    await _create(kb, "t", 1)
    records = [(b"k%d" % i, b"v%d" % i, [("h", b"x")]) for i in range(5)]
    batch = build_batch(records, base_timestamp=1_000, producer_id=7, producer_epoch=0,
                        base_sequence=0)
    r = await _produce(kb, "t", batch)
    part = r.responses[0].partition_responses[0]
    assert (part.error_code, part.base_offset) == (0, 0)
    dup = await _produce(kb, "t", batch)
    assert dup.responses[0].partition_responses[0].base_offset == 0
    gap = build_batch(records, base_timestamp=1_000, producer_id=7, producer_epoch=0,
                      base_sequence=9)
    r = await _produce(kb, "t", gap)
    assert r.responses[0].partition_responses[0].error_code == (
        ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER)
    fetched = await kb.call(1, 12, {
        "max_wait": 0, "min_bytes": 1, "max_bytes": 1 << 20, "isolation_level": 0,
        "session_id": 0, "session_epoch": -1, "forgotten_topics_data": (), "rack_id": "",
        "topics": [{"topic": "t", "partitions": [{"partition": 0, "fetch_offset": 0,
                                                  "partition_max_bytes": 1 << 20}]}]})
    p = fetched.responses[0].partitions[0]
    assert p.high_watermark == 5 and p.log_start_offset == 0
    header = parse_header(p.records)
    assert header.base_offset == 0 and header.partition_leader_epoch == 0
    assert [(r.key, r.value) for r in decode_records(bytes(p.records))] == [
        (k, v) for k, v, _ in records]


async def test_produce_errors_per_partition(kb: InProcessBroker) -> None:
    await _create(kb, "small", 1, max_message_bytes="200")
    big = build_batch([(None, b"x" * 500, [])], base_timestamp=1)
    r = await _produce(kb, "small", big)
    assert r.responses[0].partition_responses[0].error_code == ErrorCode.MESSAGE_TOO_LARGE
    corrupt = bytearray(build_batch([(None, b"x", [])], base_timestamp=1))
    corrupt[-1] ^= 0xFF
    r = await _produce(kb, "small", bytes(corrupt))
    assert r.responses[0].partition_responses[0].error_code == ErrorCode.CORRUPT_MESSAGE
    r = await _produce(kb, "missing", build_batch([(None, b"x", [])], base_timestamp=1))
    assert r.responses[0].partition_responses[0].error_code == (
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    assert await _produce(kb, "small", build_batch([(None, b"x", [])], base_timestamp=1),
                          acks=0) is None
    with pytest.raises(ProtocolViolation, match="acks=0"):
        await _produce(kb, "small", big, acks=0)


async def test_log_append_time_rewrites_timestamp(kb: InProcessBroker) -> None:
    await _create(kb, "lat", 1, message_timestamp_type="LogAppendTime")
    r = await _produce(kb, "lat", build_batch([(None, b"x", [])], base_timestamp=5))
    part = r.responses[0].partition_responses[0]
    assert part.log_append_time is not None
    listed = await kb.call(2, 7, {"replica_id": -1, "isolation_level": 0, "topics": [
        {"name": "lat", "partitions": [{"partition_index": 0, "current_leader_epoch": -1,
                                        "timestamp": -3}]}]})
    assert listed.topics[0].partitions[0].timestamp == kb.clock.wall_ms()


async def test_configs_describe_and_alter(kb: InProcessBroker) -> None:
    await _create(kb, "c", 1, retention_ms="1000")
    r = await kb.call(32, 4, {"resources": [{"resource_type": 2, "resource_name": "c",
                                             "configuration_keys": None}],
                              "include_synonyms": True, "include_documentation": False})
    entries = {e.name: e for e in r.results[0].configs}
    assert entries["retention.ms"].value == "1000" and entries["retention.ms"].config_source == 1
    assert entries["max.message.bytes"].value == "1048588"
    assert entries["max.message.bytes"].config_source == 5
    assert [s.name for s in entries["segment.bytes"].synonyms] == ["log.segment.bytes"]
    r = await kb.call(44, 1, {"resources": [{"resource_type": 2, "resource_name": "c",
                                             "configs": [
                                                 {"name": "retention.ms", "config_operation": 1,
                                                  "value": None},
                                                 {"name": "cleanup.policy",
                                                  "config_operation": 2, "value": "compact"}]}],
                              "validate_only": False})
    assert r.responses[0].error_code == 0
    topic = kb.broker.snapshot().topics["c"]
    assert dict(topic.configs) == {"cleanup.policy": "delete,compact"}
    r = await kb.call(44, 1, {"resources": [{"resource_type": 2, "resource_name": "c",
                                             "configs": [{"name": "no.such", "config_operation": 0,
                                                          "value": "1"}]}],
                              "validate_only": False})
    assert r.responses[0].error_code == ErrorCode.INVALID_CONFIG
    r = await kb.call(32, 4, {"resources": [{"resource_type": 2, "resource_name": "nope",
                                             "configuration_keys": None}],
                              "include_synonyms": False, "include_documentation": False})
    assert r.results[0].error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    r = await kb.call(32, 4, {"resources": [{"resource_type": 4, "resource_name": "1",
                                             "configuration_keys": ["num.partitions"]}],
                              "include_synonyms": False, "include_documentation": False})
    assert [(e.name, e.value) for e in r.results[0].configs] == [("num.partitions", "1")]


async def test_delete_records_partitions_epochs_and_log_dirs(kb: InProcessBroker) -> None:
    await _create(kb, "d", 1)
    for i in range(3):
        await _produce(kb, "d", build_batch([(None, b"x%d" % i, [])], base_timestamp=1))
    r = await kb.call(21, 2, {"topics": [{"name": "d", "partitions": [
        {"partition_index": 0, "offset": 2}]}], "timeout": 1000})
    assert r.topics[0].partitions[0].low_watermark == 2
    r = await kb.call(21, 2, {"topics": [{"name": "d", "partitions": [
        {"partition_index": 0, "offset": 9}]}], "timeout": 1000})
    assert r.topics[0].partitions[0].error_code == ErrorCode.OFFSET_OUT_OF_RANGE
    r = await kb.call(37, 3, {"topics": [{"name": "d", "count": 4, "assignments": None}],
                              "timeout": 1000, "validate_only": False})
    assert r.results[0].error_code == 0
    assert len(kb.broker.snapshot().topics["d"].partitions) == 4
    r = await kb.call(37, 3, {"topics": [{"name": "d", "count": 2, "assignments": None}],
                              "timeout": 1000, "validate_only": False})
    assert r.results[0].error_code == ErrorCode.INVALID_PARTITIONS
    r = await kb.call(23, 4, {"replica_id": -1, "topics": [{"topic": "d", "partitions": [
        {"partition": 0, "current_leader_epoch": 0, "leader_epoch": 0},
        {"partition": 1, "current_leader_epoch": 5, "leader_epoch": 0}]}]})
    parts = r.topics[0].partitions
    assert (parts[0].leader_epoch, parts[0].end_offset) == (0, 3)
    assert parts[1].error_code == ErrorCode.UNKNOWN_LEADER_EPOCH
    r = await kb.call(35, 4, {"topics": None})
    sizes = {(t.name, p.partition_index): p.partition_size
             for t in r.results[0].topics for p in t.partitions}
    assert sizes[("d", 0)] > 0 and sizes[("d", 3)] == 0


async def test_fetch_long_poll_wakes_on_append(kb: InProcessBroker) -> None:
    import asyncio

    await _create(kb, "lp", 1)
    body = {"max_wait": 5000, "min_bytes": 1, "max_bytes": 1 << 20, "isolation_level": 1,
            "session_id": 0, "session_epoch": -1, "forgotten_topics_data": (), "rack_id": "",
            "topics": [{"topic": "lp", "partitions": [{"partition": 0, "fetch_offset": 0,
                                                       "partition_max_bytes": 1 << 20}]}]}
    loop = asyncio.get_running_loop()
    started = loop.time()
    waiting = asyncio.ensure_future(kb.call(1, 12, body))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await _produce(kb, "lp", build_batch([(None, b"wake", [])], base_timestamp=1))
    r = await asyncio.wait_for(waiting, 2)
    assert loop.time() - started < 2
    assert r.responses[0].partitions[0].high_watermark == 1
    body["topics"][0]["partitions"][0]["fetch_offset"] = 7
    r = await kb.call(1, 12, body)
    assert r.responses[0].partitions[0].error_code == ErrorCode.OFFSET_OUT_OF_RANGE
