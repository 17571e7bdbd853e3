"""OffsetForLeaderEpoch (23): the end offset of a leader epoch, so clients can
validate their position after a leader change (KIP-320).

A partition's leader epoch only moves when its leadership does, and every
batch is stored with the epoch it was written under; the answer for the
current epoch is the log end offset (Kafka's LeaderEpochFileCache.endOffsetFor).
An earlier epoch (cluster mode, after a leader change) ends where the current
one began: no acknowledged record is ever truncated away, so no client position
lies beyond it and a client never truncates.
"""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.registry import handler
from kwire.errors import ErrorCode, StorageError


@handler(23, "OffsetForLeaderEpoch", 2, 4)
async def offset_for_leader_epoch(ctx: RequestContext, request: Any) -> dict[str, Any]:
    topics = []
    for t in request.topics:
        partitions = []
        for p in t.partitions:
            partition = ctx.broker.replicas.get_partition_or_error(
                t.topic, p.partition, int(getattr(p, "current_leader_epoch", -1)))
            answer = {"partition": p.partition, "error_code": ErrorCode.NONE,
                      "leader_epoch": -1, "end_offset": -1}
            if isinstance(partition, ErrorCode):
                answer["error_code"] = partition
            else:
                epoch = partition.leader_epoch
                requested = int(p.leader_epoch)
                if requested == epoch:
                    try:
                        answer["end_offset"] = partition.log.offsets().log_end_offset
                        answer["leader_epoch"] = epoch
                    except StorageError:
                        answer["error_code"] = ErrorCode.KAFKA_STORAGE_ERROR
                elif 0 <= requested < epoch:
                    # An earlier leader's epoch ended where this one began.
                    answer["end_offset"] = partition.epoch_start_offset
                    answer["leader_epoch"] = requested
            partitions.append(answer)
        topics.append({"topic": t.topic, "partitions": partitions})
    return {"throttle_time": 0, "topics": topics}
