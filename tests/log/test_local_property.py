"""Property test: random appends into small segments, optionally a clean or a
killed restart midway, then reads from random offsets. The local log must
return the batch holding each offset, keep offsets contiguous, and agree with
the in-memory reference log (a local read may stop earlier, at a segment end)."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kwire.clock import ManualClock
from kwire.log.api import LogConfig, TopicPartition
from kwire.log.local import LocalLog, LocalLogStore
from kwire.log.memory import MemoryLogStore

from ._support import headers, make_batch

TP = TopicPartition("prop", 0)


@dataclass(frozen=True)
class Scenario:
    appends: list[tuple[int, int, int]]  # records, payload bytes, max timestamp
    config: LogConfig
    restart_after: int | None
    clean_restart: bool
    reads: list[tuple[int, int, bool]]  # offset seed, max bytes, min one batch
    timestamps: list[int]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    appends = draw(
        st.lists(
            st.tuples(st.integers(1, 5), st.integers(0, 300), st.integers(0, 5000)),
            min_size=1,
            max_size=60,
        )
    )
    config = LogConfig(
        segment_bytes=draw(st.sampled_from([150, 400, 1000])),
        index_interval_bytes=draw(st.sampled_from([0, 64, 256])),
    )
    return Scenario(
        appends=appends,
        config=config,
        restart_after=draw(st.none() | st.integers(0, len(appends))),
        clean_restart=draw(st.booleans()),
        reads=draw(
            st.lists(
                st.tuples(st.integers(0, 10**6), st.integers(0, 1500), st.booleans()), max_size=25
            )
        ),
        timestamps=draw(st.lists(st.integers(-1, 5100), max_size=10)),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_random_appends_and_reads(scenario: Scenario) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(check(scenario, Path(tmp)))


async def check(scenario: Scenario, data_dir: Path) -> None:
    clock = ManualClock()
    store = LocalLogStore(data_dir, clock.wall_ms)
    log: LocalLog = await store.open(TP, scenario.config)
    reference = await MemoryLogStore(clock.wall_ms).open(TP, scenario.config)
    for i, (records, payload, ts) in enumerate(scenario.appends):
        if i == scenario.restart_after:
            log, store = await restart(log, store, scenario, data_dir, clock)
        batch = make_batch(records, max_timestamp=ts, payload_size=payload)
        result = await log.append(batch, 0)
        expected = await reference.append(bytearray(batch), 0)
        assert result == expected
    if scenario.restart_after == len(scenario.appends):
        log, store = await restart(log, store, scenario, data_dir, clock)

    leo = log.offsets().log_end_offset
    assert log.offsets() == reference.offsets()
    # Walking the whole log as a consumer does sees every offset exactly once.
    offset = 0
    while offset < leo:
        batches = headers((await log.read(offset, 700, True)).records)
        assert batches
        for header in batches:
            assert header.base_offset == offset
            offset = header.next_offset
    assert offset == leo

    for seed, max_bytes, min_one in scenario.reads:
        offset = seed % (leo + 1)
        got = (await log.read(offset, max_bytes, min_one)).records
        want = (await reference.read(offset, max_bytes, min_one)).records
        assert want.startswith(got)
        if offset < leo and min_one:
            first = headers(got)[0]
            assert first.base_offset <= offset <= first.last_offset
        batches = headers(got)
        for before, after in zip(batches, batches[1:], strict=False):
            assert after.base_offset == before.next_offset

    for ts in scenario.timestamps:
        assert await log.offset_for_timestamp(ts) == await reference.offset_for_timestamp(ts)
    assert await log.max_timestamp() == await reference.max_timestamp()
    await store.close()


async def restart(
    log: LocalLog, store: LocalLogStore, scenario: Scenario, data_dir: Path, clock: ManualClock
) -> tuple[LocalLog, LocalLogStore]:
    if scenario.clean_restart:
        await store.close()
    else:
        log.close_files(flush=False)  # killed: no flush, no clean-shutdown marker
    store = LocalLogStore(data_dir, clock.wall_ms)
    return await store.open(TP, scenario.config), store
