"""The metadata seam: brokers, topics, partitions, leaders, configs, producer ids.

The broker reads a `ClusterMetadata` snapshot (immutable) and changes metadata
only through a `MetadataStore`, whose every change yields a new snapshot. The
single-node store keeps it in the data dir; the ZooKeeper store (cluster mode)
keeps it in ZooKeeper, where every broker's changes meet: a store tells its
listeners when a snapshot changed, whoever made the change.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeAlias


@dataclass(frozen=True, slots=True)
class BrokerInfo:
    node_id: int
    host: str
    port: int
    rack: str | None = None


@dataclass(frozen=True, slots=True)
class PartitionState:
    # The broker leading the partition; -1 while no live broker does.
    leader: int
    # Grows by one each time the leader changes (KIP-320).
    leader_epoch: int
    # The leadership preference list (Kafka's Replicas); replicas[0] is preferred.
    # In cluster mode every broker can read every partition's ledgers, so these
    # say where leadership goes, not where bytes are.
    replicas: tuple[int, ...]


# A partition: (topic name, partition index).
TopicIndex: TypeAlias = tuple[str, int]


@dataclass(frozen=True, slots=True)
class TopicMetadata:
    name: str
    topic_id: uuid.UUID
    partitions: tuple[PartitionState, ...]
    # Only the configs set on the topic; defaults come from the broker config.
    configs: Mapping[str, str] = field(default_factory=dict)
    internal: bool = False


@dataclass(frozen=True, slots=True)
class ClusterMetadata:
    cluster_id: str
    controller_id: int
    brokers: tuple[BrokerInfo, ...]
    topics: Mapping[str, TopicMetadata]
    # Dynamic broker configs set through AlterConfigs, per broker id ("" = cluster default).
    broker_configs: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # GROUP config resources, by group id (a group need not exist to have configs).
    group_configs: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # Topic names by topic id, built once per snapshot: Fetch v13+, Produce v13 and
    # Metadata look topics up by id on every request.
    topic_names_by_id: Mapping[uuid.UUID, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "topic_names_by_id",
                           {t.topic_id: t.name for t in self.topics.values()})

    def topic_by_id(self, topic_id: uuid.UUID) -> TopicMetadata | None:
        name = self.topic_names_by_id.get(topic_id)
        return None if name is None else self.topics.get(name)


class TopicExists(Exception):
    pass


class TopicNotFound(Exception):
    pass


class StaleMetadata(Exception):
    """A compare-and-set lost: the stored state moved since the change was computed."""


# (the leader epoch the change was computed from, the new state)
PartitionChange: TypeAlias = tuple[int, PartitionState]


class MetadataStore(Protocol):
    def snapshot(self) -> ClusterMetadata: ...

    def add_listener(self, listener: Callable[[], None]) -> None:
        """`listener()` runs on the event loop after the snapshot changed through
        another broker or the store itself (not after this store's own calls,
        whose callers know); cluster mode's change stream."""
        ...

    async def create_topic(
        self, name: str, partitions: int, configs: Mapping[str, str], internal: bool = False,
        replicas: Sequence[tuple[int, ...]] | None = None,
    ) -> TopicMetadata:
        """`replicas`: each partition's replica list (None: this broker alone)."""
        ...

    async def delete_topic(self, name: str) -> TopicMetadata: ...

    async def create_partitions(self, name: str, total: int,
                                replicas: Sequence[tuple[int, ...]] | None = None
                                ) -> TopicMetadata:
        """`replicas`: the new partitions' replica lists (None: this broker alone)."""
        ...

    async def alter_partitions(self, changes: Mapping[TopicIndex, PartitionChange]) -> None:
        """Set leaders, epochs and replicas, each only if the partition's leader epoch
        is still the one the change names (else StaleMetadata, nothing written for
        that topic, also when the writer is no longer the controller)."""
        ...

    async def set_topic_configs(self, name: str, configs: Mapping[str, str]) -> None:
        """Replace the topic's explicit configs with `configs`."""
        ...

    async def set_broker_configs(self, broker: str, configs: Mapping[str, str]) -> None:
        """Replace the dynamic configs of broker `broker` ("" = cluster default)."""
        ...

    async def set_group_configs(self, group: str, configs: Mapping[str, str]) -> None:
        """Replace group `group`'s configs (none left: the entry goes)."""
        ...

    async def allocate_producer_ids(self, count: int) -> int:
        """Reserve `count` producer ids durably; returns the first."""
        ...
