"""ConsumerGroupDescribe (69): consumer groups (KIP-848) with their members, current
and target assignments. Served while the consumer protocol is enabled."""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.error_responses import default_message
from kwire.broker.handlers._groups import per_shard, ready
from kwire.broker.handlers.consumer_group_heartbeat import (
    CONSUMER_PROTOCOL,
    require_consumer_protocol,
)
from kwire.broker.handlers.describe_groups import GROUP_AUTHORIZED_OPERATIONS, NOT_PROVIDED
from kwire.broker.registry import handler
from kwire.coordinator.group.consumer.responses import (
    DescribedConsumerGroup,
    TopicPartitions,
)
from kwire.errors import ErrorCode


def _assignment(partitions: tuple[TopicPartitions, ...]) -> dict[str, Any]:
    return {"topic_partitions": [
        {"topic_id": topic_id, "topic_name": name, "partitions": list(parts)}
        for topic_id, name, parts in partitions]}


@handler(69, "ConsumerGroupDescribe", 0, 1, protocol=CONSUMER_PROTOCOL)
async def consumer_group_describe(ctx: RequestContext, request: Any) -> dict[str, Any]:
    require_consumer_protocol(ctx)
    await ready(ctx)
    requested = list(request.group_ids)

    async def ask(ids: list[str]) -> tuple[DescribedConsumerGroup, ...]:
        r = await ctx.broker.groups.call(ids[0], lambda c, token, now: c.describe_consumer_groups(
            token, now, group_ids=ids))
        return tuple(r.groups)

    # Kafka's GroupCoordinatorService.consumerGroupDescribe: an empty group id is
    # INVALID_GROUP_ID (no message), answered ahead of the groups it looks up.
    invalid = [DescribedConsumerGroup(ErrorCode.INVALID_GROUP_ID, "")
               for group_id in requested if not group_id]
    requested = [group_id for group_id in requested if group_id]
    answers, _elsewhere = await per_shard(ctx, requested, ask, lambda g: g.group_id)
    not_here = ErrorCode.NOT_COORDINATOR
    described = invalid + [answers.get(group_id) or DescribedConsumerGroup(
        not_here, group_id, default_message(not_here)) for group_id in requested]
    include_ops = bool(request.include_authorized_operations)
    return {"throttle_time": 0, "groups": [
        {"error_code": g.error_code, "error_message": g.error_message, "group_id": g.group_id,
         "group_state": g.group_state, "group_epoch": g.group_epoch,
         "assignment_epoch": g.assignment_epoch, "assignor_name": g.assignor_name,
         "members": [{"member_id": m.member_id, "instance_id": m.instance_id,
                      "rack_id": m.rack_id, "member_epoch": m.member_epoch,
                      "client_id": m.client_id, "client_host": m.client_host,
                      "subscribed_topic_names": list(m.subscribed_topic_names),
                      # Kafka's ConsumerGroupMember starts with regex "", not null
                      "subscribed_topic_regex": m.subscribed_topic_regex or "",
                      "assignment": _assignment(m.assignment),
                      "target_assignment": _assignment(m.target_assignment),
                      "member_type": m.member_type} for m in g.members],
         "authorized_operations": GROUP_AUTHORIZED_OPERATIONS
         if include_ops and g.error_code == ErrorCode.NONE else NOT_PROVIDED}
        for g in described]}
