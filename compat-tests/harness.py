"""Process control for compat-tests: a kwire broker subprocess and Kafka's Java tools.

KwireProcess owns one `python -m kwire serve` process: start on a port (0 =
pick one), wait (bounded) for the `PLAINTEXT://host:port` ready line, stop with
SIGTERM (must exit 0), kill -9, restart on the same port and data dir. Its
stdout and stderr go to a log file that conftest attaches to failing tests.

KafkaRefProcess is the same for a real KRaft Apache Kafka started from the jars
(to check that the process-control scenarios themselves are right).
KafkaTools runs a Java main class from the jars scripts/fetch-kafka.sh fetched.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from ports import free_port  # noqa: F401  (the tests take it from here)

REPO_ROOT = Path(__file__).resolve().parent.parent
COMPAT_DIR = Path(__file__).resolve().parent
READY_RE = re.compile(r"PLAINTEXT://([^\s:]+):(\d+)")
READY_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0

# Every KwireProcess ever started in this session, so a failing test's report
# can show the logs of the brokers it used.
ALL_PROCESSES: list[KwireProcess] = []


class KwireProcess:
    """`python -m kwire serve` as a child process (see the module docstring)."""

    name = "kwire"
    ready_timeout = READY_TIMEOUT
    stop_exit_codes: tuple[int, ...] = (0,)  # graceful shutdown on SIGTERM

    def __init__(
        self,
        data_dir: Path,
        log_path: Path,
        settings: dict[str, str] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.data_dir = Path(data_dir)
        self.log_path = Path(log_path)
        self.settings = dict(settings or {})
        self.host = host
        self.port: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._log_lock = threading.Lock()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        ALL_PROCESSES.append(self)

    # -- lifecycle ---------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        assert self.port is not None, f"{self.name} not started"
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def command(self, port: int) -> list[str]:
        cmd = [sys.executable, "-m", "kwire", "serve", "--host", self.host, "--port", str(port),
               "--data-dir", str(self.data_dir)]
        for k, v in self.settings.items():
            cmd += ["--set", f"{k}={v}"]
        return cmd

    def start(self, port: int | None = None) -> KwireProcess:
        """Start on `port` (0 = any free port; default: the port it had before)."""
        assert not self.running, "already running"
        port = self.port if port is None and self.port is not None else (port or 0)
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        found: list[tuple[str, int]] = []
        ready = threading.Event()

        def on_line(line: str) -> None:
            if not found:
                m = READY_RE.search(line)
                if m:
                    found.append((m.group(1), int(m.group(2))))
                    ready.set()

        self._spawn(self.command(port), env, on_line, ready)
        ready.wait(self.ready_timeout)
        if not found:
            self._not_ready("did not print a PLAINTEXT://host:port line")
        _host, got_port = found[0]
        if port:
            assert got_port == port, f"asked for port {port}, {self.name} reports {got_port}"
        self.port = got_port
        return self

    def _spawn(self, cmd: list[str], env: dict[str, str], on_line: Callable[[str], None],
               eof: threading.Event) -> None:
        """Popen with stderr to the log; a thread copies stdout to the log (for the
        whole life of the process, so the pipe never fills) and feeds on_line."""
        self._log(f"\n===== {time.strftime('%H:%M:%S')} start: {' '.join(cmd)}\n")
        logf = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            self.proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=logf)
        finally:
            logf.close()
        proc = self.proc

        def pump() -> None:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace")
                self._log(line)
                on_line(line)
            eof.set()  # the process is gone: stop waiting for readiness

        self._reader = threading.Thread(target=pump, name=f"{self.name}-stdout", daemon=True)
        self._reader.start()

    def _not_ready(self, what: str) -> None:
        assert self.proc is not None
        rc = self.proc.poll()
        if rc is None:
            self.kill()
            why = f"{what} within {self.ready_timeout:.0f} s (killed)"
        else:
            why = f"exited with code {rc} before it was ready"
        raise RuntimeError(f"{self.name} {why}\n--- {self.log_path} ---\n{self.log_tail()}")

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, wait; graceful shutdown must exit 0 (stop_exit_codes)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self._log(f"\n===== {time.strftime('%H:%M:%S')} SIGTERM\n")
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(
                    f"{self.name} did not exit within {timeout:.0f} s of SIGTERM (killed)\n"
                    f"{self.log_tail()}") from None
        self._join_reader()
        rc = self.proc.returncode
        assert rc in self.stop_exit_codes, (
            f"{self.name} exited with {rc} after SIGTERM, expected {self.stop_exit_codes}\n"
            f"{self.log_tail()}")
        return rc

    def kill(self) -> None:
        """SIGKILL (crash), wait for the process to be gone."""
        if self.proc is not None and self.proc.poll() is None:
            self._log(f"\n===== {time.strftime('%H:%M:%S')} SIGKILL\n")
            self.proc.kill()
            self.proc.wait(10)
        self._join_reader()

    def restart(self) -> KwireProcess:
        """Start again on the same port and data dir (after stop() or kill())."""
        assert self.port is not None, "never started"
        assert not self.running, "stop() or kill() first"
        return self.start(self.port)

    def close(self) -> None:
        """Teardown: kill whatever is left without asserting anything."""
        self.kill()

    # -- logs --------------------------------------------------------------
    def _join_reader(self) -> None:
        if self._reader is not None:
            self._reader.join(5)
            self._reader = None

    def _log(self, text: str) -> None:
        with self._log_lock, open(self.log_path, "a", encoding="utf-8") as f:
            f.write(text)

    def log_tail(self, lines: int = 200) -> str:
        try:
            text = self.log_path.read_text("utf-8", "replace")
        except FileNotFoundError:
            return "(no log)"
        tail = text.splitlines()[-lines:]
        return "\n".join(tail)


def answers_api_versions(bootstrap: str, timeout: float = 2.0) -> bool:
    """True if the broker at bootstrap answers an ApiVersions v0 with error 0."""
    host, port = bootstrap.rsplit(":", 1)
    client_id = b"compat-ready"
    req = struct.pack(">hhih", 18, 0, 1, len(client_id)) + client_id
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(req)) + req)
            head = b""
            while len(head) < 10:
                chunk = sock.recv(10 - len(head))
                if not chunk:
                    return False
                head += chunk
    except OSError:
        return False
    _size, corr, err = struct.unpack(">iih", head)
    return corr == 1 and err == 0


class KafkaRefProcess(KwireProcess):
    """A real single-node KRaft Apache Kafka with the same interface as KwireProcess,
    so process-control scenarios (test_durability) can be checked against Kafka
    itself: `pytest compat-tests --process-broker kafka`. `settings` become
    server.properties lines (kwire uses Kafka's config names)."""

    name = "kafka"
    ready_timeout = 90.0
    stop_exit_codes = (0, 143)  # the JVM reports SIGTERM as 143 after its shutdown hooks ran

    def __init__(self, data_dir: Path, log_path: Path, tools: KafkaTools,
                 settings: dict[str, str] | None = None, host: str = "127.0.0.1") -> None:
        super().__init__(data_dir, log_path, settings, host)
        self.tools = tools
        self.controller_port: int | None = None
        self._formatted = False

    def _write_properties(self, port: int, cport: int) -> Path:
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{self.host}:{cport}",
            "listeners": f"PLAINTEXT://{self.host}:{port},CONTROLLER://{self.host}:{cport}",
            "advertised.listeners": f"PLAINTEXT://{self.host}:{port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir / "logs"),
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            **self.settings,
        }
        path = self.data_dir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        return path

    def start(self, port: int | None = None) -> KafkaRefProcess:
        assert not self.running, "already running"
        port = port or self.port or free_port(self.host)
        self.controller_port = self.controller_port or free_port(self.host)
        props = self._write_properties(port, self.controller_port)
        if not self._formatted:
            # Drawn again when it starts with '-' (as Kafka's Uuid.randomUuid does):
            # StorageTool's argument parser would take it for an option.
            cluster_id = "-"
            while cluster_id.startswith("-"):
                cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
            rc, out, err = self.tools.run("kafka.tools.StorageTool", "format", "-t", cluster_id,
                                          "-c", str(props), "--ignore-formatted", timeout=60)
            self._log(f"StorageTool format: rc={rc}\n{out}{err}")
            assert rc == 0, f"kafka storage format failed: {out}{err}"
            self._formatted = True
        cmd = [self.tools.java, "-Xmx1g", "-Xms1g", "-Djava.awt.headless=true",
               "-cp", f"{self.tools.libs}/*",
               f"-Dlog4j2.configurationFile={self.tools.LOG_CONFIG}",
               f"-Dkafka.logs.dir={self.data_dir / 'server-logs'}", "kafka.Kafka", str(props)]
        gone = threading.Event()
        self._spawn(cmd, dict(os.environ), lambda _line: None, gone)
        deadline = time.monotonic() + self.ready_timeout
        while not answers_api_versions(f"{self.host}:{port}", timeout=1.0):
            if gone.is_set() or time.monotonic() > deadline:
                self._not_ready("did not answer ApiVersions")
            time.sleep(0.3)
        self.port = port
        return self


class KafkaTools:
    """Runs Kafka's Java command-line tools (main classes) against a broker."""

    LOG_CONFIG = COMPAT_DIR / "tools-log4j2.properties"
    # slf4j 1.7 finds no binding in the Maven-fetched 4.x jars and says so on every start.
    _NOISE = re.compile(r"^SLF4J: .*$\n?", re.M)

    def __init__(self, libs: Path, java: str) -> None:
        self.libs = Path(libs)
        self.java = java

    def run(self, main_class: str, *args: str, input: str | None = None,
            timeout: float = 60.0) -> tuple[int, str, str]:
        cmd = [self.java, "-Xmx512m", "-Djava.awt.headless=true",
               "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
               "-cp", f"{self.libs}/*",
               f"-Dlog4j2.configurationFile={self.LOG_CONFIG}", main_class, *args]
        try:
            p = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout,
                               stdin=None if input is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise AssertionError(
                f"{main_class} {' '.join(args)} timed out after {timeout:.0f} s\n"
                f"stdout: {e.stdout!r}\nstderr: {e.stderr!r}") from None
        return p.returncode, p.stdout, self._NOISE.sub("", p.stderr)

    @classmethod
    def locate(cls) -> KafkaTools:
        """Find java and fetch the jars; raise RuntimeError with a clear message if impossible."""
        java = shutil.which("java")
        if java is None:
            raise RuntimeError("java not found on PATH: Kafka's tools need Java 17 "
                               "(Debian: apt-get install openjdk-17-jre-headless)")
        script = REPO_ROOT / "scripts" / "fetch-kafka.sh"
        try:
            p = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{script} did not finish within 900 s") from None
        if p.returncode != 0:
            raise RuntimeError(f"{script} failed (rc {p.returncode}); Kafka jars unavailable:\n"
                               f"{p.stderr[-3000:]}")
        libs = Path(p.stdout.strip().splitlines()[-1])
        if not any(libs.glob("kafka-tools-*.jar")):
            raise RuntimeError(f"{script} printed {libs}, which holds no kafka-tools jar")
        return cls(libs, java)
