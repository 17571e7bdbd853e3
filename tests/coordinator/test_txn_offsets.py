"""TxnOffsetCommit: pending offsets, commit and abort markers, Kafka's ordering rule
between transactional and plain commits, require_stable, replay, and the group
lifecycle with open transactions (deletion, retention, deleted topics)."""

from __future__ import annotations

from typing import Any

from kwire.coordinator.group import GroupCoordinator
from kwire.coordinator.group.effects import TxnProducer
from kwire.coordinator.group.records import OffsetCommitKey, OffsetCommitValue
from kwire.coordinator.group.responses import (
    DeleteGroupsResponse,
    OffsetCommitPartitionResponse,
    OffsetDeleteResponse,
    OffsetFetchPartitionResponse,
    OffsetFetchResponse,
    TxnOffsetCommitResponse,
)
from kwire.errors import ErrorCode

from ._harness import Harness

PID = 4000
EPOCH = 3
DAY = 86_400_000


class Log:
    """What the driver would store: batches (records, producer) and markers, in order."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, Any, Any]] = []

    def replay_into(self, coordinator: GroupCoordinator) -> None:
        for kind, a, b in self.entries:
            if kind == "batch":
                pid = -1 if b is None else b.producer_id
                for key, value in a:
                    coordinator.replay(key, value, pid)
            else:
                coordinator.complete_transaction(a, b)


class TxnHarness(Harness):
    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self.log = Log()

    def call(self, method: str, **kwargs: Any) -> Any:
        token = super().call(method, **kwargs)
        fx = self.last_effects
        if fx.records:
            self.log.entries.append(("batch", list(fx.records), fx.producer))
        return token

    def txn_commit(self, offsets: list[tuple[str, int, int, int, str | None]], *,
                   pid: int = PID, group_id: str = "g", generation: int = -1,
                   member_id: str = "", instance: str | None = None) -> list[int]:
        token = self.call("commit_txn_offsets", group_id=group_id, producer_id=pid,
                          producer_epoch=EPOCH, generation_id=generation, member_id=member_id,
                          group_instance_id=instance, offsets=offsets)
        response = self.resp(token)
        assert isinstance(response, TxnOffsetCommitResponse)
        return [p.error_code for p in response.partitions]

    def marker(self, pid: int, commit: bool) -> None:
        self.log.entries.append(("marker", pid, commit))
        self.coord.complete_transaction(pid, commit)

    def fetch(self, partitions: list[tuple[str, int]] | None, *, stable: bool = False,
              group_id: str = "g") -> OffsetFetchResponse:
        response = self.resp(self.call("fetch_offsets", group_id=group_id,
                                       partitions=partitions, require_stable=stable))
        assert isinstance(response, OffsetFetchResponse)
        return response

    def offsets(self, partitions: list[tuple[str, int]], group_id: str = "g") -> list[int]:
        return [p.committed_offset for p in self.fetch(partitions, group_id=group_id).partitions]


def test_txn_offsets_are_one_transactional_write_and_stay_pending() -> None:
    h = TxnHarness()
    assert h.txn_commit([("t", 0, 10, 2, "m"), ("t", 1, 11, -1, None)]) == [0, 0]
    fx = h.last_effects
    assert fx.producer == TxnProducer(PID, EPOCH)
    assert [k for k, _ in h.decoded_records()] == [
        OffsetCommitKey("g", "t", 0), OffsetCommitKey("g", "t", 1)]
    assert h.decoded_records()[0][1] == OffsetCommitValue(10, 2, "m", h.now)
    # Not visible until the marker; the group exists (a simple group).
    assert h.offsets([("t", 0), ("t", 1)]) == [-1, -1]
    assert h.coord.group("g") is not None
    assert h.coord.pending_offset(PID, "g", "t", 0) is not None


def test_commit_marker_makes_them_committed_abort_drops_them() -> None:
    h = TxnHarness()
    h.txn_commit([("t", 0, 10, -1, "")])
    h.txn_commit([("t", 1, 20, -1, "")], pid=PID + 1)
    h.marker(PID, commit=True)
    h.marker(PID + 1, commit=False)
    assert h.offsets([("t", 0), ("t", 1)]) == [10, -1]
    assert h.coord.pending_offset(PID + 1, "g", "t", 1) is None
    # A marker for a producer with nothing pending here is ignored.
    h.marker(PID + 2, commit=True)
    assert h.offsets([("t", 0)]) == [10]


def test_later_record_wins_between_transactional_and_plain_commits() -> None:
    h = TxnHarness()
    # Plain commit first, transactional later: the transaction's offset wins.
    h.commit("", -1, [("t", 0, 5, -1, "")])
    h.txn_commit([("t", 0, 6, -1, "")])
    h.marker(PID, commit=True)
    assert h.offsets([("t", 0)]) == [6]
    # Transactional first, plain commit while it is open: the plain one is later
    # in the log and is kept when the transaction commits.
    h.txn_commit([("t", 1, 100, -1, "")])
    h.commit("", -1, [("t", 1, 50, -1, "")])
    assert h.offsets([("t", 1)]) == [50]
    h.marker(PID, commit=True)
    assert h.offsets([("t", 1)]) == [50]
    # Replay reproduces both outcomes.
    fresh = GroupCoordinator()
    h.log.replay_into(fresh)
    fresh.loaded(h.now)
    assert {tp: v.committed_offset for tp, v in fresh.committed("g").items()} == {
        ("t", 0): 6, ("t", 1): 50}


def test_require_stable_answers_unstable_offset_commit_per_partition() -> None:
    h = TxnHarness()
    h.commit("", -1, [("t", 0, 1, -1, ""), ("t", 1, 2, -1, "")])
    h.txn_commit([("t", 0, 9, -1, "")])
    stable = h.fetch([("t", 0), ("t", 1), ("u", 0)], stable=True)
    assert stable.error_code == ErrorCode.NONE
    assert stable.partitions == (
        OffsetFetchPartitionResponse("t", 0, -1, -1, "", ErrorCode.UNSTABLE_OFFSET_COMMIT),
        OffsetFetchPartitionResponse("t", 1, 2, -1, ""),
        OffsetFetchPartitionResponse("u", 0),
    )
    # All partitions (null topics): the committed ones, the unstable one flagged.
    assert [(p.partition_index, p.error_code) for p in h.fetch(None, stable=True).partitions] == [
        (0, ErrorCode.UNSTABLE_OFFSET_COMMIT), (1, ErrorCode.NONE)]
    # Without require_stable the committed value is served.
    assert h.offsets([("t", 0)]) == [1]
    h.marker(PID, commit=False)
    assert [p.error_code for p in h.fetch([("t", 0)], stable=True).partitions] == [0]


def test_replay_rebuilds_pending_and_completed_transactions() -> None:
    h = TxnHarness()
    h.txn_commit([("t", 0, 10, -1, "")])
    h.txn_commit([("t", 1, 20, -1, "")], pid=PID + 1)
    h.marker(PID, commit=True)
    fresh = GroupCoordinator()
    h.log.replay_into(fresh)
    fresh.loaded(h.now)
    assert {tp: v.committed_offset for tp, v in fresh.committed("g").items()} == {("t", 0): 10}
    pending = fresh.pending_offset(PID + 1, "g", "t", 1)
    assert pending is not None and pending.committed_offset == 20
    fresh.complete_transaction(PID + 1, True)
    assert fresh.committed("g")[("t", 1)].committed_offset == 20


def test_validation_follows_classic_group_rules_for_transactions() -> None:
    h = TxnHarness()
    (a, b), gen = h.stable_group(2)
    assert h.txn_commit([("t", 0, 1, -1, "")], generation=gen, member_id=a) == [0]
    assert h.txn_commit([("t", 0, 1, -1, "")], generation=gen + 1, member_id=a) == [
        ErrorCode.ILLEGAL_GENERATION]
    assert h.txn_commit([("t", 0, 1, -1, "")], generation=gen, member_id="nobody") == [
        ErrorCode.UNKNOWN_MEMBER_ID]
    # v0-2 requests carry no member: accepted even though the group has members.
    assert h.txn_commit([("t", 0, 1, -1, "")]) == [0]
    # An unknown group with a generation: ILLEGAL_GENERATION, no group created.
    assert h.txn_commit([("t", 0, 1, -1, "")], group_id="other", generation=1) == [
        ErrorCode.ILLEGAL_GENERATION]
    assert h.coord.group("other") is None
    # Metadata too large fails that partition only.
    r = h.txn_commit([("t", 0, 1, -1, "x" * 5000), ("t", 1, 1, -1, "")], group_id="s")
    assert r == [ErrorCode.OFFSET_METADATA_TOO_LARGE, 0]


def test_transactional_commit_accepted_while_completing_rebalance() -> None:
    h = TxnHarness()
    (a, b), gen = h.stable_group(2)
    h.join(a)  # the leader rejoins: PreparingRebalance
    h.join(b)
    h.advance(10)
    group = h.group()
    assert group.state.value == "CompletingRebalance"
    new_gen = group.generation_id
    assert h.txn_commit([("t", 0, 1, -1, "")], generation=new_gen, member_id=a) == [0]
    assert [p.error_code for p in h.resp(h.commit(a, new_gen, [("t", 0, 1, -1, "")])).partitions
            ] == [ErrorCode.REBALANCE_IN_PROGRESS]


def test_loading_coordinator_answers_load_in_progress() -> None:
    h = TxnHarness(load=False)
    assert h.txn_commit([("t", 0, 1, -1, "")]) == [ErrorCode.COORDINATOR_LOAD_IN_PROGRESS]


def test_revert_undoes_a_refused_write() -> None:
    h = TxnHarness()
    h.txn_commit([("t", 0, 1, -1, "")])
    h.txn_commit([("t", 0, 2, -1, ""), ("t", 1, 3, -1, "")], group_id="g")
    h.txn_commit([("t", 0, 4, -1, "")], group_id="new")
    fx = h.last_effects
    assert fx.revert is not None
    fx.revert()
    assert h.coord.group("new") is None
    assert h.coord.pending_offset(PID, "new", "t", 0) is None
    # Earlier pending offsets of the producer are intact.
    pending = h.coord.pending_offset(PID, "g", "t", 0)
    assert pending is not None and pending.committed_offset == 2


def test_delete_group_tombstones_pending_partitions_too() -> None:
    h = TxnHarness()
    h.commit("", -1, [("t", 0, 1, -1, "")])
    h.txn_commit([("t", 0, 2, -1, ""), ("t", 1, 3, -1, "")])
    response = h.resp(h.call("delete_groups", group_ids=["g"]))
    assert isinstance(response, DeleteGroupsResponse)
    assert response.results[0].error_code == ErrorCode.NONE
    tombstones = [k for k, v in h.decoded_records()[-3:] if v is None]
    assert tombstones[:2] == [OffsetCommitKey("g", "t", 0), OffsetCommitKey("g", "t", 1)]
    # The commit marker then has nothing left to materialize.
    h.marker(PID, commit=True)
    assert h.coord.committed("g") == {}


def test_offset_delete_tombstones_a_pending_only_partition() -> None:
    h = TxnHarness()
    h.txn_commit([("t", 0, 2, -1, "")])
    before = len(h.records)
    response = h.resp(h.call("delete_offsets", group_id="g", partitions=[("t", 0)]))
    assert isinstance(response, OffsetDeleteResponse)
    assert response.partitions[0].error_code == ErrorCode.NONE
    assert len(h.records) == before + 1
    assert h.coord.pending_offset(PID, "g", "t", 0) is None


def test_retention_waits_for_open_transactions() -> None:
    h = TxnHarness(offsets_retention_ms=DAY, offsets_retention_check_interval_ms=DAY)
    h.commit("", -1, [("t", 0, 1, -1, ""), ("t", 1, 1, -1, "")])
    h.txn_commit([("t", 0, 2, -1, "")])
    h.advance(2 * DAY)
    # t-1 expired; t-0 has a pending offset and stays; the group stays.
    assert set(h.coord.committed("g")) == {("t", 0)}
    assert h.coord.group("g") is not None
    # A group with only pending offsets is not deleted by retention either.
    h.txn_commit([("u", 0, 2, -1, "")], group_id="only-pending", pid=PID + 1)
    h.advance(2 * DAY)
    assert h.coord.group("only-pending") is not None
    h.marker(PID, commit=False)
    h.marker(PID + 1, commit=False)
    h.advance(2 * DAY)
    assert h.coord.group("g") is None
    assert h.coord.group("only-pending") is None


def test_deleted_topic_drops_pending_offsets() -> None:
    h = TxnHarness()
    h.txn_commit([("t", 0, 2, -1, ""), ("u", 0, 2, -1, "")])
    h.call("on_partitions_deleted", partitions=[("t", 0)])
    assert h.coord.pending_offset(PID, "g", "t", 0) is None
    assert h.coord.pending_offset(PID, "g", "u", 0) is not None
    h.marker(PID, commit=True)
    assert set(h.coord.committed("g")) == {("u", 0)}


def test_response_shape_is_offset_commit_like() -> None:
    h = TxnHarness()
    token = h.call("commit_txn_offsets", group_id="g", producer_id=PID, producer_epoch=EPOCH,
                   offsets=[("t", 0, 1, -1, None)])
    assert h.resp(token) == TxnOffsetCommitResponse(
        (OffsetCommitPartitionResponse("t", 0, ErrorCode.NONE),))
