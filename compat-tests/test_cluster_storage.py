"""kwire on BookKeeper ledgers (log.storage=bookkeeper) against the session's real
ZooKeeper and 4 real bookies: bookie faults under an idempotent producer, a
takeover by a fresh broker with an empty data dir, and a split brain where the
second broker's takeover fences the first.

What every scenario checks at the end is the durability promise: each record a
producer saw acknowledged is in the log exactly once, at the offset it was
acknowledged with, in the order it was produced, and nothing else is there.
"""

from __future__ import annotations

import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from bookkeeper_env import BookKeeperEnv
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka import TopicPartition as CkTopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from harness import KwireProcess
from hostile import connect, produce_v3, recv_response

from kwire.records.builder import build_batch

pytestmark = pytest.mark.slow

PARTITIONS = 3


def bk_settings(env: BookKeeperEnv, chroot: str, **extra: str) -> dict[str, str]:
    return {
        "log.storage": "bookkeeper",
        "zookeeper.connect": env.zk_connect_with_chroot(chroot),
        # A frozen bookie is replaced after 2 s instead of BookKeeper's 5 s.
        "bookkeeper.add.entry.timeout.ms": "2000",
        "bookkeeper.read.entry.timeout.ms": "2000",
        "group.initial.rebalance.delay.ms": "0",
        **extra,
    }


def create_topic(bootstrap: str, name: str, partitions: int = PARTITIONS) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(30)


@dataclass
class Load:
    """An idempotent acks=all producer writing `<seq>` values round-robin over the
    partitions from a thread until stopped, remembering every acknowledgement."""

    bootstrap: str
    topic: str
    partitions: int = PARTITIONS
    message_timeout_ms: int = 120_000
    acked: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # p -> (offset, seq)
    errors: list[str] = field(default_factory=list)
    sent: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Load:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        producer = Producer({
            "bootstrap.servers": self.bootstrap, "acks": "all", "enable.idempotence": True,
            "linger.ms": 5, "message.timeout.ms": self.message_timeout_ms, "retry.backoff.ms": 100,
            "reconnect.backoff.max.ms": 500,
        })

        def delivered(err: KafkaError | None, msg: Any) -> None:
            if err is not None:
                self.errors.append(str(err))
            else:
                self.acked.setdefault(msg.partition(), []).append(
                    (msg.offset(), int(msg.value())))

        seq = 0
        while not self._stop.is_set():
            try:
                producer.produce(self.topic, str(seq).encode(), partition=seq % self.partitions,
                                 on_delivery=delivered)
                seq += 1
            except BufferError:
                producer.poll(0.05)
                continue
            if seq % 100 == 0:
                producer.poll(0.01)  # about 10,000 records a second at most
        self.sent = seq
        remaining = producer.flush(150)
        if remaining:
            self.errors.append(f"{remaining} records never delivered")

    def stop(self) -> Load:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(180)
        assert not self._thread.is_alive(), "the producer did not finish"
        return self

    def total_acked(self) -> int:
        return sum(len(v) for v in self.acked.values())


def read_partition(bootstrap: str, topic: str, partition: int) -> list[tuple[int, int]]:
    """Every (offset, seq) of the partition, from its start to its end."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    try:
        low, high = consumer.get_watermark_offsets(CkTopicPartition(topic, partition),
                                                   timeout=30)
        consumer.assign([CkTopicPartition(topic, partition, low)])
        out: list[tuple[int, int]] = []
        deadline = time.monotonic() + 60
        while (not out or out[-1][0] < high - 1) and high > low:
            assert time.monotonic() < deadline, f"read stopped at {out[-1:]} of {high}"
            msg = consumer.poll(1.0)
            if msg is None or (msg.error() and msg.error().code() == KafkaError._PARTITION_EOF):
                continue
            assert not msg.error(), msg.error()
            out.append((msg.offset(), int(msg.value())))
        return out
    finally:
        consumer.close()


def check_exactly_once(bootstrap: str, load: Load) -> None:
    """Each acknowledged record is stored once, at its acknowledged offset; each
    partition holds its records in production order, with no duplicates."""
    assert not load.errors, load.errors[:5]
    assert load.total_acked() > 0
    for partition in range(load.partitions):
        stored = read_partition(bootstrap, load.topic, partition)
        seqs = [seq for _, seq in stored]
        assert len(seqs) == len(set(seqs)), f"partition {partition} has duplicates"
        assert seqs == sorted(seqs), f"partition {partition} is out of production order"
        at = dict(stored)
        acked = load.acked.get(partition, [])
        for offset, seq in acked:
            assert at.get(offset) == seq, (
                f"acknowledged record {seq} missing from partition {partition} at {offset}")
        # No delivery failed, so every stored record is an acknowledged one.
        assert len(stored) == len(acked), f"partition {partition} holds unacknowledged records"


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_idempotent_producer_survives_bookie_faults(
    bookkeeper: BookKeeperEnv, kwire_factory: Callable[..., KwireProcess], topic_name: str,
) -> None:
    """E3/W2/A2 on 4 bookies: kill -9 one bookie (an ensemble change), bring it back
    with its data, then freeze another for longer than the add timeout: writes go
    on around it (the spare bookie replaces it) and after it resumes."""
    broker = kwire_factory(bk_settings(bookkeeper, bookkeeper.new_chroot())).start()
    create_topic(broker.bootstrap, topic_name)
    load = Load(broker.bootstrap, topic_name).start()
    try:
        wait_until(lambda: load.total_acked() > 2000, 60, "the first acknowledgements")
        bookkeeper.kill9(0)
        before = load.total_acked()
        wait_until(lambda: load.total_acked() > before + 2000, 60,
                   "writes to go on after an ensemble change")
        bookkeeper.restart(0)
        before = load.total_acked()
        wait_until(lambda: load.total_acked() > before + 2000, 60,
                   "writes to go on after a bookie restart")
        bookkeeper.stop(1)  # SIGSTOP, past the 2 s add timeout
        try:
            before = load.total_acked()
            wait_until(lambda: load.total_acked() > before + 2000, 60,
                       "writes to go on while a bookie is frozen")
            time.sleep(3.0)  # frozen for longer than the add timeout in any case
        finally:
            bookkeeper.resume(1)
        before = load.total_acked()
        wait_until(lambda: load.total_acked() > before + 2000, 60,
                   "writes to go on after the frozen bookie resumed")
    finally:
        load.stop()
        bookkeeper.heal()
    check_exactly_once(broker.bootstrap, load)


def test_fresh_broker_with_empty_data_dir_takes_over(
    bookkeeper: BookKeeperEnv, kwire_factory: Callable[..., KwireProcess], topic_name: str,
) -> None:
    """kill -9 the broker mid-produce; a new broker on an empty data dir against the
    same ZooKeeper and bookies serves everything: the idempotent producer's retries
    are not duplicated, and a consumer group resumes from its committed offsets."""
    settings = bk_settings(bookkeeper, bookkeeper.new_chroot())
    first = kwire_factory(settings, name="first").start()
    create_topic(first.bootstrap, topic_name)
    load = Load(first.bootstrap, topic_name).start()
    group = f"{topic_name}-group"
    wait_until(lambda: load.total_acked() > 3000, 60, "the first acknowledgements")
    committed = commit_some(first.bootstrap, topic_name, group)
    first.kill()
    second = kwire_factory(settings, name="second")
    assert not any(second.data_dir.iterdir()), "the replacement starts with no data"
    try:
        second.start(port=first.port)  # the producer reconnects to the same address
        before = load.total_acked()
        wait_until(lambda: load.total_acked() > before + 2000, 90,
                   "the producer to go on against the new broker")
    finally:
        load.stop()
    check_exactly_once(second.bootstrap, load)
    consumer = Consumer({"bootstrap.servers": second.bootstrap, "group.id": group,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        got = consumer.committed([CkTopicPartition(topic_name, p) for p in range(PARTITIONS)],
                                 timeout=30)
        assert {tp.partition: tp.offset for tp in got} == committed
        # The group member starts each partition where the group had committed.
        consumer.subscribe([topic_name])
        first: dict[int, int] = {}
        deadline = time.monotonic() + 60
        while len(first) < PARTITIONS:
            assert time.monotonic() < deadline, f"group consumed only {first}"
            msg = consumer.poll(1.0)
            if msg is not None and not msg.error():
                first.setdefault(msg.partition(), msg.offset())
        assert first == committed
    finally:
        consumer.close()


def commit_some(bootstrap: str, topic: str, group: str) -> dict[int, int]:
    """Commit offset 100 + partition for each partition of `topic` in `group`."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "enable.auto.commit": False})
    try:
        offsets = {p: 100 + p for p in range(PARTITIONS)}
        consumer.commit(offsets=[CkTopicPartition(topic, p, o) for p, o in offsets.items()],
                        asynchronous=False)
        return offsets
    finally:
        consumer.close()


def raw_produce_error(port: int, topic: str) -> int:
    """Produce one batch to partition 0 with a raw Produce v3; its error code."""
    batch = build_batch([(None, b"-1", [])], base_timestamp=int(time.time() * 1000))
    with connect(port, timeout=30) as sock:
        sock.sendall(produce_v3(7, topic, batch, acks=-1))
        resp = recv_response(sock)
    # correlation id, topic count, name, partition count, index, error code
    pos = 4 + 4 + 2 + len(topic.encode()) + 4 + 4
    return int(struct.unpack_from(">h", resp, pos)[0])


def test_unreachable_zookeeper_stops_the_start_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.run(
        [sys.executable, "-m", "kwire", "serve", "--port", "0", "--data-dir", str(tmp_path),
         "--set", "log.storage=bookkeeper", "--set", f"zookeeper.connect=127.0.0.1:{port}/k",
         "--set", "zookeeper.connection.timeout.ms=1500"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "kwire: cannot start: cannot connect to ZooKeeper" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_deposed_broker_is_fenced_by_its_successor(
    bookkeeper: BookKeeperEnv, kwire_factory: Callable[..., KwireProcess], topic_name: str,
) -> None:
    """Split brain: the first broker is paused past its ZooKeeper session, so the
    controller gives its partitions to the second, whose takeover fences the
    first's ledgers. Resumed, the first answers NOT_LEADER_OR_FOLLOWER; everything
    it acknowledged is in the log the second serves (so it acknowledged nothing
    after it was fenced). A second process with a node id in use never starts."""
    chroot = bookkeeper.new_chroot()
    session = {"zookeeper.session.timeout.ms": "4000"}
    first = kwire_factory(bk_settings(bookkeeper, chroot, **session, **{"node.id": "1"}),
                          name="first").start()
    create_topic(first.bootstrap, topic_name)
    # Once fenced, the first broker can deliver nothing: give up on it quickly.
    load = Load(first.bootstrap, topic_name, message_timeout_ms=10_000).start()
    try:
        wait_until(lambda: load.total_acked() > 2000, 60, "the first acknowledgements")
        assert first.proc is not None
        first.proc.send_signal(signal.SIGSTOP)
        try:
            second = kwire_factory(bk_settings(bookkeeper, chroot, **session,
                                               **{"node.id": "2"}), name="second").start()
            assert second.port is not None
            wait_until(lambda: raw_produce_error(second.port, topic_name) == 0, 30,  # type: ignore[arg-type]
                       "the second broker to lead the partitions")
        finally:
            first.proc.send_signal(signal.SIGCONT)
        assert first.port is not None
        wait_until(lambda: raw_produce_error(first.port, topic_name) == 6, 30,  # type: ignore[arg-type]
                   "the first broker to answer NOT_LEADER_OR_FOLLOWER")
    finally:
        load.stop()
    # (The first broker rejoins with a new session, and the controller may hand it
    # some leaderships back: the records are read through whichever broker leads.)
    twin = kwire_factory(bk_settings(bookkeeper, chroot, **session, **{"node.id": "2"}),
                         name="twin")
    with pytest.raises(RuntimeError, match="exited with code 1"):
        twin.start()
    assert "node already exists" in twin.log_tail(), twin.log_tail()
    for partition in range(PARTITIONS):
        stored = dict(read_partition(second.bootstrap, topic_name, partition))
        for offset, seq in load.acked.get(partition, []):
            assert stored.get(offset) == seq, (
                f"record {seq} acknowledged by the fenced broker at {offset} is not stored")
