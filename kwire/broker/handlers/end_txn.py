"""EndTxn (26): commit or abort the producer's transaction.

Answered once the coordinator stored PrepareCommit/PrepareAbort; the markers
follow (transaction version 1). v5 belongs to transaction version 2 (the
epoch bumps at every EndTxn), which kwire does not offer.
"""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._transactions import client_error
from kwire.broker.registry import handler
from kwire.errors import ErrorCode, KwireError


@handler(26, "EndTxn", 0, 4)
async def end_txn(ctx: RequestContext, request: Any) -> dict[str, Any]:
    transactional_id = request.transactional_id
    if not transactional_id:
        code = ErrorCode.INVALID_REQUEST
    else:
        try:
            code = await ctx.broker.transactions.end_txn(
                transactional_id, int(request.producer_id), int(request.producer_epoch),
                bool(request.committed))
        except KwireError as exc:
            code = exc.error_code
    return {"throttle_time": 0, "error_code": client_error(code, ctx.api_version, 2)}
