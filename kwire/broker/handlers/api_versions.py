"""ApiVersions (18): the API ranges kwire serves, straight from the handler registry."""

from __future__ import annotations

import re
from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.registry import advertised, handler
from kwire.errors import ErrorCode

# Kafka's rule for client_software_name/version (ApiVersionsRequest.java, KIP-511).
_SOFTWARE = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?")


@handler(18, "ApiVersions", 0, 4)
async def api_versions(ctx: RequestContext, request: Any) -> dict[str, Any]:
    error = ErrorCode.NONE
    if ctx.api_version >= 3:
        name = request.client_software_name
        version = request.client_software_version
        if not (_SOFTWARE.fullmatch(name or "") and _SOFTWARE.fullmatch(version or "")):
            error = ErrorCode.INVALID_REQUEST
    # An invalid software name or version is a failed request: Kafka answers it
    # with no API ranges at all (getErrorResponse of INVALID_REQUEST).
    keys = advertised(ctx.broker.rebalance_protocols) if error == ErrorCode.NONE else []
    return {
        "error_code": error,
        "api_keys": [{"api_key": key, "min_version": lo, "max_version": hi}
                     for key, lo, hi in keys],
        "throttle_time": 0,
    }
