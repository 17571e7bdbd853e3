"""The KIP-848 consumer group protocol (ConsumerGroupHeartbeat 68, ConsumerGroupDescribe
69; `group.protocol=consumer` on the clients), end to end with real clients.

Every test runs against a *target* broker (the `target` fixture, one per module and
parameter), started with consumer_protocol_support.TARGET_SETTINGS:
group.coordinator.rebalance.protocols=classic,consumer, and the consumer protocol's
session timeout 6 s / heartbeat interval 500 ms (Kafka's defaults, 45 s / 5 s, are
also its minimums, so they must be lowered as settings):
  [kwire]  a kwire of the module's own (or, with --bootstrap, that broker; with
           --process-broker kafka, a reference Kafka);
  [kafka44] a real Apache Kafka 4.4.0 from the Maven jars -- only with KWIRE_VS_KAFKA=1
           (CI does not set it): the reference that defines what is right.

    KWIRE_VS_KAFKA=1 .venv/bin/pytest compat-tests/test_consumer_protocol.py -k kafka44 -s
    .venv/bin/pytest compat-tests/test_consumer_protocol.py -k kwire -s

Consumer-protocol cases first check that the broker advertises APIs 68 and 69 and fail
at once, with that reason, when it does not.

1. test_kill_and_leave[target-kind]: the classic test_groups scenario (3 member
   processes, 6 partitions, 30,000 records at 1,200/s while consuming; SIGKILL of C,
   clean close of B) for librdkafka and the Java console consumer with
   group.protocol=consumer, and the same harness with group.protocol=classic for the
   pause comparison. Checks: no gap, no re-delivery except C's records after its last
   commit, A ends owning all 6 partitions with everything committed; with the consumer
   protocol the untouched member A never loses a partition (incremental, broker-side
   assignment) and the survivors keep what they had. Prints (and emits as a
   `KIP848_REPORT {json}` line) A's longest pause while records were flowing.
2. test_console_consumer_and_describe[target]: kafka-console-consumer with
   group.protocol=consumer reads N records; kafka-consumer-groups --list --type,
   --describe (--state [--verbose], --members [--verbose], offsets) as Kafka 4.4 shows
   a consumer group: Consumer type, uniform assignor, Stable/Empty, epochs, assignment.
3. test_regex_subscription[target]: a librdkafka consumer subscribed to
   `^orders-<id>-.*` (sent to the broker as SubscribedTopicRegex) gets a topic created
   after it joined and consumes what is produced there.
4. test_static_member_restart[target]: a member with group.instance.id closes and comes
   back within the session timeout: same partitions, the other member untouched.
5. test_upgrade_downgrade[target]: a classic group (2 librdkafka `range` members;
   Kafka 4.4 refuses to upgrade a librdkafka cooperative-sticky group: "userData from a
   custom assignor would be lost", GROUP_ID_NOT_FOUND to the heartbeat) is upgraded
   online when a consumer-protocol member joins, members replaced one by one, then
   downgraded back to classic; records produced throughout; nothing
   lost, no duplicate except records after the last commit of a handed-over partition.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer
from consumer_protocol_support import (
    ConsumerGroupMonitor,
    admin,
    describe,
    longest_pause,
    report_line,
    require_kip848,
    target_fixture,
)
from groups_support import (
    CONSOLE_CONSUMER,
    GROUP_COMMAND,
    HEARTBEAT_MS,
    JAVA_LINE,
    KILL_DETECT_MAX,
    PARTITIONS,
    RATE,
    REBALANCE_SLACK,
    SESSION_MS,
    TOTAL,
    GroupAdmin,
    JavaConsoleMember,
    MemberBase,
    PythonMember,
    RateProducer,
    a_finishes,
    b_leaves,
    check_kill_and_leave,
    check_kill_detected,
    create_topic,
    describe_failure,
    even_split,
    member_errors,
    produce_now,
    stop_all,
    wait_committed_to_end,
    wait_for,
    wait_took_over,
    wait_uncommitted,
)
from harness import KafkaTools

pytestmark = [pytest.mark.slow]


# --------------------------------------------------------------------------- target
target = target_fixture("kip848")  # kwire, or (KWIRE_VS_KAFKA=1) a Kafka 4.4 reference


# --------------------------------------------------------------------------- 1. kill and leave
# The scenario's settings (PARTITIONS, TOTAL, RATE, SESSION_MS, HEARTBEAT_MS, KILL_DETECT_*,
# LEAVE_DETECT_MAX, REBALANCE_SLACK) and its shared steps and checks are groups_support's.

EXIT_CODES = (0, 130, 143)  # of a member told to leave (SIGTERM)

# kind -> (client, group.protocol, classic strategy)
KINDS: dict[str, tuple[str, str, str]] = {
    "librdkafka-consumer": ("confluent-kafka", "consumer", ""),
    "librdkafka-classic-range": ("confluent-kafka", "classic", "range"),
    "librdkafka-classic-cooperative": ("confluent-kafka", "classic", "cooperative-sticky"),
    "java-consumer": ("java", "consumer", ""),
    "java-classic": ("java", "classic", "range"),
}


def spawn(kind: str, name: str, request: pytest.FixtureRequest, log_dir: Path,
          bootstrap: str, topic: str, group: str, **opts: Any) -> MemberBase:
    client, protocol, strategy = KINDS[kind]
    client_id = f"member-{name}-{uuid.uuid4().hex[:6]}"
    if client == "java":
        tools = request.getfixturevalue("kafka_tools")
        return JavaConsoleMember(tools, name, client_id, log_dir, bootstrap, topic, group,
                                 session_timeout_ms=SESSION_MS, heartbeat_interval_ms=HEARTBEAT_MS,
                                 group_protocol=protocol)
    if protocol == "consumer":
        return PythonMember(client, name, client_id, log_dir, bootstrap, topic, group,
                            group_protocol="consumer", **opts)
    return PythonMember(client, name, client_id, log_dir, bootstrap, topic, group, strategy,
                        session_timeout_ms=SESSION_MS, heartbeat_interval_ms=HEARTBEAT_MS, **opts)


def rebalance_race(protocol: str, strategy: str, event: dict[str, Any],
                   rebalances: tuple[tuple[float, float], ...]) -> bool:
    """An interval commit a rebalance overtook: Kafka refuses a commit whose generation
    (classic, incremental member) or member epoch (consumer protocol) is no longer the
    member's current one: ILLEGAL_GENERATION / REBALANCE_IN_PROGRESS (classic, see
    test_groups.generation_race), STALE_MEMBER_EPOCH (KIP-848). The next commit
    commits those offsets again (the end checks require it)."""
    if event.get("why") != "interval":
        return False
    if protocol == "classic" and strategy != "cooperative-sticky":
        return False
    error = str(event.get("error", ""))
    if not any(code in error for code in ("ILLEGAL_GENERATION", "REBALANCE_IN_PROGRESS",
                                           "STALE_MEMBER_EPOCH")):
        return False
    return any(start <= event["t"] <= end for start, end in rebalances)


@pytest.mark.timeout(150)
@pytest.mark.parametrize("kind", [
    pytest.param(k, marks=[pytest.mark.java] if spec[0] == "java" else [])
    for k, spec in KINDS.items()])
def test_kill_and_leave(kind: str, target: str, request: pytest.FixtureRequest,
                        tmp_path: Path, topic_name: str) -> None:
    client, protocol, strategy = KINDS[kind]
    if protocol == "consumer":
        require_kip848(target)
    t_begin = time.time()
    group = f"g-{topic_name}"
    create_topic(target, topic_name, PARTITIONS)
    adm = GroupAdmin(target)
    mon = ConsumerGroupMonitor(target, group, topic_name)
    mon.start()
    members: list[MemberBase] = []
    prod: RateProducer | None = None
    expected: dict[tuple[int, int], str] = {}
    try:
        for n in "ABC":
            # small batches: consume() returns every ~50 ms, fine enough to see pauses
            opts = {} if client == "java" else {"max_batch": 20}
            members.append(spawn(kind, n, request, tmp_path, target, topic_name, group, **opts))
        a, b, c = members

        def fail_info() -> str:
            return describe_failure(members, mon)

        # 1. stable 2/2/2 -----------------------------------------------------------
        s1 = mon.wait(even_split({m.client_id for m in members}, 2), 40,
                      "a stable group with 2/2/2 partitions")
        if client != "java":
            wait_for(lambda: all(m.owned() == s1.members[m.client_id] for m in members
                                 if isinstance(m, PythonMember)), 10,
                     "each member's callbacks to report the stable assignment",
                     detail=fail_info)
        view1 = mon.views()[-1]
        want_type = "Consumer" if protocol == "consumer" else "Classic"
        assert view1.type == want_type, f"group type {view1.type}, expected {want_type}"
        print(f"[{kind}] stable 2/2/2 {s1.t - t_begin:.1f} s after start: {s1.shape()} "
              f"(type {view1.type}, assignor {view1.assignor!r})")

        # 2. produce while consuming --------------------------------------------------
        prod = RateProducer(target, topic_name, TOTAL, PARTITIONS, RATE)
        t_prod = time.time()
        prod.start()
        wait_for(lambda: all(m.n_records() >= 600 for m in members), 40,
                 "each member to consume 600 records", detail=fail_info)
        wait_uncommitted(c, fail_info)  # kill C holding consumed-but-uncommitted records

        # 3. SIGKILL C ------------------------------------------------------------------
        part_c = s1.members[c.client_id]
        t_kill = time.time()
        c.kill()
        time.sleep(1.0)  # let a commit C had on the wire land
        committed_c = adm.committed(group, topic_name, sorted(part_c))
        s2 = mon.wait(even_split({a.client_id, b.client_id}, 3), KILL_DETECT_MAX + 6,
                      "survivors A, B to own 3/3 after the kill", after=t_kill)
        kill_dt = check_kill_detected(mon, c, t_kill, s2, fail_info)
        if protocol == "consumer":  # the survivors keep what they had, gain C's
            for m in (a, b):
                assert s1.members[m.client_id] <= s2.members[m.client_id], (
                    f"{m} lost partitions in the kill rebalance: "
                    f"{sorted(s1.members[m.client_id])} -> {sorted(s2.members[m.client_id])}"
                    f"\n{fail_info()}")
        wait_took_over((a, b), part_c, t_kill, fail_info)

        # 4. B leaves cleanly -------------------------------------------------------------
        part_b = s2.members[b.client_id]
        t_leave, s3 = b_leaves(mon, a, b, EXIT_CODES, fail_info)
        leave_dt = s3.t - t_leave
        if protocol == "consumer":
            assert s2.members[a.client_id] <= s3.members[a.client_id]

        # 5. A consumes to the end, commits, leaves -------------------------------------
        expected = prod.result(90)
        t_prod_end = t_prod + TOTAL / RATE
        t_end = a_finishes(mon, adm, group, topic_name, a, expected, EXIT_CODES, fail_info)
    finally:
        stop_all(mon, adm, members, prod)

    # -- what the members saw ---------------------------------------------------------
    info = describe_failure(members, mon)
    redelivered = check_kill_and_leave(
        members, expected, part_c=part_c, committed_c=committed_c, t_kill=t_kill, s2=s2,
        part_b=part_b, t_leave=t_leave, s3=s3, info=info,
        commit_race=lambda e, rebalances: rebalance_race(protocol, strategy, e, rebalances))
    if client != "java" and protocol == "consumer":  # A, untouched, never loses a
        # partition once the group is 2/2/2 (before that, the first member gave up what
        # later ones took)
        lost = [e for e in a.evs() if e["e"] in ("revoked", "lost")
                and s1.t <= e["t"] < t_end]
        assert not lost, f"{a} had partitions taken away: {lost[:3]}\n{info}"


    # -- A's pauses while records flowed -----------------------------------------------
    a_recs = a.recs()
    pause_kill, at_kill = longest_pause(a_recs, t_kill, min(s2.t + REBALANCE_SLACK, t_leave))
    pause_leave, at_leave = longest_pause(a_recs, t_leave, min(s3.t + REBALANCE_SLACK,
                                                               t_prod_end))
    first_a = min((t for *_x, t in a_recs if t >= t_prod), default=t_prod)
    pause_all, at_all = longest_pause(a_recs, first_a, t_prod_end)
    report_line(test="kill_and_leave", kind=kind, client=client, protocol=protocol,
                strategy=strategy or None, records=TOTAL,
                pause_a_max_s=round(pause_all, 3), pause_a_at_s=round(at_all - t_kill, 2),
                pause_a_kill_rebalance_s=round(pause_kill, 3),
                pause_a_leave_rebalance_s=round(pause_leave, 3),
                kill_to_reassigned_s=round(kill_dt, 2), leave_to_reassigned_s=round(leave_dt, 2),
                redelivered=redelivered, seconds=round(time.time() - t_begin, 1))
    print(f"[{kind}] A's longest pause while producing {pause_all * 1000:.0f} ms "
          f"(at kill{at_all - t_kill:+.1f} s); in the kill rebalance {pause_kill * 1000:.0f} ms, "
          f"in the leave rebalance {pause_leave * 1000:.0f} ms; kill->3/3 {kill_dt:.2f} s, "
          f"leave->6 {leave_dt:.2f} s; {redelivered} of C's uncommitted records re-delivered; "
          f"{time.time() - t_begin:.1f} s")


# --------------------------------------------------------------------------- 2. console + describe
def java(tools: KafkaTools, main_class: str, *args: str) -> list[str]:
    return [tools.java, "-Xmx256m", "-Djava.awt.headless=true", "-XX:TieredStopAtLevel=1",
            "-XX:+UseSerialGC", "-cp", f"{tools.libs}/*",
            f"-Dlog4j2.configurationFile={tools.LOG_CONFIG}", main_class, *args]


def group_command(tools: KafkaTools, bootstrap: str, *args: str) -> tuple[str, list[list[str]]]:
    """kafka-consumer-groups ARGS: (stdout, its table rows split on whitespace, header first)."""
    rc, out, err = tools.run(GROUP_COMMAND, "--bootstrap-server", bootstrap, *args, timeout=60)
    assert rc == 0, f"kafka-consumer-groups {' '.join(args)}: rc {rc}\n{out}\n{err}"
    rows = [line.split() for line in out.splitlines()
            if line.strip() and not line.startswith("Consumer group ")]
    return out, rows


def table(out_rows: list[list[str]], group: str) -> tuple[list[str], list[dict[str, str]]]:
    """Header and the rows of `group` as dicts. The HOST column may be '/127.0.0.1'."""
    header = out_rows[0]
    rows = []
    for r in out_rows[1:]:
        if r[0] != group:
            continue
        if "COORDINATOR" in header[1] and len(r) == len(header) + 1:
            r = [r[0], f"{r[1]} {r[2]}", *r[3:]]  # "host:port  (1)"
        rows.append(dict(zip(header, r, strict=False)))
    return header, rows


@pytest.mark.java
@pytest.mark.timeout(150)
def test_console_consumer_and_describe(target: str, request: pytest.FixtureRequest,
                                       tmp_path: Path, topic_name: str) -> None:
    require_kip848(target)
    tools: KafkaTools = request.getfixturevalue("kafka_tools")
    parts, per_part = 3, 100
    n = parts * per_part
    create_topic(target, topic_name, parts)
    expected = produce_now(target, topic_name, {p: per_part for p in range(parts)})
    group = f"g-{topic_name}"

    # 1. --max-messages N with group.protocol=consumer reads exactly the N records
    rc, out, err = tools.run(
        CONSOLE_CONSUMER, "--bootstrap-server", target, "--topic", topic_name, "--group", group,
        "--from-beginning", "--max-messages", str(n), "--timeout-ms", "30000",
        "--consumer-property", "group.protocol=consumer",
        "--consumer-property", "client.id=console-1",
        "--formatter-property", "print.partition=true",
        "--formatter-property", "print.offset=true", timeout=60)
    assert rc == 0, f"console consumer rc {rc}\n{out[-2000:]}\n{err[-3000:]}"
    got = {}
    for line in out.splitlines():
        m = JAVA_LINE.match(line)
        if m:
            got[(int(m.group(1)), int(m.group(2)))] = m.group(3)
    assert got == expected, (f"console consumer read {len(got)} records; missing "
                             f"{sorted(set(expected) - set(got))[:10]}, unexpected "
                             f"{sorted(set(got) - set(expected))[:10]}\n{err[-2000:]}")
    assert f"Processed a total of {n} messages" in err, err[-2000:]

    # 2. after it closed: a consumer group, Empty, uniform, everything committed
    _out, rows = group_command(tools, target, "--list", "--type")
    types = {r[0]: r[1] for r in rows[1:]}
    assert types.get(group) == "Consumer", f"--list --type: {group} is {types.get(group)}\n{_out}"
    out, rows = group_command(tools, target, "--describe", "--group", group, "--state")
    _h, st = table(rows, group)
    assert len(st) == 1 and st[0]["STATE"] == "Empty" and st[0]["#MEMBERS"] == "0" \
        and st[0]["ASSIGNMENT-STRATEGY"] == "uniform", out
    out, rows = group_command(tools, target, "--describe", "--group", group, "--state",
                              "--verbose")
    header, st = table(rows, group)
    assert "GROUP-EPOCH" in header and "TARGET-ASSIGNMENT-EPOCH" in header, out
    epoch_after_first = int(st[0]["GROUP-EPOCH"])
    assert epoch_after_first >= 2 and st[0]["TARGET-ASSIGNMENT-EPOCH"] == st[0]["GROUP-EPOCH"], (
        f"a member joined and left: group epoch >= 2, target assignment epoch = group epoch\n"
        f"{out}")
    out, rows = group_command(tools, target, "--describe", "--group", group, "--offsets")
    _h, offs = table(rows, group)
    assert {(r["TOPIC"], r["PARTITION"], r["CURRENT-OFFSET"], r["LOG-END-OFFSET"], r["LAG"],
             r["CONSUMER-ID"]) for r in offs} == {
        (topic_name, str(p), str(per_part), str(per_part), "0", "-") for p in range(parts)}, out

    # 3. a running member: Stable, its assignment, the epochs
    more = produce_now(target, topic_name, {p: 5 for p in range(parts)}, "more")
    proc = subprocess.Popen(java(
        tools, CONSOLE_CONSUMER, "--bootstrap-server", target, "--topic", topic_name,
        "--group", group, "--timeout-ms", "60000",
        "--consumer-property", "group.protocol=consumer",
        "--consumer-property", "client.id=console-2"),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def stable_member() -> list[dict[str, str]] | None:
            _o, rws = group_command(tools, target, "--describe", "--group", group, "--members",
                                    "--verbose")
            _hh, mem = table(rws, group)
            return mem if len(mem) == 1 and mem[0].get("#PARTITIONS") == str(parts) else None

        mem = wait_for(stable_member, 40, "kafka-consumer-groups to show console-2 with 3 "
                                           "partitions", interval=0.5)[0]
        out, rows = group_command(tools, target, "--describe", "--group", group, "--members",
                                  "--verbose")
        want_asg = f"{topic_name}:" + ",".join(str(p) for p in range(parts))
        assert mem["CLIENT-ID"] == "console-2", out
        assert mem["HOST"].lstrip("/") == "127.0.0.1", out
        assert len(mem["CONSUMER-ID"]) == 22, f"member id is a 22-char base64 Uuid\n{out}"
        assert mem["CURRENT-ASSIGNMENT"] == want_asg and mem["TARGET-ASSIGNMENT"] == want_asg, out
        assert mem["CURRENT-EPOCH"] == mem["TARGET-EPOCH"], out
        assert int(mem["CURRENT-EPOCH"]) > epoch_after_first, out
        out, rows = group_command(tools, target, "--describe", "--group", group, "--state",
                                  "--verbose")
        _h, st = table(rows, group)
        assert st[0]["STATE"] == "Stable" and st[0]["#MEMBERS"] == "1" \
            and st[0]["GROUP-EPOCH"] == mem["CURRENT-EPOCH"] \
            and st[0]["ASSIGNMENT-STRATEGY"] == "uniform", out

        def caught_up() -> bool:
            _o, rws = group_command(tools, target, "--describe", "--group", group)
            _hh, rs = table(rws, group)
            return len(rs) == parts and all(
                r["CURRENT-OFFSET"] == str(per_part + 5) and r["CLIENT-ID"] == "console-2"
                for r in rs)

        wait_for(caught_up, 30, f"the group to commit {per_part + 5} on every partition, "
                                "owned by console-2", interval=0.5)
    finally:
        proc.send_signal(signal.SIGTERM)  # the shutdown hook closes the consumer: it leaves
        try:
            out2, err2 = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out2, err2 = proc.communicate()
    assert all(f"more-{p}-{i:06d}" in out2 for p in range(parts) for i in range(5)), (
        f"console-2 did not print the new records {sorted(more.values())[:5]}...\n{out2[-1500:]}"
        f"\n{err2[-1500:]}")
    out, rows = group_command(tools, target, "--describe", "--group", group, "--state")
    _h, st = table(rows, group)
    assert st[0]["STATE"] == "Empty" and st[0]["#MEMBERS"] == "0", out
    print(f"describe after close:\n{out}")


# --------------------------------------------------------------------------- 3. regex
REGEX_PICKUP_MAX = 45.0  # Kafka refreshes a group's regexes at most every 10 s
# (GroupMetadataManager.REGEX_BATCH_REFRESH_MIN_INTERVAL_MS) when topics changed


class ThreadConsumer(threading.Thread):
    """A librdkafka group.protocol=consumer consumer in a thread of the test process:
    records (topic, partition, offset, value, t) and assignment events."""

    def __init__(self, bootstrap: str, group: str, subscription: list[str],
                 client_id: str) -> None:
        super().__init__(name=f"consumer-{client_id}", daemon=True)
        self.conf = {"bootstrap.servers": bootstrap, "group.id": group, "client.id": client_id,
                     "group.protocol": "consumer", "auto.offset.reset": "earliest",
                     "enable.auto.commit": True, "auto.commit.interval.ms": 500}
        self.subscription = subscription
        self.lock = threading.Lock()
        self.records: list[tuple[str, int, int, str, float]] = []
        self.assigned: list[tuple[float, list[tuple[str, int]]]] = []
        self.errors: list[str] = []
        self.halt = threading.Event()
        self.closed = threading.Event()

    def run(self) -> None:
        c = Consumer(self.conf)
        try:
            def on_assign(_c, parts):  # noqa: ANN001, ANN202
                with self.lock:
                    self.assigned.append((time.time(), [(tp.topic, tp.partition) for tp in parts]))

            c.subscribe(self.subscription, on_assign=on_assign)
            while not self.halt.is_set():
                for msg in c.consume(num_messages=100, timeout=0.2):
                    with self.lock:
                        if msg.error() is not None:
                            self.errors.append(str(msg.error()))
                        else:
                            self.records.append((msg.topic(), msg.partition(), msg.offset(),
                                                 (msg.value() or b"").decode(), time.time()))
        except Exception as exc:
            with self.lock:
                self.errors.append(f"consumer thread: {exc!r}")
        finally:
            c.close()
            self.closed.set()

    def topics_keys(self) -> dict[str, set[tuple[int, int]]]:
        out: dict[str, set[tuple[int, int]]] = defaultdict(set)
        with self.lock:
            for t, p, o, _v, _ts in self.records:
                out[t].add((p, o))
        return out

    def stop(self) -> None:
        self.halt.set()
        assert self.closed.wait(30), "the consumer did not close within 30 s"


@pytest.mark.timeout(150)
def test_regex_subscription(target: str, topic_name: str) -> None:
    require_kip848(target)
    uid = uuid.uuid4().hex[:8]
    old, new, other = f"orders-{uid}-old", f"orders-{uid}-new", f"other-{uid}-orders"
    for t, n in ((old, 2), (other, 1)):
        create_topic(target, t, n)
    want_old = produce_now(target, old, {0: 20, 1: 20})
    produce_now(target, other, {0: 20})
    group = f"g-{topic_name}"
    cons = ThreadConsumer(target, group, [f"^orders-{uid}-.*"], "regex-member")
    t0 = time.time()
    cons.start()
    try:
        wait_for(lambda: cons.topics_keys().get(old) == set(want_old), 30,
                 f"the regex member to consume the {len(want_old)} records of {old}",
                 detail=lambda: f"assigned: {cons.assigned}; errors: {cons.errors[-3:]}")
        t_joined = time.time() - t0
        adm = admin(target)
        view = describe(adm, group, old)
        assert view.type == "Consumer", view
        t_create = time.time()
        create_topic(target, new, 3)
        want_new = produce_now(target, new, {0: 10, 1: 10, 2: 10})
        wait_for(lambda: cons.topics_keys().get(new) == set(want_new), REGEX_PICKUP_MAX,
                 f"the regex member to get {new} (created after it joined) and consume its "
                 f"{len(want_new)} records",
                 detail=lambda: f"assigned: {cons.assigned}; consumed per topic: "
                 f"{ {t: len(k) for t, k in cons.topics_keys().items()} }; "
                 f"errors: {cons.errors[-3:]}")
        t_consumed = time.time() - t_create
        t_assigned = min(t for t, tps in cons.assigned if any(tp[0] == new for tp in tps)) \
            - t_create
        view = describe(adm, group, new)
        assert view.members.get("regex-member") == frozenset({0, 1, 2}), view
    finally:
        cons.stop()
    got = cons.topics_keys()
    assert set(got) == {old, new}, f"consumed topics {sorted(got)}: {other} must not match"
    assert not cons.errors, cons.errors[:5]
    report_line(test="regex_subscription", joined_s=round(t_joined, 2),
                new_topic_assigned_s=round(t_assigned, 2),
                new_topic_consumed_s=round(t_consumed, 2))
    print(f"regex: joined and consumed {old} in {t_joined:.1f} s; {new} assigned "
          f"{t_assigned:.1f} s after it was created, consumed after {t_consumed:.1f} s")


# --------------------------------------------------------------------------- 4. static member
@pytest.mark.timeout(150)
def test_static_member_restart(target: str, tmp_path: Path, topic_name: str) -> None:
    require_kip848(target)
    group = f"g-{topic_name}"
    create_topic(target, topic_name, PARTITIONS)
    adm = GroupAdmin(target)
    mon = ConsumerGroupMonitor(target, group, topic_name, interval=0.1)
    mon.start()
    members: list[MemberBase] = []
    prod: RateProducer | None = None
    total = 6000
    try:
        def member(name: str, **opts: Any) -> PythonMember:
            m = PythonMember("confluent-kafka", name, f"member-{name}-{uuid.uuid4().hex[:6]}",
                             tmp_path, target, topic_name, group, group_protocol="consumer",
                             max_batch=20, **opts)
            members.append(m)
            return m

        s = member("S", group_instance_id=f"static-{topic_name}")
        d = member("D")

        def fail_info() -> str:
            return describe_failure(members, mon)

        s1 = mon.wait(lambda v: v.stable and set(v.members) == {s.client_id, d.client_id}
                      and all(len(ps) == 3 for ps in v.members.values()), 30,
                      "a stable group with S and D owning 3 partitions each")
        part_s, part_d = s1.members[s.client_id], s1.members[d.client_id]
        prod = RateProducer(target, topic_name, total, PARTITIONS, 600.0)
        prod.start()
        wait_for(lambda: s.n_records() >= 300 and d.n_records() >= 300, 30,
                 "S and D to consume 300 records each", detail=fail_info)

        t_close = time.time()
        s.terminate()
        rc = s.wait(15)
        assert rc == 0, f"S exited with {rc}\n{s.tail()}"
        t_closed = time.time()
        s2 = member("S2", group_instance_id=f"static-{topic_name}")
        back = mon.wait(lambda v: v.stable and s2.client_id in v.members
                        and v.members[s2.client_id] == part_s, 15,
                        f"S2 (same group.instance.id) to own S's partitions {sorted(part_s)}",
                        after=t_closed)
        gone_s = back.t - t_close
        assert gone_s < SESSION_MS / 1000, (
            f"S's partitions came back to S2 {gone_s:.1f} s after S closed: the test means to "
            f"restart within the session timeout\n{fail_info()}")
        view = mon.views()[-1]
        assert view.instance_ids.get(s2.client_id) == f"static-{topic_name}", view
        expected = prod.result(60)
        wait_committed_to_end(adm, group, topic_name, expected, PARTITIONS, 30, fail_info)
        t_end = time.time()
        for m in (s2, d):
            m.terminate()
        for m in (s2, d):
            assert m.wait(20) == 0, m.tail()
    finally:
        stop_all(mon, adm, members, prod, producer_wait=30)

    info = describe_failure(members, mon)
    # D untouched: the broker never moved a partition to or from it
    changed = [v for v in mon.views() if v.t >= s1.t and v.t < t_end and d.client_id in v.members
               and v.members[d.client_id] != part_d]
    assert not changed, (f"D's assignment changed while S restarted: "
                         f"{changed[0].snapshot().shape()}\n{info}")
    d_events = [e for e in d.evs() if e["e"] in ("assigned", "revoked", "lost")
                and s1.t <= e["t"] < t_end]
    assert not d_events, f"D saw rebalance callbacks while S restarted: {d_events}\n{info}"
    assert s2.evs("assigned") and set(s2.evs("assigned")[0]["added"]) == part_s, (
        f"S2's first assignment {s2.evs('assigned')[:1]}, S had {sorted(part_s)}\n{info}")
    seen: dict[tuple[int, int], list[str]] = defaultdict(list)
    for m in members:
        for p, o, _v, _t in m.recs():
            seen[(p, o)].append(m.name)
    missing = sorted(set(expected) - set(seen))
    assert not missing, f"{len(missing)} records never consumed; first {missing[:10]}\n{info}"
    dups = sorted((k, v) for k, v in seen.items() if len(v) > 1)
    assert not dups, (f"{len(dups)} records consumed twice although S committed on close: "
                      f"{dups[:10]}\n{info}")
    for m in members:
        assert not member_errors(m), f"{m}: {member_errors(m)[:3]}"
    report_line(test="static_member_restart", partitions_back_s=round(gone_s, 2))
    print(f"static: S closed, S2 with the same group.instance.id owned {sorted(part_s)} again "
          f"{gone_s:.2f} s later; D kept {sorted(part_d)} throughout")


# --------------------------------------------------------------------------- 5. upgrade/downgrade
UPGRADE_PARTITIONS = 4


def allowed_duplicate(first: PythonMember, p: int, o: int, t_again: float) -> bool:
    """A record delivered again is allowed only when the member that had it first had
    not committed past it when the other received it again (after the last commit of a
    handed-over partition)."""
    done = [e["offsets"].get(str(p)) for e in first.commits() if e["t"] <= t_again]
    last = max((x for x in done if x is not None), default=0)
    return o >= last


@pytest.mark.timeout(170)
def test_upgrade_downgrade(target: str, tmp_path: Path, topic_name: str) -> None:
    require_kip848(target)
    t_begin = time.time()
    group = f"g-{topic_name}"
    create_topic(target, topic_name, UPGRADE_PARTITIONS)
    adm = GroupAdmin(target)
    mon = ConsumerGroupMonitor(target, group, topic_name)
    mon.start()
    members: list[PythonMember] = []
    prod: RateProducer | None = None
    total, rate = 15_000, 500.0
    steps: list[str] = []
    try:
        def member(name: str, protocol: str) -> PythonMember:
            opts: dict[str, Any] = ({"group_protocol": "consumer"} if protocol == "consumer" else
                                    {"session_timeout_ms": SESSION_MS,
                                     "heartbeat_interval_ms": HEARTBEAT_MS})
            m = PythonMember("confluent-kafka", name, f"member-{name}-{uuid.uuid4().hex[:6]}",
                             tmp_path, target, topic_name, group,
                             # range: Kafka refuses to upgrade a group whose members send
                             # assignor userData (librdkafka's cooperative-sticky does): the
                             # consumer member gets GROUP_ID_NOT_FOUND, fatal for librdkafka
                             "range",
                             max_batch=50, **opts)
            members.append(m)
            return m

        def fail_info() -> str:
            return describe_failure(list(members), mon)

        def settled(live: list[PythonMember], group_type: str, what: str) -> None:
            ids = {m.client_id for m in live}
            t0 = time.time()

            def ok(v: Any) -> bool:
                parts = sorted(p for ps in v.members.values() for p in ps)
                return (v.type == group_type and v.state == "Stable" and set(v.members) == ids
                        and parts == list(range(UPGRADE_PARTITIONS))
                        and all(v.members.values()))

            v = mon.wait_view(ok, 30, f"{what}: a Stable {group_type} group of "
                              f"{sorted(m.name for m in live)} sharing all partitions",
                              after=t0, detail=fail_info)
            wait_for(lambda: all(m.owned() == v.members[m.client_id] for m in live), 15,
                     f"{what}: each member's callbacks to agree with the broker "
                     f"{v.snapshot().shape()}", detail=fail_info)
            steps.append(f"{time.time() - t_begin:5.1f} s {what}: {v.type} "
                         f"{v.snapshot().shape()}")

        def replace(old: PythonMember, new_name: str, protocol: str, live: list[PythonMember],
                    group_type_with_both: str, group_type_after: str) -> PythonMember:
            new = member(new_name, protocol)
            settled([*live, new], group_type_with_both, f"{new_name} ({protocol}) joined")
            wait_for(lambda: new.n_records() > 0, 20, f"{new_name} to consume",
                     detail=fail_info)
            old.terminate()
            rc = old.wait(20)
            assert rc == 0, f"{old} exited with {rc}\n{old.tail()}"
            rest = [m for m in live if m is not old] + [new]
            settled(rest, group_type_after, f"{old.name} left")
            return new

        c1, c2 = member("C1", "classic"), member("C2", "classic")
        settled([c1, c2], "Classic", "start")
        prod = RateProducer(target, topic_name, total, UPGRADE_PARTITIONS, rate)
        prod.start()
        wait_for(lambda: c1.n_records() > 100 and c2.n_records() > 100, 20,
                 "C1 and C2 to consume", detail=fail_info)
        # upgrade: the first consumer-protocol member converts the group online
        n1 = replace(c1, "N1", "consumer", [c1, c2], "Consumer", "Consumer")
        n2 = replace(c2, "N2", "consumer", [n1, c2], "Consumer", "Consumer")
        # downgrade: the group turns classic when its last consumer-protocol member leaves
        c3 = replace(n1, "C3", "classic", [n1, n2], "Consumer", "Consumer")
        c4 = replace(n2, "C4", "classic", [c3, n2], "Consumer", "Classic")
        produced_during = prod.sent
        expected = prod.result(60)
        wait_committed_to_end(adm, group, topic_name, expected, UPGRADE_PARTITIONS, 30,
                              fail_info)
        t_end = time.time()
        for m in (c3, c4):
            m.terminate()
        for m in (c3, c4):
            assert m.wait(20) == 0, m.tail()
        mon.wait(lambda s: s.state == "Empty" and not s.members, 15, "an Empty group at the end",
                 after=t_end)
    finally:
        stop_all(mon, adm, members, prod)

    info = "\n".join(steps) + "\n" + describe_failure(list(members), mon)
    assert produced_during < total, (
        f"all {total} records were produced before the last handover: the handovers "
        f"happened without traffic\n{info}")
    seen: dict[tuple[int, int], list[tuple[float, PythonMember]]] = defaultdict(list)
    for m in members:
        for p, o, v, t in m.recs():
            seen[(p, o)].append((t, m))
            assert expected.get((p, o)) == v, (m.name, p, o, v, expected.get((p, o)))
    missing = sorted(set(expected) - set(seen))
    assert not missing, (f"{len(missing)} of {total} records never consumed; first "
                         f"(partition, offset): {missing[:10]}\n{info}")
    bad, again = [], 0
    for (p, o), who in seen.items():
        who.sort(key=lambda x: x[0])
        for (_t1, first), (t2, second) in zip(who, who[1:], strict=False):
            if first is second or not allowed_duplicate(first, p, o, t2):
                bad.append(((p, o), [(m.name, round(t - t_begin, 2)) for t, m in who]))
                break
        else:
            again += len(who) - 1
    assert not bad, (f"{len(bad)} records delivered again although committed before the "
                     f"handover (or twice to one member); first {sorted(bad)[:8]}\n{info}")
    for m in members:
        errs = member_errors(m, lambda e: e.get("why") == "interval" and any(
            c in str(e.get("error")) for c in ("STALE_MEMBER_EPOCH", "ILLEGAL_GENERATION",
                                               "REBALANCE_IN_PROGRESS", "UNKNOWN_MEMBER_ID")))
        assert not errs, f"{m}: {errs[:3]}\n{info}"
    report_line(test="upgrade_downgrade", records=total, redelivered=again,
                seconds=round(time.time() - t_begin, 1))
    print("upgrade/downgrade steps:\n" + "\n".join(steps)
          + f"\n{again} records re-delivered after the last commit of a handed-over partition")
