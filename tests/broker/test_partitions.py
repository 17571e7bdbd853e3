"""Producer state across a clean restart: snapshot when the log still ends where
it did, replay of the log otherwise."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kwire.broker.partitions import Partition, PartitionManager
from kwire.broker.producer_state import Duplicate
from kwire.broker.unopened_log import UnopenedLog
from kwire.errors import ErrorCode, StorageError
from kwire.log.api import LogConfig, LogFenced, TopicPartition
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


class _FlakyStore(MemoryLogStore):
    """Opens fail with `errors` (one per attempt) before they succeed."""

    def __init__(self, errors: list[Exception]) -> None:
        super().__init__()
        self.errors = errors

    async def open(self, tp: TopicPartition, config: LogConfig):  # type: ignore[no-untyped-def]
        if self.errors:
            raise self.errors.pop(0)
        return await super().open(tp, config)


async def test_a_log_that_cannot_be_opened_answers_storage_errors_until_it_opens() -> None:
    store = _FlakyStore([StorageError("no bookies"), StorageError("still none")])
    manager = PartitionManager(store, None)
    partition = await _open(manager)
    assert isinstance(partition.log, UnopenedLog)
    batch = bytearray(build_batch([(None, b"v", [])], base_timestamp=NOW))
    outcome = await partition.append(batch, parse_header(batch), 1)
    assert outcome.error_code == ErrorCode.KAFKA_STORAGE_ERROR
    await manager.open_unopened()  # not due yet: the first retry is a second later
    stand_in = partition.log
    assert isinstance(stand_in, UnopenedLog)
    stand_in.retry_at = 0.0
    await manager.open_unopened()  # fails again: the next try is 2 s later
    assert partition.log is stand_in
    assert 1.5 < stand_in.retry_at - time.monotonic() <= 2.0
    stand_in.retry_at = 0.0
    await manager.open_unopened()
    assert not isinstance(partition.log, UnopenedLog)
    await _produce(partition, 0)
    assert not partition.fenced


async def test_a_log_taken_over_while_opening_is_given_up() -> None:
    manager = PartitionManager(_FlakyStore([LogFenced("another owner")]), None)
    partition = await _open(manager)
    assert partition.fenced
    batch = bytearray(build_batch([(None, b"v", [])], base_timestamp=NOW))
    outcome = await partition.append(batch, parse_header(batch), 1)
    assert outcome.error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER
