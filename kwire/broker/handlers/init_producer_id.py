"""InitProducerId (22): a fresh producer id and epoch 0 for idempotent producers.

Without a transactional id Kafka always hands out a new producer id, also when
the client passes its old id and epoch to bump it (KIP-360): a new id with a
new epoch is what the client needs to reset its sequences.
"""

from __future__ import annotations

import logging
from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.registry import handler
from kwire.errors import ErrorCode, StorageError

log = logging.getLogger("kwire.producer_ids")


@handler(22, "InitProducerId", 0, 5)
async def init_producer_id(ctx: RequestContext, request: Any) -> dict[str, Any]:
    if request.transactional_id is not None:
        # Transactions come with their own coordinator; until then, refuse clearly.
        return {"throttle_time": 0, "error_code": ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                "producer_id": -1, "producer_epoch": -1}
    try:
        producer_id = await ctx.broker.producer_ids.next_id()
    except StorageError as exc:
        # No block of ids could be reserved (the metadata store is unreachable).
        # Kafka's ProducerIdManager answers a retriable error then, so the client
        # tries again rather than failing (KAFKA-14694).
        log.warning("no producer id: %s", exc)
        return {"throttle_time": 0, "error_code": ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
                "producer_id": -1, "producer_epoch": -1}
    return {"throttle_time": 0, "error_code": ErrorCode.NONE, "producer_id": producer_id,
            "producer_epoch": 0}
