"""DescribeTransactions (65): the coordinator's state of each transactional id
(`kafka-transactions describe`)."""

from __future__ import annotations

import datetime
from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._transactions import NOT_STARTED, not_described
from kwire.broker.registry import handler
from kwire.coordinator.txn.metadata import STATE_NAMES
from kwire.errors import ErrorCode


def _start_time(start_ms: int) -> int | datetime.datetime:
    return NOT_STARTED if start_ms < 0 else start_ms


@handler(65, "DescribeTransactions", 0, 0)
async def describe_transactions(ctx: RequestContext, request: Any) -> dict[str, Any]:
    states = []
    for transactional_id in request.transactional_ids:
        found = (await ctx.broker.transactions.describe(transactional_id) if transactional_id
                 else ErrorCode.INVALID_REQUEST)
        if isinstance(found, ErrorCode):
            states.append(not_described(transactional_id, found))
            continue
        by_topic: dict[str, list[int]] = {}
        for topic, partition in sorted(found.partitions):
            by_topic.setdefault(topic, []).append(partition)
        states.append({
            "error_code": ErrorCode.NONE, "transactional_id": transactional_id,
            "transaction_state": STATE_NAMES[found.state],
            "transaction_timeout": found.timeout_ms,
            "transaction_start_time": _start_time(found.start_ms),
            "producer_id": found.producer_id, "producer_epoch": found.producer_epoch,
            "topics": [{"topic": t, "partitions": ps} for t, ps in by_topic.items()]})
    return {"throttle_time": 0, "transaction_states": states}
