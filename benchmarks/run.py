"""The benchmark command.

  python -m benchmarks.run [--smoke] [--reps N] [--brokers kwire,kafka] [--out docs/benchmarks.md]
                           [--json PATH] [--only single,bookkeeper] [--bk-setups a,b]
                           [--report-only PATH.json [PATH.json]]

Two scenario sets:

- `single`: kwire (local segment files) beside a single-node Kafka, every
  scenario of benchmarks/scenarios.py; raw results in benchmarks/results/latest.json.
- `bookkeeper`: kwire on 3 BookKeeper bookies (one broker with journal sync on
  and off; and 3 kwire brokers, journal sync off) beside a 3-broker Kafka cluster
  with replication factor 3 (benchmarks/bookkeeper.py); the two 3-broker setups
  also measure failover after kill -9 of a partition leader, and the kwire
  cluster produce throughput with 1, 2 and 3 brokers on the same bookies
  (benchmarks/cluster.py); raw results in benchmarks/results/bookkeeper.json.
  `--bk-setups` picks setups (e.g. `kwire-3brokers,kafka-3rf3`); the saved
  results then hold only those.

A plain run does both. `--only bookkeeper` (or `--only single`) runs one set and
rebuilds the page with the other set's saved results JSON (if there is one), so
one set can be re-measured without re-running the other.

Full run (default): downloads Kafka's jars if needed (scripts/fetch-kafka.sh),
then for each repetition starts each broker in turn on a fresh temp data dir
(order alternates between repetitions), runs every scenario of
benchmarks/scenarios.py against it, stops it, and finally writes the markdown
page, its chart (`<out stem>-chart.png` next to it) and the raw results JSON.
The BookKeeper set does the same with its four setups.

--smoke: kwire only, small sizes (a few seconds per scenario), 1 repetition,
output to a temp dir unless --out is given; Kafka's Java tools are used if java
and the jars are available, else those scenarios are skipped (not failed).
The BookKeeper set is skipped in --smoke unless asked for (`--smoke --only
bookkeeper`: a tiny version of it, every setup, or those of --bk-setups).
Exit status 1 if any scenario failed in any run (a skip is not a failure).
--report-only: rebuild the page and chart from saved results JSON (either set's
file, or both; a set whose file is not given is read from its default path).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import bookkeeper, brokers, report, scenarios
from benchmarks.javatools import JavaTools

REPO_ROOT = brokers.REPO_ROOT
DEFAULT_OUT = REPO_ROOT / "docs" / "benchmarks.md"
DEFAULT_JSON = REPO_ROOT / "benchmarks" / "results" / "latest.json"
DEFAULT_BK_JSON = REPO_ROOT / "benchmarks" / "results" / "bookkeeper.json"
SETS = ("single", bookkeeper.SET_NAME)


def load_results(path: Path | None) -> dict[str, Any] | None:
    if path is None or not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def is_bookkeeper(results: dict[str, Any]) -> bool:
    return bool(results.get("meta", {}).get("set") == bookkeeper.SET_NAME)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def machine_info() -> dict[str, Any]:
    import psutil

    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    fs = ""
    with contextlib.suppress(Exception):
        fs = subprocess.run(["df", "-T", tempfile.gettempdir()], capture_output=True, text=True,
                            timeout=10).stdout.splitlines()[1].split()[1]
    virt = []
    with contextlib.suppress(Exception):
        if " hypervisor" in Path("/proc/cpuinfo").read_text():
            virt.append("virtual machine")
    with contextlib.suppress(Exception):
        kind = subprocess.run(["systemd-detect-virt", "--container"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        if kind and kind != "none":
            virt.append(f"{kind} container")
    return {"cpu": cpu, "cores": os.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "os": platform.platform(), "tmp_fs": fs, "virtualization": ", ".join(virt)}


def versions(libs: Path | None) -> dict[str, str]:
    from importlib.metadata import version

    import confluent_kafka

    v = {"python": platform.python_version(), "uvloop": version("uvloop"),
         "confluent-kafka": str(confluent_kafka.__version__),
         "librdkafka": str(confluent_kafka.libversion()[0])}
    with contextlib.suppress(Exception):
        v["kwire"] = version("kwire")
    if libs is not None:
        jars = sorted(libs.glob("kafka-clients-*.jar"))
        if jars:
            v["kafka"] = jars[0].stem.removeprefix("kafka-clients-")
    with contextlib.suppress(Exception):
        out = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30)
        v["java"] = (out.stderr or out.stdout).splitlines()[1].strip()
    return v


def run_one(name: str, rep: int, workroot: Path, libs: Path | None, java: JavaTools | None,
            params: scenarios.Params, quiet_wait: float) -> dict[str, Any]:
    workdir = workroot / f"{name}-{rep}"
    waited, background = brokers.wait_for_quiet(quiet_wait, log=log) if quiet_wait else (0, 0)
    broker: brokers.Broker = (brokers.KwireBroker(workdir) if name == "kwire"
                              else brokers.KafkaBroker(workdir, libs))  # type: ignore[arg-type]
    result: dict[str, Any] = {"broker": name, "rep": rep, "metrics": {}, "details": {
        "quiet_wait_s": round(waited, 1), "background_before_cores": background},
        "errors": {}, "skipped": {}}
    log(f"{name} rep {rep}: starting on {broker.bootstrap}")
    try:
        startup = broker.start()
        result["metrics"]["startup_s"] = startup
        if broker.format_s is not None:
            result["details"]["storage_format_s"] = round(broker.format_s, 2)
        log(f"  {'startup':16s} ok    first ack after {startup:.3f} s"
            + (f" (storage format before: {broker.format_s:.1f} s)" if broker.format_s else ""))
        ctx = scenarios.Context(broker, java, params)
        scenarios.run_all(ctx, log)
        result["metrics"].update(ctx.metrics)
        result["details"].update(ctx.details)
        result["errors"].update(ctx.errors)
        result["skipped"].update(ctx.skipped)
        result["groups"] = ctx.groups
    except Exception as e:  # noqa: BLE001
        result["errors"]["startup"] = f"{type(e).__name__}: {e}"
        log(f"  startup FAIL {e}")
    finally:
        rc = broker.stop()
        result["exit_code"] = rc
        if rc not in (0, 143, None):
            result["errors"]["shutdown"] = f"exit code {rc} after SIGTERM\n{broker.log_tail()}"
        shutil.rmtree(workdir / "data", ignore_errors=True)
    log(f"{name} rep {rep}: stopped (exit {rc})")
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="kwire only, seconds per scenario")
    ap.add_argument("--reps", type=int, default=None, help="repetitions (default 3; smoke 1)")
    ap.add_argument("--brokers", default=None, help="comma list of kwire,kafka (single set)")
    ap.add_argument("--only", default=None, metavar="SETS",
                    help="comma list of scenario sets to run: single,bookkeeper "
                    "(default both; --smoke: single)")
    ap.add_argument("--bk-setups", default=None, metavar="LIST",
                    help="comma list of the BookKeeper set's setups (default all: "
                    + ",".join(bookkeeper.SETUPS) + ")")
    ap.add_argument("--out", type=Path, default=None, help="markdown page to write")
    ap.add_argument("--json", type=Path, default=None,
                    help="raw results JSON to write (single set)")
    ap.add_argument("--bk-json", type=Path, default=None,
                    help="raw results JSON of the BookKeeper set to write")
    ap.add_argument("--quiet-wait", type=float, default=45.0, metavar="S",
                    help="before each run wait up to S s for other processes to go quiet "
                    "(< 0.25 cores); 0 = don't (smoke never waits)")
    ap.add_argument("--report-only", type=Path, nargs="+", default=None, metavar="JSON",
                    help="only rebuild the page and chart from saved results")
    a = ap.parse_args(argv)

    if a.report_only:
        loaded = [json.loads(p.read_text()) for p in a.report_only]
        single = next((r for r in loaded if not is_bookkeeper(r)), None)
        bk = next((r for r in loaded if is_bookkeeper(r)), None)
        single = single or load_results(DEFAULT_JSON)
        bk = bk or load_results(DEFAULT_BK_JSON)
        out = a.out or DEFAULT_OUT
        report.write(single, out, bk)
        log(f"wrote {out}")
        return 0

    sets = (a.only or ("single" if a.smoke else ",".join(SETS))).split(",")
    bad_sets = [s for s in sets if s not in SETS]
    if bad_sets:
        ap.error(f"unknown scenario set(s) {bad_sets}; known: {list(SETS)}")
    bk_setups = (a.bk_setups or ",".join(bookkeeper.SETUPS)).split(",")
    bad_setups = [s for s in bk_setups if s not in bookkeeper.SETUPS]
    if bad_setups:
        ap.error(f"unknown BookKeeper setup(s) {bad_setups}; known: {bookkeeper.SETUPS}")

    tmp_out: Path | None = None
    if a.smoke:
        names = (a.brokers or "kwire").split(",")
        reps = a.reps or 1
        params = scenarios.SMOKE
        bk_params = bookkeeper.SMOKE
        if a.out is None:
            tmp_out = Path(tempfile.mkdtemp(prefix="kwire-bench-smoke-out-"))
        out = a.out or (tmp_out / "benchmarks-smoke.md")  # type: ignore[operator]
        json_path = a.json or out.with_suffix(".json")
        bk_json_path = a.bk_json or out.with_name(out.stem + "-bookkeeper.json")
    else:
        names = (a.brokers or "kwire,kafka").split(",")
        reps = a.reps or 3
        params = scenarios.FULL
        bk_params = bookkeeper.FULL
        brokers.KwireBroker.python = brokers.user_install_python()
        out = a.out or DEFAULT_OUT
        json_path = a.json or DEFAULT_JSON
        bk_json_path = a.bk_json or DEFAULT_BK_JSON
    bad = [n for n in names if n not in ("kwire", "kafka")]
    if bad:
        ap.error(f"unknown broker(s) {bad}")
    need_kafka = ("single" in sets and "kafka" in names) or (
        bookkeeper.SET_NAME in sets and bookkeeper.KAFKA in bk_setups)

    started = time.time()
    t0 = time.monotonic()
    workroot = Path(tempfile.mkdtemp(prefix="kwire-bench-"))
    notes: list[str] = []
    bk_notes: list[str] = []
    if a.smoke and bookkeeper.SET_NAME not in sets:
        notes.append("the BookKeeper scenario set was skipped (--smoke runs it only when asked: "
                     "`python -m benchmarks.run --smoke --only bookkeeper`)")
        log(f"bookkeeper set: skipped ({notes[-1]})")

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    runs: list[dict[str, Any]] = []
    bk_runs: list[dict[str, Any]] = []
    libs: Path | None = None
    bk_t0 = bk_started = 0.0
    quiet = 0.0 if a.smoke else a.quiet_wait
    try:
        try:
            libs = brokers.locate_kafka_libs()
        except Exception as e:  # noqa: BLE001
            if need_kafka:
                log(f"cannot get Kafka: {e}")
                return 2
            notes.append(f"Kafka's Java tools unavailable, their scenarios skipped: {e}")
            bk_notes.append(notes[-1])
            log(notes[-1])
        java = JavaTools(libs, workroot) if libs is not None else None
        if "single" in sets:
            log(f"benchmarks: brokers {names}, {reps} repetition(s), work dir {workroot}")
            for rep in range(1, reps + 1):
                order = names if rep % 2 else list(reversed(names))
                for name in order:
                    runs.append(run_one(name, rep, workroot, libs, java, params, quiet))
        if bookkeeper.SET_NAME in sets:
            bk_started, bk_t0 = time.time(), time.monotonic()
            log(f"bookkeeper set: setups {bk_setups}, {reps} repetition(s), work dir {workroot}")
            bk_runs = bookkeeper.run_set(bk_setups, reps, workroot, libs, java, bk_params, quiet,
                                         log)
    except KeyboardInterrupt:
        log("interrupted: stopping everything started here")
        brokers.stop_all()
        return 130
    finally:
        brokers.stop_all()
        shutil.rmtree(workroot, ignore_errors=True)

    cmd = "python -m benchmarks.run" + ("".join(f" {x}" for x in (argv or sys.argv[1:])))
    results: dict[str, Any] | None = None
    bk_results: dict[str, Any] | None = None
    if "single" in sets:
        results = {
            "meta": {"command": cmd, "started": time.strftime("%Y-%m-%d %H:%M:%S %Z",
                                                              time.localtime(started)),
                     "duration_s": round((bk_t0 or time.monotonic()) - t0, 1),
                     "smoke": a.smoke, "reps": reps,
                     "brokers": names, "params": dataclasses.asdict(params),
                     "quiet_wait_s": quiet,
                     "machine": machine_info(), "versions": versions(libs),
                     "settings": {"kwire": brokers.KwireBroker.describe_settings(),
                                  "kafka": brokers.KafkaBroker.describe_settings()},
                     "notes": notes},
            "runs": runs,
        }
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(results, indent=1, default=str))
    elif not a.smoke:
        results = load_results(DEFAULT_JSON)
    if bookkeeper.SET_NAME in sets:
        v = versions(libs)
        bkv = bookkeeper.bookkeeper_version()
        if bkv:
            v["bookkeeper"] = bkv
        with contextlib.suppress(Exception):
            head = subprocess.run(["git", "-C", str(REPO_ROOT), "log", "-1", "--format=%h %s"],
                                  capture_output=True, text=True, timeout=10).stdout.strip()
            dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain",
                                    "kwire"], capture_output=True, text=True,
                                   timeout=10).stdout.strip()
            v["kwire commit"] = head[:70] + (" (+ uncommitted changes under kwire/)"
                                             if dirty else "")
        bk_results = {
            "meta": {"set": bookkeeper.SET_NAME, "command": cmd,
                     "started": time.strftime("%Y-%m-%d %H:%M:%S %Z",
                                              time.localtime(bk_started)),
                     "duration_s": round(time.monotonic() - bk_t0, 1), "smoke": a.smoke,
                     "reps": reps, "setups": bk_setups,
                     "params": dataclasses.asdict(bk_params), "quiet_wait_s": quiet,
                     "machine": machine_info(), "versions": v,
                     "settings": bookkeeper.describe_settings(), "notes": bk_notes},
            "runs": bk_runs,
        }
        bk_json_path.parent.mkdir(parents=True, exist_ok=True)
        bk_json_path.write_text(json.dumps(bk_results, indent=1, default=str))
    elif not a.smoke:
        bk_results = load_results(DEFAULT_BK_JSON)
    report.write(results, out, bk_results)
    failed = [(r["broker"], r["rep"], k) for r in runs for k in r["errors"]]
    failed += [(r["setup"], r["rep"], k) for r in bk_runs for k in r["errors"]]
    written = [str(p) for p, ran in ((json_path, "single" in sets),
                                     (bk_json_path, bookkeeper.SET_NAME in sets)) if ran]
    log(f"wrote {out} and {', '.join(written)} in {time.monotonic() - t0:.0f} s")
    if failed:
        log(f"FAILED: {failed}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
