"""Producer state on cluster storage: snapshots go into the log's own storage (a
ledger), taken only once the log moved SNAPSHOT_MIN_OFFSETS past the last one,
and a new owner (a takeover, with no local files at all) loads the snapshot and
replays only the batches after it, so a retried batch is still a duplicate."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from kwire.broker import partitions as partitions_module
from kwire.broker.partitions import Partition, PartitionManager
from kwire.broker.producer_state import Duplicate
from kwire.errors import ErrorCode
from kwire.log.api import LogConfig, TopicPartition
from kwire.log.bookkeeper.api import LedgerConfig
from kwire.log.bookkeeper.store import BookKeeperLogStore
from kwire.records.batch import parse_header
from kwire.records.builder import build_batch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ is no package
from log.bookkeeper.fake_zk import FakeZooKeeper  # noqa: E402
from log.bookkeeper.memory_ledgers import MemoryLedgerClient  # noqa: E402

NOW = time.time_ns() // 1_000_000
TP = TopicPartition("orders", 0)


class Cluster:
    """What survives a broker: ZooKeeper and the bookies."""

    def __init__(self) -> None:
        self.zk = FakeZooKeeper()
        self.ledgers = MemoryLedgerClient()

    def broker(self) -> PartitionManager:
        store = BookKeeperLogStore(self.zk, self.ledgers, "/kwire/logs", LedgerConfig(),
                                   lambda: NOW)
        return PartitionManager(store, None, now_ms=lambda: NOW)


async def _open(manager: PartitionManager) -> Partition:
    return await manager.open(TP, 0, LogConfig(), log_append_time=False,
                              max_message_bytes=1 << 20)


async def _produce(partition: Partition, producer_id: int, seq: int) -> int:
    batch = bytearray(build_batch([(None, b"v", [])] * 10, base_timestamp=NOW,
                                  producer_id=producer_id, producer_epoch=0, base_sequence=seq))
    outcome = await partition.append(batch, parse_header(batch), NOW)
    assert outcome.error_code == ErrorCode.NONE
    return outcome.base_offset


async def test_a_new_owner_replays_only_what_follows_the_snapshot(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(partitions_module, "SNAPSHOT_MIN_OFFSETS", 50)
    cluster = Cluster()
    first = cluster.broker()
    partition = await _open(first)
    for i in range(4):  # 40 records: below the threshold, no snapshot yet
        await _produce(partition, 7, i * 10)
    assert await first.write_log_snapshots() == 0
    for i in range(4, 6):  # 60 records: a snapshot at 60
        await _produce(partition, 7, i * 10)
    assert await first.write_log_snapshots() == 1
    assert partition.snapshot_offset == 60
    tail = await _produce(partition, 8, 0)  # after the snapshot: found by the replay
    # kill -9: no clean close; a new owner takes the partition over.
    second = cluster.broker()
    taken = await _open(second)
    assert taken.snapshot_offset == 60  # the replay started at the snapshot
    assert isinstance(taken.producers.check(7, 0, 50, 59), Duplicate)
    duplicate = taken.producers.check(8, 0, 0, 9)
    assert isinstance(duplicate, Duplicate) and duplicate.first_offset == tail
    # The old owner was fenced by the takeover: it takes no more writes.
    batch = bytearray(build_batch([(None, b"v", [])], base_timestamp=NOW))
    outcome = await partition.append(batch, parse_header(batch), NOW)
    assert outcome.error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER and partition.fenced


async def test_snapshots_are_not_taken_for_logs_that_keep_none() -> None:
    from kwire.log.memory import MemoryLogStore

    manager = PartitionManager(MemoryLogStore(), None, now_ms=lambda: NOW)
    partition = await _open(manager)
    await _produce(partition, 7, 0)
    assert await manager.write_log_snapshots() == 0
