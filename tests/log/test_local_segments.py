"""The local log's segments: rolling, retention, DeleteRecords, index files in
Kafka's format, look-ups across many segments, flushing."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from kwire.clock import ManualClock
from kwire.log.api import LogConfig, LogOffsets, OffsetOutOfRange, TimestampOffset, TopicPartition
from kwire.log.local import LocalLog, LocalLogStore
from kwire.log.local._batches import parse_header

from ._support import async_test, headers, make_batch

TP = TopicPartition("events", 3)


def segment_files(log: LocalLog, suffix: str = ".log") -> list[str]:
    return sorted(p.name for p in log.directory.iterdir() if p.name.endswith(suffix))


async def open_log(tmp_path: Path, config: LogConfig, clock: ManualClock) -> LocalLog:
    return await LocalLogStore(tmp_path / "data", clock.wall_ms).open(TP, config)


@async_test
async def test_roll_by_size(tmp_path: Path) -> None:
    size = len(make_batch(1))
    log = await open_log(tmp_path, LogConfig(segment_bytes=3 * size), ManualClock())
    for _ in range(10):
        await log.append(make_batch(1), 0)
    assert log.directory == tmp_path / "data" / "events-3"
    assert segment_files(log) == [f"{base:020d}.log" for base in (0, 3, 6, 9)]
    assert segment_files(log, ".index") == [f"{base:020d}.index" for base in (0, 3, 6, 9)]
    assert segment_files(log, ".timeindex") == [f"{b:020d}.timeindex" for b in (0, 3, 6, 9)]
    assert [s.size for s in log.segments] == [3 * size, 3 * size, 3 * size, size]


@async_test
async def test_oversized_batch_goes_into_an_empty_segment(tmp_path: Path) -> None:
    log = await open_log(tmp_path, LogConfig(segment_bytes=10), ManualClock())
    await log.append(make_batch(1), 0)
    await log.append(make_batch(1), 0)
    assert [s.base_offset for s in log.segments] == [0, 1]


@async_test
async def test_roll_by_time(tmp_path: Path) -> None:
    clock = ManualClock()
    log = await open_log(tmp_path, LogConfig(segment_ms=1000, retention_ms=-1), clock)
    await log.append(make_batch(1), 0)
    clock.advance(1000)
    await log.append(make_batch(1), 0)  # exactly segment.ms: not yet (Kafka rolls when >)
    clock.advance(1)
    await log.append(make_batch(1), 0)
    assert [s.base_offset for s in log.segments] == [0, 2]
    # enforce_retention also rolls an active segment that has outlived segment.ms.
    clock.advance(1001)
    assert log.enforce_retention(clock.wall_ms()) == 0
    assert [s.base_offset for s in log.segments] == [0, 2, 3]
    clock.advance(5000)
    log.enforce_retention(clock.wall_ms())  # an empty active segment never rolls
    assert [s.base_offset for s in log.segments] == [0, 2, 3]


@async_test
async def test_roll_when_the_index_is_full(tmp_path: Path) -> None:
    # segment.index.bytes=16: two offset entries (or one time entry) per segment.
    config = LogConfig(index_interval_bytes=0, segment_index_bytes=16)
    log = await open_log(tmp_path, config, ManualClock())
    for i in range(6):
        await log.append(make_batch(1, max_timestamp=i), 0)
    assert all(len(s.time_index) <= 1 for s in log.segments[:-1])
    assert len(log.segments) > 1


@async_test
async def test_reconfigure_applies_to_the_next_append(tmp_path: Path) -> None:
    log = await open_log(tmp_path, LogConfig(), ManualClock())
    await log.append(make_batch(1), 0)
    await log.append(make_batch(1), 0)
    log.reconfigure(LogConfig(segment_bytes=1))
    await log.append(make_batch(1), 0)
    assert [s.base_offset for s in log.segments] == [0, 2]


@async_test
async def test_retention_by_time_uses_the_segment_max_timestamp(tmp_path: Path) -> None:
    clock = ManualClock()
    now = clock.wall_ms()
    size = len(make_batch(1))
    log = await open_log(tmp_path, LogConfig(segment_bytes=2 * size, retention_ms=1000), clock)
    # Segments: [0,1] max now-3000 | [2,3] max now-100 (one old batch) | [4] now
    for ts in [now - 4000, now - 3000, now - 5000, now - 100, now]:
        await log.append(make_batch(1, max_timestamp=ts), 0)
    assert log.enforce_retention(now) == 1
    assert segment_files(log) == [f"{2:020d}.log", f"{4:020d}.log"]
    assert not (log.directory / f"{0:020d}.index").exists()
    assert log.offsets() == LogOffsets(2, 5, 5, 5)
    with pytest.raises(OffsetOutOfRange):
        await log.read(1, 1024, True)
    # The expired active segment is rolled, then deleted with the others.
    assert log.enforce_retention(now + 2000) == 2
    assert segment_files(log) == [f"{5:020d}.log"]
    assert log.offsets() == LogOffsets(5, 5, 5, 5)


@async_test
async def test_retention_by_size_deletes_whole_segments(tmp_path: Path) -> None:
    clock = ManualClock()
    size = len(make_batch(1, max_timestamp=clock.wall_ms()))
    config = LogConfig(segment_bytes=2 * size, retention_bytes=3 * size)
    log = await open_log(tmp_path, config, clock)
    for _ in range(7):  # segments of 2, 2, 2, 1 batches
        await log.append(make_batch(1, max_timestamp=clock.wall_ms()), 0)
    assert log.enforce_retention(clock.wall_ms()) == 2
    assert [s.base_offset for s in log.segments] == [4, 6]
    assert log.offsets().log_start_offset == 4


@async_test
async def test_truncate_prefix_deletes_whole_segments_and_checkpoints(tmp_path: Path) -> None:
    clock = ManualClock()
    size = len(make_batch(2))
    store = LocalLogStore(tmp_path / "data", clock.wall_ms)
    log = await store.open(TP, LogConfig(segment_bytes=2 * size))
    for _ in range(5):  # segments 0-3 | 4-7 | 8-9
        await log.append(make_batch(2), 0)
    assert await log.truncate_prefix(5) == 5
    assert [s.base_offset for s in log.segments] == [4, 8]
    checkpoint = (tmp_path / "data" / "log-start-offset-checkpoint").read_text()
    assert checkpoint == "0\n1\nevents 3 5\n"
    assert await log.truncate_prefix(8) == 8
    assert [s.base_offset for s in log.segments] == [8]
    # The active segment stays even when the log start reaches the end (Kafka).
    assert await log.truncate_prefix(10) == 10
    assert [s.base_offset for s in log.segments] == [8]
    # Kill without closing: the checkpoint alone carries the log start.
    log.close_files(flush=False)
    reopened = await LocalLogStore(tmp_path / "data", clock.wall_ms).open(TP, LogConfig())
    assert reopened.offsets() == LogOffsets(10, 10, 10, 10)


@async_test
async def test_index_files_have_kafkas_format_and_meaning(tmp_path: Path) -> None:
    config = LogConfig(index_interval_bytes=200, segment_bytes=5000)
    log = await open_log(tmp_path, config, ManualClock())
    for i in range(120):
        ts = 10_000 + (i * 37) % 50 * 10  # wandering timestamps
        await log.append(make_batch(i % 4 + 1, max_timestamp=ts, payload_size=i % 90), 0)
    await log.close()
    for segment in log.segments:
        data = segment.log_path.read_bytes()
        offset_index = segment.log_path.with_suffix(".index").read_bytes()
        entries = list(struct.iter_unpack(">ii", offset_index))
        assert entries, "expected index entries"
        for relative, position in entries:
            # DumpLogSegments' check: the entry names the last offset of the batch there.
            assert parse_header(data, position).last_offset == segment.base_offset + relative
        time_entries = list(struct.iter_unpack(">qi", segment.log_path.with_suffix(
            ".timeindex").read_bytes()))
        timestamps = [t for t, _ in time_entries]
        assert timestamps == sorted(set(timestamps))
        batches = headers(data)
        assert time_entries[-1][0] == max(h.max_timestamp for h in batches)
        for ts, relative in time_entries:
            first = next(h for h in batches if h.max_timestamp == ts)
            assert first.last_offset == segment.base_offset + relative


@async_test
async def test_reads_and_time_lookups_across_many_segments(tmp_path: Path) -> None:
    config = LogConfig(index_interval_bytes=100, segment_bytes=1500)
    log = await open_log(tmp_path, config, ManualClock())
    stored: list[tuple[int, int, int]] = []  # base, last, max timestamp
    for i in range(300):
        ts = 1_000 + (i * 7919) % 3000
        result = await log.append(make_batch(i % 5 + 1, max_timestamp=ts, payload_size=i % 70), 0)
        stored.append((result.base_offset, result.last_offset, ts))
    assert len(log.segments) > 10
    for offset in range(log.offsets().log_end_offset):
        first = headers((await log.read(offset, 400, True)).records)[0]
        assert first.base_offset <= offset <= first.last_offset
    for target in range(900, 4100, 37):
        expected = next(((ts, base) for base, _, ts in stored if ts >= target), None)
        found = await log.offset_for_timestamp(target)
        assert (None if found is None else (found.timestamp, found.offset)) == expected
    best = max(stored, key=lambda s: s[2])
    assert await log.max_timestamp() == TimestampOffset(best[2], best[1])


@async_test
async def test_flush_messages_and_flush_ms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fsyncs: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        fsyncs.append(fd)
        real_fsync(fd)

    clock = ManualClock()
    store = LocalLogStore(tmp_path / "data", clock.wall_ms)
    log = await store.open(TP, LogConfig(flush_messages=3, flush_ms=1000))
    monkeypatch.setattr(os, "fsync", counting_fsync)
    await log.append(make_batch(2), 0)
    assert not fsyncs
    await log.append(make_batch(1), 0)  # 3 messages since the last flush
    assert fsyncs
    fsyncs.clear()
    await log.append(make_batch(1), 0)
    clock.advance(999)
    await store.flush_due(clock.wall_ms())
    assert not fsyncs
    clock.advance(1)
    await store.flush_due(clock.wall_ms())
    assert fsyncs
    fsyncs.clear()
    log.reconfigure(LogConfig(flush_messages=1))
    await log.append(make_batch(1), 0)  # fsync before ack
    assert fsyncs


@async_test
async def test_reopen_keeps_segments_and_timestamps(tmp_path: Path) -> None:
    clock = ManualClock()
    config = LogConfig(segment_bytes=600, index_interval_bytes=50)
    store = LocalLogStore(tmp_path / "data", clock.wall_ms)
    log = await store.open(TP, config)
    for i in range(40):
        await log.append(make_batch(2, max_timestamp=500 - (i * 13) % 200), 0)
    expected_max = await log.max_timestamp()
    expected_time = [await log.offset_for_timestamp(t) for t in range(290, 510, 7)]
    bases = [s.base_offset for s in log.segments]
    await store.close()
    assert (tmp_path / "data" / ".kwire-clean-shutdown").exists()
    store = LocalLogStore(tmp_path / "data", clock.wall_ms)
    assert not (tmp_path / "data" / ".kwire-clean-shutdown").exists()
    log = await store.open(TP, config)
    assert [s.base_offset for s in log.segments] == bases
    assert await log.max_timestamp() == expected_max
    assert [await log.offset_for_timestamp(t) for t in range(290, 510, 7)] == expected_time
    assert store.list() == [TP]
