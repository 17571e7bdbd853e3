"""The MetadataStore contract against a real Apache ZooKeeper: the scenarios of
tests/cluster/metadata_scenarios.py (restart = a new store, i.e. a fresh broker
with an empty data dir, over the same tree), each in its own chroot, through
kwire's asyncio ZooKeeper session; and the znodes read back with plain kazoo
as the JSON Kafka's ZooKeeper mode wrote.

The ZooKeeper is the session `bookkeeper` fixture's (compat-tests/conftest.py,
bookkeeper_env.py); without Java it skips.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from bookkeeper_env import BookKeeperEnv
from kazoo.client import KazooClient

from kwire.cluster.api import BrokerInfo, MetadataStore
from kwire.cluster.zookeeper import ZooKeeperMetadataStore
from kwire.zookeeper import ZooKeeper, split_chroot

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from cluster.metadata_scenarios import (  # noqa: E402
    BROKER,
    SCENARIOS,
    ZK_SCENARIOS,
    StoreEnv,
    ZkStoreEnv,
)


@pytest.fixture(scope="module")
def kazoo(bookkeeper: BookKeeperEnv) -> Iterator[KazooClient]:
    """A plain kazoo client of our own: what an operator's tool sees."""
    client = KazooClient(hosts=bookkeeper.zk_connect, timeout=10.0)
    client.start(timeout=15)
    try:
        yield client
    finally:
        client.stop()
        client.close()


class RealZkEnv:
    """One test's chroot on the real ZooKeeper; each open is a new broker over it,
    on its own ZooKeeper session (as a restarted broker would have)."""

    def __init__(self, connect: str) -> None:
        self.hosts, self.chroot = split_chroot(connect)
        self._sessions: list[ZooKeeper] = []
        self.zk = ZooKeeper(self.hosts)  # the tree, as the scenarios inspect it

    async def start(self) -> None:
        await self.zk.start()

    async def open(self, format_configs: Mapping[str, str] | None = None) -> MetadataStore:
        return await self.open_zk(BROKER, format_configs)

    async def open_zk(self, broker: BrokerInfo = BROKER,
                      format_configs: Mapping[str, str] | None = None
                      ) -> ZooKeeperMetadataStore:
        session = ZooKeeper(self.hosts)
        await session.start()
        self._sessions.append(session)
        return await ZooKeeperMetadataStore.open(session, self.chroot, broker, format_configs)

    async def close(self) -> None:
        for session in [*self._sessions, self.zk]:
            await session.stop()


@pytest.fixture
async def real_env(bookkeeper: BookKeeperEnv) -> AsyncIterator[RealZkEnv]:
    """A chroot of this test's own, as `zookeeper.connect` would name it."""
    env = RealZkEnv(bookkeeper.zk_connect_with_chroot(bookkeeper.new_chroot()))
    await env.start()
    try:
        yield env
    finally:
        await env.close()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
async def test_contract_on_real_zookeeper(
        real_env: RealZkEnv, scenario: Callable[[StoreEnv], Awaitable[None]]) -> None:
    await scenario(real_env)


@pytest.mark.parametrize("scenario", ZK_SCENARIOS, ids=lambda s: s.__name__)
async def test_zookeeper_contract_on_real_zookeeper(
        real_env: RealZkEnv, scenario: Callable[[ZkStoreEnv], Awaitable[None]]) -> None:
    await scenario(real_env)


async def test_znodes_read_with_plain_kazoo(real_env: RealZkEnv, kazoo: KazooClient) -> None:
    store = await real_env.open_zk(format_configs={"min.insync.replicas": "1"})
    topic = await store.create_topic("orders", 2, {"retention.ms": "1000"})
    await store.set_group_configs("g", {"consumer.session.timeout.ms": "45000"})
    await store.allocate_producer_ids(1000)
    c = real_env.chroot

    def body(path: str) -> Any:
        data, _ = kazoo.get(c + path)
        return json.loads(data)

    assert body("/cluster/id") == {"version": "1", "id": store.snapshot().cluster_id}
    topic_znode = body("/brokers/topics/orders")
    assert topic_znode["version"] == 3
    assert topic_znode["partitions"] == {"0": [1], "1": [1]}
    assert uuid.UUID(bytes=_kafka_uuid_bytes(topic_znode["topic_id"])) == topic.topic_id
    assert sorted(kazoo.get_children(c + "/brokers/topics/orders/partitions")) == ["0", "1"]
    assert body("/brokers/topics/orders/partitions/0/state") == {
        "controller_epoch": 1, "leader": 1, "version": 1, "leader_epoch": 0, "isr": [1]}
    assert body("/config/topics/orders") == {"version": 1, "config": {"retention.ms": "1000"}}
    assert body("/config/brokers/<default>") == {"version": 1,
                                                 "config": {"min.insync.replicas": "1"}}
    assert body("/config/groups/g") == {"version": 1,
                                        "config": {"consumer.session.timeout.ms": "45000"}}
    assert body("/latest_producer_id_block") == {"version": 1, "broker": 1,
                                                 "block_start": "0", "block_end": "999"}
    await store.delete_topic("orders")
    assert kazoo.exists(c + "/brokers/topics/orders") is None
    assert kazoo.exists(c + "/config/topics/orders") is None
    assert kazoo.get_children(c + "/admin/delete_topics") == []


def _kafka_uuid_bytes(text: str) -> bytes:
    import base64
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
