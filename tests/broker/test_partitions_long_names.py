"""Producer-state snapshot files of topics with the longest names still fit the
file system (a 249-character topic once stopped the broker from starting)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kwire.broker.partitions import PartitionManager, snapshot_file_name
from kwire.broker.producer_state import Duplicate
from kwire.log.api import LogConfig, TopicPartition
from kwire.log.memory import MemoryLogStore
from kwire.records.batch import parse_header
from kwire.records.builder import build_batch

# A recent write: producer state older than producer.id.expiration.ms (24 h)
# is dropped at open and at shutdown, as in Kafka.
NOW = time.time_ns() // 1_000_000


@pytest.mark.parametrize("length", [1, 243, 244, 249])
async def test_producer_snapshots_of_long_topics(tmp_path: Path, length: int) -> None:
    tp = TopicPartition("t" * length, 12345)
    assert len(snapshot_file_name(tp)) <= 255
    assert snapshot_file_name(tp) != snapshot_file_name(TopicPartition("t" * length, 1234))
    store = MemoryLogStore()
    manager = PartitionManager(store, tmp_path)
    partition = await manager.open(tp, 0, LogConfig(), False, 1 << 20)
    batch = bytearray(build_batch([(None, b"v", [])], base_timestamp=NOW, producer_id=9,
                                  producer_epoch=0, base_sequence=0))
    await partition.append(batch, parse_header(batch), 1)
    await manager.close()
    assert [p.name for p in tmp_path.iterdir()] == [snapshot_file_name(tp)]
    reopened = await PartitionManager(store, tmp_path).open(tp, 0, LogConfig(), False, 1 << 20)
    assert isinstance(reopened.producers.check(9, 0, 0, 0), Duplicate)
