"""The controller's driver: while this broker is controller (election.py), it
turns what the metadata says into leader changes (the pure decisions of
kwire.cluster.controller) and writes them through the store, fenced by the
controller epoch.

Theory of operation
-------------------
* Every broker runs one; only the elected one acts. It reconciles whenever the
  snapshot changes (a broker came or went, a topic was created, another broker
  wrote something) and right after it is elected: a partition whose leader is
  not a live broker gets a new one (`elect_for_dead_brokers`), and when a
  broker arrived (or this controller was just elected) leaderships are spread
  evenly over the live brokers (`rebalance`), so a new broker takes its fair
  share within a reconcile.
* A broker leaving on purpose (controlled shutdown) first deletes its
  registration; to the controller it is then simply gone, and its partitions
  move at once instead of after its session timeout.
* Writes are compare-and-set on each partition's state znode and fenced by the
  controller epoch; a write refused (StaleMetadata) means the snapshot moved or
  this broker was deposed, TopicNotFound that the topic was deleted meanwhile;
  either way the next reconcile works from fresh metadata.
* The controller also purges the oldest change notifications, keeping
  KEEP_CHANGES of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from kwire.cluster.api import PartitionChange, StaleMetadata, TopicIndex, TopicNotFound
from kwire.cluster.controller import (
    apply_changes,
    elect_for_dead_brokers,
    partition_states,
    rebalance,
)
from kwire.cluster.zookeeper.election import ControllerElection
from kwire.cluster.zookeeper.store import ZooKeeperMetadataStore
from kwire.cluster.zookeeper.znodes import MetadataChangesZNode, MetadataChangeZNode
from kwire.errors import StorageError
from kwire.zookeeper import NoNode, Znodes, ZooKeeperError

log = logging.getLogger("kwire.cluster.controller")

# Change notifications kept; a broker with a live session is never this far behind.
KEEP_CHANGES = 1000
RETRY_SECONDS = 0.5


class ZooKeeperController:
    def __init__(self, zk: Znodes, chroot: str, node_id: int, store: ZooKeeperMetadataStore,
                 election: ControllerElection, auto_leader_rebalance: bool = True) -> None:
        self._zk = zk
        self._node_id = node_id
        self._chroot = chroot.rstrip("/")
        self._store = store
        self._election = election
        self._auto_rebalance = auto_leader_rebalance
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # The live brokers the last reconcile saw: a new one is an arrival.
        self._known_live: set[int] = set()
        self._rebalance_next = False

    def start(self) -> None:
        """Hook into the election and the store; the election is started by the caller."""
        self._election.on_elected = self._elected
        self._election.on_resigned = self._resigned
        # Always fenced: after losing office the fence's version is stale, so a
        # write that slips through is refused by ZooKeeper.
        self._store.fence = self._election.fenced_ops
        self._store.add_listener(self._wake.set)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="controller")
        if self._election.is_controller:
            self._elected(self._election.epoch, self._election.epoch_zk_version)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _elected(self, epoch: int, _epoch_zk_version: int) -> None:
        log.info("broker %d is the controller (epoch %d)",
                 self._node_id, epoch)
        self._store.controller_epoch = epoch
        self._known_live = set()
        self._rebalance_next = True
        self._wake.set()

    def _resigned(self) -> None:
        log.info("broker %d is no longer the controller", self._node_id)

    async def _run(self) -> None:
        purge_due = True
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._election.is_controller:
                continue
            try:
                await self._reconcile()
                if purge_due:
                    await self._purge_changes()
                purge_due = not purge_due  # every other reconcile is plenty
            except (StaleMetadata, TopicNotFound, StorageError, ZooKeeperError) as exc:
                log.info("controller: %s; reconciling again", exc)
                await asyncio.sleep(RETRY_SECONDS)
                self._wake.set()
            except Exception:
                log.exception("controller: reconcile failed; retrying")
                await asyncio.sleep(RETRY_SECONDS)
                self._wake.set()

    async def _reconcile(self) -> None:
        snapshot = self._store.snapshot()
        live = snapshot.brokers
        live_ids = {b.node_id for b in live}
        current = partition_states(snapshot.topics)
        decided = elect_for_dead_brokers(current, live)
        arrived = live_ids - self._known_live
        if self._auto_rebalance and live and (arrived or self._rebalance_next):
            decided.update(rebalance(apply_changes(current, decided), live))
        self._known_live = live_ids
        self._rebalance_next = False
        if not decided:
            return
        changes: dict[TopicIndex, PartitionChange] = {
            tp: (current[tp].leader_epoch, state) for tp, state in decided.items()}
        moved = sum(1 for tp, state in decided.items() if state.leader != current[tp].leader)
        log.info("controller: moving the leadership of %d partition(s) over broker(s) %s",
                 moved, sorted(live_ids))
        await self._store.alter_partitions(changes)

    async def _purge_changes(self) -> None:
        path = self._chroot + MetadataChangesZNode.path()
        children = await self._zk.children(path)
        if len(children) <= KEEP_CHANGES:
            return
        oldest = sorted(children, key=MetadataChangeZNode.sequence_of)[:-KEEP_CHANGES]
        for child in oldest:
            with contextlib.suppress(NoNode):
                await self._zk.delete(f"{path}/{child}")
