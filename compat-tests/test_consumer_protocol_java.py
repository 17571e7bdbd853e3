"""The KIP-848 consumer group protocol with Kafka 4.4's own Java clients: the
KafkaConsumer with group.protocol=consumer and the AdminClient's
describeConsumerGroups (ConsumerGroupDescribe), through compat-tests/java/
ProtocolConsumer.java (compiled once per module into a pytest tmp dir).

Every test runs against a *target* broker (the module's `target` fixture, as in
test_consumer_protocol.py), started with consumer_protocol_support.TARGET_SETTINGS:
  [kwire]   a kwire of the module's own (--bootstrap: that broker; --process-broker
            kafka: a reference Kafka);
  [kafka44] a real Apache Kafka 4.4.0 from the Maven jars -- only with KWIRE_VS_KAFKA=1.

    .venv/bin/python -m pytest compat-tests/test_consumer_protocol_java.py -k kwire
    KWIRE_VS_KAFKA=1 .venv/bin/python -m pytest compat-tests/test_consumer_protocol_java.py

1. test_split_and_handover: two ProtocolConsumer processes in one group on a
   4-partition topic split it 2/2; records produced after the split (confluent-kafka,
   acks=all) are each consumed exactly once; the first consumer stops after a count
   that ends inside its partitions and closes (leaves); the second then owns all 4
   partitions and resumes exactly at the first one's committed offsets: across both,
   no record twice, none missing; in the end every partition is committed to its end.
2. test_java_admin_describe: while both consumers run, Kafka's Java AdminClient
   describeConsumerGroups sees type CONSUMER, state STABLE, assignor "uniform", two
   members (client ids, member epochs, assignment == target assignment) whose
   assignments are what each consumer reports and cover the 4 partitions; after both
   closed: CONSUMER, EMPTY, no members.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest
from confluent_kafka import Consumer, TopicPartition
from consumer_protocol_support import require_kip848, target_fixture
from groups_support import create_topic, produce_now, wait_for
from harness import COMPAT_DIR, KafkaTools

pytestmark = [pytest.mark.slow, pytest.mark.java]

SOURCE = COMPAT_DIR / "java" / "ProtocolConsumer.java"
LOG_CONFIG = COMPAT_DIR / "tools-log4j2.properties"
PARTITIONS = 4


# --------------------------------------------------------------------------- fixtures
target = target_fixture("kip848-java")  # kwire, or (KWIRE_VS_KAFKA=1) a Kafka 4.4 reference


@dataclass(frozen=True)
class JavaProgram:
    java: str
    libs: Path
    classes: Path

    def cmd(self, *args: str) -> list[str]:
        return [self.java, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-Djava.net.preferIPv4Stack=true", f"-Dlog4j2.configurationFile={LOG_CONFIG}",
                "-cp", f"{self.classes}:{self.libs}/*", "ProtocolConsumer", *args]


@pytest.fixture(scope="module")
def program(kafka_tools: KafkaTools, tmp_path_factory: pytest.TempPathFactory) -> JavaProgram:
    """ProtocolConsumer.java compiled against Kafka 4.4's jars ($KWIRE_KAFKA_LIBS, else
    KafkaTools.locate()'s), once per module. No JDK is a failure, not a skip."""
    javac = shutil.which("javac")
    if javac is None:
        pytest.fail("javac not found on PATH (Debian: openjdk-17-jdk-headless)", pytrace=False)
    libs = Path(os.environ.get("KWIRE_KAFKA_LIBS") or kafka_tools.libs)
    if not any(libs.glob("kafka-clients-*.jar")):
        pytest.fail(f"{libs} holds no kafka-clients jar", pytrace=False)
    classes = tmp_path_factory.mktemp("protocol-consumer-classes")
    p = subprocess.run([javac, "-nowarn", "-cp", f"{libs}/*", "-d", str(classes), str(SOURCE)],
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        pytest.fail(f"javac {SOURCE} failed:\n{p.stdout}{p.stderr}", pytrace=False)
    return JavaProgram(kafka_tools.java, libs, classes)


# --------------------------------------------------------------------------- processes
class JavaProc:
    """A ProtocolConsumer JVM: stdout lines parsed (with arrival time) by a thread,
    stderr to a file; close() ends it if it has not stopped by itself."""

    def __init__(self, name: str, cmd: list[str], log_dir: Path, stdin_pipe: bool = False) -> None:
        self.name = name
        self.cmd = cmd
        self.err_path = log_dir / f"{name}.err"
        self.lines: list[tuple[float, str]] = []
        self.lock = threading.Lock()
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1,
                stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL)
        self.reader = threading.Thread(target=self._read, args=(self.proc.stdout,),
                                       name=f"read-{name}", daemon=True)
        self.reader.start()

    def _read(self, stdout: IO[str] | None) -> None:
        assert stdout is not None
        for line in stdout:
            with self.lock:
                self.lines.append((time.time(), line.rstrip("\n")))

    def snapshot(self) -> list[tuple[float, str]]:
        with self.lock:
            return list(self.lines)

    def wait(self, timeout: float, what: str) -> int:
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} did not {what} within {timeout:.0f} s\n"
                                 f"{self.tail()}") from None
        self.reader.join(5)
        return rc

    def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        if self.proc.poll() is None:
            try:
                self.proc.wait(3 if self.proc.stdin is not None else 0.01)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
        self.reader.join(5)

    def tail(self, n: int = 30) -> str:
        out = [line for _t, line in self.snapshot()][-n:]
        err = self.err_path.read_text(errors="replace").splitlines()[-n:] \
            if self.err_path.exists() else []
        return (f"===== {self.name} (rc {self.proc.poll()}) stdout, last {n} lines:\n"
                + "\n".join(out) + f"\n----- {self.name} stderr, last {n} lines:\n"
                + "\n".join(err))


@dataclass
class ConsumerView:
    records: list[tuple[int, int, str, float]] = field(default_factory=list)  # p, o, v, t
    owned: frozenset[int] = frozenset()
    owned_history: list[tuple[float, frozenset[int]]] = field(default_factory=list)
    commits: dict[int, int] = field(default_factory=dict)  # last committed offset per partition
    errors: list[str] = field(default_factory=list)
    final: str | None = None  # done N / timeout ... / error ...


def parse_partitions(text: str) -> set[int]:
    return set() if text in ("-", "") else {int(p) for p in text.split(",")}


class JavaConsumer(JavaProc):
    def __init__(self, program: JavaProgram, name: str, log_dir: Path, bootstrap: str,
                 group: str, topic: str, expected: int, timeout_s: float,
                 instance_id: str | None = None) -> None:
        args = [bootstrap, group, topic, str(expected), str(timeout_s), "--client-id", name]
        if instance_id:
            args += ["--instance-id", instance_id]
        super().__init__(name, program.cmd(*args), log_dir)

    def view(self) -> ConsumerView:
        v = ConsumerView()
        owned: set[int] = set()
        for t, line in self.snapshot():
            kind, _, rest = line.partition(" ")
            if kind[:1].isdigit():
                o, _, value = rest.partition(" ")
                v.records.append((int(kind), int(o), value, t))
            elif kind == "assigned":
                owned |= parse_partitions(rest)
                v.owned_history.append((t, frozenset(owned)))
            elif kind in ("revoked", "lost"):
                owned -= parse_partitions(rest)
                v.owned_history.append((t, frozenset(owned)))
            elif kind == "committed":
                for po in rest.split(","):
                    p, o = po.split(":")
                    v.commits[int(p)] = int(o)
            elif kind in ("done", "timeout"):
                v.final = line
            elif kind == "error":
                v.errors.append(line)
                v.final = v.final or line
        v.owned = frozenset(owned)
        return v


@dataclass(frozen=True)
class Member:
    client_id: str
    member_id: str
    instance_id: str | None
    epoch: int | None
    assigned: frozenset[int]
    target: frozenset[int] | None


@dataclass(frozen=True)
class Description:
    t: float
    type: str
    state: str
    assignor: str
    group_epoch: int | None
    target_epoch: int | None
    members: tuple[Member, ...]

    def shape(self) -> str:
        ms = " ".join(f"{m.client_id}(e{m.epoch})={sorted(m.assigned)}"
                      f"{'' if m.target == m.assigned else f'->{sorted(m.target or [])}'}"
                      for m in sorted(self.members, key=lambda m: m.client_id))
        return (f"{self.type} {self.state} assignor={self.assignor} epoch={self.group_epoch}/"
                f"{self.target_epoch} [{ms}]")


def _opt_int(s: str) -> int | None:
    return None if s == "-" else int(s)


def _parts(s: str) -> frozenset[int]:
    return frozenset() if s == "-" else frozenset(int(p) for p in s.split("."))


def parse_description(t: float, line: str) -> Description:
    fields = dict(f.split("=", 1) for f in line.split(" ")[1:])
    members = []
    if fields["members"] != "-":
        for m in fields["members"].split(";"):
            client, member_id, instance, epoch, assigned, target = m.split("|")
            members.append(Member(client, member_id, None if instance == "-" else instance,
                                  _opt_int(epoch), _parts(assigned),
                                  None if target == "-" else _parts(target)))
    return Description(t, fields["type"], fields["state"], fields["assignor"],
                       _opt_int(fields["group_epoch"]), _opt_int(fields["target_epoch"]),
                       tuple(members))


class JavaDescriber(JavaProc):
    """describeConsumerGroups (Kafka's Java AdminClient) every 200 ms until closed."""

    def __init__(self, program: JavaProgram, log_dir: Path, bootstrap: str, group: str,
                 topic: str, max_s: float) -> None:
        super().__init__("describer", program.cmd("--describe", bootstrap, group, topic,
                                                  "200", str(max_s)),
                         log_dir, stdin_pipe=True)

    def descriptions(self) -> list[Description]:
        return [parse_description(t, line) for t, line in self.snapshot()
                if line.startswith("describe ")]

    def history(self, last: int = 30) -> str:
        lines, prev = [], None
        for t, line in self.snapshot():
            sh = parse_description(t, line).shape() if line.startswith("describe ") else line
            if sh != prev:
                lines.append(f"  {time.strftime('%H:%M:%S', time.localtime(t))}"
                             f".{int(t * 1000) % 1000:03d} {sh}")
                prev = sh
        return "Java describeConsumerGroups history:\n" + "\n".join(lines[-last:])

    def wait_for(self, pred: Callable[[Description], bool], timeout: float, what: str,
                 after: float = 0.0) -> Description:
        def found() -> Description | None:
            return next((d for d in self.descriptions() if d.t >= after and pred(d)), None)
        d: Description = wait_for(found, timeout, what, 0.05,
                                  detail=lambda: self.history() + "\n" + self.tail(10))
        return d


def wait_split(consumers: list[JavaConsumer], timeout: float) -> dict[str, frozenset[int]]:
    """Until the consumers' callbacks show the partitions split evenly and disjointly."""
    def split() -> dict[str, frozenset[int]] | None:
        owned = {c.name: c.view().owned for c in consumers}
        union = set().union(*owned.values())
        even = all(len(s) == PARTITIONS // len(consumers) for s in owned.values())
        return owned if even and union == set(range(PARTITIONS)) else None
    owned: dict[str, frozenset[int]] = wait_for(
        split, timeout, f"the {PARTITIONS} partitions split evenly over "
        f"{[c.name for c in consumers]}", 0.05,
        detail=lambda: "\n".join(c.tail() for c in consumers))
    return owned


def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "enable.auto.commit": False})
    try:
        tps = c.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        c.close()


# --------------------------------------------------------------------------- 1. split, hand over
PHASE1 = 50   # records per partition produced once the group is split 2/2
PHASE2 = 25   # per partition, once the second consumer owns all 4
A_COUNT = 60  # A stops inside its 2 x PHASE1 records: B must resume mid-partition


@pytest.mark.timeout(90)
def test_split_and_handover(target: str, program: JavaProgram, tmp_path: Path,
                            topic_name: str) -> None:
    require_kip848(target)
    t0 = time.monotonic()
    group = f"g-{topic_name}"
    create_topic(target, topic_name, PARTITIONS)
    total = PARTITIONS * (PHASE1 + PHASE2)
    a = JavaConsumer(program, "consumer-a", tmp_path, target, group, topic_name, A_COUNT, 30)
    b = JavaConsumer(program, "consumer-b", tmp_path, target, group, topic_name,
                     total - A_COUNT, 40)
    procs = [a, b]
    try:
        split = wait_split([a, b], 20)
        a_parts, b_parts = split["consumer-a"], split["consumer-b"]
        produced = produce_now(target, topic_name, dict.fromkeys(range(PARTITIONS), PHASE1),
                               prefix="p1")

        assert a.wait(25, f"consume {A_COUNT} records and exit") == 0, a.tail()
        t_a_exit = time.time()
        av = a.view()
        assert av.final == f"done {A_COUNT}" and not av.errors, a.tail()
        # A stopped consuming (and began to close) here; B may own A's partitions from then on
        t_a_done = next(t for t, line in a.snapshot() if line.startswith("done "))

        # A left cleanly: B takes over A's partitions and ends up owning all 4.
        wait_for(lambda: b.view().owned == frozenset(range(PARTITIONS)), 15,
                 "consumer-b to own all 4 partitions after consumer-a left", 0.05,
                 detail=lambda: b.tail())
        produced.update(produce_now(target, topic_name,
                                    dict.fromkeys(range(PARTITIONS), PHASE2), prefix="p2"))
        assert len(produced) == total

        assert b.wait(25, f"consume {total - A_COUNT} records and exit") == 0, \
            a.tail() + "\n" + b.tail()
        bv = b.view()
        assert bv.final == f"done {total - A_COUNT}" and not bv.errors, b.tail()
    finally:
        for proc in procs:
            proc.close()

    detail = "\n" + a.tail(15) + "\n" + b.tail(15)
    # Before the handover every record went to the partition's owner of the 2/2 split.
    assert {p for p, _o, _v, _t in av.records} <= a_parts, f"A read outside {sorted(a_parts)}"
    early_b = {p for p, _o, _v, t in bv.records if t < t_a_done}
    assert early_b <= b_parts, f"B read {sorted(early_b - b_parts)} before A left{detail}"
    # Exactly once across both: no record twice, none missing, values as produced.
    seen = Counter((p, o) for p, o, _v, _t in av.records + bv.records)
    dups = sorted(k for k, n in seen.items() if n > 1)
    missing = sorted(set(produced) - set(seen))
    extra = sorted(set(seen) - set(produced))
    assert not dups, f"{len(dups)} records consumed twice, first {dups[:10]}{detail}"
    assert not missing, f"{len(missing)} records never consumed, first {missing[:10]}{detail}"
    assert not extra, f"records consumed that were never produced: {extra[:10]}{detail}"
    wrong = [(p, o, v) for p, o, v, _t in av.records + bv.records if produced[(p, o)] != v]
    assert not wrong, f"values differ from what was produced: {wrong[:5]}"
    # B resumed each of A's partitions exactly at A's last committed offset.
    for p in sorted(a_parts):
        a_next = av.commits.get(p, 0)
        a_last = max((o for q, o, _v, _t in av.records if q == p), default=-1)
        assert a_next == a_last + 1, f"A committed {a_next} on {p}, its last record {a_last}"
        b_first = min((o for q, o, _v, _t in bv.records if q == p), default=None)
        expected_first = a_next if a_next < PHASE1 + PHASE2 else None
        assert b_first == expected_first, (
            f"partition {p}: A committed offset {a_next}, B's first record there is "
            f"{b_first}{detail}")
    # B's partitions: read in order from 0, without gaps (A never had them after the split).
    for p in range(PARTITIONS):
        offs = [o for q, o, _v, _t in bv.records if q == p]
        assert offs == sorted(offs), f"B read partition {p} out of order"
    # Everything is committed to the end.
    assert committed(target, group, topic_name) == dict.fromkeys(range(PARTITIONS),
                                                                PHASE1 + PHASE2)
    t_b_all = next(t for t, owned in bv.owned_history
                   if t >= t_a_done and len(owned) == PARTITIONS)
    print(f"\nsplit A={sorted(a_parts)} B={sorted(b_parts)}; A read {len(av.records)}, "
          f"B {len(bv.records)}; B owned all 4 {t_b_all - t_a_done:.2f} s after A stopped "
          f"consuming (A's JVM exited {t_a_exit - t_a_done:.2f} s after that); "
          f"test {time.monotonic() - t0:.1f} s")


# --------------------------------------------------------------------------- 2. Java admin describe
PER_PARTITION = 5


@pytest.mark.timeout(90)
def test_java_admin_describe(target: str, program: JavaProgram, tmp_path: Path,
                             topic_name: str) -> None:
    require_kip848(target)
    t0 = time.monotonic()
    group = f"g-{topic_name}"
    create_topic(target, topic_name, PARTITIONS)
    share = PER_PARTITION * PARTITIONS // 2
    describer = JavaDescriber(program, tmp_path, target, group, topic_name, 40)
    a = JavaConsumer(program, "consumer-a", tmp_path, target, group, topic_name, share, 30)
    b = JavaConsumer(program, "consumer-b", tmp_path, target, group, topic_name, share, 30)
    procs = [describer, a, b]
    try:
        split = wait_split([a, b], 20)

        def stable_two(d: Description) -> bool:
            return (len(d.members) == 2 and d.state == "STABLE"
                    and all(m.assigned == m.target for m in d.members)
                    and {m.client_id: m.assigned for m in d.members} == split)
        d = describer.wait_for(stable_two, 15, "a STABLE description with both members "
                               "owning what their rebalance listeners report")
        assert d.type == "CONSUMER", describer.history()
        assert d.assignor == "uniform", describer.history()
        union = frozenset().union(*(m.assigned for m in d.members))
        assert union == frozenset(range(PARTITIONS))
        assert all(len(m.assigned) == 2 for m in d.members)
        assert all(m.epoch is not None and m.epoch > 0 for m in d.members), d
        assert d.group_epoch is not None and d.target_epoch == d.group_epoch, d
        assert all(m.epoch == d.group_epoch for m in d.members), d
        assert len({m.member_id for m in d.members}) == 2
        assert all(m.instance_id is None for m in d.members), d
        # The group had no other shape: every answer was a consumer group, none an error.
        assert all(x.type == "CONSUMER" for x in describer.descriptions()), describer.history()

        produce_now(target, topic_name, dict.fromkeys(range(PARTITIONS), PER_PARTITION))
        for c in (a, b):
            assert c.wait(20, f"consume {share} records and exit") == 0, c.tail()
            v = c.view()
            assert v.final == f"done {share}", c.tail()
            assert {p for p, _o, _v, _t in v.records} == split[c.name], c.tail()
        t_closed = time.time()

        empty = describer.wait_for(lambda d: not d.members, 15,
                                   "the group without members after both consumers closed",
                                   after=t_closed)
        assert (empty.type, empty.state) == ("CONSUMER", "EMPTY"), describer.history()
        errors = [line for _t, line in describer.snapshot() if line.startswith("describe-error")]
        describer.close()
        assert describer.proc.returncode == 0, describer.tail()
    finally:
        for proc in procs:
            proc.close()
    print(f"\n{d.shape()}\nthen {empty.shape()}; describe errors before the group existed: "
          f"{sorted(set(e.split(':')[0] for e in errors))}; test {time.monotonic() - t0:.1f} s")
