"""DescribeTopicPartitions (75) answered as Kafka 4.4.0 answers it: pages bounded
by response_partition_limit and continued through next_cursor, topics in name
order, unknown and invalid names, whole-request errors in the API's own shape,
and the partition view shared with Metadata (leader, ISR and offline replicas
from the live brokers). Expected answers were checked against a running
Kafka 4.4.0 (the differential scenarios in diff_sc_describe_topic_partitions)."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path
from typing import Any

import pytest
from _harness import InProcessBroker  # type: ignore[import-not-found]

from kwire.broker.handlers._partition_view import partition_view
from kwire.cluster.api import BrokerInfo, ClusterMetadata, PartitionState, TopicMetadata
from kwire.errors import ErrorCode

DTP = 75
ALL_TOPIC_OPERATIONS = 3576
NOT_PROVIDED = -(2**31)


@pytest.fixture
async def kb(tmp_path: Path) -> InProcessBroker:
    kb = InProcessBroker(tmp_path)
    for name, partitions in (("pa", 3), ("pb", 2), ("pc", 1)):
        await create(kb, name, partitions)
    return kb


async def create(kb: InProcessBroker, name: str, partitions: int) -> None:
    r = await kb.call(19, 7, {"topics": [{
        "name": name, "num_partitions": partitions, "replication_factor": 1,
        "assignments": (), "configs": ()}], "timeout": 5000, "validate_only": False})
    assert r.topics[0].error_code == ErrorCode.NONE


async def describe(kb: InProcessBroker, names: list[str], limit: int = 2000,
                   cursor: tuple[str, int] | None = None) -> Any:
    return await kb.call(DTP, 0, {
        "topics": [{"name": n} for n in names], "response_partition_limit": limit,
        "cursor": None if cursor is None else {"topic_name": cursor[0],
                                               "partition_index": cursor[1]}})


def page(r: Any) -> tuple[list[tuple[str, int, list[int]]], tuple[str, int] | None]:
    """(name, error, partition indexes) per topic, and the next cursor."""
    topics = [(t.name, int(t.error_code), [p.partition_index for p in t.partitions])
              for t in r.topics]
    c = r.next_cursor
    return topics, None if c is None else (c.topic_name, c.partition_index)


async def test_api_versions_advertises_v0_as_kafka(kb: InProcessBroker) -> None:
    r = await kb.call(18, 3, {"client_software_name": "kwire-test",
                              "client_software_version": "1.0"})
    keys = {k.api_key: (k.min_version, k.max_version) for k in r.api_keys}
    assert keys[DTP] == (0, 0)  # Kafka 4.4.0's range


async def test_topics_sorted_with_every_partition_field(kb: InProcessBroker) -> None:
    r = await describe(kb, ["pc", "pa", "pb"])
    assert page(r) == ([("pa", 0, [0, 1, 2]), ("pb", 0, [0, 1]), ("pc", 0, [0])], None)
    meta = await kb.call(3, 12, {"topics": None, "allow_auto_topic_creation": False,
                                 "include_topic_authorized_operations": False})
    ids = {t.name: t.topic_id for t in meta.topics}
    for t in r.topics:
        assert t.topic_id == ids[t.name] and t.is_internal is False
        assert t.topic_authorized_operations == ALL_TOPIC_OPERATIONS
        for p in t.partitions:
            assert (p.error_code, p.leader_id, p.leader_epoch) == (0, 1, 0)
            assert (p.replica_nodes, p.isr_nodes, p.offline_replicas) == ((1,), (1,), ())
            # No eligible leader replicas: empty lists, not null, as Kafka answers.
            assert (p.eligible_leader_replicas, p.last_known_elr) == ((), ())


async def test_limit_splits_a_topic_and_the_cursor_continues(kb: InProcessBroker) -> None:
    first = await describe(kb, ["pc", "pb", "pa"], limit=4)
    assert page(first) == ([("pa", 0, [0, 1, 2]), ("pb", 0, [0])], ("pb", 1))
    second = await describe(kb, ["pa", "pb", "pc"], limit=4, cursor=("pb", 1))
    assert page(second) == ([("pb", 0, [1]), ("pc", 0, [0])], None)


async def test_a_full_page_points_at_the_next_topic_even_unknown(kb: InProcessBroker) -> None:
    assert page(await describe(kb, ["pa", "pb"], limit=3)) == ([("pa", 0, [0, 1, 2])], ("pb", 0))
    assert page(await describe(kb, ["pa", "zz"], limit=3)) == ([("pa", 0, [0, 1, 2])], ("zz", 0))
    # The last topic filling the page exactly: nothing left, no cursor.
    assert page(await describe(kb, ["pa"], limit=3)) == ([("pa", 0, [0, 1, 2])], None)


async def test_cursor_in_the_middle_of_a_topic(kb: InProcessBroker) -> None:
    r = await describe(kb, ["pa", "pb", "pc"], limit=2, cursor=("pa", 1))
    assert page(r) == ([("pa", 0, [1, 2])], ("pb", 0))
    # Topics before the cursor's are left out; the cursor only moves its own topic.
    r = await describe(kb, ["pa", "pb", "pc"], cursor=("pb", 1))
    assert page(r) == ([("pb", 0, [1]), ("pc", 0, [0])], None)


async def test_cursor_past_the_end_and_int_overflow(kb: InProcessBroker) -> None:
    assert page(await describe(kb, ["pa", "pb"], cursor=("pb", 7))) == ([("pb", 0, [])], None)
    # Kafka computes start + limit as a Java int: it wraps, and the cursor with it.
    r = await describe(kb, ["pa", "pb"], cursor=("pa", 2**31 - 1))
    assert page(r) == ([("pa", 0, [])], ("pa", 2**31 - 1 + 2000 - 2**32))


async def test_cursor_naming_a_topic_not_requested_fails_the_request(
        kb: InProcessBroker) -> None:
    for cursor in (("pc", 0), ("nope", 0), ("pb", -1)):
        r = await describe(kb, ["pb", "pa", "pb"], cursor=cursor)
        # getErrorResponse: every named topic as named, repeats included.
        assert page(r) == ([("pb", 42, []), ("pa", 42, []), ("pb", 42, [])], None)
        assert {(t.topic_id, t.is_internal, t.topic_authorized_operations)
                for t in r.topics} == {(None, False, NOT_PROVIDED)}
    # Every topic asked for, a negative cursor partition: no topic to carry the error.
    assert page(await describe(kb, [], cursor=("pb", -1))) == ([], None)


async def test_unknown_and_invalid_names(kb: InProcessBroker) -> None:
    names = ["pb", "missing", "bad name!", "x" * 250, ".", "__transaction_state", "pa", "pa"]
    r = await describe(kb, names, limit=1)
    # In name order, answered once each, without using up the page.
    assert page(r) == ([(".", 17, []), ("__transaction_state", 3, []), ("bad name!", 17, []),
                        ("missing", 3, []), ("pa", 0, [0])], ("pa", 1))
    unknown = {t.name: t for t in r.topics if t.error_code}
    assert unknown["__transaction_state"].is_internal is True
    assert unknown["missing"].is_internal is False
    assert {(t.topic_id, t.topic_authorized_operations) for t in unknown.values()} == {
        (None, ALL_TOPIC_OPERATIONS)}
    # Names longer than Kafka's limit are invalid too (x * 250 sorts last, after the page).
    r = await describe(kb, ["x" * 250])
    assert page(r) == ([("x" * 250, 17, [])], None)


async def test_empty_name_without_cursor_fails_as_kafka(kb: InProcessBroker) -> None:
    # Kafka 4.4 reads the missing cursor for the topic named "": UNKNOWN_SERVER_ERROR.
    r = await describe(kb, ["", "pa"])
    assert page(r) == ([("", -1, []), ("pa", -1, [])], None)
    r = await describe(kb, ["", "pa"], cursor=("", 0))
    assert page(r) == ([("", 17, []), ("pa", 0, [0, 1, 2])], None)


async def test_limit_is_at_least_one_and_at_most_2000(kb: InProcessBroker) -> None:
    for limit in (0, -5, 1):
        assert page(await describe(kb, ["pa", "pb"], limit=limit)) == (
            [("pa", 0, [0])], ("pa", 1))
    await create(kb, "big", 2001)
    r = await describe(kb, ["big"], limit=2**31 - 1)
    assert len(r.topics[0].partitions) == 2000 and page(r)[1] == ("big", 2000)
    assert page(await describe(kb, ["big"], cursor=("big", 2000)))[0] == [("big", 0, [2000])]


async def test_every_topic_from_a_cursor_includes_internal_ones(kb: InProcessBroker) -> None:
    await kb.call(3, 9, {"topics": [{"name": "__consumer_offsets"}],  # auto-created
                         "allow_auto_topic_creation": True,
                         "include_cluster_authorized_operations": False,
                         "include_topic_authorized_operations": False})
    r = await describe(kb, [], limit=1)
    assert page(r) == ([("__consumer_offsets", 0, [0])], ("__consumer_offsets", 1))
    assert r.topics[0].is_internal is True
    r = await describe(kb, [], limit=3, cursor=("pab", 0))  # need not be a topic
    assert page(r) == ([("pb", 0, [0, 1]), ("pc", 0, [0])], None)
    # Missing topics are never answered when every topic is asked for.
    r = await describe(kb, [], limit=2, cursor=("pa", 1))
    assert page(r) == ([("pa", 0, [1, 2])], ("pb", 0))


async def test_offline_leader_answers_no_error_unlike_metadata(
        kb: InProcessBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    live = kb.broker.snapshot()
    other = BrokerInfo(2, "127.0.0.1", 9093)
    snapshot = dataclasses.replace(live, brokers=(other,))
    monkeypatch.setattr(kb.broker, "snapshot", lambda: snapshot)
    (p,) = (await describe(kb, ["pc"])).topics[0].partitions
    assert (p.error_code, p.leader_id, p.leader_epoch) == (0, -1, 0)
    assert (p.replica_nodes, p.isr_nodes, p.offline_replicas) == ((1,), (), (1,))
    meta = await kb.call(3, 12, {"topics": [{"name": "pc", "topic_id": None}],
                                 "allow_auto_topic_creation": False,
                                 "include_topic_authorized_operations": False})
    (m,) = meta.topics[0].partitions
    assert (m.error_code, m.leader_id) == (ErrorCode.LEADER_NOT_AVAILABLE, -1)
    assert (m.replica_nodes, m.isr_nodes, m.offline_replicas) == ((1,), (), (1,))


def _snapshot(*live: int) -> ClusterMetadata:
    return ClusterMetadata(
        cluster_id="c", controller_id=live[0] if live else -1,
        brokers=tuple(BrokerInfo(n, "h", 9000 + n) for n in live),
        topics={"t": TopicMetadata("t", uuid.UUID(int=1), ())})


def test_partition_view_all_live_is_what_metadata_always_answered() -> None:
    v = partition_view(_snapshot(1, 2, 3), PartitionState(2, 7, (2, 3, 1)))
    assert (v.error_code, v.leader_id, v.leader_epoch) == (ErrorCode.NONE, 2, 7)
    assert (v.replica_nodes, v.isr_nodes, v.offline_replicas) == ((2, 3, 1), (2, 3, 1), ())


def test_partition_view_live_replicas_in_sync_in_replica_order() -> None:
    v = partition_view(_snapshot(1, 3), PartitionState(3, 4, (2, 3, 1)))
    assert (v.error_code, v.leader_id) == (ErrorCode.NONE, 3)
    assert (v.replica_nodes, v.isr_nodes, v.offline_replicas) == ((2, 3, 1), (3, 1), (2,))


def test_partition_view_leader_not_live() -> None:
    v = partition_view(_snapshot(1), PartitionState(2, 5, (2, 1)))
    assert (v.error_code, v.leader_id, v.leader_epoch) == (ErrorCode.LEADER_NOT_AVAILABLE, -1, 5)
    assert (v.isr_nodes, v.offline_replicas) == ((1,), (2,))
    none_live = partition_view(_snapshot(), PartitionState(1, 0, (1,)))
    assert (none_live.leader_id, none_live.isr_nodes, none_live.offline_replicas) == (
        -1, (), (1,))
