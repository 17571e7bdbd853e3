"""Helpers of the consumer-group compat-tests (test_groups.py, test_group_tools.py,
test_consumer_protocol.py).

- PythonMember: group_member.py as a child process (one client library each),
  its JSON stdout parsed as it arrives (records, assignments, commits).
- JavaConsoleMember: Kafka 4.4.0's ConsoleConsumer --group as a child process,
  printing `Partition:p<TAB>Offset:o<TAB>value`; it commits with auto-commit
  (also on revoke and on close), which only the broker can show.
- GroupMonitor: polls DescribeGroups (kafka-python's admin) so assignments and
  their timing are seen from the broker's side, for every kind of member (a
  GroupPoller, the polling thread and waits it shares with
  consumer_protocol_support.ConsumerGroupMonitor).
- RateProducer: confluent-kafka, acks=all, idempotent, explicit partition i % n,
  at a fixed rate; remembers the acknowledged (partition, offset) -> value.
- the kill-and-leave scenario (test_groups.test_group_rebalance_kill_and_leave and
  test_consumer_protocol.test_kill_and_leave): its settings, the steps both tests
  take alike, and check_kill_and_leave(), the checks of what the members consumed.
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
from collections import defaultdict
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


class GroupPoller(threading.Thread):
    """Describes a group every `interval` s in a thread and keeps each answer (its `t`:
    when it came); all() reads them as Snapshots, so the same waits serve DescribeGroups
    (GroupMonitor) and describe_consumer_groups (consumer_protocol_support's
    ConsumerGroupMonitor). A subclass says how to ask (describe_once), how an answer
    reads as a Snapshot (snapshot_of) and shows in the history (shape_of)."""

    title = "?"  # what the history calls the answers
    history_lines = 30  # history()'s default length
    stop_wait = 10.0  # s stop() waits for the thread

    def __init__(self, name: str, interval: float) -> None:
        super().__init__(name=name, daemon=True)
        self.interval = interval
        self._answers: list[Any] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.halt = threading.Event()

    def describe_once(self) -> Any:
        raise NotImplementedError

    def snapshot_of(self, answer: Any) -> Snapshot:
        return answer  # GroupMonitor's answers are Snapshots

    def shape_of(self, answer: Any) -> str:
        return self.snapshot_of(answer).shape()

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                answer = self.describe_once()
                with self.lock:
                    self._answers.append(answer)
            except Exception as exc:  # a busy broker, a reconnect, a group not created yet
                with self.lock:
                    self.errors.append(repr(exc))
            self.halt.wait(self.interval)

    def stop(self) -> None:
        self.halt.set()
        self.join(self.stop_wait)

    def answers(self) -> list[Any]:
        with self.lock:
            return list(self._answers)

    def all(self) -> list[Snapshot]:
        return [self.snapshot_of(x) for x in self.answers()]

    def first_after(self, t: float, pred: Callable[[Snapshot], bool]) -> Snapshot | None:
        return next((s for s in self.all() if s.t >= t and pred(s)), None)

    def wait(self, pred: Callable[[Snapshot], bool], timeout: float, what: str,
             after: float = 0.0) -> Snapshot:
        return wait_for(lambda: self.first_after(after, pred), timeout, what, 0.05,
                        detail=self.history)

    def history(self, last: int | None = None) -> str:
        """Compressed history: one line per change of shape (the last `last` of them)."""
        lines, prev = [], None
        for x in self.answers():
            sh = self.shape_of(x)
            if sh != prev:
                lines.append(f"  {time.strftime('%H:%M:%S', time.localtime(x.t))}"
                             f".{int(x.t * 1000) % 1000:03d} {sh}")
                prev = sh
        errs = self.errors[-3:]
        return f"{self.title} history:\n" + "\n".join(
            lines[-(self.history_lines if last is None else last):]) + (
            f"\nlast errors: {errs}" if errs else "")


class GroupMonitor(GroupPoller):
    """DescribeGroups every `interval` s; keeps a Snapshot per answer (time = answer time)."""

    title = "DescribeGroups"

    def __init__(self, bootstrap: str, group: str, topic: str, interval: float = 0.2) -> None:
        super().__init__(f"monitor-{group}", interval)
        self.adm = GroupAdmin(bootstrap)
        self.group, self.topic = group, topic

    def describe_once(self) -> Snapshot:
        d = self.adm.describe(self.group)
        members, ids = {}, {}
        for mem in d["members"]:
            asg = mem["member_assignment"]
            parts = frozenset(p for t in (asg or {}).get("assigned_partitions", [])
                              if t["topic"] == self.topic for p in t["partitions"])
            members[mem["client_id"]] = parts
            ids[mem["client_id"]] = mem["member_id"]
        return Snapshot(time.time(), d["group_state"], members, ids)

    def stop(self) -> None:
        super().stop()
        self.adm.close()


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



# --------------------------------------------------------------------------- kill and leave
# The scenario of test_groups.test_group_rebalance_kill_and_leave, which
# test_consumer_protocol.test_kill_and_leave runs again with group.protocol=consumer
# (and classic clients for comparison). Each test drives the scenario; its settings,
# the steps both take alike and the checks of what the members consumed are here.
PARTITIONS = 6
TOTAL = 30_000
RATE = 1200.0  # msgs/s: 25 s of traffic, so the kill and the leave happen mid-stream
SESSION_MS = 6000  # group.min.session.timeout.ms default: the shortest a broker accepts
HEARTBEAT_MS = 500
KILL_DETECT_MIN = 5.0  # session timeout - heartbeat interval - 0.5 s slack
KILL_DETECT_MAX = 14.0
LEAVE_DETECT_MAX = 3.0  # half the session timeout
REBALANCE_SLACK = 2.0  # a commit's answer can land after the monitor saw the group stable

Windows = tuple[tuple[float, float], ...]  # (start, end) of the test's rebalances


def describe_failure(members: Iterable[MemberBase], mon: Any) -> str:
    """The monitor's history (a GroupMonitor or a ConsumerGroupMonitor; None: none) and
    the tail of each member's output, for an assertion message."""
    out = [mon.history()] if mon is not None else []
    out += [f"===== {m}: {m.n_records()} records\n{m.tail(25)}" for m in members]
    return "\n".join(out)


def by_partition(recs: Iterable[Rec], since: float = 0.0) -> dict[int, list[int]]:
    """partition -> offsets of the records seen at or after `since`, in arrival order."""
    out: dict[int, list[int]] = defaultdict(list)
    for p, o, _v, t in recs:
        if t >= since:
            out[p].append(o)
    return out


def member_errors(m: MemberBase, allowed: Callable[[dict[str, Any]], bool] = lambda _e: False
                  ) -> list[dict[str, Any]]:
    """A Python member's failed commits (but those `allowed` accepts), errors and
    unparsable lines; a Java member prints none of these."""
    if not isinstance(m, PythonMember):
        return []
    bad = [e for e in m.evs("commit_failed") if not allowed(e)]
    return bad + m.evs("error") + m.evs("garbage")


def stop_all(mon: Any, adm: GroupAdmin, members: Iterable[MemberBase],
             prod: RateProducer | None, producer_wait: float = 70.0) -> None:
    """A group test's teardown: the monitor, the admin, every member still running, and
    the producer given `producer_wait` s to finish."""
    mon.stop()
    adm.close()
    for m in members:
        m.close()
    if prod is not None:
        prod.done.wait(producer_wait)


def even_split(ids: set[str], each: int) -> Callable[[Snapshot], bool]:
    """A snapshot predicate: Stable, exactly the members `ids`, each owning `each` of the
    PARTITIONS partitions, all of them owned."""
    def ok(s: Snapshot) -> bool:
        parts = [p for ps in s.members.values() for p in ps]
        return (s.stable and set(s.members) == ids and sorted(parts) == list(range(PARTITIONS))
                and all(len(ps) == each for ps in s.members.values()))
    return ok


def wait_uncommitted(c: MemberBase, detail: Callable[[], str]) -> None:
    """Until a Python member C holds 30 consumed but uncommitted records on a partition,
    so that it dies between two of its commits (the Java member's commits can't be
    seen; its 1 s auto-commit leaves such a window most of the time)."""
    if not isinstance(c, PythonMember):
        return

    def uncommitted() -> bool:
        done = c.last_committed()
        return any(max(offs) + 1 - done.get(p, 0) >= 30
                   for p, offs in by_partition(c.recs()).items())

    wait_for(uncommitted, 10, "C to hold 30 consumed but uncommitted records", 0.01,
             detail=detail)


def check_kill_detected(mon: Any, c: MemberBase, t_kill: float, s2: Snapshot,
                        detail: Callable[[], str]) -> float:
    """C, SIGKILLed at t_kill, stayed in the group until its session could have expired,
    and the survivors owned its partitions (s2) within [KILL_DETECT_MIN, KILL_DETECT_MAX]
    s; returns how long that took."""
    early = [s for s in mon.all() if t_kill <= s.t < t_kill + KILL_DETECT_MIN
             and c.client_id not in s.members]
    assert not early, (f"C was dropped before its session timeout ({SESSION_MS} ms): "
                       f"{early[0].shape()} {early[0].t - t_kill:.2f} s after SIGKILL\n"
                       f"{detail()}")
    kill_dt = s2.t - t_kill
    assert KILL_DETECT_MIN <= kill_dt <= KILL_DETECT_MAX, (
        f"partitions of the killed member reassigned {kill_dt:.2f} s after SIGKILL, "
        f"expected within [{KILL_DETECT_MIN}, {KILL_DETECT_MAX}] s\n{detail()}")
    return kill_dt


def wait_took_over(survivors: Iterable[MemberBase], part_c: Iterable[int], t_kill: float,
                   detail: Callable[[], str]) -> None:
    """Until the survivors consumed a record of each of C's partitions after the kill."""
    def took_over() -> bool:
        got = by_partition([r for m in survivors for r in m.recs()], since=t_kill)
        return all(got.get(p) for p in part_c)

    wait_for(took_over, 20, "survivors to consume each partition C had", detail=detail)


def wait_committed_to_end(adm: GroupAdmin, group: str, topic: str,
                          expected: dict[tuple[int, int], str], partitions: int,
                          timeout: float, detail: Callable[[], str]) -> None:
    """Until the group's committed offset of every partition is its end (what the
    producer had acknowledged there)."""
    want = {p: sum(1 for pp, _o in expected if pp == p) for p in range(partitions)}
    wait_for(lambda: adm.committed(group, topic, range(partitions)) == want,
             timeout, f"the group to commit the end of every partition {want}", 0.5,
             detail=lambda: f"committed: "
             f"{adm.committed(group, topic, range(partitions))}\n{detail()}")


def b_leaves(mon: Any, a: MemberBase, b: MemberBase, exit_codes: tuple[int, ...],
             detail: Callable[[], str]) -> tuple[float, Snapshot]:
    """B gets SIGTERM: it commits and leaves, A owns all the PARTITIONS within
    LEAVE_DETECT_MAX s (a leave must not wait for the session timeout) and B exits with
    one of `exit_codes`. Returns (when B was told to leave, the snapshot of A owning all)."""
    t_leave = time.time()
    b.terminate()
    s3 = mon.wait(lambda s: s.stable and s.members == {a.client_id: frozenset(range(6))},
                  15, "A to own all 6 partitions after B left", after=t_leave)
    leave_dt = s3.t - t_leave
    rc_b = b.wait(30)
    assert rc_b in exit_codes, f"B exited with {rc_b} after SIGTERM\n{b.tail()}"
    assert leave_dt <= LEAVE_DETECT_MAX, (
        f"a clean leave took {leave_dt:.2f} s to rebalance (session timeout "
        f"{SESSION_MS / 1000} s): leaving should rebalance at once\n{detail()}")
    return t_leave, s3


def a_finishes(mon: Any, adm: GroupAdmin, group: str, topic: str, a: MemberBase,
               expected: dict[tuple[int, int], str], exit_codes: tuple[int, ...],
               detail: Callable[[], str]) -> float:
    """A, the last member, consumes to the end: the group commits the end of every
    partition, then A gets SIGTERM, exits with one of `exit_codes` and the group is
    Empty. Returns when A was told to leave."""
    wait_committed_to_end(adm, group, topic, expected, PARTITIONS, 40, detail)
    t_end = time.time()
    a.terminate()
    rc_a = a.wait(30)
    assert rc_a in exit_codes, f"A exited with {rc_a} after SIGTERM\n{a.tail()}"
    mon.wait(lambda s: s.state == "Empty" and not s.members, 15,
             "the group to be Empty after A left", after=t_end)
    return t_end


def resume_offsets(committed: dict[int, int]) -> dict[int, int]:
    """partition -> where a new owner starts: the committed offset, 0 without one."""
    return {p: (o if o >= 0 else 0) for p, o in committed.items()}


def check_kill_and_leave(members: list[MemberBase], expected: dict[tuple[int, int], str], *,
                         part_c: frozenset[int], committed_c: dict[int, int], t_kill: float,
                         s2: Snapshot, part_b: frozenset[int], t_leave: float, s3: Snapshot,
                         commit_race: Callable[[dict[str, Any], Windows], bool],
                         info: str) -> int:
    """What members A, B, C (in that order) consumed in the scenario; returns how many of
    C's records were delivered again.

    - every acknowledged record consumed with its produced value, none that was not
      produced;
    - nothing consumed twice but records C consumed at or after its committed offset
      (committed_c, read 1 s after the kill) that A or B then consumed again;
    - the survivors resumed each of C's partitions (part_c) exactly at that offset, and
      A each of B's (part_b, B committed on its clean leave) right after B's last record;
    - no Python member saw an error or a failed commit, but those `commit_race(event,
      rebalances)` accepts, rebalances being the kill's and the leave's windows.
    """
    a, b, c = members
    seen: dict[tuple[int, int], list[tuple[float, str]]] = defaultdict(list)
    wrong = []
    for m in members:
        for p, o, v, t in m.recs():
            seen[(p, o)].append((t, m.name))
            if expected.get((p, o)) != v:
                wrong.append((m.name, p, o, v, expected.get((p, o))))
    assert not wrong, f"records with a value that was not produced there: {wrong[:5]}"
    missing = sorted(set(expected) - set(seen))
    assert not missing, (f"{len(missing)} of {len(expected)} acknowledged records never "
                         f"consumed (a gap); first (partition, offset): {missing[:10]}\n{info}")
    extra = sorted(set(seen) - set(expected))
    assert not extra, f"consumed records that were never produced: {extra[:10]}"

    c_recs = by_partition(c.recs())
    start_after_kill = resume_offsets(committed_c)
    redelivered, bad_dups = 0, []
    for (p, o), who in seen.items():
        if len(who) == 1:
            continue
        names = [n for _t, n in sorted(who)]
        allowed = (len(names) == 2 and names[0] == "C" and names[1] in ("A", "B") and p in part_c
                   and p in c_recs and start_after_kill[p] <= o <= max(c_recs[p]))
        if allowed:
            redelivered += 1
        else:
            bad_dups.append(((p, o), sorted(who)))
    assert not bad_dups, (
        f"{len(bad_dups)} records consumed more than once that are not C's uncommitted "
        f"records (C's committed offsets at death: {committed_c}); first: {sorted(bad_dups)[:8]}"
        f"\n{info}")

    # resume points: C's partitions exactly at C's committed offset; B's right after B's last
    surv = by_partition(a.recs() + b.recs(), since=t_kill)
    for p in part_c:
        assert min(surv[p]) == start_after_kill[p], (
            f"after the kill, partition {p} resumed at {min(surv[p])}, "
            f"C's committed offset was {committed_c[p]}\n{info}")
    b_recs = by_partition(b.recs())
    a_after_leave = by_partition(a.recs(), since=t_leave)
    for p in part_b:
        if p in b_recs and p in a_after_leave:
            assert min(a_after_leave[p]) == max(b_recs[p]) + 1, (
                f"after B left, A resumed partition {p} at {min(a_after_leave[p])}; B's last "
                f"record there was {max(b_recs[p])}\n{info}")

    rebalances = ((t_kill + KILL_DETECT_MIN, s2.t + REBALANCE_SLACK),
                  (t_leave, s3.t + REBALANCE_SLACK))
    for m in members:
        bad = member_errors(m, lambda e: commit_race(e, rebalances))
        assert not bad, f"{m}: {bad[:3]}"
    return redelivered
