"""InitProducerId (22): a fresh producer id and epoch 0 for idempotent producers.

Without a transactional id Kafka always hands out a new producer id, also when
the client passes its old id and epoch to bump it (KIP-360): a new id with a
new epoch is what the client needs to reset its sequences.
"""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.registry import handler
from kwire.errors import ErrorCode


@handler(22, "InitProducerId", 0, 5)
async def init_producer_id(ctx: RequestContext, request: Any) -> dict[str, Any]:
    if request.transactional_id is not None:
        # Transactions come with their own coordinator; until then, refuse clearly.
        return {"throttle_time": 0, "error_code": ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                "producer_id": -1, "producer_epoch": -1}
    producer_id = await ctx.broker.producer_ids.next_id()
    return {"throttle_time": 0, "error_code": ErrorCode.NONE, "producer_id": producer_id,
            "producer_epoch": 0}
