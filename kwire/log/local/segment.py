"""One log segment: `<base>.log` plus its `.index`, `.timeindex` and `.txnindex`.

A segment owns its files (the `.txnindex` only once it has an entry, see
txnindex.py), appends batches to the `.log` (bytes exactly as
stored, Kafka's on-disk format), keeps the sparse indexes the way Kafka's
LogSegment.append does, and answers position and timestamp look-ups for reads.
Which segment to write, when to roll and what to delete is `log.py`'s business;
rebuilding a segment after a crash is `recovery.py`'s.

I/O is plain blocking os.write / os.pread on the event loop thread: a write is
one batch into the page cache and a read is at most one fetch's max bytes,
both short enough that handing them to a thread would cost more than it saves,
and keeping them synchronous is what makes offset order equal call order.

Reads trust nothing they have not checked: every batch served has a sane
header, the offset that follows its predecessor (a kwire log has no gaps: no
compaction yet) and a matching CRC, so a damaged sealed segment answers
CorruptRecords for its bad range instead of a wrong record, a hang or a silent
skip to the next good batch (some clients never check CRCs). Checking costs a
CRC-32C pass over the bytes served, about 0.1 ms per MiB.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from kwire.log.api import CorruptRecords
from kwire.log.local._batches import (
    BATCH_HEADER_SIZE,
    BatchHeader,
    Buffer,
    header_problem,
    parse_header,
    valid_prefix,
)
from kwire.log.local.index import OffsetIndex, TimeIndex
from kwire.log.local.txnindex import TXN_INDEX_SUFFIX, TransactionIndex

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
TIME_INDEX_SUFFIX = ".timeindex"

log = logging.getLogger("kwire.log")


def segment_name(base_offset: int) -> str:
    """Kafka's file name stem: the base offset, zero-padded to 20 digits."""
    return f"{base_offset:020d}"


class Segment:
    """Open files and in-memory state of one segment.

    `next_offset` is one past the last offset stored (the base offset while empty);
    `max_timestamp` / `offset_of_max_timestamp` are Kafka's maxTimestampSoFar and
    shallowOffsetOfMaxTimestampSoFar (-1 while unknown).
    """

    def __init__(
        self,
        directory: Path,
        base_offset: int,
        index_interval_bytes: int,
        *,
        truncate: bool = False,
    ) -> None:
        stem = directory / segment_name(base_offset)
        self.base_offset = base_offset
        self.log_path = stem.with_name(stem.name + LOG_SUFFIX)
        self.offset_index = OffsetIndex(stem.with_name(stem.name + INDEX_SUFFIX), base_offset)
        self.time_index = TimeIndex(stem.with_name(stem.name + TIME_INDEX_SUFFIX), base_offset)
        self.txn_index = TransactionIndex(stem.with_name(stem.name + TXN_INDEX_SUFFIX),
                                          base_offset)
        flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | (os.O_TRUNC if truncate else 0)
        self.fd = os.open(self.log_path, flags, 0o644)
        stat = os.fstat(self.fd)
        self.size = stat.st_size
        self.last_modified_ms = stat.st_mtime_ns // 1_000_000
        self.next_offset = base_offset
        self.max_timestamp = -1
        self.offset_of_max_timestamp = -1
        self.bytes_since_last_index_entry = 0
        # When segment.ms counts from: the clock at the first append in this process,
        # or the first batch's max timestamp for a segment found on disk (Kafka's rule).
        self.roll_base_ms: int | None = None
        self.index_interval_bytes = index_interval_bytes  # log.py updates it on reconfigure
        self._reported: set[int] = set()  # positions of damage already logged

    @classmethod
    def create(cls, directory: Path, base_offset: int, index_interval_bytes: int) -> Segment:
        """A new empty segment; leftovers under the same name are empty by construction
        (segments roll only at the log end offset), so truncating them loses nothing."""
        segment = cls(directory, base_offset, index_interval_bytes, truncate=True)
        segment.offset_index.reset()
        segment.time_index.reset()
        segment.txn_index.reset()
        return segment

    # -- writing -------------------------------------------------------------

    def append(self, batch: Buffer, header: BatchHeader, now_ms: int) -> None:
        """Write one batch (offsets already assigned) and index it. On failure no
        byte of it stays in the file (or the caller finds `torn` set)."""
        position = self.size
        view = memoryview(batch)
        written = 0
        try:
            while written < len(view):  # os.write may write less than asked (rare on files)
                written += os.write(self.fd, view[written:])
        except OSError:
            # Disk full or I/O error: leave no partial batch behind for the next append
            # to follow; the offset was not taken (next_offset moves in track()).
            self.cut_back()
            raise
        self.size += len(view)
        self.last_modified_ms = now_ms
        if self.roll_base_ms is None:
            self.roll_base_ms = now_ms
        # Data first, then the index: a crash between the two leaves an index that
        # is merely sparser, never one pointing past the data.
        self.track(header, position)

    def track(self, header: BatchHeader, position: int) -> None:
        """Kafka's LogSegment.append bookkeeping for the batch at `position`: the max
        timestamp so far, and an index entry once more than index.interval.bytes have
        gone by since the last one. Recovery replays batches through here too."""
        if header.max_timestamp > self.max_timestamp:
            self.max_timestamp = header.max_timestamp
            self.offset_of_max_timestamp = header.last_offset
        if self.bytes_since_last_index_entry > self.index_interval_bytes:
            self.offset_index.append(header.last_offset, position)
            self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp)
            self.bytes_since_last_index_entry = 0
        self.bytes_since_last_index_entry += header.size
        self.next_offset = header.next_offset

    def seal(self) -> None:
        """The segment stops being the active one (Kafka's onBecomeInactiveSegment):
        the time index gets a last entry with the segment's max timestamp, which is
        what retention and look-ups read once the segment is reloaded."""
        self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp)
        self.offset_index.close()
        self.time_index.close()
        # Unlike the other two indexes the log cannot rebuild it, and the rolled
        # segment's background flush covers only the `.log`: fsync it now, when it
        # got entries since the last flush (rare: aborts in this segment).
        self.txn_index.close(fsync=True)

    def truncate_to(self, position: int) -> None:
        os.ftruncate(self.fd, position)
        self.size = position

    @property
    def torn(self) -> bool:
        """The file holds bytes past `size` that a failed append could not remove."""
        try:
            return os.fstat(self.fd).st_size != self.size
        except OSError:
            return True

    def cut_back(self) -> bool:
        """Truncate the file to `size` (dropping a failed append); False if it can't."""
        try:
            os.ftruncate(self.fd, self.size)
        except OSError as exc:
            log.error("%s: cannot remove a failed append's bytes: %s", self.log_path, exc)
            return False
        return True

    def flush(self) -> None:
        os.fsync(self.fd)
        self.offset_index.flush()
        self.time_index.flush()
        self.txn_index.flush()

    def close(self, fsync: bool) -> None:
        """Close the files; like Kafka's LogSegment.close, first record the max
        timestamp in the time index so a clean reopen needs no scan for it."""
        self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp)
        if fsync:
            self.flush()
        self.offset_index.close()
        self.time_index.close()
        self.txn_index.close()
        os.close(self.fd)

    def delete(self) -> None:
        """Close and remove the files; the `.log` goes last so a crash midway leaves
        either a whole segment or orphan index files that loading removes."""
        self.offset_index.delete()
        self.time_index.delete()
        self.txn_index.delete()
        os.close(self.fd)
        self.log_path.unlink(missing_ok=True)

    # -- reading -------------------------------------------------------------

    def header_at(self, position: int) -> BatchHeader:
        return parse_header(os.pread(self.fd, BATCH_HEADER_SIZE, position))

    def _checked_header(self, position: int) -> BatchHeader:
        """The header at `position`, or CorruptRecords when it cannot start a batch
        that fits in the segment."""
        if self.size - position < BATCH_HEADER_SIZE:
            raise self._corrupt(position, "partial batch header")
        data = os.pread(self.fd, BATCH_HEADER_SIZE, position)
        if len(data) < BATCH_HEADER_SIZE:
            raise self._corrupt(position, "file shorter than the segment")
        header = parse_header(data)
        problem = header_problem(header)
        if problem is None and position + header.size > self.size:
            problem = "batch runs past the end of the segment"
        if problem is not None:
            raise self._corrupt(position, problem)
        return header

    def _corrupt(self, position: int, reason: str, resume: int | None = None) -> CorruptRecords:
        """The error for damage at `position`, logged once per place; whole-log scans
        resume at `resume` (default: past this segment)."""
        if position not in self._reported:
            self._reported.add(position)
            log.error("%s: corrupt batch at position %d (%s); reads of it answer "
                      "CORRUPT_MESSAGE", self.log_path, position, reason)
        # Past the segment's end the next one starts at an offset known by its name.
        return CorruptRecords(f"{self.log_path.name}@{position}: {reason}",
                              self.next_offset if resume is None else resume)

    def locate(self, offset: int) -> tuple[int, BatchHeader] | None:
        """Position and header of the batch holding `offset`; None when the segment
        ends before it. Every batch walked over must follow its predecessor;
        CorruptRecords when they do not, or when `offset` falls in a gap."""
        indexed, position = self.offset_index.lookup(offset)
        # The walk checks offsets from where it starts: the segment's base offset at
        # position 0, else the index entry's, which names its batch's last offset.
        expected: int | None = self.base_offset if position == 0 else None
        indexed_at = position
        while position < self.size:
            header = self._checked_header(position)
            if position == indexed_at and expected is None and header.last_offset != indexed:
                # A damaged index, not damaged data: walk from the start instead.
                log.warning("%s: index entry %d@%d does not match the log; scanning",
                            self.offset_index.path, indexed, position)
                position, expected = 0, self.base_offset
                continue
            if expected is not None and header.base_offset != expected:
                raise self._corrupt(position, f"base offset {header.base_offset}, "
                                              f"expected {expected}")
            if header.last_offset >= offset:
                if header.base_offset > offset:
                    raise self._corrupt(position, f"offsets {offset}..{header.base_offset - 1}"
                                        " are missing", resume=header.base_offset)
                return position, header
            expected = header.next_offset
            position += header.size
        return None

    def read(self, offset: int, max_bytes: int, min_one_batch: bool) -> bytes | None:
        """Whole, checked batches from the one holding `offset`, at most `max_bytes`
        unless the first alone is larger and `min_one_batch`; None when no batch is
        at or after `offset` in this segment. The batches before a damaged one are
        returned on their own; a damaged first batch raises CorruptRecords."""
        found = self.locate(offset)
        if found is None:
            return None
        start, first = found
        if first.size > max_bytes:
            if not min_one_batch:
                return b""
            data = os.pread(self.fd, first.size, start)
        else:
            data = os.pread(self.fd, min(max_bytes, self.size - start), start)
        good, problem = valid_prefix(data, first.base_offset)
        if problem is not None:
            # Logged now; the read stops before it and a read starting there raises.
            error = self._corrupt(start + good, problem)
            if good == 0:
                raise error
        return data if good == len(data) else data[:good]

    def find_by_timestamp(self, timestamp: int, min_offset: int) -> tuple[int, int] | None:
        """(max timestamp, offset) of the first batch at or above `min_offset` whose
        max timestamp is >= `timestamp` (Kafka's LogSegment.findOffsetByTimestamp,
        at batch granularity); the offset is the batch base, raised to `min_offset`."""
        _, indexed_offset = self.time_index.lookup(timestamp)
        # The time entry names the first batch to reach its timestamp, so no batch
        # before that one can qualify: start at (or just before) it.
        _, position = self.offset_index.lookup(indexed_offset)
        while position < self.size:
            header = self._checked_header(position)
            if header.max_timestamp >= timestamp and header.last_offset >= min_offset:
                return header.max_timestamp, max(header.base_offset, min_offset)
            position += header.size
        return None

    def largest_timestamp(self) -> int:
        """What retention.ms compares with: Kafka uses the max batch timestamp, or the
        last modification time when batches carry none."""
        return self.max_timestamp if self.max_timestamp >= 0 else self.last_modified_ms
