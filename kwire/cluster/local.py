"""The single-node metadata store: one JSON document in the data dir.

Every change is written to a temporary file, fsynced and renamed over the old
one, so a crash leaves either the old or the new metadata, never a mix. The
cluster id is kept in `meta.properties` the way Kafka keeps it.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kwire.cluster.api import (
    BrokerInfo,
    ClusterMetadata,
    PartitionState,
    TopicExists,
    TopicMetadata,
    TopicNotFound,
)

METADATA_FILE = "kwire-metadata.json"
META_PROPERTIES = "meta.properties"


def _new_cluster_id() -> str:
    # Kafka's cluster ids are base64url-encoded UUIDs without padding (Uuid.toString).
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class LocalMetadataStore:
    def __init__(self, data_dir: Path, broker: BrokerInfo) -> None:
        self._dir = data_dir
        self._broker = broker
        data_dir.mkdir(parents=True, exist_ok=True)
        self._cluster_id = self._load_cluster_id()
        self._doc: dict[str, Any] = {"topics": {}, "broker_configs": {}, "next_producer_id": 0}
        path = data_dir / METADATA_FILE
        if path.exists():
            self._doc.update(json.loads(path.read_text(encoding="utf-8")))
        self._snapshot = self._build()

    def _load_cluster_id(self) -> str:
        path = self._dir / META_PROPERTIES
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.startswith("cluster.id="):
                    return line.split("=", 1)[1].strip()
        cluster_id = _new_cluster_id()
        _atomic_write(
            path,
            f"version=1\ncluster.id={cluster_id}\nnode.id={self._broker.node_id}\n",
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
        )

    def _commit(self) -> None:
        _atomic_write(self._dir / METADATA_FILE, json.dumps(self._doc, indent=1, sort_keys=True))
        self._snapshot = self._build()

    def snapshot(self) -> ClusterMetadata:
        return self._snapshot

    async def create_topic(
        self, name: str, partitions: int, configs: Mapping[str, str], internal: bool = False
    ) -> TopicMetadata:
        if name in self._doc["topics"]:
            raise TopicExists(name)
        self._doc["topics"][name] = {
            "id": str(uuid.uuid4()),
            # A single node leads every partition from epoch 0; epochs only move
            # when leadership does (cluster mode).
            "leader_epochs": [0] * partitions,
            "configs": dict(configs),
            "internal": internal,
        }
        self._commit()
        return self._snapshot.topics[name]

    async def delete_topic(self, name: str) -> TopicMetadata:
        topic = self._snapshot.topics.get(name)
        if topic is None:
            raise TopicNotFound(name)
        del self._doc["topics"][name]
        self._commit()
        return topic

    async def create_partitions(self, name: str, total: int) -> TopicMetadata:
        t = self._doc["topics"].get(name)
        if t is None:
            raise TopicNotFound(name)
        t["leader_epochs"].extend([0] * (total - len(t["leader_epochs"])))
        self._commit()
        return self._snapshot.topics[name]

    async def set_topic_configs(self, name: str, configs: Mapping[str, str]) -> None:
        t = self._doc["topics"].get(name)
        if t is None:
            raise TopicNotFound(name)
        t["configs"] = dict(configs)
        self._commit()

    async def set_broker_configs(self, broker: str, configs: Mapping[str, str]) -> None:
        self._doc["broker_configs"][broker] = dict(configs)
        self._commit()

    async def allocate_producer_ids(self, count: int) -> int:
        first = int(self._doc["next_producer_id"])
        self._doc["next_producer_id"] = first + count
        self._commit()
        return first
