"""DeleteRecords (21): move a partition's log start offset forward."""

from __future__ import annotations

from typing import Any

from kwire.broker import topic_config
from kwire.broker.context import RequestContext
from kwire.broker.registry import handler
from kwire.broker.topics import is_internal
from kwire.errors import ErrorCode, StorageError
from kwire.log.api import LogFenced, PartitionLog

HIGH_WATERMARK = -1


@handler(21, "DeleteRecords", 0, 2)
async def delete_records(ctx: RequestContext, request: Any) -> dict[str, Any]:
    topics = []
    snapshot = ctx.broker.snapshot()
    for t in request.topics:
        partitions = []
        topic = snapshot.topics.get(t.name)
        deletes = topic is None or "delete" in topic_config.typed(
            ctx.broker.config, topic.configs)["cleanup.policy"]
        for p in t.partitions:
            partition = ctx.broker.replicas.get_partition_or_error(t.name, p.partition_index)
            code, low = ErrorCode.NONE, -1
            if isinstance(partition, ErrorCode):
                code = partition
            elif is_internal(t.name):
                # ReplicaManager.deleteRecordsOnLocalLog: "Cannot delete records of
                # internal topic" (the response has no message field to carry it).
                code = ErrorCode.INVALID_TOPIC_EXCEPTION
            elif not deletes:
                # Partition.deleteRecordsOnLeader: "Records of partition ... can not be
                # deleted due to the configured policy" unless cleanup.policy has delete.
                code = ErrorCode.POLICY_VIOLATION
            else:
                code, low = await _delete_below(partition.log, int(p.offset))
            partitions.append({"partition_index": p.partition_index, "low_watermark": low,
                               "error_code": code})
        topics.append({"name": t.name, "partitions": partitions})
    return {"throttle_time": 0, "topics": topics}


async def _delete_below(log: PartitionLog, offset: int) -> tuple[ErrorCode, int]:
    """(error, new low watermark). On a full disk this still works: it is how an
    operator frees space (the log store gives up its space reserve for it)."""
    try:
        offsets = log.offsets()
        target = offsets.high_watermark if offset == HIGH_WATERMARK else offset
        if target < 0 or target > offsets.high_watermark:
            return ErrorCode.OFFSET_OUT_OF_RANGE, -1
        return ErrorCode.NONE, await log.truncate_prefix(target)
    except StorageError:
        return ErrorCode.KAFKA_STORAGE_ERROR, -1
    except LogFenced:
        return ErrorCode.NOT_LEADER_OR_FOLLOWER, -1
