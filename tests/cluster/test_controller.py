"""The controller's pure decisions: Kafka's replica placement (against Kafka's own unit-test
expectations and hand-derived placements), failover (also what a controlled shutdown gets:
the leaving broker is unregistered first), rebalance, preferred election and reassignment,
with hypothesis properties for the invariants."""

from __future__ import annotations

import random
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kwire.cluster.api import BrokerInfo, PartitionState
from kwire.cluster.controller import (
    AdminOperationError,
    ApiError,
    InvalidPartitions,
    InvalidReplicationFactor,
    TopicIndex,
    _rack_alternated,
    apply_changes,
    assign_replicas,
    elect_for_dead_brokers,
    elect_preferred,
    isr,
    leader_counts,
    offline_replicas,
    reassign,
    rebalance,
)
from kwire.errors import ErrorCode

Partitions = dict[TopicIndex, PartitionState]


def brokers(*ids: int, racks: Mapping[int, str | None] | None = None) -> list[BrokerInfo]:
    return [BrokerInfo(i, f"h{i}", 9092, (racks or {}).get(i)) for i in ids]


def ps(leader: int, epoch: int, *replicas: int) -> PartitionState:
    return PartitionState(leader=leader, leader_epoch=epoch, replicas=tuple(replicas))


# ---------------------------------------------------------------- assign_replicas


def test_rack_unaware_matches_kafkas_admin_rack_aware_test() -> None:
    # AdminRackAwareTest.testReplicaAssignment: 5 brokers, 10 partitions, RF 3, start index 0.
    expected = [(0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 0), (4, 0, 1),
                (0, 2, 3), (1, 3, 4), (2, 4, 0), (3, 0, 1), (4, 1, 2)]
    assert assign_replicas(10, 3, brokers(0, 1, 2, 3, 4), 0, -1) == expected
    # Kafka takes brokers in id order, whatever order they come in.
    assert assign_replicas(10, 3, brokers(3, 1, 4, 0, 2), 0) == expected


def test_rack_aware_matches_kafkas_test() -> None:
    # AdminRackAwareTest.testGetRackAlternatedBrokerListAndAssignReplicasToBrokers.
    racks = {0: "rack1", 1: "rack3", 2: "rack3", 3: "rack2", 4: "rack2", 5: "rack1"}
    assert _rack_alternated(racks) == [0, 3, 1, 5, 4, 2]
    assert _rack_alternated({b: r for b, r in racks.items() if b != 5}) == [0, 3, 1, 4, 2]
    got = assign_replicas(7, 3, brokers(*racks, racks=racks), 0, 0)
    assert got == [(0, 3, 1), (3, 1, 5), (1, 5, 4), (5, 4, 2), (4, 2, 0), (2, 0, 3), (0, 4, 2)]


def test_rack_unaware_by_hand() -> None:
    # n = 3 (ids 1, 2, 3), start index 1 (= first shift): follower index is
    # (first + 1 + (shift + j) % (n - 1)) % n; the shift grows when the partition id wraps.
    three = brokers(1, 2, 3)
    assert assign_replicas(4, 2, three, 1) == [(2, 1), (3, 2), (1, 3), (2, 3)]
    # New partitions (CreatePartitions) continue from start_partition; the shift only
    # grows on a wrap met during this call, as in Kafka.
    assert assign_replicas(1, 2, three, 1, start_partition=3) == [(2, 3)]
    assert assign_replicas(1, 2, three, 1, start_partition=4) == [(3, 2)]
    assert assign_replicas(3, 1, three, 2) == [(3,), (1,), (2,)]
    assert assign_replicas(2, 3, three, 0) == [(1, 2, 3), (2, 3, 1)]


def test_rack_aware_spreads_racks() -> None:
    racks = {0: "a", 1: "b", 2: "c", 3: "a", 4: "b", 5: "c"}
    for start in range(6):
        for replicas in assign_replicas(12, 3, brokers(*racks, racks=racks), start):
            assert len({racks[b] for b in replicas}) == 3
            assert len(set(replicas)) == 3


def test_random_start_is_seeded_from_rng_and_spreads_leaders() -> None:
    six = brokers(*range(6))
    a = assign_replicas(12, 3, six, rng=random.Random(7))
    assert a == assign_replicas(12, 3, six, rng=random.Random(7))
    assert sorted(r[0] for r in a) == sorted(list(range(6)) * 2)
    assert all(len(set(r)) == 3 for r in a)


def test_assign_replicas_errors_are_kafkas() -> None:
    with pytest.raises(InvalidReplicationFactor) as e:
        assign_replicas(1, 3, brokers(1), 0)
    assert e.value.message == "Replication factor: 3 larger than available brokers: 1."
    assert e.value.error_code == ErrorCode.INVALID_REPLICATION_FACTOR
    with pytest.raises(InvalidReplicationFactor, match="must be larger than 0"):
        assign_replicas(1, 0, brokers(1), 0)
    with pytest.raises(InvalidPartitions, match="Number of partitions must be larger than 0."):
        assign_replicas(0, 1, brokers(1), 0)
    with pytest.raises(AdminOperationError, match="Not all brokers have rack information"):
        assign_replicas(1, 1, brokers(1, 2, racks={1: "r"}), 0)
    with pytest.raises(ValueError):
        assign_replicas(1, 1, brokers(1), -1)


# ---------------------------------------------------------------- helpers


def test_isr_offline_and_counts() -> None:
    state = ps(2, 0, 3, 2, 1)
    assert isr(state, {1, 2}) == (2, 1)
    assert offline_replicas(state, {1, 2}) == (3,)
    assert leader_counts({("t", 0): state, ("t", 1): ps(-1, 0, 1), ("t", 2): ps(2, 0, 2)}) == {2: 2}


# ---------------------------------------------------------------- elect_for_dead_brokers


def test_dead_leader_goes_to_first_live_replica() -> None:
    parts = {("t", 0): ps(1, 4, 1, 2, 3), ("t", 1): ps(2, 0, 2, 1), ("t", 2): ps(-1, 7, 3, 2)}
    changes = elect_for_dead_brokers(parts, brokers(2, 3))
    assert changes == {("t", 0): ps(2, 5, 1, 2, 3), ("t", 2): ps(3, 8, 3, 2)}


def test_no_live_replica_takes_least_loaded_brokers() -> None:
    parts = {("t", 0): ps(1, 0, 1, 2), ("t", 1): ps(1, 0, 1, 2), ("t", 2): ps(1, 3, 1),
             ("u", 0): ps(3, 0, 3, 4)}
    changes = elect_for_dead_brokers(parts, brokers(3, 4, 5))
    # loads start at 3:1, 4:0, 5:0; each decision adds one to its leader, so t-2
    # meets a three-way tie and takes the lowest id.
    assert changes == {("t", 0): ps(4, 1, 4, 5), ("t", 1): ps(5, 1, 5, 3),
                       ("t", 2): ps(3, 4, 3)}
    # Length is capped at the live broker count.
    assert elect_for_dead_brokers({("t", 0): ps(1, 0, 1, 2, 3)}, brokers(9)) == {
        ("t", 0): ps(9, 1, 9)}


def test_no_live_broker_at_all() -> None:
    parts = {("t", 0): ps(1, 4, 1, 2), ("t", 1): ps(-1, 2, 2)}
    assert elect_for_dead_brokers(parts, []) == {("t", 0): ps(-1, 4, 1, 2)}


# ---------------------------------------------------------------- rebalance


def test_rebalance_after_a_broker_arrives() -> None:
    parts = {("t", i): ps(1 + i % 2, 0, 1 + i % 2, 2 - i % 2) for i in range(6)}
    changes = rebalance(parts, brokers(1, 2, 3))
    assert len(changes) == 2
    after = apply_changes(parts, changes)
    assert leader_counts(after) == {1: 2, 2: 2, 3: 2}
    for tp, state in changes.items():
        assert state.leader == 3 and state.replicas[0] == 3
        assert state.leader_epoch == parts[tp].leader_epoch + 1
        # 3 was in no list: it took the old leader's entry, then moved to the front.
        old = parts[tp].replicas
        assert sorted(state.replicas) == sorted([3, old[1]])


def test_rebalance_prefers_a_receiver_already_in_replicas() -> None:
    parts = {("t", 0): ps(1, 0, 1, 2), ("t", 1): ps(1, 0, 1, 3), ("t", 2): ps(1, 0, 3, 1, 2)}
    changes = rebalance(parts, brokers(1, 2, 3))
    # 3 is the preferred leader of t-2: it moves there first (a plain election, no swap needed).
    assert changes[("t", 2)] == ps(3, 1, 3, 1, 2)
    # 2 is a replica of t-0 only: swapped to the front.
    assert changes[("t", 0)] == ps(2, 1, 2, 1)
    assert ("t", 1) not in changes


def test_consumer_offsets_are_balanced_on_their_own() -> None:
    parts = {("__consumer_offsets", i): ps(1, 0, 1) for i in range(4)}
    parts.update({("t", i): ps(2, 0, 2) for i in range(4)})
    changes = rebalance(parts, brokers(1, 2))
    after = apply_changes(parts, changes)
    offsets = {tp: s for tp, s in after.items() if tp[0] == "__consumer_offsets"}
    assert leader_counts(offsets) == {1: 2, 2: 2}
    assert leader_counts({tp: s for tp, s in after.items() if tp[0] == "t"}) == {1: 2, 2: 2}
    assert len(changes) == 4


def test_rebalance_leaves_a_balanced_cluster_alone() -> None:
    parts = {("t", 0): ps(1, 0, 1, 2), ("t", 1): ps(2, 0, 2, 1), ("t", 2): ps(1, 0, 2, 1)}
    assert rebalance(parts, brokers(1, 2)) == {}


# ---------------------------------------------------------------- elect_preferred


def test_elect_preferred_with_named_partitions() -> None:
    parts = {("t", 0): ps(2, 5, 1, 2), ("t", 1): ps(1, 0, 1, 2), ("t", 2): ps(2, 0, 3, 2)}
    changes, errors = elect_preferred(parts, brokers(1, 2), [("t", 0), ("t", 1), ("t", 2),
                                                             ("t", 9), ("t", 0)])
    assert changes == {("t", 0): ps(1, 6, 1, 2)}
    assert errors == {
        ("t", 1): ApiError(ErrorCode.ELECTION_NOT_NEEDED),
        ("t", 2): ApiError(ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE,
                           "Failed to elect leader for partition t-2 under strategy "
                           "PreferredReplicaPartitionLeaderElectionStrategy"),
        ("t", 9): ApiError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "The partition does not exist."),
    }


def test_elect_preferred_for_all_omits_election_not_needed() -> None:
    parts = {("t", 0): ps(2, 5, 1, 2), ("t", 1): ps(1, 0, 1, 2), ("t", 2): ps(2, 0, 3, 2)}
    changes, errors = elect_preferred(parts, brokers(1, 2), None)
    assert changes == {("t", 0): ps(1, 6, 1, 2)}
    assert set(errors) == {("t", 2)}
    assert errors[("t", 2)].error_code == ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE


# ---------------------------------------------------------------- reassign


def test_reassign() -> None:
    parts = {("t", 0): ps(1, 3, 1, 2), ("t", 1): ps(1, 3, 1, 2), ("t", 2): ps(1, 3, 1, 2),
             ("t", 3): ps(1, 3, 1, 2), ("t", 4): ps(1, 3, 1, 2)}
    changes, errors = reassign(parts, brokers(1, 2, 3), {
        ("t", 0): (3, 2),     # leader leaves the list: first live of the new list leads
        ("t", 1): (2, 1),     # a reorder: leader stays, no epoch bump (as Kafka's controller)
        ("t", 2): (3, 1),     # leader stays but 2 is dropped: Kafka bumps the epoch
        ("t", 3): (1, 2, 3),  # an addition: no bump
        ("t", 4): (1, 2),     # unchanged: nothing to write, no error
    })
    assert errors == {}
    assert changes == {("t", 0): ps(3, 4, 3, 2), ("t", 1): ps(1, 3, 2, 1),
                       ("t", 2): ps(1, 4, 3, 1), ("t", 3): ps(1, 3, 1, 2, 3)}


def test_reassign_errors() -> None:
    parts = {("t", 0): ps(1, 0, 1, 2, 9)}
    live = brokers(1, 2, 3)
    for target, code, message in [
        ((), ErrorCode.INVALID_REPLICA_ASSIGNMENT,
         "Empty replica list specified in partition reassignment."),
        ((1, 2, 1), ErrorCode.INVALID_REPLICA_ASSIGNMENT,
         "Duplicate replica ids in partition reassignment replica list: [1, 2, 1]"),
        ((1, -2), ErrorCode.INVALID_REPLICA_ASSIGNMENT,
         "Invalid broker id in replica list: [1, -2]"),
        ((1, 7), ErrorCode.INVALID_REPLICA_ASSIGNMENT,
         "Replica assignment has brokers that are not alive. Replica list: [7], "
         "live broker list: [1, 2, 3]"),
        ((9,), ErrorCode.INVALID_REPLICA_ASSIGNMENT,
         "Replica assignment has brokers that are not alive. Replica list: [9], "
         "live broker list: [1, 2, 3]"),
        (None, ErrorCode.NO_REASSIGNMENT_IN_PROGRESS, None),
    ]:
        bad: dict[TopicIndex, tuple[int, ...] | None] = {("t", 0): target, ("t", 9): (1,)}
        changes, errors = reassign(parts, live, bad)
        assert changes == {}
        assert errors == {("t", 0): ApiError(code, message),
                          ("t", 9): ApiError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                                             "The partition does not exist.")}
    # A replica the partition already has may be dead (as in Kafka): 9 stays, 1 keeps leading.
    assert reassign(parts, live, {("t", 0): (9, 1)}) == ({("t", 0): ps(1, 1, 9, 1)}, {})


# ---------------------------------------------------------------- properties

TOPICS = ["a", "b", "__consumer_offsets"]
IDS = list(range(6))


@st.composite
def clusters(draw: st.DrawFn) -> tuple[Partitions, list[BrokerInfo]]:
    live_ids = draw(st.lists(st.sampled_from(IDS), unique=True, max_size=5))
    parts: Partitions = {}
    for topic in TOPICS:
        for i in range(draw(st.integers(0, 6))):
            replicas = draw(st.lists(st.sampled_from(IDS), unique=True, min_size=1, max_size=3))
            leader = draw(st.sampled_from([-1, *replicas]))
            parts[(topic, i)] = PartitionState(leader, draw(st.integers(0, 5)), tuple(replicas))
    return parts, brokers(*live_ids)


def shuffled(parts: Partitions, seed: int) -> Partitions:
    items = list(parts.items())
    random.Random(seed).shuffle(items)
    return dict(items)


def check_epochs(before: Partitions, changes: Partitions) -> None:
    for tp, state in changes.items():
        assert state != before[tp]
        if state.leader != before[tp].leader and state.leader != -1:
            assert state.leader_epoch == before[tp].leader_epoch + 1
        else:
            assert state.leader_epoch == before[tp].leader_epoch


@settings(max_examples=200, deadline=None)
@given(clusters(), st.integers(0, 1000))
def test_elect_for_dead_brokers_properties(cluster: tuple[Partitions, list[BrokerInfo]],
                                           seed: int) -> None:
    parts, live = cluster
    live_ids = {b.node_id for b in live}
    changes = elect_for_dead_brokers(parts, live)
    check_epochs(parts, changes)
    assert changes == elect_for_dead_brokers(shuffled(parts, seed), live[::-1])
    after = apply_changes(parts, changes)
    for tp, state in after.items():
        if live_ids:
            assert state.leader in live_ids and state.leader in state.replicas
            if tp in changes and state.replicas != parts[tp].replicas:
                assert len(state.replicas) == min(len(parts[tp].replicas), len(live_ids))
        else:
            assert state.leader == -1 and state.replicas == parts[tp].replicas
        if parts[tp].leader in live_ids:
            assert tp not in changes


def minimal_moves(counts: list[int]) -> int:
    q, r = divmod(sum(counts), len(counts))
    ordered = sorted(counts, reverse=True)
    return sum(max(0, c - (q + 1 if i < r else q)) for i, c in enumerate(ordered))


@settings(max_examples=200, deadline=None)
@given(clusters(), st.integers(0, 1000))
def test_rebalance_properties(cluster: tuple[Partitions, list[BrokerInfo]], seed: int) -> None:
    parts, live = cluster
    parts = apply_changes(parts, elect_for_dead_brokers(parts, live))
    live_ids = sorted(b.node_id for b in live)
    changes = rebalance(parts, live)
    check_epochs(parts, changes)
    assert changes == rebalance(shuffled(parts, seed), live[::-1])
    if not live_ids:
        assert changes == {}
        return
    after = apply_changes(parts, changes)
    expected_moves = 0
    for group in (["a", "b"], ["__consumer_offsets"]):
        before_counts = leader_counts({tp: s for tp, s in parts.items() if tp[0] in group})
        counts = leader_counts({tp: s for tp, s in after.items() if tp[0] in group})
        per_broker = [counts.get(b, 0) for b in live_ids]
        assert max(per_broker) - min(per_broker) <= 1
        expected_moves += minimal_moves([before_counts.get(b, 0) for b in live_ids])
    assert len(changes) == expected_moves
    for tp, state in changes.items():
        old = parts[tp]
        assert state.replicas[0] == state.leader and state.leader in live_ids
        assert len(state.replicas) == len(old.replicas)
        assert set(state.replicas) - {state.leader} <= set(old.replicas)
    assert rebalance(after, live) == {}


@settings(max_examples=200, deadline=None)
@given(clusters())
def test_elect_preferred_properties(cluster: tuple[Partitions, list[BrokerInfo]]) -> None:
    parts, live = cluster
    changes, errors = elect_preferred(parts, live, None)
    check_epochs(parts, changes)
    assert all(e.error_code == ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE for e in errors.values())
    assert not set(changes) & set(errors)
    for tp, state in parts.items():
        assert tp in changes or tp in errors or state.leader == state.replicas[0]
    for state in changes.values():
        assert state.leader == state.replicas[0]
