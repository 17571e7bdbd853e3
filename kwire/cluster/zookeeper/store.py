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
* Several brokers share one tree. The snapshot's brokers are the live ones
  (ephemeral /brokers/ids/<id>), its controller the broker in /controller, each
  partition's leader, leader epoch and replicas those of its state and topic
  znodes. Every change a broker makes adds a notification under
  /kwire/metadata_changes naming what changed (follow.py watches them and calls
  `reload`), so each broker's snapshot follows the others' changes.
* Leaders and epochs are the controller's to change (`alter_partitions`): each
  write is one ZooKeeper transaction that also checks /controller_epoch's
  version (the `fence` the controller election gives), so a controller that lost
  its office is refused by ZooKeeper itself, and that sets each state znode only
  at the version this store read (compare-and-set). A new partition's first
  state is created (never set) by whichever broker creates the partition.
* Changes are serialised per broker by one lock, as Kafka's controller
  serialised its events; brokers racing each other meet only in ZooKeeper: a
  topic znode that already exists is TopicExists, and producer-id blocks are
  taken by compare-and-set. Kafka's ZooKeeper mode had one race left, and so
  does this store: two brokers creating the same new topic at the same instant
  may leave the loser's configs on the winner's topic (the config znode is
  written before the topic znode decides the winner).
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
import dataclasses
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from typing import TypeVar

from kwire.cluster.api import (
    BrokerInfo,
    ClusterMetadata,
    PartitionChange,
    PartitionState,
    StaleMetadata,
    TopicExists,
    TopicIndex,
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
    MetadataChange,
    MetadataChangeZNode,
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
from kwire.zookeeper import (
    BadVersion,
    NodeExists,
    NoNode,
    Op,
    SetData,
    Znodes,
    ZooKeeperError,
)

log = logging.getLogger("kwire.cluster.zookeeper")

T = TypeVar("T")

# Producer ids are int64 (Kafka: "Exhausted all producerIds").
MAX_PRODUCER_ID = 2**63 - 1
# Adds the controller's fence (a Check of /controller_epoch) to a transaction.
Fence = Callable[[Sequence[Op]], list[Op]]

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
        self._listeners: list[Callable[[], None]] = []
        # The version of each partition state znode as last read or written: the
        # controller's compare-and-set (alter_partitions).
        self._state_versions: dict[TopicIndex, int] = {}
        # Set by the controller while this broker is controller: its transactions'
        # fence, and the epoch written into the state znodes (Kafka's controller_epoch).
        self.fence: Fence | None = None
        self.controller_epoch = 0

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

    def add_listener(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:  # one listener failing must not stop the others
                log.exception("a metadata listener failed")

    # ---- load ------------------------------------------------------------------------

    async def load(self) -> None:
        """Read the whole tree into a snapshot, creating what a new cluster lacks
        and finishing what a crashed broker left half-done; then tell the
        listeners (after a lost session the new snapshot may give this broker
        leaderships that no other change announces)."""
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
            old = self._snapshot
            self._snapshot = ClusterMetadata(
                cluster_id=cluster_id,
                controller_id=self._broker.node_id if old is None else old.controller_id,
                brokers=(self._broker,) if old is None else old.brokers, topics=topics,
                broker_configs=broker_configs, group_configs=group_configs)
        self._changed()

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
        states = await _all([functools.partial(self._partition_state, name, n, replicas)
                             for n, replicas in enumerate(assignment.partitions)])
        configs = await self._get_or_none(self._path(ConfigEntityZNode.path(TOPICS, name)))
        return self._topic(name, assignment.topic_id, assignment.partitions, states,
                           {} if configs is None else ConfigEntityZNode.decode(configs[0]))

    async def _partition_state(self, topic: str, partition: int,
                               replicas: tuple[int, ...]) -> LeaderAndIsr:
        """The partition's state znode, created (leader epoch 0) where a create
        did not get that far."""
        found = await self._get_or_none(
            self._path(TopicPartitionStateZNode.path(topic, partition)))
        if found is not None:
            self._state_versions[(topic, partition)] = found[1]
            return TopicPartitionStateZNode.decode(found[0])
        return await self._new_partition_state(topic, partition, replicas)

    async def _new_partition_state(self, topic: str, partition: int,
                                   replicas: tuple[int, ...]) -> LeaderAndIsr:
        """Bring a new partition online at leader epoch 0, led by its first live
        replica (Kafka's NewPartition -> OnlinePartition). A state someone wrote
        first wins."""
        path = self._path(TopicPartitionStateZNode.path(topic, partition))
        live = {b.node_id for b in self._live_brokers()}
        leader = next((r for r in replicas if r in live), replicas[0] if replicas else -1)
        state = LeaderAndIsr(leader=leader, leader_epoch=0, isr=tuple(replicas))
        try:
            await self._zk.create(path, TopicPartitionStateZNode.encode(state), makepath=True)
        except NodeExists:
            data, version = await self._zk.get(path)
            self._state_versions[(topic, partition)] = version
            return TopicPartitionStateZNode.decode(data)
        self._state_versions[(topic, partition)] = 0
        return state

    def _live_brokers(self) -> tuple[BrokerInfo, ...]:
        return (self._broker,) if self._snapshot is None else self._snapshot.brokers

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

    @staticmethod
    def _topic(name: str, topic_id: uuid.UUID, replicas: Sequence[tuple[int, ...]],
               states: Sequence[LeaderAndIsr], configs: Mapping[str, str]) -> TopicMetadata:
        return TopicMetadata(
            name=name, topic_id=topic_id,
            partitions=tuple(PartitionState(state.leader, state.leader_epoch, tuple(r))
                             for r, state in zip(replicas, states, strict=True)),
            configs=dict(configs), internal=name in INTERNAL_TOPICS)

    def _replace(self, *, topics: Mapping[str, TopicMetadata] | None = None,
                 broker_configs: Mapping[str, Mapping[str, str]] | None = None,
                 group_configs: Mapping[str, Mapping[str, str]] | None = None,
                 brokers: tuple[BrokerInfo, ...] | None = None,
                 controller_id: int | None = None) -> None:
        old = self.snapshot()
        self._snapshot = ClusterMetadata(
            cluster_id=old.cluster_id,
            controller_id=old.controller_id if controller_id is None else controller_id,
            brokers=old.brokers if brokers is None else brokers,
            topics=old.topics if topics is None else topics,
            broker_configs=old.broker_configs if broker_configs is None else broker_configs,
            group_configs=old.group_configs if group_configs is None else group_configs)

    def _with_topic(self, topic: TopicMetadata) -> None:
        self._replace(topics={**self.snapshot().topics, topic.name: topic})

    # ---- changes ---------------------------------------------------------------------

    async def create_topic(
        self, name: str, partitions: int, configs: Mapping[str, str], internal: bool = False,
        replicas: Sequence[tuple[int, ...]] | None = None,
    ) -> TopicMetadata:
        """`internal` is not stored: internal is decided by name (Topic.isInternal)."""
        assignment = self._assignment(partitions, replicas)
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
                    await self._reload_locked(MetadataChange(topics=(name,)))
                    raise TopicExists(name)
                # Usually new; an orphan of a create that crashed is overwritten.
                await self._set_or_create(self._path(ConfigEntityZNode.path(TOPICS, name)),
                                          ConfigEntityZNode.encode(configs), create_first=True)
                topic_id = uuid.uuid4()
                try:
                    await self._zk.create(topic_path, TopicZNode.encode(
                        TopicAssignment(assignment, topic_id)))
                except NodeExists:
                    await self._reload_locked(MetadataChange(topics=(name,)))
                    raise TopicExists(name) from None
                states = await _all([functools.partial(self._new_partition_state, name, n, r)
                                     for n, r in enumerate(assignment)])
            topic = self._topic(name, topic_id, assignment, states, configs)
            self._with_topic(topic)
            await self._notify(MetadataChange(topics=(name,)))
            return topic

    def _assignment(self, count: int, replicas: Sequence[tuple[int, ...]] | None
                    ) -> tuple[tuple[int, ...], ...]:
        if replicas is None:
            return ((self._broker.node_id,),) * count
        if len(replicas) != count or not all(replicas):
            raise ValueError(f"{count} partitions need {count} non-empty replica lists")
        return tuple(tuple(r) for r in replicas)

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
            self._forget(name)
            await self._notify(MetadataChange(topics=(name,)))
            return topic

    def _forget(self, name: str) -> None:
        self._replace(topics={k: v for k, v in self.snapshot().topics.items() if k != name})
        for key in [k for k in self._state_versions if k[0] == name]:
            del self._state_versions[key]

    async def _finish_deletion(self, name: str) -> None:
        """Remove what is left of a topic whose deletion marker exists, marker last."""
        await self._delete_recursive(self._path(TopicPartitionsZNode.path(name)))
        await self._delete_if_exists(self._path(TopicZNode.path(name)))
        await self._delete_if_exists(self._path(ConfigEntityZNode.path(TOPICS, name)))
        await self._delete_if_exists(self._path(DeleteTopicsTopicZNode.path(name)))

    async def create_partitions(self, name: str, total: int,
                                replicas: Sequence[tuple[int, ...]] | None = None
                                ) -> TopicMetadata:
        async with self._lock:
            topic = self.snapshot().topics.get(name)
            if topic is None:
                raise TopicNotFound(name)
            if total <= len(topic.partitions):
                return topic
            added = self._assignment(total - len(topic.partitions), replicas)
            path = self._path(TopicZNode.path(name))
            with _storage_errors(f"create partitions of {name}"):
                while True:  # compare-and-set on the topic znode
                    found = await self._get_or_none(path)
                    if found is None:
                        raise TopicNotFound(name)
                    current = TopicZNode.decode(name, found[0])
                    if len(current.partitions) != len(topic.partitions):
                        # Another broker grew it first: this request's count is stale.
                        await self._reload_locked(MetadataChange(topics=(name,)))
                        raise StaleMetadata(f"{name} has {len(current.partitions)} partitions")
                    grown = current.partitions + added
                    try:
                        await self._zk.set(path, TopicZNode.encode(
                            TopicAssignment(grown, current.topic_id)), found[1])
                        break
                    except BadVersion:
                        continue
                first = len(topic.partitions)
                states = await _all([
                    functools.partial(self._new_partition_state, name, first + i, r)
                    for i, r in enumerate(added)])
            updated = TopicMetadata(
                name=name, topic_id=topic.topic_id,
                partitions=topic.partitions + self._topic(
                    name, topic.topic_id, added, states, {}).partitions,
                configs=topic.configs, internal=topic.internal)
            self._with_topic(updated)
            await self._notify(MetadataChange(topics=(name,)))
            return updated

    async def set_topic_configs(self, name: str, configs: Mapping[str, str]) -> None:
        async with self._lock:
            topic = self.snapshot().topics.get(name)
            if topic is None:
                raise TopicNotFound(name)
            with _storage_errors(f"alter the configs of topic {name}"):
                await self._set_or_create(self._path(ConfigEntityZNode.path(TOPICS, name)),
                                          ConfigEntityZNode.encode(configs))
            self._with_topic(TopicMetadata(name=name, topic_id=topic.topic_id,
                                           partitions=topic.partitions, configs=dict(configs),
                                           internal=topic.internal))
            await self._notify(MetadataChange(topics=(name,)))

    async def set_broker_configs(self, broker: str, configs: Mapping[str, str]) -> None:
        async with self._lock:
            with _storage_errors(f"alter the configs of broker {broker or DEFAULT}"):
                # Kafka keeps an entity's znode, empty, when its last config goes.
                await self._set_or_create(self._path(ConfigEntityZNode.broker_path(broker)),
                                          ConfigEntityZNode.encode(configs))
            self._replace(broker_configs=_with_entry(self.snapshot().broker_configs,
                                                     broker, configs))
            await self._notify(MetadataChange(broker_configs=True))

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
            await self._notify(MetadataChange(group_configs=(group,)))

    async def alter_partitions(self, changes: Mapping[TopicIndex, PartitionChange]) -> None:
        """The controller's leader changes: per topic, one transaction with the
        fence, each state znode set at the version this store knows (so a change
        computed from an old snapshot is StaleMetadata), and the topic znode when
        the replicas moved; then one notification for all of them."""
        async with self._lock:
            by_topic: dict[str, dict[int, PartitionChange]] = {}
            for (name, index), change in changes.items():
                by_topic.setdefault(name, {})[index] = change
            done: list[str] = []
            try:
                for name, partitions in sorted(by_topic.items()):
                    await self._alter_topic(name, partitions)
                    done.append(name)
            finally:
                if done:
                    await self._notify(MetadataChange(topics=tuple(done)))

    async def _alter_topic(self, name: str, partitions: Mapping[int, PartitionChange]) -> None:
        topic = self.snapshot().topics.get(name)
        if topic is None:
            raise TopicNotFound(name)
        ops: list[Op] = []
        states = list(topic.partitions)
        for index, (expected, state) in sorted(partitions.items()):
            if not 0 <= index < len(states):
                raise TopicNotFound(f"{name}-{index}")
            if states[index].leader_epoch != expected:
                raise StaleMetadata(f"{name}-{index} is at leader epoch "
                                    f"{states[index].leader_epoch}, not {expected}")
            version = self._state_versions.get((name, index), -2)  # unknown: fail the check
            ops.append(SetData(self._path(TopicPartitionStateZNode.path(name, index)),
                               TopicPartitionStateZNode.encode(LeaderAndIsr(
                                   state.leader, state.leader_epoch, state.replicas,
                                   self.controller_epoch)), version))
            states[index] = state
        if any(states[i].replicas != topic.partitions[i].replicas for i in partitions):
            ops.append(SetData(self._path(TopicZNode.path(name)), TopicZNode.encode(
                TopicAssignment(tuple(s.replicas for s in states), topic.topic_id))))
        fenced = self.fence(ops) if self.fence is not None else ops
        try:
            with _storage_errors(f"change the leaders of {name}"):
                results = await self._zk.multi(fenced)
        except StorageError as exc:
            if isinstance(exc.__cause__, BadVersion | NoNode):
                # A state moved under us, or the fence failed: /controller_epoch
                # moved, so this broker is no longer controller (its election
                # hears of it through its own watch). Either way, nothing was
                # written, and this topic is read again.
                await self._reload_locked(MetadataChange(topics=(name,)))
                raise StaleMetadata(f"{name}: {exc}") from exc
            raise
        for op, result in zip(fenced, results, strict=True):
            if isinstance(op, SetData) and isinstance(result, int) and "/state" in op.path:
                index = int(op.path.rsplit("/", 2)[-2])
                self._state_versions[(name, index)] = result
        self._with_topic(TopicMetadata(name=name, topic_id=topic.topic_id,
                                       partitions=tuple(states), configs=topic.configs,
                                       internal=topic.internal))

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

    # ---- following the other brokers ----------------------------------------------------

    async def reload(self, change: MetadataChange) -> None:
        """Read again what a change notification names, then tell the listeners."""
        async with self._lock:
            await self._reload_locked(change)
        self._changed()

    async def _reload_locked(self, change: MetadataChange) -> None:
        snapshot = self.snapshot()
        topics = dict(snapshot.topics)
        broker_configs: Mapping[str, Mapping[str, str]] = snapshot.broker_configs
        group_configs: Mapping[str, Mapping[str, str]] = snapshot.group_configs
        with _storage_errors("read a metadata change"):
            for name in change.topics:
                deleting = await self._zk.exists(self._path(DeleteTopicsTopicZNode.path(name)))
                loaded = None if deleting is not None else await self._load_topic(name)
                if loaded is None:
                    topics.pop(name, None)
                    for key in [k for k in self._state_versions if k[0] == name]:
                        del self._state_versions[key]
                else:
                    topics[name] = loaded
            if change.broker_configs:
                broker_configs = {
                    ConfigEntityZNode.broker_name(child): configs
                    for child, configs in (await self._load_configs(BROKERS)).items()}
            for group in change.group_configs:
                found = await self._get_or_none(self._path(ConfigEntityZNode.group_path(group)))
                group_configs = _with_entry(
                    group_configs, group,
                    {} if found is None else ConfigEntityZNode.decode(found[0]))
        self._replace(topics=topics, broker_configs=broker_configs, group_configs=group_configs)

    def set_brokers(self, brokers: Iterable[BrokerInfo]) -> None:
        """The live brokers changed (follow.py watches /brokers/ids)."""
        live = tuple(sorted(brokers, key=lambda b: b.node_id))
        if live != self.snapshot().brokers:
            self._replace(brokers=live)
            self._changed()

    def set_controller(self, controller_id: int) -> None:
        if controller_id != self.snapshot().controller_id:
            self._replace(controller_id=controller_id)
            self._changed()

    def lose_session(self) -> None:
        """The ZooKeeper session expired: the controller may have moved this
        broker's leaderships already, so until the tree is read again this broker
        believes it leads nothing. The live brokers and the controller stay as
        last seen (Kafka's broker keeps its metadata cache too): a Metadata answer
        listing no broker makes librdkafka decommission every broker it knows,
        group coordinator included, and find none again for tens of seconds."""
        me = self._broker.node_id
        topics = {
            name: dataclasses.replace(topic, partitions=tuple(
                dataclasses.replace(p, leader=-1) if p.leader == me else p
                for p in topic.partitions))
            for name, topic in self.snapshot().topics.items()}
        self._replace(topics=topics)
        self._changed()

    async def _notify(self, change: MetadataChange) -> None:
        """Tell the other brokers (follow.py) what changed. The change itself is
        stored already; a notification that cannot be written is logged, and the
        others see the change at their next full load (after a session loss)."""
        try:
            await self._zk.create(self._path(MetadataChangeZNode.create_path()),
                                  MetadataChangeZNode.encode(change), sequence=True)
        except ZooKeeperError as exc:
            log.warning("could not announce a metadata change (%s): %s", change, exc)

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
