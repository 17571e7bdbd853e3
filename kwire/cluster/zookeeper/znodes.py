"""kwire's metadata znodes: one class per znode, its path and its JSON body.

The layout and the bodies are Apache Kafka's own from its ZooKeeper mode
(kafka.zk.ZkData, Kafka 2.8-3.x), so an operator who knows that tree finds a
kwire cluster where Kafka kept it, and `zkCli.sh get` shows the JSON Kafka wrote
(compact, as Jackson writes it). Paths here are relative to the chroot of
`zookeeper.connect`; the store prefixes it.

Decoders are lenient the way Kafka's were: unknown fields are ignored, numbers
Kafka wrote as strings (producer id blocks, the cluster id version) are read
either way, and a topic znode older than version 3 has no topic id (the store
assigns one, as Kafka's controller did for KIP-516).
"""

from __future__ import annotations

import base64
import json
import urllib.parse
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Topic.INTERNAL_TOPICS (Kafka decides "internal" by name alone, and so does the
# ZooKeeper store: the topic znode has no field for it).
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state", "__share_group_state"})

# ConfigEntityName.DEFAULT: the znode of the cluster-wide default broker configs
# (kwire's broker id "").
DEFAULT_ENTITY = "<default>"

# The controller epoch written into partition states. kwire has no controller
# election yet (one broker leads everything), so it is Kafka's first epoch.
CONTROLLER_EPOCH = 1


class InvalidZNode(ValueError):
    """A znode's body is not the JSON this layout expects."""


def _json(data: Mapping[str, Any]) -> bytes:
    """Compact JSON as Kafka's Json.encodeAsBytes (Jackson) writes it."""
    return json.dumps(data, separators=(",", ":")).encode("utf-8")


def _parse(data: bytes, what: str) -> dict[str, Any]:
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidZNode(f"{what}: not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidZNode(f"{what}: not a JSON object")
    return body


def uuid_to_kafka(value: uuid.UUID) -> str:
    """Kafka's Uuid.toString: base64url of the 16 bytes, no padding."""
    return base64.urlsafe_b64encode(value.bytes).decode("ascii").rstrip("=")


def uuid_from_kafka(text: str) -> uuid.UUID:
    """Kafka's Uuid.fromString."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return uuid.UUID(bytes=raw)
    except ValueError as exc:
        raise InvalidZNode(f"not a Kafka Uuid: {text!r}") from exc


def sanitize(name: str) -> str:
    """Kafka's Sanitizer.sanitize, for entity names that may hold any character (a
    group id may contain "/"): URL-encoded, "*" as %2A, space as %20. A name that
    is just "." or ".." (a path component ZooKeeper refuses) is encoded too."""
    encoded = urllib.parse.quote_plus(name, safe="-_.*").replace("*", "%2A").replace("+", "%20")
    return encoded.replace(".", "%2E") if encoded in (".", "..") else encoded


def desanitize(name: str) -> str:
    """Kafka's Sanitizer.desanitize (URLDecoder.decode)."""
    return urllib.parse.unquote_plus(name)


class ClusterIdZNode:
    """/cluster/id: the cluster id, created once by the first broker."""

    @staticmethod
    def path() -> str:
        return "/cluster/id"

    @staticmethod
    def encode(cluster_id: str) -> bytes:
        return _json({"version": "1", "id": cluster_id})

    @staticmethod
    def decode(data: bytes) -> str:
        body = _parse(data, ClusterIdZNode.path())
        if not isinstance(body.get("id"), str):
            raise InvalidZNode(f"{ClusterIdZNode.path()}: no id")
        return str(body["id"])


class TopicsZNode:
    """/brokers/topics: one child per topic."""

    @staticmethod
    def path() -> str:
        return "/brokers/topics"


@dataclass(frozen=True, slots=True)
class TopicAssignment:
    """What a topic znode holds: the replicas of each partition and the topic id
    (None in a pre-KIP-516 znode)."""

    partitions: tuple[tuple[int, ...], ...]
    topic_id: uuid.UUID | None


class TopicZNode:
    """/brokers/topics/<topic>: the partition assignment and topic id (version 3).
    Its existence is what makes a topic exist."""

    VERSION = 3

    @staticmethod
    def path(topic: str) -> str:
        return f"{TopicsZNode.path()}/{topic}"

    @staticmethod
    def encode(assignment: TopicAssignment) -> bytes:
        body: dict[str, Any] = {
            "version": TopicZNode.VERSION,
            "partitions": {str(n): list(replicas)
                           for n, replicas in enumerate(assignment.partitions)},
        }
        if assignment.topic_id is not None:
            body["topic_id"] = uuid_to_kafka(assignment.topic_id)
        body["adding_replicas"] = {}
        body["removing_replicas"] = {}
        return _json(body)

    @staticmethod
    def decode(topic: str, data: bytes) -> TopicAssignment:
        what = TopicZNode.path(topic)
        body = _parse(data, what)
        raw = body.get("partitions")
        if not isinstance(raw, dict):
            raise InvalidZNode(f"{what}: no partitions")
        try:
            by_index = {int(n): tuple(int(r) for r in replicas) for n, replicas in raw.items()}
        except (TypeError, ValueError) as exc:
            raise InvalidZNode(f"{what}: bad partitions: {exc}") from exc
        if sorted(by_index) != list(range(len(by_index))):
            raise InvalidZNode(f"{what}: partitions are not 0..{len(by_index) - 1}")
        topic_id = body.get("topic_id")
        return TopicAssignment(
            partitions=tuple(by_index[n] for n in range(len(by_index))),
            topic_id=None if topic_id is None else uuid_from_kafka(str(topic_id)),
        )


class TopicPartitionsZNode:
    """/brokers/topics/<topic>/partitions: one child per partition index."""

    @staticmethod
    def path(topic: str) -> str:
        return f"{TopicZNode.path(topic)}/partitions"


@dataclass(frozen=True, slots=True)
class LeaderAndIsr:
    """A partition state znode's body (Kafka's LeaderIsrAndControllerEpoch)."""

    leader: int
    leader_epoch: int
    isr: tuple[int, ...]
    controller_epoch: int = CONTROLLER_EPOCH


class TopicPartitionStateZNode:
    """/brokers/topics/<topic>/partitions/<n>/state: leader, leader epoch, ISR."""

    @staticmethod
    def path(topic: str, partition: int) -> str:
        return f"{TopicPartitionsZNode.path(topic)}/{partition}/state"

    @staticmethod
    def encode(state: LeaderAndIsr) -> bytes:
        return _json({"controller_epoch": state.controller_epoch, "leader": state.leader,
                      "version": 1, "leader_epoch": state.leader_epoch,
                      "isr": list(state.isr)})

    @staticmethod
    def decode(data: bytes) -> LeaderAndIsr:
        body = _parse(data, "partition state")
        try:
            return LeaderAndIsr(leader=int(body["leader"]),
                                leader_epoch=int(body["leader_epoch"]),
                                isr=tuple(int(r) for r in body.get("isr", ())),
                                controller_epoch=int(body.get("controller_epoch",
                                                              CONTROLLER_EPOCH)))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidZNode(f"partition state: {exc!r}") from exc


class ConfigEntityTypeZNode:
    """/config/<type>: "topics", "brokers", and kwire's "groups" (GROUP config
    resources, which Kafka's ZooKeeper mode never had)."""

    TOPICS = "topics"
    BROKERS = "brokers"
    GROUPS = "groups"

    @staticmethod
    def path(entity_type: str) -> str:
        return f"/config/{entity_type}"


class ConfigEntityZNode:
    """/config/<type>/<name>: the configs set on one entity (only those set;
    defaults are not written)."""

    @staticmethod
    def path(entity_type: str, name: str) -> str:
        return f"{ConfigEntityTypeZNode.path(entity_type)}/{name}"

    @staticmethod
    def group_path(group: str) -> str:
        """A group id may hold any character: its znode name is sanitized, as
        Kafka's were for user and client-id entities."""
        return ConfigEntityZNode.path(ConfigEntityTypeZNode.GROUPS, sanitize(group))

    @staticmethod
    def broker_path(broker: str) -> str:
        """kwire's broker "" (the cluster default) is Kafka's `<default>` entity."""
        return ConfigEntityZNode.path(ConfigEntityTypeZNode.BROKERS, broker or DEFAULT_ENTITY)

    @staticmethod
    def broker_name(child: str) -> str:
        return "" if child == DEFAULT_ENTITY else child

    @staticmethod
    def encode(configs: Mapping[str, str]) -> bytes:
        return _json({"version": 1, "config": dict(configs)})

    @staticmethod
    def decode(data: bytes) -> dict[str, str]:
        if not data:  # an entity path Kafka created without a body
            return {}
        body = _parse(data, "config")
        config = body.get("config", {})
        if not isinstance(config, dict):
            raise InvalidZNode("config: not an object")
        return {str(k): str(v) for k, v in config.items()}


class DeleteTopicsZNode:
    """/admin/delete_topics: one child per topic being deleted."""

    @staticmethod
    def path() -> str:
        return "/admin/delete_topics"


class DeleteTopicsTopicZNode:
    """/admin/delete_topics/<topic>: the topic is deleted from the moment this
    znode exists; its other znodes are leftovers to remove (see store.py)."""

    @staticmethod
    def path(topic: str) -> str:
        return f"{DeleteTopicsZNode.path()}/{topic}"


@dataclass(frozen=True, slots=True)
class ProducerIdBlock:
    """A block of producer ids; `block_end` is inclusive, as Kafka's
    ProducerIdsBlock.lastProducerId."""

    broker: int
    block_start: int
    block_end: int


class ProducerIdBlockZNode:
    """/latest_producer_id_block: the last block handed out. A broker takes the
    next one by compare-and-set on this znode (Kafka's ZkProducerIdManager), so
    no id is handed out twice. Kafka creates it empty: no block yet."""

    @staticmethod
    def path() -> str:
        return "/latest_producer_id_block"

    @staticmethod
    def encode(block: ProducerIdBlock) -> bytes:
        return _json({"version": 1, "broker": block.broker,
                      "block_start": str(block.block_start),
                      "block_end": str(block.block_end)})

    @staticmethod
    def decode(data: bytes) -> ProducerIdBlock | None:
        if not data:
            return None
        body = _parse(data, ProducerIdBlockZNode.path())
        try:
            return ProducerIdBlock(broker=int(body["broker"]),
                                   block_start=int(body["block_start"]),
                                   block_end=int(body["block_end"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidZNode(f"{ProducerIdBlockZNode.path()}: {exc!r}") from exc


# The persistent paths the store makes sure exist (Kafka's ZkData.PersistentZkPaths,
# those kwire uses).
PERSISTENT_PATHS = (
    TopicsZNode.path(),
    ConfigEntityTypeZNode.path(ConfigEntityTypeZNode.TOPICS),
    ConfigEntityTypeZNode.path(ConfigEntityTypeZNode.BROKERS),
    ConfigEntityTypeZNode.path(ConfigEntityTypeZNode.GROUPS),
    DeleteTopicsZNode.path(),
    ProducerIdBlockZNode.path(),
)
