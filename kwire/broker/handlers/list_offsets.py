"""ListOffsets (2): earliest, latest, by timestamp and max timestamp per partition.

The special timestamps are Kafka's, each valid from the version that brought it;
an older version asking for one (or any other negative timestamp) is answered
UNSUPPORTED_VERSION for that partition, as Kafka 4.4 does. Without tiered
storage the tiered ones answer as Kafka's UnifiedLog does then.

isolation_level 1 (read_committed) answers LATEST with the last stable offset,
and a lookup by timestamp (or max timestamp) that finds an offset at or past the
last fetchable offset (the LSO; the high watermark for read_uncommitted) answers
no offset, as Kafka's ReplicaManager.fetchOffset does.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.partitions import Partition
from kwire.broker.registry import handler
from kwire.errors import ErrorCode, StorageError
from kwire.log.api import CorruptRecords, TimestampOffset
from kwire.records.batch import parse_header
from kwire.records.timestamps import first_record_at_or_after, max_timestamp_record

LATEST = -1
EARLIEST = -2
MAX_TIMESTAMP = -3  # v7+, KIP-734
EARLIEST_LOCAL = -4  # v8+, KIP-405: no tiered storage, so the log start offset
LATEST_TIERED = -5  # v9+, KIP-1005: nothing is tiered here, so no offset
EARLIEST_PENDING_UPLOAD = -6  # v11+, KIP-1023: nothing waits for upload, so no offset

# The first ListOffsets version that may ask for each special timestamp.
SPECIAL_SINCE = {LATEST: 0, EARLIEST: 0, MAX_TIMESTAMP: 7, EARLIEST_LOCAL: 8,
                 LATEST_TIERED: 9, EARLIEST_PENDING_UPLOAD: 11}


def timestamp_supported(timestamp: int, version: int) -> bool:
    if timestamp >= 0:
        return True
    since = SPECIAL_SINCE.get(timestamp)
    return since is not None and version >= since


@handler(2, "ListOffsets", 1, 11)
async def list_offsets(ctx: RequestContext, request: Any) -> dict[str, Any]:
    read_committed = int(getattr(request, "isolation_level", 0)) == 1
    # A partition asked for twice is answered once, INVALID_REQUEST (Kafka's
    # ListOffsetsRequest.duplicatePartitions); answers are grouped per topic.
    counts = Counter((t.name, p.partition_index) for t in request.topics for p in t.partitions)
    topics: dict[str, list[dict[str, Any]]] = {}
    answered: set[tuple[str, int]] = set()
    for t in request.topics:
        partitions = topics.setdefault(t.name, [])
        for p in t.partitions:
            tp = (t.name, p.partition_index)
            if tp in answered:
                continue
            answered.add(tp)
            if counts[tp] > 1:
                partitions.append(_answer(p.partition_index, ErrorCode.INVALID_REQUEST))
            else:
                partitions.append(await _partition(ctx, t.name, p, read_committed))
    return {"throttle_time": 0,
            "topics": [{"name": name, "partitions": parts} for name, parts in topics.items()]}


async def _partition(ctx: RequestContext, topic: str, p: Any, read_committed: bool
                     ) -> dict[str, Any]:
    if not timestamp_supported(int(p.timestamp), ctx.api_version):
        return _answer(p.partition_index, ErrorCode.UNSUPPORTED_VERSION)
    partition = ctx.broker.replicas.get_partition_or_error(
        topic, p.partition_index, int(getattr(p, "current_leader_epoch", -1)))
    if isinstance(partition, ErrorCode):
        return _answer(p.partition_index, partition)
    try:
        return await _lookup(partition, p, read_committed)
    except StorageError:
        return _answer(p.partition_index, ErrorCode.KAFKA_STORAGE_ERROR)
    except CorruptRecords:
        return _answer(p.partition_index, ErrorCode.CORRUPT_MESSAGE)


def _answer(index: int, code: ErrorCode, timestamp: int = -1, offset: int = -1,
            leader_epoch: int = -1) -> dict[str, Any]:
    return {"partition_index": index, "error_code": code, "timestamp": timestamp,
            "offset": offset, "leader_epoch": leader_epoch,
            # v0 only; kept so every version's fields are present
            "old_style_offsets": ()}


async def _lookup(partition: Partition, p: Any, read_committed: bool) -> dict[str, Any]:
    index = p.partition_index
    epoch = partition.leader_epoch
    offsets = partition.offsets()
    ts = int(p.timestamp)
    if ts == LATEST:
        end = offsets.last_stable_offset if read_committed else offsets.high_watermark
        return _answer(index, ErrorCode.NONE, -1, end, epoch)
    if ts in (EARLIEST, EARLIEST_LOCAL):
        return _answer(index, ErrorCode.NONE, -1, offsets.log_start_offset, epoch)
    if ts == MAX_TIMESTAMP:
        found = await partition.log.max_timestamp()
        exact = await _record_in_batch(partition, found, None)
    elif ts in (LATEST_TIERED, EARLIEST_PENDING_UPLOAD):
        exact = None
    else:
        found = await partition.log.offset_for_timestamp(ts)
        exact = await _record_in_batch(partition, found, ts)
    last_fetchable = offsets.last_stable_offset if read_committed else offsets.high_watermark
    if exact is None or exact[0] >= last_fetchable:
        return _answer(index, ErrorCode.NONE, -1, -1, -1)
    offset, timestamp = exact
    return _answer(index, ErrorCode.NONE, timestamp, offset, epoch)


async def _record_in_batch(
    partition: Partition, found: TimestampOffset | None, timestamp: int | None
) -> tuple[int, int] | None:
    """The log finds the batch by its header; Kafka answers with the exact record:
    the first at or after `timestamp`, or the one with the largest timestamp."""
    if found is None:
        return None
    result = await partition.log.read(found.offset, 1, min_one_batch=True)
    if not result.records:
        return None
    batch = bytes(memoryview(result.records)[: parse_header(result.records).size])
    if timestamp is None:
        return max_timestamp_record(batch, skip_control=False)
    # DeleteRecords may have moved the log start inside this batch; Kafka never
    # answers below it. Transaction markers count as records here, as in Kafka.
    return first_record_at_or_after(
        batch, timestamp, min_offset=result.log_start_offset, skip_control=False)
