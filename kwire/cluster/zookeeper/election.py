"""The controller election in ZooKeeper, as Kafka's ZooKeeper-mode
KafkaController ran it: whoever creates the ephemeral /controller is the
controller, and each controller's writes are fenced by /controller_epoch.

Theory of operation
-------------------
* One loop per broker looks at /controller whenever something may have
  changed: a watch on /controller ran, the session came back ("CONNECTED"),
  or a failed look is retried. Each look leaves a new `exists` watch first and
  then reads, so a change between the two (or during any call of the look)
  wakes the loop again; nothing is decided from an event, only from what a
  read says. Looks are serialised by one lock, as Kafka's controller
  serialised its events, and `resign` takes the same lock.
* /controller absent: campaign (Kafka's elect / registerControllerAndIncrement-
  ControllerEpoch). Read /controller_epoch (creating it at Kafka's initial
  epoch 0 if absent), then in ONE transaction create /controller (ephemeral)
  and set /controller_epoch to epoch + 1 at the version just read. Both or
  neither: a broker never holds /controller without having moved the epoch,
  and two brokers that read the same epoch cannot both win. NodeExists: someone
  else won, look again. BadVersion: an election happened in between, look
  again.
* /controller present: its broker id is `controller_id`. It is this broker's
  only if its ephemeral owner is this broker's current session; then this
  broker is (still, or — after a create whose answer was lost, or a reconnect
  with the same session — again) the controller, at the epoch /controller_epoch
  holds (nobody can move it while /controller is ours). A /controller with our
  broker id but another session (a previous run of this broker whose session
  has not expired yet) is someone else's, as it was for Kafka.
* Losing: /controller deleted or held by another, or the session LOST (its
  ephemeral /controller is gone with it). `on_resigned` runs, and the next look
  (after "CONNECTED") campaigns again. A mere disconnect (SUSPENDED) keeps
  controllership, as Kafka did: the session may live on, and a controller
  that did lose it cannot write anyway.
* Fencing: `fenced_ops` puts a Check of /controller_epoch at the version this
  controller's election wrote in front of every write. After another election
  that version is gone, so a stale controller's write fails with BadVersion in
  ZooKeeper itself, whatever the stale controller believes. Before any election
  the version is -2 (Kafka's UnknownVersion), which no znode has; it is never
  -1, which ZooKeeper would take as "any version".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from kwire.clock import Clock, SystemClock
from kwire.cluster.zookeeper.store import normalize_chroot
from kwire.cluster.zookeeper.znodes import ControllerEpochZNode, ControllerZNode, InvalidZNode
from kwire.zookeeper import (
    BadVersion,
    Check,
    Create,
    NodeExists,
    NoNode,
    Op,
    Session,
    SetData,
    ZooKeeperError,
)

log = logging.getLogger("kwire.cluster.zookeeper.election")

# Kafka's KafkaController.InitialControllerEpoch and ZkVersion.UnknownVersion.
INITIAL_CONTROLLER_EPOCH = 0
UNKNOWN_VERSION = -2

# Backoff between failed looks (ZooKeeper unreachable); a "CONNECTED" cuts it short.
RETRY_BACKOFF_MIN_S = 0.1
RETRY_BACKOFF_MAX_S = 5.0

ElectedCallback = Callable[[int, int], None]
ResignedCallback = Callable[[], None]


class ControllerElection:
    """This broker's part in the controller election. `await start()`, then read
    `is_controller`, `controller_id`, `epoch`, `epoch_zk_version`; the callbacks
    run on the loop: `on_elected(epoch, epoch_zk_version)` when this broker
    becomes controller, `on_resigned()` when it stops being one."""

    def __init__(self, zk: Session, chroot: str, broker_id: int, *,
                 on_elected: ElectedCallback | None = None,
                 on_resigned: ResignedCallback | None = None,
                 clock: Clock | None = None) -> None:
        self._zk = zk
        self._broker_id = broker_id
        chroot = normalize_chroot(chroot)
        self._controller_path = chroot + ControllerZNode.path()
        self._epoch_path = chroot + ControllerEpochZNode.path()
        self.on_elected = on_elected
        self.on_resigned = on_resigned
        self._clock = clock or SystemClock()
        self._is_controller = False
        self._controller_id = -1
        self._epoch = INITIAL_CONTROLLER_EPOCH
        self._epoch_zk_version = UNKNOWN_VERSION
        self._elected_session = 0  # the session that created our /controller
        self._campaigning = True
        self._watch_pending = False
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    # ---- what the broker reads -------------------------------------------------------

    @property
    def is_controller(self) -> bool:
        return self._is_controller

    @property
    def controller_id(self) -> int:
        """The broker id in /controller as last seen; -1 when there is none (or
        it is unknown, the session being lost)."""
        return self._controller_id

    @property
    def epoch(self) -> int:
        """The controller epoch this broker last won (0: never)."""
        return self._epoch

    @property
    def epoch_zk_version(self) -> int:
        """The /controller_epoch version this broker's last election wrote (-2:
        never elected). Kept after losing, so a stale controller stays fenced."""
        return self._epoch_zk_version

    def fenced_ops(self, ops: Sequence[Op]) -> list[Op]:
        """`ops` behind a check of this controller's epoch: pass the result to
        `multi`, and it fails with BadVersion once another controller was elected."""
        return [Check(self._epoch_path, self._epoch_zk_version), *ops]

    # ---- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Join the election; returns after the first look (its outcome in the
        properties; if ZooKeeper could not be reached, the loop goes on trying)."""
        if self._task is not None:
            return
        self._zk.add_state_listener(self._on_state)
        await self._look_logged()
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"controller-election-{self._broker_id}")

    async def resign(self) -> None:
        """Stop campaigning and give controllership up (controlled shutdown):
        delete /controller if it is ours, so another broker takes over at once.
        `controller_id` stays watched."""
        self._campaigning = False
        async with self._lock:
            if not self._is_controller:
                return
            try:
                _, version = await self._zk.get(self._controller_path)
                if await self._zk.ephemeral_owner(self._controller_path) == self._elected_session:
                    await self._zk.delete(self._controller_path, version)
            except (NoNode, BadVersion):
                pass  # not ours any more
            except ZooKeeperError as exc:
                # The znode goes with the session when the broker closes it.
                log.warning("broker %d: could not delete /controller on resigning: %s",
                            self._broker_id, exc)
            finally:
                # Even if ZooKeeper could not be told: this broker acts as controller
                # no more, and its writes are fenced once someone else is elected.
                self._lose()

    async def close(self) -> None:
        """Stop watching. /controller, if ours, stays until the session closes;
        on_resigned runs if this broker was controller."""
        self._campaigning = False
        self._zk.remove_state_listener(self._on_state)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._lose()

    # ---- events ----------------------------------------------------------------------

    def _on_watch(self) -> None:
        self._watch_pending = False
        self._wake.set()

    def _on_state(self, state: str) -> None:
        if state == "LOST":
            # The session that created our /controller is gone, and the znode with it.
            # (If a look already won again on a new session, that one stands.)
            self._watch_pending = False
            if self._is_controller and self._elected_session != self._zk.session_id:
                log.warning("broker %d: ZooKeeper session lost, no longer controller "
                            "(epoch %d)", self._broker_id, self._epoch)
                self._lose()
            self._wake.set()
        elif state == "CONNECTED":
            self._wake.set()

    # ---- the loop --------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = RETRY_BACKOFF_MIN_S
        while True:
            await self._wake.wait()
            if await self._look_logged():
                backoff = RETRY_BACKOFF_MIN_S
                continue
            # ZooKeeper unreachable: try again after the backoff or at "CONNECTED".
            # (asyncio.timeout: 3.11's wait_for can swallow a cancellation.)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(backoff):
                    await self._wake.wait()
            backoff = min(backoff * 2, RETRY_BACKOFF_MAX_S)
            self._wake.set()

    async def _look_logged(self) -> bool:
        """One look; False if ZooKeeper failed it (to be retried)."""
        self._wake.clear()
        try:
            async with self._lock:
                await self._look()
            return True
        except ZooKeeperError as exc:
            self._watch_pending = False  # unknown whether the watch was left
            log.info("broker %d: controller election: ZooKeeper: %s: %s; retrying",
                     self._broker_id, type(exc).__name__, exc)
            return False
        except InvalidZNode as exc:  # a /controller_epoch kwire cannot read
            self._watch_pending = False
            log.error("broker %d: controller election: %s; retrying", self._broker_id, exc)
            return False
        except Exception:  # a bug: keep the election alive, loudly
            self._watch_pending = False
            log.exception("broker %d: controller election failed; retrying", self._broker_id)
            return False

    async def _look(self) -> None:
        watch = None if self._watch_pending else self._on_watch
        self._watch_pending = True
        if await self._zk.exists(self._controller_path, watch) is None:
            await self._absent()
            return
        try:
            data, _ = await self._zk.get(self._controller_path)
        except NoNode:  # deleted since exists: the watch has already woken us
            await self._absent()
            return
        try:
            controller_id = ControllerZNode.decode(data)
        except InvalidZNode as exc:
            log.error("broker %d: %s; waiting for it to go", self._broker_id, exc)
            controller_id = -1
        self._controller_id = controller_id
        session = self._zk.session_id
        if controller_id == self._broker_id and session != 0 \
                and await self._zk.ephemeral_owner(self._controller_path) == session:
            if not self._is_controller or self._elected_session != session:
                # Ours, but not known as ours: a create whose answer was lost.
                await self._become_from_epoch_znode(session)
            return
        if self._is_controller:
            log.info("broker %d: controller moved to broker %d", self._broker_id,
                     controller_id)
            self._lose()

    async def _absent(self) -> None:
        self._controller_id = -1
        if self._is_controller:
            log.info("broker %d: /controller is gone; resigning", self._broker_id)
            self._lose()
        if self._campaigning:
            await self._campaign()

    async def _campaign(self) -> None:
        """Create /controller and move the epoch, atomically (see the module doc)."""
        epoch, version = await self._read_or_create_epoch()
        before = self._zk.session_id
        try:
            results = await self._zk.multi([
                Create(self._controller_path,
                       ControllerZNode.encode(self._broker_id, self._clock.wall_ms()),
                       ephemeral=True),
                SetData(self._epoch_path, ControllerEpochZNode.encode(epoch + 1), version),
            ])
        except (NodeExists, BadVersion) as exc:
            # Another broker won this round (or an earlier one): look at who.
            log.debug("broker %d: lost the election: %s", self._broker_id, exc)
            self._wake.set()
            return
        new_version = results[1]
        assert isinstance(new_version, int)
        if before == 0 or self._zk.session_id != before:
            # kazoo sent the transaction on a session that came (or went) while it
            # was queued: the next look sees whose /controller is, and the epoch.
            self._wake.set()
            return
        self._become(epoch + 1, new_version, before)

    async def _read_or_create_epoch(self) -> tuple[int, int]:
        try:
            data, version = await self._zk.get(self._epoch_path)
            return ControllerEpochZNode.decode(data), version
        except NoNode:
            pass
        try:
            await self._zk.create(self._epoch_path,
                                  ControllerEpochZNode.encode(INITIAL_CONTROLLER_EPOCH),
                                  makepath=True)
            return INITIAL_CONTROLLER_EPOCH, 0
        except NodeExists:  # another broker created it first
            data, version = await self._zk.get(self._epoch_path)
            return ControllerEpochZNode.decode(data), version

    async def _become_from_epoch_znode(self, session: int) -> None:
        data, version = await self._zk.get(self._epoch_path)
        self._become(ControllerEpochZNode.decode(data), version, session)

    # ---- transitions -----------------------------------------------------------------

    def _become(self, epoch: int, epoch_zk_version: int, session: int) -> None:
        if self._is_controller:
            self._lose()  # controllership of an older session: that one ended
        self._is_controller = True
        self._controller_id = self._broker_id
        self._epoch = epoch
        self._epoch_zk_version = epoch_zk_version
        self._elected_session = session
        log.info("broker %d: elected controller, epoch %d (/controller_epoch version %d)",
                 self._broker_id, epoch, epoch_zk_version)
        if self.on_elected is not None:
            try:
                self.on_elected(epoch, epoch_zk_version)
            except Exception:
                log.exception("broker %d: on_elected failed", self._broker_id)

    def _lose(self) -> None:
        if not self._is_controller:
            return
        self._is_controller = False
        if self._controller_id == self._broker_id:
            self._controller_id = -1
        log.info("broker %d: resigned as controller (epoch %d)", self._broker_id,
                 self._epoch)
        if self.on_resigned is not None:
            try:
                self.on_resigned()
            except Exception:
                log.exception("broker %d: on_resigned failed", self._broker_id)
