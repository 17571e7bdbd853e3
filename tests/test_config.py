from pathlib import Path

import pytest

from kwire.config import ConfigError, load_config


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
    ],
)
def test_bad_values_name_the_key(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(overrides={key: value})


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
