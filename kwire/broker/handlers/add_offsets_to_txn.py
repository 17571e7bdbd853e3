"""AddOffsetsToTxn (25): put the group's `__consumer_offsets` partition into the
transaction, so that its TxnOffsetCommit is committed or aborted with it."""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._transactions import client_error
from kwire.broker.registry import handler
from kwire.coordinator.group.manager import OFFSETS_TOPIC
from kwire.errors import ErrorCode, KwireError


@handler(25, "AddOffsetsToTxn", 0, 4)
async def add_offsets_to_txn(ctx: RequestContext, request: Any) -> dict[str, Any]:
    transactional_id = request.transactional_id
    if not transactional_id:
        code = ErrorCode.INVALID_REQUEST
    else:
        offsets_partition = (OFFSETS_TOPIC, ctx.broker.groups.partition_for(request.group_id))
        try:
            code = await ctx.broker.transactions.add_partitions(
                transactional_id, int(request.producer_id), int(request.producer_epoch),
                [offsets_partition])
        except KwireError as exc:
            code = exc.error_code
    return {"throttle_time": 0, "error_code": client_error(code, ctx.api_version, 2)}
