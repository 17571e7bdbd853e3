"""The BookKeeper scenario set: kwire on 3 bookies beside a 3-broker Kafka cluster.

  python -m benchmarks.run --only bookkeeper [--reps N] [--smoke] [--bk-setups a,b]

Four setups ("rows"), each started afresh for every repetition, in an order
that alternates between repetitions:

- `kwire-bk-sync`: `kwire serve --set log.storage=bookkeeper` on a fresh
  BookKeeperEnv (compat-tests/bookkeeper_env.py: a real ZooKeeper and 3 real
  bookies, BookKeeper 4.17.3 jars), ledgers E3/W2/A2 (kwire's defaults), the
  bookies' journal fsync ON (`journalSyncData=true`, as BookKeeper ships);
- `kwire-bk-nosync`: the same with `journalSyncData=false`;
- `kwire-3brokers`: 3 kwire brokers (node ids 1..3, one chroot) on a fresh
  ZooKeeper and 3 bookies with journal sync off (benchmarks/cluster.py);
- `kafka-3rf3`: Apache Kafka 4.4.0, 3 KRaft nodes (benchmarks/kafka_cluster.py),
  replication factor 3, `min.insync.replicas=2`.

The two 3-broker setups also run `failover` (kill -9 of a partition leader under
an idempotent acks=all producer; time to the first acknowledgement after the
stall), and `kwire-3brokers` runs `scale` (produce MiB/s with 1, 2 and 3 brokers
on the same bookies); see benchmarks/cluster.py.

Every load is acks=all. Throughput topics have 6 partitions (2 leaders per
Kafka broker; 6 ledgers spread over the 3 bookies for kwire), created with the
broker's default replication factor (Kafka: 3; kwire: 1, its replication is
BookKeeper's; on the kwire cluster the partitions' leaders spread over the 3
brokers). The end-to-end latency topic has 1 partition (the e2e consumer
reads partition 0). RSS is sampled for every process of a setup (kwire,
ZooKeeper, each bookie; each Kafka node): idle after start-up, and the peak over
all the loads; per-scenario CPU is recorded per process too.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import psutil

from benchmarks.brokers import MIB, REPO_ROOT, CpuMeter, KwireBroker, register, stop_all
from benchmarks.javatools import JavaTools
from benchmarks.kafka_cluster import KafkaCluster

# the env's kazoo client logs "Connection dropped" on every env shutdown
logging.getLogger("kazoo.client").setLevel(logging.ERROR)

SET_NAME = "bookkeeper"
SETUPS = ["kwire-bk-sync", "kwire-bk-nosync", "kwire-3brokers", "kafka-3rf3"]
LABEL = {"kwire-bk-sync": "kwire on BookKeeper, journal sync on",
         "kwire-bk-nosync": "kwire on BookKeeper, journal sync off",
         "kwire-3brokers": "kwire, 3 brokers on BookKeeper, journal sync off",
         "kafka-3rf3": "Kafka, 3 brokers, RF 3"}
KAFKA = "kafka-3rf3"
CLUSTER = "kwire-3brokers"
TARGET_SETUP = "kwire-bk-nosync"  # the targets are set against this row
TARGET_SETUPS = [TARGET_SETUP, CLUSTER]  # each gets a targets table against Kafka
MULTI_BROKER = {CLUSTER, KAFKA}  # the setups that can lose a broker (failover)


@dataclass(frozen=True)
class BkParams:
    records: int  # 1 KiB records per produce run (librdkafka and ProducerPerformance)
    size: int
    partitions: int
    consume_passes: int
    e2e_rate: int
    e2e_seconds: float
    e2e_warmup_s: float
    e2e_warm_pass_s: float
    settle_s: float
    timeout_s: float
    # failover (3-broker setups): kills per repetition, the steady producer's load,
    # how long it runs before the kill, the longest wait for the new leader's acks,
    # and the pause after a killed broker is back (kwire moves leaderships back to it)
    failover_kills: int = 2
    failover_rate: int = 500
    failover_size: int = 100
    failover_warm_s: float = 3.0
    failover_timeout_s: float = 90.0
    failover_settle_s: float = 3.0
    # scaling (kwire cluster): records of 1 KiB per broker count, topic partitions,
    # concurrent producer processes
    scale_records: int = 300_000
    scale_partitions: int = 12
    scale_producers: int = 3


# The fixed rate is low on purpose: the e2e producer sends one record per request
# (linger.ms=0) and both brokers answer one request per connection at a time, so
# above ~180 requests/s kwire on BookKeeper (each request waits for a bookie
# round trip, ~4-5 ms with BookKeeper's 2 ms journal group wait) queues them and the
# figure becomes the queue's age, not a latency. Kafka's cluster saturates too (at
# 2,000 rec/s its p50 was 1.9 s on the 2-core machine).
FULL = BkParams(records=100_000, size=1024, partitions=6, consume_passes=2, e2e_rate=100,
                e2e_seconds=20, e2e_warmup_s=1.0, e2e_warm_pass_s=5, settle_s=3.0, timeout_s=180)
SMOKE = BkParams(records=20_000, size=1024, partitions=6, consume_passes=1, e2e_rate=100,
                 e2e_seconds=2, e2e_warmup_s=0.5, e2e_warm_pass_s=0, settle_s=0.5, timeout_s=60,
                 failover_kills=1, failover_warm_s=1.5, failover_settle_s=1.0,
                 scale_records=30_000, scale_producers=2)


@dataclass(frozen=True)
class BkMetric:
    key: str
    label: str
    unit: str
    better: str
    source: str
    target: float | None = None

    def text(self, params: dict[str, Any]) -> str:
        return self.label.format(rate=f"{params['e2e_rate']:,}", parts=params["partitions"])


METRICS: list[BkMetric] = [
    BkMetric("rd_produce_mibs", "produce 1 KiB, acks=all, {parts} partitions", "MiB/s", "higher",
             "librdkafka", 1.0),
    BkMetric("pp_produce_mibs", "produce 1 KiB, acks=all, {parts} partitions", "MiB/s", "higher",
             "ProducerPerformance", 1.0),
    BkMetric("rd_consume_mibs", "consume the 1 KiB topic from the beginning, {parts} partitions",
             "MiB/s", "higher", "librdkafka assign()", 1.0),
    BkMetric("cp_consume_mibs", "consume the 1 KiB topic from the beginning (fetch.MB.sec)",
             "MiB/s", "higher", "ConsumerPerformance", 1.0),
    BkMetric("e2e_p50_ms", "end-to-end latency p50 at {rate} rec/s, 1 partition", "ms", "lower",
             "librdkafka"),
    BkMetric("e2e_p99_ms", "end-to-end latency p99 at {rate} rec/s, 1 partition", "ms", "lower",
             "librdkafka", 1.0),
    BkMetric("e2e_p999_ms", "end-to-end latency p99.9 at {rate} rec/s, 1 partition", "ms",
             "lower", "librdkafka"),
    BkMetric("ack_p99_ms", "produce→ack latency p99 at {rate} rec/s", "ms", "lower",
             "librdkafka"),
    BkMetric("startup_s", "start of the broker process(es) to the first acks=all ack", "s",
             "lower", "librdkafka"),
    BkMetric("rss_idle_total_mib", "resident memory of all processes, idle", "MiB", "lower",
             "psutil"),
    BkMetric("rss_peak_total_mib", "resident memory of all processes, sum of per-process peaks "
             "under the loads", "MiB", "lower", "psutil"),
    # 3-broker setups only; every kill of a run is a value (a list per run)
    BkMetric("failover_s", "failover: kill -9 of a partition leader to the first ack after "
             "the stall", "s", "lower", "librdkafka, idempotent", 1.0),
    BkMetric("failover_gap_s", "failover: longest gap between two acks of that partition", "s",
             "lower", "librdkafka, idempotent"),
    BkMetric("failover_others_gap_s", "failover: longest gap of the partitions the killed "
             "broker did not lead", "s", "lower", "librdkafka, idempotent"),
]
METRIC_BY_KEY = {m.key: m for m in METRICS}


# -- the BookKeeper test environment, imported by path --------------------------

def bookkeeper_env_module() -> ModuleType:
    """compat-tests/bookkeeper_env.py (no kwire imports; needs kazoo), loaded once under
    its own name so that a test session and the benchmark share the same module."""
    mod = sys.modules.get("bookkeeper_env")
    if mod is not None:
        return mod
    path = REPO_ROOT / "compat-tests" / "bookkeeper_env.py"
    spec = importlib.util.spec_from_file_location("bookkeeper_env", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bookkeeper_env"] = mod
    spec.loader.exec_module(mod)
    return mod


def bookkeeper_version() -> str | None:
    with contextlib.suppress(Exception):
        libs = bookkeeper_env_module().bookkeeper_libs()
        jars = sorted(libs.glob("bookkeeper-server-*.jar"))
        if jars:
            return str(jars[0].stem.removeprefix("bookkeeper-server-"))
    return None


class BkKwireBroker(KwireBroker):
    """`kwire serve` with extra `--set KEY=VALUE` settings."""

    def __init__(self, workdir: Path, settings: dict[str, str]) -> None:
        super().__init__(workdir)
        self.settings = settings

    def command(self) -> list[str]:
        return [*super().command(), *[a for k, v in self.settings.items()
                                      for a in ("--set", f"{k}={v}")]]


# -- setups ------------------------------------------------------------------------

class Setup(Protocol):
    """What a setup offers the scenarios (multi-broker ones also kill_broker,
    restart_broker, controller and timeouts: benchmarks/cluster.py)."""

    @property
    def bootstrap(self) -> str: ...

    def start(self) -> float: ...

    def pids(self) -> dict[str, int]: ...

    def dead(self) -> str | None: ...

    def stop(self) -> dict[str, int | None]: ...

    def log_tail(self) -> str: ...


class KwireOnBookKeeper:
    """A fresh BookKeeperEnv (ZooKeeper + 3 bookies) and kwire on a fresh chroot."""

    def __init__(self, workdir: Path, journal_sync: bool) -> None:
        self.workdir = Path(workdir)
        self.journal_sync = journal_sync
        self.env: Any = None
        self.broker: BkKwireBroker | None = None
        self.env_start_s: float | None = None

    @property
    def bootstrap(self) -> str:
        assert self.broker is not None
        return self.broker.bootstrap

    def start(self) -> float:
        bke = bookkeeper_env_module()
        t0 = time.monotonic()
        # Bookies as BookKeeper ships them (1 GiB heaps, G1, default threads), as
        # Kafka's brokers run with its own start-script settings.
        self.env = bke.BookKeeperEnv(bookies=3, journal_sync=self.journal_sync,
                                     shipped_jvm=True)
        self.env.start()
        self.env_start_s = time.monotonic() - t0
        chroot = self.env.new_chroot("/kwire-bench")
        self.broker = BkKwireBroker(self.workdir / "kwire", {
            "log.storage": "bookkeeper",
            "zookeeper.connect": self.env.zk_connect_with_chroot(chroot)})
        return self.broker.start()

    def pids(self) -> dict[str, int]:
        out: dict[str, int] = {}
        if self.broker is not None and self.broker.proc is not None:
            out["kwire"] = self.broker.pid
        if self.env is not None:
            for p in [self.env.zookeeper, *self.env.bookies]:
                if p.pid is not None:
                    out[p.name] = p.pid
        return out

    def dead(self) -> str | None:
        if self.broker is not None and self.broker.proc is not None \
                and self.broker.proc.poll() is not None:
            return f"kwire exited with {self.broker.proc.returncode}\n{self.broker.log_tail()}"
        if self.env is not None:
            for p in [self.env.zookeeper, *self.env.bookies]:
                if p.proc is not None and not p.running:
                    return f"{p.name} exited with {p.proc.returncode}\n{p.log_tail(20)}"
        return None

    def stop(self) -> dict[str, int | None]:
        codes: dict[str, int | None] = {}
        try:
            if self.broker is not None:
                codes["kwire"] = self.broker.stop()
        finally:
            if self.env is not None:
                self.env.shutdown()
        return codes

    def log_tail(self) -> str:
        return self.broker.log_tail() if self.broker is not None else "(not started)"

    @staticmethod
    def describe_settings(journal_sync: bool) -> str:
        return ("`python -m kwire serve --host 127.0.0.1 --port P --data-dir D --log-level "
                "WARNING --set log.storage=bookkeeper --set zookeeper.connect=127.0.0.1:Z/"
                "kwire-bench/<fresh chroot>` (ledgers E3/W2/A2, CRC32C digests, 64 MiB entry "
                "cache: kwire's defaults), from the runtime-only venv; 3 bookies + 1 ZooKeeper "
                "from `compat-tests/bookkeeper_env.py` (BookKeeper's `bookkeeper-server` "
                "Main, one JVM each: bookies as BookKeeper ships them, `-Xms1g -Xmx1g "
                "-XX:MaxDirectMemorySize=2g -XX:+UseG1GC`, SortedLedgerStorage with its "
                "default memtable and threads, journal and ledgers on the same disk, "
                f"`journalSyncData={'true' if journal_sync else 'false'}`; ZooKeeper "
                "`-Xmx64m -XX:+UseSerialGC -XX:TieredStopAtLevel=1`)")


class KafkaThree:
    """benchmarks/kafka_cluster.py with 3 nodes."""

    def __init__(self, workdir: Path, libs: Path) -> None:
        self.cluster = KafkaCluster(workdir, libs, nodes=3)

    @property
    def bootstrap(self) -> str:
        return self.cluster.bootstrap

    def start(self) -> float:
        return self.cluster.start()

    def pids(self) -> dict[str, int]:
        return self.cluster.pids()

    def dead(self) -> str | None:
        return self.cluster.dead()

    def stop(self) -> dict[str, int | None]:
        return self.cluster.stop()

    def log_tail(self) -> str:
        return "\n".join(f"--- {n.name}\n{n.log_tail(15)}" for n in self.cluster.nodes)

    # -- failover (benchmarks/cluster.py) --
    def kill_broker(self, node_id: int) -> None:
        self.cluster.kill_node(node_id)

    def restart_broker(self, node_id: int) -> None:
        self.cluster.restart_node(node_id)

    def controller(self, metadata_controller: int) -> int | None:
        """The active KRaft controller (Metadata's controller id is a random broker)."""
        return self.cluster.active_controller()

    @staticmethod
    def timeouts() -> str:
        from benchmarks.cluster import KAFKA_TIMEOUTS

        return KAFKA_TIMEOUTS


def make_setup(name: str, workdir: Path, libs: Path | None) -> Setup:
    if name == "kwire-bk-sync":
        return KwireOnBookKeeper(workdir, journal_sync=True)
    if name == "kwire-bk-nosync":
        return KwireOnBookKeeper(workdir, journal_sync=False)
    if name == CLUSTER:
        from benchmarks.cluster import KwireClusterSetup

        return KwireClusterSetup(workdir)
    if name == KAFKA:
        if libs is None:
            raise RuntimeError("Kafka's jars are unavailable")
        return KafkaThree(workdir, libs)
    raise ValueError(f"unknown setup {name!r}; known: {SETUPS}")


def describe_settings() -> dict[str, str]:
    from benchmarks.cluster import KwireClusterSetup

    return {"kwire-bk-sync": KwireOnBookKeeper.describe_settings(True),
            "kwire-bk-nosync": KwireOnBookKeeper.describe_settings(False),
            CLUSTER: KwireClusterSetup.describe_settings(),
            KAFKA: KafkaCluster.describe_settings()}


# -- measuring ------------------------------------------------------------------------

class ProcessRss:
    """Samples the RSS of several processes every `interval` s in a thread; keeps each
    one's peak (MiB)."""

    def __init__(self, pids: dict[str, int], interval: float = 0.25) -> None:
        self.procs = {}
        for name, pid in pids.items():
            with contextlib.suppress(psutil.Error):
                self.procs[name] = psutil.Process(pid)
        self.interval = interval
        self.peak: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bk-rss", daemon=True)

    def sample(self) -> dict[str, float]:
        out = {}
        for name, p in self.procs.items():
            with contextlib.suppress(psutil.Error):
                out[name] = p.memory_info().rss / MIB
        return out

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, v in self.sample().items():
                self.peak[name] = max(v, self.peak.get(name, 0.0))
            self._stop.wait(self.interval)

    def __enter__(self) -> ProcessRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


class ProcessCpu:
    """CPU seconds of each process of a setup over a scenario, as cores; plus the load
    generators (this driver and its waited-for children) and everything else."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.procs = {}
        for name, pid in pids.items():
            with contextlib.suppress(psutil.Error):
                self.procs[name] = psutil.Process(pid)
        self.start = self._snap()
        self.meter = CpuMeter(None)

    def _snap(self) -> dict[str, float]:
        out = {}
        for name, p in self.procs.items():
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                out[name] = t.user + t.system
        return out

    def delta(self) -> dict[str, Any]:
        end = self._snap()
        m = self.meter.delta()
        wall = m["wall_s"]
        per = {n: round((end[n] - self.start.get(n, 0.0)) / wall, 2) for n in end}
        servers = sum(per.values())
        return {"wall_s": wall, "process_cores": per, "servers_cores": round(servers, 2),
                "client_cores": m["client_cores"],
                "background_cores": round(max(0.0, m["background_cores"] - servers), 2)}


@dataclass
class BkContext:
    setup: Setup
    java: JavaTools | None
    params: BkParams
    name: str = ""  # the setup's name (SETUPS)
    rep: int = 1
    metrics: dict[str, Any] = field(default_factory=dict)  # float, or a list (failover)
    details: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


class Skip(Exception):
    pass


def create_topic(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    """Replication factor -1: the broker's default (Kafka cluster: 3; kwire: 1). Waits
    until every partition has a leader and a full ISR; returns how many partitions
    each broker leads."""
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, -1)], operation_timeout=30)[topic].result(30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        md = admin.list_topics(topic, timeout=10).topics.get(topic)
        if md is not None and md.error is None and len(md.partitions) == partitions and all(
                p.leader >= 0 and p.error is None and len(p.isrs) == len(p.replicas)
                for p in md.partitions.values()):
            leaders = [p.leader for p in md.partitions.values()]
            return {b: leaders.count(b) for b in sorted(set(leaders))}
        time.sleep(0.1)
    raise RuntimeError(f"topic {topic}: no leader or short ISR after 30 s")


def _json_result(out: str, err: str, rc: int | None, what: str) -> dict[str, Any]:
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if rc != 0 or not lines:
        raise RuntimeError(f"loadgen {what} rc={rc}: {(err or out)[-800:]}")
    import json

    return dict(json.loads(lines[-1]))


def _loadgen(ctx: BkContext, *args: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.loadgen_rdkafka", args[0],
           "--bootstrap", ctx.setup.bootstrap, *args[1:]]
    p = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True,
                       timeout=ctx.params.timeout_s)
    return _json_result(p.stdout, p.stderr, p.returncode, args[0])


def _timed(ctx: BkContext, name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    cpu = ProcessCpu(ctx.setup.pids())
    out = fn()
    ctx.details[name] = {**out, **cpu.delta()}
    return out


def _need_java(ctx: BkContext) -> JavaTools:
    if ctx.java is None:
        raise Skip("Kafka's Java tools unavailable (no java or no jars)")
    return ctx.java


# -- scenarios ---------------------------------------------------------------------------

def rd_produce(ctx: BkContext) -> None:
    p = ctx.params
    leaders = create_topic(ctx.setup.bootstrap, "bk-rd-1k", p.partitions)
    r = _timed(ctx, "rd_produce", lambda: _loadgen(
        ctx, "produce", "--topic", "bk-rd-1k", "--count", str(p.records), "--size", str(p.size),
        "--timeout", str(p.timeout_s)))
    ctx.details["rd_produce"]["leaders"] = leaders  # partitions led per broker
    ctx.metrics["rd_produce_mibs"] = r["mib_per_s"]


def pp_produce(ctx: BkContext) -> None:
    java = _need_java(ctx)
    p = ctx.params
    leaders = create_topic(ctx.setup.bootstrap, "bk-pp-1k", p.partitions)
    r = _timed(ctx, "pp_produce", lambda: java.producer_perf(
        ctx.setup.bootstrap, "bk-pp-1k", p.records, p.size, timeout=p.timeout_s))
    ctx.details["pp_produce"]["leaders"] = leaders
    ctx.metrics["pp_produce_mibs"] = r["mib_per_s"]


def rd_consume(ctx: BkContext) -> None:
    p = ctx.params
    r = _timed(ctx, "rd_consume", lambda: _loadgen(
        ctx, "consume", "--topic", "bk-rd-1k", "--count", str(p.records),
        "--partitions", str(p.partitions), "--passes", str(p.consume_passes),
        "--timeout", str(p.timeout_s)))
    ctx.metrics["rd_consume_mibs"] = r["mib_per_s"]


def cp_consume(ctx: BkContext) -> None:
    java = _need_java(ctx)
    p = ctx.params
    r = _timed(ctx, "cp_consume", lambda: java.consumer_perf(
        ctx.setup.bootstrap, "bk-rd-1k", p.records, f"perf-{uuid.uuid4().hex[:8]}",
        timeout=p.timeout_s))
    if r["records"] < p.records:
        raise RuntimeError(f"ConsumerPerformance read {r['records']:.0f} of {p.records} records")
    ctx.metrics["cp_consume_mibs"] = r["fetch_mib_per_s"]


def _e2e(ctx: BkContext, topic: str, seconds: float) -> dict[str, Any]:
    p = ctx.params
    create_topic(ctx.setup.bootstrap, topic, 1)
    total = int(p.e2e_rate * seconds)
    timeout = seconds + 60
    base = [sys.executable, "-m", "benchmarks.loadgen_rdkafka"]
    common = ["--bootstrap", ctx.setup.bootstrap, "--topic", topic]
    consumer = subprocess.Popen(
        [*base, "e2e-consume", *common, "--count", str(total), "--warmup-s", str(p.e2e_warmup_s),
         "--timeout", str(timeout)], cwd=REPO_ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    register(consumer)
    try:
        assert consumer.stdout is not None
        line = consumer.stdout.readline()
        if line.strip() != "READY":
            raise RuntimeError(f"e2e consumer did not get ready: {line!r}")
        cpu = ProcessCpu(ctx.setup.pids())
        prod = subprocess.run(
            [*base, "e2e-produce", *common, "--rate", str(p.e2e_rate), "--seconds", str(seconds),
             "--size", str(p.size)], cwd=REPO_ROOT, capture_output=True, text=True,
            timeout=timeout)
        out, err = consumer.communicate(timeout=timeout)
        used = cpu.delta()
        pr = _json_result(prod.stdout, prod.stderr, prod.returncode, "e2e-produce")
        c = _json_result(out, err, consumer.returncode, "e2e-consume")
        ctx.details[topic] = {**c, "producer": pr, **used}
        return c | {"ack_p99_ms": pr.get("ack_p99_ms")}
    finally:
        if consumer.poll() is None:
            consumer.kill()
            consumer.wait(10)


def e2e(ctx: BkContext) -> None:
    if ctx.params.e2e_warm_pass_s:  # unrecorded: JIT of the JVMs on this path
        _e2e(ctx, "bk-e2e-warm", ctx.params.e2e_warm_pass_s)
    c = _e2e(ctx, "bk-e2e", ctx.params.e2e_seconds)
    ctx.metrics.update(e2e_p50_ms=c["p50_ms"], e2e_p99_ms=c["p99_ms"], e2e_p999_ms=c["p999_ms"])
    if c.get("ack_p99_ms") is not None:
        ctx.metrics["ack_p99_ms"] = c["ack_p99_ms"]


def scale(ctx: BkContext) -> None:
    from benchmarks.cluster import scale as run

    run(ctx)


def failover(ctx: BkContext) -> None:
    from benchmarks.cluster import failover as run

    run(ctx)


ALL = set(SETUPS)
# (name, function, metrics it records, the setups it runs on); `failover` kills
# brokers, so it runs last
SCENARIOS: list[tuple[str, Callable[[BkContext], None], list[str], set[str]]] = [
    ("rd_produce", rd_produce, ["rd_produce_mibs"], ALL),
    ("pp_produce", pp_produce, ["pp_produce_mibs"], ALL),
    ("rd_consume", rd_consume, ["rd_consume_mibs"], ALL),
    ("cp_consume", cp_consume, ["cp_consume_mibs"], ALL),
    ("e2e", e2e, ["e2e_p50_ms", "e2e_p99_ms", "e2e_p999_ms", "ack_p99_ms"], ALL),
    ("scale", scale, ["scale_1_mibs", "scale_2_mibs", "scale_3_mibs"], {CLUSTER}),
    ("failover", failover, ["failover_s", "failover_gap_s", "failover_others_gap_s"],
     MULTI_BROKER),
]


def _fmt_metric(v: Any) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(f"{x:.4g}" for x in v) + "]"
    return f"{v:.4g}"


def run_scenarios(ctx: BkContext, log: Callable[[str], None]) -> None:
    for name, fn, keys, setups in SCENARIOS:
        if ctx.name and ctx.name not in setups:
            continue
        t0 = time.monotonic()
        try:
            fn(ctx)
            log(f"  {name:16s} ok    {time.monotonic() - t0:6.1f} s  " + ", ".join(
                f"{k}={_fmt_metric(ctx.metrics[k])}" for k in keys if k in ctx.metrics))
        except Skip as s:
            ctx.skipped[name] = str(s)
            log(f"  {name:16s} skip  {s}")
        except Exception as e:  # noqa: BLE001 - recorded, the next scenario still runs
            ctx.errors[name] = f"{type(e).__name__}: {e}"
            log(f"  {name:16s} FAIL  {time.monotonic() - t0:6.1f} s  {ctx.errors[name][:600]}")
        why = ctx.setup.dead()
        if why:
            ctx.errors["process"] = f"a process exited during {name}: {why}"
            log(f"  {why.splitlines()[0]} during {name}; remaining scenarios not run")
            return


def run_one(name: str, rep: int, workroot: Path, libs: Path | None, java: JavaTools | None,
            params: BkParams, quiet_wait: float, log: Callable[[str], None]) -> dict[str, Any]:
    from benchmarks.brokers import wait_for_quiet

    workdir = workroot / f"bk-{name}-{rep}"
    waited, background = wait_for_quiet(quiet_wait, log=log) if quiet_wait else (0, 0)
    result: dict[str, Any] = {"setup": name, "rep": rep, "metrics": {}, "rss_idle": {},
                              "rss_peak": {}, "errors": {}, "skipped": {}, "details": {
                                  "quiet_wait_s": round(waited, 1),
                                  "background_before_cores": background}}
    log(f"{name} rep {rep}: starting")
    setup: Setup | None = None
    try:
        setup = make_setup(name, workdir, libs)
        t0 = time.monotonic()
        startup = setup.start()
        result["metrics"]["startup_s"] = startup
        if isinstance(setup, KafkaThree):
            result["details"]["storage_format_s"] = round(setup.cluster.format_s or 0, 2)
        else:
            result["details"]["bookkeeper_env_start_s"] = round(
                getattr(setup, "env_start_s", None) or 0, 2)
        log(f"  {'startup':16s} ok    {time.monotonic() - t0:6.1f} s  startup_s={startup:.3g} "
            f"on {setup.bootstrap}")
        ctx = BkContext(setup, java, params, name=name, rep=rep)
        sampler = ProcessRss(setup.pids())
        time.sleep(params.settle_s)
        result["rss_idle"] = {k: round(v, 1) for k, v in sampler.sample().items()}
        with sampler:
            run_scenarios(ctx, log)
        result["rss_peak"] = {k: round(v, 1) for k, v in sampler.peak.items()}
        result["metrics"].update(ctx.metrics)
        if result["rss_idle"]:
            result["metrics"]["rss_idle_total_mib"] = sum(result["rss_idle"].values())
        if result["rss_peak"]:
            result["metrics"]["rss_peak_total_mib"] = sum(result["rss_peak"].values())
        result["details"].update(ctx.details)
        result["errors"].update(ctx.errors)
        result["skipped"].update(ctx.skipped)
        log("  rss idle/peak MiB: " + ", ".join(f"{k} {result['rss_idle'].get(k, 0):.0f}/{v:.0f}"
                                                  for k, v in result["rss_peak"].items()))
    except Exception as e:  # noqa: BLE001
        result["errors"]["startup"] = f"{type(e).__name__}: {e}"
        log(f"  startup FAIL {str(e)[:1500]}")
    finally:
        if setup is not None:
            try:
                codes = setup.stop()
            except Exception as e:  # noqa: BLE001
                codes = {}
                result["errors"]["shutdown"] = f"{type(e).__name__}: {e}"
            result["exit_codes"] = codes
            bad = {k: v for k, v in codes.items() if v not in (0, 143, None)}
            if bad:
                result["errors"]["shutdown"] = f"exit codes after SIGTERM: {bad}"
        stop_all()
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    log(f"{name} rep {rep}: stopped")
    return result


def run_set(setups: list[str], reps: int, workroot: Path, libs: Path | None,
            java: JavaTools | None, params: BkParams, quiet_wait: float,
            log: Callable[[str], None]) -> list[dict[str, Any]]:
    runs = []
    for rep in range(1, reps + 1):
        order = setups if rep % 2 else list(reversed(setups))
        for name in order:
            runs.append(run_one(name, rep, workroot, libs, java, params, quiet_wait, log))
    return runs
