"""Keeps a broker's metadata snapshot following the cluster through ZooKeeper
watches: the live brokers (/brokers/ids), the controller (/controller) and the
change notifications every broker writes (/kwire/metadata_changes).

Theory of operation
-------------------
* A watch fires once, so every read that matters re-arms its watch, and a fire
  only marks what to read again: one worker task does the reads, one kind at a
  time, so a burst of changes costs a few reads, never a read per change.
* Notifications are processed in sequence order from the last one seen. At
  start the sequence is taken *before* the full load, so a change made while the
  load runs is read again rather than missed. Sequence numbers have gaps (a
  ZooKeeper sequence counts deletes too), so a missed notification cannot be
  told from the numbers; the controller purges only the oldest, keeping
  KEEP_CHANGES, far more than a broker with a live session falls behind.
* A session loss (LOST) means ephemeral znodes and watches are gone and the
  controller may already have moved this broker's partitions: the snapshot drops
  this broker's leaderships at once (`ZooKeeperMetadataStore.lose_session`), and
  once a new session is CONNECTED everything is loaded again and re-watched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from kwire.cluster.zookeeper.registration import live_brokers
from kwire.cluster.zookeeper.store import ZooKeeperMetadataStore
from kwire.cluster.zookeeper.znodes import (
    ControllerZNode,
    InvalidZNode,
    MetadataChange,
    MetadataChangesZNode,
    MetadataChangeZNode,
)
from kwire.errors import StorageError
from kwire.zookeeper import NoNode, Session, ZooKeeperError

log = logging.getLogger("kwire.cluster.follow")

BROKERS, CONTROLLER, CHANGES, EVERYTHING = "brokers", "controller", "changes", "everything"
RETRY_SECONDS = 1.0


class ClusterFollower:
    def __init__(self, zk: Session, chroot: str, store: ZooKeeperMetadataStore) -> None:
        self._zk = zk
        self._chroot = chroot.rstrip("/")
        self._store = store
        self._pending: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_sequence = -1
        self._session_lost = False

    async def start(self) -> None:
        """Load everything and start following (raises what the first load raises)."""
        await self._load_everything()
        self._zk.add_state_listener(self._on_state)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        self._zk.remove_state_listener(self._on_state)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # ---- triggers ------------------------------------------------------------------------

    def _mark(self, kind: str) -> None:
        self._pending.add(kind)
        self._wake.set()

    def _on_state(self, state: str) -> None:
        if state == "LOST":
            self._session_lost = True
            log.error("the ZooKeeper session expired: leading nothing until a new session "
                      "has read the cluster again")
            self._store.lose_session()
        elif state == "CONNECTED" and self._session_lost:
            self._session_lost = False
            self._mark(EVERYTHING)

    # ---- the worker ------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            pending, self._pending = self._pending, set()
            try:
                if EVERYTHING in pending:
                    await self._load_everything()
                    pending.clear()
                    log.info("read the cluster again after the session loss")
                if BROKERS in pending:
                    await self._read_brokers()
                if CONTROLLER in pending:
                    await self._read_controller()
                if CHANGES in pending:
                    await self._read_changes()
            except (ZooKeeperError, StorageError, InvalidZNode) as exc:
                log.warning("following the cluster metadata: %s; retrying", exc)
                self._pending |= pending
                await asyncio.sleep(RETRY_SECONDS)
                self._wake.set()
            except Exception:
                log.exception("following the cluster metadata failed; retrying")
                self._pending |= pending
                await asyncio.sleep(RETRY_SECONDS)
                self._wake.set()

    async def _load_everything(self) -> None:
        try:
            children = await self._zk.children(self._path(MetadataChangesZNode.path()))
        except NoNode:
            children = []  # a new cluster: the load below creates the path
        sequences = [MetadataChangeZNode.sequence_of(c) for c in children]
        self._last_sequence = max(sequences, default=-1)
        await self._store.load()
        await self._read_brokers()
        await self._read_controller()
        # Re-arm the change watch; changes since the sequence above are read again.
        await self._read_changes()

    async def _read_brokers(self) -> None:
        brokers = await live_brokers(self._zk, self._chroot, watch=lambda: self._mark(BROKERS))
        self._store.set_brokers(brokers)

    async def _read_controller(self) -> None:
        path = self._path(ControllerZNode.path())
        watch = lambda: self._mark(CONTROLLER)  # noqa: E731
        if await self._zk.exists(path, watch=watch) is None:
            self._store.set_controller(-1)
            return
        try:
            data, _version = await self._zk.get(path, watch=watch)
        except NoNode:  # gone between the two reads; the exists watch fires for it
            self._store.set_controller(-1)
            return
        self._store.set_controller(ControllerZNode.decode(data))

    async def _read_changes(self) -> None:
        children = await self._zk.children(self._path(MetadataChangesZNode.path()),
                                           watch=lambda: self._mark(CHANGES))
        new = sorted((MetadataChangeZNode.sequence_of(c), c) for c in children)
        new = [(seq, child) for seq, child in new if seq > self._last_sequence]
        if not new:
            return
        topics: list[str] = []
        broker_configs = False
        groups: list[str] = []
        for seq, child in new:
            try:
                data, _version = await self._zk.get(
                    f"{self._path(MetadataChangesZNode.path())}/{child}")
            except NoNode:
                continue  # purged meanwhile (only the oldest are, long after)
            try:
                change = MetadataChangeZNode.decode(data)
            except InvalidZNode as exc:
                log.warning("skipping metadata change %s: %s", child, exc)
                continue
            topics += [t for t in change.topics if t not in topics]
            broker_configs = broker_configs or change.broker_configs
            groups += [g for g in change.group_configs if g not in groups]
            self._last_sequence = seq
        self._last_sequence = max(self._last_sequence, new[-1][0])
        await self._store.reload(MetadataChange(tuple(topics), broker_configs, tuple(groups)))

    def _path(self, path: str) -> str:
        return self._chroot + path
