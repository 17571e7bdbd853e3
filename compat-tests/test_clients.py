"""Each Python client × each codec: produce 10,000 keyed messages with headers and
explicit CreateTime timestamps to a 3-partition topic, read every one back,
look offsets up by timestamp, delete the topic.

What a broker must get right for this to pass: CreateTopics/Metadata with
leaders, Produce v3+ with acks=all (idempotent: InitProducerId + sequences),
storing batches of every codec untouched (checked with a raw Fetch v4 in
wire.py), Fetch from an offset (assign, no group), ListOffsets by timestamp /
latest, DeleteTopics.
"""

from __future__ import annotations

import random
import time
import zlib
from collections import defaultdict

import pytest
from clients import CLIENT_NAMES, CODECS, Message, codec_unavailable, make_client
from kafka.admin import KafkaAdminClient
from wire import CODEC_IDS, fetch_batches

N_MESSAGES = 10_000
PARTITIONS = 3
WORDS = [b"kafka", b"kwire", b"offset", b"batch", b"leader", b"epoch", b"segment",
         b"partition", b"record", b"header", b"0123456789", b"zstd", b"lz4", b"snappy"]


def make_messages(client_name: str, n: int, seed: int) -> list[Message]:
    rng = random.Random(seed)
    # 10 minutes in the past, 1 ms apart: inside Kafka 4's default
    # message.timestamp.{before,after}.max.ms window, strictly increasing.
    base_ts = int(time.time() * 1000) - 600_000
    out = []
    for i in range(n):
        size = rng.randint(100, 300)
        text = b" ".join(rng.choice(WORDS) for _ in range(size // 5))
        tail = bytes(rng.randrange(256) for _ in range(16))  # every byte value, not just text
        value = b"%08d|" % i + text[: size - 25] + tail  # 100-300 bytes
        key = b"key-%d" % rng.randrange(500)
        headers = (("idx", str(i).encode()), ("client", client_name.encode()),
                   ("bin", tail), ("empty", b""), ("idx", b"repeated key"))
        out.append(Message(key, value, headers, base_ts + i))
    return out


def leader_addresses(broker, topic: str) -> dict[int, str]:  # noqa: ANN001
    """partition -> "host:port" of its leader, for the raw Fetch: the broker itself
    on a single node; in a cluster (--cluster-brokers), each partition's leader."""
    if broker.cluster is None:
        return dict.fromkeys(range(PARTITIONS), broker.bootstrap)
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, client_id="compat-leaders")
    try:
        (t,) = admin.describe_topics([topic])
    finally:
        admin.close()
    return {p["partition_index"]: broker.cluster.brokers[p["leader_id"]].bootstrap
            for p in t["partitions"]}


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("client_name", CLIENT_NAMES)
def test_produce_consume_roundtrip(broker, client_name: str, codec: str, topic_name: str) -> None:
    reason = codec_unavailable(client_name, codec)
    if reason:
        pytest.skip(reason)
    client = make_client(client_name, broker.bootstrap)
    try:
        client.create_topic(topic_name, PARTITIONS)
        seed = zlib.crc32(f"{client_name}/{codec}".encode())
        msgs = make_messages(client_name, N_MESSAGES, seed)

        acks = client.produce(topic_name, msgs, codec=codec, idempotent=True)
        assert len(acks) == len(msgs)

        # -- what the producer was told --------------------------------------
        by_part: dict[int, list[tuple[int, int]]] = defaultdict(list)  # p -> [(offset, idx)]
        key_part: dict[bytes | None, int] = {}
        for idx, (p, off) in enumerate(acks):
            assert 0 <= p < PARTITIONS, f"message {idx} acked on partition {p}"
            by_part[p].append((off, idx))
            assert key_part.setdefault(msgs[idx].key, p) == p, "one key went to two partitions"
        assert sorted(by_part) == list(range(PARTITIONS)), "keys should spread over all partitions"
        for p, rows in by_part.items():
            offsets = [off for off, _ in rows]
            # Fresh topic + idempotent producer: offsets 0..n-1, each once, in send order.
            assert offsets == list(range(len(rows))), (
                f"partition {p}: acked offsets not 0..n-1 in send order")

        # -- the stored batches, seen without a client library ------------------
        leaders = leader_addresses(broker, topic_name)
        for p in range(PARTITIONS):
            batches = fetch_batches(leaders[p], topic_name, p, 0)
            assert batches, f"partition {p}: raw Fetch returned no batch"
            assert batches[0].base_offset == 0
            for prev, b in zip(batches, batches[1:], strict=False):
                assert b.base_offset == prev.base_offset + prev.last_offset_delta + 1, (
                    f"partition {p}: batches not contiguous")
            for b in batches:
                assert b.magic == 2 and b.crc_ok, f"partition {p}: batch {b}"
                assert b.codec == CODEC_IDS[codec], (
                    f"partition {p}: batch at {b.base_offset} has codec {b.codec}, "
                    f"expected {CODEC_IDS[codec]} ({codec}) as the producer wrote it")

        # -- consume every partition back ---------------------------------------
        for p, rows in sorted(by_part.items()):
            recs = client.consume_partition(topic_name, p, 0, len(rows), timeout=60)
            assert len(recs) == len(rows), (
                f"partition {p}: consumed {len(recs)} of {len(rows)} records")
            for rec, (off, idx) in zip(recs, rows, strict=True):
                m = msgs[idx]
                assert rec.partition == p
                assert rec.offset == off, f"partition {p}: offset {rec.offset}, expected {off}"
                assert rec.key == m.key, f"p{p}@{off}: key"
                assert rec.value == m.value, f"p{p}@{off}: value"
                assert rec.headers == m.headers, f"p{p}@{off}: {rec.headers} != {m.headers}"
                assert rec.timestamp_ms == m.timestamp_ms, f"p{p}@{off}: timestamp"
                assert rec.timestamp_type == 0, f"p{p}@{off}: timestamp type (0 = CreateTime)"

        # -- offsets by timestamp and end offsets --------------------------------
        ends = client.end_offsets(topic_name, range(PARTITIONS))
        assert ends == {p: len(rows) for p, rows in by_part.items()}

        mid_ts = msgs[len(msgs) // 2].timestamp_ms
        expected = {
            p: next(off for off, idx in rows if msgs[idx].timestamp_ms >= mid_ts)
            for p, rows in by_part.items()
        }
        got = client.offsets_for_times(topic_name, {p: mid_ts for p in range(PARTITIONS)})
        assert got == expected, "first offset with timestamp >= the middle timestamp"

        got = client.offsets_for_times(topic_name, {p: 0 for p in range(PARTITIONS)})
        assert got == {p: 0 for p in range(PARTITIONS)}, "timestamp 0 -> first offset"
        after_last = msgs[-1].timestamp_ms + 1
        got = client.offsets_for_times(topic_name, {p: after_last for p in range(PARTITIONS)})
        assert got == {p: None for p in range(PARTITIONS)}, "no record at/after ts -> none"

        client.delete_topic(topic_name)
    finally:
        client.close()
