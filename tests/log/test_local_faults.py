"""Storage failures under the local log, injected at the `os` calls it makes
(tests/log/_faults.py): a full disk during a write, a roll, an index write, an
fsync, a checkpoint or a metadata write.

The rule each test holds the log to: a failed append leaves no trace (its
offsets are not taken, no read or reload ever shows it), what was acknowledged
stays, and once the disk works again the log carries on by itself.
"""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from kwire.clock import ManualClock
from kwire.cluster.api import BrokerInfo
from kwire.cluster.local import METADATA_FILE, LocalMetadataStore
from kwire.errors import StorageError
from kwire.fs import RESERVE_FILE, SpaceReserve, atomic_write
from kwire.log.api import LogConfig, TopicPartition
from kwire.log.local import LocalLog, LocalLogStore
from kwire.log.local.store import CLEAN_SHUTDOWN_MARKER

from ._faults import FaultyDisk, disk  # noqa: F401  (fixture)
from ._support import async_test, headers, make_batch

TP = TopicPartition("orders", 0)
CONFIG = LogConfig(segment_bytes=1500, index_interval_bytes=100)


CLOCK = ManualClock()  # offline logs retry on it: tests advance it instead of waiting


async def _open(data_dir: Path, config: LogConfig = CONFIG) -> tuple[LocalLogStore, LocalLog]:
    store = LocalLogStore(data_dir, CLOCK.wall_ms)
    return store, await store.open(TP, config)


async def _offsets_of(log: LocalLog) -> list[int]:
    """The base offset of every batch the log serves, read batch by batch."""
    out: list[int] = []
    offset = log.offsets().log_start_offset
    while offset < log.offsets().log_end_offset:
        result = await log.read(offset, 1 << 20, True)
        got = headers(result.records)
        out += [h.base_offset for h in got]
        offset = got[-1].next_offset
    return out


def _reopen_after_crash(store: LocalLogStore, log: LocalLog) -> None:
    """kill -9: files closed unflushed, no clean-shutdown marker."""
    log.close_files(flush=False)
    assert not (store.data_dir / CLEAN_SHUTDOWN_MARKER).exists()


@pytest.mark.parametrize("partial", [False, True])
@async_test
async def test_failed_log_write_leaves_no_trace(
    tmp_path: Path, disk: FaultyDisk, partial: bool  # noqa: F811
) -> None:
    store, log = await _open(tmp_path)
    for _ in range(3):
        await log.append(make_batch(2), 0)
    size = log.segments[-1].size
    with disk.failing("write", ".log", partial=partial), pytest.raises(StorageError):
        await log.append(make_batch(5), 0)
    assert log.offsets().log_end_offset == 6
    assert log.segments[-1].size == size == (tmp_path / str(TP) / f"{0:020d}.log").stat().st_size
    # Space is back: the next batch takes the offsets the failed one did not.
    assert (await log.append(make_batch(1), 0)).base_offset == 6
    assert await _offsets_of(log) == [0, 2, 4, 6]
    _reopen_after_crash(store, log)
    _, again = await _open(tmp_path)
    assert await _offsets_of(again) == [0, 2, 4, 6]


@async_test
async def test_failed_index_writes_never_wedge_the_log(
    tmp_path: Path, disk: FaultyDisk  # noqa: F811
) -> None:
    store, log = await _open(tmp_path, LogConfig(segment_bytes=100_000, index_interval_bytes=50))
    with disk.failing("write", ".index") as rule, disk.failing("write", ".timeindex"):
        for i in range(30):
            await log.append(make_batch(1, max_timestamp=1000 + i), 0)
    assert rule.hits > 0
    for i in range(30, 40):  # the index files work again, with entries missing
        await log.append(make_batch(1, max_timestamp=1000 + i), 0)
    assert await _offsets_of(log) == list(range(40))
    found = await log.offset_for_timestamp(1025)
    assert found is not None and found.offset == 25
    for clean in (True, False):
        if clean:
            await store.close()
        else:
            _reopen_after_crash(store, log)
        store, log = await _open(tmp_path)
        assert await _offsets_of(log) == list(range(40))


@async_test
async def test_failed_roll_changes_nothing(tmp_path: Path, disk: FaultyDisk) -> None:  # noqa: F811
    store, log = await _open(tmp_path)
    while len(log.segments) == 1:
        await log.append(make_batch(1, payload_size=200), 0)
    # The next roll cannot create its files.
    with disk.failing("open", ".log") as rule, pytest.raises(StorageError):
        for _ in range(100):
            await log.append(make_batch(1, payload_size=200), 0)
    assert rule.hits == 1 and len(log.segments) == 2
    count = log.offsets().log_end_offset
    await log.append(make_batch(1, payload_size=200), 0)
    assert len(log.segments) == 3
    assert await _offsets_of(log) == list(range(count + 1))


@async_test
async def test_fsync_failure_takes_the_log_offline_until_it_reloads(
    tmp_path: Path, disk: FaultyDisk  # noqa: F811
) -> None:
    store, log = await _open(tmp_path, LogConfig(flush_messages=1))
    for _ in range(4):
        await log.append(make_batch(1), 0)
    with disk.failing("fsync", ".log"):
        with pytest.raises(StorageError):
            await log.append(make_batch(3), 0)  # written, never acknowledged
        assert log.offline_reason is not None
        with pytest.raises(StorageError):
            log.offsets()
        assert not log.recover_if_offline()  # not before the retry delay
        CLOCK.advance(1_000)
        assert not log.recover_if_offline()  # recovery fsyncs too: still failing
    CLOCK.advance(1_000)
    assert not log.recover_if_offline()  # the delay doubled after that failed try
    CLOCK.advance(1_000)
    assert log.recover_if_offline()
    # The unacknowledged batch did not come back from the page cache.
    assert await _offsets_of(log) == [0, 1, 2, 3]
    assert (await log.append(make_batch(1), 0)).base_offset == 4
    await store.close()
    _, again = await _open(tmp_path)
    assert await _offsets_of(again) == [0, 1, 2, 3, 4]


@async_test
async def test_undoable_write_failure_goes_offline_then_cuts_back(
    tmp_path: Path, disk: FaultyDisk  # noqa: F811
) -> None:
    store, log = await _open(tmp_path)
    for _ in range(3):
        await log.append(make_batch(1), 0)
    with disk.failing("write", ".log", partial=True), disk.failing("ftruncate", ".log", errno.EIO):
        with pytest.raises(StorageError):
            await log.append(make_batch(2), 0)
        assert log.offline_reason is not None
        with pytest.raises(StorageError):
            await log.read(0, 1000, True)
    CLOCK.advance(1_000)
    await store.maintain(0)  # housekeeping brings it back
    assert log.offline_reason is None
    assert await _offsets_of(log) == [0, 1, 2]
    assert (await log.append(make_batch(1), 0)).base_offset == 3


@async_test
async def test_unloadable_partition_stays_offline_and_the_store_carries_on(
    tmp_path: Path,
) -> None:
    store, log = await _open(tmp_path)
    await log.append(make_batch(1), 0)
    await store.close()
    directory = tmp_path / str(TP)
    (directory / f"{0:020d}.log").chmod(0)
    (directory / f"{0:020d}.log").rename(directory / "moved")
    (directory / f"{0:020d}.log").mkdir()  # a directory where the segment should be
    store = LocalLogStore(tmp_path, CLOCK.wall_ms)
    log = await store.open(TP, CONFIG)
    assert log.offline_reason is not None
    other = await store.open(TopicPartition("other", 0), CONFIG)
    await other.append(make_batch(1), 0)
    (directory / f"{0:020d}.log").rmdir()
    (directory / "moved").chmod(0o644)
    (directory / "moved").rename(directory / f"{0:020d}.log")
    await store.maintain(0)
    assert log.offline_reason is None
    assert await _offsets_of(log) == [0]


@async_test
async def test_delete_records_checkpoint_failure_keeps_the_log_start(
    tmp_path: Path, disk: FaultyDisk  # noqa: F811
) -> None:
    store, log = await _open(tmp_path)
    for _ in range(5):
        await log.append(make_batch(1), 0)
    (tmp_path / RESERVE_FILE).unlink()  # no reserve left to give
    with disk.failing("write", ".tmp"), pytest.raises(StorageError):
        await log.truncate_prefix(3)
    assert log.offsets().log_start_offset == 0
    assert await log.truncate_prefix(3) == 3


@async_test
async def test_full_disk_gives_up_the_reserve_for_a_checkpoint(
    tmp_path: Path, disk: FaultyDisk  # noqa: F811
) -> None:
    store, log = await _open(tmp_path)
    for _ in range(5):
        await log.append(make_batch(1), 0)
    assert (tmp_path / RESERVE_FILE).exists()
    with disk.failing("write", "log-start-offset-checkpoint.tmp", times=1):
        assert await log.truncate_prefix(2) == 2  # the retry after the release worked
    assert not (tmp_path / RESERVE_FILE).exists()
    await store.maintain(0)
    assert (tmp_path / RESERVE_FILE).exists()


def test_reserve_is_never_half_held(tmp_path: Path, disk: FaultyDisk) -> None:  # noqa: F811
    reserve = SpaceReserve(tmp_path, size=1 << 20)
    with disk.failing("posix_fallocate", RESERVE_FILE):
        assert not reserve.refill()
    assert not (tmp_path / RESERVE_FILE).exists()
    assert reserve.refill() and reserve.held
    path = tmp_path / "x"
    with disk.failing("write", "x.tmp", times=1):
        atomic_write(path, b"data", reserve)
    assert path.read_bytes() == b"data" and not reserve.held
    with disk.failing("write", "x.tmp"), pytest.raises(OSError):
        atomic_write(path, b"other", reserve)
    assert path.read_bytes() == b"data" and not (tmp_path / "x.tmp").exists()


@async_test
async def test_close_on_a_full_disk_skips_the_clean_marker(
    tmp_path: Path, disk: FaultyDisk  # noqa: F811
) -> None:
    store, log = await _open(tmp_path)
    for _ in range(3):
        await log.append(make_batch(1), 0)
    (tmp_path / RESERVE_FILE).unlink()
    with disk.failing("fsync", ".log"), disk.failing("write", ".tmp"):
        await store.close()  # logs, never raises
    assert not (tmp_path / CLEAN_SHUTDOWN_MARKER).exists()
    _, again = await _open(tmp_path)
    assert await _offsets_of(again) == [0, 1, 2]


@async_test
async def test_metadata_is_written_before_it_is_applied(
    tmp_path: Path, disk: FaultyDisk  # noqa: F811
) -> None:
    store = LocalMetadataStore(tmp_path, BrokerInfo(1, "localhost", 9092))
    await store.create_topic("kept", 2, {"retention.ms": "1000"})
    before = (tmp_path / METADATA_FILE).read_text()
    (tmp_path / RESERVE_FILE).unlink(missing_ok=True)
    with disk.failing("write", f"{METADATA_FILE}.tmp"):
        with pytest.raises(StorageError):
            await store.delete_topic("kept")
        with pytest.raises(StorageError):
            await store.set_topic_configs("kept", {})
        with pytest.raises(StorageError):
            await store.create_topic("new", 1, {})
        with pytest.raises(StorageError):
            await store.create_partitions("kept", 5)
    snapshot = store.snapshot()
    assert set(snapshot.topics) == {"kept"}
    assert len(snapshot.topics["kept"].partitions) == 2
    assert snapshot.topics["kept"].configs == {"retention.ms": "1000"}
    assert (tmp_path / METADATA_FILE).read_text() == before
    reopened = LocalMetadataStore(tmp_path, BrokerInfo(1, "localhost", 9092))
    assert set(reopened.snapshot().topics) == {"kept"}
    await store.delete_topic("kept")  # the disk works again
    assert "kept" not in json.loads((tmp_path / METADATA_FILE).read_text())["topics"]
