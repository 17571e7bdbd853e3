"""The cluster test environment itself (cluster_env.KwireCluster and
scripts/run-cluster.sh) with the real ZooKeeper and bookies: several brokers on
one chroot start and answer, and each fault the cluster tests inject (kill -9,
SIGSTOP/SIGCONT, SIGTERM, restart on the same port and node id) does what it says
within a bounded time. If these fail, the cluster tests would fail for reasons
that have nothing to do with kwire; this file says so first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bookkeeper_env import BookKeeperEnv, port_is_free
from cluster_env import KwireCluster
from harness import REPO_ROOT, answers_api_versions, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

SCRIPT = REPO_ROOT / "scripts" / "run-cluster.sh"


@pytest.fixture(scope="module")
def cluster(bookkeeper: BookKeeperEnv,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[KwireCluster]:
    """Brokers 1, 2, 3 on a chroot of their own; each test leaves them running."""
    with KwireCluster(tmp_path_factory.mktemp("cluster"), env=bookkeeper,
                      settings={"zookeeper.session.timeout.ms": "4000"}) as c:
        c.start_brokers([1, 2, 3])
        yield c


def ready_lines(cluster: KwireCluster, node_id: int) -> list[str]:
    text = cluster.brokers[node_id].log_path.read_text("utf-8", "replace")
    return [line for line in text.splitlines() if line.startswith("kwire ready:")]


def test_three_brokers_on_one_chroot_answer(cluster: KwireCluster,
                                            bookkeeper: BookKeeperEnv) -> None:
    assert cluster.running_ids() == [1, 2, 3]
    addresses = cluster.bootstrap.split(",")
    assert len(set(addresses)) == 3
    for node_id, address in zip([1, 2, 3], addresses, strict=True):
        assert address == cluster.brokers[node_id].bootstrap
        assert answers_api_versions(address)
        [line] = ready_lines(cluster, node_id)
        assert f"node.id={node_id}," in line and cluster.zookeeper_connect in line
    # one chroot, of this cluster's own, that the brokers write under
    connects = {p.settings["zookeeper.connect"] for p in cluster.brokers.values()}
    assert connects == {cluster.zookeeper_connect}
    chroot = cluster.zookeeper_connect[len(bookkeeper.zk_connect):]
    assert chroot.startswith("/kwire-test/") and bookkeeper.zk.get_children(chroot)


def test_kill9_and_restart_keep_port_and_node_id(cluster: KwireCluster) -> None:
    victim = cluster.brokers[2]
    port = victim.port
    try:
        cluster.kill9(2)
        assert not victim.running and cluster.running_ids() == [1, 3]
        assert victim.bootstrap not in cluster.bootstrap.split(",")
        assert not answers_api_versions(victim.bootstrap, timeout=1.0)
        start = time.monotonic()
        assert cluster.restart(2) is victim
        assert time.monotonic() - start < 30
        assert victim.port == port and answers_api_versions(victim.bootstrap)
        assert ["node.id=2," in line for line in ready_lines(cluster, 2)] == [True, True]
    finally:
        if not victim.running:
            cluster.restart(2)


def test_sigstop_freezes_and_sigcont_thaws(cluster: KwireCluster) -> None:
    frozen = cluster.brokers[1]
    try:
        cluster.sigstop(1)
        assert frozen.running  # frozen is not gone
        assert not answers_api_versions(frozen.bootstrap, timeout=1.0)
    finally:
        cluster.sigcont(1)
    assert answers_api_versions(frozen.bootstrap, timeout=5.0)


def test_sigterm_exits_0_within_the_bound(cluster: KwireCluster) -> None:
    try:
        start = time.monotonic()
        assert cluster.sigterm(3, timeout=20) == 0, cluster.log_tail(3)
        assert time.monotonic() - start < 20
        assert cluster.running_ids() == [1, 2]
    finally:
        cluster.restart(3)
    assert cluster.running_ids() == [1, 2, 3]


def test_start_broker_with_rack_port_and_extra_settings(cluster: KwireCluster) -> None:
    port = free_port()
    p = cluster.start_broker(4, rack="rack-b", port=port,
                             extra={"group.initial.rebalance.delay.ms": "0"})
    try:
        assert p.port == port and cluster.running_ids() == [1, 2, 3, 4]
        assert p.settings["broker.rack"] == "rack-b" and p.settings["node.id"] == "4"
        assert p.settings["zookeeper.session.timeout.ms"] == "4000"  # the cluster's own
        assert "--set broker.rack=rack-b" in p.log_path.read_text()
    finally:
        assert cluster.sigterm(4) == 0
    assert cluster.running_ids() == [1, 2, 3]


# -- scripts/run-cluster.sh ----------------------------------------------------------

def two_free_ports() -> int:
    for _ in range(50):
        port = free_port()
        if port < 65535 and port_is_free(port + 1):
            return port
    raise AssertionError("no two consecutive free ports")


def pid_alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def run_script(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KWIRE_PYTHON": sys.executable}  # this environment's kwire
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, env=env,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def test_run_cluster_script_start_status_stop(tmp_path: Path) -> None:
    run_dir = tmp_path / "cluster"
    base = two_free_ports()
    t0 = time.monotonic()
    started = run_script("start", "--brokers", "2", "--dir", str(run_dir),
                         "--base-port", str(base))
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        t_started = time.monotonic() - t0
        expected = f"127.0.0.1:{base},127.0.0.1:{base + 1}"
        assert f"bootstrap.servers={expected}" in started.stdout.splitlines()
        assert "logs: " in started.stdout
        for address in expected.split(","):
            assert answers_api_versions(address)
        for node_id in (1, 2):
            log = (run_dir / f"broker-{node_id}" / "kwire.log").read_text()
            assert f"node.id={node_id}," in log and "/kwire (E3/W2/A2)" in log
        state = json.loads((run_dir / "cluster.json").read_text())
        bk_state = json.loads((run_dir / "bookkeeper" / "env.json").read_text())
        pids = [int(b["pid"]) for b in state["brokers"].values()]
        pids += [int(p["pid"]) for p in bk_state["processes"]]
        assert len(pids) == 6 and all(pid_alive(pid) for pid in pids)

        status = run_script("status", "--dir", str(run_dir))
        assert status.returncode == 0, status.stdout + status.stderr
        assert status.stdout.count("running, answers ApiVersions") == 2
    finally:
        stopped = run_script("stop", "--dir", str(run_dir))
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    elapsed = time.monotonic() - t0
    assert not [pid for pid in pids if pid_alive(pid)]
    assert run_script("status", "--dir", str(run_dir)).returncode == 1
    print(f"run-cluster.sh: start {t_started:.1f} s, whole cycle {elapsed:.1f} s")
    assert elapsed < 60
