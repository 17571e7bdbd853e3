"""CreatePartitions (37): grow a topic's partition count.

Internal topics keep their partition count (kwire is stricter than Kafka: the
group coordinator maps groups to `__consumer_offsets` partitions by count), and
no topic grows past what fits on disk (broker/topics.py). A timeout of 0 or
less fails the whole request with REQUEST_TIMED_OUT unless every name is given
twice (create_topics.controller_deadline_expired).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers.create_topics import (
    controller_deadline_expired,
    manual_assignment_error,
)
from kwire.broker.registry import handler
from kwire.broker.topics import (
    EXCESSIVE_BATCH_MESSAGE,
    MAX_RECORDS_PER_USER_OP,
    is_internal,
    partitions_too_many,
)
from kwire.errors import ErrorCode, KwireError, StorageError


@handler(37, "CreatePartitions", 0, 3)
async def create_partitions(ctx: RequestContext, request: Any) -> dict[str, Any]:
    counts = Counter(t.name for t in request.topics)
    if controller_deadline_expired(request.timeout) and 1 in counts.values():
        # Unknown names too: ControllerApis leaves them to the controller's event.
        raise KwireError(ErrorCode.REQUEST_TIMED_OUT, None)
    # A name given twice is answered once, first, and not grown (ControllerApis).
    results = [{"name": name, "error_code": ErrorCode.INVALID_REQUEST,
                "error_message": "Duplicate topic name."}
               for name, count in counts.items() if count > 1]
    for t in request.topics:
        if counts[t.name] == 1:
            code, message = await _grow(ctx, t, bool(request.validate_only))
            results.append({"name": t.name, "error_code": code, "error_message": message})
    return {"throttle_time": 0, "results": results}


async def _grow(ctx: RequestContext, t: Any, validate_only: bool
                ) -> tuple[ErrorCode, str | None]:
    """ReplicationControlManager.createPartitions' checks, in its order."""
    snapshot = ctx.broker.snapshot()
    topic = snapshot.topics.get(t.name)
    if topic is None:
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, None
    current = len(topic.partitions)
    count = int(t.count)
    if count < current:
        return ErrorCode.INVALID_PARTITIONS, (
            f"The topic {t.name} currently has {current} partition(s); {count} would not be "
            "an increase.")
    if count == current:
        return ErrorCode.INVALID_PARTITIONS, f"Topic already has {current} partition(s)."
    if is_internal(t.name):
        return ErrorCode.INVALID_PARTITIONS, (
            f"The partition count of internal topic {t.name} cannot be changed.")
    too_many = partitions_too_many(t.name, count)
    if too_many is not None:
        return ErrorCode.INVALID_PARTITIONS, too_many
    if count - current > MAX_RECORDS_PER_USER_OP:
        # One PartitionRecord per new partition (QuorumController's limit).
        return ErrorCode.POLICY_VIOLATION, EXCESSIVE_BATCH_MESSAGE
    if t.assignments is not None:
        if len(t.assignments) != count - current:
            return ErrorCode.INVALID_REPLICA_ASSIGNMENT, (
                f"Attempted to add {count - current} additional partition(s), but only "
                f"{len(t.assignments)} assignment(s) were specified.")
        live = {b.node_id for b in snapshot.brokers}
        for a in t.assignments:
            refused = manual_assignment_error(a.broker_ids, live)
            if refused is not None:
                return ErrorCode.INVALID_REPLICA_ASSIGNMENT, refused
    if not validate_only:
        try:
            await ctx.broker.create_partitions(
                t.name, count, None if t.assignments is None
                else [tuple(a.broker_ids) for a in t.assignments])
        except StorageError as exc:  # nothing was added
            return ErrorCode.KAFKA_STORAGE_ERROR, str(exc)
    return ErrorCode.NONE, None
