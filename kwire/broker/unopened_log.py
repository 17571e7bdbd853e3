"""The stand-in for a partition log that could not be opened.

On cluster storage opening a log is a takeover (ZooKeeper reads, the recovery
of the previous owner's ledger), which fails while ZooKeeper or too many bookies
are away, or when another owner takes the partition over meanwhile. The broker
keeps serving everything else: the partition answers the storage error, as an
offline local log does, until PartitionManager.open_unopened succeeds.
"""

from __future__ import annotations

import time

from kwire.errors import StorageError
from kwire.log.api import (
    AppendResult,
    LogConfig,
    LogFenced,
    LogOffsets,
    ReadResult,
    TimestampOffset,
    TopicPartition,
)


class UnopenedLog:
    """Stands in for a log that could not be opened: its storage failed (cluster
    storage: the takeover could not read or recover the ledgers) or another owner
    took it over meanwhile. Every read and write answers the storage error, as an
    offline local log does; PartitionManager.open_unopened tries again, first a
    second later, then twice as long after each failure, up to a minute."""

    def __init__(self, tp: TopicPartition, config: LogConfig,
                 reason: StorageError | LogFenced) -> None:
        self._tp = tp
        self.config = config
        self.reason = reason
        self.retry_at = time.monotonic() + 1.0
        self._backoff = 1.0

    def failed_again(self, reason: StorageError | LogFenced) -> None:
        self.reason = reason
        self._backoff = min(self._backoff * 2, 60.0)
        self.retry_at = time.monotonic() + self._backoff

    def _error(self) -> StorageError:
        return StorageError(f"{self._tp} is not open: {self.reason}")

    @property
    def tp(self) -> TopicPartition:
        return self._tp

    async def append(self, batch: bytearray, leader_epoch: int) -> AppendResult:
        raise self._error()

    async def read(self, offset: int, max_bytes: int, min_one_batch: bool) -> ReadResult:
        raise self._error()

    def offsets(self) -> LogOffsets:
        raise self._error()

    def size_in_bytes(self) -> int:
        return 0

    async def offset_for_timestamp(self, timestamp: int) -> TimestampOffset | None:
        raise self._error()

    async def max_timestamp(self) -> TimestampOffset | None:
        raise self._error()

    async def truncate_prefix(self, new_log_start_offset: int) -> int:
        raise self._error()

    def reconfigure(self, config: LogConfig) -> None:
        self.config = config

    async def close(self) -> None:
        return None
