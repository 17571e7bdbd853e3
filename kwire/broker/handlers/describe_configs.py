"""DescribeConfigs (32): every topic or broker config with its value, source and synonyms."""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._configs import (
    BROKER,
    TOPIC,
    broker_entries,
    check_broker_name,
    topic_entries,
)
from kwire.broker.registry import handler
from kwire.errors import ErrorCode


@handler(32, "DescribeConfigs", 1, 4)
async def describe_configs(ctx: RequestContext, request: Any) -> dict[str, Any]:
    results = []
    for r in request.resources:
        code, message, entries = _describe(ctx, int(r.resource_type), r.resource_name)
        if entries is not None and r.configuration_keys is not None:
            keys = set(r.configuration_keys)
            entries = [e for e in entries if e["name"] in keys]
        if entries is not None and not request.include_synonyms:
            for e in entries:
                e["synonyms"] = []
        results.append({
            "error_code": code, "error_message": message, "resource_type": r.resource_type,
            "resource_name": r.resource_name, "configs": entries or [],
        })
    return {"throttle_time": 0, "results": results}


def _describe(
    ctx: RequestContext, resource_type: int, name: str
) -> tuple[ErrorCode, str | None, list[dict[str, Any]] | None]:
    broker = ctx.broker
    if resource_type == TOPIC:
        topic = broker.snapshot().topics.get(name)
        if topic is None:
            return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"Topic {name} does not exist", None
        return ErrorCode.NONE, None, topic_entries(broker, dict(topic.configs))
    if resource_type == BROKER:
        code = check_broker_name(broker, name)
        if code is not None:
            return code, f"Unexpected broker id, expected {broker.node.node_id}", None
        return ErrorCode.NONE, None, broker_entries(broker)
    return ErrorCode.INVALID_REQUEST, f"Unsupported resource type {resource_type}", None
