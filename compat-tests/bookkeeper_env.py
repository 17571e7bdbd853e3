"""A real Apache ZooKeeper and N real Apache BookKeeper bookies on this machine, for tests.

kwire's cluster storage keeps partitions in BookKeeper ledgers; its tests need
the real thing (not a fake) so that wire, digest and metadata bugs show up.
Everything here runs from the Maven Central jars scripts/fetch-bookkeeper.sh
fetches, with the machine's Java 17, one JVM per process so a single bookie can
be killed, frozen or restarted. See /work/shared/bookkeeper.md §5.0 for the
facts this module is built on (readiness, memory, gotchas).

    with BookKeeperEnv(bookies=4) as env:
        env.metadata_service_uri     # zk+hierarchical://127.0.0.1:P/ledgers
        env.kill9(0); env.restart(0)

Command line (processes stay running after the command returns):

    python compat-tests/bookkeeper_env.py start --dir DIR [--bookies 3] [--zk-port P]
                                                [--no-journal-sync]
    python compat-tests/bookkeeper_env.py status --dir DIR
    python compat-tests/bookkeeper_env.py stop --dir DIR

Every JVM runs in its own session, logs to a file in its run directory and is
killed by shutdown(), and also by an atexit finaliser (and, when started from
the main thread, by the kernel if this Python process dies: setpriv --pdeathsig),
so a crashed test run leaves no JVM behind.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import weakref
from pathlib import Path
from types import TracebackType
from typing import Any

from kazoo.client import KazooClient

# The benchmarks load this file by path; its neighbours must import all the same.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from ports import free_ports, port_is_free  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
FETCH_SCRIPT = REPO_ROOT / "scripts" / "fetch-bookkeeper.sh"
HOST = "127.0.0.1"
READY_TIMEOUT = 60.0
STOP_GRACE = 10.0

# Java 17 closes these packages; netty and BookKeeper's native helpers need them
# (the set bookkeeper's bin/common.sh passes).
JAVA_OPENS = [
    "--add-opens", "java.base/java.nio=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-opens", "java.base/java.io=ALL-UNNAMED",
    "--add-opens", "java.base/java.util.zip=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Djava.net.preferIPv4Stack=true",
]
# 2 cores: a serial GC and the C1 compiler only start faster and use less memory,
# and test traffic is far too small to need the C2 compiler. A small initial heap
# (the default is 1/64 of RAM) keeps RSS down until a JVM really needs more.
SMALL_JVM = ["-Xms16m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k",
             "-Djava.awt.headless=true"]
ZK_HEAP = "64m"
# The memtable (skipListSizeLimit below) and netty's buffers live in these.
BOOKIE_HEAP = "128m"
# A bookie as BookKeeper ships it (bin/common.sh: 1 GiB heap, 2 GiB direct memory,
# G1; bk_server.conf's memtable and thread defaults), for benchmarks, where the
# small test settings above would handicap BookKeeper against Kafka's own JVMs.
SHIPPED_BOOKIE_JVM = ["-Xms1g", "-Xmx1g", "-XX:MaxDirectMemorySize=2g", "-XX:+UseG1GC",
                      "-Djava.awt.headless=true"]

LOG4J2_PROPERTIES = """\
# written by bookkeeper_env.py: INFO to stdout, which the harness sends to a file
status = warn
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
appender.out.type = Console
appender.out.name = OUT
appender.out.target = SYSTEM_OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = %d{HH:mm:ss.SSS} %-5p [%t] %c{1} - %m%n
logger.zkserver.name = org.apache.zookeeper.server
logger.zkserver.level = WARN
logger.zkclient.name = org.apache.zookeeper.ClientCnxn
logger.zkclient.level = WARN
"""

log = logging.getLogger("bookkeeper_env")


class BookKeeperEnvError(RuntimeError):
    """A process did not start, did not get ready in time, or the tools are missing."""


# -- locating java and the jars ------------------------------------------------

def find_java() -> str:
    """The `java` on PATH; BookKeeperEnvError if there is none (the one reason to skip)."""
    java = shutil.which("java")
    if java is None:
        raise BookKeeperEnvError("java not found on PATH: ZooKeeper and BookKeeper need Java 17 "
                                 "(Debian: apt-get install openjdk-17-jre-headless)")
    return java


def bookkeeper_libs() -> Path:
    """The jar folder: $KWIRE_BOOKKEEPER_LIBS (scripts/test.sh sets it), else run
    scripts/fetch-bookkeeper.sh (a no-op when the jars are cached)."""
    env = os.environ.get("KWIRE_BOOKKEEPER_LIBS")
    if env:
        libs = Path(env)
    else:
        try:
            p = subprocess.run(["bash", str(FETCH_SCRIPT)], capture_output=True, text=True,
                               timeout=900, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise BookKeeperEnvError(f"{FETCH_SCRIPT} did not finish within 900 s") from None
        if p.returncode != 0:
            raise BookKeeperEnvError(f"{FETCH_SCRIPT} failed (rc {p.returncode}):\n"
                                     f"{p.stderr[-3000:]}")
        libs = Path(p.stdout.strip().splitlines()[-1])
    if not any(libs.glob("bookkeeper-server-*.jar")):
        raise BookKeeperEnvError(f"{libs} holds no bookkeeper-server jar")
    return libs


# -- small network helpers -----------------------------------------------------

def port_accepts(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def four_letter_word(port: int, word: str, host: str = HOST, timeout: float = 1.0) -> str:
    """Send a ZooKeeper four-letter command; '' if nothing answered. A port that
    merely accepts is no proof: a ZooKeeper whose server thread died keeps it open."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(word.encode())
            chunks = []
            while True:
                data = s.recv(4096)
                if not data:
                    break
                chunks.append(data)
            return b"".join(chunks).decode("utf-8", "replace")
    except OSError:
        return ""


# -- processes -----------------------------------------------------------------

_LIVE: set[JvmProcess] = set()
_LIVE_LOCK = threading.Lock()


_LIVE_ENVS: weakref.WeakSet[BookKeeperEnv] = weakref.WeakSet()


def _kill_all_live() -> None:
    """atexit finaliser: SIGKILL every JVM this Python process started and still owns
    (no grace period: the process is ending), and remove temp dirs the envs made."""
    for env in list(_LIVE_ENVS):
        env.abort()
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for p in procs:
        p.kill()


atexit.register(_kill_all_live)


class JvmProcess:
    """One JVM child: own session, output to a log file, signals by PID.

    `detached` processes (the CLI's) are not killed at exit and do not die with
    this Python process; everything else is.
    """

    name = "jvm"
    port = 0

    def __init__(self, run_dir: Path, libs: Path, java: str, detached: bool = False) -> None:
        self.run_dir = Path(run_dir)
        self.libs = Path(libs)
        self.java = java
        self.detached = detached
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.run_dir / f"{self.name}.log"
        self.run_dir.mkdir(parents=True, exist_ok=True)

    def jvm_args(self) -> list[str]:
        raise NotImplementedError

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        """True while the process exists (also while frozen by SIGSTOP)."""
        return self.proc is not None and self.proc.poll() is None

    def _launcher(self) -> list[str]:
        """setpriv --pdeathsig KILL: the kernel kills the JVM if we die without running
        atexit (SIGKILL, os._exit). The death signal fires when the *thread* that
        forked exits, so only the main thread may use it."""
        if self.detached or threading.current_thread() is not threading.main_thread():
            return []
        setpriv = shutil.which("setpriv")
        return [setpriv, "--pdeathsig", "KILL"] if setpriv else []

    def spawn(self) -> None:
        assert not self.running, f"{self.name} already running"
        cmd = [*self._launcher(), self.java, *self.jvm_args()]
        with open(self.log_path, "ab") as logf:
            logf.write(f"\n===== {time.strftime('%H:%M:%S')} start: {' '.join(cmd)}\n".encode())
            logf.flush()
            self.proc = subprocess.Popen(cmd, cwd=self.run_dir, stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        if not self.detached:
            with _LIVE_LOCK:
                _LIVE.add(self)

    def send(self, sig: signal.Signals) -> None:
        if self.running:
            assert self.proc is not None
            self._note(f"signal {sig.name}")
            self.proc.send_signal(sig)

    def terminate(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM (+SIGCONT, so a frozen JVM can act on it), SIGKILL after `grace` s."""
        self.send(signal.SIGTERM)
        self.send(signal.SIGCONT)
        self.wait(grace)
        self.kill()

    def kill(self) -> None:
        """SIGKILL and reap (a crash, or the last resort)."""
        if self.running:
            self.send(signal.SIGKILL)
            self.wait(10)
        with _LIVE_LOCK:
            _LIVE.discard(self)

    def wait(self, timeout: float) -> bool:
        """True if the process is gone within `timeout` s."""
        if self.proc is None:
            return True
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def _note(self, text: str) -> None:
        with contextlib.suppress(OSError), open(self.log_path, "a", encoding="utf-8") as f:
            f.write(f"\n===== {time.strftime('%H:%M:%S')} {text}\n")

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text("utf-8", "replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _failure(self, what: str) -> BookKeeperEnvError:
        rc = self.proc.poll() if self.proc is not None else None
        state = f"exited with code {rc}" if rc is not None else "still running (killed)"
        self.kill()
        return BookKeeperEnvError(f"{self.name} {what}; {state}\n--- {self.log_path} ---\n"
                                  f"{self.log_tail()}")


class ZooKeeperServer(JvmProcess):
    """A standalone ZooKeeper from the BookKeeper jar set (ZooKeeperServerMain + cfg).

    tickTime is small (500 ms) so that sessions can be as short as 1 s: a killed
    bookie's ephemeral znode then disappears within its zkTimeout (2 s) instead of
    the 10 s BookKeeper ships with.
    """

    name = "zookeeper"

    def __init__(self, run_dir: Path, libs: Path, java: str, port: int | None = None,
                 tick_time: int = 500, detached: bool = False) -> None:
        super().__init__(run_dir, libs, java, detached)
        self.port = port if port else free_ports(1)[0]
        self.tick_time = tick_time
        self.cfg_path = self.run_dir / "zoo.cfg"

    @property
    def connect(self) -> str:
        return f"{HOST}:{self.port}"

    def write_config(self) -> None:
        data = self.run_dir / "data"
        data.mkdir(exist_ok=True)
        cfg = {
            "dataDir": data,
            "clientPort": self.port,
            "clientPortAddress": HOST,
            "tickTime": self.tick_time,
            "maxSessionTimeout": 30000,  # default is 20 ticks = 10 s; let clients ask for more
            "maxClientCnxns": 0,  # default 60 per IP, and every client here is 127.0.0.1
            "admin.enableServer": "false",
            "4lw.commands.whitelist": "ruok,srvr,mntr",
        }
        self.cfg_path.write_text("".join(f"{k}={v}\n" for k, v in cfg.items()))

    def jvm_args(self) -> list[str]:
        return [f"-Xmx{ZK_HEAP}", *SMALL_JVM, *JAVA_OPENS,
                "-Dzookeeper.admin.enableServer=false",
                f"-Djava.io.tmpdir={self.run_dir}",
                f"-Dlog4j2.configurationFile={self.run_dir.parent / 'log4j2.properties'}",
                "-cp", f"{self.libs}/*",
                "org.apache.zookeeper.server.ZooKeeperServerMain", str(self.cfg_path)]

    def start(self, timeout: float = READY_TIMEOUT) -> None:
        """Start and wait until `ruok` answers `imok`."""
        if not port_is_free(self.port):
            raise BookKeeperEnvError(f"ZooKeeper port {self.port} is already in use")
        self.write_config()
        self.spawn()
        deadline = time.monotonic() + timeout
        while four_letter_word(self.port, "ruok") != "imok":
            if not self.running:
                raise self._failure("exited during start-up")
            if time.monotonic() > deadline:
                raise self._failure(f"did not answer ruok within {timeout:.0f} s")
            time.sleep(0.1)


class Bookie(JvmProcess):
    """One bookie JVM (org.apache.bookkeeper.server.Main --conf FILE).

    Its id is "127.0.0.1:<port>" (advertisedAddress, not the hostname), and port,
    id and directories stay the same across restarts, so a restart is the same
    bookie coming back (cookies must match).
    """

    name = "bookie"

    def __init__(self, index: int, run_dir: Path, libs: Path, java: str, zk_connect: str,
                 ledgers_root: str, port: int, journal_sync: bool = True, zk_timeout_ms: int = 2000,
                 extra_conf: dict[str, str] | None = None, detached: bool = False,
                 shipped_jvm: bool = False) -> None:
        self.name = f"bookie-{index}"
        self.shipped_jvm = shipped_jvm
        super().__init__(run_dir, libs, java, detached)
        self.index = index
        self.port = port
        self.zk_connect = zk_connect
        self.ledgers_root = ledgers_root
        self.journal_sync = journal_sync
        self.zk_timeout_ms = zk_timeout_ms
        self.extra_conf = dict(extra_conf or {})
        self.conf_path = self.run_dir / "bk.conf"
        self.launched_at = 0.0
        # czxid of this bookie's registration znode before the current launch:
        # a znode with that czxid is the previous life's, not proof of readiness
        self.stale_czxid: int | None = None

    @property
    def id(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def address(self) -> tuple[str, int]:
        return (HOST, self.port)

    def config(self) -> dict[str, str]:
        conf = {
            "bookiePort": str(self.port),
            "advertisedAddress": HOST,  # else the id comes from the hostname
            "listeningInterface": "lo",
            "allowLoopback": "true",
            "useHostNameAsBookieID": "false",
            "metadataServiceUri": f"zk+hierarchical://{self.zk_connect}{self.ledgers_root}",
            "zkTimeout": str(self.zk_timeout_ms),
            "journalDirectories": str(self.run_dir / "journal"),
            "ledgerDirectories": str(self.run_dir / "ledgers"),
            "ledgerStorageClass": "org.apache.bookkeeper.bookie.SortedLedgerStorage",
            "httpServerEnabled": "false",
            "statsProviderClass": "org.apache.bookkeeper.stats.NullStatsProvider",
            # the defaults (0.95/0.90) turn a bookie read-only on a nearly full CI disk
            "diskUsageThreshold": "0.99",
            "diskUsageWarnThreshold": "0.98",
            "journalSyncData": "true" if self.journal_sync else "false",
        }
        if not self.shipped_jvm:
            conf.update({
                # memtable flushed at 16 MiB (default 64 MiB would not fit the small heap)
                "skipListSizeLimit": str(16 * 1024 * 1024),
                # fewer threads: 2 cores, test traffic
                "numReadWorkerThreads": "2",
                "numHighPriorityWorkerThreads": "1",
                "serverNumIOThreads": "2",
            })
        conf.update(self.extra_conf)
        return conf

    def write_config(self) -> None:
        (self.run_dir / "tmp").mkdir(exist_ok=True)
        self.conf_path.write_text("".join(f"{k}={v}\n" for k, v in self.config().items()))

    def jvm_args(self) -> list[str]:
        sizes = SHIPPED_BOOKIE_JVM if self.shipped_jvm else [
            f"-Xmx{BOOKIE_HEAP}", f"-XX:MaxDirectMemorySize={BOOKIE_HEAP}", *SMALL_JVM]
        return [*sizes, *JAVA_OPENS,
                # a killed bookie leaves its unpacked libnative-io.so behind in the temp dir
                f"-Djava.io.tmpdir={self.run_dir / 'tmp'}",
                f"-Dlog4j2.configurationFile={self.run_dir.parent / 'log4j2.properties'}",
                "-cp", f"{self.libs}/*",
                "org.apache.bookkeeper.server.Main", "--conf", str(self.conf_path)]

    def launch(self, stale_czxid: int | None) -> None:
        """Start the JVM; readiness is checked by BookKeeperEnv (it has the ZK client)."""
        self.write_config()
        self.stale_czxid = stale_czxid
        self.launched_at = time.monotonic()
        self.spawn()


# -- the environment -----------------------------------------------------------

class BookKeeperEnv:
    """ZooKeeper + N bookies, started together, with fault injection per bookie.

    Bookies register under one ledgers root (default /ledgers), so all ledger
    metadata shares it; tests isolate their own znodes with new_chroot().
    """

    def __init__(self, bookies: int = 3, base_dir: Path | str | None = None,
                 ledgers_root: str = "/ledgers", zk_port: int | None = None,
                 journal_sync: bool = True, tick_time: int = 500, zk_timeout_ms: int = 2000,
                 ready_timeout: float = READY_TIMEOUT, libs: Path | None = None,
                 java: str | None = None, bookie_conf: dict[str, str] | None = None,
                 detached: bool = False, shipped_jvm: bool = False) -> None:
        """`shipped_jvm`: bookies with BookKeeper's own JVM sizes and thread/memtable
        defaults (SHIPPED_BOOKIE_JVM), for benchmarks; tests use small ones."""
        if not ledgers_root.startswith("/") or ledgers_root.endswith("/"):
            raise ValueError(f"ledgers_root must look like /a/b, not {ledgers_root!r}")
        self.java = java or find_java()
        self.libs = Path(libs) if libs else bookkeeper_libs()
        self._own_dir = base_dir is None
        self.base_dir = Path(base_dir) if base_dir else Path(tempfile.mkdtemp(prefix="kwire-bk-"))
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.initial_bookies = bookies
        self.ledgers_root = ledgers_root
        self.journal_sync = journal_sync
        self.zk_timeout_ms = zk_timeout_ms
        self.ready_timeout = ready_timeout
        self.bookie_conf = dict(bookie_conf or {})
        self.detached = detached
        self.shipped_jvm = shipped_jvm
        self.zookeeper = ZooKeeperServer(self.base_dir / "zk", self.libs, self.java, zk_port,
                                         tick_time, detached)
        self.bookies: list[Bookie] = []
        self._zk: KazooClient | None = None

    # -- addresses ---------------------------------------------------------
    @property
    def zk_connect(self) -> str:
        """"127.0.0.1:PORT" of the ZooKeeper."""
        return self.zookeeper.connect

    @property
    def metadata_service_uri(self) -> str:
        """zk+hierarchical://127.0.0.1:PORT/ledgers, what BookKeeper clients are given."""
        return f"zk+hierarchical://{self.zk_connect}{self.ledgers_root}"

    @property
    def bookie_ids(self) -> list[str]:
        return [b.id for b in self.bookies]

    @property
    def zk(self) -> KazooClient:
        """The env's own kazoo client (connected while the env runs)."""
        assert self._zk is not None, "BookKeeperEnv not started"
        return self._zk

    # -- start / stop --------------------------------------------------------
    def start(self) -> BookKeeperEnv:
        """ZooKeeper, the ledgers root, then all bookies in parallel; returns when
        every bookie is READY (or raises, having killed everything)."""
        if not self.detached:
            _LIVE_ENVS.add(self)
        try:
            (self.base_dir / "log4j2.properties").write_text(LOG4J2_PROPERTIES)
            self.zookeeper.start(self.ready_timeout)
            self._zk = KazooClient(hosts=self.zk_connect, timeout=10.0)
            self._zk.start(timeout=15)
            # an empty ZooKeeper makes bookies exit (NoNode for <root>/LAYOUT); with the
            # root present the first bookie writes LAYOUT itself
            self._zk.ensure_path(f"{self.ledgers_root}/available/readonly")
            ports = free_ports(self.initial_bookies)
            new = [self._new_bookie(port) for port in ports]
            for b in new:
                b.launch(self._czxid(b))
            self._wait_ready(new)
        except BaseException:
            self.shutdown()
            raise
        return self

    def __enter__(self) -> BookKeeperEnv:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.shutdown()

    def shutdown(self, grace: float = STOP_GRACE) -> None:
        """Stop everything: SIGTERM (bookies first, then ZooKeeper), SIGKILL after
        `grace` s. Idempotent; never raises for a process that is already gone."""
        self._stop_client()
        self._terminate_all(self.bookies, grace)
        self._terminate_all([self.zookeeper], grace)
        self._finish()

    def abort(self) -> None:
        """SIGKILL everything at once (the atexit path: no time for grace)."""
        self._stop_client()
        for p in [*self.bookies, self.zookeeper]:
            p.kill()
        self._finish()

    def _stop_client(self) -> None:
        if self._zk is not None:
            with contextlib.suppress(Exception):
                self._zk.stop()
                self._zk.close()
            self._zk = None

    def _finish(self) -> None:
        _LIVE_ENVS.discard(self)
        if self._own_dir and not self.detached:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    @staticmethod
    def _terminate_all(procs: list[Bookie] | list[ZooKeeperServer], grace: float) -> None:
        """SIGTERM all at once, then wait for all within one shared grace period."""
        for p in procs:
            p.send(signal.SIGTERM)
            p.send(signal.SIGCONT)
        deadline = time.monotonic() + grace
        for p in procs:
            p.wait(max(0.0, deadline - time.monotonic()))
            p.kill()

    # -- faults --------------------------------------------------------------
    def kill9(self, i: int) -> None:
        """SIGKILL bookie i: a crash. Its znode lingers until its session expires."""
        self.bookies[i].kill()

    def terminate(self, i: int, grace: float = STOP_GRACE) -> None:
        """SIGTERM bookie i: a clean stop (it removes its own znode)."""
        self.bookies[i].terminate(grace)

    def stop(self, i: int) -> None:
        """SIGSTOP bookie i: frozen, port open but silent; its session expires."""
        self.bookies[i].send(signal.SIGSTOP)

    def resume(self, i: int) -> None:
        """SIGCONT bookie i (after stop). A bookie whose session expired meanwhile
        re-registers by itself or shuts down; use restart() to be sure."""
        self.bookies[i].send(signal.SIGCONT)

    def restart(self, i: int, timeout: float | None = None) -> Bookie:
        """Start bookie i again with the same id, port and directories (SIGKILLing it
        first if it still runs) and wait until it is READY. That takes at least the
        rest of its old session (zkTimeout): BookKeeper waits for the old znode."""
        b = self.bookies[i]
        b.kill()
        b.launch(self._czxid(b))
        self._wait_ready([b], timeout)
        return b

    def add_bookie(self, timeout: float | None = None) -> Bookie:
        """One more bookie on a new port; returns it READY."""
        b = self._new_bookie(free_ports(1)[0])
        b.launch(None)
        self._wait_ready([b], timeout)
        return b

    def heal(self) -> None:
        """Make every bookie run again (resume frozen, restart dead ones): for a
        shared env after a fault test."""
        for i, b in enumerate(self.bookies):
            if b.running:
                b.send(signal.SIGCONT)
            if not b.running or not self._registered(b):
                self.restart(i)

    # -- helpers for tests ---------------------------------------------------
    def new_chroot(self, prefix: str = "/kwire-test") -> str:
        """A fresh, existing znode path (e.g. /kwire-test/3f2a…) that one test can use
        as its ZooKeeper chroot, so tests sharing this env do not see each other."""
        path = f"{prefix.rstrip('/')}/{uuid.uuid4().hex[:12]}"
        self.zk.ensure_path(path)
        return path

    def zk_connect_with_chroot(self, chroot: str) -> str:
        return f"{self.zk_connect}{chroot}"

    def registered_bookies(self, readonly: bool = False) -> list[str]:
        """Bookie ids under <root>/available (or available/readonly)."""
        path = f"{self.ledgers_root}/available" + ("/readonly" if readonly else "")
        return sorted(c for c in self.zk.get_children(path) if c != "readonly")

    def rss_kib(self) -> dict[str, int]:
        """Resident memory of each running JVM in KiB (from /proc), for measurements."""
        out: dict[str, int] = {}
        for p in [self.zookeeper, *self.bookies]:
            if p.running and p.pid is not None:
                out[p.name] = _rss_kib(p.pid)
        return out

    def state(self) -> dict[str, Any]:
        """What the CLI records in DIR/env.json."""
        return {
            "zk_connect": self.zk_connect,
            "metadata_service_uri": self.metadata_service_uri,
            "ledgers_root": self.ledgers_root,
            "processes": [{"name": p.name, "pid": p.pid, "port": p.port}
                          for p in [self.zookeeper, *self.bookies]],
        }

    # -- internals -----------------------------------------------------------
    def _new_bookie(self, port: int) -> Bookie:
        index = len(self.bookies)
        b = Bookie(index, self.base_dir / f"bookie-{index}", self.libs, self.java,
                   self.zk_connect, self.ledgers_root, port, self.journal_sync,
                   self.zk_timeout_ms, self.bookie_conf, self.detached,
                   shipped_jvm=self.shipped_jvm)
        self.bookies.append(b)
        return b

    def _znode(self, b: Bookie, readonly: bool = False) -> str:
        return f"{self.ledgers_root}/available/{'readonly/' if readonly else ''}{b.id}"

    def _czxid(self, b: Bookie) -> int | None:
        stat = self.zk.exists(self._znode(b))
        return int(stat.czxid) if stat is not None else None

    def _registered(self, b: Bookie) -> bool:
        """Registered as writable by the current launch (not a stale znode)."""
        czxid = self._czxid(b)
        return czxid is not None and czxid != b.stale_czxid

    def _wait_ready(self, bookies: list[Bookie], timeout: float | None = None) -> None:
        """READY = registered by this launch AND port accepts TCP (§5.0: the port opens
        before registration, and a killed bookie's znode outlives it)."""
        limit = self.ready_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        pending = list(bookies)
        while pending:
            for b in list(pending):
                if not b.running:
                    raise b._failure("exited during start-up")
                if self._registered(b) and port_accepts(b.port):
                    log.info("%s ready in %.1f s", b.id, time.monotonic() - b.launched_at)
                    pending.remove(b)
                elif self.zk.exists(self._znode(b, readonly=True)) is not None:
                    raise b._failure("registered READ-ONLY (disk usage above diskUsageThreshold?)")
            if pending and time.monotonic() > deadline:
                raise pending[0]._failure(f"not ready within {limit:.0f} s")
            if pending:
                time.sleep(0.1)


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


# -- command line ----------------------------------------------------------------

STATE_FILE = "env.json"


def _pid_is_ours(pid: int, run_dir: Path) -> bool:
    """Alive and its command line mentions our run dir (guards against PID reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return str(run_dir) in cmdline


def _load_state(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / STATE_FILE
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def cli_start(run_dir: Path, bookies: int, zk_port: int | None, journal_sync: bool) -> int:
    state = _load_state(run_dir)
    if state and any(_pid_is_ours(p["pid"], run_dir) for p in state["processes"]):
        print(f"already running in {run_dir}; stop it first", file=sys.stderr)
        return 1
    # always a fresh cluster: old bookie dirs with new ports would fail their cookies
    for sub in run_dir.glob("bookie-*"):
        shutil.rmtree(sub, ignore_errors=True)
    shutil.rmtree(run_dir / "zk", ignore_errors=True)
    env = BookKeeperEnv(bookies=bookies, base_dir=run_dir, zk_port=zk_port,
                        journal_sync=journal_sync, detached=True)
    t0 = time.monotonic()
    try:
        env.start()
    except BookKeeperEnvError as e:
        print(str(e), file=sys.stderr)
        return 1
    (run_dir / STATE_FILE).write_text(json.dumps(env.state(), indent=1))
    if env._zk is not None:  # the processes stay; only our client goes
        env._zk.stop()
        env._zk.close()
    print(f"zookeeper.connect={env.zk_connect}")
    print(f"metadataServiceUri={env.metadata_service_uri}")
    print(f"bookies={','.join(env.bookie_ids)}")
    print(f"# ready in {time.monotonic() - t0:.1f} s; logs in {run_dir}", file=sys.stderr)
    return 0


def cli_stop(run_dir: Path) -> int:
    state = _load_state(run_dir)
    if state is None:
        print(f"nothing recorded in {run_dir}")
        return 0
    procs = state["processes"]
    ours = [p for p in procs if _pid_is_ours(p["pid"], run_dir)]
    # bookies first (they remove their znodes), ZooKeeper last
    for group in ([p for p in ours if p["name"] != "zookeeper"],
                  [p for p in ours if p["name"] == "zookeeper"]):
        for p in group:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p["pid"], signal.SIGTERM)
                os.kill(p["pid"], signal.SIGCONT)
        deadline = time.monotonic() + STOP_GRACE
        for p in group:
            while _pid_is_ours(p["pid"], run_dir) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _pid_is_ours(p["pid"], run_dir):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p["pid"], signal.SIGKILL)
            print(f"stopped {p['name']} (pid {p['pid']})")
    (run_dir / STATE_FILE).unlink()
    return 0


def cli_status(run_dir: Path) -> int:
    state = _load_state(run_dir)
    if state is None:
        print(f"not running (nothing recorded in {run_dir})")
        return 1
    alive = 0
    for p in state["processes"]:
        ok = _pid_is_ours(p["pid"], run_dir)
        alive += ok
        print(f"{p['name']:<12} pid {p['pid']:<8} port {p['port']:<6} "
              f"{'running' if ok else 'NOT RUNNING'}")
    print(f"zookeeper.connect={state['zk_connect']}")
    print(f"metadataServiceUri={state['metadata_service_uri']}")
    if four_letter_word(int(state["zk_connect"].rsplit(":", 1)[1]), "ruok") == "imok":
        zk = KazooClient(hosts=state["zk_connect"], timeout=5.0)
        try:
            zk.start(timeout=10)
            root = state["ledgers_root"]
            rw = sorted(c for c in zk.get_children(f"{root}/available") if c != "readonly")
            ro = sorted(zk.get_children(f"{root}/available/readonly"))
            print(f"registered writable: {' '.join(rw) or '-'}")
            print(f"registered read-only: {' '.join(ro) or '-'}")
        finally:
            zk.stop()
            zk.close()
    return 0 if alive == len(state["processes"]) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    start = sub.add_parser("start", help="start ZooKeeper + bookies in the background")
    start.add_argument("--dir", required=True, type=Path)
    start.add_argument("--bookies", type=int, default=3)
    start.add_argument("--zk-port", type=int, default=None)
    start.add_argument("--no-journal-sync", action="store_true",
                       help="journalSyncData=false: faster, but acks before fsync")
    for name in ("stop", "status"):
        sub.add_parser(name).add_argument("--dir", required=True, type=Path)
    args = parser.parse_args(argv)
    run_dir: Path = args.dir.resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    if args.cmd == "start":
        return cli_start(run_dir, args.bookies, args.zk_port, not args.no_journal_sync)
    if args.cmd == "stop":
        return cli_stop(run_dir)
    return cli_status(run_dir)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(main())
