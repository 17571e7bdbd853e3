"""AlterConfigs (33): the legacy call that replaces a topic's whole config set."""

from __future__ import annotations

from typing import Any

from kwire.broker import topic_config
from kwire.broker.context import RequestContext
from kwire.broker.handlers._configs import BROKER, TOPIC, broker_alter_refusal
from kwire.broker.registry import handler
from kwire.errors import ErrorCode


@handler(33, "AlterConfigs", 0, 2)
async def alter_configs(ctx: RequestContext, request: Any) -> dict[str, Any]:
    responses = []
    for r in request.resources:
        code, message = ErrorCode.NONE, None
        rtype = int(r.resource_type)
        if rtype == TOPIC:
            if r.resource_name not in ctx.broker.snapshot().topics:
                code, message = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, (
                    f"Topic {r.resource_name} does not exist")
            else:
                try:
                    configs = topic_config.validate({c.name: c.value for c in r.configs})
                    if not request.validate_only:
                        await ctx.broker.set_topic_configs(r.resource_name, configs)
                except topic_config.InvalidConfig as exc:
                    code, message = ErrorCode.INVALID_CONFIG, str(exc)
        elif rtype == BROKER:
            code, message = broker_alter_refusal([c.name for c in r.configs])
        else:
            code, message = ErrorCode.INVALID_REQUEST, f"Unsupported resource type {rtype}"
        responses.append({"error_code": code, "error_message": message,
                          "resource_type": r.resource_type, "resource_name": r.resource_name})
    return {"throttle_time": 0, "responses": responses}
