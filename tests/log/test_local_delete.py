"""Deleting partitions from the local data dir, long topic names included
(LocalLog.logDeleteDirName, parseTopicPartitionName)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from kwire.clock import ManualClock
from kwire.log.api import LogConfig, TopicPartition
from kwire.log.local import LocalLogStore
from kwire.log.local.store import delete_dir_name, parse_partition_dir

from ._support import async_test, make_batch

LONG = "t" * 249
# LocalLog.DeleteDirPattern
KAFKA_DELETE_DIR = re.compile(r"^(\S+)-(\S+)\.(\S+)-delete$")


@pytest.mark.parametrize("topic,partition", [("t", 0), ("t" * 213, 0), ("t" * 214, 0),
                                             (LONG, 0), (LONG, 99_999)])
def test_delete_dir_names_fit_255_bytes(topic: str, partition: int) -> None:
    name = delete_dir_name(TopicPartition(topic, partition), "a" * 32)
    assert len(name.encode()) <= 255
    assert KAFKA_DELETE_DIR.match(name)
    assert name.endswith(f"-{partition}.{'a' * 32}-delete")
    assert topic.startswith(name[: name.rindex(f"-{partition}.")])
    assert parse_partition_dir(name) is None  # never taken for a live partition


def test_parse_partition_dir() -> None:
    assert parse_partition_dir("a.b-c-12") == TopicPartition("a.b-c", 12)
    assert parse_partition_dir(f"{LONG}-99999") == TopicPartition(LONG, 99_999)
    for name in ("nodash", "-3", "t-", "t-x", "t-\u00b2", "kwire-producer-snapshots"):
        assert parse_partition_dir(name) is None


@pytest.mark.parametrize("length", [213, 214, 249])
@async_test
async def test_long_topics_delete_and_come_back_empty(tmp_path: Path, length: int) -> None:
    tp = TopicPartition("t" * length, 0)
    store = LocalLogStore(tmp_path, ManualClock().wall_ms)
    log = await store.open(tp, LogConfig())
    await log.append(make_batch(3), 0)
    await store.delete(tp)
    assert not [name for name in os.listdir(tmp_path) if name.startswith("t")]
    again = await store.open(tp, LogConfig())
    assert again.offsets().log_end_offset == 0
    await store.close()
    reopened = LocalLogStore(tmp_path, ManualClock().wall_ms)
    assert reopened.list() == [tp]
    assert (await reopened.open(tp, LogConfig())).offsets().log_end_offset == 0
    await reopened.close()


@async_test
async def test_a_directory_that_cannot_be_renamed_is_removed_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tp = TopicPartition("t", 0)
    store = LocalLogStore(tmp_path, ManualClock().wall_ms)
    await (await store.open(tp, LogConfig())).append(make_batch(1), 0)

    def refuse(src: object, dst: object) -> None:
        raise OSError(36, "File name too long")

    monkeypatch.setattr(os, "rename", refuse)
    await store.delete(tp)
    monkeypatch.undo()
    assert not (tmp_path / "t-0").exists()
    assert (await store.open(tp, LogConfig())).offsets().log_end_offset == 0
    await store.close()
