"""KIP-848 reconciliation (`current_assignment.reconcile`): the scenarios of Kafka's
CurrentAssignmentBuilderTest, checked against Kafka 4.4.0's CurrentAssignmentBuilder, and the
partition epoch bookkeeping of its ConsumerGroup."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping

import pytest

from kwire.coordinator.group.consumer.current_assignment import (
    OwnedPartitions,
    SubscribedTopics,
    reconcile,
)
from kwire.coordinator.group.consumer.member import (
    Assignment,
    ConsumerGroupMember,
    EpochAssignment,
    MemberState,
)
from kwire.coordinator.group.consumer.partition_epochs import (
    PartitionEpochConflict,
    PartitionEpochs,
)
from kwire.errors import ErrorCode, KwireError

T1 = uuid.uuid4()
T2 = uuid.uuid4()
TOPICS = {"topic1": T1, "topic2": T2}
BOTH = frozenset({"topic1", "topic2"})

FOO = uuid.uuid4()
BAR = uuid.uuid4()
FOO_BAR = {"foo": FOO, "bar": BAR}


def mk(*topics: tuple[uuid.UUID, tuple[int, ...]]) -> Assignment:
    return {t: frozenset(ps) for t, ps in topics if ps}


def at(epoch: int, assignment: Assignment) -> dict[uuid.UUID, dict[int, int]]:
    """The partitions of `assignment`, each got at `epoch` (KIP-1251's assignment epochs)."""
    return {t: dict.fromkeys(sorted(ps), epoch) for t, ps in assignment.items()}


def merge(*assignments: EpochAssignment) -> EpochAssignment:
    merged: dict[uuid.UUID, dict[int, int]] = {}
    for assignment in assignments:
        for t, ps in assignment.items():
            merged.setdefault(t, {}).update(ps)
    return merged


def member(
    state: MemberState,
    epoch: int,
    previous: int,
    assigned: Assignment | EpochAssignment,
    pending: Assignment | EpochAssignment | None = None,
    names: frozenset[str] = BOTH,
    regex: str | None = None,
    got_at: int = 10,
) -> ConsumerGroupMember:
    """A member; plain partition sets are taken as got at epoch `got_at`."""
    return ConsumerGroupMember(
        member_id="member",
        state=state,
        member_epoch=epoch,
        previous_member_epoch=previous,
        subscribed_topic_names=names,
        subscribed_topic_regex=regex,
        assigned_partitions=_epochs(assigned, got_at),
        partitions_pending_revocation=_epochs(pending or {}, got_at),
    )


def _epochs(assignment: Assignment | EpochAssignment, epoch: int) -> EpochAssignment:
    return {
        t: ps if isinstance(ps, Mapping) else dict.fromkeys(ps, epoch)
        for t, ps in assignment.items()
    }


def epochs_all(epoch: int) -> Callable[[uuid.UUID, int], int]:
    return lambda _t, _p: epoch


def subscribed_topics(
    m: ConsumerGroupMember,
    topics: Mapping[str, uuid.UUID],
    regexes: Mapping[str, frozenset[str]],
) -> SubscribedTopics:
    """Kafka's subscribedTopicIds: the member's topic names, united with what its regex
    resolved to (a regex not resolved yet adds nothing), over the topics that exist."""
    names: frozenset[str] = m.subscribed_topic_names
    regex = m.subscribed_topic_regex
    if regex and regex in regexes:
        names = names | regexes[regex]
    name_by_id = {topic_id: name for name, topic_id in topics.items()}
    return SubscribedTopics(names=names, name_of=name_by_id.get)


def run(
    m: ConsumerGroupMember,
    target_epoch: int,
    target: Assignment,
    partition_epoch: Callable[[uuid.UUID, int], int],
    owned: OwnedPartitions = None,
    subscription_changed: bool = False,
    topics: Mapping[str, uuid.UUID] = TOPICS,
    regexes: Mapping[str, frozenset[str]] | None = None,
) -> ConsumerGroupMember:
    return reconcile(
        m,
        target_epoch=target_epoch,
        target=target,
        subscribed=subscribed_topics(m, topics, regexes or {}),
        has_subscription_changed=subscription_changed,
        current_partition_epoch=partition_epoch,
        owned=owned,
    )


STABLE, UNREVOKED, UNRELEASED = (
    MemberState.STABLE,
    MemberState.UNREVOKED_PARTITIONS,
    MemberState.UNRELEASED_PARTITIONS,
)


def test_stable_to_stable() -> None:
    m = member(STABLE, 10, 10, mk((T1, (1, 2, 3)), (T2, (4, 5, 6))))
    got = run(m, 11, mk((T1, (1, 2, 3)), (T2, (4, 5, 6))), epochs_all(10))
    assert got == member(STABLE, 11, 10, mk((T1, (1, 2, 3)), (T2, (4, 5, 6))))


def test_stable_to_stable_with_new_partitions() -> None:
    m = member(STABLE, 10, 10, mk((T1, (1, 2, 3)), (T2, (4, 5, 6))))
    got = run(m, 11, mk((T1, (1, 2, 3, 4)), (T2, (4, 5, 6, 7))), epochs_all(-1))
    # New partitions carry the epoch they were assigned at; kept ones keep theirs.
    assigned = merge(
        at(10, mk((T1, (1, 2, 3)), (T2, (4, 5, 6)))), at(11, mk((T1, (4,)), (T2, (7,))))
    )
    assert got == member(STABLE, 11, 10, assigned)


def test_stable_to_unrevoked_partitions() -> None:
    m = member(STABLE, 10, 10, mk((T1, (1, 2, 3)), (T2, (4, 5, 6))))
    got = run(m, 11, mk((T1, (2, 3, 4)), (T2, (5, 6, 7))), epochs_all(-1))
    assert got == member(
        UNREVOKED, 10, 10, mk((T1, (2, 3)), (T2, (5, 6))), mk((T1, (1,)), (T2, (4,)))
    )


def test_stable_to_unreleased_partitions() -> None:
    m = member(STABLE, 10, 10, mk((T1, (1, 2, 3)), (T2, (4, 5, 6))))
    got = run(m, 11, mk((T1, (1, 2, 3, 4)), (T2, (4, 5, 6, 7))), epochs_all(10))
    assert got == member(UNRELEASED, 11, 10, mk((T1, (1, 2, 3)), (T2, (4, 5, 6))))


def test_stable_to_unreleased_partitions_with_owned_partitions_not_having_revoked() -> None:
    m = member(STABLE, 10, 10, mk((T1, (1, 2, 3)), (T2, (4, 5, 6))))
    got = run(
        m,
        11,
        mk((T1, (1, 2, 3)), (T2, (4, 5, 7))),
        lambda t, _p: 10 if t == T2 else -1,
        owned={},
    )
    assert got == member(UNRELEASED, 11, 10, mk((T1, (1, 2, 3)), (T2, (4, 5))))


def test_unrevoked_partitions_to_stable() -> None:
    m = member(UNREVOKED, 10, 10, mk((T1, (2, 3)), (T2, (5, 6))), mk((T1, (1,)), (T2, (4,))))
    got = run(
        m, 11, mk((T1, (2, 3)), (T2, (5, 6))), epochs_all(-1), owned={T1: [2, 3], T2: [5, 6]}
    )
    assert got == member(STABLE, 11, 10, mk((T1, (2, 3)), (T2, (5, 6))))


@pytest.mark.parametrize(
    "owned",
    [
        None,  # no owned partitions in the heartbeat: assumed still owned
        {T1: [1, 2, 3], T2: [5, 6]},
        {T1: [2, 3], T2: [4, 5, 6]},
    ],
)
def test_remains_in_unrevoked_partitions(owned: OwnedPartitions) -> None:
    m = member(UNREVOKED, 10, 10, mk((T1, (2, 3)), (T2, (5, 6))), mk((T1, (1,)), (T2, (4,))))
    got = run(m, 12, mk((T1, (3,)), (T2, (6,))), epochs_all(-1), owned=owned)
    assert got is m


def test_unrevoked_partitions_to_unrevoked_partitions() -> None:
    # Revoking again does not bump the member epoch: Kafka 4.4.0 leaves
    # UNREVOKED_PARTITIONS through computeNextAssignment(member.memberEpoch()).
    m = member(UNREVOKED, 10, 10, mk((T1, (2, 3)), (T2, (5, 6))), mk((T1, (1,)), (T2, (4,))))
    got = run(m, 12, mk((T1, (3,)), (T2, (6,))), epochs_all(-1), owned={T1: [2, 3], T2: [5, 6]})
    assert got == member(UNREVOKED, 10, 10, mk((T1, (3,)), (T2, (6,))), mk((T1, (2,)), (T2, (5,))))


def test_unrevoked_partitions_to_unreleased_partitions() -> None:
    m = member(UNREVOKED, 11, 10, mk((T1, (2, 3)), (T2, (5, 6))))
    got = run(
        m,
        11,
        mk((T1, (2, 3, 4)), (T2, (5, 6, 7))),
        epochs_all(10),
        owned={T1: [2, 3], T2: [5, 6]},
    )
    assert got == member(UNRELEASED, 11, 11, mk((T1, (2, 3)), (T2, (5, 6))))


def test_unrevoked_partitions_to_stable_with_returned_partitions_pending_revocation() -> None:
    # Partition 4 of topic1 is pending revocation by this member but back in its target:
    # its own pending revocation does not make it "unreleased".
    m = member(UNREVOKED, 10, 10, mk((T1, (2, 3)), (T2, (5, 6))), mk((T1, (4,))))
    owners = {(T1, 2), (T1, 3), (T1, 4), (T2, 5), (T2, 6)}
    got = run(
        m,
        12,
        mk((T1, (2, 3, 4)), (T2, (5, 6, 7))),
        lambda t, p: 10 if (t, p) in owners else -1,
        owned={T1: [2, 3], T2: [5, 6]},
    )
    assigned = merge(at(10, mk((T1, (2, 3)), (T2, (5, 6)))), at(12, mk((T1, (4,)), (T2, (7,)))))
    assert got == member(STABLE, 12, 10, assigned)


def test_unreleased_partitions_to_stable() -> None:
    m = member(UNRELEASED, 11, 11, mk((T1, (2, 3)), (T2, (5, 6))))
    got = run(m, 12, mk((T1, (2, 3)), (T2, (5, 6))), epochs_all(10))
    assert got == member(STABLE, 12, 11, mk((T1, (2, 3)), (T2, (5, 6))))


def test_unreleased_partitions_to_stable_with_new_partitions() -> None:
    m = member(UNRELEASED, 11, 11, mk((T1, (2, 3)), (T2, (5, 6))))
    got = run(m, 11, mk((T1, (2, 3, 4)), (T2, (5, 6, 7))), epochs_all(-1))
    assigned = merge(at(10, mk((T1, (2, 3)), (T2, (5, 6)))), at(11, mk((T1, (4,)), (T2, (7,)))))
    assert got == member(STABLE, 11, 11, assigned)


def test_unreleased_partitions_to_unreleased_partitions() -> None:
    m = member(UNRELEASED, 11, 11, mk((T1, (2, 3)), (T2, (5, 6))))
    got = run(m, 11, mk((T1, (2, 3, 4)), (T2, (5, 6, 7))), epochs_all(10))
    assert got == m


def test_unreleased_partitions_to_unrevoked_partitions() -> None:
    m = member(UNRELEASED, 11, 11, mk((T1, (2, 3)), (T2, (5, 6))))
    got = run(m, 12, mk((T1, (3,)), (T2, (6,))), epochs_all(10))
    assert got == member(UNREVOKED, 11, 11, mk((T1, (3,)), (T2, (6,))), mk((T1, (2,)), (T2, (5,))))


def test_unknown_state() -> None:
    m = member(MemberState.UNKNOWN, 11, 11, mk((T1, (3,)), (T2, (6,))), mk((T1, (2,)), (T2, (5,))))
    target = mk((T1, (3,)), (T2, (6,)))
    # First fenced, so that the client resets its state ...
    for owned in (None, {T1: [3]}):
        with pytest.raises(KwireError) as fenced:
            run(m, 12, target, epochs_all(10), owned=owned)
        assert fenced.value.error_code is ErrorCode.FENCED_MEMBER_EPOCH
    # ... then it comes back owning nothing and is reconciled from scratch.
    got = run(m, 12, target, epochs_all(11), owned={})
    assert got == member(STABLE, 12, 11, mk((T1, (3,)), (T2, (6,))))


@pytest.mark.parametrize(
    ("member_epoch", "target_epoch", "expected_epoch", "changed"),
    [
        # A new target always takes the subscription into account.
        (10, 11, 11, False),
        (10, 11, 11, True),
        (10, 10, 10, True),
    ],
)
def test_stable_to_stable_with_assignment_topics_no_longer_in_subscription(
    member_epoch: int, target_epoch: int, expected_epoch: int, changed: bool
) -> None:
    # topic1 is assigned but no longer subscribed to; its partitions are already given up.
    topic2 = frozenset({"topic2"})
    m = member(
        STABLE, member_epoch, member_epoch - 1, mk((T1, (1, 2, 3)), (T2, (4, 5, 6))), names=topic2
    )
    got = run(
        m,
        target_epoch,
        mk((T1, (1, 2, 3)), (T2, (4, 5, 6))),
        epochs_all(-1),
        owned={T2: [4, 5, 6]},
        subscription_changed=changed,
    )
    # The previous epoch moves even when the member epoch does not.
    assert got == member(STABLE, expected_epoch, member_epoch, mk((T2, (4, 5, 6))), names=topic2)


@pytest.mark.parametrize(
    ("member_epoch", "target_epoch", "expected_epoch", "changed"),
    [(10, 11, 10, False), (10, 11, 10, True), (10, 10, 10, True)],
)
def test_stable_to_unrevoked_partitions_with_assignment_topics_no_longer_in_subscription(
    member_epoch: int, target_epoch: int, expected_epoch: int, changed: bool
) -> None:
    topic2 = frozenset({"topic2"})
    m = member(
        STABLE, member_epoch, member_epoch - 1, mk((T1, (1, 2, 3)), (T2, (4, 5, 6))), names=topic2
    )
    got = run(
        m,
        target_epoch,
        mk((T1, (1, 2, 3)), (T2, (4, 5, 6))),
        epochs_all(-1),
        owned={T1: [1, 2, 3], T2: [4, 5, 6]},
        subscription_changed=changed,
    )
    assert got == member(
        UNREVOKED,
        expected_epoch,
        member_epoch,
        mk((T2, (4, 5, 6))),
        mk((T1, (1, 2, 3))),
        names=topic2,
    )


def test_remains_in_unrevoked_partitions_with_assignment_topics_no_longer_in_subscription() -> None:
    topic2 = frozenset({"topic2"})
    m = member(
        UNREVOKED,
        10,
        10,
        mk((T1, (2, 3)), (T2, (5, 6))),
        mk((T1, (1,)), (T2, (4,))),
        names=topic2,
    )
    got = run(
        m,
        12,
        mk((T1, (1, 3, 4)), (T2, (6, 7))),
        epochs_all(-1),
        owned={T1: [1, 2, 3], T2: [4, 5, 6]},
        subscription_changed=True,
    )
    assert got == member(
        UNREVOKED, 10, 10, mk((T2, (5, 6))), mk((T1, (1, 2, 3)), (T2, (4,))), names=topic2
    )


def _foo_bar_member(names: frozenset[str]) -> ConsumerGroupMember:
    return member(STABLE, 10, 10, mk((FOO, (1, 2, 3)), (BAR, (4, 5, 6))), names=names, regex="bar*")


def _run_foo_bar(
    m: ConsumerGroupMember, regexes: Mapping[str, frozenset[str]]
) -> ConsumerGroupMember:
    return run(
        m,
        10,
        mk((FOO, (1, 2, 3)), (BAR, (4, 5, 6))),
        epochs_all(-1),
        owned={FOO: [1, 2, 3], BAR: [4, 5, 6]},
        subscription_changed=True,
        topics=FOO_BAR,
        regexes=regexes,
    )


def test_subscribed_topic_name_and_unresolved_regular_expression() -> None:
    # An unresolved regex matches nothing.
    m = _foo_bar_member(frozenset({"foo"}))
    assert _run_foo_bar(m, {}) == m.with_(
        state=UNREVOKED,
        assigned_partitions=at(10, mk((FOO, (1, 2, 3)))),
        partitions_pending_revocation=at(10, mk((BAR, (4, 5, 6)))),
    )


def test_unresolved_regular_expression() -> None:
    m = _foo_bar_member(frozenset())
    assert _run_foo_bar(m, {}) == m.with_(
        state=UNREVOKED,
        assigned_partitions={},
        partitions_pending_revocation=at(10, mk((FOO, (1, 2, 3)), (BAR, (4, 5, 6)))),
    )


def test_subscribed_topic_name_and_resolved_regular_expression() -> None:
    m = _foo_bar_member(frozenset({"foo"}))
    assert _run_foo_bar(m, {"bar*": frozenset({"bar"})}) == m


# kwire's own: deleted topics, the helpers, and the partition epochs.


def test_deleted_topic_is_revoked_when_the_subscription_changed() -> None:
    m = member(STABLE, 10, 10, mk((T1, (1, 2)), (T2, (3,))))
    only_topic2 = {"topic2": T2}  # topic1 was deleted
    owned = {T1: [1, 2], T2: [3]}
    assert run(m, 10, mk((T2, (3,))), epochs_all(-1), owned=owned, topics=only_topic2) is m
    got = run(
        m, 10, mk((T2, (3,))), epochs_all(-1), owned=owned, subscription_changed=True,
        topics=only_topic2,
    )
    assert got == member(UNREVOKED, 10, 10, mk((T2, (3,))), mk((T1, (1, 2))))


def test_subscription_change_that_drops_nothing_keeps_the_member() -> None:
    m = member(STABLE, 10, 9, mk((T1, (1,)), (T2, (2,))))
    assert run(m, 10, mk((T1, (1,))), epochs_all(-1), owned={}, subscription_changed=True) is m


def test_empty_subscription_already_given_up() -> None:
    # updateCurrentAssignment with no subscription and nothing pending: everything is to
    # be revoked; the heartbeat owns none of it, so the member just drops it, keeping its
    # state and epoch (the previous epoch moves).
    m = member(STABLE, 10, 9, mk((T1, (1,)), (T2, (2,))), names=frozenset())
    got = run(m, 10, mk((T1, (1,))), epochs_all(-1), owned={}, subscription_changed=True)
    assert got == member(STABLE, 10, 10, {}, names=frozenset())


def test_subscribed_topics() -> None:
    # Kafka's TopicIds: membership by name through the id's current name (a deleted
    # topic's id resolves to nothing), emptiness that of the names.
    subscribed = SubscribedTopics(frozenset({"topic1", "gone"}), {T1: "topic1"}.get)
    assert T1 in subscribed
    assert T2 not in subscribed
    assert "topic1" not in subscribed
    assert not subscribed.is_empty()
    nothing: dict[uuid.UUID, str] = {}
    assert SubscribedTopics(frozenset({"gone"}), nothing.get).is_empty() is False
    assert SubscribedTopics(frozenset(), {T1: "topic1"}.get).is_empty()


def test_subscribed_topics_unite_names_and_resolved_regex() -> None:
    m = member(STABLE, 1, 0, {}, names=frozenset({"topic1", "gone"}), regex="r")
    unresolved = subscribed_topics(m, TOPICS, {})
    assert (T1 in unresolved, T2 in unresolved) == (True, False)
    resolved = subscribed_topics(m, TOPICS, {"r": frozenset({"topic2", "also-gone"})})
    assert (T1 in resolved, T2 in resolved) == (True, True)


def test_partition_epochs_follow_member_updates() -> None:
    epochs = PartitionEpochs()
    a = member(STABLE, 10, 9, mk((T1, (0, 1))))
    epochs.update_member(None, a)
    assert epochs.current_partition_epoch(T1, 0) == 10
    assert epochs.current_partition_epoch(T1, 2) == -1
    assert epochs.current_partition_epoch(T2, 0) == -1
    # Pending revocation still counts as owned.
    a2 = a.with_(
        state=UNREVOKED,
        assigned_partitions=at(10, mk((T1, (1,)))),
        partitions_pending_revocation=at(10, mk((T1, (0,)))),
    )
    epochs.update_member(a, a2)
    assert epochs.as_dict() == {(T1, 0): 10, (T1, 1): 10}
    a3 = member(STABLE, 11, 10, mk((T1, (1,))))
    epochs.update_member(a2, a3)
    assert epochs.as_dict() == {(T1, 1): 11}
    epochs.remove_member(a3)
    assert epochs.as_dict() == {}


def test_partition_epochs_refuse_a_second_owner() -> None:
    epochs = PartitionEpochs()
    epochs.update_member(None, member(STABLE, 10, 9, mk((T1, (0,)))))
    before = epochs.as_dict()
    other = ConsumerGroupMember(
        "other", member_epoch=10, assigned_partitions=at(10, mk((T1, (0,)), (T2, (1,))))
    )
    with pytest.raises(PartitionEpochConflict):
        epochs.update_member(None, other)
    with pytest.raises(PartitionEpochConflict):
        epochs.add_partition_epochs(mk((T2, (5,)), (T1, (0,))), 9)
    assert epochs.as_dict() == before
    # Assigned and pending revocation overlapping is two owners too.
    overlap = ConsumerGroupMember(
        "x",
        member_epoch=3,
        assigned_partitions=at(3, mk((T2, (1,)))),
        partitions_pending_revocation=at(3, mk((T2, (1,)))),
    )
    with pytest.raises(PartitionEpochConflict):
        epochs.update_member(None, overlap)
    assert epochs.as_dict() == before


def test_partition_epochs_tolerate_stale_entries() -> None:
    # KAFKA-19862: a compacted log can replay an older owner's removal after a newer
    # owner took the partition; the stale removal is ignored, a newer epoch replaces.
    epochs = PartitionEpochs()
    epochs.add_partition_epochs(mk((T1, (0, 1))), 5)
    epochs.remove_partition_epochs(mk((T1, (0,)), (T2, (0,))), 4)
    assert epochs.as_dict() == {(T1, 0): 5, (T1, 1): 5}
    epochs.add_partition_epochs(mk((T1, (0,))), 6)
    assert epochs.as_dict() == {(T1, 0): 6, (T1, 1): 5}
    clone = epochs.copy()
    epochs.remove_partition_epochs(mk((T1, (0, 1))), 5)
    assert epochs.as_dict() == {(T1, 0): 6}
    assert clone.as_dict() == {(T1, 0): 6, (T1, 1): 5}


def test_a_partition_moves_between_two_members() -> None:
    # A gives partition 1 to B: B waits (UNRELEASED) until A acknowledges the revocation.
    epochs = PartitionEpochs()
    a = ConsumerGroupMember(
        "a",
        member_epoch=1,
        previous_member_epoch=0,
        subscribed_topic_names=BOTH,
        assigned_partitions=at(1, mk((T1, (0, 1)))),
    )
    b = ConsumerGroupMember("b", member_epoch=0, subscribed_topic_names=BOTH)
    epochs.update_member(None, a)
    epochs.update_member(None, b)
    target_a, target_b = mk((T1, (0,))), mk((T1, (1,)))

    def step(
        m: ConsumerGroupMember, target: Assignment, owned: OwnedPartitions
    ) -> ConsumerGroupMember:
        new = run(m, 2, target, epochs.current_partition_epoch, owned=owned)
        epochs.update_member(m, new)
        return new

    b = step(b, target_b, {})
    assert (b.state, b.member_epoch, b.assigned_partitions) == (UNRELEASED, 2, {})
    a = step(a, target_a, {T1: [0, 1]})
    assert (a.state, a.member_epoch, a.partitions_pending_revocation) == (
        UNREVOKED,
        1,
        at(1, mk((T1, (1,)))),
    )
    assert epochs.current_partition_epoch(T1, 1) == 1
    a = step(a, target_a, {T1: [0]})  # revocation acknowledged
    # A keeps partition 0 at the epoch it got it.
    assert (a.state, a.member_epoch, a.assigned_partitions) == (STABLE, 2, at(1, target_a))
    assert epochs.current_partition_epoch(T1, 1) == -1
    b = step(b, target_b, {})
    assert (b.state, b.member_epoch, b.assigned_partitions) == (STABLE, 2, at(2, target_b))
    assert epochs.as_dict() == {(T1, 0): 2, (T1, 1): 2}
