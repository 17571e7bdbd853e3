"""JoinGroup (11): join a classic group; the answer waits until the rebalance
completes (MEMBER_ID_REQUIRED first for v4+ new members, KIP-394)."""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._groups import client_host, ready
from kwire.broker.registry import handler


@handler(11, "JoinGroup", 0, 9)
async def join_group(ctx: RequestContext, request: Any) -> dict[str, Any]:
    await ready(ctx)
    v = ctx.api_version
    rebalance_timeout = getattr(request, "rebalance_timeout", None)
    session_ms = int(request.session_timeout.total_seconds() * 1000)
    rebalance_ms = (int(rebalance_timeout.total_seconds() * 1000)
                    if v >= 1 and rebalance_timeout is not None else -1)
    r = await ctx.broker.groups.call(request.group_id,lambda c, token, now: c.join_group(
        token, now,
        group_id=request.group_id,
        member_id=request.member_id,
        group_instance_id=getattr(request, "group_instance_id", None),
        protocol_type=request.protocol_type,
        protocols=[(p.name, bytes(p.metadata)) for p in request.protocols],
        session_timeout_ms=session_ms,
        rebalance_timeout_ms=rebalance_ms,
        client_id=ctx.client_id or "",
        client_host=client_host(ctx),
        require_known_member_id=v >= 4,
        supports_skip_assignment=v >= 9,
        reason=getattr(request, "reason", None),
    ))
    return {
        "throttle_time": 0,
        "error_code": r.error_code,
        "generation_id": r.generation_id,
        "protocol_type": r.protocol_type,
        # protocol_name is nullable only from v7
        "protocol_name": r.protocol_name if v >= 7 else (r.protocol_name or ""),
        "leader": r.leader,
        "skip_assignment": r.skip_assignment,
        "member_id": r.member_id,
        "members": [{"member_id": m.member_id, "group_instance_id": m.group_instance_id,
                     "metadata": m.metadata} for m in r.members],
    }
