"""Reading a ledger-chain log: fetch, ListOffsets by time, the max timestamp.

Part of `LedgerLog` (log.py has the theory of operation). A read serves whole
batches from the one ledger holding the offset, up to max_bytes (a consumer's
next fetch continues in the next ledger), and never past the high watermark:
the last entry acknowledged. Entries come from the store's cache when they are
there (tail reads), else from the bookies a range at a time, sized from the
ledger's average entry size and max_bytes, with as much again read ahead into
the cache for the consumer's next fetch.

Fetch tells the log what it will read first (`prefetch`, the ReadAhead seam), so
that the bookie reads of many partitions overlap; the read that follows waits
for its ledger's prefetch and finds the entries in the cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import replace
from functools import partial

from kwire.errors import StorageError
from kwire.log.api import (
    CorruptRecords,
    LogConfig,
    OffsetOutOfRange,
    ReadResult,
    TimestampOffset,
    TopicPartition,
)
from kwire.log.bookkeeper.api import (
    LedgerClient,
    LedgerConfig,
    LedgerError,
    LedgerHandle,
)
from kwire.log.bookkeeper.cache import EntryCache
from kwire.log.bookkeeper.chain import Ledger
from kwire.log.bookkeeper.ledger_list import LedgerList
from kwire.log.bookkeeper.positions import EntryIndex, Probes
from kwire.records.batch import MAGIC_V2, BatchError, BatchHeader, parse_header

log = logging.getLogger("kwire.log.bookkeeper")

READ_AHEAD_MAX_ENTRIES = 256
READ_AHEAD_MAX_BYTES = 8 * 1024 * 1024
# Ledgers this small are searched by timestamp exactly, in one range read.
SMALL_LEDGER_ENTRIES = 32
# Entries per read when a whole ledger is scanned (its max timestamp unknown).
SCAN_ENTRIES = 64


class LogReads:
    """Read-side methods of LedgerLog; the attributes are LedgerLog's."""

    _tp: TopicPartition
    _doc: LedgerList
    _chain: list[Ledger]
    _cache: EntryCache
    _closed: bool
    _ledgers: LedgerClient
    _ledger_config: LedgerConfig
    _config: LogConfig
    _hw: int
    _next_offset: int
    _prefetching: dict[int, asyncio.Task[None]]  # by ledger id

    def _check_open(self) -> None:
        raise NotImplementedError

    def _ledger_for(self, offset: int) -> Ledger:
        raise NotImplementedError

    async def _record_info(self, led: Ledger) -> None:
        raise NotImplementedError

    # -- PartitionLog reads ------------------------------------------------------

    async def read(self, offset: int, max_bytes: int, min_one_batch: bool) -> ReadResult:
        self._check_open()
        start = self._doc.log_start_offset
        if offset < start or offset > self._next_offset:
            raise OffsetOutOfRange(
                f"{self._tp}: offset {offset} outside [{start}, {self._next_offset}]")
        records = b""
        if offset < self._hw:
            led = self._ledger_for(offset)
            prefetch = self._prefetching.get(led.ledger_id)
            if prefetch is not None:
                await asyncio.wait({prefetch})  # its entries are in the cache then
            try:
                chunks = await self._read_ledger(led, offset, max(max_bytes, 0), min_one_batch)
                records = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            except LedgerError as exc:
                if offset < self._doc.log_start_offset:  # retention took it meanwhile
                    raise OffsetOutOfRange(f"{self._tp}: offset {offset} was deleted") from exc
                raise StorageError(f"{self._tp}: reading ledger {led.ledger_id} "
                                   f"failed: {exc}") from exc
        hw = self._hw
        return ReadResult(records, hw, hw, self._doc.log_start_offset)

    def prefetch(self, offset: int, max_bytes: int) -> None:
        """ReadAhead: start reading what `read(offset, max_bytes)` will need from the
        bookies, unless it is in the cache already (tail reads); never raises."""
        if self._closed or not self._doc.log_start_offset <= offset < self._hw:
            return
        led = self._ledger_for(offset)
        last, end = led.visible()
        if led.ledger_id in self._prefetching or not led.info.first_offset <= offset < end:
            return
        index = led.index
        if index is not None and len(index) > last:
            if (led.ledger_id, index.entry_for_offset(offset, last + 1)) in self._cache:
                return
        elif offset == led.info.first_offset and (led.ledger_id, 0) in self._cache:
            return
        task = asyncio.get_running_loop().create_task(
            self._prefetch(led, offset, max(max_bytes, 0)))
        self._prefetching[led.ledger_id] = task
        task.add_done_callback(lambda _: self._prefetching.pop(led.ledger_id, None))

    async def _prefetch(self, led: Ledger, offset: int, max_bytes: int) -> None:
        with contextlib.suppress(Exception):  # the read that follows meets the error
            await self._read_ledger(led, offset, max_bytes, True)

    async def offset_for_timestamp(self, timestamp: int) -> TimestampOffset | None:
        self._check_open()
        try:
            return await self._offset_for_timestamp(timestamp)
        except LedgerError as exc:
            raise StorageError(f"{self._tp}: reading its ledgers failed: {exc}") from exc

    async def max_timestamp(self) -> TimestampOffset | None:
        """KIP-734: the first batch to reach the largest timestamp."""
        self._check_open()
        best: TimestampOffset | None = None
        try:
            for led in list(self._chain):
                known = await self._max_timestamp_of(led)
                if known is not None and known[0] > (best.timestamp if best else -1):
                    best = TimestampOffset(*known)
        except LedgerError as exc:
            raise StorageError(f"{self._tp}: reading its ledgers failed: {exc}") from exc
        return best

    # -- internals ---------------------------------------------------------------

    async def _read_ledger(self, led: Ledger, offset: int, max_bytes: int,
                           min_one_batch: bool) -> list[bytes]:
        """The entries to return, from the one holding `offset` (whole batches)."""
        last, end = led.visible()
        if offset >= end:
            return []
        first = await self._entry_for_offset(led, offset, last, end)
        chunks: list[bytes] = []
        total = 0
        fetched: deque[bytes] = deque()
        entry = first
        while entry <= last:
            data = fetched.popleft() if fetched else self._cache.get(led.ledger_id, entry)
            if data is None:
                fetched.extend(await self._fetch(led, entry, last, max_bytes - total))
                data = fetched.popleft()
            if entry == first:
                _check_holds(self._tp, led, entry, data, offset, end)
            size = len(data)
            if total + size > max_bytes and not (min_one_batch and not chunks):
                break
            chunks.append(data)
            total += size
            entry += 1
            if total >= max_bytes:
                break
        return chunks

    async def _fetch(self, led: Ledger, first: int, last: int, want_bytes: int) -> list[bytes]:
        """Entries from `first` on from the bookies: enough for `want_bytes`, and as
        many again read ahead; all go to the cache."""
        average = led.average_entry_size()
        count = (max(want_bytes, 0) // average + 1) * 2
        count = min(count, READ_AHEAD_MAX_ENTRIES, max(READ_AHEAD_MAX_BYTES // average, 1),
                    last - first + 1)
        handle = await self._reader(led)
        entries = await handle.read(first, first + count - 1)
        for i, data in enumerate(entries):
            self._cache.put(led.ledger_id, first + i, data)
        return entries

    async def _reader(self, led: Ledger) -> LedgerHandle:
        if led.live is not None:
            return led.live.handle
        if led.reader is None:
            led.reader = await self._ledgers.open(
                led.ledger_id, self._ledger_config.password, recovery=False)
        return led.reader

    async def _header_at(self, led: Ledger, entry_id: int) -> BatchHeader:
        """The batch header of one entry (a binary-search probe)."""
        data = self._cache.get(led.ledger_id, entry_id)
        if data is None:
            data = (await (await self._reader(led)).read(entry_id, entry_id))[0]
            self._cache.put(led.ledger_id, entry_id, data)
        return _header(self._tp, led, entry_id, data)

    async def _entry_for_offset(self, led: Ledger, offset: int, last: int, end: int) -> int:
        if offset <= led.info.first_offset:
            return 0
        index = led.index
        if index is not None and len(index) > last:
            return index.entry_for_offset(offset, last + 1)
        if led.probes is None:
            led.probes = Probes()
        return await led.probes.entry_for_offset(
            offset, led.info.first_offset, end, last, partial(self._header_at, led))

    async def _offset_for_timestamp(self, timestamp: int) -> TimestampOffset | None:
        start = self._doc.log_start_offset
        for led in list(self._chain):
            last, end = led.visible()
            if last < 0 or end <= start:
                continue
            known = await self._max_timestamp_of(led)
            if known is None or known[0] < timestamp:
                continue
            first = 0
            if led.info.first_offset < start:
                first = await self._entry_for_offset(led, start, last, end)
            found = await self._entry_for_timestamp(led, timestamp, first, last)
            if found is not None:
                return TimestampOffset(found[0], max(found[1], start))
        return None

    async def _entry_for_timestamp(self, led: Ledger, timestamp: int, first: int,
                                   last: int) -> tuple[int, int] | None:
        """(batch max timestamp, base offset) of the first entry in [first, last]
        reaching `timestamp` (see positions.py on when that is exact)."""
        index = led.index
        if index is not None and len(index) > last:
            entry = index.entry_for_timestamp(timestamp, first, last + 1)
            return None if entry is None else (index.timestamps[entry], index.bases[entry])
        if last - first < SMALL_LEDGER_ENTRIES:
            handle = await self._reader(led)
            for i, data in enumerate(await handle.read(first, last)):
                header = _header(self._tp, led, first + i, data)
                if header.max_timestamp >= timestamp:
                    return header.max_timestamp, header.base_offset
            return None
        if led.probes is None:
            led.probes = Probes()
        found = await led.probes.entry_for_timestamp(
            timestamp, first, last, partial(self._header_at, led))
        return None if found is None else (found[1].max_timestamp, found[1].base_offset)

    async def _max_timestamp_of(self, led: Ledger) -> tuple[int, int] | None:
        if led.max_timestamp_unknown:
            await self._scan(led)
        return led.known_max_timestamp()

    async def _scan(self, led: Ledger) -> None:
        """Read a whole ledger whose max timestamp is unknown (recovered after its
        writer died) once: learn its max timestamp, which the list then keeps, and
        its per-entry positions."""
        last, _ = led.visible()
        handle = await self._reader(led)
        index = EntryIndex()
        best, best_offset = -1, -1
        for first in range(0, last + 1, SCAN_ENTRIES):
            entries = await handle.read(first, min(first + SCAN_ENTRIES - 1, last))
            for i, data in enumerate(entries):
                header = _header(self._tp, led, first + i, data)
                index.add(header.base_offset, header.max_timestamp)
                if header.max_timestamp > best:
                    best, best_offset = header.max_timestamp, header.last_offset
        log.info("%s: ledger %d scanned (%d entries): max timestamp %d",
                 self._tp, led.ledger_id, last + 1, best)
        led.index = index
        led.info = replace(led.info, max_timestamp=best, max_timestamp_offset=best_offset)
        await self._record_info(led)


def _header(tp: TopicPartition, led: Ledger, entry_id: int, data: bytes) -> BatchHeader:
    """The header of a stored entry, which must be exactly one v2 batch."""
    try:
        header = parse_header(data)
    except BatchError:
        header = None
    if header is None or header.magic != MAGIC_V2 or header.size != len(data):
        raise CorruptRecords(f"{tp}: ledger {led.ledger_id} entry {entry_id} is not one "
                             "record batch", led.visible()[1])
    return header


def _check_holds(tp: TopicPartition, led: Ledger, entry_id: int, data: bytes, offset: int,
                 end: int) -> None:
    header = _header(tp, led, entry_id, data)
    if not header.base_offset <= offset <= header.last_offset:
        raise CorruptRecords(
            f"{tp}: ledger {led.ledger_id} entry {entry_id} holds offsets "
            f"{header.base_offset}..{header.last_offset}, not {offset}", end)
