"""DeleteGroups (42): remove empty groups and their committed offsets."""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._groups import ready
from kwire.broker.registry import handler


@handler(42, "DeleteGroups", 0, 2)
async def delete_groups(ctx: RequestContext, request: Any) -> dict[str, Any]:
    await ready(ctx)
    r = await ctx.broker.groups.call(
        lambda token, now: ctx.broker.groups.coordinator.delete_groups(
            token, now, group_ids=list(request.groups_names)))
    return {"throttle_time": 0, "results": [
        {"group_id": g.group_id, "error_code": g.error_code} for g in r.results]}
