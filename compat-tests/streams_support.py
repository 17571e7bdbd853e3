"""A Kafka Streams word count under exactly_once_v2 as a child process, and its data.

StreamsJava fetches kafka-streams (scripts/fetch-kafka-streams.sh) and compiles
compat-tests/java/streams/StreamsWordCount.java once per source + jar set
(cached under ~/.cache/kwire/streams-wordcount/<hash>). StreamsApp is one
running JVM of it: its stdout lines ("state FROM TO", "progress N", "error
...") are followed so a test can wait for RUNNING or for progress and then
kill -9 it mid-transaction. The rest is the data side, with confluent-kafka
(librdkafka) as an independent client: a deterministic input, the counts
Python expects from it, topic creation, and the output read back with
isolation.level=read_committed (the last value per word).

    java = StreamsJava.locate()
    app = StreamsApp(java, bootstrap, "wc-1", "in", "out", tmp / "state", tmp / "app.log").start()
    app.wait_for_state("RUNNING", 60)
    ...
    app.stop()
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

REPO_ROOT = Path(__file__).resolve().parent.parent
SOURCE = Path(__file__).resolve().parent / "java" / "streams" / "StreamsWordCount.java"
MAIN_CLASS = "StreamsWordCount"
FETCH_SCRIPT = REPO_ROOT / "scripts" / "fetch-kafka-streams.sh"
CACHE_ROOT = (Path(os.environ.get("KWIRE_CACHE", Path.home() / ".cache" / "kwire"))
              / "streams-wordcount")

# Streams' own logging (WARN and up) goes to stderr, as the Java tools' does;
# stdout carries only the app's lines.
LOG_CONFIG = Path(__file__).resolve().parent / "tools-log4j2.properties"

# A vocabulary of ASCII words, so Java's split("\\W+") and Python's agree.
VOCABULARY = tuple(f"{a}{b}" for a in ("alpha", "beta", "gamma", "delta", "omega", "kappa",
                                       "sigma", "theta", "zeta", "lambda")
                   for b in ("", "x", "y", "z", "w", "v", "u", "t", "s", "r"))
_SPLIT = re.compile(r"\W+", re.ASCII)


def _now() -> str:
    """Wall-clock time with milliseconds, as Streams' own log lines show it."""
    t = time.time()
    return time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t * 1000) % 1000:03d}"


class StreamsError(RuntimeError):
    """The jars could not be fetched, the source not compiled, or the app misbehaved."""


def input_lines(n: int, seed: int = 8) -> list[str]:
    """n deterministic text lines of 1..12 words (Zipf-ish: some words are frequent)."""
    rng = random.Random(seed)
    weights = [1.0 / (i + 1) for i in range(len(VOCABULARY))]
    lines = []
    for i in range(n):
        words = rng.choices(VOCABULARY, weights, k=rng.randint(1, 12))
        # case and punctuation the topology folds away, as a real word count would
        lines.append(f"{words[0].capitalize()} " + ", ".join(words[1:]) + f". #{i % 7}")
    return lines


def expected_counts(lines: list[str]) -> dict[str, int]:
    """The final count per word the topology must reach (lower-cased, split on non-word)."""
    counts: Counter[str] = Counter()
    for line in lines:
        counts.update(w for w in _SPLIT.split(line.lower()) if w)
    return dict(counts)


# -- the Java side ----------------------------------------------------------------

class StreamsJava:
    """The kafka-streams jars, the compiled StreamsWordCount and the java to run it."""

    def __init__(self, libs: Path, java: str, classes: Path) -> None:
        self.libs = libs
        self.java = java
        self.classes = classes

    @classmethod
    def locate(cls) -> StreamsJava:
        java, javac = shutil.which("java"), shutil.which("javac")
        if java is None or javac is None:
            raise StreamsError("java/javac not found on PATH: Kafka Streams needs a JDK 17 "
                               "(Debian: apt-get install openjdk-17-jdk-headless)")
        try:
            p = subprocess.run(["bash", str(FETCH_SCRIPT)], capture_output=True, text=True,
                               timeout=900, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise StreamsError(f"{FETCH_SCRIPT} did not finish within 900 s") from None
        if p.returncode != 0:
            raise StreamsError(f"{FETCH_SCRIPT} failed (rc {p.returncode}):\n{p.stderr[-3000:]}")
        libs = Path(p.stdout.strip().splitlines()[-1])
        if not any(libs.glob("kafka-streams-*.jar")):
            raise StreamsError(f"{FETCH_SCRIPT} printed {libs}, which holds no kafka-streams jar")
        return cls(libs, java, cls._compile(javac, libs))

    @staticmethod
    def _compile(javac: str, libs: Path) -> Path:
        """javac into CACHE_ROOT/<hash>, once; a lock and an atomic rename keep
        parallel test processes from seeing half a build."""
        jars = sorted(p.name for p in libs.glob("*.jar"))
        key = hashlib.sha256(SOURCE.read_bytes() + "\n".join(jars).encode()).hexdigest()[:16]
        target = CACHE_ROOT / key
        if (target / f"{MAIN_CLASS}.class").exists():
            return target
        CACHE_ROOT.mkdir(parents=True, exist_ok=True)
        with open(CACHE_ROOT / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if (target / f"{MAIN_CLASS}.class").exists():
                return target
            work = Path(tempfile.mkdtemp(prefix=f"{key}-", dir=CACHE_ROOT))
            p = subprocess.run([javac, "-nowarn", "-cp", f"{libs}/*", "-d", str(work),
                                str(SOURCE)], capture_output=True, text=True, timeout=180,
                               stdin=subprocess.DEVNULL)
            if p.returncode != 0:
                shutil.rmtree(work, ignore_errors=True)
                raise StreamsError(f"javac {SOURCE} failed:\n{p.stdout}{p.stderr}")
            shutil.rmtree(target, ignore_errors=True)
            work.rename(target)
        return target

    def command(self, *args: str) -> list[str]:
        # Small heap, C1 only and serial GC: the machine has 2 cores and a broker beside it.
        return [self.java, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-Djava.awt.headless=true", "-Dlog4j2.shutdownHookEnabled=false",
                f"-Dlog4j2.configurationFile={LOG_CONFIG}",
                "-cp", f"{self.classes}:{self.libs}/*", MAIN_CLASS, *args]


class StreamsApp:
    """One StreamsWordCount JVM: start, follow its stdout, SIGTERM or SIGKILL it."""

    def __init__(self, java: StreamsJava, bootstrap: str, application_id: str, input_topic: str,
                 output_topic: str, state_dir: Path, log_path: Path,
                 commit_interval_ms: int = 200, throttle_ms: int = 0,
                 guarantee: str = "exactly_once_v2") -> None:
        self.java = java
        self.args = [bootstrap, application_id, input_topic, output_topic, str(state_dir),
                     str(commit_interval_ms), str(throttle_ms), guarantee]
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.states: list[str] = []  # every state it entered, in order
        self.progress = 0  # input lines processed (by this JVM), in steps of 250
        self.errors: list[str] = []
        self.frozen = False  # it printed "frozen N": the stream thread blocks mid-transaction
        self.closed = False  # it printed "closed": KafkaStreams.close() returned
        self._cond = threading.Condition()
        self._reader: threading.Thread | None = None
        self._eof = False

    def start(self, freeze_at: int = 0) -> StreamsApp:
        """Start the JVM (again); freeze_at > 0: freeze mid-transaction from that line on."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.states, self.progress, self.errors, self._eof = [], 0, [], False
        self.closed = self.frozen = False
        cmd = self.java.command(*self.args, str(freeze_at))
        with open(self.log_path, "ab") as logf:
            logf.write(f"\n===== {time.strftime('%H:%M:%S')} start: {' '.join(cmd)}\n".encode())
            logf.flush()
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=logf)
        self._reader = threading.Thread(target=self._pump, args=(self.proc,),
                                        name="streams-stdout", daemon=True)
        self._reader.start()
        return self

    def _pump(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with open(self.log_path, "a", encoding="utf-8") as logf:
                logf.write(f"[stdout {_now()}] {line}\n")
            with self._cond:
                parts = line.split(" ")
                if parts[0] == "state" and len(parts) == 3:
                    self.states.append(parts[2])
                elif parts[0] == "progress" and len(parts) == 2:
                    self.progress = int(parts[1])
                elif parts[0] == "frozen":
                    self.frozen = True
                elif parts[0] == "closed":
                    self.closed = True
                elif parts[0] == "error":
                    self.errors.append(line)
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def _wait(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        with self._cond:
            done = self._cond.wait_for(lambda: condition() or self._eof or bool(self.errors),
                                       timeout)
            if done and condition():
                return
            why = (f"it failed: {self.errors}" if self.errors
                   else "it exited" if self._eof else f"not within {timeout:.0f} s")
        raise StreamsError(f"Streams app: waiting for {what}, {why}; states {self.states}\n"
                           f"--- {self.log_path} ---\n{self.log_tail()}")

    def wait_for_state(self, state: str, timeout: float) -> None:
        self._wait(lambda: state in self.states, timeout, f"state {state}")

    def wait_for_progress(self, lines: int, timeout: float) -> None:
        self._wait(lambda: self.progress >= lines, timeout, f"{lines} input lines processed")

    def wait_frozen(self, timeout: float) -> None:
        self._wait(lambda: self.frozen, timeout, "the stream thread frozen mid-transaction")

    def check_alive(self) -> None:
        """Raise if the app reported an error or exited on its own."""
        with self._cond:
            if self.errors or self._eof:
                raise StreamsError(f"Streams app failed or exited: {self.errors}; states "
                                   f"{self.states}\n--- {self.log_path} ---\n{self.log_tail()}")

    def stop(self, timeout: float = 40.0) -> bool:
        """SIGTERM (Streams closes: last commit, leaves the group), wait; True if the
        close completed (the JVM exits 143 after its shutdown hook either way)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise StreamsError(f"Streams app did not exit within {timeout:.0f} s of "
                                   f"SIGTERM (killed)\n{self.log_tail()}") from None
        self._join()
        return self.closed and self.proc.returncode in (0, 143)

    def kill(self) -> None:
        """kill -9: no close, no last commit; its transaction stays open."""
        if self.proc is not None and self.proc.poll() is None:
            with open(self.log_path, "a", encoding="utf-8") as logf:
                logf.write(f"\n===== {_now()} SIGKILL\n")
            self.proc.kill()
            self.proc.wait(10)
        self._join()

    def _join(self) -> None:
        if self._reader is not None:
            self._reader.join(5)
            self._reader = None

    def log_tail(self, lines: int = 80) -> str:
        try:
            return "\n".join(self.log_path.read_text("utf-8", "replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


# -- the data side (confluent-kafka) -----------------------------------------------

def create_topics(bootstrap: str, topics: dict[str, int], timeout: float = 30.0) -> None:
    """Create each topic with that many partitions (replication factor 1)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(t, n, 1) for t, n in topics.items()],
                                  operation_timeout=timeout, request_timeout=timeout)
    for topic, fut in futures.items():
        try:
            fut.result(timeout)
        except KafkaException as e:
            if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise StreamsError(f"creating {topic}: {e}") from None


def produce_lines(bootstrap: str, topic: str, lines: list[str], timeout: float = 60.0) -> None:
    """Every line, acknowledged (idempotent producer, acks=all); keyed by line number so
    the partitions get a deterministic share."""
    failures: list[str] = []

    def on_delivery(err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                  "linger.ms": 20})
    for i, line in enumerate(lines):
        while True:
            try:
                p.produce(topic, key=str(i).encode(), value=line.encode(),
                          on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    left = p.flush(timeout)
    if left or failures:
        raise StreamsError(f"producing to {topic}: {left} not delivered, errors {failures[:5]}")


class OutputReader:
    """Reads the output topic from the start with isolation.level=read_committed and
    keeps the last value per key; poll_until() reads on until a condition holds."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        self.consumer = Consumer({
            "bootstrap.servers": bootstrap, "group.id": f"reader-{topic}",
            "isolation.level": "read_committed", "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "enable.partition.eof": False,
        })
        self.consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        self.last: dict[str, int] = {}
        self.records = 0

    def poll(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            for msg in self.consumer.consume(500, min(left, 0.2)):
                if msg.error():
                    raise StreamsError(f"reading output: {msg.error()}")
                key, value = msg.key(), msg.value()
                assert key is not None and value is not None, "a word count record without key"
                self.last[key.decode()] = int(value.decode())
                self.records += 1

    def poll_until(self, condition: Callable[[dict[str, int]], bool], timeout: float,
                   alive: Callable[[], None] = lambda: None) -> bool:
        """Read until condition(last values) holds (True) or timeout passes (False);
        alive() is called in between and may raise (the app died)."""
        deadline = time.monotonic() + timeout
        while not condition(self.last):
            if time.monotonic() > deadline:
                return False
            alive()
            self.poll(0.5)
        return True

    def close(self) -> None:
        self.consumer.close()


def diff_counts(got: dict[str, int], want: dict[str, int], limit: int = 10) -> str:
    """A short, readable difference of two count maps ('' if equal)."""
    keys = sorted(set(got) | set(want))
    wrong = [(k, got.get(k), want.get(k)) for k in keys if got.get(k) != want.get(k)]
    if not wrong:
        return ""
    shown = ", ".join(f"{k}: got {g} want {w}" for k, g, w in wrong[:limit])
    return f"{len(wrong)} of {len(keys)} words differ: {shown}"


def count_records(bootstrap: str, topic: str, partitions: int, isolation: str,
                  timeout: float = 30.0) -> int:
    """How many data records a consumer with this isolation.level reads from the
    start of every partition up to its end (no transaction may be open)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"count-{topic}",
                  "isolation.level": isolation, "enable.auto.commit": False,
                  "enable.partition.eof": True})
    try:
        c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        # offset 0 may lie below the log start (Streams purges repartition topics)
        c.assign([TopicPartition(topic, p, c.get_watermark_offsets(
            TopicPartition(topic, p), timeout)[0]) for p in range(partitions)])
        at_end: set[int] = set()
        n = 0
        deadline = time.monotonic() + timeout
        while len(at_end) < partitions:
            if time.monotonic() > deadline:
                raise StreamsError(f"counting {topic} ({isolation}): partitions "
                                   f"{sorted(at_end)} of {partitions} read to the end "
                                   f"within {timeout:.0f} s")
            for msg in c.consume(500, 0.2):
                err = msg.error()
                if err is not None and err.code() == KafkaError._PARTITION_EOF:
                    at_end.add(msg.partition())
                elif err is not None:
                    raise StreamsError(f"counting {topic} ({isolation}): {err}")
                else:
                    n += 1
        return n
    finally:
        c.close()
