"""Damaged files under the local log: flipped bytes, truncated segments, garbled
or missing indexes, after a clean or an unclean shutdown.

The rule: the log opens (never a traceback), repairs what recovery may repair
(past the recovery point after an unclean shutdown), and every read either
returns exactly the batches that were written or raises CorruptRecords for the
damaged range, never a wrong batch, a silent skip or a hang.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kwire.clock import ManualClock
from kwire.log.api import CorruptRecords, LogConfig, TopicPartition
from kwire.log.local import LocalLog, LocalLogStore
from kwire.log.local.store import CLEAN_SHUTDOWN_MARKER
from kwire.log.scan import stored_batches

from ._support import async_test, headers, make_batch

TP = TopicPartition("ledger", 0)
CONFIG = LogConfig(segment_bytes=2000, index_interval_bytes=150)


async def _written(data_dir: Path, batches: int = 60) -> dict[int, bytes]:
    """A log of several segments, closed cleanly; its batches by base offset."""
    store = LocalLogStore(data_dir, ManualClock().wall_ms)
    log = await store.open(TP, CONFIG)
    for i in range(batches):
        await log.append(make_batch(i % 3 + 1, max_timestamp=1000 + i, payload_size=40 + i), 0)
    out = await _read_all(log)
    await store.close()
    return out


async def _read_all(log: LocalLog) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    offset = log.offsets().log_start_offset
    while offset < log.offsets().log_end_offset:
        data = (await log.read(offset, 1 << 20, True)).records
        position = 0
        for h in headers(data):
            out[h.base_offset] = data[position:position + h.size]
            position += h.size
            offset = h.next_offset
    return out


async def _open(data_dir: Path, *, clean: bool) -> LocalLog:
    marker = data_dir / CLEAN_SHUTDOWN_MARKER
    if not clean:
        marker.unlink(missing_ok=True)
    return await LocalLogStore(data_dir, ManualClock().wall_ms).open(TP, CONFIG)


def _segment_files(data_dir: Path, suffix: str) -> list[Path]:
    return sorted((data_dir / str(TP)).glob(f"*{suffix}"))


def _flip(path: Path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x40
    path.write_bytes(bytes(data))


async def _check_reads(log: LocalLog, written: dict[int, bytes]) -> set[int]:
    """Read at every written offset the log still holds: each read returns the
    right batches from the one holding it, or raises CorruptRecords. Returns the
    base offsets that raised."""
    bad: set[int] = set()
    end = log.offsets().log_end_offset
    for base in sorted(written):
        if base >= end:
            break
        try:
            data = (await log.read(base, 1 << 20, True)).records
        except CorruptRecords:
            bad.add(base)
            continue
        got = headers(data)
        assert got and got[0].base_offset == base, f"read at {base} returned {got[:1]}"
        position = 0
        for h in got:
            assert data[position:position + h.size] == written[h.base_offset]
            position += h.size
    return bad


@pytest.mark.parametrize("clean", [True, False])
@async_test
async def test_flipped_byte_in_a_sealed_segment_is_never_served(
    tmp_path: Path, clean: bool
) -> None:
    written = await _written(tmp_path)
    sealed = _segment_files(tmp_path, ".log")[1]
    _flip(sealed, 61 + 5)  # inside the first batch's records: only the CRC shows it
    log = await _open(tmp_path, clean=clean)
    first = int(sealed.name.split(".")[0])
    # Sealed segments below the recovery point are trusted at open, checked at read.
    assert await _check_reads(log, written) == {first}
    # The batches before it come back without it.
    before = max(b for b in written if b < first)
    data = (await log.read(before, 1 << 20, True)).records
    assert [h.base_offset for h in headers(data)] == [before]


@async_test
async def test_flipped_base_offset_is_not_skipped_over(tmp_path: Path) -> None:
    written = await _written(tmp_path)
    sealed = _segment_files(tmp_path, ".log")[1]
    raw = bytearray(sealed.read_bytes())
    second = int.from_bytes(raw[8:12], "big") + 12  # position of the second batch
    raw[second + 7] ^= 0x10  # its base offset (not under the CRC) now says something else
    sealed.write_bytes(bytes(raw))
    log = await _open(tmp_path, clean=True)
    bad = await _check_reads(log, written)
    assert bad and min(bad) > int(sealed.name.split(".")[0])


@async_test
async def test_unclean_start_recovers_the_active_segment_below_its_index(tmp_path: Path) -> None:
    written = await _written(tmp_path)
    active = _segment_files(tmp_path, ".log")[-1]
    _flip(active, 61 + 3)  # first batch of the active segment, below every index entry
    log = await _open(tmp_path, clean=False)
    base = int(active.name.split(".")[0])
    assert log.offsets().log_end_offset == base  # truncated at the damaged batch
    assert await _check_reads(log, written) == set()
    # ... and the log goes on from there.
    assert (await log.append(make_batch(1), 0)).base_offset == base


@async_test
async def test_truncated_sealed_segment_answers_corrupt_for_the_gap(tmp_path: Path) -> None:
    written = await _written(tmp_path)
    sealed = _segment_files(tmp_path, ".log")[1]
    size = sealed.stat().st_size
    os.truncate(sealed, size - 30)  # the last batch torn off
    log = await _open(tmp_path, clean=True)
    bad = await _check_reads(log, written)
    assert len(bad) == 1
    after = int(_segment_files(tmp_path, ".log")[2].name.split(".")[0])
    assert min(bad) < after
    data = (await log.read(after, 1 << 20, True)).records
    assert headers(data)[0].base_offset == after


@pytest.mark.parametrize("damage", ["garbage", "missing", "shifted"])
@async_test
async def test_damaged_indexes_are_rebuilt_or_bypassed(tmp_path: Path, damage: str) -> None:
    written = await _written(tmp_path)
    for index in _segment_files(tmp_path, ".index") + _segment_files(tmp_path, ".timeindex"):
        if damage == "garbage":
            index.write_bytes(os.urandom(index.stat().st_size or 16))
        elif damage == "missing":
            index.unlink()
        elif index.suffix == ".index" and index.stat().st_size >= 16:
            # Sane-looking entries that point at the wrong batches.
            raw = index.read_bytes()
            index.write_bytes(raw[:4] + raw[12:16] + raw[8:12] + raw[16:])
    log = await _open(tmp_path, clean=True)
    assert await _check_reads(log, written) == set()
    found = await log.offset_for_timestamp(1030)
    assert found is not None


@async_test
async def test_recovery_truncates_past_the_recovery_point_and_drops_later_segments(
    tmp_path: Path,
) -> None:
    written = await _written(tmp_path)
    logs = _segment_files(tmp_path, ".log")
    # Everything past the second segment was never flushed (recovery point there).
    (tmp_path / "recovery-point-offset-checkpoint").write_text(
        f"0\n1\n{TP.topic} {TP.partition} {int(logs[2].name.split('.')[0])}\n")
    _flip(logs[2], 61 + 2)
    log = await _open(tmp_path, clean=False)
    assert log.offsets().log_end_offset == int(logs[2].name.split(".")[0])
    assert len(_segment_files(tmp_path, ".log")) == 3  # later segments went, an empty one holds
    assert await _check_reads(log, written) == set()


@async_test
async def test_garbage_active_segment_opens(tmp_path: Path) -> None:
    await _written(tmp_path)
    active = _segment_files(tmp_path, ".log")[-1]
    active.write_bytes(os.urandom(500))
    for clean in (True, False):
        log = await _open(tmp_path, clean=clean)
        assert log.offsets().log_end_offset == int(active.name.split(".")[0])


@async_test
async def test_whole_log_scan_skips_a_damaged_segment(tmp_path: Path) -> None:
    written = await _written(tmp_path)
    sealed = _segment_files(tmp_path, ".log")[1]
    _flip(sealed, 61 + 5)
    log = await _open(tmp_path, clean=True)
    seen = [h.base_offset async for _batch, h in stored_batches(log)]
    first, after = (int(p.name.split(".")[0]) for p in _segment_files(tmp_path, ".log")[1:3])
    assert seen == [b for b in sorted(written) if not first <= b < after]
