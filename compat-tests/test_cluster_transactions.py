"""Transactions on a 3-broker kwire cluster (real ZooKeeper and bookies), with
confluent-kafka (librdkafka) as the transactional producer and consumers.

- The inter-broker WriteTxnMarkers client (kwire/broker/inter_broker.py) against
  the session broker: kwire by default, a real Kafka 4.4.0 with
  `--bootstrap 127.0.0.1:PORT` (scripts/run-kafka.sh), which is how its expected
  answers were checked; and against the cluster, where only a partition's leader
  takes a marker.
- Transactions spanning partitions led by different brokers (so the coordinator
  writes some markers locally and some through the inter-broker client), commits
  and aborts interleaved: read_committed sees exactly the committed records, in
  order per partition; read_uncommitted sees every record.
- The transaction coordinator's broker (FindCoordinator key_type 1) is killed
  (SIGKILL) in the middle of a run of transactions; the producer carries on
  (a new producer with the same transactional.id if librdkafka's error is
  fatal). Afterwards read_committed has every committed transaction exactly
  once, no record of an aborted one, and each transaction whose commit had no
  answer either whole or absent.

The cluster tests start brokers themselves, so they skip under --bootstrap (as
kwire_cluster_factory does).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest
from bookkeeper_env import BookKeeperEnv
from cluster_env import KwireCluster
from cluster_load import ClusterView, wait_until
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from coordinator_lookup import find_coordinator_at

from kwire.broker.inter_broker import InterBrokerClient, TxnMarker
from kwire.errors import ErrorCode

if TYPE_CHECKING:
    from conftest import Broker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

PARTITIONS = 6
SESSION_TIMEOUT_MS = 6000
BROKER_SETTINGS = {"zookeeper.session.timeout.ms": str(SESSION_TIMEOUT_MS),
                   "group.initial.rebalance.delay.ms": "0"}
PRODUCER_SETTINGS = {
    "transaction.timeout.ms": 30_000, "message.timeout.ms": 30_000,
    "socket.timeout.ms": 5000, "topic.metadata.refresh.interval.ms": 1000,
    "retry.backoff.max.ms": 250, "reconnect.backoff.max.ms": 500,
    "linger.ms": 5,
}


# -- fixtures ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[KwireCluster]:
    if request.config.getoption("--bootstrap"):
        pytest.skip("starts and kills kwire brokers itself; not possible with --bootstrap")
    env: BookKeeperEnv = request.getfixturevalue("bookkeeper")
    with KwireCluster(tmp_path_factory.mktemp("txn-cluster"), env=env,
                      settings=BROKER_SETTINGS) as c:
        c.start_brokers([1, 2, 3])
        yield c


@pytest.fixture(scope="module")
def view() -> ClusterView:
    return ClusterView()


# -- helpers ----------------------------------------------------------------------

def create_topic(view: ClusterView, bootstrap: str, topic: str,
                 partitions: int = PARTITIONS) -> dict[int, int]:
    """Create `topic`; partition -> leader once every partition has one."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)
    found: dict[int, int] = {}

    def led() -> bool:
        nonlocal found
        try:
            found = view.leaders(bootstrap, topic)
        except (KafkaException, KeyError):
            return False
        return len(found) == partitions and all(lead >= 0 for lead in found.values())
    wait_until(led, 30, f"{topic} to have a leader for each partition", every=0.2)
    return found


def wait_no_open_transaction(bootstrap: str, topic: str, partitions: int,
                             timeout: float = 60.0) -> dict[int, int]:
    """Wait until every partition's last stable offset reaches its high watermark
    (every marker written: the coordinator writes them after EndTxn answers);
    partition -> high watermark."""
    committed = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-lso",
                          "isolation.level": "read_committed"})
    uncommitted = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-hw",
                            "isolation.level": "read_uncommitted"})
    ends: dict[int, int] = {}
    try:
        def stable() -> bool:
            try:
                for p in range(partitions):
                    tp = TopicPartition(topic, p)
                    _, lso = committed.get_watermark_offsets(tp, timeout=5)
                    _, hw = uncommitted.get_watermark_offsets(tp, timeout=5)
                    if lso != hw:
                        return False
                    ends[p] = hw
            except KafkaException:
                return False
            return True
        wait_until(stable, timeout, f"every partition of {topic} to have LSO = HW", every=0.25)
        return dict(ends)
    finally:
        committed.close()
        uncommitted.close()


def read_values(bootstrap: str, topic: str, ends: dict[int, int], isolation: str,
                timeout: float = 60.0) -> dict[int, list[bytes]]:
    """Every value of every partition up to `ends`, by a fresh assigned consumer
    with `isolation` ("read_committed" or "read_uncommitted"). The last offsets
    are control records (never delivered), so a partition is done at its EOF."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-{isolation}",
                         "enable.auto.commit": False, "enable.partition.eof": True,
                         "isolation.level": isolation})
    out: dict[int, list[bytes]] = {p: [] for p in ends}
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        done = {p for p, end in ends.items() if end == 0}
        deadline = time.monotonic() + timeout
        while len(done) < len(ends):
            assert time.monotonic() < deadline, (
                f"{isolation} read of {topic} did not reach {ends}; done {sorted(done)}")
            for msg in consumer.consume(1000, 0.5):
                err = msg.error()
                if err is not None:
                    assert err.code() == KafkaError._PARTITION_EOF, err
                    if msg.offset() >= ends[msg.partition()]:
                        done.add(msg.partition())
                    continue
                out[msg.partition()].append(msg.value())
        return out
    finally:
        consumer.close()


# -- the transactional producer ---------------------------------------------------------

COMMITTED, ABORTED, UNKNOWN = "committed", "aborted", "unknown"


@dataclass
class Txn:
    number: int
    commit: bool  # what the producer meant to do
    values: dict[int, list[bytes]]  # partition -> values, in produce order
    outcome: str = ""  # COMMITTED, ABORTED, UNKNOWN (a commit without a definite answer)
    started: float = 0.0


def plan(tag: str, number: int) -> Txn:
    """Transaction `number`: two records on each of three alternating partitions
    (every fourth one on all six); one in three is aborted."""
    parts = [p for p in range(PARTITIONS) if number % 4 == 0 or (p + number) % 2 == 0]
    values = {p: [f"{tag}:{number}:{p}:{i}".encode() for i in range(2)] for p in parts}
    return Txn(number, commit=number % 3 != 1, values=values)


@dataclass
class TxnProducer:
    """Runs planned transactions one after the other with one librdkafka
    transactional producer, handling its errors as its documentation says:
    retriable → call again, abortable → abort_transaction, fatal → a new producer
    with the same transactional.id (which fences the old one and ends its
    transaction). Every transaction's outcome is recorded."""

    bootstrap: str
    topic: str
    transactional_id: str
    tag: str
    call_timeout: float = 15.0
    txns: list[Txn] = field(default_factory=list)
    producers_made: int = 0
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._producer: Producer | None = None

    def _new_producer(self, deadline: float) -> Producer:
        if self._producer is not None:
            self._producer.flush(0)
        self.producers_made += 1
        producer = Producer({"bootstrap.servers": self.bootstrap,
                             "transactional.id": self.transactional_id,
                             "client.id": f"txn-{self.tag}-{self.producers_made}",
                             **PRODUCER_SETTINGS})
        while True:
            try:
                producer.init_transactions(self.call_timeout)
                return producer
            except KafkaException as exc:
                err = exc.args[0]
                self.errors.append(f"init_transactions: {err}")
                if not err.retriable() or time.monotonic() > deadline:
                    raise

    def producer(self, deadline: float) -> Producer:
        if self._producer is None:
            self._producer = self._new_producer(deadline)
        return self._producer

    def run(self, number: int, deadline: float) -> Txn:
        txn = plan(self.tag, number)
        txn.started = time.monotonic()
        self.txns.append(txn)
        commit_sent = False
        try:
            producer = self.producer(deadline)
            producer.begin_transaction()
            for p, values in txn.values.items():
                for value in values:
                    producer.produce(self.topic, value, partition=p)
            if not txn.commit:
                # Written first, so the log holds records for the abort marker to
                # hide (abort_transaction drops what librdkafka has not sent yet).
                unsent = producer.flush(self.call_timeout)
                if unsent:
                    self.errors.append(f"txn {number}: {unsent} record(s) unsent at abort")
                self._abort(producer, deadline)
                txn.outcome = ABORTED
                return txn
            commit_sent = True
            while True:
                try:
                    producer.commit_transaction(self.call_timeout)
                    txn.outcome = COMMITTED
                    return txn
                except KafkaException as exc:
                    err = exc.args[0]
                    self.errors.append(f"txn {number} commit: {err}")
                    if err.retriable() and time.monotonic() < deadline:
                        continue
                    if err.txn_requires_abort():
                        self._abort(producer, deadline)
                        txn.outcome = ABORTED
                        return txn
                    raise
        except KafkaException as exc:
            self.errors.append(f"txn {number}: {exc.args[0]}; a new producer")
            # Never sent a commit: the coordinator can only abort it (the new
            # producer's InitProducerId does). Otherwise the answer is unknown.
            txn.outcome = UNKNOWN if commit_sent else ABORTED
            self._producer = None
            return txn

    def _abort(self, producer: Producer, deadline: float) -> None:
        while True:
            try:
                producer.abort_transaction(self.call_timeout)
                return
            except KafkaException as exc:
                err = exc.args[0]
                self.errors.append(f"abort: {err}")
                if not err.retriable() or time.monotonic() > deadline:
                    raise

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(5)
            self._producer = None


def check_read_committed(txns: list[Txn], seen: dict[int, list[bytes]]) -> None:
    """Every committed transaction's records, none of an aborted one, each unknown
    one whole or absent; per partition exactly the visible transactions' records,
    once each, in transaction order."""
    visible: set[int] = set()
    for t in txns:
        expected = {v for vs in t.values.values() for v in vs}
        found = {v for vs in seen.values() for v in vs if v in expected}
        if t.outcome == COMMITTED:
            assert found == expected, f"committed txn {t.number} lost {sorted(expected - found)}"
        elif t.outcome == ABORTED:
            assert not found, f"aborted txn {t.number} is visible: {sorted(found)}"
        else:
            assert found in (set(), expected), f"txn {t.number} is partly visible"
        if found:
            visible.add(t.number)
    for p, values in seen.items():
        assert values == [v for t in txns if t.number in visible for v in t.values.get(p, [])], (
            f"partition {p}: not the visible transactions' records once each, in order")


# -- the inter-broker client against a real broker ----------------------------------

def write_markers(address: str, markers: list[TxnMarker]
                  ) -> dict[tuple[int, str, int], ErrorCode]:
    host, port = address.rsplit(":", 1)

    async def call() -> dict[tuple[int, str, int], ErrorCode]:
        client = InterBrokerClient(request_timeout_s=10.0)
        try:
            return await client.write_txn_markers(host, int(port), markers)
        finally:
            await client.close()
    return asyncio.run(call())


def test_inter_broker_client_writes_markers_to_the_session_broker(broker: Broker,
                                                                  topic_name: str) -> None:
    """A marker for a producer with no transaction on a partition the broker leads
    is written (NONE), as Kafka does; an unknown topic answers
    UNKNOWN_TOPIC_OR_PARTITION. A freshly created partition may not take it at
    once (Kafka's answer too), so NONE is waited for."""
    address = broker.bootstrap.split(",")[0]
    view = ClusterView()
    leaders = create_topic(view, broker.bootstrap, topic_name, partitions=1)
    if broker.cluster is not None:  # ask the leader
        address = broker.cluster.brokers[leaders[0]].bootstrap
    marker = TxnMarker(producer_id=424242, producer_epoch=0, commit=True, coordinator_epoch=0,
                       partitions=((topic_name, 0), (f"{topic_name}-missing", 0)))
    answers: list[dict[tuple[int, str, int], ErrorCode]] = []

    deadline = time.monotonic() + 20
    while True:
        answers.append(write_markers(address, [marker]))
        if answers[-1][(424242, topic_name, 0)] == ErrorCode.NONE:
            break
        assert time.monotonic() < deadline, f"no marker written to {topic_name}-0: {answers[-3:]}"
        time.sleep(0.5)
    assert answers[-1][(424242, f"{topic_name}-missing", 0)] == (
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)


def test_inter_broker_client_only_the_leader_takes_a_marker(cluster: KwireCluster,
                                                            view: ClusterView) -> None:
    topic = f"txn-markers-{uuid.uuid4().hex[:8]}"
    leaders = create_topic(view, cluster.bootstrap, topic, partitions=3)
    for node_id in cluster.running_ids():
        marker = TxnMarker(producer_id=515151, producer_epoch=0, commit=False,
                           coordinator_epoch=0,
                           partitions=tuple((topic, p) for p in range(3)))
        # The metadata names the leaders before each of them has opened its
        # partition (taking over the ledger): until then the leader answers as one
        # without the log, and Kafka's coordinator retries. Wait for its own ones.
        own = [p for p, leader in leaders.items() if leader == node_id]
        deadline = time.monotonic() + 20
        while True:
            errors = write_markers(cluster.brokers[node_id].bootstrap, [marker])
            if all(errors[(515151, topic, p)] == ErrorCode.NONE for p in own):
                break
            assert time.monotonic() < deadline, (node_id, leaders, errors)
            time.sleep(0.2)
        for p, leader in leaders.items():
            # A kwire broker that does not lead a partition has no log of it, like a
            # Kafka broker outside its replica set: UNKNOWN_TOPIC_OR_PARTITION (Kafka
            # answers so when it has no local log; its coordinator retries both that
            # and NOT_LEADER_OR_FOLLOWER after refreshing metadata).
            want = ErrorCode.NONE if leader == node_id else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            assert errors[(515151, topic, p)] == want, (node_id, p, leader, errors)


# -- transactions on the cluster ------------------------------------------------------

def test_transactions_across_leaders_commit_and_abort(cluster: KwireCluster,
                                                      view: ClusterView) -> None:
    topic = f"txn-span-{uuid.uuid4().hex[:8]}"
    transactional_id = f"txn-span-{uuid.uuid4().hex[:8]}"
    leaders = create_topic(view, cluster.bootstrap, topic)
    assert len(set(leaders.values())) >= 2, f"every partition on one broker: {leaders}"

    runner = TxnProducer(cluster.bootstrap, topic, transactional_id, tag="span")
    deadline = time.monotonic() + 45
    try:
        runner.producer(deadline)
        coordinator, _ = find_coordinator_at(cluster.bootstrap, transactional_id, 60, key_type=1)
        # Some markers must go through the inter-broker client, not only locally.
        assert set(leaders.values()) - {coordinator}, (coordinator, leaders)
        for number in range(12):
            runner.run(number, deadline)
    finally:
        runner.close()
    assert [t.outcome for t in runner.txns] == [
        COMMITTED if t.commit else ABORTED for t in runner.txns], runner.errors
    assert runner.producers_made == 1, runner.errors

    ends = wait_no_open_transaction(cluster.bootstrap, topic, PARTITIONS)
    committed = read_values(cluster.bootstrap, topic, ends, "read_committed")
    everything = read_values(cluster.bootstrap, topic, ends, "read_uncommitted")
    for p in range(PARTITIONS):
        assert committed[p] == [v for t in runner.txns if t.commit
                                for v in t.values.get(p, [])], f"read_committed, partition {p}"
        assert everything[p] == [v for t in runner.txns for v in t.values.get(p, [])], (
            f"read_uncommitted, partition {p}; {runner.errors}")
    check_read_committed(runner.txns, committed)


def test_transactions_go_on_after_the_coordinator_is_killed(cluster: KwireCluster,
                                                            view: ClusterView) -> None:
    topic = f"txn-kill-{uuid.uuid4().hex[:8]}"
    transactional_id = f"txn-kill-{uuid.uuid4().hex[:8]}"
    create_topic(view, cluster.bootstrap, topic)
    runner = TxnProducer(cluster.bootstrap, topic, transactional_id, tag="kill")
    runner.producer(time.monotonic() + 30)
    coordinator, _ = find_coordinator_at(cluster.bootstrap, transactional_id, 30, key_type=1)

    total, kill_after = 30, 8
    deadline = time.monotonic() + 75
    killed_at: list[float] = []
    done = threading.Event()

    def produce() -> None:
        try:
            for number in range(total):
                if time.monotonic() > deadline:
                    runner.errors.append(f"deadline reached before txn {number}")
                    break
                runner.run(number, deadline)
        finally:
            done.set()

    thread = threading.Thread(target=produce, name="txn-producer", daemon=True)
    thread.start()
    try:
        wait_until(lambda: len(runner.txns) > kill_after or done.is_set(), 30,
                   f"{kill_after} transactions before the kill", every=0.05)
        cluster.kill9(coordinator)
        killed_at.append(time.monotonic())
        assert done.wait(90), f"producer stuck: {runner.errors[-5:]}"
        # Asked of the survivors, before the killed broker comes back.
        new_coordinator, _ = find_coordinator_at(cluster.bootstrap, transactional_id, key_type=1,
                                                  timeout=30)
    finally:
        done.wait(30)
        runner.close()
        if not cluster.brokers[coordinator].running:
            cluster.restart(coordinator)

    after_kill = [t for t in runner.txns if t.started >= killed_at[0]]
    starts = [t.started for t in runner.txns]
    longest_stall = max(b - a for a, b in zip(starts, starts[1:], strict=False))
    print(f"\ncoordinator {coordinator} killed after {total - len(after_kill)} transactions; "
          f"now {new_coordinator}; longest stall {longest_stall:.1f} s; producers "
          f"{runner.producers_made}; outcomes {''.join(t.outcome[0] for t in runner.txns)}; "
          f"errors {runner.errors}")
    assert new_coordinator != coordinator
    assert len(runner.txns) == total, runner.errors
    assert len(after_kill) >= total - kill_after - 2, "the kill came too late to matter"
    assert any(t.outcome == COMMITTED for t in after_kill), (
        f"nothing committed after the kill: {[t.outcome for t in after_kill]} {runner.errors}")

    ends = wait_no_open_transaction(cluster.bootstrap, topic, PARTITIONS)
    committed = read_values(cluster.bootstrap, topic, ends, "read_committed")
    check_read_committed(runner.txns, committed)
