"""Helpers of the durability compat-tests (test_durability.py, test_kill9_loop.py).

- ContinuousProducer: confluent-kafka, enable.idempotence=true, acks=all,
  producing in a thread (optionally at a fixed rate) until told to stop;
  remembers every acknowledged (partition, offset, value) and every delivery error.
- check_acknowledged: reads each partition back from offset 0 and asserts that
  every acknowledged record is at its acknowledged offset, that no value is in
  the log twice, and that there was no delivery error.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from clients import Client
from confluent_kafka import Producer


def read_partition_log(client: Client, topic: str, partition: int, end: int) -> list[Any]:
    recs = client.consume_partition(topic, partition, 0, end, timeout=60)
    assert len(recs) == end, f"partition {partition}: read {len(recs)} of {end} records"
    return recs


def wait_for(pred: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out ({timeout:.0f} s) waiting for {what}"
        time.sleep(0.05)


class ContinuousProducer(threading.Thread):
    """confluent-kafka, enable.idempotence=true, acks=all, producing until told to
    stop; records every acknowledged (partition, offset, value)."""

    def __init__(self, bootstrap: str, topic: str, max_messages: int = 60_000,
                 rate: float | None = None) -> None:
        super().__init__(name="continuous-producer", daemon=True)
        self.topic = topic
        self.max_messages = max_messages  # bound on what is handed to the client (memory, time)
        # Messages per second handed to the client (None: as fast as it takes them);
        # librdkafka batches so well that an unpaced producer reaches any bound in seconds.
        self.rate = rate
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

    def _on_delivery(self, err: Any, msg: Any) -> None:
        with self.lock:
            if err is not None:
                self.errors.append(str(err))
            else:
                self.acked.append((msg.partition(), msg.offset(), msg.value()))

    def run(self) -> None:
        started = time.monotonic()
        try:
            while not self.stop_event.is_set():
                if self.sent >= self.max_messages:
                    self.producer.poll(0.1)
                    continue
                if self.rate is not None and self.sent >= (time.monotonic() - started) * self.rate:
                    self.producer.poll(0.005)
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

    def finish(self, timeout: float = 120) -> tuple[list[tuple[int, int, bytes]], list[str]]:
        """Stop producing, wait for the client to flush; (acked, errors)."""
        self.stop_event.set()
        self.done.wait(timeout)
        assert self.done.is_set(), "producer did not finish flushing"
        with self.lock:
            return list(self.acked), list(self.errors)


def check_acknowledged(client: Client, topic: str, partitions: int,
                       acked: list[tuple[int, int, bytes]], errors: list[str]) -> dict[int, int]:
    """Every acknowledged record at its acknowledged offset, no value twice in the
    log, no delivery error. Returns the end offsets."""
    ends = client.end_offsets(topic, range(partitions))
    in_log: dict[bytes, list[tuple[int, int]]] = {}
    logs = {}
    for p in range(partitions):
        recs = read_partition_log(client, topic, p, ends[p])
        logs[p] = {r.offset: r.value for r in recs}
        for r in recs:
            in_log.setdefault(r.value, []).append((p, r.offset))
    missing = [(p, o, v) for p, o, v in acked if logs[p].get(o) != v]
    assert not missing, (
        f"{len(missing)} of {len(acked)} acknowledged messages are not at their acknowledged "
        f"offset; first: {[(p, o, v, logs[p].get(o)) for p, o, v in missing[:5]]}; "
        f"delivery errors: {errors[:5]}")
    dups = {v: where for v, where in in_log.items() if len(where) > 1}
    assert not dups, (f"{len(dups)} values appear more than once in the log (idempotence "
                      f"across the crash): {list(dups.items())[:5]}")
    assert len({v for _p, _o, v in acked}) == len(acked), "a value was acknowledged twice"
    assert not errors, (f"{len(errors)} delivery errors (the idempotent producer should "
                        f"recover from a broker restart): {errors[:5]}")
    return ends
