"""Load generators and checkers for cluster fault tests (test_cluster_failover.py).

- CkProducerLoad: confluent-kafka (librdkafka), enable.idempotence=true,
  acks=all, paced, values "<prefix>-<seq>" to partition seq % partitions, from
  a thread; remembers every acknowledgement (partition, offset, seq, wall time)
  and every delivery error.
- JavaProducerLoad: the same with Kafka's Java producer, a small program
  (compat-tests/java/AckedProducer.java, compiled once per source + jar set
  into ~/.cache/kwire/acked-producer/<hash>) that prints each acknowledgement.
- GroupConsumers: a consumer group of N confluent-kafka consumers (one thread
  each, auto commit), remembering which offsets the group was given and every
  commit the coordinator accepted.
- Checks: `read_log` reads every partition from its start with a fresh
  consumer; `check_exactly_once` says every acknowledged value is stored once,
  at its acknowledged offset, each producer's values in order per partition,
  and nothing is stored that no producer sent. `longest_gap` is the produce
  stall a fault caused: the longest time between consecutive acknowledgements
  of one partition that overlaps a window (`clip`: counted from the fault on).
  `dump_acks` writes the acknowledgements out for a failure's post-mortem.
- ClusterView: leaders, controller and live brokers from Metadata, through one
  AdminClient per bootstrap string.

Times are wall-clock seconds (time.time()), so the Java program's
acknowledgement times (System.currentTimeMillis) compare with Python's.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

COMPAT_DIR = Path(__file__).resolve().parent
JAVA_SOURCE = COMPAT_DIR / "java" / "AckedProducer.java"
LOG_CONFIG = COMPAT_DIR / "tools-log4j2.properties"
CACHE_ROOT = (Path(os.environ.get("KWIRE_CACHE", Path.home() / ".cache" / "kwire"))
              / "acked-producer")


class Ack(NamedTuple):
    partition: int
    # -1: acknowledged without an offset. librdkafka's idempotent producer does
    # that when a request whose outcome it did not learn (a connection broken
    # under it) is followed by one that succeeded: the first one's records were
    # stored, so it reports them delivered, with no offset (rd_kafka_dr_implicit_ack).
    offset: int
    seq: int
    t: float  # wall-clock seconds


def wait_until(condition: Callable[[], bool], timeout: float, what: str,
               every: float = 0.1) -> float:
    """Poll until `condition()`; the seconds it took (AssertionError after `timeout`)."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, f"timed out ({timeout:.0f} s) waiting for {what}"
        time.sleep(every)
    return time.monotonic() - start


class ProducerLoad:
    """What both producers share: acknowledgements, errors, and queries on them."""

    name = "producer"

    def __init__(self, prefix: str, partitions: int) -> None:
        self.prefix = prefix
        self.partitions = partitions
        self.lock = threading.Lock()
        self.acks: list[Ack] = []
        self.errors: list[str] = []
        self.sent = 0
        self._last_ack: dict[int, float] = {}

    def _acked(self, ack: Ack) -> None:
        with self.lock:
            self.acks.append(ack)
            self._last_ack[ack.partition] = max(ack.t, self._last_ack.get(ack.partition, 0.0))

    def _failed(self, what: str) -> None:
        with self.lock:
            self.errors.append(what)

    def n_acked(self) -> int:
        with self.lock:
            return len(self.acks)

    def acked_everywhere_since(self, t: float) -> bool:
        """Every partition has an acknowledgement later than `t`."""
        with self.lock:
            return all(self._last_ack.get(p, 0.0) > t for p in range(self.partitions))

    def max_acked_offsets(self) -> dict[int, int]:
        with self.lock:
            out: dict[int, int] = {}
            for a in self.acks:
                out[a.partition] = max(out.get(a.partition, -1), a.offset)
            return out

    def without_offset(self) -> int:
        """Acknowledgements that came without an offset (see Ack)."""
        with self.lock:
            return sum(1 for a in self.acks if a.offset < 0)

    def snapshot(self) -> tuple[list[Ack], list[str]]:
        with self.lock:
            return list(self.acks), list(self.errors)

    def value(self, seq: int) -> bytes:
        return f"{self.prefix}-{seq}".encode()


class CkProducerLoad(ProducerLoad):
    """confluent-kafka, idempotent, acks=all, `rate` records a second from a thread."""

    name = "confluent-kafka"

    def __init__(self, bootstrap: str, topic: str, partitions: int, rate: float,
                 prefix: str = "ck", config: dict[str, Any] | None = None) -> None:
        super().__init__(prefix, partitions)
        self.topic = topic
        self.rate = rate
        self.config = {
            "bootstrap.servers": bootstrap, "client.id": f"cluster-load-{prefix}",
            "enable.idempotence": True, "acks": "all", "linger.ms": 5,
            # Generous: librdkafka retries through a failover instead of failing.
            "message.timeout.ms": 120_000,
            "reconnect.backoff.ms": 100, "reconnect.backoff.max.ms": 1000,
            **(config or {}),
        }
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"producer-{prefix}", daemon=True)
        self.unflushed = 0

    def start(self) -> CkProducerLoad:
        self._thread.start()
        return self

    def _on_delivery(self, err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            self._failed(f"{msg.value()!r} to partition {msg.partition()}: {err}")
        else:
            seq = int(msg.value().decode().rsplit("-", 1)[1])
            offset = msg.offset()
            self._acked(Ack(msg.partition(), -1 if offset is None else offset, seq, time.time()))

    def _run(self) -> None:
        producer = Producer(self.config)
        started = time.monotonic()
        try:
            while not self._stop.is_set():
                if self.sent >= (time.monotonic() - started) * self.rate:
                    producer.poll(0.005)
                    continue
                try:
                    producer.produce(self.topic, self.value(self.sent),
                                     partition=self.sent % self.partitions,
                                     on_delivery=self._on_delivery)
                    self.sent += 1
                except BufferError:
                    producer.poll(0.05)
                producer.poll(0)
            self.unflushed = producer.flush(90)
        except Exception as exc:  # surfaced through .errors
            self._failed(f"producer thread: {exc!r}")

    def stop(self, timeout: float = 120) -> None:
        """Stop producing; wait until every record is acknowledged or failed."""
        self._stop.set()
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"{self.name} did not finish flushing"
        if self.unflushed:
            self._failed(f"{self.unflushed} records neither acknowledged nor failed after flush")


# -- the Java producer ---------------------------------------------------------------

def compile_acked_producer(libs: Path) -> Path:
    """javac AckedProducer.java into CACHE_ROOT/<hash of source and jar names>, once
    (a lock file and an atomic rename keep parallel runs from seeing half a build)."""
    javac = shutil.which("javac")
    assert javac is not None, "javac not found on PATH (Debian: openjdk-17-jdk-headless)"
    jars = sorted(p.name for p in Path(libs).glob("*.jar"))
    key = hashlib.sha256(JAVA_SOURCE.read_bytes() + "\n".join(jars).encode()).hexdigest()[:16]
    target = CACHE_ROOT / key
    if (target / "AckedProducer.class").exists():
        return target
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    with open(CACHE_ROOT / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "AckedProducer.class").exists():
            return target
        work = Path(tempfile.mkdtemp(prefix=f"{key}-", dir=CACHE_ROOT))
        p = subprocess.run([javac, "-nowarn", "-cp", f"{libs}/*", "-d", str(work),
                            str(JAVA_SOURCE)], capture_output=True, text=True, timeout=180,
                           stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            shutil.rmtree(work, ignore_errors=True)
            raise AssertionError(f"javac {JAVA_SOURCE} failed:\n{p.stdout}{p.stderr}")
        shutil.rmtree(target, ignore_errors=True)
        work.rename(target)
    return target


class JavaProducerLoad(ProducerLoad):
    """Kafka's Java producer (AckedProducer.java) in a JVM of its own; its stdout
    is read by a thread, its stderr goes to `log_path`."""

    name = "java"

    def __init__(self, java: str, libs: Path, bootstrap: str, topic: str, partitions: int,
                 rate: float, log_path: Path, prefix: str = "java",
                 config: dict[str, str] | None = None) -> None:
        super().__init__(prefix, partitions)
        classes = compile_acked_producer(libs)
        props = {"reconnect.backoff.max.ms": "1000", "retry.backoff.ms": "100",
                 "max.block.ms": "120000", **(config or {})}
        self.cmd = [java, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                    "-Djava.net.preferIPv4Stack=true",
                    f"-Dlog4j2.configurationFile={LOG_CONFIG}",
                    "-cp", f"{classes}:{libs}/*", "AckedProducer",
                    bootstrap, topic, str(partitions), str(rate), prefix,
                    *(f"{k}={v}" for k, v in props.items())]
        self.log_path = log_path
        self.proc: subprocess.Popen[str] | None = None
        self._ready = threading.Event()
        self._done = threading.Event()
        self._reader: threading.Thread | None = None

    def start(self) -> JavaProducerLoad:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as err:
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=err, text=True, bufsize=1)
        self._reader = threading.Thread(target=self._read, args=(self.proc.stdout,),
                                        name=f"producer-{self.prefix}", daemon=True)
        self._reader.start()
        if not self._ready.wait(60):
            self.proc.kill()
            raise AssertionError(f"the Java producer did not start:\n{self.log_tail()}")
        return self

    def _read(self, stdout: IO[str] | None) -> None:
        assert stdout is not None
        for line in stdout:
            kind, _, rest = line.rstrip("\n").partition(" ")
            if kind == "A":
                partition, offset, seq, ms = rest.split()
                self._acked(Ack(int(partition), int(offset), int(seq), int(ms) / 1000))
            elif kind == "E":
                self._failed(rest)
            elif kind == "READY":
                self._ready.set()
            elif kind == "DONE":
                self.sent = int(rest)
                self._done.set()
        self._ready.set()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text("utf-8", "replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout: float = 120) -> None:
        """Tell the program to stop; it flushes (every record acknowledged or failed)."""
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write("stop\n")
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"the Java producer did not finish within {timeout:.0f} s\n"
                                 f"{self.log_tail()}") from None
        assert self._reader is not None
        self._reader.join(10)
        assert rc == 0 and self._done.is_set(), (
            f"the Java producer exited {rc} (DONE seen: {self._done.is_set()})\n{self.log_tail()}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


# -- the consumer group ---------------------------------------------------------------

@dataclass
class Commit:
    t: float
    offsets: dict[int, int]


@dataclass
class GroupConsumers:
    """`members` confluent-kafka consumers in group `group_id` reading `topic` with
    auto commit; what they were given and what the coordinator accepted."""

    bootstrap: str
    topic: str
    group_id: str
    members: int = 3
    config: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    seen: dict[int, set[int]] = field(default_factory=dict)  # partition -> offsets given
    commits: list[Commit] = field(default_factory=list)
    commit_errors: list[tuple[float, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    consumed: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> GroupConsumers:
        for i in range(self.members):
            t = threading.Thread(target=self._run, args=(i,), name=f"member-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def _on_commit(self, err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        now = time.time()
        with self.lock:
            if err is not None:
                self.commit_errors.append((now, str(err)))
                return
            offsets = {tp.partition: tp.offset for tp in partitions
                       if tp.error is None and tp.offset >= 0 and tp.topic == self.topic}
            if offsets:
                self.commits.append(Commit(now, offsets))

    def _run(self, index: int) -> None:
        consumer = Consumer({
            "bootstrap.servers": self.bootstrap, "group.id": self.group_id,
            "client.id": f"{self.group_id}-member-{index}",
            "auto.offset.reset": "earliest", "enable.auto.commit": True,
            "auto.commit.interval.ms": 500, "on_commit": self._on_commit,
            **self.config,
        })
        try:
            consumer.subscribe([self.topic])
            while not self._stop.is_set():
                msg = consumer.poll(0.2)
                if msg is None:
                    continue
                if msg.error():
                    if msg.error().code() != KafkaError._PARTITION_EOF:
                        with self.lock:
                            self.errors.append(f"member {index}: {msg.error()}")
                    continue
                with self.lock:
                    self.seen.setdefault(msg.partition(), set()).add(msg.offset())
                    self.consumed += 1
        except Exception as exc:
            with self.lock:
                self.errors.append(f"member {index}: {exc!r}")
        finally:
            consumer.close()  # commits the final positions and leaves the group

    def stop(self, timeout: float = 60) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout)
        assert not any(t.is_alive() for t in self._threads), "a group member did not close"

    def committed_since(self, t: float) -> dict[int, int]:
        """The highest offset each partition had committed by a commit after `t`."""
        out: dict[int, int] = {}
        with self.lock:
            for c in self.commits:
                if c.t > t:
                    for p, o in c.offsets.items():
                        out[p] = max(out.get(p, -1), o)
        return out

    def committed_past(self, targets: dict[int, int], after: float) -> float | None:
        """The first time by which commits made after `after` reached `targets`
        (partition -> offset) on every partition named; None if not (yet)."""
        with self.lock:
            commits = sorted((c for c in self.commits if c.t > after), key=lambda c: c.t)
        best: dict[int, int] = {}
        for c in commits:
            for p, o in c.offsets.items():
                best[p] = max(best.get(p, -1), o)
            if all(best.get(p, -1) >= o for p, o in targets.items()):
                return c.t
        return None

    def seen_offsets(self) -> dict[int, set[int]]:
        with self.lock:
            return {p: set(s) for p, s in self.seen.items()}


def committed_offsets(bootstrap: str, group_id: str, topic: str, partitions: int,
                      timeout: float = 10) -> dict[int, int]:
    """The group's committed offsets as the coordinator answers OffsetFetch (-1: none)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group_id,
                         "enable.auto.commit": False})
    try:
        got = consumer.committed([TopicPartition(topic, p) for p in range(partitions)],
                                 timeout=timeout)
        return {tp.partition: tp.offset for tp in got}
    finally:
        consumer.close()


# -- what Metadata says -------------------------------------------------------------

class ClusterView:
    """Metadata answers through one AdminClient per bootstrap string (a new
    client per question would cost threads and connections every 0.1 s)."""

    def __init__(self) -> None:
        self._admins: dict[str, AdminClient] = {}

    def admin(self, bootstrap: str) -> AdminClient:
        if bootstrap not in self._admins:
            self._admins[bootstrap] = AdminClient({
                "bootstrap.servers": bootstrap, "socket.timeout.ms": 5000,
                "client.id": "cluster-view"})
        return self._admins[bootstrap]

    def leaders(self, bootstrap: str, topic: str, timeout: float = 5) -> dict[int, int]:
        """partition -> leader node id (-1: none) from a Metadata request."""
        md = self.admin(bootstrap).list_topics(topic=topic, timeout=timeout)
        return {p: pm.leader for p, pm in md.topics[topic].partitions.items()}

    def controller_id(self, bootstrap: str, timeout: float = 5) -> int:
        return int(self.admin(bootstrap).list_topics(timeout=timeout).controller_id)

    def broker_ids(self, bootstrap: str, timeout: float = 5) -> set[int]:
        return set(self.admin(bootstrap).list_topics(timeout=timeout).brokers)


def leader_counts(leaders_: dict[int, int]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for leader in leaders_.values():
        counts[leader] = counts.get(leader, 0) + 1
    return counts


# -- checks -------------------------------------------------------------------------

def read_log(bootstrap: str, topic: str, partitions: int, timeout: float = 90
             ) -> dict[int, list[tuple[int, bytes]]]:
    """Every (offset, value) of every partition, from its start to its high
    watermark, read by one fresh consumer (assign, no group membership)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-reader",
                         "enable.auto.commit": False, "enable.partition.eof": True,
                         "fetch.max.bytes": 8 << 20})
    try:
        ends: dict[int, int] = {}
        starts: dict[int, int] = {}
        for p in range(partitions):
            starts[p], ends[p] = consumer.get_watermark_offsets(TopicPartition(topic, p),
                                                                timeout=30)
        consumer.assign([TopicPartition(topic, p, starts[p]) for p in range(partitions)])
        out: dict[int, list[tuple[int, bytes]]] = {p: [] for p in range(partitions)}
        done = {p for p in range(partitions) if ends[p] <= starts[p]}
        deadline = time.monotonic() + timeout
        while len(done) < partitions:
            assert time.monotonic() < deadline, "reading back stopped: " + str(
                [(p, out[p][-1:], ends[p]) for p in out if p not in done])
            for msg in consumer.consume(1000, 1.0):
                if msg.error():
                    assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
                    continue
                p = msg.partition()
                if p in done:
                    continue
                out[p].append((msg.offset(), msg.value()))
                if msg.offset() >= ends[p] - 1:
                    done.add(p)
        return out
    finally:
        consumer.close()


@dataclass
class LogCheck:
    stored: int
    acknowledged: int
    unacknowledged_stored: int  # sent, not acknowledged (only with delivery errors)


def check_exactly_once(log: dict[int, list[tuple[int, bytes]]],
                       loads: Iterable[ProducerLoad]) -> LogCheck:
    """Every acknowledged value is stored exactly once, at its acknowledged
    partition and offset (in its partition, for one acknowledged without an
    offset); each producer's values are in production order in each partition;
    every stored value was sent by one of `loads`."""
    loads = list(loads)
    by_prefix = {ld.prefix: ld for ld in loads}
    where: dict[bytes, list[tuple[int, int]]] = {}
    at: dict[tuple[int, int], bytes] = {}
    for p, records in log.items():
        last_seq: dict[str, int] = {}
        for offset, value in records:
            where.setdefault(value, []).append((p, offset))
            at[(p, offset)] = value
            prefix, _, seq_text = value.decode().rpartition("-")
            load = by_prefix.get(prefix)
            assert load is not None and seq_text.isdigit() and int(seq_text) < load.sent, (
                f"partition {p} offset {offset} holds {value!r}, which no producer sent")
            seq = int(seq_text)
            assert seq % load.partitions == p, f"{value!r} is in partition {p}"
            assert seq > last_seq.get(prefix, -1), (
                f"partition {p}: {value!r} at offset {offset} after {prefix}-{last_seq[prefix]} "
                "(out of production order)")
            last_seq[prefix] = seq
    dups = {v: w for v, w in where.items() if len(w) > 1}
    assert not dups, f"{len(dups)} values stored more than once, e.g. {list(dups.items())[:5]}"
    acknowledged = 0
    for load in loads:
        acks, errors = load.snapshot()
        acknowledged += len(acks)
        assert len({a.seq for a in acks}) == len(acks), f"{load.name}: a record acknowledged twice"
        missing = [a for a in acks if (at.get((a.partition, a.offset)) != load.value(a.seq)
                                       if a.offset >= 0
                                       else where.get(load.value(a.seq), [(-1, -1)])[0][0]
                                       != a.partition)]
        assert not missing, (
            f"{load.name}: {len(missing)} of {len(acks)} acknowledged records are not stored at "
            f"their acknowledged offset, e.g. "
            f"{[(a, at.get((a.partition, a.offset))) for a in missing[:5]]}")
    stored = len(where)
    return LogCheck(stored, acknowledged, stored - acknowledged)


@dataclass
class Gap:
    seconds: float
    producer: str
    partition: int
    start: float  # wall time of the acknowledgement before the gap

    def describe(self) -> str:
        return (f"{self.seconds:.2f} s ({self.producer}, partition {self.partition}, "
                f"from {time.strftime('%H:%M:%S', time.localtime(self.start))}"
                f".{int(self.start % 1 * 1000):03d})")


def longest_gap(loads: Iterable[ProducerLoad], start: float, end: float,
                clip: bool = False) -> Gap:
    """The longest time between consecutive acknowledgements of one partition (of
    one producer) among the gaps that overlap [start, end]; a partition without an
    acknowledgement after its last one before `end` counts up to `end`. `clip`:
    gaps are counted from `start` at the earliest (the time a partition went
    without acknowledgement *after* a fault at `start`: what a stall before the
    fault added is left out)."""
    best = Gap(0.0, "", -1, start)
    for load in loads:
        acks, _errors = load.snapshot()
        times: dict[int, list[float]] = {}
        for a in acks:
            times.setdefault(a.partition, []).append(a.t)
        for p in range(load.partitions):
            ts = sorted(times.get(p, []))
            before = [t for t in ts if t <= start]
            prev = before[-1] if before and not clip else start
            for t in [t for t in ts if t > start] + [end]:
                if t - prev > best.seconds:
                    best = Gap(t - prev, load.name, p, prev)
                if t >= end:
                    break
                prev = t
    return best


def dump_acks(loads: Iterable[ProducerLoad], directory: Path) -> None:
    """Each producer's acknowledgements as CSV (partition, offset, seq, wall time),
    for looking into a failure afterwards."""
    directory.mkdir(parents=True, exist_ok=True)
    for load in loads:
        acks, errors = load.snapshot()
        with open(directory / f"acks-{load.prefix}.csv", "w") as f:
            f.write("partition,offset,seq,t\n")
            f.writelines(f"{a.partition},{a.offset},{a.seq},{a.t:.3f}\n" for a in acks)
        (directory / f"errors-{load.prefix}.txt").write_text("\n".join(errors))
