"""Cluster failover and scaling under load, against the session's real ZooKeeper
and bookies (brokers on zookeeper.session.timeout.ms=6000).

Chaos: confluent-kafka and Kafka's Java producer (acks=all, idempotent) write
sequence-numbered values to 12 partitions (replication factor 3) while a
consumer group of 3 reads and commits. One after the other on one cluster: kill
-9 the broker leading the most partitions, then restart it; SIGSTOP a broker for
longer than its session timeout, then resume it; kill -9 the controller, then
restart it. After each fault every partition must be acknowledged again within
session timeout + 2 s of the fault (the longest time any partition of either
producer went without an acknowledgement after the fault), and the group must
commit past everything acknowledged before the fault. At the end every
partition is read from its start: every acknowledged value is there exactly
once, at its acknowledged offset, each producer's values in order per
partition, nothing no producer sent; the group consumed everything below its
committed offsets.

Scale: start with one broker, add two (each leads its fair share within
seconds), then remove one with SIGTERM (controlled shutdown); the producers see
no delivery error throughout, and the log is checked the same way.

Client settings that shape the figures (Kafka's own brokers would need the same):
a frozen broker still accepts TCP connections (the kernel does), so a request to
it waits for the client's request timeout (3 s here instead of 30 s), and a
client reconnecting to it waits again, on ApiVersions, while its Metadata still
names the frozen broker; only a metadata refresh tells it the partitions moved.
So the producers refresh metadata every second (librdkafka
topic.metadata.refresh.interval.ms, Java metadata.max.age.ms; default 5 min),
and while a leader is missing they ask again after 100 ms, doubling up to
retry.backoff.max.ms (250 ms here instead of 1 s): what is measured is the
cluster's failover rather than the clients' waits.

Measured figures are printed (pytest -s) and written to
<pytest basetemp>/cluster-failover-figures.json; each producer's
acknowledgements go to the test's tmp dir (acks-*.csv) for a failure's post-mortem.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bookkeeper_env import BookKeeperEnv
from cluster_env import KwireCluster
from cluster_load import (
    CkProducerLoad,
    ClusterView,
    GroupConsumers,
    JavaProducerLoad,
    ProducerLoad,
    check_exactly_once,
    committed_offsets,
    dump_acks,
    leader_counts,
    longest_gap,
    read_log,
    wait_until,
)
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic
from harness import KafkaTools

pytestmark = [pytest.mark.slow, pytest.mark.java]

SESSION_TIMEOUT_MS = 6000
RESUME_BOUND_S = SESSION_TIMEOUT_MS / 1000 + 2
PARTITIONS = 12
RATE = 100  # records a second, each producer (2 CPUs run everything here)
# Client settings for a quick failover; see the module docstring.
REQUEST_TIMEOUT_MS = 3000
METADATA_REFRESH_MS = 1000
RETRY_BACKOFF_MAX_MS = 250
FREEZE_S = 9.0  # SIGSTOP for longer than the session timeout
SPREAD_BOUND_S = 10.0
POLL_S = 0.25

BROKER_SETTINGS = {"zookeeper.session.timeout.ms": str(SESSION_TIMEOUT_MS),
                   "group.initial.rebalance.delay.ms": "0"}

FIGURES: dict[str, Any] = {}
# RDKAFKA_DEBUG=cgrp,broker,... : librdkafka's debug contexts for the producer and
# the group members (to stderr; pytest -s shows them), for looking into a failure.
RDKAFKA_DEBUG = {"debug": os.environ["RDKAFKA_DEBUG"]} if os.environ.get("RDKAFKA_DEBUG") else {}


@pytest.fixture
def figures(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The measured figures of this test, printed and written to the JSON file."""
    mine: dict[str, Any] = {}
    yield mine
    if mine:
        path = tmp_path_factory.getbasetemp() / "cluster-failover-figures.json"
        FIGURES.update(mine)
        path.write_text(json.dumps(FIGURES, indent=1))
        print(f"\nfigures: {json.dumps(mine, indent=1)}\nwritten to {path}")


@pytest.fixture
def new_cluster(bookkeeper: BookKeeperEnv, tmp_path: Path) -> Iterator[KwireCluster]:
    """A cluster of no brokers yet, on a chroot of its own."""
    with KwireCluster(tmp_path / "cluster", env=bookkeeper, settings=BROKER_SETTINGS) as c:
        yield c


def others(cluster: KwireCluster, *excluded: int) -> str:
    """The bootstrap string of the running brokers but `excluded`."""
    return ",".join(cluster.brokers[i].bootstrap for i in cluster.running_ids()
                    if i not in excluded)


def create_topic(view: ClusterView, bootstrap: str, topic: str, replication_factor: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, PARTITIONS, replication_factor)])[topic].result(30)

    def led() -> bool:
        try:
            found = view.leaders(bootstrap, topic)
        except (KafkaException, KeyError):
            return False
        return len(found) == PARTITIONS and all(lead >= 0 for lead in found.values())
    wait_until(led, 30, f"{topic} to have a leader for each partition", every=POLL_S)


def producers(cluster: KwireCluster, kafka_tools: KafkaTools, topic: str, log_dir: Path,
              delivery_timeout_ms: int = 120_000) -> tuple[CkProducerLoad, JavaProducerLoad]:
    ck = CkProducerLoad(cluster.bootstrap, topic, PARTITIONS, RATE, config={
        "socket.timeout.ms": REQUEST_TIMEOUT_MS, "message.timeout.ms": delivery_timeout_ms,
        "retry.backoff.max.ms": RETRY_BACKOFF_MAX_MS,
        "topic.metadata.refresh.interval.ms": METADATA_REFRESH_MS,
        **RDKAFKA_DEBUG})
    java = JavaProducerLoad(kafka_tools.java, kafka_tools.libs, cluster.bootstrap, topic,
                            PARTITIONS, RATE, log_dir / "java-producer.log", config={
                                "request.timeout.ms": str(REQUEST_TIMEOUT_MS),
                                "retry.backoff.max.ms": str(RETRY_BACKOFF_MAX_MS),
                                "metadata.max.age.ms": str(METADATA_REFRESH_MS),
                                "delivery.timeout.ms": str(delivery_timeout_ms)})
    return ck, java


def acked_ends(loads: list[ProducerLoad]) -> dict[int, int]:
    """Per partition, one past the highest offset any producer has had acknowledged."""
    ends = {p: 0 for p in range(PARTITIONS)}
    for load in loads:
        for p, o in load.max_acked_offsets().items():
            ends[p] = max(ends[p], o + 1)
    return ends


def wait_leads(view: ClusterView, cluster: KwireCluster, node_id: int, topic: str,
               at_least: int = 1, timeout: float = 30) -> float:
    """Seconds until Metadata (asked of the other brokers) shows `node_id`
    registered and leading at least `at_least` partitions of `topic`."""
    def leads() -> bool:
        bootstrap = others(cluster, node_id) or cluster.bootstrap
        try:
            return (node_id in view.broker_ids(bootstrap)
                    and leader_counts(view.leaders(bootstrap, topic)).get(node_id, 0) >= at_least)
        except KafkaException:
            return False
    return wait_until(leads, timeout, f"broker {node_id} to lead {at_least}+ partitions of {topic}",
                      every=POLL_S)


def stop_load(tmp_path: Path, ck: CkProducerLoad, java: JavaProducerLoad,
              group: GroupConsumers | None = None) -> None:
    """Stop the producers (each flushes: every record acknowledged or failed) and
    the group, all of them whatever fails; dump the acknowledgements; then raise
    the first failure."""
    failures: list[BaseException] = []
    for stop in (ck.stop, java.stop, java.kill, *([group.stop] if group else [])):
        try:
            stop()
        except Exception as exc:
            failures.append(exc)
    dump_acks([ck, java], tmp_path)
    if failures:
        raise failures[0]


def all_acked(loads: list[ProducerLoad], since: float) -> bool:
    return all(ld.acked_everywhere_since(since) for ld in loads)


class Chaos:
    """The chaos scenario: the cluster, the load, the measured figures."""

    def __init__(self, cluster: KwireCluster, view: ClusterView, topic: str,
                 loads: list[ProducerLoad], group: GroupConsumers,
                 figures: dict[str, Any]) -> None:
        self.cluster = cluster
        self.view = view
        self.topic = topic
        self.loads = loads
        self.group = group
        self.faults: list[dict[str, Any]] = []
        figures["faults"] = self.faults

    def counts(self, bootstrap: str | None = None) -> dict[int, int]:
        return leader_counts(self.view.leaders(bootstrap or self.cluster.bootstrap, self.topic))

    def busiest(self, exclude: frozenset[int] = frozenset()) -> tuple[int, int]:
        """(the broker leading the most partitions of the topic, how many); the
        controller only if no other broker leads as many."""
        counts = self.counts()
        ctl = self.view.controller_id(self.cluster.bootstrap)
        node = max((n for n in counts if n >= 0 and n not in exclude),
                   key=lambda n: (counts[n], n != ctl, -n))
        return node, counts[node]

    def after_fault(self, what: str, t_fault: float, ends_before: dict[int, int],
                    survivors: str, since: float | None = None, **extra: Any) -> None:
        """Wait until every partition is acknowledged after `since` (default: the
        fault) and the group committed past what was acknowledged before the
        fault; measure both from the acknowledgements and commits themselves,
        from the fault on; check the bound."""
        wait_until(lambda: all_acked(self.loads, t_fault if since is None else since), 45,
                   f"produce to go on on every partition after {what}", every=POLL_S)
        wait_until(lambda: self.group.committed_past(ends_before, t_fault) is not None, 60,
                   f"the group to commit past the pre-fault ends after {what}", every=POLL_S)
        time.sleep(2.0)  # a stall right after the resume counts too
        now = time.time()
        resume = longest_gap(self.loads, t_fault, now, clip=True)
        gap = longest_gap(self.loads, t_fault, now)
        committed_at = self.group.committed_past(ends_before, t_fault)
        assert committed_at is not None
        figure = {
            "fault": what,
            "produce_resume_s": round(resume.seconds, 2),
            "per_producer_resume_s": {
                ld.name: round(longest_gap([ld], t_fault, now, clip=True).seconds, 2)
                for ld in self.loads},
            "longest_gap_s": round(gap.seconds, 2),
            "group_committed_past_pre_fault_ends_s": round(committed_at - t_fault, 2),
            **extra,
        }
        self.faults.append(figure)
        print(f"\n{what}: every partition acknowledged again within {resume.describe()} "
              f"{figure['per_producer_resume_s']}; longest gap between acknowledgements "
              f"{gap.describe()}; group committed past the pre-fault ends after "
              f"{committed_at - t_fault:.2f} s; leaders now {self.counts(survivors)}; {extra}")
        errors = [f"{ld.name}: {e}" for ld in self.loads for e in ld.snapshot()[1]]
        assert not errors, f"delivery errors after {what}: {errors[:5]}"
        assert resume.seconds <= RESUME_BOUND_S, (
            f"after {what} a partition had no acknowledgement for {resume.describe()}, more "
            "than the session timeout + 2 s")

    def rejoined(self, node_id: int, t_back: float) -> float:
        """Wait until `node_id`, back, leads its fair share again; seconds since `t_back`."""
        share = PARTITIONS // len(self.cluster.running_ids())
        wait_leads(self.view, self.cluster, node_id, self.topic, at_least=share)
        return time.time() - t_back

    def kill9_and_restart(self, victim: int, what: str) -> None:
        led = self.counts().get(victim, 0)
        ends = acked_ends(self.loads)
        t_fault = time.time()
        self.cluster.kill9(victim)
        survivors = others(self.cluster, victim)
        elected = None
        if "controller" in what:
            elected = round(wait_until(
                lambda: self.view.controller_id(survivors) not in (victim, -1), 30,
                "a new controller", every=POLL_S), 2)
        self.after_fault(f"kill -9 {what} {victim} (leader of {led}/{PARTITIONS})", t_fault,
                         ends, survivors,
                         **({} if elected is None else {"new_controller_after_s": elected}))
        ends = acked_ends(self.loads)
        t_restart = time.time()
        self.cluster.restart(victim)
        ready = time.time() - t_restart
        leads = self.rejoined(victim, t_restart)
        self.after_fault(f"restart broker {victim}", t_restart, ends, self.cluster.bootstrap,
                         since=time.time(), answers_after_s=round(ready, 2),
                         leads_its_share_after_s=round(leads, 2))

    def freeze_and_resume(self, frozen: int) -> None:
        """SIGSTOP past the session timeout: the others must drop its registration
        and move its partitions; SIGCONT: it must notice its session is gone,
        register again, and lead its share again."""
        led = self.counts().get(frozen, 0)
        survivors = others(self.cluster, frozen)
        ends = acked_ends(self.loads)
        t_fault = time.time()
        self.cluster.sigstop(frozen)
        try:
            gone = wait_until(lambda: frozen not in self.view.broker_ids(survivors),
                              FREEZE_S + 10, f"broker {frozen}'s registration to expire",
                              every=POLL_S)
            moved = wait_until(
                lambda: frozen not in self.view.leaders(survivors, self.topic).values(), 15,
                f"the partitions of frozen broker {frozen} to move", every=POLL_S)
            time.sleep(max(0.0, t_fault + FREEZE_S - time.time()))
        finally:
            ends_at_cont = acked_ends(self.loads)
            t_cont = time.time()
            self.cluster.sigcont(frozen)
        self.after_fault(
            f"SIGSTOP broker {frozen} (leader of {led}/{PARTITIONS}) for {t_cont - t_fault:.1f} s",
            t_fault, ends, survivors, unregistered_after_s=round(gone, 2),
            leadership_moved_after_s=round(gone + moved, 2))
        leads = self.rejoined(frozen, t_cont)
        log = self.cluster.brokers[frozen].log_path.read_text("utf-8", "replace")
        assert "the ZooKeeper session expired" in log, self.cluster.log_tail(frozen)
        assert "re-registered broker" in log, self.cluster.log_tail(frozen)
        self.after_fault(f"SIGCONT broker {frozen}", t_cont, ends_at_cont, self.cluster.bootstrap,
                         since=time.time(), leads_its_share_after_s=round(leads, 2))


@pytest.mark.timeout(300)
def test_chaos_under_load(new_cluster: KwireCluster, kafka_tools: KafkaTools, tmp_path: Path,
                          figures: dict[str, Any]) -> None:
    cluster = new_cluster
    view = ClusterView()
    cluster.start_brokers([1, 2, 3])
    topic = f"chaos-{uuid.uuid4().hex[:8]}"
    create_topic(view, cluster.bootstrap, topic, 3)
    ck, java = producers(cluster, kafka_tools, topic, tmp_path)
    loads: list[ProducerLoad] = [ck, java]
    group_id = f"{topic}-group"
    # The producers' timeouts and metadata refresh, for the frozen broker.
    group = GroupConsumers(cluster.bootstrap, topic, group_id, members=3, config={
        "socket.timeout.ms": REQUEST_TIMEOUT_MS,
        "topic.metadata.refresh.interval.ms": METADATA_REFRESH_MS,
        "retry.backoff.max.ms": RETRY_BACKOFF_MAX_MS,
        **RDKAFKA_DEBUG})
    chaos = Chaos(cluster, view, topic, loads, group, figures)
    ck.start()
    try:
        java.start()
        group.start()
        t0 = time.time()
        wait_until(lambda: all_acked(loads, t0), 60,
                   "both producers to be acknowledged on every partition", every=POLL_S)
        warm = acked_ends(loads)
        wait_until(lambda: group.committed_past(warm, t0) is not None, 60,
                   "the group to commit on every partition", every=POLL_S)

        victim, _led = chaos.busiest()
        chaos.kill9_and_restart(victim, "broker")
        ctl = view.controller_id(cluster.bootstrap)
        frozen, _led = chaos.busiest(exclude=frozenset({ctl}))
        chaos.freeze_and_resume(frozen)
        chaos.kill9_and_restart(view.controller_id(cluster.bootstrap), "controller")
    finally:
        stop_load(tmp_path, ck, java, group)

    # Every acknowledged record exactly once, in order; what the group committed.
    log = read_log(cluster.bootstrap, topic, PARTITIONS)
    result = check_exactly_once(log, loads)
    for load in loads:
        assert not load.snapshot()[1], f"{load.name} delivery errors: {load.snapshot()[1][:5]}"
    assert result.unacknowledged_stored == 0
    committed = committed_offsets(cluster.bootstrap, group_id, topic, PARTITIONS)
    seen = group.seen_offsets()
    for p in range(PARTITIONS):
        assert 0 < committed[p] <= len(log[p]), (p, committed[p], len(log[p]))
        # At least once: every offset below the committed one was given to a member.
        not_given = set(range(committed[p])) - seen.get(p, set())
        assert not not_given, f"partition {p}: offsets {sorted(not_given)[:10]} never consumed"
    assert not group.errors, group.errors[:5]
    figures["chaos_records"] = {
        "acknowledged": result.acknowledged, "stored": result.stored,
        "ck_sent": ck.sent, "java_sent": java.sent,
        "acknowledged_without_offset": ck.without_offset() + java.without_offset(),
        "group_consumed": group.consumed,
        "group_committed": sum(committed.values()),
        "group_commit_errors": dict(Counter(error for _t, error in group.commit_errors))}


@pytest.mark.timeout(240)
def test_scale_out_and_in_while_producing(new_cluster: KwireCluster, kafka_tools: KafkaTools,
                                          tmp_path: Path, figures: dict[str, Any]) -> None:
    cluster = new_cluster
    view = ClusterView()
    cluster.start_broker(1)
    topic = f"scale-{uuid.uuid4().hex[:8]}"
    create_topic(view, cluster.bootstrap, topic, 1)
    # A short delivery timeout: a partition stuck for 30 s would reach the application.
    ck, java = producers(cluster, kafka_tools, topic, tmp_path, delivery_timeout_ms=30_000)
    loads: list[ProducerLoad] = [ck, java]
    scale: dict[str, Any] = {}
    figures["scale"] = scale

    def no_errors(when: str) -> None:
        errors = [f"{ld.name}: {e}" for ld in loads for e in ld.snapshot()[1]]
        assert not errors, f"delivery errors {when}: {errors[:5]}"

    ck.start()
    try:
        java.start()
        t0 = time.time()
        wait_until(lambda: all_acked(loads, t0), 60,
                   "both producers to be acknowledged on every partition", every=POLL_S)
        for node_id, brokers in ((2, 2), (3, 3)):
            share = PARTITIONS // brokers
            t_start = time.time()
            cluster.start_broker(node_id)
            t_ready = time.time()
            leads_s = wait_leads(view, cluster, node_id, topic, at_least=share, timeout=60)
            counts: dict[int, int] = {}

            def spread(n: int = brokers, share: int = share, seen: dict[int, int] = counts
                       ) -> bool:
                # Asked of any broker: the newest one may answer a moment behind.
                seen.clear()
                seen.update(leader_counts(view.leaders(cluster.bootstrap, topic)))
                return len(seen) == n and all(c >= share for c in seen.values())
            wait_until(spread, 10, f"every broker to see the {brokers} brokers' shares",
                       every=POLL_S)
            spread_s = time.time() - t_ready
            wait_until(lambda: all_acked(loads, t_ready + spread_s), 30,  # noqa: B023
                       "produce on every partition after the move", every=POLL_S)
            time.sleep(2.0)
            gap = longest_gap(loads, t_ready, time.time())
            scale[f"add_broker_{node_id}"] = {
                "start_to_ready_s": round(t_ready - t_start, 2),
                "ready_to_leading_its_share_s": round(leads_s, 2),
                "ready_to_fair_share_everywhere_s": round(spread_s, 2),
                "leaders": {str(k): v for k, v in sorted(counts.items())},
                "longest_produce_gap_s": round(gap.seconds, 2)}
            print(f"\nbroker {node_id} added: answered {t_ready - t_start:.2f} s after its "
                  f"start, led its share of {share} {leads_s:.2f} s later, every broker "
                  f"answered the spread after {spread_s:.2f} s; leaders {counts}; "
                  f"longest gap between acknowledgements {gap.describe()}")
            assert spread_s <= SPREAD_BOUND_S, f"broker {node_id} took {spread_s:.1f} s"
            no_errors(f"after adding broker {node_id}")

        leaving = 2
        t_term = time.time()
        rc = cluster.sigterm(leaving)
        exit_s = time.time() - t_term
        assert rc == 0, cluster.log_tail(leaving)
        wait_until(lambda: all_acked(loads, t_term + exit_s), 30,
                   "produce on every partition after the controlled shutdown", every=POLL_S)
        wait_until(lambda: set(leader_counts(view.leaders(cluster.bootstrap, topic))) == {1, 3},
                   10, f"brokers 1 and 3 to lead everything after broker {leaving} left",
                   every=POLL_S)
        counts = leader_counts(view.leaders(cluster.bootstrap, topic))
        time.sleep(2.0)
        gap = longest_gap(loads, t_term, time.time())
        scale[f"sigterm_broker_{leaving}"] = {
            "exit_code": rc, "exit_after_s": round(exit_s, 2),
            "leaders": {str(k): v for k, v in sorted(counts.items())},
            "longest_produce_gap_s": round(gap.seconds, 2)}
        print(f"\nbroker {leaving} SIGTERM: exit {rc} after {exit_s:.2f} s; leaders {counts}; "
              f"longest gap between acknowledgements {gap.describe()}")
        no_errors(f"after the controlled shutdown of broker {leaving}")
    finally:
        stop_load(tmp_path, ck, java)
    no_errors("at the end")
    log = read_log(cluster.bootstrap, topic, PARTITIONS)
    result = check_exactly_once(log, loads)
    assert result.unacknowledged_stored == 0
    figures["scale_records"] = {
        "acknowledged": result.acknowledged, "stored": result.stored,
        "acknowledged_without_offset": ck.without_offset() + java.without_offset()}
