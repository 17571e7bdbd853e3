"""The PartitionLog / LogStore contract, run against every implementation.

Each test states a behaviour documented in kwire/log/api.py. Retention tests
use segment.bytes=1 so the local log keeps one batch per segment (and the
ledger log one batch per ledger), which is the granularity the in-memory log
deletes at.

Implementations: "memory", "local" (a data dir), and "ledgers": the BookKeeper
ledger-chain log over an in-memory ledger client and ZooKeeper, where
`restart` is a takeover by a new store. compat-tests/test_ledger_log_real.py
runs these same tests on real ZooKeeper and bookies by overriding `env`.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from kwire.clock import ManualClock
from kwire.log.api import (
    LogConfig,
    LogOffsets,
    LogStore,
    OffsetOutOfRange,
    PartitionLog,
    TimestampOffset,
    TopicPartition,
)
from kwire.log.bookkeeper.api import LedgerConfig
from kwire.log.bookkeeper.store import BookKeeperLogStore
from kwire.log.local import LocalLogStore
from kwire.log.local._batches import BatchHeader
from kwire.log.memory import MemoryLogStore

from ._support import async_test, headers, make_batch
from .bookkeeper.fake_zk import FakeZooKeeper
from .bookkeeper.memory_ledgers import MemoryLedgerClient

TP = TopicPartition("orders", 0)
CONFIG = LogConfig()


class Env:
    """One implementation under test, with a manual clock and a way to restart."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self.clock = ManualClock()
        self.data_dir = tmp_path / "data"
        self.zk = FakeZooKeeper()
        self.ledgers = MemoryLedgerClient()
        self.store: LogStore = self._new_store()

    def _new_store(self) -> LogStore:
        if self.kind == "memory":
            return MemoryLogStore(self.clock.wall_ms)
        if self.kind == "ledgers":
            return BookKeeperLogStore(self.zk, self.ledgers, "/kwire/partitions",
                                      LedgerConfig(), self.clock.wall_ms)
        return LocalLogStore(self.data_dir, self.clock.wall_ms)

    async def open(self, config: LogConfig = CONFIG, tp: TopicPartition = TP) -> PartitionLog:
        return await self.store.open(tp, config)

    async def restart(self) -> None:
        """Close the store cleanly and start a new one over the same data."""
        await self.store.close()
        if self.kind != "memory":  # memory data lives in the store object itself
            self.store = self._new_store()


@pytest.fixture(params=["memory", "local", "ledgers"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Env:
    return Env(request.param, tmp_path)


async def append_all(log: PartitionLog, *batches: bytearray) -> None:
    for batch in batches:
        await log.append(batch, 0)


async def read_all(log: PartitionLog) -> list[BatchHeader]:
    """Every batch from the log start, reading on as a consumer does (a read may
    stop at a segment end)."""
    out: list[BatchHeader] = []
    offset = log.offsets().log_start_offset
    while offset < log.offsets().log_end_offset:
        out += headers((await log.read(offset, 1 << 20, True)).records)
        offset = out[-1].next_offset
    return out


@async_test
async def test_empty_log(env: Env) -> None:
    log = await env.open()
    assert log.tp == TP
    assert log.offsets() == LogOffsets(0, 0, 0, 0)
    assert log.size_in_bytes() == 0
    result = await log.read(0, 1024, True)
    assert result.records == b""
    assert (result.high_watermark, result.last_stable_offset, result.log_start_offset) == (0, 0, 0)
    with pytest.raises(OffsetOutOfRange):
        await log.read(1, 1024, True)
    assert await log.offset_for_timestamp(0) is None
    assert await log.max_timestamp() is None


@async_test
async def test_append_assigns_offsets_in_place(env: Env) -> None:
    log = await env.open()
    batches = [make_batch(1), make_batch(3), make_batch(2)]
    results = [await log.append(b, leader_epoch=7) for b in batches]
    assert [(r.base_offset, r.last_offset, r.log_start_offset) for r in results] == [
        (0, 0, 0), (1, 3, 0), (4, 5, 0),
    ]
    for batch, base in zip(batches, [0, 1, 4], strict=True):
        assert int.from_bytes(batch[0:8], "big") == base
        assert int.from_bytes(batch[12:16], "big") == 7  # partition leader epoch
    assert log.offsets() == LogOffsets(0, 6, 6, 6)
    assert log.size_in_bytes() == sum(len(b) for b in batches)


@async_test
async def test_read_returns_stored_bytes_from_the_batch_holding_the_offset(env: Env) -> None:
    log = await env.open()
    batches = [make_batch(1), make_batch(3, payload_size=50), make_batch(2)]
    await append_all(log, *batches)
    for offset, first in [(0, 0), (1, 1), (2, 1), (3, 1), (4, 2), (5, 2)]:
        result = await log.read(offset, 1 << 20, False)
        assert result.records == b"".join(bytes(b) for b in batches[first:])
        assert (result.high_watermark, result.last_stable_offset) == (6, 6)


@async_test
async def test_read_max_bytes_returns_whole_batches(env: Env) -> None:
    log = await env.open()
    a, b, c = make_batch(1, payload_size=100), make_batch(1, payload_size=10), make_batch(1)
    await append_all(log, a, b, c)
    result = await log.read(0, len(a) + len(b) - 1, False)
    assert result.records == bytes(a)
    result = await log.read(0, len(a) + len(b), False)
    assert result.records == bytes(a) + bytes(b)
    # The first batch alone exceeds max_bytes: only with min_one_batch is it returned.
    assert (await log.read(0, 10, True)).records == bytes(a)
    assert (await log.read(0, 10, False)).records == b""
    assert (await log.read(0, 0, True)).records == bytes(a)


@async_test
async def test_read_at_and_past_the_log_end(env: Env) -> None:
    log = await env.open()
    await append_all(log, make_batch(2))
    assert (await log.read(2, 1024, True)).records == b""
    with pytest.raises(OffsetOutOfRange):
        await log.read(3, 1024, True)
    with pytest.raises(OffsetOutOfRange):
        await log.read(-1, 1024, True)


@async_test
async def test_concurrent_appends_get_offsets_in_call_order(env: Env) -> None:
    log = await env.open()
    batches = [make_batch(i % 3 + 1, payload=bytes([i]) * 10) for i in range(20)]
    results = await asyncio.gather(*(log.append(b, 0) for b in batches))
    expected_base = 0
    for batch, result in zip(batches, results, strict=True):
        assert result.base_offset == expected_base
        expected_base = result.last_offset + 1
        assert int.from_bytes(batch[0:8], "big") == result.base_offset
    stored = (await log.read(0, 1 << 20, True)).records
    assert stored == b"".join(bytes(b) for b in batches)


@async_test
async def test_offset_for_timestamp(env: Env) -> None:
    log = await env.open()
    # Timestamps need not increase; offsets 0 | 1-2 | 3 | 4-6
    for records, ts in [(1, 100), (2, 300), (1, 200), (3, 400)]:
        await log.append(make_batch(records, max_timestamp=ts), 0)
    assert await log.offset_for_timestamp(0) == TimestampOffset(100, 0)
    assert await log.offset_for_timestamp(100) == TimestampOffset(100, 0)
    assert await log.offset_for_timestamp(101) == TimestampOffset(300, 1)
    assert await log.offset_for_timestamp(250) == TimestampOffset(300, 1)
    assert await log.offset_for_timestamp(301) == TimestampOffset(400, 4)
    assert await log.offset_for_timestamp(400) == TimestampOffset(400, 4)
    assert await log.offset_for_timestamp(401) is None


@async_test
async def test_offset_for_timestamp_respects_the_log_start(env: Env) -> None:
    log = await env.open()
    await log.append(make_batch(3, max_timestamp=100), 0)
    await log.append(make_batch(1, max_timestamp=200), 0)
    await log.truncate_prefix(2)
    assert await log.offset_for_timestamp(50) == TimestampOffset(100, 2)


@async_test
async def test_max_timestamp_is_the_first_batch_to_reach_it(env: Env) -> None:
    log = await env.open()
    for records, ts in [(1, 100), (2, 400), (1, 200), (3, 400)]:
        await log.append(make_batch(records, max_timestamp=ts), 0)
    # KIP-734: the last offset of the batch holding the largest timestamp.
    assert await log.max_timestamp() == TimestampOffset(400, 2)


@async_test
async def test_truncate_prefix(env: Env) -> None:
    log = await env.open()
    batches = [make_batch(2), make_batch(2), make_batch(2)]  # 0-1 | 2-3 | 4-5
    await append_all(log, *batches)
    assert await log.truncate_prefix(3) == 3
    assert log.offsets() == LogOffsets(3, 6, 6, 6)
    with pytest.raises(OffsetOutOfRange):
        await log.read(2, 1024, True)
    result = await log.read(3, 1024, True)
    assert [h.base_offset for h in headers(result.records)][0] == 2  # the batch holding 3
    assert result.log_start_offset == 3
    assert await log.truncate_prefix(1) == 3  # never moves back
    with pytest.raises(OffsetOutOfRange):
        await log.truncate_prefix(7)
    appended = await log.append(make_batch(1), 0)
    assert (appended.base_offset, appended.log_start_offset) == (6, 3)
    assert await log.truncate_prefix(7) == 7
    assert (await log.read(7, 1024, True)).records == b""
    assert log.offsets() == LogOffsets(7, 7, 7, 7)


@async_test
async def test_truncate_prefix_survives_a_restart(env: Env) -> None:
    log = await env.open()
    await append_all(log, make_batch(2), make_batch(2))
    await log.truncate_prefix(3)
    await env.restart()
    log = await env.open()
    assert log.offsets() == LogOffsets(3, 4, 4, 4)


@async_test
async def test_restart_keeps_data_and_offsets(env: Env) -> None:
    log = await env.open()
    batches = [make_batch(i + 1, max_timestamp=1000 + i) for i in range(5)]
    await append_all(log, *batches)
    before = (await log.read(0, 1 << 20, True)).records
    await env.restart()
    log = await env.open()
    assert log.offsets() == LogOffsets(0, 15, 15, 15)
    assert (await log.read(0, 1 << 20, True)).records == before
    assert await log.max_timestamp() == TimestampOffset(1004, 14)
    assert (await log.append(make_batch(1), 0)).base_offset == 15


@async_test
async def test_open_twice_gives_the_open_log(env: Env) -> None:
    log = await env.open()
    await log.append(make_batch(1), 0)
    again = await env.open(dataclasses.replace(CONFIG, retention_ms=5))
    assert again is log


@async_test
async def test_close_then_open_again(env: Env) -> None:
    log = await env.open()
    await log.append(make_batch(2), 0)
    await log.close()
    log = await env.open()
    assert log.offsets().log_end_offset == 2


@async_test
async def test_list_and_delete(env: Env) -> None:
    other = TopicPartition("orders", 1)
    log = await env.open()
    await log.append(make_batch(1), 0)
    await env.open(tp=other)
    assert env.store.list() == [TP, other]
    await env.store.delete(TP)
    assert env.store.list() == [other]
    await env.store.delete(TopicPartition("missing", 0))  # deleting nothing is fine
    recreated = await env.open()
    assert recreated.offsets() == LogOffsets(0, 0, 0, 0)


@async_test
async def test_append_refuses_what_is_not_one_batch(env: Env) -> None:
    log = await env.open()
    with pytest.raises(ValueError):
        await log.append(bytearray(b"\x00" * 70), 0)
    with pytest.raises(ValueError):
        await log.append(make_batch(1) + b"trailing", 0)
    assert log.offsets().log_end_offset == 0


@async_test
async def test_retention_by_time(env: Env) -> None:
    config = LogConfig(segment_bytes=1, retention_ms=1000)
    log = await env.open(config)
    now = env.clock.wall_ms()
    for ts in [now - 5000, now - 2000, now - 500, now]:
        await log.append(make_batch(2, max_timestamp=ts), 0)
    assert await env.store.enforce_retention(now) == 2
    assert log.offsets() == LogOffsets(4, 8, 8, 8)
    with pytest.raises(OffsetOutOfRange):
        await log.read(3, 1024, True)
    assert [h.base_offset for h in headers((await log.read(4, 1 << 20, True)).records)][0] == 4
    # Everything expired: the log empties but keeps its end offset.
    assert await env.store.enforce_retention(now + 10_000) == 2
    assert log.offsets() == LogOffsets(8, 8, 8, 8)
    assert (await log.append(make_batch(1), 0)).base_offset == 8


@async_test
async def test_retention_by_size(env: Env) -> None:
    log = await env.open(LogConfig(segment_bytes=1))
    now = env.clock.wall_ms()
    batches = [make_batch(1, max_timestamp=now, payload_size=100) for _ in range(5)]
    await append_all(log, *batches)
    size = len(batches[0])
    # Kafka deletes a segment only while what remains is still >= retention.bytes.
    log.reconfigure(LogConfig(segment_bytes=1, retention_ms=-1, retention_bytes=3 * size - 1))
    assert await env.store.enforce_retention(now) == 2
    log.reconfigure(LogConfig(segment_bytes=1, retention_ms=-1, retention_bytes=2 * size))
    assert await env.store.enforce_retention(now) == 1
    assert log.offsets().log_start_offset == 3
    assert [h.base_offset for h in await read_all(log)] == [3, 4]


@async_test
async def test_retention_disabled_keeps_everything(env: Env) -> None:
    log = await env.open(LogConfig(segment_bytes=1, retention_ms=-1, retention_bytes=-1))
    await append_all(log, make_batch(1, max_timestamp=0), make_batch(1, max_timestamp=0))
    assert await env.store.enforce_retention(env.clock.wall_ms() + 10**12) == 0
    assert log.offsets().log_start_offset == 0


@async_test
async def test_flush_before_ack_and_flush_due(env: Env) -> None:
    log = await env.open(LogConfig(flush_messages=1, flush_ms=10))
    await log.append(make_batch(3), 0)
    env.clock.advance(20)
    await env.store.flush_due(env.clock.wall_ms())
    assert log.offsets().log_end_offset == 3
