"""BookKeeperClient against fake bookies: create, pipelined adds, reads, close, placement,
ledger ids, and the bookie connection's request matching."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kwire.log.bookkeeper.api import (
    LedgerClosed,
    LedgerConfig,
    LedgerError,
    LedgerUnauthorized,
    NoSuchLedger,
    NotEnoughBookies,
)
from kwire.log.bookkeeper.bookie import BookieUnavailable
from kwire.log.bookkeeper.metadata import (
    LAYOUT,
    LedgerState,
    decode_ledger_metadata,
    ledger_path,
)
from kwire.log.bookkeeper.wire import READENTRY, read_request
from kwire.log.bookkeeper.writer import LedgerWriter
from kwire.zookeeper import ConnectionLost

from .fake_bookie import FakeCluster

E3W2A2 = LedgerConfig(3, 2, 2)


async def _metadata(cluster: FakeCluster, ledger_id: int):  # type: ignore[no-untyped-def]
    data, _ = await cluster.zk.get(ledger_path("/ledgers", ledger_id))
    return decode_ledger_metadata(data)


async def test_create_add_read_close() -> None:
    async with FakeCluster(3) as cluster:
        client = cluster.client()
        writer = await client.create(E3W2A2, {"topic": b"t-0"})
        ids = await asyncio.gather(*(writer.add(b"entry-%d" % i) for i in range(50)))
        assert ids == list(range(50))
        assert writer.last_add_confirmed == 49
        assert writer.length == sum(len(b"entry-%d" % i) for i in range(50))
        assert await writer.read(10, 12) == [b"entry-10", b"entry-11", b"entry-12"]
        md = await _metadata(cluster, writer.ledger_id)
        assert md.state == LedgerState.OPEN and md.ctime is not None
        assert dict(md.custom_metadata) == {"application": b"kwire", "topic": b"t-0"}
        # striping: bookie at ensemble index i holds the entries whose write set has i
        ensemble = md.last_segment.ensemble
        for index, bookie_id in enumerate(ensemble):
            held = cluster.by_id(bookie_id).entry_ids(writer.ledger_id)
            assert held == [e for e in range(50) if index in ((e % 3), (e + 1) % 3)]
        assert await writer.close() == 49
        md = await _metadata(cluster, writer.ledger_id)
        assert (md.state, md.last_entry_id, md.length) == (LedgerState.CLOSED, 49,
                                                           writer.length)
        with pytest.raises(LedgerClosed):
            await writer.add(b"late")
        with pytest.raises(LedgerError):
            await writer.read(0, 50)
        reader = await cluster.client().open(writer.ledger_id, b"", recovery=False)
        assert reader.last_add_confirmed == 49 and reader.length == writer.length
        assert await reader.read(0, 49) == [b"entry-%d" % i for i in range(50)]


async def test_ids_layout_and_taken_ids() -> None:
    async with FakeCluster(3) as cluster:
        await cluster.zk.create(ledger_path("/ledgers", 1), b"taken", makepath=True)
        client = cluster.client()
        first = await client.create(E3W2A2)
        second = await client.create(E3W2A2)
        assert (first.ledger_id, second.ledger_id) == (0, 2)  # 1 was taken
        assert await cluster.zk.children("/ledgers/idgen") == []  # id nodes deleted
        assert (await cluster.zk.get("/ledgers/LAYOUT"))[0] == LAYOUT
        await client.delete(first.ledger_id)
        await client.delete(first.ledger_id)  # absent: not an error
        with pytest.raises(NoSuchLedger):
            await client.open(first.ledger_id, b"", recovery=False)


async def test_existing_layout_is_left_alone() -> None:
    async with FakeCluster(3) as cluster:
        await cluster.zk.create("/ledgers/LAYOUT", b"2\nsomething else:1")
        await cluster.client().create(E3W2A2)
        assert (await cluster.zk.get("/ledgers/LAYOUT"))[0] == b"2\nsomething else:1"


async def test_placement_skips_readonly_and_down_bookies() -> None:
    async with FakeCluster(4) as cluster:
        readonly, dead = cluster.bookies[0], cluster.bookies[1]
        await cluster.unregister(readonly)
        await cluster.zk.create(f"/ledgers/available/readonly/{readonly.bookie_id}")
        client = cluster.client()
        await dead.die()
        with pytest.raises(BookieUnavailable):  # the client learns it is down
            await client.ctx.bookies.get(dead.bookie_id).request(
                (READENTRY, 1, 0), (read_request(1, 0),), 1.0)
        writer = await client.create(LedgerConfig(2, 2, 2))
        assert set(writer.metadata.last_segment.ensemble) == {  # type: ignore[attr-defined]
            cluster.bookies[2].bookie_id, cluster.bookies[3].bookie_id}
        with pytest.raises(NotEnoughBookies):
            await client.create(E3W2A2)
        with pytest.raises(ValueError):
            await client.create(LedgerConfig(2, 3, 2))


async def test_a_restarted_bookie_marked_down_is_used_again_when_needed() -> None:
    async with FakeCluster(3) as cluster:
        client = cluster.client()
        bounced = cluster.bookies[0]
        await bounced.die()
        with pytest.raises(BookieUnavailable):  # the client marks it down
            await client.ctx.bookies.get(bounced.bookie_id).request(
                (READENTRY, 1, 0), (read_request(1, 0),), 1.0)
        assert client.ctx.bookies.is_down(bounced.bookie_id)
        await bounced.restart()
        # Three are needed: the down one is asked, answers, and is placed again.
        writer = await client.create(E3W2A2)
        assert bounced.bookie_id in writer.metadata.last_segment.ensemble  # type: ignore[attr-defined]
        assert not client.ctx.bookies.is_down(bounced.bookie_id)
        await writer.close()


async def test_bookie_ids_resolve_through_registrations() -> None:
    async with FakeCluster(3, named=True) as cluster:
        writer = await cluster.client().create(E3W2A2)
        assert await writer.add(b"x") == 0
        assert set(writer.metadata.last_segment.ensemble) == {  # type: ignore[attr-defined]
            "bookie-0", "bookie-1", "bookie-2"}


async def test_out_of_order_answers_complete_in_entry_order() -> None:
    async with FakeCluster(3) as cluster:
        for bookie in cluster.bookies:
            bookie.reorder = 4
        writer = await cluster.client().create(E3W2A2)
        assert isinstance(writer, LedgerWriter)
        done: list[int] = []
        futures = [writer.add(b"%d" % i) for i in range(24)]
        for fut in futures:
            fut.add_done_callback(lambda f: done.append(f.result()))
        async with asyncio.timeout(5):
            while len(done) < 24:
                for bookie in cluster.bookies:
                    bookie.flush_reordered()
                await asyncio.sleep(0.005)
        assert done == list(range(24))


def test_random_ack_orders_complete_in_order() -> None:
    @settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        asyncio.run(_random_ack_order(data))
    run()


async def _random_ack_order(data: st.DataObject) -> None:
    async with FakeCluster(3) as cluster:
        writer = await cluster.client().create(LedgerConfig(3, 3, 2))
        assert isinstance(writer, LedgerWriter)
        assert await writer.add(b"warm-up") == 0  # connections made
        for bookie in cluster.bookies:
            bookie.hold = True
        count = 12
        done: list[int] = []
        for i in range(count):
            writer.add(b"%d" % i).add_done_callback(lambda f: done.append(f.result()))
        async with asyncio.timeout(5):
            while sum(len(b.held) for b in cluster.bookies) < 3 * count:
                await asyncio.sleep(0.001)
        for bookie in data.draw(st.permutations(cluster.bookies)):
            order = data.draw(st.permutations(range(len(bookie.held))))
            bookie.release(list(order))
            await asyncio.sleep(0.002)
        async with asyncio.timeout(5):
            while len(done) < count:
                await asyncio.sleep(0.001)
        assert done == list(range(1, count + 1))
        assert writer.last_add_confirmed == count


async def test_open_without_recovery_sees_the_piggybacked_lac() -> None:
    async with FakeCluster(3) as cluster:
        writer = await cluster.client().create(E3W2A2)
        for i in range(5):
            await writer.add(b"%d" % i)  # one by one: each carries the previous as LAC
        reader = await cluster.client().open(writer.ledger_id, b"", recovery=False)
        assert reader.last_add_confirmed == 3  # entry 4 is not known to be confirmed yet
        assert reader.length == 4 and await reader.read(0, 3) == [b"0", b"1", b"2", b"3"]
        with pytest.raises(LedgerUnauthorized):
            await cluster.client().open(writer.ledger_id, b"wrong", recovery=False)


async def test_identical_requests_wait_for_each_other() -> None:
    async with FakeCluster(1) as cluster:
        bookie = cluster.bookies[0]
        conn = cluster.client().ctx.bookies.get(bookie.bookie_id)
        bookie.hold = True
        frame = read_request(5, 0)
        first = conn.request((READENTRY, 5, 0), (frame,), 2.0)
        second = conn.request((READENTRY, 5, 0), (frame,), 2.0)
        other = conn.request((READENTRY, 5, 1), (read_request(5, 1),), 2.0)
        async with asyncio.timeout(2):
            while len(bookie.requests) < 2:
                await asyncio.sleep(0.001)
        await asyncio.sleep(0.01)
        assert [r.entry_id for r in bookie.requests] == [0, 1]  # the duplicate waits
        bookie.release()
        assert (await first).entry_id == 0 and (await other).entry_id == 1
        assert (await second).entry_id == 0
        assert [r.entry_id for r in bookie.requests] == [0, 1, 0]


async def test_a_dead_bookie_fails_calls_promptly() -> None:
    async with FakeCluster(1) as cluster:
        bookie = cluster.bookies[0]
        conn = cluster.client().ctx.bookies.get(bookie.bookie_id)
        bookie.hold = True
        pending = conn.request((READENTRY, 5, 0), (read_request(5, 0),), 30.0)
        async with asyncio.timeout(2):
            while not bookie.requests:
                await asyncio.sleep(0.001)
        start = time.monotonic()
        await bookie.die()
        with pytest.raises(BookieUnavailable):
            await pending
        with pytest.raises(BookieUnavailable):  # reconnect refused
            await conn.request((READENTRY, 5, 0), (read_request(5, 0),), 30.0)
        assert time.monotonic() - start < 1.0
        assert conn.down


async def test_entries_above_the_frame_limit_are_refused() -> None:
    async with FakeCluster(3) as cluster:
        writer = await cluster.client().create(E3W2A2)
        assert isinstance(writer, LedgerWriter)
        with pytest.raises(ValueError):
            writer.add(b"x" * (5 * 1024 * 1024))
        assert await writer.add(b"fine") == 0


async def test_a_failed_address_lookup_fails_calls_and_is_retried() -> None:
    async with FakeCluster(1) as cluster:
        bookie = cluster.bookies[0]
        conn = cluster.client().ctx.bookies.get(bookie.bookie_id)

        def zk_down(op: str, path: str) -> None:
            raise ConnectionLost(path)
        cluster.zk.before = zk_down
        with pytest.raises(BookieUnavailable):
            await conn.request((READENTRY, 5, 0), (read_request(5, 0),), 2.0)
        cluster.zk.before = None
        response = await conn.request((READENTRY, 5, 0), (read_request(5, 0),), 2.0)
        assert response.entry_id == 0
