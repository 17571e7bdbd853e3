"""DescribeGroups (15): state, protocol and members of classic groups."""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._groups import ready
from kwire.broker.registry import handler
from kwire.errors import ErrorCode

# Every group operation (AclEntry.supportedOperations(GROUP) as a bit field): what
# Kafka without an authorizer answers for a group described without error.
GROUP_AUTHORIZED_OPERATIONS = 3400
NOT_PROVIDED = -(2**31)


@handler(15, "DescribeGroups", 0, 6)
async def describe_groups(ctx: RequestContext, request: Any) -> dict[str, Any]:
    await ready(ctx)
    r = await ctx.broker.groups.call(
        lambda token, now: ctx.broker.groups.coordinator.describe_groups(
            token, now, group_ids=list(request.groups), api_version=ctx.api_version))
    include_ops = bool(getattr(request, "include_authorized_operations", False))

    def operations(code: int) -> int:
        return GROUP_AUTHORIZED_OPERATIONS if include_ops and code == ErrorCode.NONE else (
            NOT_PROVIDED)

    return {"throttle_time": 0, "groups": [
        {"error_code": g.error_code, "error_message": g.error_message, "group_id": g.group_id,
         "group_state": g.group_state, "protocol_type": g.protocol_type,
         "protocol_data": g.protocol_data,
         "members": [{"member_id": m.member_id, "group_instance_id": m.group_instance_id,
                      "client_id": m.client_id, "client_host": m.client_host,
                      "member_metadata": m.member_metadata,
                      "member_assignment": m.member_assignment} for m in g.members],
         "authorized_operations": operations(g.error_code)}
        for g in r.groups]}
