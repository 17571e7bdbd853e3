"""Produce (0): validate each partition's single v2 batch by its header, then its
records where the topic asks for it (kwire/records/validator.py: keys on compacted
topics, timestamps, recompression to the topic's compression.type), append it,
answer per partition. Refused records are named in `record_errors` (Produce v8+).

acks=0 gets no response at all (the client sent it with expectResponse=false);
when such a produce fails, the connection is closed instead.

KIP-951 (v10+): a partition answered NOT_LEADER_OR_FOLLOWER names its current
leader, and the response lists the endpoints of the live leaders it names, so the
producer goes straight there without a Metadata round trip (`LeaderHints`, which
Fetch v16+ uses too).

Transactions (KIP-98): a request with a transactional_id may carry transactional
batches; they start or continue the producer's transaction in each partition
(Partition.append). A request with transactional batches and no
transactional_id is refused whole, as Kafka's handleProduceRequest does (every
partition TRANSACTIONAL_ID_AUTHORIZATION_FAILED, no message). A producer's first
transactional batch in a partition is checked with the transaction coordinator
first (KIP-890 part 1, `TxnRouter.verify`), and answered as Kafka's
ReplicaManager answers a failed check: INVALID_TXN_STATE "Partition was not added
to the transaction", NOT_ENOUGH_REPLICAS (retriable without a metadata refresh)
when the coordinator could not be asked, else the coordinator's error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._lookup import resolve_topic
from kwire.broker.partitions import Partition
from kwire.broker.registry import handler
from kwire.broker.topics import append_refusal
from kwire.broker.txn_router import COORDINATOR_UNREACHABLE
from kwire.errors import ErrorCode, ProtocolViolation
from kwire.records.batch import (
    BATCH_HEADER_SIZE,
    MAGIC_V2,
    TRANSACTIONAL_BIT,
    InvalidBatch,
    parse_header,
    validate_produce_batch,
)
from kwire.records.validator import RecordError, RecordValidationError, validate

if TYPE_CHECKING:
    from kwire.broker.services import Broker
    from kwire.cluster.api import BrokerInfo

log = logging.getLogger("kwire.produce")

# Kafka 4.x advertises Produce from v0 but answers only v3+ (KAFKA-18659): old
# librdkafka turns compression off unless v0 is inside the advertised range.
PRODUCE_ADVERTISED_MIN = 0
# KIP-951: the first version whose answers carry current_leader and node_endpoints.
FIRST_LEADER_HINT_VERSION = 10
# How long a produce waits for a partition this broker was just made leader of
# to finish its takeover (a ledger recovery: well under a second) before it
# answers NOT_LEADER_OR_FOLLOWER.
LEADERSHIP_WAIT_S = 5.0


class LeaderHints:
    """KIP-951's leader hints for one response, as Kafka's KafkaApis.getCurrentLeader
    builds them: a partition this broker hosts (open and not fenced) is led here at
    its own leader epoch (ReplicaManager first); any other takes the metadata's
    leader and epoch, -1/-1 for a partition the metadata does not have. The
    response's node_endpoints list each named leader once, and only leaders that
    are live brokers (MetadataCache.getAliveBrokerNode). Built only for partitions
    answered with an error, so an answer without errors costs nothing."""

    __slots__ = ("_broker", "_nodes")

    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self._nodes: dict[int, BrokerInfo] = {}

    def fill(self, entry: dict[str, Any], topic: str, index: int) -> None:
        """Set `entry`'s current_leader and remember the leader's endpoint."""
        broker = self._broker
        snapshot = broker.snapshot()
        local = broker.partition(topic, index)
        if local is not None and not local.fenced:
            leader, epoch = broker.node.node_id, local.leader_epoch
        else:
            metadata = snapshot.topics.get(topic)
            if metadata is None or not 0 <= index < len(metadata.partitions):
                leader, epoch = -1, -1
            else:
                state = metadata.partitions[index]
                leader, epoch = state.leader, state.leader_epoch
        entry["current_leader"] = {"leader_id": leader, "leader_epoch": epoch}
        node = next((b for b in snapshot.brokers if b.node_id == leader), None)
        if node is not None:
            self._nodes[leader] = node

    def node_endpoints(self) -> list[dict[str, Any]]:
        # Kafka gathers them in a HashMap keyed by node id: id order for small ids.
        return [{"node_id": b.node_id, "host": b.host, "port": b.port, "rack": b.rack}
                for _, b in sorted(self._nodes.items())]


@handler(0, "Produce", 3, 13, advertised_min=PRODUCE_ADVERTISED_MIN)
async def produce(ctx: RequestContext, request: Any) -> dict[str, Any] | None:
    acks = int(request.acks)
    hints = LeaderHints(ctx.broker) if ctx.api_version >= FIRST_LEADER_HINT_VERSION else None
    topics_out: list[dict[str, Any]] = []
    refuse_all = request.transactional_id is None and _has_transactional_records(request)
    # Appends run concurrently: on cluster storage each waits for a bookie ack
    # quorum, so a request's latency is its slowest partition's, not their sum.
    appends: list[tuple[list[Any], int, Coroutine[Any, Any, dict[str, Any]]]] = []
    for topic_data in request.topic_data:
        name = getattr(topic_data, "name", None)
        topic_id = getattr(topic_data, "topic_id", None)
        topic, topic_error = resolve_topic(ctx.broker.snapshot(), name, topic_id)
        if topic is None and ctx.api_version >= 13:
            # v13 names topics by id only: an id no topic has (the zero id too) is
            # UNKNOWN_TOPIC_ID in Kafka's KafkaApis.handleProduceRequest.
            topic_error = ErrorCode.UNKNOWN_TOPIC_ID
        partitions_out: list[dict[str, Any]] = []
        for pdata in topic_data.partition_data:
            if refuse_all:  # checked first in Kafka, before anything else is looked at
                outcome = _error(pdata.index, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
            elif acks not in (-1, 0, 1):
                outcome = _error(pdata.index, ErrorCode.INVALID_REQUIRED_ACKS)
            elif topic is None:
                outcome = _error(pdata.index, topic_error)
            elif (refused := append_refusal(topic.name)) is not None:
                # Only the broker writes its internal topics, whoever created them.
                outcome = _error(pdata.index, ErrorCode.INVALID_TOPIC_EXCEPTION, refused)
            else:
                appends.append((partitions_out, len(partitions_out),
                                _produce_partition(ctx, request.transactional_id, topic.name,
                                                   pdata.index, pdata.records,
                                                   hints)))
                outcome = {}  # filled in below
            partitions_out.append(outcome)
        topics_out.append(
            {"name": name, "topic_id": topic_id, "partition_responses": partitions_out}
        )
    await _run_appends(appends)
    if acks == 0:
        # No response to carry an error: Kafka closes the connection instead, so
        # the producer notices and refreshes its metadata (KafkaApis.handleProduceRequest).
        failed = [p for t in topics_out for p in t["partition_responses"] if p["error_code"]]
        if failed:
            raise ProtocolViolation(
                f"acks=0 produce failed ({ErrorCode(failed[0]['error_code']).name}); "
                "closing the connection as Kafka does")
        return None
    response: dict[str, Any] = {"responses": topics_out, "throttle_time": 0}
    if hints is not None:
        response["node_endpoints"] = hints.node_endpoints()
    return response


def _has_transactional_records(request: Any) -> bool:
    """Kafka's ProduceRequest.hasTransactionalRecords: the first batch of any
    partition has the transactional bit (read before any validation)."""
    for topic_data in request.topic_data:
        for pdata in topic_data.partition_data:
            records = pdata.records
            if (records is not None and len(records) >= BATCH_HEADER_SIZE
                    and records[16] == MAGIC_V2 and records[22] & TRANSACTIONAL_BIT):
                return True
    return False


async def _run_appends(
    appends: list[tuple[list[Any], int, Coroutine[Any, Any, dict[str, Any]]]],
) -> None:
    """Await every partition's append and put each answer in its slot. Tasks start
    in request order and each takes its offsets before its first wait, so the
    order of appends to one log is the request's order."""
    if len(appends) == 1:  # the common case needs no task
        slots, i, append = appends[0]
        slots[i] = await append
        return
    results = await asyncio.gather(*(append for _, _, append in appends))
    for (slots, i, _), result in zip(appends, results, strict=True):
        slots[i] = result


def _error(
    index: int, code: ErrorCode, message: str | None = None,
    record_errors: tuple[RecordError, ...] = (), log_start_offset: int = -1,
) -> dict[str, Any]:
    return {
        "index": index, "error_code": code, "base_offset": -1, "log_append_time": -1,
        "log_start_offset": log_start_offset, "error_message": message,
        "record_errors": [
            {"batch_index": e.batch_index, "batch_index_error_message": e.message}
            for e in record_errors
        ],
    }


def _unverified(index: int, code: ErrorCode) -> dict[str, Any]:
    """A transactional batch the coordinator did not confirm (ReplicaManager's
    postVerificationCallback): no offsets, Kafka's message where it sets one."""
    if code == ErrorCode.INVALID_TXN_STATE:
        return _error(index, code, "Partition was not added to the transaction")
    if code in COORDINATOR_UNREACHABLE:
        # Older producers would not retry these on a Produce: Kafka answers
        # NOT_ENOUGH_REPLICAS, which they retry without refreshing metadata.
        return _error(index, ErrorCode.NOT_ENOUGH_REPLICAS,
                      "Unable to verify the partition has been added to the transaction. "
                      f"Underlying error: {code.name}")
    return _error(index, code)


def _refused(partition: Partition, topic: str, index: int, exc: InvalidBatch) -> dict[str, Any]:
    """A refused batch answered as ReplicaManager does: error_message only for a
    RecordValidationException, the log start offset only for failures it does
    not name (see InvalidBatch); kwire logs the reason."""
    log.debug("produce to %s-%d refused: %s", topic, index, exc.message)
    if isinstance(exc, RecordValidationError):
        return _error(index, ErrorCode(exc.error_code), exc.message, exc.record_errors,
                      partition.log.offsets().log_start_offset)
    lso = partition.log.offsets().log_start_offset if exc.with_log_start_offset else -1
    message = exc.message if exc.with_message else None
    return _error(index, ErrorCode(exc.error_code), message, log_start_offset=lso)


async def _produce_partition(
    ctx: RequestContext, transactional_id: str | None, topic: str, index: int,
    records: bytes | None, hints: LeaderHints | None,
) -> dict[str, Any]:
    partition = ctx.broker.replicas.get_partition_or_error(topic, index)
    if partition == ErrorCode.NOT_LEADER_OR_FOLLOWER:
        # Made leader a moment ago (failover, rebalance): wait for the takeover.
        partition = await ctx.broker.replicas.wait_for_leadership(
            topic, index, LEADERSHIP_WAIT_S)
    if isinstance(partition, ErrorCode):
        entry = _error(index, partition)
        if partition == ErrorCode.NOT_LEADER_OR_FOLLOWER and hints is not None:
            hints.fill(entry, topic, index)
        return entry
    data = records or b""
    try:
        header = validate_produce_batch(
            data, produce_version=ctx.api_version, max_message_bytes=partition.max_message_bytes
        )
    except InvalidBatch as exc:
        return _refused(partition, topic, index, exc)
    if header.is_transactional and transactional_id is not None:
        code = await ctx.broker.txn_router.verify(
            transactional_id, header.producer_id, header.producer_epoch, partition)
        if code != ErrorCode.NONE:
            return _unverified(index, code)
    # Kafka drops a trailing partial batch (UnifiedLog.trimInvalidBytes): store the one batch.
    batch = bytearray(memoryview(data)[: header.size])
    now_ms = ctx.broker.now_ms()
    try:
        validated = validate(batch, header, partition.validation, now_ms, f"{topic}-{index}")
    except InvalidBatch as exc:
        return _refused(partition, topic, index, exc)
    if validated is not batch:  # re-encoded in the topic's codec
        batch, header = validated, parse_header(validated)
    outcome = await partition.append(batch, header, now_ms)
    entry = {
        "index": index,
        "error_code": outcome.error_code,
        "base_offset": outcome.base_offset,
        "log_append_time": outcome.log_append_time_ms,
        "log_start_offset": outcome.log_start_offset,
        "record_errors": (),
        "error_message": outcome.error_message,
    }
    if outcome.error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER and hints is not None:
        # Another owner fenced the log while this append waited for it.
        hints.fill(entry, topic, index)
    return entry
