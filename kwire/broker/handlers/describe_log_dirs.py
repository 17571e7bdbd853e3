"""DescribeLogDirs (35): the data dir, its partitions' sizes and the disk's space."""

from __future__ import annotations

import shutil
from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.registry import handler
from kwire.errors import ErrorCode


@handler(35, "DescribeLogDirs", 1, 5)
async def describe_log_dirs(ctx: RequestContext, request: Any) -> dict[str, Any]:
    broker = ctx.broker
    wanted: dict[str, set[int]] | None = None
    if request.topics is not None:
        wanted = {t.topic: set(t.partitions) for t in request.topics}
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for partition in broker.partitions:
        tp = partition.tp
        if wanted is not None and tp.partition not in wanted.get(tp.topic, set()):
            continue
        by_topic.setdefault(tp.topic, []).append({
            "partition_index": tp.partition,
            "partition_size": partition.log.size_in_bytes(),
            "offset_lag": 0,
            "is_future_key": False,
        })
    data_dir = broker.config.data_dir
    usage = shutil.disk_usage(data_dir)
    return {
        "throttle_time": 0,
        "error_code": ErrorCode.NONE,
        "results": [{
            "error_code": ErrorCode.NONE,
            "log_dir": str(data_dir.resolve()),
            "topics": [{"name": name, "partitions": sorted(ps, key=lambda p: p["partition_index"])}
                       for name, ps in sorted(by_topic.items())],
            "total_bytes": usage.total,
            "usable_bytes": usage.free,
            # v5: no way to cordon kwire's one log dir (Kafka's cordoned.log.dirs)
            "is_cordoned": False,
        }],
    }
