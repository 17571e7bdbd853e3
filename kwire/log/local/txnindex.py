"""A segment's transaction index (`.txnindex`): Kafka's aborted-transaction file.

Kafka's format, so Kafka's tools read it (kafka-dump-log prints each entry):
34-byte entries of int16 version (0), int64 producer id, int64 first offset,
int64 last offset (the ABORT marker's offset) and int64 last stable offset, big
endian, one per aborted transaction whose marker is in the segment, in marker
order. No header, no pre-allocation: the file is exactly its entries.

As in Kafka (TransactionIndex) the file is created only when the segment's first
entry arrives: most segments never get one. It is flushed and closed with its
segment, cut back with it when recovery truncates a torn tail (entries whose
last offset is at or past the recovered end are dropped: their markers are
gone), and deleted with it.

kwire writes and maintains these files but never reads them back for serving:
the partition's in-memory index (kwire/broker/txn_index.py), rebuilt by
replaying the log's batches and carried in the producer-state snapshot, is what
read_committed fetches are answered from. The files are the on-disk mirror for
Kafka's tools. Consequently a missing, torn or damaged file is never fatal: a
write that fails is logged and the file cut back to its whole entries, and
recovery drops an unreadable tail. Unlike Kafka, recovery does not rebuild a
lost entry (Kafka replays producer state into the index when it recovers a
segment): an abort whose marker reached the `.log` but whose entry did not reach
the file before a crash stays missing from the file (never from the broker's
answers).
"""

from __future__ import annotations

import errno
import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("kwire.log")

TXN_INDEX_SUFFIX = ".txnindex"
CURRENT_VERSION = 0  # AbortedTxn.CURRENT_VERSION
_ENTRY = struct.Struct(">hqqqq")
ENTRY_SIZE = _ENTRY.size  # 34


@dataclass(frozen=True, slots=True)
class AbortedTxnEntry:
    """One `.txnindex` entry (Kafka's AbortedTxn)."""

    producer_id: int
    first_offset: int
    last_offset: int
    last_stable_offset: int

    def to_bytes(self) -> bytes:
        return _ENTRY.pack(CURRENT_VERSION, self.producer_id, self.first_offset,
                           self.last_offset, self.last_stable_offset)


def parse_entries(data: bytes) -> tuple[list[AbortedTxnEntry], int]:
    """The whole, readable entries at the start of `data` and how many bytes they
    span; parsing stops at a partial entry or an unknown version (Kafka refuses a
    version above its own)."""
    entries: list[AbortedTxnEntry] = []
    position = 0
    while len(data) - position >= ENTRY_SIZE:
        version, pid, first, last, lso = _ENTRY.unpack_from(data, position)
        if version != CURRENT_VERSION:
            break
        entries.append(AbortedTxnEntry(pid, first, last, lso))
        position += ENTRY_SIZE
    return entries, position


class TransactionIndex:
    """The `.txnindex` file of the segment starting at `base_offset`; the file is
    opened (and created) on the first append."""

    def __init__(self, path: Path, base_offset: int) -> None:
        self.path = path
        self.base_offset = base_offset
        self._fd: int | None = None
        self._size = 0  # bytes in the file while it is open: whole entries only
        # The last entry's last offset appended in this process (Kafka's lastOffset):
        # entries must come in marker order.
        self._last_offset: int | None = None
        self._dirty = False  # written since the last fsync

    def _open(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            size = os.fstat(self._fd).st_size
            self._size = size - size % ENTRY_SIZE
            if size != self._size:  # a torn entry from before a crash: never follow it
                os.ftruncate(self._fd, self._size)
        return self._fd

    def append(self, entry: AbortedTxnEntry) -> bool:
        """Write one entry; False (logged) when it is out of order or the write fails,
        in which case the file keeps only the entries before it."""
        if self._last_offset is not None and entry.last_offset <= self._last_offset:
            log.error("%s: aborted transaction %s does not follow last offset %d; not "
                      "written", self.path, entry, self._last_offset)
            return False
        data = entry.to_bytes()
        try:
            fd = self._open()
            if os.write(fd, data) != len(data):
                raise OSError(errno.ENOSPC, "short write")
        except OSError as exc:
            self._cut_back(exc)
            return False
        self._size += len(data)
        self._last_offset = entry.last_offset
        self._dirty = True
        return True

    def _cut_back(self, exc: OSError) -> None:
        log.warning("%s: write failed (%s); the entry is kept in memory only (the "
                    "broker's index), the file misses it", self.path, exc)
        try:
            if self._fd is None:
                return
            os.ftruncate(self._fd, self._size)
        except OSError:
            self.close()
            self.path.unlink(missing_ok=True)

    def entries(self) -> list[AbortedTxnEntry]:
        """The file's readable entries (tests and tools; kwire serves from memory)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        return parse_entries(data)[0]

    def truncate_to(self, offset: int) -> None:
        """Drop the entries whose last offset is `offset` or above (Kafka's
        TransactionIndex.truncateTo), and any unreadable tail; the log was cut
        back to end at `offset`. A file that cannot be read or cut is removed."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            self._drop(f"cannot read it: {exc}")
            return
        entries, readable = parse_entries(data)
        # Entries stay while they belong here (Kafka's sanityCheck: not below the
        # segment's base), follow each other, and precede the new end.
        keep, previous = 0, self.base_offset - 1
        while keep < len(entries) and previous < entries[keep].last_offset < offset:
            previous = entries[keep].last_offset
            keep += 1
        new_size = keep * ENTRY_SIZE
        self._last_offset = entries[keep - 1].last_offset if keep else None
        if new_size == len(data):
            return
        if readable != len(data):
            log.warning("%s: dropping %d unreadable bytes at position %d", self.path,
                        len(data) - readable, readable)
        if keep < len(entries):
            log.warning("%s: dropping %d aborted transactions from the one ending at %d "
                        "(at or past the log end %d, or out of order)", self.path,
                        len(entries) - keep, entries[keep].last_offset, offset)
        try:
            os.truncate(self.path, new_size)
        except OSError as exc:
            self._drop(f"cannot truncate it: {exc}")
            return
        if self._fd is not None:
            self._size = new_size

    def _drop(self, reason: str) -> None:
        log.warning("%s: removing it (%s); kwire serves aborted transactions from "
                    "memory, only Kafka's tools miss it", self.path, reason)
        self.delete()

    def reset(self) -> None:
        """Remove every entry (a new segment reusing a leftover name)."""
        self.delete()

    def flush(self) -> None:
        """fsync what was appended since the last flush; a failure is only logged
        (the file is a mirror, see the module docstring)."""
        if self._fd is not None and self._dirty:
            try:
                os.fsync(self._fd)
            except OSError as exc:
                log.warning("%s: fsync failed (%s)", self.path, exc)
                return
            self._dirty = False

    def close(self, fsync: bool = False) -> None:
        if self._fd is not None:
            if fsync:
                self.flush()
            os.close(self._fd)
            self._fd = None
        self._size = 0
        self._dirty = False

    def delete(self) -> None:
        self.close()
        self._last_offset = None
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("%s: cannot remove it: %s", self.path, exc)
