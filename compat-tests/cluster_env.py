"""Several kwire brokers on one ZooKeeper chroot and one set of bookies: a local
cluster for tests (KwireCluster) and for people (scripts/run-cluster.sh).

Every broker is a harness.KwireProcess (`python -m kwire serve`) with
`log.storage=bookkeeper`, `zookeeper.connect=HOST:PORT/chroot`, its own
`node.id`, port, data dir (empty in this mode) and log file. The ZooKeeper and
bookies come from bookkeeper_env.BookKeeperEnv.

    with KwireCluster(base_dir, env=bookkeeper, settings={...}) as cluster:
        cluster.start_brokers([1, 2, 3])         # in parallel; each answers ApiVersions
        cluster.bootstrap                        # "127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3"
        cluster.kill9(2); cluster.restart(2)     # same port, same node id
        assert cluster.sigterm(3) == 0           # exit code, within a bounded wait

API (ids are node ids):
    KwireCluster(base_dir, *, env=None, zookeeper_connect=None, settings=None, host=HOST)
        env: a started BookKeeperEnv; the cluster takes a fresh chroot from
        env.new_chroot(). Or zookeeper_connect="127.0.0.1:P/chroot" directly.
        settings: `--set` pairs every broker gets (e.g. a short
        zookeeper.session.timeout.ms).
    start_broker(node_id, rack=None, extra=None, port=None) -> KwireProcess
        port: a free one (harness.free_port) unless given; extra: `--set` pairs
        for this broker only (they win over settings). Starting a known id again
        reuses its data dir, log file and (unless given) port.
    start_brokers(node_ids, rack=None) -> list[KwireProcess]   (in parallel)
    brokers: dict[int, KwireProcess]   every broker started, running or not
    running_ids() -> list[int];  bootstrap: "host:port,..." of the running ones
    kill9(id)   SIGKILL;  sigstop(id) / sigcont(id)   freeze / thaw
    sigterm(id, timeout=20) -> int   the exit code (AssertionError with the log
                                     tail if it is not gone within `timeout`)
    restart(id) -> KwireProcess      same port, node id, settings and data dir
                                     (SIGKILLs it first if it still runs)
    stop_all(timeout=20) -> dict[int, int]   SIGTERM all at once, SIGKILL after
                                     `timeout`; the exit codes
    close() / context manager        stop_all(), and drop the brokers from the
                                     logs conftest attaches to failing tests
    log_tail(id, lines=200) -> str

Each broker's log is <base_dir>/broker-<id>/kwire.log; while a cluster is open,
conftest attaches the tail of every broker's log to a failing test's report
(harness.ALL_PROCESSES).

A test module on the session's shared ZooKeeper and bookies (the `bookkeeper`
fixture of conftest.py: session-scoped, 4 bookies) builds one cluster per
module, each on a chroot of its own so modules do not see each other:

    from cluster_env import KwireCluster

    pytestmark = pytest.mark.slow

    @pytest.fixture(scope="module")
    def cluster(bookkeeper: BookKeeperEnv,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[KwireCluster]:
        with KwireCluster(tmp_path_factory.mktemp("cluster"), env=bookkeeper,
                          settings={"zookeeper.session.timeout.ms": "4000",
                                    "group.initial.rebalance.delay.ms": "0"}) as c:
            c.start_brokers([1, 2, 3])
            yield c

    def test_something(cluster: KwireCluster) -> None:
        ...  # a test that kills a broker brings it back (cluster.restart) in a finally

Command line (what scripts/run-cluster.sh runs; processes stay running):

    python compat-tests/cluster_env.py start [--brokers N] [--dir DIR] [--base-port P]
                                             [--set KEY=VALUE ...]
    python compat-tests/cluster_env.py status [--dir DIR]
    python compat-tests/cluster_env.py stop [--dir DIR]
    python compat-tests/cluster_env.py add-broker ID [--dir DIR] [--port P] [--rack R]
    python compat-tests/cluster_env.py stop-broker ID [--dir DIR]

`start` runs a ZooKeeper and 3 bookies (bookkeeper_env's own command line, in
DIR/bookkeeper; jars fetched from Maven Central when missing), then N brokers
with node ids 1..N on ports P..P+N-1 (default 3 brokers, DIR ./kwire-cluster,
P 9092) on zookeeper.connect=127.0.0.1:<zk port>/kwire, waits until each
answers ApiVersions and prints the bootstrap string. State: DIR/cluster.json.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script, too

import bookkeeper_env  # noqa: E402
from bookkeeper_env import BookKeeperEnv, BookKeeperEnvError, find_java, port_is_free  # noqa: E402
from harness import ALL_PROCESSES, REPO_ROOT, KwireProcess, answers_api_versions, free_port  # noqa: E402

HOST = "127.0.0.1"
STOP_TIMEOUT = 20.0
API_VERSIONS_TIMEOUT = 20.0
CLUSTER_CHROOT = "/kwire"  # the command line's chroot

_OPEN: weakref.WeakSet[KwireCluster] = weakref.WeakSet()


@atexit.register
def _kill_open_clusters() -> None:
    """A test run that dies without closing its clusters leaves no broker behind."""
    for cluster in list(_OPEN):
        for p in cluster.brokers.values():
            with contextlib.suppress(Exception):
                p.kill()


def wait_api_versions(p: KwireProcess, timeout: float = API_VERSIONS_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not answers_api_versions(p.bootstrap, timeout=1.0):
        if not p.running or time.monotonic() > deadline:
            raise RuntimeError(f"{p.name} at {p.bootstrap} did not answer ApiVersions "
                               f"within {timeout:.0f} s\n--- {p.log_path} ---\n{p.log_tail()}")
        time.sleep(0.2)


class KwireCluster:
    """Brokers on one ZooKeeper chroot (see the module docstring for the API)."""

    def __init__(self, base_dir: Path | str, *, env: BookKeeperEnv | None = None,
                 zookeeper_connect: str | None = None, settings: dict[str, str] | None = None,
                 host: str = HOST, process_class: type[KwireProcess] = KwireProcess) -> None:
        if (env is None) == (zookeeper_connect is None):
            raise ValueError("give either env or zookeeper_connect")
        if env is not None:
            zookeeper_connect = env.zk_connect_with_chroot(env.new_chroot())
        assert zookeeper_connect is not None
        self.zookeeper_connect = zookeeper_connect
        self.base_dir = Path(base_dir).resolve()
        self.settings = dict(settings or {})
        self.host = host
        self.process_class = process_class
        self.brokers: dict[int, KwireProcess] = {}
        self._lock = threading.Lock()
        _OPEN.add(self)

    # -- starting ----------------------------------------------------------
    def broker_settings(self, node_id: int, rack: str | None = None,
                        extra: dict[str, str] | None = None) -> dict[str, str]:
        settings = {"log.storage": "bookkeeper", "zookeeper.connect": self.zookeeper_connect,
                    "node.id": str(node_id), **self.settings}
        if rack is not None:
            settings["broker.rack"] = rack
        settings.update(extra or {})
        return settings

    def start_broker(self, node_id: int, rack: str | None = None,
                     extra: dict[str, str] | None = None, port: int | None = None
                     ) -> KwireProcess:
        """Start broker `node_id` and wait until it answers ApiVersions."""
        settings = self.broker_settings(node_id, rack, extra)
        with self._lock:
            p = self.brokers.get(node_id)
            if p is None:
                run_dir = self.base_dir / f"broker-{node_id}"
                p = self.process_class(run_dir / "data", run_dir / "kwire.log", settings,
                                       self.host)
                p.name = f"kwire-{node_id}"
                self.brokers[node_id] = p
        assert not p.running, f"broker {node_id} is already running"
        p.settings = settings
        p.start(port or p.port or free_port(self.host))
        wait_api_versions(p)
        return p

    def start_brokers(self, node_ids: Iterable[int], rack: str | None = None
                      ) -> list[KwireProcess]:
        ids = list(node_ids)
        with ThreadPoolExecutor(max_workers=max(1, len(ids))) as pool:
            futures = [pool.submit(self.start_broker, i, rack) for i in ids]
            return [f.result() for f in futures]

    # -- looking -----------------------------------------------------------
    def running_ids(self) -> list[int]:
        return sorted(i for i, p in self.brokers.items() if p.running)

    @property
    def bootstrap(self) -> str:
        return ",".join(self.brokers[i].bootstrap for i in self.running_ids())

    def log_tail(self, node_id: int, lines: int = 200) -> str:
        return self.brokers[node_id].log_tail(lines)

    # -- faults --------------------------------------------------------------
    def _signal(self, node_id: int, sig: signal.Signals) -> None:
        p = self.brokers[node_id]
        if p.running:
            assert p.proc is not None
            p._log(f"\n===== {time.strftime('%H:%M:%S')} {sig.name}\n")
            p.proc.send_signal(sig)

    def kill9(self, node_id: int) -> None:
        self.brokers[node_id].kill()

    def sigstop(self, node_id: int) -> None:
        self._signal(node_id, signal.SIGSTOP)

    def sigcont(self, node_id: int) -> None:
        self._signal(node_id, signal.SIGCONT)

    def sigterm(self, node_id: int, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM (and SIGCONT, in case it is frozen); its exit code."""
        p = self.brokers[node_id]
        assert p.proc is not None, f"broker {node_id} never started"
        self._signal(node_id, signal.SIGTERM)
        self._signal(node_id, signal.SIGCONT)
        try:
            rc = p.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            raise AssertionError(f"broker {node_id} did not exit within {timeout:.0f} s of "
                                 f"SIGTERM (killed)\n{p.log_tail()}") from None
        p.kill()  # gone already: only joins its log reader
        return rc

    def restart(self, node_id: int) -> KwireProcess:
        p = self.brokers[node_id]
        p.kill()
        p.restart()
        wait_api_versions(p)
        return p

    # -- stopping ------------------------------------------------------------
    def stop_all(self, timeout: float = STOP_TIMEOUT) -> dict[int, int]:
        """SIGTERM every running broker at once, SIGKILL those still there after
        `timeout` s; the exit code of each broker that was running."""
        running = self.running_ids()
        for i in running:
            self._signal(i, signal.SIGTERM)
            self._signal(i, signal.SIGCONT)
        deadline = time.monotonic() + timeout
        codes: dict[int, int] = {}
        for i in running:
            p = self.brokers[i]
            assert p.proc is not None
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.proc.wait(max(0.0, deadline - time.monotonic()))
            p.kill()
            codes[i] = int(p.proc.returncode)
        return codes

    def close(self) -> None:
        self.stop_all()
        for p in self.brokers.values():
            with contextlib.suppress(ValueError):
                ALL_PROCESSES.remove(p)
        _OPEN.discard(self)

    def __enter__(self) -> KwireCluster:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class DetachedKwireProcess(KwireProcess):
    """A broker that outlives the command that started it: its own session, its
    stdout and stderr straight into its log file (no pipe to a reader thread that
    would go away), the ready line found by reading that file."""

    ready_timeout = 60.0

    def _spawn(self, cmd: list[str], env: dict[str, str], on_line: Callable[[str], None],
               eof: threading.Event) -> None:
        self._log(f"\n===== {time.strftime('%H:%M:%S')} start: {' '.join(cmd)}\n")
        offset = self.log_path.stat().st_size
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        proc = self.proc

        def watch() -> None:  # until the ready line (which sets eof) or the exit
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                pending = b""
                while not eof.is_set():
                    chunk = f.read()
                    if not chunk:
                        if proc.poll() is not None:
                            break
                        time.sleep(0.05)
                        continue
                    *lines, pending = (pending + chunk).split(b"\n")
                    for line in lines:
                        on_line(line.decode("utf-8", "replace"))
            eof.set()

        self._reader = threading.Thread(target=watch, name=f"{self.name}-log", daemon=True)
        self._reader.start()


# -- command line ------------------------------------------------------------------

STATE_FILE = "cluster.json"


def _load(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / STATE_FILE
    if not path.exists():
        return None
    state: dict[str, Any] = json.loads(path.read_text())
    return state


def _save(run_dir: Path, state: dict[str, Any]) -> None:
    (run_dir / STATE_FILE).write_text(json.dumps(state, indent=1))


def _alive(run_dir: Path, node_id: str, state: dict[str, Any]) -> bool:
    """Its recorded PID runs with its data dir on the command line (not a reused PID)."""
    pid = int(state["brokers"][node_id]["pid"])
    return bookkeeper_env._pid_is_ours(pid, run_dir / f"broker-{node_id}" / "data")


def _ids(state: dict[str, Any]) -> list[str]:
    return sorted(state["brokers"], key=int)


def _bootstrap(run_dir: Path, state: dict[str, Any]) -> str:
    return ",".join(f"{HOST}:{state['brokers'][i]['port']}" for i in _ids(state)
                    if _alive(run_dir, i, state))


def _start_brokers(run_dir: Path, state: dict[str, Any], ids_ports: list[tuple[int, int]],
                   rack: str | None = None) -> bool:
    """Start brokers in parallel as DetachedKwireProcess, record each that started."""
    cluster = KwireCluster(run_dir, zookeeper_connect=state["zookeeper_connect"],
                           settings=state["settings"], process_class=DetachedKwireProcess)
    ok = True
    with ThreadPoolExecutor(max_workers=max(1, len(ids_ports))) as pool:
        futures = {i: pool.submit(cluster.start_broker, i, rack, None, port)
                   for i, port in ids_ports}
        for i, future in futures.items():
            try:
                future.result()
            except (RuntimeError, AssertionError) as e:
                print(f"broker {i} did not start: {e}", file=sys.stderr)
                ok = False
            p = cluster.brokers.get(i)
            if p is not None and p.proc is not None:
                state["brokers"][str(i)] = {"pid": p.proc.pid, "port": p.port,
                                            "log": str(p.log_path)}
    _OPEN.discard(cluster)  # these brokers are meant to outlive this command
    _save(run_dir, state)
    return ok


def _stop_brokers(run_dir: Path, state: dict[str, Any], ids: list[str],
                  timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM (+SIGCONT) those brokers at once, SIGKILL those left after `timeout`."""
    live = [i for i in ids if _alive(run_dir, i, state)]
    for i in live:
        for sig in (signal.SIGTERM, signal.SIGCONT):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(state["brokers"][i]["pid"]), sig)
    deadline = time.monotonic() + timeout
    for i in live:
        while _alive(run_dir, i, state) and time.monotonic() < deadline:
            time.sleep(0.1)
        how = "SIGTERM"
        if _alive(run_dir, i, state):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(state["brokers"][i]["pid"]), signal.SIGKILL)
            how = f"SIGKILL after {timeout:.0f} s"
        print(f"stopped broker {i} (pid {state['brokers'][i]['pid']}, {how})")


def cmd_start(run_dir: Path, brokers: int, base_port: int, settings: dict[str, str]) -> int:
    state = _load(run_dir)
    if state and any(_alive(run_dir, i, state) for i in state["brokers"]):
        print(f"a cluster is already running in {run_dir}; stop it first", file=sys.stderr)
        return 1
    ports = list(range(base_port, base_port + brokers))
    busy = [p for p in ports if not port_is_free(p, HOST)]
    if busy:
        print(f"port(s) {busy} already in use: choose another --base-port", file=sys.stderr)
        return 1
    t0 = time.monotonic()
    bk_dir = run_dir / "bookkeeper"
    bk_dir.mkdir(parents=True, exist_ok=True)
    try:
        find_java()
        with contextlib.redirect_stdout(sys.stderr):  # stdout: the cluster's lines only
            rc = bookkeeper_env.cli_start(bk_dir, 3, None,
                                          os.environ.get("BK_JOURNAL_SYNC", "1") != "0")
    except BookKeeperEnvError as e:
        print(f"cannot start ZooKeeper and bookies: {e}", file=sys.stderr)
        return 1
    if rc != 0:
        return rc
    zk_connect = json.loads((bk_dir / bookkeeper_env.STATE_FILE).read_text())["zk_connect"]
    state = {"zookeeper_connect": zk_connect + CLUSTER_CHROOT, "settings": settings,
             "base_port": base_port, "brokers": {}}
    if not _start_brokers(run_dir, state, [(i, ports[i - 1]) for i in range(1, brokers + 1)]):
        print("stopping what was started", file=sys.stderr)
        cmd_stop(run_dir)
        return 1
    for i in _ids(state):
        b = state["brokers"][i]
        print(f"broker {i}: {HOST}:{b['port']} (pid {b['pid']}), log {b['log']}")
    print(f"zookeeper.connect={state['zookeeper_connect']}")
    print(f"bootstrap.servers={_bootstrap(run_dir, state)}")
    print(f"logs: {run_dir}/broker-ID/kwire.log, {bk_dir}/zk/zookeeper.log, "
          f"{bk_dir}/bookie-I/bookie-I.log")
    print(f"# ready in {time.monotonic() - t0:.1f} s; stop with: scripts/run-cluster.sh stop "
          f"--dir {run_dir}")
    return 0


def cmd_stop(run_dir: Path) -> int:
    """Brokers first (they close their ledgers on the bookies), then bookies and ZooKeeper."""
    state = _load(run_dir)
    if state is not None:
        _stop_brokers(run_dir, state, _ids(state))
        (run_dir / STATE_FILE).unlink()
    return bookkeeper_env.cli_stop(run_dir / "bookkeeper")


def cmd_status(run_dir: Path) -> int:
    state = _load(run_dir)
    if state is None:
        print(f"no cluster recorded in {run_dir}")
        return 1
    healthy = True
    for i in _ids(state):
        b = state["brokers"][i]
        addr = f"{HOST}:{b['port']}"
        if not _alive(run_dir, i, state):
            what = "NOT RUNNING"
        elif answers_api_versions(addr):
            what = "running, answers ApiVersions"
        else:
            what = "running, NOT answering ApiVersions"
        healthy = healthy and what.startswith("running, answers")
        print(f"broker {i:<6} pid {b['pid']:<8} {addr:<16} {what}")
    print(f"zookeeper.connect={state['zookeeper_connect']}")
    print(f"bootstrap.servers={_bootstrap(run_dir, state)}")
    rc = bookkeeper_env.cli_status(run_dir / "bookkeeper")
    return 0 if healthy and rc == 0 else 1


def cmd_add_broker(run_dir: Path, node_id: int, port: int | None, rack: str | None) -> int:
    """Start broker `node_id` (again: on its recorded port) on the recorded cluster."""
    state = _load(run_dir)
    if state is None:
        print(f"no cluster recorded in {run_dir}: run start first", file=sys.stderr)
        return 1
    key = str(node_id)
    if key in state["brokers"]:
        if _alive(run_dir, key, state):
            print(f"broker {node_id} is already running", file=sys.stderr)
            return 1
        port = port or int(state["brokers"][key]["port"])
    if port is None:
        port = int(state["base_port"]) + node_id - 1
        if node_id < 1 or not port_is_free(port, HOST):
            port = free_port(HOST)
    if not _start_brokers(run_dir, state, [(node_id, port)], rack):
        return 1
    b = state["brokers"][key]
    print(f"broker {node_id}: {HOST}:{b['port']} (pid {b['pid']}), log {b['log']}")
    print(f"bootstrap.servers={_bootstrap(run_dir, state)}")
    return 0


def cmd_stop_broker(run_dir: Path, node_id: int) -> int:
    state = _load(run_dir)
    key = str(node_id)
    if state is None or key not in state["brokers"]:
        print(f"no broker {node_id} recorded in {run_dir}", file=sys.stderr)
        return 1
    if not _alive(run_dir, key, state):
        print(f"broker {node_id} is not running")
        return 0
    _stop_brokers(run_dir, state, [key])
    return 0


def _parse_sets(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"--set expects KEY=VALUE, got {item!r}")
        out[key.strip()] = value
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="run-cluster.sh",
        description="A local kwire cluster: ZooKeeper, 3 BookKeeper bookies, N brokers.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    start = sub.add_parser("start", help="start ZooKeeper, 3 bookies and N brokers")
    start.add_argument("--brokers", type=int, default=3, help="node ids 1..N (default 3)")
    start.add_argument("--base-port", type=int, default=9092,
                       help="broker ID listens on BASE+ID-1 (default 9092)")
    start.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="a broker setting for every broker; repeatable")
    add = sub.add_parser("add-broker", help="start one more broker (or a stopped one again)")
    add.add_argument("id", type=int)
    add.add_argument("--port", type=int, default=None)
    add.add_argument("--rack", default=None, help="its broker.rack")
    stop_one = sub.add_parser("stop-broker", help="stop one broker (SIGTERM, then SIGKILL)")
    stop_one.add_argument("id", type=int)
    sub.add_parser("stop", help="stop the brokers, then the bookies and ZooKeeper")
    sub.add_parser("status", help="what runs, and whether each broker answers")
    for p in sub.choices.values():
        p.add_argument("--dir", type=Path, default=Path("kwire-cluster"),
                       help="where state, data dirs and logs go (default ./kwire-cluster)")
    args = parser.parse_args(argv)
    run_dir: Path = args.dir.resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    if args.cmd == "start":
        if args.brokers < 1:
            parser.error("--brokers must be at least 1")
        return cmd_start(run_dir, args.brokers, args.base_port, _parse_sets(args.set))
    if args.cmd == "add-broker":
        return cmd_add_broker(run_dir, args.id, args.port, args.rack)
    if args.cmd == "stop-broker":
        return cmd_stop_broker(run_dir, args.id)
    if args.cmd == "stop":
        return cmd_stop(run_dir)
    return cmd_status(run_dir)


if __name__ == "__main__":
    sys.exit(main())
