"""Durability across broker restarts: graceful (SIGTERM) and crash (kill -9).

These control the broker process, so they start their own (kwire_factory) and
skip under --bootstrap. `--process-broker kafka` runs them against a real Kafka
started from the jars, which is how the scenarios themselves were checked.
"""

from __future__ import annotations

import threading
import time

import pytest
from clients import Message, make_client
from confluent_kafka import Producer

pytestmark = [pytest.mark.slow]

PARTITIONS = 3


def read_partition_log(client, topic: str, partition: int, end: int):  # noqa: ANN001, ANN201
    recs = client.consume_partition(topic, partition, 0, end, timeout=60)
    assert len(recs) == end, f"partition {partition}: read {len(recs)} of {end} records"
    return recs


@pytest.mark.timeout(180)
def test_graceful_restart_keeps_every_acknowledged_message(kwire_factory, topic_name) -> None:
    broker = kwire_factory().start()
    client = make_client("confluent-kafka", broker.bootstrap)
    client.create_topic(topic_name, PARTITIONS)
    base_ts = int(time.time() * 1000) - 60_000
    msgs = [Message(b"k%d" % (i % 64), b"before-restart %06d " % i + b"x" * 150,
                    (("i", str(i).encode()),), base_ts + i) for i in range(3000)]
    acks = client.produce(topic_name, msgs, codec="lz4", idempotent=True)  # acks=all
    client.close()

    broker.stop()  # SIGTERM: exit code 0 is asserted
    broker.restart()  # same port, same data dir
    client = make_client("confluent-kafka", broker.bootstrap)

    ends = client.end_offsets(topic_name, range(PARTITIONS))
    counts = {p: sum(1 for a in acks if a[0] == p) for p in range(PARTITIONS)}
    assert ends == counts, "high watermarks after restart"
    for p in range(PARTITIONS):
        recs = read_partition_log(client, topic_name, p, ends[p])
        want = [(off, msgs[i]) for i, (pp, off) in enumerate(acks) if pp == p]
        for rec, (off, m) in zip(recs, want, strict=True):
            assert (rec.offset, rec.key, rec.value, rec.headers, rec.timestamp_ms) == (
                off, m.key, m.value, m.headers, m.timestamp_ms)

    # The log keeps going where it stopped: no offset reused, no gap.
    more = [Message(b"k%d" % (i % 64), b"after-restart %06d" % i, (), base_ts + 5000 + i)
            for i in range(300)]
    acks2 = client.produce(topic_name, more, codec="none", idempotent=True)
    for p in range(PARTITIONS):
        offs = sorted(off for pp, off in acks2 if pp == p)
        assert offs == list(range(ends[p], ends[p] + len(offs))), f"partition {p} after restart"
    client.close()
    broker.stop()


class ContinuousProducer(threading.Thread):
    """confluent-kafka, enable.idempotence=true, acks=all, producing until told to
    stop; records every acknowledged (partition, offset, value)."""

    MAX_MESSAGES = 60_000  # bound on what is handed to the client (memory, time)

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(name="continuous-producer", daemon=True)
        self.topic = topic
        self.producer = Producer({
            "bootstrap.servers": bootstrap,
            "client.id": "compat-durability",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "message.timeout.ms": 90000,
            "reconnect.backoff.ms": 100,
            "reconnect.backoff.max.ms": 1000,
            "queue.buffering.max.messages": 20000,
        })
        self.lock = threading.Lock()
        self.acked: list[tuple[int, int, bytes]] = []
        self.errors: list[str] = []
        self.sent = 0
        self.stop_event = threading.Event()
        self.done = threading.Event()

    def n_acked(self) -> int:
        with self.lock:
            return len(self.acked)

    def _on_delivery(self, err, msg) -> None:  # noqa: ANN001
        with self.lock:
            if err is not None:
                self.errors.append(str(err))
            else:
                self.acked.append((msg.partition(), msg.offset(), msg.value()))

    def run(self) -> None:
        try:
            while not self.stop_event.is_set():
                if self.sent >= self.MAX_MESSAGES:
                    self.producer.poll(0.1)
                    continue
                value = b"value-%08d" % self.sent
                try:
                    self.producer.produce(self.topic, value=value, key=b"k%d" % (self.sent % 31),
                                          on_delivery=self._on_delivery)
                    self.sent += 1
                except BufferError:
                    self.producer.poll(0.05)
                self.producer.poll(0)
            self.producer.flush(90)
        except Exception as exc:  # surfaced by the test through .errors
            with self.lock:
                self.errors.append(f"producer thread: {exc!r}")
        finally:
            self.done.set()


def wait_for(pred, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out ({timeout:.0f} s) waiting for {what}"
        time.sleep(0.05)


@pytest.mark.timeout(240)
def test_kill9_during_produce_loses_no_acknowledged_message(kwire_factory, topic_name) -> None:
    broker = kwire_factory({"log.flush.interval.messages": "1"}).start()
    admin = make_client("confluent-kafka", broker.bootstrap)
    admin.create_topic(topic_name, PARTITIONS)
    admin.close()

    prod = ContinuousProducer(broker.bootstrap, topic_name)
    prod.start()
    try:
        wait_for(lambda: prod.n_acked() >= 3000, 60, "3000 acknowledged messages before the crash")
        broker.kill()  # SIGKILL mid-stream, requests in flight
        acked_before_restart = prod.n_acked()
        time.sleep(1.0)  # the producer keeps queueing and retrying against a dead broker
        broker.restart()  # same port, same data dir
        # The idempotent producer must carry on after the restart.
        wait_for(lambda: prod.n_acked() >= acked_before_restart + 2000, 60,
                 "2000 more acknowledged messages after the restart")
    finally:
        prod.stop_event.set()
        prod.done.wait(120)
    assert prod.done.is_set(), "producer did not finish flushing"

    with prod.lock:
        acked = list(prod.acked)
        errors = list(prod.errors)

    client = make_client("confluent-kafka", broker.bootstrap)
    ends = client.end_offsets(topic_name, range(PARTITIONS))
    in_log: dict[bytes, list[tuple[int, int]]] = {}
    logs = {}
    for p in range(PARTITIONS):
        recs = read_partition_log(client, topic_name, p, ends[p])
        logs[p] = {r.offset: r.value for r in recs}
        for r in recs:
            in_log.setdefault(r.value, []).append((p, r.offset))

    print(f"{broker.name}: {acked_before_restart} acked before restart, {len(acked)} acked in all, "
          f"{prod.sent} sent, {sum(ends.values())} in the log, {len(errors)} delivery errors")
    missing = [(p, o, v) for p, o, v in acked if logs[p].get(o) != v]
    assert not missing, (
        f"{len(missing)} of {len(acked)} acknowledged messages are not at their acknowledged "
        f"offset after kill -9 + restart; first: "
        f"{[(p, o, v, logs[p].get(o)) for p, o, v in missing[:5]]}; delivery errors: {errors[:5]}")
    dups = {v: where for v, where in in_log.items() if len(where) > 1}
    assert not dups, (f"{len(dups)} values appear more than once in the log (idempotence "
                      f"across the crash): {list(dups.items())[:5]}")
    assert len({v for _p, _o, v in acked}) == len(acked), "a value was acknowledged twice"
    assert not errors, (f"{len(errors)} delivery errors (the idempotent producer should "
                        f"recover from a broker restart): {errors[:5]}")
    client.close()
    broker.stop()
