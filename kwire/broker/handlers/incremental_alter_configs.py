"""IncrementalAlterConfigs (44): SET / DELETE / APPEND / SUBTRACT on single configs
of a topic, broker, broker logger or group."""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._configs import alter_resources
from kwire.broker.registry import handler


@handler(44, "IncrementalAlterConfigs", 0, 1)
async def incremental_alter_configs(ctx: RequestContext, request: Any) -> dict[str, Any]:
    return await alter_resources(ctx, request, incremental=True)
