"""The partition-log seam: what the broker needs from storage, and nothing more.

A `PartitionLog` stores record batches (v2, as they came on the wire) for one
topic-partition and assigns their offsets. The broker validates a batch before
it gets here; the log only numbers, stores, serves and expires batches. The
local segment log, the in-memory reference log and (later) the BookKeeper
ledger log implement it; contract tests run against every implementation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NewType, Protocol, runtime_checkable

TopicName = NewType("TopicName", str)


@dataclass(frozen=True, slots=True, order=True)
class TopicPartition:
    topic: str
    partition: int

    def __str__(self) -> str:
        return f"{self.topic}-{self.partition}"


@dataclass(frozen=True, slots=True)
class LogConfig:
    """The per-topic settings a log obeys; Kafka's topic-level config names in comments."""

    segment_bytes: int = 1024 * 1024 * 1024  # segment.bytes
    segment_ms: int = 7 * 24 * 3600 * 1000  # segment.ms
    retention_ms: int = 7 * 24 * 3600 * 1000  # retention.ms (-1: keep forever)
    retention_bytes: int = -1  # retention.bytes (-1: no size limit)
    flush_messages: int = 2**63 - 1  # flush.messages (1: fsync before ack)
    flush_ms: int = 2**63 - 1  # flush.ms
    index_interval_bytes: int = 4096  # index.interval.bytes
    segment_index_bytes: int = 10 * 1024 * 1024  # segment.index.bytes (caps index entries)


@dataclass(frozen=True, slots=True)
class LogOffsets:
    log_start_offset: int
    high_watermark: int
    last_stable_offset: int
    log_end_offset: int


@dataclass(frozen=True, slots=True)
class AppendResult:
    base_offset: int
    last_offset: int
    log_start_offset: int


@dataclass(frozen=True, slots=True)
class ReadResult:
    """Whole stored batches, byte for byte, starting with the batch that holds the
    requested offset (clients skip the records below it, KIP-74 / COMPAT-NOTES 7)."""

    records: bytes
    high_watermark: int
    last_stable_offset: int
    log_start_offset: int


@dataclass(frozen=True, slots=True)
class TimestampOffset:
    timestamp: int
    offset: int


class OffsetOutOfRange(Exception):
    """The requested offset is below the log start offset or above the log end offset."""


class CorruptRecords(Exception):
    """The stored bytes holding the requested offset fail their checks (CRC, length,
    offsets in sequence): Fetch answers CORRUPT_MESSAGE for them rather than serve a
    wrong record or skip to the next good one. `resume_offset` is where intact data
    may start again (the end of the damaged stretch), for whole-log scans."""

    def __init__(self, message: str, resume_offset: int) -> None:
        super().__init__(message)
        self.resume_offset = resume_offset


class LogFenced(Exception):
    """Another owner took this partition's log over (cluster storage: its ledger was
    fenced, or its ledger list changed under a compare-and-set). The log acknowledges
    nothing more; the broker answers NOT_LEADER_OR_FOLLOWER and gives the partition
    up. Never a storage error: the data is fine, it is just no longer ours."""


class PartitionLog(Protocol):
    @property
    def tp(self) -> TopicPartition: ...

    async def append(self, batch: bytearray, leader_epoch: int) -> AppendResult:
        """Assign offsets starting at the log end offset by rewriting the batch
        header in place (base offset, partition leader epoch), store it, and
        return once it is as durable as the flush settings ask. Offsets are
        assigned in call order, before the first await. A failed append
        (kwire.errors.StorageError) leaves no trace: the offsets are not taken and
        the batch is never served."""
        ...

    async def read(self, offset: int, max_bytes: int, min_one_batch: bool) -> ReadResult:
        """Batches from the one containing `offset`, whole, up to `max_bytes`
        in total; with `min_one_batch` the first batch is returned even when it
        is larger. `offset == log end offset` returns no records. Raises
        OffsetOutOfRange below the log start offset or past the log end,
        CorruptRecords when the batch holding `offset` is damaged (the batches
        before a damaged one are returned on their own)."""
        ...

    def offsets(self) -> LogOffsets: ...

    def size_in_bytes(self) -> int:
        """Bytes of stored batches (DescribeLogDirs' partition size)."""
        ...

    async def offset_for_timestamp(self, timestamp: int) -> TimestampOffset | None:
        """The first offset whose batch max timestamp is >= `timestamp`, and that
        batch's timestamp (Kafka's ListOffsets by time), or None."""
        ...

    async def max_timestamp(self) -> TimestampOffset | None:
        """The largest batch max timestamp in the log and the last offset of that
        batch (ListOffsets -3, KIP-734), or None for an empty log."""
        ...

    async def truncate_prefix(self, new_log_start_offset: int) -> int:
        """Move the log start offset forward (DeleteRecords); drop whole
        segments below it. Returns the new log start offset."""
        ...

    def reconfigure(self, config: LogConfig) -> None: ...

    async def close(self) -> None: ...


class LogStore(Protocol):
    """Opens, lists and deletes partition logs."""

    async def open(self, tp: TopicPartition, config: LogConfig) -> PartitionLog: ...

    async def delete(self, tp: TopicPartition) -> None: ...

    def list(self) -> list[TopicPartition]: ...

    async def enforce_retention(self, now_ms: int) -> int:
        """Apply retention.ms / retention.bytes / segment.ms to every open log;
        return how many segments were deleted."""
        ...

    async def flush_due(self, now_ms: int) -> None:
        """fsync logs whose flush.ms has elapsed."""
        ...

    async def maintain(self, now_ms: int) -> None:
        """Periodic upkeep (the broker's housekeeping calls it every second or so):
        bring offline logs back when their storage works again, checkpoints."""
        ...

    async def close(self) -> None:
        """Flush everything and mark a clean shutdown."""
        ...


@runtime_checkable
class ProducerSnapshots(Protocol):
    """A log that keeps idempotent-producer state snapshots in its own storage (the
    BookKeeper log, so that a new owner finds them); the broker then replays only
    the batches after the snapshot's offset. Logs without it have their snapshots
    kept by the broker at shutdown."""

    async def write_producer_snapshot(self, offset: int, data: bytes) -> None:
        """Store `data`, the producer state as of log end offset `offset`, replacing
        the previous snapshot."""
        ...

    async def read_producer_snapshot(self) -> tuple[int, bytes] | None:
        """The latest snapshot and the offset it was taken at, or None."""
        ...


@runtime_checkable
class ReadAhead(Protocol):
    """A log whose reads may wait on the network (the BookKeeper log): a fetch
    across many partitions first tells each log what it will read, so their
    bookie reads run together instead of one partition after another."""

    def prefetch(self, offset: int, max_bytes: int) -> None:
        """Start loading about `max_bytes` from `offset` into memory; returns at
        once, never raises (the read that follows meets any error)."""
        ...


@runtime_checkable
class AbortedTxnIndex(Protocol):
    """A log that keeps Kafka's aborted-transaction index files (`.txnindex`) beside
    its segments, for Kafka's tools (the local log). The broker still serves
    read_committed fetches from its own in-memory index; logs without files
    (memory, BookKeeper) do not implement this."""

    def append_aborted_txn(self, producer_id: int, first_offset: int, last_offset: int,
                           last_stable_offset: int) -> None:
        """Record an aborted transaction whose ABORT marker is at `last_offset`
        (already appended) in the index of the segment holding the marker. Called
        once per marker as it is written, never on replay; never raises (a failed
        write is logged: the broker's index stays complete)."""
        ...
