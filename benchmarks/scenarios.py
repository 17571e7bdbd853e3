"""What is measured: the metric catalogue, the run sizes, and one function per scenario.

Every repetition starts a fresh broker and runs the scenarios below in order
against it (the consume scenarios read the topics the produce scenarios wrote).
A scenario records metrics into `ctx.metrics` and extra per-run facts (broker
CPU seconds, wall time, tool output fields) into `ctx.details`; an exception
marks that scenario failed for the run and the next one still runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks.brokers import (
    REPO_ROOT,
    Broker,
    CpuMeter,
    IdleConnections,
    RssSampler,
    register,
    supports_consumer_groups,
)
from benchmarks.javatools import JavaTools


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    better: str  # "higher" | "lower"
    source: str  # which tool measured it
    target: float | None = None  # kwire/Kafka ratio the issue asks for (None: no target)

    def text(self, params: dict[str, Any]) -> str:
        """The label with the run's fixed rate and idle-connection count filled in."""
        return self.label.format(rate=f"{params['e2e_rate']:,}", conns=f"{params['idle_conns']:,}")


THROUGHPUT_TARGET = 1.0
METRICS: list[Metric] = [
    Metric("pp_1k_p1_mibs", "produce 1 KiB, acks=all, 1 partition", "MiB/s", "higher",
           "ProducerPerformance", THROUGHPUT_TARGET),
    Metric("pp_1k_p8_mibs", "produce 1 KiB, acks=all, 8 partitions", "MiB/s", "higher",
           "ProducerPerformance", THROUGHPUT_TARGET),
    Metric("pp_100b_krps", "produce 100 B, acks=all, 1 partition", "k records/s", "higher",
           "ProducerPerformance", THROUGHPUT_TARGET),
    # Broker-side recompression: its cost is measured, no target is set for it.
    Metric("pp_1k_lz4_mibs", "produce 1 KiB uncompressed into a compression.type=lz4 topic",
           "MiB/s", "higher", "ProducerPerformance"),
    Metric("pp_1k_zstd_mibs", "produce 1 KiB uncompressed into a compression.type=zstd topic",
           "MiB/s", "higher", "ProducerPerformance"),
    Metric("rd_1k_p1_mibs", "produce 1 KiB, acks=all, 1 partition", "MiB/s", "higher",
           "librdkafka", THROUGHPUT_TARGET),
    Metric("rd_100b_krps", "produce 100 B, acks=all, 1 partition", "k records/s", "higher",
           "librdkafka", THROUGHPUT_TARGET),
    Metric("rd_txn_1k_krps", "transactional produce 1 KiB, 100 records per transaction",
           "k records/s", "higher", "librdkafka", THROUGHPUT_TARGET),
    Metric("rd_consume_1k_mibs", "consume 1 KiB topic from the beginning", "MiB/s", "higher",
           "librdkafka assign()", THROUGHPUT_TARGET),
    Metric("rd_consume_100b_krps", "consume 100 B topic from the beginning", "k records/s",
           "higher", "librdkafka assign()", THROUGHPUT_TARGET),
    Metric("cp_1k_mibs", "consume 1 KiB topic from the beginning (fetch.MB.sec)", "MiB/s",
           "higher", "ConsumerPerformance", THROUGHPUT_TARGET),
    Metric("cp_p1000_krps", "consume 100 B, 1,000 partitions, 64 KiB fetches (fetch.nMsg.sec)",
           "k records/s", "higher", "ConsumerPerformance", THROUGHPUT_TARGET),
    Metric("e2e_p50_ms", "end-to-end latency p50 at {rate} rec/s", "ms", "lower", "librdkafka"),
    Metric("e2e_p99_ms", "end-to-end latency p99 at {rate} rec/s", "ms", "lower", "librdkafka",
           1.0),
    Metric("e2e_p999_ms", "end-to-end latency p99.9 at {rate} rec/s", "ms", "lower", "librdkafka"),
    Metric("conns_p50_ms", "e2e latency p50, + {conns} idle connections", "ms", "lower",
           "librdkafka"),
    Metric("conns_p99_ms", "e2e latency p99, + {conns} idle connections", "ms", "lower",
           "librdkafka", 1.0),
    Metric("conns_p999_ms", "e2e latency p99.9, + {conns} idle connections", "ms", "lower",
           "librdkafka"),
    Metric("startup_s", "process start to first acknowledged produce", "s", "lower",
           "librdkafka", 0.1),
    Metric("rss_idle_mib", "resident memory, idle after start-up", "MiB", "lower", "psutil", 0.2),
    Metric("rss_load_mib", "resident memory, peak under the {rate} rec/s load", "MiB", "lower",
           "psutil"),
    Metric("rss_conns_mib", "resident memory, peak with load + {conns} idle connections", "MiB",
           "lower", "psutil"),
]
METRIC_BY_KEY = {m.key: m for m in METRICS}


@dataclass(frozen=True)
class Params:
    pp_1k_records: int  # ProducerPerformance 1 KiB (each of 1 and 8 partitions)
    pp_100b_records: int
    rd_1k_records: int
    rd_100b_records: int
    rd_txn_records: int
    e2e_rate: int
    e2e_seconds: float
    e2e_warmup_s: float  # records sent in the first seconds of a measured run are dropped
    e2e_warm_pass_s: float  # an unrecorded fixed-rate pass before the measured ones (JIT)
    idle_conns: int
    consume_passes: int  # the librdkafka consumer reads each topic this many times
    settle_s: float  # idle time before the idle RSS sample
    timeout_s: float  # per tool run
    # ConsumerPerformance on a 1,000-partition topic (incremental fetch sessions).
    cp_p1000_records: int = 300_000


FULL = Params(pp_1k_records=400_000, pp_100b_records=1_500_000, rd_1k_records=1_000_000,
              rd_100b_records=2_000_000, rd_txn_records=200_000, e2e_rate=5000,
              e2e_seconds=10, e2e_warmup_s=1.0,
              e2e_warm_pass_s=8, idle_conns=1000, consume_passes=3, settle_s=3.0, timeout_s=180)
SMOKE = Params(pp_1k_records=20_000, pp_100b_records=50_000, rd_1k_records=50_000,
               rd_100b_records=100_000, rd_txn_records=10_000, e2e_rate=2000,
               e2e_seconds=2, e2e_warmup_s=0.5,
               e2e_warm_pass_s=0, idle_conns=200, consume_passes=1, settle_s=0.5, timeout_s=40,
               cp_p1000_records=50_000)


@dataclass
class Context:
    broker: Broker
    java: JavaTools | None
    params: Params
    metrics: dict[str, float] = field(default_factory=dict)
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    groups: bool | None = None


class Skip(Exception):
    """A scenario that cannot run here (reason recorded, not a failure)."""


def _loadgen(ctx: Context, *args: str, timeout: float | None = None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.loadgen_rdkafka", args[0],
           "--bootstrap", ctx.broker.bootstrap, *args[1:]]
    p = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True,
                       timeout=timeout or ctx.params.timeout_s)
    return _json_result(p.stdout, p.stderr, p.returncode, args[0])


def _json_result(out: str, err: str, rc: int | None, what: str) -> dict[str, Any]:
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if rc != 0 or not lines:
        raise RuntimeError(f"loadgen {what} rc={rc}: {(err or out)[-800:]}")
    return dict(json.loads(lines[-1]))


def create_topic(ctx: Context, topic: str, partitions: int,
                 configs: dict[str, str] | None = None) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient({"bootstrap.servers": ctx.broker.bootstrap})
    fut = admin.create_topics([NewTopic(topic, partitions, 1, config=configs or {})],
                              operation_timeout=30)[topic]
    fut.result(30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait until every partition has a leader
        md = admin.list_topics(topic, timeout=10).topics.get(topic)
        if md is not None and md.error is None and len(md.partitions) == partitions and all(
                p.leader >= 0 and p.error is None for p in md.partitions.values()):
            return
        time.sleep(0.1)
    raise RuntimeError(f"topic {topic} has no leaders after 30 s")


def _timed(ctx: Context, name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run fn, recording CPU use (broker, load generators, other processes) and wall time."""
    meter = CpuMeter(ctx.broker.pid)
    out = fn()
    ctx.details[name] = {**out, **meter.delta()}
    return out


def _need_java(ctx: Context) -> JavaTools:
    if ctx.java is None:
        raise Skip("Kafka's Java tools unavailable (no java or no jars)")
    return ctx.java


# -- scenarios ---------------------------------------------------------------------------

def idle_rss(ctx: Context) -> None:
    time.sleep(ctx.params.settle_s)
    ctx.metrics["rss_idle_mib"] = ctx.broker.rss_mib()


def pp_1k_p1(ctx: Context) -> None:
    java = _need_java(ctx)
    create_topic(ctx, "pp-1k-p1", 1)
    n = ctx.params.pp_1k_records
    r = _timed(ctx, "pp_1k_p1", lambda: java.producer_perf(
        ctx.broker.bootstrap, "pp-1k-p1", n, 1024, timeout=ctx.params.timeout_s))
    ctx.metrics["pp_1k_p1_mibs"] = r["mib_per_s"]


def pp_1k_p8(ctx: Context) -> None:
    java = _need_java(ctx)
    create_topic(ctx, "pp-1k-p8", 8)
    n = ctx.params.pp_1k_records
    r = _timed(ctx, "pp_1k_p8", lambda: java.producer_perf(
        ctx.broker.bootstrap, "pp-1k-p8", n, 1024, timeout=ctx.params.timeout_s))
    ctx.metrics["pp_1k_p8_mibs"] = r["mib_per_s"]


def pp_100b(ctx: Context) -> None:
    java = _need_java(ctx)
    create_topic(ctx, "pp-100b-p1", 1)
    n = ctx.params.pp_100b_records
    r = _timed(ctx, "pp_100b", lambda: java.producer_perf(
        ctx.broker.bootstrap, "pp-100b-p1", n, 100, timeout=ctx.params.timeout_s))
    ctx.metrics["pp_100b_krps"] = r["records_per_s"] / 1000


def _pp_1k_recompressed(ctx: Context, codec: str) -> None:
    """The producer sends uncompressed batches; the topic's compression.type makes the
    broker re-encode every batch (LogValidator), so this is what recompression costs."""
    java = _need_java(ctx)
    topic = f"pp-1k-{codec}"
    create_topic(ctx, topic, 1, {"compression.type": codec})
    n = ctx.params.pp_1k_records
    r = _timed(ctx, f"pp_1k_{codec}", lambda: java.producer_perf(
        ctx.broker.bootstrap, topic, n, 1024, timeout=ctx.params.timeout_s))
    ctx.metrics[f"pp_1k_{codec}_mibs"] = r["mib_per_s"]


def pp_1k_lz4(ctx: Context) -> None:
    _pp_1k_recompressed(ctx, "lz4")


def pp_1k_zstd(ctx: Context) -> None:
    _pp_1k_recompressed(ctx, "zstd")


def rd_1k_p1(ctx: Context) -> None:
    create_topic(ctx, "rd-1k-p1", 1)
    n = ctx.params.rd_1k_records
    r = _timed(ctx, "rd_1k_p1", lambda: _loadgen(
        ctx, "produce", "--topic", "rd-1k-p1", "--count", str(n), "--size", "1024"))
    ctx.metrics["rd_1k_p1_mibs"] = r["mib_per_s"]


def rd_100b(ctx: Context) -> None:
    create_topic(ctx, "rd-100b-p1", 1)
    n = ctx.params.rd_100b_records
    r = _timed(ctx, "rd_100b", lambda: _loadgen(
        ctx, "produce", "--topic", "rd-100b-p1", "--count", str(n), "--size", "100"))
    ctx.metrics["rd_100b_krps"] = r["records_per_s"] / 1000


def rd_txn_1k(ctx: Context) -> None:
    """Transactions of 100 records of 1 KiB, one after another, on 1 partition: each
    costs the coordinator an AddPartitionsToTxn write, a PrepareCommit write, a
    marker and a CompleteCommit write besides the data."""
    create_topic(ctx, "rd-txn-1k-p1", 1)
    n = ctx.params.rd_txn_records
    r = _timed(ctx, "rd_txn_1k", lambda: _loadgen(
        ctx, "txn-produce", "--topic", "rd-txn-1k-p1", "--count", str(n), "--size", "1024",
        "--per-txn", "100"))
    ctx.metrics["rd_txn_1k_krps"] = r["records_per_s"] / 1000


def rd_consume_1k(ctx: Context) -> None:
    """The whole 1 KiB topic librdkafka wrote (1 partition), from offset 0."""
    n = ctx.params.rd_1k_records
    r = _timed(ctx, "rd_consume_1k", lambda: _loadgen(
        ctx, "consume", "--topic", "rd-1k-p1", "--count", str(n), "--partitions", "1",
        "--passes", str(ctx.params.consume_passes)))
    ctx.metrics["rd_consume_1k_mibs"] = r["mib_per_s"]


def rd_consume_100b(ctx: Context) -> None:
    n = ctx.params.rd_100b_records
    r = _timed(ctx, "rd_consume_100b", lambda: _loadgen(
        ctx, "consume", "--topic", "rd-100b-p1", "--count", str(n), "--partitions", "1",
        "--passes", str(ctx.params.consume_passes)))
    ctx.metrics["rd_consume_100b_krps"] = r["records_per_s"] / 1000


def cp_1k(ctx: Context) -> None:
    java = _need_java(ctx)
    ctx.groups = supports_consumer_groups(ctx.broker.bootstrap)
    if not ctx.groups:
        raise Skip(f"{ctx.broker.name} does not advertise the consumer-group APIs "
                   "ConsumerPerformance needs")
    n = ctx.params.rd_1k_records
    r = _timed(ctx, "cp_1k", lambda: java.consumer_perf(
        ctx.broker.bootstrap, "rd-1k-p1", n, f"perf-{uuid.uuid4().hex[:8]}",
        timeout=ctx.params.timeout_s))
    if r["records"] < n:
        raise RuntimeError(f"ConsumerPerformance read {r['records']:.0f} of {n} records")
    ctx.metrics["cp_1k_mibs"] = r["fetch_mib_per_s"]


def cp_p1000(ctx: Context) -> None:
    """The Java consumer over 1,000 partitions: each fetch covers every partition, so
    what a fetch costs per partition (and fetch sessions sparing it) shows here."""
    java = _need_java(ctx)
    if not supports_consumer_groups(ctx.broker.bootstrap):
        raise Skip(f"{ctx.broker.name} does not advertise the consumer-group APIs "
                   "ConsumerPerformance needs")
    n = ctx.params.cp_p1000_records
    create_topic(ctx, "cp-p1000", 1000)
    _loadgen(ctx, "produce", "--topic", "cp-p1000", "--count", str(n), "--size", "100")
    # 64 KiB responses: reading the topic takes hundreds of fetches of one session
    # (with the default 50 MiB, one or two fetches would read it all).
    r = _timed(ctx, "cp_p1000", lambda: java.consumer_perf(
        ctx.broker.bootstrap, "cp-p1000", n, f"perf-{uuid.uuid4().hex[:8]}",
        timeout=ctx.params.timeout_s, props=("fetch.max.bytes=65536",)))
    if r["records"] < n:
        raise RuntimeError(f"ConsumerPerformance read {r['records']:.0f} of {n} records")
    ctx.metrics["cp_p1000_krps"] = r["fetch_records_per_s"] / 1000


def _e2e(ctx: Context, topic: str, idle_conns: int,
         seconds: float | None = None) -> tuple[dict[str, Any], float]:
    """Fixed-rate e2e latency run; returns (consumer result, peak broker RSS MiB)."""
    pr = ctx.params
    seconds = seconds or pr.e2e_seconds
    create_topic(ctx, topic, 1)
    total = int(pr.e2e_rate * seconds)
    timeout = seconds + 60
    base = [sys.executable, "-m", "benchmarks.loadgen_rdkafka"]
    common = ["--bootstrap", ctx.broker.bootstrap, "--topic", topic]
    consumer = subprocess.Popen(
        [*base, "e2e-consume", *common, "--count", str(total), "--warmup-s", str(pr.e2e_warmup_s),
         "--timeout", str(timeout)], cwd=REPO_ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    register(consumer)
    try:
        assert consumer.stdout is not None
        line = consumer.stdout.readline()  # READY (bounded: the consumer polls 0.6 s)
        if line.strip() != "READY":
            raise RuntimeError(f"e2e consumer did not get ready: {line!r}")
        conns = IdleConnections(ctx.broker.bootstrap, idle_conns) if idle_conns else None
        if conns:
            conns.__enter__()
        try:
            meter = CpuMeter(ctx.broker.pid)
            with RssSampler(ctx.broker.pid) as rss:
                prod = subprocess.run(
                    [*base, "e2e-produce", *common, "--rate", str(pr.e2e_rate),
                     "--seconds", str(seconds), "--size", "1024"],
                    cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)
                out, err = consumer.communicate(timeout=timeout)
            cpu = meter.delta()
            alive = conns.alive() if conns else None
        finally:
            if conns:
                conns.close()
        p = _json_result(prod.stdout, prod.stderr, prod.returncode, "e2e-produce")
        c = _json_result(out, err, consumer.returncode, "e2e-consume")
        ctx.details[topic] = {**c, "producer": p, **cpu, "idle_conns": idle_conns,
                              "idle_conns_alive": alive}
        if conns and alive != idle_conns:
            raise RuntimeError(f"only {alive} of {idle_conns} idle connections survived")
        return c, rss.peak_mib
    finally:
        if consumer.poll() is None:
            consumer.kill()
            consumer.wait(10)


def e2e(ctx: Context) -> None:
    if ctx.params.e2e_warm_pass_s:  # same load, unrecorded: lets Kafka's JIT compile this path
        _e2e(ctx, "e2e-warm", 0, ctx.params.e2e_warm_pass_s)
    c, peak = _e2e(ctx, "e2e", 0)
    ctx.metrics.update(e2e_p50_ms=c["p50_ms"], e2e_p99_ms=c["p99_ms"], e2e_p999_ms=c["p999_ms"],
                       rss_load_mib=peak)


def e2e_conns(ctx: Context) -> None:
    c, peak = _e2e(ctx, "e2e-conns", ctx.params.idle_conns)
    ctx.metrics.update(conns_p50_ms=c["p50_ms"], conns_p99_ms=c["p99_ms"],
                       conns_p999_ms=c["p999_ms"], rss_conns_mib=peak)


SCENARIOS: list[tuple[str, Callable[[Context], None]]] = [
    ("idle_rss", idle_rss),
    ("pp_1k_p1", pp_1k_p1),
    ("pp_1k_p8", pp_1k_p8),
    ("pp_100b", pp_100b),
    ("pp_1k_lz4", pp_1k_lz4),
    ("pp_1k_zstd", pp_1k_zstd),
    ("rd_1k_p1", rd_1k_p1),
    ("rd_100b", rd_100b),
    ("rd_txn_1k", rd_txn_1k),
    ("rd_consume_1k", rd_consume_1k),
    ("rd_consume_100b", rd_consume_100b),
    ("cp_1k", cp_1k),
    ("cp_p1000", cp_p1000),
    ("e2e", e2e),
    ("e2e_conns", e2e_conns),
]


def run_all(ctx: Context, log: Callable[[str], None]) -> None:
    for name, fn in SCENARIOS:
        t0 = time.monotonic()
        try:
            fn(ctx)
            log(f"  {name:16s} ok    {time.monotonic() - t0:6.1f} s  " + ", ".join(
                f"{k}={v:.4g}" for k, v in ctx.metrics.items() if _belongs(k, name)))
        except Skip as s:
            ctx.skipped[name] = str(s)
            log(f"  {name:16s} skip  {s}")
        except Exception as e:  # noqa: BLE001 - recorded, the next scenario still runs
            ctx.errors[name] = f"{type(e).__name__}: {e}"
            log(f"  {name:16s} FAIL  {time.monotonic() - t0:6.1f} s  {ctx.errors[name][:600]}")
        if ctx.broker.proc is not None and ctx.broker.proc.poll() is not None:
            ctx.errors["broker"] = (f"{ctx.broker.name} exited with {ctx.broker.proc.returncode}"
                                    f" during {name}\n{ctx.broker.log_tail()}")
            log(f"  broker exited during {name}; remaining scenarios not run")
            return


_SCENARIO_METRICS = {
    "idle_rss": ["rss_idle_mib"], "pp_1k_p1": ["pp_1k_p1_mibs"], "pp_1k_p8": ["pp_1k_p8_mibs"],
    "pp_100b": ["pp_100b_krps"], "pp_1k_lz4": ["pp_1k_lz4_mibs"],
    "pp_1k_zstd": ["pp_1k_zstd_mibs"], "rd_1k_p1": ["rd_1k_p1_mibs"], "rd_100b": ["rd_100b_krps"],
    "rd_txn_1k": ["rd_txn_1k_krps"],
    "rd_consume_1k": ["rd_consume_1k_mibs"], "rd_consume_100b": ["rd_consume_100b_krps"],
    "cp_1k": ["cp_1k_mibs"], "cp_p1000": ["cp_p1000_krps"],
    "e2e": ["e2e_p50_ms", "e2e_p99_ms", "e2e_p999_ms", "rss_load_mib"],
    "e2e_conns": ["conns_p50_ms", "conns_p99_ms", "conns_p999_ms", "rss_conns_mib"],
}


def _belongs(key: str, scenario: str) -> bool:
    return key in _SCENARIO_METRICS.get(scenario, [])
