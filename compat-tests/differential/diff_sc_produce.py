"""Produce scenarios: every version from v3 (magic v2) to v13 (topic ids), valid
and broken batches, acks, compression (the producer's and the topic's), record
validation on compacted topics, idempotent sequences."""

from __future__ import annotations

import struct
import time
from typing import Any

import crc32c
from diff_records import GZIP, LZ4, NONE, SNAPPY, ZSTD, Batch, batches
from diff_runner import Ctx, add
from diff_sc_util import (
    DELETE_RECORDS,
    FETCH,
    INIT_PRODUCER_ID,
    METADATA,
    PRODUCE,
    create_topic,
    fetch_body,
    metadata_body,
    produce,
    topic_id,
    versions,
)

UNKNOWN_ID = "5f8e3c1a-0000-4000-8000-00000000dead"


def _target(ctx: Ctx, version: int, name: str) -> str | None:
    """Produce v13 names topics by id only (KIP-516)."""
    return topic_id(ctx, name) if version >= 13 else None


def _fetch_back(ctx: Ctx, name: str, offset: int = 0) -> None:
    ctx.call(FETCH, 12, fetch_body(name, None, [{"fetch_offset": offset}]))


def _per_version(v: int) -> None:
    def ok(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t)
        tid = _target(ctx, v, t)
        produce(ctx, t, Batch(records=((b"a", b"1"), (None, b"2"))), version=v, tid=tid)
        produce(ctx, t, Batch(), version=v, tid=tid)
        _fetch_back(ctx, t)

    def unknown_topic(ctx: Ctx) -> None:
        produce(ctx, ctx.name("missing"), Batch(), version=v, tid=UNKNOWN_ID if v >= 13 else None)
        # Produce never auto-creates: the topic must still be unknown.
        ctx.call(METADATA, 12, metadata_body([ctx.name("missing")]))

    def bad_partition(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t)
        produce(ctx, t, Batch(), partition=5, version=v, tid=_target(ctx, v, t))
        produce(ctx, t, Batch(), partition=-1, version=v, tid=_target(ctx, v, t))

    def bad_crc(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t)
        produce(ctx, t, Batch(bad_crc=True), version=v, tid=_target(ctx, v, t))
        _fetch_back(ctx, t)

    def idempotent(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t)
        tid = _target(ctx, v, t)
        ip = ctx.call(INIT_PRODUCER_ID, 4, {"transactional_id": None,
                                           "transaction_timeout": 60000,
                                           "producer_id": -1, "producer_epoch": -1})
        pid = ip.get("producer_id", -1) if isinstance(ip, dict) else -1
        for seq in (0, 0, 1, 5):  # first, duplicate, next, gap
            produce(ctx, t, Batch(producer_id=pid, producer_epoch=0, base_sequence=seq),
                    version=v, tid=tid)

    for what, fn in (("ok", ok), ("unknown_topic", unknown_topic),
                     ("bad_partition", bad_partition), ("bad_crc", bad_crc),
                     ("idempotent", idempotent)):
        add(f"produce/v{v}/{what}", fn)


for _v in versions(PRODUCE):
    _per_version(_v)


def _simple(sid: str, batch: Batch | bytes, configs: dict[str, str] | None = None,
            version: int = 9, acks: int = -1, fetch: bool = True) -> None:
    def fn(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t, configs=configs)
        produce(ctx, t, batch, version=version, acks=acks)
        if fetch:
            _fetch_back(ctx, t)
    add(sid, fn)


_magic1 = bytes.fromhex("0000000000000000") + struct.pack(">i", 22) + struct.pack(
    ">IbbqI", 0, 1, 0, 1_700_000_000_000, 0xFFFFFFFF) + struct.pack(">i", 1) + b"v"
_simple("produce/v9/magic_v1_message_set", _magic1)
_simple("produce/v9/magic_v3_batch", Batch(magic=3))
_simple("produce/v9/record_count_too_high", Batch(count_override=5))
_simple("produce/v9/last_offset_delta_wrong", Batch(last_offset_delta_override=7))
_simple("produce/v9/truncated_batch", Batch().encode()[:-3])
_simple("produce/v9/empty_records", b"")
_simple("produce/v9/oversized_for_topic", Batch(records=((b"k", b"x" * 3000),)),
        configs={"max.message.bytes": "1024"})
_simple("produce/v9/oversized_for_broker", Batch(records=((b"k", b"x" * 1_100_000),)))
_simple("produce/v9/acks_2_invalid", Batch(), acks=2)
_simple("produce/v9/acks_1", Batch(), acks=1)
_simple("produce/v9/nonzero_base_offset", Batch(base_offset=42))
_simple("produce/v9/client_leader_epoch", Batch(partition_leader_epoch=17))
_simple("produce/v9/control_batch_from_client", Batch(control=True))
_simple("produce/v9/transactional_without_txn", Batch(transactional=True, producer_id=1,
                                                      producer_epoch=0, base_sequence=0))
_simple("produce/v9/invalid_codec_7", Batch(codec=7))
_simple("produce/v9/headers_null_key_value", Batch(records=((None, None), (b"k", None)),
                                                  headers=(("h1", b"x"), ("h2", None))))
_simple("produce/v9/many_records", Batch(records=tuple((b"k%d" % i, b"v") for i in range(200))))
_simple("produce/v9/two_batches", batches(Batch(), Batch(records=((b"b", b"2"), (b"c", b"3")))))
_simple("produce/v9/null_records_field", b"", version=3)
for _codec, _cname in ((GZIP, "gzip"), (SNAPPY, "snappy"), (LZ4, "lz4"), (ZSTD, "zstd")):
    _simple(f"produce/v9/producer_{_cname}", Batch(codec=_codec, records=((b"k", b"v" * 50),) * 3))
_simple("produce/v6/zstd_before_v7", Batch(codec=ZSTD), version=6)
_simple("produce/v7/zstd_at_v7", Batch(codec=ZSTD), version=7)
# The topic's compression.type makes the broker recompress (or decompress).
for _tc in ("lz4", "gzip", "zstd", "snappy", "uncompressed", "producer"):
    _simple(f"produce/v9/topic_compression_{_tc}_from_none",
            Batch(records=((b"k", b"x" * 100),) * 2), configs={"compression.type": _tc})
_simple("produce/v9/topic_compression_uncompressed_from_gzip",
        Batch(codec=GZIP, records=((b"k", b"x" * 100),) * 2),
        configs={"compression.type": "uncompressed"})
_simple("produce/v9/topic_compression_gzip_from_lz4", Batch(codec=LZ4, records=((b"k", b"z"),)),
        configs={"compression.type": "gzip"})
# Compacted topics need keys (Kafka: INVALID_RECORD with record_errors).
_simple("produce/v9/compacted_keyless", Batch(records=((b"k", b"1"), (None, b"2"))),
        configs={"cleanup.policy": "compact"})
_simple("produce/v8/compacted_keyless", Batch(records=((None, b"2"),)),
        configs={"cleanup.policy": "compact"}, version=8)
_simple("produce/v7/compacted_keyless_before_record_errors", Batch(records=((None, b"2"),)),
        configs={"cleanup.policy": "compact"}, version=7)
_simple("produce/v9/compacted_keyless_compressed", Batch(codec=GZIP, records=((None, b"2"),)),
        configs={"cleanup.policy": "compact"})
_simple("produce/v9/compacted_with_keys", Batch(records=((b"k", b"1"),)),
        configs={"cleanup.policy": "compact,delete"})
_simple("produce/v9/log_append_time_topic", Batch(),
        configs={"message.timestamp.type": "LogAppendTime"})
_simple("produce/v9/timestamp_too_old", Batch(timestamp=1_000),
        configs={"message.timestamp.before.max.ms": "3600000"})


def _acks0(ctx: Ctx) -> None:
    t = ctx.name()
    create_topic(ctx, t)
    produce(ctx, t, Batch(), acks=0)
    produce(ctx, t, Batch(bad_crc=True), acks=0)
    # acks=0 gets no answer; the next request's answer must be its own.
    ctx.call(METADATA, 9, metadata_body([t]))
    _fetch_back(ctx, t)


add("produce/v9/acks_0_then_metadata", _acks0)


def _idempotent(ctx: Ctx) -> None:
    t = ctx.name()
    create_topic(ctx, t)
    ip = ctx.call(INIT_PRODUCER_ID, 4, {"transactional_id": None, "transaction_timeout": 60000,
                                       "producer_id": -1, "producer_epoch": -1})
    pid, epoch = ip.get("producer_id", -1), ip.get("producer_epoch", -1)

    def b(seq: int, ep: int = epoch, n: int = 1) -> Batch:
        return Batch(producer_id=pid, producer_epoch=ep, base_sequence=seq,
                     records=((b"k", b"v"),) * n)

    produce(ctx, t, b(0, n=2))
    produce(ctx, t, b(0, n=2))  # duplicate of the last batch: its original offset
    produce(ctx, t, b(2))
    produce(ctx, t, b(7))  # gap: OUT_OF_ORDER_SEQUENCE_NUMBER
    produce(ctx, t, b(3, ep=epoch + 5))  # epoch from the future
    produce(ctx, t, Batch(producer_id=pid + 1000, producer_epoch=0, base_sequence=0))
    produce(ctx, t, Batch(producer_id=pid, producer_epoch=epoch, base_sequence=-1))
    _fetch_back(ctx, t)


add("produce/v9/idempotent_sequences", _idempotent)


def _partial_failure(ctx: Ctx) -> None:
    t = ctx.name()
    create_topic(ctx, t, partitions=2)
    body = {"transactional_id": None, "acks": -1, "timeout": 5000, "topic_data": [
        {"name": t, "partition_data": [{"index": 0, "records": Batch().encode()},
                                       {"index": 1, "records": Batch(bad_crc=True).encode()},
                                       {"index": 9, "records": Batch().encode()}]},
        {"name": ctx.name("nope"), "partition_data": [{"index": 0, "records": Batch().encode()}]}]}
    ctx.call(PRODUCE, 9, body)


add("produce/v9/mixed_partitions_one_request", _partial_failure)


def _transactional_id_without_init(ctx: Ctx) -> None:
    t = ctx.name()
    create_topic(ctx, t)
    produce(ctx, t, Batch(transactional=True, producer_id=5, producer_epoch=0, base_sequence=0),
            transactional_id=ctx.name("txn"))


add("produce/v9/transactional_id_unknown", _transactional_id_without_init)


def _v13_by_name_only(ctx: Ctx) -> None:
    t = ctx.name()
    create_topic(ctx, t)
    produce(ctx, t, Batch(), version=13, tid=None)  # zero topic id: not a topic


add("produce/v13/zero_topic_id", _v13_by_name_only)


def _min_isr(ctx: Ctx) -> None:
    """min.insync.replicas 2 on a one-replica topic: acks=all is refused, acks=1 is not."""
    t = ctx.name()
    create_topic(ctx, t, configs={"min.insync.replicas": "2"})
    produce(ctx, t, Batch(), acks=-1)
    produce(ctx, t, Batch(), acks=1)
    _fetch_back(ctx, t)


def _future_timestamp(ctx: Ctx) -> None:
    t = ctx.name()
    create_topic(ctx, t)
    future = int(time.time() * 1000) + 3 * 3_600_000  # beyond message.timestamp.after.max.ms
    produce(ctx, t, Batch(timestamp=future))


for _sid, _fn in (("produce/v9/min_insync_replicas_2", _min_isr),
                  ("produce/v9/timestamp_in_the_future", _future_timestamp)):
    add(_sid, _fn)


def _acks0_unknown_topic(ctx: Ctx) -> None:
    """acks=0 to a topic that does not exist: no answer, but the broker may close the
    connection so the producer notices; the next request on it shows which."""
    produce(ctx, ctx.name("missing"), Batch(), acks=0)
    ctx.call(METADATA, 9, metadata_body([ctx.name("missing")]))
    ctx.call(METADATA, 9, metadata_body([ctx.name("missing")]))


add("produce/v9/acks_0_unknown_topic", _acks0_unknown_topic)


def _zero_timeout(ctx: Ctx) -> None:
    """Produce acks=all and DeleteRecords with timeout 0 on a single replica."""
    t = ctx.name()
    create_topic(ctx, t)
    body = {"transactional_id": None, "acks": -1, "timeout": 0, "topic_data": [
        {"name": t, "partition_data": [{"index": 0, "records": Batch().encode()}]}]}
    ctx.call(PRODUCE, 9, body)
    ctx.call(PRODUCE, 9, body)
    ctx.call(DELETE_RECORDS, 2, {"timeout": 0, "topics": [
        {"name": t, "partitions": [{"partition_index": 0, "offset": 1}]}]})


add("produce/v9/zero_timeout", _zero_timeout)


def _bad_inner_offsets(codec: int) -> Any:
    def fn(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t)
        produce(ctx, t, Batch(codec=codec, records=((b"a", b"1"), (b"b", b"2"), (b"c", b"3")),
                              extra={"offset_deltas": (0, 0, 5)}))
        _fetch_back(ctx, t)
    return fn


add("produce/v9/inner_offset_deltas_wrong_uncompressed", _bad_inner_offsets(NONE))
add("produce/v9/inner_offset_deltas_wrong_gzip", _bad_inner_offsets(GZIP))


def _patched(batch: Batch, patches: dict[int, int]) -> bytes:
    """The batch's bytes with single bytes replaced, CRC recomputed (so only the
    content is wrong)."""
    raw = bytearray(batch.encode())
    for pos, byte in patches.items():
        raw[pos] = byte
    struct.pack_into(">I", raw, 17, crc32c.crc32c(bytes(raw[21:])))
    return bytes(raw)


# Byte 65 is the first record's key length (zigzag varint) in a one-record batch;
# byte 22 holds the low attribute bits.
_simple("produce/v9/record_key_length_negative", _patched(Batch(), {65: 0x09}))
_simple("produce/v9/record_key_length_past_end", _patched(Batch(), {65: 0x7E}))
_simple("produce/v9/client_sets_log_append_time", _patched(Batch(), {22: 0x08}))
_simple("produce/v9/producer_id_without_epoch", Batch(producer_id=5, producer_epoch=-1,
                                                      base_sequence=0))


def _garbage_payload(codec: int) -> bytes:
    """A batch whose compressed payload is not valid for its codec (CRC valid)."""
    raw = bytearray(Batch(codec=codec, records=((b"k", b"v" * 40),)).encode())
    for i in range(61, len(raw)):
        raw[i] = 0x5A
    struct.pack_into(">I", raw, 17, crc32c.crc32c(bytes(raw[21:])))
    return bytes(raw)


def _trailing_bytes_in_batch() -> bytes:
    """One record and 3 extra bytes inside the batch (length and CRC consistent)."""
    raw = bytearray(Batch().encode() + b"\x00\x00\x00")
    struct.pack_into(">i", raw, 8, len(raw) - 12)
    struct.pack_into(">I", raw, 17, crc32c.crc32c(bytes(raw[21:])))
    return bytes(raw)


_simple("produce/v9/trailing_bytes_inside_batch", _trailing_bytes_in_batch())
_simple("produce/v9/record_header_count_negative",
        _patched(Batch(headers=(("h", b"x"),)), {69: 0x03}))
for _codec, _cname in ((GZIP, "gzip"), (SNAPPY, "snappy"), (LZ4, "lz4"), (ZSTD, "zstd")):
    _simple(f"produce/v9/garbage_{_cname}_payload", _garbage_payload(_codec))
_simple("produce/v9/fewer_records_than_counted",
        Batch(records=((b"k", b"v"),), count_override=3, last_offset_delta_override=2))
_simple("produce/v9/fewer_records_than_counted_gzip",
        Batch(codec=GZIP, records=((b"k", b"v"),), count_override=3,
              last_offset_delta_override=2))
_simple("produce/v9/log_append_time_topic_gzip", Batch(codec=GZIP, records=((b"k", b"v"),) * 3),
        configs={"message.timestamp.type": "LogAppendTime"})
