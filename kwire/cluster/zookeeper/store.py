"""The cluster metadata store: kwire's metadata in ZooKeeper, Kafka's layout.

Everything a broker needs to serve its topics lives in ZooKeeper (znodes.py),
none of it in the data dir, so a broker with an empty data dir finds the same
cluster id, topic ids, configs and producer-id blocks its predecessor left.
`snapshot()` is read on hot paths and stays an in-memory `ClusterMetadata`,
rebuilt once per change.

Theory of operation
-------------------
* ZooKeeper first, memory second. Every change writes ZooKeeper and only then
  replaces the snapshot; a failed call (kwire.zookeeper's errors) becomes a
  StorageError, which the handlers answer as KAFKA_STORAGE_ERROR, and the
  snapshot stays as it was. A ConnectionLost leaves the outcome unknown in
  ZooKeeper: the next `load` sees whatever happened.
* One broker leads everything (no controller election yet): every partition's
  leader and only replica is this broker, its leader epoch the one in the state
  znode. Changes are serialised by one lock, as Kafka's controller serialised
  its events; brokers racing each other meet only in ZooKeeper: a topic znode
  that already exists is TopicExists, and producer-id blocks are taken by
  compare-and-set. Kafka's ZooKeeper mode had one race left, and so does this
  store: two brokers creating the same new topic at the same instant may leave
  the loser's configs on the winner's topic (the config znode is written before
  the topic znode decides the winner). With one broker leading everything it
  cannot happen; a controller that alone creates topics closes it.
* Internal topics are decided by name (Kafka's Topic.isInternal:
  __consumer_offsets, __transaction_state, __share_group_state); the topic
  znode has no field for it, and `create_topic(internal=...)` is not stored.
* Creating a topic writes its config znode, then the topic znode (from then on
  the topic exists), then one state znode per partition — Kafka's order. A
  crash after the config leaves an orphan config the next create of that name
  overwrites; a crash before every state znode is written (create topic or
  create partitions) leaves partitions the next `load` brings online at leader
  epoch 0, as Kafka's controller did for a NewPartition.
* Deleting a topic first creates /admin/delete_topics/<topic> (Kafka's marker).
  That one znode is the commit point: from then on the topic is gone, whatever
  else is left. Then the partition states, the topic znode, the config znode and
  last the marker go. ZooKeeper cannot delete a subtree at once, so without the
  marker a crash half-way would leave a topic with some partitions and no
  configs; with it, `load` (and a later create of the same name) finishes the
  deletion instead of serving the remains.
* Format configs (`format_configs`) are written only into a new cluster: before
  the cluster id exists, with create (never set), so neither a crash between
  the two writes nor two new brokers racing overwrite or lose them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import TypeVar

from kwire.cluster.api import (
    BrokerInfo,
    ClusterMetadata,
    PartitionState,
    TopicExists,
    TopicMetadata,
    TopicNotFound,
)
from kwire.cluster.zookeeper.znodes import (
    INTERNAL_TOPICS,
    PERSISTENT_PATHS,
    ClusterIdZNode,
    ConfigEntityTypeZNode,
    ConfigEntityZNode,
    DeleteTopicsTopicZNode,
    DeleteTopicsZNode,
    InvalidZNode,
    LeaderAndIsr,
    ProducerIdBlock,
    ProducerIdBlockZNode,
    TopicAssignment,
    TopicPartitionStateZNode,
    TopicPartitionsZNode,
    TopicsZNode,
    TopicZNode,
    desanitize,
    uuid_to_kafka,
)
from kwire.errors import StorageError
from kwire.zookeeper import BadVersion, NodeExists, NoNode, Znodes, ZooKeeperError

log = logging.getLogger("kwire.cluster.zookeeper")

T = TypeVar("T")

# Producer ids are int64 (Kafka: "Exhausted all producerIds").
MAX_PRODUCER_ID = 2**63 - 1

TOPICS = ConfigEntityTypeZNode.TOPICS
BROKERS = ConfigEntityTypeZNode.BROKERS
GROUPS = ConfigEntityTypeZNode.GROUPS


def normalize_chroot(chroot: str) -> str:
    """"" (the root) or "/a/b" without a trailing slash."""
    chroot = chroot.strip().rstrip("/")
    if chroot and not chroot.startswith("/"):
        chroot = "/" + chroot
    return chroot


@contextlib.contextmanager
def _storage_errors(what: str) -> Iterator[None]:
    """ZooKeeper failures (and a tree kwire cannot read) are the metadata storage
    failing: StorageError, which the broker answers as KAFKA_STORAGE_ERROR."""
    try:
        yield
    except (ZooKeeperError, InvalidZNode) as exc:
        raise StorageError(f"ZooKeeper: cannot {what}: {type(exc).__name__}: {exc}") from exc


class ZooKeeperMetadataStore:
    """A MetadataStore in ZooKeeper. Construct, then `await load()` (or use
    `open`) before the first `snapshot()`."""

    def __init__(self, zk: Znodes, chroot: str, broker: BrokerInfo,
                 format_configs: Mapping[str, str] | None = None) -> None:
        """`chroot`: the path of `zookeeper.connect` ("" = the root; see
        kwire.zookeeper.split_chroot). `format_configs`: the cluster-default
        broker configs a new cluster starts with (as LocalMetadataStore)."""
        self._zk = zk
        self._chroot = normalize_chroot(chroot)
        self._broker = broker
        self._format_configs = dict(format_configs or {})
        self._lock = asyncio.Lock()
        self._snapshot: ClusterMetadata | None = None

    @classmethod
    async def open(cls, zk: Znodes, chroot: str, broker: BrokerInfo,
                   format_configs: Mapping[str, str] | None = None) -> ZooKeeperMetadataStore:
        store = cls(zk, chroot, broker, format_configs)
        await store.load()
        return store

    def _path(self, path: str) -> str:
        return self._chroot + path

    def snapshot(self) -> ClusterMetadata:
        if self._snapshot is None:
            raise RuntimeError("ZooKeeperMetadataStore.load() has not run")
        return self._snapshot

    # ---- load ------------------------------------------------------------------------

    async def load(self) -> None:
        """Read the whole tree into a snapshot, creating what a new cluster lacks
        and finishing what a crashed broker left half-done."""
        async with self._lock:
            with _storage_errors("load the cluster metadata"):
                for path in PERSISTENT_PATHS:
                    await self._ensure(self._path(path))
                cluster_id = await self._cluster_id()
                for deleted in await self._zk.children(self._path(DeleteTopicsZNode.path())):
                    await self._finish_deletion(deleted)
                names = await self._zk.children(self._path(TopicsZNode.path()))
                loaded = await _all([functools.partial(self._load_topic, n) for n in names])
                topics = {t.name: t for t in loaded if t is not None}
                broker_configs = {
                    ConfigEntityZNode.broker_name(child): configs
                    for child, configs in (await self._load_configs(BROKERS)).items()}
                group_configs = {
                    desanitize(child): configs
                    for child, configs in (await self._load_configs(GROUPS)).items()}
            self._snapshot = ClusterMetadata(
                cluster_id=cluster_id, controller_id=self._broker.node_id,
                brokers=(self._broker,), topics=topics,
                broker_configs=broker_configs, group_configs=group_configs)

    async def _ensure(self, path: str) -> None:
        built = ""
        for part in path.strip("/").split("/"):
            built += "/" + part
            if await self._zk.exists(built) is None:
                with contextlib.suppress(NodeExists):
                    await self._zk.create(built)

    async def _cluster_id(self) -> str:
        path = self._path(ClusterIdZNode.path())
        existing = await self._get_or_none(path)
        if existing is not None:
            return ClusterIdZNode.decode(existing[0])
        if self._format_configs:
            with contextlib.suppress(NodeExists):
                await self._zk.create(self._path(ConfigEntityZNode.broker_path("")),
                                      ConfigEntityZNode.encode(self._format_configs))
        # Kafka's cluster ids are Uuid strings (base64url, no padding).
        cluster_id = uuid_to_kafka(uuid.uuid4())
        try:
            await self._zk.create(path, ClusterIdZNode.encode(cluster_id), makepath=True)
        except NodeExists:  # another broker created the cluster first: join it
            return ClusterIdZNode.decode((await self._zk.get(path))[0])
        log.info("created cluster id %s in ZooKeeper", cluster_id)
        return cluster_id

    async def _load_topic(self, name: str) -> TopicMetadata | None:
        """The topic, its partition states and configs; None if it vanished."""
        path = self._path(TopicZNode.path(name))
        while True:
            found = await self._get_or_none(path)
            if found is None:
                return None
            assignment = TopicZNode.decode(name, found[0])
            if assignment.topic_id is not None:
                break
            # A pre-KIP-516 topic znode: give it an id, once, as Kafka's controller did.
            with_id = TopicAssignment(assignment.partitions, uuid.uuid4())
            with contextlib.suppress(BadVersion):
                await self._zk.set(path, TopicZNode.encode(with_id), found[1])
        states = await _all([functools.partial(self._partition_state, name, n)
                             for n in range(len(assignment.partitions))])
        configs = await self._get_or_none(self._path(ConfigEntityZNode.path(TOPICS, name)))
        return self._topic(name, assignment.topic_id,
                           [s.leader_epoch for s in states],
                           {} if configs is None else ConfigEntityZNode.decode(configs[0]))

    async def _partition_state(self, topic: str, partition: int) -> LeaderAndIsr:
        """The partition's state znode, created (leader epoch 0) where a create
        did not get that far."""
        found = await self._get_or_none(
            self._path(TopicPartitionStateZNode.path(topic, partition)))
        if found is not None:
            return TopicPartitionStateZNode.decode(found[0])
        return await self._new_partition_state(topic, partition)

    async def _new_partition_state(self, topic: str, partition: int) -> LeaderAndIsr:
        """Bring a new partition online: this broker leads it from leader epoch 0
        (Kafka's NewPartition -> OnlinePartition). A state someone wrote first wins."""
        path = self._path(TopicPartitionStateZNode.path(topic, partition))
        state = LeaderAndIsr(leader=self._broker.node_id, leader_epoch=0,
                             isr=(self._broker.node_id,))
        try:
            await self._zk.create(path, TopicPartitionStateZNode.encode(state), makepath=True)
        except NodeExists:
            return TopicPartitionStateZNode.decode((await self._zk.get(path))[0])
        return state

    async def _load_configs(self, entity_type: str) -> dict[str, dict[str, str]]:
        """Non-empty configs of every entity of the type (an empty set is no entry)."""
        names = await self._zk.children(self._path(ConfigEntityTypeZNode.path(entity_type)))
        found = await _all([
            functools.partial(self._get_or_none,
                              self._path(ConfigEntityZNode.path(entity_type, name)))
            for name in names])
        out: dict[str, dict[str, str]] = {}
        for name, data in zip(names, found, strict=True):
            if data is not None and (configs := ConfigEntityZNode.decode(data[0])):
                out[name] = configs
        return out

    # ---- snapshot --------------------------------------------------------------------

    def _topic(self, name: str, topic_id: uuid.UUID, leader_epochs: list[int],
               configs: Mapping[str, str]) -> TopicMetadata:
        node = self._broker.node_id
        return TopicMetadata(
            name=name, topic_id=topic_id,
            partitions=tuple(PartitionState(node, epoch, (node,)) for epoch in leader_epochs),
            configs=dict(configs), internal=name in INTERNAL_TOPICS)

    def _replace(self, *, topics: Mapping[str, TopicMetadata] | None = None,
                 broker_configs: Mapping[str, Mapping[str, str]] | None = None,
                 group_configs: Mapping[str, Mapping[str, str]] | None = None) -> None:
        old = self.snapshot()
        self._snapshot = ClusterMetadata(
            cluster_id=old.cluster_id, controller_id=old.controller_id, brokers=old.brokers,
            topics=old.topics if topics is None else topics,
            broker_configs=old.broker_configs if broker_configs is None else broker_configs,
            group_configs=old.group_configs if group_configs is None else group_configs)

    def _with_topic(self, topic: TopicMetadata) -> None:
        self._replace(topics={**self.snapshot().topics, topic.name: topic})

    # ---- changes ---------------------------------------------------------------------

    async def create_topic(
        self, name: str, partitions: int, configs: Mapping[str, str], internal: bool = False
    ) -> TopicMetadata:
        """`internal` is not stored: internal is decided by name (Topic.isInternal)."""
        async with self._lock:
            if name in self.snapshot().topics:
                raise TopicExists(name)
            with _storage_errors(f"create topic {name}"):
                if await self._zk.exists(self._path(DeleteTopicsTopicZNode.path(name))) is not None:
                    await self._finish_deletion(name)  # the remains of an earlier topic
                topic_path = self._path(TopicZNode.path(name))
                # Checked before the config is written, so a topic another broker
                # created keeps its configs.
                if await self._zk.exists(topic_path) is not None:
                    raise TopicExists(name)
                # Usually new; an orphan of a create that crashed is overwritten.
                await self._set_or_create(self._path(ConfigEntityZNode.path(TOPICS, name)),
                                          ConfigEntityZNode.encode(configs), create_first=True)
                topic_id = uuid.uuid4()
                node = self._broker.node_id
                try:
                    await self._zk.create(topic_path, TopicZNode.encode(
                        TopicAssignment(((node,),) * partitions, topic_id)))
                except NodeExists:
                    raise TopicExists(name) from None
                states = await _all([functools.partial(self._new_partition_state, name, n)
                                     for n in range(partitions)])
                epochs = [state.leader_epoch for state in states]
            topic = self._topic(name, topic_id, epochs, configs)
            self._with_topic(topic)
            return topic

    async def delete_topic(self, name: str) -> TopicMetadata:
        async with self._lock:
            topic = self.snapshot().topics.get(name)
            if topic is None:
                raise TopicNotFound(name)
            with _storage_errors(f"delete topic {name}"), contextlib.suppress(NodeExists):
                await self._zk.create(self._path(DeleteTopicsTopicZNode.path(name)))
            # Committed: the rest is cleanup that load (or a re-create) finishes.
            try:
                await self._finish_deletion(name)
            except ZooKeeperError as exc:
                log.warning("topic %s is deleted; removing its znodes failed (%s), the next "
                            "load finishes it", name, exc)
            self._replace(topics={k: v for k, v in self.snapshot().topics.items() if k != name})
            return topic

    async def _finish_deletion(self, name: str) -> None:
        """Remove what is left of a topic whose deletion marker exists, marker last."""
        await self._delete_recursive(self._path(TopicPartitionsZNode.path(name)))
        await self._delete_if_exists(self._path(TopicZNode.path(name)))
        await self._delete_if_exists(self._path(ConfigEntityZNode.path(TOPICS, name)))
        await self._delete_if_exists(self._path(DeleteTopicsTopicZNode.path(name)))

    async def create_partitions(self, name: str, total: int) -> TopicMetadata:
        async with self._lock:
            topic = self.snapshot().topics.get(name)
            if topic is None:
                raise TopicNotFound(name)
            if total <= len(topic.partitions):
                return topic
            path = self._path(TopicZNode.path(name))
            with _storage_errors(f"create partitions of {name}"):
                while True:  # compare-and-set on the topic znode
                    found = await self._get_or_none(path)
                    if found is None:
                        raise TopicNotFound(name)
                    current = TopicZNode.decode(name, found[0])
                    grown = current.partitions + \
                        ((self._broker.node_id,),) * (total - len(current.partitions))
                    try:
                        await self._zk.set(path, TopicZNode.encode(
                            TopicAssignment(grown, current.topic_id)), found[1])
                        break
                    except BadVersion:
                        continue
                epochs = [p.leader_epoch for p in topic.partitions]
                states = await _all([functools.partial(self._new_partition_state, name, n)
                                     for n in range(len(epochs), total)])
                epochs += [state.leader_epoch for state in states]
            updated = self._topic(name, topic.topic_id, epochs, topic.configs)
            self._with_topic(updated)
            return updated

    async def set_topic_configs(self, name: str, configs: Mapping[str, str]) -> None:
        async with self._lock:
            topic = self.snapshot().topics.get(name)
            if topic is None:
                raise TopicNotFound(name)
            with _storage_errors(f"alter the configs of topic {name}"):
                await self._set_or_create(self._path(ConfigEntityZNode.path(TOPICS, name)),
                                          ConfigEntityZNode.encode(configs))
            self._with_topic(self._topic(name, topic.topic_id,
                                         [p.leader_epoch for p in topic.partitions], configs))

    async def set_broker_configs(self, broker: str, configs: Mapping[str, str]) -> None:
        async with self._lock:
            with _storage_errors(f"alter the configs of broker {broker or DEFAULT}"):
                # Kafka keeps an entity's znode, empty, when its last config goes.
                await self._set_or_create(self._path(ConfigEntityZNode.broker_path(broker)),
                                          ConfigEntityZNode.encode(configs))
            self._replace(broker_configs=_with_entry(self.snapshot().broker_configs,
                                                     broker, configs))

    async def set_group_configs(self, group: str, configs: Mapping[str, str]) -> None:
        async with self._lock:
            path = self._path(ConfigEntityZNode.group_path(group))
            with _storage_errors(f"alter the configs of group {group}"):
                if configs:
                    await self._set_or_create(path, ConfigEntityZNode.encode(configs))
                else:  # groups come and go: no znode per group that once had configs
                    await self._delete_if_exists(path)
            self._replace(group_configs=_with_entry(self.snapshot().group_configs,
                                                    group, configs))

    async def allocate_producer_ids(self, count: int) -> int:
        """The next block after /latest_producer_id_block, taken by compare-and-set
        (Kafka's ZkProducerIdManager): a broker that loses the race reads the
        winner's block and tries the one after it. A block whose write timed out
        may have been taken; it is then skipped, never handed out twice."""
        if count <= 0:
            raise ValueError(f"producer id block size must be positive, not {count}")
        path = self._path(ProducerIdBlockZNode.path())
        with _storage_errors("allocate producer ids"):
            while True:
                found = await self._get_or_none(path)
                previous = None if found is None else ProducerIdBlockZNode.decode(found[0])
                first = 0 if previous is None else previous.block_end + 1
                if first + count - 1 > MAX_PRODUCER_ID:
                    raise StorageError("producer ids are exhausted (/latest_producer_id_block "
                                       f"ends at {first - 1})")
                data = ProducerIdBlockZNode.encode(
                    ProducerIdBlock(self._broker.node_id, first, first + count - 1))
                try:
                    if found is None:
                        await self._zk.create(path, data, makepath=True)
                    else:
                        await self._zk.set(path, data, found[1])
                except (BadVersion, NodeExists):
                    continue
                return first

    # ---- ZooKeeper helpers -----------------------------------------------------------

    async def _get_or_none(self, path: str) -> tuple[bytes, int] | None:
        try:
            return await self._zk.get(path)
        except NoNode:
            return None

    async def _set_or_create(self, path: str, data: bytes, create_first: bool = False) -> None:
        """Write `data` to `path`, whether or not the znode exists (Kafka's
        setOrCreate); `create_first` saves a round trip where it usually does not."""
        while True:
            if not create_first:
                try:
                    await self._zk.set(path, data)
                    return
                except NoNode:
                    pass
            create_first = False
            try:
                await self._zk.create(path, data)
                return
            except NodeExists:
                continue

    async def _delete_if_exists(self, path: str) -> None:
        with contextlib.suppress(NoNode):
            await self._zk.delete(path)

    async def _delete_recursive(self, path: str) -> None:
        try:
            children = await self._zk.children(path)
        except NoNode:
            return
        for child in children:
            await self._delete_recursive(f"{path}/{child}")
        await self._delete_if_exists(path)


DEFAULT = "the cluster default"

# ZooKeeper calls a load keeps in flight at once per level (topics; the partitions
# of one topic): one round trip per znode, pipelined on the session, instead of
# thousands one after another.
LOAD_CONCURRENCY = 64


async def _all(calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run `calls` concurrently (at most LOAD_CONCURRENCY at a time); their
    results in order. The first failure cancels the rest and is raised as itself."""
    limit = asyncio.Semaphore(LOAD_CONCURRENCY)

    async def one(call: Callable[[], Awaitable[T]]) -> T:
        async with limit:
            return await call()

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(call)) for call in calls]
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]


def _with_entry(entries: Mapping[str, Mapping[str, str]], key: str,
                configs: Mapping[str, str]) -> dict[str, Mapping[str, str]]:
    """`entries` with `key` set to `configs`, or without it when `configs` is empty."""
    out = {k: v for k, v in entries.items() if k != key}
    if configs:
        out[key] = dict(configs)
    return out
