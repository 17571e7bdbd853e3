"""The in-memory reference `PartitionLog` and `LogStore`.

This module owns the simplest faithful implementation of the log seam: a
list of stored batches per partition. Contract tests hold every other log to
its behaviour, and broker tests can use it where disk does not matter. Each
stored batch plays the part of a segment for retention (what the local log
does with one batch per segment).

Data outlives a `MemoryLog`: closing one and opening the partition again from
the same store shows the same batches, as reopening files would.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kwire.log.api import (
    AppendResult,
    LogConfig,
    LogOffsets,
    LogStore,
    OffsetOutOfRange,
    PartitionLog,
    ReadResult,
    TimestampOffset,
    TopicPartition,
)
from kwire.log.local._batches import assign_offsets, parse_appended_batch


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class _Stored:
    base_offset: int
    last_offset: int
    max_timestamp: int
    appended_ms: int
    data: bytes

    def largest_timestamp(self) -> int:
        """What retention.ms compares with (the append time when batches carry none)."""
        return self.max_timestamp if self.max_timestamp >= 0 else self.appended_ms


@dataclass(slots=True)
class _Partition:
    batches: list[_Stored] = field(default_factory=list)
    last_offsets: list[int] = field(default_factory=list)  # parallel, for bisect
    log_start_offset: int = 0
    log_end_offset: int = 0


class MemoryLog:
    def __init__(
        self, tp: TopicPartition, data: _Partition, config: LogConfig, now_ms: Callable[[], int]
    ) -> None:
        self._tp = tp
        self._data = data
        self._config = config
        self._now_ms = now_ms
        self._closed = False

    @property
    def tp(self) -> TopicPartition:
        return self._tp

    async def append(self, batch: bytearray, leader_epoch: int) -> AppendResult:
        self._check_open()
        header = parse_appended_batch(batch, self._tp)
        d = self._data
        base = d.log_end_offset
        last = base + header.last_offset_delta
        assign_offsets(batch, 0, base, leader_epoch)
        d.batches.append(_Stored(base, last, header.max_timestamp, self._now_ms(), bytes(batch)))
        d.last_offsets.append(last)
        d.log_end_offset = last + 1
        return AppendResult(base, last, d.log_start_offset)

    async def read(self, offset: int, max_bytes: int, min_one_batch: bool) -> ReadResult:
        self._check_open()
        d = self._data
        if offset < d.log_start_offset or offset > d.log_end_offset:
            raise OffsetOutOfRange(
                f"{self._tp}: offset {offset} outside [{d.log_start_offset}, {d.log_end_offset}]"
            )
        chunks: list[bytes] = []
        total = 0
        for stored in d.batches[bisect_left(d.last_offsets, offset) :]:
            size = len(stored.data)
            if total + size > max_bytes and not (min_one_batch and not chunks):
                break
            chunks.append(stored.data)
            total += size
        leo = d.log_end_offset
        return ReadResult(b"".join(chunks), leo, leo, d.log_start_offset)

    def offsets(self) -> LogOffsets:
        d = self._data
        return LogOffsets(d.log_start_offset, d.log_end_offset, d.log_end_offset, d.log_end_offset)

    def size_in_bytes(self) -> int:
        return sum(len(stored.data) for stored in self._data.batches)

    async def offset_for_timestamp(self, timestamp: int) -> TimestampOffset | None:
        self._check_open()
        start = self._data.log_start_offset
        for stored in self._data.batches:
            if stored.max_timestamp >= timestamp and stored.last_offset >= start:
                return TimestampOffset(stored.max_timestamp, max(stored.base_offset, start))
        return None

    async def max_timestamp(self) -> TimestampOffset | None:
        self._check_open()
        best: TimestampOffset | None = None
        for stored in self._data.batches:
            if stored.max_timestamp > (best.timestamp if best else -1):
                best = TimestampOffset(stored.max_timestamp, stored.last_offset)
        return best

    async def truncate_prefix(self, new_log_start_offset: int) -> int:
        self._check_open()
        d = self._data
        if new_log_start_offset > d.log_end_offset:
            raise OffsetOutOfRange(
                f"{self._tp}: log start {new_log_start_offset} past the log end {d.log_end_offset}"
            )
        if new_log_start_offset > d.log_start_offset:
            d.log_start_offset = new_log_start_offset
            _drop_oldest(d, bisect_left(d.last_offsets, new_log_start_offset))
        return d.log_start_offset

    def reconfigure(self, config: LogConfig) -> None:
        self._config = config

    async def close(self) -> None:
        self._closed = True

    def enforce_retention(self, now_ms: int) -> int:
        """retention.ms then retention.bytes, one batch at a time from the oldest."""
        d, config = self._data, self._config
        count = 0
        if config.retention_ms >= 0:
            while count < len(d.batches) and (
                now_ms - d.batches[count].largest_timestamp() > config.retention_ms
            ):
                count += 1
        _drop_oldest(d, count)
        deleted = count
        if config.retention_bytes >= 0:
            excess = sum(len(s.data) for s in d.batches) - config.retention_bytes
            count = 0
            while count < len(d.batches) and excess - len(d.batches[count].data) >= 0:
                excess -= len(d.batches[count].data)
                count += 1
            _drop_oldest(d, count)
            deleted += count
        return deleted

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"log {self._tp} is closed")


def _drop_oldest(d: _Partition, count: int) -> None:
    """Drop the oldest `count` batches; the log start follows the first survivor."""
    if count <= 0:
        return
    del d.batches[:count]
    del d.last_offsets[:count]
    first = d.batches[0].base_offset if d.batches else d.log_end_offset
    d.log_start_offset = max(d.log_start_offset, first)


class MemoryLogStore:
    def __init__(self, now_ms: Callable[[], int] = _wall_ms) -> None:
        self._now_ms = now_ms
        self._data: dict[TopicPartition, _Partition] = {}
        self._logs: dict[TopicPartition, MemoryLog] = {}

    async def open(self, tp: TopicPartition, config: LogConfig) -> MemoryLog:
        log = self._logs.get(tp)
        if log is not None and not log._closed:
            log.reconfigure(config)
            return log
        data = self._data.setdefault(tp, _Partition())
        log = self._logs[tp] = MemoryLog(tp, data, config, self._now_ms)
        return log

    async def delete(self, tp: TopicPartition) -> None:
        log = self._logs.pop(tp, None)
        if log is not None:
            await log.close()
        self._data.pop(tp, None)

    def list(self) -> list[TopicPartition]:
        return sorted(self._data)

    async def enforce_retention(self, now_ms: int) -> int:
        return sum(
            log.enforce_retention(now_ms) for log in self._logs.values() if not log._closed
        )

    async def flush_due(self, now_ms: int) -> None:
        """Nothing to make durable."""

    async def maintain(self, now_ms: int) -> None:
        """Memory never goes offline."""

    async def close(self) -> None:
        for log in self._logs.values():
            await log.close()


if TYPE_CHECKING:

    def _conforms(log: MemoryLog, store: MemoryLogStore) -> tuple[PartitionLog, LogStore]:
        """Never called: mypy fails here when these classes drift from the seam."""
        return log, store
