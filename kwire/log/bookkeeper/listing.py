"""The ledger list as one log keeps it: compare-and-set updates, the in-memory
chain that follows them, deleting what the list dropped, and repair.

Part of `LedgerLog` (log.py has the theory of operation). Every change to the
list is a function of the current list applied under one lock and written by
compare-and-set on the znode version: a log never races its own updates, and a
BadVersion can only mean that a new owner wrote (or the partition was deleted),
which fences this log. Any other ZooKeeper error leaves the outcome unknown:
the log is broken until `repair` re-reads the list and settles it.
"""

from __future__ import annotations

import asyncio
import logging
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import replace

from kwire.errors import StorageError
from kwire.log.api import LogFenced, TopicPartition
from kwire.log.bookkeeper.api import (
    LedgerClient,
    LedgerConfig,
    LedgerError,
    LedgerHandle,
    Znodes,
)
from kwire.log.bookkeeper.chain import Ledger, Writer
from kwire.log.bookkeeper.ledger_list import LedgerList, Owner, decode, encode
from kwire.log.bookkeeper.takeover import Acked, close_tail
from kwire.zookeeper import BadVersion, NoNode, ZooKeeperError

log = logging.getLogger("kwire.log.bookkeeper")

# Ledgers (newest first) whose per-entry arrays are kept; older ones are searched.
INDEXED_LEDGERS = 3


class LogList:
    """List-side methods of LedgerLog; the attributes are LedgerLog's."""

    _tp: TopicPartition
    _zk: Znodes
    _path: str
    _ledgers: LedgerClient
    _ledger_config: LedgerConfig
    _owner: Owner
    _doc: LedgerList
    _version: int
    _list_lock: asyncio.Lock
    _chain: list[Ledger]
    _firsts: list[int]
    _hw: int
    _next_offset: int
    _writer: Writer | None
    _switch: asyncio.Task[None] | None
    _failing: bool
    _fenced: str | None
    _broken: str | None
    _closed: bool
    _unlisted: set[int]
    _background: set[asyncio.Task[None]]

    def _fence(self, reason: str) -> None:
        raise NotImplementedError

    def _break(self, reason: str) -> None:
        raise NotImplementedError

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

    def after_takeover(self, recovered: LedgerHandle | None, doomed: list[int]) -> None:
        """Keep the handle recovery opened (the last ledger) for reads; delete the
        empty recovered ledger the list dropped."""
        if recovered is not None:
            for led in self._chain:
                if led.ledger_id == recovered.ledger_id:
                    led.reader = recovered
        self._delete_later(doomed)
