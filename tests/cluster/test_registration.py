"""Broker registration (/brokers/ids/<id>) and the live-broker list on the
in-memory ZooKeeper: brokers are sessions of one FakeZooKeeper tree. The same
against a real ZooKeeper: compat-tests/test_zookeeper_cluster_primitives.py."""

from __future__ import annotations

import asyncio

import pytest
from log.bookkeeper.eventually import eventually
from log.bookkeeper.fake_zk import FakeZooKeeper

from kwire.clock import ManualClock
from kwire.cluster.api import BrokerInfo
from kwire.cluster.zookeeper.registration import (
    BrokerRegistration,
    DuplicateBrokerId,
    live_brokers,
)
from kwire.cluster.zookeeper.znodes import BrokerIdZNode
from kwire.zookeeper import ConnectionLost

CHROOT = "/kwire/cluster-a"
IDS = f"{CHROOT}/brokers/ids"
B1 = BrokerInfo(1, "b1.example", 9092)
B2 = BrokerInfo(2, "b2.example", 9092, rack="r2")




def registration(zk: FakeZooKeeper, broker: BrokerInfo = B1,
                 **kwargs: object) -> BrokerRegistration:
    return BrokerRegistration(zk, CHROOT, broker, clock=ManualClock(), **kwargs)  # type: ignore[arg-type]


async def test_register_creates_the_ephemeral_znode() -> None:
    zk = FakeZooKeeper()
    reg = registration(zk)
    await reg.register()
    assert reg.path == f"{IDS}/1" and reg.registered
    assert zk.nodes[reg.path][0] == BrokerIdZNode.encode(B1, ManualClock().wall_ms())
    assert await zk.ephemeral_owner(reg.path) == zk.session_id
    await reg.register()  # again: already ours, fine
    assert await live_brokers(zk, CHROOT) == [B1]


async def test_duplicate_broker_id() -> None:
    zk = FakeZooKeeper()
    await registration(zk).register()
    other = zk.new_session()
    with pytest.raises(DuplicateBrokerId) as raised:
        await registration(other, BrokerInfo(1, "elsewhere", 9092)).register()
    assert str(raised.value) == (
        f"Error while creating ephemeral at {IDS}/1, node already exists and owner "
        f"'{zk.session_id}' does not match current session '{other.session_id}'")
    assert await live_brokers(zk, CHROOT) == [B1]  # the first one's, untouched


async def test_register_waits_for_a_previous_run_session_to_expire() -> None:
    """A restarted broker finds its previous run's znode, whose session has not
    expired yet: with a timeout it waits for it to go."""
    previous = FakeZooKeeper()
    await registration(previous).register()
    restarted = previous.new_session()
    reg = registration(restarted)
    waiting = asyncio.create_task(reg.register(timeout_ms=5000))
    await eventually(lambda: restarted.nodes.get(f"{IDS}/1") is not None)
    for _ in range(10):
        await asyncio.sleep(0)
    assert not waiting.done()
    previous.expire_session(reconnect=False)
    await asyncio.wait_for(waiting, 2)
    assert await restarted.ephemeral_owner(reg.path) == restarted.session_id


async def test_reregisters_after_the_session_is_lost() -> None:
    zk = FakeZooKeeper()
    reg = registration(zk)
    await reg.register()
    first_session = zk.session_id
    zk.expire_session(reconnect=False)
    assert reg.path not in zk.nodes  # gone with the session
    await eventually(lambda: not reg.registered)
    zk.reconnect()  # kazoo: a new session
    await eventually(lambda: reg.registered)
    assert zk.session_id != first_session
    assert await zk.ephemeral_owner(reg.path) == zk.session_id
    # and again, reconnecting at once as kazoo usually does
    zk.expire_session()
    await eventually(lambda: reg.registered and reg.path in zk.nodes)


async def test_reregistering_retries_until_zookeeper_answers() -> None:
    zk = FakeZooKeeper()
    reg = registration(zk)
    await reg.register()
    failures = 2

    def fail_creates(op: str, path: str) -> None:
        nonlocal failures
        if op == "create" and failures:
            failures -= 1
            raise ConnectionLost("ZooKeeper is slow today")

    zk.before = fail_creates
    zk.expire_session()
    await eventually(lambda: reg.registered)
    assert failures == 0 and reg.path in zk.nodes


async def test_a_lost_answer_to_the_create_is_ours() -> None:
    zk = FakeZooKeeper()
    real_create = zk.create
    calls = 0

    async def create_answer_lost(path: str, data: bytes = b"", **kwargs: bool) -> str:
        nonlocal calls
        calls += 1
        created = await real_create(path, data, **kwargs)
        if calls == 1:
            raise ConnectionLost("the answer was lost")
        return created

    zk.create = create_answer_lost  # type: ignore[method-assign]
    reg = registration(zk)
    await reg.register()
    assert reg.registered and calls == 1


async def test_the_create_sent_on_a_new_session() -> None:
    """kazoo queues a call made while it reconnects and sends it on the session it
    gets: the registration is that session's, not the one before the call."""
    zk = FakeZooKeeper()
    real_create = zk.create
    first_session = zk.session_id

    async def create_after_a_new_session(path: str, data: bytes = b"", **kwargs: bool) -> str:
        if zk.session_id == first_session:
            zk.expire_session()
        return await real_create(path, data, **kwargs)

    zk.create = create_after_a_new_session  # type: ignore[method-assign]
    reg = registration(zk)
    await reg.register()
    assert reg.registered and zk.session_id != first_session
    assert await zk.ephemeral_owner(reg.path) == zk.session_id


async def test_another_broker_took_the_id_while_we_were_away() -> None:
    zk = FakeZooKeeper()
    duplicates: list[DuplicateBrokerId] = []
    reg = registration(zk, on_duplicate=duplicates.append)
    await reg.register()
    zk.expire_session(reconnect=False)
    intruder = zk.new_session()
    await registration(intruder, BrokerInfo(1, "intruder", 9092)).register()
    zk.reconnect()
    await eventually(lambda: bool(duplicates))
    assert duplicates[0].owner == intruder.session_id
    assert not reg.registered


async def test_unregister_deletes_and_stops_keeping() -> None:
    zk = FakeZooKeeper()
    reg = registration(zk)
    await reg.register()
    await reg.unregister()
    assert reg.path not in zk.nodes and not reg.registered
    zk.expire_session()
    for _ in range(50):
        await asyncio.sleep(0)
    assert reg.path not in zk.nodes


async def test_unregister_leaves_another_sessions_znode() -> None:
    zk = FakeZooKeeper()
    reg = registration(zk)
    await reg.register()
    zk.expire_session(reconnect=False)
    await registration(zk.new_session()).register()
    zk.reconnect()
    await reg.unregister()
    assert reg.path in zk.nodes


async def test_close_keeps_the_znode_until_the_session_ends() -> None:
    zk = FakeZooKeeper()
    reg = registration(zk)
    await reg.register()
    await reg.close()
    assert reg.path in zk.nodes
    await zk.stop()
    assert reg.path not in zk.nodes


async def test_live_brokers_sorted_and_watched() -> None:
    zk = FakeZooKeeper()
    fired: list[str] = []
    assert await live_brokers(zk, CHROOT, lambda: fired.append("created")) == []
    b2 = zk.new_session()
    await registration(b2, B2).register()
    await eventually(lambda: fired == ["created"])  # /brokers/ids appeared
    assert await live_brokers(zk, CHROOT, lambda: fired.append("joined")) == [B2]
    await registration(zk, B1).register()
    await eventually(lambda: fired[-1:] == ["joined"])
    assert await live_brokers(zk, CHROOT, lambda: fired.append("left")) == [B1, B2]
    await b2.stop()
    await eventually(lambda: fired[-1:] == ["left"])
    assert await live_brokers(zk, CHROOT) == [B1]
    assert fired == ["created", "joined", "left"]


async def test_live_brokers_skips_what_it_cannot_read() -> None:
    """A broker that goes between the two reads, and znodes that are not brokers."""
    zk = FakeZooKeeper()
    await registration(zk, B1).register()
    other = zk.new_session()
    await registration(other, B2).register()
    await zk.create(f"{IDS}/not-a-number", b"{}")
    await zk.create(f"{IDS}/3", b"garbage")

    def b2_goes_after_the_list(op: str, path: str) -> None:
        if op == "get" and path == f"{IDS}/2" and f"{IDS}/2" in zk.nodes:
            del zk.nodes[f"{IDS}/2"]

    zk.before = b2_goes_after_the_list
    assert await live_brokers(zk, CHROOT) == [B1]
