"""Loading a partition directory's segments, and repairing them after a crash.

This module owns what opening a partition log does to its files (Kafka's
LogLoader):
- find the segments (`<20 digits>.log`) and remove index files whose `.log` is
  gone (a deletion interrupted midway);
- trust the segments below the recovery point (everything there was fsynced)
  once their indexes pass the sanity checks, the last offset entry included;
  rebuild the indexes of any segment whose index files are missing, torn or
  insane;
- cut a segment's `.txnindex` back with its `.log` whenever the log's tail was
  re-read (entries for markers past the surviving end go; txnindex.py);
- after an unclean shutdown (no clean-shutdown marker) recover every segment
  holding offsets at or past the recovery point batch by batch: sizes, offsets
  in sequence and CRC. The first bad batch and everything after it is
  truncated away, later segments included (a torn tail is never served,
  DESIGN "Errors and bad input"), and the repair is logged;
- after a clean shutdown, resume the active segment from its last offset index
  entry without CRC checks (reads check what they serve, see segment.py).
Damage below the recovery point is not looked for here; reads find it and
answer CorruptRecords for it.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from kwire.log.local._batches import (
    BATCH_HEADER_SIZE,
    INT32_MAX,
    HeaderError,
    compute_crc,
    header_problem,
    parse_header,
)
from kwire.log.local.segment import (
    INDEX_SUFFIX,
    LOG_SUFFIX,
    TIME_INDEX_SUFFIX,
    Segment,
    segment_name,
)
from kwire.log.local.txnindex import TXN_INDEX_SUFFIX

_INDEX_SUFFIXES = (INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX)

log = logging.getLogger("kwire.log")

_CHUNK = 1 << 20  # read the log in 1 MiB windows while scanning


class _Window:
    """Sequential reads of a `.log` through a buffer, so a scan of many small
    batches costs one pread per MiB rather than one per batch."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._start = 0
        self._data = b""

    def get(self, position: int, size: int) -> memoryview:
        """`size` bytes at `position`; the caller knows the file holds them."""
        if position < self._start or position + size > self._start + len(self._data):
            self._data = os.pread(self._fd, max(size, _CHUNK), position)
            self._start = position
        at = position - self._start
        return memoryview(self._data)[at : at + size]


def segment_bases(directory: Path) -> list[int]:
    """Base offsets of the segments in `directory`, ascending; removes orphan
    index files first."""
    bases: list[int] = []
    names = set(os.listdir(directory))
    for name in names:
        stem, dot, suffix = name.partition(".")
        if not (dot and stem.isdigit()):
            continue
        if "." + suffix == LOG_SUFFIX:
            bases.append(int(stem))
        elif "." + suffix in _INDEX_SUFFIXES and stem + LOG_SUFFIX not in names:
            (directory / name).unlink(missing_ok=True)
    return sorted(bases)


def load_segments(
    directory: Path, *, clean: bool, recovery_point: int, index_interval_bytes: int
) -> list[Segment]:
    """Open every segment in `directory` (none for a new partition), recovering
    those past `recovery_point` unless the shutdown was `clean`."""
    bases = segment_bases(directory)
    segments: list[Segment] = []
    for i, base in enumerate(bases):
        next_base = bases[i + 1] if i + 1 < len(bases) else None
        recover = not clean and (next_base is None or next_base > recovery_point)
        try:
            segment = load_segment(directory, base, next_base, recover, index_interval_bytes)
        except BaseException:
            for opened in segments:  # the caller may retry: leave no open files behind
                with contextlib.suppress(OSError):
                    opened.close(fsync=False)
            raise
        segments.append(segment)
        if recover and next_base is not None and segment.next_offset != next_base:
            # Kafka's LogLoader.recoverLog: past a corrupt batch in the unflushed part
            # of the log nothing can be trusted, so the later segments go too.
            for later in bases[i + 1:]:
                log.warning("deleting segment %d of %s: it follows a truncated one",
                            later, directory)
                for suffix in (*_INDEX_SUFFIXES, LOG_SUFFIX):
                    (directory / f"{segment_name(later)}{suffix}").unlink(missing_ok=True)
            break
    return segments


def load_segment(
    directory: Path, base: int, next_base: int | None, recover: bool,
    index_interval_bytes: int,
) -> Segment:
    """One segment, repaired as needed; `next_base` is None for the active segment."""
    segment = Segment(directory, base, index_interval_bytes)
    sane = (segment.offset_index.load(segment.size) and segment.time_index.load()
            and _last_entry_matches(segment))
    if next_base is not None:
        if sane and not recover:
            _restore_max_timestamp(segment)
            segment.next_offset = next_base
        else:
            rebuild(segment)
            segment.offset_index.close()
            segment.time_index.close()
            segment.txn_index.truncate_to(segment.next_offset)
        return segment
    if recover or not (sane and _resume(segment)):
        rebuild(segment)
    # Whichever way the tail was read, it may have been cut (Kafka's
    # LogSegment.truncateTo cuts the transaction index with the log).
    segment.txn_index.truncate_to(segment.next_offset)
    if segment.size:
        first = segment.header_at(0)
        segment.roll_base_ms = (
            first.max_timestamp if first.max_timestamp >= 0 else segment.last_modified_ms
        )
    return segment


def _last_entry_matches(segment: Segment) -> bool:
    """The last offset index entry points at a batch ending at its offset (one
    read; a sane-looking index over a replaced or shifted log fails this)."""
    last = segment.offset_index.last()
    if last is None:
        return True
    offset, position = last
    try:
        header = segment.header_at(position)
    except HeaderError:
        return False
    return header_problem(header) is None and header.last_offset == offset


def rebuild(segment: Segment) -> None:
    """Kafka's LogSegment.recover: drop both indexes, re-read every batch from the
    start with CRC checks, truncate the first bad one and all after it, and give
    the time index its closing max-timestamp entry."""
    segment.offset_index.reset()
    segment.time_index.reset()
    segment.max_timestamp = -1
    segment.offset_of_max_timestamp = -1
    segment.bytes_since_last_index_entry = 0
    segment.next_offset = segment.base_offset
    scan(segment, 0, validate=True)
    segment.time_index.maybe_append(segment.max_timestamp, segment.offset_of_max_timestamp)


def _resume(segment: Segment) -> bool:
    """Read on from the last offset index entry, trusting the indexes below it
    (load_segment checked that entry against its batch: _last_entry_matches).
    False when the indexes turn out not to match the log (then rebuild)."""
    _restore_max_timestamp(segment)
    start = 0
    last = segment.offset_index.last()
    if last is not None:
        _offset, start = last
        # Offsets below the indexed batch are not re-read; it sets the pace.
        segment.next_offset = segment.header_at(start).base_offset
    scan(segment, start, validate=False)
    if start and segment.size <= start:
        return False  # the indexed batch itself was bad: the index points past the data
    # An entry for an offset past the surviving data (written before the crash) means
    # the max timestamp so far is wrong too.
    return not segment.time_index.trim_above(segment.next_offset - 1)


def _restore_max_timestamp(segment: Segment) -> None:
    """Kafka reads maxTimestampSoFar from the time index's last entry."""
    last = segment.time_index.last()
    if last is not None:
        segment.max_timestamp, segment.offset_of_max_timestamp = last


def scan(segment: Segment, start: int, validate: bool) -> int:
    """Replay the batches from `start` through the segment's index bookkeeping and
    truncate the log at the first one that is torn, malformed, out of offset
    sequence or (when `validate`) fails its CRC. Returns the bytes truncated."""
    window = _Window(segment.fd)
    position, end = start, segment.size
    reason = ""
    while position < end:
        if end - position < BATCH_HEADER_SIZE:
            reason = "partial batch header"
            break
        header = parse_header(window.get(position, BATCH_HEADER_SIZE))
        problem = header_problem(header)
        if problem is not None:
            reason = problem
            break
        if position + header.size > end:
            reason = "partial batch"
            break
        if (
            header.base_offset != segment.next_offset
            or header.last_offset - segment.base_offset > INT32_MAX
        ):
            # Offsets are not under the CRC: sequence is their only check (a kwire
            # log has no gaps until compaction exists).
            reason = f"base offset {header.base_offset}, expected {segment.next_offset}"
            break
        body = window.get(position, header.size) if validate else None
        if body is not None and compute_crc(body, 0, header.size) != header.crc:
            reason = "CRC mismatch"
            break
        segment.track(header, position)
        position += header.size
    dropped = end - position
    if dropped:
        log.warning(
            "truncated %d bytes from %s at position %d (%s)",
            dropped, segment.log_path, position, reason,
        )
        segment.truncate_to(position)
    return dropped
