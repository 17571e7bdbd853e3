"""Golden bodies of kwire's znodes: byte for byte the JSON Kafka's ZooKeeper mode
wrote (kafka.zk.ZkData, compact Jackson output), and decoding of bodies as Kafka
wrote them, including older versions and string/number variants."""

from __future__ import annotations

import uuid

import pytest

from kwire.cluster.zookeeper.znodes import (
    PERSISTENT_PATHS,
    ClusterIdZNode,
    ConfigEntityZNode,
    DeleteTopicsTopicZNode,
    InvalidZNode,
    LeaderAndIsr,
    ProducerIdBlock,
    ProducerIdBlockZNode,
    TopicAssignment,
    TopicPartitionStateZNode,
    TopicZNode,
    desanitize,
    sanitize,
    uuid_from_kafka,
    uuid_to_kafka,
)

# Kafka prints this Uuid's bytes (00 01 02 ... 0f) as "AAECAwQFBgcICQoLDA0ODw".
TOPIC_ID = uuid.UUID(bytes=bytes(range(16)))
TOPIC_ID_TEXT = "AAECAwQFBgcICQoLDA0ODw"


def test_uuid_as_kafka_prints_it() -> None:
    assert uuid_to_kafka(TOPIC_ID) == TOPIC_ID_TEXT
    assert uuid_from_kafka(TOPIC_ID_TEXT) == TOPIC_ID
    with pytest.raises(InvalidZNode):
        uuid_from_kafka("not a uuid")


def test_cluster_id() -> None:
    assert ClusterIdZNode.path() == "/cluster/id"
    data = b'{"version":"1","id":"q1Sh-9_ISia_zwGINzRvyQ"}'
    assert ClusterIdZNode.encode("q1Sh-9_ISia_zwGINzRvyQ") == data
    assert ClusterIdZNode.decode(data) == "q1Sh-9_ISia_zwGINzRvyQ"


def test_topic() -> None:
    assert TopicZNode.path("orders") == "/brokers/topics/orders"
    data = (b'{"version":3,"partitions":{"0":[1],"1":[1]},'
            b'"topic_id":"AAECAwQFBgcICQoLDA0ODw","adding_replicas":{},"removing_replicas":{}}')
    assignment = TopicAssignment(((1,), (1,)), TOPIC_ID)
    assert TopicZNode.encode(assignment) == data
    assert TopicZNode.decode("orders", data) == assignment


def test_topic_as_older_kafkas_wrote_it() -> None:
    """Version 1 (no topic id), keys in any order, replica lists of several brokers."""
    data = b'{"version":1,"partitions":{"1":[2,3],"0":[1,2]}}'
    assert TopicZNode.decode("t", data) == TopicAssignment(((1, 2), (2, 3)), None)


@pytest.mark.parametrize("data", [
    b"", b"[]", b'{"version":3}', b'{"version":3,"partitions":{"0":[1],"2":[1]}}',
    b'{"version":3,"partitions":{"x":[1]}}',
])
def test_bad_topic_znode(data: bytes) -> None:
    with pytest.raises(InvalidZNode):
        TopicZNode.decode("t", data)


def test_partition_state() -> None:
    assert TopicPartitionStateZNode.path("orders", 2) == \
        "/brokers/topics/orders/partitions/2/state"
    data = b'{"controller_epoch":1,"leader":1,"version":1,"leader_epoch":4,"isr":[1]}'
    state = LeaderAndIsr(leader=1, leader_epoch=4, isr=(1,))
    assert TopicPartitionStateZNode.encode(state) == data
    assert TopicPartitionStateZNode.decode(data) == state
    # Kafka 3.x's version 2 adds leader_recovery_state; it is ignored.
    assert TopicPartitionStateZNode.decode(
        b'{"controller_epoch":7,"leader":3,"version":2,"leader_epoch":9,"isr":[3,1],'
        b'"leader_recovery_state":0}') == LeaderAndIsr(3, 9, (3, 1), 7)


def test_configs() -> None:
    assert ConfigEntityZNode.path("topics", "orders") == "/config/topics/orders"
    assert ConfigEntityZNode.path("groups", "g") == "/config/groups/g"
    assert ConfigEntityZNode.group_path("team/a b*") == "/config/groups/team%2Fa%20b%2A"
    assert ConfigEntityZNode.broker_path("") == "/config/brokers/<default>"
    assert ConfigEntityZNode.broker_path("1") == "/config/brokers/1"
    assert ConfigEntityZNode.broker_name("<default>") == ""
    assert ConfigEntityZNode.broker_name("1") == "1"
    data = b'{"version":1,"config":{"retention.ms":"1000","cleanup.policy":"compact"}}'
    configs = {"retention.ms": "1000", "cleanup.policy": "compact"}
    assert ConfigEntityZNode.encode(configs) == data
    assert ConfigEntityZNode.decode(data) == configs
    assert ConfigEntityZNode.encode({}) == b'{"version":1,"config":{}}'
    assert ConfigEntityZNode.decode(b"") == {}


def test_producer_id_block() -> None:
    assert ProducerIdBlockZNode.path() == "/latest_producer_id_block"
    data = b'{"version":1,"broker":1,"block_start":"1000","block_end":"1999"}'
    block = ProducerIdBlock(broker=1, block_start=1000, block_end=1999)
    assert ProducerIdBlockZNode.encode(block) == data
    assert ProducerIdBlockZNode.decode(data) == block
    assert ProducerIdBlockZNode.decode(b"") is None  # created empty: no block yet
    assert ProducerIdBlockZNode.decode(
        b'{"version":1,"broker":2,"block_start":0,"block_end":999}') == \
        ProducerIdBlock(2, 0, 999)


def test_delete_topics_marker_and_persistent_paths() -> None:
    assert DeleteTopicsTopicZNode.path("orders") == "/admin/delete_topics/orders"
    assert set(PERSISTENT_PATHS) == {
        "/brokers/topics", "/config/topics", "/config/brokers", "/config/groups",
        "/admin/delete_topics", "/latest_producer_id_block"}


@pytest.mark.parametrize(("name", "znode"), [
    ("g", "g"), ("a.b-c_d", "a.b-c_d"), ("a/b", "a%2Fb"), ("x y", "x%20y"), ("a*b", "a%2Ab"),
    ("a+b", "a%2Bb"), ("ü", "%C3%BC"), (".", "%2E"), ("..", "%2E%2E"),
])
def test_sanitized_entity_names(name: str, znode: str) -> None:
    """Kafka's Sanitizer (URL encoding; "*" and space spelled out)."""
    assert sanitize(name) == znode
    assert desanitize(znode) == name
