"""Broker liveness in ZooKeeper: each live broker holds the ephemeral
/brokers/ids/<node.id> (Kafka's BrokerIdZNode), so the set of children of
/brokers/ids is the set of live brokers, and a broker whose session ends drops
out of it by itself.

Theory of operation
-------------------
* Registering creates the znode on this broker's session. NodeExists is fine
  when the znode's ephemeral owner is our own session (a create whose answer
  was lost, or `register` called twice); owned by another session it means
  another broker runs with the same node.id, and registering fails with
  DuplicateBrokerId (Kafka: "node already exists and owner ... does not match
  current session"). A previous run of this same broker whose session has not
  expired yet looks exactly like that; `register(timeout_ms=...)` waits that
  long for the other owner's znode to go before giving up.
* A session that is LOST takes the znode with it, and kazoo connects a new
  session by itself. Whenever the current session is not the one that holds
  our registration, a background task registers again, retrying with backoff
  (cut short by "CONNECTED") until it succeeds or `unregister`/`close` is
  called.
* `unregister` deletes the znode (controlled shutdown: the controller sees the
  broker go at once, not a session timeout later); only a znode of our own
  session is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from kwire.clock import Clock, SystemClock
from kwire.cluster.api import BrokerInfo
from kwire.cluster.zookeeper.store import normalize_chroot
from kwire.cluster.zookeeper.znodes import BrokerIdsZNode, BrokerIdZNode, InvalidZNode
from kwire.zookeeper import (
    ConnectionLost,
    NodeExists,
    NoNode,
    Session,
    Watch,
    Znodes,
    ZooKeeperError,
)

log = logging.getLogger("kwire.cluster.zookeeper.registration")

RETRY_BACKOFF_MIN_S = 0.1
RETRY_BACKOFF_MAX_S = 5.0


class DuplicateBrokerId(Exception):
    """Another live ZooKeeper session holds /brokers/ids/<node.id>: another broker
    runs with this node.id. The broker logs this one line and exits."""

    def __init__(self, path: str, owner: int, session: int) -> None:
        super().__init__(f"Error while creating ephemeral at {path}, node already exists and "
                         f"owner '{owner}' does not match current session '{session}'")
        self.path = path
        self.owner = owner
        self.session = session


class BrokerRegistration:
    """This broker's /brokers/ids/<node.id>, kept for as long as it is wanted."""

    def __init__(self, zk: Session, chroot: str, broker: BrokerInfo, *,
                 on_duplicate: Callable[[DuplicateBrokerId], None] | None = None,
                 clock: Clock | None = None) -> None:
        """`on_duplicate`: what to do when a re-registration (after a lost session)
        finds the node.id taken by another broker (default: log an error)."""
        self._zk = zk
        self._broker = broker
        self._path = normalize_chroot(chroot) + BrokerIdZNode.path(broker.node_id)
        self._on_duplicate = on_duplicate
        self._clock = clock or SystemClock()
        self._wanted = False
        self._registered_session = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listening = False

    @property
    def path(self) -> str:
        return self._path

    @property
    def registered(self) -> bool:
        """Registered on the current session (as far as this broker knows)."""
        session = self._zk.session_id
        return self._wanted and session != 0 and session == self._registered_session

    async def register(self, timeout_ms: int = 0) -> None:
        """Create the ephemeral znode and keep it. DuplicateBrokerId if another
        session holds it still after `timeout_ms`; ZooKeeperError if ZooKeeper
        cannot be reached (nothing is kept then)."""
        if not self._listening:
            self._zk.add_state_listener(self._on_state)
            self._listening = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_ms / 1000
        while True:
            gone = asyncio.Event()
            try:
                await self._create(on_foreign_owner_gone=gone.set)
                break
            except DuplicateBrokerId:
                left = deadline - loop.time()
                if left <= 0:
                    raise
                log.info("%s is held by session %s; waiting up to %.1f s for it to expire",
                         self._path, await self._zk.ephemeral_owner(self._path), left)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(left, 1.0)):
                        await gone.wait()
        self._wanted = True
        log.info("registered broker %d at %s (session 0x%x)", self._broker.node_id,
                 self._path, self._registered_session)
        self._keep()  # in case the session was lost again meanwhile

    async def unregister(self) -> None:
        """Stop keeping the registration and delete the znode if it is ours."""
        self._wanted = False
        await self._stop_task()
        session = self._zk.session_id
        try:
            if session != 0 and await self._zk.ephemeral_owner(self._path) == session:
                await self._zk.delete(self._path)
        except NoNode:
            pass
        except ZooKeeperError as exc:  # the znode goes with the session anyway
            log.warning("could not delete %s: %s", self._path, exc)
        self._registered_session = 0

    async def close(self) -> None:
        """Stop keeping the registration; the znode goes when the session closes."""
        self._wanted = False
        await self._stop_task()
        if self._listening:
            self._zk.remove_state_listener(self._on_state)
            self._listening = False

    # ---- keeping it ------------------------------------------------------------------

    async def _create(self, on_foreign_owner_gone: Watch | None = None) -> None:
        """Create the znode on the current session, or find it already ours.
        `on_foreign_owner_gone` watches a znode another session holds."""
        data = BrokerIdZNode.encode(self._broker, self._clock.wall_ms())
        before = self._zk.session_id
        try:
            await self._zk.create(self._path, data, ephemeral=True, makepath=True)
            if before != 0 and self._zk.session_id == before:
                self._registered_session = before
                return
            # kazoo queues a call made while it reconnects and sends it on whatever
            # session it gets: look below which one owns the znode.
        except (NodeExists, ConnectionLost):
            # ConnectionLost: the create may have happened; look whose the znode is.
            pass
        missing = ConnectionLost(f"{self._path}: not there after a create that failed")
        if await self._zk.exists(self._path, on_foreign_owner_gone) is None:
            raise missing
        owner = await self._zk.ephemeral_owner(self._path)
        session = self._zk.session_id
        if owner is None:
            raise missing
        if session == 0:
            raise ConnectionLost(f"{self._path}: the ZooKeeper session is down")
        if owner != session:
            raise DuplicateBrokerId(self._path, owner, session)
        self._registered_session = session

    def _on_state(self, state: str) -> None:
        if state in ("LOST", "CONNECTED"):
            self._wake.set()
            self._keep()

    def _keep(self) -> None:
        """Register again in the background if the current session does not hold
        our registration (and no task is at it already)."""
        if self._wanted and not self.registered and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(
                self._reregister(), name=f"broker-registration-{self._broker.node_id}")

    async def _reregister(self) -> None:
        backoff = RETRY_BACKOFF_MIN_S
        while self._wanted and not self.registered:
            self._wake.clear()
            try:
                await self._create()
                log.info("re-registered broker %d at %s on a new ZooKeeper session (0x%x)",
                         self._broker.node_id, self._path, self._registered_session)
                return
            except DuplicateBrokerId as exc:
                self._wanted = False
                if self._on_duplicate is None:
                    log.error("%s", exc)
                    return
                try:
                    self._on_duplicate(exc)
                except Exception:
                    log.exception("on_duplicate failed")
                return
            except (ZooKeeperError, InvalidZNode) as exc:
                log.info("re-registering broker %d: %s; retrying in %.1f s",
                         self._broker.node_id, exc, backoff)
            # (asyncio.timeout: 3.11's wait_for can swallow a cancellation.)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(backoff):
                    await self._wake.wait()
            backoff = min(backoff * 2, RETRY_BACKOFF_MAX_S)

    async def _stop_task(self) -> None:
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def live_brokers(zk: Znodes, chroot: str, watch: Watch | None = None
                       ) -> list[BrokerInfo]:
    """The registered brokers, by id. `watch` runs once when a broker comes or
    goes (if /brokers/ids does not exist yet, when it is created). A broker that
    went between the two reads is left out; so is a znode kwire cannot read."""
    ids_path = normalize_chroot(chroot) + BrokerIdsZNode.path()
    try:
        children = await zk.children(ids_path, watch)
    except NoNode:
        if await zk.exists(ids_path, watch) is not None:  # created meanwhile
            return await live_brokers(zk, chroot, watch)
        return []

    async def read(child: str) -> BrokerInfo | None:
        try:
            broker_id = int(child)
            data, _ = await zk.get(f"{ids_path}/{child}")
            return BrokerIdZNode.decode(broker_id, data)
        except NoNode:
            return None
        except (ValueError, InvalidZNode) as exc:
            log.warning("ignoring %s/%s: %s", ids_path, child, exc)
            return None

    found = await asyncio.gather(*(read(child) for child in children))
    return sorted((b for b in found if b is not None), key=lambda b: b.node_id)
