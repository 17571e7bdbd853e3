"""SyncGroup (14): the leader hands out assignments; followers wait for theirs."""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._groups import client_host, ready
from kwire.broker.registry import handler


@handler(14, "SyncGroup", 0, 5)
async def sync_group(ctx: RequestContext, request: Any) -> dict[str, Any]:
    await ready(ctx)
    assignments = {a.member_id: bytes(a.assignment) for a in request.assignments}
    r = await ctx.broker.groups.call(request.group_id,lambda c, token, now: c.sync_group(
        token, now,
        group_id=request.group_id,
        generation_id=request.generation_id,
        member_id=request.member_id,
        group_instance_id=getattr(request, "group_instance_id", None),
        protocol_type=getattr(request, "protocol_type", None),
        protocol_name=getattr(request, "protocol_name", None),
        assignments=assignments,
        client_id=ctx.client_id,
        client_host=client_host(ctx),
    ))
    return {"throttle_time": 0, "error_code": r.error_code, "protocol_type": r.protocol_type,
            "protocol_name": r.protocol_name, "assignment": r.assignment}
