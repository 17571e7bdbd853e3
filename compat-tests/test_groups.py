"""Consumer groups end to end, every member a separate OS process (issue #3).

test_group_rebalance_kill_and_leave[kind], for kafka-python, confluent-kafka
(eager `range` and `cooperative-sticky`), aiokafka and Kafka's Java console
consumer, on a 6-partition topic:
  1. members A, B, C start (separate processes, session.timeout.ms=6000 -- the
     broker minimum -- heartbeat.interval.ms=500) and the group settles at
     2/2/2 (seen by DescribeGroups, and by each Python member's own callbacks);
  2. 30,000 messages are produced at 1,200/s while the members consume and
     commit (Python members: synchronously, every 1 s, on revoke and on close;
     Java: auto-commit every 1 s, on revoke and on close);
  3. C gets SIGKILL (no commit, no LeaveGroup): nothing changes until its
     session expires, then A and B own 3/3 -- asserted >= 5 s after the kill
     (6 s minus one heartbeat interval and slack) and <= 14 s after it;
  4. B gets SIGTERM, commits and leaves (LeaveGroup): A owns all 6 within 3 s,
     well before the 6 s session timeout;
  5. A consumes to the end, commits, leaves; the group ends Empty.
Checked from what the members printed: every produced (partition, offset)
consumed with the produced value; nothing consumed twice except records C
consumed at or after the offset C had committed for that partition when it
died (its last commit is read with OffsetFetch 1 s after the kill; C can't
commit after SIGKILL and nobody else owns its partitions before the session
timeout) -- those are the re-delivery Kafka allows; survivors resume each of
C's partitions exactly at that committed offset, and each of B's exactly after
B's last record (B committed everything on its clean leave). No commit fails,
except a cooperative member's interval commit that a rebalance overtook
(ILLEGAL_GENERATION / REBALANCE_IN_PROGRESS, as Kafka answers it: see
generation_race).

test_committed_offsets_survive_broker_restart[mode-client]: a member consumes
part of a topic, commits, leaves; the broker is stopped gracefully (SIGTERM) or
killed (-9) right away and restarted on the same data dir; OffsetFetch answers
the same offsets and a new member process resumes exactly there: nothing
skipped, nothing that was committed delivered again. In a cluster
(--cluster-brokers) the broker is the group's coordinator: while it is down
another broker must take its __consumer_offsets partition over (after the
ZooKeeper session timeout when killed) and answer the same offsets, and after
its restart (which may move the partition back) they are still the same.

Rebalance delay: the rebalance test runs on the session broker as configured
(kwire's default group.initial.rebalance.delay.ms=3000; the reference Kafka of
`--process-broker kafka` is started with 0): it waits for 2/2/2 whatever
happens before, and produces only once the group is stable. The restart test
starts its own broker with group.initial.rebalance.delay.ms=0 to save 3 s per
join (the reference Kafka has 0 anyway).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cluster_env import KwireCluster
from groups_support import (
    HEARTBEAT_MS,
    KILL_DETECT_MAX,
    KILL_DETECT_MIN,
    NO_COMMIT,
    PARTITIONS,
    RATE,
    SESSION_MS,
    TOTAL,
    GroupAdmin,
    GroupMonitor,
    JavaConsoleMember,
    MemberBase,
    PythonMember,
    RateProducer,
    a_finishes,
    b_leaves,
    by_partition,
    check_kill_and_leave,
    check_kill_detected,
    create_topic,
    describe_failure,
    even_split,
    produce_now,
    resume_offsets,
    stop_all,
    wait_for,
    wait_took_over,
    wait_uncommitted,
)
from harness import KwireProcess

pytestmark = [pytest.mark.slow]

# The scenario's settings (PARTITIONS, TOTAL, RATE, SESSION_MS, HEARTBEAT_MS, KILL_DETECT_*,
# LEAVE_DETECT_MAX, REBALANCE_SLACK) are groups_support's: test_consumer_protocol runs it too.

# kind -> (python client, strategy), or None for the Java console consumer
KINDS: dict[str, tuple[str, str] | None] = {
    "kafka-python": ("kafka-python", "range"),
    "confluent-range": ("confluent-kafka", "range"),
    "confluent-cooperative-sticky": ("confluent-kafka", "cooperative-sticky"),
    "aiokafka": ("aiokafka", "range"),
    "java-console": None,
}


def spawn(kind: str, name: str, request: pytest.FixtureRequest, log_dir: Path, bootstrap: str,
          topic: str, group: str, **opts: object) -> MemberBase:
    client_id = f"member-{name}-{uuid.uuid4().hex[:6]}"
    spec = KINDS[kind]
    if spec is None:
        tools = request.getfixturevalue("kafka_tools")
        return JavaConsoleMember(tools, name, client_id, log_dir, bootstrap, topic, group,
                                 session_timeout_ms=SESSION_MS, heartbeat_interval_ms=HEARTBEAT_MS)
    client, strategy = spec
    return PythonMember(client, name, client_id, log_dir, bootstrap, topic, group, strategy,
                        session_timeout_ms=SESSION_MS, heartbeat_interval_ms=HEARTBEAT_MS,
                        **opts)


def generation_race(kind: str, event: dict[str, Any],
                    rebalances: tuple[tuple[float, float], ...]) -> bool:
    """A cooperative member's interval commit that Kafka refuses because a rebalance moved
    the generation on under it.

    An incremental member keeps its partitions, and keeps committing, while it rejoins.
    A commit it sent with the old generation that the coordinator reads after the join
    completed is refused: ClassicGroup.validateOffsetCommit checks the generation before
    the state, so Kafka answers ILLEGAL_GENERATION (and REBALANCE_IN_PROGRESS to a commit
    that already carries the new generation while the group awaits the leader's
    SyncGroup). Kafka serves one request per connection at a time, so a commit librdkafka
    queued behind the member's JoinGroup meets exactly this. Only such a refusal, within
    a rebalance of this test, is Kafka's behaviour; the offsets are committed again by the
    next commit, which the test's end checks require.
    """
    if KINDS[kind] != ("confluent-kafka", "cooperative-sticky") or event.get("why") != "interval":
        return False
    error = str(event.get("error", ""))
    if "ILLEGAL_GENERATION" not in error and "REBALANCE_IN_PROGRESS" not in error:
        return False
    return any(start <= event["t"] <= end for start, end in rebalances)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("kind", [
    pytest.param(k, marks=[pytest.mark.java] if spec is None else []) for k, spec in KINDS.items()])
def test_group_rebalance_kill_and_leave(kind: str, broker, request, tmp_path: Path,  # noqa: ANN001
                                        topic_name: str) -> None:
    t_begin = time.time()
    group = f"g-{topic_name}"
    create_topic(broker.bootstrap, topic_name, PARTITIONS)
    adm = GroupAdmin(broker.bootstrap)
    mon = GroupMonitor(broker.bootstrap, group, topic_name)
    mon.start()
    members: list[MemberBase] = []
    prod: RateProducer | None = None
    try:
        for n in "ABC":
            members.append(spawn(kind, n, request, tmp_path, broker.bootstrap, topic_name, group))
        a, b, c = members

        def fail_info() -> str:
            return describe_failure(members, mon)

        # 1. stable 2/2/2 ---------------------------------------------------------
        s1 = mon.wait(even_split({m.client_id for m in members}, 2), 60,
                      "a stable group with 2/2/2 partitions")
        t_stable = s1.t
        if KINDS[kind] is not None:  # the members' own view agrees with the broker's
            wait_for(lambda: all(m.owned() == s1.members[m.client_id] for m in members
                                 if isinstance(m, PythonMember)), 10,
                     "each member's callbacks to report the stable assignment",
                     detail=fail_info)
        print(f"[{kind}] stable 2/2/2 {t_stable - t_begin:.1f} s after start: {s1.shape()}")

        # 2. produce while consuming ------------------------------------------------
        prod = RateProducer(broker.bootstrap, topic_name, TOTAL, PARTITIONS, RATE)
        prod.start()
        wait_for(lambda: all(m.n_records() >= 600 for m in members), 40,
                 "each member to consume 600 records", detail=fail_info)
        wait_uncommitted(c, fail_info)  # kill C between two of its commits

        # 3. SIGKILL C --------------------------------------------------------------
        part_c = s1.members[c.client_id]
        t_kill = time.time()
        c.kill()
        time.sleep(1.0)  # let a commit C had on the wire land (it can't send another)
        committed_c = adm.committed(group, topic_name, sorted(part_c))
        s2 = mon.wait(even_split({a.client_id, b.client_id}, 3), KILL_DETECT_MAX + 6,
                      "survivors A, B to own 3/3 after the kill", after=t_kill)
        kill_dt = check_kill_detected(mon, c, t_kill, s2, fail_info)
        # the survivors consume C's partitions before B leaves
        wait_took_over((a, b), part_c, t_kill, fail_info)

        # 4. B leaves cleanly ---------------------------------------------------------
        part_b = s2.members[b.client_id]
        produced_at_leave = prod.sent
        t_leave, s3 = b_leaves(mon, a, b, (0, 143), fail_info)  # with a LeaveGroup
        leave_dt = s3.t - t_leave

        # 5. A consumes to the end, commits, leaves -----------------------------------
        expected = prod.result(90)
        a_finishes(mon, adm, group, topic_name, a, expected, (0, 143), fail_info)
    finally:
        stop_all(mon, adm, members, prod)

    # -- what the members saw -------------------------------------------------------
    info = describe_failure(members, mon)
    redelivered = check_kill_and_leave(
        members, expected, part_c=part_c, committed_c=committed_c, t_kill=t_kill, s2=s2,
        part_b=part_b, t_leave=t_leave, s3=s3, info=info,
        commit_race=lambda e, rebalances: generation_race(kind, e, rebalances))

    # C's commits: C can't have committed past what it consumed, and what a Python C
    # said it committed did get committed
    c_recs = by_partition(c.recs())
    start_after_kill = resume_offsets(committed_c)
    for p in part_c:
        if p in c_recs:
            assert start_after_kill[p] <= max(c_recs[p]) + 1, (p, committed_c, max(c_recs[p]))
    if isinstance(c, PythonMember):
        for p, o in c.last_committed().items():
            assert committed_c[p] >= o, f"C committed {o} on {p}, OffsetFetch says {committed_c[p]}"

    # the members' own view (Python clients print their rebalance callbacks)
    if KINDS[kind] is not None:
        for m, before in ((a, s1.members[a.client_id]), (b, s1.members[b.client_id])):
            after_kill = [e for e in m.evs() if t_kill <= e["t"] < t_leave
                          and e["e"] in ("assigned", "revoked", "lost")]
            assert after_kill, f"{m} saw no rebalance after the kill"
            assert after_kill[0]["t"] >= t_kill + KILL_DETECT_MIN, (
                f"{m} rebalanced {after_kill[0]['t'] - t_kill:.2f} s after the kill\n{info}")
            assert set(after_kill[-1]["owned"]) == s2.members[m.client_id], (m, after_kill)
            removed = {p for e in after_kill if e["e"] != "assigned" for p in e["removed"]}
            if KINDS[kind] == ("confluent-kafka", "cooperative-sticky"):
                # incremental: survivors keep what they had and only gain C's partitions
                assert not removed, f"{m} had partitions revoked in a cooperative rebalance"
                assert before <= s2.members[m.client_id], (before, s2.members[m.client_id])
            else:  # eager: everything is revoked before rejoining
                assert removed == before, (m, before, after_kill)

    print(f"[{kind}] {TOTAL} records; kill->3/3 {kill_dt:.2f} s, leave->6 {leave_dt:.2f} s; "
          f"C's committed at death {committed_c}, {redelivered} of C's uncommitted records "
          f"re-delivered; {produced_at_leave} produced when B left; "
          f"{time.time() - t_begin:.1f} s")


RESTART_CLIENTS = ("kafka-python", "confluent-kafka", "aiokafka")


class RestartTarget:
    """The broker the restart test stops and restarts: its own kwire on a single
    node; in a cluster, the group's coordinator (the test's own cluster)."""

    def __init__(self, request: pytest.FixtureRequest, settings: dict[str, str],
                 cluster_brokers: int) -> None:
        self.cluster: KwireCluster | None = None
        self.process: KwireProcess | None = None
        if cluster_brokers > 1:  # the fixture needs the bookies: only ask for it here
            self.cluster = request.getfixturevalue("kwire_cluster_factory")(settings)
        else:
            self.process = request.getfixturevalue("kwire_factory")(settings).start()
        self.find_coordinator = request.getfixturevalue("find_coordinator")

    @property
    def bootstrap(self) -> str:
        """Every broker running now."""
        if self.cluster is not None:
            return self.cluster.bootstrap
        assert self.process is not None
        return self.process.bootstrap

    def restart(self, mode: str, group: str, check: Callable[[str], None]) -> None:
        """Stop (graceful) or kill -9 the broker, restart it; `check(bootstrap)`
        runs while a cluster's coordinator is down (its offsets must be served by
        the broker that took its partition over)."""
        if self.cluster is None:
            assert self.process is not None
            if mode == "graceful":
                self.process.stop()
            else:
                self.process.kill()  # right after the last OffsetCommit was answered
            self.process.restart()
            return
        node_id, _address = self.find_coordinator(self.bootstrap, group)
        if mode == "graceful":
            assert self.cluster.sigterm(node_id) == 0, self.cluster.log_tail(node_id, 40)
        else:
            self.cluster.kill9(node_id)  # right after the last OffsetCommit was answered
        survivors = self.cluster.bootstrap

        def taken_over() -> int | None:
            now, _address = self.find_coordinator(survivors, group)
            return now if now != node_id else None

        t0 = time.monotonic()
        new_id = wait_for(taken_over, 30,
                          f"another broker to coordinate {group} after broker {node_id} went")
        print(f"{mode}: broker {new_id} took {group} over from broker {node_id} "
              f"{time.monotonic() - t0:.1f} s after it went")
        check(survivors)
        self.cluster.restart(node_id)

    def stop(self) -> None:
        if self.cluster is None:
            assert self.process is not None
            self.process.stop()
            return
        codes = self.cluster.stop_all()
        assert set(codes.values()) == {0}, f"exit codes after SIGTERM: {codes}"


def committed_anew(bootstrap: str, group: str, topic: str, partitions: range,
                   retry_for: float = 30.0) -> dict[int, int]:
    """GroupAdmin.committed through a new admin client per attempt, retrying errors
    (the broker loading the offsets after its restart, clients not reconnected
    yet) for `retry_for` s. A new client each time because kafka-python's admin
    caches a group's coordinator and does not look it up again after
    NOT_COORDINATOR, and in a cluster a restart moves the coordinator (away, and
    back with the controller's rebalance when the broker returns)."""
    deadline = time.monotonic() + retry_for
    while True:
        adm = None
        try:
            adm = GroupAdmin(bootstrap)
            return adm.committed(group, topic, partitions, retry_for=0)
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
        finally:
            if adm is not None:
                adm.close()


RESTART_CLIENTS = ("kafka-python", "confluent-kafka", "aiokafka")


@pytest.mark.timeout(180)
@pytest.mark.parametrize("client", RESTART_CLIENTS)
@pytest.mark.parametrize("mode", ["graceful", "kill9"])
def test_committed_offsets_survive_broker_restart(mode: str, client: str,
                                                  request: pytest.FixtureRequest,
                                                  cluster_brokers: int,
                                                  tmp_path: Path, topic_name: str) -> None:
    parts = 3
    broker = RestartTarget(request, {"group.initial.rebalance.delay.ms": "0"}, cluster_brokers)
    create_topic(broker.bootstrap, topic_name, parts)
    adm = GroupAdmin(broker.bootstrap)
    expected = produce_now(broker.bootstrap, topic_name, {0: 1000, 1: 700, 2: 400})
    group = f"g-{topic_name}"
    members: list[PythonMember] = []
    try:
        # M1 consumes ~half (batches of <= 100), commits after every batch, leaves cleanly
        m1 = PythonMember(client, "M1", "member-M1", tmp_path, broker.bootstrap, topic_name,
                          group, commit_interval=0, max_batch=100, stop_after=1000)
        members.append(m1)
        rc = m1.wait(60)
        assert rc == 0, f"M1 exited with {rc}\n{m1.tail()}"
        c1 = m1.last_committed()
        consumed1 = by_partition(m1.recs())
        assert c1 == {p: max(offs) + 1 for p, offs in consumed1.items()}, (c1, m1.tail())
        before = adm.committed(group, topic_name, range(parts))
        assert before == {p: c1.get(p, NO_COMMIT) for p in range(parts)}, (before, c1)
        adm.close()  # (closing twice is harmless)

        def while_down(survivors: str) -> None:
            got = committed_anew(survivors, group, topic_name, range(parts))
            assert got == before, (
                f"committed offsets before {before}, while the coordinator was down {got}")

        broker.restart(mode, group, while_down)
        after = committed_anew(broker.bootstrap, group, topic_name, range(parts))
        assert after == before, (
            f"committed offsets before {before}, after the {mode} restart {after}")
        expected.update(produce_now(broker.bootstrap, topic_name, {0: 50, 1: 50, 2: 50}, "after"))

        m2 = PythonMember(client, "M2", "member-M2", tmp_path, broker.bootstrap, topic_name,
                          group, commit_interval=0, max_batch=100)
        members.append(m2)
        wait_for(lambda: len({(p, o) for p, o, _v, _t in m1.recs() + m2.recs()}) >= len(expected),
                 60, f"M1 + M2 to cover all {len(expected)} records",
                 detail=lambda: describe_failure(members, None))
        m2.terminate()
        assert m2.wait(30) == 0, m2.tail()
    finally:
        adm.close()
        for m in members:
            m.close()

    consumed2 = by_partition(m2.recs())
    for p in range(parts):
        assert min(consumed2[p]) == c1.get(p, 0), (
            f"partition {p}: the restarted member resumed at {min(consumed2[p])}, "
            f"the committed offset was {c1.get(p)}")
    k1 = [(p, o) for p, o, _v, _t in m1.recs()]
    k2 = [(p, o) for p, o, _v, _t in m2.recs()]
    assert len(set(k1)) == len(k1) and len(set(k2)) == len(k2), "a member saw a record twice"
    again = sorted(set(k1) & set(k2))
    assert not again, f"{len(again)} committed records delivered again: {again[:10]}"
    assert set(k1) | set(k2) == set(expected), sorted(set(expected) - set(k1) - set(k2))[:10]
    for p, o, v, _t in m1.recs() + m2.recs():
        assert expected[(p, o)] == v, (p, o, v, expected[(p, o)])
    broker.stop()

