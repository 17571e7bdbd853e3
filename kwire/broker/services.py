"""The broker's services as handlers see them: config, metadata, partitions,
producer ids and the clock. Topic lifecycle (create, delete, grow, reconfigure)
lives here because it touches both the metadata store and the partition logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping, Sequence

from kwire.broker import topic_config
from kwire.broker.fetch_session import FetchSessionCache
from kwire.broker.partitions import Partition, PartitionManager
from kwire.broker.replicas import LeadershipChange, PartitionSettings, ReplicaManager
from kwire.broker.txn_router import TxnRouter
from kwire.clock import Clock
from kwire.cluster.admin import ClusterAdmin
from kwire.cluster.api import (
    BrokerInfo,
    ClusterMetadata,
    MetadataStore,
    TopicExists,
    TopicIndex,
    TopicMetadata,
)
from kwire.cluster.controller import ApiError, assign_replicas
from kwire.config import Config
from kwire.coordinator.group import GroupCoordinator
from kwire.coordinator.group.consumer.settings import config_list, consumer_group_settings
from kwire.coordinator.group.consumer.topics import TopicImage, TopicsImage
from kwire.coordinator.group.manager import OFFSETS_TOPIC, GroupManager
from kwire.coordinator.txn.manager import (
    TRANSACTION_STATE_TOPIC,
    TransactionManager,
    TxnSettings,
)
from kwire.errors import ErrorCode
from kwire.log.api import LogStore, PartitionLog, TopicPartition
from kwire.records.batch import parse_header

log = logging.getLogger("kwire.broker")

PRODUCER_ID_BLOCK = 1000
# Producer state written at clean shutdown (see PartitionManager).
PRODUCER_SNAPSHOT_DIR = "kwire-producer-snapshots"
# How often producer state goes into logs that keep it themselves (cluster storage).
PRODUCER_SNAPSHOT_INTERVAL_S = 30.0


class ProducerIdManager:
    """Hands out producer ids from blocks reserved durably in the metadata store,
    so ids are never reused across restarts (Kafka's ProducerIdManager)."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store
        self._next = 0
        self._end = 0
        self._lock = asyncio.Lock()

    async def next_id(self) -> int:
        async with self._lock:
            if self._next >= self._end:
                self._next = await self._store.allocate_producer_ids(PRODUCER_ID_BLOCK)
                self._end = self._next + PRODUCER_ID_BLOCK
            pid = self._next
            self._next += 1
            return pid


class Broker:
    def __init__(
        self,
        config: Config,
        node: BrokerInfo,
        metadata: MetadataStore,
        logs: LogStore,
        clock: Clock,
        admin: ClusterAdmin | None = None,
    ) -> None:
        """`admin`: the controller's elections and reassignments (default: this
        broker is always the controller, as a single node is)."""
        # `config` is the static config (server.properties, --set); `self.config`
        # is the effective one, under the dynamic broker configs stored in the
        # metadata (set through AlterConfigs, kept across restarts).
        self.static_config = config
        self.node = node
        self.metadata = metadata
        self.admin = admin or ClusterAdmin(metadata, lambda: True)
        self.config = self._dynamic_config()
        config = self.config
        self.partitions = PartitionManager(
            logs, config.data_dir / PRODUCER_SNAPSHOT_DIR,
            producer_id_expiration_ms=int(config["producer.id.expiration.ms"]),
            now_ms=clock.wall_ms)
        self._producer_expiry: asyncio.Task[None] | None = None
        self._producer_snapshots: asyncio.Task[None] | None = None
        # The one owner of what this broker leads; every partition-scoped handler
        # asks it (get_partition_or_error).
        self.replicas = ReplicaManager(node.node_id, self.partitions, self.snapshot,
                                       self._partition_settings)
        self.replicas.add_listener(self._on_leadership_change)
        # Metadata changed by other brokers (cluster mode) reaches the partitions and
        # the effective config through one follower task (see _follow_metadata).
        self._metadata_changed = asyncio.Event()
        self._metadata_follower: asyncio.Task[None] | None = None
        metadata.add_listener(self._metadata_changed.set)
        self.logs = logs
        self.clock = clock
        self.producer_ids = ProducerIdManager(metadata)
        # Incremental fetch sessions (KIP-227); 0 slots: every fetch is sessionless.
        self.fetch_sessions = FetchSessionCache(
            int(config["max.incremental.fetch.session.cache.slots"]))
        self._topics_image: tuple[ClusterMetadata, TopicsImage] | None = None
        self.groups = GroupManager(self, lambda: GroupCoordinator(
            group_initial_rebalance_delay_ms=int(config["group.initial.rebalance.delay.ms"]),
            group_min_session_timeout_ms=int(config["group.min.session.timeout.ms"]),
            group_max_session_timeout_ms=int(config["group.max.session.timeout.ms"]),
            offsets_retention_ms=int(config["offsets.retention.minutes"]) * 60_000,
            consumer=consumer_group_settings(config),
            topics=self.topics_image,
            group_configs=lambda group_id: self.snapshot().group_configs.get(group_id, {}),
        ), offsets_topic_partitions=int(config["offsets.topic.num.partitions"]))
        self.transactions = TransactionManager(self, TxnSettings(
            num_partitions=int(config["transaction.state.log.num.partitions"]),
            max_timeout_ms=int(config["transaction.max.timeout.ms"]),
            id_expiration_ms=int(config["transactional.id.expiration.ms"]),
            abort_interval_ms=int(
                config["transaction.abort.timed.out.transaction.cleanup.interval.ms"]),
            expiry_interval_ms=int(
                config["transaction.remove.expired.transaction.cleanup.interval.ms"]),
        ))
        self.txn_router = TxnRouter(self)

    def snapshot(self) -> ClusterMetadata:
        return self.metadata.snapshot()

    @property
    def rebalance_protocols(self) -> frozenset[str]:
        """group.coordinator.rebalance.protocols: which group protocols are served."""
        return frozenset(config_list(self.config["group.coordinator.rebalance.protocols"]))

    def topics_image(self) -> TopicsImage:
        """The topics as consumer groups see them (names, ids, partition counts),
        built once per metadata snapshot."""
        snapshot = self.snapshot()
        cached = self._topics_image
        if cached is None or cached[0] is not snapshot:
            image = TopicsImage.of(TopicImage(t.topic_id, t.name, len(t.partitions))
                                   for t in snapshot.topics.values())
            cached = self._topics_image = (snapshot, image)
        return cached[1]

    def now_ms(self) -> int:
        return self.clock.wall_ms()

    # The coordinators' view of the broker (coordinator/host.py: InternalTopicHost).

    def internal_topic_partitions(self, name: str) -> int | None:
        topic = self.snapshot().topics.get(name)
        return None if topic is None else len(topic.partitions)

    async def create_internal_topic(
        self, name: str, partitions: int, configs: Mapping[str, str]
    ) -> None:
        # Kafka refuses to create __consumer_offsets (__transaction_state) with fewer
        # live brokers than offsets.topic.replication.factor
        # (transaction.state.log.replication.factor); with no data on brokers, kwire
        # caps it.
        key = ("transaction.state.log.replication.factor" if name == TRANSACTION_STATE_TOPIC
               else "offsets.topic.replication.factor")
        wanted = int(self.config[key])
        replication = max(1, min(wanted, len(self.snapshot().brokers)))
        # TopicExists: another broker created it first; it is in the metadata now.
        with contextlib.suppress(TopicExists):
            await self.create_topic(name, partitions, configs, internal=True,
                                    replication_factor=replication)

    def internal_log(self, name: str, index: int) -> PartitionLog | None:
        partition = self.replicas.get_partition_or_error(name, index)
        return None if isinstance(partition, ErrorCode) else partition.log

    # The transaction coordinator's view (coordinator/txn/manager.py: TxnHost).

    async def allocate_producer_id(self) -> int:
        return await self.producer_ids.next_id()

    def internal_leader_epoch(self, name: str, index: int) -> int:
        partition = self.replicas.get_partition_or_error(name, index)
        return -1 if isinstance(partition, ErrorCode) else partition.leader_epoch

    def partition_exists(self, topic: str, index: int) -> bool:
        metadata = self.snapshot().topics.get(topic)
        return metadata is not None and 0 <= index < len(metadata.partitions)

    async def write_txn_markers(
        self, producer_id: int, producer_epoch: int, coordinator_epoch: int, commit: bool,
        partitions: Sequence[tuple[str, int]],
    ) -> dict[tuple[str, int], ErrorCode]:
        return await self.txn_router.write_markers(producer_id, producer_epoch,
                                                   coordinator_epoch, commit, partitions)

    def leader_node(self, topic: str, index: int) -> BrokerInfo | None:
        """The live broker leading the partition, or None."""
        leader = self.replicas.leader_of(topic, index)
        return next((b for b in self.snapshot().brokers if b.node_id == leader), None)

    async def append_internal(self, name: str, index: int, batch: bytearray,
                              now_ms: int) -> ErrorCode:
        partition = self.replicas.get_partition_or_error(name, index)
        if isinstance(partition, ErrorCode):
            return ErrorCode.NOT_LEADER_OR_FOLLOWER
        # The coordinators' own writes: no producer sequences to check (Kafka's
        # AppendOrigin.COORDINATOR), the epochs of TxnOffsetCommit batches still are.
        outcome = await partition.append(batch, parse_header(batch), now_ms,
                                         from_coordinator=True)
        return outcome.error_code

    async def open_partitions(self) -> None:
        """Open the log of every partition this broker leads (at start); the group
        coordinator loads the `__consumer_offsets` shards among them as they open."""
        await self.replicas.apply()
        await self.groups.wait_loaded()
        await self.transactions.wait_loaded()
        self.transactions.start()
        self._metadata_follower = asyncio.create_task(self._follow_metadata())
        self._producer_expiry = asyncio.create_task(self._expire_producers())
        self._producer_snapshots = asyncio.create_task(self._snapshot_producers())

    async def close(self) -> None:
        for task in (self._metadata_follower, self._producer_expiry, self._producer_snapshots):
            if task is not None:
                task.cancel()
        await self.transactions.close()
        await self.txn_router.close()
        await self.groups.close()
        await self.partitions.close()

    async def _follow_metadata(self) -> None:
        """Apply metadata changes made elsewhere: leaderships gained and lost,
        topics created, deleted or reconfigured, dynamic broker configs. Changes
        arriving during a pass are taken by the next one, on the newest snapshot."""
        while True:
            await self._metadata_changed.wait()
            self._metadata_changed.clear()
            try:
                reconfigure = self._refresh_config()
                await self.replicas.apply(reconfigure_all=reconfigure)
            except Exception:
                log.exception("applying a metadata change failed; retrying")
                await asyncio.sleep(1.0)
                self._metadata_changed.set()

    def _refresh_config(self) -> bool:
        """Take the stored dynamic broker configs; True when a value changed. The
        config is replaced even when no value did: a dynamic config set to its
        default still changes the source DescribeConfigs reports."""
        config = self._dynamic_config()
        changed = config.values != self.config.values
        self.config = config
        if not changed:
            return False
        expiration = int(config["producer.id.expiration.ms"])
        self.partitions.producer_id_expiration_ms = expiration
        for partition in self.partitions:
            partition.producer_id_expiration_ms = expiration
        return True

    async def _expire_producers(self) -> None:
        """Kafka's PeriodicProducerExpirationCheck, every
        producer.id.expiration.check.interval.ms."""
        every = int(self.config["producer.id.expiration.check.interval.ms"]) / 1000
        while True:
            await asyncio.sleep(every)
            removed, remaining = self.partitions.remove_expired_producers()
            if removed:
                log.info("removed %d expired producer id(s); %d remain", removed, remaining)

    async def _snapshot_producers(self) -> None:
        """Producer state into the logs that keep it (cluster storage) every
        PRODUCER_SNAPSHOT_INTERVAL_S, so a new owner after a crash replays at most
        that much of each log."""
        while True:
            await asyncio.sleep(PRODUCER_SNAPSHOT_INTERVAL_S)
            try:
                await self.partitions.write_log_snapshots()
            except Exception:
                log.exception("writing producer state snapshots failed")

    def _partition_settings(self, topic: TopicMetadata) -> PartitionSettings:
        settings = topic_config.typed(self.config, topic.configs)
        return PartitionSettings(
            log_config=topic_config.log_config(self.config, topic.configs),
            log_append_time=settings["message.timestamp.type"] == "LogAppendTime",
            max_message_bytes=settings["max.message.bytes"],
            validation=topic_config.validation_settings(self.config, topic.configs))

    async def _on_leadership_change(self, change: LeadershipChange) -> None:
        """Group and transaction coordinator shards follow the `__consumer_offsets`
        and `__transaction_state` partitions this broker leads; offsets of deleted
        partitions go (Kafka's onPartitionsDeleted)."""
        await self.groups.on_leadership_change(
            gained=[tp.partition for tp in change.gained if tp.topic == OFFSETS_TOPIC],
            lost=[tp.partition for tp in change.lost if tp.topic == OFFSETS_TOPIC])
        await self.transactions.on_leadership_change(
            gained=[tp.partition for tp in change.gained if tp.topic == TRANSACTION_STATE_TOPIC],
            lost=[tp.partition for tp in change.lost if tp.topic == TRANSACTION_STATE_TOPIC])
        deleted = [tp for tp in change.deleted if tp.topic != OFFSETS_TOPIC]
        if deleted:
            await self.groups.on_partitions_deleted(deleted)

    def partition(self, topic: str, index: int) -> Partition | None:
        """The open partition, whatever its state (tests, internal use); handlers
        ask `replicas.get_partition_or_error`."""
        return self.partitions.get(TopicPartition(topic, index))

    async def create_topic(
        self, name: str, partitions: int, configs: Mapping[str, str], internal: bool = False,
        replication_factor: int = 1, replicas: Sequence[tuple[int, ...]] | None = None,
    ) -> TopicMetadata:
        """`replicas`: each partition's replica list as the client gave it; None:
        placed over the live brokers (Kafka's assignment) `replication_factor` deep."""
        if replicas is None:
            replicas = assign_replicas(partitions, replication_factor, self.snapshot().brokers)
        topic = await self.metadata.create_topic(name, partitions, configs, internal,
                                                 replicas)
        await self.replicas.apply()
        log.info("created topic %s with %d partitions (id %s)", name, partitions, topic.topic_id)
        return topic

    async def create_topic_for_client(
        self, name: str, partitions: int, configs: Mapping[str, str],
        replication_factor: int | None = None,
        replicas: Sequence[tuple[int, ...]] | None = None,
    ) -> TopicMetadata:
        """CreateTopics and Metadata auto-creation (names already checked): the group
        coordinator makes (and loads) `__consumer_offsets` itself, in its own shape.
        `replication_factor` None: default.replication.factor."""
        if name == OFFSETS_TOPIC:
            await self.groups.ensure_ready()
            return self.snapshot().topics[name]
        if replication_factor is None:
            replication_factor = int(self.config["default.replication.factor"])
        return await self.create_topic(name, partitions, configs,
                                       replication_factor=replication_factor, replicas=replicas)

    async def delete_topic(self, name: str) -> TopicMetadata:
        """Delete the topic from the metadata, then its partitions' data, then every
        group's committed offsets of it (as Kafka's metadata publisher calls
        GroupCoordinator.onPartitionsDeleted). A partition whose data cannot be
        removed does not stop the rest; its error is raised at the end."""
        topic = await self.metadata.delete_topic(name)
        # Closes the partitions this broker led and drops the groups' offsets of them.
        await self.replicas.apply()
        failure: Exception | None = None
        for index in range(len(topic.partitions)):
            tp = TopicPartition(name, index)
            try:
                await self.partitions.delete(tp)
            except OSError as exc:
                log.error("could not remove the data of deleted partition %s: %s", tp, exc)
                failure = failure or exc
        log.info("deleted topic %s", name)
        if failure is not None:
            raise failure
        return topic

    async def create_partitions(self, name: str, total: int,
                                replicas: Sequence[tuple[int, ...]] | None = None
                                ) -> TopicMetadata:
        """`replicas`: the new partitions' lists as the client gave them; None:
        placed like the topic's first partition is replicated."""
        existing = self.snapshot().topics.get(name)
        if replicas is None and existing is not None:
            replication = len(existing.partitions[0].replicas) if existing.partitions else 1
            replicas = assign_replicas(
                total - len(existing.partitions), min(replication, len(self.snapshot().brokers)),
                self.snapshot().brokers, start_partition=len(existing.partitions))
        topic = await self.metadata.create_partitions(name, total, replicas)
        await self.replicas.apply()
        return topic

    async def set_topic_configs(self, name: str, configs: Mapping[str, str]) -> None:
        await self.metadata.set_topic_configs(name, configs)
        await self.replicas.apply()

    async def elect_leaders(self, unclean: bool, partitions: Iterable[TopicIndex] | None
                            ) -> dict[TopicIndex, ApiError]:
        """ElectLeaders through `admin` (NotController unless this broker is the
        controller); this broker then opens and closes partitions at once, the
        others follow the store's change stream."""
        elect = self.admin.elect_unclean if unclean else self.admin.elect_preferred
        results = await elect(partitions)
        await self.replicas.apply()
        return results

    async def reassign_partitions(self, targets: Mapping[TopicIndex, tuple[int, ...] | None]
                                  ) -> dict[TopicIndex, ApiError]:
        """AlterPartitionReassignments through `admin`, then as `elect_leaders`."""
        results = await self.admin.reassign(targets)
        await self.replicas.apply()
        return results

    def _dynamic_config(self) -> Config:
        stored = self.snapshot().broker_configs
        return self.static_config.with_dynamic(
            stored.get("", {}), stored.get(str(self.node.node_id), {}))

    async def set_broker_configs(self, resource: str, configs: Mapping[str, str]) -> None:
        """Store the dynamic configs of `resource` (this node's id, or "" for the
        cluster default), then apply them as Kafka's DynamicBrokerConfig does: a
        changed topic default reaches every open partition whose topic does not
        override it; request limits read `self.config` at each request."""
        await self.metadata.set_broker_configs(resource, configs)
        self._refresh_config()
        await self.replicas.apply(reconfigure_all=True)

    async def set_group_configs(self, group: str, configs: Mapping[str, str]) -> None:
        await self.metadata.set_group_configs(group, configs)
