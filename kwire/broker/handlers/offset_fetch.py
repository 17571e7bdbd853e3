"""OffsetFetch (9): committed positions of one group (v1-7) or several (v8+)."""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._groups import by_topic, ready
from kwire.broker.registry import handler

_FIELDS = ("committed_offset", "committed_leader_epoch", "metadata", "error_code")


@handler(9, "OffsetFetch", 1, 9)
async def offset_fetch(ctx: RequestContext, request: Any) -> dict[str, Any]:
    await ready(ctx)
    require_stable = bool(getattr(request, "require_stable", False))
    if ctx.api_version >= 8:
        groups = []
        for g in request.groups:
            r = await _fetch(ctx, g.group_id, g.topics, require_stable)
            groups.append({"group_id": g.group_id, "error_code": r.error_code,
                           "topics": by_topic(r.partitions, _FIELDS)})
        return {"throttle_time": 0, "groups": groups}
    r = await _fetch(ctx, request.group_id, request.topics, require_stable)
    return {"throttle_time": 0, "error_code": r.error_code,
            "topics": by_topic(r.partitions, _FIELDS)}


async def _fetch(ctx: RequestContext, group_id: str, topics: Any, require_stable: bool) -> Any:
    partitions = None if topics is None else [
        (t.name, index) for t in topics for index in t.partition_indexes]
    return await ctx.broker.groups.call(
        lambda token, now: ctx.broker.groups.coordinator.fetch_offsets(
            token, now, group_id=group_id, partitions=partitions, require_stable=require_stable))
