"""OffsetCommit, OffsetFetch, ListOffsets and DescribeLogDirs answers as Kafka
4.4.0 gives them (each case was checked against a running 4.4.0 broker)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from _harness import InProcessBroker  # type: ignore[import-not-found]

from kwire.errors import ErrorCode

UNKNOWN_ID = uuid.UUID(int=9)
ZERO_ID = uuid.UUID(int=0)


@pytest.fixture
def kb(tmp_path: Path) -> InProcessBroker:
    return InProcessBroker(tmp_path)


def _commit(kb: InProcessBroker, version: int, topics: list[tuple[Any, list[int]]],
            generation: int = -1, member: str = "") -> Any:
    key = "topic_id" if version >= 10 else "name"
    return kb.call(8, version, {
        "group_id": "g", "generation_id_or_member_epoch": generation, "member_id": member,
        "group_instance_id": None, "retention_time": -1,
        "topics": [{key: t, "partitions": [
            {"partition_index": p, "committed_offset": 3, "committed_leader_epoch": -1,
             "committed_metadata": "md"} for p in parts]} for t, parts in topics]})


def _answers(r: Any, key: str = "name") -> list[tuple[Any, list[tuple[int, int]]]]:
    return [(getattr(t, key), [(p.partition_index, p.error_code) for p in t.partitions])
            for t in r.topics]


async def test_commit_to_missing_topics_and_partitions(kb: InProcessBroker) -> None:
    await kb.broker.create_topic("t", 1, {})
    await kb.broker.groups.ensure_ready()
    # Unknown topics and partitions first (whatever the group says), merged per topic.
    r = await _commit(kb, 9, [("t", [0]), ("nope", [0, 1]), ("t", [4]), ("bad name!", [0])])
    assert _answers(r) == [("nope", [(0, 3), (1, 3)]), ("t", [(4, 3), (0, 0)]),
                           ("bad name!", [(0, 3)])]
    # A generation from nowhere: the group's error on known partitions only.
    r = await _commit(kb, 8, [("t", [0, 5]), ("nope", [0])], generation=3, member="x")
    assert _answers(r) == [("t", [(5, 3), (0, ErrorCode.UNKNOWN_MEMBER_ID)]), ("nope", [(0, 3)])]


async def test_commit_and_fetch_by_topic_id(kb: InProcessBroker) -> None:
    topic = await kb.broker.create_topic("t", 1, {})
    await kb.broker.groups.ensure_ready()
    tid = topic.topic_id
    r = await _commit(kb, 10, [(tid, [0]), (UNKNOWN_ID, [0]), (tid, [3, 0]), (ZERO_ID, [2])])
    assert _answers(r, "topic_id") == [
        (UNKNOWN_ID, [(0, ErrorCode.UNKNOWN_TOPIC_ID)]), (tid, [(3, 3), (0, 0), (0, 0)]),
        (None, [(2, ErrorCode.UNKNOWN_TOPIC_ID)])]  # kio reads the zero id as None

    def fetch(topics: Any) -> Any:
        return kb.call(9, 10, {"groups": [{"group_id": "g", "member_id": None,
                                           "member_epoch": -1, "topics": topics}],
                               "require_stable": False})

    got = await fetch([{"topic_id": UNKNOWN_ID, "partition_indexes": [0]},
                       {"topic_id": tid, "partition_indexes": [0, 7]}])
    group = got.groups[0]
    # The coordinator's answers, then the unknown ids.
    assert [(t.topic_id, [(p.partition_index, p.committed_offset, p.metadata, p.error_code)
                          for p in t.partitions]) for t in group.topics] == [
        (tid, [(0, 3, "md", 0), (7, -1, "", 0)]),
        (UNKNOWN_ID, [(0, -1, "", ErrorCode.UNKNOWN_TOPIC_ID)])]
    every = (await fetch(None)).groups[0]
    assert [(t.topic_id, [p.partition_index for p in t.partitions]) for t in every.topics] == [
        (tid, [0])]


async def test_commit_whose_write_fails_is_answered_per_partition(
    kb: InProcessBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    await kb.broker.create_topic("t", 2, {})
    await kb.broker.groups.ensure_ready()

    async def broken(records: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(kb.broker.groups, "_append", broken)
    r = await _commit(kb, 9, [("t", [0, 1]), ("nope", [0])])
    assert _answers(r) == [("nope", [(0, 3)]), ("t", [(0, ErrorCode.NOT_COORDINATOR),
                                                      (1, ErrorCode.NOT_COORDINATOR)])]


async def test_list_offsets_special_timestamps_by_version(kb: InProcessBroker) -> None:
    await kb.broker.create_topic("t", 1, {})

    async def ask(version: int, timestamp: int, topic: str = "t") -> tuple[int, int]:
        body: dict[str, Any] = {"replica_id": -1, "isolation_level": 0, "timeout": 1000,
                                "topics": [{"name": topic, "partitions": [
                                    {"partition_index": 0, "current_leader_epoch": -1,
                                     "timestamp": timestamp}]}]}
        p = (await kb.call(2, version, body)).topics[0].partitions[0]
        return p.error_code, p.offset

    unsupported = ErrorCode.UNSUPPORTED_VERSION
    # Each special timestamp from the version that brought it; any other negative
    # one never (checked before the topic is looked up).
    assert await ask(6, -3) == (unsupported, -1)
    assert await ask(7, -3) == (0, -1)
    assert await ask(7, -4) == (unsupported, -1)
    assert await ask(8, -4) == (0, 0)
    assert await ask(8, -5) == (unsupported, -1)
    assert await ask(9, -5) == (0, -1)  # latest tiered: nothing is tiered
    assert await ask(10, -6) == (unsupported, -1)
    assert await ask(11, -6) == (0, -1)  # earliest pending upload: nothing pending
    assert await ask(11, -7) == (unsupported, -1)
    assert await ask(11, -7, "nope") == (unsupported, -1)
    assert await ask(11, -1, "nope") == (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1)


async def test_describe_log_dirs_v5_says_not_cordoned(kb: InProcessBroker) -> None:
    await kb.broker.create_topic("t", 1, {})
    r = await kb.call(35, 5, {"topics": None})
    assert [(d.error_code, d.is_cordoned) for d in r.results] == [(0, False)]
    assert [t.name for t in r.results[0].topics] == ["t"]


async def test_list_offsets_partition_asked_twice_is_answered_once(kb: InProcessBroker) -> None:
    await kb.broker.create_topic("t", 2, {})
    r = await kb.call(2, 9, {"replica_id": -1, "isolation_level": 0, "topics": [
        {"name": "t", "partitions": [{"partition_index": 0, "timestamp": -1},
                                     {"partition_index": 1, "timestamp": -1},
                                     {"partition_index": 0, "timestamp": -2}]}]})
    assert [(p.partition_index, p.error_code, p.offset) for t in r.topics
            for p in t.partitions] == [(0, ErrorCode.INVALID_REQUEST, -1), (1, 0, 0)]


async def test_offset_delete_of_missing_topics_and_partitions(kb: InProcessBroker) -> None:
    await kb.broker.create_topic("t", 2, {})
    await kb.broker.groups.ensure_ready()
    await _commit(kb, 8, [("t", [0, 1])])
    r = await kb.call(47, 0, {"group_id": "g", "topics": [
        {"name": "t", "partitions": [{"partition_index": 0}, {"partition_index": 7}]},
        {"name": "nope", "partitions": [{"partition_index": 0}]}]})
    assert r.error_code == 0
    assert _answers(r) == [("t", [(7, 3), (0, 0)]), ("nope", [(0, 3)])]
    # A group-level error replaces the per-partition answers (Builder.merge).
    r = await kb.call(47, 0, {"group_id": "other", "topics": [
        {"name": "nope", "partitions": [{"partition_index": 0}]}]})
    assert (r.error_code, r.topics) == (ErrorCode.GROUP_ID_NOT_FOUND, ())


async def test_find_coordinator_messages(kb: InProcessBroker) -> None:
    old = await kb.call(10, 3, {"key": "g", "key_type": 0})
    assert (old.error_code, old.error_message) == (0, "NONE")
    new = await kb.call(10, 4, {"key_type": 0, "coordinator_keys": ["g"]})
    assert [(c.error_code, c.error_message) for c in new.coordinators] == [(0, "")]


async def test_authorized_operations_as_kafka_without_authorizer(kb: InProcessBroker) -> None:
    await kb.broker.create_topic("t", 1, {})
    r = await kb.call(3, 10, {"topics": [{"name": "t", "topic_id": None},
                                         {"name": "bad name!", "topic_id": None}],
                              "allow_auto_topic_creation": False,
                              "include_cluster_authorized_operations": True,
                              "include_topic_authorized_operations": True})
    assert [(t.name, t.topic_authorized_operations) for t in r.topics] == [
        ("t", 3576), ("bad name!", 3576)]
    assert r.cluster_authorized_operations == 8096
    r = await kb.call(3, 10, {"topics": [{"name": "t", "topic_id": None}],
                              "allow_auto_topic_creation": False,
                              "include_cluster_authorized_operations": False,
                              "include_topic_authorized_operations": False})
    assert r.topics[0].topic_authorized_operations == -(2**31)
    assert r.cluster_authorized_operations == -(2**31)
    cluster = await kb.call(60, 1, {"include_cluster_authorized_operations": True,
                                    "endpoint_type": 1})
    assert cluster.cluster_authorized_operations == 8096
    await kb.broker.groups.ensure_ready()
    groups = await kb.call(15, 5, {"groups": ["g"], "include_authorized_operations": True})
    assert [(g.error_code, g.authorized_operations) for g in groups.groups] == [(0, 3400)]


async def test_describe_cluster_other_endpoint_types(kb: InProcessBroker) -> None:
    controllers = await kb.call(60, 1, {"include_cluster_authorized_operations": False,
                                        "endpoint_type": 2})
    assert (controllers.error_code, controllers.error_message, controllers.endpoint_type) == (
        ErrorCode.MISMATCHED_ENDPOINT_TYPE, "The request was sent to an endpoint of type "
        "BROKER, but we wanted an endpoint of type CONTROLLER", 1)
    odd = await kb.call(60, 1, {"include_cluster_authorized_operations": False,
                                "endpoint_type": 9})
    assert (odd.error_code, odd.error_message, odd.cluster_id, odd.brokers) == (
        ErrorCode.UNSUPPORTED_ENDPOINT_TYPE, "Unsupported endpoint type 9", "", ())


async def test_find_coordinator_unknown_key_type_fails_the_request(kb: InProcessBroker) -> None:
    r = await kb.call(10, 4, {"key_type": 7, "coordinator_keys": ["a", "b"]})
    assert [(c.key, c.error_code, c.node_id) for c in r.coordinators] == [
        ("a", ErrorCode.INVALID_REQUEST, -1), ("b", ErrorCode.INVALID_REQUEST, -1)]
    assert r.coordinators[0].error_message.startswith("This most likely occurs because of a "
                                                      "request being malformed")
