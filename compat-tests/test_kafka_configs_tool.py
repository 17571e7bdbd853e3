"""Dynamic broker configs and group configs through Kafka 4.4.0's own
kafka-configs (org.apache.kafka.tools.ConfigCommand): cluster default
(--entity-default), per broker (--entity-name 1) and groups, their precedence
over the static properties, Kafka's refusals, and that they survive a restart.

The expected lines are what ConfigCommand printed against a real Kafka 4.4.0
broker for the same commands (`--process-broker kafka` runs the restart test
against one). Both list min.insync.replicas as a cluster default: Kafka's storage
formatter writes it for ELR into a new cluster, and kwire into a new data dir.
"""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.java, pytest.mark.timeout(240)]

CONFIGS = "org.apache.kafka.tools.ConfigCommand"


def run(kafka_tools, bootstrap: str, *args: str) -> tuple[int, str]:
    rc, out, err = kafka_tools.run(CONFIGS, "--bootstrap-server", bootstrap, *args)
    return rc, out + err


def ok(kafka_tools, bootstrap: str, *args: str) -> str:
    rc, text = run(kafka_tools, bootstrap, *args)
    assert rc == 0, f"kafka-configs {' '.join(args)}: exit code {rc}\n{text}"
    return text


def lines(text: str) -> set[str]:
    return {line.strip() for line in text.splitlines() if line.strip()}


def test_broker_default_and_per_broker_configs_with_restart(kwire_factory, kafka_tools) -> None:
    broker = kwire_factory({"message.max.bytes": "3000000"}).start()
    b = broker.bootstrap
    default = ("--entity-type", "brokers", "--entity-default")
    one = ("--entity-type", "brokers", "--entity-name", "1")

    out = ok(kafka_tools, b, *default, "--alter", "--add-config",
             "log.retention.ms=7200000,message.max.bytes=2000000")
    assert "Completed updating default config for brokers in the cluster." in out
    out = ok(kafka_tools, b, *one, "--alter", "--add-config", "log.retention.ms=3600000")
    assert "Completed updating config for broker 1." in out

    expected_one = (
        "log.retention.ms=3600000 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:"
        "log.retention.ms=3600000, DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=7200000, "
        "DEFAULT_CONFIG:log.retention.hours=168}")
    expected_default = {
        "log.retention.ms=7200000 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:"
        "log.retention.ms=7200000}",
        "message.max.bytes=2000000 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:"
        "message.max.bytes=2000000}",
        # written when the data dir was new (Kafka's storage formatter, for ELR)
        "min.insync.replicas=1 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:"
        "min.insync.replicas=1}",
    }
    expected_all = (
        "message.max.bytes=2000000 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:"
        "message.max.bytes=2000000, STATIC_BROKER_CONFIG:message.max.bytes=3000000, "
        "DEFAULT_CONFIG:message.max.bytes=1048588}")

    def check() -> None:
        out = ok(kafka_tools, b, *one, "--describe")
        assert "Dynamic configs for broker 1 are:" in out
        assert expected_one in lines(out), out
        out = ok(kafka_tools, b, *default, "--describe")
        assert "Default configs for brokers in the cluster are:" in out
        assert expected_default <= lines(out), out
        out = ok(kafka_tools, b, *one, "--describe", "--all")
        assert expected_all in lines(out), out

    check()
    broker.stop()
    broker.start()  # the dynamic configs are stored, the static one is given again
    b = broker.bootstrap
    check()

    rc, text = run(kafka_tools, b, *one, "--alter", "--add-config", "num.partitions=3")
    assert rc != 0
    assert ("InvalidRequestException: Cannot update these configs dynamically: "
            "[num.partitions]") in text, text
    rc, text = run(kafka_tools, b, *default, "--alter", "--add-config", "log.segment.bytes=200")
    assert rc != 0
    assert ("InvalidRequestException: Invalid value 200 for configuration log.segment.bytes: "
            "Value must be at least 1048576") in text, text

    ok(kafka_tools, b, *default, "--alter", "--delete-config",
       "log.retention.ms,message.max.bytes")
    ok(kafka_tools, b, *one, "--alter", "--delete-config", "log.retention.ms")
    out = ok(kafka_tools, b, *one, "--describe")
    assert "log.retention.ms" not in out
    out = ok(kafka_tools, b, *one, "--describe", "--all")
    assert ("message.max.bytes=3000000 sensitive=false synonyms={STATIC_BROKER_CONFIG:"
            "message.max.bytes=3000000, DEFAULT_CONFIG:message.max.bytes=1048588}") in lines(out)


def test_group_configs(broker, kafka_tools) -> None:
    b = broker.bootstrap
    group = ("--entity-type", "groups", "--entity-name", "compat-dyn-group")
    out = ok(kafka_tools, b, *group, "--alter", "--add-config",
             "consumer.session.timeout.ms=50000")
    assert "Completed updating config for group compat-dyn-group." in out
    try:
        out = ok(kafka_tools, b, *group, "--describe")
        assert "Dynamic configs for group compat-dyn-group are:" in out
        assert ("consumer.session.timeout.ms=50000 sensitive=false synonyms={"
                "DYNAMIC_GROUP_CONFIG:consumer.session.timeout.ms=50000, "
                "DEFAULT_CONFIG:group.consumer.session.timeout.ms=45000}") in lines(out), out
        out = ok(kafka_tools, b, *group, "--describe", "--all")
        assert ("consumer.heartbeat.interval.ms=5000 sensitive=false synonyms={"
                "DEFAULT_CONFIG:group.consumer.heartbeat.interval.ms=5000}") in lines(out), out
        assert len(re.findall(r"^\s+\S+=.* sensitive=false", out, re.M)) == 21, out

        rc, text = run(kafka_tools, b, *group, "--alter", "--add-config",
                       "consumer.session.timeout.ms=1000")
        assert rc != 0
        assert ("InvalidConfigurationException: consumer.session.timeout.ms must be in the "
                "range 45000 to 60000 inclusive.") in text, text
    finally:
        ok(kafka_tools, b, *group, "--alter", "--delete-config", "consumer.session.timeout.ms")
    out = ok(kafka_tools, b, *group, "--describe")
    assert "consumer.session.timeout.ms" not in out
