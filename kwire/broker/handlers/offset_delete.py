"""OffsetDelete (47): drop committed offsets of topics a group no longer consumes.

As Kafka's KafkaApis: a topic or partition that does not exist is answered
UNKNOWN_TOPIC_OR_PARTITION without asking the coordinator; the coordinator's
answer is merged after those (OffsetDeleteResponse.Builder.merge), and a
group-level error replaces them.
"""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._groups import by_topic, ready
from kwire.broker.registry import handler
from kwire.errors import ErrorCode


@handler(47, "OffsetDelete", 0, 0)
async def offset_delete(ctx: RequestContext, request: Any) -> dict[str, Any]:
    await ready(ctx)
    snapshot = ctx.broker.snapshot()
    answered: dict[str, list[dict[str, Any]]] = {}
    partitions: list[tuple[str, int]] = []
    for t in request.topics:
        topic = snapshot.topics.get(t.name)
        for p in t.partitions:
            if topic is None or not 0 <= p.partition_index < len(topic.partitions):
                answered.setdefault(t.name, []).append(
                    {"partition_index": p.partition_index,
                     "error_code": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION})
            else:
                partitions.append((t.name, p.partition_index))
    r = await ctx.broker.groups.call(request.group_id,
        lambda c, token, now: c.delete_offsets(
            token, now, group_id=request.group_id, partitions=partitions))
    if r.error_code != ErrorCode.NONE:
        return {"throttle_time": 0, "error_code": r.error_code,
                "topics": by_topic(r.partitions, ("error_code",))}
    for topic_answer in by_topic(r.partitions, ("error_code",)):
        answered.setdefault(topic_answer["name"], []).extend(topic_answer["partitions"])
    return {"throttle_time": 0, "error_code": ErrorCode.NONE,
            "topics": [{"name": name, "partitions": parts} for name, parts in answered.items()]}
