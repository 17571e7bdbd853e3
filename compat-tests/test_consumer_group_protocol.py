"""KIP-848 consumer groups (group.protocol=consumer) with librdkafka against kwire.

kwire serves the consumer protocol while `group.coordinator.rebalance.protocols`
names it (the default). The test checks what a client sees: ApiVersions advertises
ConsumerGroupHeartbeat/Describe only then; two members split six partitions and
read every record once; when one closes, the other gets its partitions and
resumes at the committed offsets; ConsumerGroupDescribe (AdminClient) shows the
group as Kafka 4.4 does (type consumer, state Stable, the uniform assignor).
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from confluent_kafka import Consumer, ConsumerGroupState, ConsumerGroupType, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from harness import KwireProcess

if TYPE_CHECKING:
    from conftest import Broker

CLASSIC_ONLY = {"group.coordinator.rebalance.protocols": "classic"}
PARTITIONS = 6
RECORDS = 1200


def api_versions(bootstrap: str) -> list[tuple[int, int, int]]:
    """ApiVersions v0 over a raw socket: (api key, min, max) as the broker advertises."""
    host, port = bootstrap.rsplit(":", 1)
    client = b"kip848-test"
    body = struct.pack(">hhih", 18, 0, 1, len(client)) + client
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", _read(sock, 4))[0]
        data = _read(sock, size)
    _corr, error, count = struct.unpack(">ihi", data[:10])
    assert error == 0
    return [struct.unpack(">hhh", data[10 + 6 * i:16 + 6 * i]) for i in range(count)]


def _read(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        assert chunk, "connection closed"
        buf += chunk
    return buf


def _consumer(bootstrap: str, group: str) -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                     "group.protocol": "consumer", "auto.offset.reset": "earliest",
                     "enable.auto.commit": False})


def _poll_until(consumers: list[Consumer], seen: list[list[tuple[int, int]]],
                done: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out; seen {[len(s) for s in seen]}"
        for i, consumer in enumerate(consumers):
            msg = consumer.poll(0.1)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            seen[i].append((msg.partition(), msg.offset()))
            consumer.commit(msg, asynchronous=False)


def test_consumer_protocol_is_advertised_only_when_enabled(
        kwire_factory: Callable[..., KwireProcess]) -> None:
    """Enabled by default, as in Kafka 4.4; off when the setting leaves it out."""
    on = kwire_factory().start()
    ranges = {k: (lo, hi) for k, lo, hi in api_versions(on.bootstrap)}
    assert ranges[68] == (0, 1) and ranges[69] == (0, 1)
    on.stop()
    off = kwire_factory(CLASSIC_ONLY, name="kwire-classic").start()
    keys = {k for k, _lo, _hi in api_versions(off.bootstrap)}
    assert 68 not in keys and 69 not in keys


def test_two_members_split_and_hand_over(broker: Broker, topic_name: str) -> None:
    """Against the session broker: one kwire, or the 3-broker cluster of the
    cluster stage (the group's coordinator then is one broker among three)."""
    bootstrap = broker.bootstrap
    topic, group = topic_name, f"g-{topic_name}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(10)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for i in range(RECORDS):
        producer.produce(topic, value=str(i).encode(), partition=i % PARTITIONS)
    assert producer.flush(10) == 0

    members = [_consumer(bootstrap, group), _consumer(bootstrap, group)]
    for m in members:
        m.subscribe([topic])
    seen: list[list[tuple[int, int]]] = [[], []]
    _poll_until(members, seen, lambda: sum(map(len, seen)) >= RECORDS // 2
                and all(m.assignment() for m in members), 30)
    owned = [sorted(tp.partition for tp in m.assignment()) for m in members]
    assert sorted(owned[0] + owned[1]) == list(range(PARTITIONS)), owned
    assert {len(o) for o in owned} == {PARTITIONS // 2}, owned

    described = admin.describe_consumer_groups([group])[group].result(10)
    assert described.type == ConsumerGroupType.CONSUMER
    assert described.state == ConsumerGroupState.STABLE
    assert described.partition_assignor == "uniform"
    assert len(described.members) == 2

    # The first member leaves; the second takes over its partitions and reads the
    # rest of every partition once, from the committed offsets.
    members[0].close()
    _poll_until(members[1:], seen[1:], lambda: len(seen[0]) + len(seen[1]) >= RECORDS, 60)
    assert sorted(tp.partition for tp in members[1].assignment()) == list(range(PARTITIONS))
    everything = seen[0] + seen[1]
    assert len(everything) == len(set(everything)) == RECORDS, "a record was read twice"
    members[1].close()
    time.sleep(0.5)
    empty = admin.describe_consumer_groups([group])[group].result(10)
    assert empty.state == ConsumerGroupState.EMPTY
