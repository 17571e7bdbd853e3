"""Helpers of test_consumer_protocol.py and test_consumer_protocol_java.py (KIP-848:
ConsumerGroupHeartbeat 68, ConsumerGroupDescribe 69, `group.protocol=consumer` on the
clients).

- TARGET_SETTINGS: the broker settings every target broker gets, kwire and the
  reference Kafka alike (Kafka's names).
- target_fixture(): the modules' `target` fixture, the broker under test: a kwire
  of the module's own, or a reference Kafka 4.4 (KWIRE_VS_KAFKA=1).
- api_versions(): the broker's ApiVersions v0 answer, so a broker that does not
  advertise the KIP-848 APIs fails the tests at once instead of leaving clients
  retrying until a wait times out.
- ConsumerGroupMonitor: describe_consumer_groups (confluent-kafka's AdminClient:
  ConsumerGroupDescribe for consumer groups, DescribeGroups for classic ones)
  every `interval` s, a groups_support.GroupPoller: its answers read as
  groups_support.Snapshot (plus the group type), so the same waits serve both
  protocols.
- longest_pause(): the longest gap between consecutive records a member received
  inside a time window.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from groups_support import GroupPoller, Rec, Snapshot, wait_for
from harness import KafkaRefProcess, KafkaTools, KwireProcess

CONSUMER_GROUP_HEARTBEAT = 68
CONSUMER_GROUP_DESCRIBE = 69

# The KIP-848 timings are the broker's (the clients refuse session.timeout.ms and
# heartbeat.interval.ms with group.protocol=consumer). Kafka's defaults (45 s session,
# 5 s heartbeat, both also the minimum) would make a kill take 45 s to notice; these
# bring the consumer protocol to the classic tests' 6 s / 500 ms. The classic
# settings the tests rely on (session 6 s = group.min.session.timeout.ms) are Kafka's
# defaults; group.initial.rebalance.delay.ms=0 as the reference Kafka has it.
TARGET_SETTINGS: dict[str, str] = {
    "group.coordinator.rebalance.protocols": "classic,consumer",
    "group.consumer.session.timeout.ms": "6000",
    "group.consumer.min.session.timeout.ms": "6000",
    "group.consumer.heartbeat.interval.ms": "500",
    "group.consumer.min.heartbeat.interval.ms": "500",
    "group.initial.rebalance.delay.ms": "0",
}

VS_KAFKA = bool(os.environ.get("KWIRE_VS_KAFKA"))


def target_fixture(tmp_prefix: str) -> Any:
    """The module-scoped `target` fixture of a KIP-848 test module (`target =
    target_fixture("kip848")`): the bootstrap of the broker under test, started with
    TARGET_SETTINGS, one per parameter:
      kwire   a kwire of the module's own (--log-storage honoured); --bootstrap: that
              broker; --process-broker kafka: a reference Kafka;
      kafka44 a real Apache Kafka 4.4.0 from the Maven jars, only with KWIRE_VS_KAFKA=1.
    Its data and log go to a tmp dir named `tmp_prefix`-<parameter>."""

    # The Kafka 4.4 reference is a parameter only when asked for (KWIRE_VS_KAFKA=1):
    # it checks the tests themselves, it is not part of the suite.
    params: list[Any] = ["kwire"]
    if VS_KAFKA:
        params.append(pytest.param("kafka44", marks=[pytest.mark.java]))

    @pytest.fixture(scope="module", params=params)
    def target(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
        """Bootstrap of the broker under test, started with TARGET_SETTINGS."""
        if request.param == "kwire" and request.config.getoption("--bootstrap"):
            yield request.config.getoption("--bootstrap")
            return
        root = tmp_path_factory.mktemp(f"{tmp_prefix}-{request.param}")
        proc: KwireProcess
        if request.param == "kafka44" or request.config.getoption("--process-broker") == "kafka":
            tools: KafkaTools = request.getfixturevalue("kafka_tools")
            proc = KafkaRefProcess(root / "data", root / "broker.log", tools, TARGET_SETTINGS)
        else:
            settings = dict(TARGET_SETTINGS)
            if request.config.getoption("--log-storage") == "bookkeeper":
                env = request.getfixturevalue("bookkeeper")
                settings.update({"log.storage": "bookkeeper",
                                 "zookeeper.connect": env.zk_connect_with_chroot(env.new_chroot())})
            proc = KwireProcess(root / "data", root / "broker.log", settings)
        proc.start()
        try:
            yield proc.bootstrap
        finally:
            proc.close()

    return target


def api_versions(bootstrap: str, timeout: float = 5.0) -> dict[int, tuple[int, int]]:
    """ApiVersions v0: api key -> (min, max) the broker advertises."""
    host, port = bootstrap.split(",")[0].rsplit(":", 1)
    client_id = b"compat-kip848"
    req = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(req)) + req)
        buf = b""
        while len(buf) < 4 or len(buf) < 4 + struct.unpack(">i", buf[:4])[0]:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("broker closed the connection during ApiVersions")
            buf += chunk
    _size, _corr, err, n = struct.unpack(">iihi", buf[:14])
    if err:
        raise AssertionError(f"ApiVersions v0 answered error {err}")
    out = {}
    for i in range(n):
        key, lo, hi = struct.unpack(">hhh", buf[14 + 6 * i: 20 + 6 * i])
        out[key] = (lo, hi)
    return out


def require_kip848(bootstrap: str) -> None:
    """Fail (not skip) at once when the broker does not advertise APIs 68 and 69."""
    apis = api_versions(bootstrap)
    missing = [f"{name} ({key})" for key, name in
               ((CONSUMER_GROUP_HEARTBEAT, "ConsumerGroupHeartbeat"),
                (CONSUMER_GROUP_DESCRIBE, "ConsumerGroupDescribe")) if key not in apis]
    if missing:
        raise AssertionError(
            f"the broker at {bootstrap} does not advertise {' and '.join(missing)} in "
            f"ApiVersions: group.protocol=consumer clients cannot join (started with "
            f"group.coordinator.rebalance.protocols=classic,consumer)")


def state_name(state: Any) -> str:
    """confluent-kafka's ConsumerGroupState.PREPARING_REBALANCE -> Kafka's 'PreparingRebalance'."""
    return "".join(w.capitalize() for w in state.name.split("_"))


def type_name(group_type: Any) -> str:
    """ConsumerGroupType.CONSUMER -> 'Consumer' (as kafka-consumer-groups --list --type)."""
    return group_type.name.capitalize()


@dataclass(frozen=True)
class GroupView:
    """One describe_consumer_groups answer."""

    t: float
    type: str  # Consumer, Classic, Unknown
    state: str
    assignor: str
    members: dict[str, frozenset[int]]  # client.id -> assigned partitions of the topic
    member_ids: dict[str, str]
    instance_ids: dict[str, str | None]

    def snapshot(self) -> Snapshot:
        return Snapshot(self.t, self.state, self.members, self.member_ids)


def describe(adm: AdminClient, group: str, topic: str, timeout: float = 10.0) -> GroupView:
    d = adm.describe_consumer_groups([group], request_timeout=timeout)[group].result(timeout)
    members, ids, instances = {}, {}, {}
    for m in d.members:
        tps = m.assignment.topic_partitions if m.assignment is not None else []
        members[m.client_id] = frozenset(tp.partition for tp in tps if tp.topic == topic)
        ids[m.client_id] = m.member_id
        instances[m.client_id] = m.group_instance_id
    return GroupView(time.time(), type_name(d.type), state_name(d.state),
                     d.partition_assignor or "", members, ids, instances)


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "client.id": "compat-kip848-admin"})


class ConsumerGroupMonitor(GroupPoller):
    """describe_consumer_groups every `interval` s; groups_support.GroupMonitor's
    interface (all / first_after / wait / history) plus views() and wait_view()."""

    title = "describe_consumer_groups"
    history_lines = 40
    stop_wait = 15.0

    def __init__(self, bootstrap: str, group: str, topic: str, interval: float = 0.2) -> None:
        super().__init__(f"cg-monitor-{group}", interval)
        self.adm = admin(bootstrap)
        self.group, self.topic = group, topic

    def describe_once(self) -> GroupView:
        return describe(self.adm, self.group, self.topic, timeout=5.0)

    def snapshot_of(self, answer: Any) -> Snapshot:
        return answer.snapshot()

    def shape_of(self, answer: Any) -> str:
        return f"{answer.type} {answer.snapshot().shape()}"

    def views(self) -> list[GroupView]:
        return self.answers()

    def wait_view(self, pred: Callable[[GroupView], bool], timeout: float, what: str,
                  after: float = 0.0, detail: Callable[[], str] | None = None) -> GroupView:
        def found() -> GroupView | None:
            return next((v for v in self.views() if v.t >= after and pred(v)), None)
        return wait_for(found, timeout, what, 0.05, detail=detail or self.history)


def longest_pause(recs: Iterable[Rec], start: float, end: float) -> tuple[float, float]:
    """(longest gap in s between consecutive records received in [start, end], when it
    began); the window's edges count as records, so a member silent from `start` on
    shows that silence."""
    times = sorted(t for _p, _o, _v, t in recs if start <= t <= end)
    points = [start, *times, end]
    best, at = 0.0, start
    for a, b in zip(points, points[1:], strict=False):
        if b - a > best:
            best, at = b - a, a
    return best, at


def report_line(**fields: Any) -> None:
    """One JSON line on stdout (pytest -s shows it; CI can grep 'KIP848_REPORT')."""
    print("KIP848_REPORT " + json.dumps(fields, sort_keys=True), flush=True)
