"""LeaveGroup (13): one member (v0-2) or a batch of members (v3+, KIP-345) leave."""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._groups import ready
from kwire.broker.registry import handler


@handler(13, "LeaveGroup", 0, 5)
async def leave_group(ctx: RequestContext, request: Any) -> dict[str, Any]:
    await ready(ctx)
    if ctx.api_version >= 3:
        members = [(m.member_id, m.group_instance_id) for m in request.members]
    else:
        members = [(request.member_id, None)]
    r = await ctx.broker.groups.call(request.group_id,lambda c, token, now: c.leave_group(
        token, now, group_id=request.group_id, members=members))
    if ctx.api_version < 3:
        # Before batching, the single member's error is the response's error.
        code = r.members[0].error_code if r.error_code == 0 and r.members else r.error_code
        return {"throttle_time": 0, "error_code": code}
    return {"throttle_time": 0, "error_code": r.error_code,
            "members": [{"member_id": m.member_id, "group_instance_id": m.group_instance_id,
                         "error_code": m.error_code} for m in r.members]}
