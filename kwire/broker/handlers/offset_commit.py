"""OffsetCommit (8): store a group's positions in __consumer_offsets, with Kafka's
generation and member checks (generation -1 commits from non-group consumers).

As Kafka's KafkaApis does before the coordinator sees the request: a topic id
(v10+) no topic has is answered UNKNOWN_TOPIC_ID, a topic or partition that
does not exist UNKNOWN_TOPIC_OR_PARTITION, whatever the group says; those
answers come first, then the coordinator's, merged per topic (Kafka's
OffsetCommitResponse.Builder). A group write that fails is answered on every
partition it covered (NOT_COORDINATOR), never by closing the connection.
"""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._groups import ready
from kwire.broker.handlers._lookup import ZERO_UUID
from kwire.broker.registry import handler
from kwire.errors import ErrorCode, KwireError


class _Answer:
    """Kafka's response builder: topics in the order they first get an answer."""

    def __init__(self) -> None:
        self.topics: dict[Any, dict[str, Any]] = {}

    def add(self, key: Any, name: str | None, topic_id: Any, index: int, code: int) -> None:
        topic = self.topics.setdefault(
            key, {"name": name, "topic_id": topic_id, "partitions": []})
        topic["partitions"].append({"partition_index": index, "error_code": code})


@handler(8, "OffsetCommit", 2, 10)
async def offset_commit(ctx: RequestContext, request: Any) -> dict[str, Any]:
    by_ids = ctx.api_version >= 10
    snapshot = ctx.broker.snapshot()
    answer = _Answer()
    offsets: list[tuple[str, int, int, int, str | None]] = []
    keys: dict[str, tuple[Any, Any]] = {}  # topic name -> (response key, topic id)
    for t in request.topics:
        if by_ids:
            topic_id = t.topic_id or ZERO_UUID
            topic = snapshot.topic_by_id(topic_id) if topic_id != ZERO_UUID else None
            key: Any = topic_id
            if topic is None:
                for p in t.partitions:
                    answer.add(key, None, topic_id, p.partition_index,
                               ErrorCode.UNKNOWN_TOPIC_ID)
                continue
            name = topic.name
        else:
            name, key, topic_id = t.name, t.name, None
            topic = snapshot.topics.get(name)
        for p in t.partitions:
            if topic is None or not 0 <= p.partition_index < len(topic.partitions):
                answer.add(key, name, topic_id, p.partition_index,
                           ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
                continue
            keys[name] = (key, topic_id)
            offsets.append((name, p.partition_index, int(p.committed_offset),
                            int(getattr(p, "committed_leader_epoch", -1)), p.committed_metadata))
    for name, index, code in await _commit(ctx, request, offsets):
        key, topic_id = keys[name]
        answer.add(key, name, topic_id, index, code)
    return {"throttle_time": 0, "topics": list(answer.topics.values())}


async def _commit(ctx: RequestContext, request: Any,
                  offsets: list[tuple[str, int, int, int, str | None]]
                  ) -> list[tuple[str, int, int]]:
    """(topic, partition, error) from the coordinator; nothing to ask when every
    partition was already answered."""
    if not offsets:
        return []
    retention = getattr(request, "retention_time", None)
    retention_ms = int(retention.total_seconds() * 1000) if retention is not None else -1
    try:
        await ready(ctx)
        r = await ctx.broker.groups.call(request.group_id,
            lambda c, token, now: c.commit_offsets(
                token, now,
                group_id=request.group_id,
                generation_id=request.generation_id_or_member_epoch,
                member_id=request.member_id,
                group_instance_id=getattr(request, "group_instance_id", None),
                retention_time_ms=retention_ms,
                offsets=offsets,
                api_version=ctx.api_version,
            ))
    except KwireError as exc:
        # A failed __consumer_offsets write (NOT_COORDINATOR) or an unavailable
        # coordinator is answered on every partition, as Kafka does.
        return [(t, p, exc.error_code) for t, p, *_ in offsets]
    return [(p.topic, p.partition_index, p.error_code) for p in r.partitions]
