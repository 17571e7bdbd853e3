"""Transactions (issue 8) through real clients: confluent-kafka, Kafka's Java
producer, aiokafka; exactly-once consume-transform-produce; zombie fencing;
the coordinator's abort of a timed-out transaction.

Every test needs only *a* broker, so `--bootstrap` runs them against a real
Kafka 4.4.0, which is how they were checked. Reads end at per-partition
sentinels (txn_support): exact, and bounded in time.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition as TopicPartitionAio
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from txn_support import (
    compile_java,
    create_topics,
    java_command,
    read_until_sentinels,
    txn_producer,
    wait_until,
    write_sentinels,
)

COMPAT_DIR = Path(__file__).resolve().parent


def _tps(topic_a: str, topic_b: str) -> list[tuple[str, int]]:
    # 3 partitions over 2 topics: a has 2, b has 1
    return [(topic_a, 0), (topic_a, 1), (topic_b, 0)]


@pytest.mark.timeout(90)
def test_confluent_interleaved_commit_and_abort(broker, topic_name) -> None:
    a, b = topic_name + "-a", topic_name + "-b"
    create_topics(broker.bootstrap, {a: 2, b: 1})
    tps = _tps(a, b)
    run = uuid.uuid4().hex[:8]
    p1 = txn_producer(broker.bootstrap, f"compat-ck-1-{run}")
    p2 = txn_producer(broker.bootstrap, f"compat-ck-2-{run}")
    p1.init_transactions(30)
    p2.init_transactions(30)
    committed: set[bytes] = set()
    everything: set[bytes] = set()
    # Six rounds; in each, both producers have a transaction open at once and
    # their batches alternate in every partition. Producer 1 commits rounds
    # 0, 2, 4 and aborts 1, 3, 5; producer 2 the other way round.
    for rnd in range(6):
        p1.begin_transaction()
        p2.begin_transaction()
        for k in range(4):
            for who, p in (("p1", p1), ("p2", p2)):
                for t, part in tps:
                    v = f"{who}-r{rnd}-{t[-1]}{part}-{k}".encode()
                    p.produce(t, v, partition=part)
                    everything.add(v)
                p.flush(30)  # this producer's batch is in the log before the other's
        commit_p1 = rnd % 2 == 0
        for who, p, commit in (("p1", p1, commit_p1), ("p2", p2, not commit_p1)):
            if commit:
                p.commit_transaction(30)
                committed |= {v for v in everything if v.startswith(f"{who}-r{rnd}-".encode())}
            else:
                p.abort_transaction(30)
    write_sentinels(broker.bootstrap, tps)

    log = read_until_sentinels(broker.bootstrap, tps, "read_uncommitted")
    visible = read_until_sentinels(broker.bootstrap, tps, "read_committed")
    assert {v for vs in log.values() for v in vs} == everything
    assert sum(len(vs) for vs in log.values()) == len(everything), "a record stored twice"
    for tp in tps:
        # read_committed = the log in offset order with the aborted records left out
        want = [v for v in log[tp] if v in committed]
        assert visible[tp] == want, f"{tp}: read_committed differs from the committed records"
        assert len(want) == 6 * 4, tp  # 6 rounds x 4 records of the committing producer


def _run_java(kafka_tools, args: list[str], timeout: float = 90) -> str:
    classes = compile_java("TxnProducer.java", kafka_tools.libs)
    cmd = java_command(kafka_tools.java, classes, kafka_tools.libs, "TxnProducer", *args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 0, f"TxnProducer failed (rc {p.returncode}):\n{p.stdout}\n{p.stderr}"
    return p.stdout


@pytest.mark.timeout(120)
def test_java_interleaved_commit_and_abort(broker, topic_name, kafka_tools) -> None:
    a, b = topic_name + "-a", topic_name + "-b"
    create_topics(broker.bootstrap, {a: 2, b: 1})
    tps = _tps(a, b)
    txn_id = f"compat-java-{uuid.uuid4().hex[:8]}"
    n, per = 7, 5
    out = _run_java(kafka_tools, [broker.bootstrap, txn_id, str(n), str(per),
                                  *(f"{t}:{p}" for t, p in tps)])
    ended = [line.split() for line in out.splitlines() if line.startswith(("COMMIT", "ABORT"))]
    assert [(kind, int(i)) for kind, i in ended] == [
        ("ABORT" if i % 3 == 1 else "COMMIT", i) for i in range(n)], out
    write_sentinels(broker.bootstrap, tps)
    visible = read_until_sentinels(broker.bootstrap, tps, "read_committed")
    everything = read_until_sentinels(broker.bootstrap, tps, "read_uncommitted")
    for t, part in tps:
        want = [f"{txn_id}-t{i}-{t}-{part}-{k}".encode()
                for i in range(n) if i % 3 != 1 for k in range(per)]
        assert visible[(t, part)] == want, (t, part)
        assert len(everything[(t, part)]) == n * per, "read_uncommitted sees aborted records too"


@pytest.mark.timeout(60)
def test_zombie_producer_is_fenced(broker, topic_name) -> None:
    create_topics(broker.bootstrap, {topic_name: 1})
    txn_id = f"compat-zombie-{uuid.uuid4().hex[:8]}"
    zombie = txn_producer(broker.bootstrap, txn_id)
    zombie.init_transactions(30)
    zombie.begin_transaction()
    zombie.produce(topic_name, b"zombie-1", partition=0)
    zombie.flush(30)

    # The new instance's InitProducerId bumps the epoch and aborts the zombie's
    # open transaction.
    fresh = txn_producer(broker.bootstrap, txn_id)
    fresh.init_transactions(30)
    fresh.begin_transaction()
    fresh.produce(topic_name, b"fresh-1", partition=0)
    fresh.commit_transaction(30)

    with pytest.raises(KafkaException) as info:
        zombie.produce(topic_name, b"zombie-2", partition=0)
        zombie.flush(10)
        zombie.commit_transaction(30)
    err: KafkaError = info.value.args[0]
    # librdkafka reports the broker's PRODUCER_FENCED (or INVALID_PRODUCER_EPOCH on
    # the Produce path) as its fatal _FENCED
    assert err.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED,
                          KafkaError.INVALID_PRODUCER_EPOCH), err
    assert err.fatal(), err

    write_sentinels(broker.bootstrap, [(topic_name, 0)])
    visible = read_until_sentinels(broker.bootstrap, [(topic_name, 0)], "read_committed")
    assert visible[(topic_name, 0)] == [b"fresh-1"]


@pytest.mark.timeout(60)
def test_aiokafka_transactional_producer(broker, topic_name) -> None:
    create_topics(broker.bootstrap, {topic_name: 2})
    txn_id = f"compat-aiokafka-{uuid.uuid4().hex[:8]}"

    async def go() -> list[bytes]:
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id=txn_id,
                                    enable_idempotence=True, client_id="compat-aiokafka-txn")
        await producer.start()
        try:
            async with producer.transaction():
                for i in range(5):
                    await producer.send_and_wait(topic_name, b"commit-%d" % i, partition=i % 2)
            await producer.begin_transaction()
            for i in range(5):
                await producer.send_and_wait(topic_name, b"abort-%d" % i, partition=i % 2)
            await producer.abort_transaction()
            async with producer.transaction():
                await producer.send_and_wait(topic_name, b"commit-last", partition=0)
        finally:
            await producer.stop()
        # aiokafka's own read_committed consumer: it must skip the aborted batch
        # and the control records and stop at nothing
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap,
                                    isolation_level="read_committed",
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([TopicPartitionAio(topic_name, 0), TopicPartitionAio(topic_name, 1)])
            got: list[bytes] = []
            deadline = time.monotonic() + 20
            while len(got) < 6 and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=500)
                got += [m.value for msgs in batch.values() for m in msgs]
            return got
        finally:
            await consumer.stop()

    got = asyncio.run(asyncio.wait_for(go(), 50))
    assert sorted(got) == sorted([b"commit-%d" % i for i in range(5)] + [b"commit-last"])
    tps = [(topic_name, 0), (topic_name, 1)]
    write_sentinels(broker.bootstrap, tps)
    visible = read_until_sentinels(broker.bootstrap, tps, "read_committed")
    assert visible[(topic_name, 0)] == [b"commit-0", b"commit-2", b"commit-4", b"commit-last"]
    assert visible[(topic_name, 1)] == [b"commit-1", b"commit-3"]


@pytest.mark.timeout(90)
def test_open_transaction_is_aborted_after_its_timeout(broker, topic_name) -> None:
    create_topics(broker.bootstrap, {topic_name: 1})
    tp = (topic_name, 0)
    txn_id = f"compat-timeout-{uuid.uuid4().hex[:8]}"
    # librdkafka wants message.timeout.ms <= transaction.timeout.ms
    p = txn_producer(broker.bootstrap, txn_id, **{"transaction.timeout.ms": 3000,
                                                  "message.timeout.ms": 3000})
    p.init_transactions(30)
    p.begin_transaction()
    for i in range(10):
        p.produce(topic_name, b"left-open-%d" % i, partition=0)
    assert p.flush(30) == 0
    started = time.monotonic()
    # the producer just stays silent; the coordinator must end the transaction:
    # Kafka checks every transaction.abort.timed.out.transaction.cleanup.interval.ms
    # (10 s by default), so the abort lands 3 to 13 s from now
    write_sentinels(broker.bootstrap, [tp])
    visible = read_until_sentinels(broker.bootstrap, [tp], "read_committed", timeout=45)
    waited = time.monotonic() - started
    assert visible[tp] == [], "records of a timed-out transaction are visible"
    assert waited >= 2.0, f"the open transaction did not hold the LSO ({waited:.1f} s)"
    everything = read_until_sentinels(broker.bootstrap, [tp], "read_uncommitted")
    assert everything[tp] == [b"left-open-%d" % i for i in range(10)]
    # the timed-out producer is fenced: its next commit fails
    with pytest.raises(KafkaException):
        p.commit_transaction(20)


# -- exactly-once consume-transform-produce ------------------------------------------

INPUT_RECORDS = 20_000
INPUT_PARTITIONS = 6
WORKER = COMPAT_DIR / "txn_ctp_worker.py"


class Worker:
    def __init__(self, bootstrap: str, group: str, src: str, dst: str, txn_id: str,
                 stop_file: Path, log: Path) -> None:
        self.committed = 0
        self.lines: list[str] = []
        self.log = log
        with open(log, "ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(WORKER), bootstrap, group, src, dst, txn_id, str(stop_file)],
                stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())
            if line.startswith("COMMITTED "):
                self.committed += int(line.split()[1])

    def output(self) -> str:
        return "\n".join(self.lines[-30:]) + "\n--- stderr ---\n" + self.log.read_text()[-3000:]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_consume_transform_produce_exactly_once_with_a_killed_member(
        broker, topic_name, tmp_path) -> None:
    src, dst = topic_name + "-in", topic_name + "-out"
    create_topics(broker.bootstrap, {src: INPUT_PARTITIONS, dst: INPUT_PARTITIONS})
    p = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True,
                  "linger.ms": 20})
    for i in range(INPUT_RECORDS):
        p.produce(src, b"in-%05d" % i, partition=i % INPUT_PARTITIONS)
        if i % 5000 == 0:
            p.poll(0)
    assert p.flush(60) == 0
    group = f"compat-ctp-{uuid.uuid4().hex[:8]}"
    stop = tmp_path / "stop"
    workers = [Worker(broker.bootstrap, group, src, dst, f"{group}-w{i}", stop,
                      tmp_path / f"w{i}.log") for i in range(3)]
    try:
        # kill member 0 once it has committed a few transactions, mid-run
        wait_until(lambda: workers[0].committed >= 400, 60,
                   "member 0 to commit 400 records")
        done_at_kill = sum(w.committed for w in workers)
        assert done_at_kill < INPUT_RECORDS, "the group finished before the kill: too fast"
        workers[0].proc.send_signal(signal.SIGKILL)
        workers[0].proc.wait(10)
        # its replacement, as a deployment would restart it: same transactional.id,
        # so InitProducerId aborts whatever it left open
        workers.append(Worker(broker.bootstrap, group, src, dst, f"{group}-w0", stop,
                              tmp_path / "w0-again.log"))

        probe = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group,
                          "enable.auto.commit": False, "isolation.level": "read_committed"})
        tps = [TopicPartition(src, i) for i in range(INPUT_PARTITIONS)]
        ends = {i: probe.get_watermark_offsets(TopicPartition(src, i), 10)[1]
                for i in range(INPUT_PARTITIONS)}
        assert sum(ends.values()) == INPUT_RECORDS

        def covered() -> bool:
            for w in workers[1:]:
                assert w.proc.poll() is None, f"a worker exited:\n{w.output()}"
            try:
                got = probe.committed(tps, 10)
            except KafkaException:
                return False  # UNSTABLE_OFFSET_COMMIT while a transaction is pending
            return all(tp.offset == ends[tp.partition] for tp in got)

        wait_until(covered, 90, "the group's committed offsets to reach the input's end",
                   every=0.5)
        probe.close()
    finally:
        stop.write_text("stop")
        for w in workers:
            try:
                w.proc.wait(20)
            except subprocess.TimeoutExpired:
                w.proc.kill()
    for w in workers[1:]:
        assert w.proc.returncode == 0, w.output()
        assert not any(line.startswith("FATAL") for line in w.lines), w.output()

    out_tps = [(dst, i) for i in range(INPUT_PARTITIONS)]
    write_sentinels(broker.bootstrap, out_tps)
    visible = read_until_sentinels(broker.bootstrap, out_tps, "read_committed")
    values = [v for vs in visible.values() for v in vs]
    assert len(values) == INPUT_RECORDS, (
        f"{len(values)} records in the output, {len(set(values))} distinct")
    assert set(values) == {b"in-%05d" % i for i in range(INPUT_RECORDS)}
    for part in range(INPUT_PARTITIONS):  # copied in order, to the same partition
        assert visible[(dst, part)] == [b"in-%05d" % i for i in
                                        range(part, INPUT_RECORDS, INPUT_PARTITIONS)]
