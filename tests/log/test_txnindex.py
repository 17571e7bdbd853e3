"""The local log's `.txnindex` files (Kafka's TransactionIndex): entry bytes,
lazy creation, the marker's segment across rolls, deletion with the segment,
truncation with a recovered tail, damaged files, and the partition writing an
entry per ABORT marker (never on replay)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from kwire.broker.partitions import Partition, PartitionManager
from kwire.clock import ManualClock
from kwire.errors import ErrorCode
from kwire.log.api import AbortedTxnIndex, LogConfig, TopicPartition
from kwire.log.local import LocalLog, LocalLogStore
from kwire.log.local.txnindex import (
    ENTRY_SIZE,
    AbortedTxnEntry,
    TransactionIndex,
    parse_entries,
)
from kwire.log.memory import MemoryLogStore
from kwire.records.batch import parse_header
from kwire.records.builder import build_batch

from ._support import async_test, make_batch

TP = TopicPartition("payments", 0)
CONFIG = LogConfig(segment_bytes=2000, index_interval_bytes=150)


def _txnindex(log: LocalLog, base: int) -> Path:
    return log.directory / f"{base:020d}.txnindex"


async def _open(data_dir: Path, config: LogConfig = CONFIG,
                clock: ManualClock | None = None) -> LocalLog:
    return await LocalLogStore(data_dir, (clock or ManualClock()).wall_ms).open(TP, config)


async def _append(log: LocalLog, count: int, payload_size: int = 100) -> None:
    for _ in range(count):
        await log.append(make_batch(1, payload_size=payload_size), 0)


def test_entry_bytes_are_kafkas() -> None:
    entry = AbortedTxnEntry(producer_id=0x0102030405060708, first_offset=100,
                            last_offset=150, last_stable_offset=-1)
    expected = (
        (0).to_bytes(2, "big")  # version 0
        + bytes.fromhex("0102030405060708")
        + (100).to_bytes(8, "big")
        + (150).to_bytes(8, "big")
        + (-1).to_bytes(8, "big", signed=True)
    )
    assert entry.to_bytes() == expected
    assert ENTRY_SIZE == 34 == len(expected)
    assert parse_entries(expected + expected[:10]) == ([entry], 34)
    # A version above Kafka's own stops the reader, as it does Kafka's.
    assert parse_entries(b"\x00\x01" + expected[2:]) == ([], 0)


@async_test
async def test_file_is_created_by_the_first_entry(tmp_path: Path) -> None:
    log = await _open(tmp_path)
    assert isinstance(log, AbortedTxnIndex)
    await _append(log, 3)
    assert not _txnindex(log, 0).exists()  # Kafka creates it only when needed
    log.append_aborted_txn(7, 0, 2, 3)
    assert _txnindex(log, 0).read_bytes() == AbortedTxnEntry(7, 0, 2, 3).to_bytes()
    # Out of marker order: refused, the file is unchanged.
    log.append_aborted_txn(8, 0, 2, 3)
    assert log.segments[0].txn_index.entries() == [AbortedTxnEntry(7, 0, 2, 3)]
    # Offsets the log does not hold: nothing written, nothing raised.
    log.append_aborted_txn(9, 0, 99, 100)
    assert log.segments[0].txn_index.entries() == [AbortedTxnEntry(7, 0, 2, 3)]


@async_test
async def test_entries_go_to_the_marker_segment_across_rolls(tmp_path: Path) -> None:
    log = await _open(tmp_path)
    await _append(log, 20)  # 161-byte batches: 12 to a segment
    assert len(log.segments) == 2
    first_end = log.segments[0].next_offset
    log.append_aborted_txn(1, 0, first_end - 1, first_end)  # a marker in the sealed one
    second_base = log.segments[1].base_offset
    log.append_aborted_txn(2, first_end - 1, second_base + 1, second_base + 2)
    await _append(log, 30)
    active = log.segments[-1]
    leo = log.offsets().log_end_offset
    log.append_aborted_txn(3, leo - 2, leo - 1, leo)
    assert log.segments[0].txn_index.entries() == [
        AbortedTxnEntry(1, 0, first_end - 1, first_end)]
    assert log.segments[1].txn_index.entries() == [
        AbortedTxnEntry(2, first_end - 1, second_base + 1, second_base + 2)]
    assert active.txn_index.entries() == [AbortedTxnEntry(3, leo - 2, leo - 1, leo)]
    without = [s for s in log.segments[2:-1] if s.txn_index.path.exists()]
    assert without == []
    # They survive a clean close and reopen untouched.
    await log.close()
    reopened = await _open(tmp_path)
    assert [s.txn_index.entries() for s in reopened.segments] == [
        s.txn_index.entries() for s in log.segments]


@async_test
async def test_retention_and_delete_records_remove_the_file(tmp_path: Path) -> None:
    clock = ManualClock()
    config = LogConfig(segment_bytes=2000, retention_bytes=4000, retention_ms=-1)
    log = await _open(tmp_path, config, clock)
    await _append(log, 10)
    log.append_aborted_txn(1, 0, 1, 2)
    first = _txnindex(log, 0)
    assert first.exists()
    await _append(log, 60)
    assert log.enforce_retention(clock.wall_ms()) > 0
    assert log.segments[0].base_offset > 0
    assert not first.exists()
    # DeleteRecords past a segment with an entry removes it with the segment.
    base = log.segments[0].base_offset
    log.append_aborted_txn(2, base, base + 1, base + 2)
    assert _txnindex(log, base).exists()
    await log.truncate_prefix(log.segments[1].base_offset)
    assert not _txnindex(log, base).exists()


@async_test
async def test_topic_deletion_removes_the_files(tmp_path: Path) -> None:
    store = LocalLogStore(tmp_path, ManualClock().wall_ms)
    log = await store.open(TP, CONFIG)
    await _append(log, 3)
    log.append_aborted_txn(1, 0, 1, 2)
    directory = log.directory
    await store.delete(TP)
    assert not directory.exists()
    assert not list(tmp_path.glob("*/*.txnindex"))


@async_test
async def test_recovery_drops_entries_past_the_torn_tail(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    one_segment = LogConfig(segment_bytes=1 << 20, segment_ms=1 << 62)
    log = await _open(tmp_path, one_segment)
    await _append(log, 10)  # offsets 0..9
    for pid, last in ((1, 2), (2, 5), (3, 8)):
        log.append_aborted_txn(pid, last - 1, last, last + 1)
    path = log.segments[0].log_path
    position_of_6 = log.segments[0].locate(6)
    assert position_of_6 is not None
    log.close_files(flush=False)  # killed: no clean-shutdown marker
    with path.open("r+b") as f:  # the crash tore batch 6: 6..9 are lost
        f.truncate(position_of_6[0] + 30)
    with caplog.at_level(logging.WARNING, "kwire.log"):
        reopened = await _open(tmp_path, one_segment)
    assert reopened.offsets().log_end_offset == 6
    assert reopened.segments[0].txn_index.entries() == [
        AbortedTxnEntry(1, 1, 2, 3), AbortedTxnEntry(2, 4, 5, 6)]
    assert "dropping 1 aborted transactions" in caplog.text
    # The index takes new entries after the surviving ones.
    await _append(reopened, 2)
    reopened.append_aborted_txn(4, 6, 7, 8)
    assert reopened.segments[0].txn_index.entries()[-1] == AbortedTxnEntry(4, 6, 7, 8)


@async_test
async def test_recovery_removes_txnindex_of_segments_after_a_truncated_one(
        tmp_path: Path) -> None:
    log = await _open(tmp_path)
    await _append(log, 40)
    assert len(log.segments) >= 3
    middle = log.segments[1]
    log.append_aborted_txn(1, middle.base_offset, middle.next_offset - 1, middle.next_offset)
    last = log.segments[2]
    log.append_aborted_txn(2, last.base_offset, last.base_offset, last.base_offset + 1)
    log.close_files(flush=False)
    data = bytearray(middle.log_path.read_bytes())
    data[-1] ^= 0xFF  # the middle segment's last batch fails its CRC
    middle.log_path.write_bytes(bytes(data))
    reopened = await _open(tmp_path)  # recovery point 0: every segment is checked
    assert reopened.offsets().log_end_offset == middle.next_offset - 1
    assert reopened.segments[1].txn_index.entries() == []
    assert not _txnindex(reopened, last.base_offset).exists()


@pytest.mark.parametrize("damage", [b"\x07" * 10, b"\x00\x05" + b"\x00" * 32],
                         ids=["torn-entry", "unknown-version"])
@async_test
async def test_a_damaged_file_is_cut_back_not_fatal(tmp_path: Path, damage: bytes) -> None:
    log = await _open(tmp_path, LogConfig(segment_bytes=1 << 20))
    await _append(log, 5)
    log.append_aborted_txn(1, 0, 1, 2)
    path = log.segments[0].txn_index.path
    log.close_files(flush=False)
    path.write_bytes(path.read_bytes() + damage)
    reopened = await _open(tmp_path)
    assert reopened.offsets().log_end_offset == 5
    assert path.read_bytes() == AbortedTxnEntry(1, 0, 1, 2).to_bytes()


@async_test
async def test_orphan_txnindex_is_removed_and_a_reused_name_starts_empty(
        tmp_path: Path) -> None:
    log = await _open(tmp_path)
    await _append(log, 3)
    orphan = _txnindex(log, 999)
    orphan.write_bytes(AbortedTxnEntry(1, 999, 1000, 1001).to_bytes())
    log.close_files(flush=True)
    await _open(tmp_path)
    assert not orphan.exists()
    # Segment.create truncates leftovers under its name: a stale .txnindex goes too.
    index = TransactionIndex(tmp_path / "x.txnindex", 0)
    index.append(AbortedTxnEntry(1, 0, 1, 2))
    index.reset()
    assert not index.path.exists() and index.entries() == []
    assert index.append(AbortedTxnEntry(1, 0, 1, 2))  # the order check restarted too


# -- the partition hands its aborts to the log ------------------------------------

NOW = time.time_ns() // 1_000_000


async def _partition(manager: PartitionManager) -> Partition:
    return await manager.open(TP, 0, LogConfig(), log_append_time=False,
                              max_message_bytes=1 << 20)


async def _txn(partition: Partition, pid: int, seq: int) -> None:
    batch = bytearray(build_batch([(None, b"v", ())], NOW, pid, 0, seq, transactional=True))
    assert (await partition.append(batch, parse_header(batch), NOW)).error_code == ErrorCode.NONE


@async_test
async def test_partition_writes_an_entry_per_abort_marker_only(tmp_path: Path) -> None:
    store = LocalLogStore(tmp_path, ManualClock().wall_ms)
    partition = await _partition(PartitionManager(store))
    await _txn(partition, 1, 0)  # 0
    await _txn(partition, 2, 0)  # 1
    assert await partition.write_txn_marker(1, 0, 3, False, NOW) == ErrorCode.NONE  # 2
    await _txn(partition, 3, 0)  # 3
    assert await partition.write_txn_marker(3, 0, 3, True, NOW) == ErrorCode.NONE  # 4: commit
    assert await partition.write_txn_marker(2, 0, 3, False, NOW) == ErrorCode.NONE  # 5
    # An abort with no transaction ongoing here completes nothing: no entry.
    assert await partition.write_txn_marker(1, 0, 3, False, NOW) == ErrorCode.NONE  # 6
    assert isinstance(partition.log, LocalLog)
    path = partition.log.segments[0].txn_index.path
    expected = [AbortedTxnEntry(1, 0, 2, 1), AbortedTxnEntry(2, 1, 5, 6)]
    assert partition.log.segments[0].txn_index.entries() == expected
    # The file mirrors the in-memory index the broker serves from.
    assert [AbortedTxnEntry(t.producer_id, t.first_offset, t.last_offset,
                            t.last_stable_offset)
            for t in partition.producers.txns.aborted()] == expected
    content = path.read_bytes()
    await store.close()
    # Replay after a reopen rebuilds memory from the log; it does not write again.
    store = LocalLogStore(tmp_path, ManualClock().wall_ms)
    reopened = await _partition(PartitionManager(store))
    assert len(reopened.producers.txns.aborted()) == 2
    assert path.read_bytes() == content
    await store.close()


@async_test
async def test_memory_log_has_no_txn_index() -> None:
    partition = await _partition(PartitionManager(MemoryLogStore()))
    assert not isinstance(partition.log, AbortedTxnIndex)
    await _txn(partition, 1, 0)
    assert await partition.write_txn_marker(1, 0, 3, False, NOW) == ErrorCode.NONE
    assert len(partition.producers.txns.aborted()) == 1
