"""The single-node metadata store: one JSON document in the data dir.

Every change is made on a copy of the document, written (kwire.fs.atomic_write:
temporary file, fsync, rename) and only then applied, so a failed write (a full
disk: StorageError) changes nothing, in memory or on disk, and a crash leaves
either the old or the new metadata, never a mix. Deleting a topic and changing
its configs (or the dynamic broker configs) may use the data dir's space reserve
on a full disk; creating
topics and partitions may not, so the reserve is still there for the change
that frees space. The cluster id is kept in `meta.properties` the way Kafka
keeps it.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

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
from kwire.errors import StorageError
from kwire.fs import SpaceReserve, atomic_write

METADATA_FILE = "kwire-metadata.json"
META_PROPERTIES = "meta.properties"


def _new_cluster_id() -> str:
    # Kafka's cluster ids are base64url-encoded UUIDs without padding (Uuid.toString).
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


class LocalMetadataStore:
    def __init__(self, data_dir: Path, broker: BrokerInfo,
                 format_configs: Mapping[str, str] | None = None) -> None:
        """`format_configs`: the cluster-wide dynamic configs a new data dir starts
        with (Kafka 4.4's storage formatter writes min.insync.replicas so, for ELR);
        kept in memory until the first change writes the document."""
        self._dir = data_dir
        self._broker = broker
        self._reserve = SpaceReserve(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        self._cluster_id = self._load_cluster_id()
        self._doc: dict[str, Any] = {"topics": {}, "broker_configs": {}, "group_configs": {},
                                     "next_producer_id": 0}
        path = data_dir / METADATA_FILE
        if path.exists():
            self._doc.update(json.loads(path.read_text(encoding="utf-8")))
        elif format_configs:
            self._doc["broker_configs"][""] = dict(format_configs)
        self._snapshot = self._build()

    def _load_cluster_id(self) -> str:
        path = self._dir / META_PROPERTIES
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.startswith("cluster.id="):
                    return line.split("=", 1)[1].strip()
        cluster_id = _new_cluster_id()
        atomic_write(
            path,
            f"version=1\ncluster.id={cluster_id}\nnode.id={self._broker.node_id}\n".encode(),
        )
        return cluster_id

    def _build(self) -> ClusterMetadata:
        topics = {}
        for name, t in self._doc["topics"].items():
            topics[name] = TopicMetadata(
                name=name,
                topic_id=uuid.UUID(t["id"]),
                partitions=tuple(
                    PartitionState(self._broker.node_id, int(epoch), (self._broker.node_id,))
                    for epoch in t["leader_epochs"]
                ),
                configs=dict(t["configs"]),
                internal=bool(t.get("internal", False)),
            )
        return ClusterMetadata(
            cluster_id=self._cluster_id,
            controller_id=self._broker.node_id,
            brokers=(self._broker,),
            topics=topics,
            broker_configs={k: dict(v) for k, v in self._doc["broker_configs"].items()},
            group_configs={k: dict(v) for k, v in self._doc["group_configs"].items()},
        )

    def _commit(self, doc: dict[str, Any], frees_space: bool = False) -> None:
        """Write `doc` (a changed copy of the document), then make it current. Only
        changes that let an operator free space (`frees_space`) may use the space
        reserve; growing the metadata on a full disk fails instead."""
        data = json.dumps(doc, indent=1, sort_keys=True).encode("utf-8")
        try:
            atomic_write(self._dir / METADATA_FILE, data,
                         self._reserve if frees_space else None)
        except OSError as exc:
            raise StorageError(f"cannot write {METADATA_FILE}: {exc}") from exc
        self._doc = doc
        self._snapshot = self._build()

    def _copy(self) -> dict[str, Any]:
        return copy.deepcopy(self._doc)

    def snapshot(self) -> ClusterMetadata:
        return self._snapshot

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Nothing else changes a single node's metadata: listeners never run."""

    async def create_topic(
        self, name: str, partitions: int, configs: Mapping[str, str], internal: bool = False,
        replicas: Sequence[tuple[int, ...]] | None = None,
    ) -> TopicMetadata:
        """`replicas` can only name this broker here (the handlers checked that)."""
        if name in self._doc["topics"]:
            raise TopicExists(name)
        doc = self._copy()
        doc["topics"][name] = {
            "id": str(uuid.uuid4()),
            # A single node leads every partition from epoch 0; epochs only move
            # when leadership does (cluster mode).
            "leader_epochs": [0] * partitions,
            "configs": dict(configs),
            "internal": internal,
        }
        self._commit(doc)
        return self._snapshot.topics[name]

    async def delete_topic(self, name: str) -> TopicMetadata:
        topic = self._snapshot.topics.get(name)
        if topic is None:
            raise TopicNotFound(name)
        doc = self._copy()
        del doc["topics"][name]
        self._commit(doc, frees_space=True)
        return topic

    async def create_partitions(self, name: str, total: int,
                                replicas: Sequence[tuple[int, ...]] | None = None
                                ) -> TopicMetadata:
        if name not in self._doc["topics"]:
            raise TopicNotFound(name)
        doc = self._copy()
        epochs = doc["topics"][name]["leader_epochs"]
        epochs.extend([0] * (total - len(epochs)))
        self._commit(doc)
        return self._snapshot.topics[name]

    async def alter_partitions(self, changes: Mapping[TopicIndex, PartitionChange]) -> None:
        """Leader epochs by compare-and-set; this broker stays the only leader."""
        doc = self._copy()
        for (name, index), (expected, state) in changes.items():
            topic = doc["topics"].get(name)
            if topic is None or not 0 <= index < len(topic["leader_epochs"]):
                raise TopicNotFound(f"{name}-{index}")
            if topic["leader_epochs"][index] != expected:
                raise StaleMetadata(f"{name}-{index} is at leader epoch "
                                    f"{topic['leader_epochs'][index]}, not {expected}")
            if state.leader != self._broker.node_id:
                raise ValueError(f"a single node leads every partition, not {state.leader}")
            topic["leader_epochs"][index] = state.leader_epoch
        self._commit(doc)

    async def set_topic_configs(self, name: str, configs: Mapping[str, str]) -> None:
        if name not in self._doc["topics"]:
            raise TopicNotFound(name)
        doc = self._copy()
        doc["topics"][name]["configs"] = dict(configs)
        self._commit(doc, frees_space=True)  # e.g. a lower retention

    async def set_broker_configs(self, broker: str, configs: Mapping[str, str]) -> None:
        doc = self._copy()
        if configs:
            doc["broker_configs"][broker] = dict(configs)
        else:
            doc["broker_configs"].pop(broker, None)
        self._commit(doc, frees_space=True)  # e.g. a lower log.retention.ms

    async def set_group_configs(self, group: str, configs: Mapping[str, str]) -> None:
        doc = self._copy()
        if configs:
            doc["group_configs"][group] = dict(configs)
        else:
            doc["group_configs"].pop(group, None)
        self._commit(doc)

    async def allocate_producer_ids(self, count: int) -> int:
        doc = self._copy()
        first = int(doc["next_producer_id"])
        doc["next_producer_id"] = first + count
        self._commit(doc)
        return first
