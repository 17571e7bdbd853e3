"""TxnOffsetCommit through the broker: unknown topics first, pending offsets
hidden (UNSTABLE_OFFSET_COMMIT with require_stable) until the transaction's
marker lands in __consumer_offsets, replay of transactional and control batches,
and a refused (fenced) transactional write answered without losing the shard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _harness import InProcessBroker, reload_groups  # type: ignore[import-not-found]

from kwire.broker.txn_router import write_local_marker
from kwire.coordinator.group import GroupCoordinator
from kwire.coordinator.group.manager import OFFSETS_TOPIC, GroupManager, partition_for
from kwire.errors import ErrorCode
from kwire.log.scan import stored_batches

PID = 7000


@pytest.fixture
def kb(tmp_path: Path) -> InProcessBroker:
    # These tests drive the group coordinator with made-up producer ids and no
    # transaction coordinator; the coordinator check of a TxnOffsetCommit
    # (KIP-890) is test_txn_verification.py's.
    return InProcessBroker(tmp_path, **{"transaction.partition.verification.enable": "false"})


def _txn_commit(kb: InProcessBroker, version: int, topics: list[tuple[str, list[int]]], *,
                group: str = "g", pid: int = PID, epoch: int = 0, offset: int = 5) -> Any:
    body: dict[str, Any] = {
        "transactional_id": "tx", "group_id": group, "producer_id": pid, "producer_epoch": epoch,
        "topics": [{"name": t, "partitions": [
            {"partition_index": p, "committed_offset": offset, "committed_leader_epoch": 2,
             "committed_metadata": "md"} for p in parts]} for t, parts in topics]}
    if version >= 3:
        body.update(generation_id=-1, member_id="", group_instance_id=None)
    return kb.call(28, version, body)


def _answers(r: Any) -> list[tuple[str, list[tuple[int, int]]]]:
    return [(t.name, [(p.partition_index, p.error_code) for p in t.partitions])
            for t in r.topics]


async def _fetch(kb: InProcessBroker, version: int, stable: bool, group: str = "g"
                 ) -> list[tuple[int, int, int]]:
    body: dict[str, Any] = {"group_id": group,
                            "topics": [{"name": "t", "partition_indexes": [0, 1]}]}
    if version >= 7:
        body["require_stable"] = stable
    r = await kb.call(9, version, body)
    assert r.error_code == ErrorCode.NONE
    return [(p.partition_index, p.committed_offset, p.error_code)
            for t in r.topics for p in t.partitions]


async def test_pending_until_the_commit_marker_then_replayed(kb: InProcessBroker) -> None:
    await kb.broker.create_topic("t", 2, {})
    await kb.broker.groups.ensure_ready()
    r = await _txn_commit(kb, 3, [("t", [0, 9]), ("nope", [0])])
    # Unknown partitions first, merged per topic with the coordinator's answers.
    assert _answers(r) == [("t", [(9, 3), (0, 0)]), ("nope", [(0, 3)])]
    assert await _fetch(kb, 7, stable=True) == [
        (0, -1, ErrorCode.UNSTABLE_OFFSET_COMMIT), (1, -1, 0)]
    assert await _fetch(kb, 6, stable=False) == [(0, -1, 0), (1, -1, 0)]

    # The records went as one transactional batch of the producer, without a sequence.
    index = partition_for("g", 50)
    partition = kb.broker.partition(OFFSETS_TOPIC, index)
    assert partition is not None
    txn = [h async for _b, h in stored_batches(partition.log) if h.is_transactional]
    assert [(h.producer_id, h.producer_epoch, h.base_sequence, h.records_count)
            for h in txn] == [(PID, 0, -1, 1)]

    code = await write_local_marker(kb.broker, OFFSETS_TOPIC, index, PID, 0, 0, True)
    assert code == ErrorCode.NONE
    assert await _fetch(kb, 7, stable=True) == [(0, 5, 0), (1, -1, 0)]

    # A second transaction stays open across a reload; the first stays committed.
    r = await _txn_commit(kb, 2, [("t", [1])], pid=PID + 1, offset=9)
    assert _answers(r) == [("t", [(1, 0)])]
    kb.broker.groups = GroupManager(kb.broker, GroupCoordinator)
    await reload_groups(kb)
    assert await _fetch(kb, 7, stable=True) == [
        (0, 5, 0), (1, -1, ErrorCode.UNSTABLE_OFFSET_COMMIT)]
    code = await write_local_marker(kb.broker, OFFSETS_TOPIC, index, PID + 1, 0, 0, False)
    assert code == ErrorCode.NONE
    assert await _fetch(kb, 7, stable=True) == [(0, 5, 0), (1, -1, 0)]


async def test_offset_fetch_v8_puts_unstable_on_the_partition(kb: InProcessBroker) -> None:
    await kb.broker.create_topic("t", 2, {})
    await kb.broker.groups.ensure_ready()
    await _txn_commit(kb, 3, [("t", [0])])
    r = await kb.call(9, 8, {"groups": [{"group_id": "g", "topics": [
        {"name": "t", "partition_indexes": [0]}]}], "require_stable": True})
    group = r.groups[0]
    assert group.error_code == ErrorCode.NONE
    assert [(p.partition_index, p.error_code) for t in group.topics for p in t.partitions] == [
        (0, ErrorCode.UNSTABLE_OFFSET_COMMIT)]


async def test_empty_group_id_and_all_unknown(kb: InProcessBroker) -> None:
    await kb.broker.create_topic("t", 1, {})
    r = await _txn_commit(kb, 0, [("t", [0])], group="")
    assert _answers(r) == [("t", [(0, ErrorCode.INVALID_GROUP_ID)])]
    r = await _txn_commit(kb, 5, [("nope", [0])])
    assert _answers(r) == [("nope", [(0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)])]


async def test_fenced_epoch_is_refused_and_reverted(kb: InProcessBroker) -> None:
    await kb.broker.create_topic("t", 2, {})
    await kb.broker.groups.ensure_ready()
    r = await _txn_commit(kb, 3, [("t", [0])], epoch=1)
    assert _answers(r) == [("t", [(0, 0)])]
    # A zombie with the older epoch: the partition refuses its batch, as Kafka's
    # ProducerAppendInfo does for a coordinator-origin append.
    r = await _txn_commit(kb, 3, [("t", [1])], epoch=0)
    assert _answers(r) == [("t", [(1, ErrorCode.INVALID_PRODUCER_EPOCH)])]
    # Nothing of it stayed pending; the shard still serves (no reload happened).
    assert await _fetch(kb, 7, stable=True) == [
        (0, -1, ErrorCode.UNSTABLE_OFFSET_COMMIT), (1, -1, 0)]
