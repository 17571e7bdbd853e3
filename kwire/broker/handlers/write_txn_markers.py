"""WriteTxnMarkers (27, v1-2): a transaction coordinator (on this or another
broker) asks this broker to write COMMIT or ABORT markers in partitions it leads
(Kafka's KafkaApis.handleWriteTxnMarkersRequest).

Per partition: one not hosted here is UNKNOWN_TOPIC_OR_PARTITION (Kafka looks for
an online local partition first), otherwise what the marker's append answers
(Partition.write_txn_marker: NOT_LEADER_OR_FOLLOWER for a log another owner took,
INVALID_PRODUCER_EPOCH, TRANSACTION_COORDINATOR_FENCED, KAFKA_STORAGE_ERROR). A
marker stored in a __consumer_offsets partition then completes the producer's
pending transactional offsets there (the group coordinator's
onTransactionCompleted) before the answer goes out, so the producer's next
transaction cannot begin first; its failure is that partition's error.

v2's transaction_version is not used: kwire does not advertise transaction.version
2, so every marker carries its transaction's own epoch (TV0/TV1 rules).
"""

from __future__ import annotations

import asyncio
from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.registry import handler
from kwire.broker.txn_router import write_local_marker
from kwire.errors import ErrorCode


@handler(27, "WriteTxnMarkers", 1, 2)
async def write_txn_markers(ctx: RequestContext, request: Any) -> dict[str, Any]:
    markers = []
    for marker in request.markers:
        if int(marker.producer_id) < 0:
            # No marker batch can carry it: Kafka 4.4 fails every partition of it,
            # known or not, with UNKNOWN_SERVER_ERROR.
            codes = iter([ErrorCode.UNKNOWN_SERVER_ERROR] * sum(
                len(t.partition_indexes) for t in marker.topics))
        else:
            codes = iter(await asyncio.gather(*(
                _write(ctx, t.name, int(index), marker)
                for t in marker.topics for index in t.partition_indexes)))
        markers.append({"producer_id": marker.producer_id, "topics": [
            {"name": t.name, "partitions": [
                {"partition_index": index, "error_code": next(codes)}
                for index in t.partition_indexes]}
            for t in marker.topics]})
    return {"markers": markers}


async def _write(ctx: RequestContext, topic: str, index: int, marker: Any) -> ErrorCode:
    if ctx.broker.partition(topic, index) is None:
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    return await write_local_marker(
        ctx.broker, topic, index, int(marker.producer_id), int(marker.producer_epoch),
        int(marker.coordinator_epoch), bool(marker.transaction_result))
