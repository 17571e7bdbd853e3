"""ConsumerGroupHeartbeat (68): KIP-848's one request for joining, heartbeating,
reconciling and leaving a consumer group. Served while the consumer protocol is
enabled (group.coordinator.rebalance.protocols)."""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._groups import client_host, ready
from kwire.broker.registry import handler
from kwire.coordinator.group.consumer.heartbeat import HeartbeatRequest, check_heartbeat_request
from kwire.coordinator.group.consumer.responses import ConsumerGroupHeartbeatResponse
from kwire.coordinator.group.consumer.settings import consumer_group_settings
from kwire.errors import ErrorCode, KwireError

CONSUMER_PROTOCOL = "consumer"


def require_consumer_protocol(ctx: RequestContext) -> None:
    """Kafka answers UNSUPPORTED_VERSION for these APIs when the protocol is off."""
    if CONSUMER_PROTOCOL not in ctx.broker.rebalance_protocols:
        raise KwireError(ErrorCode.UNSUPPORTED_VERSION)


@handler(68, "ConsumerGroupHeartbeat", 0, 1, protocol=CONSUMER_PROTOCOL)
async def consumer_group_heartbeat(ctx: RequestContext, request: Any) -> dict[str, Any]:
    require_consumer_protocol(ctx)
    owned = request.topic_partitions
    timeout = request.rebalance_timeout
    heartbeat = HeartbeatRequest(
        group_id=request.group_id, member_id=request.member_id,
        member_epoch=request.member_epoch, instance_id=request.instance_id,
        rack_id=request.rack_id,
        rebalance_timeout_ms=timeout if isinstance(timeout, int)
        else int(timeout.total_seconds() * 1000),
        subscribed_topic_names=None if request.subscribed_topic_names is None
        else list(request.subscribed_topic_names),
        # v0 has no SubscribedTopicRegex field
        subscribed_topic_regex=getattr(request, "subscribed_topic_regex", None),
        server_assignor=request.server_assignor,
        owned=None if owned is None else {
            tp.topic_id: list(tp.partitions) for tp in owned if tp.topic_id is not None},
        client_id=ctx.client_id or "", client_host=client_host(ctx))
    try:
        check_heartbeat_request(ctx.api_version, heartbeat,
                                consumer_group_settings(ctx.broker.config).assignors)
        await ready(ctx)
        r: ConsumerGroupHeartbeatResponse = await ctx.broker.groups.call(
            heartbeat.group_id,
            lambda c, token, now: c.heartbeat_consumer(token, now, heartbeat))
    except KwireError as exc:
        r = ConsumerGroupHeartbeatResponse(exc.error_code, exc.message)
    assignment = None if r.assignment is None else {"topic_partitions": [
        {"topic_id": topic_id, "partitions": sorted(partitions)}
        for topic_id, partitions in sorted(r.assignment.items())]}
    return {"throttle_time": 0, "error_code": r.error_code, "error_message": r.error_message,
            "member_id": r.member_id, "member_epoch": r.member_epoch,
            "heartbeat_interval": r.heartbeat_interval_ms, "assignment": assignment}
