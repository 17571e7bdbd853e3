"""Kafka 4.4.0's own admin tools against a three-broker kwire cluster (the
session's real ZooKeeper and bookies): kafka-leader-election,
kafka-reassign-partitions (--execute, --verify, --list) and kafka-topics
--describe, their printed output checked, not only their exit codes.

In cluster mode a partition's replicas are a leadership preference list over
shared BookKeeper ledgers: a reassignment completes in one metadata write, and
a preferred election moves leadership back to replicas[0]. The cluster runs
with auto.leader.rebalance.enable=false, so leadership moves only by failover
and by these tools (with it on, the controller itself spreads leaderships over
a broker that comes back). Every wait is bounded.

Main classes (kafka-tools-4.4.0.jar):
  kafka-leader-election      org.apache.kafka.tools.LeaderElectionCommand
  kafka-reassign-partitions  org.apache.kafka.tools.reassign.ReassignPartitionsCommand
  kafka-topics               org.apache.kafka.tools.TopicCommand
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from bookkeeper_env import BookKeeperEnv
from cluster_env import KwireCluster
from harness import COMPAT_DIR, KafkaTools
from kafka.admin import KafkaAdminClient

sys.path.insert(0, str(COMPAT_DIR / "differential"))
from diff_wire import Connection  # noqa: E402  (kio requests over a plain socket)

pytestmark = [pytest.mark.slow, pytest.mark.java, pytest.mark.timeout(300)]

ELECTION = "org.apache.kafka.tools.LeaderElectionCommand"
REASSIGN = "org.apache.kafka.tools.reassign.ReassignPartitionsCommand"
TOPICS = "org.apache.kafka.tools.TopicCommand"

SESSION_TIMEOUT_MS = 6000
# Failover: the dead broker's session expires, then the controller moves its partitions.
FAILOVER_S = 40.0
SETTLE_S = 20.0


@pytest.fixture(scope="module")
def cluster(bookkeeper: BookKeeperEnv,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[KwireCluster]:
    with KwireCluster(tmp_path_factory.mktemp("admin-tools"), env=bookkeeper,
                      settings={"zookeeper.session.timeout.ms": str(SESSION_TIMEOUT_MS),
                                "auto.leader.rebalance.enable": "false",
                                "group.initial.rebalance.delay.ms": "0"}) as c:
        c.start_brokers([1, 2, 3])
        yield c


@dataclass(frozen=True)
class Row:
    """One partition line of `kafka-topics --describe`."""

    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


_ROW = re.compile(r"Topic: (\S+)\s+Partition: (\d+)\s+Leader: (-?\d+)\s+Replicas: ([\d,]*)"
                  r"\s+Isr: ([\d,]*)")


def _ids(text: str) -> tuple[int, ...]:
    return tuple(int(i) for i in text.split(",") if i)


def run(tools: KafkaTools, main: str, *args: str, ok: bool = True) -> str:
    rc, out, err = tools.run(main, *args, timeout=90)
    print(f"$ {main.rsplit('.', 1)[1]} {' '.join(args[2:])}\n{out}")  # shown with -s
    if ok:
        assert rc == 0, f"{main} {' '.join(args)}: exit {rc}\n{out}\n{err}"
    return out


def describe(tools: KafkaTools, bootstrap: str, topic: str) -> dict[int, Row]:
    out = run(tools, TOPICS, "--bootstrap-server", bootstrap, "--describe", "--topic", topic)
    rows = {int(m[2]): Row(int(m[3]), _ids(m[4]), _ids(m[5]))
            for m in _ROW.finditer(out) if m[1] == topic}
    assert rows, out
    return rows


def wait_for(what: str, check: Callable[[], bool], timeout: float) -> float:
    """Poll `check` until true; the seconds it took (AssertionError past `timeout`)."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.5)
    return time.monotonic() - start


def metadata_rows(bootstrap: str, topic: str) -> dict[int, Row]:
    """The topic as one broker (the first of `bootstrap`) answers Metadata v12: a
    cheap poll, no JVM."""
    host, port = bootstrap.split(",")[0].rsplit(":", 1)
    conn = Connection(host, int(port))
    try:
        resp = conn.call(3, 12, {"topics": [{"name": topic, "topic_id": None}],
                                 "allow_auto_topic_creation": False,
                                 "include_topic_authorized_operations": False})
    finally:
        conn.close()
    assert isinstance(resp, dict) and "topics" in resp, resp
    [t] = resp["topics"]
    return {p["partition_index"]: Row(p["leader_id"], tuple(p["replica_nodes"]),
                                      tuple(p["isr_nodes"])) for p in t["partitions"]}


def described_everywhere(tools: KafkaTools, cluster: KwireCluster, topic: str,
                         want: Callable[[dict[int, Row]], bool]) -> dict[int, Row]:
    """Wait until every broker's metadata shows `want` (each follows the store's
    changes), then what kafka-topics --describe prints, which must agree."""
    seen: dict[int, dict[int, Row]] = {}

    def check() -> bool:
        for i in cluster.running_ids():
            seen[i] = metadata_rows(cluster.brokers[i].bootstrap, topic)
        return all(want(rows) for rows in seen.values())

    wait_for(f"{topic} as wanted on every broker: {seen}", check, SETTLE_S)
    described = describe(tools, cluster.bootstrap, topic)
    assert want(described) and all(rows == described for rows in seen.values()), (
        described, seen)
    return described


def create(tools: KafkaTools, bootstrap: str, topic: str, partitions: int, rf: int) -> None:
    out = run(tools, TOPICS, "--bootstrap-server", bootstrap, "--create", "--topic", topic,
              "--partitions", str(partitions), "--replication-factor", str(rf))
    assert f"Created topic {topic}." in out


def controller_id(bootstrap: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="compat-admin-tools")
    try:
        return int(admin.describe_cluster()["controller_id"])
    finally:
        admin.close()


def test_preferred_election_after_a_broker_came_back(
        cluster: KwireCluster, kafka_tools: KafkaTools, tmp_path: Path) -> None:
    topic = "elect-after-restart"
    create(kafka_tools, cluster.bootstrap, topic, partitions=6, rf=3)
    before = described_everywhere(kafka_tools, cluster, topic, lambda rows: all(
        r.leader == r.replicas[0] and len(r.isr) == 3 for r in rows.values()))
    # A broker that is not the controller, and the partitions it is preferred for.
    victim = next(i for i in (1, 2, 3) if i != controller_id(cluster.bootstrap))
    preferred = sorted(p for p, r in before.items() if r.replicas[0] == victim)
    assert preferred, before
    cluster.kill9(victim)
    try:
        took = wait_for(f"broker {victim}'s partitions moved", lambda: all(
            r.leader not in (victim, -1)
            for r in metadata_rows(cluster.bootstrap, topic).values()), FAILOVER_S)
        print(f"failover took {took:.1f} s")
    finally:
        cluster.restart(victim)
    moved = described_everywhere(kafka_tools, cluster, topic, lambda rows: all(
        len(r.isr) == 3 for r in rows.values()))
    # Back and in every ISR, but leading nothing: no auto rebalance.
    assert all(r.leader != victim for r in moved.values()), moved
    assert all(moved[p].replicas == before[p].replicas for p in moved)

    # Bootstrapped at the returning broker: the AdminClient finds the controller.
    out = run(kafka_tools, ELECTION, "--bootstrap-server", cluster.brokers[victim].bootstrap,
              "--election-type", "PREFERRED", "--all-topic-partitions")
    elected = re.search(r"Successfully completed leader election \(PREFERRED\) for partitions "
                        r"(.*)", out)
    assert elected, out
    names = set(elected[1].split(", "))
    assert {f"{topic}-{p}" for p in preferred} <= names, out
    assert "Error completing leader election" not in out
    after = described_everywhere(kafka_tools, cluster, topic, lambda rows: all(
        r.leader == r.replicas[0] for r in rows.values()))
    assert all(after[p].leader == victim for p in preferred)
    assert all(r.isr == r.replicas for r in after.values())  # every live replica is in sync

    again = run(kafka_tools, ELECTION, "--bootstrap-server", cluster.bootstrap,
                "--election-type", "PREFERRED", "--topic", topic, "--partition", "0")
    assert f"Valid replica already elected for partitions {topic}-0" in again


def test_reassign_execute_verify_and_list(cluster: KwireCluster, kafka_tools: KafkaTools,
                                          tmp_path: Path) -> None:
    topic = "reassign-tool"
    create(kafka_tools, cluster.bootstrap, topic, partitions=2, rf=2)
    before = described_everywhere(kafka_tools, cluster, topic, lambda rows: all(
        r.leader == r.replicas[0] for r in rows.values()))
    # p0: the same brokers reordered (the leader stays: Kafka moves it only at
    # the next preferred election); p1: away from its leader, to the other two.
    p0 = before[0].replicas[::-1]
    p1 = tuple(b for b in (1, 2, 3) if b != before[1].leader)
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": 0, "replicas": list(p0), "log_dirs": ["any"] * len(p0)},
        {"topic": topic, "partition": 1, "replicas": list(p1), "log_dirs": ["any"] * len(p1)},
    ]}))
    out = run(kafka_tools, REASSIGN, "--bootstrap-server", cluster.bootstrap, "--execute",
              "--reassignment-json-file", str(plan))
    assert "Current partition replica assignment" in out, out
    current = json.loads(out.split("Current partition replica assignment", 1)[1]
                         .strip().splitlines()[0])
    assert {(p["partition"], tuple(p["replicas"])) for p in current["partitions"]} == {
        (0, before[0].replicas), (1, before[1].replicas)}
    assert f"Successfully started partition reassignments for {topic}-0,{topic}-1" in out, out

    verify = run(kafka_tools, REASSIGN, "--bootstrap-server", cluster.bootstrap, "--verify",
                 "--reassignment-json-file", str(plan))
    assert f"Reassignment of partition {topic}-0 is completed." in verify, verify
    assert f"Reassignment of partition {topic}-1 is completed." in verify, verify
    assert "Clearing broker-level throttles on brokers 1,2,3" in verify, verify
    assert f"Clearing topic-level throttles on topic {topic}" in verify, verify

    listed = run(kafka_tools, REASSIGN, "--bootstrap-server", cluster.bootstrap, "--list")
    assert "No partition reassignments found." in listed, listed

    after = described_everywhere(kafka_tools, cluster, topic, lambda rows: (
        rows[0].replicas == p0 and rows[1].replicas == p1 and rows[1].leader == p1[0]))
    assert after[0] == Row(before[0].leader, p0, p0), after
    assert after[1] == Row(p1[0], p1, p1), after

    # The reordered partition's new preferred leader takes over on request.
    out = run(kafka_tools, ELECTION, "--bootstrap-server", cluster.bootstrap,
              "--election-type", "PREFERRED", "--topic", topic, "--partition", "0")
    assert (f"Successfully completed leader election (PREFERRED) for partitions {topic}-0"
            in out), out
    final = described_everywhere(kafka_tools, cluster, topic, lambda rows: rows[0].leader == p0[0])
    assert final[0] == Row(p0[0], p0, p0)


def test_a_reassignment_to_a_broker_that_is_not_there_is_refused(
        cluster: KwireCluster, kafka_tools: KafkaTools, tmp_path: Path) -> None:
    topic = "reassign-refused"
    create(kafka_tools, cluster.bootstrap, topic, partitions=1, rf=1)
    before = describe(kafka_tools, cluster.bootstrap, topic)
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": 0, "replicas": [1, 7], "log_dirs": ["any", "any"]}]}))
    rc, out, err = kafka_tools.run(REASSIGN, "--bootstrap-server", cluster.bootstrap,
                                   "--execute", "--reassignment-json-file", str(plan),
                                   timeout=90)
    # The tool checks the brokers itself first (describeCluster), as against Kafka.
    assert rc != 0, out
    assert "Unknown broker id 7" in out + err, out + err
    assert describe(kafka_tools, cluster.bootstrap, topic) == before


def test_a_broker_that_is_not_the_controller_answers_not_controller(
        cluster: KwireCluster, kafka_tools: KafkaTools) -> None:
    """Each API carries NOT_CONTROLLER where Kafka's ZooKeeper-mode controller put
    it: ElectLeaders per partition (no message, top level NONE), the other two at
    the top level with Errors.java's message and nothing else."""
    topic = "not-controller"
    create(kafka_tools, cluster.bootstrap, topic, partitions=2, rf=3)
    controller = controller_id(cluster.bootstrap)
    other = next(i for i in cluster.running_ids() if i != controller)
    host, port = cluster.brokers[other].bootstrap.rsplit(":", 1)
    conn = Connection(host, int(port))
    try:
        elect = conn.call(43, 2, {"election_type": 0, "timeout": 10_000, "topic_partitions": [
            {"topic": topic, "partitions": [0, 1]}]})
        assert elect["error_code"] == 0, elect
        assert elect["replica_election_results"] == [{"topic": topic, "partition_result": [
            {"partition_id": p, "error_code": 41, "error_message": None} for p in (0, 1)]}]
        message = "This is not the correct controller for this cluster."
        alter = conn.call(45, 1, {"timeout": 10_000, "topics": [
            {"name": topic, "partitions": [{"partition_index": 0, "replicas": [3, 2, 1]}]}]})
        assert (alter["error_code"], alter["error_message"], alter["responses"]) == (
            41, message, []), alter
        listed = conn.call(46, 0, {"timeout": 10_000, "topics": None})
        assert (listed["error_code"], listed["error_message"], listed["topics"]) == (
            41, message, []), listed
        # The controller itself serves them.
        host, port = cluster.brokers[controller].bootstrap.rsplit(":", 1)
        at_controller = Connection(host, int(port))
        try:
            listed = at_controller.call(46, 0, {"timeout": 10_000, "topics": None})
            assert (listed["error_code"], listed["topics"]) == (0, []), listed
        finally:
            at_controller.close()
    finally:
        conn.close()
