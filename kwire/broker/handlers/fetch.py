"""Fetch (1): stored batches as they are, by topic name (v4-12) or topic id (v13+).

Long poll: when less than `min_bytes` is available the request waits on the
partitions' append waiters (never a polling loop) until data arrives or
`max_wait_ms` passes. Size limits follow Kafka (KIP-74): `partition_max_bytes`
per partition, min(request `max_bytes`, broker `fetch.max.bytes`) for the
response, and the first batch is returned whole even when larger, so a consumer
can always make progress. No fetch sessions: the answer carries session_id 0,
which keeps clients on full fetches.

Batches are read into memory (pread; there is no sendfile), so each read is
also granted from the server's response budget (net/memory_pool.py): when many
large fetches are in flight, reads shrink, down to KIP-74's single first batch.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._lookup import resolve_topic
from kwire.broker.partitions import Partition
from kwire.broker.registry import handler
from kwire.errors import ErrorCode, StorageError
from kwire.log.api import CorruptRecords, OffsetOutOfRange
from kwire.net.memory_pool import RESPONSE_LEASE, ResponseLease
from kwire.records.batch import iter_batches

FETCH_SESSION_ID_NOT_FOUND = 70
# Largest single log read (and CRC check) between turns for other connections: a
# 55 MB pread blocks everyone for tens of ms, and with 4 MiB slices ten huge
# fetches still pushed another client's p99 to 40-54 ms (1 MiB: 14-18 ms). A
# consumer's usual max.partition.fetch.bytes (1 MiB) still reads in one go.
READ_SLICE = 1024 * 1024


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
        # Below min_bytes: what was read is dropped and read again, so give its
        # response budget back (the lease holds only what the answer will carry).
        del responses
        _release_lease()
        if not await _wait_for_append(partitions, remaining):
            # Read once more: waiters are registered only after the reads, so with a
            # log whose reads really suspend, an append could slip in between.
            responses, total, partitions, has_error = await _read_all(ctx, request)
            break
    return {"throttle_time": 0, "error_code": ErrorCode.NONE, "session_id": 0,
            "responses": responses}


def fetch_error_body(version: int, request: Any, code: ErrorCode) -> dict[str, Any]:
    """The whole-request error answer (Kafka's FetchRequest.getErrorResponse): the
    top-level error code (v7+), session 0, and below v13 every requested partition
    answered with the error too, since v4-6 have no top-level code and v7-12
    clients may still look only at partitions."""
    responses = []
    if version < 13:
        responses = [
            {"topic": getattr(t, "topic", None), "topic_id": getattr(t, "topic_id", None),
             "partitions": [_empty(p.partition, code) for p in t.partitions]}
            for t in request.topics
        ]
    return {"throttle_time": 0, "error_code": code, "session_id": 0, "responses": responses}


def _release_lease() -> None:
    lease = RESPONSE_LEASE.get()
    if lease is not None:
        lease.release()


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
    # Kafka's KafkaApis caps the client's max_bytes with the broker's fetch.max.bytes.
    budget = min(int(request.max_bytes), int(ctx.broker.config["fetch.max.bytes"]))
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
            records = entry["records"]
            size = len(records) if isinstance(records, bytes) else sum(map(len, records))
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
    """One partition's entry; storage trouble answers that partition alone."""
    try:
        return await _read_checked(partition, fp, budget, first, read_committed)
    except StorageError:
        return _empty(fp.partition, ErrorCode.KAFKA_STORAGE_ERROR)
    except CorruptRecords:
        # Damaged stored bytes at this offset: Kafka's error, never a wrong record
        # or a skip past them (a consumer stays at the offset until an operator acts).
        offsets = partition.log.offsets()
        return _empty(fp.partition, ErrorCode.CORRUPT_MESSAGE, offsets.high_watermark,
                      offsets.last_stable_offset, offsets.log_start_offset)


async def _read_checked(
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
    records: bytes | list[bytes] = b""
    lease = RESPONSE_LEASE.get()
    try:
        if limit > 0 or first:
            records = await _read_leased(partition, int(fp.fetch_offset), limit, first, lease)
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


async def _read_leased(
    partition: Partition, offset: int, limit: int, first: bool, lease: ResponseLease | None
) -> bytes | list[bytes]:
    """Read at most `limit` bytes, or what the response budget grants, in slices of
    `READ_SLICE`: each slice is a blocking pread (and maybe a trimming copy) on the
    event loop, so other connections get a turn between slices. Each grant is
    taken before its read so concurrent fetches cannot all see the same free
    budget; the first batch is read whole (KIP-74) even past the grant."""
    parts: list[bytes] = []
    total = 0
    while True:
        min_one = first and not parts
        want = min(limit - total, READ_SLICE)
        granted = want if lease is None else lease.grant(max(want, 0))
        data = b""
        try:
            if granted > 0 or min_one:
                data = (await partition.log.read(offset, granted, min_one_batch=min_one)).records
        except (OffsetOutOfRange, CorruptRecords):
            # What the earlier slices read stands; the next fetch meets the error.
            if not parts:
                raise
        finally:
            if lease is not None:
                lease.settle(granted, len(data))
        if not data:
            break
        parts.append(data)
        total += len(data)
        if total >= limit or granted < want:
            break
        offset = _next_offset(data)
        await asyncio.sleep(0)
    if len(parts) == 1:
        return parts[0]
    return parts or b""


def _next_offset(data: bytes) -> int:
    """The offset after the last of the whole batches in `data`."""
    headers = [header for _pos, header in iter_batches(data)]
    return headers[-1].next_offset  # a read returns at least one whole batch
