"""This broker's membership of a ZooKeeper cluster, start to finish: following
the metadata, the registration under /brokers/ids, the controller election and
the controller's driver, started and stopped in the order that keeps clients
served.

Start: the metadata is followed first, then the broker registers (refused while
another live process holds its node id), then it opens what it leads, then it
joins the election. Leave (controlled shutdown, SIGTERM):
the registration goes first, so the controller moves this broker's leaderships
at once; the broker waits until it leads nothing (bounded), then resigns the
controllership if it held it, and closes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from kwire.cluster.api import BrokerInfo
from kwire.cluster.zookeeper.controller import ZooKeeperController
from kwire.cluster.zookeeper.election import ControllerElection
from kwire.cluster.zookeeper.follow import ClusterFollower
from kwire.cluster.zookeeper.registration import BrokerRegistration
from kwire.cluster.zookeeper.store import ZooKeeperMetadataStore
from kwire.zookeeper import Session

log = logging.getLogger("kwire.cluster")

POLL_SECONDS = 0.1
# Beyond the session timeout, how long a registration held by another session is
# waited for before the broker gives up (DuplicateBrokerId).
REGISTRATION_GRACE_MS = 2000


class ClusterMembership:
    def __init__(self, zk: Session, chroot: str, node: BrokerInfo,
                 store: ZooKeeperMetadataStore, session_timeout_ms: int,
                 auto_leader_rebalance: bool = True) -> None:
        self._node = node
        self._store = store
        self._session_timeout_ms = session_timeout_ms
        self.follower = ClusterFollower(zk, chroot, store)
        self.registration = BrokerRegistration(zk, chroot, node)
        self.election = ControllerElection(zk, chroot, node.node_id)
        self.controller = ZooKeeperController(zk, chroot, node.node_id, store, self.election,
                                              auto_leader_rebalance)

    async def follow(self) -> None:
        """Load the metadata and follow its changes (before the broker opens anything)."""
        await self.follower.start()

    async def register(self) -> None:
        """Register, before opening anything: a second process with a node id in
        use must not take that broker's partitions over before it is refused. A
        registration a previous process of this node left behind (killed, its
        session not yet expired) is waited out, as long as a session lives."""
        await self.registration.register(
            timeout_ms=self._session_timeout_ms + REGISTRATION_GRACE_MS)

    async def join(self) -> None:
        """Campaign for the controller (after the broker opened what it leads)."""
        self.controller.start()
        await self.election.start()
        # Clients are told this broker is ready next: its snapshot should list it
        # and a controller by then (the watches deliver both within moments).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._session_timeout_ms / 1000
        while loop.time() < deadline and not self._sees_itself():
            await asyncio.sleep(POLL_SECONDS / 10)
        log.info("broker %d joined the cluster (controller: %d)",
                 self._node.node_id, self.election.controller_id)

    def _sees_itself(self) -> bool:
        snapshot = self._store.snapshot()
        return snapshot.controller_id >= 0 and any(
            b.node_id == self._node.node_id for b in snapshot.brokers)

    async def leave(self, leads_nothing: Callable[[], bool], timeout_s: float) -> None:
        """Controlled shutdown: unregister, wait (at most `timeout_s`) until the
        controller moved every leadership away, then resign and stop."""
        try:
            await self.registration.unregister()
        except Exception as exc:  # the session closing removes it anyway
            log.warning("could not unregister before shutting down: %s", exc)
        others = [b for b in self._store.snapshot().brokers if b.node_id != self._node.node_id]
        if others:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout_s
            while not leads_nothing() and loop.time() < deadline:
                await asyncio.sleep(POLL_SECONDS)
            if leads_nothing():
                log.info("controlled shutdown: every leadership moved to other brokers")
            else:
                log.warning("controlled shutdown: some leaderships had not moved after %g s",
                            timeout_s)
        await self.election.resign()
        await self.close()

    async def close(self) -> None:
        await self.controller.close()
        await self.election.close()
        await self.registration.close()
        await self.follower.close()
