"""The asyncio driver of the group coordinator: records reach __consumer_offsets
before answers, state comes back by replay, and a failed write never leaves a
request hanging."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _harness import InProcessBroker, reload_groups  # type: ignore[import-not-found]

from kwire.coordinator.group import GroupCoordinator
from kwire.coordinator.group.manager import OFFSETS_TOPIC, GroupManager, partition_for
from kwire.errors import ErrorCode, KwireError


def _commit(kb: InProcessBroker, group: str, offset: int) -> Any:
    groups = kb.broker.groups
    return groups.call(group, lambda c, token, now: c.commit_offsets(
        token, now, group_id=group, generation_id=-1, member_id="", group_instance_id=None,
        retention_time_ms=-1, offsets=[("t", 0, offset, -1, "meta")], api_version=8))


def _fetch(kb: InProcessBroker, group: str) -> Any:
    groups = kb.broker.groups
    return groups.call(group, lambda c, token, now: c.fetch_offsets(
        token, now, group_id=group, partitions=[("t", 0)], require_stable=False))


def test_partition_for_matches_kafka() -> None:
    # Utils.abs("group".hashCode()) % 50, computed with Java: "group".hashCode() == 98629247
    assert partition_for("group", 50) == 98629247 % 50
    assert partition_for("", 50) == 0


async def test_commit_is_stored_and_replayed(tmp_path: Path) -> None:
    kb = InProcessBroker(tmp_path)
    await kb.broker.groups.ensure_ready()
    r = await _commit(kb, "g", 42)
    assert [p.error_code for p in r.partitions] == [ErrorCode.NONE]
    stored = kb.broker.partition(OFFSETS_TOPIC, partition_for("g", 50))
    assert stored is not None and stored.log.offsets().log_end_offset >= 1
    # A fresh coordinator over the same logs rebuilds the commit by replay.
    kb.broker.groups = GroupManager(kb.broker, GroupCoordinator)
    await reload_groups(kb)
    fetched = await _fetch(kb, "g")
    assert [(p.committed_offset, p.metadata) for p in fetched.partitions] == [(42, "meta")]


async def test_failed_write_fails_the_request_and_reloads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kb = InProcessBroker(tmp_path)
    await kb.broker.groups.ensure_ready()
    await _commit(kb, "g", 7)
    manager = kb.broker.groups
    original = manager._append

    async def broken(shard: Any, records: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(manager, "_append", broken)
    with pytest.raises(KwireError) as failure:
        await _commit(kb, "g", 8)
    assert failure.value.error_code == ErrorCode.NOT_COORDINATOR
    monkeypatch.setattr(manager, "_append", original)
    fetched = await _fetch(kb, "g")
    # The unstored commit of 8 is gone; the stored 7 came back from the log.
    assert [p.committed_offset for p in fetched.partitions] == [7]


async def test_a_shard_whose_partition_was_taken_over_answers_not_coordinator(
    tmp_path: Path,
) -> None:
    """Cluster mode: another broker took the shard's partition over (this one's
    log is fenced) while this broker still held the shard. The failed write
    unloads it; reloading it here must not make an empty shard that answers for
    the group as if it did not exist (librdkafka got GROUP_ID_NOT_FOUND for its
    commits from a broker resumed after SIGSTOP, and its group stalled)."""
    kb = InProcessBroker(tmp_path)
    await kb.broker.groups.ensure_ready()
    await _commit(kb, "g", 7)
    stored = kb.broker.partition(OFFSETS_TOPIC, partition_for("g", 50))
    assert stored is not None
    stored.fenced = True  # what a LogFenced append leaves behind
    for call in (lambda: _commit(kb, "g", 8), lambda: _fetch(kb, "g")):
        with pytest.raises(KwireError) as failure:
            await call()
        assert failure.value.error_code == ErrorCode.NOT_COORDINATOR
