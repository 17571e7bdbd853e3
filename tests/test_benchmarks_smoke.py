"""The benchmark harness must not rot: run `python -m benchmarks.run --smoke` (kwire only,
a few seconds per scenario) end to end and check it produced every kwire figure.

Output goes to a tmp dir; docs/benchmarks.md is never touched. Kafka's Java perf tools
are used when java and the jars (scripts/fetch-kafka.sh) are available, else the smoke
run skips those scenarios and this test accepts that.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

pytest.importorskip("confluent_kafka")
pytest.importorskip("psutil")

JAVA_FIGURES = {"pp_1k_p1_mibs", "pp_1k_p8_mibs", "pp_100b_krps", "cp_1k_mibs"}


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_benchmark_smoke_run(tmp_path: Path) -> None:
    out = tmp_path / "bench.md"
    raw = tmp_path / "bench.json"
    p = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--out", str(out), "--json", str(raw)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=540)
    assert p.returncode == 0, f"smoke run failed (rc {p.returncode}):\n{p.stderr[-6000:]}"
    assert out.exists() and out.read_text().startswith("# kwire benchmarks")

    results = json.loads(raw.read_text())
    assert results["meta"]["brokers"] == ["kwire"]
    (run,) = results["runs"]
    assert run["errors"] == {}
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from benchmarks.scenarios import METRICS

    skipped_java = any("Java tools unavailable" in why for why in run["skipped"].values())
    no_groups = "cp_1k" in run["skipped"]
    expected = {m.key for m in METRICS}
    if skipped_java:
        expected -= JAVA_FIGURES
    if no_groups:
        expected.discard("cp_1k_mibs")
    missing = expected - set(run["metrics"])
    assert not missing, f"figures missing from the smoke run: {missing}\n{p.stderr[-4000:]}"
    for key in expected:
        v = run["metrics"][key]
        assert v == v and v > 0, f"{key} = {v}"
    assert run["details"]["e2e-conns"]["idle_conns_alive"] == results["meta"]["params"][
        "idle_conns"]
    assert run["exit_code"] == 0  # kwire shut down cleanly after the run


CLUSTER_FIGURES = {"rd_produce_mibs", "rd_consume_mibs", "e2e_p99_ms", "startup_s",
                   "scale_1_mibs", "scale_2_mibs", "scale_3_mibs"}


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_benchmark_cluster_smoke_run(tmp_path: Path) -> None:
    """The kwire-cluster setup of the BookKeeper set, tiny sizes: 3 brokers on a real
    ZooKeeper and 3 bookies run the set's scenarios, the 1/2/3-broker scaling and one
    kill -9 failover (about 2 min on the project's 2-core machine). Skipped without
    java or the BookKeeper jars."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    pytest.importorskip("kazoo")
    from benchmarks.bookkeeper import bookkeeper_env_module

    bke = bookkeeper_env_module()
    try:
        bke.find_java()
        bke.bookkeeper_libs()
    except bke.BookKeeperEnvError as e:
        pytest.skip(str(e))
    out = tmp_path / "bench.md"
    raw = tmp_path / "bench-bk.json"
    p = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--only", "bookkeeper",
         "--bk-setups", "kwire-3brokers", "--out", str(out), "--bk-json", str(raw)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=540)
    assert p.returncode == 0, f"cluster smoke run failed (rc {p.returncode}):\n{p.stderr[-6000:]}"
    page = out.read_text()
    assert "Failover after kill -9 of a partition leader" in page
    assert "Produce with 1, 2 and 3 kwire brokers on the same bookies" in page

    results = json.loads(raw.read_text())
    (run,) = results["runs"]
    assert run["setup"] == "kwire-3brokers"
    assert run["errors"] == {}
    missing = CLUSTER_FIGURES - set(run["metrics"])
    assert not missing, f"figures missing from the cluster smoke run: {missing}"
    for key in CLUSTER_FIGURES:
        assert run["metrics"][key] > 0, f"{key} = {run['metrics'][key]}"
    (kill,) = run["details"]["failover"]["kills"]
    # the new leader acknowledged within the session timeout (6 s) + hand-over
    assert 0 < kill["failover_s"] < 60
    assert kill["delivery_errors"] == 0
    steps = run["details"]["scale"]["steps"]
    assert {k: len(v["leaders"]) for k, v in steps.items()} == {"1": 1, "2": 2, "3": 3}
    # every broker still running at the end shut down cleanly (the killed one is not listed)
    assert set(run["exit_codes"].values()) == {0}
