"""The MetadataStore contract (metadata_scenarios.py) run against the local
store (a temp data dir) and the ZooKeeper store (an in-memory ZooKeeper tree),
plus what only the ZooKeeper store can be asked: a failed ZooKeeper call leaves
the snapshot as it was, and a deletion that fails after its commit point is
finished by the next load. The same scenarios run against a real ZooKeeper in
compat-tests/test_zookeeper_metadata.py."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import pytest
from log.bookkeeper.fake_zk import FakeZooKeeper

from kwire.cluster.api import BrokerInfo, MetadataStore, TopicExists, TopicMetadata
from kwire.cluster.local import LocalMetadataStore
from kwire.cluster.zookeeper import ZooKeeperMetadataStore
from kwire.errors import StorageError
from kwire.zookeeper import BadVersion, ConnectionLost

from .metadata_scenarios import BROKER, SCENARIOS, ZK_SCENARIOS, StoreEnv, ZkStoreEnv

CHROOT = "/kwire/cluster-a"


class LocalEnv:
    def __init__(self, tmp_path: Path) -> None:
        self.data_dir = tmp_path / "data"

    async def open(self, format_configs: Mapping[str, str] | None = None) -> MetadataStore:
        return LocalMetadataStore(self.data_dir, BROKER, format_configs)


class InterleavingZooKeeper(FakeZooKeeper):
    """The in-memory tree, but every call yields to the event loop first, so
    concurrent callers interleave between their calls as they do over a network
    (the plain fake completes each call without yielding). Counts lost
    compare-and-sets."""

    def __init__(self) -> None:
        super().__init__()
        self.bad_versions = 0

    async def get(self, path: str) -> tuple[bytes, int]:
        await asyncio.sleep(0)
        return await super().get(path)

    async def set(self, path: str, data: bytes, version: int = -1) -> int:
        await asyncio.sleep(0)
        try:
            return await super().set(path, data, version)
        except BadVersion:
            self.bad_versions += 1
            raise

    async def create(self, path: str, data: bytes = b"", *, ephemeral: bool = False,
                     sequence: bool = False, makepath: bool = False) -> str:
        await asyncio.sleep(0)
        return await super().create(path, data, ephemeral=ephemeral, sequence=sequence,
                                    makepath=makepath)

    async def exists(self, path: str) -> int | None:
        await asyncio.sleep(0)
        return await super().exists(path)


class FakeZkEnv:
    def __init__(self, chroot: str = CHROOT) -> None:
        self.zk = InterleavingZooKeeper()
        self.chroot = chroot

    async def open(self, format_configs: Mapping[str, str] | None = None) -> MetadataStore:
        return await self.open_zk(BROKER, format_configs)

    async def open_zk(self, broker: BrokerInfo = BROKER,
                      format_configs: Mapping[str, str] | None = None
                      ) -> ZooKeeperMetadataStore:
        return await ZooKeeperMetadataStore.open(self.zk, self.chroot, broker, format_configs)


@pytest.fixture(params=["local", "zookeeper", "zookeeper-root"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> StoreEnv:
    if request.param == "local":
        return LocalEnv(tmp_path)
    return FakeZkEnv(CHROOT if request.param == "zookeeper" else "")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
async def test_contract(env: StoreEnv, scenario: Callable[[StoreEnv], Awaitable[None]]) -> None:
    await scenario(env)


@pytest.mark.parametrize("scenario", ZK_SCENARIOS, ids=lambda s: s.__name__)
async def test_zookeeper_contract(
        scenario: Callable[[ZkStoreEnv], Awaitable[None]]) -> None:
    await scenario(FakeZkEnv())


# ---- faults (the in-memory tree only: a real server cannot fail on cue) -------------


def fail_on(zk: FakeZooKeeper, op: str, path_suffix: str = "") -> None:
    def before(call: str, path: str) -> None:
        if call == op and path.endswith(path_suffix):
            raise ConnectionLost(f"{call} {path}")
    zk.before = before


CHANGES: dict[str, Callable[[MetadataStore], Awaitable[object]]] = {
    "create_topic": lambda s: s.create_topic("new", 2, {"retention.ms": "1"}),
    "delete_topic": lambda s: s.delete_topic("orders"),
    "create_partitions": lambda s: s.create_partitions("orders", 4),
    "set_topic_configs": lambda s: s.set_topic_configs("orders", {"retention.ms": "1"}),
    "set_broker_configs": lambda s: s.set_broker_configs("", {"log.retention.ms": "1"}),
    "set_group_configs": lambda s: s.set_group_configs("g", {}),
    "allocate_producer_ids": lambda s: s.allocate_producer_ids(1000),
}


@pytest.mark.parametrize("op", ["create", "set", "delete", "get", "exists"])
@pytest.mark.parametrize("change", sorted(CHANGES))
async def test_failed_zookeeper_call_changes_nothing_in_memory(change: str, op: str) -> None:
    env = FakeZkEnv()
    store = await env.open_zk()
    await store.create_topic("orders", 2, {"retention.ms": "1000"})
    await store.set_group_configs("g", {"consumer.session.timeout.ms": "45000"})
    before = store.snapshot()
    fail_on(env.zk, op)
    try:
        await CHANGES[change](store)
    except StorageError:
        assert store.snapshot() is before
    else:  # the change made no call of this kind
        pass
    env.zk.before = None
    # Whatever reached ZooKeeper, a new broker reads a consistent tree.
    reloaded = (await env.open_zk()).snapshot()
    assert set(reloaded.topics) <= {"orders", "new"}


async def test_failure_is_storage_error_for_every_change() -> None:
    """Each change's first write failing is a StorageError (KAFKA_STORAGE_ERROR to
    the client), never a ZooKeeper exception escaping into a handler."""
    for change, call in CHANGES.items():
        env = FakeZkEnv()
        store = await env.open_zk()
        await store.create_topic("orders", 2, {})
        await store.set_group_configs("g", {"consumer.session.timeout.ms": "45000"})
        before = store.snapshot()
        env.zk.before = lambda call, path: _raise(ConnectionLost(path)) \
            if call in ("create", "set", "delete") else None
        with pytest.raises(StorageError):
            await call(store)
        assert store.snapshot() is before, change


def _raise(exc: Exception) -> None:
    raise exc


async def test_load_failure_is_storage_error() -> None:
    env = FakeZkEnv()
    fail_on(env.zk, "children")
    with pytest.raises(StorageError):
        await env.open_zk()


async def test_deletion_interrupted_after_its_marker_is_finished_on_load() -> None:
    env = FakeZkEnv()
    store = await env.open_zk()
    await store.create_topic("orders", 2, {"retention.ms": "1000"})
    fail_on(env.zk, "delete", "/brokers/topics/orders")
    deleted = await store.delete_topic("orders")  # committed by the marker
    assert deleted.name == "orders"
    assert "orders" not in store.snapshot().topics
    assert f"{CHROOT}/brokers/topics/orders" in env.zk.nodes
    env.zk.before = None
    reloaded = await env.open_zk()
    assert "orders" not in reloaded.snapshot().topics
    assert not any("orders" in path for path in env.zk.nodes)


async def test_recreate_finishes_an_interrupted_deletion() -> None:
    env = FakeZkEnv()
    store = await env.open_zk()
    old = await store.create_topic("orders", 2, {"retention.ms": "1000"})
    fail_on(env.zk, "delete", "/config/topics/orders")
    await store.delete_topic("orders")
    env.zk.before = None
    new = await store.create_topic("orders", 1, {})
    assert new.topic_id != old.topic_id
    assert dict(new.configs) == {}
    assert f"{CHROOT}/admin/delete_topics/orders" not in env.zk.nodes
    assert (await env.open_zk()).snapshot().topics["orders"] == new


async def test_failed_deletion_marker_keeps_the_topic() -> None:
    env = FakeZkEnv()
    store = await env.open_zk()
    topic = await store.create_topic("orders", 1, {})
    fail_on(env.zk, "create", "/admin/delete_topics/orders")
    with pytest.raises(StorageError):
        await store.delete_topic("orders")
    env.zk.before = None
    assert store.snapshot().topics["orders"] == topic
    assert (await env.open_zk()).snapshot().topics["orders"] == topic


async def test_cluster_id_created_by_another_broker_first_is_adopted() -> None:
    env = FakeZkEnv()
    other = b'{"version":"1","id":"AAAAAAAAAAAAAAAAAAAAAA"}'

    def before(call: str, path: str) -> None:
        if call == "create" and path == f"{CHROOT}/cluster/id":
            env.zk.before = None
            env.zk.nodes[f"{CHROOT}/cluster"] = (b"", 0)
            env.zk.nodes[path] = (other, 0)
    env.zk.before = before
    store = await env.open_zk()
    assert store.snapshot().cluster_id == "AAAAAAAAAAAAAAAAAAAAAA"


async def test_format_configs_survive_a_crash_before_the_cluster_id() -> None:
    env = FakeZkEnv()
    fail_on(env.zk, "create", "/cluster/id")
    with pytest.raises(StorageError):
        await env.open_zk(format_configs={"min.insync.replicas": "1"})
    env.zk.before = None
    store = await env.open_zk(format_configs={"min.insync.replicas": "2"})
    assert dict(store.snapshot().broker_configs[""]) == {"min.insync.replicas": "1"}


async def test_only_the_chroot_is_written() -> None:
    env = FakeZkEnv()
    store = await env.open_zk()
    await store.create_topic("orders", 1, {})
    await store.allocate_producer_ids(1)
    outside = [p for p in env.zk.nodes
               if p != "/" and not p.startswith(CHROOT + "/") and not CHROOT.startswith(p)]
    assert outside == []


async def test_concurrent_producer_id_blocks_lose_and_retry() -> None:
    env = FakeZkEnv()
    a = await env.open_zk(BROKER)
    b = await env.open_zk(BrokerInfo(2, "localhost", 9093))
    firsts = await asyncio.gather(*(s.allocate_producer_ids(1000) for s in (a, b) * 5))
    assert sorted(firsts) == list(range(0, 10_000, 1000))
    assert env.zk.bad_versions > 0  # the compare-and-set was contended, and held


async def test_concurrent_creates_of_one_topic_on_two_brokers() -> None:
    env = FakeZkEnv()
    a = await env.open_zk(BROKER)
    b = await env.open_zk(BrokerInfo(2, "localhost", 9093))
    results = await asyncio.gather(a.create_topic("orders", 1, {"retention.ms": "1"}),
                                   b.create_topic("orders", 1, {"retention.ms": "2"}),
                                   return_exceptions=True)
    assert sum(isinstance(r, TopicExists) for r in results) == 1
    winner = next(r for r in results if isinstance(r, TopicMetadata))
    assert (await env.open_zk()).snapshot().topics["orders"].topic_id == winner.topic_id


async def test_producer_ids_run_out_as_int64_does() -> None:
    env = FakeZkEnv()
    store = await env.open_zk()
    await store.allocate_producer_ids(1)
    path = f"{CHROOT}/latest_producer_id_block"
    await env.zk.set(path, b'{"version":1,"broker":1,"block_start":"0",'
                           b'"block_end":"9223372036854775000"}')
    with pytest.raises(StorageError):
        await store.allocate_producer_ids(1000)
    assert await store.allocate_producer_ids(807) == 9223372036854775001


async def test_snapshot_before_load_is_an_error() -> None:
    store = ZooKeeperMetadataStore(FakeZooKeeper(), CHROOT, BROKER)
    with pytest.raises(RuntimeError):
        store.snapshot()
