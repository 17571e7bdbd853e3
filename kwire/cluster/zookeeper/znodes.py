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

Key order: JSON objects are unordered, but a golden test (and an operator's
diff) is happier with Kafka's exact bytes. Kafka built most bodies from Scala
maps; small immutable maps keep insertion order, while the broker registration
is a mutable.HashMap, whose order (Scala 2.13, Kafka 3.x's build) is by key
hash: that is the order BrokerIdZNode writes.

kwire adds one tree of its own, /kwire/metadata_changes: sequential change
notifications as Kafka's /config/changes, but for every metadata change, so
each broker re-reads only what changed.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kwire.cluster.api import BrokerInfo
from kwire.log.api import TopicPartition

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


class BrokersZNode:
    """/brokers: the parent of ids and topics."""

    @staticmethod
    def path() -> str:
        return "/brokers"


class BrokerIdsZNode:
    """/brokers/ids: one ephemeral child per live broker."""

    @staticmethod
    def path() -> str:
        return f"{BrokersZNode.path()}/ids"


# What kwire registers: one PLAINTEXT listener (Kafka's default listener name).
PLAINTEXT = "PLAINTEXT"


def _format_address(host: str, port: int) -> str:
    """Kafka's Utils.formatAddress: an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _parse_endpoint(endpoint: str) -> tuple[str, str, int]:
    """"LISTENER://host:port" (host may be [v6] or empty) -> (listener, host, port),
    as Kafka's EndPoint.createEndPoint reads it."""
    listener, sep, address = endpoint.partition("://")
    host, colon, port = address.rpartition(":")
    if not sep or not colon:
        raise InvalidZNode(f"broker endpoint {endpoint!r} is not LISTENER://host:port")
    try:
        return listener, host.removeprefix("[").removesuffix("]"), int(port)
    except ValueError as exc:
        raise InvalidZNode(f"broker endpoint {endpoint!r}: bad port") from exc


class BrokerIdZNode:
    """/brokers/ids/<id>, ephemeral: a live broker and where clients reach it.
    Written as Kafka 2.7+ wrote it (version 5, Kafka 3.x's key order); read in
    every version Kafka wrote (1: only host and port; 2-5: endpoints)."""

    VERSION = 5

    @staticmethod
    def path(broker_id: int) -> str:
        return f"{BrokerIdsZNode.path()}/{broker_id}"

    @staticmethod
    def encode(broker: BrokerInfo, timestamp_ms: int) -> bytes:
        body: dict[str, Any] = {
            "features": {},
            "listener_security_protocol_map": {PLAINTEXT: PLAINTEXT},
            "endpoints": [f"{PLAINTEXT}://{_format_address(broker.host, broker.port)}"],
        }
        if broker.rack is not None:  # Kafka writes "rack" only when broker.rack is set
            body["rack"] = broker.rack
        body.update({"jmx_port": -1, "port": broker.port, "host": broker.host,
                     "version": BrokerIdZNode.VERSION, "timestamp": str(timestamp_ms)})
        return _json(body)

    @staticmethod
    def decode(broker_id: int, data: bytes) -> BrokerInfo:
        """The broker's PLAINTEXT endpoint (else its first one; else, version 1,
        the top-level host and port)."""
        what = BrokerIdZNode.path(broker_id)
        body = _parse(data, what)
        rack = body.get("rack")
        endpoints = body.get("endpoints")
        try:
            if isinstance(endpoints, list) and endpoints:
                parsed = [_parse_endpoint(str(e)) for e in endpoints]
                _, host, port = next((e for e in parsed if e[0] == PLAINTEXT), parsed[0])
            else:
                host, port = str(body["host"]), int(body["port"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidZNode(f"{what}: no host and port: {exc!r}") from exc
        return BrokerInfo(node_id=broker_id, host=host, port=port,
                          rack=None if rack is None else str(rack))


class ControllerZNode:
    """/controller, ephemeral: the broker that won the controller election. Its
    existence is the election (Kafka's KafkaController.elect)."""

    @staticmethod
    def path() -> str:
        return "/controller"

    @staticmethod
    def encode(broker_id: int, timestamp_ms: int) -> bytes:
        # kraftControllerEpoch is -1 outside a KRaft migration (KIP-866).
        return _json({"version": 2, "brokerid": broker_id, "timestamp": str(timestamp_ms),
                      "kraftControllerEpoch": -1})

    @staticmethod
    def decode(data: bytes) -> int:
        """The controller's broker id (version 1 had no kraftControllerEpoch)."""
        body = _parse(data, ControllerZNode.path())
        try:
            return int(body["brokerid"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidZNode(f"{ControllerZNode.path()}: no brokerid: {exc!r}") from exc


class ControllerEpochZNode:
    """/controller_epoch, persistent: the epoch of the latest controller, as a
    decimal string. Every election increments it by compare-and-set, and its
    znode version fences the controllers: each controller write carries a check
    of the version its own election left (KafkaZkClient's checkControllerEpoch)."""

    @staticmethod
    def path() -> str:
        return "/controller_epoch"

    @staticmethod
    def encode(epoch: int) -> bytes:
        return str(epoch).encode("ascii")

    @staticmethod
    def decode(data: bytes) -> int:
        try:
            return int(data.decode("ascii"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidZNode(f"{ControllerEpochZNode.path()}: not a number: {data!r}") \
                from exc


class AdminZNode:
    """/admin: requests to the controller."""

    @staticmethod
    def path() -> str:
        return "/admin"


def _topic_partition(item: Any, what: str) -> TopicPartition:
    if not isinstance(item, dict):
        raise InvalidZNode(f"{what}: a partition is not an object")
    try:
        return TopicPartition(str(item["topic"]), int(item["partition"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidZNode(f"{what}: bad partition: {exc!r}") from exc


def _partition_list(data: bytes, what: str) -> list[Any]:
    partitions = _parse(data, what).get("partitions")
    if not isinstance(partitions, list):
        raise InvalidZNode(f"{what}: no partitions")
    return partitions


class ReassignPartitionsZNode:
    """/admin/reassign_partitions: the replica lists an operator asked for (the
    tool's JSON, Kafka's LegacyPartitionAssignment; deprecated in Kafka 2.4 for
    the AlterPartitionReassignments API, still read by its controller)."""

    @staticmethod
    def path() -> str:
        return f"{AdminZNode.path()}/reassign_partitions"

    @staticmethod
    def encode(reassignment: Mapping[TopicPartition, Sequence[int]]) -> bytes:
        return _json({"version": 1, "partitions": [
            {"topic": tp.topic, "partition": tp.partition, "replicas": list(replicas)}
            for tp, replicas in reassignment.items()]})

    @staticmethod
    def decode(data: bytes) -> dict[TopicPartition, tuple[int, ...]]:
        what = ReassignPartitionsZNode.path()
        out: dict[TopicPartition, tuple[int, ...]] = {}
        for item in _partition_list(data, what):
            tp = _topic_partition(item, what)
            try:
                out[tp] = tuple(int(r) for r in item["replicas"])
            except (KeyError, TypeError, ValueError) as exc:
                raise InvalidZNode(f"{what}: bad replicas of {tp}: {exc!r}") from exc
        return out


class PreferredReplicaElectionZNode:
    """/admin/preferred_replica_election: partitions whose leadership should go
    back to their first replica."""

    @staticmethod
    def path() -> str:
        return f"{AdminZNode.path()}/preferred_replica_election"

    @staticmethod
    def encode(partitions: Iterable[TopicPartition]) -> bytes:
        # Kafka wrote a Scala Set (no order); sorted here, so equal sets are equal bytes.
        return _json({"version": 1, "partitions": [
            {"topic": tp.topic, "partition": tp.partition} for tp in sorted(set(partitions))]})

    @staticmethod
    def decode(data: bytes) -> frozenset[TopicPartition]:
        what = PreferredReplicaElectionZNode.path()
        return frozenset(_topic_partition(item, what) for item in _partition_list(data, what))


@dataclass(frozen=True, slots=True)
class MetadataChange:
    """What one change notification says changed: these topics (created, deleted,
    repartitioned, reconfigured or given new leaders), the broker configs, these
    groups' configs. A reader re-reads just that."""

    topics: tuple[str, ...] = ()
    broker_configs: bool = False
    group_configs: tuple[str, ...] = ()


class MetadataChangesZNode:
    """/kwire/metadata_changes: kwire's change notifications (not Kafka's; Kafka
    had this pattern only for configs, /config/changes). Every metadata write
    adds a sequential child; brokers watch the child list."""

    @staticmethod
    def path() -> str:
        return "/kwire/metadata_changes"


class MetadataChangeZNode:
    """/kwire/metadata_changes/change_<10-digit sequence>: one change. Created
    sequential (ZooKeeper appends the number to `create_path()`), so the
    children order the changes."""

    SEQUENCE_PREFIX = "change_"
    VERSION = 1

    @staticmethod
    def create_path() -> str:
        return f"{MetadataChangesZNode.path()}/{MetadataChangeZNode.SEQUENCE_PREFIX}"

    @staticmethod
    def path(sequence: int) -> str:
        return f"{MetadataChangeZNode.create_path()}{sequence:010d}"

    @staticmethod
    def sequence_of(child_name: str) -> int:
        """The sequence number of a child ("change_0000000042" -> 42; a full path
        works too), as Kafka's sequenceNumber reads it."""
        prefix = MetadataChangeZNode.SEQUENCE_PREFIX
        at = child_name.rfind(prefix)
        try:
            if at < 0:
                raise ValueError(child_name)
            return int(child_name[at + len(prefix):])
        except ValueError as exc:
            raise InvalidZNode(f"not a metadata change znode: {child_name!r}") from exc

    @staticmethod
    def encode(change: MetadataChange) -> bytes:
        return _json({"version": MetadataChangeZNode.VERSION, "topics": list(change.topics),
                      "broker_configs": change.broker_configs,
                      "group_configs": list(change.group_configs)})

    @staticmethod
    def decode(data: bytes) -> MetadataChange:
        body = _parse(data, "metadata change")
        topics, groups = body.get("topics", []), body.get("group_configs", [])
        broker_configs = body.get("broker_configs", body.get("brokers_configs", False))
        if not isinstance(topics, list) or not isinstance(groups, list) \
                or not isinstance(broker_configs, bool):
            raise InvalidZNode(f"metadata change: bad body {body!r}")
        return MetadataChange(topics=tuple(str(t) for t in topics),
                              broker_configs=broker_configs,
                              group_configs=tuple(str(g) for g in groups))


# The persistent paths the store makes sure exist (Kafka's ZkData.PersistentZkPaths,
# those kwire uses, and kwire's own change notifications).
PERSISTENT_PATHS = (
    BrokerIdsZNode.path(),
    TopicsZNode.path(),
    ConfigEntityTypeZNode.path(ConfigEntityTypeZNode.TOPICS),
    ConfigEntityTypeZNode.path(ConfigEntityTypeZNode.BROKERS),
    ConfigEntityTypeZNode.path(ConfigEntityTypeZNode.GROUPS),
    AdminZNode.path(),
    DeleteTopicsZNode.path(),
    ProducerIdBlockZNode.path(),
    MetadataChangesZNode.path(),
)
