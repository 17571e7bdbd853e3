"""DescribeConfigs (32): every config of a topic, broker, broker logger or group,
with its value, source, synonyms and type, as Kafka's ConfigHelper lists them."""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._configs import BROKER, GROUP, TOPIC, Refused, describe_resource
from kwire.broker.registry import handler
from kwire.config.kafka_docs import BROKER_DOCS, GROUP_DOCS, TOPIC_DOCS
from kwire.errors import ErrorCode

_DOCS = {TOPIC: TOPIC_DOCS, BROKER: BROKER_DOCS, GROUP: GROUP_DOCS}


@handler(32, "DescribeConfigs", 1, 4)
async def describe_configs(ctx: RequestContext, request: Any) -> dict[str, Any]:
    results = []
    for r in request.resources:
        # Kafka answers an empty (not null) message, on success too.
        code: ErrorCode = ErrorCode.NONE
        message: str | None = ""
        entries: list[dict[str, Any]] = []
        try:
            entries = describe_resource(ctx.broker, int(r.resource_type), r.resource_name)
        except Refused as exc:
            code, message = exc.code, exc.message
        if r.configuration_keys is not None:
            keys = set(r.configuration_keys)
            entries = [e for e in entries if e["name"] in keys]
        if not request.include_synonyms:
            for e in entries:
                e["synonyms"] = []
        docs = _DOCS.get(int(r.resource_type))
        if docs is not None and getattr(request, "include_documentation", False):  # v3+
            for e in entries:
                e["documentation"] = docs.get(e["name"])
        results.append({
            "error_code": code, "error_message": message, "resource_type": r.resource_type,
            "resource_name": r.resource_name, "configs": entries,
        })
    return {"throttle_time": 0, "results": results}
