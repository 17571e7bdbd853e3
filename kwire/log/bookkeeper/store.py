"""`BookKeeperLogStore`: the cluster's partition logs, as a `LogStore`.

Each partition is a ledger list znode at `{root}/{topic}/{partition}`
(ledger_list.py) and the ledgers it names (log.py). Opening a partition is a
takeover (takeover.py): whoever opens it last owns it, and the previous owner
is fenced at both the bookies and the list. The store holds no data of its
own: any broker's store can open any partition. It shares one entry cache
among its logs.

`list()` is synchronous in the LogStore seam, so it answers from what this
store knows: partitions it opened, and those `discover()` found under the root.
`maintain` repairs logs left broken by a failure whose outcome was unknown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from kwire.errors import StorageError
from kwire.log.api import LogConfig, LogFenced, LogStore, TopicPartition
from kwire.log.bookkeeper.api import LedgerClient, LedgerConfig, LedgerError, Znodes
from kwire.log.bookkeeper.cache import EntryCache
from kwire.log.bookkeeper.ledger_list import LedgerList, ListFormatError, Owner, decode, encode
from kwire.log.bookkeeper.log import LedgerLog
from kwire.log.bookkeeper.takeover import ClosedTail, close_tail, read_list
from kwire.zookeeper import BadVersion, NoNode, NotEmpty, ZooKeeperError

log = logging.getLogger("kwire.log.bookkeeper")

DEFAULT_CACHE_BYTES = 64 * 1024 * 1024


# A takeover that lost a race for the ledger list is tried again this many times.
TAKEOVER_ATTEMPTS = 5
TAKEOVER_BACKOFF_S = 0.05


class BookKeeperLogStore:
    def __init__(self, zk: Znodes, ledgers: LedgerClient, root: str,
                 ledger_config: LedgerConfig, wall_ms: Callable[[], int], *,
                 cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self._zk = zk
        self._ledgers = ledgers
        self._root = root.rstrip("/")
        self._ledger_config = ledger_config
        self._wall_ms = wall_ms
        self.cache = EntryCache(cache_bytes)
        self._logs: dict[TopicPartition, LedgerLog] = {}
        self._known: set[TopicPartition] = set()
        self._opening: dict[TopicPartition, asyncio.Lock] = {}

    def path(self, tp: TopicPartition) -> str:
        return f"{self._root}/{tp.topic}/{tp.partition}"

    async def open(self, tp: TopicPartition, config: LogConfig) -> LedgerLog:
        """The open log of `tp` (reconfigured), or take the partition over."""
        lock = self._opening.setdefault(tp, asyncio.Lock())
        async with lock:
            existing = self._logs.get(tp)
            if existing is not None:
                existing.reconfigure(config)
                return existing
            for attempt in range(TAKEOVER_ATTEMPTS):
                try:
                    opened = await self._take_over(tp, config)
                    break
                except LogFenced:
                    # The list moved while this broker took it over: in cluster mode,
                    # usually the previous leader recording the ledger it closed as
                    # it lets go. The controller made this broker the leader, so it
                    # takes the partition over again from the list as it is now.
                    if attempt == TAKEOVER_ATTEMPTS - 1:
                        raise
                    await asyncio.sleep(TAKEOVER_BACKOFF_S * (attempt + 1))
            self._logs[tp] = opened
            self._known.add(tp)
            return opened

    async def _take_over(self, tp: TopicPartition, config: LogConfig) -> LedgerLog:
        path = self.path(tp)
        owner = Owner(uuid.uuid4().hex, socket.gethostname(), os.getpid(), self._wall_ms())
        try:
            doc, version, created = await read_list(self._zk, path, LedgerList(owner=owner))
            if created:  # a new partition: no previous owner to fence
                tail = ClosedTail(doc, None, frozenset())
            else:
                tail = await close_tail(doc, self._ledgers, self._ledger_config.password)
                doc = replace(tail.doc, owner=owner)
                # Always written, so the previous owner's next list update fails.
                version = await self._zk.set(path, encode(doc), version)
        except BadVersion as exc:
            raise LogFenced(f"{tp}: another broker took the partition over while this "
                            "one opened it") from exc
        except (ZooKeeperError, LedgerError, ListFormatError) as exc:
            raise StorageError(f"{tp}: cannot open its ledger list: {exc}") from exc
        opened = LedgerLog(
            tp, zk=self._zk, path=path, ledgers=self._ledgers,
            ledger_config=self._ledger_config, config=config, cache=self.cache,
            wall_ms=self._wall_ms, owner=owner, doc=doc, version=version,
            on_close=self._log_closed)
        opened.after_takeover(tail.reader, sorted(tail.doomed))
        return opened

    def _log_closed(self, closed: LedgerLog) -> None:
        if self._logs.get(closed.tp) is closed:
            del self._logs[closed.tp]

    async def delete(self, tp: TopicPartition) -> None:
        """Delete the list (whatever its version), then its ledgers, best effort."""
        existing = self._logs.pop(tp, None)
        if existing is not None:
            existing.abandon()
        self._known.discard(tp)
        path = self.path(tp)
        try:
            data, _version = await self._zk.get(path)
            await self._zk.delete(path)
        except NoNode:
            return
        except ZooKeeperError as exc:
            raise StorageError(f"{tp}: cannot delete its ledger list: {exc}") from exc
        with contextlib.suppress(NoNode, NotEmpty, ZooKeeperError):
            await self._zk.delete(f"{self._root}/{tp.topic}")  # if no partition is left
        try:
            doc = decode(data)
        except ListFormatError as exc:
            log.warning("%s: deleted an unreadable ledger list (its ledgers leak): %s", tp, exc)
            return
        doomed = [info.ledger_id for info in doc.ledgers]
        if doc.producer_snapshot is not None:
            doomed.append(doc.producer_snapshot.ledger_id)
        for ledger_id in doomed:
            try:
                await self._ledgers.delete(ledger_id)
            except (LedgerError, ZooKeeperError) as exc:
                log.warning("%s: could not delete ledger %d (leaked): %s", tp, ledger_id, exc)

    async def discover(self) -> list[TopicPartition]:
        """Learn every partition under the root from ZooKeeper (for `list`)."""
        found: set[TopicPartition] = set()
        try:
            for topic in await self._zk.children(self._root):
                for partition in await self._zk.children(f"{self._root}/{topic}"):
                    if partition.isdigit():
                        found.add(TopicPartition(topic, int(partition)))
        except NoNode:
            pass
        except ZooKeeperError as exc:
            raise StorageError(f"cannot list partitions under {self._root}: {exc}") from exc
        self._known = found | set(self._logs)
        return sorted(self._known)

    def list(self) -> list[TopicPartition]:
        return sorted(self._known)

    async def enforce_retention(self, now_ms: int) -> int:
        deleted = 0
        for opened in list(self._logs.values()):
            try:
                deleted += await opened.enforce_retention(now_ms)
            except (StorageError, LogFenced) as exc:  # one log's trouble stops no other
                log.warning("retention of %s failed: %s", opened.tp, exc)
        return deleted

    async def flush_due(self, now_ms: int) -> None:
        """Nothing to do: an acknowledged entry is already on an ack quorum of bookies."""

    async def maintain(self, now_ms: int) -> None:
        """Repair logs that a failure with an unknown outcome left broken."""
        for opened in list(self._logs.values()):
            if opened.broken is not None:
                try:
                    await opened.repair()
                except Exception:  # housekeeping must go on for the others
                    log.exception("repairing %s failed", opened.tp)

    async def close(self) -> None:
        """Close every log (each records its last ledger closed). The ledger client
        and ZooKeeper session belong to the caller."""
        await asyncio.gather(*(opened.close() for opened in list(self._logs.values())))


if TYPE_CHECKING:

    def _conforms(store: BookKeeperLogStore) -> LogStore:
        """Never called: mypy fails here when the store drifts from the seam."""
        return store
