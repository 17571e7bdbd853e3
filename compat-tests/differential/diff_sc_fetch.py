"""Fetch, ListOffsets, OffsetForLeaderEpoch and DeleteRecords scenarios: every
version, offsets in and out of range, special timestamps, leader epochs, and
incremental fetch sessions (KIP-227)."""

from __future__ import annotations

import struct
import time
from typing import Any

import crc32c
from diff_records import FIXED_TIMESTAMP, GZIP, Batch
from diff_runner import Ctx, add
from diff_sc_util import (
    CREATE_PARTITIONS,
    DELETE_RECORDS,
    DELETE_TOPICS,
    DESCRIBE_LOG_DIRS,
    FETCH,
    LIST_OFFSETS,
    OFFSET_FOR_LEADER_EPOCH,
    create_topic,
    fetch_body,
    list_offsets_body,
    produce,
    produce_n,
    topic_id,
    versions,
)

UNKNOWN_ID = "5f8e3c1a-0000-4000-8000-00000000beef"


def _setup(ctx: Ctx, v: int, partitions: int = 1, n: int = 3) -> tuple[str, str | None]:
    """A topic with n single-record batches; its id when Fetch names topics by id (v13+)."""
    t = ctx.name()
    create_topic(ctx, t, partitions=partitions)
    produce_n(ctx, t, n)
    return t, topic_id(ctx, t) if v >= 13 else None


def _fetch(ctx: Ctx, v: int, t: str, tid: str | None, parts: list[dict[str, Any]],
           **kw: Any) -> Any:
    return ctx.call(FETCH, v, fetch_body(t, tid, parts, **kw))


def _fetch_version(v: int) -> None:
    def basic(ctx: Ctx) -> None:
        t, tid = _setup(ctx, v)
        _fetch(ctx, v, t, tid, [{"fetch_offset": 0}])
        _fetch(ctx, v, t, tid, [{"fetch_offset": 1}])
        _fetch(ctx, v, t, tid, [{"fetch_offset": 3}])  # at the high watermark: empty

    def out_of_range(ctx: Ctx) -> None:
        t, tid = _setup(ctx, v)
        _fetch(ctx, v, t, tid, [{"fetch_offset": 100}])
        _fetch(ctx, v, t, tid, [{"fetch_offset": -5}])

    def unknown_topic(ctx: Ctx) -> None:
        _fetch(ctx, v, ctx.name("missing"), UNKNOWN_ID if v >= 13 else None, [{"fetch_offset": 0}])

    def bad_partition(ctx: Ctx) -> None:
        t, tid = _setup(ctx, v)
        _fetch(ctx, v, t, tid, [{"partition": 3}])

    def leader_epoch(ctx: Ctx) -> None:
        t, tid = _setup(ctx, v)
        _fetch(ctx, v, t, tid, [{"current_leader_epoch": 5}])  # newer than the leader's
        _fetch(ctx, v, t, tid, [{"current_leader_epoch": 0}])

    cases = {"basic": basic, "out_of_range": out_of_range, "unknown_topic": unknown_topic,
             "bad_partition": bad_partition, "leader_epoch": leader_epoch}
    if v >= 7:
        cases.update(_session_cases(v))
    for what, fn in cases.items():
        add(f"fetch/v{v}/{what}", fn)


def _session_cases(v: int) -> dict[str, Any]:
    """KIP-227 fetch sessions: epoch 0 opens one, -1 is sessionless, the next epoch is
    incremental, a wrong epoch or an unknown id is an error."""

    def sid(resp: Any) -> int:
        return resp.get("session_id", 0) if isinstance(resp, dict) else 0

    def session_lifecycle(ctx: Ctx) -> None:
        t, tid = _setup(ctx, v)
        first = _fetch(ctx, v, t, tid, [{"fetch_offset": 0}], session_id=0, session_epoch=0)
        s = sid(first)
        # incremental, nothing changed: an empty answer
        _fetch(ctx, v, "", None, [], session_id=s, session_epoch=1, max_wait=10)
        produce_n(ctx, t, 1)
        # the session remembers offset 0: the partition comes back with data
        _fetch(ctx, v, "", None, [], session_id=s, session_epoch=2, max_wait=10)
        _fetch(ctx, v, t, tid, [{"fetch_offset": 4}], session_id=s, session_epoch=3, max_wait=10)
        _fetch(ctx, v, "", None, [], session_id=s, session_epoch=71, max_wait=10)  # wrong epoch
        _fetch(ctx, v, "", None, [], session_id=s, session_epoch=-1, max_wait=10)  # close it
        _fetch(ctx, v, "", None, [], session_id=s, session_epoch=5, max_wait=10)  # gone

    def sessionless(ctx: Ctx) -> None:
        t, tid = _setup(ctx, v)
        _fetch(ctx, v, t, tid, [{"fetch_offset": 0}], session_id=0, session_epoch=-1)
        _fetch(ctx, v, t, tid, [{"fetch_offset": 1}], session_id=0, session_epoch=-1)

    def unknown_session(ctx: Ctx) -> None:
        t, tid = _setup(ctx, v)
        _fetch(ctx, v, t, tid, [{"fetch_offset": 0}], session_id=70, session_epoch=1)
        _fetch(ctx, v, t, tid, [{"fetch_offset": 0}], session_id=70, session_epoch=0)

    def forgotten(ctx: Ctx) -> None:
        t, tid = _setup(ctx, v, partitions=2)
        produce_n(ctx, t, 2, partition=1)
        first = _fetch(ctx, v, t, tid, [{"fetch_offset": 0}, {"partition": 1, "fetch_offset": 0}],
                       session_id=0, session_epoch=0)
        s = sid(first)
        produce_n(ctx, t, 1, partition=1)
        produce_n(ctx, t, 1, partition=0)
        # forget partition 1: only partition 0's new data may come back
        _fetch(ctx, v, "", None, [], session_id=s, session_epoch=1, max_wait=10,
               forgotten=[{"topic": t, "topic_id": tid, "partitions": [1]}])

    return {"session_lifecycle": session_lifecycle, "sessionless": sessionless,
            "unknown_session_70": unknown_session, "session_forgotten": forgotten}


for _v in versions(FETCH):
    _fetch_version(_v)


def _fetch_extra(sid: str, fn: Any) -> None:
    add(sid, fn)


def _mid_batch(ctx: Ctx) -> None:
    t = ctx.name()
    create_topic(ctx, t)
    produce(ctx, t, Batch(records=((b"a", b"1"), (b"b", b"2"), (b"c", b"3"))))
    _fetch(ctx, 12, t, None, [{"fetch_offset": 1}])  # the whole batch holding offset 1


def _small_max_bytes(ctx: Ctx) -> None:
    t = ctx.name()
    create_topic(ctx, t)
    produce(ctx, t, Batch(records=((b"a", b"x" * 500),)))
    produce(ctx, t, Batch(records=((b"b", b"y"),)))
    _fetch(ctx, 12, t, None, [{"fetch_offset": 0, "partition_max_bytes": 10}])
    _fetch(ctx, 12, t, None, [{"fetch_offset": 0}], max_bytes=10)


def _long_poll(ctx: Ctx) -> None:
    t = ctx.name()
    create_topic(ctx, t)
    body = fetch_body(t, None, [{"fetch_offset": 0}], max_wait=300)
    body["min_bytes"] = 1
    ctx.call(FETCH, 12, body)  # nothing arrives: empty after max_wait


def _after_delete_records(ctx: Ctx) -> None:
    t, _ = _setup(ctx, 12)
    ctx.call(DELETE_RECORDS, 2, {"timeout": 5000, "topics": [
        {"name": t, "partitions": [{"partition_index": 0, "offset": 2}]}]})
    _fetch(ctx, 12, t, None, [{"fetch_offset": 0}])
    _fetch(ctx, 12, t, None, [{"fetch_offset": 2}])


def _diverging(ctx: Ctx) -> None:
    t, _ = _setup(ctx, 12)
    _fetch(ctx, 12, t, None, [{"fetch_offset": 2, "last_fetched_epoch": 3}])
    _fetch(ctx, 12, t, None, [{"fetch_offset": 2, "last_fetched_epoch": 0}])


def _read_committed(ctx: Ctx) -> None:
    t, _ = _setup(ctx, 12)
    _fetch(ctx, 12, t, None, [{"fetch_offset": 0}], isolation_level=1)


def _duplicate_partition(ctx: Ctx) -> None:
    t, _ = _setup(ctx, 12)
    _fetch(ctx, 12, t, None, [{"fetch_offset": 0}, {"fetch_offset": 1}])


def _session_by_id_then_name(ctx: Ctx) -> None:
    t, tid = _setup(ctx, 13)
    first = _fetch(ctx, 13, t, tid, [{"fetch_offset": 0}], session_id=0, session_epoch=0)
    s = first.get("session_id", 0) if isinstance(first, dict) else 0
    # the same session continued with an older (name-based) version
    _fetch(ctx, 12, t, None, [{"fetch_offset": 3}], session_id=s, session_epoch=1, max_wait=10)


def _unknown_topic_id_in_session(ctx: Ctx) -> None:
    t, tid = _setup(ctx, 13)
    first = _fetch(ctx, 13, t, tid, [{"fetch_offset": 0}], session_id=0, session_epoch=0)
    s = first.get("session_id", 0) if isinstance(first, dict) else 0
    _fetch(ctx, 13, "x", UNKNOWN_ID, [{"fetch_offset": 0}], session_id=s, session_epoch=1,
           max_wait=10)


for _sid, _fn in (("fetch/v12/offset_inside_batch", _mid_batch),
                  ("fetch/v12/small_max_bytes", _small_max_bytes),
                  ("fetch/v12/long_poll_empty", _long_poll),
                  ("fetch/v12/after_delete_records", _after_delete_records),
                  ("fetch/v12/diverging_epoch", _diverging),
                  ("fetch/v12/read_committed", _read_committed),
                  ("fetch/v12/duplicate_partition", _duplicate_partition),
                  ("fetch/v13/session_then_v12", _session_by_id_then_name),
                  ("fetch/v13/session_unknown_topic_id", _unknown_topic_id_in_session)):
    _fetch_extra(_sid, _fn)


# ---------------------------------------------------------------- ListOffsets
def _timestamps_topic(ctx: Ctx) -> str:
    t = ctx.name()
    create_topic(ctx, t)
    for ts in (FIXED_TIMESTAMP, FIXED_TIMESTAMP + 5000, FIXED_TIMESTAMP + 2000):
        produce(ctx, t, Batch(timestamp=ts))
    return t


_SPECIAL = {"latest": -1, "earliest": -2, "max_timestamp": -3, "earliest_local": -4,
            "earliest_pending_upload": -5, "exact_ts": FIXED_TIMESTAMP + 2000,
            "between_ts": FIXED_TIMESTAMP + 1, "after_all_ts": FIXED_TIMESTAMP + 60_000,
            "minus_6": -6}


def _list_offsets_version(v: int) -> None:
    for what, ts in _SPECIAL.items():
        def fn(ctx: Ctx, ts: int = ts) -> None:
            t = _timestamps_topic(ctx)
            ctx.call(LIST_OFFSETS, v, list_offsets_body(t, 0, ts))
        add(f"list_offsets/v{v}/{what}", fn)

    def unknown(ctx: Ctx) -> None:
        ctx.call(LIST_OFFSETS, v, list_offsets_body(ctx.name("missing"), 0, -1))

    def bad_partition(ctx: Ctx) -> None:
        t = _timestamps_topic(ctx)
        ctx.call(LIST_OFFSETS, v, list_offsets_body(t, 4, -1))

    def epochs(ctx: Ctx) -> None:
        t = _timestamps_topic(ctx)
        ctx.call(LIST_OFFSETS, v, list_offsets_body(t, 0, -1, leader_epoch=3))
        ctx.call(LIST_OFFSETS, v, list_offsets_body(t, 0, -1, leader_epoch=0))

    def read_committed(ctx: Ctx) -> None:
        t = _timestamps_topic(ctx)
        ctx.call(LIST_OFFSETS, v, list_offsets_body(t, 0, -1, isolation=1))

    for what, fn2 in (("unknown_topic", unknown), ("bad_partition", bad_partition),
                      ("leader_epoch", epochs), ("read_committed", read_committed)):
        add(f"list_offsets/v{v}/{what}", fn2)


for _v in versions(LIST_OFFSETS):
    _list_offsets_version(_v)


def _lo_empty_topic(ctx: Ctx) -> None:
    t = ctx.name()
    create_topic(ctx, t)
    for ts in (-1, -2, -3, -4):
        ctx.call(LIST_OFFSETS, 9, list_offsets_body(t, 0, ts))


def _lo_after_delete(ctx: Ctx) -> None:
    t = _timestamps_topic(ctx)
    ctx.call(DELETE_RECORDS, 2, {"timeout": 5000, "topics": [
        {"name": t, "partitions": [{"partition_index": 0, "offset": 2}]}]})
    for ts in (-2, -4, FIXED_TIMESTAMP):
        ctx.call(LIST_OFFSETS, 9, list_offsets_body(t, 0, ts))


def _lo_duplicate(ctx: Ctx) -> None:
    t = _timestamps_topic(ctx)
    body = list_offsets_body(t, 0, -1)
    body["topics"][0]["partitions"].append({"partition_index": 0, "timestamp": -2})
    ctx.call(LIST_OFFSETS, 9, body)


add("list_offsets/v9/empty_topic", _lo_empty_topic)
add("list_offsets/v9/after_delete_records", _lo_after_delete)
add("list_offsets/v9/duplicate_partition", _lo_duplicate)


# ---------------------------------------------------------------- OffsetForLeaderEpoch
def _olfe_body(t: str, partition: int, epoch: int, current: int = -1) -> dict[str, Any]:
    return {"replica_id": -1, "topics": [{"topic": t, "partitions": [
        {"partition": partition, "leader_epoch": epoch, "current_leader_epoch": current}]}]}


def _olfe_version(v: int) -> None:
    cases = {"epoch_0": (0, 0, -1), "epoch_5_unknown": (0, 5, -1), "bad_partition": (2, 0, -1),
             "current_epoch_fenced": (0, 0, 7), "current_epoch_ok": (0, 0, 0),
             "epoch_minus_1": (0, -1, -1)}
    for what, (p, e, cur) in cases.items():
        def fn(ctx: Ctx, p: int = p, e: int = e, cur: int = cur) -> None:
            t = ctx.name()
            create_topic(ctx, t)
            produce_n(ctx, t, 2)
            ctx.call(OFFSET_FOR_LEADER_EPOCH, v, _olfe_body(t, p, e, cur))
        add(f"offset_for_leader_epoch/v{v}/{what}", fn)

    def unknown(ctx: Ctx) -> None:
        ctx.call(OFFSET_FOR_LEADER_EPOCH, v, _olfe_body(ctx.name("missing"), 0, 0))
    add(f"offset_for_leader_epoch/v{v}/unknown_topic", unknown)


for _v in versions(OFFSET_FOR_LEADER_EPOCH):
    _olfe_version(_v)


# ---------------------------------------------------------------- DeleteRecords
def _dr_body(t: str, partition: int, offset: int) -> dict[str, Any]:
    return {"timeout": 5000, "topics": [
        {"name": t, "partitions": [{"partition_index": partition, "offset": offset}]}]}


def _dr_version(v: int) -> None:
    cases = {"valid": (0, 2), "to_high_watermark": (0, 3), "beyond_high_watermark": (0, 10),
             "minus_1_means_hw": (0, -1), "bad_partition": (3, 1), "negative_offset": (0, -7),
             "zero": (0, 0)}
    for what, (p, off) in cases.items():
        def fn(ctx: Ctx, p: int = p, off: int = off) -> None:
            t = ctx.name()
            create_topic(ctx, t)
            produce_n(ctx, t, 3)
            ctx.call(DELETE_RECORDS, v, _dr_body(t, p, off))
            ctx.call(LIST_OFFSETS, 9, list_offsets_body(t, 0, -2))
        add(f"delete_records/v{v}/{what}", fn)

    def unknown(ctx: Ctx) -> None:
        ctx.call(DELETE_RECORDS, v, _dr_body(ctx.name("missing"), 0, 0))
    add(f"delete_records/v{v}/unknown_topic", unknown)


for _v in versions(DELETE_RECORDS):
    _dr_version(_v)


def _dr_twice_backwards(ctx: Ctx) -> None:
    t = ctx.name()
    create_topic(ctx, t)
    produce_n(ctx, t, 5)
    ctx.call(DELETE_RECORDS, 2, _dr_body(t, 0, 4))
    ctx.call(DELETE_RECORDS, 2, _dr_body(t, 0, 2))  # below the log start: a no-op


add("delete_records/v2/backwards", _dr_twice_backwards)


def _timestamps_inside_batch(ctx: Ctx) -> None:
    """ListOffsets by timestamp lands on a record inside a compressed batch."""
    t = ctx.name()
    create_topic(ctx, t)
    produce(ctx, t, Batch(codec=GZIP, records=tuple((b"k%d" % i, b"v") for i in range(5))))
    for ts in (FIXED_TIMESTAMP - 1, FIXED_TIMESTAMP, -3, -1):
        ctx.call(LIST_OFFSETS, 9, list_offsets_body(t, 0, ts))
    ctx.call(FETCH, 12, fetch_body(t, None, [{"fetch_offset": 3}]))


add("list_offsets/v9/compressed_batch", _timestamps_inside_batch)


def _multi_partition_limits(ctx: Ctx) -> None:
    """Response max_bytes across partitions: the first partition's batch comes whole,
    then the limit applies; partition_max_bytes 0 gives no records."""
    t = ctx.name()
    create_topic(ctx, t, partitions=3)
    for p in range(3):
        produce(ctx, t, Batch(records=((b"k", b"x" * 300),)), partition=p)
    parts = [{"partition": p, "fetch_offset": 0} for p in range(3)]
    ctx.call(FETCH, 12, fetch_body(t, None, parts, max_bytes=100))
    ctx.call(FETCH, 12, fetch_body(t, None, parts, max_bytes=500))
    ctx.call(FETCH, 12, fetch_body(t, None, [{"partition": 1, "fetch_offset": 0,
                                              "partition_max_bytes": 0}]))


def _delete_records_compacted(ctx: Ctx) -> None:
    t = ctx.name()
    create_topic(ctx, t, configs={"cleanup.policy": "compact"})
    produce(ctx, t, Batch(records=((b"a", b"1"), (b"b", b"2"))))
    ctx.call(DELETE_RECORDS, 2, _dr_body(t, 0, 1))


for _sid, _fn in (("fetch/v12/multi_partition_limits", _multi_partition_limits),
                  ("delete_records/v2/compacted_topic", _delete_records_compacted)):
    add(_sid, _fn)


def _session_add_partition(ctx: Ctx) -> None:
    """An incremental fetch that adds a partition to the session and changes another's offset."""
    t = ctx.name()
    create_topic(ctx, t, partitions=2)
    produce_n(ctx, t, 2)
    produce_n(ctx, t, 2, partition=1)
    first = _fetch(ctx, 12, t, None, [{"fetch_offset": 0}], session_id=0, session_epoch=0)
    s = first.get("session_id", 0) if isinstance(first, dict) else 0
    _fetch(ctx, 12, t, None, [{"partition": 1, "fetch_offset": 1}], session_id=s,
           session_epoch=1, max_wait=10)
    _fetch(ctx, 12, t, None, [{"partition": 0, "fetch_offset": 1}], session_id=s,
           session_epoch=2, max_wait=10)
    _fetch(ctx, 12, "", None, [], session_id=s, session_epoch=3, max_wait=10)
    produce_n(ctx, t, 1, partition=1)
    _fetch(ctx, 12, "", None, [], session_id=s, session_epoch=4, max_wait=10)


def _session_epoch_replay(ctx: Ctx) -> None:
    """The same incremental epoch twice: the second is INVALID_FETCH_SESSION_EPOCH."""
    t = ctx.name()
    create_topic(ctx, t)
    produce_n(ctx, t, 1)
    first = _fetch(ctx, 12, t, None, [{"fetch_offset": 0}], session_id=0, session_epoch=0)
    s = first.get("session_id", 0) if isinstance(first, dict) else 0
    _fetch(ctx, 12, "", None, [], session_id=s, session_epoch=1, max_wait=10)
    _fetch(ctx, 12, "", None, [], session_id=s, session_epoch=1, max_wait=10)
    _fetch(ctx, 12, "", None, [], session_id=s, session_epoch=2, max_wait=10)


def _session_new_over_old(ctx: Ctx) -> None:
    """session_id X with epoch 0: a new session (the old id is dropped)."""
    t = ctx.name()
    create_topic(ctx, t)
    produce_n(ctx, t, 1)
    first = _fetch(ctx, 12, t, None, [{"fetch_offset": 0}], session_id=0, session_epoch=0)
    s = first.get("session_id", 0) if isinstance(first, dict) else 0
    second = _fetch(ctx, 12, t, None, [{"fetch_offset": 1}], session_id=s, session_epoch=0)
    s2 = second.get("session_id", 0) if isinstance(second, dict) else 0
    ctx.note("a different session id", s2 != s)
    _fetch(ctx, 12, "", None, [], session_id=s, session_epoch=1, max_wait=10)


for _sid, _fn in (("fetch/v12/session_add_partition", _session_add_partition),
                  ("fetch/v12/session_epoch_replayed", _session_epoch_replay),
                  ("fetch/v12/session_epoch_0_on_existing_id", _session_new_over_old)):
    add(_sid, _fn)


def _replica_fetches(ctx: Ctx) -> None:
    """Fetch and ListOffsets as if from a replica or a debug consumer (replica_id 2, -2)."""
    t, _ = _setup(ctx, 12)
    for rid in (2, 1, -2):
        body = fetch_body(t, None, [{"fetch_offset": 0}])
        body["replica_id"] = rid
        ctx.call(FETCH, 12, body)
        lo = list_offsets_body(t, 0, -1)
        lo["replica_id"] = rid
        ctx.call(LIST_OFFSETS, 9, lo)
    body = fetch_body(t, None, [{"fetch_offset": 0}])
    body["replica_state"] = {"replica_id": 2, "replica_epoch": 0}
    ctx.call(FETCH, 15, body)
    ctx.call(OFFSET_FOR_LEADER_EPOCH, 4, {**_olfe_body(t, 0, 0), "replica_id": 2})


add("fetch/v12/as_replica_or_debug_consumer", _replica_fetches)


def _session_topic_deleted(ctx: Ctx) -> None:
    """A topic-id fetch session whose topic is deleted: the next incremental fetch."""
    t, tid = _setup(ctx, 13)
    first = _fetch(ctx, 13, t, tid, [{"fetch_offset": 0}], session_id=0, session_epoch=0)
    s = first.get("session_id", 0) if isinstance(first, dict) else 0
    ctx.call(DELETE_TOPICS, 6, {"timeout": 10000, "topics": [{"name": t, "topic_id": None}]})
    ctx.settle()
    _fetch(ctx, 13, "", None, [], session_id=s, session_epoch=1, max_wait=10)


def _log_dir_sizes_after_delete_records(ctx: Ctx) -> None:
    t, _ = _setup(ctx, 12, n=4)
    ctx.call(DESCRIBE_LOG_DIRS, 4, {"topics": [{"topic": t, "partitions": [0]}]})
    ctx.call(DELETE_RECORDS, 2, _dr_body(t, 0, 3))
    ctx.call(DESCRIBE_LOG_DIRS, 4, {"topics": [{"topic": t, "partitions": [0]}]})


add("fetch/v13/session_topic_deleted", _session_topic_deleted)
add("describe_log_dirs/v4/sizes_after_delete_records", _log_dir_sizes_after_delete_records)


def _large_batches(ctx: Ctx) -> None:
    """Batches of ~600 KB across the 1 MiB partition limit: whole batches, a partial
    trailing one, or none past the first — as Kafka slices its log."""
    t = ctx.name()
    create_topic(ctx, t, configs={"max.message.bytes": "2000000"})
    for i in range(3):
        produce(ctx, t, Batch(records=((b"k%d" % i, bytes([65 + i]) * 600_000),)))
    for pmax, rmax in ((1 << 20, 50 << 20), (2 << 20, 50 << 20), (2 << 20, 700_000),
                       (100, 100)):
        resp = ctx.call(FETCH, 12, fetch_body(t, None, [
            {"fetch_offset": 0, "partition_max_bytes": pmax}], max_bytes=rmax), record=False)
        ctx.note(f"fetch partition_max_bytes={pmax} max_bytes={rmax}", _shape(resp))


def _shape(resp: Any) -> Any:
    """Batch offsets and sizes instead of 600 KB values in the transcript."""
    try:
        part = resp["responses"][0]["partitions"][0]
    except (KeyError, IndexError, TypeError):
        return resp
    batches_seen = []
    for b in part.get("records") or []:
        if "records" in b and isinstance(b["records"], list):
            b = {**b, "records": [{**r, "value": len(r["value"] or "")} for r in b["records"]]}
        batches_seen.append(b)
    return {**part, "records": batches_seen}


add("fetch/v12/large_batches_and_limits", _large_batches)


def _lying_max_timestamp(ctx: Ctx) -> None:
    """A batch whose header max_timestamp is below its base timestamp: what the broker
    stores and what ListOffsets -3 and by-timestamp answer."""
    raw = bytearray(Batch(records=((b"a", b"1"), (b"b", b"2"))).encode())
    struct.pack_into(">q", raw, 35, FIXED_TIMESTAMP - 5000)  # max_timestamp
    struct.pack_into(">I", raw, 17, crc32c.crc32c(bytes(raw[21:])))
    t = ctx.name()
    create_topic(ctx, t)
    produce(ctx, t, bytes(raw))
    _fetch(ctx, 12, t, None, [{"fetch_offset": 0}])
    for ts in (-3, FIXED_TIMESTAMP, FIXED_TIMESTAMP - 5000):
        ctx.call(LIST_OFFSETS, 9, list_offsets_body(t, 0, ts))


add("produce/v9/lying_max_timestamp", _lying_max_timestamp)


def _epochs_after_delete_records(ctx: Ctx) -> None:
    t = ctx.name()
    create_topic(ctx, t, partitions=2)
    produce_n(ctx, t, 4)
    ctx.call(CREATE_PARTITIONS, 3, {"timeout": 10000, "validate_only": False,
                                    "topics": [{"name": t, "count": 3, "assignments": None}]})
    ctx.settle()
    ctx.call(DELETE_RECORDS, 2, _dr_body(t, 0, 4))
    for p in range(3):
        ctx.call(OFFSET_FOR_LEADER_EPOCH, 4, _olfe_body(t, p, 0))
        for ts in (-2, -4, -5):
            ctx.call(LIST_OFFSETS, 11, list_offsets_body(t, p, ts))


add("offset_for_leader_epoch/v4/after_delete_records_and_growth", _epochs_after_delete_records)


def _long_poll_woken(ctx: Ctx) -> None:
    """A fetch waiting for data (max_wait 3 s) is answered when a record arrives."""
    t = ctx.name()
    create_topic(ctx, t)
    other = ctx.new_conn()
    body = fetch_body(t, None, [{"fetch_offset": 0}], max_wait=3000)
    corr = other.send(FETCH, 12, body)
    ctx.sleep(0.3)
    produce(ctx, t, Batch(records=((b"k", b"woke"),)))
    started = time.monotonic()
    ctx.note("fetch woken by the append", other.receive(FETCH, 12, corr))
    ctx.note("answered well before max_wait", time.monotonic() - started < 2.0)


add("fetch/v12/long_poll_woken_by_produce", _long_poll_woken)
