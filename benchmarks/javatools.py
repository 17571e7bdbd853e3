"""Kafka's own load generators from the Maven Central jars, and parsers for their output.

ProducerPerformance (`kafka-producer-perf-test.sh`) prints one summary line:
  `200000 records sent, 41237.1 records/sec (40.27 MB/sec), 612.34 ms avg latency,
   1234.00 ms max latency, 600 ms 50th, 1100 ms 95th, 1200 ms 99th, 1230 ms 99.9th.`
ConsumerPerformance (`kafka-consumer-perf-test.sh`) prints a CSV header and one row:
  `start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec,
   rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec`
Their "MB" is 1024*1024 bytes. The JVM gets the options Kafka's bin scripts use
(-Xmx512M for the perf tools, kafka-run-class.sh's G1 settings).
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from benchmarks.brokers import JVM_PERF_OPTS, LOG4J2_WARN, register

PRODUCER_LINE = re.compile(
    r"(?P<records>\d+) records sent, (?P<rps>[\d.]+) records/sec \((?P<mbs>[\d.]+) MB/sec\), "
    r"(?P<avg>[\d.]+) ms avg latency, (?P<max>[\d.]+) ms max latency, (?P<p50>\d+) ms 50th, "
    r"(?P<p95>\d+) ms 95th, (?P<p99>\d+) ms 99th, (?P<p999>\d+) ms 99.9th")


class ToolError(RuntimeError):
    pass


class JavaTools:
    def __init__(self, libs: Path, workdir: Path) -> None:
        self.libs = libs
        self.log_config = Path(workdir) / "tools-log4j2.properties"
        self.log_config.parent.mkdir(parents=True, exist_ok=True)
        self.log_config.write_text(LOG4J2_WARN)

    def run(self, main_class: str, args: list[str], timeout: float) -> tuple[str, float]:
        """Run a tool; return (stdout, wall seconds). Raises ToolError on failure or timeout."""
        cmd = ["java", "-Xmx512M", *JVM_PERF_OPTS, "-cp", f"{self.libs}/*",
               f"-Dlog4j2.configurationFile={self.log_config}", main_class, *args]
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        register(proc)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise ToolError(f"{main_class.rsplit('.', 1)[-1]} timed out after {timeout:.0f} s; "
                            f"stdout tail: {out[-400:]!r} stderr tail: {err[-400:]!r}") from None
        wall = time.monotonic() - t0
        if proc.returncode != 0:
            raise ToolError(f"{main_class.rsplit('.', 1)[-1]} exited {proc.returncode}: "
                            f"{(err or out)[-800:]}")
        return out, wall

    def producer_perf(self, bootstrap: str, topic: str, records: int, size: int,
                      acks: str = "all", timeout: float = 180.0) -> dict[str, float]:
        out, wall = self.run("org.apache.kafka.tools.ProducerPerformance", [
            "--topic", topic, "--num-records", str(records), "--record-size", str(size),
            "--throughput", "-1", "--bootstrap-server", bootstrap,
            "--command-property", f"acks={acks}"], timeout)
        return parse_producer_perf(out) | {"wall_s": wall}

    def consumer_perf(self, bootstrap: str, topic: str, records: int, group: str,
                      timeout: float = 180.0, props: tuple[str, ...] = ()) -> dict[str, float]:
        extra = [arg for prop in props for arg in ("--command-property", prop)]
        out, wall = self.run("org.apache.kafka.tools.ConsumerPerformance", [
            "--bootstrap-server", bootstrap, "--topic", topic, "--num-records", str(records),
            "--timeout", "30000", "--group", group, *extra], timeout)
        return parse_consumer_perf(out) | {"wall_s": wall}


def parse_producer_perf(out: str) -> dict[str, float]:
    """The final summary line (the last match; interim lines lack 'th' percentiles)."""
    matches = list(PRODUCER_LINE.finditer(out))
    if not matches:
        raise ToolError(f"no ProducerPerformance summary line in: {out[-600:]!r}")
    m = matches[-1]
    return {"records": float(m["records"]), "records_per_s": float(m["rps"]),
            "mib_per_s": float(m["mbs"]), "avg_latency_ms": float(m["avg"]),
            "p99_latency_ms": float(m["p99"])}


def parse_consumer_perf(out: str) -> dict[str, float]:
    lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
    for i, line in enumerate(lines[:-1]):
        if line.startswith("start.time"):
            header = [h.strip() for h in line.split(",")]
            values = [v.strip() for v in lines[i + 1].split(",")]
            row = dict(zip(header, values, strict=False))
            try:
                return {"records": float(row["data.consumed.in.nMsg"]),
                        "mib": float(row["data.consumed.in.MB"]),
                        "mib_per_s": float(row["MB.sec"]),
                        "records_per_s": float(row["nMsg.sec"]),
                        "rebalance_ms": float(row["rebalance.time.ms"]),
                        "fetch_mib_per_s": float(row["fetch.MB.sec"]),
                        "fetch_records_per_s": float(row["fetch.nMsg.sec"])}
            except (KeyError, ValueError) as e:
                raise ToolError(f"unexpected ConsumerPerformance row {row}: {e}") from None
    raise ToolError(f"no ConsumerPerformance CSV in: {out[-600:]!r}")
