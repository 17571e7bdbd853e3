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

Storage failures (Kafka's LogDirFailureChannel, for one partition rather than
a whole dir): a failed append leaves no trace — the offsets are not taken and
no byte of the batch stays in the file — and raises StorageError, after which
the log takes the next append as if nothing happened (the disk may have room
again). When the failure cannot be undone (the file keeps bytes a truncate
could not remove, an fsync failed so what the disk holds is unknown) the log
goes offline: every call raises StorageError, and `recover_if_offline`, tried
by the store's housekeeping and by calls, reloads it from disk as after a
crash, first cutting the file back to what was acknowledged. Tries come a
second apart, twice as far apart after each failure, at most a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
from bisect import bisect_right
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kwire.errors import StorageError
from kwire.log.api import (
    AbortedTxnIndex,
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
from kwire.log.local.txnindex import AbortedTxnEntry

_OFFSET_ENTRY_BYTES = 8
_TIME_ENTRY_BYTES = 12
# How soon an offline log may try to reload itself after a failed try (calls and
# housekeeping both try); doubled after each failure up to the maximum, since a
# reload scans the unflushed segments on the event loop.
_RECOVERY_RETRY_MS = 1_000
_RECOVERY_RETRY_MAX_MS = 60_000

log = logging.getLogger("kwire.log")


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
        # Everything below the recovery point has been fsynced (Kafka's name); what
        # `open` loaded is either that or was checked and flushed by recovery.
        self._recovery_point = self.log_end_offset
        self._last_flush_ms = now_ms()
        self._unflushed: list[Segment] = []
        self._closed = False
        # Why the log is offline (None while online), and the active segment's size
        # to cut back to before reloading it.
        self._offline: str | None = None
        self._acked_size = 0
        self._next_recovery_ms = 0  # on the injected clock, so tests can move it
        self._recovery_wait_ms = _RECOVERY_RETRY_MS
        self._background: set[asyncio.Task[None]] = set()  # rolled segments' fsyncs

    @classmethod
    def open(
        cls,
        tp: TopicPartition,
        directory: Path,
        config: LogConfig,
        *,
        clean: bool,
        checkpointed_log_start: int,
        recovery_point: int,
        now_ms: Callable[[], int],
        on_log_start_change: Callable[[LocalLog], None],
        on_close: Callable[[LocalLog], None],
    ) -> LocalLog:
        """Load (recovering past `recovery_point` if not `clean`) or create the log
        in `directory`. Raises OSError (or a parse error) only when the files
        cannot be read at all; damage inside them is repaired, not raised."""
        directory.mkdir(parents=True, exist_ok=True)
        segments = _load(directory, config, clean, recovery_point)
        leo = segments[-1].next_offset
        log_start = max(segments[0].base_offset, min(checkpointed_log_start, leo))
        return cls(
            tp, directory, config, segments, log_start, now_ms, on_log_start_change, on_close
        )

    @classmethod
    def unloaded(
        cls,
        tp: TopicPartition,
        directory: Path,
        config: LogConfig,
        *,
        reason: str,
        checkpointed_log_start: int,
        now_ms: Callable[[], int],
        on_log_start_change: Callable[[LocalLog], None],
        on_close: Callable[[LocalLog], None],
    ) -> LocalLog:
        """A log whose files could not be loaded: offline until `recover_if_offline`
        manages to load them (recovering, as after a crash)."""
        log = cls(tp, directory, config, [], checkpointed_log_start, now_ms,
                  on_log_start_change, on_close)
        log._offline = reason
        log._acked_size = -1  # nothing known to cut back to
        return log

    # -- PartitionLog ----------------------------------------------------------

    @property
    def tp(self) -> TopicPartition:
        return self._tp

    @property
    def log_start_offset(self) -> int:
        return self._log_start

    @property
    def log_end_offset(self) -> int:
        return self._segments[-1].next_offset if self._segments else self._log_start

    @property
    def recovery_point(self) -> int:
        """Offsets below this are on disk (fsynced); the store checkpoints it."""
        return self._recovery_point

    @property
    def offline_reason(self) -> str | None:
        return self._offline

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
        try:
            segment = self._maybe_roll(len(batch), last, now)
            position = segment.size
            segment.append(batch, header, now)
        except OSError as exc:
            active = self._segments[-1]
            if active.torn and not active.cut_back():
                self._go_offline(f"append failed and could not be undone: {exc}")
            raise StorageError(f"{self._tp}: append failed: {exc}") from exc
        if not self._unflushed or self._unflushed[-1] is not segment:
            self._unflushed.append(segment)
        if self.log_end_offset - self._recovery_point >= self._config.flush_messages:
            # flush.messages=1 is "fsync before ack". A synchronous fsync keeps the
            # ordering trivially right; group commit via a thread would be faster.
            try:
                self.flush(now)
            except OSError as exc:
                # What the disk holds is unknown now; this batch was not acknowledged,
                # so it must not come back from the page cache after a reload.
                self._go_offline(f"fsync failed: {exc}", acked_size=position)
                raise StorageError(f"{self._tp}: fsync failed: {exc}") from exc
        return AppendResult(base, last, self._log_start)

    def append_aborted_txn(self, producer_id: int, first_offset: int, last_offset: int,
                           last_stable_offset: int) -> None:
        """AbortedTxnIndex: the entry goes to the `.txnindex` of the segment holding
        the marker at `last_offset` (Kafka's UnifiedLog.append updates the index of
        the segment it appended to; here an append in between may have rolled)."""
        if self._closed or self._offline is not None:
            log.warning("%s: log closed or offline; aborted transaction of producer %d "
                        "ending at %d not written to .txnindex", self._tp, producer_id,
                        last_offset)
            return
        i = bisect_right(self._bases, last_offset) - 1
        if i < 0 or last_offset >= self._segments[i].next_offset:
            log.warning("%s: no segment holds offset %d (deleted meanwhile?); aborted "
                        "transaction not written to .txnindex", self._tp, last_offset)
            return
        segment = self._segments[i]
        if segment.txn_index.append(AbortedTxnEntry(
                producer_id, first_offset, last_offset, last_stable_offset)) and (
                self._recovery_point > last_offset):
            # The marker was fsynced already (flush.messages): so is its entry. Else
            # it goes with the segment's next flush, like the marker.
            segment.txn_index.flush()

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
            try:
                for segment in self._segments[first:]:
                    # Like Kafka, one read serves batches from one segment only.
                    data = segment.read(offset, max(max_bytes, 0), min_one_batch)
                    if data is not None:
                        records = data
                        break
            except OSError as exc:
                raise StorageError(f"{self._tp}: read failed: {exc}") from exc
        return ReadResult(records, leo, leo, self._log_start)

    def offsets(self) -> LogOffsets:
        self._check_online()
        leo = self.log_end_offset
        return LogOffsets(self._log_start, leo, leo, leo)

    def size_in_bytes(self) -> int:
        """Bytes in the live segments (Kafka's UnifiedLog.size, what retention.bytes counts)."""
        return sum(s.size for s in self._segments)

    async def offset_for_timestamp(self, timestamp: int) -> TimestampOffset | None:
        self._check_open()
        try:
            for segment in self._segments:
                if segment.size and segment.max_timestamp >= timestamp:
                    found = segment.find_by_timestamp(timestamp, self._log_start)
                    if found is not None:
                        return TimestampOffset(*found)
        except OSError as exc:
            raise StorageError(f"{self._tp}: read failed: {exc}") from exc
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
        previous, self._log_start = self._log_start, new_log_start_offset
        # Persist before deleting, so a crash in between cannot bring back offsets
        # below the new start from a segment that survived.
        try:
            self._on_log_start_change(self)
        except OSError as exc:
            self._log_start = previous
            raise StorageError(f"{self._tp}: cannot record the log start: {exc}") from exc
        below = bisect_right(self._bases, new_log_start_offset) - 1  # segments before it
        self._delete_oldest(max(below, 0))
        return self._log_start

    def reconfigure(self, config: LogConfig) -> None:
        """Settings apply from the next append, roll, flush or retention pass."""
        self._config = config
        if self._segments:  # none while a log that could not be loaded is offline
            self._segments[-1].index_interval_bytes = config.index_interval_bytes

    async def close(self) -> None:
        """Flush and close the files (Kafka flushes a log on close)."""
        self.close_files(flush=True)

    # -- for LocalLogStore -----------------------------------------------------

    def close_files(self, flush: bool) -> bool:
        """Close every file, fsyncing the unflushed ones when `flush`; False when a
        flush failed (the next start must then recover this log)."""
        if self._closed:
            return True
        self._closed = True
        flushed = self._offline is None
        for segment in self._segments if self._offline is None else ():
            fsync = flush and any(segment is s for s in self._unflushed)
            try:
                segment.close(fsync=fsync)
            except OSError as exc:
                log.error("%s: closing %s failed: %s", self._tp, segment.log_path, exc)
                flushed = False
        if flush and flushed:
            self._recovery_point = self.log_end_offset
        self._unflushed.clear()
        self._on_close(self)
        return flushed

    def flush(self, now_ms: int) -> None:
        """fsync every segment written since the last flush (rolled ones too)."""
        for segment in self._unflushed:
            segment.flush()
        self._unflushed.clear()
        self._recovery_point = self.log_end_offset
        self._last_flush_ms = now_ms

    def flush_if_due(self, now_ms: int) -> None:
        """flush.ms: fsync when that long has passed since the last flush."""
        if self._closed or self._offline or self.log_end_offset <= self._recovery_point:
            return
        if now_ms - self._last_flush_ms >= self._config.flush_ms:
            try:
                self.flush(now_ms)
            except OSError as exc:
                self._go_offline(f"fsync failed: {exc}")

    def recover_if_offline(self) -> bool:
        """Reload an offline log from disk, as after a crash; True once it is online."""
        if self._offline is None:
            return True
        now = self._now_ms()
        if self._closed or now < self._next_recovery_ms:
            return False
        # Until this try is over, and after it if it fails: wait twice as long as before.
        self._recovery_wait_ms = min(self._recovery_wait_ms * 2, _RECOVERY_RETRY_MAX_MS)
        self._next_recovery_ms = now + self._recovery_wait_ms
        try:
            if self._bases and self._acked_size >= 0:
                active = self.directory / f"{self._bases[-1]:020d}.log"
                if active.exists() and active.stat().st_size > self._acked_size:
                    os.truncate(active, self._acked_size)
            segments = _load(self.directory, self._config, False, self._recovery_point)
        except (OSError, ValueError) as exc:
            log.warning("%s is still offline: %s", self._tp, exc)
            return False
        self._segments = segments
        self._bases = [s.base_offset for s in segments]
        self._log_start = max(self._log_start, segments[0].base_offset)
        self._log_start = min(self._log_start, self.log_end_offset)
        self._recovery_point = self.log_end_offset
        self._unflushed = []
        log.warning("%s is online again: reloaded from disk (was offline: %s), log end %d",
                    self._tp, self._offline, self.log_end_offset)
        self._offline = None
        self._recovery_wait_ms = _RECOVERY_RETRY_MS
        return True

    def enforce_retention(self, now_ms: int) -> int:
        """Roll an expired active segment (segment.ms), then delete the oldest
        segments past retention.ms, then past retention.bytes; returns how many."""
        if self._closed or self._offline:
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
        self._check_online()

    def _check_online(self) -> None:
        if self._offline is not None and not self.recover_if_offline():
            raise StorageError(f"{self._tp} is offline: {self._offline}")

    def _go_offline(self, reason: str, acked_size: int | None = None) -> None:
        """Stop serving this log until `recover_if_offline` reloads it; the active
        segment is cut back to `acked_size` (default: its size in memory) first."""
        active = self._segments[-1]
        self._acked_size = active.size if acked_size is None else acked_size
        self._offline = reason
        self._next_recovery_ms = self._now_ms() + _RECOVERY_RETRY_MS
        log.error("%s is offline: %s; it will be reloaded from disk when possible",
                  self._tp, reason)
        for segment in self._segments:
            with contextlib.suppress(OSError):
                segment.close(fsync=False)
        with contextlib.suppress(OSError):  # recover_if_offline tries again
            os.truncate(active.log_path, self._acked_size)

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
        # The new files first: if they cannot be made (a full disk), nothing changed.
        new = Segment.create(self.directory, old.next_offset, self._config.index_interval_bytes)
        old.seal()
        self._segments.append(new)
        self._bases.append(new.base_offset)
        self._flush_sealed_later(old, new.base_offset)
        return new

    def _flush_sealed_later(self, sealed: Segment, upto: int) -> None:
        """Kafka flushes a rolled segment in the background and moves the recovery
        point to the new segment's base, so a crash recovers the active segment only."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (tests calling in directly): flush.* settings still apply

        async def flush() -> None:
            try:
                await asyncio.to_thread(os.fsync, sealed.fd)
            except OSError:
                return  # closed or deleted meanwhile, or failing: recovery covers it
            below = [s for s in self._unflushed if s is not sealed and s.base_offset < upto]
            if self._offline is None and not self._closed and not below:
                self._recovery_point = max(self._recovery_point, upto)
                self._unflushed = [s for s in self._unflushed if s is not sealed]

        task = loop.create_task(flush())
        self._background.add(task)  # the loop keeps only a weak reference to tasks
        task.add_done_callback(self._background.discard)

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


def _load(directory: Path, config: LogConfig, clean: bool, recovery_point: int) -> list[Segment]:
    interval = config.index_interval_bytes
    segments = load_segments(
        directory, clean=clean, recovery_point=recovery_point, index_interval_bytes=interval)
    if not segments:
        return [Segment.create(directory, 0, interval)]
    if not clean:
        try:
            for segment in segments:  # make recovery truncations durable before new appends
                if segment.next_offset > recovery_point or segment is segments[-1]:
                    segment.flush()
        except OSError:
            for segment in segments:  # an offline log retries: no fd leaks
                with contextlib.suppress(OSError):
                    segment.close(fsync=False)
            raise
    return segments


if TYPE_CHECKING:

    def _conforms(log: LocalLog) -> PartitionLog:
        """Never called: mypy fails here when LocalLog drifts from the seam."""
        return log

    def _keeps_txn_index(log: LocalLog) -> AbortedTxnIndex:
        return log
