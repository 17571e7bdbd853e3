"""What the transaction handlers share: the coordinator's answer for a
transactional id this broker cannot serve, and the error older clients know."""

from __future__ import annotations

from kwire.errors import ErrorCode


def client_error(code: ErrorCode, version: int, fenced_since: int) -> ErrorCode:
    """PRODUCER_FENCED (KIP-588) is answered as INVALID_PRODUCER_EPOCH to request
    versions before `fenced_since`, whose clients do not know it (KafkaApis)."""
    if code == ErrorCode.PRODUCER_FENCED and version < fenced_since:
        return ErrorCode.INVALID_PRODUCER_EPOCH
    return code
