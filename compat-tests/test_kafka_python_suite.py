"""kafka-python 3.0.12's own integration suite (from its PyPI sdist) against `kwire serve`.

The sdist is downloaded once with pip and unpacked under $KWIRE_CACHE (default
~/.cache/kwire)/kafka-python-3.0.12. It ships test/ without test/__init__.py and
test/service.py (the suite imports both), so two small stand-ins are written next
to it; nothing else of the suite is changed. The suite targets an already running
broker through KAFKA_URI and picks its expectations by KAFKA_VERSION: 4.3, the
version kafka-python itself infers from kwire's ApiVersions (DescribeLogDirs 5,
as from Kafka 4.4.0: kafka/protocol/broker_version_data.py).

kwire is started with the settings of the suite's own broker fixture
(servers/resources/default/kafka.properties in kafka-python's repository):
node.id 0, an explicit advertised.listeners, 4 partitions per topic,
group.min.session.timeout.ms 1000 and group.initial.rebalance.delay.ms 0.
With `--log-storage=bookkeeper --cluster-brokers=N` the suite runs against a
cluster of N kwire brokers instead (node ids 0..N-1, the same settings, each
its own advertised.listeners); KAFKA_URI names broker 0 and the clients
discover the others from Metadata.

The suite runs in a subprocess (`python -m pytest test/integration`, SSL tests
left out) and its junit XML is compared with EXPECTED_FAILURES and EXPECTED_SKIPS:
any other failure fails this test, and so does an expected failure that now
passes (or no longer runs), so both lists stay true. docs/compatibility.md
describes the run and the failures. With `--process-broker kafka` the same run goes
against a real Kafka 4.4.0 (same settings plus the fixture's StandardAuthorizer),
which must pass every test: that is how the expectations were checked.

Run it alone, with the suite's output on the terminal, against a kwire it starts
or any broker: `scripts/run-kafka-python-suite.sh [--bootstrap HOST:PORT] [pytest args]`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness, when run as a script

from cluster_env import KwireCluster  # noqa: E402
from harness import KafkaRefProcess, KafkaTools, KwireProcess, free_port  # noqa: E402

pytestmark = [pytest.mark.slow]

KAFKA_PYTHON = "3.0.12"
SDIST_NAME = f"kafka_python-{KAFKA_PYTHON}.tar.gz"
SDIST_SHA256 = "4ccda3616b9aa5c353d74a97f2770d6cd1b950890d77ab0e8890e09a48eeed65"
KAFKA_VERSION = "4.3"  # what kafka-python infers from kwire's ApiVersions
SUITE_ARGS = ["test/integration", "--ignore=test/integration/test_ssl_integration.py"]
SUITE_TIMEOUT = 420.0  # s for the whole suite; a full run takes about 25 s on 2 cores

def _api(key: int, name: str, what: str) -> str:
    return (f"kwire does not implement {name} ({key}) {what} and leaves it out of ApiVersions, "
            f"so kafka-python raises IncompatibleBrokerVersion before sending anything")


# {suite test id: why it fails against kwire}. Each reason was checked against
# the failure and kwire's log; the test below fails when one of these passes.
EXPECTED_FAILURES: dict[str, str] = {
    "test/integration/test_admin_integration.py::test_create_describe_delete_acls":
        _api(29, "DescribeAcls", "(nor CreateAcls 30 / DeleteAcls 31: no authorizer)"),
    "test/integration/test_admin_integration.py::test_alter_replica_log_dirs":
        _api(34, "AlterReplicaLogDirs", "(one log dir, no JBOD moves)"),
    "test/integration/test_admin_integration.py::test_describe_metadata_quorum":
        _api(55, "DescribeQuorum", "(no KRaft quorum / __cluster_metadata log)"),
    "test/integration/test_admin_integration.py::test_list_config_resources":
        _api(74, "ListConfigResources", "(KIP-1142, Kafka 4.1)"),
}

# Failures that only a multi-broker cluster can show, because the suite assumes one
# broker: {test id: (why, a check of the failure message that must hold)}. Against
# a cluster such a test may pass or fail; a failure is accepted only when the check
# holds, so any other failure of it still fails this test.
_DELETE_RECORDS_LEFT = {"t0p0": 0, "t0p1": 50, "t0p2": 100, "t1p0": 60, "t1p1": 100, "t1p2": 70}


def _partial_poll(message: str) -> bool:
    """test_delete_records' `assert N == 600 - 100 - 50 - 40 - 30` where N is what
    some set of whole partitions holds after the deletions, as when only some
    brokers' fetch answers were in. The count alone does not show which records
    came back: the test's per-partition offset checks come after this assertion."""
    m = re.match(r"assert (\d+) == \(\(\(\(600 - 100\) - 50\) - 40\) - 30\)", message)
    left = list(_DELETE_RECORDS_LEFT.values())
    sums = {sum(c for i, c in enumerate(left) if mask >> i & 1) for mask in range(1 << len(left))}
    return m is not None and int(m.group(1)) in sums


CLUSTER_TIMING: dict[str, tuple[str, Callable[[str], bool]]] = {
    "test/integration/test_admin_integration.py::test_delete_records": (
        "its consumer checks one poll(max_records=600, timeout_ms=2000) returns every "
        "record left; kafka-python's KafkaConsumer._poll_once returns the records of the "
        "first fetch responses in (and resets positions per partition, fire-and-forget), "
        "so with partitions led by 3 brokers it can return some brokers' partitions only",
        _partial_poll),
}

# Skips the suite itself decides; any other skip (a codec library missing, no
# KAFKA_VERSION, ...) would hide tests, so it fails this test too.
_SASL_SKIP = ("SASL is out of scope; the suite only runs its SASL tests against a broker it "
              "spawns itself ('Testing on external Kafka Broker')")
EXPECTED_SKIPS: dict[str, str] = {
    "test/integration/test_consumer_integration.py::test_kafka_consumer_offsets_for_time_old":
        "only for brokers older than 0.10.1 ('Requires KAFKA_VERSION < 0.10.1')",
    **{f"test/integration/test_sasl_integration.py::{t}[{m}]": _SASL_SKIP
       for t in ("test_admin", "test_produce_and_consume", "test_client")
       for m in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")},
}

# Stand-ins for the two files the sdist leaves out of test/ (see the module docstring).
_TEST_INIT = '''\
# Written by kwire's compat-tests: the kafka-python sdist ships test/ without this
# file. Same effect as kafka-python's own test/__init__.py: INFO logging, and
# errors raised in future callbacks fail the test.
import logging
logging.basicConfig(level=logging.INFO)

from kafka.future import Future
Future.error_on_callbacks = True  # always fail during testing
'''
_TEST_SERVICE = '''\
# Written by kwire's compat-tests: the kafka-python sdist ships test/ without this
# module. With KAFKA_URI set the suite only uses ExternalService.
__all__ = ['ExternalService', 'SpawnedService']


class ExternalService:
    def __init__(self, host, port):
        self.host = host
        self.port = port

    def open(self):
        pass

    def close(self):
        pass

    def dump_logs(self):
        pass

    def wait_for(self, pattern, timeout=30):
        pass


class SpawnedService:
    def __init__(self, *args, **kwargs):
        raise RuntimeError('this test/ cannot spawn Kafka or ZooKeeper: set KAFKA_URI')
'''


def cache_root() -> Path:
    return Path(os.environ.get("KWIRE_CACHE") or Path.home() / ".cache" / "kwire")


def prepare_suite(python: str = sys.executable) -> Path:
    """Download (pip), check and unpack the sdist once; return its unpacked folder."""
    root = cache_root() / f"kafka-python-{KAFKA_PYTHON}"
    tree = root / f"kafka_python-{KAFKA_PYTHON}"
    if (root / ".complete").is_file() and (tree / "test" / "integration").is_dir():
        return tree
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".unpack-") as tmp:
        cmd = [python, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "--disable-pip-version-check", f"kafka-python=={KAFKA_PYTHON}", "-d", tmp]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                           stdin=subprocess.DEVNULL)
        tarball = Path(tmp) / SDIST_NAME
        if p.returncode != 0 or not tarball.is_file():
            raise RuntimeError(f"{' '.join(cmd)} failed (rc {p.returncode}):\n"
                               f"{p.stdout[-2000:]}{p.stderr[-2000:]}")
        digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
        if digest != SDIST_SHA256:
            raise RuntimeError(f"{SDIST_NAME}: sha256 {digest}, expected {SDIST_SHA256}")
        with tarfile.open(tarball) as tf:
            tf.extractall(tmp, filter="data")
        unpacked = Path(tmp) / f"kafka_python-{KAFKA_PYTHON}"
        for rel, text in (("test/__init__.py", _TEST_INIT), ("test/service.py", _TEST_SERVICE)):
            if not (unpacked / rel).exists():
                (unpacked / rel).write_text(text)
        (unpacked / "no-kafka-bin").mkdir()  # KAFKA_ROOT: the fixture wants it to exist
        if tree.exists():
            shutil.rmtree(tree)
        os.replace(unpacked, tree)
        os.replace(tarball, root / SDIST_NAME)
    (root / ".complete").write_text(f"{SDIST_NAME} sha256 {SDIST_SHA256}\n")
    return tree


def broker_settings(proc: KwireProcess, port: int) -> dict[str, str]:
    """The settings of kafka-python's own broker fixture (kafka.properties, Kafka 4.x)."""
    settings = {"node.id": "0", **suite_settings(proc.host, port)}
    if isinstance(proc, KafkaRefProcess):  # the reference Kafka: KRaft quorum on node 0, ACLs on
        proc.controller_port = free_port(proc.host)
        settings.update({
            "controller.quorum.voters": f"0@{proc.host}:{proc.controller_port}",
            "authorizer.class.name":
                "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "true",
        })
    return settings


def suite_settings(host: str, port: int) -> dict[str, str]:
    """Those settings but node.id: what every broker of a cluster gets too."""
    return {
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "num.partitions": "4",
        "default.replication.factor": "1",
        "offsets.topic.num.partitions": "2",
        "group.min.session.timeout.ms": "1000",
        "group.initial.rebalance.delay.ms": "0",
    }


def start_suite_cluster(make_cluster: Callable[..., KwireCluster], brokers: int
                        ) -> KwireCluster:
    """A cluster of `brokers` kwire brokers with the suite's settings, node ids
    0..N-1: the suite's fixture numbers its brokers from 0, and a test or two
    (test_create_partitions: new partitions on broker 0) count on a broker 0."""
    cluster = make_cluster(start=False)
    for node_id in range(brokers):
        port = free_port(cluster.host)
        cluster.start_broker(node_id, extra=suite_settings(cluster.host, port), port=port)
    return cluster


def suite_command(python: str, junit: Path | None, extra: list[str]) -> list[str]:
    cmd = [python, "-m", "pytest", "-p", "no:cacheprovider", *SUITE_ARGS, "-q", "-rfEs",
           "-o", "junit_family=xunit1"]
    if junit is not None:
        cmd += ["--junitxml", str(junit)]
    return cmd + extra


def suite_env(tree: Path, bootstrap: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update({
        "KAFKA_VERSION": KAFKA_VERSION,
        "KAFKA_URI": f"kafka://{bootstrap}",
        "KAFKA_ROOT": str(tree / "no-kafka-bin"),
        # the sdist's own kafka/ and test/ first (before the stdlib's test package)
        "PYTHONPATH": str(tree),
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    return env


def run_suite(tree: Path, bootstrap: str, junit: Path | None, out_path: Path | None,
              extra: list[str] | None = None, timeout: float = SUITE_TIMEOUT) -> int:
    """Run the suite in its own process group; kill the whole group on timeout."""
    out = open(out_path, "wb") if out_path else None  # noqa: SIM115
    try:
        proc = subprocess.Popen(suite_command(sys.executable, junit, extra or []), cwd=tree,
                                env=suite_env(tree, bootstrap), stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT if out else None,
                                start_new_session=True)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
            raise AssertionError(f"kafka-python's suite did not finish within {timeout:.0f} s "
                                 "(killed)") from None
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
            raise
    finally:
        if out:
            out.close()


def parse_junit(path: Path) -> dict[str, tuple[str, str]]:
    """{test id: (passed|failed|skipped, first line of the message)} from xunit1 XML."""
    results: dict[str, tuple[str, str]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        file = case.get("file") or case.get("classname", "").replace(".", "/") + ".py"
        module = file[:-3].replace("/", ".")
        cls = case.get("classname", "")
        parts = [file] + ([cls[len(module) + 1:]] if cls.startswith(module + ".") else [])
        test_id = "::".join(parts + [case.get("name", "")])
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome, message = "failed", child.get("message") or ""
                break
            if child.tag == "skipped":
                outcome, message = "skipped", child.get("message") or ""
        if results.get(test_id, ("",))[0] == "failed":
            continue  # a test with a failing call and a teardown error stays failed
        results[test_id] = (outcome, message.strip().splitlines()[0] if message.strip() else "")
    return results


def judge(results: dict[str, tuple[str, str]],
          expected_failures: dict[str, str] = EXPECTED_FAILURES,
          timing: dict[str, tuple[str, Callable[[str], bool]]] | None = None) -> list[str]:
    """Every way the run differs from expected_failures / EXPECTED_SKIPS, but for
    the failures `timing` (CLUSTER_TIMING against a cluster) accepts."""
    problems = []
    for test_id, (outcome, message) in sorted(results.items()):
        tolerated = (timing or {}).get(test_id)
        if outcome == "failed" and tolerated is not None and tolerated[1](message):
            print(f"accepted against a cluster: {test_id} failed with {message[:200]!r}: "
                  f"{tolerated[0]}")
            continue
        if outcome == "failed" and test_id not in expected_failures:
            problems.append(f"UNEXPECTED FAILURE {test_id}: {message[:300]}")
        if outcome == "skipped" and test_id not in EXPECTED_SKIPS:
            problems.append(f"UNEXPECTED SKIP {test_id}: {message[:300]}")
    for expected, what in ((expected_failures, "failed"), (EXPECTED_SKIPS, "skipped")):
        for test_id in sorted(expected):
            outcome = results.get(test_id, ("not run",))[0]
            if outcome != what:
                problems.append(f"EXPECTED TO BE {what.upper()} but {outcome}: {test_id} "
                                f"(update the list in {Path(__file__).name} and the docs)")
    return problems


def summary(results: dict[str, tuple[str, str]]) -> str:
    counts = {o: sum(1 for r in results.values() if r[0] == o)
              for o in ("passed", "failed", "skipped")}
    return ", ".join(f"{n} {o}" for o, n in counts.items())


@pytest.mark.timeout(600)
def test_kafka_python_integration_suite(
    request: pytest.FixtureRequest, kwire_factory: Callable[..., KwireProcess],
    cluster_brokers: int, tmp_path: Path,
) -> None:
    # `--process-broker kafka`: the reference Kafka with the same settings must pass it all.
    reference = request.config.getoption("--process-broker") == "kafka"
    expected_failures = {} if reference else EXPECTED_FAILURES
    try:
        tree = prepare_suite()
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        pytest.fail(f"kafka-python {KAFKA_PYTHON} sdist unavailable: {e}", pytrace=False)
    for plugin in ("pytest_timeout",):  # the suite's pyproject addopts use --timeout
        p = subprocess.run([sys.executable, "-c", f"import {plugin}"], capture_output=True)
        assert p.returncode == 0, f"{plugin} is not installed (pip install -e '.[test]')"

    cluster: KwireCluster | None = None
    if cluster_brokers > 1:  # the fixture needs the bookies: only ask for it here
        cluster = start_suite_cluster(request.getfixturevalue("kwire_cluster_factory"),
                                      cluster_brokers)
        brokers = list(cluster.brokers.values())
        name = f"a {cluster_brokers}-broker kwire cluster"
    else:
        broker = kwire_factory()
        port = free_port(broker.host)
        broker.settings.update(broker_settings(broker, port))
        broker.start(port)
        brokers, name = [broker], broker.name

    junit, out_path = tmp_path / "suite.xml", tmp_path / "suite.out"
    started = time.monotonic()
    rc = run_suite(tree, brokers[0].bootstrap, junit, out_path)
    elapsed = time.monotonic() - started
    output = out_path.read_text("utf-8", "replace")
    tail = "\n".join(output.splitlines()[-60:])
    assert rc in (0, 1) and junit.is_file(), (
        f"kafka-python's suite did not run properly (pytest exit {rc}):\n{tail}")
    for broker in brokers:
        assert broker.running, f"{broker.name} died during the suite:\n{broker.log_tail(80)}"

    results = parse_junit(junit)
    problems = judge(results, expected_failures, CLUSTER_TIMING if cluster is not None else None)
    print(f"kafka-python {KAFKA_PYTHON} suite against {name}: {summary(results)} "
          f"in {elapsed:.0f} s")
    assert not problems, (
        f"kafka-python {KAFKA_PYTHON} suite: {summary(results)} in {elapsed:.0f} s\n"
        + "\n".join(problems) + f"\n--- suite output ({out_path}), last 60 lines ---\n{tail}")
    if cluster is not None:  # graceful shutdown must exit 0, on every broker
        codes = cluster.stop_all()
        assert set(codes.values()) == {0}, f"exit codes after SIGTERM: {codes}"
    else:
        broker.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the suite with its output on the terminal (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bootstrap", metavar="HOST:PORT",
                    help="run against this broker instead of starting kwire")
    ap.add_argument("--broker", choices=("kwire", "kafka"), default="kwire",
                    help="the broker to start: kwire, or the reference Kafka from the jars")
    ap.add_argument("--keep", action="store_true", help="keep the broker's data dir and log")
    args, extra = ap.parse_known_args(argv)
    tree = prepare_suite()
    print(f"suite: {tree}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="kwire-kafka-python-suite-"))
    broker: KwireProcess | None = None
    bootstrap = args.bootstrap
    try:
        if bootstrap is None:
            if args.broker == "kafka":
                broker = KafkaRefProcess(work / "data", work / "kafka.log", KafkaTools.locate())
            else:
                broker = KwireProcess(work / "data", work / "kwire.log")
            port = free_port(broker.host)
            broker.settings.update(broker_settings(broker, port))
            broker.start(port)
            bootstrap = broker.bootstrap
            print(f"{broker.name} on {bootstrap}, log {broker.log_path}", flush=True)
        junit = work / "suite.xml"
        rc = run_suite(tree, bootstrap, junit, None, extra)
        if junit.is_file():
            results = parse_junit(junit)
            problems = judge(results, {} if args.broker == "kafka" else EXPECTED_FAILURES)
            print(f"\nkafka-python {KAFKA_PYTHON}: {summary(results)}")
            print("\n".join(problems) if problems else "as expected (EXPECTED_FAILURES/_SKIPS)")
            rc = rc if rc not in (0, 1) else (1 if problems else 0)
        if broker is not None:
            broker.stop()
        return rc
    finally:
        if broker is not None:
            broker.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
