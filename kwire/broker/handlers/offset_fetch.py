"""OffsetFetch (9): committed positions of one group (v1-7) or several (v8+).

v10 names topics by id: an id no topic has is answered UNKNOWN_TOPIC_ID on each
of its partitions, after the coordinator's answers (as Kafka 4.4 orders them).
Topics named by name are not checked: an unknown one simply has no offsets.
"""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._groups import by_topic, ready
from kwire.broker.handlers._lookup import ZERO_UUID
from kwire.broker.registry import handler
from kwire.cluster.api import ClusterMetadata
from kwire.errors import ErrorCode

_FIELDS = ("committed_offset", "committed_leader_epoch", "metadata", "error_code")


@handler(9, "OffsetFetch", 1, 10)
async def offset_fetch(ctx: RequestContext, request: Any) -> dict[str, Any]:
    await ready(ctx)
    require_stable = bool(getattr(request, "require_stable", False))
    if ctx.api_version >= 8:
        groups = []
        for g in request.groups:
            code, topics = await _group(ctx, g.group_id, g.topics, require_stable,
                                        getattr(g, "member_id", None),
                                        getattr(g, "member_epoch", -1))
            groups.append({"group_id": g.group_id, "error_code": code, "topics": topics})
        return {"throttle_time": 0, "groups": groups}
    code, topics = await _group(ctx, request.group_id, request.topics, require_stable)
    return {"throttle_time": 0, "error_code": code, "topics": topics}


async def _group(ctx: RequestContext, group_id: str, topics: Any, require_stable: bool,
                 member_id: str | None = None, member_epoch: int = -1,
                 ) -> tuple[int, list[dict[str, Any]]]:
    snapshot = ctx.broker.snapshot()
    by_ids = ctx.api_version >= 10
    unknown: list[dict[str, Any]] = []
    partitions: list[tuple[str, int]] | None = None
    if topics is not None:
        partitions = []
        for t in topics:
            if not by_ids:
                partitions += [(t.name, index) for index in t.partition_indexes]
                continue
            topic_id = t.topic_id or ZERO_UUID
            topic = snapshot.topic_by_id(topic_id) if topic_id != ZERO_UUID else None
            if topic is None:
                unknown.append({"name": None, "topic_id": topic_id, "partitions": [
                    {"partition_index": index, "committed_offset": -1,
                     "committed_leader_epoch": -1, "metadata": "",
                     "error_code": ErrorCode.UNKNOWN_TOPIC_ID}
                    for index in t.partition_indexes]})
                continue
            partitions += [(topic.name, index) for index in t.partition_indexes]
    r = await ctx.broker.groups.call(group_id,
        lambda c, token, now: c.fetch_offsets(
            token, now, group_id=group_id, partitions=partitions, require_stable=require_stable,
            member_id=member_id, member_epoch=member_epoch))
    answered = by_topic(r.partitions, _FIELDS)
    if by_ids:
        answered = _with_ids(snapshot, answered)
    return r.error_code, answered + unknown


def _with_ids(snapshot: ClusterMetadata, topics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """v10 names topics by id alone: a topic without one now (deleted) is left out."""
    out = []
    for t in topics:
        topic = snapshot.topics.get(t["name"])
        if topic is not None:
            out.append({**t, "topic_id": topic.topic_id})
    return out
