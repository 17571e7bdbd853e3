"""CreatePartitions (37): grow a topic's partition count."""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.registry import handler
from kwire.errors import ErrorCode


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
        elif t.assignments is not None and (
            len(t.assignments) != t.count - current
            or any(not set(a.broker_ids) <= live or not a.broker_ids for a in t.assignments)
        ):
            code, message = ErrorCode.INVALID_REPLICA_ASSIGNMENT, "Invalid replica assignment."
        elif not request.validate_only:
            await ctx.broker.create_partitions(t.name, int(t.count))
        seen.add(t.name)
        results.append({"name": t.name, "error_code": code, "error_message": message})
    return {"throttle_time": 0, "results": results}
