"""Broker 1 of a three-broker cluster, in process, for the controller's admin
requests (ElectLeaders, AlterPartitionReassignments): the real ZooKeeper
metadata store over an in-memory ZooKeeper tree (tests/log/bookkeeper/fake_zk),
memory logs, and requests encoded with kio as a client sends them.

Brokers 2 and 3 exist only as live entries of the snapshot (`set_live`), and
whether broker 1 is the controller is a flag the test sets; leaders move only
through the admin requests (no controller driver runs), so each test sees
exactly what its requests did.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from _harness import InProcessBroker  # type: ignore[import-not-found]

from kwire.broker.dispatcher import Dispatcher
from kwire.broker.services import Broker
from kwire.clock import ManualClock
from kwire.cluster.admin import ClusterAdmin
from kwire.cluster.api import BrokerInfo, PartitionState
from kwire.cluster.zookeeper.store import ZooKeeperMetadataStore
from kwire.config import load_config
from kwire.log.memory import MemoryLogStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ is no package
from log.bookkeeper.fake_zk import FakeZooKeeper  # noqa: E402

BROKERS = {i: BrokerInfo(i, "127.0.0.1", 9090 + i) for i in (1, 2, 3)}
CHROOT = "/kwire"


class ClusterBroker(InProcessBroker):  # type: ignore[misc]
    """InProcessBroker's request helpers over broker 1 of a three-broker store."""

    def __init__(self, tmp: Path, store: ZooKeeperMetadataStore, zk: FakeZooKeeper) -> None:
        self.config = load_config(overrides={}, data_dir=str(tmp))
        self.clock = ManualClock()
        self.store = store
        self.zk = zk
        self.controller = True
        self.broker = Broker(self.config, BROKERS[1], store, MemoryLogStore(self.clock.wall_ms),
                             self.clock, ClusterAdmin(store, lambda: self.controller))
        self.dispatcher = Dispatcher(self.broker)
        self._correlation = 0

    @classmethod
    async def open(cls, tmp: Path) -> ClusterBroker:
        zk = FakeZooKeeper()
        store = await ZooKeeperMetadataStore.open(zk, CHROOT, BROKERS[1])
        store.set_brokers(BROKERS.values())
        kb = cls(tmp, store, zk)
        await kb.broker.open_partitions()
        return kb

    def set_live(self, ids: Sequence[int]) -> None:
        self.store.set_brokers(BROKERS[i] for i in ids)

    async def create(self, name: str, replicas: Sequence[tuple[int, ...]]) -> None:
        await self.broker.create_topic(name, len(replicas), {}, replicas=replicas)

    async def move(self, name: str, index: int, leader: int) -> PartitionState:
        """A failover the controller made: `leader` leads, epoch + 1, replicas kept."""
        state = self.state(name, index)
        moved = PartitionState(leader, state.leader_epoch + 1, state.replicas)
        await self.store.alter_partitions({(name, index): (state.leader_epoch, moved)})
        await self.broker.replicas.apply()
        return moved

    def state(self, name: str, index: int) -> PartitionState:
        return self.store.snapshot().topics[name].partitions[index]

    def leads(self, name: str, index: int) -> bool:
        """Broker 1 has the partition open (replicas.apply ran)."""
        return self.broker.partition(name, index) is not None

    async def close(self) -> None:
        await self.broker.close()
