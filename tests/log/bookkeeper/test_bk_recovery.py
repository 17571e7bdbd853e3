"""Open with recovery against fake bookies: fencing, coverage, read-forward, re-replication
of entries found on too few bookies, closing, and what the old writer sees afterwards."""

from __future__ import annotations

import asyncio

import pytest

from kwire.log.bookkeeper.api import (
    BookieError,
    LedgerConfig,
    LedgerFenced,
    LedgerUnauthorized,
)
from kwire.log.bookkeeper.metadata import (
    LedgerMetadata,
    LedgerState,
    decode_ledger_metadata,
    ledger_path,
)
from kwire.log.bookkeeper.wire import ADDENTRY, FLAG_RECOVERY_ADD, Request
from kwire.log.bookkeeper.writer import LedgerWriter

from .fake_bookie import FakeCluster


async def _metadata(cluster: FakeCluster, ledger_id: int) -> LedgerMetadata:
    data, _ = await cluster.zk.get(ledger_path("/ledgers", ledger_id))
    return decode_ledger_metadata(data)


async def _create(cluster: FakeCluster, config: LedgerConfig, **kw: int) -> LedgerWriter:
    writer = await cluster.client(**kw).create(config)
    assert isinstance(writer, LedgerWriter)
    return writer


def _plain_add_of(entry_id: int):  # type: ignore[no-untyped-def]
    def match(req: Request) -> bool:
        return req.op == ADDENTRY and req.entry_id == entry_id \
            and not req.flags & FLAG_RECOVERY_ADD
    return match


async def test_recovery_of_a_closed_ledger_changes_nothing() -> None:
    async with FakeCluster(3) as cluster:
        writer = await _create(cluster, LedgerConfig(3, 2, 2))
        await asyncio.gather(*(writer.add(b"%d" % i) for i in range(7)))
        await writer.close()
        before = await cluster.zk.get(ledger_path("/ledgers", writer.ledger_id))
        reader = await cluster.client().open(writer.ledger_id, b"", recovery=True)
        assert (reader.last_add_confirmed, reader.length) == (6, 7)
        assert await cluster.zk.get(ledger_path("/ledgers", writer.ledger_id)) == before
        assert all(not b.ledgers.get(writer.ledger_id, None) or
                   not b.ledgers[writer.ledger_id].fenced for b in cluster.bookies)


async def test_recovery_rereplicates_an_entry_found_on_one_bookie() -> None:
    """W=2, A=2: entry 5 reached one bookie only, so it was never acknowledged. Recovery
    finds the copy, writes it again to its whole write set, and closes the ledger over it."""
    async with FakeCluster(2) as cluster:
        writer = await _create(cluster, LedgerConfig(2, 2, 2))
        for i in range(5):
            await writer.add(b"%d" % i)
        lone, other = (cluster.by_id(b) for b in writer.metadata.last_segment.ensemble)
        other.drop = _plain_add_of(5)  # the writer's entry 5 never reaches `other`
        pending = writer.add(b"5")
        async with asyncio.timeout(2):
            while 5 not in lone.entry_ids(writer.ledger_id):
                await asyncio.sleep(0.001)
        assert not pending.done()
        reader = await cluster.client().open(writer.ledger_id, b"", recovery=True)
        assert (reader.last_add_confirmed, reader.length) == (5, 6)
        assert 5 in other.entry_ids(writer.ledger_id)  # re-replicated
        assert other.requests[-1].flags & FLAG_RECOVERY_ADD or \
            any(r.flags & FLAG_RECOVERY_ADD for r in other.requests if r.op == ADDENTRY)
        md = await _metadata(cluster, writer.ledger_id)
        assert (md.state, md.last_entry_id, md.length) == (LedgerState.CLOSED, 5, 6)
        assert await reader.read(0, 5) == [b"%d" % i for i in range(6)]
        with pytest.raises(LedgerFenced):  # the old writer: its next add is refused
            await asyncio.wait_for(writer.add(b"6"), 2)
        assert writer.last_add_confirmed == 4


async def test_recovery_stops_at_an_entry_absent_from_enough_bookies() -> None:
    async with FakeCluster(3) as cluster:
        writer = await _create(cluster, LedgerConfig(3, 3, 2))
        for i in range(3):
            await writer.add(b"%d" % i)
        for bookie in cluster.bookies:  # entry 3 reaches no bookie; entry 4 reaches one
            bookie.drop = _plain_add_of(3)
        cluster.bookies[1].drop = lambda r: _plain_add_of(3)(r) or _plain_add_of(4)(r)
        cluster.bookies[2].drop = cluster.bookies[1].drop
        writer.add(b"3")
        writer.add(b"4")
        async with asyncio.timeout(2):
            while 4 not in cluster.bookies[0].entry_ids(writer.ledger_id):
                await asyncio.sleep(0.001)
        reader = await cluster.client().open(writer.ledger_id, b"", recovery=True)
        assert reader.last_add_confirmed == 2  # 3 is a gap: 4 was never acknowledged
        assert (await _metadata(cluster, writer.ledger_id)).last_entry_id == 2


async def test_recovery_with_a_bookie_down_still_covers() -> None:
    async with FakeCluster(4) as cluster:
        writer = await _create(cluster, LedgerConfig(3, 2, 2))
        ensemble = writer.metadata.last_segment.ensemble
        for i in range(9):
            await writer.add(b"%d" % i)
        await cluster.by_id(ensemble[2]).die()
        reader = await cluster.client(read_timeout_ms=300).open(writer.ledger_id, b"",
                                                                recovery=True)
        # entry 8 carried LAC 7; entry 8 (write set {2, 0}) is found on bookie 0 and
        # re-added, so the dead bookie's index gets a replacement in a new segment
        assert reader.last_add_confirmed == 8
        md = await _metadata(cluster, writer.ledger_id)
        assert md.state == LedgerState.CLOSED and md.last_entry_id == 8 and md.length == 9
        assert [s.first_entry_id for s in md.segments] == [0, 8]
        assert ensemble[2] not in md.last_segment.ensemble
        assert await reader.read(0, 8) == [b"%d" % i for i in range(9)]


async def test_recovery_without_coverage_fails_and_leaves_the_ledger_in_recovery() -> None:
    async with FakeCluster(3) as cluster:
        writer = await _create(cluster, LedgerConfig(3, 2, 2))
        await writer.add(b"0")
        ensemble = writer.metadata.last_segment.ensemble
        await cluster.by_id(ensemble[0]).die()
        await cluster.by_id(ensemble[1]).die()  # write set {0, 1}: nobody heard from
        with pytest.raises(BookieError):
            await cluster.client(read_timeout_ms=300).open(writer.ledger_id, b"",
                                                           recovery=True)
        assert (await _metadata(cluster, writer.ledger_id)).state == LedgerState.IN_RECOVERY


async def test_old_writer_after_recovery_acknowledges_nothing_outside_the_ledger() -> None:
    async with FakeCluster(3) as cluster:
        writer = await _create(cluster, LedgerConfig(3, 2, 2))
        acked: list[int] = []

        def record(fut: asyncio.Future[int]) -> None:
            if not fut.cancelled() and fut.exception() is None:
                acked.append(fut.result())
        for i in range(10):
            await writer.add(b"%d" % i)
        # entries 10..19 reach the bookies, but their acks are delayed past the recovery
        for bookie in cluster.bookies:
            bookie.hold_when = lambda r: r.op == ADDENTRY and not r.flags & FLAG_RECOVERY_ADD
        in_flight = [writer.add(b"%d" % i) for i in range(10, 20)]
        for fut in in_flight:
            fut.add_done_callback(record)
        async with asyncio.timeout(2):
            while sum(len(b.held) for b in cluster.bookies) < 20:
                await asyncio.sleep(0.001)
        reader = await cluster.client().open(writer.ledger_id, b"", recovery=True)
        closed_at = reader.last_add_confirmed
        for bookie in cluster.bookies:
            bookie.release()
        later = [writer.add(b"%d" % i) for i in range(20, 25)]
        for fut in later:
            fut.add_done_callback(record)
        results = await asyncio.gather(*later, return_exceptions=True)
        assert all(isinstance(r, LedgerFenced) for r in results)
        await asyncio.gather(*in_flight, return_exceptions=True)
        assert closed_at == 19  # everything that reached the bookies is in the ledger
        assert all(entry <= closed_at for entry in acked)
        assert await reader.read(0, closed_at) == [b"%d" % i for i in range(20)]
        with pytest.raises(LedgerFenced):
            await writer.close()
        assert (await _metadata(cluster, writer.ledger_id)).last_entry_id == 19


async def test_concurrent_recoveries_agree() -> None:
    async with FakeCluster(3) as cluster:
        writer = await _create(cluster, LedgerConfig(3, 2, 2))
        await asyncio.gather(*(writer.add(b"%d" % i) for i in range(30)))
        first, second = await asyncio.gather(
            cluster.client().open(writer.ledger_id, b"", recovery=True),
            cluster.client().open(writer.ledger_id, b"", recovery=True))
        assert first.last_add_confirmed == second.last_add_confirmed == 29
        assert first.length == second.length == sum(len(b"%d" % i) for i in range(30))


async def test_recovery_needs_the_password() -> None:
    async with FakeCluster(3) as cluster:
        writer = await cluster.client().create(LedgerConfig(3, 2, 2, password=b"pw"))
        await writer.add(b"0")
        with pytest.raises(LedgerUnauthorized):
            await cluster.client().open(writer.ledger_id, b"other", recovery=True)
        reader = await cluster.client().open(writer.ledger_id, b"pw", recovery=True)
        assert reader.last_add_confirmed == 0
