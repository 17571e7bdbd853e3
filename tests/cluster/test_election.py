"""The controller election (kwire/cluster/zookeeper/election.py) on the in-memory
ZooKeeper: brokers are sessions of one FakeZooKeeper tree. Watches and state
changes arrive with loop.call_soon, so every wait here is a bounded number of
loop turns, never a sleep. The same election runs against a real ZooKeeper in
compat-tests/test_zookeeper_cluster_primitives.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from log.bookkeeper.eventually import eventually
from log.bookkeeper.fake_zk import FakeZooKeeper

from kwire.clock import ManualClock
from kwire.cluster.zookeeper.election import ControllerElection
from kwire.zookeeper import BadVersion, ConnectionLost, Op, OpResult, SetData

CHROOT = "/kwire/cluster-a"
CONTROLLER = f"{CHROOT}/controller"
EPOCH = f"{CHROOT}/controller_epoch"
DATA = f"{CHROOT}/data"




class Broker:
    """One broker's election with a record of its callbacks."""

    def __init__(self, zk: FakeZooKeeper, broker_id: int) -> None:
        self.zk = zk
        self.events: list[tuple[int, int] | str] = []
        self.election = ControllerElection(
            zk, CHROOT, broker_id, clock=ManualClock(),
            on_elected=lambda epoch, version: self.events.append((epoch, version)),
            on_resigned=lambda: self.events.append("resigned"))

    async def write(self, data: bytes) -> list[OpResult]:
        """A controller write, fenced by its epoch."""
        ops: list[Op] = [SetData(DATA, data)]
        return await self.zk.multi(self.election.fenced_ops(ops))


@pytest.fixture
async def tree() -> FakeZooKeeper:
    zk = FakeZooKeeper()
    await zk.create(DATA, b"", makepath=True)
    return zk


async def test_one_of_two_is_elected(tree: FakeZooKeeper) -> None:
    a, b = Broker(tree, 1), Broker(tree.new_session(), 2)
    await a.election.start()
    await b.election.start()
    assert a.election.is_controller and not b.election.is_controller
    assert a.election.controller_id == b.election.controller_id == 1
    # Kafka's first election: /controller_epoch created at 0, moved to 1 (version 1)
    assert (a.election.epoch, a.election.epoch_zk_version) == (1, 1)
    assert a.events == [(1, 1)] and b.events == []
    assert tree.nodes[EPOCH][0] == b"1"
    assert tree.nodes[CONTROLLER][0] == (b'{"version":2,"brokerid":1,'
                                         b'"timestamp":"1700000000000","kraftControllerEpoch":-1}')
    assert await tree.ephemeral_owner(CONTROLLER) == tree.session_id
    await a.write(b"by 1")
    assert tree.nodes[DATA][0] == b"by 1"


async def test_two_campaigning_at_once_elect_one() -> None:
    """Both see no /controller and read the same epoch; the transaction lets only
    one create /controller, the other learns who won."""
    tree = YieldingZooKeeper()
    a, b = Broker(tree, 1), Broker(tree.new_session(), 2)
    await asyncio.gather(a.election.start(), b.election.start())
    await eventually(lambda: a.election.controller_id == b.election.controller_id != -1)
    winner, loser = (a, b) if a.election.is_controller else (b, a)
    assert winner.election.is_controller and not loser.election.is_controller
    assert winner.events == [(1, 1)] and loser.events == []
    assert tree.nodes[EPOCH][0] == b"1"


async def test_failover_when_the_controller_session_expires(tree: FakeZooKeeper) -> None:
    a, b = Broker(tree, 1), Broker(tree.new_session(), 2)
    await a.election.start()
    await b.election.start()
    # a's session expires while a cannot reach ZooKeeper: /controller goes with it
    a.zk.expire_session(reconnect=False)
    await eventually(lambda: b.election.is_controller)
    assert not a.election.is_controller  # a heard "LOST"
    a.zk.reconnect()
    await eventually(lambda: a.election.controller_id == 2)
    assert not a.election.is_controller
    assert a.events == [(1, 1), "resigned"]
    assert b.events == [(2, 2)]
    assert tree.nodes[EPOCH][0] == b"2"
    # The stale controller's write is refused by ZooKeeper itself; the new one's is not.
    with pytest.raises(BadVersion):
        await a.write(b"stale")
    assert await b.write(b"by 2") == [None, 1]
    assert tree.nodes[DATA][0] == b"by 2"


async def test_failover_when_the_controller_session_closes(tree: FakeZooKeeper) -> None:
    a, b = Broker(tree, 1), Broker(tree.new_session(), 2)
    await a.election.start()
    await b.election.start()
    await a.zk.stop()
    await eventually(lambda: b.election.is_controller)
    assert b.election.epoch == 2
    assert not a.election.is_controller and a.events == [(1, 1), "resigned"]


async def test_expired_controller_with_no_rival_is_elected_again(tree: FakeZooKeeper) -> None:
    a = Broker(tree, 1)
    await a.election.start()
    a.zk.expire_session()
    await eventually(lambda: len(a.events) == 3)
    assert a.events == [(1, 1), "resigned", (2, 2)]
    assert a.election.is_controller
    assert await tree.ephemeral_owner(CONTROLLER) == a.zk.session_id  # the new session's


async def test_controller_is_kept_across_a_reconnect_of_the_same_session(
        tree: FakeZooKeeper) -> None:
    """A dropped connection (kazoo: SUSPENDED, every watch run) whose session
    survives: /controller is still ours, nothing is resigned or re-elected."""
    a, b = Broker(tree, 1), Broker(tree.new_session(), 2)
    await a.election.start()
    await b.election.start()
    a.zk.suspend()
    await eventually(lambda: not a.zk.connected)
    for _ in range(20):
        await asyncio.sleep(0)  # the woken look fails: no connection
    a.zk.resume()
    await eventually(lambda: a.election.controller_id == 1)
    for _ in range(20):
        await asyncio.sleep(0)
    assert a.election.is_controller and a.events == [(1, 1)]
    assert not b.election.is_controller
    # the watch was left again: a's /controller going is noticed
    await a.zk.delete(CONTROLLER)
    await eventually(lambda: len(a.events) >= 2)
    assert a.events[1] == "resigned"


async def test_resign_hands_over_at_once(tree: FakeZooKeeper) -> None:
    a, b = Broker(tree, 1), Broker(tree.new_session(), 2)
    await a.election.start()
    await b.election.start()
    await a.election.resign()
    assert not a.election.is_controller and a.events == [(1, 1), "resigned"]
    await eventually(lambda: b.election.is_controller and a.election.controller_id == 2)
    assert b.election.epoch == 2
    # a resigned broker does not campaign again, even with /controller free
    await b.election.close()
    await b.zk.stop()
    await eventually(lambda: a.election.controller_id == -1)
    for _ in range(20):
        await asyncio.sleep(0)
    assert not a.election.is_controller and CONTROLLER not in tree.nodes


async def test_controller_znode_deleted_under_the_controller(tree: FakeZooKeeper) -> None:
    """An operator deletes /controller (Kafka's way to force an election): the
    controller resigns and everyone campaigns; the epoch moves on."""
    a, b = Broker(tree, 1), Broker(tree.new_session(), 2)
    await a.election.start()
    await b.election.start()
    await tree.new_session().delete(CONTROLLER)
    await eventually(lambda: CONTROLLER in tree.nodes
                     and a.election.controller_id == b.election.controller_id != -1)
    assert a.election.is_controller != b.election.is_controller
    assert "resigned" in a.events
    assert tree.nodes[EPOCH][0] == b"2"


async def test_controller_goes_between_the_looks_calls(tree: FakeZooKeeper) -> None:
    """b sees /controller exist, then it goes before b reads it (the watch b just
    left fires during the call): b campaigns and wins."""
    a, b = Broker(tree, 1), Broker(tree.new_session(), 2)
    await a.election.start()
    gets = 0

    def expire_a_on_get(op: str, path: str) -> None:
        nonlocal gets
        if op == "get" and path == CONTROLLER:
            gets += 1
            if gets == 1:
                a.zk.expire_session(reconnect=False)

    b.zk.before = expire_a_on_get
    await b.election.start()
    await eventually(lambda: b.election.is_controller)
    assert b.events == [(2, 2)]


async def test_a_lost_answer_to_the_election_transaction(tree: FakeZooKeeper) -> None:
    """The transaction went through but its answer was lost (ConnectionLost): the
    next look finds /controller ours, on our session, and takes the epoch it holds."""
    a = Broker(tree, 1)
    real_multi = a.zk.multi
    lost = []

    async def multi_answer_lost(ops: list[Op]) -> list[OpResult]:
        results = await real_multi(ops)
        if not lost:
            lost.append(ops)
            raise ConnectionLost("the answer was lost")
        return results

    a.zk.multi = multi_answer_lost  # type: ignore[method-assign]
    await a.election.start()
    await eventually(lambda: a.election.is_controller)
    assert a.events == [(1, 1)] and lost


async def test_the_election_transaction_sent_on_a_new_session(tree: FakeZooKeeper) -> None:
    """kazoo queues a call made while it reconnects and sends it on the session it
    gets: the transaction won on a session that was not the one before the call.
    Whose /controller is it? The next look asks ZooKeeper."""
    a = Broker(tree, 1)
    real_multi = a.zk.multi

    async def multi_after_a_new_session(ops: list[Op]) -> list[OpResult]:
        if a.zk.session_id == first_session:
            a.zk.expire_session()
        return await real_multi(ops)

    first_session = a.zk.session_id
    a.zk.multi = multi_after_a_new_session  # type: ignore[method-assign]
    await a.election.start()
    await eventually(lambda: a.election.is_controller)
    assert a.events == [(1, 1)]
    assert await tree.ephemeral_owner(CONTROLLER) == a.zk.session_id != first_session


async def test_a_znode_of_our_id_on_another_session_is_not_ours(tree: FakeZooKeeper) -> None:
    """/controller with this broker's id, held by an older session of this broker
    that has not expired: someone else's, until it goes (as in Kafka)."""
    old = Broker(tree, 1)
    await old.election.start()
    restarted = Broker(tree.new_session(), 1)
    await restarted.election.start()
    assert not restarted.election.is_controller
    assert restarted.election.controller_id == 1
    old.zk.expire_session(reconnect=False)
    await eventually(lambda: restarted.election.is_controller)
    assert restarted.election.epoch == 2


async def test_an_existing_epoch_is_continued(tree: FakeZooKeeper) -> None:
    """A cluster whose earlier controllers reached epoch 41 (Kafka's own, say)."""
    await tree.create(EPOCH, b"41")
    a = Broker(tree, 1)
    await a.election.start()
    assert (a.election.epoch, a.election.epoch_zk_version) == (42, 1)


async def test_unelected_broker_fenced_write_fails(tree: FakeZooKeeper) -> None:
    a, b = Broker(tree, 1), Broker(tree.new_session(), 2)
    await a.election.start()
    await b.election.start()
    # never elected: the check uses version -2, which no znode has (never -1, "any")
    assert b.election.fenced_ops([])[0].version == -2  # type: ignore[union-attr]
    with pytest.raises(BadVersion):
        await b.write(b"not a controller")


async def test_zookeeper_down_at_start_then_back(tree: FakeZooKeeper) -> None:
    zk = tree.new_session()
    zk.expire_session(reconnect=False)
    a = Broker(zk, 1)
    await a.election.start()  # returns; the loop keeps trying
    assert not a.election.is_controller and a.election.controller_id == -1
    zk.reconnect()
    await eventually(lambda: a.election.is_controller)


async def test_close_resigns_and_stops_watching(tree: FakeZooKeeper) -> None:
    a, b = Broker(tree, 1), Broker(tree.new_session(), 2)
    await a.election.start()
    await b.election.start()
    await b.election.close()
    await a.election.close()
    assert a.events == [(1, 1), "resigned"]
    assert CONTROLLER in tree.nodes  # until a's session closes
    await a.zk.stop()
    for _ in range(50):
        await asyncio.sleep(0)
    assert b.events == [] and not b.election.is_controller


class YieldingZooKeeper(FakeZooKeeper):
    """Every call yields to the loop first, so concurrent elections interleave
    between their calls as over a network."""

    async def exists(self, path: str, watch: Callable[[], None] | None = None) -> int | None:
        await asyncio.sleep(0)
        return await super().exists(path, watch)

    async def get(self, path: str, watch: Callable[[], None] | None = None
                  ) -> tuple[bytes, int]:
        await asyncio.sleep(0)
        return await super().get(path, watch)

    async def multi(self, ops: list[Op]) -> list[OpResult]:  # type: ignore[override]
        await asyncio.sleep(0)
        return await super().multi(ops)
