"""Fetch sessions (KIP-227) with raw requests and real clients.

The raw sequences assert only what Kafka 4.4.0 itself answers: they were run with
`--bootstrap` against a reference broker (scripts/run-kafka.sh) and pass there.
The client tests consume a 1,000-partition topic with Kafka's Java consumer
(which uses incremental sessions) and with librdkafka (which fetches
sessionless), and check on kwire's side that the Java consumer's fetches were
incremental.
"""

from __future__ import annotations

import io
import re
import socket
import struct
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import ALL_PROCESSES, KwireProcess
from kio.index import load_request_schema, load_response_schema
from kio.serial import entity_reader, entity_writer

from kwire.protocol.codec import build, is_flexible
from kwire.records.builder import build_batch

pytestmark = pytest.mark.timeout(300)

CONSUMER = "org.apache.kafka.tools.consumer.ConsoleConsumer"
ZERO = uuid.UUID(int=0)


class RawClient:
    """One connection; requests encoded with kio exactly as a client would."""

    def __init__(self, bootstrap: str) -> None:
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.correlation = 0

    def close(self) -> None:
        self.sock.close()

    def call(self, api_key: int, version: int, body: dict[str, Any]) -> Any:
        self.correlation += 1
        header = struct.pack(">hhih", api_key, version, self.correlation, 3) + b"raw"
        if is_flexible(api_key, version):
            header += b"\x00"
        cls = load_request_schema(api_key, version)
        out = io.BytesIO()
        entity_writer(cls)(out, build(cls, body))  # type: ignore[arg-type]
        frame = header + out.getvalue()
        self.sock.sendall(struct.pack(">i", len(frame)) + frame)
        (size,) = struct.unpack(">i", self._exact(4))
        raw = self._exact(size)
        assert struct.unpack_from(">i", raw)[0] == self.correlation
        pos = 5 if is_flexible(api_key, version) else 4
        response, _ = entity_reader(load_response_schema(api_key, version))(raw, pos)
        return response

    def _exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            buf += chunk
        return bytes(buf)

    def create_topic(self, name: str, partitions: int) -> uuid.UUID:
        deadline = time.monotonic() + 30
        while True:
            r = self.call(19, 7, {"topics": [{"name": name, "num_partitions": partitions,
                                              "replication_factor": 1, "assignments": (),
                                              "configs": ()}],
                                  "timeout": 30000, "validate_only": False})
            code = r.topics[0].error_code
            if code == 0:
                break
            # Kafka deletes a topic asynchronously: re-creating may have to wait.
            assert code == 36 and time.monotonic() < deadline, r
            time.sleep(0.5)
        return self.topic_id(name)

    def topic_id(self, name: str) -> uuid.UUID:
        deadline = time.monotonic() + 30
        while True:
            m = self.call(3, 12, {"topics": [{"name": name, "topic_id": ZERO}],
                                  "allow_auto_topic_creation": False,
                                  "include_topic_authorized_operations": False})
            t = m.topics[0]
            if t.error_code == 0 and all(p.leader_id >= 0 for p in t.partitions):
                return uuid.UUID(str(t.topic_id))
            assert time.monotonic() < deadline, m
            time.sleep(0.2)

    def produce(self, name: str, partition: int, n: int) -> None:
        batch = build_batch([(None, b"v%d" % i, []) for i in range(n)], base_timestamp=1)
        deadline = time.monotonic() + 30
        while True:
            r = self.call(0, 9, {"transactional_id": None, "acks": -1, "timeout": 30000,
                                 "topic_data": [{"name": name, "partition_data": [
                                     {"index": partition, "records": batch}]}]})
            code = r.responses[0].partition_responses[0].error_code
            if code == 0:
                return
            # Kafka's broker may learn it leads a new partition after Metadata says so.
            assert code in (3, 6) and time.monotonic() < deadline, r
            time.sleep(0.2)

    def delete_topic(self, name: str) -> None:
        r = self.call(20, 6, {"topics": [{"name": name, "topic_id": ZERO}], "timeout": 30000})
        assert r.responses[0].error_code == 0, r


@pytest.fixture
def raw(broker: Any) -> Iterator[RawClient]:
    client = RawClient(broker.bootstrap)
    yield client
    client.close()


def body(topics: dict[Any, dict[int, int]], session_id: int, epoch: int, version: int,
         forgotten: dict[Any, list[int]] | None = None) -> dict[str, Any]:
    key = "topic_id" if version >= 13 else "topic"
    out: dict[str, Any] = {
        "max_wait": 0, "min_bytes": 1, "max_bytes": 50 << 20, "isolation_level": 0,
        "session_id": session_id, "session_epoch": epoch, "rack_id": "",
        "topics": [{key: t, "partitions": [
            {"partition": p, "fetch_offset": o, "partition_max_bytes": 1 << 20,
             "log_start_offset": -1, "current_leader_epoch": -1, "last_fetched_epoch": -1}
            for p, o in parts.items()]} for t, parts in topics.items()],
        "forgotten_topics_data": [{key: t, "partitions": ps}
                                  for t, ps in (forgotten or {}).items()],
    }
    if version < 15:
        out["replica_id"] = -1
    return out


def seen(r: Any, version: int) -> dict[tuple[Any, int], tuple[int, int, bool]]:
    """(topic, partition) -> (error, high watermark, has records)."""
    return {((uuid.UUID(str(t.topic_id)) if version >= 13 else t.topic), p.partition_index):
            (p.error_code, p.high_watermark, bool(p.records))
            for t in r.responses for p in t.partitions}


@pytest.mark.parametrize("session_id", [0, 777, -1])
def test_sessionless_fetches(raw: RawClient, topic_name: str, session_id: int) -> None:
    raw.create_topic(topic_name, 2)
    raw.produce(topic_name, 0, 3)
    raw.produce(topic_name, 1, 2)
    for version in (7, 12):
        r = raw.call(1, version, body({topic_name: {0: 0, 1: 0}}, session_id, -1, version))
        assert (r.error_code, r.session_id) == (0, 0)
        assert seen(r, version) == {(topic_name, 0): (0, 3, True), (topic_name, 1): (0, 2, True)}


@pytest.mark.parametrize("version", [12, 13, 17])
def test_incremental_sequence(raw: RawClient, topic_name: str, version: int) -> None:
    tid = raw.create_topic(topic_name, 3)
    t = tid if version >= 13 else topic_name
    raw.produce(topic_name, 0, 2)
    r = raw.call(1, version, body({t: {0: 0, 1: 0, 2: 0}}, 0, 0, version))
    assert r.error_code == 0 and r.session_id > 0
    sid = r.session_id
    assert seen(r, version) == {(t, 0): (0, 2, True), (t, 1): (0, 0, False),
                                (t, 2): (0, 0, False)}
    # Only partition 0's offset changed, and nothing is new: an empty answer.
    r = raw.call(1, version, body({t: {0: 2}}, sid, 1, version))
    assert (r.error_code, r.session_id, seen(r, version)) == (0, sid, {})
    raw.produce(topic_name, 2, 1)
    r = raw.call(1, version, body({}, sid, 2, version))
    assert seen(r, version) == {(t, 2): (0, 1, True)}
    # The offset was not moved: the same records again.
    r = raw.call(1, version, body({}, sid, 3, version))
    assert seen(r, version) == {(t, 2): (0, 1, True)}
    r = raw.call(1, version, body({t: {2: 1}}, sid, 4, version))
    assert seen(r, version) == {}
    # A repeated epoch, an unknown session id, names/ids mixed in one session.
    r = raw.call(1, version, body({}, sid, 4, version))
    assert (r.error_code, r.session_id, seen(r, version)) == (71, 0, {})
    r = raw.call(1, version, body({}, sid ^ 1, 1, version))
    assert (r.error_code, r.session_id) == (70, 0)
    other = 12 if version >= 13 else 13
    r = raw.call(1, other, body({}, sid, 5, other))
    assert (r.error_code, r.session_id) == (106, 0)
    r = raw.call(1, version, body({}, sid, 5, version))
    assert (r.error_code, r.session_id, seen(r, version)) == (0, sid, {})
    # Forgetting partitions; forgetting the last one ends the session.
    r = raw.call(1, version, body({}, sid, 6, version, forgotten={t: [0, 1]}))
    assert (r.error_code, r.session_id) == (0, sid)
    raw.produce(topic_name, 0, 1)
    r = raw.call(1, version, body({}, sid, 7, version))
    assert seen(r, version) == {}
    r = raw.call(1, version, body({}, sid, 8, version, forgotten={t: [2]}))
    assert (r.error_code, r.session_id, seen(r, version)) == (0, 0, {})
    r = raw.call(1, version, body({}, sid, 9, version))
    assert r.error_code == 70
    # A full fetch naming a session id with epoch -1 closes it, answering sessionless.
    r = raw.call(1, version, body({t: {0: 0}}, 0, 0, version))
    sid = r.session_id
    r = raw.call(1, version, body({t: {0: 3}}, sid, -1, version))
    assert (r.error_code, r.session_id, seen(r, version)) == (0, 0, {(t, 0): (0, 3, False)})
    r = raw.call(1, version, body({}, sid, 1, version))
    assert r.error_code == 70


def test_unknown_and_recreated_topic_ids(raw: RawClient, topic_name: str) -> None:
    old = raw.create_topic(topic_name, 1)
    ghost = uuid.uuid4()
    raw.produce(topic_name, 0, 2)
    r = raw.call(1, 13, body({old: {0: 0}, ghost: {0: 0}}, 0, 0, 13))
    assert seen(r, 13) == {(old, 0): (0, 2, True), (ghost, 0): (100, -1, False)}
    assert [uuid.UUID(str(t.topic_id)) for t in r.responses] == [old, ghost]
    sid = r.session_id
    r = raw.call(1, 13, body({old: {0: 2}}, sid, 1, 13))
    assert seen(r, 13) == {(ghost, 0): (100, -1, False)}  # errors are always answered
    raw.delete_topic(topic_name)
    new = raw.create_topic(topic_name, 1)
    assert new != old
    # The session's partition keeps the old id and the name it had: the log under
    # that name now has another id.
    r = raw.call(1, 13, body({}, sid, 2, 13))
    assert {k: v[0] for k, v in seen(r, 13).items()} == {(old, 0): 103, (ghost, 0): 100}
    r = raw.call(1, 13, body({old: {0: 0}}, 0, -1, 13))
    assert {k: v[0] for k, v in seen(r, 13).items()} == {(old, 0): 100}


def test_edge_cases(raw: RawClient, topic_name: str) -> None:
    raw.create_topic(topic_name, 3)
    t = topic_name
    # Session ids no cache shard hands out (Kafka: 8 ranges of 2^31 // 8) fail the
    # whole request, which echoes the session id; other unknown ids are error 70.
    for sid, epoch in [(2**31 - 1, 1), (-300_000_000, 1), (2**31 - 1, 0), (-300_000_000, -1)]:
        r = raw.call(1, 12, body({t: {0: 0}}, sid, epoch, 12))
        assert (r.error_code, r.session_id) == (-1, sid)
        assert seen(r, 12) == {(t, 0): (-1, -1, False)}
    for sid, epoch in [(-5, 1), (0, 1), (0, -2)]:
        r = raw.call(1, 12, body({t: {0: 0}}, sid, epoch, 12))
        assert (r.error_code, r.session_id, seen(r, 12)) == (70, 0, {})
    # An unknown topic is answered after the others and does not end the long poll.
    b = body({"no-such-topic-here": {0: 0}, t: {0: 0}}, 0, -1, 12)
    b["max_wait"] = 500
    start = time.monotonic()
    r = raw.call(1, 12, b)
    assert time.monotonic() - start >= 0.45
    assert [x.topic for x in r.responses] == [t, "no-such-topic-here"]
    assert r.responses[1].partitions[0].error_code == 3
    # A response budget too small for all: the session serves partitions in turn
    # (one that returned records goes to the back).
    for p in range(3):
        for _ in range(3):
            raw.produce(t, p, 30)
    b = body({t: {0: 0, 1: 0, 2: 0}}, 0, 0, 12)
    b["max_bytes"] = 100
    r = raw.call(1, 12, b)
    sid = r.session_id
    assert [k[1] for k, v in seen(r, 12).items() if v[2]] == [0]
    order = []
    for epoch in range(1, 5):
        b = body({}, sid, epoch, 12)
        b["max_bytes"] = 100
        r = raw.call(1, 12, b)
        order.append([k[1] for k, v in seen(r, 12).items() if v[2]])
    assert order == [[0], [1], [2], [0]]


# --- real clients on 1,000 partitions ---------------------------------------------------

PARTITIONS = 1000
PER_PARTITION = 5


class DebugKwire(KwireProcess):
    """kwire with DEBUG logging, whose fetch-session lines show what was used."""

    def command(self, port: int) -> list[str]:
        return [*super().command(port), "--log-level", "DEBUG"]


@pytest.fixture
def debug_kwire(external_bootstrap: str | None, tmp_path: Path) -> Iterator[KwireProcess]:
    if external_bootstrap:
        pytest.skip("reads kwire's own log; not possible with --bootstrap")
    proc = DebugKwire(tmp_path / "data", tmp_path / "kwire.log")
    proc.start()
    try:
        yield proc
    finally:
        proc.close()
        ALL_PROCESSES.remove(proc)


def _fill(bootstrap: str, topic: str) -> set[str]:
    from confluent_kafka import Producer

    raw = RawClient(bootstrap)
    try:
        raw.create_topic(topic, PARTITIONS)
    finally:
        raw.close()
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5,
                         "enable.idempotence": True})
    values = set()
    for p in range(PARTITIONS):
        for i in range(PER_PARTITION):
            value = f"{p}-{i}"
            values.add(value)
            producer.produce(topic, value.encode(), partition=p)
        producer.poll(0)
    assert producer.flush(60) == 0
    return values


@pytest.mark.java
def test_java_consumer_uses_incremental_sessions_on_1000_partitions(
        debug_kwire: KwireProcess, kafka_tools: Any, topic_name: str) -> None:
    expected = _fill(debug_kwire.bootstrap, topic_name)
    rc, out, err = kafka_tools.run(
        CONSUMER, "--bootstrap-server", debug_kwire.bootstrap, "--topic", topic_name,
        "--from-beginning", "--max-messages", str(len(expected)), "--timeout-ms", "60000",
        "--group", f"g-{topic_name}",
        # Small responses, so that reading everything takes many fetches of the session.
        "--command-property", "fetch.max.bytes=8192", timeout=240)
    assert rc == 0, err[-3000:]
    got = out.split()
    assert len(got) == len(expected) and set(got) == expected
    text = debug_kwire.log_path.read_text()
    created = re.findall(r"created fetch session (\d+) with (\d+) partitions", text)
    assert any(int(n) == PARTITIONS for _sid, n in created), created
    sessions = {sid for sid, n in created if int(n) == PARTITIONS}
    incremental = re.findall(r"incremental fetch of session (\d+), epoch (\d+): (\d+) of "
                             r"(\d+) partitions in the request", text)
    mine = [(int(e), int(inreq), int(total)) for sid, e, inreq, total in incremental
            if sid in sessions]
    # Many incremental fetches, each naming only a part of the session's partitions.
    assert len(mine) >= 5, len(mine)
    assert all(total == PARTITIONS and inreq < PARTITIONS for _e, inreq, total in mine)
    assert max(e for e, _i, _t in mine) >= 5


def test_librdkafka_consumes_1000_partitions(broker: Any, topic_name: str) -> None:
    from confluent_kafka import Consumer, TopicPartition

    expected = _fill(broker.bootstrap, topic_name)
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"g-{topic_name}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        consumer.assign([TopicPartition(topic_name, p, 0) for p in range(PARTITIONS)])
        got: list[str] = []
        deadline = time.monotonic() + 120
        while len(got) < len(expected) and time.monotonic() < deadline:
            for msg in consumer.consume(1000, timeout=1.0):
                assert msg.error() is None, msg.error()
                got.append(msg.value().decode())
    finally:
        consumer.close()
    assert len(got) == len(expected) and set(got) == expected
