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
at the bookies, reading ahead. Retention, DeleteRecords and producer-state
snapshots are in upkeep.py.
"""

from __future__ import annotations

import asyncio
import logging
from bisect import bisect_right
from collections import deque
from collections.abc import Callable
from dataclasses import replace
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
    LedgerHandle,
    Znodes,
)
from kwire.log.bookkeeper.cache import EntryCache
from kwire.log.bookkeeper.chain import Append, Ledger, Writer
from kwire.log.bookkeeper.ledger_list import LedgerInfo, LedgerList, Owner, decode, encode
from kwire.log.bookkeeper.positions import EntryIndex
from kwire.log.bookkeeper.reads import LogReads
from kwire.log.bookkeeper.takeover import Acked, close_tail
from kwire.log.bookkeeper.upkeep import LogUpkeep
from kwire.log.local._batches import assign_offsets, parse_appended_batch
from kwire.zookeeper import BadVersion, NoNode, ZooKeeperError

log = logging.getLogger("kwire.log.bookkeeper")

# How long close() waits for adds in flight and the last ledger's close.
CLOSE_TIMEOUT_S = 30.0
# Ledgers (newest first) whose per-entry arrays are kept; older ones are searched.
INDEXED_LEDGERS = 3


class LedgerLog(LogReads, LogUpkeep):
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

    def _delete_later(self, ledger_ids: list[int]) -> None:
        """Delete ledgers the list no longer names, in the background, best effort
        (a failure leaks a ledger, never data the list still needs)."""
        if not ledger_ids:
            return

        async def delete() -> None:
            for ledger_id in ledger_ids:
                try:
                    await self._ledgers.delete(ledger_id)
                except (LedgerError, ZooKeeperError) as exc:
                    log.warning("%s: could not delete ledger %d (leaked): %s",
                                self._tp, ledger_id, exc)

        task = asyncio.get_running_loop().create_task(delete())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _update_list(self, change: Callable[[LedgerList], LedgerList], *,
                           added: Ledger | None = None) -> LedgerList:
        """Compare-and-set the list to `change(current)`. BadVersion or NoNode: a new
        owner wrote (or the partition was deleted): fenced. Any other ZooKeeper
        error leaves the outcome unknown: broken until `repair` re-reads it."""
        async with self._list_lock:
            if self._fenced is not None:
                raise LogFenced(f"{self._tp}: {self._fenced}")
            if self._broken is not None:
                raise StorageError(f"{self._tp} is unavailable: {self._broken}")
            doc = change(self._doc)
            try:
                self._version = await self._zk.set(self._path, encode(doc), self._version)
            except (BadVersion, NoNode) as exc:
                self._fence(f"its ledger list changed under it ({type(exc).__name__})")
                raise LogFenced(f"{self._tp}: {self._fenced}") from exc
            except ZooKeeperError as exc:
                self._break(f"updating its ledger list failed: {exc}")
                raise StorageError(f"{self._tp}: {self._broken}") from exc
            self._doc = doc
            self._sync_chain(added)
            return doc

    def _sync_chain(self, added: Ledger | None = None) -> None:
        """Rebuild the in-memory chain after the list changed, keeping what is known
        about ledgers that stay."""
        known = {led.ledger_id: led for led in self._chain}
        if added is not None:
            known[added.ledger_id] = added
        chain: list[Ledger] = []
        for info in self._doc.ledgers:
            led = known.get(info.ledger_id)
            if led is None:
                led = Ledger(info)
            else:
                if (info.max_timestamp is None and led.info.max_timestamp is not None
                        and led.info.last_entry_id == info.last_entry_id):
                    # Learnt by a scan whose own list update has not happened yet.
                    info = replace(info, max_timestamp=led.info.max_timestamp,
                                   max_timestamp_offset=led.info.max_timestamp_offset)
                led.info = info
                if info.end_offset is not None:
                    led.live = None
            chain.append(led)
        for led in chain[:-INDEXED_LEDGERS]:
            led.index = None  # older ledgers are searched by reading them
        self._chain = chain
        self._firsts = [led.info.first_offset for led in chain]

    def _ledger_for(self, offset: int) -> Ledger:
        return self._chain[max(bisect_right(self._firsts, offset) - 1, 0)]

    # -- repair ------------------------------------------------------------------

    async def repair(self) -> bool:
        """Bring a broken log back (the store's maintain calls this): re-read the
        list, check this process still owns it, close its own open ledger at what it
        acknowledged, and store that. True once the log takes appends again."""
        if self._broken is None:
            return self._fenced is None
        if self._switch is not None or self._closed:
            return False
        async with self._list_lock:
            try:
                data, version = await self._zk.get(self._path)
            except NoNode:
                self._fence("its ledger list was deleted")
                return False
            except ZooKeeperError as exc:
                log.warning("%s is still unavailable: %s", self._tp, exc)
                return False
            doc = decode(data)
            if doc.owner is None or doc.owner.token != self._owner.token:
                self._fence("another owner took its ledger list over")
                return False
            for led in self._chain:
                if led.live is not None:
                    # Recovery fences our own handle: what is in flight stays failed.
                    led.live.abandoned = True
                    led.live.failed = True
            acked = {led.ledger_id: Acked(
                led.live.acked - 1, led.live.acked_end, led.live.acked_bytes,
                led.live.max_timestamp if led.live.acked else None,
                led.live.max_timestamp_offset if led.live.acked else None,
            ) for led in self._chain if led.live is not None}
            for ledger_id in self._unlisted:
                acked.setdefault(ledger_id, Acked(-1, 0, 0, None, None))
            try:
                tail = await close_tail(doc, self._ledgers, self._ledger_config.password, acked)
                self._version = await self._zk.set(self._path, encode(tail.doc), version)
            except (BadVersion, NoNode):
                self._fence("its ledger list changed under it")
                return False
            except (LedgerError, ZooKeeperError) as exc:
                log.warning("%s is still unavailable: %s", self._tp, exc)
                return False
            listed = {info.ledger_id for info in tail.doc.ledgers}
            self._delete_later(sorted(tail.doomed | (self._unlisted - listed)))
            self._unlisted.clear()
            for led in self._chain:
                led.live = None
                led.reader = None
            self._doc = tail.doc
            self._sync_chain()
            for led in self._chain:  # arrays cover what the list keeps, no more
                if led.index is not None and len(led.index) > led.info.entries:
                    led.index.truncate(led.info.entries)
            self._writer = None
            self._hw = self._next_offset = tail.doc.end_offset
            self._broken = None
            self._failing = False
            log.warning("%s is available again: its ledger list was repaired (log end %d)",
                        self._tp, self._hw)
            return True

    async def _record_info(self, led: Ledger) -> None:
        """Store what a scan learnt about a ledger, when the log may write its list."""
        info = led.info
        if self._closed or self._fenced or self._broken:
            return
        try:
            await self._update_list(lambda doc: doc.replaced(info))
        except (LogFenced, StorageError) as exc:
            log.warning("%s: could not record ledger %d's max timestamp: %s",
                        self._tp, info.ledger_id, exc)

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

    def after_takeover(self, recovered: LedgerHandle | None, doomed: list[int]) -> None:
        """Keep the handle recovery opened (the last ledger) for reads; delete the
        empty recovered ledger the list dropped."""
        if recovered is not None:
            for led in self._chain:
                if led.ledger_id == recovered.ledger_id:
                    led.reader = recovered
        self._delete_later(doomed)

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
