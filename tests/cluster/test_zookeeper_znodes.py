"""Golden bodies of kwire's znodes: byte for byte the JSON Kafka's ZooKeeper mode
wrote (kafka.zk.ZkData, compact Jackson output), and decoding of bodies as Kafka
wrote them, including older versions and string/number variants."""

from __future__ import annotations

import uuid

import pytest

from kwire.cluster.api import BrokerInfo
from kwire.cluster.zookeeper.znodes import (
    PERSISTENT_PATHS,
    BrokerIdsZNode,
    BrokerIdZNode,
    ClusterIdZNode,
    ConfigEntityZNode,
    ControllerEpochZNode,
    ControllerZNode,
    DeleteTopicsTopicZNode,
    InvalidZNode,
    LeaderAndIsr,
    MetadataChange,
    MetadataChangesZNode,
    MetadataChangeZNode,
    PreferredReplicaElectionZNode,
    ProducerIdBlock,
    ProducerIdBlockZNode,
    ReassignPartitionsZNode,
    TopicAssignment,
    TopicPartitionStateZNode,
    TopicZNode,
    desanitize,
    sanitize,
    uuid_from_kafka,
    uuid_to_kafka,
)
from kwire.log.api import TopicPartition

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
        "/brokers/ids", "/brokers/topics", "/config/topics", "/config/brokers",
        "/config/groups", "/admin", "/admin/delete_topics", "/latest_producer_id_block",
        "/kwire/metadata_changes"}


# ---- the cluster's znodes: brokers, controller, admin requests, change notifications ----

# `get /brokers/ids/1` of a Kafka 3.x broker (zookeeper-shell): version 5, the key
# order of its Scala mutable.HashMap.
KAFKA_BROKER_1 = (b'{"features":{},"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT"},'
                  b'"endpoints":["PLAINTEXT://server1:9092"],"jmx_port":-1,"port":9092,'
                  b'"host":"server1","version":5,"timestamp":"1704032948949"}')


def test_broker_registration() -> None:
    assert BrokerIdsZNode.path() == "/brokers/ids"
    assert BrokerIdZNode.path(1) == "/brokers/ids/1"
    broker = BrokerInfo(node_id=1, host="server1", port=9092)
    assert BrokerIdZNode.encode(broker, 1704032948949) == KAFKA_BROKER_1
    assert BrokerIdZNode.decode(1, KAFKA_BROKER_1) == broker


def test_broker_registration_with_rack() -> None:
    """"rack" only when set, where Kafka's hash order puts it (after endpoints)."""
    data = (b'{"features":{},"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT"},'
            b'"endpoints":["PLAINTEXT://b2.example:9093"],"rack":"eu-west-1a","jmx_port":-1,'
            b'"port":9093,"host":"b2.example","version":5,"timestamp":"17"}')
    broker = BrokerInfo(node_id=2, host="b2.example", port=9093, rack="eu-west-1a")
    assert BrokerIdZNode.encode(broker, 17) == data
    assert BrokerIdZNode.decode(2, data) == broker


def test_broker_registration_ipv6() -> None:
    broker = BrokerInfo(node_id=3, host="::1", port=9092)
    data = BrokerIdZNode.encode(broker, 1)
    assert b'"endpoints":["PLAINTEXT://[::1]:9092"]' in data
    assert BrokerIdZNode.decode(3, data) == broker


@pytest.mark.parametrize(("data", "expected"), [
    # version 1: no endpoints, only host and port
    (b'{"version":1,"host":"localhost","port":9092,"jmx_port":9999,"timestamp":"2233345666"}',
     BrokerInfo(7, "localhost", 9092)),
    # version 4 with listeners of its own names: the first endpoint
    (b'{"listener_security_protocol_map":{"CLIENT":"PLAINTEXT","REPLICATION":"PLAINTEXT"},'
     b'"endpoints":["CLIENT://host1:9092","REPLICATION://host1:9093"],"rack":"dc1",'
     b'"jmx_port":9999,"host":"host1","timestamp":"2233345666","port":9092,"version":4}',
     BrokerInfo(7, "host1", 9092, "dc1")),
    # the PLAINTEXT listener, wherever it is; a Kafka-written null rack
    (b'{"version":5,"host":null,"port":-1,"jmx_port":-1,"timestamp":"1","rack":null,'
     b'"endpoints":["SSL://h:9093","PLAINTEXT://h:9092"],"features":{}}',
     BrokerInfo(7, "h", 9092)),
])
def test_broker_registration_as_older_kafkas_wrote_it(data: bytes, expected: BrokerInfo) -> None:
    assert BrokerIdZNode.decode(7, data) == expected


@pytest.mark.parametrize("data", [b"", b"[]", b'{"version":5}', b'{"version":5,"endpoints":["x"]}',
                                  b'{"version":5,"endpoints":["PLAINTEXT://h:port"]}'])
def test_bad_broker_registration(data: bytes) -> None:
    with pytest.raises(InvalidZNode):
        BrokerIdZNode.decode(1, data)


def test_controller() -> None:
    assert ControllerZNode.path() == "/controller"
    # `get /controller` of a Kafka 3.x cluster
    data = b'{"version":2,"brokerid":1,"timestamp":"1704032949256","kraftControllerEpoch":-1}'
    assert ControllerZNode.encode(1, 1704032949256) == data
    assert ControllerZNode.decode(data) == 1
    # version 1 (Kafka before 3.4 / KIP-866)
    assert ControllerZNode.decode(b'{"version":1,"brokerid":2,"timestamp":"1673382716473"}') == 2
    for bad in (b"", b"{}", b'{"version":2,"brokerid":"x"}'):
        with pytest.raises(InvalidZNode):
            ControllerZNode.decode(bad)


def test_controller_epoch() -> None:
    assert ControllerEpochZNode.path() == "/controller_epoch"
    assert ControllerEpochZNode.encode(1) == b"1"
    assert ControllerEpochZNode.encode(42) == b"42"
    assert ControllerEpochZNode.decode(b"42") == 42
    for bad in (b"", b"x", b"\xff"):
        with pytest.raises(InvalidZNode):
            ControllerEpochZNode.decode(bad)


def test_reassign_partitions() -> None:
    assert ReassignPartitionsZNode.path() == "/admin/reassign_partitions"
    # Kafka's ReassignPartitionsZNodeTest
    data = b'{"version":1,"partitions":[{"topic":"foo","partition":0,"replicas":[1,2]}]}'
    reassignment = {TopicPartition("foo", 0): (1, 2)}
    assert ReassignPartitionsZNode.encode(reassignment) == data
    assert ReassignPartitionsZNode.decode(data) == reassignment
    for bad in (b"{}", b'{"version":1,"partitions":[{"topic":"foo","partition":0}]}',
                b'{"version":1,"partitions":[1]}'):
        with pytest.raises(InvalidZNode):
            ReassignPartitionsZNode.decode(bad)


def test_preferred_replica_election() -> None:
    assert PreferredReplicaElectionZNode.path() == "/admin/preferred_replica_election"
    # Kafka's KafkaZkClientTest
    data = (b'{"version":1,"partitions":[{"topic":"topic-a","partition":0},'
            b'{"topic":"topic-b","partition":0}]}')
    partitions = {TopicPartition("topic-b", 0), TopicPartition("topic-a", 0)}
    assert PreferredReplicaElectionZNode.encode(partitions) == data
    assert PreferredReplicaElectionZNode.decode(data) == partitions
    with pytest.raises(InvalidZNode):
        PreferredReplicaElectionZNode.decode(b'{"version":1,"partitions":[{"topic":"t"}]}')


def test_metadata_changes() -> None:
    assert MetadataChangesZNode.path() == "/kwire/metadata_changes"
    assert MetadataChangeZNode.create_path() == "/kwire/metadata_changes/change_"
    assert MetadataChangeZNode.path(42) == "/kwire/metadata_changes/change_0000000042"
    assert MetadataChangeZNode.sequence_of("change_0000000042") == 42
    assert MetadataChangeZNode.sequence_of("/kwire/metadata_changes/change_0000000007") == 7
    for bad in ("config_change_x", "other"):
        with pytest.raises(InvalidZNode):
            MetadataChangeZNode.sequence_of(bad)
    data = b'{"version":1,"topics":["orders","a/b"],"broker_configs":false,"group_configs":["g"]}'
    change = MetadataChange(topics=("orders", "a/b"), broker_configs=False, group_configs=("g",))
    assert MetadataChangeZNode.encode(change) == data
    assert MetadataChangeZNode.decode(data) == change
    assert MetadataChangeZNode.encode(MetadataChange(broker_configs=True)) == \
        b'{"version":1,"topics":[],"broker_configs":true,"group_configs":[]}'
    # missing lists are empty; "brokers_configs" is read as well
    assert MetadataChangeZNode.decode(b'{"version":1,"brokers_configs":true}') == \
        MetadataChange(broker_configs=True)
    for bad in (b"", b'{"topics":"orders"}', b'{"broker_configs":"yes"}'):
        with pytest.raises(InvalidZNode):
            MetadataChangeZNode.decode(bad)


@pytest.mark.parametrize(("name", "znode"), [
    ("g", "g"), ("a.b-c_d", "a.b-c_d"), ("a/b", "a%2Fb"), ("x y", "x%20y"), ("a*b", "a%2Ab"),
    ("a+b", "a%2Bb"), ("ü", "%C3%BC"), (".", "%2E"), ("..", "%2E%2E"),
])
def test_sanitized_entity_names(name: str, znode: str) -> None:
    """Kafka's Sanitizer (URL encoding; "*" and space spelled out)."""
    assert sanitize(name) == znode
    assert desanitize(znode) == name
