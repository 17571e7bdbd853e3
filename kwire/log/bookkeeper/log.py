"""`LedgerLog`: one topic-partition as a chain of BookKeeper ledgers.

Theory of operation
===================

What the log is. The partition's znode (ledger_list.py) lists its ledgers in
offset order; each entry of a ledger is one record batch, stored exactly as the
broker handed it after the log wrote the base offset and partition leader epoch
into its header. Only the owner writes, and only to the last ledger, which it
created itself: a ledger is never reopened for writing (bookkeeper.md §3).

Ownership and fencing, at both layers (bookkeeper.md §4.2). Opening a log is a
takeover (takeover.py): the last ledger, if still open, is opened WITH
RECOVERY, which fences it at the bookies — the previous owner's next add fails
with LedgerFenced — and closes it where an ack quorum has entries. Then the new
owner ALWAYS writes the list (a compare-and-set on the znode version, with its
owner token in it), even when nothing else changed: the previous owner's next
list update fails with BadVersion. Bookie fencing protects the ledger's data,
the CAS protects the list, so the old owner can neither add to its ledger nor
add a fresh one. Either failure makes this log FENCED for good: appends and
truncations raise LogFenced (the broker gives the partition up); reads still
serve what this process knows. Every list update goes through one lock, so a
log never races its own CAS.

Appending. Offsets are taken synchronously, in call order, before the first
await (the contract): the header is rewritten, `bytes(batch)` is made once,
and — when a ledger is open and no roll is due — handed to `WriteHandle.add`
at once, so entry ids follow call order and many appends are in flight
(pipelining). No ZooKeeper call is on this path. An append completes when its
add does (an ack quorum has it and every earlier entry); acknowledgements
arrive in entry order and move the high watermark, the end of acknowledged
entries. Reads never go past it; the log end offset also counts adds in
flight. Otherwise the append waits in a FIFO queue while a *switch* (one task
at a time) closes the current ledger and/or creates the next one. A ledger is
created lazily, by the first append (idle partitions own no ledger), and it is
in the list (CAS) before any entry is added to it, so every acknowledged entry
is in a listed ledger. The switch rolls the ledger at segment.bytes,
segment.ms or a new leader epoch (so each ledger has one epoch: the list is
also a leader-epoch history), recording the closed ledger and the new one in
one CAS.

Failures leave no trace. An add that fails with anything but LedgerFenced
fails its append and every later one in flight (the client fails them all);
their offsets are not taken. Appends arriving meanwhile fail at once with
StorageError, without taking offsets. The switch closes the ledger at what was
acknowledged, records that in the list, and moves the log end back to the
high watermark; the next append creates a new ledger. Entries that failed but
reached some bookies lie above the recorded `last_entry_id` and are never
read. When that cannot be settled — the close fails, or a CAS's outcome is
unknown (ZooKeeper connection lost) — the log is BROKEN: appends raise
StorageError until `repair` (the store's maintain) re-reads the list, checks
it is still the owner, recovers its own open ledger and records
`min(recovered, acknowledged)` (takeover.py).

Reads find the ledger by bisecting first offsets, the entry by per-entry
arrays (ledgers this process wrote) or a bounded binary search reading batch
headers (positions.py), and the bytes in the store's entry cache (cache.py) or
at the bookies, reading ahead (reads.py). Retention, DeleteRecords and
producer-state snapshots are in upkeep.py; list updates and repair in
listing.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from kwire.errors import StorageError
from kwire.log.api import (
    AppendResult,
    LogConfig,
    LogFenced,
    LogOffsets,
    PartitionLog,
    ProducerSnapshots,
    ReadAhead,
    TopicPartition,
)
from kwire.log.bookkeeper.api import (
    LedgerClient,
    LedgerConfig,
    LedgerError,
    LedgerFenced,
    Znodes,
)
from kwire.log.bookkeeper.cache import EntryCache
from kwire.log.bookkeeper.chain import Append, Ledger, Writer
from kwire.log.bookkeeper.ledger_list import LedgerInfo, LedgerList, Owner
from kwire.log.bookkeeper.listing import LogList
from kwire.log.bookkeeper.positions import EntryIndex
from kwire.log.bookkeeper.reads import LogReads
from kwire.log.bookkeeper.upkeep import LogUpkeep
from kwire.log.local._batches import assign_offsets, parse_appended_batch
from kwire.zookeeper import ZooKeeperError

log = logging.getLogger("kwire.log.bookkeeper")

# How long close() waits for adds in flight and the last ledger's close.
CLOSE_TIMEOUT_S = 30.0


class LedgerLog(LogList, LogReads, LogUpkeep):
    """A partition log on ledgers; made by `BookKeeperLogStore.open` (a takeover)."""

    def __init__(
        self, tp: TopicPartition, *, zk: Znodes, path: str, ledgers: LedgerClient,
        ledger_config: LedgerConfig, config: LogConfig, cache: EntryCache,
        wall_ms: Callable[[], int], owner: Owner, doc: LedgerList, version: int,
        on_close: Callable[[LedgerLog], None] = lambda _log: None,
    ) -> None:
        self._tp = tp
        self._zk = zk
        self._path = path
        self._ledgers = ledgers
        self._ledger_config = ledger_config
        self._config = config
        self._cache = cache
        self._wall_ms = wall_ms
        self._owner = owner
        self._on_close = on_close
        self._doc = doc
        self._version = version
        self._list_lock = asyncio.Lock()
        self._chain: list[Ledger] = []
        self._firsts: list[int] = []
        self._sync_chain()
        self._hw = self._next_offset = doc.end_offset
        self._writer: Writer | None = None
        self._queue: deque[Append] = deque()
        self._switch: asyncio.Task[None] | None = None
        self._failing = False  # an add failed; the switch is settling it
        self._fenced: str | None = None
        self._broken: str | None = None
        self._closing = False
        self._closed = False
        self._unlisted: set[int] = set()  # created; whether the list names them is unknown
        self._background: set[asyncio.Task[None]] = set()
        self._prefetching: dict[int, asyncio.Task[None]] = {}

    # -- PartitionLog ----------------------------------------------------------

    @property
    def tp(self) -> TopicPartition:
        return self._tp

    @property
    def fenced(self) -> str | None:
        return self._fenced

    @property
    def broken(self) -> str | None:
        return self._broken

    @property
    def ledger_list(self) -> LedgerList:
        """The list as last written or read by this log (tests, tools)."""
        return self._doc

    async def append(self, batch: bytearray, leader_epoch: int) -> AppendResult:
        self._check_appendable()
        header = parse_appended_batch(batch, self._tp)
        base = self._next_offset
        end = base + header.last_offset_delta + 1
        assign_offsets(batch, 0, base, leader_epoch)
        data = bytes(batch)  # the one copy: handed to the ledger client and the cache
        self._next_offset = end
        future: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
        op = Append(data, base, end, header.max_timestamp, leader_epoch, future)
        writer = self._writer
        if writer is not None and self._switch is None and not self._roll_due(writer, op):
            self._add(writer, op)
        else:
            self._queue.append(op)
            self._start_switch()
        return await future

    def offsets(self) -> LogOffsets:
        hw = self._hw
        return LogOffsets(self._doc.log_start_offset, hw, hw, self._next_offset)

    def size_in_bytes(self) -> int:
        return sum(led.live.acked_bytes if led.live is not None else led.info.size
                   for led in self._chain)

    def reconfigure(self, config: LogConfig) -> None:
        """Applies from the next append, roll or retention pass."""
        self._config = config

    async def close(self) -> None:
        """Wait (bounded) for appends in flight, close the ledger being written and
        record it, so the next owner's open needs no recovery. Never raises."""
        if self._closed or self._closing:
            return
        self._closing = True
        try:
            if self._broken is not None:
                await asyncio.wait_for(self.repair(), CLOSE_TIMEOUT_S)
            await asyncio.wait_for(self._close_writer(), CLOSE_TIMEOUT_S)
        except Exception as exc:  # the next owner recovers the ledger instead
            log.warning("%s: closing its ledger failed: %s", self._tp, exc)
        self._closed = True
        self._fail_queue(RuntimeError(f"log {self._tp} is closed"))
        for task in [*self._background, *self._prefetching.values()]:
            task.cancel()
        self._on_close(self)

    async def _close_writer(self) -> None:
        for _ in range(3):  # appends queued before close may need one more ledger
            if self._fenced or self._broken:
                return
            if self._switch is not None:
                await asyncio.shield(self._switch)
            elif self._writer is not None:
                await asyncio.shield(self._start_switch())
            else:
                return

    # -- the write path ----------------------------------------------------------

    def _check_appendable(self) -> None:
        if self._closed or self._closing:
            raise RuntimeError(f"log {self._tp} is closed")
        if self._fenced is not None:
            raise LogFenced(f"{self._tp}: {self._fenced}")
        if self._broken is not None:
            raise StorageError(f"{self._tp} is unavailable: {self._broken}")
        if self._failing:
            raise StorageError(f"{self._tp}: a write to its ledger failed; "
                               "switching to a new ledger")

    def _roll_due(self, writer: Writer, op: Append) -> bool:
        """Kafka's maybeRoll: an empty ledger always takes the batch."""
        if not writer.added:
            return False
        config = self._config
        return (writer.added_bytes + len(op.data) > config.segment_bytes
                or op.epoch != writer.epoch
                or self._wall_ms() - writer.ledger.info.created_ms > config.segment_ms)

    def _add(self, writer: Writer, op: Append) -> None:
        entry_id = writer.added
        future: asyncio.Future[int]
        try:
            future = asyncio.ensure_future(writer.handle.add(op.data))
        except LedgerError as exc:
            future = asyncio.get_running_loop().create_future()
            future.set_exception(exc)
        writer.added += 1
        writer.added_bytes += len(op.data)
        index = writer.ledger.index
        if index is not None:
            index.add(op.base, op.max_timestamp)
        self._cache.put(writer.ledger.ledger_id, entry_id, op.data)
        future.add_done_callback(partial(self._added, writer, op))

    def _added(self, writer: Writer, op: Append, future: asyncio.Future[int]) -> None:
        """An add's outcome; they come in entry order."""
        writer.resolved += 1
        error = (LedgerError("add cancelled") if future.cancelled()
                 else future.exception())
        if writer.abandoned:  # repair recorded the ledger without what was in flight
            if not op.future.done():
                op.future.set_exception(StorageError(
                    f"{self._tp}: write to ledger {writer.ledger.ledger_id} abandoned"))
        elif error is None and not writer.failed:
            writer.acked += 1
            writer.acked_bytes += len(op.data)
            writer.acked_end = op.end
            if op.max_timestamp > writer.max_timestamp:
                writer.max_timestamp = op.max_timestamp
                writer.max_timestamp_offset = op.end - 1
            self._hw = max(self._hw, op.end)
            if not op.future.done():
                op.future.set_result(AppendResult(op.base, op.end - 1,
                                                  self._doc.log_start_offset))
        else:
            writer.failed = True
            if isinstance(error, LedgerFenced):
                self._fence(f"its ledger {writer.ledger.ledger_id} was fenced by a new owner")
                failure: Exception = LogFenced(f"{self._tp}: {self._fenced}")
            else:
                failure = StorageError(f"{self._tp}: write to ledger "
                                       f"{writer.ledger.ledger_id} failed: {error}")
                if not self._fenced and not self._broken and not self._failing:
                    log.warning("%s", failure)
                    self._failing = True
                    if writer is self._writer and self._switch is None:
                        self._start_switch()
            if not op.future.done():
                op.future.set_exception(failure)
        settled = writer.settled
        if writer.resolved == writer.added and settled is not None and not settled.done():
            settled.set_result(None)

    def _start_switch(self) -> asyncio.Task[None]:
        if self._switch is None:
            self._switch = asyncio.get_running_loop().create_task(self._run_switch())
        return self._switch

    async def _run_switch(self) -> None:
        """Close the ledger being written (if any), then create a ledger for queued
        appends, as often as they need (a roll is due again within the queue); one
        switch at a time, and nothing else changes the writer."""
        try:
            first = True
            while first or self._queue:
                first = False
                closing: LedgerInfo | None = None
                writer = self._writer
                if writer is not None:
                    self._writer = None  # appends queue from here on
                    closing = await self._retire(writer)
                start = self._list_end(closing)
                if self._queue and self._queue[0].base != start:
                    # Their offsets followed adds that failed: they fail too, untaken.
                    self._fail_queue(StorageError(f"{self._tp}: an earlier write failed"))
                if not self._queue:
                    self._next_offset = start
                self._failing = False
                if closing is not None and not self._queue:
                    await self._record_closed(closing)
                    closing = None
                if self._queue:
                    await self._open_next(closing)
        except LogFenced:
            pass  # _fence failed the queue
        except Exception as exc:
            if not isinstance(exc, StorageError | LedgerError | ZooKeeperError):
                log.exception("%s: switching ledgers failed", self._tp)
            self._break(f"switching ledgers failed: {exc}")
        finally:
            self._switch = None

    async def _record_closed(self, closing: LedgerInfo) -> None:
        await self._update_list(partial(_with_closed, closing))
        if closing.entries == 0:  # all its adds failed: it leaves the list
            self._delete_later([closing.ledger_id])

    def _list_end(self, closing: LedgerInfo | None) -> int:
        """Where the next ledger starts: after `closing`, or the list's end."""
        if closing is not None:
            assert closing.end_offset is not None
            return closing.end_offset
        last = self._chain[-1] if self._chain else None
        if last is not None and last.live is not None:
            return last.live.acked_end  # a writer whose close is not recorded yet
        return self._doc.end_offset

    async def _retire(self, writer: Writer) -> LedgerInfo:
        """Close `writer`'s ledger at what was acknowledged; its list entry (not yet
        stored). LedgerFenced fences the log; other failures leave it broken."""
        try:
            lac = await writer.handle.close()
        except LedgerFenced:
            self._fence(f"its ledger {writer.ledger.ledger_id} was fenced by a new owner")
            raise LogFenced(self._fenced) from None
        if writer.resolved < writer.added:  # their callbacks are still to run
            writer.settled = asyncio.get_running_loop().create_future()
            await asyncio.wait_for(asyncio.shield(writer.settled), CLOSE_TIMEOUT_S)
        last = writer.acked - 1
        end = writer.acked_end
        if lac < last:
            index = writer.ledger.index
            log.error("%s: ledger %d closed at entry %d below acknowledged entry %d",
                      self._tp, writer.ledger.ledger_id, lac, last)
            last = lac
            end = index.bases[lac + 1] if index is not None else writer.ledger.info.first_offset
        if writer.ledger.index is not None:
            writer.ledger.index.truncate(last + 1)
        return writer.closed_info(last, end)

    async def _open_next(self, closing: LedgerInfo | None) -> None:
        """Create the next ledger, record it (with `closing`) in one CAS, then add
        the queued appends to it in order (those queued during the awaits too), up
        to where a roll is due again (the switch goes round once more for the rest).
        Nothing runs between the last flush and the end of the switch."""
        first = self._queue[0]
        try:
            handle = await self._ledgers.create(self._ledger_config, {
                "application": b"kwire", "component": b"partition-log",
                "kwire/partition": str(self._tp).encode()})
        except (LedgerError, ZooKeeperError) as exc:
            error = StorageError(f"{self._tp}: cannot create a ledger: {exc}")
            self._fail_queue(error)
            if closing is not None:
                await self._record_closed(closing)
                self._fail_queue(error)  # appends queued during that update
            return
        info = LedgerInfo(ledger_id=handle.ledger_id, first_offset=first.base,
                          leader_epoch=first.epoch, created_ms=self._wall_ms())
        ledger = Ledger(info, index=EntryIndex())
        self._unlisted.add(info.ledger_id)

        def change(doc: LedgerList) -> LedgerList:
            if closing is not None:
                doc = _with_closed(closing, doc)
            return doc.with_ledger(info)

        try:
            await self._update_list(change, added=ledger)
        except LogFenced:
            self._unlisted.discard(info.ledger_id)
            self._delete_later([info.ledger_id])  # BadVersion: the list never named it
            raise
        self._unlisted.discard(info.ledger_id)
        if closing is not None and closing.entries == 0:
            self._delete_later([closing.ledger_id])
        writer = Writer(handle, ledger, first.epoch)
        ledger.live = writer
        self._writer = writer
        queue = self._queue
        while queue and not self._roll_due(writer, queue[0]):
            self._add(writer, queue.popleft())

    # -- state changes -----------------------------------------------------------

    def _fence(self, reason: str) -> None:
        if self._fenced is None:
            self._fenced = reason
            log.warning("%s is fenced: %s", self._tp, reason)
        self._fail_queue(LogFenced(f"{self._tp}: {reason}"))

    def _break(self, reason: str) -> None:
        if self._fenced is not None:
            return
        if self._broken is None:
            log.error("%s is unavailable: %s; repaired by the store's maintenance",
                      self._tp, reason)
        self._broken = reason
        self._fail_queue(StorageError(f"{self._tp} is unavailable: {reason}"))

    def _fail_queue(self, error: Exception) -> None:
        queue, self._queue = self._queue, deque()
        for op in queue:
            if not op.future.done():
                op.future.set_exception(error)
        if queue:
            self._next_offset = queue[0].base

    def _check_writable(self) -> None:
        """For truncation and snapshots: the log must be ours and healthy."""
        if self._closed:
            raise RuntimeError(f"log {self._tp} is closed")
        if self._fenced is not None:
            raise LogFenced(f"{self._tp}: {self._fenced}")
        if self._broken is not None:
            raise StorageError(f"{self._tp} is unavailable: {self._broken}")

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"log {self._tp} is closed")

    def abandon(self) -> None:
        """Stop without recording anything (the partition is being deleted)."""
        self._closed = True
        self._fence("the partition was deleted")
        self._on_close(self)


def _with_closed(closing: LedgerInfo, doc: LedgerList) -> LedgerList:
    """`doc` with a ledger this log closed; one left empty leaves the list."""
    if closing.entries == 0:
        return doc.without({closing.ledger_id})
    return doc.with_ledger(closing)


if TYPE_CHECKING:

    def _conforms(log: LedgerLog) -> tuple[PartitionLog, ProducerSnapshots, ReadAhead]:
        """Never called: mypy fails here when LedgerLog drifts from the seams."""
        return log, log, log
