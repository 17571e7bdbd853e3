"""The metadata seam: topics, partitions, leaders, configs, producer ids.

The broker reads a `ClusterMetadata` snapshot (immutable) and changes metadata
only through a `MetadataStore`, whose every change yields a new snapshot. The
single-node store keeps it in the data dir; the ZooKeeper store (cluster mode)
comes later behind the same protocol.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class BrokerInfo:
    node_id: int
    host: str
    port: int
    rack: str | None = None


@dataclass(frozen=True, slots=True)
class PartitionState:
    leader: int
    leader_epoch: int
    replicas: tuple[int, ...]


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


class MetadataStore(Protocol):
    def snapshot(self) -> ClusterMetadata: ...

    async def create_topic(
        self, name: str, partitions: int, configs: Mapping[str, str], internal: bool = False
    ) -> TopicMetadata: ...

    async def delete_topic(self, name: str) -> TopicMetadata: ...

    async def create_partitions(self, name: str, total: int) -> TopicMetadata: ...

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
