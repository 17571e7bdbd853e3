"""AddPartitionsToTxn (24): add partitions to the producer's transaction.

v0-3 come from clients: one transaction, answered per partition. v4+ batch
transactions (brokers' KIP-890 checks): each may be `verify_only`, asking
whether its partitions are already in the transaction. A partition of a topic
that does not exist fails the whole transaction: UNKNOWN_TOPIC_OR_PARTITION for
it, OPERATION_NOT_ATTEMPTED for the others (KafkaApis).
"""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._transactions import client_error
from kwire.broker.registry import handler
from kwire.coordinator.txn.metadata import TopicPartitionKey
from kwire.errors import ErrorCode, KwireError

FIRST_BATCHED_VERSION = 4


@handler(24, "AddPartitionsToTxn", 0, 5)
async def add_partitions_to_txn(ctx: RequestContext, request: Any) -> dict[str, Any]:
    if ctx.api_version < FIRST_BATCHED_VERSION:
        topics = _results(await _one(
            ctx, request.v3_and_below_transactional_id, int(request.v3_and_below_producer_id),
            int(request.v3_and_below_producer_epoch), request.v3_and_below_topics, False))
        return {"throttle_time": 0, "results_by_topic_v3_and_below": topics}
    results = []
    for transaction in request.transactions:
        errors = await _one(ctx, transaction.transactional_id, int(transaction.producer_id),
                            int(transaction.producer_epoch), transaction.topics,
                            bool(transaction.verify_only))
        results.append({"transactional_id": transaction.transactional_id,
                        "topic_results": _results(errors)})
    return {"throttle_time": 0, "error_code": ErrorCode.NONE,
            "results_by_transaction": results}


async def _one(ctx: RequestContext, transactional_id: str | None, producer_id: int,
               producer_epoch: int, topics: Any, verify_only: bool
               ) -> dict[TopicPartitionKey, ErrorCode]:
    wanted = [(t.name, int(p)) for t in topics for p in t.partitions]
    if not transactional_id:
        return dict.fromkeys(wanted, ErrorCode.INVALID_REQUEST)
    snapshot = ctx.broker.snapshot()
    unknown = {tp for tp in wanted if not _exists(snapshot, tp)}
    if unknown:
        return {tp: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION if tp in unknown
                else ErrorCode.OPERATION_NOT_ATTEMPTED for tp in wanted}
    txns = ctx.broker.transactions
    try:
        if verify_only:
            return await txns.verify_partitions(transactional_id, producer_id, producer_epoch,
                                                wanted)
        code = await txns.add_partitions(transactional_id, producer_id, producer_epoch, wanted)
    except KwireError as exc:
        code = exc.error_code
    return dict.fromkeys(wanted, client_error(code, ctx.api_version, 2))


def _exists(snapshot: Any, tp: TopicPartitionKey) -> bool:
    topic = snapshot.topics.get(tp[0])
    return topic is not None and 0 <= tp[1] < len(topic.partitions)


def _results(errors: dict[TopicPartitionKey, ErrorCode]) -> list[dict[str, Any]]:
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for (topic, partition), code in errors.items():
        by_topic.setdefault(topic, []).append(
            {"partition_index": partition, "partition_error_code": code})
    return [{"name": topic, "results_by_partition": partitions}
            for topic, partitions in by_topic.items()]
