"""A 3-node Apache Kafka KRaft cluster on loopback, from the Maven Central jars.

The reference for kwire on BookKeeper (benchmarks/bookkeeper.py): three combined
broker+controller nodes (one JVM each; a separate controller would be a fourth
JVM on a 2-core machine), each with the JVM options of the single-node benchmark
Kafka (`-Xmx1g -Xms1g`, kafka-run-class.sh's G1 settings) and
`default.replication.factor=3`, `min.insync.replicas=2`, internal topics at
replication factor 3 (min ISR 2). Clients get all three brokers as bootstrap.

    cluster = KafkaCluster(workdir, libs)
    ready_s = cluster.start()       # spawn to the first acks=all produce acknowledged
    cluster.bootstrap, cluster.pids()
    cluster.stop()                  # SIGTERM all, SIGKILL after the grace period
    cluster.kill_node(2); cluster.restart_node(2)   # kill -9 one node, start it again
    cluster.active_controller()     # the KRaft quorum leader, from the nodes' quorum-state

Every JVM runs in its own session, is registered with benchmarks.brokers (so
`stop_all()` ends it on any exit path of the benchmark), is killed by an atexit
finaliser, and (started from the main thread) by the kernel if this Python
process dies (`setpriv --pdeathsig KILL`).
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import shutil
import signal
import subprocess
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from benchmarks.brokers import JVM_PERF_OPTS, LOG4J2_WARN, free_port, random_cluster_id, register

HOST = "127.0.0.1"
HEAP = "1g"
# Beyond the KRaft plumbing of each node; everything else at Kafka's default.
CLUSTER_PROPERTIES = {
    "num.partitions": "1",
    "auto.create.topics.enable": "true",
    "default.replication.factor": "3",
    "min.insync.replicas": "2",
    "offsets.topic.replication.factor": "3",
    "transaction.state.log.replication.factor": "3",
    "transaction.state.log.min.isr": "2",
    "share.coordinator.state.topic.replication.factor": "3",
    "share.coordinator.state.topic.min.isr": "2",
    # The controller fences a broker whose heartbeats (broker.heartbeat.interval.ms,
    # default 2000) stop for this long (default 9000); 6000 matches the kwire
    # cluster's zookeeper.session.timeout.ms for the failover comparison
    # (benchmarks/cluster.py). It changes nothing while every broker is alive.
    "broker.session.timeout.ms": "6000",
}

_LIVE: weakref.WeakSet[KafkaCluster] = weakref.WeakSet()


def _kill_live() -> None:
    for c in list(_LIVE):
        c.kill()


atexit.register(_kill_live)


class KafkaNode:
    def __init__(self, node_id: int, workdir: Path) -> None:
        self.node_id = node_id
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port(HOST)
        self.controller_port = free_port(HOST)
        self.props_path = workdir / "server.properties"
        self.log_path = workdir / "broker.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return f"kafka-{self.node_id}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text("utf-8", "replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


class KafkaCluster:
    name = "kafka-cluster"

    def __init__(self, workdir: Path, libs: Path, nodes: int = 3) -> None:
        self.workdir = Path(workdir)
        self.libs = libs
        self.nodes = [KafkaNode(i, self.workdir / f"node-{i}") for i in range(1, nodes + 1)]
        self.log_config = self.workdir / "log4j2.properties"
        self.format_s: float | None = None
        self.down: set[int] = set()  # nodes killed on purpose (not a failure for dead())

    @property
    def bootstrap(self) -> str:
        return ",".join(f"{HOST}:{n.port}" for n in self.nodes)

    def node(self, node_id: int) -> KafkaNode:
        return next(n for n in self.nodes if n.node_id == node_id)

    def pids(self) -> dict[str, int]:
        return {n.name: n.proc.pid for n in self.nodes if n.proc is not None and n.running}

    def dead(self) -> str | None:
        """A description of the first node that exited, or None while all run."""
        for n in self.nodes:
            if n.node_id not in self.down and n.proc is not None and n.proc.poll() is not None:
                return f"{n.name} exited with {n.proc.returncode}\n{n.log_tail()}"
        return None

    def properties(self, n: KafkaNode) -> dict[str, str]:
        voters = ",".join(f"{m.node_id}@{HOST}:{m.controller_port}" for m in self.nodes)
        return {
            "process.roles": "broker,controller",
            "node.id": str(n.node_id),
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://{HOST}:{n.port},CONTROLLER://{HOST}:{n.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{n.port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(n.workdir / "data"),
            **CLUSTER_PROPERTIES,
        }

    def _format(self, n: KafkaNode, cluster_id: str) -> None:
        p = subprocess.run(
            ["java", "-Xmx256m", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
             "-cp", f"{self.libs}/*", f"-Dlog4j2.configurationFile={self.log_config}",
             "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(n.props_path),
             "--ignore-formatted"],
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            raise RuntimeError(f"kafka storage format of {n.name} failed: {p.stdout}{p.stderr}")

    def prepare(self) -> None:
        """Write each node's server.properties and format its storage (static quorum:
        the same cluster id everywhere); the formats run in parallel."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_config.write_text(LOG4J2_WARN)
        for n in self.nodes:
            n.props_path.write_text("".join(f"{k}={v}\n" for k, v in self.properties(n).items()))
        cluster_id = random_cluster_id()
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(len(self.nodes)) as pool:
            for f in [pool.submit(self._format, n, cluster_id) for n in self.nodes]:
                f.result()
        self.format_s = time.monotonic() - t0

    def command(self, n: KafkaNode) -> list[str]:
        launcher: list[str] = []
        setpriv = shutil.which("setpriv")
        if setpriv and threading.current_thread() is threading.main_thread():
            launcher = [setpriv, "--pdeathsig", "KILL"]
        return [*launcher, "java", f"-Xmx{HEAP}", f"-Xms{HEAP}", *JVM_PERF_OPTS,
                "-cp", f"{self.libs}/*", f"-Dlog4j2.configurationFile={self.log_config}",
                f"-Dkafka.logs.dir={n.workdir / 'server-logs'}", "kafka.Kafka", str(n.props_path)]

    def start(self, timeout: float = 180.0) -> float:
        """Format, spawn every node, and return the seconds from the spawn to the
        first acks=all produce acknowledged (into an auto-created topic, so with
        replication factor 3 and min ISR 2: all three brokers registered)."""
        self.prepare()
        _LIVE.add(self)
        t0 = time.monotonic()
        for n in self.nodes:
            self._spawn(n)
        try:
            return first_ack(self.bootstrap, self.dead, timeout) - t0
        except BaseException:
            self.stop()
            raise

    def _spawn(self, n: KafkaNode) -> None:
        with open(n.log_path, "ab") as logf:
            n.proc = subprocess.Popen(self.command(n), stdin=subprocess.DEVNULL, stdout=logf,
                                      stderr=logf, start_new_session=True)
        register(n.proc)

    def kill_node(self, node_id: int) -> None:
        """kill -9 one node (a crash: no controlled shutdown)."""
        n = self.node(node_id)
        self.down.add(node_id)
        if n.running:
            assert n.proc is not None
            n.proc.kill()
            n.proc.wait(10)

    def restart_node(self, node_id: int) -> None:
        """Start a stopped node again on its data dir, ports and properties (returns at
        once: wait for it through the cluster's metadata)."""
        n = self.node(node_id)
        assert not n.running, f"{n.name} still runs"
        self._spawn(n)
        self.down.discard(node_id)

    def active_controller(self) -> int | None:
        """The KRaft quorum's leader, as the running nodes record it in
        `__cluster_metadata-0/quorum-state` (the highest epoch wins); None if unknown.
        (A broker's Metadata answer names a random live broker as controller in KRaft.)"""
        import json

        best: tuple[int, int] | None = None
        for n in self.nodes:
            if not n.running:
                continue
            path = n.workdir / "data" / "__cluster_metadata-0" / "quorum-state"
            with contextlib.suppress(OSError, ValueError):
                st = json.loads(path.read_text())
                leader, epoch = int(st.get("leaderId", -1)), int(st.get("leaderEpoch", -1))
                if leader >= 0 and (best is None or epoch > best[1]):
                    best = (leader, epoch)
        return None if best is None else best[0]

    def stop(self, grace: float = 30.0) -> dict[str, int | None]:
        """SIGTERM every node at once, SIGKILL what still runs after `grace` s."""
        for n in self.nodes:
            if n.running:
                assert n.proc is not None
                with contextlib.suppress(ProcessLookupError):
                    n.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        codes: dict[str, int | None] = {}
        for n in self.nodes:
            if n.proc is None or (n.node_id in self.down and n.proc.poll() is not None):
                continue  # never started, or killed on purpose (its code is -9)
            try:
                n.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                n.proc.kill()
                n.proc.wait(10)
            codes[n.name] = n.proc.returncode
        _LIVE.discard(self)
        return codes

    def kill(self) -> None:
        for n in self.nodes:
            if n.running:
                assert n.proc is not None
                with contextlib.suppress(ProcessLookupError):
                    n.proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    n.proc.wait(10)

    @staticmethod
    def describe_settings() -> str:
        return ("3 × `java -Xmx1g -Xms1g " + " ".join(JVM_PERF_OPTS) + " kafka.Kafka "
                "server.properties` (KRaft, each node a combined broker+controller, a 3-voter "
                "quorum; " + ", ".join(f"`{k}={v}`" for k, v in CLUSTER_PROPERTIES.items())
                + "; all else default)")


def _silent_logger() -> Any:
    import logging

    lg = logging.getLogger("benchmarks.kafka_cluster.librdkafka")
    lg.propagate = False
    if not lg.handlers:
        lg.addHandler(logging.NullHandler())
    return lg


def first_ack(bootstrap: str, dead: Any, timeout: float, topic: str = "startup-probe") -> float:
    """Produce one record (acks=all, auto-created topic) until it is acknowledged;
    return the monotonic time of the acknowledgement. `dead()` returns a reason
    when a process under test exited (then this raises at once)."""
    from confluent_kafka import Producer

    acked: list[float] = []
    errors: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        (errors.append(str(err)) if err is not None else acked.append(time.monotonic()))

    producer = Producer({
        "bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0,
        "reconnect.backoff.ms": 10, "reconnect.backoff.max.ms": 50,
        "retry.backoff.ms": 10, "retry.backoff.max.ms": 50,
        "topic.metadata.refresh.fast.interval.ms": 10,
        "message.timeout.ms": int(timeout * 1000), "socket.connection.setup.timeout.ms": 1000,
        "log.connection.close": False, "logger": _silent_logger(), "error_cb": lambda _e: None,
        "on_delivery": on_delivery})
    producer.produce(topic, b"first")
    deadline = time.monotonic() + timeout
    while not acked:
        producer.poll(0.01)
        if errors:
            errors.clear()
            producer.produce(topic, b"first")
        why = dead()
        if why:
            raise RuntimeError(f"exited during start-up: {why}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"no acknowledged produce on {bootstrap} within {timeout:.0f} s")
    producer.flush(5)
    return acked[0]
