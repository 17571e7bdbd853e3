"""DescribeConfigs (32): every config of a topic, broker, broker logger or group,
with its value, source, synonyms and type, as Kafka's ConfigHelper lists them."""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._configs import Refused, describe_resource
from kwire.broker.registry import handler
from kwire.errors import ErrorCode


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
        if r.configuration_keys:  # null or [] (ConfigHelper): every config
            keys = set(r.configuration_keys)
            entries = [e for e in entries if e["name"] in keys]
        if not request.include_synonyms:
            for e in entries:
                e["synonyms"] = []
        # include_documentation (v3+): Kafka answers its own prose for each config;
        # that text is Kafka's to write, not ours to copy, so kwire answers null (the
        # field is nullable and clients print nothing). docs/configuration.md
        # describes kwire's configs.
        results.append({
            "error_code": code, "error_message": message, "resource_type": r.resource_type,
            "resource_name": r.resource_name, "configs": entries,
        })
    return {"throttle_time": 0, "results": results}
