"""Produce (0): validate each partition's single v2 batch by its header, then its
records where the topic asks for it (kwire/records/validator.py: keys on compacted
topics, timestamps, recompression to the topic's compression.type), append it,
answer per partition. Refused records are named in `record_errors` (Produce v8+).

acks=0 gets no response at all (the client sent it with expectResponse=false);
when such a produce fails, the connection is closed instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._lookup import resolve_topic
from kwire.broker.partitions import Partition
from kwire.broker.registry import handler
from kwire.broker.topics import append_refusal
from kwire.errors import ErrorCode, ProtocolViolation
from kwire.records.batch import InvalidBatch, parse_header, validate_produce_batch
from kwire.records.validator import RecordError, RecordValidationError, validate

log = logging.getLogger("kwire.produce")

# Kafka 4.x advertises Produce from v0 but answers only v3+ (KAFKA-18659): old
# librdkafka turns compression off unless v0 is inside the advertised range.
PRODUCE_ADVERTISED_MIN = 0


@handler(0, "Produce", 3, 13, advertised_min=PRODUCE_ADVERTISED_MIN)
async def produce(ctx: RequestContext, request: Any) -> dict[str, Any] | None:
    acks = int(request.acks)
    topics_out: list[dict[str, Any]] = []
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
            if acks not in (-1, 0, 1):
                outcome = _error(pdata.index, ErrorCode.INVALID_REQUIRED_ACKS)
            elif request.transactional_id is not None:
                outcome = _error(pdata.index, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                                 "transactions are not supported by kwire yet")
            elif topic is None:
                outcome = _error(pdata.index, topic_error)
            elif (refused := append_refusal(topic.name)) is not None:
                # Only the broker writes its internal topics, whoever created them.
                outcome = _error(pdata.index, ErrorCode.INVALID_TOPIC_EXCEPTION, refused)
            else:
                appends.append((partitions_out, len(partitions_out),
                                _produce_partition(ctx, topic.name, pdata.index, pdata.records)))
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
    return {"responses": topics_out, "throttle_time": 0}


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
    ctx: RequestContext, topic: str, index: int, records: bytes | None
) -> dict[str, Any]:
    partition = ctx.broker.replicas.get_partition_or_error(topic, index)
    if isinstance(partition, ErrorCode):
        return _error(index, partition)
    data = records or b""
    try:
        header = validate_produce_batch(
            data, produce_version=ctx.api_version, max_message_bytes=partition.max_message_bytes
        )
    except InvalidBatch as exc:
        return _refused(partition, topic, index, exc)
    if header.is_transactional:
        # Kafka answers a transactional batch outside a transaction with no message.
        return _error(index, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
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
    return {
        "index": index,
        "error_code": outcome.error_code,
        "base_offset": outcome.base_offset,
        "log_append_time": outcome.log_append_time_ms,
        "log_start_offset": outcome.log_start_offset,
        "record_errors": (),
        "error_message": outcome.error_message,
    }
