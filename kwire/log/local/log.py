"""`LocalLog`: one partition's `PartitionLog` over Kafka-format segment files.

This module owns the list of segments of one partition directory and the
decisions over it: which segment an append goes to and when to roll
(segment.bytes, segment.ms, a full index, relative-offset overflow), which
segment a read or a timestamp look-up starts in, when to fsync (flush.messages,
flush.ms), and which whole segments retention (retention.ms, retention.bytes)
and DeleteRecords (`truncate_prefix`) remove. Single node: high watermark =
last stable offset = log end offset.

Every method does its file work synchronously, without awaiting in between:
that is what keeps offsets in call order and lets a read never see a segment
list that is half changed (see segment.py on why blocking I/O is fine here).
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_right
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kwire.log.api import (
    AppendResult,
    LogConfig,
    LogOffsets,
    OffsetOutOfRange,
    PartitionLog,
    ReadResult,
    TimestampOffset,
    TopicPartition,
)
from kwire.log.local._batches import (
    INT32_MAX,
    assign_offsets,
    parse_appended_batch,
)
from kwire.log.local.recovery import load_segments
from kwire.log.local.segment import Segment

_OFFSET_ENTRY_BYTES = 8
_TIME_ENTRY_BYTES = 12


class LocalLog:
    """A partition log in `directory`; made by `LocalLogStore.open`."""

    def __init__(
        self,
        tp: TopicPartition,
        directory: Path,
        config: LogConfig,
        segments: list[Segment],
        log_start_offset: int,
        now_ms: Callable[[], int],
        on_log_start_change: Callable[[LocalLog], None],
        on_close: Callable[[LocalLog], None],
    ) -> None:
        self._tp = tp
        self.directory = directory
        self._config = config
        self._segments = segments
        self._bases = [s.base_offset for s in segments]
        self._log_start = log_start_offset
        self._now_ms = now_ms
        self._on_log_start_change = on_log_start_change
        self._on_close = on_close
        # Everything below the recovery point has been fsynced (Kafka's name).
        self._recovery_point = self.log_end_offset
        self._last_flush_ms = now_ms()
        self._unflushed: list[Segment] = []
        self._closed = False

    @classmethod
    def open(
        cls,
        tp: TopicPartition,
        directory: Path,
        config: LogConfig,
        *,
        clean: bool,
        checkpointed_log_start: int,
        now_ms: Callable[[], int],
        on_log_start_change: Callable[[LocalLog], None],
        on_close: Callable[[LocalLog], None],
    ) -> LocalLog:
        """Load (recovering if not `clean`) or create the log in `directory`."""
        directory.mkdir(parents=True, exist_ok=True)
        interval = config.index_interval_bytes
        segments = load_segments(directory, clean=clean, index_interval_bytes=interval)
        if not segments:
            segments = [Segment.create(directory, 0, interval)]
        elif not clean:
            segments[-1].flush()  # make a recovery truncation durable before new appends
        leo = segments[-1].next_offset
        log_start = max(segments[0].base_offset, min(checkpointed_log_start, leo))
        return cls(
            tp, directory, config, segments, log_start, now_ms, on_log_start_change, on_close
        )

    # -- PartitionLog ----------------------------------------------------------

    @property
    def tp(self) -> TopicPartition:
        return self._tp

    @property
    def log_start_offset(self) -> int:
        return self._log_start

    @property
    def log_end_offset(self) -> int:
        return self._segments[-1].next_offset

    @property
    def segments(self) -> list[Segment]:
        """The live segments, oldest first (read-only use: tests and tools)."""
        return list(self._segments)

    async def append(self, batch: bytearray, leader_epoch: int) -> AppendResult:
        self._check_open()
        header = parse_appended_batch(batch, self._tp)
        base = self.log_end_offset
        last = base + header.last_offset_delta
        assign_offsets(batch, 0, base, leader_epoch)
        header = dataclasses.replace(header, base_offset=base)
        now = self._now_ms()
        segment = self._maybe_roll(len(batch), last, now)
        segment.append(batch, header, now)
        if not self._unflushed or self._unflushed[-1] is not segment:
            self._unflushed.append(segment)
        if self.log_end_offset - self._recovery_point >= self._config.flush_messages:
            # flush.messages=1 is "fsync before ack". A synchronous fsync keeps the
            # ordering trivially right; group commit via a thread would be faster.
            self.flush(now)
        return AppendResult(base, last, self._log_start)

    async def read(self, offset: int, max_bytes: int, min_one_batch: bool) -> ReadResult:
        self._check_open()
        leo = self.log_end_offset
        if offset < self._log_start or offset > leo:
            raise OffsetOutOfRange(
                f"{self._tp}: offset {offset} outside [{self._log_start}, {leo}]"
            )
        records = b""
        if offset < leo:
            first = max(bisect_right(self._bases, offset) - 1, 0)
            for segment in self._segments[first:]:
                # Like Kafka, one read serves batches from one segment only.
                data = segment.read(offset, max(max_bytes, 0), min_one_batch)
                if data is not None:
                    records = data
                    break
        return ReadResult(records, leo, leo, self._log_start)

    def offsets(self) -> LogOffsets:
        leo = self.log_end_offset
        return LogOffsets(self._log_start, leo, leo, leo)

    def size_in_bytes(self) -> int:
        """Bytes in the live segments (Kafka's UnifiedLog.size, what retention.bytes counts)."""
        return sum(s.size for s in self._segments)

    async def offset_for_timestamp(self, timestamp: int) -> TimestampOffset | None:
        self._check_open()
        for segment in self._segments:
            if segment.size and segment.max_timestamp >= timestamp:
                found = segment.find_by_timestamp(timestamp, self._log_start)
                if found is not None:
                    return TimestampOffset(*found)
        return None

    async def max_timestamp(self) -> TimestampOffset | None:
        self._check_open()
        best: TimestampOffset | None = None
        for segment in self._segments:
            # Strictly larger: the first batch to reach the maximum wins (KIP-734).
            if segment.size and segment.max_timestamp > (best.timestamp if best else -1):
                best = TimestampOffset(segment.max_timestamp, segment.offset_of_max_timestamp)
        return best

    async def truncate_prefix(self, new_log_start_offset: int) -> int:
        self._check_open()
        if new_log_start_offset > self.log_end_offset:
            raise OffsetOutOfRange(
                f"{self._tp}: log start {new_log_start_offset} past the log end "
                f"{self.log_end_offset}"
            )
        if new_log_start_offset <= self._log_start:
            return self._log_start
        self._log_start = new_log_start_offset
        # Persist before deleting, so a crash in between cannot bring back offsets
        # below the new start from a segment that survived.
        self._on_log_start_change(self)
        below = bisect_right(self._bases, new_log_start_offset) - 1  # segments before it
        self._delete_oldest(max(below, 0))
        return self._log_start

    def reconfigure(self, config: LogConfig) -> None:
        """Settings apply from the next append, roll, flush or retention pass."""
        self._config = config
        self._segments[-1].index_interval_bytes = config.index_interval_bytes

    async def close(self) -> None:
        """Flush and close the files (Kafka flushes a log on close)."""
        self.close_files(flush=True)

    # -- for LocalLogStore -----------------------------------------------------

    def close_files(self, flush: bool) -> None:
        if self._closed:
            return
        self._closed = True
        for segment in self._segments:
            segment.close(fsync=flush and any(segment is s for s in self._unflushed))
        self._unflushed.clear()
        self._on_close(self)

    def flush(self, now_ms: int) -> None:
        """fsync every segment written since the last flush (rolled ones too)."""
        for segment in self._unflushed:
            segment.flush()
        self._unflushed.clear()
        self._recovery_point = self.log_end_offset
        self._last_flush_ms = now_ms

    def flush_if_due(self, now_ms: int) -> None:
        """flush.ms: fsync when that long has passed since the last flush."""
        if self._closed or self.log_end_offset <= self._recovery_point:
            return
        if now_ms - self._last_flush_ms >= self._config.flush_ms:
            self.flush(now_ms)

    def enforce_retention(self, now_ms: int) -> int:
        """Roll an expired active segment (segment.ms), then delete the oldest
        segments past retention.ms, then past retention.bytes; returns how many."""
        if self._closed:
            return 0
        active = self._segments[-1]
        if active.size and self._roll_due_by_time(active, now_ms):
            self._roll()
        deleted = self._delete_oldest(self._expired_by_time(now_ms))
        deleted += self._delete_oldest(self._over_size())
        return deleted

    # -- internals -------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"log {self._tp} is closed")

    def _roll_due_by_time(self, segment: Segment, now_ms: int) -> bool:
        base = segment.roll_base_ms
        return base is not None and now_ms - base > self._config.segment_ms

    def _maybe_roll(self, batch_size: int, last_offset: int, now_ms: int) -> Segment:
        """Kafka's UnifiedLog.maybeRoll: an empty segment always takes the batch."""
        active = self._segments[-1]
        config = self._config
        if active.size and (
            active.size + batch_size > config.segment_bytes
            or self._roll_due_by_time(active, now_ms)
            or len(active.offset_index) >= config.segment_index_bytes // _OFFSET_ENTRY_BYTES
            or len(active.time_index) >= config.segment_index_bytes // _TIME_ENTRY_BYTES
            or last_offset - active.base_offset > INT32_MAX  # relative offsets are int32
        ):
            return self._roll()
        return active

    def _roll(self) -> Segment:
        old = self._segments[-1]
        old.seal()
        new = Segment.create(self.directory, old.next_offset, self._config.index_interval_bytes)
        self._segments.append(new)
        self._bases.append(new.base_offset)
        return new

    def _deletable(self) -> list[Segment]:
        """Kafka's deletableSegments candidates: all but an empty active segment."""
        if self._segments[-1].size == 0:
            return self._segments[:-1]
        return list(self._segments)

    def _expired_by_time(self, now_ms: int) -> int:
        if self._config.retention_ms < 0:
            return 0
        count = 0
        for segment in self._deletable():
            if now_ms - segment.largest_timestamp() <= self._config.retention_ms:
                break
            count += 1
        return count

    def _over_size(self) -> int:
        if self._config.retention_bytes < 0:
            return 0
        excess = self.size_in_bytes() - self._config.retention_bytes
        count = 0
        for segment in self._deletable():
            if excess - segment.size < 0:
                break
            excess -= segment.size
            count += 1
        return count

    def _delete_oldest(self, count: int) -> int:
        """Delete the `count` oldest segments; when that is all of them, roll first
        so the log keeps an (empty) active segment at its end offset, as Kafka does."""
        if count <= 0:
            return 0
        if count == len(self._segments):
            self._roll()
        doomed = self._segments[:count]
        del self._segments[:count]
        del self._bases[:count]
        for segment in doomed:
            self._unflushed = [s for s in self._unflushed if s is not segment]
            segment.delete()
        self._log_start = max(self._log_start, self._segments[0].base_offset)
        return count


if TYPE_CHECKING:

    def _conforms(log: LocalLog) -> PartitionLog:
        """Never called: mypy fails here when LocalLog drifts from the seam."""
        return log
