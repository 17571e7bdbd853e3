"""Topic names and internal topics: Kafka's rules (Topic, ReplicationControlManager,
ReplicaManager) and kwire's stricter ones for internal topics, through the handlers."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
from _harness import InProcessBroker, reload_groups  # type: ignore[import-not-found]

from kwire.broker import topics
from kwire.coordinator.group import GroupCoordinator
from kwire.coordinator.group.manager import OFFSETS_TOPIC, GroupManager
from kwire.errors import ErrorCode
from kwire.records.batch import parse_header
from kwire.records.builder import build_batch

LONG = "t" * 249


@pytest.fixture
def kb(tmp_path: Path) -> InProcessBroker:
    return InProcessBroker(tmp_path)


async def _create(kb: InProcessBroker, name: str, partitions: int = 1,
                  configs: dict[str, str] | None = None, validate_only: bool = False) -> Any:
    r = await kb.call(19, 7, {"topics": [{
        "name": name, "num_partitions": partitions, "replication_factor": -1,
        "assignments": (), "configs": [{"name": k, "value": v}
                                       for k, v in (configs or {}).items()]}],
        "timeout": 5000, "validate_only": validate_only})
    return r.topics[0]


async def _metadata(kb: InProcessBroker, name: str, auto: bool = True) -> Any:
    r = await kb.call(3, 12, {"topics": [{"name": name, "topic_id": None}],
                              "allow_auto_topic_creation": auto,
                              "include_topic_authorized_operations": False})
    return r.topics[0]


async def _produce(kb: InProcessBroker, name: str, partition: int = 0) -> Any:
    r = await kb.call(0, 9, {"transactional_id": None, "acks": -1, "timeout": 5000,
                             "topic_data": [{"name": name, "partition_data": [
                                 {"index": partition, "records": build_batch(
                                     [(b"k", b"garbage", [])], base_timestamp=1)}]}]})
    return r.responses[0].partition_responses[0]


async def _delete(kb: InProcessBroker, name: str) -> Any:
    r = await kb.call(20, 6, {"topics": [{"name": name, "topic_id": None}], "timeout": 5000})
    return r.responses[0]


async def _grow(kb: InProcessBroker, name: str, count: int) -> Any:
    r = await kb.call(37, 3, {"topics": [{"name": name, "count": count, "assignments": None}],
                              "timeout": 5000, "validate_only": False})
    return r.results[0]


# -- the pure rules ----------------------------------------------------------------------


def test_invalid_names_get_kafkas_messages() -> None:
    assert topics.invalid_reason("") == "Topic name is invalid: the empty string is not allowed"
    assert topics.invalid_reason("..") == "Topic name is invalid: '..' is not allowed"
    assert topics.invalid_reason("a b") == (
        "Topic name is invalid: 'a b' contains one or more characters other than ASCII "
        "alphanumerics, '.', '_' and '-'")
    assert topics.invalid_reason("é") is not None
    assert topics.invalid_reason(LONG) is None
    assert topics.invalid_reason(LONG + "x") == (
        f"Topic name is invalid: the length of '{LONG}x' is longer than the max allowed "
        "length 249")


def test_internal_by_name_and_collisions() -> None:
    assert topics.is_internal("__consumer_offsets") and topics.is_internal("__transaction_state")
    assert not topics.is_internal("__cluster_metadata") and not topics.is_internal("t")
    assert OFFSETS_TOPIC == topics.GROUP_METADATA_TOPIC_NAME
    assert topics.colliding_topic("a_b", ["a.b", "x"]) == "a.b"
    assert topics.colliding_topic("a.b", ["a.b"]) is None  # the same topic: "already exists"
    assert topics.colliding_topic("ab", ["a.b"]) is None
    assert topics.colliding_topic("a.b_c", ["a_b.c"]) == "a_b.c"


def test_partition_directories_must_fit_255_bytes() -> None:
    # "<249 chars>-99999" is 255 bytes; partition 100000 would be 256.
    assert topics.partitions_too_many(LONG, 100_000) is None
    message = topics.partitions_too_many(LONG, 100_001)
    assert message is not None and "at most 100000 partitions" in message
    assert topics.partitions_too_many("short", 2**31 - 1) is None


# -- names through the handlers ----------------------------------------------------------


async def test_dot_and_underscore_collide(kb: InProcessBroker) -> None:
    assert (await _create(kb, "a.b")).error_code == ErrorCode.NONE
    clash = await _create(kb, "a_b")
    assert (clash.error_code, clash.error_message) == (
        ErrorCode.INVALID_TOPIC_EXCEPTION, "Topic 'a_b' collides with existing topic: a.b")
    assert (await _create(kb, "a.b")).error_code == ErrorCode.TOPIC_ALREADY_EXISTS
    # Kafka 4.4 answers the auto-creation UNKNOWN_TOPIC_OR_PARTITION, every time
    # (its controller refuses the creation after the answer).
    for _ in range(2):
        assert (await _metadata(kb, "a_b")).error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert "a_b" not in kb.broker.snapshot().topics
    assert (await _delete(kb, "a.b")).error_code == ErrorCode.NONE
    assert (await _create(kb, "a_b")).error_code == ErrorCode.NONE


async def test_partition_counts_that_do_not_fit(kb: InProcessBroker) -> None:
    too_many = await _create(kb, LONG, 100_001)
    assert too_many.error_code == ErrorCode.INVALID_PARTITIONS
    assert LONG not in kb.broker.snapshot().topics
    huge = await _create(kb, "huge", 10_000)
    assert (huge.error_code, huge.error_message) == (
        ErrorCode.POLICY_VIOLATION, "Unable to perform excessively large batch operation.")
    assert (await _create(kb, LONG, 1)).error_code == ErrorCode.NONE
    assert (await _grow(kb, LONG, 100_001)).error_code == ErrorCode.INVALID_PARTITIONS
    assert (await _grow(kb, LONG, 10_002)).error_code == ErrorCode.POLICY_VIOLATION
    assert (await _grow(kb, LONG, 3)).error_code == ErrorCode.NONE


# -- internal topics -----------------------------------------------------------------------


async def test_consumer_offsets_only_in_its_own_shape(kb: InProcessBroker) -> None:
    one = await _create(kb, "__consumer_offsets", 1)
    assert one.error_code == ErrorCode.INVALID_PARTITIONS
    assert "offsets.topic.num.partitions (50)" in one.error_message
    bad_config = await _create(kb, "__consumer_offsets", 50, {"cleanup.policy": "delete"})
    assert bad_config.error_code == ErrorCode.INVALID_CONFIG
    assert (await _create(kb, "__consumer_offsets", -1, validate_only=True)).error_code == 0
    assert OFFSETS_TOPIC not in kb.broker.snapshot().topics

    made = await _create(kb, "__consumer_offsets", -1, {"cleanup.policy": "compact"})
    assert (made.error_code, made.num_partitions) == (ErrorCode.NONE, 50)
    topic = kb.broker.snapshot().topics[OFFSETS_TOPIC]
    assert topic.internal and len(topic.partitions) == 50
    assert topic.configs["cleanup.policy"] == "compact"
    assert kb.broker.groups.ready
    again = await _create(kb, "__consumer_offsets", 50)
    assert again.error_code == ErrorCode.TOPIC_ALREADY_EXISTS


async def test_other_internal_topics_are_never_created(kb: InProcessBroker) -> None:
    for name in ("__transaction_state", "__share_group_state"):
        refused = await _create(kb, name, 50)
        assert refused.error_code == ErrorCode.INVALID_REQUEST
        assert refused.error_message.startswith(f"Creation of internal topic {name} is prohibited")
        for _ in range(2):  # Kafka's first answer (it would create them); never created here
            entry = await _metadata(kb, name)
            assert (entry.error_code, entry.is_internal) == (
                ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, True)
        assert (await _produce(kb, name)).error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    kafka_own = await _create(kb, "__cluster_metadata", 1)
    assert (kafka_own.error_code, kafka_own.error_message) == (
        ErrorCode.INVALID_REQUEST, "Creation of internal topic __cluster_metadata is prohibited.")
    assert set(kb.broker.snapshot().topics) == set()


async def test_auto_create_makes_the_coordinators_topic(kb: InProcessBroker) -> None:
    entry = await _metadata(kb, "__consumer_offsets")
    assert (entry.error_code, entry.is_internal) == (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, True)
    entry = await _metadata(kb, "__consumer_offsets")
    assert entry.error_code == ErrorCode.NONE and entry.is_internal
    assert len(entry.partitions) == 50
    assert (await _metadata(kb, "plain")).is_internal is False


async def test_clients_never_append_delete_or_grow_internal_topics(kb: InProcessBroker) -> None:
    await kb.broker.groups.ensure_ready()
    produced = await _produce(kb, "__consumer_offsets", 3)
    assert (produced.error_code, produced.error_message) == (
        ErrorCode.INVALID_TOPIC_EXCEPTION, "Cannot append to internal topic __consumer_offsets")
    deleted = await _delete(kb, "__consumer_offsets")
    assert (deleted.error_code, deleted.error_message) == (
        ErrorCode.INVALID_TOPIC_EXCEPTION, "Cannot delete internal topic __consumer_offsets")
    assert (await _grow(kb, "__consumer_offsets", 60)).error_code == ErrorCode.INVALID_PARTITIONS
    assert len(kb.broker.snapshot().topics[OFFSETS_TOPIC].partitions) == 50


async def test_a_client_made_offsets_topic_is_internal_by_name(kb: InProcessBroker) -> None:
    # As an older kwire let a client create it: one partition, not flagged internal.
    await kb.broker.create_topic(OFFSETS_TOPIC, 1, {})
    assert (await _metadata(kb, OFFSETS_TOPIC)).is_internal
    assert (await _produce(kb, OFFSETS_TOPIC)).error_code == ErrorCode.INVALID_TOPIC_EXCEPTION
    assert (await _delete(kb, OFFSETS_TOPIC)).error_code == ErrorCode.INVALID_TOPIC_EXCEPTION


async def test_the_transaction_topic_is_the_coordinators_alone(kb: InProcessBroker) -> None:
    # One of any shape already there (an older kwire's) is used as it is, with its
    # partition count, as Kafka does; clients may neither write nor delete it.
    await kb.broker.create_topic("__transaction_state", 1, {})
    assert kb.broker.transactions.partition_for("any id") == 0
    assert (await _produce(kb, "__transaction_state")).error_code == (
        ErrorCode.INVALID_TOPIC_EXCEPTION)
    deleted = await _delete(kb, "__transaction_state")
    assert (deleted.error_code, deleted.error_message) == (
        ErrorCode.INVALID_TOPIC_EXCEPTION, "Cannot delete internal topic __transaction_state")
    assert "__transaction_state" in kb.broker.snapshot().topics


async def test_a_damaged_offsets_topic_is_skipped_at_load(
    kb: InProcessBroker, caplog: pytest.LogCaptureFixture
) -> None:
    await kb.broker.create_topic(OFFSETS_TOPIC, 1, {})
    await kb.broker.groups.wait_loaded()  # the first load replays an empty partition
    partition = kb.broker.partition(OFFSETS_TOPIC, 0)
    assert partition is not None
    for records in ([(b"\x00\x01garbage", b"garbage", [])],  # an OffsetCommit key cut short
                    [(b"\x00\x02\x00\x01g", b"\x7f\x7f", [])]):  # a group, value unknown
        batch = bytearray(build_batch(records, base_timestamp=1))
        await partition.append(batch, parse_header(batch), 1)
    kb.broker.groups = GroupManager(kb.broker, GroupCoordinator)
    with caplog.at_level(logging.WARNING, logger="kwire.groups"):
        await reload_groups(kb)
    lines = [r.getMessage() for r in caplog.records if r.name == "kwire.groups"]
    assert lines == [lines[0]] and "skipped 2 undecodable record(s) of __consumer_offsets-0, " \
        "the first at offset 0" in lines[0]
    assert not any(r.exc_info for r in caplog.records)
    # Groups work on the topic as it is.
    r = await kb.call(10, 3, {"key": "g", "key_type": 0})
    assert r.error_code == ErrorCode.NONE
    await _commit(kb, "g", "t", 5)
    assert await _committed(kb, "g", "t") == 5


async def _commit(kb: InProcessBroker, group: str, topic: str, offset: int) -> None:
    groups = kb.broker.groups
    await groups.call(group, lambda c, token, now: c.commit_offsets(
        token, now, group_id=group, generation_id=-1, member_id="", group_instance_id=None,
        retention_time_ms=-1, offsets=[(topic, 0, offset, -1, None)]))


async def _committed(kb: InProcessBroker, group: str, topic: str) -> int:
    groups = kb.broker.groups
    r = await groups.call(group, lambda c, token, now: c.fetch_offsets(
        token, now, group_id=group, partitions=[(topic, 0)]))
    return int(r.partitions[0].committed_offset)


async def test_deleting_a_topic_deletes_its_offsets(kb: InProcessBroker) -> None:
    await kb.broker.groups.ensure_ready()
    await _create(kb, "gone")
    await _create(kb, "kept")
    await _commit(kb, "g", "gone", 3000)
    await _commit(kb, "g", "kept", 7)
    assert (await _delete(kb, "gone")).error_code == ErrorCode.NONE
    assert await _committed(kb, "g", "gone") == -1
    assert await _committed(kb, "g", "kept") == 7
    # The tombstones are stored: a coordinator rebuilt from the topic agrees.
    kb.broker.groups = GroupManager(kb.broker, GroupCoordinator)
    await reload_groups(kb)
    assert await _committed(kb, "g", "gone") == -1
    assert await _committed(kb, "g", "kept") == 7


async def test_deleting_a_topic_without_offsets_topic(kb: InProcessBroker) -> None:
    await _create(kb, "t")
    assert (await _delete(kb, "t")).error_code == ErrorCode.NONE
    assert OFFSETS_TOPIC not in kb.broker.snapshot().topics  # not created just for that


async def test_delete_topics_request_checks_as_kafka(kb: InProcessBroker) -> None:
    a = await kb.broker.create_topic("a", 1, {})
    b = await kb.broker.create_topic("b", 1, {})
    await kb.broker.create_topic("c", 1, {})
    unknown = uuid.UUID(int=77)
    r = await kb.call(20, 6, {"timeout": 5000, "topics": [
        {"name": "a", "topic_id": None}, {"name": "a", "topic_id": None},
        {"name": None, "topic_id": b.topic_id}, {"name": None, "topic_id": b.topic_id},
        {"name": "c", "topic_id": a.topic_id}, {"name": None, "topic_id": unknown},
        {"name": "nope", "topic_id": None}, {"name": None, "topic_id": None}]})
    assert [(t.name, t.error_code, t.error_message) for t in r.responses] == [
        ("c", ErrorCode.INVALID_REQUEST, "You may not specify both topic name and topic id."),
        (None, ErrorCode.INVALID_REQUEST, "Neither topic name nor id were specified."),
        ("a", ErrorCode.INVALID_REQUEST, "Duplicate topic name."),
        (None, ErrorCode.INVALID_REQUEST, "Duplicate topic id."),
        (None, ErrorCode.UNKNOWN_TOPIC_ID, "This server does not host this topic ID."),
        ("nope", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
         "This server does not host this topic-partition.")]
    assert set(kb.broker.snapshot().topics) == {"a", "b", "c"}  # nothing named twice goes
    r = await kb.call(20, 6, {"timeout": 5000, "topics": [
        {"name": None, "topic_id": b.topic_id}, {"name": "c", "topic_id": None}]})
    assert sorted((t.name, t.error_code, t.error_message) for t in r.responses) == [
        ("b", 0, None), ("c", 0, None)]


async def test_delete_topics_disabled_fails_the_whole_request(tmp_path: Path) -> None:
    kb = InProcessBroker(tmp_path, **{"delete.topic.enable": "false"})
    await kb.broker.create_topic("a", 1, {})
    r = await kb.call(20, 5, {"topic_names": ["a", "nope"], "timeout": 5000})
    assert [(t.name, t.error_code) for t in r.responses] == [
        ("a", ErrorCode.TOPIC_DELETION_DISABLED), ("nope", ErrorCode.TOPIC_DELETION_DISABLED)]
    r = await kb.call(20, 2, {"topic_names": ["a"], "timeout": 5000})
    assert [(t.name, t.error_code) for t in r.responses] == [("a", ErrorCode.INVALID_REQUEST)]
    assert "a" in kb.broker.snapshot().topics


async def test_create_topics_and_partitions_answers_as_kafka(kb: InProcessBroker) -> None:
    r = await kb.call(19, 7, {"topics": [
        {"name": n, "num_partitions": 1, "replication_factor": -1, "assignments": (),
         "configs": ()} for n in ("d", "ok", "d")], "timeout": 5000, "validate_only": False})
    # Results first, then each name given twice, once (ControllerApis.createTopics).
    assert [(t.name, t.error_code, t.error_message) for t in r.topics] == [
        ("ok", 0, None), ("d", ErrorCode.INVALID_REQUEST, "Duplicate topic name.")]
    assert "d" not in kb.broker.snapshot().topics
    r = await kb.call(19, 7, {"topics": [{"name": "v", "num_partitions": 1,
                                          "replication_factor": -1, "assignments": (),
                                          "configs": ()}],
                              "timeout": 5000, "validate_only": True})
    assert r.topics[0].topic_id is not None  # a fresh id, as Kafka answers
    assert "v" not in kb.broker.snapshot().topics
    r = await kb.call(19, 7, {"topics": [{"name": "b5", "num_partitions": -1,
                                          "replication_factor": -1, "configs": (),
                                          "assignments": [{"partition_index": 0,
                                                           "broker_ids": [5]}]}],
                              "timeout": 5000, "validate_only": False})
    assert (r.topics[0].error_code, r.topics[0].error_message) == (
        ErrorCode.INVALID_REPLICA_ASSIGNMENT,
        "The manual partition assignment includes broker 5, but no such broker is registered.")

    def grow(*topics: tuple[str, int, list[list[int]] | None]) -> Any:
        return kb.call(37, 3, {"topics": [
            {"name": n, "count": c, "assignments": None if a is None else
             [{"broker_ids": b} for b in a]} for n, c, a in topics],
            "timeout": 5000, "validate_only": False})

    r = await grow(("ok", 3, None), ("ok", 4, None))
    assert [(t.name, t.error_code, t.error_message) for t in r.results] == [
        ("ok", ErrorCode.INVALID_REQUEST, "Duplicate topic name.")]
    assert len(kb.broker.snapshot().topics["ok"].partitions) == 1
    r = await grow(("ok", 1, None))
    assert r.results[0].error_message == "Topic already has 1 partition(s)."
    r = await grow(("ok", 0, None))
    assert r.results[0].error_message == (
        "The topic ok currently has 1 partition(s); 0 would not be an increase.")
    r = await grow(("ok", 3, [[1]]))
    assert (r.results[0].error_code, r.results[0].error_message) == (
        ErrorCode.INVALID_REPLICA_ASSIGNMENT,
        "Attempted to add 2 additional partition(s), but only 1 assignment(s) were specified.")
    r = await grow(("nope", 3, None))
    assert (r.results[0].error_code, r.results[0].error_message) == (
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, None)
