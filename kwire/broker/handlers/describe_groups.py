"""DescribeGroups (15): state, protocol and members of classic groups."""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.error_responses import default_message
from kwire.broker.handlers._groups import per_shard, ready
from kwire.broker.registry import handler
from kwire.coordinator.group.responses import DescribedGroup
from kwire.errors import ErrorCode

# Every group operation (AclEntry.supportedOperations(GROUP) as a bit field): what
# Kafka without an authorizer answers for a group described without error.
GROUP_AUTHORIZED_OPERATIONS = 3400
NOT_PROVIDED = -(2**31)


@handler(15, "DescribeGroups", 0, 6)
async def describe_groups(ctx: RequestContext, request: Any) -> dict[str, Any]:
    await ready(ctx)
    requested = list(request.groups)

    async def ask(ids: list[str]) -> tuple[DescribedGroup, ...]:
        r = await ctx.broker.groups.call(ids[0], lambda c, token, now: c.describe_groups(
            token, now, group_ids=ids, api_version=ctx.api_version))
        return tuple(r.groups)

    answers, _elsewhere = await per_shard(ctx, requested, ask, lambda g: g.group_id)
    # Kafka's DescribeGroupsResponse.groupError for a group coordinated elsewhere.
    not_here = ErrorCode.NOT_COORDINATOR
    described = [answers.get(group_id) or DescribedGroup(
        not_here, group_id, "", error_message=default_message(not_here))
        for group_id in requested]
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
        for g in described]}
