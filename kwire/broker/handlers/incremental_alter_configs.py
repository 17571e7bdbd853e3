"""IncrementalAlterConfigs (44): SET / DELETE / APPEND / SUBTRACT on single topic configs."""

from __future__ import annotations

from typing import Any

from kwire.broker import topic_config
from kwire.broker.context import RequestContext
from kwire.broker.handlers._configs import BROKER, TOPIC, broker_alter_refusal
from kwire.broker.registry import handler
from kwire.errors import ErrorCode

SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3


@handler(44, "IncrementalAlterConfigs", 0, 1)
async def incremental_alter_configs(ctx: RequestContext, request: Any) -> dict[str, Any]:
    responses = []
    for r in request.resources:
        code, message = ErrorCode.NONE, None
        rtype = int(r.resource_type)
        if rtype == TOPIC:
            topic = ctx.broker.snapshot().topics.get(r.resource_name)
            if topic is None:
                code, message = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, (
                    f"Topic {r.resource_name} does not exist")
            else:
                try:
                    configs = _apply(ctx, dict(topic.configs), r.configs)
                    configs = topic_config.validate(configs)
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


def _apply(ctx: RequestContext, current: dict[str, str], ops: Any) -> dict[str, str]:
    names = [op.name for op in ops]
    if len(names) != len(set(names)):
        raise topic_config.InvalidConfig("Error due to duplicate config keys")
    for op in ops:
        prop = topic_config.TOPIC_PROPERTIES.get(op.name)
        if prop is None:
            raise topic_config.InvalidConfig(f"Unknown topic config name: {op.name}")
        kind = int(op.config_operation)
        if kind == SET:
            current[op.name] = op.value or ""
        elif kind == DELETE:
            current.pop(op.name, None)
        elif kind in (APPEND, SUBTRACT):
            if prop.type != "list":
                raise topic_config.InvalidConfig(
                    f"Config value append is not allowed for config key: {op.name}")
            value = topic_config.typed(ctx.broker.config, current)[op.name]
            items = list(value)
            for item in (op.value or "").split(","):
                item = item.strip()
                if kind == APPEND and item and item not in items:
                    items.append(item)
                elif kind == SUBTRACT and item in items:
                    items.remove(item)
            current[op.name] = ",".join(items)
        else:
            raise topic_config.InvalidConfig(f"Unknown config operation {kind}")
    return current
