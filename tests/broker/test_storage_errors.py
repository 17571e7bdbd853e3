"""Storage failures as clients see them: each API answers KAFKA_STORAGE_ERROR (or
CORRUPT_MESSAGE) for the resource that hit the failure, in its own response
shape, and nothing changed; no error closes the connection."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest
from _harness import InProcessBroker  # type: ignore[import-not-found]

import kwire.cluster.local
from kwire.errors import ErrorCode, StorageError
from kwire.log.api import CorruptRecords
from kwire.records.builder import build_batch


@pytest.fixture
def kb(tmp_path: Path) -> InProcessBroker:
    return InProcessBroker(tmp_path)


def _disk_full(*_args: Any, **_kwargs: Any) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


async def _create(kb: InProcessBroker, name: str) -> Any:
    return await kb.call(19, 7, {"topics": [{
        "name": name, "num_partitions": 1, "replication_factor": 1, "assignments": (),
        "configs": ()}], "timeout": 5000, "validate_only": False})


async def test_metadata_writes_that_fail_change_nothing(
    kb: InProcessBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await _create(kb, "kept")).topics[0].error_code == 0
    monkeypatch.setattr(kwire.cluster.local, "atomic_write", _disk_full)
    r = await _create(kb, "new")
    assert r.topics[0].error_code == ErrorCode.KAFKA_STORAGE_ERROR
    r = await kb.call(3, 12, {"topics": [{"name": "auto", "topic_id": None}],
                              "allow_auto_topic_creation": True,
                              "include_topic_authorized_operations": False})
    assert r.topics[0].error_code == ErrorCode.KAFKA_STORAGE_ERROR
    r = await kb.call(20, 6, {"topics": [{"name": "kept", "topic_id": None}], "timeout": 5000})
    assert r.responses[0].error_code == ErrorCode.KAFKA_STORAGE_ERROR
    r = await kb.call(37, 3, {"topics": [{"name": "kept", "count": 3, "assignments": None}],
                              "timeout": 1000, "validate_only": False})
    assert r.results[0].error_code == ErrorCode.KAFKA_STORAGE_ERROR
    r = await kb.call(44, 1, {"resources": [{
        "resource_type": 2, "resource_name": "kept", "configs": [
            {"name": "retention.ms", "config_operation": 0, "value": "1000"}]}],
        "validate_only": False})
    assert r.responses[0].error_code == ErrorCode.KAFKA_STORAGE_ERROR
    topics = kb.broker.snapshot().topics
    assert set(topics) == {"kept"} and len(topics["kept"].partitions) == 1
    assert dict(topics["kept"].configs) == {}


async def test_reads_of_a_failing_log_answer_per_partition(
    kb: InProcessBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _create(kb, "bad")
    await _create(kb, "good")
    batch = build_batch([(None, b"v", [])], base_timestamp=1)
    for name in ("bad", "good"):
        await kb.call(0, 9, {"transactional_id": None, "acks": -1, "timeout": 5000,
                             "topic_data": [{"name": name, "partition_data": [
                                 {"index": 0, "records": batch}]}]})
    partition = kb.broker.partition("bad", 0)
    assert partition is not None

    async def corrupt(*_args: Any, **_kwargs: Any) -> Any:
        raise CorruptRecords("damaged", 1)

    async def failing(*_args: Any, **_kwargs: Any) -> Any:
        raise StorageError("offline")

    for broken, code in ((corrupt, ErrorCode.CORRUPT_MESSAGE),
                         (failing, ErrorCode.KAFKA_STORAGE_ERROR)):
        monkeypatch.setattr(partition.log, "read", broken)
        r = await kb.call(1, 12, {
            "replica_id": -1, "max_wait": 0, "min_bytes": 1, "max_bytes": 1 << 20,
            "isolation_level": 0, "session_id": 0, "session_epoch": -1,
            "topics": [{"topic": name, "partitions": [{
                "partition": 0, "current_leader_epoch": -1, "fetch_offset": 0,
                "last_fetched_epoch": -1, "log_start_offset": -1,
                "partition_max_bytes": 1 << 20}]} for name in ("bad", "good")],
            "forgotten_topics_data": (), "rack_id": ""})
        by_topic = {t.topic: t.partitions[0] for t in r.responses}
        assert by_topic["bad"].error_code == code
        assert by_topic["good"].error_code == 0 and by_topic["good"].records


async def test_delete_records_of_an_internal_topic_is_refused(kb: InProcessBroker) -> None:
    await kb.broker.groups.ensure_ready()
    r = await kb.call(21, 2, {"topics": [{"name": "__consumer_offsets", "partitions": [
        {"partition_index": 0, "offset": -1}]}], "timeout": 1000})
    assert r.topics[0].partitions[0].error_code == ErrorCode.INVALID_TOPIC_EXCEPTION


async def test_delete_records_needs_the_delete_cleanup_policy(kb: InProcessBroker) -> None:
    # Kafka 4.4.0 (Partition.deleteRecordsOnLeader): POLICY_VIOLATION, low watermark
    # -1, unless cleanup.policy contains "delete".
    for name, policy, code, low in (("c", "compact", ErrorCode.POLICY_VIOLATION, -1),
                                    ("cd", "compact,delete", ErrorCode.NONE, 1),
                                    ("d", "delete", ErrorCode.NONE, 1)):
        r = await kb.call(19, 7, {"topics": [{
            "name": name, "num_partitions": 1, "replication_factor": 1, "assignments": (),
            "configs": [{"name": "cleanup.policy", "value": policy}]}],
            "timeout": 5000, "validate_only": False})
        assert r.topics[0].error_code == 0
        for key in (b"a", b"b"):
            r = await kb.call(0, 9, {"transactional_id": None, "acks": -1, "timeout": 5000,
                                     "topic_data": [{"name": name, "partition_data": [
                                         {"index": 0, "records": build_batch(
                                             [(key, b"v", ())], kb.clock.wall_ms())}]}]})
            assert r.responses[0].partition_responses[0].error_code == 0
        r = await kb.call(21, 2, {"topics": [{"name": name, "partitions": [
            {"partition_index": 0, "offset": 1}]}], "timeout": 1000})
        p = r.topics[0].partitions[0]
        assert (p.error_code, p.low_watermark) == (code, low), policy
