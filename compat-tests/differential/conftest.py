"""Session fixtures for the differential harness: one kwire and one real Apache
Kafka 4.4.0 (KRaft, single node, from the Maven jars), started once per session
and in parallel (Kafka's JVM start dominates), with the same settings so that
any difference in their answers is kwire's, not the setup's.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from diff_runner import PROFILES, Brokers, warm_up  # noqa: E402
from harness import ALL_PROCESSES, KafkaRefProcess, KafkaTools, KwireProcess  # noqa: E402

# Settings both brokers get (Kafka's names; kwire reads the same properties).
# node.id is 1 on both (KafkaRefProcess fixes it), so node ids compare unmasked.
# One __consumer_offsets partition keeps Kafka's first FindCoordinator quick.
COMMON_SETTINGS: dict[str, str] = {
    "node.id": "1",
    "num.partitions": "1",
    "default.replication.factor": "1",
    "auto.create.topics.enable": "true",
    "delete.topic.enable": "true",
    "group.initial.rebalance.delay.ms": "0",
    "group.min.session.timeout.ms": "6000",
    "group.max.session.timeout.ms": "1800000",
    "offsets.topic.num.partitions": "1",
    # run-kafka.sh sets these for a single-node Kafka; kwire's defaults are Kafka's, 3.
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.replication.factor": "1",
    "message.max.bytes": "1048588",
    "log.retention.hours": "168",
    "log.cleanup.policy": "delete",
    "compression.type": "producer",
    # KIP-848 (diff_sc_consumer_groups): ConsumerGroupHeartbeat/Describe on both. This is
    # Kafka 4.4's default list, so Kafka runs as it does unset; kwire's default is
    # classic,consumer and it accepts "streams" (no streams groups: ignored), so
    # DescribeConfigs shows the same value on both.
    "group.coordinator.rebalance.protocols": "classic,consumer,streams",
}


@pytest.fixture(scope="session")
def brokers(tmp_path_factory: pytest.TempPathFactory, kafka_tools: KafkaTools) -> Iterator[Brokers]:
    """The default pair; `.profiles` holds the pairs of the other PROFILES. All
    processes start at once (Kafka's JVM start dominates, ~10-25 s)."""
    root = tmp_path_factory.mktemp("differential")
    procs: dict[str, tuple[KwireProcess, KwireProcess]] = {}
    for profile, overrides in PROFILES.items():
        settings = {**COMMON_SETTINGS, **overrides}
        procs[profile] = (
            KwireProcess(root / f"kwire-{profile}", root / f"kwire-{profile}.log", settings),
            KafkaRefProcess(root / f"kafka-{profile}", root / f"kafka-{profile}.log",
                            kafka_tools, settings))
    everything = [p for pair in procs.values() for p in pair]
    # Their logs stay in the temp dir; attaching them to every failing scenario
    # (compat-tests/conftest.py does that for ALL_PROCESSES) would bury the diff.
    for p in everything:
        ALL_PROCESSES.remove(p)
    errors: list[BaseException] = []

    def start(p: KwireProcess) -> None:
        try:
            p.start()
        except BaseException as exc:  # noqa: BLE001 - re-raised below, in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(p,)) for p in everything]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        if errors:
            raise errors[0]
        pairs = {}
        for profile, (kw, kf) in procs.items():
            assert kw.port is not None and kf.port is not None
            pairs[profile] = Brokers(kwire=("127.0.0.1", kw.port), kafka=("127.0.0.1", kf.port))
            warm_up(pairs[profile].kwire)
            warm_up(pairs[profile].kafka)
        default = pairs.pop("default")
        yield Brokers(default.kwire, default.kafka, profiles=pairs)
    finally:
        for p in everything:
            p.close()
