"""Partition transaction state survives reopening: replay of the stored batches
(markers read whole) and the clean-shutdown snapshot (version 2) give the same
ongoing transactions, LSO and aborted index; coordinator-origin appends."""

from __future__ import annotations

import time
from pathlib import Path

from kwire.broker.partitions import Partition, PartitionManager
from kwire.broker.txn_index import AbortedTxn
from kwire.errors import ErrorCode
from kwire.log.api import LogConfig, TopicPartition
from kwire.log.memory import MemoryLogStore
from kwire.records.batch import parse_header
from kwire.records.builder import build_batch

NOW = time.time_ns() // 1_000_000
TP = TopicPartition("t", 0)


async def _open(manager: PartitionManager) -> Partition:
    return await manager.open(TP, 0, LogConfig(), log_append_time=False,
                              max_message_bytes=1 << 20)


async def _txn(partition: Partition, pid: int, seq: int, transactional: bool = True,
               from_coordinator: bool = False) -> ErrorCode:
    batch = bytearray(build_batch([(None, b"v", ())], NOW, pid, 0, seq,
                                  transactional=transactional))
    outcome = await partition.append(batch, parse_header(batch), NOW,
                                     from_coordinator=from_coordinator)
    return outcome.error_code


async def _fill(partition: Partition) -> None:
    assert await _txn(partition, 1, 0) == ErrorCode.NONE  # 0
    assert await _txn(partition, 2, 0) == ErrorCode.NONE  # 1
    assert await partition.write_txn_marker(1, 0, 3, False, NOW) == ErrorCode.NONE  # 2
    assert await _txn(partition, 3, 0) == ErrorCode.NONE  # 3
    assert await partition.write_txn_marker(3, 0, 3, True, NOW) == ErrorCode.NONE  # 4
    assert partition.offsets().last_stable_offset == 1
    assert partition.aborted_transactions(0, 5) == [AbortedTxn(1, 0, 2, 1)]


async def test_replay_rebuilds_transactions(tmp_path: Path) -> None:
    store = MemoryLogStore()
    await _fill(await _open(PartitionManager(store)))
    reopened = await _open(PartitionManager(store))  # no snapshot dir: replay
    assert reopened.offsets().last_stable_offset == 1
    assert reopened.producers.txns.ongoing() == {2: 1}
    assert reopened.aborted_transactions(0, 5) == [AbortedTxn(1, 0, 2, 1)]
    entry = reopened.producers.get(3)
    assert entry is not None and entry.coordinator_epoch == 3
    # The state is live: producer 2's commit makes everything stable.
    assert await reopened.write_txn_marker(2, 0, 3, True, NOW) == ErrorCode.NONE
    assert reopened.offsets().last_stable_offset == 6 == reopened.offsets().high_watermark


async def test_snapshot_keeps_transactions(tmp_path: Path) -> None:
    store = MemoryLogStore()
    manager = PartitionManager(store, tmp_path)
    await _fill(await _open(manager))
    await manager.close()
    assert (tmp_path / "t-0.json").exists()
    reopened = await _open(PartitionManager(store, tmp_path))
    assert not (tmp_path / "t-0.json").exists()  # the snapshot was used
    assert reopened.producers.txns.ongoing() == {2: 1}
    assert reopened.aborted_transactions(0, 5) == [AbortedTxn(1, 0, 2, 1)]


async def test_log_start_drops_aborted_entries(tmp_path: Path) -> None:
    partition = await _open(PartitionManager(MemoryLogStore()))
    await _fill(partition)
    await partition.log.truncate_prefix(3)
    assert partition.aborted_transactions(0, 5) == []


async def test_coordinator_appends_skip_sequences() -> None:
    partition = await _open(PartitionManager(MemoryLogStore()))
    assert await _txn(partition, 7, 0) == ErrorCode.NONE
    # Sequence -1 written by the broker itself (TxnOffsetCommit) is accepted...
    batch = bytearray(build_batch([(b"k", b"v", ())], NOW, 7, 0, -1, transactional=True))
    outcome = await partition.append(batch, parse_header(batch), NOW, from_coordinator=True)
    assert outcome.error_code == ErrorCode.NONE
    # ...but an older epoch is not.
    batch = bytearray(build_batch([(b"k", b"v", ())], NOW, 7, 0, -1, transactional=True))
    assert await partition.write_txn_marker(7, 1, 0, True, NOW) == ErrorCode.NONE
    outcome = await partition.append(batch, parse_header(batch), NOW, from_coordinator=True)
    assert outcome.error_code == ErrorCode.INVALID_PRODUCER_EPOCH
    assert await partition.write_txn_marker(7, 0, 0, True, NOW) == (
        ErrorCode.INVALID_PRODUCER_EPOCH)
