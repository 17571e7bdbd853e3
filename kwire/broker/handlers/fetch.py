"""Fetch (1): stored batches as they are, by topic name (v4-12) or topic id (v13+).

Long poll: when less than `min_bytes` is available the request waits on the
partitions' append waiters (never a polling loop) until data arrives or
`max_wait_ms` passes. Size limits follow Kafka (KIP-74): `partition_max_bytes`
per partition, `max_bytes` for the response, and the first batch is returned
whole even when larger, so a consumer can always make progress. No fetch
sessions: the answer carries session_id 0, which keeps clients on full fetches.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._lookup import resolve_topic
from kwire.broker.partitions import Partition
from kwire.broker.registry import handler
from kwire.errors import ErrorCode
from kwire.log.api import OffsetOutOfRange

FETCH_SESSION_ID_NOT_FOUND = 70


@handler(1, "Fetch", 4, 18)
async def fetch(ctx: RequestContext, request: Any) -> dict[str, Any]:
    if getattr(request, "session_id", 0) not in (0, None):
        # We never hand out session ids, so any incremental fetch names an unknown one.
        return {"throttle_time": 0, "error_code": FETCH_SESSION_ID_NOT_FOUND, "session_id": 0,
                "responses": ()}
    loop = asyncio.get_running_loop()
    max_wait = request.max_wait.total_seconds()
    deadline = loop.time() + max(0.0, max_wait)
    min_bytes = int(request.min_bytes)
    while True:
        responses, total, partitions, has_error = await _read_all(ctx, request)
        remaining = deadline - loop.time()
        if total >= min_bytes or has_error or remaining <= 0 or not partitions:
            break
        if not await _wait_for_append(partitions, remaining):
            # Read once more: waiters are registered only after the reads, so with a
            # log whose reads really suspend, an append could slip in between.
            responses, total, partitions, has_error = await _read_all(ctx, request)
            break
    return {"throttle_time": 0, "error_code": ErrorCode.NONE, "session_id": 0,
            "responses": responses}


async def _wait_for_append(partitions: list[Partition], timeout: float) -> bool:
    """Wait until any of `partitions` gets an append; False on timeout."""
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    for p in partitions:
        p.add_waiter(fut)
    try:
        await asyncio.wait_for(fut, timeout)
        return True
    except TimeoutError:
        return False
    finally:
        for p in partitions:
            p.remove_waiter(fut)


async def _read_all(
    ctx: RequestContext, request: Any
) -> tuple[list[dict[str, Any]], int, list[Partition], bool]:
    snapshot = ctx.broker.snapshot()
    budget = int(request.max_bytes) if ctx.api_version >= 3 else 2**31 - 1
    total = 0
    has_error = False
    partitions: list[Partition] = []
    responses = []
    for ftopic in request.topics:
        name = getattr(ftopic, "topic", None)
        topic_id = getattr(ftopic, "topic_id", None)
        topic, topic_error = resolve_topic(snapshot, name, topic_id)
        out = []
        for fp in ftopic.partitions:
            partition = ctx.broker.partition(topic.name, fp.partition) if topic else None
            if partition is None:
                code = topic_error if topic is None else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                out.append(_empty(fp.partition, code))
                has_error = True
                continue
            entry = await _read_partition(partition, fp, budget, first=total == 0,
                                          read_committed=int(request.isolation_level) == 1)
            if entry["error_code"] != ErrorCode.NONE:
                has_error = True
            size = len(entry["records"])
            total += size
            budget = max(0, budget - size)
            partitions.append(partition)
            out.append(entry)
        responses.append({"topic": name, "topic_id": topic_id, "partitions": out})
    return responses, total, partitions, has_error


def _empty(index: int, code: ErrorCode, hw: int = -1, lso: int = -1, lss: int = -1
           ) -> dict[str, Any]:
    return {
        "partition_index": index, "error_code": code, "high_watermark": hw,
        "last_stable_offset": lso, "log_start_offset": lss, "aborted_transactions": None,
        "preferred_read_replica": -1, "records": b"",
    }


async def _read_partition(
    partition: Partition, fp: Any, budget: int, first: bool, read_committed: bool
) -> dict[str, Any]:
    offsets = partition.log.offsets()
    current_epoch = getattr(fp, "current_leader_epoch", -1)
    if current_epoch >= 0 and current_epoch != partition.leader_epoch:
        code = (ErrorCode.FENCED_LEADER_EPOCH if current_epoch < partition.leader_epoch
                else ErrorCode.UNKNOWN_LEADER_EPOCH)
        return _empty(fp.partition, code, offsets.high_watermark, offsets.last_stable_offset,
                      offsets.log_start_offset)
    limit = min(int(fp.partition_max_bytes), budget)
    records = b""
    try:
        if limit > 0 or first:
            result = await partition.log.read(int(fp.fetch_offset), limit, min_one_batch=first)
            records = result.records
            offsets = partition.log.offsets()
    except OffsetOutOfRange:
        return _empty(fp.partition, ErrorCode.OFFSET_OUT_OF_RANGE, offsets.high_watermark,
                      offsets.last_stable_offset, offsets.log_start_offset)
    entry = _empty(fp.partition, ErrorCode.NONE, offsets.high_watermark,
                   offsets.last_stable_offset, offsets.log_start_offset)
    entry["records"] = records
    # read_committed consumers expect an (empty) aborted list rather than null.
    entry["aborted_transactions"] = () if read_committed else None
    return entry
