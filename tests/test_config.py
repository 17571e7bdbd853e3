"""Broker properties: Kafka's defaults, precedence, and Kafka 4.1's refusals (each
numeric property's type and minimum, and KafkaConfig's checks across properties);
topic and broker parsers agreeing wherever Kafka defines a topic config and its
broker synonym alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _config_cases import refusals  # type: ignore[import-not-found]

from kwire.broker import topic_config
from kwire.broker.topic_config import TOPIC_PROPERTIES, TopicProperty
from kwire.cli import load_broker_config
from kwire.config import BROKER_PROPERTIES, ConfigError, load_config
from kwire.config.types import LONG, ConfigException, ConfigKey, Range, numeric_keys


def test_defaults_follow_kafka() -> None:
    config = load_config()
    assert config.listener.port == 9092
    assert config.node_id == 1
    assert config["num.partitions"] == 1
    assert config["auto.create.topics.enable"] is True
    assert config["message.max.bytes"] == 1048588
    assert config.log_retention_ms == 168 * 3_600_000
    assert config.log_roll_ms == 168 * 3_600_000


def test_server_properties_then_set_then_flags(tmp_path: Path) -> None:
    props = tmp_path / "server.properties"
    props.write_text(
        "# a Kafka file\nlisteners=PLAINTEXT://127.0.0.1:19092\nnum.partitions = 3\n"
        "log.retention.minutes=5\nlog.dirs=/tmp/a\ncontroller.quorum.voters=1@x:1\n"
    )
    config = load_config(props, {"num.partitions": "4"}, port=0, data_dir=str(tmp_path / "d"))
    assert config["num.partitions"] == 4
    assert config.log_retention_ms == 5 * 60_000
    assert config.listener.port == 0
    assert config.data_dir == tmp_path / "d"
    assert "num.partitions" in config.explicit


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("num.partitions", "zero"),
        ("num.partitions", "0"),
        ("auto.create.topics.enable", "yes"),
        ("log.message.timestamp.type", "Sometimes"),
        ("listeners", "PLAINTEXT://nohost"),
        ("listeners", "SASL_SSL://127.0.0.1:9093"),
        ("message.max.bytes", "99999999999"),
        ("log.segment.bytes", "14"),
    ],
)
def test_bad_values_name_the_key(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(overrides={key: value})


def test_list_properties_parse_as_kafka_lists() -> None:
    config = load_config(overrides={
        "listeners": " PLAINTEXT://127.0.0.1:19092 ,", "log.dirs": "/tmp/x",
        "advertised.listeners": "PLAINTEXT://h:1"})
    assert config["listeners"] == ["PLAINTEXT://127.0.0.1:19092", ""]
    assert config.listener.port == 19092
    assert config.advertised_listener.host == "h"
    assert config.data_dir == Path("/tmp/x")
    assert load_config(port=0, data_dir="/tmp/y")["log.dirs"] == ["/tmp/y"]
    with pytest.raises(ConfigError, match="log.dirs: kwire uses exactly one log directory"):
        load_config(overrides={"log.dirs": "/a, /b"})
    with pytest.raises(ConfigError, match="at least one listener is needed"):
        load_config(overrides={"listeners": " "})


def test_node_id_and_broker_id_stand_for_each_other() -> None:
    # KafkaConfig.populateSynonyms: the one set is the other's static value too.
    config = load_config(overrides={"node.id": "3"})
    assert (config["broker.id"], config.node_id) == (3, 3)
    assert {"node.id", "broker.id"} <= config.explicit
    config = load_config(overrides={"broker.id": "4"})
    assert (config["node.id"], config.node_id) == (4, 4)
    assert {"node.id", "broker.id"} <= config.explicit
    assert load_config()["broker.id"] is None
    with pytest.raises(ConfigError, match="broker.id: Value must be at least 0"):
        load_config(overrides={"broker.id": "-1"})
    with pytest.raises(ConfigError, match="same value as `broker.id`"):
        load_config(overrides={"broker.id": "4", "node.id": "5"})


def test_nonroutable_advertised_address_is_refused() -> None:
    with pytest.raises(ConfigError, match="advertised.listeners"):
        load_config(host="0.0.0.0")
    config = load_config(host="0.0.0.0", overrides={
        "advertised.listeners": "PLAINTEXT://localhost:9092"})
    assert config.advertised_listener.host == "localhost"


def test_compact_only_topics_are_never_deleted_by_retention() -> None:
    from kwire.broker.topic_config import log_config

    config = load_config()
    assert log_config(config, {}).retention_ms == 168 * 3_600_000
    compact = log_config(config, {"cleanup.policy": "compact", "retention.bytes": "10"})
    assert (compact.retention_ms, compact.retention_bytes) == (-1, -1)
    both = log_config(config, {"cleanup.policy": "compact,delete", "retention.ms": "5"})
    assert both.retention_ms == 5


# -- every numeric key: out of type, below its minimum --------------------------------

_BROKER_CASES = [(k.name, value, message) for k in numeric_keys(list(BROKER_PROPERTIES.values()))
                 for value, message in refusals(k)]
_TOPIC_CASES = [(p.name, value, message) for p in TOPIC_PROPERTIES.values()
                if p.key in numeric_keys([p.key]) for value, message in refusals(p.key)]


@pytest.mark.parametrize(("key", "value", "message"), _BROKER_CASES)
def test_every_numeric_broker_property_refuses_as_kafka(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(overrides={key: value})
    assert str(exc.value) == message


@pytest.mark.parametrize(("key", "value", "message"), _TOPIC_CASES)
def test_every_numeric_topic_config_refuses_as_kafka(key: str, value: str, message: str) -> None:
    with pytest.raises(topic_config.InvalidConfig) as exc:
        topic_config.validate({key: value})
    assert str(exc.value) == message


def test_kafka_minima_that_once_drifted() -> None:
    # Kafka 4.1 (ServerLogConfigs / LogConfig): at least 1 MiB for both; before,
    # kwire took 14 and opened one segment file per batch.
    assert BROKER_PROPERTIES["log.segment.bytes"].validator == Range(min=1024 * 1024)
    assert TOPIC_PROPERTIES["segment.bytes"].key.validator == Range(min=1024 * 1024)
    assert BROKER_PROPERTIES["fetch.max.bytes"].validator == Range(min=1024)
    q = BROKER_PROPERTIES["queued.max.request.bytes"]
    assert (q.type, q.default, q.validator) == (LONG, "-1", None)
    idle = BROKER_PROPERTIES["connections.max.idle.ms"]
    assert (idle.type, idle.default, idle.validator) == (LONG, "600000", None)


# -- KafkaConfig.validateValues: checks across properties -----------------------------

@pytest.mark.parametrize(("overrides", "message"), [
    ({"log.roll.ms": "0"}, "log.roll.ms must be greater than or equal to 1"),
    ({"log.roll.ms": "-1"}, "log.roll.ms must be greater than or equal to 1"),
    ({"log.retention.ms": "0"},
     "log.retention.ms must be unlimited (-1) or, greater than or equal to 1"),
    ({"log.retention.minutes": "0"},
     "log.retention.ms must be unlimited (-1) or, greater than or equal to 1"),
    ({"log.retention.hours": "0"},
     "log.retention.ms must be unlimited (-1) or, greater than or equal to 1"),
    ({"connections.max.idle.ms": "0"},
     "connection.failed.authentication.delay.ms=100 should always be less than "
     "connections.max.idle.ms=0 to prevent failed authentication responses from timing out"),
    ({"connections.max.idle.ms": "100"},
     "connection.failed.authentication.delay.ms=100 should always be less than "
     "connections.max.idle.ms=100 to prevent failed authentication responses from timing out"),
    ({"queued.max.request.bytes": "10"},
     "queued.max.request.bytes must be larger or equal to socket.request.max.bytes"),
    ({"broker.id": "2", "node.id": "1"},
     "You must set `node.id` to the same value as `broker.id`."),
])
def test_cross_property_checks_match_kafka(overrides: dict[str, str], message: str) -> None:
    # Messages as Kafka 4.1.2's KafkaConfig throws them (less Scala's
    # "requirement failed: " prefix).
    with pytest.raises(ConfigError) as exc:
        load_config(overrides=overrides)
    assert str(exc.value) == message


@pytest.mark.parametrize("overrides", [
    {"log.flush.interval.ms": "-1"}, {"log.flush.scheduler.interval.ms": "-1"},
])
def test_start_refuses_broker_defaults_that_are_invalid_topic_configs(
        overrides: dict[str, str]) -> None:
    # Kafka builds the default topic LogConfig from the broker's synonyms at start.
    load_config(overrides=overrides)  # each property alone is valid
    with pytest.raises(ConfigError) as exc:
        load_broker_config(None, overrides)
    assert str(exc.value) == "Invalid value -1 for configuration flush.ms: Value must be at least 0"


@pytest.mark.parametrize(("overrides", "retention_ms"), [
    ({"log.retention.ms": "-5"}, -1), ({"log.retention.minutes": "-3"}, -1),
    ({"log.retention.hours": "-2"}, -1), ({"log.retention.ms": "1"}, 1),
])
def test_negative_retention_means_unlimited(overrides: dict[str, str], retention_ms: int) -> None:
    assert load_config(overrides=overrides).log_retention_ms == retention_ms


@pytest.mark.parametrize("overrides", [
    {"connections.max.idle.ms": "-5"}, {"connections.max.idle.ms": "101"},
    {"queued.max.request.bytes": "0"}, {"queued.max.request.bytes": "104857600"},
    {"log.retention.bytes": "-7"}, {"default.replication.factor": "0"},
    {"group.initial.rebalance.delay.ms": "-1"}, {"broker.id": "1", "node.id": "1"},
    {"log.segment.bytes": "1048576"},
])
def test_values_kafka_accepts_are_accepted(overrides: dict[str, str]) -> None:
    load_config(overrides=overrides)


# -- topic and broker parsers agree -----------------------------------------------------

def _pairs() -> list[tuple[TopicProperty, ConfigKey]]:
    return [(p, BROKER_PROPERTIES[p.synonym]) for p in TOPIC_PROPERTIES.values()
            if p.synonym is not None and p.synonym in BROKER_PROPERTIES]


def _probes(key: ConfigKey) -> list[str]:
    values = ["abc", "", " 7 ", "-1", "0", "1", "3", "4", "1023", "1024", "1048575", "1048576",
              str(2**31), str(2**63), "true", "delete", "compact", "delete,compact", "foo",
              "producer", "gzip", "CreateTime", "LogAppendTime"]
    if isinstance(key.validator, Range) and key.validator.min is not None:
        values += [str(key.validator.min - 1), str(key.validator.min)]
    return values


def _outcome(fn: Any, name: str) -> str:
    try:
        fn()
    except ConfigException as exc:
        return str(exc).replace(name, "<key>")
    return "ok"


@pytest.mark.parametrize(("prop", "broker_key"), _pairs(), ids=lambda x: x.name)
def test_topic_and_broker_parsers_agree(prop: TopicProperty, broker_key: ConfigKey) -> None:
    """Where Kafka defines a topic config like its broker synonym (same type and
    validator: segment.bytes / log.segment.bytes, ...) both parsers accept and
    refuse the same values with the same message; where Kafka's definitions differ
    (retention.ms / log.retention.ms, ...) every value the broker accepts still
    yields a topic default that the topic parser accepts."""
    same = (prop.key.type, prop.key.validator) == (broker_key.type, broker_key.validator)
    for raw in _probes(broker_key):
        broker = _outcome(lambda v=raw: load_broker_config(None, {broker_key.name: v}),
                          broker_key.name)
        if same:
            topic = _outcome(lambda v=raw: topic_config.validate({prop.name: v}), prop.name)
            assert broker == topic, (raw, broker, topic)
        elif broker == "ok":
            default = topic_config.render(
                prop.default(load_broker_config(None, {broker_key.name: raw})))
            topic_config.validate({prop.name: default})


def test_synonyms_kafka_defines_alike_are_alike() -> None:
    alike = {p.name for p, b in _pairs() if (p.key.type, p.key.validator) == (b.type, b.validator)}
    assert alike >= {"segment.bytes", "segment.index.bytes", "flush.messages",
                     "index.interval.bytes", "max.message.bytes", "min.insync.replicas",
                     "message.timestamp.type", "compression.type", "retention.bytes"}
    # Kafka 4.4 lets a topic repeat a cleanup policy; the broker's list refuses it.
    assert "cleanup.policy" not in alike


def test_internal_segment_bytes_is_kafkas_testing_override() -> None:
    # LogConfig.INTERNAL_SEGMENT_BYTES_CONFIG: no minimum, wins over segment.bytes;
    # Kafka 4.1.2 accepts it in CreateTopics and lists it in DescribeConfigs when set.
    from kwire.broker.topic_config import log_config

    assert topic_config.validate({"internal.segment.bytes": "1024"}) == {
        "internal.segment.bytes": "1024"}
    config = load_config()
    assert log_config(config, {"internal.segment.bytes": "1024"}).segment_bytes == 1024
    assert log_config(config, {}).segment_bytes == 1024**3
    names = [e.name for e in topic_config.effective(config, {})]
    assert "internal.segment.bytes" not in names


def test_compaction_lag_conflict_is_refused_as_kafka() -> None:
    with pytest.raises(topic_config.InvalidConfig) as exc:
        topic_config.validate({"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"})
    assert str(exc.value) == (
        "conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)")


def test_first_bad_config_in_kafkas_order_is_named() -> None:
    # Kafka 4.1.2 answered CreateTopics {retention.ms=-2, segment.bytes=14} naming segment.bytes.
    with pytest.raises(topic_config.InvalidConfig, match="segment.bytes"):
        topic_config.validate({"retention.ms": "-2", "segment.bytes": "14"})


def test_stored_value_refused_today_falls_back_to_default() -> None:
    config = load_config()
    assert topic_config.typed(config, {"segment.bytes": "14"})["segment.bytes"] == 1024**3


def test_docs_tables_are_true_to_the_code() -> None:
    """docs/configuration.md lists every property and topic config with the type
    and default the code has."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "configuration.md").read_text()
    rows = [[c.strip() for c in line.strip("|").split("|")]
            for line in doc.splitlines() if line.startswith("| `")]
    broker = {r[0].strip("`"): r for r in rows if len(r) == 4}
    topics = {r[0].strip("`"): r for r in rows if len(r) == 5}
    assert set(broker) == set(BROKER_PROPERTIES)
    assert set(topics) == set(TOPIC_PROPERTIES)
    for name, (_, type_, default, _) in broker.items():
        key = BROKER_PROPERTIES[name]
        assert type_ == key.type.java_name.lower(), name
        assert default == (f"`{key.default}`" if key.default is not None else "unset"), name
    config = load_config()
    for name, (_, synonym, type_, default, _) in topics.items():
        prop = TOPIC_PROPERTIES[name]
        assert type_ == prop.key.type.java_name.lower(), name
        assert synonym == (f"`{prop.synonym}`" if prop.synonym else "(fixed)"), name
        value = prop.default(config)
        assert default == (f"`{topic_config.render(value)}`" if value is not None else "unset")


def test_cluster_storage_keys_are_described_only_when_set() -> None:
    from kwire.config.dynamic import broker_entries

    default = {e.name for e in broker_entries(load_config())}
    assert not {"log.storage", "zookeeper.connect", "bookkeeper.ensemble.size"} & default
    config = load_config(overrides={"log.storage": "bookkeeper",
                                    "zookeeper.connect": "127.0.0.1:2181/kwire",
                                    "bookkeeper.password": "secret"})
    entries = {e.name: e for e in broker_entries(config)}
    assert entries["log.storage"].value == "bookkeeper"
    assert entries["zookeeper.connect"].value == "127.0.0.1:2181/kwire"
    password = entries["bookkeeper.password"]
    assert password.value is None and password.sensitive


@pytest.mark.parametrize(("overrides", "message"), [
    ({"log.storage": "bookkeeper"}, "needs zookeeper.connect"),
    ({"bookkeeper.write.quorum.size": "3", "bookkeeper.ensemble.size": "2"}, "got 2/3/2"),
    ({"bookkeeper.ack.quorum.size": "3"}, "got 3/2/3"),
    ({"bookkeeper.metadata.root": "ledgers"}, "absolute ZooKeeper path"),
    ({"log.storage": "s3"}, "log.storage"),
])
def test_cluster_storage_settings_are_checked(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=overrides)


def test_equal_quorums_are_allowed() -> None:
    config = load_config(overrides={"bookkeeper.ensemble.size": "2"})  # E >= W >= A: 2/2/2
    assert config["bookkeeper.ensemble.size"] == 2
