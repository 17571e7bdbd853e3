"""CreatePartitions (37): grow a topic's partition count.

Internal topics keep their partition count (kwire is stricter than Kafka: the
group coordinator maps groups to `__consumer_offsets` partitions by count), and
no topic grows past what fits on disk (broker/topics.py).
"""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.registry import handler
from kwire.broker.topics import (
    EXCESSIVE_BATCH_MESSAGE,
    MAX_RECORDS_PER_USER_OP,
    is_internal,
    partitions_too_many,
)
from kwire.errors import ErrorCode, StorageError


@handler(37, "CreatePartitions", 0, 3)
async def create_partitions(ctx: RequestContext, request: Any) -> dict[str, Any]:
    results = []
    seen: set[str] = set()
    for t in request.topics:
        code, message = ErrorCode.NONE, None
        topic = ctx.broker.snapshot().topics.get(t.name)
        current = len(topic.partitions) if topic else 0
        live = {b.node_id for b in ctx.broker.snapshot().brokers}
        if t.name in seen:
            code, message = ErrorCode.INVALID_REQUEST, "Duplicate topic in request."
        elif topic is None:
            code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            message = f"The topic '{t.name}' does not exist."
        elif t.count < current:
            code, message = ErrorCode.INVALID_PARTITIONS, (
                f"Topic currently has {current} partitions, which is higher than the requested "
                f"{t.count}.")
        elif t.count == current:
            code, message = ErrorCode.INVALID_PARTITIONS, (
                f"Topic already has {current} partitions.")
        elif is_internal(t.name):
            code, message = ErrorCode.INVALID_PARTITIONS, (
                f"The partition count of internal topic {t.name} cannot be changed.")
        elif (too_many := partitions_too_many(t.name, int(t.count))) is not None:
            code, message = ErrorCode.INVALID_PARTITIONS, too_many
        elif t.count - current > MAX_RECORDS_PER_USER_OP:
            # One PartitionRecord per new partition (QuorumController's limit).
            code, message = ErrorCode.POLICY_VIOLATION, EXCESSIVE_BATCH_MESSAGE
        elif t.assignments is not None and (
            len(t.assignments) != t.count - current
            or any(not set(a.broker_ids) <= live or not a.broker_ids for a in t.assignments)
        ):
            code, message = ErrorCode.INVALID_REPLICA_ASSIGNMENT, "Invalid replica assignment."
        elif not request.validate_only:
            try:
                await ctx.broker.create_partitions(t.name, int(t.count))
            except StorageError as exc:  # nothing was added
                code, message = ErrorCode.KAFKA_STORAGE_ERROR, str(exc)
        seen.add(t.name)
        results.append({"name": t.name, "error_code": code, "error_message": message})
    return {"throttle_time": 0, "results": results}
