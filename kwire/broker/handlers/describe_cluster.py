"""DescribeCluster (60): the brokers, the cluster id and the controller."""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.registry import handler
from kwire.errors import ErrorCode

ENDPOINT_BROKERS = 1
ENDPOINT_CONTROLLERS = 2  # KIP-919
_ENDPOINT_NAMES = {ENDPOINT_BROKERS: "BROKER", ENDPOINT_CONTROLLERS: "CONTROLLER"}

# Every cluster operation (AclEntry.supportedOperations(CLUSTER) as a bit field):
# what Kafka without an authorizer answers when asked.
CLUSTER_AUTHORIZED_OPERATIONS = 8096
NOT_PROVIDED = -(2**31)


@handler(60, "DescribeCluster", 0, 2)
async def describe_cluster(ctx: RequestContext, request: Any) -> dict[str, Any]:
    snapshot = ctx.broker.snapshot()
    endpoint_type = int(getattr(request, "endpoint_type", ENDPOINT_BROKERS))
    if endpoint_type != ENDPOINT_BROKERS:
        # kwire is only ever a broker endpoint (Kafka's computeDescribeClusterResponse).
        wanted = _ENDPOINT_NAMES.get(endpoint_type)
        code, message = (
            (ErrorCode.UNSUPPORTED_ENDPOINT_TYPE, f"Unsupported endpoint type {endpoint_type}")
            if wanted is None else
            (ErrorCode.MISMATCHED_ENDPOINT_TYPE, "The request was sent to an endpoint of type "
             f"BROKER, but we wanted an endpoint of type {wanted}"))
        return {"throttle_time": 0, "error_code": code, "error_message": message,
                "endpoint_type": ENDPOINT_BROKERS, "cluster_id": "", "controller_id": -1,
                "brokers": (), "cluster_authorized_operations": NOT_PROVIDED}
    include_ops = bool(request.include_cluster_authorized_operations)
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
        "cluster_authorized_operations":
            CLUSTER_AUTHORIZED_OPERATIONS if include_ops else NOT_PROVIDED,
    }
