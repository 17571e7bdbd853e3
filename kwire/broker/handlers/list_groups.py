"""ListGroups (16): every group, optionally filtered by state (v4+) and type (v5+)."""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._groups import ready
from kwire.broker.registry import handler
from kwire.errors import ErrorCode


@handler(16, "ListGroups", 0, 5)
async def list_groups(ctx: RequestContext, request: Any) -> dict[str, Any]:
    await ready(ctx)
    states = tuple(getattr(request, "states_filter", ()) or ())
    types = tuple(getattr(request, "types_filter", ()) or ())
    # Every shard this broker coordinates; a client lists a cluster's groups by
    # asking every broker, as Kafka's admin client does.
    answers = await ctx.broker.groups.call_each(lambda c, token, now: c.list_groups(
        token, now, states_filter=states, types_filter=types))
    error = next((r.error_code for r in answers if r.error_code != ErrorCode.NONE),
                 ErrorCode.NONE)
    return {"throttle_time": 0, "error_code": error, "groups": [
        {"group_id": g.group_id, "protocol_type": g.protocol_type, "group_state": g.group_state,
         "group_type": g.group_type} for r in answers for g in r.groups]}
