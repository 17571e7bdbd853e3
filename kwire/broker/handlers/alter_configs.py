"""AlterConfigs (33): the legacy call that replaces a topic's whole config set."""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._configs import alter_resources
from kwire.broker.registry import handler


@handler(33, "AlterConfigs", 0, 2)
async def alter_configs(ctx: RequestContext, request: Any) -> dict[str, Any]:
    return await alter_resources(ctx, request, _replace)


def _replace(ctx: RequestContext, current: dict[str, str], configs: Any) -> dict[str, str]:
    # Legacy semantics: the request is the whole new set; anything left out reverts.
    return {c.name: c.value for c in configs}
