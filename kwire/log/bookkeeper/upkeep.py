"""Moving a ledger-chain log's start, and its producer-state snapshots.

Part of `LedgerLog` (log.py has the theory of operation).

DeleteRecords (`truncate_prefix`) and retention (retention.ms by each ledger's
max timestamp, retention.bytes by sizes, and the roll at segment.ms) drop whole
ledgers from the head of the list: the list is written first (CAS), then the
ledgers are deleted, so a crash in between leaks a ledger and never loses one
the list still names. The ledger being written is never dropped: when it is
all that expired, it is closed first (the next append creates a new one), as
the local log rolls its active segment.

Producer-state snapshots (the ProducerSnapshots capability of kwire/log/api.py)
go into a new small ledger of their own (entries of at most 1 MiB), closed
before the list points at it; the previous snapshot's ledger is deleted after.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace

from kwire.errors import StorageError
from kwire.log.api import LogConfig, LogFenced, OffsetOutOfRange, TopicPartition
from kwire.log.bookkeeper.api import (
    LedgerClient,
    LedgerConfig,
    LedgerError,
    NoSuchLedger,
)
from kwire.log.bookkeeper.chain import Ledger, Writer
from kwire.log.bookkeeper.ledger_list import LedgerList, SnapshotRef
from kwire.zookeeper import ZooKeeperError

log = logging.getLogger("kwire.log.bookkeeper")

SNAPSHOT_CHUNK_BYTES = 1024 * 1024


class LogUpkeep:
    """Start-moving and snapshot methods of LedgerLog; the attributes are LedgerLog's."""

    _tp: TopicPartition
    _doc: LedgerList
    _chain: list[Ledger]
    _ledgers: LedgerClient
    _ledger_config: LedgerConfig
    _config: LogConfig
    _hw: int
    _writer: Writer | None
    _switch: asyncio.Task[None] | None
    _closed: bool
    _closing: bool
    _fenced: str | None
    _broken: str | None

    def _check_open(self) -> None:
        raise NotImplementedError

    def _check_writable(self) -> None:
        raise NotImplementedError

    def _start_switch(self) -> asyncio.Task[None]:
        raise NotImplementedError

    def _delete_later(self, ledger_ids: list[int]) -> None:
        raise NotImplementedError

    async def _update_list(self, change: Callable[[LedgerList], LedgerList], *,
                           added: Ledger | None = None) -> LedgerList:
        raise NotImplementedError

    def size_in_bytes(self) -> int:
        raise NotImplementedError

    async def _max_timestamp_of(self, led: Ledger) -> tuple[int, int] | None:
        raise NotImplementedError

    # -- DeleteRecords and retention ---------------------------------------------

    async def truncate_prefix(self, new_log_start_offset: int) -> int:
        self._check_writable()
        if new_log_start_offset > self._hw:
            raise OffsetOutOfRange(f"{self._tp}: log start {new_log_start_offset} past the "
                                   f"high watermark {self._hw}")
        if new_log_start_offset <= self._doc.log_start_offset:
            return self._doc.log_start_offset
        doomed: list[int] = []

        def change(doc: LedgerList) -> LedgerList:
            start = max(doc.log_start_offset, new_log_start_offset)
            doomed[:] = [info.ledger_id for info in doc.ledgers
                         if info.end_offset is not None and info.end_offset <= start]
            return replace(doc, log_start_offset=start).without(set(doomed))

        doc = await self._update_list(change)
        self._delete_later(doomed)
        return doc.log_start_offset

    async def enforce_retention(self, now_ms: int) -> int:
        """Roll at segment.ms, then drop the oldest ledgers past retention.ms, then
        past retention.bytes; returns how many ledgers were dropped."""
        if self._closed or self._closing or self._fenced or self._broken:
            return 0
        writer = self._writer
        if (writer is not None and writer.acked
                and now_ms - writer.ledger.info.created_ms > self._config.segment_ms):
            await self._roll({writer.ledger.ledger_id})
        try:
            dropped = await self._drop_head(await self._expired_by_time(now_ms))
            return dropped + await self._drop_head(self._over_size())
        except LedgerError as exc:
            raise StorageError(f"{self._tp}: reading its ledgers failed: {exc}") from exc

    async def _roll(self, ledger_ids: set[int]) -> None:
        """Close the ledger being written if it is one of `ledger_ids` (appends
        queued meanwhile get a new one)."""
        if self._switch is not None:
            await asyncio.shield(self._switch)
        writer = self._writer
        if writer is not None and writer.ledger.ledger_id in ledger_ids:
            await asyncio.shield(self._start_switch())

    async def _expired_by_time(self, now_ms: int) -> list[int]:
        if self._config.retention_ms < 0:
            return []
        chain = list(self._chain)
        expired: list[int] = []
        for i, led in enumerate(chain):
            if led.visible()[0] < 0:
                break
            known = await self._max_timestamp_of(led)
            if known is not None:
                largest = known[0]
            elif led.live is not None:
                largest = now_ms  # no timestamps, still being written
            else:
                # No timestamps: the next ledger's creation is about when this one closed.
                largest = chain[i + 1].info.created_ms if i + 1 < len(chain) \
                    else led.info.created_ms
            if now_ms - largest <= self._config.retention_ms:
                break
            expired.append(led.ledger_id)
        return expired

    def _over_size(self) -> list[int]:
        if self._config.retention_bytes < 0:
            return []
        excess = self.size_in_bytes() - self._config.retention_bytes
        over: list[int] = []
        for led in self._chain:
            size = led.live.acked_bytes if led.live is not None else led.info.size
            if not size or excess - size < 0:
                break
            excess -= size
            over.append(led.ledger_id)
        return over

    async def _drop_head(self, ledger_ids: list[int]) -> int:
        if not ledger_ids:
            return 0
        doomed = set(ledger_ids)
        if any(led.live is not None for led in self._chain if led.ledger_id in doomed):
            await self._roll(doomed)
        dropped: list[int] = []

        def change(doc: LedgerList) -> LedgerList:
            start = doc.log_start_offset
            dropped.clear()
            for info in doc.ledgers:
                if info.ledger_id not in doomed or info.end_offset is None:
                    break  # only from the head, and never a ledger still open
                dropped.append(info.ledger_id)
                start = max(start, info.end_offset)
            return replace(doc, log_start_offset=start).without(set(dropped))

        await self._update_list(change)
        self._delete_later(dropped)
        return len(dropped)

    # -- ProducerSnapshots -------------------------------------------------------

    async def write_producer_snapshot(self, offset: int, data: bytes) -> None:
        self._check_writable()
        try:
            handle = await self._ledgers.create(self._ledger_config, {
                "application": b"kwire", "component": b"producer-snapshot",
                "kwire/partition": str(self._tp).encode()})
        except (LedgerError, ZooKeeperError) as exc:
            raise StorageError(f"{self._tp}: cannot create a snapshot ledger: {exc}") from exc
        try:
            view = memoryview(data)
            adds = [asyncio.ensure_future(handle.add(bytes(view[i:i + SNAPSHOT_CHUNK_BYTES])))
                    for i in range(0, len(data), SNAPSHOT_CHUNK_BYTES)]
            await asyncio.gather(*adds)
            await handle.close()
        except (LedgerError, ZooKeeperError) as exc:
            self._delete_later([handle.ledger_id])
            raise StorageError(f"{self._tp}: writing a producer snapshot failed: {exc}") \
                from exc
        previous: list[SnapshotRef] = []

        def change(doc: LedgerList) -> LedgerList:
            previous[:] = [doc.producer_snapshot] if doc.producer_snapshot else []
            return replace(doc, producer_snapshot=SnapshotRef(handle.ledger_id, offset))

        try:
            await self._update_list(change)
        except LogFenced:
            self._delete_later([handle.ledger_id])  # the list never named it
            raise
        self._delete_later([ref.ledger_id for ref in previous])

    async def read_producer_snapshot(self) -> tuple[int, bytes] | None:
        self._check_open()
        ref = self._doc.producer_snapshot
        if ref is None:
            return None
        try:
            handle = await self._ledgers.open(ref.ledger_id, self._ledger_config.password,
                                              recovery=False)
            last = handle.last_add_confirmed
            entries = await handle.read(0, last) if last >= 0 else []
        except NoSuchLedger:
            log.warning("%s: producer snapshot ledger %d is gone", self._tp, ref.ledger_id)
            return None
        except (LedgerError, ZooKeeperError) as exc:
            raise StorageError(f"{self._tp}: reading the producer snapshot failed: {exc}") \
                from exc
        return ref.offset, b"".join(entries)
