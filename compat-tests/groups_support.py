"""Helpers of the consumer-group compat-tests (test_groups.py, test_group_tools.py).

- PythonMember: group_member.py as a child process (one client library each),
  its JSON stdout parsed as it arrives (records, assignments, commits).
- JavaConsoleMember: Kafka 4.4.0's ConsoleConsumer --group as a child process,
  printing `Partition:p<TAB>Offset:o<TAB>value`; it commits with auto-commit
  (also on revoke and on close), which only the broker can show.
- GroupMonitor: polls DescribeGroups (kafka-python's admin) so assignments and
  their timing are seen from the broker's side, for every kind of member.
- RateProducer: confluent-kafka, acks=all, idempotent, explicit partition i % n,
  at a fixed rate; remembers the acknowledged (partition, offset) -> value.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from harness import KafkaTools
from kafka import TopicPartition
from kafka.admin import KafkaAdminClient

COMPAT_DIR = Path(__file__).resolve().parent
MEMBER_SCRIPT = COMPAT_DIR / "group_member.py"
CONSOLE_CONSUMER = "org.apache.kafka.tools.consumer.ConsoleConsumer"
GROUP_COMMAND = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"

Rec = tuple[int, int, str, float]  # partition, offset, value, time seen


def wait_for(pred: Callable[[], Any], timeout: float, what: str,
             interval: float = 0.05, detail: Callable[[], str] | None = None) -> Any:
    """Poll pred until it returns something truthy (returned); AssertionError after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > deadline:
            extra = f"\n{detail()}" if detail else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{extra}")
        time.sleep(interval)


# --------------------------------------------------------------------------- members
class MemberBase:
    """A member process: stdout parsed by a thread, stderr to a file, killable."""

    kind = "?"

    def __init__(self, name: str, client_id: str, log_dir: Path) -> None:
        self.name = name
        self.client_id = client_id
        self.out_path = log_dir / f"member-{client_id}.out"
        self.err_path = log_dir / f"member-{client_id}.err"
        self.proc: subprocess.Popen[bytes] | None = None
        self.lock = threading.Lock()
        self.records: list[Rec] = []
        self.events: list[dict[str, Any]] = []
        self._reader: threading.Thread | None = None

    def _start(self, cmd: list[str], env: dict[str, str] | None = None) -> None:
        errf = open(self.err_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            self.proc = subprocess.Popen(cmd, cwd=COMPAT_DIR, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=errf, env=env)
        finally:
            errf.close()
        self._reader = threading.Thread(target=self._pump, daemon=True,
                                        name=f"member-{self.client_id}")
        self._reader.start()

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with open(self.out_path, "ab") as raw:
            for line in self.proc.stdout:
                raw.write(line)
                raw.flush()
                self._line(line.decode("utf-8", "replace").rstrip("\n"), time.time())

    def _line(self, line: str, now: float) -> None:
        raise NotImplementedError

    # -- control ------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no commit, no LeaveGroup."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._join()

    def terminate(self) -> None:
        """SIGTERM: the member commits and leaves the group cleanly (LeaveGroup)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self} did not exit within {timeout:.0f} s\n{self.tail()}") \
                from None
        self._join()
        return rc

    def close(self) -> None:
        """Teardown: SIGKILL whatever is still running (only this process)."""
        if self.alive:
            self.kill()
        self._join()

    def _join(self) -> None:
        if self._reader is not None:
            self._reader.join(5)

    # -- observations -------------------------------------------------------
    def n_records(self) -> int:
        with self.lock:
            return len(self.records)

    def recs(self) -> list[Rec]:
        with self.lock:
            return list(self.records)

    def evs(self, kind: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.events if kind is None or e["e"] == kind]

    def tail(self, n: int = 40) -> str:
        parts = []
        for path in (self.err_path, self.out_path):
            try:
                lines = path.read_text("utf-8", "replace").splitlines()
            except FileNotFoundError:
                lines = []
            lines = [x if len(x) < 400 else x[:400] + "..." for x in lines[-n:]]
            parts.append(f"--- {path.name} (last {n}) ---\n" + "\n".join(lines))
        return "\n".join(parts)

    def __str__(self) -> str:
        return f"member {self.name} ({self.kind}, client.id={self.client_id})"


class PythonMember(MemberBase):
    def __init__(self, client: str, name: str, client_id: str, log_dir: Path, bootstrap: str,
                 topic: str, group: str, strategy: str = "range", **opts: Any) -> None:
        super().__init__(name, client_id, log_dir)
        self.kind = client if strategy == "range" else f"{client}/{strategy}"
        cmd = [sys.executable, str(MEMBER_SCRIPT), "--client", client, "--bootstrap", bootstrap,
               "--topic", topic, "--group", group, "--client-id", client_id,
               "--strategy", strategy]
        for k, v in opts.items():
            cmd += [f"--{k.replace('_', '-')}", str(v)]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self._start(cmd, env)

    def _line(self, line: str, now: float) -> None:
        try:
            ev = json.loads(line)
        except ValueError:
            ev = {"e": "garbage", "t": now, "line": line}
        with self.lock:
            self.events.append(ev)
            if ev["e"] == "recs":
                self.records.extend((p, o, v, ev["t"]) for p, o, v in ev["r"])

    def owned(self) -> set[int]:
        """The member's own view of its assignment (last assigned/revoked/lost event)."""
        for ev in reversed(self.evs()):
            if ev["e"] in ("assigned", "revoked", "lost"):
                return set(ev["owned"])
        return set()

    def commits(self) -> list[dict[str, Any]]:
        return self.evs("commit")

    def last_committed(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for ev in self.commits():
            out.update({int(p): o for p, o in ev["offsets"].items()})
        return out


JAVA_LINE = re.compile(r"^Partition:(\d+)\tOffset:(\d+)\t(.*)$")


class JavaConsoleMember(MemberBase):
    """kafka-console-consumer --group: EAGER range (its default assignor list is
    [RangeAssignor, CooperativeStickyAssignor], so the group runs range, eager),
    enable.auto.commit=true (interval 1 s here), which also commits on revoke and close."""

    kind = "java-console"

    def __init__(self, tools: KafkaTools, name: str, client_id: str, log_dir: Path,
                 bootstrap: str, topic: str, group: str, session_timeout_ms: int = 6000,
                 heartbeat_interval_ms: int = 500, commit_interval_ms: int = 1000,
                 group_protocol: str = "classic") -> None:
        super().__init__(name, client_id, log_dir)
        props: dict[str, object] = {"client.id": client_id,
                                    "auto.commit.interval.ms": commit_interval_ms}
        if group_protocol == "classic":
            props.update({"session.timeout.ms": session_timeout_ms,
                          "heartbeat.interval.ms": heartbeat_interval_ms})
        else:  # KIP-848: the Java consumer refuses both (the broker decides them)
            props["group.protocol"] = group_protocol
            self.kind = f"java-console/{group_protocol}"
        cmd = [tools.java, "-Xmx256m", "-Djava.awt.headless=true", "-XX:TieredStopAtLevel=1",
               "-XX:+UseSerialGC", "-cp", f"{tools.libs}/*",
               f"-Dlog4j2.configurationFile={tools.LOG_CONFIG}", CONSOLE_CONSUMER,
               "--bootstrap-server", bootstrap, "--topic", topic, "--group", group,
               "--from-beginning", "--formatter-property", "print.partition=true",
               "--formatter-property", "print.offset=true"]
        for k, v in props.items():
            cmd += ["--consumer-property", f"{k}={v}"]
        self._start(cmd)

    def _line(self, line: str, now: float) -> None:
        m = JAVA_LINE.match(line)
        with self.lock:
            if m:
                self.records.append((int(m.group(1)), int(m.group(2)), m.group(3), now))
            else:
                self.events.append({"e": "line", "t": now, "line": line})


# --------------------------------------------------------------------------- broker side
# Group reads use kafka-python's admin: librdkafka 2.16's AdminClient
# list_consumer_group_offsets crashes the process (SIGSEGV in rd_kafka_cgrp_op,
# called from rd_kafka_handle_OffsetFetch on an admin handle that has no cgrp)
# when OffsetFetch answers a retriable coordinator error such as
# COORDINATOR_LOAD_IN_PROGRESS, which a just-started real Kafka does.
NO_COMMIT = -1  # OffsetFetch's committed_offset when the group has none for a partition


class GroupAdmin:
    """OffsetFetch and DescribeGroups through kafka-python's KafkaAdminClient."""

    def __init__(self, bootstrap: str) -> None:
        self.client = KafkaAdminClient(bootstrap_servers=bootstrap,
                                       client_id="compat-groups-admin", request_timeout_ms=15000)

    def committed(self, group: str, topic: str, partitions: Iterable[int],
                  retry_for: float = 20.0) -> dict[int, int]:
        """partition -> committed offset (NO_COMMIT if none); retries errors for retry_for s
        (coordinator loading after a restart, not reconnected yet)."""
        tps = [TopicPartition(topic, p) for p in partitions]
        deadline = time.monotonic() + retry_for
        while True:
            try:
                res = self.client.list_group_offsets({group: tps})[group]
                return {tp.partition: om.offset for tp, om in res.items()}
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def describe(self, group: str) -> dict[str, Any]:
        return self.client.describe_groups([group])[group]

    def close(self) -> None:
        self.client.close()


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    adm = AdminClient({"bootstrap.servers": bootstrap, "client.id": "compat-groups-admin"})
    fs = adm.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)],
                           request_timeout=30, operation_timeout=30)
    fs[topic].result(timeout=40)

    def ready() -> bool:
        t = adm.list_topics(topic=topic, timeout=5).topics.get(topic)
        return (t is not None and t.error is None and len(t.partitions) == partitions
                and all(p.leader >= 0 for p in t.partitions.values()))

    wait_for(ready, 20, f"topic {topic} with {partitions} partitions and leaders", 0.1)


@dataclass(frozen=True)
class Snapshot:
    t: float
    state: str  # Kafka's names: Stable, PreparingRebalance, CompletingRebalance, Empty, Dead
    members: dict[str, frozenset[int]]  # client.id -> assigned partitions (of the topic)
    member_ids: dict[str, str] = field(default_factory=dict)  # client.id -> member id

    @property
    def stable(self) -> bool:
        return self.state == "Stable"

    def shape(self) -> str:
        return f"{self.state} " + " ".join(
            f"{c}:{sorted(p)}" for c, p in sorted(self.members.items()))


class GroupMonitor(threading.Thread):
    """DescribeGroups every `interval` s; keeps a Snapshot per answer (time = answer time)."""

    def __init__(self, bootstrap: str, group: str, topic: str, interval: float = 0.2) -> None:
        super().__init__(name=f"monitor-{group}", daemon=True)
        self.adm = GroupAdmin(bootstrap)
        self.group, self.topic, self.interval = group, topic, interval
        self.snaps: list[Snapshot] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                d = self.adm.describe(self.group)
                members, ids = {}, {}
                for mem in d["members"]:
                    asg = mem["member_assignment"]
                    parts = frozenset(p for t in (asg or {}).get("assigned_partitions", [])
                                      if t["topic"] == self.topic for p in t["partitions"])
                    members[mem["client_id"]] = parts
                    ids[mem["client_id"]] = mem["member_id"]
                snap = Snapshot(time.time(), d["group_state"], members, ids)
                with self.lock:
                    self.snaps.append(snap)
            except Exception as exc:  # a busy broker, a reconnect
                with self.lock:
                    self.errors.append(repr(exc))
            self.halt.wait(self.interval)

    def stop(self) -> None:
        self.halt.set()
        self.join(10)
        self.adm.close()

    def all(self) -> list[Snapshot]:
        with self.lock:
            return list(self.snaps)

    def first_after(self, t: float, pred: Callable[[Snapshot], bool]) -> Snapshot | None:
        return next((s for s in self.all() if s.t >= t and pred(s)), None)

    def wait(self, pred: Callable[[Snapshot], bool], timeout: float, what: str,
             after: float = 0.0) -> Snapshot:
        return wait_for(lambda: self.first_after(after, pred), timeout, what, 0.05,
                        detail=self.history)

    def history(self, last: int = 30) -> str:
        """Compressed history: one line per change of shape."""
        lines, prev = [], None
        for s in self.all():
            sh = s.shape()
            if sh != prev:
                lines.append(f"  {time.strftime('%H:%M:%S', time.localtime(s.t))}"
                             f".{int(s.t * 1000) % 1000:03d} {sh}")
                prev = sh
        errs = self.errors[-3:]
        return "DescribeGroups history:\n" + "\n".join(lines[-last:]) + (
            f"\nlast errors: {errs}" if errs else "")


class RateProducer(threading.Thread):
    """Produce values b"m%06d" % i to partition i % partitions at `rate` msgs/s."""

    def __init__(self, bootstrap: str, topic: str, total: int, partitions: int,
                 rate: float, start_index: int = 0) -> None:
        super().__init__(name="rate-producer", daemon=True)
        self.topic, self.total, self.partitions, self.rate = topic, total, partitions, rate
        self.start_index = start_index
        self.producer = Producer({"bootstrap.servers": bootstrap, "client.id": "compat-groups",
                                  "acks": "all", "enable.idempotence": True,
                                  "linger.ms": 5, "message.timeout.ms": 60000})
        self.lock = threading.Lock()
        self.acked: dict[tuple[int, int], str] = {}
        self.errors: list[str] = []
        self.sent = 0
        self.done = threading.Event()

    def _cb(self, err, msg) -> None:  # noqa: ANN001
        with self.lock:
            if err is not None:
                self.errors.append(str(err))
            else:
                self.acked[(msg.partition(), msg.offset())] = msg.value().decode()

    def run(self) -> None:
        try:
            t0 = time.monotonic()
            for i in range(self.start_index, self.start_index + self.total):
                k = i - self.start_index
                ahead = t0 + k / self.rate - time.monotonic()
                if ahead > 0:
                    self.producer.poll(ahead)
                while True:
                    try:
                        self.producer.produce(self.topic, value=b"m%06d" % i,
                                              partition=i % self.partitions, on_delivery=self._cb)
                        break
                    except BufferError:
                        self.producer.poll(0.05)
                self.sent += 1
                self.producer.poll(0)
            left = self.producer.flush(60)
            if left:
                with self.lock:
                    self.errors.append(f"{left} messages not delivered after flush(60)")
        except Exception as exc:
            with self.lock:
                self.errors.append(f"producer thread: {exc!r}")
        finally:
            self.producer = None  # type: ignore[assignment]  # librdkafka handle freed
            self.done.set()

    def result(self, timeout: float) -> dict[tuple[int, int], str]:
        assert self.done.wait(timeout), f"producer not done after {timeout:.0f} s"
        with self.lock:
            assert not self.errors, f"produce errors: {self.errors[:5]}"
            assert len(self.acked) == self.total, f"{len(self.acked)} of {self.total} acked"
            return dict(self.acked)


def produce_now(bootstrap: str, topic: str, per_partition: dict[int, int],
                prefix: str = "m") -> dict[tuple[int, int], str]:
    """Produce per_partition[p] values to each partition p; return (p, offset) -> value."""
    prod = Producer({"bootstrap.servers": bootstrap, "client.id": "compat-groups",
                     "acks": "all", "enable.idempotence": True, "linger.ms": 5})
    acked: dict[tuple[int, int], str] = {}
    errors: list[str] = []

    def cb(err, msg) -> None:  # noqa: ANN001
        if err is not None:
            errors.append(str(err))
        else:
            acked[(msg.partition(), msg.offset())] = msg.value().decode()

    for p, n in per_partition.items():
        for i in range(n):
            prod.produce(topic, value=f"{prefix}-{p}-{i:06d}".encode(), partition=p,
                         on_delivery=cb)
            prod.poll(0)
    assert prod.flush(60) == 0, "produce: not all delivered in 60 s"
    assert not errors, errors[:5]
    return acked

