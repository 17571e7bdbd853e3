"""What this broker leads (Kafka's ReplicaManager): the one place that answers
"may this broker serve that partition?" and that opens and closes partitions as
leadership comes and goes.

Every partition-scoped handler asks `get_partition_or_error`, which answers
Kafka's errors in Kafka's order: a partition the metadata does not have is
UNKNOWN_TOPIC_OR_PARTITION; one another broker leads (or whose log another
owner fenced) is NOT_LEADER_OR_FOLLOWER; a client naming an older leader epoch
is FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH (KIP-320).

`apply(snapshot)` makes the open partitions match the metadata: it closes what
this broker no longer leads before it opens what it now leads, reopens a
partition whose leader epoch moved (another broker may have led it in between,
so the log must be taken over again), and reconfigures partitions whose topic
configs changed. On a single node it runs after each metadata change the broker
makes; in cluster mode the metadata store's change stream calls it too. Calls
are serialised and each works on the newest snapshot, so a burst of changes
costs one pass per change at most, never a pass on stale metadata.

Listeners (the group coordinator) hear which partitions were gained and lost,
and which were deleted, after the logs are open or closed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from kwire.broker.partitions import Partition, PartitionManager
from kwire.cluster.api import ClusterMetadata, TopicMetadata
from kwire.errors import ErrorCode
from kwire.log.api import LogConfig, TopicPartition
from kwire.records.validator import Settings

log = logging.getLogger("kwire.replicas")

# Partition opens in flight at once: on cluster storage each open is a takeover
# (ZooKeeper reads, a ledger recovery), and __consumer_offsets alone has 50.
OPEN_CONCURRENCY = 16


@dataclass(frozen=True, slots=True)
class PartitionSettings:
    """What a topic's configs mean for its open partitions."""

    log_config: LogConfig
    log_append_time: bool
    max_message_bytes: int
    validation: Settings


@dataclass(frozen=True, slots=True)
class LeadershipChange:
    """One `apply` pass's outcome, for listeners."""

    gained: tuple[TopicPartition, ...]
    lost: tuple[TopicPartition, ...]
    # Partitions of topics gone from the metadata (a subset of `lost` where this
    # broker led them; every partition of the topic either way).
    deleted: tuple[TopicPartition, ...]


Listener = Callable[[LeadershipChange], Awaitable[None]]


class ReplicaManager:
    def __init__(self, node_id: int, partitions: PartitionManager,
                 snapshot: Callable[[], ClusterMetadata],
                 settings: Callable[[TopicMetadata], PartitionSettings]) -> None:
        self.node_id = node_id
        self.partitions = partitions
        self._snapshot = snapshot
        self._settings = settings
        self._lock = asyncio.Lock()
        self._opening = asyncio.Semaphore(OPEN_CONCURRENCY)
        # The topics as the last pass saw them: a topic whose metadata is unchanged
        # needs no reconfiguration, and one gone from the snapshot was deleted.
        self._applied: dict[str, TopicMetadata] = {}
        self._listeners: list[Listener] = []
        # Notified after every pass: requests waiting for a leadership to open.
        self._passed = asyncio.Condition()

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    # ---- lookups (the hot path) --------------------------------------------------------

    def get_partition_or_error(self, topic: str, index: int,
                               current_leader_epoch: int = -1) -> Partition | ErrorCode:
        """The partition if this broker leads it at the epoch the client names
        (-1: no epoch named), else the error to answer for it."""
        partition = self.partitions.get(TopicPartition(topic, index))
        if partition is None:
            return self._not_hosted(topic, index)
        if partition.fenced:
            return ErrorCode.NOT_LEADER_OR_FOLLOWER
        if current_leader_epoch >= 0 and current_leader_epoch != partition.leader_epoch:
            return (ErrorCode.FENCED_LEADER_EPOCH if current_leader_epoch < partition.leader_epoch
                    else ErrorCode.UNKNOWN_LEADER_EPOCH)
        return partition

    def _not_hosted(self, topic: str, index: int) -> ErrorCode:
        metadata = self._snapshot().topics.get(topic)
        if metadata is None or not 0 <= index < len(metadata.partitions):
            return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        # Known but led elsewhere, or leadership arrived and the log is still opening.
        return ErrorCode.NOT_LEADER_OR_FOLLOWER

    async def wait_for_leadership(self, topic: str, index: int,
                                  timeout_s: float) -> Partition | ErrorCode:
        """`get_partition_or_error`, but a partition the metadata already gives
        this broker while its log is still being taken over is waited for (at most
        `timeout_s`): a produce arriving during a failover is then answered once,
        instead of NOT_LEADER_OR_FOLLOWER and a client's growing retry backoff."""
        found = self.get_partition_or_error(topic, index)
        if found != ErrorCode.NOT_LEADER_OR_FOLLOWER or timeout_s <= 0:
            return found
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        async with self._passed:
            while (self.leader_of(topic, index) == self.node_id
                   and self.partitions.get(TopicPartition(topic, index)) is None):
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    await asyncio.wait_for(self._passed.wait(), remaining)
                except TimeoutError:
                    break
        return self.get_partition_or_error(topic, index)

    def leader_of(self, topic: str, index: int) -> int:
        """The partition's leader in the metadata (-1: none, or unknown partition)."""
        metadata = self._snapshot().topics.get(topic)
        if metadata is None or not 0 <= index < len(metadata.partitions):
            return -1
        return metadata.partitions[index].leader

    # ---- leadership changes -------------------------------------------------------------

    async def apply(self, reconfigure_all: bool = False) -> LeadershipChange:
        """Open what the newest snapshot says this broker leads, close the rest.
        `reconfigure_all`: the broker's defaults changed, so every open partition
        takes its topic's settings again."""
        async with self._lock:
            snapshot = self._snapshot()
            change = await self._apply(snapshot, reconfigure_all)
        async with self._passed:
            self._passed.notify_all()
        if change.gained or change.lost or change.deleted:
            for listener in self._listeners:
                try:
                    await listener(change)
                except Exception:  # one listener failing must not stop the others
                    log.exception("a leadership listener failed")
        return change

    async def _apply(self, snapshot: ClusterMetadata, reconfigure_all: bool) -> LeadershipChange:
        wanted: dict[TopicPartition, tuple[int, TopicMetadata]] = {}
        for topic in snapshot.topics.values():
            for index, state in enumerate(topic.partitions):
                if state.leader == self.node_id:
                    wanted[TopicPartition(topic.name, index)] = (state.leader_epoch, topic)
        deleted = self._deleted_partitions(snapshot)
        # Give up first: the next leader's takeover should find the logs closed.
        lost: list[TopicPartition] = []
        reopen: list[TopicPartition] = []
        for partition in list(self.partitions):
            tp = partition.tp
            target = wanted.get(tp)
            if target is None:
                lost.append(tp)
            elif target[0] != partition.leader_epoch or self._recreated(tp, target[1]):
                reopen.append(tp)
        for tp in lost + reopen:
            await self.partitions.close_partition(tp)
        if lost:
            log.info("no longer leading %d partition(s): %s", len(lost), _names(lost))
        gained = [tp for tp in wanted if self.partitions.get(tp) is None]
        changed_topics = {name for name, topic in snapshot.topics.items()
                          if reconfigure_all or self._applied.get(name) != topic}
        await asyncio.gather(*(
            self._open(tp, epoch, topic) for tp, (epoch, topic) in wanted.items()
            if tp in gained or tp.topic in changed_topics))
        if gained and any(tp not in reopen for tp in gained):
            log.info("now leading %d partition(s): %s", len(gained), _names(gained))
        self._applied = dict(snapshot.topics)
        return LeadershipChange(tuple(gained), tuple(lost + reopen), tuple(deleted))

    def _recreated(self, tp: TopicPartition, topic: TopicMetadata) -> bool:
        """The topic was deleted and created again under its name since the last pass."""
        before = self._applied.get(tp.topic)
        return before is not None and before.topic_id != topic.topic_id

    def _deleted_partitions(self, snapshot: ClusterMetadata) -> list[TopicPartition]:
        deleted = []
        for name, before in self._applied.items():
            now = snapshot.topics.get(name)
            if now is None or now.topic_id != before.topic_id:
                deleted += [TopicPartition(name, i) for i in range(len(before.partitions))]
        return deleted

    async def _open(self, tp: TopicPartition, leader_epoch: int, topic: TopicMetadata) -> None:
        settings = self._settings(topic)
        async with self._opening:
            await self.partitions.open(
                tp, leader_epoch, settings.log_config, settings.log_append_time,
                settings.max_message_bytes, settings.validation)


def _names(tps: Sequence[TopicPartition], most: int = 10) -> str:
    shown = ", ".join(str(tp) for tp in tps[:most])
    return shown + (f" and {len(tps) - most} more" if len(tps) > most else "")
