"""Internal topics, topic names and the offsets of deleted topics, with real clients.

- Internal topics (kwire is stricter than Kafka here, so these start their own
  kwire and skip under --bootstrap): a client can neither create
  `__consumer_offsets` in another shape nor `__transaction_state` at all (by
  CreateTopics or by producing, which auto-creates), append to them, or delete
  them; the broker restarts and groups work after every attempt, and also on a
  data dir where an older kwire let a client create a damaged one-partition
  `__consumer_offsets`.
- Long names (214..249 characters, which once could not be deleted, and
  stopped the broker from starting at 249): create, produce, consume, delete,
  recreate empty, restart.
- `.` and `_` collide: `a_b` cannot be created beside `a.b` (Kafka's words).
- Committed offsets go with their topic: a group reading a topic deleted and
  created again starts from auto.offset.reset, not from its old offset.
The last two run on the session broker, so also against a real Kafka.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
from clients import Message, make_client
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

NOW_MS = int(time.time() * 1000)
GROUP_SETTINGS = {"group.initial.rebalance.delay.ms": "0", "offsets.topic.num.partitions": "5"}


def _admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def _create_error(admin: AdminClient, name: str, partitions: int) -> KafkaError | None:
    future = admin.create_topics([NewTopic(name, num_partitions=partitions,
                                           replication_factor=1)],
                                 request_timeout=15)[name]
    try:
        future.result(timeout=20)
    except KafkaException as exc:
        error: KafkaError = exc.args[0]
        return error
    return None


def _delete_error(admin: AdminClient, name: str) -> KafkaError | None:
    try:
        admin.delete_topics([name], request_timeout=15)[name].result(timeout=20)
    except KafkaException as exc:
        error: KafkaError = exc.args[0]
        return error
    return None


def _partition_count(admin: AdminClient, name: str) -> int | None:
    topic = admin.list_topics(timeout=10).topics.get(name)
    return None if topic is None or topic.error is not None else len(topic.partitions)


def _produce(bootstrap: str, topic: str, count: int, prefix: bytes = b"m") -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                         "enable.idempotence": True})
    failures: list[object] = []
    for i in range(count):
        producer.produce(topic, prefix + b"%d" % i, partition=0,
                         on_delivery=lambda err, _msg: failures.append(err) if err else None)
    assert producer.flush(30) == 0
    assert failures == []


def _produce_error(bootstrap: str, topic: str) -> KafkaError | None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                         "message.timeout.ms": 8000})
    errors: list[KafkaError] = []
    producer.produce(topic, b"garbage", partition=0,
                     on_delivery=lambda err, _msg: errors.append(err) if err else None)
    assert producer.flush(20) == 0
    return errors[0] if errors else None


def _consume_group(bootstrap: str, group: str, topic: str, want: int,
                   timeout: float = 30) -> list[tuple[int, bytes]]:
    """Read `want` records as member of `group` (earliest when nothing committed),
    commit them, leave the group."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
    got: list[tuple[int, bytes]] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout
        while len(got) < want and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            got.append((msg.offset(), msg.value()))
        if got:
            consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return got


def _committed(bootstrap: str, group: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        (tp,) = consumer.committed([TopicPartition(topic, 0)], timeout=15)
        return int(tp.offset)
    finally:
        consumer.close()


def _check_groups_work(bootstrap: str, topic: str) -> None:
    group = f"g-{uuid.uuid4().hex[:8]}"
    assert len(_consume_group(bootstrap, group, topic, 3)) == 3
    assert _committed(bootstrap, group, topic) == 3


# -- internal topics (kwire only) --------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_internal_topics_refused_and_groups_survive_restart(kwire_factory, topic_name) -> None:
    broker = kwire_factory(GROUP_SETTINGS).start()
    admin = _admin(broker.bootstrap)

    wrong = _create_error(admin, "__consumer_offsets", 1)
    assert wrong is not None and wrong.code() == KafkaError.INVALID_PARTITIONS, wrong
    assert "offsets.topic.num.partitions (5)" in wrong.str()
    txn = _create_error(admin, "__transaction_state", 1)
    assert txn is not None and txn.code() == KafkaError.INVALID_REQUEST, txn
    assert "Creation of internal topic __transaction_state is prohibited" in txn.str()
    assert _partition_count(admin, "__consumer_offsets") is None

    # Producing auto-creates __consumer_offsets in the coordinator's own shape and is
    # refused; __transaction_state is never created.
    for name in ("__consumer_offsets", "__transaction_state"):
        error = _produce_error(broker.bootstrap, name)
        assert error is not None and error.code() in (
            KafkaError.TOPIC_EXCEPTION, KafkaError.UNKNOWN_TOPIC_OR_PART,
            KafkaError._MSG_TIMED_OUT), error
    assert _partition_count(admin, "__consumer_offsets") == 5
    assert _partition_count(admin, "__transaction_state") is None

    gone = _delete_error(admin, "__consumer_offsets")
    assert gone is not None and gone.code() == KafkaError.TOPIC_EXCEPTION, gone
    assert _partition_count(admin, "__consumer_offsets") == 5

    make_client("confluent-kafka", broker.bootstrap).create_topic(topic_name, 1)
    _produce(broker.bootstrap, topic_name, 10)
    _check_groups_work(broker.bootstrap, topic_name)
    broker.stop()
    broker.restart()
    _check_groups_work(broker.bootstrap, topic_name)
    assert _partition_count(_admin(broker.bootstrap), "__consumer_offsets") == 5


def _damage_offsets_topic(data_dir: Path) -> None:
    """Leave `data_dir` as an older kwire did after a client created
    `__consumer_offsets` (one partition, not internal) and wrote garbage to it."""
    from kwire.broker.services import Broker
    from kwire.clock import SystemClock
    from kwire.cluster.api import BrokerInfo
    from kwire.cluster.local import LocalMetadataStore
    from kwire.config import load_config
    from kwire.log.local.store import LocalLogStore
    from kwire.records.batch import parse_header
    from kwire.records.builder import build_batch

    async def damage() -> None:
        config = load_config(overrides={}, data_dir=str(data_dir))
        node = BrokerInfo(int(config["node.id"]), "127.0.0.1", 9092)
        clock = SystemClock()
        broker = Broker(config, node, LocalMetadataStore(data_dir, node),
                        LocalLogStore(data_dir, clock.wall_ms), clock)
        await broker.open_partitions()
        await broker.create_topic("__consumer_offsets", 1, {})
        partition = broker.partition("__consumer_offsets", 0)
        assert partition is not None
        # An OffsetCommit key (type 1) cut short, a record type kwire does not know.
        batch = bytearray(build_batch([(b"\x00\x01garbage", b"garbage value", []),
                                       (b"garbage key", b"garbage value", [])],
                                      base_timestamp=1))
        await partition.append(batch, parse_header(batch), 1)
        await broker.close()

    asyncio.run(damage())


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_start_survives_a_damaged_offsets_topic(kwire_factory, topic_name) -> None:
    broker = kwire_factory(GROUP_SETTINGS)
    _damage_offsets_topic(broker.data_dir)
    broker.start()
    make_client("confluent-kafka", broker.bootstrap).create_topic(topic_name, 1)
    _produce(broker.bootstrap, topic_name, 5)
    _check_groups_work(broker.bootstrap, topic_name)
    assert "skipped 1 undecodable record(s) of __consumer_offsets-0, the first at offset 0" in (
        broker.log_tail(400))
    assert "Traceback" not in broker.log_tail(400)


# -- long names ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("length", [214, 249])
def test_long_topic_names_live_die_and_come_back_empty(kwire_factory, length: int) -> None:
    broker = kwire_factory().start()
    name = (f"long-{uuid.uuid4().hex[:8]}-" + "x" * length)[:length]
    client = make_client("confluent-kafka", broker.bootstrap)
    client.create_topic(name, 2)
    acks = client.produce(name, [Message(b"k", b"v%d" % i, (), NOW_MS + i) for i in range(20)])
    assert len(acks) == 20
    broker.stop()
    broker.restart()  # a 249-character topic once stopped the broker from starting
    client = make_client("confluent-kafka", broker.bootstrap)
    ends = client.end_offsets(name, [0, 1])
    assert sum(ends.values()) == 20
    client.delete_topic(name)
    client.create_topic(name, 2)
    assert client.end_offsets(name, [0, 1]) == {0: 0, 1: 0}  # not the old data
    client.produce(name, [Message(b"k", b"new", (), NOW_MS + 100)])
    broker.stop()
    broker.restart()
    client = make_client("confluent-kafka", broker.bootstrap)
    assert sum(client.end_offsets(name, [0, 1]).values()) == 1
    client.delete_topic(name)


# -- names and deleted offsets (any broker, Kafka too) ---------------------------------------


@pytest.mark.timeout(60)
def test_dot_and_underscore_collide(broker) -> None:
    base = f"collide{uuid.uuid4().hex[:8]}"
    admin = _admin(broker.bootstrap)
    assert _create_error(admin, f"{base}.a", 1) is None
    clash = _create_error(admin, f"{base}_a", 1)
    assert clash is not None and clash.code() == KafkaError.TOPIC_EXCEPTION, clash
    assert clash.str() == f"Topic '{base}_a' collides with existing topic: {base}.a"
    same = _create_error(admin, f"{base}.a", 1)
    assert same is not None and same.code() == KafkaError.TOPIC_ALREADY_EXISTS
    assert _delete_error(admin, f"{base}.a") is None


@pytest.mark.timeout(120)
def test_offsets_of_a_deleted_topic_are_deleted(broker, topic_name) -> None:
    client = make_client("confluent-kafka", broker.bootstrap)
    group = f"g-{uuid.uuid4().hex[:8]}"
    client.create_topic(topic_name, 1)
    _produce(broker.bootstrap, topic_name, 30, b"old")
    assert len(_consume_group(broker.bootstrap, group, topic_name, 30)) == 30
    assert _committed(broker.bootstrap, group, topic_name) == 30

    client.delete_topic(topic_name)
    # Kafka removes the offsets once the deletion reached the coordinator.
    deadline = time.monotonic() + 20
    while _committed(broker.bootstrap, group, topic_name) >= 0:
        assert time.monotonic() < deadline, "the committed offset outlived its topic"
        time.sleep(0.5)
    client.create_topic(topic_name, 1)
    _produce(broker.bootstrap, topic_name, 5, b"new")
    got = _consume_group(broker.bootstrap, group, topic_name, 5)
    assert got == [(i, b"new%d" % i) for i in range(5)]  # from earliest, nothing skipped
    client.delete_topic(topic_name)
