"""ReplicaManager, the one owner of what this broker leads, and the group
coordinator's shards that follow the `__consumer_offsets` partitions it leads.

Leadership is moved here the way the cluster's metadata moves it: a store whose
snapshot says which broker leads each partition at which epoch (the local store
underneath, with leaders and epochs overridden per partition)."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from kwire.broker.services import Broker
from kwire.clock import ManualClock
from kwire.cluster.api import BrokerInfo, ClusterMetadata
from kwire.cluster.local import LocalMetadataStore
from kwire.config import load_config
from kwire.coordinator.group.manager import OFFSETS_TOPIC, partition_for
from kwire.errors import ErrorCode, KwireError
from kwire.log.api import TopicPartition
from kwire.log.memory import MemoryLogStore

ME = BrokerInfo(1, "127.0.0.1", 9092)
OTHER = BrokerInfo(2, "127.0.0.1", 9093)


class MovableLeaders(LocalMetadataStore):
    """The local store, with leaders and epochs set by the test."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir, ME)
        self.moved: dict[tuple[str, int], tuple[int, int]] = {}

    def snapshot(self) -> ClusterMetadata:
        base = super().snapshot()
        topics = {}
        for name, topic in base.topics.items():
            partitions = tuple(
                dataclasses.replace(p, leader=self.moved[(name, i)][0],
                                    leader_epoch=self.moved[(name, i)][1])
                if (name, i) in self.moved else p
                for i, p in enumerate(topic.partitions))
            topics[name] = dataclasses.replace(topic, partitions=partitions)
        return ClusterMetadata(base.cluster_id, base.controller_id, (ME, OTHER), topics,
                               base.broker_configs, base.group_configs)


@pytest.fixture
def store(tmp_path: Path) -> MovableLeaders:
    return MovableLeaders(tmp_path)


@pytest.fixture
def broker(tmp_path: Path, store: MovableLeaders) -> Broker:
    clock = ManualClock()
    return Broker(load_config(data_dir=str(tmp_path)), ME, store,
                  MemoryLogStore(clock.wall_ms), clock)


async def test_errors_in_kafkas_order(broker: Broker, store: MovableLeaders) -> None:
    await broker.create_topic("t", 2, {})
    replicas = broker.replicas
    assert replicas.get_partition_or_error("nope", 0) == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert replicas.get_partition_or_error("t", 2) == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert replicas.get_partition_or_error("t", 0, current_leader_epoch=1) == \
        ErrorCode.UNKNOWN_LEADER_EPOCH
    store.moved[("t", 0)] = (1, 3)
    await replicas.apply()
    assert replicas.get_partition_or_error("t", 0, current_leader_epoch=2) == \
        ErrorCode.FENCED_LEADER_EPOCH
    assert replicas.get_partition_or_error("t", 0, current_leader_epoch=4) == \
        ErrorCode.UNKNOWN_LEADER_EPOCH
    partition = replicas.get_partition_or_error("t", 0, current_leader_epoch=3)
    assert not isinstance(partition, ErrorCode) and partition.leader_epoch == 3
    store.moved[("t", 1)] = (2, 1)
    await replicas.apply()
    assert replicas.get_partition_or_error("t", 1) == ErrorCode.NOT_LEADER_OR_FOLLOWER
    assert replicas.leader_of("t", 1) == 2


async def test_apply_closes_what_moved_away_and_keeps_the_data(
    broker: Broker, store: MovableLeaders
) -> None:
    await broker.create_topic("t", 2, {})
    partition = broker.partition("t", 1)
    assert partition is not None
    store.moved[("t", 1)] = (2, 1)
    change = await broker.replicas.apply()
    assert change.lost == (TopicPartition("t", 1),) and change.gained == ()
    assert broker.partition("t", 1) is None and partition.fenced
    # Leadership comes back at a later epoch: the partition opens again, at it.
    store.moved[("t", 1)] = (1, 2)
    change = await broker.replicas.apply()
    assert change.gained == (TopicPartition("t", 1),)
    reopened = broker.partition("t", 1)
    assert reopened is not None and reopened.leader_epoch == 2 and reopened is not partition


async def test_an_epoch_moving_under_this_leader_reopens_the_log(
    broker: Broker, store: MovableLeaders
) -> None:
    """Leadership went elsewhere and came back between two passes: the log is
    taken over again, since another broker may have written to it meanwhile."""
    await broker.create_topic("t", 1, {})
    before = broker.partition("t", 0)
    store.moved[("t", 0)] = (1, 5)
    change = await broker.replicas.apply()
    assert change.lost == change.gained == (TopicPartition("t", 0),)
    after = broker.partition("t", 0)
    assert after is not None and after is not before and after.leader_epoch == 5
    assert after.epoch_start_offset == 0


async def test_group_shards_follow_the_offsets_partitions(
    broker: Broker, store: MovableLeaders
) -> None:
    groups = broker.groups
    await groups.ensure_ready()
    shard = partition_for("g", 50)

    async def commit(offset: int) -> object:
        return await groups.call("g", lambda c, token, now: c.commit_offsets(
            token, now, group_id="g", generation_id=-1, member_id="", group_instance_id=None,
            retention_time_ms=-1, offsets=[("t", 0, offset, -1, None)]))

    await commit(7)
    store.moved[(OFFSETS_TOPIC, shard)] = (2, 1)
    await broker.replicas.apply()
    assert not groups.hosts("g")
    with pytest.raises(KwireError) as refused:
        await commit(8)
    assert refused.value.error_code == ErrorCode.NOT_COORDINATOR
    # FindCoordinator names the shard's new leader.
    found = broker.leader_node(OFFSETS_TOPIC, groups.partition_for("g"))
    assert found == OTHER
    # Back here: the shard is replayed from its partition, commit included.
    store.moved[(OFFSETS_TOPIC, shard)] = (1, 2)
    await broker.replicas.apply()
    await groups.wait_loaded()
    fetched = await groups.call("g", lambda c, token, now: c.fetch_offsets(
        token, now, group_id="g", partitions=[("t", 0)]))
    assert [p.committed_offset for p in fetched.partitions] == [7]  # type: ignore[attr-defined]


async def test_a_deleted_topic_is_closed_and_its_offsets_go(
    broker: Broker, store: MovableLeaders
) -> None:
    await broker.groups.ensure_ready()
    await broker.create_topic("gone", 1, {})
    await broker.groups.call("g", lambda c, token, now: c.commit_offsets(
        token, now, group_id="g", generation_id=-1, member_id="", group_instance_id=None,
        retention_time_ms=-1, offsets=[("gone", 0, 5, -1, None)]))
    await broker.delete_topic("gone")
    assert broker.partition("gone", 0) is None
    fetched = await broker.groups.call("g", lambda c, token, now: c.fetch_offsets(
        token, now, group_id="g", partitions=[("gone", 0)]))
    assert [p.committed_offset for p in fetched.partitions] == [-1]  # type: ignore[attr-defined]


async def test_a_produce_waits_for_a_takeover_in_progress(
    broker: Broker, store: MovableLeaders
) -> None:
    """The metadata gives this broker the partition before its log is open: a
    request waits for the open instead of answering NOT_LEADER_OR_FOLLOWER."""
    await broker.create_topic("t", 1, {})
    store.moved[("t", 0)] = (2, 1)
    await broker.replicas.apply()
    replicas = broker.replicas
    assert await replicas.wait_for_leadership("t", 0, 0.05) == ErrorCode.NOT_LEADER_OR_FOLLOWER
    store.moved[("t", 0)] = (1, 2)  # the snapshot says "yours" before apply runs
    waiting = asyncio.ensure_future(replicas.wait_for_leadership("t", 0, 5.0))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    await replicas.apply()
    found = await waiting
    assert not isinstance(found, ErrorCode) and found.leader_epoch == 2
