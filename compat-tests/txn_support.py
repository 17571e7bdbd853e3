"""Helpers for the transaction compat-tests (test_transactions.py,
test_transaction_crash.py, test_transaction_tools.py).

- create_topics: AdminClient create + wait for leaders.
- Sentinels: a read_committed consumer cannot tell "no more committed data"
  from "the LSO is stuck" by itself, so after the transactions under test a
  plain (non-transactional) producer appends one sentinel record to each
  partition. It is readable only once every transaction before it in that
  partition has ended (LSO past it), so reading until every partition's
  sentinel is a bounded, exact end: nothing before it is still to come.
- read_until_sentinels: every record of the given partitions up to their
  sentinel, with a chosen isolation level.
- compile_java: javac a compat-tests/java/*.java program against the Kafka
  jars once (cached by source + jar names, as cluster_load does for
  AckedProducer.java).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

from cluster_load import wait_until
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

COMPAT_DIR = Path(__file__).resolve().parent
JAVA_DIR = COMPAT_DIR / "java"
LOG_CONFIG = COMPAT_DIR / "tools-log4j2.properties"
CACHE_ROOT = Path(os.environ.get("KWIRE_CACHE", Path.home() / ".cache" / "kwire")) / "txn-java"
SENTINEL = b"__sentinel__"

TP = tuple[str, int]


def create_topics(bootstrap: str, topics: dict[str, int],
                  configs: dict[str, str] | None = None) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, "client.id": "compat-txn-admin"})
    fs = admin.create_topics([NewTopic(t, num_partitions=n, replication_factor=1,
                                       config=dict(configs or {})) for t, n in topics.items()],
                             request_timeout=30, operation_timeout=30)
    for f in fs.values():
        f.result(timeout=40)

    def ready() -> bool:
        md = admin.list_topics(timeout=5)
        for name, n in topics.items():
            t = md.topics.get(name)
            if t is None or t.error is not None or len(t.partitions) != n:
                return False
            if any(p.leader < 0 for p in t.partitions.values()):
                return False
        return True

    wait_until(ready, 30, f"topics {sorted(topics)} to have leaders")


def txn_producer(bootstrap: str, transactional_id: str, **extra: object) -> Producer:
    conf: dict[str, object] = {"bootstrap.servers": bootstrap,
                               "transactional.id": transactional_id,
                               "client.id": f"compat-txn-{transactional_id[:40]}",
                               "linger.ms": 5}
    conf.update(extra)
    return Producer(conf)


def write_sentinels(bootstrap: str, tps: Iterable[TP]) -> None:
    """One SENTINEL record per partition, idempotent and acks=all, not transactional."""
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                  "client.id": "compat-txn-sentinel"})
    errors: list[str] = []

    def cb(err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            errors.append(str(err))

    for topic, part in tps:
        p.produce(topic, SENTINEL, partition=part, on_delivery=cb)
    left = p.flush(30)
    assert left == 0 and not errors, f"sentinels: {left} unflushed, errors {errors}"


def read_until_sentinels(bootstrap: str, tps: Iterable[TP], isolation: str,
                         timeout: float = 60.0) -> dict[TP, list[bytes]]:
    """Values of every record before each partition's first SENTINEL, in offset order."""
    tps = list(tps)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"compat-txn-r-{uuid.uuid4().hex}",
                  "enable.auto.commit": False, "isolation.level": isolation,
                  "client.id": "compat-txn-reader", "fetch.wait.max.ms": 100})
    try:
        c.assign([TopicPartition(t, p, 0) for t, p in tps])
        out: dict[TP, list[bytes]] = {tp: [] for tp in tps}
        done: set[TP] = set()
        deadline = time.monotonic() + timeout
        while len(done) < len(tps):
            assert time.monotonic() < deadline, (
                f"{isolation} reader: no sentinel within {timeout:.0f} s in "
                f"{sorted(set(tps) - done)}; read so far: "
                f"{ {tp: len(v) for tp, v in out.items()} }")
            for m in c.consume(500, 0.5):
                if m.error() is not None:
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise AssertionError(f"{isolation} reader: {m.error()}")
                tp = (m.topic(), m.partition())
                if tp in done:
                    continue
                if m.value() == SENTINEL:
                    done.add(tp)
                else:
                    out[tp].append(m.value())
        return out
    finally:
        c.close()


def compile_java(source_name: str, libs: Path) -> Path:
    """javac compat-tests/java/<source_name> into CACHE_ROOT/<hash>, once; the class dir."""
    source = JAVA_DIR / source_name
    javac = shutil.which("javac")
    assert javac is not None, "javac not found on PATH (Debian: openjdk-17-jdk-headless)"
    jars = sorted(p.name for p in Path(libs).glob("*.jar"))
    key = hashlib.sha256(source.read_bytes() + "\n".join(jars).encode()).hexdigest()[:16]
    target = CACHE_ROOT / f"{source.stem}-{key}"
    marker = target / f"{source.stem}.class"
    if marker.exists():
        return target
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    with open(CACHE_ROOT / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            return target
        work = Path(tempfile.mkdtemp(prefix=f"{key}-", dir=CACHE_ROOT))
        p = subprocess.run([javac, "-nowarn", "-cp", f"{libs}/*", "-d", str(work), str(source)],
                           capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            shutil.rmtree(work, ignore_errors=True)
            raise AssertionError(f"javac {source} failed:\n{p.stdout}{p.stderr}")
        shutil.rmtree(target, ignore_errors=True)
        work.rename(target)
    return target


def java_command(java: str, classes: Path, libs: Path, main: str, *args: str) -> list[str]:
    return [java, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-Djava.net.preferIPv4Stack=true", f"-Dlog4j2.configurationFile={LOG_CONFIG}",
            "-cp", f"{classes}:{libs}/*", main, *args]
