"""Where an offset or a timestamp is inside one ledger: which entry holds it.

Two ways, chosen by what the log knows about the ledger:

- `EntryIndex`, for ledgers this process wrote: per-entry arrays (base offset,
  batch max timestamp, running max timestamp), appended in O(1) as entries are
  added. Look-ups are bisections in memory, exact, and need no bookie read.
  24 bytes an entry; the log keeps them for its newest ledgers only.
- `Probes`, for ledgers written before a takeover: a binary search that reads
  entries (each entry is one batch, whose header gives its offsets and max
  timestamp). It reads at most 1 + log2(entries) of them, the first guess
  interpolated from the ledger's offset range, and remembers every header it
  saw, so later look-ups start from a narrower range. A timestamp search is a
  binary search on batch max timestamps: exact when they do not decrease
  within the ledger (CreateTime set by producers usually does; LogAppendTime
  always does), otherwise it finds *a* batch at or past the timestamp rather
  than the first one.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Awaitable, Callable

from kwire.records.batch import BatchHeader

# Reads one entry's batch header (through the log's entry cache).
FetchHeader = Callable[[int], Awaitable[BatchHeader]]


class EntryIndex:
    __slots__ = ("bases", "running_max", "timestamps")

    def __init__(self) -> None:
        self.bases = array("q")
        self.timestamps = array("q")
        self.running_max = array("q")

    def __len__(self) -> int:
        return len(self.bases)

    def add(self, base_offset: int, max_timestamp: int) -> None:
        self.bases.append(base_offset)
        self.timestamps.append(max_timestamp)
        previous = self.running_max[-1] if self.running_max else max_timestamp
        self.running_max.append(max(previous, max_timestamp))

    def truncate(self, entries: int) -> None:
        """Forget entries from `entries` on (adds that failed)."""
        del self.bases[entries:]
        del self.timestamps[entries:]
        del self.running_max[entries:]

    def entry_for_offset(self, offset: int, entries: int) -> int:
        """The entry among the first `entries` whose batch holds `offset`
        (the caller knows the offset lies inside them)."""
        return max(bisect_right(self.bases, offset, 0, entries) - 1, 0)

    def entry_for_timestamp(self, timestamp: int, start: int, entries: int) -> int | None:
        """The first entry in [start, entries) whose batch max timestamp is >=
        `timestamp`, or None."""
        first = bisect_left(self.running_max, timestamp, 0, entries)
        if first >= entries:
            return None
        if first >= start:
            # Every entry before `first` is below the timestamp; `first` raised the max.
            return first
        # The running max reached it before `start` (DeleteRecords moved the log start
        # inside this ledger): look at the batches from `start` on one by one.
        timestamps = self.timestamps
        for entry in range(start, entries):
            if timestamps[entry] >= timestamp:
                return entry
        return None


class Probes:
    """Batch headers read from a ledger during binary searches, by entry id."""

    __slots__ = ("_bases", "_headers", "_ids")

    def __init__(self) -> None:
        self._ids: list[int] = []  # sorted entry ids
        self._bases: list[int] = []  # their base offsets (sorted as well)
        self._headers: dict[int, BatchHeader] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def known(self, entry_id: int) -> BatchHeader | None:
        return self._headers.get(entry_id)

    def record(self, entry_id: int, header: BatchHeader) -> None:
        if entry_id in self._headers:
            return
        at = bisect_left(self._ids, entry_id)
        self._ids.insert(at, entry_id)
        self._bases.insert(at, header.base_offset)
        self._headers[entry_id] = header

    async def _fetch(self, entry_id: int, fetch: FetchHeader) -> BatchHeader:
        header = self._headers.get(entry_id)
        if header is None:
            header = await fetch(entry_id)
            self.record(entry_id, header)
        return header

    async def entry_for_offset(
        self, offset: int, first_offset: int, end_offset: int, last_entry: int,
        fetch: FetchHeader,
    ) -> int:
        """The entry in [0, last_entry] holding `offset`, which lies in
        [first_offset, end_offset) (the entries' offsets are contiguous)."""
        lo, hi = 0, last_entry
        lo_base, hi_end = first_offset, end_offset
        at = bisect_right(self._bases, offset) - 1
        if at >= 0:
            entry = self._ids[at]
            header = self._headers[entry]
            if header.next_offset > offset:
                return entry
            lo, lo_base = entry + 1, header.next_offset
        if at + 1 < len(self._ids):
            hi, hi_end = self._ids[at + 1] - 1, self._bases[at + 1]
        guess: int | None = None
        if hi > lo and hi_end > lo_base:
            # Batches are often alike: interpolate the first probe, bisect after that.
            guess = lo + (offset - lo_base) * (hi + 1 - lo) // (hi_end - lo_base)
        while lo < hi:
            mid = (lo + hi + 1) // 2 if guess is None else min(max(guess, lo + 1), hi)
            guess = None
            header = await self._fetch(mid, fetch)
            if header.base_offset <= offset:
                if header.next_offset > offset:
                    return mid
                lo = mid + 1
            else:
                hi = mid - 1
        return lo

    async def entry_for_timestamp(
        self, timestamp: int, start: int, last_entry: int, fetch: FetchHeader,
    ) -> tuple[int, BatchHeader] | None:
        """The first entry in [start, last_entry] whose batch max timestamp is >=
        `timestamp`, assuming max timestamps do not decrease (see the module)."""
        lo, hi = start, last_entry + 1
        while lo < hi:
            mid = (lo + hi) // 2
            if (await self._fetch(mid, fetch)).max_timestamp >= timestamp:
                hi = mid
            else:
                lo = mid + 1
        if lo > last_entry:
            return None
        header = await self._fetch(lo, fetch)
        return (lo, header) if header.max_timestamp >= timestamp else None
