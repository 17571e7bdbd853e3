"""OffsetCommit (8): store a group's positions in __consumer_offsets, with Kafka's
generation and member checks (generation -1 commits from non-group consumers)."""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._groups import by_topic, ready
from kwire.broker.registry import handler
from kwire.coordinator.group.responses import OffsetCommitPartitionResponse
from kwire.errors import KwireError


@handler(8, "OffsetCommit", 2, 9)
async def offset_commit(ctx: RequestContext, request: Any) -> dict[str, Any]:
    retention = getattr(request, "retention_time", None)
    retention_ms = int(retention.total_seconds() * 1000) if retention is not None else -1
    offsets = [
        (t.name, p.partition_index, int(p.committed_offset),
         int(getattr(p, "committed_leader_epoch", -1)), p.committed_metadata)
        for t in request.topics for p in t.partitions
    ]
    try:
        await ready(ctx)
        r = await ctx.broker.groups.call(
            lambda token, now: ctx.broker.groups.coordinator.commit_offsets(
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
        # OffsetCommit has no top-level error code: a failed __consumer_offsets write
        # (NOT_COORDINATOR) is answered on every partition, as Kafka does.
        failed = [OffsetCommitPartitionResponse(t, p, exc.error_code) for t, p, *_ in offsets]
        return {"throttle_time": 0, "topics": by_topic(failed, ("error_code",))}
    return {"throttle_time": 0, "topics": by_topic(r.partitions, ("error_code",))}
