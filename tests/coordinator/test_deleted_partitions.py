"""Offsets of deleted topics: OffsetMetadataManager.onPartitionsDeleted."""

from __future__ import annotations

from kwire.coordinator.group import GroupCoordinator
from kwire.coordinator.group.records import OffsetCommitKey
from kwire.coordinator.group.responses import OffsetFetchResponse, PartitionsDeletedResponse
from kwire.coordinator.group.state import GroupState

from ._harness import Harness


def _deleted(h: Harness, partitions: list[tuple[str, int]]) -> int:
    response = h.resp(h.call("on_partitions_deleted", partitions=partitions))
    assert isinstance(response, PartitionsDeletedResponse)
    return response.deleted_offsets


def _committed(h: Harness, group_id: str) -> list[tuple[str, int, int]]:
    response = h.resp(h.call("fetch_offsets", group_id=group_id, partitions=None))
    assert isinstance(response, OffsetFetchResponse)
    return sorted((p.topic, p.partition_index, p.committed_offset) for p in response.partitions)


def test_tombstones_every_group_offset_of_the_deleted_partitions() -> None:
    h = Harness()
    (a,), gen = h.stable_group(1)
    h.commit(a, gen, [("t", 0, 3000, -1, None), ("t", 1, 7, -1, None), ("u", 0, 5, -1, None)])
    h.commit("", -1, [("t", 0, 11, -1, None)], group_id="simple")
    before = len(h.records)

    assert _deleted(h, [("t", 0), ("t", 1), ("t", 2)]) == 3

    assert sorted(h.decoded_records()[before:], key=repr) == sorted([
        (OffsetCommitKey("g", "t", 0), None),
        (OffsetCommitKey("g", "t", 1), None),
        (OffsetCommitKey("simple", "t", 0), None),
    ], key=repr)
    assert _committed(h, "g") == [("u", 0, 5)]
    assert _committed(h, "simple") == []
    # Groups stay, as in Kafka: a live group keeps its members, an emptied one its state.
    assert h.group("g").state is GroupState.STABLE
    assert h.group("simple").state is GroupState.EMPTY


def test_nothing_committed_writes_nothing() -> None:
    h = Harness()
    h.commit("", -1, [("t", 0, 1, -1, None)], group_id="simple")
    before = len(h.records)
    assert _deleted(h, [("other", 0), ("t", 1)]) == 0
    assert h.records[before:] == []


def test_tombstones_replay_to_no_offsets() -> None:
    h = Harness()
    h.commit("", -1, [("t", 0, 3000, -1, None)], group_id="simple")
    _deleted(h, [("t", 0)])
    replayed = GroupCoordinator()
    for key, value in h.records:
        replayed.replay(key, value)
    assert replayed.committed("simple") == {}
