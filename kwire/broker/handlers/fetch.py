"""Fetch (1): stored batches as they are, by topic name (v4-12) or topic id (v13+),
in fetch sessions (KIP-227) as Kafka keeps them (kwire/broker/fetch_session.py).

The session context decides which partitions are read: the request's own
(full and sessionless fetches) or every partition of the session (incremental
fetches, whose requests carry only changed partitions); and, once read, which
go in the answer (an incremental answer leaves out partitions with nothing new).
Partitions of unknown topics are answered after the others, as Kafka does, and
do not cut a long poll short.

Long poll: when less than `min_bytes` is available the request waits on the
partitions' append waiters (never a polling loop) until data arrives or
`max_wait_ms` passes. Size limits follow Kafka (KIP-74): `partition_max_bytes`
per partition, min(request `max_bytes`, broker `fetch.max.bytes`) for the
response, and the first batch is returned whole even when larger, so a consumer
can always make progress.

Batches are read into memory (pread; there is no sendfile), so each read is
also granted from the request's response budget (`ctx.response_budget`): when many
large fetches are in flight, reads shrink, down to KIP-74's single first batch.

read_committed (isolation_level 1, KIP-98): a partition is read only below its
last stable offset (whole batches: the read is cut at the first batch at or past
the LSO), and the answer lists the aborted transactions overlapping the batches
returned (Partition.aborted_transactions, from the fetch offset to the end of
the returned data). A read_committed fetch at the LSO is caught up and long-polls;
a transaction marker is an append, so it wakes it.

KIP-951 (v16+): a partition answered NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH
names its current leader, and the response lists the live leaders' endpoints
(Kafka's KafkaApis.handleFetchRequest; produce.LeaderHints). Only a fetch with an
error looks for them.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from kwire.broker import fetch_session as fs
from kwire.broker.context import RequestContext, ResponseBudget
from kwire.broker.fetch_session import PartitionRequest, TopicIdPartition
from kwire.broker.handlers.produce import LeaderHints
from kwire.broker.partitions import Partition
from kwire.broker.registry import handler
from kwire.errors import ErrorCode, StorageError
from kwire.log.api import CorruptRecords, LogOffsets, OffsetOutOfRange, ReadAhead
from kwire.records.batch import iter_batches

log = logging.getLogger("kwire.fetch")

# Largest single log read (and CRC check) between turns for other connections: a
# 55 MB pread blocks everyone for tens of ms, and with 4 MiB slices ten huge
# fetches still pushed another client's p99 to 40-54 ms (1 MiB: 14-18 ms). A
# consumer's usual max.partition.fetch.bytes (1 MiB) still reads in one go.
READ_SLICE = 1024 * 1024

Result = tuple[TopicIdPartition, dict[str, Any]]

# KIP-951: the first version whose answers carry current_leader and node_endpoints,
# and the partition errors that get them (only these, in Kafka's handleFetchRequest).
FIRST_LEADER_HINT_VERSION = 16
_LEADER_HINT_ERRORS = (ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.FENCED_LEADER_EPOCH)


@handler(1, "Fetch", 4, 18)
async def fetch(ctx: RequestContext, request: Any) -> dict[str, Any]:
    version = ctx.api_version
    snapshot = ctx.broker.snapshot()
    names: Mapping[uuid.UUID, str] = (
        snapshot.topic_names_by_id if version >= fs.FIRST_TOPIC_ID_VERSION else {})
    fetch_data = _fetch_data(request, version, names)
    to_forget = _forgotten(request, version, names)
    context = ctx.broker.fetch_sessions.new_context(
        version, int(getattr(request, "session_id", fs.INVALID_SESSION_ID)),
        int(getattr(request, "session_epoch", fs.FINAL_EPOCH)), _replica_id(request) >= 0,
        fetch_data, to_forget, ctx.broker.now_ms())
    if isinstance(context, fs.SessionError):
        if context.error == fs.UNKNOWN_SERVER_ERROR:
            # A session id no cache shard owns: Kafka fails the whole request.
            return fetch_error_body(version, request, ErrorCode.UNKNOWN_SERVER_ERROR)
        return {"throttle_time": 0, "error_code": context.error,
                "session_id": fs.INVALID_SESSION_ID, "responses": ()}
    if isinstance(context, fs.Incremental) and log.isEnabledFor(logging.DEBUG):
        log.debug("incremental fetch of session %d, epoch %d: %d of %d partitions in the "
                  "request, %d forgotten", context.session.id, context.request_epoch,
                  len(fetch_data), len(context.session.partitions), len(to_forget))
    wanted = context.partitions(names.get)
    interesting: list[tuple[TopicIdPartition, PartitionRequest, Partition | None]] = []
    erroneous: list[Result] = []
    # Partitions of one topic share its id object: check each id once, not per partition.
    checked_id: uuid.UUID | None = None
    consistent = True
    for tip, req in wanted:
        if tip.topic is None:
            erroneous.append((tip, _unknown(tip.partition, ErrorCode.UNKNOWN_TOPIC_ID)))
            continue
        # The leader epoch the fetcher names is checked at the read, in Kafka's order.
        partition = ctx.broker.replicas.get_partition_or_error(tip.topic, tip.partition)
        if partition == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
            erroneous.append((tip, _unknown(tip.partition, partition)))
            continue
        if isinstance(partition, ErrorCode):  # led elsewhere: a read error, as Kafka's
            erroneous.append((tip, _empty(tip.partition, partition)))
            continue
        if tip.topic_id is not checked_id:
            checked_id = tip.topic_id
            # A session partition whose topic was re-created under its name: Kafka's
            # read finds that the log's topic id differs from the session's.
            consistent = tip.topic_id == fs.ZERO_UUID or names.get(tip.topic_id) == tip.topic
        interesting.append((tip, req, partition if consistent else None))
    results: list[Result] = []
    has_error = False
    if interesting:
        results, has_error = await _long_poll(ctx, request, interesting)
    answered = results + erroneous
    node_endpoints: list[dict[str, Any]] = []
    if version >= FIRST_LEADER_HINT_VERSION and (has_error or erroneous):
        node_endpoints = _leader_hints(ctx, answered)
    error, session_id, chosen = context.finish(answered, ctx.broker.now_ms())
    if isinstance(context, fs.Full) and session_id != fs.INVALID_SESSION_ID:
        log.debug("created fetch session %d with %d partitions", session_id, len(chosen))
    response = {"throttle_time": 0, "error_code": error, "session_id": session_id,
                "responses": _by_topic(chosen)}
    if version >= FIRST_LEADER_HINT_VERSION:
        # Kafka lists the endpoints of every partition read, whether or not the
        # session's answer (incremental) then carries that partition.
        response["node_endpoints"] = node_endpoints
    return response


def _leader_hints(ctx: RequestContext, answered: Sequence[Result]) -> list[dict[str, Any]]:
    """Fill current_leader on the partitions Kafka fills it for; their leaders'
    endpoints. Partitions of unknown topics, ids or partitions are not among them."""
    hints = LeaderHints(ctx.broker)
    for tip, entry in answered:
        if entry["error_code"] in _LEADER_HINT_ERRORS and tip.topic is not None:
            hints.fill(entry, tip.topic, tip.partition)
    return hints.node_endpoints()


async def _long_poll(
    ctx: RequestContext, request: Any,
    interesting: list[tuple[TopicIdPartition, PartitionRequest, Partition | None]],
) -> tuple[list[Result], bool]:
    """The partitions' entries, and whether any carries an error."""
    loop = asyncio.get_running_loop()
    max_wait = request.max_wait.total_seconds()
    deadline = loop.time() + max(0.0, max_wait)
    # Kafka: fetchMinBytes = min(request min_bytes, the response's max bytes).
    max_bytes = min(int(request.max_bytes), int(ctx.broker.config["fetch.max.bytes"]))
    min_bytes = min(int(request.min_bytes), max_bytes)
    partitions = [p for _tip, _req, p in interesting if p is not None]
    while True:
        results, total, has_error = await _read_all(ctx, request, interesting)
        remaining = deadline - loop.time()
        if total >= min_bytes or has_error or remaining <= 0:
            return results, has_error
        # Below min_bytes: what was read is dropped and read again, so give its
        # response budget back (the lease holds only what the answer will carry).
        del results
        _release_lease(ctx)
        if not await _wait_for_append(partitions, remaining):
            # Read once more: waiters are registered only after the reads, so with a
            # log whose reads really suspend, an append could slip in between.
            results, total, has_error = await _read_all(ctx, request, interesting)
            return results, has_error


def _replica_id(request: Any) -> int:
    state = getattr(request, "replica_state", None)
    if state is not None and getattr(request, "replica_id", None) is None:
        return int(state.replica_id)  # v15+: the follower names itself in replica_state
    return int(getattr(request, "replica_id", -1))


def _as_follower(request: Any) -> bool:
    """A fetch naming a broker id (>= 0) as its replica, as a follower sends (in
    replica_id up to v14, in replica_state from v15); -1 (a consumer) and -2 (the
    debug consumer) read as consumers do."""
    return _replica_id(request) >= 0


def _fetch_data(request: Any, version: int, names: Mapping[uuid.UUID, str]
                ) -> dict[TopicIdPartition, PartitionRequest]:
    """Kafka's FetchRequest.fetchData: partitions in request order, keyed by topic
    id (v13+, the name resolved from metadata or None) or by name."""
    data: dict[TopicIdPartition, PartitionRequest] = {}
    for ftopic in request.topics:
        topic_id, name = _topic_key(ftopic, version, names)
        for fp in ftopic.partitions:
            data[TopicIdPartition(topic_id, name, int(fp.partition))] = PartitionRequest(
                fetch_offset=int(fp.fetch_offset), max_bytes=int(fp.partition_max_bytes),
                current_leader_epoch=int(getattr(fp, "current_leader_epoch", -1)),
                log_start_offset=int(getattr(fp, "log_start_offset", -1)),
                last_fetched_epoch=int(getattr(fp, "last_fetched_epoch", -1)))
    return data


def _forgotten(request: Any, version: int, names: Mapping[uuid.UUID, str]
               ) -> list[TopicIdPartition]:
    out: list[TopicIdPartition] = []
    for ftopic in getattr(request, "forgotten_topics_data", None) or ():
        topic_id, name = _topic_key(ftopic, version, names)
        out.extend(TopicIdPartition(topic_id, name, int(p)) for p in ftopic.partitions)
    return out


def _topic_key(ftopic: Any, version: int, names: Mapping[uuid.UUID, str]
               ) -> tuple[uuid.UUID, str | None]:
    if version >= fs.FIRST_TOPIC_ID_VERSION:
        topic_id = ftopic.topic_id or fs.ZERO_UUID
        return topic_id, names.get(topic_id)
    return fs.ZERO_UUID, ftopic.topic


def _by_topic(results: Sequence[Result]) -> list[dict[str, Any]]:
    """Kafka's FetchResponse.of: consecutive partitions of one topic share a topic
    entry (so a topic may appear twice, keeping the partitions' order)."""
    topics: list[dict[str, Any]] = []
    last: TopicIdPartition | None = None
    for tip, entry in results:
        if last is None or (tip.topic_id, tip.topic) != (last.topic_id, last.topic):
            topics.append({"topic": tip.topic, "topic_id": tip.topic_id, "partitions": []})
        topics[-1]["partitions"].append(entry)
        last = tip
    return topics


def fetch_error_body(version: int, request: Any, code: ErrorCode) -> dict[str, Any]:
    """The whole-request error answer (Kafka's FetchRequest.getErrorResponse): the
    top-level error code (v7+), the request's own session id (echoed, as Kafka
    does), and below v13 every requested partition answered with the error too,
    since v4-6 have no top-level code and v7-12 clients may still look only at
    partitions."""
    responses = []
    if version < 13:
        responses = [
            {"topic": getattr(t, "topic", None), "topic_id": getattr(t, "topic_id", None),
             "partitions": [_unknown(p.partition, code) for p in t.partitions]}
            for t in request.topics
        ]
    session_id = int(getattr(request, "session_id", 0) or 0)
    return {"throttle_time": 0, "error_code": code, "session_id": session_id,
            "responses": responses}


def _release_lease(ctx: RequestContext) -> None:
    if ctx.response_budget is not None:
        ctx.response_budget.release()


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
    ctx: RequestContext, request: Any,
    interesting: list[tuple[TopicIdPartition, PartitionRequest, Partition | None]],
) -> tuple[list[Result], int, bool]:
    # Kafka's KafkaApis caps the client's max_bytes with the broker's fetch.max.bytes.
    budget = min(int(request.max_bytes), int(ctx.broker.config["fetch.max.bytes"]))
    read_committed = int(request.isolation_level) == 1
    from_follower = _as_follower(request)
    total = 0
    has_error = False
    results: list[Result] = []
    if len(interesting) > 1 and not from_follower:
        _prefetch(interesting, budget)
    for tip, req, partition in interesting:
        if partition is None:
            results.append((tip, _empty(tip.partition, ErrorCode.INCONSISTENT_TOPIC_ID)))
            has_error = True
            continue
        if from_follower:
            # kwire has no followers: Kafka's Partition.fetchRecords refuses a broker
            # id that is not a replica of the partition, offsets -1, no records.
            results.append((tip, _empty(tip.partition, ErrorCode.NOT_LEADER_OR_FOLLOWER)))
            has_error = True
            continue
        entry = _caught_up(partition, tip.partition, req, read_committed)
        if entry is not None:
            results.append((tip, entry))
            continue
        entry = await _read_partition(partition, tip.partition, req, budget,
                                      first=total == 0, read_committed=read_committed,
                                      lease=ctx.response_budget)
        if entry["error_code"] != ErrorCode.NONE:
            has_error = True
        size = fs.records_size(entry)
        total += size
        budget = max(0, budget - size)
        results.append((tip, entry))
    return results, total, has_error


def _prefetch(
    interesting: list[tuple[TopicIdPartition, PartitionRequest, Partition | None]],
    budget: int,
) -> None:
    """Start the reads of every partition this fetch will read, where the log reads
    over the network (ReadAhead), so that they overlap; the loop that follows
    then fills the response in order from memory, within the same budgets. All
    logs of a broker are of one kind, so one isinstance check decides."""
    logs = (partition.log for _tip, _req, partition in interesting if partition is not None)
    if not isinstance(next(logs, None), ReadAhead):
        return
    for _tip, req, partition in interesting:
        if partition is not None and _caught_up_offsets(partition, req, False) is None:
            log_ = partition.log
            assert isinstance(log_, ReadAhead)
            log_.prefetch(req.fetch_offset, min(req.max_bytes, budget))


def _caught_up_offsets(partition: Partition, req: PartitionRequest, read_committed: bool
                       ) -> LogOffsets | None:
    """The partition's offsets when it is fetched at its log end (read_committed:
    at its last stable offset) with no leader-epoch question, so no read is
    needed; None when one is."""
    if partition.fenced:
        return None
    if req.current_leader_epoch >= 0 and req.current_leader_epoch != partition.leader_epoch:
        return None
    if req.last_fetched_epoch > partition.leader_epoch:
        return None
    try:
        offsets = partition.offsets()
    except StorageError:
        return None  # the read path answers the partition's error
    if read_committed:
        # Nothing at or past the LSO may be returned, so a fetch there reads nothing.
        return offsets if req.fetch_offset == offsets.last_stable_offset else None
    if not req.fetch_offset == offsets.log_end_offset == offsets.high_watermark:
        return None
    return offsets


def _caught_up(partition: Partition, index: int, req: PartitionRequest, read_committed: bool
               ) -> dict[str, Any] | None:
    """The answer for a partition fetched at its log end with no leader-epoch
    question, without a log read (or a coroutine): a session covering a thousand
    idle partitions reads them all on every fetch. None when a read is needed."""
    offsets = _caught_up_offsets(partition, req, read_committed)
    if offsets is None:
        return None
    entry = _empty(index, ErrorCode.NONE, offsets.high_watermark, offsets.last_stable_offset,
                   offsets.log_start_offset)
    entry["aborted_transactions"] = () if read_committed else None
    return entry


def _unknown(index: int, code: ErrorCode) -> dict[str, Any]:
    """A partition the request names but the broker cannot serve at all (unknown
    topic, id or partition; a whole-request error): Kafka builds these before any
    read, with an empty aborted list where a read's error has null."""
    entry = _empty(index, code)
    entry["aborted_transactions"] = ()
    return entry


def _empty(index: int, code: ErrorCode, hw: int = -1, lso: int = -1, lss: int = -1
           ) -> dict[str, Any]:
    return {
        "partition_index": index, "error_code": code, "high_watermark": hw,
        "last_stable_offset": lso, "log_start_offset": lss, "aborted_transactions": None,
        "preferred_read_replica": -1, "records": b"",
    }


async def _read_partition(
    partition: Partition, index: int, req: PartitionRequest, budget: int, first: bool,
    read_committed: bool, lease: ResponseBudget | None
) -> dict[str, Any]:
    """One partition's entry; storage trouble answers that partition alone."""
    try:
        return await _read_checked(partition, index, req, budget, first, read_committed, lease)
    except StorageError:
        return _empty(index, ErrorCode.KAFKA_STORAGE_ERROR)
    except CorruptRecords:
        # Damaged stored bytes at this offset: Kafka's error, never a wrong record
        # or a skip past them (a consumer stays at the offset until an operator acts).
        return _empty(index, ErrorCode.CORRUPT_MESSAGE)


async def _read_checked(
    partition: Partition, index: int, req: PartitionRequest, budget: int, first: bool,
    read_committed: bool, lease: ResponseBudget | None
) -> dict[str, Any]:
    # A read's error carries no offsets (-1), as Kafka's LogReadResult for an error.
    if partition.fenced:
        return _empty(index, ErrorCode.NOT_LEADER_OR_FOLLOWER)
    current_epoch = req.current_leader_epoch
    if current_epoch >= 0 and current_epoch != partition.leader_epoch:
        code = (ErrorCode.FENCED_LEADER_EPOCH if current_epoch < partition.leader_epoch
                else ErrorCode.UNKNOWN_LEADER_EPOCH)
        return _empty(index, code)
    offsets = partition.offsets()
    if req.last_fetched_epoch >= 0:
        # KIP-320 (v12+): the fetcher says which epoch its last batch had. An epoch
        # this leader never had has no end offset: Kafka's Partition.readRecords
        # answers OFFSET_OUT_OF_RANGE. Leader epochs never move on a single node, so
        # the only epoch with an end is the current one, ending at the log end; a
        # fetch past that end is told where its epoch diverged instead of reading.
        if req.last_fetched_epoch > partition.leader_epoch:
            return _empty(index, ErrorCode.OFFSET_OUT_OF_RANGE)
        if (req.last_fetched_epoch == partition.leader_epoch
                and offsets.log_end_offset < req.fetch_offset):
            entry = _empty(index, ErrorCode.NONE, offsets.high_watermark,
                           offsets.last_stable_offset, offsets.log_start_offset)
            entry["diverging_epoch"] = {"epoch": partition.leader_epoch,
                                        "end_offset": offsets.log_end_offset}
            return entry
    limit = min(req.max_bytes, budget)
    records: bytes | list[bytes] = b""
    # Kafka reads read_committed fetches up to the LSO taken before the read.
    lso = offsets.last_stable_offset
    try:
        if limit > 0 or first:
            if read_committed and req.fetch_offset >= lso:
                # At or past the LSO there is nothing to return (Kafka checks the
                # offset's range first: below the log start is still out of range).
                if not offsets.log_start_offset <= req.fetch_offset <= offsets.log_end_offset:
                    raise OffsetOutOfRange(req.fetch_offset)
            else:
                records = await _read_leased(partition, req.fetch_offset, limit, first, lease)
            offsets = partition.offsets()
    except OffsetOutOfRange:
        return _empty(index, ErrorCode.OFFSET_OUT_OF_RANGE)
    entry = _empty(index, ErrorCode.NONE, offsets.high_watermark,
                   offsets.last_stable_offset, offsets.log_start_offset)
    # read_committed consumers expect an (empty) aborted list rather than null.
    entry["aborted_transactions"] = () if read_committed else None
    if read_committed and partition.has_transactions():
        # Only a partition with an open or an aborted transaction has anything to
        # cut or to report; the others (most topics) are returned as read, without
        # walking their batch headers. Checked after the read: a transaction that
        # began during it is open now, or aborted, and takes this path.
        records, end = _cut_at(records, lso)
        if end > req.fetch_offset:
            entry["aborted_transactions"] = [
                {"producer_id": t.producer_id, "first_offset": t.first_offset}
                for t in partition.aborted_transactions(req.fetch_offset, end)]
    entry["records"] = records
    return entry


def _cut_at(records: bytes | list[bytes], lso: int) -> tuple[bytes | list[bytes], int]:
    """The whole batches of `records` below `lso`, and the offset after the last
    of them (-1 when none is left). Batches are never split: the LSO is always at
    a batch boundary (a transaction's first batch, or the high watermark)."""
    parts = [records] if isinstance(records, bytes | bytearray) else records
    kept: list[bytes] = []
    end = -1
    for part in parts:
        for pos, header in iter_batches(part):
            if header.base_offset >= lso:
                if pos:
                    kept.append(part[:pos])
                return _joined(kept), end
            end = header.next_offset
        kept.append(part)
    return _joined(kept), end


def _joined(parts: list[bytes]) -> bytes | list[bytes]:
    if len(parts) == 1:
        return parts[0]
    return parts or b""


async def _read_leased(
    partition: Partition, offset: int, limit: int, first: bool, lease: ResponseBudget | None
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
