"""Dynamic broker configs, GROUP and BROKER_LOGGER config resources, and the
alter APIs' answers, checked against what a real Kafka 4.4.0 broker answered to
the same requests (each expected code and message below is Kafka's, word for
word, unless the case says it is kwire's own refusal)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from _harness import InProcessBroker  # type: ignore[import-not-found]

from kwire.errors import ErrorCode
from kwire.records.builder import build_batch

TOPIC, BROKER, BROKER_LOGGER, GROUP = 2, 4, 8, 32
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
OK = (0, None)


@pytest.fixture
def kb(tmp_path: Path) -> InProcessBroker:
    return InProcessBroker(tmp_path)


async def inc(kb: InProcessBroker, rtype: int, name: str, ops: list[tuple[str, int, Any]],
              validate_only: bool = False) -> tuple[int, str | None]:
    r = await kb.call(44, 1, {"resources": [{
        "resource_type": rtype, "resource_name": name,
        "configs": [{"name": k, "config_operation": op, "value": v} for k, op, v in ops]}],
        "validate_only": validate_only})
    x = r.responses[0]
    return int(x.error_code), x.error_message


async def alter(kb: InProcessBroker, rtype: int, name: str, configs: dict[str, Any],
                validate_only: bool = False) -> tuple[int, str | None]:
    r = await kb.call(33, 2, {"resources": [{
        "resource_type": rtype, "resource_name": name,
        "configs": [{"name": k, "value": v} for k, v in configs.items()]}],
        "validate_only": validate_only})
    x = r.responses[0]
    return int(x.error_code), x.error_message


async def describe(kb: InProcessBroker, rtype: int, name: str,
                   keys: list[str] | None = None) -> tuple[int, str | None, dict[str, Any]]:
    r = await kb.call(32, 4, {"resources": [{"resource_type": rtype, "resource_name": name,
                                             "configuration_keys": keys}],
                              "include_synonyms": True, "include_documentation": False})
    res = r.results[0]
    return int(res.error_code), res.error_message, {c.name: c for c in res.configs}


def shape(entry: Any) -> tuple[Any, ...]:
    return (entry.value, entry.read_only, entry.config_source, entry.is_sensitive,
            entry.config_type, [(s.name, s.value, s.source) for s in entry.synonyms])


async def create(kb: InProcessBroker, name: str, **configs: str) -> None:
    r = await kb.call(19, 7, {"topics": [{
        "name": name, "num_partitions": 1, "replication_factor": 1, "assignments": (),
        "configs": [{"name": k.replace("_", "."), "value": v} for k, v in configs.items()]}],
        "timeout": 5000, "validate_only": False})
    assert r.topics[0].error_code == 0


# (resource type, name, operations, Kafka 4.4.0's answer), all with validate_only.
KAFKA_ANSWERS = [
    (BROKER, "1", [("log.retention.ms", SET, "1000")], OK),
    (BROKER, "", [("log.retention.ms", SET, "1000")], OK),
    (BROKER, "1", [("message.max.bytes", SET, "2000000")], OK),
    (BROKER, "1", [("num.io.threads", SET, "4")], OK),
    (BROKER, "1", [("log.cleaner.threads", SET, "2")], OK),
    (BROKER, "1", [("foo.bar", SET, "1")], OK),
    (BROKER, "", [("foo.bar", SET, "1")], OK),
    (BROKER, "1", [("log.retention.ms", SET, "-5")], OK),
    (BROKER, "1", [("log.flush.interval.ms", SET, "-1")], OK),
    (BROKER, "1", [("log.cleanup.policy", APPEND, "compact")], OK),
    (BROKER, "1", [("log.retention.ms", DELETE, None)], OK),
    (BROKER, "1", [("node.id", SET, "3")],
     (42, "Cannot update these configs dynamically: [node.id]")),
    (BROKER, "", [("num.partitions", SET, "3")],
     (42, "Cannot update these configs dynamically: [num.partitions]")),
    (BROKER, "1", [("num.partitions", SET, "3"), ("node.id", SET, "3")],
     (42, "Cannot update these configs dynamically: [node.id, num.partitions]")),
    (BROKER, "1", [("log.retention.ms", SET, "y"), ("node.id", SET, "x")],
     (42, "Cannot update these configs dynamically: [node.id]")),
    (BROKER, "1", [("log.retention.check.interval.ms", SET, "1000")],
     (42, "Cannot update these configs dynamically: [log.retention.check.interval.ms]")),
    (BROKER, "1", [("log.retention.hours", SET, "1")],
     (42, "Cannot update these configs dynamically: [log.retention.hours]")),
    (BROKER, "1", [("controller.quorum.voters", SET, "1@x:1")],
     (42, "Cannot update these configs dynamically: [controller.quorum.voters]")),
    (BROKER, "1", [("log.retention.ms", SET, "abc")],
     (42, "Invalid value abc for configuration log.retention.ms: Not a number of type LONG")),
    (BROKER, "", [("log.segment.bytes", SET, "200")],
     (42, "Invalid value 200 for configuration log.segment.bytes: Value must be at least "
          "1048576")),
    (BROKER, "1", [("message.max.bytes", SET, "99999999999")],
     (42, "Invalid value 99999999999 for configuration message.max.bytes: Not a number of "
          "type INT")),
    (BROKER, "1", [("log.cleanup.policy", SET, "bogus")],
     (42, "Invalid value bogus for configuration log.cleanup.policy: String must be one of: "
          "compact, delete")),
    (BROKER, "1", [("log.cleanup.policy", SET, "delete,delete")],
     (42, "Configuration 'log.cleanup.policy' values must not be duplicated.")),
    (BROKER, "1", [("log.cleanup.policy", SET, ",delete")],
     (42, "Configuration 'log.cleanup.policy' values must not be empty.")),
    (BROKER, "1", [("min.insync.replicas", SET, "0")],
     (42, "Invalid value 0 for configuration min.insync.replicas: Value must be at least 1")),
    (BROKER, "1", [("log.retention.ms", SET, "0")],
     (42, "requirement failed: log.retention.ms must be unlimited (-1) or, greater than or "
          "equal to 1")),
    (BROKER, "1", [("log.cleaner.dedupe.buffer.size", SET, "0")],
     (42, "requirement failed: log.cleaner.dedupe.buffer.size must be at least 1MB per cleaner "
          "thread.")),
    (BROKER, "1", [("num.replica.fetchers", SET, "0")],
     (42, "Invalid value 0 for configuration num.replica.fetchers: Value must be at least 1")),
    (BROKER, "", [("group.consumer.assignment.interval.ms", SET, "99999")],
     (42, "group.consumer.assignment.interval.ms must be less than or equal to "
          "group.consumer.max.assignment.interval.ms")),
    (BROKER, "1", [("log.roll.ms", SET, "0")],
     (42, "requirement failed: log.roll.ms must be greater than or equal to 1")),
    (BROKER, "1", [("message.max.bytes", APPEND, "5")],
     (40, "Config value append is not allowed for config key: message.max.bytes")),
    (BROKER, "1", [("message.max.bytes", SUBTRACT, "1")],
     (40, "Config value subtract is not allowed for config key: message.max.bytes")),
    (BROKER, "1", [("foo.bar", APPEND, "1")], (40, "Unknown config name: foo.bar")),
    (BROKER, "1", [("log.retention.ms", SET, "1000"), ("log.retention.ms", SET, "2000")],
     (42, "Error due to duplicate config keys")),
    (BROKER, "1", [("log.retention.ms", 7, "1000")], (42, "Unknown operations type 7")),
    (BROKER, "1", [("log.retention.ms", SET, None), ("message.max.bytes", SET, None)],
     (42, "Null value not supported for : log.retention.ms, message.max.bytes")),
    (BROKER, "2", [("log.retention.ms", SET, "1000")],
     (42, "Unexpected broker id, expected 1, but received 2")),
    (BROKER, "abc", [("log.retention.ms", SET, "1000")],
     (42, "Node id must be an integer, but it is: abc")),
    (BROKER, "", [("listeners", SET, "PLAINTEXT://127.0.0.1:9092")],
     (42, "Cannot update these configs at default cluster level, broker id must be "
          "specified: [listeners]")),
    (GROUP, "g1", [("consumer.session.timeout.ms", SET, "50000")], OK),
    (GROUP, "g1", [("consumer.session.timeout.ms", DELETE, None)], OK),
    (GROUP, "g1", [("consumer.session.timeout.ms", SET, "1000")],
     (40, "consumer.session.timeout.ms must be in the range 45000 to 60000 inclusive.")),
    (GROUP, "g1", [("consumer.heartbeat.interval.ms", SET, "50000")],
     (40, "consumer.heartbeat.interval.ms must be in the range 5000 to 15000 inclusive.")),
    (GROUP, "g1", [("consumer.session.timeout.ms", SET, "50000"),
                   ("consumer.heartbeat.interval.ms", SET, "49000")],
     (40, "consumer.heartbeat.interval.ms must be in the range 5000 to 15000 inclusive.")),
    (GROUP, "g1", [("consumer.heartbeat.interval.ms", SET, "abc")],
     (40, "Invalid value abc for configuration consumer.heartbeat.interval.ms: Not a number "
          "of type INT")),
    (GROUP, "g1", [("consumer.session.timeout.ms", SET, "0")],
     (40, "Invalid value 0 for configuration consumer.session.timeout.ms: Value must be at "
          "least 1")),
    (GROUP, "g1", [("consumer.session.timeout.ms", SET, "x"), ("zzz", SET, "x")],
     (40, "Unknown group config name: zzz")),
    (GROUP, "g1", [("streams.session.timeout.ms", SET, "1"),
                   ("consumer.session.timeout.ms", SET, "1")],
     (40, "consumer.session.timeout.ms must be in the range 45000 to 60000 inclusive.")),
    (GROUP, "", [("consumer.session.timeout.ms", SET, "50000")],
     (42, "Default group resources are not allowed.")),
    (GROUP, "g1", [("share.auto.offset.reset", SET, "by_duration:PT1H")], OK),
    (GROUP, "g1", [("share.auto.offset.reset", SET, "bogus")],
     (40, "Invalid value bogus for configuration share.auto.offset.reset: Invalid value "
          "`bogus` for configuration share.auto.offset.reset. The value must be either "
          "'earliest', 'latest' or of the format 'by_duration:<PnDTnHnMn.nS>'.")),
    (GROUP, "g1", [("share.record.lock.duration.ms", SET, "999")],
     (40, "Invalid value 999 for configuration share.record.lock.duration.ms: Value must be "
          "at least 1000")),
    (GROUP, "g1", [("share.record.lock.duration.ms", SET, "5000")],
     (40, "share.record.lock.duration.ms must be in the range 15000 to 60000 inclusive.")),
    (GROUP, "g1", [("share.delivery.count.limit", SET, "11")],
     (40, "share.delivery.count.limit must be in the range 2 to 10 inclusive.")),
    (GROUP, "g1", [("share.isolation.level", SET, "READ_COMMITTED")],
     (40, "Invalid value READ_COMMITTED for configuration share.isolation.level: String must "
          "be one of: read_committed, read_uncommitted")),
    (GROUP, "g1", [("streams.num.standby.replicas", SET, "3")],
     (40, "streams.num.standby.replicas must be less than or equal to 2")),
    (GROUP, "g1", [("streams.assignor.name", SET, "bogus")],
     (40, "streams.assignor.name 'bogus' is not a registered task assignor. Registered "
          "assignors are: [sticky].")),
    (GROUP, "g1", [("streams.rack.aware.assignment.tags", SET, "a,,b")],
     (40, "Configuration 'streams.rack.aware.assignment.tags' values must not be empty.")),
    (GROUP, "g1", [("streams.rack.aware.assignment.tags", SET, "a,a")],
     (40, "streams.rack.aware.assignment.tags must not contain duplicate tag keys.")),
    (GROUP, "g1", [("streams.rack.aware.assignment.tags", APPEND, "a")],
     (40, "Can't APPEND to key streams.rack.aware.assignment.tags because its type is not "
          "LIST.")),
    (GROUP, "g1", [("consumer.session.timeout.ms", SUBTRACT, "50000")],
     (40, "Can't SUBTRACT to key consumer.session.timeout.ms because its type is not LIST.")),
    (GROUP, "g1", [("consumer.session.timeout.ms", 7, "50000")], (-1, None)),
    (GROUP, "g1", [("consumer.session.timeout.ms", SET, None)],
     (42, "Null value not supported for : consumer.session.timeout.ms")),
    (TOPIC, "nosuch", [("retention.ms", SET, "1000")],
     (3, "The topic 'nosuch' does not exist.")),
    (TOPIC, "", [("retention.ms", SET, "1")], (42, "Default topic resources are not allowed.")),
    (TOPIC, "bad name!", [("retention.ms", SET, "1")],
     (17, "Topic name is invalid: 'bad name!' contains one or more characters other than "
          "ASCII alphanumerics, '.', '_' and '-'")),
    (TOPIC, "t", [("retention.ms", APPEND, "5")],
     (40, "Can't APPEND to key retention.ms because its type is not LIST.")),
    (TOPIC, "t", [("retention.ms", SET, None)],
     (42, "Null value not supported for : retention.ms")),
    (TOPIC, "t", [("retention.ms", 7, "1")], (-1, None)),
    (TOPIC, "t", [("cleanup.policy", SET, "delete,delete")], OK),
    (TOPIC, "t", [("cleanup.policy", SET, "")], OK),
    (TOPIC, "t", [("cleanup.policy", SET, ",delete")],
     (40, "Configuration 'cleanup.policy' values must not be empty.")),
    (TOPIC, "t", [("remote.storage.enable", SET, "true")],
     (40, "Tiered Storage functionality is disabled in the broker. Topic cannot be configured "
          "with remote log storage.")),
    (TOPIC, "t", [("remote.storage.enable", SET, "false")], OK),
    (TOPIC, "t", [("leader.replication.throttled.replicas", SET, "0:1,")], OK),
    (TOPIC, "t", [("follower.replication.throttled.replicas", SET, "*")], OK),
    (TOPIC, "t", [("leader.replication.throttled.replicas", SET, "0-1")],
     (40, "Invalid value [0-1] for configuration leader.replication.throttled.replicas: "
          "leader.replication.throttled.replicas must be the literal '*' or a list of replicas "
          "in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],...")),
    (TOPIC, "t", [("local.retention.ms", SET, "-3")],
     (40, "Invalid value -3 for configuration local.retention.ms: Value must be at least -2")),
    (TOPIC, "t", [("max.decompressed.message.bytes", SET, "0")],
     (40, "Invalid value 0 for configuration max.decompressed.message.bytes: Value must be at "
          "least 1")),
    (TOPIC, "t", [("retention.ms", SET, "-2")],
     (40, "Invalid value -2 for configuration retention.ms: Value must be at least -1")),
    (TOPIC, "t", [("min.cleanable.dirty.ratio", SET, "2")],
     (40, "Invalid value 2.0 for configuration min.cleanable.dirty.ratio: Value must be no "
          "more than 1")),
    (BROKER_LOGGER, "1", [("root", SET, "INFO")], OK),
    (BROKER_LOGGER, "1", [("root", SET, "info")],
     (40, "Cannot set the log level of root to info as it is not a supported log level. "
          "Valid log levels are DEBUG, ERROR, FATAL, INFO, TRACE, WARN")),
    (BROKER_LOGGER, "1", [("no.such.logger", SET, "INFO")],
     (40, "Logger no.such.logger does not exist!")),
    (BROKER_LOGGER, "1", [("root", DELETE, None)],
     (42, "Removing the log level of the root logger is not allowed")),
    (BROKER_LOGGER, "1", [("root", APPEND, "INFO")],
     (42, "APPEND operation is not allowed for the BROKER_LOGGER resource")),
    (BROKER_LOGGER, "1", [("root", 7, "INFO")],
     (42, "Unknown operation type 7 is not allowed for the BROKER_LOGGER resource")),
    (BROKER_LOGGER, "2", [("root", SET, "INFO")],
     (42, "Unexpected node id. Expected 1, but received 2")),
    (99, "x", [("a", SET, "1")], (42, "Unknown resource type 99")),
]


@pytest.mark.parametrize(("rtype", "name", "ops", "answer"), KAFKA_ANSWERS)
async def test_incremental_answers_match_kafka(kb: InProcessBroker, rtype: int, name: str,
                                               ops: list[tuple[str, int, Any]],
                                               answer: tuple[int, str | None]) -> None:
    await create(kb, "t")
    before = kb.broker.snapshot()
    assert await inc(kb, rtype, name, ops, validate_only=True) == answer
    after = kb.broker.snapshot()  # validate_only: nothing stored
    assert (after.broker_configs, after.group_configs) == (before.broker_configs, {})
    assert dict(after.topics["t"].configs) == {}


async def test_legacy_alter_answers_match_kafka(kb: InProcessBroker) -> None:
    assert await alter(kb, BROKER, "1", {"log.retention.ms": "1000"}, True) == OK
    assert await alter(kb, BROKER, "1", {"node.id": "3"}, True) == (
        42, "Cannot update these configs dynamically: [node.id]")
    assert await alter(kb, BROKER, "2", {"log.retention.ms": "1000"}, True) == (
        42, "Unexpected broker id, expected 1, but received 2")
    assert await alter(kb, GROUP, "g1", {"consumer.session.timeout.ms": "50000"}, True) == OK
    assert await alter(kb, GROUP, "g1", {"foo": "1"}, True) == (
        40, "Unknown group config name: foo")
    assert await alter(kb, GROUP, "", {"consumer.session.timeout.ms": "50000"}, True) == (
        42, "Default group resources are not allowed.")
    assert await alter(kb, BROKER_LOGGER, "1", {"root": "INFO"}, True) == (
        42, "Unknown resource type 8")
    assert await alter(kb, TOPIC, "t", {"retention.ms": None}, True) == (
        42, "Null value not supported for : retention.ms")


async def test_each_resource_at_most_once(kb: InProcessBroker) -> None:
    await create(kb, "t")
    resource = {"resource_type": TOPIC, "resource_name": "t", "configs": [
        {"name": "retention.ms", "config_operation": SET, "value": "1"}]}
    r = await kb.call(44, 1, {"resources": [resource, resource], "validate_only": False})
    assert [(x.error_code, x.error_message) for x in r.responses] == [
        (42, "Each resource must appear at most once.")] * 2
    assert dict(kb.broker.snapshot().topics["t"].configs) == {}


async def test_describe_sources_and_synonyms_as_kafka(kb: InProcessBroker) -> None:
    """Kafka 4.4.0's answer after the same changes (min.insync.replicas left out:
    Kafka's formatter sets it as a cluster default for ELR)."""
    await create(kb, "cfgt1", retention_ms="5000")
    await create(kb, "cfgt2")
    assert await inc(kb, BROKER, "", [("log.retention.ms", SET, "2000"),
                                      ("message.max.bytes", SET, "2000000"),
                                      ("log.segment.bytes", SET, "2000000"),
                                      ("num.io.threads", SET, "6")]) == OK
    assert await inc(kb, BROKER, "1", [("log.retention.ms", SET, "1000"),
                                       ("foo.bar", SET, "1"), ("num.io.threads", SET, "4")]) == OK
    _, message, b = await describe(kb, BROKER, "1")
    assert message == ""
    assert shape(b["foo.bar"]) == (None, True, 2, True, 0, [("foo.bar", None, 2)])
    assert shape(b["log.flush.interval.ms"]) == (None, False, 5, False, 5, [])
    assert shape(b["message.max.bytes"]) == ("2000000", False, 3, False, 3, [
        ("message.max.bytes", "2000000", 3), ("message.max.bytes", "1048588", 5)])
    assert shape(b["log.retention.hours"]) == ("168", True, 5, False, 3, [
        ("log.retention.hours", "168", 5)])
    assert shape(b["log.retention.minutes"]) == (None, True, 5, False, 3, [])
    assert shape(b["num.io.threads"]) == ("4", False, 2, False, 3, [
        ("num.io.threads", "4", 2), ("num.io.threads", "6", 3), ("num.io.threads", "8", 5)])
    assert shape(b["log.retention.ms"]) == ("1000", False, 2, False, 5, [
        ("log.retention.ms", "1000", 2), ("log.retention.ms", "2000", 3),
        ("log.retention.hours", "168", 5)])
    _, _, d = await describe(kb, BROKER, "")
    assert {n: shape(e) for n, e in d.items()} == {
        "log.segment.bytes": ("2000000", False, 3, False, 3, [("log.segment.bytes", "2000000", 3)]),
        "log.retention.ms": ("2000", False, 3, False, 5, [("log.retention.ms", "2000", 3)]),
        "message.max.bytes": ("2000000", False, 3, False, 3, [("message.max.bytes", "2000000", 3)]),
        "num.io.threads": ("6", False, 3, False, 3, [("num.io.threads", "6", 3)]),
    }
    _, _, t1 = await describe(kb, TOPIC, "cfgt1")
    assert shape(t1["retention.ms"]) == ("5000", False, 1, False, 5, [
        ("retention.ms", "5000", 1), ("log.retention.ms", "1000", 2),
        ("log.retention.ms", "2000", 3), ("log.retention.hours", "168", 5)])
    assert shape(t1["segment.bytes"]) == ("2000000", False, 3, False, 3, [
        ("log.segment.bytes", "2000000", 3), ("log.segment.bytes", "1073741824", 5)])
    assert shape(t1["flush.ms"]) == ("9223372036854775807", False, 5, False, 5, [])
    assert shape(t1["segment.ms"]) == ("604800000", False, 5, False, 5, [])
    assert shape(t1["cleanup.policy"]) == ("delete", False, 5, False, 7, [
        ("log.cleanup.policy", "delete", 5)])
    _, _, t2 = await describe(kb, TOPIC, "cfgt2")
    assert shape(t2["retention.ms"]) == ("1000", False, 2, False, 5, [
        ("log.retention.ms", "1000", 2), ("log.retention.ms", "2000", 3),
        ("log.retention.hours", "168", 5)])
    _, _, only = await describe(kb, BROKER, "1", keys=["log.retention.ms", "nonexistent.key"])
    assert list(only) == ["log.retention.ms"]


async def test_broker_describe_details_as_kafka_4_4(tmp_path: Path) -> None:
    """Kafka 4.4.0's BROKER describe (the differential scenario broker_all): LIST
    types, broker.id following node.id, listeners and max.connections dynamic in
    Kafka (kwire still refuses changing them), internal configs hidden, and an
    empty key list describing everything, as null does."""
    kb = InProcessBroker(tmp_path, **{"node.id": "1"})
    _, _, b = await describe(kb, BROKER, "1")
    for name in ("listeners", "advertised.listeners", "log.dirs", "log.dir", "process.roles"):
        assert b[name].config_type == 7, name
    assert shape(b["broker.id"]) == ("1", True, 4, False, 3, [("broker.id", "1", 4)])
    assert b["listeners"].read_only is False
    assert b["max.connections"].read_only is False
    assert b["log.dirs"].value == str(tmp_path)
    assert "producer.id.expiration.check.interval.ms" not in b
    code, message = await inc(kb, BROKER, "1", [("max.connections", SET, "5")])
    assert code == 42 and message is not None and "kwire applies them at start" in message
    _, _, everything = await describe(kb, BROKER, "1", keys=[])
    assert set(everything) == set(b)
    await create(kb, "emptykeys")
    _, _, t = await describe(kb, TOPIC, "emptykeys", keys=[])
    _, _, t_all = await describe(kb, TOPIC, "emptykeys")
    assert set(t) == set(t_all) and "retention.ms" in t


async def test_internal_broker_config_described_when_set(tmp_path: Path) -> None:
    kb = InProcessBroker(tmp_path, **{"producer.id.expiration.check.interval.ms": "1000"})
    _, _, b = await describe(kb, BROKER, "1")
    assert b["producer.id.expiration.check.interval.ms"].value == "1000"


async def test_static_properties_sit_under_dynamic_ones(tmp_path: Path) -> None:
    kb = InProcessBroker(tmp_path, **{"message.max.bytes": "3000"})
    _, _, b = await describe(kb, BROKER, "1", keys=["message.max.bytes"])
    assert shape(b["message.max.bytes"]) == ("3000", False, 4, False, 3, [
        ("message.max.bytes", "3000", 4), ("message.max.bytes", "1048588", 5)])
    assert await inc(kb, BROKER, "", [("message.max.bytes", SET, "2000")]) == OK
    assert kb.broker.config["message.max.bytes"] == 2000
    assert await inc(kb, BROKER, "1", [("message.max.bytes", SET, "1000")]) == OK
    assert kb.broker.config["message.max.bytes"] == 1000
    _, _, b = await describe(kb, BROKER, "1", keys=["message.max.bytes"])
    assert [s.source for s in b["message.max.bytes"].synonyms] == [2, 3, 4, 5]
    assert await inc(kb, BROKER, "1", [("message.max.bytes", DELETE, None)]) == OK
    assert kb.broker.config["message.max.bytes"] == 2000
    assert await alter(kb, BROKER, "", {}) == OK  # legacy: the whole (empty) set
    assert kb.broker.config["message.max.bytes"] == 3000
    assert kb.broker.snapshot().broker_configs == {}


async def _produce(kb: InProcessBroker, topic: str, batch: bytes) -> int:
    r = await kb.call(0, 9, {"transactional_id": None, "acks": -1, "timeout": 5000,
                             "topic_data": [{"name": topic, "partition_data": [
                                 {"index": 0, "records": batch}]}]})
    return int(r.responses[0].partition_responses[0].error_code)


async def test_a_changed_default_reaches_open_topics_at_once(kb: InProcessBroker) -> None:
    await create(kb, "plain")
    await create(kb, "own", max_message_bytes="100000", retention_ms="-1")
    batch = build_batch([(None, b"x" * 2000, [])], base_timestamp=kb.clock.wall_ms() - 10_000)
    assert await _produce(kb, "plain", batch) == ErrorCode.NONE
    assert await _produce(kb, "own", batch) == ErrorCode.NONE
    assert await inc(kb, BROKER, "", [("message.max.bytes", SET, "1000"),
                                      ("log.retention.ms", SET, "1000")]) == OK
    # the next request sees the lower limit; a topic with its own value keeps it
    assert await _produce(kb, "plain", batch) == ErrorCode.MESSAGE_TOO_LARGE
    assert await _produce(kb, "own", batch) == ErrorCode.NONE
    # the next retention pass deletes by the new default, not on "own"
    assert await kb.broker.logs.enforce_retention(kb.clock.wall_ms()) == 1
    offsets = {t: kb.broker.partition(t, 0).log.offsets() for t in ("plain", "own")}  # type: ignore[union-attr]
    assert offsets["plain"].log_start_offset == 1 and offsets["own"].log_start_offset == 0
    assert await inc(kb, BROKER, "", [("message.max.bytes", DELETE, None)]) == OK
    assert await _produce(kb, "plain", batch) == ErrorCode.NONE


async def test_dynamic_and_group_configs_survive_restart(tmp_path: Path) -> None:
    kb = InProcessBroker(tmp_path)
    assert await inc(kb, BROKER, "", [("log.retention.ms", SET, "2000")]) == OK
    assert await inc(kb, BROKER, "1", [("message.max.bytes", SET, "5000"),
                                       ("foo.bar", SET, "x")]) == OK
    assert await inc(kb, GROUP, "g1", [("consumer.session.timeout.ms", SET, "50000")]) == OK
    assert await inc(kb, GROUP, "g2", [("share.delivery.count.limit", SET, "3")]) == OK
    assert await inc(kb, GROUP, "g2", [("share.delivery.count.limit", DELETE, None)]) == OK
    await kb.broker.close()

    again = InProcessBroker(tmp_path)
    assert again.broker.config.log_retention_ms == 2000
    assert again.broker.config["message.max.bytes"] == 5000
    _, _, b = await describe(again, BROKER, "1", keys=["log.retention.ms", "foo.bar"])
    assert (b["log.retention.ms"].value, b["log.retention.ms"].config_source) == ("2000", 3)
    assert b["foo.bar"].config_source == 2
    assert again.broker.snapshot().group_configs == {
        "g1": {"consumer.session.timeout.ms": "50000"}}
    _, _, g = await describe(again, GROUP, "g1")
    assert shape(g["consumer.session.timeout.ms"]) == ("50000", False, 8, False, 3, [
        ("consumer.session.timeout.ms", "50000", 8),
        ("group.consumer.session.timeout.ms", "45000", 5)])


async def test_group_describe_as_kafka(kb: InProcessBroker) -> None:
    code, message, g = await describe(kb, GROUP, "nosuchgroup")
    assert (code, message, len(g)) == (0, "", 21)  # any group name, existing or not
    assert shape(g["consumer.session.timeout.ms"]) == ("45000", False, 5, False, 3, [
        ("group.consumer.session.timeout.ms", "45000", 5)])
    assert shape(g["streams.assignor.name"]) == ("sticky", False, 5, False, 2, [
        ("group.streams.assignors", "sticky", 5)])
    assert shape(g["share.auto.offset.reset"]) == ("latest", False, 5, False, 2, [
        ("share.auto.offset.reset", "latest", 5)])
    assert shape(g["streams.rack.aware.assignment.tags"]) == ("", False, 5, False, 7, [
        ("group.streams.rack.aware.assignment.tags", "", 5)])
    assert shape(g["errors.deadletterqueue.copy.record.enable"]) == ("false", False, 5, False, 1, [
        ("errors.deadletterqueue.copy.record.enable", "false", 5)])
    assert (await describe(kb, GROUP, ""))[:2] == (42, "Group name must not be empty")


async def test_describe_refusals_as_kafka(kb: InProcessBroker) -> None:
    assert (await describe(kb, BROKER, "2"))[:2] == (
        42, "Unexpected broker id, expected 1 or empty string, but received 2")
    assert (await describe(kb, BROKER, "abc"))[:2] == (
        42, "Broker id must be an integer, but it is: abc")
    assert (await describe(kb, TOPIC, "nosuchtopic"))[:2] == (3, "")
    assert (await describe(kb, TOPIC, ""))[:2] == (
        17, "Topic name is invalid: the empty string is not allowed")
    assert (await describe(kb, BROKER_LOGGER, "2"))[:2] == (
        42, "Unexpected broker id, expected 1 but received 2")
    assert (await describe(kb, BROKER_LOGGER, ""))[:2] == (42, "Broker id must not be empty")
    assert (await describe(kb, 99, "x"))[:2] == (
        42, "This most likely occurs because of a request being malformed by the client "
            "library or the message was sent to an incompatible broker. See the broker logs "
            "for more details.")


async def test_broker_logger_levels(kb: InProcessBroker) -> None:
    logger = logging.getLogger("kwire.broker")
    old = logger.level
    try:
        assert await inc(kb, BROKER_LOGGER, "1", [("kwire.broker", SET, "TRACE")]) == OK
        assert logger.level == 5
        _, _, entries = await describe(kb, BROKER_LOGGER, "1")
        assert shape(entries["kwire.broker"]) == ("TRACE", False, 6, False, 0, [])
        assert "root" in entries
        assert await inc(kb, BROKER_LOGGER, "1", [("kwire.broker", DELETE, None)]) == OK
        assert logger.level == logging.NOTSET
    finally:
        logger.setLevel(old)


async def test_documentation_is_null_except_for_loggers(kb: InProcessBroker) -> None:
    await create(kb, "t")

    async def docs(rtype: int, name: str, key: str, include: bool) -> str | None:
        r = await kb.call(32, 4, {"resources": [{"resource_type": rtype, "resource_name": name,
                                                 "configuration_keys": [key]}],
                                  "include_synonyms": False, "include_documentation": include})
        doc: str | None = r.results[0].configs[0].documentation
        return doc

    # Kafka answers its own prose when asked; kwire does not copy it (an accepted
    # difference of the differential harness) and answers null, asked or not.
    for include in (True, False):
        assert await docs(GROUP, "g", "consumer.session.timeout.ms", include) is None
        assert await docs(BROKER, "1", "log.segment.bytes", include) is None
        assert await docs(TOPIC, "t", "retention.ms", include) is None
    for include in (True, False):  # Kafka documents no logger: empty, asked or not
        assert await docs(BROKER_LOGGER, "1", "root", include) == ""


@pytest.mark.parametrize("version", [1, 2, 3, 4])
async def test_every_describe_version(kb: InProcessBroker, version: int) -> None:
    await create(kb, "t", retention_ms="5000")
    body: dict[str, Any] = {"resources": [
        {"resource_type": TOPIC, "resource_name": "t", "configuration_keys": ["retention.ms"]},
        {"resource_type": GROUP, "resource_name": "g",
         "configuration_keys": ["consumer.session.timeout.ms"]}],
        "include_synonyms": True}
    if version >= 3:
        body["include_documentation"] = True
    r = await kb.call(32, version, body)
    assert [(x.error_code, [(c.name, c.value, c.config_source) for c in x.configs])
            for x in r.results] == [
        (0, [("retention.ms", "5000", 1)]), (0, [("consumer.session.timeout.ms", "45000", 5)])]


async def test_create_topics_resolves_configs_as_kafkas_controller(tmp_path: Path) -> None:
    """Kafka 4.4.0 with static log.retention.hours=168 answers CreateTopics with
    retention.ms from STATIC_BROKER_CONFIG (the controller converts hours), while
    DescribeConfigs of the same topic says DEFAULT_CONFIG with no synonym."""
    kb = InProcessBroker(tmp_path, **{"log.retention.hours": "1"})

    async def created(name: str, **configs: str) -> dict[str, tuple[str, int]]:
        r = await kb.call(19, 7, {"topics": [{
            "name": name, "num_partitions": 1, "replication_factor": 1, "assignments": (),
            "configs": [{"name": k.replace("_", "."), "value": v} for k, v in configs.items()]}],
            "timeout": 5000, "validate_only": False})
        return {c.name: (c.value, c.config_source) for c in r.topics[0].configs}

    c = await created("a")
    assert c["retention.ms"] == ("3600000", 4)
    assert c["segment.ms"] == ("604800000", 5)
    _, _, d = await describe(kb, TOPIC, "a", keys=["retention.ms"])
    assert shape(d["retention.ms"]) == ("3600000", False, 5, False, 5, [])
    assert await inc(kb, BROKER, "", [("log.retention.ms", SET, "5000")]) == OK
    assert (await created("b"))["retention.ms"] == ("5000", 3)
    assert await inc(kb, BROKER, "1", [("log.retention.ms", SET, "7000")]) == OK
    assert (await created("c"))["retention.ms"] == ("7000", 2)
    assert (await created("d", retention_ms="9000"))["retention.ms"] == ("9000", 1)


def formatted(tmp: Path) -> InProcessBroker:
    """A broker on a new data dir as `kwire serve` starts one: with the cluster-wide
    min.insync.replicas Kafka 4.4's storage formatter writes."""
    from kwire.broker.dispatcher import Dispatcher
    from kwire.broker.services import Broker
    from kwire.cluster.local import LocalMetadataStore
    from kwire.config.dynamic import format_configs

    kb = InProcessBroker(tmp)
    store = LocalMetadataStore(tmp, kb.broker.node, format_configs(kb.config))
    kb.broker = Broker(kb.config, kb.broker.node, store, kb.broker.logs, kb.clock)
    kb.dispatcher = Dispatcher(kb.broker)
    return kb


async def test_min_insync_replicas_at_cluster_level_as_kafka_4_4(tmp_path: Path) -> None:
    kb = formatted(tmp_path)
    _, _, d = await describe(kb, BROKER, "")
    assert {n: shape(e) for n, e in d.items()} == {
        "min.insync.replicas": ("1", False, 3, False, 3, [("min.insync.replicas", "1", 3)])}
    _, _, b = await describe(kb, BROKER, "1", keys=["min.insync.replicas"])
    assert shape(b["min.insync.replicas"]) == ("1", False, 3, False, 3, [
        ("min.insync.replicas", "1", 3), ("min.insync.replicas", "1", 5)])
    await create(kb, "t")
    _, _, t = await describe(kb, TOPIC, "t", keys=["min.insync.replicas"])
    assert shape(t["min.insync.replicas"]) == ("1", False, 3, False, 3, [
        ("min.insync.replicas", "1", 3), ("min.insync.replicas", "1", 5)])
    # Kafka 4.4.0's answers while ELR is enabled
    cluster = (40, "Cluster-level min.insync.replicas cannot be removed while ELR is enabled.")
    broker = (40, "Broker-level min.insync.replicas cannot be altered while ELR is enabled.")
    assert await inc(kb, BROKER, "", [("min.insync.replicas", DELETE, None)], True) == cluster
    assert await alter(kb, BROKER, "", {"log.retention.ms": "1000"}, True) == cluster
    assert await inc(kb, BROKER, "1", [("min.insync.replicas", SET, "2")], True) == broker
    assert await inc(kb, BROKER, "1", [("min.insync.replicas", DELETE, None)], True) == broker
    assert await alter(kb, BROKER, "1", {"min.insync.replicas": "2"}, True) == broker
    assert await inc(kb, BROKER, "1", [("min.insync.replicas", SET, "2"),
                                       ("log.retention.ms", SET, "x")], True) == (
        42, "Invalid value x for configuration log.retention.ms: Not a number of type LONG")
    assert await alter(kb, BROKER, "", {"min.insync.replicas": "1",
                                        "log.retention.ms": "1000"}, True) == OK
    assert await inc(kb, BROKER, "", [("min.insync.replicas", SET, "2")]) == OK
    assert kb.broker.config["min.insync.replicas"] == 2
