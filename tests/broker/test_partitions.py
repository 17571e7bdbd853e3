"""Producer state across a clean restart: snapshot when the log still ends where
it did, replay of the log otherwise."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kwire.broker.partitions import Partition, PartitionManager
from kwire.broker.producer_state import Duplicate
from kwire.errors import ErrorCode
from kwire.log.api import LogConfig, TopicPartition
from kwire.log.memory import MemoryLogStore
from kwire.records.batch import parse_header
from kwire.records.builder import build_batch

# A recent write: producer state older than producer.id.expiration.ms (24 h)
# is dropped at open and at shutdown, as in Kafka.
NOW = time.time_ns() // 1_000_000

TP = TopicPartition("t", 0)


async def _open(manager: PartitionManager) -> Partition:
    return await manager.open(TP, 0, LogConfig(), log_append_time=False,
                              max_message_bytes=1 << 20)


async def _produce(partition: Partition, seq: int) -> None:
    batch = bytearray(build_batch([(None, b"v", [])], base_timestamp=NOW, producer_id=9,
                                  producer_epoch=0, base_sequence=seq))
    outcome = await partition.append(batch, parse_header(batch), 1)
    assert outcome.error_code == ErrorCode.NONE


async def test_clean_restart_uses_the_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MemoryLogStore()
    manager = PartitionManager(store, tmp_path)
    await _produce(await _open(manager), 0)
    await manager.close()
    assert (tmp_path / "t-0.json").exists()

    async def no_replay(self: Partition) -> None:
        raise AssertionError("replayed although a matching snapshot exists")

    monkeypatch.setattr(Partition, "replay_producer_state", no_replay)
    partition = await _open(PartitionManager(store, tmp_path))
    assert isinstance(partition.producers.check(9, 0, 0, 0), Duplicate)
    assert not (tmp_path / "t-0.json").exists()  # read once, never stale after a crash


async def test_snapshot_behind_the_log_is_ignored(tmp_path: Path) -> None:
    store = MemoryLogStore()
    manager = PartitionManager(store, tmp_path)
    partition = await _open(manager)
    await _produce(partition, 0)
    await manager.close()
    # The log moves on without the snapshot knowing (as if written by a later run).
    again = PartitionManager(store, None)
    await _produce(await _open(again), 1)
    partition = await _open(PartitionManager(store, tmp_path))
    assert isinstance(partition.producers.check(9, 0, 1, 1), Duplicate)  # from replay
