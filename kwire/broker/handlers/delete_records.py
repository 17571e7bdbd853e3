"""DeleteRecords (21): move a partition's log start offset forward."""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.registry import handler
from kwire.errors import ErrorCode

HIGH_WATERMARK = -1


@handler(21, "DeleteRecords", 0, 2)
async def delete_records(ctx: RequestContext, request: Any) -> dict[str, Any]:
    topics = []
    for t in request.topics:
        partitions = []
        for p in t.partitions:
            partition = ctx.broker.partition(t.name, p.partition_index)
            code, low = ErrorCode.NONE, -1
            if partition is None:
                code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            else:
                offsets = partition.log.offsets()
                target = offsets.high_watermark if p.offset == HIGH_WATERMARK else int(p.offset)
                if target < 0 or target > offsets.high_watermark:
                    code = ErrorCode.OFFSET_OUT_OF_RANGE
                else:
                    low = await partition.log.truncate_prefix(target)
            partitions.append({"partition_index": p.partition_index, "low_watermark": low,
                               "error_code": code})
        topics.append({"name": t.name, "partitions": partitions})
    return {"throttle_time": 0, "topics": topics}
