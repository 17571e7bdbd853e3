"""InitProducerId (22): a producer id and epoch.

Without a transactional id Kafka always hands out a new producer id and epoch
0, also when the client passes its old id and epoch to bump it (KIP-360): a new
id with a new epoch is what the client needs to reset its sequences. With one,
the transaction coordinator answers: the id's producer id under a bumped epoch,
which fences older producers of the same transactional id.
"""

from __future__ import annotations

import logging
from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._transactions import client_error
from kwire.broker.registry import handler
from kwire.errors import ErrorCode, KwireError, StorageError
from kwire.records.batch import NO_PRODUCER_EPOCH, NO_PRODUCER_ID

log = logging.getLogger("kwire.producer_ids")


@handler(22, "InitProducerId", 0, 5)
async def init_producer_id(ctx: RequestContext, request: Any) -> dict[str, Any]:
    if request.transactional_id is not None:
        return await _transactional(ctx, request)
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


async def _transactional(ctx: RequestContext, request: Any) -> dict[str, Any]:
    producer_id = int(getattr(request, "producer_id", NO_PRODUCER_ID))
    producer_epoch = int(getattr(request, "producer_epoch", NO_PRODUCER_EPOCH))
    # KafkaApis: an id without an epoch, or an epoch without an id, is malformed.
    half_given = (producer_id == NO_PRODUCER_ID) != (producer_epoch == NO_PRODUCER_EPOCH)
    if half_given or not request.transactional_id:
        code, producer_id, producer_epoch = ErrorCode.INVALID_REQUEST, -1, -1
    else:
        try:
            result = await ctx.broker.transactions.init_producer_id(
                request.transactional_id,
                int(request.transaction_timeout.total_seconds() * 1000), producer_id,
                producer_epoch)
            code, producer_id, producer_epoch = (
                result.error_code, result.producer_id, result.producer_epoch)
        except KwireError as exc:
            code, producer_id, producer_epoch = exc.error_code, -1, -1
    return {"throttle_time": 0, "error_code": client_error(code, ctx.api_version, 4),
            "producer_id": producer_id, "producer_epoch": producer_epoch}
