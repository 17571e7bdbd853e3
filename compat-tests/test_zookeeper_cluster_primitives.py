"""kwire's ZooKeeper building blocks of cluster mode against a real Apache
ZooKeeper: transactions (all or nothing), watches (on the event loop, once),
the controller election (two sessions, failover when the controller's session
closes, and when it EXPIRES behind a network partition), broker registration
(seen by other sessions, gone with its session, back after an expiry). The
same logic on the in-memory tree: tests/cluster/test_election.py and
test_registration.py.

The ZooKeeper is the session `bookkeeper` fixture's (compat-tests/conftest.py);
each test keeps its znodes under a chroot of its own. Without Java it skips.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable

import pytest
from bookkeeper_env import BookKeeperEnv
from kazoo.client import KazooClient

from kwire.cluster.api import BrokerInfo
from kwire.cluster.zookeeper.election import ControllerElection
from kwire.cluster.zookeeper.registration import (
    BrokerRegistration,
    DuplicateBrokerId,
    live_brokers,
)
from kwire.zookeeper import (
    BadVersion,
    Check,
    ConnectionLost,
    Create,
    Delete,
    NodeExists,
    NoNode,
    NotEmpty,
    SetData,
    ZooKeeper,
    split_chroot,
)

log = logging.getLogger("test_zookeeper_cluster_primitives")

# Sessions that may expire in a test: short (the test ZooKeeper's tickTime is
# 500 ms, so 4 s is within its 2..20 tick bounds) and calls that give up early.
SHORT_SESSION_MS = 4000
SHORT_CALL_S = 2.0


async def eventually(condition: Callable[[], bool], timeout_s: float = 10.0,
                     what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"{what} not reached within {timeout_s:g} s")
        await asyncio.sleep(0.02)


class Sessions:
    """One test's chroot and the kwire ZooKeeper sessions it opens (each one a
    broker's), all stopped at the end."""

    def __init__(self, env: BookKeeperEnv) -> None:
        self.env = env
        self.chroot = env.new_chroot()
        self.hosts, _ = split_chroot(env.zk_connect)
        self._open: list[ZooKeeper] = []

    async def open(self, hosts: str | None = None, session_timeout_ms: int = 10000,
                   call_timeout_s: float = 10.0) -> ZooKeeper:
        zk = ZooKeeper(hosts or self.hosts, session_timeout_ms=session_timeout_ms,
                       call_timeout_s=call_timeout_s)
        await zk.start()
        self._open.append(zk)
        return zk

    async def close(self) -> None:
        for zk in self._open:
            await zk.stop()


@pytest.fixture
async def sessions(bookkeeper: BookKeeperEnv) -> AsyncIterator[Sessions]:
    s = Sessions(bookkeeper)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def kazoo(bookkeeper: BookKeeperEnv) -> KazooClient:
    """The env's own kazoo client: what an operator's tool sees."""
    return bookkeeper.zk


class Partition:
    """A TCP proxy between one kwire session and ZooKeeper that the test can cut:
    that broker loses ZooKeeper while ZooKeeper and every other session carry
    on, so the server expires the broker's session as it would behind a real
    partition. While cut, connections are refused; heal() lets them through."""

    def __init__(self, target: str) -> None:
        host, _, port = target.rpartition(":")
        self._target = (host, int(port))
        self._cut = False
        self._links: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self.hosts = ""

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.hosts = f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            log.info("partition: refusing a connection")
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError as exc:
            log.warning("partition: cannot reach ZooKeeper: %s", exc)
            writer.transport.abort()
            return
        log.info("partition: connection %s through", writer.get_extra_info("peername"))
        self._links |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer, "to ZooKeeper"),
                             self._pipe(up_reader, writer, "from ZooKeeper"),
                             return_exceptions=True)
        self._links -= {writer, up_writer}

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    direction: str) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            log.info("partition: end of stream %s", direction)
        except Exception as exc:
            log.info("partition: %s %s", direction, exc)
            raise
        finally:
            writer.transport.abort()

    def cut(self) -> None:
        self._cut = True
        for writer in list(self._links):
            writer.transport.abort()

    def heal(self) -> None:
        self._cut = False

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()


# ---- transactions ---------------------------------------------------------------------


async def test_multi_is_all_or_nothing(sessions: Sessions, kazoo: KazooClient) -> None:
    zk = await sessions.open()
    c = sessions.chroot
    await zk.create(f"{c}/a", b"1")
    with pytest.raises(BadVersion):  # the failing Check stops the ops around it
        await zk.multi([Create(f"{c}/b", b"x"), Check(f"{c}/a", 5), SetData(f"{c}/a", b"2")])
    assert kazoo.exists(f"{c}/b") is None
    assert kazoo.get(f"{c}/a")[0] == b"1"
    # each failure as its own kwire error
    with pytest.raises(NoNode):
        await zk.multi([SetData(f"{c}/a", b"2"), Check(f"{c}/missing", 0)])
    with pytest.raises(NodeExists):
        await zk.multi([Create(f"{c}/a")])
    await zk.create(f"{c}/a/child")
    with pytest.raises(NotEmpty):
        await zk.multi([Delete(f"{c}/a")])
    assert kazoo.get(f"{c}/a")[0] == b"1"  # nothing of all that was applied
    # success: one result per op
    results = await zk.multi([
        Check(f"{c}/a", 0),
        Create(f"{c}/seq-", b"s", sequence=True),
        Create(f"{c}/eph", ephemeral=True),
        SetData(f"{c}/a", b"2", 0),
        Delete(f"{c}/a/child"),
    ])
    assert results[0] is None and results[2] == f"{c}/eph"
    assert isinstance(results[1], str) and results[1].startswith(f"{c}/seq-")
    assert results[3:] == [1, None]
    assert kazoo.get(f"{c}/a")[0] == b"2"
    assert await zk.ephemeral_owner(f"{c}/eph") == zk.session_id != 0
    assert await zk.ephemeral_owner(f"{c}/a") == 0
    assert await zk.ephemeral_owner(f"{c}/missing") is None


# ---- watches --------------------------------------------------------------------------


async def test_watches_run_once_on_the_loop(sessions: Sessions, kazoo: KazooClient) -> None:
    zk = await sessions.open()
    c = sessions.chroot
    loop_thread = threading.get_ident()
    fired: list[str] = []

    def watch(name: str) -> Callable[[], None]:
        def run() -> None:
            assert threading.get_ident() == loop_thread
            asyncio.get_running_loop()  # raises unless called on the loop
            fired.append(name)
        return run

    assert await zk.exists(f"{c}/n", watch("exists")) is None
    with pytest.raises(NoNode):
        await zk.get(f"{c}/n", watch("get of a missing znode: never"))
    kazoo.create(f"{c}/n", b"1")
    await eventually(lambda: fired == ["exists"], what="the exists watch")

    await zk.get(f"{c}/n", watch("get"))
    await zk.children(c, watch("children"))
    kazoo.set(f"{c}/n", b"2")
    kazoo.set(f"{c}/n", b"3")  # one-shot: the get watch ran already
    await eventually(lambda: fired == ["exists", "get"], what="the get watch")
    kazoo.create(f"{c}/m")
    await eventually(lambda: fired[-1] == "children", what="the children watch")

    await zk.get(f"{c}/n", watch("deleted"))
    kazoo.delete(f"{c}/n")
    await eventually(lambda: fired[-1] == "deleted", what="the watch of a deleted znode")
    await asyncio.sleep(0.3)
    assert fired == ["exists", "get", "children", "deleted"]


# ---- controller election --------------------------------------------------------------


class Candidate:
    def __init__(self, zk: ZooKeeper, chroot: str, broker_id: int) -> None:
        self.zk = zk
        self.events: list[tuple[int, int] | str] = []
        self.election = ControllerElection(
            zk, chroot, broker_id,
            on_elected=lambda epoch, version: self.events.append((epoch, version)),
            on_resigned=lambda: self.events.append("resigned"))
        self.data_path = f"{chroot}/data"

    async def write(self, zk: ZooKeeper, data: bytes) -> None:
        await zk.multi(self.election.fenced_ops([SetData(self.data_path, data)]))


async def test_election_and_failover_when_the_controller_closes(
        sessions: Sessions, kazoo: KazooClient) -> None:
    c = sessions.chroot
    kazoo.create(f"{c}/data")
    a = Candidate(await sessions.open(), c, 1)
    b = Candidate(await sessions.open(), c, 2)
    await a.election.start()
    await b.election.start()
    assert a.election.is_controller and not b.election.is_controller
    assert a.election.controller_id == b.election.controller_id == 1
    controller = json.loads(kazoo.get(f"{c}/controller")[0])
    assert controller["version"] == 2 and controller["brokerid"] == 1
    assert controller["kraftControllerEpoch"] == -1
    assert kazoo.get(f"{c}/controller_epoch")[0] == b"1"
    assert kazoo.exists(f"{c}/controller").ephemeralOwner == a.zk.session_id
    await a.write(a.zk, b"by 1")

    await a.election.close()
    await a.zk.stop()  # the session closes: /controller goes at once
    await eventually(lambda: b.election.is_controller, what="failover to broker 2")
    assert b.events == [(2, 2)] and b.election.controller_id == 2
    assert kazoo.get(f"{c}/controller_epoch")[0] == b"2"
    assert a.events == [(1, 1), "resigned"]
    # a write fenced with broker 1's epoch is refused by ZooKeeper itself
    stale = await sessions.open()
    with pytest.raises(BadVersion):
        await a.write(stale, b"stale")
    await b.write(b.zk, b"by 2")
    assert kazoo.get(f"{c}/data")[0] == b"by 2"

    await b.election.resign()  # controlled shutdown: gone at once
    assert kazoo.exists(f"{c}/controller") is None and not b.election.is_controller
    await b.election.close()


async def test_failover_when_the_controller_session_expires(
        sessions: Sessions, kazoo: KazooClient) -> None:
    """Broker 1, the controller, loses ZooKeeper (a partition, not a crash): the
    server expires its session, broker 2 takes over at the next epoch. Broker 1
    cannot know until it reaches ZooKeeper again; then it hears LOST, resigns,
    gets a new session, registers again, and its stale writes are refused."""
    c = sessions.chroot
    kazoo.create(f"{c}/data")
    partition = Partition(sessions.hosts)
    await partition.start()
    try:
        zk_a = await sessions.open(partition.hosts, SHORT_SESSION_MS, SHORT_CALL_S)
        a = Candidate(zk_a, c, 1)
        b = Candidate(await sessions.open(), c, 2)
        await a.election.start()
        await b.election.start()
        registration = BrokerRegistration(zk_a, c, BrokerInfo(1, "b1", 9092))
        await registration.register()
        first_session = zk_a.session_id
        assert a.election.is_controller

        partition.cut()
        await eventually(lambda: b.election.is_controller, timeout_s=30,
                         what="broker 2 elected after broker 1's session expired")
        assert b.election.epoch == 2
        assert kazoo.exists(f"{c}/brokers/ids/1") is None  # gone with the session
        assert a.election.is_controller  # broker 1 cannot know yet...
        with pytest.raises(ConnectionLost):  # ...and cannot write either
            await a.write(zk_a, b"partitioned")

        partition.heal()
        await eventually(lambda: "resigned" in a.events, timeout_s=30,
                         what="broker 1 hears its session expired")
        await eventually(lambda: a.election.controller_id == 2 and registration.registered,
                         timeout_s=30, what="broker 1 back on a new session")
        assert not a.election.is_controller and b.election.is_controller
        assert zk_a.session_id not in (0, first_session)
        assert kazoo.exists(f"{c}/brokers/ids/1").ephemeralOwner == zk_a.session_id
        with pytest.raises(BadVersion):
            await a.write(zk_a, b"stale")
        await b.write(b.zk, b"by 2")
        assert kazoo.get(f"{c}/data")[0] == b"by 2"
        await registration.close()
        await a.election.close()
        await b.election.close()
    finally:
        await partition.close()


# ---- broker registration --------------------------------------------------------------


async def test_registration_seen_by_others_and_gone_with_the_session(
        sessions: Sessions, kazoo: KazooClient) -> None:
    c = sessions.chroot
    zk1, zk2, observer = (await sessions.open(), await sessions.open(),
                          await sessions.open())
    b1, b2 = BrokerInfo(1, "b1.example", 9092), BrokerInfo(2, "b2.example", 9093, "r2")
    reg1 = BrokerRegistration(zk1, c, b1)
    await reg1.register()
    await BrokerRegistration(zk2, c, b2).register()

    body = json.loads(kazoo.get(f"{c}/brokers/ids/2")[0])
    assert body["version"] == 5 and body["endpoints"] == ["PLAINTEXT://b2.example:9093"]
    assert (body["host"], body["port"], body["rack"], body["jmx_port"]) == \
        ("b2.example", 9093, "r2", -1)
    assert kazoo.exists(f"{c}/brokers/ids/2").ephemeralOwner == zk2.session_id

    changed = asyncio.Event()
    assert await live_brokers(observer, c, changed.set) == [b1, b2]
    with pytest.raises(DuplicateBrokerId):  # another session, the same node.id
        await BrokerRegistration(observer, c, BrokerInfo(2, "elsewhere", 1)).register()

    await zk2.stop()  # broker 2's session closes: it leaves the live set at once
    await asyncio.wait_for(changed.wait(), 10)
    assert await live_brokers(observer, c) == [b1]

    await reg1.unregister()  # controlled shutdown
    assert kazoo.exists(f"{c}/brokers/ids/1") is None
    assert await live_brokers(observer, c) == []
