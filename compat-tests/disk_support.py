"""A small real file system for the disk-full compat-tests, and the bookkeeping
that checks what clients were told against what they can read.

- SmallDisk: a tmpfs of a few MiB mounted for one test (root only, as CI runs),
  with a filler file that takes all but a chosen number of free bytes and is
  removed again when "space returns".
- Ledger: every record a producer was acknowledged for (offset -> value) and
  every record it was refused; `check_read` holds what a consumer saw to it:
  nothing read that was not acknowledged at that offset, nothing acknowledged
  missing.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

_PAGE = 4096


class SmallDisk:
    def __init__(self, root: Path, size_mib: int) -> None:
        self.root = root
        self.filler = root / "filler"
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", str(root)],
                       check=True, capture_output=True, text=True)

    @property
    def free(self) -> int:
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    def fill(self, leave: int = 0) -> None:
        """Take all free space but `leave` bytes (rounded to pages) with the filler."""
        have = self.filler.stat().st_size if self.filler.exists() else 0
        want = have + self.free - leave
        with open(self.filler, "ab") as f:
            if want > have:
                os.posix_fallocate(f.fileno(), 0, want - want % _PAGE)
        assert self.free <= leave + _PAGE, (self.free, leave)

    def make_room(self) -> None:
        self.filler.unlink(missing_ok=True)

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.root)], check=False, capture_output=True)


@contextmanager
def small_disk(root: Path, size_mib: int) -> Iterator[SmallDisk]:
    disk = SmallDisk(root, size_mib)
    try:
        yield disk
    finally:
        disk.unmount()


@dataclass
class Ledger:
    acked: dict[int, bytes] = field(default_factory=dict)
    refused: list[tuple[bytes, str]] = field(default_factory=list)

    def check_read(self, read: dict[int, bytes]) -> None:
        wrong = {o: v for o, v in read.items() if self.acked.get(o) != v}
        assert not wrong, (f"{len(wrong)} records read that were not acknowledged at their "
                           f"offset (first: {sorted(wrong.items())[:3]})")
        missing = sorted(set(self.acked) - set(read))
        assert not missing, f"{len(missing)} acknowledged records missing: {missing[:10]}"


class SyncProducer:
    """confluent-kafka with acks=all and no retries, one record at a time, so each
    record is either acknowledged at an offset or refused, never in between."""

    def __init__(self, bootstrap: str) -> None:
        self.producer = Producer({
            "bootstrap.servers": bootstrap, "acks": "all", "retries": 0,
            "enable.idempotence": False, "linger.ms": 0, "message.timeout.ms": 10_000,
            "request.timeout.ms": 5_000, "compression.type": "none",
        })

    def send(self, topic: str, value: bytes, ledger: Ledger) -> KafkaError | None:
        result: list[KafkaError | int] = []

        def done(err: KafkaError | None, msg: object) -> None:
            result.append(err if err is not None else msg.offset())  # type: ignore[attr-defined]

        self.producer.produce(topic, value=value, partition=0, on_delivery=done)
        self.producer.flush(15)
        assert result, "no delivery report within 15 s"
        outcome = result[0]
        if isinstance(outcome, KafkaError):
            ledger.refused.append((value, outcome.name()))
            return outcome
        ledger.acked[outcome] = value
        return None


class Watcher(threading.Thread):
    """A consumer that reads a partition from the beginning for as long as it runs
    (CRC checks off, as some clients run) and remembers every record it saw."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(name=f"watch-{topic}", daemon=True)
        self.consumer = Consumer({
            "bootstrap.servers": bootstrap, "group.id": f"watch-{topic}-{time.time_ns()}",
            "enable.auto.commit": False, "check.crcs": False, "fetch.wait.max.ms": 100,
        })
        self.consumer.assign([TopicPartition(topic, 0, 0)])
        self.read: dict[int, bytes] = {}
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            msg = self.consumer.poll(0.1)
            if msg is None:
                continue
            if msg.error():
                self.errors.append(msg.error().name())
                continue
            offset, value = msg.offset(), msg.value()
            seen = self.read.setdefault(offset, value)
            assert seen == value, f"offset {offset} read as two different values"
        self.consumer.close()

    def finish(self) -> dict[int, bytes]:
        self.stop.set()
        self.join(30)
        return dict(self.read)


def read_partition(bootstrap: str, topic: str, end: int, timeout: float = 60) -> dict[int, bytes]:
    """Every record of partition 0 below `end`."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{time.time_ns()}",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    out: dict[int, bytes] = {}
    deadline = time.monotonic() + timeout
    while len(out) < end and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            out[msg.offset()] = msg.value()
    consumer.close()
    return out


def end_offset(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "end-offsets"})
    try:
        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        return int(high)
    finally:
        consumer.close()
