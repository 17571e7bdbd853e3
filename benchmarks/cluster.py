"""kwire as a 3-broker cluster in the BookKeeper set: the setup, failover after
kill -9 of a partition leader, and produce throughput with 1, 2 and 3 brokers.

  python -m benchmarks.run --only bookkeeper                      # every setup, this one too
  python -m benchmarks.run --only bookkeeper --bk-setups kwire-3brokers,kafka-3rf3

Setup `kwire-3brokers`: a fresh BookKeeperEnv (ZooKeeper + 3 bookies, journal
sync off, as the `kwire-bk-nosync` setup) and 3 `kwire serve` processes, node
ids 1..3, on one fresh ZooKeeper chroot with `log.storage=bookkeeper` and
`zookeeper.session.timeout.ms=6000` (what compat-tests/cluster_env.py's
KwireCluster does, here with the benchmark's runtime-only venv). It runs every
scenario of the BookKeeper set; the topics they create are spread over the
three brokers by kwire's placement. Two scenarios are for clusters only:

- `failover` (this setup and `kafka-3rf3`): a librdkafka producer (acks=all,
  idempotent) writes `failover_rate` records/s of `failover_size` B round-robin
  to the 3 partitions of a topic with replication factor 3; once it is steady,
  the driver kills (SIGKILL) the leader of one partition, choosing a leader
  that is not the active controller (kwire: Metadata's controller id; Kafka:
  the KRaft quorum leader from the nodes' quorum-state files), and records
  every acknowledgement's time. Failover time = from the kill to the first
  acknowledgement after the longest gap between two acknowledgements of that
  partition (the stall). Also recorded: that longest gap, when Metadata first
  named a new leader, and the longest stall of the partitions the victim did
  not lead. The victim is then started again and, once the cluster is whole
  (every partition led, full ISR), the next kill follows (`failover_kills` per
  repetition). Comparable timeouts: kwire brokers `zookeeper.session.timeout.ms
  =6000`; Kafka `broker.session.timeout.ms=6000` (default 9000) with
  `broker.heartbeat.interval.ms=2000` (default).
- `scale` (this setup only): produce throughput with 1, 2 and 3 brokers on
  the same bookies. Brokers are stopped (SIGTERM: controlled shutdown) or
  started until 1..k run, then a fresh topic of `scale_partitions` partitions
  (spread over the k brokers) takes `scale_records` 1 KiB records from
  `scale_producers` librdkafka producer processes started together (acks=all);
  MiB/s = all bytes / (last producer's end - first producer's start). CPU of
  every process over the load is recorded. The order is 1, 2, 3 brokers in odd
  repetitions and 3, 2, 1 in even ones.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.bookkeeper import (
    BkContext,
    BkKwireBroker,
    ProcessCpu,
    Skip,
    _json_result,
    bookkeeper_env_module,
)
from benchmarks.brokers import REPO_ROOT, register
from benchmarks.kafka_cluster import first_ack

BROKERS = 3
SESSION_TIMEOUT_MS = 6000
KAFKA_TIMEOUTS = ("`broker.session.timeout.ms=6000` (Kafka's default 9000), "
                  "`broker.heartbeat.interval.ms=2000` (default)")
KWIRE_TIMEOUTS = f"`zookeeper.session.timeout.ms={SESSION_TIMEOUT_MS}` (kwire's default 18000)"


def _silent_logger() -> Any:
    import logging

    lg = logging.getLogger("benchmarks.cluster.librdkafka")
    lg.propagate = False
    if not lg.handlers:
        lg.addHandler(logging.NullHandler())
    return lg


# -- the setup ------------------------------------------------------------------------

class ClusterBroker(BkKwireBroker):
    """One kwire broker of the cluster: spawned without the single broker's start-up
    probe, killed and started again on the same port and node id."""

    def __init__(self, workdir: Path, node_id: int, settings: dict[str, str]) -> None:
        super().__init__(workdir, {**settings, "node.id": str(node_id)})
        self.node_id = node_id
        self.name = f"kwire-{node_id}"

    def spawn(self) -> None:
        logf = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            self.proc = subprocess.Popen(self.command(), cwd=REPO_ROOT, env=self.env(),
                                         stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                         start_new_session=True)
        finally:
            logf.close()
        register(self.proc)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(10)


class KwireClusterSetup:
    """A fresh ZooKeeper + 3 bookies (journal sync off) and `brokers` kwire brokers on
    one fresh chroot."""

    def __init__(self, workdir: Path, brokers: int = BROKERS, journal_sync: bool = False) -> None:
        self.workdir = Path(workdir)
        self.journal_sync = journal_sync
        self.count = brokers
        self.env: Any = None
        self.brokers: dict[int, ClusterBroker] = {}
        self.down: set[int] = set()  # stopped or killed on purpose
        self.env_start_s: float | None = None

    # -- addresses and processes --
    @property
    def bootstrap(self) -> str:
        return ",".join(b.bootstrap for i, b in sorted(self.brokers.items()) if b.running)

    def running_ids(self) -> list[int]:
        return sorted(i for i, b in self.brokers.items() if b.running)

    def pids(self) -> dict[str, int]:
        out = {b.name: b.pid for _, b in sorted(self.brokers.items()) if b.running}
        if self.env is not None:
            for p in [self.env.zookeeper, *self.env.bookies]:
                if p.pid is not None:
                    out[p.name] = p.pid
        return out

    def dead(self) -> str | None:
        for i, b in sorted(self.brokers.items()):
            if i not in self.down and b.proc is not None and b.proc.poll() is not None:
                return f"{b.name} exited with {b.proc.returncode}\n{b.log_tail()}"
        if self.env is not None:
            for p in [self.env.zookeeper, *self.env.bookies]:
                if p.proc is not None and not p.running:
                    return f"{p.name} exited with {p.proc.returncode}\n{p.log_tail(20)}"
        return None

    def log_tail(self) -> str:
        return "\n".join(f"--- {b.name}\n{b.log_tail(15)}" for b in self.brokers.values())

    # -- life cycle --
    def start(self) -> float:
        """ZooKeeper and bookies (timed apart, as env_start_s), then every broker at
        once; returns the seconds from spawning the brokers until a first acks=all
        produce is acknowledged and all of them are registered."""
        bke = bookkeeper_env_module()
        t0 = time.monotonic()
        self.env = bke.BookKeeperEnv(bookies=3, journal_sync=self.journal_sync,
                                     shipped_jvm=True)
        self.env.start()
        self.env_start_s = time.monotonic() - t0
        chroot = self.env.new_chroot("/kwire-bench")
        settings = {"log.storage": "bookkeeper",
                    "zookeeper.connect": self.env.zk_connect_with_chroot(chroot),
                    "zookeeper.session.timeout.ms": str(SESSION_TIMEOUT_MS)}
        for i in range(1, self.count + 1):
            self.brokers[i] = ClusterBroker(self.workdir / f"kwire-{i}", i, settings)
        t0 = time.monotonic()
        for b in self.brokers.values():
            b.spawn()
        first_ack(self.bootstrap, self.dead, 120)
        wait_brokers(self.bootstrap, set(self.brokers), self.dead, 60)
        return time.monotonic() - t0

    def stop(self) -> dict[str, int | None]:
        """SIGTERM one broker after the other (each hands its leaderships to the ones
        still running), then the bookies and ZooKeeper. Exit codes of the brokers that
        were running."""
        codes: dict[str, int | None] = {}
        try:
            for i in sorted(self.brokers, reverse=True):
                b = self.brokers[i]
                if b.running:
                    codes[b.name] = b.stop()
        finally:
            if self.env is not None:
                self.env.shutdown()
        return codes

    # -- faults and scaling --
    def kill_broker(self, node_id: int) -> None:
        self.down.add(node_id)
        self.brokers[node_id].kill9()

    def restart_broker(self, node_id: int) -> None:
        b = self.brokers[node_id]
        assert not b.running, f"{b.name} still runs"
        b.spawn()
        self.down.discard(node_id)

    def controller(self, metadata_controller: int) -> int | None:
        return metadata_controller if metadata_controller >= 0 else None

    def set_running(self, k: int, timeout: float = 90.0) -> None:
        """Brokers 1..k running, the others stopped (SIGTERM, highest id first); returns
        once Metadata lists exactly those brokers."""
        for i in sorted(self.brokers, reverse=True):
            b = self.brokers[i]
            if i > k and b.running:
                self.down.add(i)
                rc = b.stop()
                if rc not in (0, 143):
                    raise RuntimeError(f"{b.name} exited with {rc} after SIGTERM\n"
                                       f"{b.log_tail()}")
        for i in range(1, k + 1):
            if not self.brokers[i].running:
                self.restart_broker(i)
        wait_brokers(self.bootstrap, set(range(1, k + 1)), self.dead, timeout)

    @staticmethod
    def timeouts() -> str:
        return KWIRE_TIMEOUTS

    @staticmethod
    def describe_settings() -> str:
        return (f"{BROKERS} × `python -m kwire serve --host 127.0.0.1 --port P --data-dir D "
                "--log-level WARNING --set log.storage=bookkeeper --set zookeeper.connect="
                "127.0.0.1:Z/kwire-bench/<fresh chroot> --set node.id=N --set "
                f"zookeeper.session.timeout.ms={SESSION_TIMEOUT_MS}` (node ids 1..{BROKERS}, "
                "every other setting at kwire's default: ledgers E3/W2/A2, "
                "`auto.leader.rebalance.enable=true`, `default.replication.factor=1`), from the "
                "runtime-only venv, on the same kind of ZooKeeper and 3 bookies as the "
                "journal-sync-off setup (`journalSyncData=false`)")


# -- metadata --------------------------------------------------------------------------

def _admin(bootstrap: str) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": bootstrap, "logger": _silent_logger(),
                        "socket.connection.setup.timeout.ms": 1000})


def wait_brokers(bootstrap: str, ids: set[int], dead: Any, timeout: float) -> None:
    """Until Metadata lists exactly the broker ids `ids`."""
    admin = _admin(bootstrap)
    deadline = time.monotonic() + timeout
    seen: set[int] = set()
    while time.monotonic() < deadline:
        why = dead()
        if why:
            raise RuntimeError(f"exited while waiting for brokers {sorted(ids)}: {why}")
        with contextlib.suppress(Exception):
            seen = set(admin.list_topics(timeout=2).brokers)
            if seen == ids:
                return
        time.sleep(0.1)
    raise RuntimeError(f"Metadata listed brokers {sorted(seen)}, not {sorted(ids)}, "
                       f"after {timeout:.0f} s")


def create_topic(bootstrap: str, topic: str, partitions: int, replication: int,
                 timeout: float = 60.0) -> dict[int, int]:
    """Create a topic and wait until every partition has a leader and a full ISR;
    returns partition → leader."""
    from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

    admin = _admin(bootstrap)
    admin.create_topics([NewTopic(topic, partitions, replication)],
                        operation_timeout=30)[topic].result(30)
    return wait_whole(bootstrap, topic, partitions, timeout)


def wait_whole(bootstrap: str, topic: str, partitions: int, timeout: float,
               brokers: int | None = None) -> dict[int, int]:
    """Until every partition of `topic` has a leader and a full ISR (and, if given, the
    cluster has `brokers` brokers); returns partition → leader."""
    admin = _admin(bootstrap)
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            md = admin.list_topics(topic, timeout=5)
            t = md.topics.get(topic)
            if brokers is not None and len(md.brokers) != brokers:
                last = f"{len(md.brokers)} brokers"
            elif t is None or t.error is not None or len(t.partitions) != partitions:
                last = f"topic {t.error if t is not None else 'missing'}"
            elif all(p.leader >= 0 and p.error is None and len(p.isrs) == len(p.replicas)
                     for p in t.partitions.values()):
                return {i: p.leader for i, p in t.partitions.items()}
            else:
                last = ", ".join(f"{i}: leader {p.leader} isr {list(p.isrs)}"
                                 for i, p in sorted(t.partitions.items()))
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last = str(e)
        time.sleep(0.2)
    raise RuntimeError(f"topic {topic} not whole after {timeout:.0f} s: {last}")


# -- failover -------------------------------------------------------------------------

class SteadyProducer:
    """A librdkafka producer (acks=all, idempotent, client defaults otherwise) in a
    thread, sending `rate` records/s round-robin to `partitions`, recording the
    monotonic time of every acknowledgement per partition and every error."""

    def __init__(self, bootstrap: str, topic: str, partitions: list[int], rate: float,
                 size: int) -> None:
        from confluent_kafka import Producer

        self.topic = topic
        self.partitions = partitions
        self.rate = rate
        self.value = os.urandom(size)
        self.acks: dict[int, list[float]] = {p: [] for p in partitions}
        self.errors: list[tuple[float, int, str]] = []
        self.client_errors: list[str] = []
        self.fatal: str | None = None
        self.sent = 0
        self._stop = threading.Event()
        self.producer = Producer({
            "bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
            "message.timeout.ms": 300_000, "logger": _silent_logger(),
            "error_cb": self._on_error, "on_delivery": self._on_delivery})
        self._thread = threading.Thread(target=self._run, name="failover-producer", daemon=True)

    def _on_delivery(self, err: Any, msg: Any) -> None:
        now = time.monotonic()
        if err is None:
            self.acks[msg.partition()].append(now)
        elif len(self.errors) < 1000:
            self.errors.append((now, msg.partition(), str(err)))

    def _on_error(self, err: Any) -> None:
        if err.fatal():
            self.fatal = str(err)
        if len(self.client_errors) < 50:
            self.client_errors.append(str(err))

    def _run(self) -> None:
        start = time.monotonic()
        n = len(self.partitions)
        while not self._stop.is_set():
            due = int((time.monotonic() - start) * self.rate) + 1
            while self.sent < due:
                try:
                    self.producer.produce(self.topic, self.value,
                                          partition=self.partitions[self.sent % n])
                except BufferError:
                    break
                self.sent += 1
            wait = start + self.sent / self.rate - time.monotonic()
            self.producer.poll(min(max(wait, 0.0), 0.01))

    def start(self) -> SteadyProducer:
        self.producer.list_topics(self.topic, timeout=10)
        self._thread.start()
        return self

    def count_since(self, partition: int, t: float) -> int:
        acks = self.acks[partition]
        n = 0
        for a in reversed(acks):
            if a < t:
                break
            n += 1
        return n

    def stop(self, flush_s: float = 30.0) -> int:
        """Stop sending; flush; the number of records left unacknowledged."""
        self._stop.set()
        self._thread.join(10)
        return int(self.producer.flush(flush_s))


def stall(acks: list[float], t_kill: float) -> tuple[float, float, float] | None:
    """The longest gap between consecutive acknowledgements from the last one before
    the kill on: (its start, its end = the first acknowledgement after the stall, its
    length); None if nothing was acknowledged after the kill."""
    before = [a for a in acks if a <= t_kill]
    seq = ([before[-1]] if before else [t_kill]) + [a for a in acks if a > t_kill]
    if len(seq) < 2:
        return None
    i = max(range(len(seq) - 1), key=lambda j: seq[j + 1] - seq[j])
    return seq[i], seq[i + 1], seq[i + 1] - seq[i]


def _longest_gap(acks: list[float], t0: float, t1: float) -> float:
    """The longest time without an acknowledgement within [t0, t1]."""
    inside = [t0] + [a for a in acks if t0 < a < t1] + [t1]
    return max(b - a for a, b in zip(inside, inside[1:], strict=False))


def _leaders(admin: Any, topic: str) -> tuple[dict[int, int], int]:
    md = admin.list_topics(topic, timeout=2)
    t = md.topics[topic]
    return {i: p.leader for i, p in t.partitions.items()}, int(md.controller_id)


def one_kill(ctx: BkContext, topic: str, partitions: int) -> dict[str, Any]:
    """One measured kill -9 of a partition leader under a steady idempotent producer."""
    setup: Any = ctx.setup
    p = ctx.params
    parts = list(range(partitions))
    prod = SteadyProducer(setup.bootstrap, topic, parts, p.failover_rate, p.failover_size)
    admin = _admin(setup.bootstrap)
    out: dict[str, Any] = {}
    try:
        prod.start()
        t_start = time.monotonic()
        deadline = t_start + 60
        while time.monotonic() - t_start < p.failover_warm_s or not all(prod.acks.values()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"failover producer: no steady acknowledgements within 60 s "
                                   f"(acks per partition {[len(a) for a in prod.acks.values()]},"
                                   f" errors {prod.errors[:3]} {prod.client_errors[:3]})")
            time.sleep(0.1)
        leaders, md_controller = _leaders(admin, topic)
        controller = setup.controller(md_controller)
        not_ctrl = [q for q in parts if leaders[q] != controller]
        part = (not_ctrl or parts)[0]
        victim = leaders[part]
        victim_parts = [q for q in parts if leaders[q] == victim]
        others = [q for q in parts if q not in victim_parts]
        sent_before = prod.sent
        t_kill = time.monotonic()
        setup.kill_broker(victim)
        killed_in = time.monotonic() - t_kill
        moved_at: float | None = None
        new_leader = -1
        per_part = max(1.0, p.failover_rate / partitions)
        deadline = t_kill + p.failover_timeout_s
        while True:
            now = time.monotonic()
            if moved_at is None:
                with contextlib.suppress(Exception):
                    ls, _ = _leaders(admin, topic)
                    if ls.get(part, -1) not in (-1, victim):
                        moved_at, new_leader = time.monotonic(), ls[part]
            steady = all(prod.count_since(q, now - 1.0) >= 0.5 * per_part for q in victim_parts)
            if moved_at is not None and now - t_kill >= 2.0 and steady:
                break
            if prod.fatal:
                raise RuntimeError(f"the idempotent producer failed fatally: {prod.fatal}")
            if now > deadline:
                raise RuntimeError(
                    f"partition {part}: no steady acknowledgements {p.failover_timeout_s:.0f} s "
                    f"after killing broker {victim} (new leader in Metadata: "
                    f"{'yes' if moved_at else 'no'}; errors {prod.errors[:3]})")
            time.sleep(0.05)
        time.sleep(0.5)
        t_end = time.monotonic()
    finally:
        unflushed = prod.stop()
    s = stall(prod.acks[part], t_kill)
    assert s is not None
    out = {
        "victim": victim, "victim_was_controller": victim == controller,
        "controller": controller, "partition": part, "victim_partitions": victim_parts,
        "new_leader": new_leader, "failover_s": round(s[1] - t_kill, 4),
        "longest_gap_s": round(s[2], 4), "last_ack_before_kill_s": round(s[0] - t_kill, 4),
        "leader_in_metadata_s": round(moved_at - t_kill, 3) if moved_at else None,
        "kill_s": round(killed_in, 4),
        "others_longest_gap_s": round(max((_longest_gap(prod.acks[q], t_kill, t_end)
                                           for q in others), default=0.0), 4),
        "victim_parts_failover_s": {q: round(st[1] - t_kill, 4) for q in victim_parts
                                    if (st := stall(prod.acks[q], t_kill)) is not None},
        "records_sent": prod.sent, "sent_before_kill": sent_before,
        "acks": sum(len(a) for a in prod.acks.values()), "delivery_errors": len(prod.errors),
        "delivery_error_samples": sorted({e for _, _, e in prod.errors})[:5],
        "client_errors": prod.client_errors[:5], "unflushed": unflushed,
    }
    if unflushed or prod.errors:
        raise RuntimeError(f"failover producer: {len(prod.errors)} delivery errors "
                           f"({out['delivery_error_samples']}), {unflushed} unflushed")
    return out


def failover(ctx: BkContext) -> None:
    setup: Any = ctx.setup
    if not hasattr(setup, "kill_broker"):
        raise Skip("one broker: nothing to fail over to")
    p = ctx.params
    partitions = 3
    topic = "bk-failover"
    create_topic(setup.bootstrap, topic, partitions, 3, timeout=120)
    kills: list[dict[str, Any]] = []
    ctx.details["failover"] = {"kills": kills, "timeouts": setup.timeouts(),
                               "rate": p.failover_rate, "size": p.failover_size}
    for k in range(p.failover_kills):
        if k:
            victim = kills[-1]["victim"]
            t0 = time.monotonic()
            setup.restart_broker(victim)
            wait_whole(setup.bootstrap, topic, partitions, 180, brokers=BROKERS)
            time.sleep(p.failover_settle_s)  # leadership moves back to it (kwire)
            wait_whole(setup.bootstrap, topic, partitions, 60, brokers=BROKERS)
            kills[-1]["rejoined_s"] = round(time.monotonic() - t0, 2)
        kills.append(one_kill(ctx, topic, partitions))
        ctx.metrics["failover_s"] = [x["failover_s"] for x in kills]
        ctx.metrics["failover_gap_s"] = [x["longest_gap_s"] for x in kills]
        ctx.metrics["failover_others_gap_s"] = [x["others_longest_gap_s"] for x in kills]


# -- scaling -----------------------------------------------------------------------------

def scale(ctx: BkContext) -> None:
    setup: Any = ctx.setup
    if not isinstance(setup, KwireClusterSetup):
        raise Skip("only the kwire cluster")
    order = list(range(1, setup.count + 1))
    if ctx.rep % 2 == 0:
        order.reverse()
    steps: dict[str, Any] = {}
    ctx.details["scale"] = {"order": order, "steps": steps}
    try:
        for k in order:
            steps[str(k)] = _scale_step(ctx, setup, k)
            ctx.metrics[f"scale_{k}_mibs"] = steps[str(k)]["mib_per_s"]
    finally:
        setup.set_running(setup.count)


def _scale_step(ctx: BkContext, setup: KwireClusterSetup, k: int) -> dict[str, Any]:
    p = ctx.params
    setup.set_running(k)
    topic = f"bk-scale-{k}-{uuid.uuid4().hex[:6]}"
    leaders = create_topic(setup.bootstrap, topic, p.scale_partitions, 1)
    spread = {i: sum(1 for v in leaders.values() if v == i) for i in setup.running_ids()}
    n = p.scale_producers
    per = p.scale_records // n
    start_at = time.time() + 3.0  # every producer imported and connected by then
    procs = []
    for _ in range(n):
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.loadgen_rdkafka", "produce", "--bootstrap",
             setup.bootstrap, "--topic", topic, "--count", str(per), "--size", str(p.size),
             "--timeout", str(p.timeout_s), "--start-at", f"{start_at:.3f}"],
            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        register(proc)
        procs.append(proc)
    outs: list[dict[str, Any]] = []
    cpu: Any = None
    try:
        time.sleep(max(0.0, start_at - time.time()))
        cpu = ProcessCpu(setup.pids())
        for proc in procs:
            out, err = proc.communicate(timeout=p.timeout_s + 30)
            outs.append(_json_result(out, err, proc.returncode, "produce"))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    used = cpu.delta()
    t0 = min(o["t_start"] for o in outs)
    t1 = max(o["t_end"] for o in outs)
    total = sum(o["records"] for o in outs) * p.size
    return {"brokers": k, "leaders": spread, "producers": n, "records": per * n,
            "seconds": round(t1 - t0, 3), "mib_per_s": total / 2**20 / (t1 - t0),
            "producer_mib_per_s": [round(o["mib_per_s"], 1) for o in outs],
            "start_skew_s": round(max(o["t_start"] for o in outs) - t0, 3), **used}
