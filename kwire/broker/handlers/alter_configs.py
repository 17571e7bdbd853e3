"""AlterConfigs (33): the legacy call that replaces a resource's whole set of
configs (topic, broker or group); anything left out reverts to its default."""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._configs import alter_resources
from kwire.broker.registry import handler


@handler(33, "AlterConfigs", 0, 2)
async def alter_configs(ctx: RequestContext, request: Any) -> dict[str, Any]:
    return await alter_resources(ctx, request, incremental=False)
