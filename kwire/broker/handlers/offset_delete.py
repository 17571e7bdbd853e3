"""OffsetDelete (47): drop committed offsets of topics a group no longer consumes."""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._groups import by_topic, ready
from kwire.broker.registry import handler


@handler(47, "OffsetDelete", 0, 0)
async def offset_delete(ctx: RequestContext, request: Any) -> dict[str, Any]:
    await ready(ctx)
    partitions = [(t.name, p.partition_index) for t in request.topics for p in t.partitions]
    r = await ctx.broker.groups.call(
        lambda token, now: ctx.broker.groups.coordinator.delete_offsets(
            token, now, group_id=request.group_id, partitions=partitions))
    return {"throttle_time": 0, "error_code": r.error_code,
            "topics": by_topic(r.partitions, ("error_code",))}
