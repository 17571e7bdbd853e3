"""Damaged data files under a real broker: flipped bytes, truncated segments,
garbled or missing indexes, a missing clean-shutdown marker, a torn tail.

The broker must start (no traceback) and say what it repaired, and a consumer
that does not check CRCs (librdkafka with check.crcs=false) must get either the
records that were written, at their offsets, or Kafka's error for the damaged
range: never a wrong record, never a silent skip past the damage, never a hang.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from harness import KwireProcess

pytestmark = [pytest.mark.slow]

TOPIC = "damaged"
RECORDS = 3000


def _produce(bootstrap: str) -> dict[int, bytes]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics(
        [NewTopic(TOPIC, 1, 1, config={"segment.bytes": "1048576"})])[TOPIC].result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 2,
                         "batch.num.messages": 20, "compression.type": "none"})
    acked: dict[int, bytes] = {}

    def done(err: object, msg: object) -> None:
        assert err is None, err
        acked[msg.offset()] = msg.value()  # type: ignore[attr-defined]

    for i in range(RECORDS):
        producer.produce(TOPIC, value=b"record-%06d-" % i + b"v" * 1000, partition=0,
                         on_delivery=done)
        producer.poll(0)
    producer.flush(30)
    assert len(acked) == RECORDS
    return acked


def _consume(bootstrap: str, seconds: float = 8.0) -> tuple[dict[int, bytes], list[str]]:
    """Read from offset 0 for `seconds` (stopping early at the end); the records and
    the errors the client reported."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"c-{time.time_ns()}",
                         "enable.auto.commit": False, "check.crcs": False,
                         "fetch.error.backoff.ms": 100})
    consumer.assign([TopicPartition(TOPIC, 0, 0)])
    read: dict[int, bytes] = {}
    errors: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and len(read) < RECORDS:
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            errors.append(msg.error().name())
            continue
        read[msg.offset()] = msg.value()
    consumer.close()
    return read, errors


def _files(proc: KwireProcess, suffix: str) -> list[Path]:
    return sorted((proc.data_dir / f"{TOPIC}-0").glob(f"*{suffix}"))


def _flip(path: Path, position: int) -> None:
    with open(path, "r+b") as f:
        f.seek(position)
        byte = f.read(1)
        f.seek(position)
        f.write(bytes([byte[0] ^ 0x20]))


def _second_batch(path: Path) -> int:
    with open(path, "rb") as f:
        head = f.read(12)
    return int.from_bytes(head[8:12], "big") + 12


DAMAGE: dict[str, Callable[[KwireProcess], None]] = {
    # A byte inside a sealed segment's records: only the CRC shows it.
    "sealed-record-byte": lambda p: _flip(_files(p, ".log")[0], _second_batch(
        _files(p, ".log")[0]) + 70),
    # The base offset of a sealed segment's batch (not covered by the CRC).
    "sealed-base-offset": lambda p: _flip(_files(p, ".log")[0], _second_batch(
        _files(p, ".log")[0]) + 7),
    # A sealed segment cut short in the middle of a batch.
    "sealed-truncated": lambda p: os.truncate(
        _files(p, ".log")[0], _files(p, ".log")[0].stat().st_size - 500),
    # The active segment damaged below its last index entry, after a crash.
    "active-unclean": lambda p: (_flip(_files(p, ".log")[-1], 100),
                                 (p.data_dir / ".kwire-clean-shutdown").unlink()),
    # Garbage after the active segment's last batch, as a torn write leaves it.
    "torn-tail": lambda p: (_files(p, ".log")[-1].open("ab").write(os.urandom(3000)),
                            (p.data_dir / ".kwire-clean-shutdown").unlink()),
    "garbled-indexes": lambda p: [f.write_bytes(os.urandom(max(f.stat().st_size, 24)))
                                  for f in _files(p, ".index") + _files(p, ".timeindex")],
    "missing-indexes": lambda p: [f.unlink()
                                  for f in _files(p, ".index") + _files(p, ".timeindex")],
    "missing-clean-marker": lambda p: (p.data_dir / ".kwire-clean-shutdown").unlink(),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_files_give_right_records_or_kafkas_error(
    kwire_factory: Callable[..., KwireProcess], damage: str,
) -> None:
    proc = kwire_factory().start()
    acked = _produce(proc.bootstrap)
    proc.stop()
    assert len(_files(proc, ".log")) >= 3
    DAMAGE[damage](proc)
    proc.restart()  # starts: a damaged file is repaired or reported, never a traceback

    read, errors = _consume(proc.bootstrap)
    wrong = {o: v[:16] for o, v in read.items() if acked.get(o) != v}
    assert not wrong, f"wrong records served: {sorted(wrong.items())[:3]}"
    prefix = 0
    while prefix in read:
        prefix += 1
    # Never a silent skip: what was read is one run from offset 0 ...
    assert set(read) == set(range(prefix)), f"skipped over offsets {prefix}.."
    if prefix < RECORDS:
        # ... that ends where the damage starts, with Kafka's CORRUPT_MESSAGE (error 2,
        # which librdkafka names INVALID_MSG), or where recovery truncated the log.
        end = _end_offset(proc.bootstrap)
        assert errors and set(errors) == {"INVALID_MSG"} or prefix == end, (
            prefix, end, errors[:3])
    log = proc.log_tail(400)
    assert "Traceback" not in log
    if damage in ("sealed-record-byte", "sealed-base-offset", "sealed-truncated"):
        assert prefix < RECORDS and "corrupt batch" in log
    if damage in ("active-unclean", "torn-tail"):
        assert "truncated" in log
    if damage in ("garbled-indexes", "missing-indexes", "missing-clean-marker", "torn-tail"):
        assert prefix == RECORDS, f"read {prefix} of {RECORDS}"
    # The partition keeps taking writes after the repair.
    producer = Producer({"bootstrap.servers": proc.bootstrap, "acks": "all"})
    producer.produce(TOPIC, value=b"after", partition=0)
    assert producer.flush(15) == 0
    proc.stop()


def _end_offset(bootstrap: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "end"})
    try:
        return int(consumer.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=10)[1])
    finally:
        consumer.close()
