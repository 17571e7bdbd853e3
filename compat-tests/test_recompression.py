"""Broker-side recompression: a topic whose compression.type names a codec stores
every batch in that codec, whatever the producer sent, and every consumer reads
the re-encoded batches.

For each target codec: confluent-kafka produces keyed messages with headers and
CreateTime timestamps (idempotent) with one codec into a topic with
`compression.type=<target>`; a raw Fetch (wire.py) shows each stored batch in
the target codec with an intact CRC; confluent-kafka, kafka-python and Kafka's
Java console consumer read the records back exactly as produced.

Runs against kwire, or any broker with --bootstrap (Apache Kafka recompresses
the same way: LogValidator.buildRecordsAndAssignOffsets).
"""

from __future__ import annotations

import time

import pytest
from clients import Message, codec_unavailable, make_client
from wire import CODEC_IDS, fetch_batches

N_MESSAGES = 300
CONSOLE_CONSUMER = "org.apache.kafka.tools.consumer.ConsoleConsumer"
# (codec the producer uses, topic compression.type)
CASES = [
    ("none", "gzip"), ("none", "snappy"), ("none", "lz4"), ("none", "zstd"),
    ("lz4", "uncompressed"), ("gzip", "zstd"), ("zstd", "producer"),
]
TARGET_IDS = {**CODEC_IDS, "uncompressed": 0}


def _messages(n: int) -> list[Message]:
    base_ts = int(time.time() * 1000) - 60_000  # inside Kafka 4's timestamp window
    return [Message(b"key-%d" % (i % 37), b"%06d|" % i + b"recompress me " * (i % 9 + 1),
                    (("idx", str(i).encode()), ("bin", bytes([i % 256, 0, 255]))), base_ts + i)
            for i in range(n)]


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("source", "target"), CASES)
def test_recompressed_batches_are_read_by_every_consumer(
    broker, kafka_tools, topic_name: str, source: str, target: str
) -> None:
    producer = make_client("confluent-kafka", broker.bootstrap)
    producer.create_topic(topic_name, 1, {"compression.type": target})
    messages = _messages(N_MESSAGES)
    acks = producer.produce(topic_name, messages, codec=source, idempotent=True)
    assert [o for _p, o in acks] == list(range(N_MESSAGES))

    expected_codec = TARGET_IDS[source if target == "producer" else target]
    batches = fetch_batches(broker.bootstrap, topic_name, 0)
    assert sum(b.records for b in batches) == N_MESSAGES
    for b in batches:
        assert b.crc_ok and b.magic == 2, b
        assert b.codec == expected_codec, (
            f"batch at {b.base_offset} stored with codec {b.codec}, expected {expected_codec} "
            f"(producer sent {source}, topic compression.type={target})")

    want = [(m.key, m.value, m.headers, m.timestamp_ms) for m in messages]
    for name in ("confluent-kafka", "kafka-python"):
        reason = codec_unavailable(name, "none" if expected_codec == 0 else
                                   next(c for c, i in CODEC_IDS.items() if i == expected_codec))
        assert reason is None, f"{name} cannot read {target}: {reason}"
        client = make_client(name, broker.bootstrap)
        try:
            got = client.consume_partition(topic_name, 0, 0, N_MESSAGES, timeout=60)
        finally:
            client.close()
        assert [r.offset for r in got] == list(range(N_MESSAGES)), name
        assert [(r.key, r.value, r.headers, r.timestamp_ms) for r in got] == want, name
        assert {r.timestamp_type for r in got} == {0}, name

    rc, out, err = kafka_tools.run(
        CONSOLE_CONSUMER, "--bootstrap-server", broker.bootstrap, "--topic", topic_name,
        "--partition", "0", "--offset", "earliest", "--max-messages", str(N_MESSAGES),
        "--timeout-ms", "30000", "--formatter-property", "print.key=true", timeout=90)
    lines = out.splitlines()
    assert rc == 0, err
    assert len(lines) == N_MESSAGES, err
    assert lines[0] == "key-0\t000000|recompress me ", lines[0]
    assert lines[-1].startswith(f"key-{(N_MESSAGES - 1) % 37}\t{N_MESSAGES - 1:06d}|"), lines[-1]
    producer.close()
