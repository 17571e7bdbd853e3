"""Kafka 4.4.0's own Java tools against a 3-broker kwire cluster (cluster mode:
3 kwire processes on the session's real ZooKeeper and bookies, node ids 1, 2, 3,
zookeeper.session.timeout.ms=6000), checking what the tools print, not only
their exit codes:

- kafka-broker-api-versions, given one broker's address, lists all three with
  their node ids and addresses, each with the same API versions;
- kafka-topics --create --replication-factor 3 --partitions 6, then --describe:
  leaders spread 2/2/2 over brokers 1, 2, 3, each partition's leader its first
  replica, 3 replicas each, Isr = Replicas; after kill -9 of a broker and its
  ZooKeeper session timeout, its partitions are led by the others and it is out
  of every Isr (the others' leaderships untouched, the data still there and
  writable); after its restart it is back in every Isr and, by the controller's
  rebalance, leads its share (2) again;
- kafka-consumer-groups: --list (and --list --state) lists groups whose
  coordinators are on three different brokers (the admin client asks every
  broker); --describe --state shows each group's coordinator (the leader of its
  __consumer_offsets partition: Kafka's partitionFor, found independently from
  Metadata); --describe of a group consuming from the cluster shows its member,
  offsets and lag, --members its assignment; after kill -9 of that group's
  coordinator (the controller, so a new controller must act) another broker
  coordinates it, with the same offsets and lag.

(kafka-leader-election and kafka-reassign-partitions are tested elsewhere.)
Each JVM start costs ~1-3 s on 2 cores, so the tools are run only where their
output is the point.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cluster_env import KwireCluster
from groups_support import GROUP_COMMAND, PythonMember, produce_now, wait_for
from harness import KafkaTools
from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient

from kwire.coordinator.group.manager import partition_for

pytestmark = [pytest.mark.java, pytest.mark.slow, pytest.mark.timeout(300)]

API_VERSIONS = "org.apache.kafka.tools.BrokerApiVersionsCommand"
TOPICS = "org.apache.kafka.tools.TopicCommand"
GET_OFFSETS = "org.apache.kafka.tools.GetOffsetShell"

BROKERS = [1, 2, 3]
SESSION_TIMEOUT_S = 6.0
SETTINGS = {"zookeeper.session.timeout.ms": str(int(SESSION_TIMEOUT_S * 1000)),
            "group.initial.rebalance.delay.ms": "0"}
# A broker's death is seen after its ZooKeeper session expires; the controller
# then moves its leaderships. Bound for both, on 2 busy cores.
FAILOVER_BOUND_S = SESSION_TIMEOUT_S + 24
OFFSETS_TOPIC = "__consumer_offsets"


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[KwireCluster]:
    """Brokers 1, 2, 3 on a chroot of their own; each test leaves all three running."""
    if request.config.getoption("--bootstrap"):
        pytest.skip("starts a kwire cluster itself; not possible with --bootstrap")
    if request.config.getoption("--process-broker") != "kwire":
        pytest.skip("a cluster of kwire brokers (no Kafka cluster is started here)")
    env = request.getfixturevalue("bookkeeper")
    with KwireCluster(tmp_path_factory.mktemp("cluster-tools"), env=env,
                      settings=SETTINGS) as c:
        c.start_brokers(BROKERS)
        yield c


@pytest.fixture
def all_running(cluster: KwireCluster) -> Iterator[KwireCluster]:
    """The cluster with every broker running, before and after the test."""
    assert cluster.running_ids() == BROKERS, cluster.running_ids()
    try:
        yield cluster
    finally:
        for node_id in BROKERS:
            if not cluster.brokers[node_id].running:
                cluster.restart(node_id)


def ok(result: tuple[int, str, str], what: str) -> str:
    rc, out, err = result
    assert rc == 0, f"{what}: exit code {rc}\n--- stdout ---\n{out}\n--- stderr ---\n{err}"
    return out


# -- kafka-broker-api-versions -----------------------------------------------------

BROKER_LINE = re.compile(r"^(\S+) \(id: (-?\d+) rack: (\S+) isFenced: (\w+)\) -> \($")


def api_version_blocks(out: str) -> dict[int, tuple[str, list[str]]]:
    """node id -> (address, the API lines) of BrokerApiVersionsCommand's output."""
    blocks: dict[int, tuple[str, list[str]]] = {}
    current: list[str] | None = None
    for line in out.splitlines():
        m = BROKER_LINE.match(line)
        if m:
            assert m.group(3) == "null" and m.group(4) == "false", line
            current = []
            blocks[int(m.group(2))] = (m.group(1), current)
        elif line.strip() == ")":
            current = None
        elif current is not None and line.strip():
            current.append(line.strip().rstrip(","))
    return blocks


def test_broker_api_versions_lists_every_broker(all_running: KwireCluster,
                                                kafka_tools: KafkaTools) -> None:
    cluster = all_running
    # One address is enough: the tool finds the others in Metadata.
    out = ok(kafka_tools.run(API_VERSIONS, "--bootstrap-server", cluster.brokers[2].bootstrap),
             "kafka-broker-api-versions")
    blocks = api_version_blocks(out)
    assert {i: address for i, (address, _apis) in blocks.items()} == {
        i: cluster.brokers[i].bootstrap for i in BROKERS}, out
    for node_id, (_address, apis) in blocks.items():
        for api in ("Produce(0): ", "Fetch(1): ", "Metadata(3): ", "FindCoordinator(10): ",
                    "JoinGroup(11): ", "ApiVersions(18): 0 to 4 [usable: 4]",
                    "CreateTopics(19): ", "DescribeCluster(60): "):
            assert any(line.startswith(api) and "usable" in line for line in apis), (
                f"broker {node_id} lacks {api!r}:\n{out}")
    # Three processes of the same kwire: the same APIs at the same versions.
    assert blocks[1][1] == blocks[2][1] == blocks[3][1], out


# -- kafka-topics --describe through a failover and back ---------------------------

@dataclass(frozen=True)
class Row:
    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


def ids(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x)


def describe(kafka_tools: KafkaTools, bootstrap: str, topic: str) -> tuple[str, dict[int, Row]]:
    out = ok(kafka_tools.run(TOPICS, "--bootstrap-server", bootstrap, "--describe",
                             "--topic", topic), "kafka-topics --describe")
    assert re.search(rf"^Topic: {re.escape(topic)}\tTopicId: \S+\tPartitionCount: 6\t"
                     r"ReplicationFactor: 3\t", out, re.M), out
    rows = {}
    # "Leader: none" for a partition without a live leader (a moment in a failover)
    for m in re.finditer(rf"^\tTopic: {re.escape(topic)}\tPartition: (\d+)\t"
                         r"Leader: (-?\d+|none)\tReplicas: ([\d,]*)\tIsr: ([\d,]*)\t",
                         out, re.M):
        leader = -1 if m.group(2) == "none" else int(m.group(2))
        rows[int(m.group(1))] = Row(int(m.group(1)), leader, ids(m.group(3)), ids(m.group(4)))
    assert sorted(rows) == list(range(6)), out
    return out, rows


def end_offsets(kafka_tools: KafkaTools, bootstrap: str, topic: str) -> dict[int, int]:
    out = ok(kafka_tools.run(GET_OFFSETS, "--bootstrap-server", bootstrap, "--topic", topic),
             "kafka-get-offsets")
    return {int(p): int(o)
            for p, o in re.findall(rf"^{re.escape(topic)}:(\d+):(\d+)$", out, re.M)}


def controller_id(bootstrap: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="compat-cluster-tools")
    try:
        return int(admin.describe_cluster()["controller_id"])
    finally:
        admin.close()


def test_topics_describe_failover_and_rebalance(all_running: KwireCluster,
                                                kafka_tools: KafkaTools,
                                                topic_name: str) -> None:
    cluster = all_running
    topic = topic_name
    out = ok(kafka_tools.run(TOPICS, "--bootstrap-server", cluster.bootstrap, "--create",
                             "--topic", topic, "--partitions", "6", "--replication-factor", "3"),
             "kafka-topics --create")
    assert f"Created topic {topic}." in out, out

    def settled(bootstrap: str, check, what: str) -> tuple[str, dict[int, Row]]:  # noqa: ANN001
        """--describe until `check(rows)` holds (metadata reaches every broker, and the
        controller acts, within moments; the tool may ask any broker)."""
        got: list[tuple[str, dict[int, Row]]] = []
        failed: list[str] = []

        def attempt() -> bool:
            try:  # a describe may fail while a broker is going (the last failure is shown)
                got[:] = [describe(kafka_tools, bootstrap, topic)]
            except AssertionError as exc:
                failed[:] = [str(exc)]
                return False
            return bool(check(got[0][1]))

        wait_for(attempt, FAILOVER_BOUND_S, what, 0.2,
                 detail=lambda: "\n".join(([got[0][0]] if got else []) + failed[-1:]))
        return got[0]

    # Created: leaders spread 2/2/2, each partition's leader its preferred (first)
    # replica, all 3 brokers replicas, all in sync.
    out, rows = settled(cluster.bootstrap, lambda rows: all(r.leader >= 0 for r in rows.values()),
                        "every partition to have a leader")
    for r in rows.values():
        assert sorted(r.replicas) == BROKERS and r.isr == r.replicas, out
        assert r.leader == r.replicas[0], out
    assert Counter(r.leader for r in rows.values()) == {1: 2, 2: 2, 3: 2}, out
    created = rows
    produced = produce_now(cluster.bootstrap, topic, dict.fromkeys(range(6), 20))
    assert len(produced) == 120

    # kill -9 a broker that is not the controller (the group test below kills the
    # controller): its partitions move once its ZooKeeper session has expired.
    victim = max(i for i in BROKERS if i != controller_id(cluster.bootstrap))
    survivors_ids = [i for i in BROKERS if i != victim]
    t_kill = time.monotonic()
    cluster.kill9(victim)
    survivors = cluster.bootstrap

    def failed_over(rows: dict[int, Row]) -> bool:
        return all(r.leader in survivors_ids and victim not in r.isr for r in rows.values())

    out, rows = settled(survivors, failed_over,
                        f"broker {victim}'s partitions to move and it to leave every Isr")
    failover_s = time.monotonic() - t_kill
    # Not before the session expired: until then the broker is alive to ZooKeeper.
    # The session was last renewed up to a ping interval (a third of the timeout,
    # kazoo's) before the kill, so it expires 4-6 s after it; half the timeout is
    # a safe lower bound.
    assert failover_s >= SESSION_TIMEOUT_S / 2, f"moved {failover_s:.1f} s after kill -9"
    for p, r in rows.items():
        before = created[p]
        assert r.replicas == before.replicas, f"a failover changed the replicas\n{out}"
        assert r.isr == tuple(i for i in before.replicas if i != victim), out
        if before.leader == victim:  # the first live replica took it over
            assert r.leader == next(i for i in before.replicas if i != victim), out
        else:  # nothing else moved
            assert r.leader == before.leader, out
    assert Counter(r.leader for r in rows.values()) == {i: 3 for i in survivors_ids}, out
    # The data is all there, served and appended to by the new leaders.
    assert end_offsets(kafka_tools, survivors, topic) == dict.fromkeys(range(6), 20)
    produce_now(survivors, topic, dict.fromkeys(range(6), 5), "after-failover")

    # Restart: back in every Isr, and the controller gives it its share again.
    t_restart = time.monotonic()
    cluster.restart(victim)

    def rebalanced(rows: dict[int, Row]) -> bool:
        return (all(r.isr == r.replicas and sorted(r.replicas) == BROKERS
                    for r in rows.values())
                and Counter(r.leader for r in rows.values()) == {1: 2, 2: 2, 3: 2})

    out, rows = settled(cluster.bootstrap, rebalanced,
                        f"broker {victim} back in every Isr and leading 2 partitions")
    rebalance_s = time.monotonic() - t_restart
    assert end_offsets(kafka_tools, cluster.bootstrap, topic) == dict.fromkeys(range(6), 25)
    print(f"kill -9 of broker {victim}: partitions moved, Isr shrunk {failover_s:.1f} s after "
          f"(session timeout {SESSION_TIMEOUT_S:.0f} s); after its restart, back in Isr and "
          f"leading 2 within {rebalance_s:.1f} s")


# -- kafka-consumer-groups: coordinators on three brokers --------------------------

def offsets_topic_leaders(bootstrap: str) -> dict[int, int] | None:
    """__consumer_offsets partition -> leader, from Metadata; None until every
    partition has one."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="compat-cluster-tools")
    try:
        (t,) = admin.describe_topics([OFFSETS_TOPIC])
    except Exception:  # not in this broker's metadata yet
        return None
    finally:
        admin.close()
    leaders = {p["partition_index"]: p["leader_id"] for p in t["partitions"]}
    return leaders if leaders and min(leaders.values()) >= 0 else None


def coordinator_of(group: str, leaders: dict[int, int]) -> int:
    return leaders[partition_for(group, len(leaders))]


def commit_as_group(bootstrap: str, topic: str, group: str, records: int) -> None:
    """A kafka-python consumer joins `group`, reads `records` records, commits, leaves."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                             client_id=f"{group}-c", auto_offset_reset="earliest",
                             enable_auto_commit=False)
    try:
        got = 0
        deadline = time.monotonic() + 60
        while got < records:
            assert time.monotonic() < deadline, f"{group}: read {got} of {records} in 60 s"
            got += sum(len(batch) for batch in consumer.poll(timeout_ms=500).values())
        consumer.commit()
    finally:
        consumer.close()


def table(out: str, group: str) -> list[list[str]]:
    """The rows of `group` in the tool's table(s)."""
    return [line.split() for line in out.splitlines() if line.split()[:1] == [group]]


def test_consumer_groups_list_and_describe_on_three_coordinators(
    all_running: KwireCluster, kafka_tools: KafkaTools, tmp_path: Path, topic_name: str,
    find_coordinator,  # noqa: ANN001
) -> None:
    cluster = all_running
    b = cluster.bootstrap
    topic = topic_name
    ok(kafka_tools.run(TOPICS, "--bootstrap-server", b, "--create", "--topic", topic,
                       "--partitions", "3", "--replication-factor", "3"), "create")
    counts = {0: 10, 1: 20, 2: 30}
    produce_now(b, topic, counts)

    def cgc(*args: str, empty: tuple[str, ...] = ()) -> str:
        """The tool's stdout; on stderr only "no active members" of the `empty` groups."""
        rc, out, err = kafka_tools.run(GROUP_COMMAND, "--bootstrap-server", b, *args, timeout=90)
        assert rc == 0, f"kafka-consumer-groups {' '.join(args)}: rc={rc}\n{out}\n{err}"
        assert {ln for ln in err.splitlines() if ln.strip()} == {
            f"Consumer group '{g}' has no active members." for g in empty}, (
            f"kafka-consumer-groups {' '.join(args)}: stderr:\n{err}")
        return out

    # One group per broker: names whose __consumer_offsets partition each broker leads.
    find_coordinator(b, f"probe-{uuid.uuid4().hex[:8]}")  # creates __consumer_offsets
    leaders = wait_for(lambda: offsets_topic_leaders(b), 30,
                       f"{OFFSETS_TOPIC} to have a leader for every partition")
    assert set(leaders.values()) == set(BROKERS), leaders
    groups: dict[int, str] = {}
    while len(groups) < 3:
        name = f"cg-{uuid.uuid4().hex[:10]}"
        groups.setdefault(coordinator_of(name, leaders), name)
    for node_id, group in groups.items():  # FindCoordinator agrees with partitionFor
        assert find_coordinator(b, group) == (node_id, cluster.brokers[node_id].bootstrap)

    # The controller's group has a live member that committed everything; the other
    # two groups each had a member that read, committed and left.
    ctrl = controller_id(b)
    live = groups[ctrl]
    idle = [i for i in BROKERS if i != ctrl]
    client_id = f"cgc-{uuid.uuid4().hex[:8]}"
    member = PythonMember("confluent-kafka", "M", client_id, tmp_path, b, topic, live,
                          commit_interval=0)
    try:
        for node_id in idle:
            commit_as_group(b, topic, groups[node_id], 10)
        wait_for(lambda: member.last_committed() == counts, 60,
                 "the member to commit 10/20/30", 0.3, detail=member.tail)

        listed = cgc("--list").split()
        assert set(groups.values()) <= set(listed), listed
        out = cgc("--list", "--state")
        states = {r[0]: r[1] for r in (ln.split() for ln in out.splitlines()[1:]) if r}
        assert {g: states.get(g) for g in groups.values()} == {
            g: "Stable" if g == live else "Empty" for g in groups.values()}, out

        # --describe --state of all three at once: each with its own coordinator.
        args = [a for g in groups.values() for a in ("--group", g)]
        out = cgc("--describe", *args, "--state", empty=tuple(groups[i] for i in idle))
        for node_id, group in groups.items():
            members = "1" if node_id == ctrl else "0"
            strategy = "range" if node_id == ctrl else "-"
            state = "Stable" if node_id == ctrl else "Empty"
            assert table(out, group) == [[group, cluster.brokers[node_id].bootstrap,
                                          f"({node_id})", strategy, state, members]], out

        # The live group: its member, offsets and lag (0), its assignment.
        admin = KafkaAdminClient(bootstrap_servers=b, client_id="compat-cluster-tools")
        try:
            (mem,) = admin.describe_groups([live])[live]["members"]
        finally:
            admin.close()
        member_id = mem["member_id"]
        rows = table(cgc("--describe", "--group", live), live)
        assert sorted(rows) == sorted(
            [live, topic, str(p), str(n), str(n), "0", member_id, "/127.0.0.1", client_id]
            for p, n in counts.items()), rows
        rows = table(cgc("--describe", "--group", live, "--members"), live)
        assert rows == [[live, member_id, "/127.0.0.1", client_id, "3"]], rows

        member.terminate()  # commits, LeaveGroup
        assert member.wait(30) == 0, member.tail()
    finally:
        member.close()

    # Lag: 7 more records on partition 1 nobody has read.
    produce_now(b, topic, {1: 7}, "late")
    want = sorted([live, topic, str(p), str(n), str(n + (7 if p == 1 else 0)),
                   str(7 if p == 1 else 0), "-", "-", "-"] for p, n in counts.items())
    rows = table(cgc("--describe", "--group", live, empty=(live,)), live)
    assert sorted(rows) == want, rows

    # kill -9 the group's coordinator, the controller: once its session expired, a
    # new controller gives its __consumer_offsets partition to another broker, which
    # the tool then shows as coordinator, with the same offsets and lag.
    try:
        cluster.kill9(ctrl)
        b = cluster.bootstrap

        def taken_over() -> int | None:
            node_id, _address = find_coordinator(b, live)
            return node_id if node_id != ctrl else None

        new_id = wait_for(taken_over, FAILOVER_BOUND_S, f"another broker to coordinate {live}")
        assert controller_id(b) in idle
        out = cgc("--describe", "--group", live, "--state", empty=(live,))
        assert table(out, live) == [[live, cluster.brokers[new_id].bootstrap, f"({new_id})",
                                     "-", "Empty", "0"]], out
        rows = table(cgc("--describe", "--group", live, empty=(live,)), live)
        assert sorted(rows) == want, rows
        assert set(groups.values()) <= set(cgc("--list").split())
    finally:
        cluster.restart(ctrl)
