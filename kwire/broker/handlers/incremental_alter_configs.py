"""IncrementalAlterConfigs (44): SET / DELETE / APPEND / SUBTRACT on single topic configs."""

from __future__ import annotations

from typing import Any

from kwire.broker import topic_config
from kwire.broker.context import RequestContext
from kwire.broker.handlers._configs import alter_resources
from kwire.broker.registry import handler
from kwire.config_types import ConfigType, parse_value

SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3


@handler(44, "IncrementalAlterConfigs", 0, 1)
async def incremental_alter_configs(ctx: RequestContext, request: Any) -> dict[str, Any]:
    return await alter_resources(ctx, request, _apply)


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
            if prop.type is not ConfigType.LIST:
                raise topic_config.InvalidConfig(
                    f"Config value append is not allowed for config key: {op.name}")
            raw = current.get(op.name)
            value = (parse_value(prop.key, raw) if raw is not None
                     else prop.default(ctx.broker.config))
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
