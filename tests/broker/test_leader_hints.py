"""KIP-951 leader hints: Produce (v10+) and Fetch (v16+) answers that say this
broker does not lead a partition name its current leader (current_leader) and
list the live leaders' endpoints (node_endpoints), as Kafka's KafkaApis does
(getCurrentLeader; handleProduceRequest: NOT_LEADER_OR_FOLLOWER only;
handleFetchRequest: NOT_LEADER_OR_FOLLOWER and FENCED_LEADER_EPOCH).

A single in-process node is made to see other brokers leading some partitions by
wrapping its metadata store's snapshot, then letting the replica manager close
what it no longer leads, as a metadata change in cluster mode does."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path
from typing import Any

import pytest
from _harness import InProcessBroker  # type: ignore[import-not-found]

from kwire.cluster.api import BrokerInfo, ClusterMetadata, PartitionState
from kwire.errors import ErrorCode
from kwire.protocol.codec import encode_response
from kwire.protocol.fetch_response import encode_fetch_response
from kwire.records.builder import build_batch

OTHER = BrokerInfo(2, "other.example", 9093, "rack-b")
THIRD = BrokerInfo(3, "third.example", 9094, None)
BATCH = build_batch([(None, b"v", [])], base_timestamp=1)


async def _broker(tmp: Path, monkeypatch: pytest.MonkeyPatch,
                  leaders: dict[int, PartitionState],
                  live: tuple[BrokerInfo, ...] = (OTHER, THIRD)) -> InProcessBroker:
    """Node 1 with topic "t" of 4 partitions, whose partitions in `leaders` are led
    as given; `live`: the other live brokers."""
    kb = InProcessBroker(tmp)
    await kb.broker.create_topic("t", 4, {})
    store = kb.broker.metadata
    own = store.snapshot

    def moved() -> ClusterMetadata:
        snapshot = own()
        topic = snapshot.topics["t"]
        partitions = tuple(leaders.get(i, p) for i, p in enumerate(topic.partitions))
        topics = {**snapshot.topics, "t": dataclasses.replace(topic, partitions=partitions)}
        return dataclasses.replace(snapshot, brokers=snapshot.brokers + live, topics=topics)

    monkeypatch.setattr(store, "snapshot", moved)
    await kb.broker.replicas.apply()  # gives up what node 1 no longer leads
    return kb


def _topic_id(kb: InProcessBroker) -> uuid.UUID:
    return kb.broker.snapshot().topics["t"].topic_id


async def _produce(kb: InProcessBroker, version: int, indexes: list[int]) -> Any:
    topic: dict[str, Any] = {"name": "t", "partition_data": [
        {"index": i, "records": BATCH} for i in indexes]}
    if version >= 13:
        topic["topic_id"] = _topic_id(kb)
    return await kb.call(0, version, {"transactional_id": None, "acks": -1, "timeout": 5000,
                                      "topic_data": [topic]})


def _fetch_body(kb: InProcessBroker, version: int,
                partitions: list[tuple[int, int]]) -> dict[str, Any]:
    """`partitions`: (index, current_leader_epoch) pairs."""
    body: dict[str, Any] = {
        "max_wait": 0, "min_bytes": 1, "max_bytes": 1 << 20, "isolation_level": 0,
        "session_id": 0, "session_epoch": -1, "forgotten_topics_data": (), "rack_id": "",
        "topics": [{"topic": "t", "topic_id": _topic_id(kb), "partitions": [
            {"partition": i, "fetch_offset": 0, "partition_max_bytes": 1 << 20,
             "log_start_offset": -1, "current_leader_epoch": epoch}
            for i, epoch in partitions]}],
    }
    return body


def _leader(p: Any) -> tuple[int, int]:
    return (p.current_leader.leader_id, p.current_leader.leader_epoch)


def _nodes(r: Any) -> list[tuple[int, str, int, str | None]]:
    return [(n.node_id, n.host, n.port, n.rack) for n in r.node_endpoints]


# -- Produce ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", [10, 11, 12, 13])
async def test_produce_names_the_leader_of_a_partition_led_elsewhere(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: int) -> None:
    kb = await _broker(tmp_path, monkeypatch, {1: PartitionState(2, 5, (2, 1)),
                                               2: PartitionState(2, 7, (2, 1))})
    r = await _produce(kb, version, [0, 1, 2])
    p0, p1, p2 = r.responses[0].partition_responses
    assert (p0.error_code, _leader(p0)) == (ErrorCode.NONE, (-1, -1))
    assert (p1.error_code, _leader(p1)) == (ErrorCode.NOT_LEADER_OR_FOLLOWER, (2, 5))
    assert (p2.error_code, _leader(p2)) == (ErrorCode.NOT_LEADER_OR_FOLLOWER, (2, 7))
    assert _nodes(r) == [(2, "other.example", 9093, "rack-b")]  # each leader once


async def test_produce_before_v10_has_no_hints(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kb = await _broker(tmp_path, monkeypatch, {1: PartitionState(2, 5, (2, 1))})
    r = await _produce(kb, 9, [1])
    (p,) = r.responses[0].partition_responses
    assert p.error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER
    assert not hasattr(p, "current_leader") and not hasattr(r, "node_endpoints")


async def test_produce_names_leaders_that_are_not_live_but_lists_only_live_endpoints(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Node 4 is no live broker; partition 2 has no leader at all (epoch still known).
    kb = await _broker(tmp_path, monkeypatch, {1: PartitionState(4, 3, (4, 1)),
                                               2: PartitionState(-1, 6, (4, 1)),
                                               3: PartitionState(3, 1, (3, 1))})
    r = await _produce(kb, 12, [1, 2, 3])
    p1, p2, p3 = r.responses[0].partition_responses
    assert {p.error_code for p in (p1, p2, p3)} == {ErrorCode.NOT_LEADER_OR_FOLLOWER}
    assert (_leader(p1), _leader(p2), _leader(p3)) == ((4, 3), (-1, 6), (3, 1))
    assert _nodes(r) == [(3, "third.example", 9094, None)]


async def test_produce_other_errors_get_no_hint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kb = await _broker(tmp_path, monkeypatch, {1: PartitionState(2, 5, (2, 1))})
    r = await _produce(kb, 12, [9])  # no such partition
    (p,) = r.responses[0].partition_responses
    assert (p.error_code, _leader(p)) == (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, (-1, -1))
    assert _nodes(r) == []


async def test_produce_to_a_fenced_partition_names_the_metadata_leader(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The log was taken over by another owner before this node's metadata moved:
    # the partition is still open here, but fenced.
    kb = await _broker(tmp_path, monkeypatch, {})
    partition = kb.broker.partition("t", 0)
    assert partition is not None
    partition.fenced = True
    r = await _produce(kb, 11, [0])
    (p,) = r.responses[0].partition_responses
    assert (p.error_code, _leader(p)) == (ErrorCode.NOT_LEADER_OR_FOLLOWER, (1, 0))
    assert _nodes(r) == [(1, "127.0.0.1", 9092, None)]


async def test_produce_with_no_error_lists_no_endpoints(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kb = await _broker(tmp_path, monkeypatch, {1: PartitionState(2, 5, (2, 1))})
    r = await _produce(kb, 13, [0, 3])
    assert [p.error_code for p in r.responses[0].partition_responses] == [0, 0]
    assert _nodes(r) == []


# -- Fetch -----------------------------------------------------------------------------


@pytest.mark.parametrize("version", [16, 17, 18])
async def test_fetch_names_the_leader_of_a_partition_led_elsewhere(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: int) -> None:
    kb = await _broker(tmp_path, monkeypatch, {1: PartitionState(2, 5, (2, 1)),
                                               2: PartitionState(3, 2, (3, 1))})
    await _produce(kb, 12, [0])
    r = await kb.call(1, version, _fetch_body(kb, version, [(0, -1), (1, -1), (2, 5), (9, -1)]))
    assert r.error_code == ErrorCode.NONE
    by_index = {p.partition_index: p for t in r.responses for p in t.partitions}
    assert (by_index[0].error_code, _leader(by_index[0])) == (ErrorCode.NONE, (-1, -1))
    assert len(by_index[0].records) == len(BATCH)
    assert (by_index[1].error_code, _leader(by_index[1])) == (
        ErrorCode.NOT_LEADER_OR_FOLLOWER, (2, 5))
    assert (by_index[2].error_code, _leader(by_index[2])) == (
        ErrorCode.NOT_LEADER_OR_FOLLOWER, (3, 2))
    assert (by_index[9].error_code, _leader(by_index[9])) == (
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, (-1, -1))
    assert _nodes(r) == [(2, "other.example", 9093, "rack-b"), (3, "third.example", 9094, None)]


@pytest.mark.parametrize("version", [12, 15])
async def test_fetch_before_v16_has_no_hints(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: int) -> None:
    kb = await _broker(tmp_path, monkeypatch, {1: PartitionState(2, 5, (2, 1))})
    body = _fetch_body(kb, version, [(1, -1)])
    if version < 13:
        del body["topics"][0]["topic_id"]
    r = await kb.call(1, version, body)
    (p,) = r.responses[0].partitions
    assert (p.error_code, _leader(p)) == (ErrorCode.NOT_LEADER_OR_FOLLOWER, (-1, -1))
    assert not hasattr(r, "node_endpoints")


async def test_fetch_fenced_leader_epoch_names_this_broker_at_its_epoch(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Node 1 still leads partition 0, now at epoch 3; node 2 leads partition 1.
    kb = await _broker(tmp_path, monkeypatch, {0: PartitionState(1, 3, (1,)),
                                               1: PartitionState(2, 5, (2, 1))})
    partition = kb.broker.partition("t", 0)
    assert partition is not None and partition.leader_epoch == 3
    r = await kb.call(1, 18, _fetch_body(kb, 18, [(0, 1), (1, 5)]))
    p0, p1 = r.responses[0].partitions
    assert (p0.error_code, _leader(p0)) == (ErrorCode.FENCED_LEADER_EPOCH, (1, 3))
    assert (p1.error_code, _leader(p1)) == (ErrorCode.NOT_LEADER_OR_FOLLOWER, (2, 5))
    assert _nodes(r) == [(1, "127.0.0.1", 9092, None), (2, "other.example", 9093, "rack-b")]


async def test_fetch_unknown_leader_epoch_gets_no_hint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kb = await _broker(tmp_path, monkeypatch, {})
    r = await kb.call(1, 17, _fetch_body(kb, 17, [(0, 4)]))
    (p,) = r.responses[0].partitions
    assert (p.error_code, _leader(p)) == (ErrorCode.UNKNOWN_LEADER_EPOCH, (-1, -1))
    assert _nodes(r) == []


async def test_fetch_from_a_session_lists_endpoints_for_its_partitions(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kb = await _broker(tmp_path, monkeypatch, {})
    body = _fetch_body(kb, 18, [(0, -1), (1, -1)])
    body["session_epoch"] = 0  # open a session
    r = await kb.call(1, 18, body)
    assert r.session_id > 0 and _nodes(r) == []
    # Partition 1 moves to node 2; the incremental fetch names no partitions itself.
    leaders = {1: PartitionState(2, 1, (2, 1))}
    own = kb.broker.metadata.snapshot

    def moved() -> ClusterMetadata:
        snapshot = own()
        topic = snapshot.topics["t"]
        partitions = tuple(leaders.get(i, p) for i, p in enumerate(topic.partitions))
        return dataclasses.replace(snapshot, topics={
            **snapshot.topics, "t": dataclasses.replace(topic, partitions=partitions)})

    monkeypatch.setattr(kb.broker.metadata, "snapshot", moved)
    await kb.broker.replicas.apply()
    incremental = _fetch_body(kb, 18, [])
    incremental.update(session_id=r.session_id, session_epoch=1, topics=())
    r = await kb.call(1, 18, incremental)
    (p,) = r.responses[0].partitions
    assert (p.partition_index, p.error_code, _leader(p)) == (
        1, ErrorCode.NOT_LEADER_OR_FOLLOWER, (2, 1))
    assert _nodes(r) == [(2, "other.example", 9093, "rack-b")]


# -- the dedicated Fetch encoder writes the tagged fields as kio does -------------------


@pytest.mark.parametrize("version", [12, 15, 16, 18])
@pytest.mark.parametrize("leader", [(2, 5), (-1, 4), (-1, -1)])
def test_fetch_encoder_writes_hints_as_kio(version: int, leader: tuple[int, int]) -> None:
    partition = {"partition_index": 1, "error_code": ErrorCode.NOT_LEADER_OR_FOLLOWER,
                 "high_watermark": -1, "last_stable_offset": -1, "log_start_offset": -1,
                 "aborted_transactions": None, "preferred_read_replica": -1, "records": b"",
                 "current_leader": {"leader_id": leader[0], "leader_epoch": leader[1]}}
    diverging = dict(partition, partition_index=2, error_code=0,
                     diverging_epoch={"epoch": 1, "end_offset": 9})
    body = {"throttle_time": 0, "error_code": 0, "session_id": 0, "responses": [
        {"topic": "t", "topic_id": uuid.UUID(int=7), "partitions": [partition, diverging]}],
        "node_endpoints": [{"node_id": 2, "host": "other.example", "port": 9093,
                            "rack": "rack-b"},
                           {"node_id": 3, "host": "h", "port": 1, "rack": None}]}
    assert b"".join(encode_fetch_response(version, body)) == encode_response(1, version, body)
