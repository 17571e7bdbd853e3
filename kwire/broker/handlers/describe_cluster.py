"""DescribeCluster (60): the brokers, the cluster id and the controller."""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.registry import handler
from kwire.errors import ErrorCode

ENDPOINT_BROKERS = 1


@handler(60, "DescribeCluster", 0, 2)
async def describe_cluster(ctx: RequestContext, request: Any) -> dict[str, Any]:
    snapshot = ctx.broker.snapshot()
    endpoint_type = int(getattr(request, "endpoint_type", ENDPOINT_BROKERS))
    if endpoint_type != ENDPOINT_BROKERS:
        # Controllers are not separately addressable in kwire (KIP-919 endpoint type 2).
        return {"throttle_time": 0, "error_code": ErrorCode.INVALID_REQUEST,
                "error_message": "Only the brokers endpoint type is supported",
                "endpoint_type": endpoint_type, "cluster_id": snapshot.cluster_id,
                "controller_id": -1, "brokers": ()}
    return {
        "throttle_time": 0,
        "error_code": ErrorCode.NONE,
        "error_message": None,
        "endpoint_type": ENDPOINT_BROKERS,
        "cluster_id": snapshot.cluster_id,
        "controller_id": snapshot.controller_id,
        "brokers": [
            {"broker_id": b.node_id, "host": b.host, "port": b.port, "rack": b.rack,
             "is_fenced": False}
            for b in snapshot.brokers
        ],
    }
