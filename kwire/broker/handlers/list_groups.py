"""ListGroups (16): every group, optionally filtered by state (v4+) and type (v5+)."""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._groups import ready
from kwire.broker.registry import handler


@handler(16, "ListGroups", 0, 5)
async def list_groups(ctx: RequestContext, request: Any) -> dict[str, Any]:
    await ready(ctx)
    states = tuple(getattr(request, "states_filter", ()) or ())
    types = tuple(getattr(request, "types_filter", ()) or ())
    r = await ctx.broker.groups.call(
        lambda token, now: ctx.broker.groups.coordinator.list_groups(
            token, now, states_filter=states, types_filter=types))
    return {"throttle_time": 0, "error_code": r.error_code, "groups": [
        {"group_id": g.group_id, "protocol_type": g.protocol_type, "group_state": g.group_state,
         "group_type": g.group_type} for g in r.groups]}
