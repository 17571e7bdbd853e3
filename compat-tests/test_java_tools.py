"""Kafka 4.4.0's own Java command-line tools against the broker.

Main classes (checked with `unzip -l` in the Maven Central 4.4.0 jars):
  kafka-topics          org.apache.kafka.tools.TopicCommand            (kafka-tools)
  kafka-console-producer org.apache.kafka.tools.ConsoleProducer        (kafka-tools)
  kafka-console-consumer org.apache.kafka.tools.consumer.ConsoleConsumer (kafka-tools)
  kafka-get-offsets     org.apache.kafka.tools.GetOffsetShell          (kafka-tools)
  kafka-configs         org.apache.kafka.tools.ConfigCommand           (kafka-tools; 4.1 had it
                        in kafka_2.13 as kafka.admin.ConfigCommand)
Each JVM start costs ~1-3 s on 2 cores, so each test uses only a few.
"""

from __future__ import annotations

import re
import time

import pytest
from kafka.admin import KafkaAdminClient
from kafka.partitioner.default import murmur2

pytestmark = [pytest.mark.java, pytest.mark.timeout(180)]

TOPICS = "org.apache.kafka.tools.TopicCommand"
PRODUCER = "org.apache.kafka.tools.ConsoleProducer"
CONSUMER = "org.apache.kafka.tools.consumer.ConsoleConsumer"
GET_OFFSETS = "org.apache.kafka.tools.GetOffsetShell"
CONFIGS = "org.apache.kafka.tools.ConfigCommand"


def ok(result: tuple[int, str, str], what: str) -> str:
    rc, out, err = result
    assert rc == 0, f"{what}: exit code {rc}\n--- stdout ---\n{out}\n--- stderr ---\n{err}"
    return out


def java_partition(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner for keyed records (murmur2, positive, mod n)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def topic_leaders(bootstrap: str, topic: str) -> dict[int, int]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="compat-java-check")
    try:
        (t,) = admin.describe_topics([topic])
        return {p["partition_index"]: p["leader_id"] for p in t["partitions"]}
    finally:
        admin.close()


def topic_exists(bootstrap: str, topic: str) -> bool:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="compat-java-check")
    try:
        return topic in admin.list_topics()
    finally:
        admin.close()


def test_topic_command_create_list_describe_delete(broker, kafka_tools, topic_name) -> None:
    b = broker.bootstrap
    out = ok(kafka_tools.run(TOPICS, "--bootstrap-server", b, "--create", "--topic", topic_name,
                             "--partitions", "3", "--replication-factor", "1"), "create")
    assert f"Created topic {topic_name}." in out

    out = ok(kafka_tools.run(TOPICS, "--bootstrap-server", b, "--list"), "list")
    assert topic_name in out.split()

    out = ok(kafka_tools.run(TOPICS, "--bootstrap-server", b, "--describe", "--topic", topic_name),
             "describe")
    assert re.search(rf"Topic: {re.escape(topic_name)}\s+TopicId: \S+\s+PartitionCount: 3\s+"
                     r"ReplicationFactor: 1", out), out
    rows = re.findall(rf"Topic: {re.escape(topic_name)}\s+Partition: (\d+)\s+Leader: (-?\d+)\s+"
                      r"Replicas: (\d+)\s+Isr: (\d+)", out)
    described = {int(p): int(leader) for p, leader, _r, _i in rows}
    assert sorted(described) == [0, 1, 2], out
    assert all(leader >= 0 for leader in described.values()), f"partition without leader:\n{out}"
    assert described == topic_leaders(b, topic_name), "kafka-topics and Metadata disagree"
    assert all(r == leader == i for _p, leader, r, i in rows), f"replicas/isr = leader\n{out}"

    ok(kafka_tools.run(TOPICS, "--bootstrap-server", b, "--delete", "--topic", topic_name),
       "delete")
    deadline = time.monotonic() + 15
    while topic_exists(b, topic_name):
        assert time.monotonic() < deadline, f"{topic_name} still listed 15 s after delete"
        time.sleep(0.2)


def test_console_producer_consumer_and_get_offsets(broker, kafka_tools, topic_name) -> None:
    b = broker.bootstrap
    ok(kafka_tools.run(TOPICS, "--bootstrap-server", b, "--create", "--topic", topic_name,
                       "--partitions", "3", "--replication-factor", "1"), "create")
    lines = [(f"key-{i}", f"value {i}: the quick brown fox") for i in range(40)]
    # Default producer settings of the 4.4 tool: enable.idempotence=true, acks=all.
    ok(kafka_tools.run(PRODUCER, "--bootstrap-server", b, "--topic", topic_name,
                       "--reader-property", "parse.key=true",
                       "--reader-property", "key.separator=:",
                       input="".join(f"{k}:{v}\n" for k, v in lines)), "console producer")

    per_part: dict[int, list[tuple[str, str]]] = {0: [], 1: [], 2: []}
    for k, v in lines:
        per_part[java_partition(k.encode(), 3)].append((k, v))

    out = ok(kafka_tools.run(GET_OFFSETS, "--bootstrap-server", b, "--topic", topic_name),
             "get offsets")
    got = dict(re.findall(rf"^{re.escape(topic_name)}:(\d+):(\d+)$", out, re.M))
    assert {int(p): int(o) for p, o in got.items()} == {p: len(r) for p, r in per_part.items()}, out

    part = max(per_part, key=lambda p: len(per_part[p]))
    want = per_part[part]
    rc, out, err = kafka_tools.run(
        CONSUMER, "--bootstrap-server", b, "--topic", topic_name, "--partition", str(part),
        "--offset", "earliest", "--max-messages", str(len(want)), "--timeout-ms", "20000",
        "--formatter-property", "print.key=true", timeout=60)
    got_lines = [tuple(line.split("\t", 1)) for line in out.splitlines() if line]
    assert got_lines == want, f"rc={rc}\nstdout:\n{out}\nstderr:\n{err}"
    assert rc == 0, err
    assert f"Processed a total of {len(want)} messages" in err


def test_config_command_describe_alter(broker, kafka_tools, topic_name) -> None:
    b = broker.bootstrap
    ok(kafka_tools.run(TOPICS, "--bootstrap-server", b, "--create", "--topic", topic_name,
                       "--partitions", "1", "--replication-factor", "1"), "create")
    base = (CONFIGS, "--bootstrap-server", b,
            "--entity-type", "topics", "--entity-name", topic_name)

    out = ok(kafka_tools.run(*base, "--describe"), "describe")
    assert f"Dynamic configs for topic {topic_name} are:" in out
    assert "retention.ms" not in out

    out = ok(kafka_tools.run(*base, "--alter", "--add-config", "retention.ms=12345"), "alter")
    assert f"Completed updating config for topic {topic_name}." in out

    out = ok(kafka_tools.run(*base, "--describe"), "describe after alter")
    assert re.search(r"^\s*retention\.ms=12345 sensitive=false "
                     r"synonyms=\{DYNAMIC_TOPIC_CONFIG:retention\.ms=12345", out, re.M), out
