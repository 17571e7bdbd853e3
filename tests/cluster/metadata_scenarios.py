"""The MetadataStore contract as scenario functions, written once and run
against every store: tests/cluster/test_metadata_contract.py (the local store
and the ZooKeeper store over an in-memory tree) and
compat-tests/test_zookeeper_metadata.py (the ZooKeeper store over a real
ZooKeeper). A scenario takes an environment that opens a *new* store instance
over the same data on each `open()` — a restart, or a fresh broker with an
empty data dir in the ZooKeeper case.

`SCENARIOS` hold for every store; `ZK_SCENARIOS` for the ZooKeeper store, whose
environment also offers the tree itself.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

import pytest

from kwire.cluster.api import (
    BrokerInfo,
    ClusterMetadata,
    MetadataStore,
    PartitionState,
    StaleMetadata,
    TopicExists,
    TopicNotFound,
)
from kwire.cluster.zookeeper.store import Znodes, ZooKeeperMetadataStore
from kwire.cluster.zookeeper.znodes import MetadataChange
from kwire.zookeeper import Check

BROKER = BrokerInfo(1, "localhost", 9092)
FORMAT_CONFIGS = {"min.insync.replicas": "1"}


class StoreEnv(Protocol):
    async def open(self, format_configs: Mapping[str, str] | None = None) -> MetadataStore:
        """A new store over the same data (restart)."""
        ...


class ZkStoreEnv(StoreEnv, Protocol):
    @property
    def zk(self) -> Znodes:
        """The tree, to look at and to leave half-done work in."""
        ...

    @property
    def chroot(self) -> str: ...

    async def open_zk(self, broker: BrokerInfo = BROKER,
                      format_configs: Mapping[str, str] | None = None
                      ) -> ZooKeeperMetadataStore: ...


def same_metadata(a: ClusterMetadata, b: ClusterMetadata) -> None:
    assert a.cluster_id == b.cluster_id
    assert a.controller_id == b.controller_id
    assert a.brokers == b.brokers
    assert dict(a.topics) == dict(b.topics)
    assert {k: dict(v) for k, v in a.broker_configs.items()} == \
        {k: dict(v) for k, v in b.broker_configs.items()}
    assert {k: dict(v) for k, v in a.group_configs.items()} == \
        {k: dict(v) for k, v in b.group_configs.items()}


# ---- every store ---------------------------------------------------------------------


async def fresh_cluster(env: StoreEnv) -> None:
    store = await env.open(FORMAT_CONFIGS)
    meta = store.snapshot()
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", meta.cluster_id)
    assert meta.controller_id == BROKER.node_id
    assert meta.brokers == (BROKER,)
    assert dict(meta.topics) == {}
    assert dict(meta.broker_configs) == {"": FORMAT_CONFIGS}
    assert dict(meta.group_configs) == {}


async def create_topic(env: StoreEnv) -> None:
    store = await env.open()
    topic = await store.create_topic("orders", 3, {"cleanup.policy": "compact"})
    assert topic.name == "orders"
    assert isinstance(topic.topic_id, uuid.UUID)
    assert [(p.leader, p.leader_epoch, p.replicas) for p in topic.partitions] == \
        [(BROKER.node_id, 0, (BROKER.node_id,))] * 3
    assert dict(topic.configs) == {"cleanup.policy": "compact"}
    assert not topic.internal
    meta = store.snapshot()
    assert meta.topics["orders"] == topic
    assert meta.topic_by_id(topic.topic_id) == topic


async def create_existing_topic(env: StoreEnv) -> None:
    store = await env.open()
    first = await store.create_topic("orders", 1, {})
    before = store.snapshot()
    with pytest.raises(TopicExists):
        await store.create_topic("orders", 2, {"retention.ms": "1"})
    assert store.snapshot() is before
    assert store.snapshot().topics["orders"] == first


async def internal_topic(env: StoreEnv) -> None:
    store = await env.open()
    topic = await store.create_topic("__consumer_offsets", 2, {"cleanup.policy": "compact"},
                                     internal=True)
    assert topic.internal
    restarted = await env.open()
    assert restarted.snapshot().topics["__consumer_offsets"].internal


async def delete_topic(env: StoreEnv) -> None:
    store = await env.open()
    created = await store.create_topic("orders", 2, {"retention.ms": "1000"})
    deleted = await store.delete_topic("orders")
    assert deleted == created
    assert "orders" not in store.snapshot().topics
    assert store.snapshot().topic_by_id(created.topic_id) is None
    with pytest.raises(TopicNotFound):
        await store.delete_topic("orders")
    again = await store.create_topic("orders", 1, {})
    assert again.topic_id != created.topic_id
    assert dict(again.configs) == {}  # the old configs went with the old topic
    restarted = (await env.open()).snapshot()
    assert restarted.topics["orders"] == again


async def create_partitions(env: StoreEnv) -> None:
    store = await env.open()
    created = await store.create_topic("orders", 1, {"retention.ms": "1000"})
    grown = await store.create_partitions("orders", 4)
    assert grown.topic_id == created.topic_id
    assert len(grown.partitions) == 4
    assert all(p.leader == BROKER.node_id and p.leader_epoch == 0 for p in grown.partitions)
    assert dict(grown.configs) == {"retention.ms": "1000"}
    assert store.snapshot().topics["orders"] == grown
    with pytest.raises(TopicNotFound):
        await store.create_partitions("missing", 2)
    assert (await env.open()).snapshot().topics["orders"] == grown


async def topic_configs(env: StoreEnv) -> None:
    store = await env.open()
    created = await store.create_topic("orders", 2, {"retention.ms": "1000"})
    await store.set_topic_configs("orders", {"cleanup.policy": "compact", "segment.ms": "5"})
    topic = store.snapshot().topics["orders"]
    assert dict(topic.configs) == {"cleanup.policy": "compact", "segment.ms": "5"}
    assert topic.topic_id == created.topic_id
    assert topic.partitions == created.partitions
    await store.set_topic_configs("orders", {})
    assert dict(store.snapshot().topics["orders"].configs) == {}
    with pytest.raises(TopicNotFound):
        await store.set_topic_configs("missing", {"retention.ms": "1"})
    await store.set_topic_configs("orders", {"retention.ms": "7"})
    restarted = (await env.open()).snapshot()
    assert dict(restarted.topics["orders"].configs) == {"retention.ms": "7"}


async def broker_configs(env: StoreEnv) -> None:
    store = await env.open()
    await store.set_broker_configs("", {"log.retention.ms": "1000"})
    await store.set_broker_configs("1", {"message.max.bytes": "2048"})
    assert {k: dict(v) for k, v in store.snapshot().broker_configs.items()} == {
        "": {"log.retention.ms": "1000"}, "1": {"message.max.bytes": "2048"}}
    await store.set_broker_configs("1", {})
    assert "1" not in store.snapshot().broker_configs
    restarted = (await env.open()).snapshot()
    assert {k: dict(v) for k, v in restarted.broker_configs.items()} == {
        "": {"log.retention.ms": "1000"}}


async def group_configs(env: StoreEnv) -> None:
    store = await env.open()
    await store.set_group_configs("g1", {"consumer.session.timeout.ms": "45000"})
    await store.set_group_configs("g2", {"consumer.heartbeat.interval.ms": "5000"})
    await store.set_group_configs("g2", {})
    # A group id may hold any character, "/" and "." included.
    await store.set_group_configs("team/a b*..", {"consumer.session.timeout.ms": "50000"})
    await store.set_group_configs("..", {"consumer.session.timeout.ms": "60000"})
    expected = {"g1": {"consumer.session.timeout.ms": "45000"},
                "team/a b*..": {"consumer.session.timeout.ms": "50000"},
                "..": {"consumer.session.timeout.ms": "60000"}}
    assert {k: dict(v) for k, v in store.snapshot().group_configs.items()} == expected
    restarted = (await env.open()).snapshot()
    assert {k: dict(v) for k, v in restarted.group_configs.items()} == expected


async def producer_ids(env: StoreEnv) -> None:
    store = await env.open()
    first = await store.allocate_producer_ids(1000)
    second = await store.allocate_producer_ids(10)
    assert second >= first + 1000
    restarted = await env.open()
    third = await restarted.allocate_producer_ids(1000)
    assert third >= second + 10


async def restart_keeps_everything(env: StoreEnv) -> None:
    store = await env.open(FORMAT_CONFIGS)
    await store.create_topic("orders", 3, {"retention.ms": "1000"})
    await store.create_topic("__consumer_offsets", 2, {"cleanup.policy": "compact"},
                             internal=True)
    await store.create_topic("gone", 1, {})
    await store.delete_topic("gone")
    await store.create_partitions("orders", 5)
    await store.set_broker_configs("", {"log.retention.ms": "5"})
    await store.set_group_configs("g", {"consumer.session.timeout.ms": "45000"})
    before = store.snapshot()
    # Different format configs: a cluster that exists already keeps its own.
    restarted = await env.open({"min.insync.replicas": "3"})
    same_metadata(before, restarted.snapshot())


# ---- the ZooKeeper store -------------------------------------------------------------


async def zk_znodes_as_kafka_wrote_them(env: ZkStoreEnv) -> None:
    """Kafka's paths and JSON bodies, under the chroot."""
    store = await env.open_zk(format_configs=FORMAT_CONFIGS)
    topic = await store.create_topic("orders", 2, {"retention.ms": "1000"})
    await store.allocate_producer_ids(1000)
    c = env.chroot

    async def body(path: str) -> object:
        return json.loads((await env.zk.get(c + path))[0])

    assert await body("/cluster/id") == {"version": "1", "id": store.snapshot().cluster_id}
    assert await body("/brokers/topics/orders") == {
        "version": 3, "partitions": {"0": [1], "1": [1]},
        "topic_id": _kafka_uuid(topic.topic_id),
        "adding_replicas": {}, "removing_replicas": {}}
    assert await body("/brokers/topics/orders/partitions/1/state") == {
        "controller_epoch": 1, "leader": 1, "version": 1, "leader_epoch": 0, "isr": [1]}
    assert await body("/config/topics/orders") == {"version": 1,
                                                    "config": {"retention.ms": "1000"}}
    assert await body("/config/brokers/<default>") == {"version": 1, "config": FORMAT_CONFIGS}
    assert await body("/latest_producer_id_block") == {
        "version": 1, "broker": 1, "block_start": "0", "block_end": "999"}


def _kafka_uuid(value: uuid.UUID) -> str:
    """Uuid.toString, written out here rather than taken from the code under test."""
    return base64.urlsafe_b64encode(value.bytes).decode().rstrip("=")


async def zk_two_brokers_never_share_producer_ids(env: ZkStoreEnv) -> None:
    a = await env.open_zk(BROKER)
    b = await env.open_zk(BrokerInfo(2, "localhost", 9093))
    assert a.snapshot().cluster_id == b.snapshot().cluster_id
    blocks = await asyncio.gather(*(
        store.allocate_producer_ids(100) for _ in range(10) for store in (a, b)))
    ranges = sorted((first, first + 100) for first in blocks)
    for (_, end), (start, _) in zip(ranges, ranges[1:], strict=False):
        assert start >= end
    c = await env.open_zk(BROKER)
    assert await c.allocate_producer_ids(1) >= ranges[-1][1]


async def zk_topic_created_by_another_broker(env: ZkStoreEnv) -> None:
    a = await env.open_zk(BROKER)
    b = await env.open_zk(BrokerInfo(2, "localhost", 9093))
    created = await a.create_topic("orders", 1, {"retention.ms": "1000"})
    with pytest.raises(TopicExists):  # b's snapshot did not know it; ZooKeeper does
        await b.create_topic("orders", 2, {"retention.ms": "1"})
    # b read the winner's topic on losing, and did not overwrite a's configs
    assert b.snapshot().topics["orders"] == created
    reloaded = await env.open_zk(BROKER)
    assert reloaded.snapshot().topics["orders"] == created


async def zk_half_deleted_topic_is_cleaned_on_load(env: ZkStoreEnv) -> None:
    """A broker crashed half-way through a deletion: the marker and some of the
    topic's znodes are left. The next broker neither serves the remains nor lets
    them come back."""
    store = await env.open_zk()
    await store.create_topic("orders", 3, {"retention.ms": "1000"})
    keep = await store.create_topic("keep", 1, {})
    c = env.chroot
    await env.zk.create(f"{c}/admin/delete_topics/orders")
    await env.zk.delete(f"{c}/brokers/topics/orders/partitions/0/state")
    await env.zk.delete(f"{c}/brokers/topics/orders/partitions/0")
    restarted = await env.open_zk()
    assert "orders" not in restarted.snapshot().topics
    assert restarted.snapshot().topics["keep"] == keep
    for path in ("/brokers/topics/orders", "/config/topics/orders",
                 "/admin/delete_topics/orders"):
        assert await env.zk.exists(c + path) is None, path
    recreated = await restarted.create_topic("orders", 1, {})
    assert dict(recreated.configs) == {}


async def zk_partitions_without_state_come_online(env: ZkStoreEnv) -> None:
    """A crash after a topic znode was written but before its partition states:
    the next load brings those partitions online at leader epoch 0."""
    store = await env.open_zk()
    topic = await store.create_topic("orders", 2, {})
    c = env.chroot
    await env.zk.delete(f"{c}/brokers/topics/orders/partitions/1/state")
    restarted = await env.open_zk()
    assert restarted.snapshot().topics["orders"] == topic
    assert await env.zk.exists(f"{c}/brokers/topics/orders/partitions/1/state") is not None


async def zk_leader_epoch_comes_from_the_state_znode(env: ZkStoreEnv) -> None:
    store = await env.open_zk()
    await store.create_topic("orders", 2, {})
    c = env.chroot
    await env.zk.set(f"{c}/brokers/topics/orders/partitions/1/state", json.dumps(
        {"controller_epoch": 3, "leader": 7, "version": 1, "leader_epoch": 5,
         "isr": [7]}).encode())
    partitions = (await env.open_zk()).snapshot().topics["orders"].partitions
    assert [p.leader_epoch for p in partitions] == [0, 5]
    assert [p.leader for p in partitions] == [BROKER.node_id, 7]


async def zk_topic_without_id_gets_one(env: ZkStoreEnv) -> None:
    """A topic znode from before KIP-516 (version 1, no topic_id) gets an id once."""
    c = env.chroot
    await (await env.open_zk()).create_topic("placeholder", 1, {})
    await env.zk.create(f"{c}/brokers/topics/legacy",
                        b'{"version":1,"partitions":{"0":[1],"1":[1]}}')
    first = (await env.open_zk()).snapshot().topics["legacy"]
    assert len(first.partitions) == 2
    second = (await env.open_zk()).snapshot().topics["legacy"]
    assert second.topic_id == first.topic_id


async def leader_epochs_by_compare_and_set(env: StoreEnv) -> None:
    """alter_partitions sets a new leader epoch only from the epoch it names, and
    a restart keeps it."""
    store = await env.open()
    await store.create_topic("orders", 2, {})
    state = store.snapshot().topics["orders"].partitions[1]
    bumped = PartitionState(state.leader, state.leader_epoch + 1, state.replicas)
    await store.alter_partitions({("orders", 1): (state.leader_epoch, bumped)})
    assert store.snapshot().topics["orders"].partitions[1] == bumped
    with pytest.raises(StaleMetadata):  # computed from the old epoch
        await store.alter_partitions({("orders", 1): (state.leader_epoch, bumped)})
    with pytest.raises(TopicNotFound):
        await store.alter_partitions({("missing", 0): (0, bumped)})
    restarted = await env.open()
    assert restarted.snapshot().topics["orders"].partitions[1] == bumped
    assert restarted.snapshot().topics["orders"].partitions[0].leader_epoch == 0


async def zk_leaders_move_and_every_broker_hears_of_it(env: ZkStoreEnv) -> None:
    """Two brokers on one tree: b's leader change reaches a through the change
    notification (`reload`, as follow.py calls it), replicas included."""
    a = await env.open_zk(BROKER)
    b = await env.open_zk(BrokerInfo(2, "localhost", 9093))
    a.set_brokers([BROKER, BrokerInfo(2, "localhost", 9093)])
    await a.create_topic("orders", 2, {}, replicas=[(1, 2), (2, 1)])
    await b.reload(MetadataChange(topics=("orders",)))
    assert [p.leader for p in b.snapshot().topics["orders"].partitions] == [1, 2]
    heard: list[int] = []
    a.add_listener(lambda: heard.append(1))
    moved = PartitionState(2, 1, (2, 1))
    await b.alter_partitions({("orders", 0): (0, moved)})
    await a.reload(MetadataChange(topics=("orders",)))
    assert a.snapshot().topics["orders"].partitions[0] == moved and heard == [1]
    # a's compare-and-set version was refreshed by the reload: it can move it back.
    back = PartitionState(1, 2, (1, 2))
    await a.alter_partitions({("orders", 0): (1, back)})
    assert (await env.open_zk()).snapshot().topics["orders"].partitions[0] == back
    notes = await env.zk.children(f"{env.chroot}/kwire/metadata_changes")
    assert len(notes) == 3  # create, b's move, a's move


async def zk_a_stale_controller_is_refused_by_zookeeper(env: ZkStoreEnv) -> None:
    """Leader changes go behind the controller's fence: once /controller_epoch
    moved on, a deposed controller's write fails and changes nothing."""
    store = await env.open_zk()
    await store.create_topic("orders", 1, {})
    epoch_path = f"{env.chroot}/controller_epoch"
    await env.zk.create(epoch_path, b"1")
    store.fence = lambda ops: [Check(epoch_path, 0), *ops]
    await store.alter_partitions({("orders", 0): (0, PartitionState(1, 1, (1,)))})
    await env.zk.set(epoch_path, b"2")  # another controller was elected
    with pytest.raises(StaleMetadata):
        await store.alter_partitions({("orders", 0): (1, PartitionState(1, 2, (1,)))})
    assert (await env.open_zk()).snapshot().topics["orders"].partitions[0].leader_epoch == 1


async def zk_a_lost_session_leads_nothing(env: ZkStoreEnv) -> None:
    store = await env.open_zk()
    await store.create_topic("orders", 2, {})
    before = store.snapshot()
    store.lose_session()
    snapshot = store.snapshot()
    assert [p.leader for p in snapshot.topics["orders"].partitions] == [-1, -1]
    # The brokers and the controller as last seen: Metadata never lists no broker.
    assert snapshot.brokers == before.brokers != ()
    assert snapshot.controller_id == before.controller_id
    heard: list[int] = []
    store.add_listener(lambda: heard.append(1))
    await store.load()  # what a new session does
    assert [p.leader for p in store.snapshot().topics["orders"].partitions] == [1, 1]
    # The broker opens what it leads again only if it hears of the new snapshot.
    assert heard


SCENARIOS: tuple[Callable[[StoreEnv], Awaitable[None]], ...] = (
    fresh_cluster, create_topic, create_existing_topic, internal_topic, delete_topic,
    create_partitions, topic_configs, broker_configs, group_configs, producer_ids,
    restart_keeps_everything, leader_epochs_by_compare_and_set,
)
ZK_SCENARIOS: tuple[Callable[[ZkStoreEnv], Awaitable[None]], ...] = (
    zk_znodes_as_kafka_wrote_them, zk_two_brokers_never_share_producer_ids,
    zk_topic_created_by_another_broker, zk_half_deleted_topic_is_cleaned_on_load,
    zk_partitions_without_state_come_online, zk_leader_epoch_comes_from_the_state_znode,
    zk_topic_without_id_gets_one, zk_leaders_move_and_every_broker_hears_of_it,
    zk_a_stale_controller_is_refused_by_zookeeper, zk_a_lost_session_leads_nothing,
)
