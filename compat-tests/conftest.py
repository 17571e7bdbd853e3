"""Fixtures for compat-tests: a broker to talk to, Kafka's Java tools, unique names.

By default a kwire broker is started once per session (`python -m kwire serve`
on a free port with a temp data dir). With `--bootstrap HOST:PORT` every test
that only needs *a* broker runs against that external broker instead (e.g. a
real Apache Kafka from scripts/run-kafka.sh), which is how the scenarios are
checked to be right; tests that need process control (test_durability) skip.

With `--log-storage=bookkeeper --cluster-brokers=N` (N > 1) the session broker
is a cluster instead: N kwire processes (node ids 1..N) on the session's real
ZooKeeper and bookies (cluster_env.KwireCluster), and `broker.bootstrap` lists
all of them. `broker.cluster` is that KwireCluster (None otherwise), so a test
that depends on there being one node (a node id, one coordinator, a restart)
can learn about the cluster; `kwire_cluster_factory` starts a cluster of the
test's own, and `find_coordinator` asks any broker where a group lives.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # 'compat-tests' is no package name

from cluster_env import KwireCluster  # noqa: E402
from coordinator_lookup import find_coordinator_at  # noqa: E402
from harness import ALL_PROCESSES, KafkaRefProcess, KafkaTools, KwireProcess  # noqa: E402


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--bootstrap", default=None, metavar="HOST:PORT",
        help="run compat-tests against this external broker instead of starting kwire",
    )
    parser.addoption(
        "--log-storage", default="local", choices=("local", "bookkeeper"),
        help="the storage of the kwire brokers compat-tests start: the local log "
             "(default), or BookKeeper ledgers on the session's real ZooKeeper and "
             "bookies (each broker under its own ZooKeeper chroot)",
    )
    parser.addoption(
        "--process-broker", default="kwire", choices=("kwire", "kafka"),
        help="the broker process compat-tests start and control themselves (when no "
             "--bootstrap): kwire (default), or a real KRaft Kafka from the Maven jars, "
             "to check the scenarios, durability included, against Kafka itself",
    )
    parser.addoption(
        "--cluster-brokers", type=int, default=1, metavar="N",
        help="with --log-storage=bookkeeper: the session broker is a cluster of N kwire "
             "brokers (node ids 1..N) on the session's ZooKeeper and bookies, and "
             "kwire_cluster_factory starts clusters of N; 1 (default): one broker",
    )


def pytest_configure(config: pytest.Config) -> None:
    n = config.getoption("--cluster-brokers")
    if n < 1:
        raise pytest.UsageError(f"--cluster-brokers must be at least 1, not {n}")
    if n > 1 and config.getoption("--log-storage") != "bookkeeper":
        raise pytest.UsageError("--cluster-brokers > 1 needs --log-storage=bookkeeper "
                                "(cluster brokers share BookKeeper ledgers)")
    if n > 1 and (config.getoption("--bootstrap")
                  or config.getoption("--process-broker") != "kwire"):
        raise pytest.UsageError("--cluster-brokers > 1 starts kwire brokers: it does not go "
                                "with --bootstrap or --process-broker kafka")


@dataclass
class Broker:
    bootstrap: str
    external: bool
    process: KwireProcess | None = None
    # --cluster-brokers > 1: the session's cluster (bootstrap lists every broker)
    cluster: KwireCluster | None = None


@pytest.fixture(scope="session")
def external_bootstrap(request: pytest.FixtureRequest) -> str | None:
    return request.config.getoption("--bootstrap")


@pytest.fixture(scope="session")
def cluster_brokers(request: pytest.FixtureRequest) -> int:
    """--cluster-brokers: how many brokers the session broker (and each
    kwire_cluster_factory cluster) has; 1 means a single node."""
    return int(request.config.getoption("--cluster-brokers"))


# What every cluster compat-tests start gets: a ZooKeeper session short enough
# that a killed broker's partitions move within seconds (the group tests' own
# session.timeout.ms is 6 s too).
CLUSTER_SETTINGS = {"zookeeper.session.timeout.ms": "6000"}


def _new_process(request: pytest.FixtureRequest, root: Path, name: str,
                 settings: dict[str, str] | None = None) -> KwireProcess:
    if request.config.getoption("--process-broker") == "kafka":
        tools = request.getfixturevalue("kafka_tools")
        return KafkaRefProcess(root / f"{name}-data", root / f"{name}.log", tools, settings)
    return KwireProcess(root / f"{name}-data", root / f"{name}.log",
                        {**_storage_settings(request), **(settings or {})})


def _storage_settings(request: pytest.FixtureRequest) -> dict[str, str]:
    """--log-storage=bookkeeper: the settings that put a kwire on the session's
    bookies, under a ZooKeeper chroot of its own (kept across its restarts)."""
    if request.config.getoption("--log-storage") != "bookkeeper":
        return {}
    env = request.getfixturevalue("bookkeeper")
    return {"log.storage": "bookkeeper",
            "zookeeper.connect": env.zk_connect_with_chroot(env.new_chroot())}


@pytest.fixture(scope="session")
def broker(
    request: pytest.FixtureRequest, external_bootstrap: str | None,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Broker]:
    """The broker most tests talk to: --bootstrap's, else one kwire for the session."""
    if external_bootstrap:
        yield Broker(external_bootstrap, external=True)
        return
    n = request.config.getoption("--cluster-brokers")
    if n > 1:
        env = request.getfixturevalue("bookkeeper")
        with KwireCluster(tmp_path_factory.mktemp("cluster-session"), env=env,
                          settings=CLUSTER_SETTINGS) as cluster:
            cluster.start_brokers(range(1, n + 1))
            yield Broker(cluster.bootstrap, external=False, cluster=cluster)
            codes = cluster.stop_all()  # graceful shutdown must exit 0, on every broker
            assert set(codes.values()) == {0}, (
                f"exit codes after SIGTERM: {codes}\n"
                + "\n".join(f"--- kwire-{i} ---\n{cluster.log_tail(i, 40)}" for i in codes))
        return
    proc = _new_process(request, tmp_path_factory.mktemp("broker-session"), "broker")
    proc.start()
    try:
        yield Broker(proc.bootstrap, external=False, process=proc)
        proc.stop()  # graceful shutdown must exit 0
    finally:
        proc.close()


@pytest.fixture
def kwire_factory(
    request: pytest.FixtureRequest, external_bootstrap: str | None, tmp_path: Path
) -> Iterator[Callable[..., KwireProcess]]:
    """Make KwireProcess objects this test controls (start/stop/kill/restart).

    Skips (with the reason) under --bootstrap: an external broker can't be killed.
    """
    if external_bootstrap:
        pytest.skip("needs to start/kill kwire itself; not possible with --bootstrap")
    made: list[KwireProcess] = []

    def make(settings: dict[str, str] | None = None, name: str = "kwire") -> KwireProcess:
        p = _new_process(request, tmp_path, name, settings)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()
        ALL_PROCESSES.remove(p)  # after the call-phase report, which shows its log


@pytest.fixture
def kwire_cluster_factory(
    request: pytest.FixtureRequest, external_bootstrap: str | None, cluster_brokers: int,
    tmp_path: Path,
) -> Iterator[Callable[..., KwireCluster]]:
    """Make KwireClusters this test controls, on the session's ZooKeeper and
    bookies (each on a chroot of its own), closed at teardown.

    make(settings=None, brokers=None, start=True): `settings` go to every broker
    on top of CLUSTER_SETTINGS; brokers 1..`brokers` (default --cluster-brokers)
    are started in parallel unless start=False (then the test starts them, e.g.
    with per-broker settings). Skips under --bootstrap.
    """
    if external_bootstrap:
        pytest.skip("needs to start kwire brokers itself; not possible with --bootstrap")
    env = request.getfixturevalue("bookkeeper")
    made: list[KwireCluster] = []

    def make(settings: dict[str, str] | None = None, brokers: int | None = None,
             start: bool = True) -> KwireCluster:
        cluster = KwireCluster(tmp_path / f"cluster-{len(made)}", env=env,
                               settings={**CLUSTER_SETTINGS, **(settings or {})})
        made.append(cluster)
        if start:
            cluster.start_brokers(range(1, (brokers or cluster_brokers) + 1))
        return cluster

    yield make
    for cluster in made:
        cluster.close()


@pytest.fixture(scope="session")
def find_coordinator() -> Callable[[str, str], tuple[int, str]]:
    """find_coordinator(bootstrap, group) -> (node id, "host:port") of its coordinator."""
    return find_coordinator_at


@pytest.fixture(scope="session")
def kafka_tools() -> KafkaTools:
    """Kafka 4.4.0's Java tools. Missing java or jars is a failure, never a skip."""
    try:
        return KafkaTools.locate()
    except RuntimeError as e:
        pytest.fail(f"Kafka Java tools unavailable: {e}", pytrace=False)


@pytest.fixture
def topic_name(request: pytest.FixtureRequest) -> str:
    """A topic name unique to this test (Kafka-legal characters only)."""
    base = "".join(c if c.isalnum() or c in "._-" else "-" for c in request.node.name)
    return f"compat-{base[:150]}-{uuid.uuid4().hex[:8]}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # noqa: ANN201
    """On failure, attach the log tail of the session kwire and of this test's kwires."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for i, p in enumerate(ALL_PROCESSES):
            if p.log_path.exists():
                report.sections.append(
                    (f"kwire log #{i} ({p.log_path}), last 200 lines", p.log_tail(200)))


# -- BookKeeper: a real ZooKeeper + bookies for cluster-storage tests ----------------

from bk_java import BkJava  # noqa: E402
from bookkeeper_env import BookKeeperEnv, BookKeeperEnvError, find_java  # noqa: E402


@pytest.fixture(scope="session")
def bookkeeper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BookKeeperEnv]:
    """ZooKeeper + 4 bookies (E3/W2/A2 fault tests need a spare), shared by the session.

    Skips only when there is no Java; any other start-up problem is a failure.
    Tests share the ledgers root (bookies register under one /ledgers), so keep
    your own znodes under `bookkeeper.new_chroot()`; a test that kills or freezes a
    bookie must call `bookkeeper.heal()` in a finally, for the tests after it.
    Logs: <pytest tmp>/bookkeeper0/{zk,bookie-I}/*.log.
    """
    try:
        find_java()
    except BookKeeperEnvError as e:
        pytest.skip(f"BookKeeper tests need Java: {e}")
    try:  # jars are fetched here (a no-op when cached), then every JVM started
        env = BookKeeperEnv(bookies=4, base_dir=tmp_path_factory.mktemp("bookkeeper")).start()
    except BookKeeperEnvError as e:
        pytest.fail(f"could not start ZooKeeper + bookies: {e}", pytrace=False)
    try:
        yield env
    finally:
        env.shutdown()


@pytest.fixture(scope="session")
def bk_java() -> BkJava:
    """The Java BookKeeper client as a program (compat-tests/java/BkInterop.java)."""
    try:
        find_java()
    except BookKeeperEnvError as e:
        pytest.skip(f"BookKeeper interop tests need Java: {e}")
    try:
        return BkJava.locate()
    except BookKeeperEnvError as e:
        pytest.fail(f"Java BookKeeper client unavailable: {e}", pytrace=False)
