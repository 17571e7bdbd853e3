"""A segment's sparse offset index (`.index`) and time index (`.timeindex`).

Kafka's file formats, so Kafka's tools read them (kafka-dump-log):
- `.index`: 8-byte entries, int32 offset relative to the segment base, int32
  byte position in the `.log`. An entry names a batch's *last* offset and that
  batch's start position (DumpLogSegments checks exactly this).
- `.timeindex`: 12-byte entries, int64 timestamp, int32 relative offset: the
  largest batch max timestamp seen so far in the segment and the last offset of
  the first batch that reached it. Timestamps strictly increase.

Entries live in memory (arrays, bisected on lookup) and the file is append-only;
unlike Kafka we never pre-allocate, so a file is always exactly its entries —
what Kafka leaves after trimming an index on close. Indexes are derived data:
when a file is missing or fails the sanity checks, recovery rebuilds it from
the `.log`. For the same reason a failed index write (a full disk) never fails
the append that asked for it: the file is cut back to its last whole entry and
the entry lives on in memory only, which leaves the file merely sparser.
"""

from __future__ import annotations

import errno
import logging
import os
import struct
from array import array
from bisect import bisect_right
from pathlib import Path

log = logging.getLogger("kwire.log")

_OFFSET_ENTRY = struct.Struct(">ii")
_TIME_ENTRY = struct.Struct(">qi")


class _IndexFile:
    """The append-only file under an index; opened lazily, closed once sealed."""

    def __init__(self, path: Path, base_offset: int, entry_size: int) -> None:
        self.path = path
        self.base_offset = base_offset
        self.entry_size = entry_size
        self._fd: int | None = None
        self._size = 0  # bytes in the file while it is open: whole entries only

    def _read_raw(self) -> bytes | None:
        """The file's bytes, or None when it is missing or torn mid-entry."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        if len(data) % self.entry_size:
            return None
        return data

    def _write(self, data: bytes) -> None:
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                size = os.fstat(self._fd).st_size
                self._size = size - size % self.entry_size
            if os.write(self._fd, data) != len(data):
                raise OSError(errno.ENOSPC, "short write")
        except OSError as exc:
            self._cut_back(exc)
            return
        self._size += len(data)

    def _rewrite(self, data: bytes) -> None:
        """Replace the file's content (used after a rebuild or trim)."""
        self.close()
        try:
            self._fd = os.open(
                self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
            if data and os.write(self._fd, data) != len(data):
                raise OSError(errno.ENOSPC, "short write")
        except OSError as exc:
            self._cut_back(exc)
            return
        self._size = len(data)

    def _cut_back(self, exc: OSError) -> None:
        """After a failed write keep only the whole entries written before it, or, if
        even that truncate fails, remove the file (the next load rebuilds it)."""
        log.warning("index %s: write failed (%s); kept in memory, the file stays sparser",
                    self.path, exc)
        try:
            if self._fd is None:
                raise exc
            os.ftruncate(self._fd, self._size)
        except OSError:
            self.close()
            self.path.unlink(missing_ok=True)

    def flush(self) -> None:
        """fsync the file; a failure is only logged: an index is derived data,
        rebuilt at load when it does not match its log."""
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            except OSError as exc:
                log.warning("index %s: fsync failed (%s)", self.path, exc)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._size = 0

    def delete(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


class OffsetIndex(_IndexFile):
    def __init__(self, path: Path, base_offset: int) -> None:
        super().__init__(path, base_offset, _OFFSET_ENTRY.size)
        self.relative = array("i")
        self.positions = array("i")

    def load(self, log_size: int) -> bool:
        """Read the file; False when it is missing, torn or insane (then rebuild)."""
        data = self._read_raw()
        if data is None:
            return False
        for rel, pos in _OFFSET_ENTRY.iter_unpack(data):
            self.relative.append(rel)
            self.positions.append(pos)
        return offset_entries_sane(self.relative, self.positions, log_size)

    def __len__(self) -> int:
        return len(self.relative)

    def append(self, offset: int, position: int) -> None:
        rel = offset - self.base_offset
        if self.relative and (rel <= self.relative[-1] or position <= self.positions[-1]):
            raise ValueError(f"index entry {offset}@{position} not after the last one")
        self.relative.append(rel)
        self.positions.append(position)
        self._write(_OFFSET_ENTRY.pack(rel, position))

    def lookup(self, offset: int) -> tuple[int, int]:
        """(offset, position) of the last entry at or below `offset`, else (base, 0)."""
        i = bisect_right(self.relative, offset - self.base_offset) - 1
        if i < 0:
            return self.base_offset, 0
        return self.base_offset + self.relative[i], self.positions[i]

    def last(self) -> tuple[int, int] | None:
        if not self.relative:
            return None
        return self.base_offset + self.relative[-1], self.positions[-1]

    def reset(self) -> None:
        self.relative = array("i")
        self.positions = array("i")
        self._rewrite(b"")


class TimeIndex(_IndexFile):
    def __init__(self, path: Path, base_offset: int) -> None:
        super().__init__(path, base_offset, _TIME_ENTRY.size)
        self.timestamps = array("q")
        self.relative = array("i")

    def load(self) -> bool:
        """Read the file; False when it is missing, torn or insane (then rebuild)."""
        data = self._read_raw()
        if data is None:
            return False
        for ts, rel in _TIME_ENTRY.iter_unpack(data):
            self.timestamps.append(ts)
            self.relative.append(rel)
        return time_entries_sane(self.timestamps, self.relative)

    def __len__(self) -> int:
        return len(self.timestamps)

    def maybe_append(self, timestamp: int, offset: int) -> None:
        """Kafka's TimeIndex.maybeAppend: only a timestamp larger than the last entry's
        (-1 for an empty index, so batches without timestamps make none) is written."""
        if timestamp <= (self.timestamps[-1] if self.timestamps else -1):
            return
        self.timestamps.append(timestamp)
        self.relative.append(offset - self.base_offset)
        self._write(_TIME_ENTRY.pack(timestamp, offset - self.base_offset))

    def lookup(self, timestamp: int) -> tuple[int, int]:
        """(timestamp, offset) of the last entry at or below `timestamp`, else (-1, base)."""
        i = bisect_right(self.timestamps, timestamp) - 1
        if i < 0:
            return -1, self.base_offset
        return self.timestamps[i], self.base_offset + self.relative[i]

    def last(self) -> tuple[int, int] | None:
        if not self.timestamps:
            return None
        return self.timestamps[-1], self.base_offset + self.relative[-1]

    def trim_above(self, offset: int) -> bool:
        """Drop entries naming offsets above `offset`; True if any were dropped."""
        keep = bisect_right(self.relative, offset - self.base_offset)
        if keep == len(self.relative):
            return False
        del self.timestamps[keep:]
        del self.relative[keep:]
        pairs = zip(self.timestamps, self.relative, strict=True)
        self._rewrite(b"".join(_TIME_ENTRY.pack(t, r) for t, r in pairs))
        return True

    def reset(self) -> None:
        self.timestamps = array("q")
        self.relative = array("i")
        self._rewrite(b"")


def offset_entries_sane(relative: array[int], positions: array[int], log_size: int) -> bool:
    """Kafka's OffsetIndex.sanityCheck, stricter: offsets and positions strictly
    increase (zero-filled space after a crash fails this) and point into the log."""
    prev_rel, prev_pos = -1, -1
    for rel, pos in zip(relative, positions, strict=True):
        if rel <= prev_rel or pos <= prev_pos:
            return False
        prev_rel, prev_pos = rel, pos
    return prev_pos < log_size


def time_entries_sane(timestamps: array[int], relative: array[int]) -> bool:
    """Timestamps strictly increase, offsets never decrease and are not below the base."""
    prev_ts, prev_rel = None, 0
    for ts, rel in zip(timestamps, relative, strict=True):
        if (prev_ts is not None and ts <= prev_ts) or rel < prev_rel:
            return False
        prev_ts, prev_rel = ts, rel
    return True
