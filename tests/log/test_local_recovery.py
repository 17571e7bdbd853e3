"""Opening a local log after a crash: torn or corrupt tails are truncated and
reported, broken indexes rebuilt; after a clean shutdown the scan is skipped.

A "kill -9" is simulated by closing a log's files without flushing and without
closing the store (so no clean-shutdown marker is written), then damaging the
files as a crash mid-write would, then opening a new store on the directory.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from kwire.clock import ManualClock
from kwire.log.api import LogConfig, LogOffsets, TopicPartition
from kwire.log.local import LocalLog, LocalLogStore
from kwire.log.local._batches import parse_header

from ._support import async_test, headers, make_batch

TP = TopicPartition("payments", 0)
CONFIG = LogConfig(segment_bytes=2000, index_interval_bytes=150)


async def filled_log(data_dir: Path, batches: int = 60) -> tuple[LocalLog, bytes]:
    """A log with several segments, killed (files closed, no marker); returns it
    and everything it held."""
    log = await LocalLogStore(data_dir, ManualClock().wall_ms).open(TP, CONFIG)
    i = 0
    # At least `batches`, and enough that the active segment has index entries and
    # two batches after its last one (the interesting case for recovery).
    while i < batches or not _active_has_tail(log):
        await log.append(make_batch(i % 3 + 1, max_timestamp=1000 + i, payload_size=40 + i % 50), 0)
        i += 1
    content = await read_everything(log)
    log.close_files(flush=False)
    return log, content


def _active_has_tail(log: LocalLog) -> bool:
    active = log.segments[-1]
    last = active.offset_index.last()
    if last is None or len(active.offset_index) < 2:
        return False
    indexed = active.header_at(last[1])
    return last[1] + indexed.size < active.size


async def reopen(data_dir: Path) -> LocalLog:
    return await LocalLogStore(data_dir, ManualClock().wall_ms).open(TP, CONFIG)


async def read_everything(log: LocalLog) -> bytes:
    out = b""
    offset = log.offsets().log_start_offset
    while offset < log.offsets().log_end_offset:
        data = (await log.read(offset, 1 << 20, True)).records
        out += data
        offset = headers(data)[-1].next_offset
    return out


def active_log_file(log: LocalLog) -> Path:
    return log.segments[-1].log_path


@pytest.mark.parametrize(
    "tail",
    [
        bytes(make_batch(2))[:30],  # a partial batch header
        bytes(make_batch(2))[:70],  # a full header, partial batch
        b"\xff" * 100,  # garbage
        b"\x00" * 4096,  # zero-filled space
    ],
    ids=["partial-header", "partial-batch", "garbage", "zeros"],
)
@async_test
async def test_torn_tail_is_truncated(
    tmp_path: Path, tail: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    log, content = await filled_log(tmp_path)
    leo = log.offsets().log_end_offset
    with active_log_file(log).open("ab") as f:
        f.write(tail)
    with caplog.at_level(logging.WARNING, logger="kwire.log"):
        log = await reopen(tmp_path)
    assert [r.getMessage() for r in caplog.records if "truncated" in r.getMessage()] == [
        caplog.records[0].getMessage()
    ]
    assert f"truncated {len(tail)} bytes" in caplog.records[0].getMessage()
    assert log.offsets() == LogOffsets(0, leo, leo, leo)
    assert await read_everything(log) == content
    assert (await log.append(make_batch(1), 0)).base_offset == leo
    assert headers((await log.read(leo, 1024, True)).records)[0].base_offset == leo


@async_test
async def test_corrupt_last_batch_is_dropped(tmp_path: Path) -> None:
    log, content = await filled_log(tmp_path)
    path = active_log_file(log)
    data = bytearray(path.read_bytes())
    last = headers(bytes(data))[-1]
    data[-5] ^= 0x01  # a record byte: only the CRC notices
    path.write_bytes(bytes(data))
    log = await reopen(tmp_path)
    assert log.offsets().log_end_offset == last.base_offset
    assert await read_everything(log) == content[: len(content) - last.size]
    assert (await log.append(make_batch(1), 0)).base_offset == last.base_offset


@async_test
async def test_corrupt_indexed_batch_drops_it_and_all_after(tmp_path: Path) -> None:
    """Recovery resumes at the last offset index entry; when the batch there is
    itself bad, the index cannot be trusted and the segment is rescanned."""
    log, _ = await filled_log(tmp_path)
    active = log.segments[-1]
    last_entry = active.offset_index.last()
    assert last_entry is not None
    indexed = parse_header(active.log_path.read_bytes(), last_entry[1])
    assert last_entry[1] + indexed.size < active.size, "want a batch after the indexed one"
    with active.log_path.open("r+b") as f:
        f.seek(last_entry[1] + indexed.size - 1)
        f.write(b"\xee")
    log = await reopen(tmp_path)
    assert log.offsets().log_end_offset == indexed.base_offset
    segment = log.segments[-1]
    assert segment.size == last_entry[1]
    assert all(position < last_entry[1] for position in segment.offset_index.positions)


@async_test
async def test_unflushed_kill_without_closing(tmp_path: Path) -> None:
    """The process dies with the files open: what reached the page cache stays."""
    log = await LocalLogStore(tmp_path, ManualClock().wall_ms).open(TP, CONFIG)
    for _ in range(10):
        await log.append(make_batch(2), 0)
    with active_log_file(log).open("ab") as f:
        f.write(bytes(make_batch(3))[:50])
    survivor = await reopen(tmp_path)
    assert survivor.offsets().log_end_offset == 20
    assert (await survivor.append(make_batch(1), 0)).base_offset == 20
    log.close_files(flush=False)


@async_test
async def test_missing_indexes_are_rebuilt_identically(tmp_path: Path) -> None:
    log, content = await filled_log(tmp_path)
    segments = log.segments
    assert len(segments) > 2
    index_files = [p for s in segments for p in (s.offset_index.path, s.time_index.path)]
    originals = {p: p.read_bytes() for p in index_files}
    for path in index_files:
        path.unlink()
    log = await reopen(tmp_path)
    assert await read_everything(log) == content
    for path, original in originals.items():
        assert path.read_bytes() == original, path.name


@pytest.mark.parametrize(
    "damage",
    [b"\x01\x02\x03", b"\x00" * 16, b"\xff" * 24],
    ids=["torn-entry", "zero-entries", "garbage-entries"],
)
@async_test
async def test_corrupt_indexes_are_rebuilt(tmp_path: Path, damage: bytes) -> None:
    log, content = await filled_log(tmp_path)
    for segment in log.segments:
        with segment.offset_index.path.open("ab") as f:
            f.write(damage)
        with segment.time_index.path.open("ab") as f:
            f.write(damage)
    log = await reopen(tmp_path)
    assert await read_everything(log) == content
    for offset in range(log.offsets().log_end_offset):
        first = headers((await log.read(offset, 100, True)).records)[0]
        assert first.base_offset <= offset <= first.last_offset
    assert (await log.max_timestamp()) is not None


@async_test
async def test_index_pointing_past_the_data_is_rebuilt(tmp_path: Path) -> None:
    log, _ = await filled_log(tmp_path)
    active = log.segments[-1]
    last_entry = active.offset_index.last()
    assert last_entry is not None
    with active.log_path.open("r+b") as f:
        f.truncate(last_entry[1] + 10)  # lose the indexed batch and all after it
    log = await reopen(tmp_path)
    segment = log.segments[-1]
    assert segment.size == last_entry[1]
    assert len(segment.offset_index) < len(active.offset_index)
    assert log.offsets().log_end_offset == segment.header_at(0).base_offset + sum(
        h.last_offset_delta + 1 for h in headers(segment.log_path.read_bytes())
    )


@async_test
async def test_clean_marker_skips_the_crc_scan(tmp_path: Path) -> None:
    clock = ManualClock()
    store = LocalLogStore(tmp_path, clock.wall_ms)
    log = await store.open(TP, CONFIG)
    for _ in range(5):
        await log.append(make_batch(2), 0)
    await store.close()
    path = active_log_file(log)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # corrupt the last batch's records; its header stays intact
    path.write_bytes(bytes(data))
    store = LocalLogStore(tmp_path, clock.wall_ms)
    log = await store.open(TP, CONFIG)
    assert log.offsets().log_end_offset == 10  # not scanned: the batch was kept
    # Without the marker (the new store removed it and was never closed) it is found.
    log.close_files(flush=False)
    log = await LocalLogStore(tmp_path, clock.wall_ms).open(TP, CONFIG)
    assert log.offsets().log_end_offset == 8


@async_test
async def test_orphan_index_files_are_removed(tmp_path: Path) -> None:
    log, _ = await filled_log(tmp_path)
    orphan = log.directory / f"{999:020d}.index"
    orphan.write_bytes(b"\x00" * 8)
    await reopen(tmp_path)
    assert not orphan.exists()
