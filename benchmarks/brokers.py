"""Start and stop the brokers under test, measure their start-up and memory.

`KwireBroker` runs `python -m kwire serve` (this interpreter, the repo on
PYTHONPATH); `KafkaBroker` runs `kafka.Kafka` from the Maven Central jars with
the JVM flags of Kafka's own start scripts (kafka-server-start.sh: -Xmx1G
-Xms1G; kafka-run-class.sh: G1 with its pause/IHOP settings) and a
server.properties equivalent to kwire's defaults (see KAFKA_PROPERTIES).

`start()` measures the time from spawning the process to the first produce
(acks=all, auto-created topic) that a librdkafka producer, created before the
spawn and retrying every 10 ms, sees acknowledged. Kafka's one-off storage
format (`kafka-storage.sh format`, required before the first start) runs
before the clock starts and is timed separately (`format_s`).

RSS is the broker process's resident set (psutil): the Python process for
kwire, the JVM for Kafka. `RssSampler` samples it in a thread during a load.
Every process started here is registered so `stop_all()` can end it on any
exit path; nothing else is ever signalled.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psutil

REPO_ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024

# Kafka's JVM options as bin/kafka-run-class.sh sets them (KAFKA_JVM_PERFORMANCE_OPTS)
JVM_PERF_OPTS = ["-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                 "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
                 "-XX:MaxInlineLevel=15", "-Djava.awt.headless=true"]

LOG4J2_WARN = """\
rootLogger.level=WARN
rootLogger.appenderRef.e.ref=E
appender.e.type=Console
appender.e.name=E
appender.e.target=SYSTEM_ERR
appender.e.layout.type=PatternLayout
appender.e.layout.pattern=[%d] %p %m (%c)%n
"""

# Kafka server.properties beyond the KRaft single-node plumbing. Everything not
# listed keeps Kafka's default, which is also kwire's default (num.partitions=1,
# auto.create.topics.enable=true, log.flush.* = never fsync explicitly,
# log.segment.bytes=1 GiB, group.initial.rebalance.delay.ms=3000, ...). The
# replication factors of Kafka's internal topics must be 1 on one node (kwire has
# no internal topics besides __consumer_offsets, which it sizes for one node).
KAFKA_PROPERTIES = {
    "num.partitions": "1",
    "auto.create.topics.enable": "true",
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
}

_LIVE: list[subprocess.Popen[Any]] = []
_LIVE_LOCK = threading.Lock()
log = logging.getLogger("benchmarks")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def register(proc: subprocess.Popen[Any]) -> None:
    with _LIVE_LOCK:
        _LIVE.append(proc)


def stop_all(timeout: float = 30.0) -> None:
    """SIGTERM every process this module (or run.py) started that still runs, then SIGKILL."""
    with _LIVE_LOCK:
        procs = [p for p in _LIVE if p.poll() is None]
    for p in procs:
        with contextlib.suppress(ProcessLookupError):
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                p.kill()
            p.wait(10)


def locate_kafka_libs() -> Path:
    """Run scripts/fetch-kafka.sh (downloads Kafka 4.4.0 jars once) and return the libs dir."""
    if shutil.which("java") is None:
        raise RuntimeError("java not found on PATH (Kafka 4.4 needs Java 17)")
    script = REPO_ROOT / "scripts" / "fetch-kafka.sh"
    p = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        raise RuntimeError(f"{script} failed (rc {p.returncode}):\n{p.stderr[-3000:]}")
    libs = Path(p.stdout.strip().splitlines()[-1])
    if not any(libs.glob("kafka-tools-*.jar")):
        raise RuntimeError(f"{script} printed {libs}, which holds no kafka-tools jar")
    return libs


def rss_bytes(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


def cpu_seconds(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return float(t.user + t.system)



def random_cluster_id() -> str:
    """A KRaft cluster id as Kafka's Uuid.randomUuid makes one: base64url of a random
    UUID, drawn again when it starts with '-', which kafka-storage's argument
    parser would take for an option (the format then fails with its usage)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id

class CpuMeter:
    """Machine-wide CPU use split into the broker, us (this driver plus every child it has
    waited for: load generators, Java tools) and the rest ("background": other processes
    on the machine that the benchmark does not control). Use: m = CpuMeter(pid); ...;
    m.delta() -> cores busy per second of wall time."""

    def __init__(self, broker_pid: int | None) -> None:
        self.broker_pid = broker_pid
        self.start = self._snap()

    def _snap(self) -> tuple[float, float, float, float]:
        import resource

        t = psutil.cpu_times()
        busy = t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
            resource.RUSAGE_CHILDREN)
        ours = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
        broker = 0.0
        if self.broker_pid is not None:
            with contextlib.suppress(psutil.Error):
                broker = cpu_seconds(self.broker_pid)
        return time.monotonic(), busy, ours, broker

    def delta(self) -> dict[str, float]:
        t1, busy1, ours1, broker1 = self._snap()
        t0, busy0, ours0, broker0 = self.start
        wall = max(t1 - t0, 1e-6)
        broker = broker1 - broker0
        ours = ours1 - ours0
        return {"wall_s": round(wall, 2), "broker_cpu_s": round(broker, 2),
                "broker_cores": round(broker / wall, 2), "client_cores": round(ours / wall, 2),
                "background_cores": round(max(0.0, busy1 - busy0 - broker - ours) / wall, 2)}


def wait_for_quiet(max_wait: float, threshold: float = 0.25,
                   log: Any = None) -> tuple[float, float]:
    """Before a run: wait (at most max_wait s) until other processes use < threshold cores
    over a 2 s window. Returns (seconds waited, background cores of the last window)."""
    t0 = time.monotonic()
    while True:
        m = CpuMeter(None)
        time.sleep(2.0)
        bg = m.delta()["background_cores"]
        waited = time.monotonic() - t0
        if bg < threshold or waited >= max_wait:
            return waited, bg
        if log is not None:
            log(f"  machine busy: {bg:.2f} cores used by other processes; waiting")


class RssSampler:
    """Samples a process's RSS every `interval` seconds in a thread (context manager)."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        proc = psutil.Process(self.pid)
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                self.samples.append(int(proc.memory_info().rss))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    @property
    def peak_mib(self) -> float:
        return max(self.samples) / MIB if self.samples else float("nan")


def _silent_logger() -> logging.Logger:
    lg = logging.getLogger("benchmarks.librdkafka")
    lg.propagate = False
    if not lg.handlers:
        lg.addHandler(logging.NullHandler())
    return lg


class Broker:
    """One broker process with a fresh data dir under `workdir`."""

    name = "broker"

    def __init__(self, workdir: Path, host: str = "127.0.0.1") -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = free_port(host)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / "broker.log"
        self.format_s: float | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def prepare(self) -> None:
        """One-off work before the clock starts (Kafka: storage format)."""

    def start(self, timeout: float = 120.0) -> float:
        """Spawn the broker; return seconds from spawn to the first acknowledged produce."""
        from confluent_kafka import Producer

        self.prepare()
        acked: list[float] = []
        errors: list[str] = []

        def on_delivery(err: Any, _msg: Any) -> None:
            if err is None:
                acked.append(time.monotonic())
            else:
                errors.append(str(err))

        producer = Producer({
            "bootstrap.servers": self.bootstrap, "acks": "all", "linger.ms": 0,
            "reconnect.backoff.ms": 10, "reconnect.backoff.max.ms": 10,
            "retry.backoff.ms": 10, "retry.backoff.max.ms": 10,
            "topic.metadata.refresh.fast.interval.ms": 10,
            "message.timeout.ms": int(timeout * 1000), "socket.connection.setup.timeout.ms": 1000,
            "log.connection.close": False, "logger": _silent_logger(),
            "error_cb": lambda _e: None, "on_delivery": on_delivery,
        })
        topic = "startup-probe"
        logf = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            t0 = time.monotonic()
            self.proc = subprocess.Popen(self.command(), cwd=REPO_ROOT, env=self.env(),
                                         stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                         start_new_session=True)
        finally:
            logf.close()
        register(self.proc)
        producer.produce(topic, b"first")
        deadline = t0 + timeout
        while not acked:
            producer.poll(0.005)
            if errors:  # e.g. the topic was not there yet: send again
                errors.clear()
                producer.produce(topic, b"first")
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} during start-up"
                                   f"\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name}: no acknowledged produce within {timeout:.0f} s")
        producer.flush(5)
        return acked[0] - t0

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def rss_mib(self) -> float:
        return rss_bytes(self.pid) / MIB

    def cpu_s(self) -> float:
        return cpu_seconds(self.pid)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text("utf-8", "replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def describe_settings(self) -> str:
        raise NotImplementedError


def user_install_python() -> str:
    """A Python with kwire installed as the README's first command installs it:
    runtime dependencies only, in a venv of its own (cached). The test venv also
    holds hypothesis, which kio imports at start-up to register strategies
    (~0.1 s of a ~0.3 s start); no user install has it, so measuring start-up
    there would not be what a user gets."""
    cache = Path(os.environ.get("KWIRE_CACHE", Path.home() / ".cache" / "kwire"))
    venv = cache / "bench-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # Editable, so the venv always runs this checkout's code; cheap when up to date.
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-e", str(REPO_ROOT)],
                   check=True)
    return str(python)


class KwireBroker(Broker):
    name = "kwire"
    # The interpreter kwire runs under; the full comparison sets user_install_python().
    python = sys.executable

    def command(self) -> list[str]:
        return [self.python, "-m", "kwire", "serve", "--host", self.host,
                "--port", str(self.port), "--data-dir", str(self.workdir / "data"),
                "--log-level", "WARNING"]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        return env

    @staticmethod
    def describe_settings() -> str:
        return ("`python -m kwire serve --host 127.0.0.1 --port P --data-dir D "
                "--log-level WARNING` (every broker setting at its default), from a venv "
                "holding kwire and its runtime dependencies only, as the README installs it")


class KafkaBroker(Broker):
    name = "kafka"

    def __init__(self, workdir: Path, libs: Path, host: str = "127.0.0.1") -> None:
        super().__init__(workdir, host)
        self.libs = libs
        self.controller_port = free_port(host)
        self.props_path = self.workdir / "server.properties"
        self.log_config = self.workdir / "log4j2.properties"

    def properties(self) -> dict[str, str]:
        h, p, c = self.host, self.port, self.controller_port
        return {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{h}:{c}",
            "listeners": f"PLAINTEXT://{h}:{p},CONTROLLER://{h}:{c}",
            "advertised.listeners": f"PLAINTEXT://{h}:{p}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.workdir / "data"),
            **KAFKA_PROPERTIES,
        }

    def prepare(self) -> None:
        self.log_config.write_text(LOG4J2_WARN)
        self.props_path.write_text("".join(f"{k}={v}\n" for k, v in self.properties().items()))
        cluster_id = random_cluster_id()
        t0 = time.monotonic()
        p = subprocess.run(
            ["java", "-Xmx512m", "-Djava.awt.headless=true", "-cp", f"{self.libs}/*",
             f"-Dlog4j2.configurationFile={self.log_config}", "kafka.tools.StorageTool",
             "format", "-t", cluster_id, "-c", str(self.props_path), "--ignore-formatted"],
            capture_output=True, text=True, timeout=120)
        self.format_s = time.monotonic() - t0
        if p.returncode != 0:
            raise RuntimeError(f"kafka storage format failed: {p.stdout}{p.stderr}")

    def command(self) -> list[str]:
        return ["java", "-Xmx1g", "-Xms1g", *JVM_PERF_OPTS, "-cp", f"{self.libs}/*",
                f"-Dlog4j2.configurationFile={self.log_config}",
                f"-Dkafka.logs.dir={self.workdir / 'server-logs'}",
                "kafka.Kafka", str(self.props_path)]

    @staticmethod
    def describe_settings() -> str:
        return ("`java -Xmx1g -Xms1g " + " ".join(JVM_PERF_OPTS) + " kafka.Kafka server.properties`"
                " (KRaft combined broker+controller; " + ", ".join(
                    f"`{k}={v}`" for k, v in KAFKA_PROPERTIES.items()) + "; all else default)")


def api_versions(bootstrap: str, timeout: float = 5.0) -> set[int]:
    """The API keys a broker advertises (ApiVersions v0)."""
    host, port = bootstrap.rsplit(":", 1)
    client_id = b"kwire-bench"
    req = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(req)) + req)
        size = struct.unpack(">i", _recv_exact(sock, 4))[0]
        body = _recv_exact(sock, size)
    _corr, err, n = struct.unpack_from(">ihi", body, 0)
    if err:
        raise RuntimeError(f"ApiVersions error {err}")
    return {struct.unpack_from(">h", body, 10 + 6 * i)[0] for i in range(n)}


# FindCoordinator, JoinGroup, Heartbeat, LeaveGroup, SyncGroup, OffsetCommit, OffsetFetch
GROUP_APIS = {10, 11, 12, 13, 14, 8, 9}


def supports_consumer_groups(bootstrap: str) -> bool:
    return api_versions(bootstrap) >= GROUP_APIS


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return bytes(buf)


class IdleConnections:
    """`count` TCP connections to a broker, each having done one ApiVersions round
    trip (so the broker fully set it up), then held open without traffic."""

    def __init__(self, bootstrap: str, count: int) -> None:
        self.bootstrap = bootstrap
        self.count = count
        self.socks: list[socket.socket] = []

    def __enter__(self) -> IdleConnections:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        need = self.count + 256
        if soft < need:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
        host, port = self.bootstrap.rsplit(":", 1)
        client_id = b"idle"
        req = struct.pack(">hhih", 18, 0, 1, len(client_id)) + client_id
        frame = struct.pack(">i", len(req)) + req
        try:
            for _ in range(self.count):
                s = socket.create_connection((host, int(port)), timeout=10)
                self.socks.append(s)
                s.sendall(frame)
                size = struct.unpack(">i", _recv_exact(s, 4))[0]
                _recv_exact(s, size)
        except BaseException:
            self.close()
            raise
        return self

    def alive(self) -> int:
        """How many are still open (the broker has not closed them)."""
        n = 0
        for s in self.socks:
            s.setblocking(False)
            try:
                data = s.recv(1)
                n += 1 if data else 0
            except BlockingIOError:
                n += 1
            except OSError:
                pass
        return n

    def close(self) -> None:
        for s in self.socks:
            with contextlib.suppress(OSError):
                s.close()
        self.socks.clear()

    def __exit__(self, *exc: object) -> None:
        self.close()
