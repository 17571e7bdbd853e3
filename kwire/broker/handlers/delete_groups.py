"""DeleteGroups (42): remove empty groups and their committed offsets."""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._groups import per_shard, ready
from kwire.broker.registry import handler
from kwire.coordinator.group.responses import DeletableGroupResult
from kwire.errors import ErrorCode


@handler(42, "DeleteGroups", 0, 2)
async def delete_groups(ctx: RequestContext, request: Any) -> dict[str, Any]:
    await ready(ctx)
    requested = list(request.groups_names)

    async def ask(ids: list[str]) -> tuple[DeletableGroupResult, ...]:
        r = await ctx.broker.groups.call(ids[0], lambda c, token, now: c.delete_groups(
            token, now, group_ids=ids))
        return tuple(r.results)

    answers, _elsewhere = await per_shard(ctx, requested, ask, lambda g: g.group_id)
    return {"throttle_time": 0, "results": [
        {"group_id": group_id, "error_code": answers[group_id].error_code
         if group_id in answers else ErrorCode.NOT_COORDINATOR}
        for group_id in requested]}
