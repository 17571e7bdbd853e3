"""The ledger-chain log (kwire/log/bookkeeper/log.py) beyond the PartitionLog
contract: takeover and fencing at both layers, the no-trace rule under
failures, repair, rolls, retention, producer snapshots, bounded searches and
the entry cache. Over the in-memory ledger client and ZooKeeper."""

from __future__ import annotations

import asyncio
import math

import pytest

from kwire.clock import ManualClock
from kwire.errors import StorageError
from kwire.log.api import (
    LogConfig,
    LogFenced,
    LogOffsets,
    ProducerSnapshots,
    ReadAhead,
    TimestampOffset,
    TopicPartition,
)
from kwire.log.bookkeeper.api import BookieError, LedgerConfig
from kwire.log.bookkeeper.ledger_list import (
    LedgerInfo,
    LedgerList,
    Owner,
    SnapshotRef,
    decode,
    encode,
)
from kwire.log.bookkeeper.log import LedgerLog
from kwire.log.bookkeeper.store import BookKeeperLogStore
from kwire.zookeeper import ConnectionLost

from .._support import async_test, headers, make_batch
from .fake_zk import FakeZooKeeper
from .memory_ledgers import MemoryLedgerClient

TP = TopicPartition("orders", 0)
ROOT = "/kwire/partitions"
PATH = f"{ROOT}/orders/0"


class Cluster:
    """One ZooKeeper and one set of bookies; brokers are stores over them."""

    def __init__(self) -> None:
        self.clock = ManualClock()
        self.zk = FakeZooKeeper()
        self.ledgers = MemoryLedgerClient()

    def store(self, cache_bytes: int = 64 << 20) -> BookKeeperLogStore:
        return BookKeeperLogStore(self.zk, self.ledgers, ROOT, LedgerConfig(),
                                  self.clock.wall_ms, cache_bytes=cache_bytes)

    async def open(self, config: LogConfig | None = None,
                   store: BookKeeperLogStore | None = None) -> LedgerLog:
        return await (store or self.store()).open(TP, config or LogConfig())

    def doc(self) -> LedgerList:
        return decode(self.zk.nodes[PATH][0])


async def read_all(log: LedgerLog) -> list[tuple[int, int]]:
    """(base offset, last offset) of every batch from the log start to the high watermark."""
    out: list[tuple[int, int]] = []
    offset = log.offsets().log_start_offset
    while offset < log.offsets().high_watermark:
        batch = headers((await log.read(offset, 1 << 20, True)).records)
        out += [(h.base_offset, h.last_offset) for h in batch]
        offset = batch[-1].next_offset
    return out


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


# -- the znode document ------------------------------------------------------------


def test_ledger_list_round_trip() -> None:
    doc = LedgerList(
        log_start_offset=5,
        ledgers=(LedgerInfo(7, 0, 120, 41, 5000, 1700, 97, 3, 1699),
                 LedgerInfo(9, 120, None, -1, 0, None, None, 4, 1800)),
        producer_snapshot=SnapshotRef(12, 120),
        owner=Owner("abc", "host", 42, 1800),
    )
    assert decode(encode(doc)) == doc
    assert b'"version":1' in encode(doc)
    assert decode(b"") == LedgerList()
    with pytest.raises(ValueError):
        decode(b'{"version": 99}')


# -- open, takeover, fencing --------------------------------------------------------


@async_test
async def test_open_creates_no_ledger_but_always_writes_the_list() -> None:
    cluster = Cluster()
    log = await cluster.open()
    assert cluster.ledgers.created == []  # idle partitions own no ledger
    first_owner = cluster.doc().owner
    assert first_owner is not None
    version = cluster.zk.nodes[PATH][1]
    await log.close()
    await cluster.open()
    assert cluster.zk.nodes[PATH][1] > version  # a takeover writes even when nothing changed
    owner = cluster.doc().owner
    assert owner is not None and owner.token != first_owner.token


@async_test
async def test_takeover_fences_the_old_owner() -> None:
    cluster = Cluster()
    old = await cluster.open()
    for n in range(3):
        await old.append(make_batch(n + 1), 0)  # 0 | 1-2 | 3-5
    new = await cluster.open()  # another broker: recovery fences old's ledger
    assert new.offsets() == LogOffsets(0, 6, 6, 6)
    with pytest.raises(LogFenced):
        await old.append(make_batch(1), 0)
    with pytest.raises(LogFenced):
        await old.append(make_batch(1), 0)  # and stays fenced
    with pytest.raises(LogFenced):
        await old.truncate_prefix(1)
    assert old.fenced is not None
    # Reads are still served from what the old owner knows.
    assert len(headers((await old.read(0, 1 << 20, True)).records)) == 3
    # Nothing the old owner tried after the takeover is visible to the new owner.
    assert (await new.append(make_batch(2), 0)).base_offset == 6
    assert await read_all(new) == [(0, 0), (1, 2), (3, 5), (6, 7)]


@async_test
async def test_takeover_fences_appends_in_flight() -> None:
    cluster = Cluster()
    old = await cluster.open()
    await old.append(make_batch(1), 0)
    cluster.ledgers.hold_adds()  # stored on bookies, acknowledgements delayed
    pending = [asyncio.ensure_future(old.append(make_batch(1), 0)) for _ in range(3)]
    await settle()
    new = await cluster.open()
    cluster.ledgers.release_adds()
    for task in pending:
        with pytest.raises(LogFenced):
            await task
    # They reached the bookies, so recovery kept them (a failed produce may still be
    # written, as in Kafka); the new owner serves them and appends after them.
    assert new.offsets().log_end_offset == 4
    assert (await new.append(make_batch(1), 0)).base_offset == 4


@async_test
async def test_an_old_owner_rolling_its_recovered_ledger_is_fenced() -> None:
    cluster = Cluster()
    old = await cluster.open(LogConfig(segment_bytes=1))
    await old.append(make_batch(1), 0)
    new = await cluster.open()
    await new.append(make_batch(1), 0)
    # old rolls (segment.bytes=1): closing its ledger, which the new owner recovered,
    # fails with LedgerFenced.
    with pytest.raises(LogFenced):
        await old.append(make_batch(1), 0)
    created_by_old = set(cluster.ledgers.created) - {i.ledger_id for i in cluster.doc().ledgers}
    assert all(i not in cluster.ledgers.ledgers for i in created_by_old)
    assert await read_all(new) == [(0, 0), (1, 1)]


@async_test
async def test_list_fencing_after_a_clean_close() -> None:
    cluster = Cluster()
    store = cluster.store()
    old = await cluster.open(LogConfig(segment_ms=100, retention_ms=-1), store=store)
    await old.append(make_batch(1), 0)
    # Roll old's ledger closed without a successor (segment.ms elapsed).
    cluster.clock.advance(101)
    await old.enforce_retention(cluster.clock.wall_ms())
    assert old.ledger_list.ledgers[-1].end_offset == 1
    new = await cluster.open()
    with pytest.raises(LogFenced):
        await old.append(make_batch(1), 0)  # its new ledger's CAS meets BadVersion
    await settle()
    leaked = set(cluster.ledgers.ledgers) - {i.ledger_id for i in cluster.doc().ledgers}
    assert leaked == set()  # the ledger it created was deleted
    assert (await new.append(make_batch(1), 0)).base_offset == 1


@async_test
async def test_an_empty_recovered_ledger_leaves_the_list_and_is_deleted() -> None:
    cluster = Cluster()
    old = await cluster.open()
    await old.append(make_batch(2), 0)
    cluster.ledgers.fail_adds(1)
    with pytest.raises(StorageError):
        await old.append(make_batch(1), 0)
    # Crash right after the next ledger was listed, before an entry reached it.
    cluster.ledgers.hold_adds()
    task = asyncio.ensure_future(old.append(make_batch(1), 0))
    await settle()
    listed = cluster.doc().ledgers
    assert listed[-1].end_offset is None
    empty = listed[-1].ledger_id
    cluster.ledgers.ledgers[empty].entries.clear()  # the add never reached a bookie
    new = await cluster.open()
    cluster.ledgers.release_adds()
    with pytest.raises(LogFenced):
        await task
    await settle()
    assert empty not in {i.ledger_id for i in cluster.doc().ledgers}
    assert empty not in cluster.ledgers.ledgers
    assert new.offsets() == LogOffsets(0, 2, 2, 2)


# -- failures leave no trace ----------------------------------------------------------


@async_test
async def test_a_failed_append_leaves_no_trace() -> None:
    cluster = Cluster()
    log = await cluster.open()
    await log.append(make_batch(2), 0)
    cluster.ledgers.fail_adds(1, stored=True)  # it even reached some bookies
    failed = make_batch(1, payload=b"failed")
    with pytest.raises(StorageError):
        await log.append(failed, 0)
    assert log.offsets().log_end_offset == 2
    again = await log.append(make_batch(3), 0)
    assert again.base_offset == 2  # the offsets were not taken
    assert await read_all(log) == [(0, 1), (2, 4)]
    assert b"failed" not in (await log.read(0, 1 << 20, True)).records
    # The failed ledger was closed at what was acknowledged, and a new one started.
    ledgers = cluster.doc().ledgers
    assert [(i.first_offset, i.end_offset, i.last_entry_id) for i in ledgers] == [
        (0, 2, 0), (2, None, -1)]
    await cluster.store().close()
    new = await cluster.open()  # a takeover sees no trace either
    assert await read_all(new) == [(0, 1), (2, 4)]
    assert b"failed" not in (await new.read(0, 1 << 20, True)).records


@async_test
async def test_a_failure_fails_every_append_in_flight_after_it() -> None:
    cluster = Cluster()
    log = await cluster.open()
    await log.append(make_batch(1), 0)
    cluster.ledgers.hold_adds()
    first = [asyncio.ensure_future(log.append(make_batch(1), 0)) for _ in range(2)]
    await settle()
    cluster.ledgers.fail_adds(1)
    doomed = [asyncio.ensure_future(log.append(make_batch(1), 0)) for _ in range(3)]
    await settle()
    assert log.offsets() == LogOffsets(0, 1, 1, 6)  # in flight: above the high watermark
    assert (await log.read(1, 1 << 20, True)).records == b""
    cluster.ledgers.release_adds()
    assert [(await t).base_offset for t in first] == [1, 2]
    for task in doomed:
        with pytest.raises(StorageError):
            await task
    assert (await log.append(make_batch(1), 0)).base_offset == 3
    assert [b for b, _ in await read_all(log)] == [0, 1, 2, 3]


@async_test
async def test_appends_during_a_failure_fail_fast_without_taking_offsets() -> None:
    cluster = Cluster()
    log = await cluster.open()
    await log.append(make_batch(1), 0)
    cluster.ledgers.fail_adds(1)
    failing = asyncio.ensure_future(log.append(make_batch(1), 0))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    with pytest.raises(StorageError):
        await log.append(make_batch(1), 0)
    with pytest.raises(StorageError):
        await failing
    await settle()
    assert (await log.append(make_batch(1), 0)).base_offset == 1


@async_test
async def test_a_broken_close_is_repaired_by_maintain() -> None:
    cluster = Cluster()
    store = cluster.store()
    log = await cluster.open(store=store)
    await log.append(make_batch(2), 0)
    cluster.ledgers.fail_adds(1, stored=True)
    cluster.ledgers.fail_next_close = BookieError("ZooKeeper is down")
    with pytest.raises(StorageError):
        await log.append(make_batch(1, payload=b"failed"), 0)
    await settle()
    assert log.broken is not None
    with pytest.raises(StorageError):
        await log.append(make_batch(1), 0)
    ledger_id = cluster.doc().ledgers[-1].ledger_id
    await store.maintain(cluster.clock.wall_ms())
    assert log.broken is None
    # Recovery found the failed entry on a bookie; the list keeps it out.
    assert cluster.ledgers.ledgers[ledger_id].last_entry_id == 1
    assert cluster.doc().ledgers[-1].last_entry_id == 0
    assert (await log.append(make_batch(1), 0)).base_offset == 2
    assert await read_all(log) == [(0, 1), (2, 2)]
    await store.close()
    assert await read_all(await cluster.open()) == [(0, 1), (2, 2)]


@async_test
async def test_a_list_update_with_an_unknown_outcome_is_repaired() -> None:
    cluster = Cluster()
    store = cluster.store()
    log = await cluster.open(LogConfig(segment_bytes=1), store=store)
    await log.append(make_batch(1), 0)

    def lose_connection(op: str, path: str) -> None:
        if op == "set" and path == PATH:
            cluster.zk.before = None
            raise ConnectionLost("connection lost")

    cluster.zk.before = lose_connection
    with pytest.raises(StorageError):
        await log.append(make_batch(1), 0)  # the roll's CAS fails: outcome unknown
    assert log.broken is not None
    await store.maintain(0)
    assert log.broken is None
    assert (await log.append(make_batch(1), 0)).base_offset == 1
    assert await read_all(log) == [(0, 0), (1, 1)]
    await settle()
    assert set(cluster.ledgers.ledgers) == {i.ledger_id for i in cluster.doc().ledgers}


@async_test
async def test_repair_finds_a_new_owner_and_fences() -> None:
    cluster = Cluster()
    store = cluster.store()
    log = await cluster.open(store=store)
    await log.append(make_batch(1), 0)
    cluster.ledgers.fail_adds(1)
    cluster.ledgers.fail_next_close = BookieError("down")
    with pytest.raises(StorageError):
        await log.append(make_batch(1), 0)
    await settle()
    assert log.broken is not None
    await cluster.open()  # another broker takes over meanwhile
    await store.maintain(0)
    assert log.fenced is not None
    with pytest.raises(LogFenced):
        await log.append(make_batch(1), 0)


# -- rolls, retention, DeleteRecords ----------------------------------------------------


@async_test
async def test_roll_by_size() -> None:
    cluster = Cluster()
    size = len(make_batch(1))
    log = await cluster.open(LogConfig(segment_bytes=3 * size))
    for _ in range(7):
        await log.append(make_batch(1), 0)
    ledgers = cluster.doc().ledgers
    assert [(i.first_offset, i.end_offset) for i in ledgers] == [(0, 3), (3, 6), (6, None)]
    assert [i.size for i in ledgers[:2]] == [3 * size, 3 * size]
    assert log.size_in_bytes() == 7 * size
    assert [b for b, _ in await read_all(log)] == list(range(7))


@async_test
async def test_roll_by_time_and_by_leader_epoch() -> None:
    cluster = Cluster()
    log = await cluster.open(LogConfig(segment_ms=1000, retention_ms=-1))
    await log.append(make_batch(1), 0)
    cluster.clock.advance(500)
    await log.append(make_batch(1), 0)
    cluster.clock.advance(600)
    await log.append(make_batch(1), 0)  # the ledger is 1100 ms old: a new one
    await log.append(make_batch(1), 5)  # a new leader epoch: a new one
    ledgers = cluster.doc().ledgers
    assert [(i.first_offset, i.leader_epoch) for i in ledgers] == [(0, 0), (2, 0), (3, 5)]
    # Retention's pass rolls an idle ledger past segment.ms (the next append opens one).
    cluster.clock.advance(1001)
    assert await cluster_store_retention(log, cluster.clock.wall_ms()) == 0
    assert cluster.doc().ledgers[-1].end_offset == 4
    assert (await log.append(make_batch(1), 5)).base_offset == 4


async def cluster_store_retention(log: LedgerLog, now_ms: int) -> int:
    return await log.enforce_retention(now_ms)


@async_test
async def test_retention_drops_whole_ledgers_and_deletes_them_after_the_list() -> None:
    cluster = Cluster()
    store = cluster.store()
    log = await cluster.open(LogConfig(segment_bytes=1, retention_ms=1000), store=store)
    now = cluster.clock.wall_ms()
    for ts in [now - 5000, now - 4000, now]:
        await log.append(make_batch(2, max_timestamp=ts), 0)
    ids = [i.ledger_id for i in cluster.doc().ledgers]
    seen_when_deleted: list[set[int]] = []
    delete = cluster.ledgers.delete

    async def checking_delete(ledger_id: int) -> None:
        seen_when_deleted.append({i.ledger_id for i in cluster.doc().ledgers})
        await delete(ledger_id)

    cluster.ledgers.delete = checking_delete  # type: ignore[method-assign]
    assert await store.enforce_retention(now) == 2
    await settle()
    assert cluster.ledgers.deleted == ids[:2]
    assert all(not (set(ids[:2]) & listed) for listed in seen_when_deleted)
    assert cluster.doc().log_start_offset == 4
    assert log.offsets() == LogOffsets(4, 6, 6, 6)


@async_test
async def test_truncate_prefix_drops_ledgers_below_the_new_start() -> None:
    cluster = Cluster()
    log = await cluster.open(LogConfig(segment_bytes=1))
    for _ in range(4):
        await log.append(make_batch(2), 0)  # 0-1 | 2-3 | 4-5 | 6-7, one ledger each
    ids = [i.ledger_id for i in cluster.doc().ledgers]
    assert await log.truncate_prefix(5) == 5
    await settle()
    assert [i.ledger_id for i in cluster.doc().ledgers] == ids[2:]
    assert cluster.ledgers.deleted == ids[:2]
    assert cluster.doc().log_start_offset == 5
    await log.close()
    assert (await cluster.open()).offsets() == LogOffsets(5, 8, 8, 8)


# -- producer snapshots ----------------------------------------------------------------


@async_test
async def test_producer_snapshot_round_trip_and_takeover() -> None:
    cluster = Cluster()
    log = await cluster.open()
    assert isinstance(log, ProducerSnapshots)
    assert await log.read_producer_snapshot() is None
    await log.append(make_batch(3), 0)
    await log.write_producer_snapshot(3, b"first")
    first_ledger = cluster.doc().producer_snapshot
    big = bytes(range(256)) * (5 * 4096 + 7)  # > 5 MiB: several entries
    await log.write_producer_snapshot(3, big)
    assert await log.read_producer_snapshot() == (3, big)
    await settle()
    assert first_ledger is not None and first_ledger.ledger_id in cluster.ledgers.deleted
    ref = cluster.doc().producer_snapshot
    assert ref is not None and cluster.ledgers.ledgers[ref.ledger_id].last_entry_id == 5
    new = await cluster.open()  # a crash and a takeover: the snapshot is there
    assert await new.read_producer_snapshot() == (3, big)
    await cluster.store().delete(TP)
    assert ref.ledger_id not in cluster.ledgers.ledgers


# -- reads and look-ups ----------------------------------------------------------------


@async_test
async def test_tail_reads_come_from_the_cache() -> None:
    cluster = Cluster()
    log = await cluster.open()
    for _ in range(10):
        await log.append(make_batch(1), 0)
    for offset in range(10):
        await log.read(offset, 1 << 20, True)
    assert cluster.ledgers.reads == 0


@async_test
async def test_catch_up_reads_read_ahead() -> None:
    cluster = Cluster()
    log = await cluster.open()
    size = len(make_batch(1))
    for _ in range(100):
        await log.append(make_batch(1), 0)
    await log.close()
    new = await cluster.open(store=cluster.store())
    offset = 0
    while offset < 100:
        got = headers((await new.read(offset, 5 * size, True)).records)
        assert got[0].base_offset == offset and len(got) == 5
        offset = got[-1].next_offset
    # Bookie reads bring the next fetch's entries too: ~half as many reads as fetches.
    assert cluster.ledgers.reads <= 12


@async_test
async def test_offset_lookups_after_a_takeover_read_a_bounded_number_of_entries() -> None:
    cluster = Cluster()
    log = await cluster.open()
    n = 1000
    for i in range(n):
        # Unequal batch sizes, so interpolation is not exact.
        await log.append(make_batch(1 + i % 3, max_timestamp=1000 + i), 0)
    bases = [b for b, _ in await read_all(log)]
    await log.close()
    new = await cluster.open(store=cluster.store(cache_bytes=1))  # no cache help
    bound = 1 + math.ceil(math.log2(n)) + 1  # probes, then the read itself
    for target in [1, 37, 500, 1234, 1997, 1998]:
        before = cluster.ledgers.reads
        batch = headers((await new.read(target, 1, True)).records)[0]
        assert batch.base_offset <= target <= batch.last_offset
        assert cluster.ledgers.reads - before <= bound
    for i in [0, 1, 499, 998, 999]:
        before = cluster.ledgers.reads
        found = await new.offset_for_timestamp(1000 + i)
        assert found == TimestampOffset(1000 + i, bases[i])
        assert cluster.ledgers.reads - before <= bound
    assert await new.offset_for_timestamp(1000 + n) is None


@async_test
async def test_a_recovered_ledger_max_timestamp_is_computed_once_and_stored() -> None:
    cluster = Cluster()
    old = await cluster.open()
    for ts in [300, 100, 500, 200]:
        await old.append(make_batch(1, max_timestamp=ts), 0)
    new = await cluster.open()  # no clean close: recovery
    assert cluster.doc().ledgers[0].max_timestamp is None
    assert await new.max_timestamp() == TimestampOffset(500, 2)
    info = cluster.doc().ledgers[0]
    assert (info.max_timestamp, info.max_timestamp_offset) == (500, 2)
    reads = cluster.ledgers.reads
    assert await new.offset_for_timestamp(150) == TimestampOffset(300, 0)
    assert await new.offset_for_timestamp(350) == TimestampOffset(500, 2)
    assert cluster.ledgers.reads == reads  # the scan left exact positions behind


@async_test
async def test_concurrent_appends_keep_order_with_adds_in_flight() -> None:
    cluster = Cluster()
    log = await cluster.open(LogConfig(segment_bytes=4 * len(make_batch(1))))
    cluster.ledgers.hold_adds()
    tasks = [asyncio.ensure_future(log.append(make_batch(1, payload=bytes([i]) * 20), 0))
             for i in range(30)]
    await settle()
    cluster.ledgers.release_adds()
    for _ in range(20):  # rolls happen as the queue drains
        await settle()
        cluster.ledgers.release_adds()
    results = [await t for t in tasks]
    assert [r.base_offset for r in results] == list(range(30))
    records = b""
    offset = 0
    while offset < 30:
        chunk = (await log.read(offset, 1 << 20, True)).records
        records += chunk
        offset = headers(chunk)[-1].next_offset
    assert [h.base_offset for h in headers(records)] == list(range(30))
    # The queue was split where rolls were due: at most 4 batches a ledger.
    assert all(i.last_entry_id < 4 for i in cluster.doc().ledgers)
    assert len(cluster.doc().ledgers) >= 8


@async_test
async def test_close_records_the_ledger_so_the_next_open_needs_no_recovery() -> None:
    cluster = Cluster()
    log = await cluster.open()
    await log.append(make_batch(2, max_timestamp=77), 0)
    await log.close()
    info = cluster.doc().ledgers[0]
    assert (info.end_offset, info.last_entry_id, info.max_timestamp) == (2, 0, 77)
    with pytest.raises(RuntimeError):
        await log.append(make_batch(1), 0)


@async_test
async def test_closing_a_broken_log_repairs_it_first() -> None:
    cluster = Cluster()
    store = cluster.store()
    log = await cluster.open(store=store)
    await log.append(make_batch(2), 0)
    cluster.ledgers.fail_adds(1, stored=True)
    cluster.ledgers.fail_next_close = BookieError("down")
    with pytest.raises(StorageError):
        await log.append(make_batch(1, payload=b"failed"), 0)
    await settle()
    assert log.broken is not None
    await store.close()
    info = cluster.doc().ledgers[-1]
    assert (info.end_offset, info.last_entry_id) == (2, 0)
    new = await cluster.open()
    assert await read_all(new) == [(0, 1)]
    assert b"failed" not in (await new.read(0, 1 << 20, True)).records


@async_test
async def test_a_ledger_whose_adds_all_failed_leaves_the_list() -> None:
    cluster = Cluster()
    log = await cluster.open()
    cluster.ledgers.fail_adds(1)
    with pytest.raises(StorageError):
        await log.append(make_batch(1), 0)
    await settle()
    assert cluster.doc().ledgers == ()
    assert cluster.ledgers.deleted == cluster.ledgers.created
    assert (await log.append(make_batch(1), 0)).base_offset == 0
    assert await read_all(log) == [(0, 0)]


@async_test
async def test_prefetch_loads_what_the_next_read_needs() -> None:
    cluster = Cluster()
    log = await cluster.open()
    for _ in range(20):
        await log.append(make_batch(1), 0)
    log.prefetch(5, 1 << 20)  # the tail is in the cache: nothing to start
    assert not log._prefetching
    await log.close()
    new = await cluster.open(store=cluster.store())
    assert isinstance(new, ReadAhead)
    new.prefetch(5, 1 << 20)
    new.prefetch(5, 1 << 20)  # one at a time per ledger
    assert len(new._prefetching) == 1
    reads = cluster.ledgers.reads
    records = (await new.read(5, 1 << 20, True)).records
    assert [h.base_offset for h in headers(records)] == list(range(5, 20))
    assert cluster.ledgers.reads - reads <= 2  # the prefetch's probe and range, no more
    new.prefetch(100, 1 << 20)  # out of range: ignored, never raises


def test_no_mixin_stub_is_left_unimplemented() -> None:
    """LedgerLog is assembled from mixins that declare what they call on each
    other with NotImplementedError stubs: the class order must let real ones win."""
    import inspect

    from kwire.log.bookkeeper.listing import LogList
    from kwire.log.bookkeeper.reads import LogReads
    from kwire.log.bookkeeper.upkeep import LogUpkeep

    for mixin in (LogList, LogReads, LogUpkeep):
        for name, member in vars(mixin).items():
            if callable(member) and "raise NotImplementedError" in inspect.getsource(member):
                resolved = getattr(LedgerLog, name)
                assert "raise NotImplementedError" not in inspect.getsource(resolved), name
