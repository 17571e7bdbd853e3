"""The ledger writer when bookies misbehave: timeouts and deaths (ensemble changes),
EFENCED answers, metadata compare-and-set conflicts, no replacement left."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from kwire.log.bookkeeper.api import (
    LedgerConfig,
    LedgerFenced,
    NotEnoughBookies,
)
from kwire.log.bookkeeper.metadata import (
    LedgerMetadata,
    LedgerState,
    decode_ledger_metadata,
    encode_ledger_metadata,
    ledger_path,
)
from kwire.log.bookkeeper.wire import ADDENTRY, EFENCED, FLAG_RECOVERY_ADD, Request
from kwire.log.bookkeeper.writer import LedgerWriter
from kwire.zookeeper import BadVersion

from .fake_bookie import FakeCluster

E3W2A2 = LedgerConfig(3, 2, 2)


async def _metadata(cluster: FakeCluster, ledger_id: int) -> LedgerMetadata:
    data, _ = await cluster.zk.get(ledger_path("/ledgers", ledger_id))
    return decode_ledger_metadata(data)


async def _create(cluster: FakeCluster, config: LedgerConfig = E3W2A2,
                  **client_args: int) -> LedgerWriter:
    writer = await cluster.client(**client_args).create(config)
    assert isinstance(writer, LedgerWriter)
    return writer


def _plain_add(req: Request) -> bool:
    return req.op == ADDENTRY and not req.flags & FLAG_RECOVERY_ADD


async def test_timeout_on_one_bookie_changes_the_ensemble() -> None:
    async with FakeCluster(4) as cluster:
        writer = await _create(cluster, add_timeout_ms=200, read_timeout_ms=200)
        for i in range(5):
            assert await writer.add(b"%d" % i) == i
        stuck = cluster.by_id(writer.metadata.last_segment.ensemble[1])
        stuck.frozen = True  # a stopped process: takes requests, answers nothing
        async with asyncio.timeout(3):
            ids = await asyncio.gather(*(writer.add(b"%d" % i) for i in range(5, 20)))
        assert ids == list(range(5, 20))
        md = await _metadata(cluster, writer.ledger_id)
        # entry 5 (write set {2, 0}) completes without it; entry 6 is the first it holds up
        assert [s.first_entry_id for s in md.segments] == [0, 6]
        assert stuck.bookie_id not in md.last_segment.ensemble
        spare = (set(md.last_segment.ensemble) - set(md.segments[0].ensemble)).pop()
        # the replacement got every entry of its index from the new segment on
        assert cluster.by_id(spare).entry_ids(writer.ledger_id) == \
            [e for e in range(6, 20) if 1 in (e % 3, (e + 1) % 3)]
        assert await writer.close() == 19
        reader = await cluster.client(read_timeout_ms=200).open(writer.ledger_id, b"",
                                                                 recovery=False)
        assert await reader.read(0, 19) == [b"%d" % i for i in range(20)]


async def test_dead_bookie_during_pipelined_adds_loses_nothing_acknowledged() -> None:
    async with FakeCluster(4) as cluster:
        writer = await _create(cluster)
        victim = cluster.by_id(writer.metadata.last_segment.ensemble[0])
        acked: list[int] = []
        futures: list[asyncio.Future[int]] = []
        for i in range(200):
            if i == 50:  # the first 50 acknowledged; the victim then goes quiet and dies
                await asyncio.gather(*futures)
                victim.hold = True
            fut = writer.add(b"e%d" % i)
            fut.add_done_callback(lambda f: acked.append(f.result()))
            futures.append(fut)
        async with asyncio.timeout(2):
            while not victim.held:
                await asyncio.sleep(0.001)
        await victim.die()
        async with asyncio.timeout(5):
            await asyncio.gather(*futures)
        assert acked == list(range(200))
        assert [s.first_entry_id for s in writer.metadata.segments] == [0, 50]
        await writer.close()
        reader = await cluster.client().open(writer.ledger_id, b"", recovery=True)
        assert reader.last_add_confirmed == 199
        assert await reader.read(0, 199) == [b"e%d" % i for i in range(200)]


async def test_fenced_answer_fails_every_pending_add() -> None:
    async with FakeCluster(3) as cluster:
        writer = await _create(cluster)
        for i in range(3):
            await writer.add(b"%d" % i)
        ensemble = writer.metadata.last_segment.ensemble
        fencer = cluster.by_id(ensemble[0])
        others = [cluster.by_id(b) for b in ensemble[1:]]
        for bookie in others:
            bookie.hold = True  # their acks arrive only after the EFENCED
        fencer.answer_rc = lambda req: EFENCED if req.op == ADDENTRY else None
        acked: list[int] = []

        def record(fut: asyncio.Future[int]) -> None:
            if fut.exception() is None:
                acked.append(fut.result())
        futures = [writer.add(b"%d" % i) for i in range(3, 12)]
        for fut in futures:
            fut.add_done_callback(record)
        results = await asyncio.gather(*futures, return_exceptions=True)
        assert all(isinstance(r, LedgerFenced) for r in results)
        for bookie in others:  # entries 4, 7, 10 have write sets without the fencer
            bookie.release()
        await asyncio.sleep(0.02)
        assert acked == [] and writer.last_add_confirmed == 2
        with pytest.raises(LedgerFenced):
            await writer.add(b"after")
        with pytest.raises(LedgerFenced):
            await writer.close()
        assert (await _metadata(cluster, writer.ledger_id)).state == LedgerState.OPEN


async def test_metadata_conflict_during_ensemble_change_is_retried() -> None:
    async with FakeCluster(4) as cluster:
        writer = await _create(cluster)
        await writer.add(b"0")
        path = ledger_path("/ledgers", writer.ledger_id)
        bumped: list[str] = []

        def bump(op: str, at: str) -> None:
            # someone rewrites the znode (same content) just before our CAS: BadVersion
            if op == "set" and at == path and not bumped:
                bumped.append(at)
                data, version = cluster.zk.nodes[at]
                cluster.zk.nodes[at] = (data, version + 1)
        cluster.zk.before = bump
        await cluster.by_id(writer.metadata.last_segment.ensemble[2]).die()
        async with asyncio.timeout(3):
            assert await asyncio.gather(*(writer.add(b"%d" % i) for i in range(1, 6))) == \
                [1, 2, 3, 4, 5]
        assert bumped
        md = await _metadata(cluster, writer.ledger_id)
        assert [s.first_entry_id for s in md.segments] == [0, 1]
        assert await writer.close() == 5


async def test_ensemble_change_after_recovery_began_is_fenced() -> None:
    async with FakeCluster(4) as cluster:
        writer = await _create(cluster)
        await writer.add(b"0")
        path = ledger_path("/ledgers", writer.ledger_id)
        # another client's recovery has done its first step: IN_RECOVERY by CAS
        md, version = await cluster.zk.get(path)
        recovering = dataclasses.replace(decode_ledger_metadata(md),
                                         state=LedgerState.IN_RECOVERY)
        await cluster.zk.set(path, encode_ledger_metadata(recovering), version)
        await cluster.by_id(writer.metadata.last_segment.ensemble[0]).die()
        results = await asyncio.gather(*(writer.add(b"%d" % i) for i in range(1, 6)),
                                       return_exceptions=True)
        assert all(isinstance(r, LedgerFenced) for r in results)
        assert writer.last_add_confirmed == 0
        assert (await _metadata(cluster, writer.ledger_id)).segments == recovering.segments


async def test_conflicts_that_never_end_fail_the_change() -> None:
    async with FakeCluster(4) as cluster:
        writer = await _create(cluster)
        await writer.add(b"0")

        def always(op: str, at: str) -> None:
            if op == "set":
                raise BadVersion(at)
        cluster.zk.before = always
        await cluster.by_id(writer.metadata.last_segment.ensemble[1]).die()
        results = await asyncio.gather(writer.add(b"1"), return_exceptions=True)
        assert not isinstance(results[0], int)
        assert writer.last_add_confirmed == 0


async def test_no_replacement_fails_pending_adds_and_close_keeps_the_acknowledged() -> None:
    async with FakeCluster(3) as cluster:
        writer = await _create(cluster)
        for i in range(4):
            await writer.add(b"%d" % i)
        await cluster.bookies[1].die()
        results = await asyncio.gather(*(writer.add(b"%d" % i) for i in range(4, 8)),
                                       return_exceptions=True)
        assert all(isinstance(r, NotEnoughBookies) for r in results)
        with pytest.raises(NotEnoughBookies):
            await writer.add(b"later")
        assert await writer.close() == 3
        md = await _metadata(cluster, writer.ledger_id)
        assert (md.state, md.last_entry_id, md.length) == (LedgerState.CLOSED, 3, 4)


async def test_error_answers_from_a_bookie_replace_it() -> None:
    async with FakeCluster(4) as cluster:
        writer = await _create(cluster)
        readonly = cluster.by_id(writer.metadata.last_segment.ensemble[1])
        readonly.answer_rc = lambda req: 105 if _plain_add(req) else None  # EREADONLY
        async with asyncio.timeout(3):
            assert await asyncio.gather(*(writer.add(b"%d" % i) for i in range(6))) == \
                list(range(6))
        assert readonly.bookie_id not in writer.metadata.last_segment.ensemble
        assert writer.metadata.segments[-1].first_entry_id == 0  # replaced in place
