"""TxnOffsetCommit (28): a transactional producer commits its consumed offsets
inside its transaction (they stay pending until the transaction's marker).

As Kafka's KafkaApis does before the coordinator sees the request: a topic
the cluster does not have, or a partition it does not have, is answered
UNKNOWN_TOPIC_OR_PARTITION; then an empty group id INVALID_GROUP_ID (the
coordinator service's check); then, as Kafka's coordinator runtime does before a
transactional write, the transaction coordinator is asked whether the group's
`__consumer_offsets` partition is in the producer's transaction (KIP-890 part 1,
once per transaction: `TxnRouter.verify`), a coordinator it could not ask being
COORDINATOR_NOT_AVAILABLE; the rest goes to the group's coordinator, whose
answers are merged per topic in first-answer order (TxnOffsetCommitResponse's
builder). v5 (KIP-890 part 2) is answered as v4: kwire does not advertise
transaction.version 2. Before v2, COORDINATOR_LOAD_IN_PROGRESS becomes
COORDINATOR_NOT_AVAILABLE, which pre-2.0 producers expect (KAFKA-7296).
"""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._groups import ready
from kwire.broker.registry import handler
from kwire.broker.txn_router import COORDINATOR_UNREACHABLE
from kwire.coordinator.group.manager import OFFSETS_TOPIC
from kwire.errors import ErrorCode, KwireError

Entry = tuple[str, int, int, int, str | None]


@handler(28, "TxnOffsetCommit", 0, 5)
async def txn_offset_commit(ctx: RequestContext, request: Any) -> dict[str, Any]:
    snapshot = ctx.broker.snapshot()
    topics: dict[str, list[dict[str, Any]]] = {}

    def answer(name: str, index: int, code: int) -> None:
        if ctx.api_version < 2 and code == ErrorCode.COORDINATOR_LOAD_IN_PROGRESS:
            code = ErrorCode.COORDINATOR_NOT_AVAILABLE
        topics.setdefault(name, []).append({"partition_index": index, "error_code": code})

    offsets: list[Entry] = []
    for t in request.topics:
        topic = snapshot.topics.get(t.name)
        for p in t.partitions:
            if topic is None or not 0 <= p.partition_index < len(topic.partitions):
                answer(t.name, p.partition_index, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
                continue
            offsets.append((t.name, p.partition_index, int(p.committed_offset),
                            int(getattr(p, "committed_leader_epoch", -1)),
                            p.committed_metadata))
    for name, index, code in await _commit(ctx, request, offsets):
        answer(name, index, code)
    return {"throttle_time": 0, "topics": [
        {"name": name, "partitions": partitions} for name, partitions in topics.items()]}


async def _commit(ctx: RequestContext, request: Any, offsets: list[Entry]
                  ) -> list[tuple[str, int, int]]:
    """(topic, partition, error) from the coordinator; a failure of the whole
    call (not the coordinator, a refused write) is answered on every partition."""
    if not offsets:
        return []
    if not request.group_id:
        return [(t, p, ErrorCode.INVALID_GROUP_ID) for t, p, *_ in offsets]
    try:
        await ready(ctx)
        code = await _verify(ctx, request)
        if code != ErrorCode.NONE:
            return [(t, p, code) for t, p, *_ in offsets]
        r = await ctx.broker.groups.call(request.group_id,
            lambda c, token, now: c.commit_txn_offsets(
                token, now,
                group_id=request.group_id,
                producer_id=int(request.producer_id),
                producer_epoch=int(request.producer_epoch),
                generation_id=int(getattr(request, "generation_id", -1)),
                member_id=getattr(request, "member_id", ""),
                group_instance_id=getattr(request, "group_instance_id", None),
                offsets=offsets,
            ))
    except KwireError as exc:
        return [(t, p, exc.error_code) for t, p, *_ in offsets]
    return [(p.topic, p.partition_index, p.error_code) for p in r.partitions]


async def _verify(ctx: RequestContext, request: Any) -> ErrorCode:
    groups = ctx.broker.groups
    partition = ctx.broker.replicas.get_partition_or_error(
        OFFSETS_TOPIC, groups.partition_for(request.group_id))
    if isinstance(partition, ErrorCode):
        return ErrorCode.NOT_COORDINATOR
    code = await ctx.broker.txn_router.verify(
        request.transactional_id, int(request.producer_id), int(request.producer_epoch),
        partition)
    # The coordinator runtime's normalizeException of ReplicaManager's answer.
    return ErrorCode.COORDINATOR_NOT_AVAILABLE if code in COORDINATOR_UNREACHABLE else code
