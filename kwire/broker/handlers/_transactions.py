"""What the transaction handlers share: the coordinator's answer for a
transactional id this broker cannot serve, and the error older clients know."""

from __future__ import annotations

import datetime
from typing import Any

from kwire.errors import ErrorCode

# DescribeTransactions' start time of a transaction that has not started: Kafka
# answers -1, but the codec reads a negative millisecond count as a null time and
# this field is not nullable, so -1 ms is given as the datetime it stands for.
NOT_STARTED = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC) - datetime.timedelta(
    milliseconds=1)


def client_error(code: ErrorCode, version: int, fenced_since: int) -> ErrorCode:
    """PRODUCER_FENCED (KIP-588) is answered as INVALID_PRODUCER_EPOCH to request
    versions before `fenced_since`, whose clients do not know it (KafkaApis)."""
    if code == ErrorCode.PRODUCER_FENCED and version < fenced_since:
        return ErrorCode.INVALID_PRODUCER_EPOCH
    return code


def not_described(transactional_id: str, code: ErrorCode) -> dict[str, Any]:
    """A DescribeTransactions entry for an id that cannot be described: Kafka leaves
    every other field at its default (0, the empty string, no topics)."""
    return {"error_code": code, "transactional_id": transactional_id,
            "transaction_state": "", "transaction_timeout": 0, "transaction_start_time": 0,
            "producer_id": 0, "producer_epoch": 0, "topics": ()}
