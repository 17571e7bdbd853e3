"""A full disk under a running broker: a real tmpfs of a few MiB as the data dir
(mounted by the test; CI runs as root), filled by a file beside the data.

Held to issue 10's rules: every acknowledged record stays; nothing that was
refused is ever served (a consumer reading all along records what it saw);
other partitions keep being served; DeleteTopics, DeleteRecords and retention
changes work so an operator can free space; the broker resumes by itself once
space returns, and a restart (graceful on the full disk, or kill -9) keeps all
of it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)
from disk_support import (
    Ledger,
    SmallDisk,
    SyncProducer,
    Watcher,
    end_offset,
    read_partition,
    small_disk,
)
from harness import KwireProcess

pytestmark = [pytest.mark.slow]

DISK_MIB = 24
VALUE = 2000  # bytes per record


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    with small_disk(tmp_path / "disk", DISK_MIB) as d:
        yield d


def _broker(kwire_factory: Callable[..., KwireProcess], disk: SmallDisk) -> KwireProcess:
    proc = kwire_factory({
        "log.dirs": str(disk.root / "data"),
        "log.segment.bytes": "1048576",  # Kafka's minimum: rolls within a few MiB
        "log.index.interval.bytes": "256",  # many index writes
        "group.initial.rebalance.delay.ms": "0",
    })
    # KwireProcess passes --data-dir; point it at the tmpfs too.
    proc.data_dir = disk.root / "data"
    return proc.start()


def _admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def _create(admin: AdminClient, name: str) -> KafkaError | None:
    try:
        admin.create_topics([NewTopic(name, 1, 1)])[name].result(30)
    except Exception as exc:  # a KafkaException carrying the broker's error
        return exc.args[0]
    return None


def _value(i: int) -> bytes:
    return (b"%08d-" % i) * (VALUE // 9)


@pytest.mark.timeout(180)
def test_full_disk_during_produce_roll_and_index_writes(
    kwire_factory: Callable[..., KwireProcess], disk: SmallDisk,
) -> None:
    broker = _broker(kwire_factory, disk)
    admin = _admin(broker.bootstrap)
    assert _create(admin, "full") is None and _create(admin, "other") is None
    ledger, other = Ledger(), Ledger()
    producer = SyncProducer(broker.bootstrap)
    for i in range(5):
        assert producer.send("other", _value(i), other) is None
    watcher = Watcher(broker.bootstrap, "full")
    watcher.start()
    i = 0
    first_segment = disk.root / "data" / "full-0" / f"{0:020d}.log"
    assert producer.send("full", _value(i), ledger) is None
    i += 1
    batch = first_segment.stat().st_size  # every record is one batch of this size
    while first_segment.stat().st_size + batch <= 1048576:  # until the next one rolls
        assert producer.send("full", _value(i), ledger) is None
        i += 1
    disk.fill(leave=0)
    for _ in range(60):  # the roll, index entries and batches run into the full disk
        producer.send("full", _value(i), ledger)
        i += 1
    assert len(ledger.refused) > 50, ledger.refused[-3:]
    assert len(list(first_segment.parent.glob("*.log"))) == 2  # rolled, then refused
    assert {why for _v, why in ledger.refused} == {"KAFKA_STORAGE_ERROR"}
    # The broker still serves everyone: reads of another partition, metadata.
    assert read_partition(broker.bootstrap, "other", 5) == other.acked
    assert admin.list_topics(timeout=10).topics.keys() >= {"full", "other"}

    disk.make_room()  # space returns: the broker carries on by itself
    deadline = time.monotonic() + 20
    while producer.send("full", _value(i), ledger) is not None:
        assert time.monotonic() < deadline, ledger.refused[-3:]
        time.sleep(0.2)
    for _ in range(50):
        assert producer.send("full", _value(i), ledger) is None
        i += 1
    time.sleep(1.0)
    read = watcher.finish()
    ledger.check_read(read)  # the watcher saw nothing that was refused
    end = end_offset(broker.bootstrap, "full")
    assert end == max(ledger.acked) + 1 == len(ledger.acked)  # no holes, no extra offsets
    ledger.check_read(read_partition(broker.bootstrap, "full", end))

    broker.stop()
    broker.restart()
    ledger.check_read(read_partition(broker.bootstrap, "full", end))
    broker.kill()
    broker.restart()
    ledger.check_read(read_partition(broker.bootstrap, "full", end))
    assert read_partition(broker.bootstrap, "other", 5) == other.acked
    broker.stop()


@pytest.mark.timeout(180)
def test_an_operator_can_free_space_on_a_full_disk(
    kwire_factory: Callable[..., KwireProcess], disk: SmallDisk,
) -> None:
    broker = _broker(kwire_factory, disk)
    admin = _admin(broker.bootstrap)
    for name in ("big", "trimmed", "kept"):
        assert _create(admin, name) is None
    big, trimmed, kept = Ledger(), Ledger(), Ledger()
    producer = SyncProducer(broker.bootstrap)
    for i in range(600):
        producer.send("big", _value(i), big)
        producer.send("trimmed", _value(i), trimmed)
    for i in range(20):
        producer.send("kept", _value(i), kept)
    assert not big.refused and not trimmed.refused
    disk.fill(leave=0)
    # A record may still fit in a page the segment already has; the next ones do not.
    assert any(producer.send("kept", _value(99), kept) is not None for _ in range(10))
    # Growing the metadata is refused, with the broker's error, not a dropped connection.
    err = _create(admin, "more")
    assert err is not None and err.name() == "KAFKA_STORAGE_ERROR", err
    # Shrinking works: a lower retention, DeleteRecords, DeleteTopics.
    resource = ConfigResource("topic", "kept", incremental_configs=[ConfigEntry(
        "retention.ms", "86400000", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([resource])[resource].result(30)
    deleted = admin.delete_records([TopicPartition("trimmed", 0, 300)])
    assert deleted[TopicPartition("trimmed", 0, 300)].result(30).low_watermark == 300
    admin.delete_topics(["big"])["big"].result(30)
    deadline = time.monotonic() + 20
    while producer.send("kept", _value(100), kept) is not None:  # space returned
        assert time.monotonic() < deadline, kept.refused[-3:]
        time.sleep(0.2)
    assert _create(admin, "more") is None
    kept.check_read(read_partition(broker.bootstrap, "kept", len(kept.acked)))
    assert "big" not in admin.list_topics(timeout=10).topics
    broker.kill()
    broker.restart()
    admin = _admin(broker.bootstrap)
    assert "big" not in admin.list_topics(timeout=10).topics  # the delete was durable
    kept.check_read(read_partition(broker.bootstrap, "kept", len(kept.acked)))
    low, _high = _watermarks(broker.bootstrap, "trimmed")
    assert low == 300
    broker.stop()


@pytest.mark.timeout(180)
def test_group_commits_on_a_full_disk_then_restart(
    kwire_factory: Callable[..., KwireProcess], disk: SmallDisk,
) -> None:
    broker = _broker(kwire_factory, disk)
    admin = _admin(broker.bootstrap)
    assert _create(admin, "work") is None
    ledger = Ledger()
    producer = SyncProducer(broker.bootstrap)
    for i in range(200):
        producer.send("work", _value(i), ledger)
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "workers",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    consumer.subscribe(["work"])
    _consume(consumer, 50)
    consumer.commit(offsets=[TopicPartition("work", 0, 50)], asynchronous=False)
    disk.fill(leave=0)
    refused = None
    for offset in range(51, 151):  # small commits fill the page their segment already has
        try:
            consumer.commit(offsets=[TopicPartition("work", 0, offset)], asynchronous=False)
        except Exception as exc:  # librdkafka raises KafkaException(NOT_COORDINATOR, ...)
            refused = exc
            break
    assert refused is not None, "every commit succeeded on a full disk"
    broker.stop()  # SIGTERM on the full disk: a clean exit (0), no clean marker
    broker.restart()  # and a start on the still-full disk
    assert any(producer.send("work", _value(999), ledger) is not None for _ in range(10))
    disk.make_room()
    deadline = time.monotonic() + 30
    while True:
        try:
            consumer.commit(offsets=[TopicPartition("work", 0, 180)], asynchronous=False)
            break
        except Exception:
            assert time.monotonic() < deadline
            time.sleep(0.5)
    consumer.close()
    broker.kill()
    broker.restart()
    check = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "workers"})
    committed = check.committed([TopicPartition("work", 0)], timeout=30)
    check.close()
    assert committed[0].offset == 180
    ledger.check_read(read_partition(broker.bootstrap, "work", len(ledger.acked)))
    broker.stop()


def _consume(consumer: Consumer, count: int) -> None:
    got = 0
    deadline = time.monotonic() + 30
    while got < count:
        assert time.monotonic() < deadline
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            got += 1


def _watermarks(bootstrap: str, topic: str) -> tuple[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "watermarks"})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        return int(low), int(high)
    finally:
        consumer.close()
