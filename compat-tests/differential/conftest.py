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

from diff_runner import Brokers, warm_up  # noqa: E402
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
    "message.max.bytes": "1048588",
    "log.retention.hours": "168",
    "log.cleanup.policy": "delete",
    "compression.type": "producer",
}


@pytest.fixture(scope="session")
def brokers(tmp_path_factory: pytest.TempPathFactory, kafka_tools: KafkaTools) -> Iterator[Brokers]:
    root = tmp_path_factory.mktemp("differential")
    kwire = KwireProcess(root / "kwire-data", root / "kwire.log", COMMON_SETTINGS)
    kafka = KafkaRefProcess(root / "kafka-data", root / "kafka.log", kafka_tools, COMMON_SETTINGS)
    # Their logs stay in the temp dir; attaching them to every failing scenario
    # (compat-tests/conftest.py does that for ALL_PROCESSES) would bury the diff.
    ALL_PROCESSES.remove(kwire)
    ALL_PROCESSES.remove(kafka)
    errors: list[BaseException] = []

    def start(p: KwireProcess) -> None:
        try:
            p.start()
        except BaseException as exc:  # noqa: BLE001 - re-raised below, in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(p,)) for p in (kwire, kafka)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        if errors:
            raise errors[0]
        assert kwire.port is not None and kafka.port is not None
        brokers = Brokers(kwire=("127.0.0.1", kwire.port), kafka=("127.0.0.1", kafka.port))
        warm_up(brokers.kwire)
        warm_up(brokers.kafka)
        yield brokers
    finally:
        for p in (kwire, kafka):
            p.close()
