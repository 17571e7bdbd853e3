"""Join timing of a new classic group with group.initial.rebalance.delay.ms=0,
raw JoinGroup/SyncGroup/Heartbeat clients, generation ids as Kafka's
ClassicGroup rules fix them. Run against kwire (started here with delay 0) and
against Kafka 4.4.0 (`--process-broker kafka`, or `--bootstrap` to the
reference broker of scripts/run-kafka.sh, which has delay 0): same answers.

What was found comparing the two (issue: "two rounds on kwire, one on Kafka"):
both follow the same rules (the initial delay timer fires at once, is extended
only if a member was added meanwhile, pending KIP-394 members do not hold it),
and with two librdkafka consumers started together both brokers end in
generation 1 or 2 with about the same odds. The visible difference was
latency: Kafka answers each request in 1-5 ms, so the first member's SyncGroup
for generation 1 often reached it after the second member's JoinGroup and
failed with REBALANCE_IN_PROGRESS (no assignment callback); kwire answers in
well under a millisecond, so that member was assigned generation 1 first, then
revoked. Kafka itself splits two pipelined JoinGroups into two generations
when its timer fires between them, so only the rule-fixed cases below are
compared exactly.
"""

from __future__ import annotations

import datetime
import io
import socket
import struct
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import KafkaRefProcess, KwireProcess
from kio.index import load_request_schema, load_response_schema
from kio.serial import entity_reader, entity_writer

JOIN_VERSION = 5  # librdkafka's: KIP-394 member ids, no skip_assignment
REBALANCE_IN_PROGRESS = 27
MEMBER_ID_REQUIRED = 79
PROTOCOL_METADATA = b"\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00"


class RawClient:
    """One connection; requests are kio entities, answers decoded in order."""

    def __init__(self, bootstrap: str) -> None:
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.correlation = 0

    def send(self, api_key: int, version: int, **body: Any) -> None:
        cls = load_request_schema(api_key, version)
        self.correlation += 1
        head = struct.pack(">hhih", api_key, version, self.correlation, 6) + b"timing"
        if cls.__flexible__:
            head += b"\x00"
        out = io.BytesIO()
        entity_writer(cls)(out, cls(**body))
        frame = head + out.getvalue()
        self.sock.sendall(struct.pack(">i", len(frame)) + frame)

    def recv(self, api_key: int, version: int) -> Any:
        (size,) = struct.unpack(">i", self._exact(4))
        data = self._exact(size)
        cls = load_response_schema(api_key, version)
        pos = 5 if cls.__flexible__ else 4  # correlation id (+ empty tagged fields)
        return entity_reader(cls)(data, pos)[0]

    def call(self, api_key: int, version: int, **body: Any) -> Any:
        self.send(api_key, version, **body)
        return self.recv(api_key, version)

    def _exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            buf += chunk
        return bytes(buf)

    def close(self) -> None:
        self.sock.close()


def _nested(api_key: int, version: int, name: str) -> Any:
    """A nested entity class of a request schema (kio names them as Kafka does)."""
    return getattr(sys.modules[load_request_schema(api_key, version).__module__], name)


class Member:
    def __init__(self, bootstrap: str, group: str) -> None:
        self.client = RawClient(bootstrap)
        self.group = group
        self.member_id = ""
        self.generation = -1

    def send_join(self) -> None:
        protocol_cls = _nested(11, JOIN_VERSION, "JoinGroupRequestProtocol")
        self.client.send(
            11, JOIN_VERSION, group_id=self.group,
            session_timeout=datetime.timedelta(seconds=10),
            rebalance_timeout=datetime.timedelta(seconds=10), member_id=self.member_id,
            group_instance_id=None, protocol_type="consumer",
            protocols=(protocol_cls(name="range", metadata=PROTOCOL_METADATA),))

    def recv_join(self) -> Any:
        r = self.client.recv(11, JOIN_VERSION)
        self.member_id = r.member_id
        if r.error_code == 0:
            self.generation = r.generation_id
        return r

    def join(self) -> Any:
        self.send_join()
        return self.recv_join()

    def sync(self, assignments: dict[str, bytes] | None = None) -> Any:
        assignment_cls = _nested(14, 3, "SyncGroupRequestAssignment")
        return self.client.call(
            14, 3, group_id=self.group, generation_id=self.generation,
            member_id=self.member_id, group_instance_id=None,
            assignments=tuple(assignment_cls(member_id=m, assignment=a)
                              for m, a in (assignments or {}).items()))

    def heartbeat(self) -> int:
        r = self.client.call(12, 3, group_id=self.group, generation_id=self.generation,
                             member_id=self.member_id, group_instance_id=None)
        return int(r.error_code)

    def close(self) -> None:
        self.client.close()


@pytest.fixture(scope="module")
def bootstrap(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[str]:
    """A broker with group.initial.rebalance.delay.ms=0: --bootstrap's (the
    reference Kafka has 0), else a kwire or Kafka (--process-broker) started here."""
    external = request.config.getoption("--bootstrap")
    if external:
        yield external
        return
    root: Path = tmp_path_factory.mktemp("join-timing")
    settings = {"group.initial.rebalance.delay.ms": "0"}
    proc: KwireProcess
    if request.config.getoption("--process-broker") == "kafka":
        proc = KafkaRefProcess(root / "data", root / "broker.log",
                               request.getfixturevalue("kafka_tools"), settings)
    else:
        proc = KwireProcess(root / "data", root / "broker.log", settings)
    proc.start()
    try:
        yield proc.bootstrap
    finally:
        proc.close()


@pytest.fixture
def group(bootstrap: str) -> str:
    name = f"timing-{uuid.uuid4().hex[:10]}"
    c = RawClient(bootstrap)
    try:
        deadline = time.monotonic() + 30
        while True:
            # The first lookup may create __consumer_offsets; a fresh Kafka then
            # loads the group's partition: DescribeGroups says when it is ready.
            r = c.call(10, 4, key_type=0, coordinator_keys=(name,))
            code = r.coordinators[0].error_code
            if code == 0:
                d = c.call(15, 5, groups=(name,), include_authorized_operations=False)
                code = d.groups[0].error_code
            if code == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert code == 0
    finally:
        c.close()
    return name


def test_lone_member_completes_at_once(bootstrap: str, group: str) -> None:
    a = Member(bootstrap, group)
    try:
        assert a.join().error_code == MEMBER_ID_REQUIRED
        t0 = time.monotonic()
        r = a.join()
        assert (r.error_code, r.generation_id, r.leader) == (0, 1, a.member_id)
        assert time.monotonic() - t0 < 1.0  # no initial delay
        assert [m.member_id for m in r.members] == [a.member_id]
    finally:
        a.close()


def test_pending_member_does_not_hold_the_first_generation(bootstrap: str, group: str) -> None:
    a, b = Member(bootstrap, group), Member(bootstrap, group)
    try:
        assert a.join().error_code == MEMBER_ID_REQUIRED
        assert b.join().error_code == MEMBER_ID_REQUIRED  # b never comes back with its id
        r = a.join()
        assert (r.error_code, r.generation_id) == (0, 1)
        assert [m.member_id for m in r.members] == [a.member_id]
    finally:
        a.close()
        b.close()


def test_late_member_makes_a_second_generation(bootstrap: str, group: str) -> None:
    a, b = Member(bootstrap, group), Member(bootstrap, group)
    try:
        a.join()
        assert a.join().generation_id == 1
        assert a.sync({a.member_id: b"a"}).error_code == 0
        b.join()
        b.send_join()  # parked until a rejoins
        time.sleep(0.2)
        assert a.heartbeat() == REBALANCE_IN_PROGRESS
        ra = a.join()
        rb = b.recv_join()
        assert (ra.error_code, ra.generation_id, rb.error_code, rb.generation_id) == (0, 2, 0, 2)
        assert ra.leader == rb.leader == a.member_id  # the old leader rejoined: it stays
        assert sorted(m.member_id for m in ra.members) == sorted([a.member_id, b.member_id])
    finally:
        a.close()
        b.close()


def test_back_to_back_joins_end_in_one_generation(bootstrap: str, group: str) -> None:
    """Pipelined JoinGroups: in Kafka's first generation both, or only the first
    if the initial timer fired between them; then a second one with both."""
    a, b = Member(bootstrap, group), Member(bootstrap, group)
    try:
        a.join()
        b.join()
        a.send_join()
        b.send_join()
        ra = a.recv_join()
        assert (ra.error_code, ra.generation_id) == (0, 1)
        if ra.leader != a.member_id or len(ra.members) == 2:  # b is in generation 1 too
            rb = b.recv_join()
            assert (rb.error_code, rb.generation_id) == (0, 1)
            return
        assert [m.member_id for m in ra.members] == [a.member_id]
        assert a.sync({a.member_id: b"a"}).error_code in (0, REBALANCE_IN_PROGRESS)
        assert a.heartbeat() == REBALANCE_IN_PROGRESS
        ra = a.join()
        rb = b.recv_join()
        assert (ra.generation_id, rb.generation_id) == (2, 2)
    finally:
        a.close()
        b.close()
