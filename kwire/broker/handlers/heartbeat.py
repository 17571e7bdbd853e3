"""Heartbeat (12): keeps a member's session alive; says when to rejoin."""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._groups import ready
from kwire.broker.registry import handler


@handler(12, "Heartbeat", 0, 4)
async def heartbeat(ctx: RequestContext, request: Any) -> dict[str, Any]:
    await ready(ctx)
    r = await ctx.broker.groups.call(request.group_id,lambda c, token, now: c.heartbeat(
        token, now,
        group_id=request.group_id,
        generation_id=request.generation_id,
        member_id=request.member_id,
        group_instance_id=getattr(request, "group_instance_id", None),
    ))
    return {"throttle_time": 0, "error_code": r.error_code}
