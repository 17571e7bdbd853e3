"""ListTransactions (66): the transactional ids this broker coordinates, filtered
by state (v0), producer id (v0), open longer than a duration (v1) and a
regular expression on the id (v2) — `kafka-transactions list`."""

from __future__ import annotations

import re
from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.registry import handler
from kwire.coordinator.txn.manager import state_filters
from kwire.coordinator.txn.metadata import STATE_NAMES
from kwire.errors import ErrorCode


@handler(66, "ListTransactions", 0, 2)
async def list_transactions(ctx: RequestContext, request: Any) -> dict[str, Any]:
    states, unknown = state_filters(list(request.state_filters or ()))
    pattern = None
    raw_pattern = getattr(request, "transactional_id_pattern", None)
    if raw_pattern:
        try:
            pattern = re.compile(raw_pattern)
        except re.error:
            return {"throttle_time": 0, "error_code": ErrorCode.INVALID_REGULAR_EXPRESSION,
                    "unknown_state_filters": (), "transaction_states": ()}
    found = await ctx.broker.transactions.list(
        states, [int(p) for p in request.producer_id_filters or ()],
        int(getattr(request, "duration_filter", -1)), pattern)
    return {"throttle_time": 0, "error_code": ErrorCode.NONE, "unknown_state_filters": unknown,
            "transaction_states": [
                {"transactional_id": m.transactional_id, "producer_id": m.producer_id,
                 "transaction_state": STATE_NAMES[m.state]} for m in found]}
