"""The in-memory side of a partition's ledger chain: one `Ledger` per ledger in
the list, and the `Writer` state of a ledger this process is writing.

The list in ZooKeeper (ledger_list.py) says what is durable; these objects add
what only the writing process knows (entries added and acknowledged so far,
per-entry positions) and what readers have learnt (probed headers, a read
handle). A ledger's readable part is `Ledger.visible()`: for a ledger being
written, the acknowledged entries; otherwise what the list records.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from kwire.log.api import AppendResult
from kwire.log.bookkeeper.api import LedgerHandle, WriteHandle
from kwire.log.bookkeeper.ledger_list import LedgerInfo
from kwire.log.bookkeeper.positions import EntryIndex, Probes


class Append:
    """One append on its way: offsets taken, bytes ready, result to come."""

    __slots__ = ("base", "data", "end", "epoch", "future", "max_timestamp")

    def __init__(self, data: bytes, base: int, end: int, max_timestamp: int, epoch: int,
                 future: asyncio.Future[AppendResult]) -> None:
        self.data = data
        self.base = base
        self.end = end  # the offset after the batch's last record
        self.max_timestamp = max_timestamp
        self.epoch = epoch
        self.future = future


class Writer:
    """A ledger this process created and adds to (until its close is recorded)."""

    __slots__ = ("abandoned", "acked", "acked_bytes", "acked_end", "added", "added_bytes", "epoch",
                 "failed", "handle", "ledger", "max_timestamp", "max_timestamp_offset",
                 "resolved", "settled")

    def __init__(self, handle: WriteHandle, ledger: Ledger, epoch: int) -> None:
        self.handle = handle
        self.ledger = ledger
        self.epoch = epoch
        self.added = 0  # entries handed to the client (ids 0..added-1)
        self.added_bytes = 0
        self.acked = 0  # entries acknowledged by an ack quorum, in order
        self.acked_bytes = 0
        self.acked_end = ledger.info.first_offset  # the offset after the last acked batch
        self.resolved = 0  # adds whose outcome is known
        self.failed = False  # an add failed: nothing after `acked` is ours any more
        self.abandoned = False  # repair closed the ledger: outcomes no longer count
        self.max_timestamp = -1
        self.max_timestamp_offset = -1
        self.settled: asyncio.Future[None] | None = None  # waits for resolved == added

    def closed_info(self, last_entry_id: int, end_offset: int) -> LedgerInfo:
        """The list entry for this ledger closed at `last_entry_id` (<= acked - 1)."""
        known = self.max_timestamp if last_entry_id == self.acked - 1 else None
        return LedgerInfo(
            ledger_id=self.ledger.info.ledger_id,
            first_offset=self.ledger.info.first_offset,
            end_offset=end_offset,
            last_entry_id=last_entry_id,
            size=self.acked_bytes if known is not None else self._bytes_upto(last_entry_id),
            max_timestamp=known,
            max_timestamp_offset=self.max_timestamp_offset if known is not None else None,
            leader_epoch=self.ledger.info.leader_epoch,
            created_ms=self.ledger.info.created_ms,
        )

    def _bytes_upto(self, last_entry_id: int) -> int:
        # Only when a client closed below what it acknowledged (never, by contract).
        return self.acked_bytes * (last_entry_id + 1) // max(self.acked, 1)


@dataclass(eq=False, slots=True)
class Ledger:
    info: LedgerInfo
    index: EntryIndex | None = None  # per-entry positions, when this process wrote it
    probes: Probes | None = None  # headers learnt by binary searches otherwise
    reader: LedgerHandle | None = None  # opened on first read
    live: Writer | None = None  # set while this process writes it

    @property
    def ledger_id(self) -> int:
        return self.info.ledger_id

    def visible(self) -> tuple[int, int]:
        """(last readable entry id, offset after it): the acknowledged part."""
        live = self.live
        if live is not None:
            return live.acked - 1, live.acked_end
        end = self.info.end_offset
        if end is None:  # open, and not ours: nothing is known to be readable
            return -1, self.info.first_offset
        return self.info.last_entry_id, end

    @property
    def max_timestamp_unknown(self) -> bool:
        """Recovered after its writer died: the log must read it to know."""
        info = self.info
        return (self.live is None and info.entries > 0
                and (info.max_timestamp is None or info.max_timestamp_offset is None))

    def known_max_timestamp(self) -> tuple[int, int] | None:
        """(max timestamp, offset of the first batch reaching it); None when the
        ledger has no timestamps (or `max_timestamp_unknown`)."""
        live = self.live
        if live is not None:
            return (live.max_timestamp, live.max_timestamp_offset) \
                if live.max_timestamp >= 0 else None
        info = self.info
        if info.max_timestamp is None or info.max_timestamp_offset is None:
            return None
        return (info.max_timestamp, info.max_timestamp_offset) \
            if info.max_timestamp >= 0 else None

    def average_entry_size(self) -> int:
        live = self.live
        if live is not None and live.added:
            return max(live.added_bytes // live.added, 1)
        if self.info.entries > 0 and self.info.size > 0:
            return max(self.info.size // self.info.entries, 1)
        return 16 * 1024
