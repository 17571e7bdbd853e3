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
