"""Incremental reconciliation of a member's assignment: Kafka 4.4's CurrentAssignmentBuilder.

A member moves towards its target assignment in steps the coordinator can trust:
it first revokes what it must give up (UNREVOKED_PARTITIONS, at its current epoch),
and only once a heartbeat shows it no longer owns those partitions does it move to
the target epoch and get new partitions. A partition still owned by another member
(whose epoch `current_partition_epoch` reports) is withheld until that member
releases it (UNRELEASED_PARTITIONS). Partitions of topics the member no longer
subscribes to are revoked at once, without waiting for a new target assignment.

Pure: the caller turns a changed member into a current-assignment record.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping, Set
from dataclasses import dataclass

from kwire.coordinator.group.consumer.member import (
    Assignment,
    ConsumerGroupMember,
    EpochAssignment,
    MemberState,
)
from kwire.errors import ErrorCode, KwireError

# (topic id, partition) -> epoch of the member owning it, or -1 when nobody does.
PartitionEpochOf = Callable[[uuid.UUID, int], int]
# The partitions a member reports it owns in a heartbeat (None: not reported).
OwnedPartitions = Mapping[uuid.UUID, Collection[int]] | None


@dataclass(frozen=True)
class SubscribedTopics:
    """The member's subscription as topic names resolved to ids (Kafka's TopicIds).

    Emptiness is that of the names, not of the ids that resolve, as in Kafka."""

    names: Set[str]
    name_of: Callable[[uuid.UUID], str | None]

    def __contains__(self, topic_id: object) -> bool:
        if not isinstance(topic_id, uuid.UUID):
            return False
        name = self.name_of(topic_id)
        return name is not None and name in self.names

    def is_empty(self) -> bool:
        return not self.names


def reconcile(
    member: ConsumerGroupMember,
    *,
    target_epoch: int,
    target: Assignment,
    subscribed: SubscribedTopics,
    has_subscription_changed: bool,
    current_partition_epoch: PartitionEpochOf,
    owned: OwnedPartitions,
) -> ConsumerGroupMember:
    """The member's next current assignment (the same object when nothing changes)."""
    step = _Step(member, target_epoch, target, subscribed, current_partition_epoch, owned)
    state = member.state
    if state is MemberState.STABLE:
        if member.member_epoch != target_epoch:
            return step.next_assignment(member.member_epoch)
        if has_subscription_changed:
            return step.drop_unsubscribed(member.member_epoch)
        return member
    if state is MemberState.UNREVOKED_PARTITIONS:
        if step.owns_any(member.partitions_pending_revocation):
            if has_subscription_changed:
                return step.drop_unsubscribed(member.member_epoch)
            return member
        return step.next_assignment(member.member_epoch)
    if state is MemberState.UNRELEASED_PARTITIONS:
        return step.next_assignment(member.member_epoch)
    # UNKNOWN: only a member that reports owning nothing may carry on.
    if owned is None or owned:
        raise KwireError(
            ErrorCode.FENCED_MEMBER_EPOCH,
            "The consumer group member is in a unknown state. The member must abandon "
            "all its partitions and rejoin.")
    return step.next_assignment(target_epoch)


class _Step:
    def __init__(self, member: ConsumerGroupMember, target_epoch: int, target: Assignment,
                 subscribed: SubscribedTopics, current_partition_epoch: PartitionEpochOf,
                 owned: OwnedPartitions) -> None:
        self.member = member
        self.target_epoch = target_epoch
        self.target = target
        self.subscribed = subscribed
        self.epoch_of = current_partition_epoch
        self.owned = owned

    def owns_any(self, assignment: EpochAssignment) -> bool:
        """Does the heartbeat still report one of these partitions? A heartbeat that
        reports nothing (None) is taken as still owning them."""
        if self.owned is None:
            return True
        for topic_id, partitions in self.owned.items():
            pending = assignment.get(topic_id, {})
            if any(p in pending for p in partitions):
                return True
        return False

    def drop_unsubscribed(self, member_epoch: int) -> ConsumerGroupMember:
        """Kafka's updateCurrentAssignment: revoke partitions of topics no longer
        subscribed to, keeping the epoch."""
        member = self.member
        assigned = member.assigned_partitions
        if self.subscribed.is_empty() and not member.partitions_pending_revocation:
            new_assigned: dict[uuid.UUID, dict[int, int]] = {}
            new_pending = {t: dict(p) for t, p in assigned.items()}
        else:
            new_assigned = {t: dict(p) for t, p in assigned.items()}
            new_pending = {t: dict(p) for t, p in member.partitions_pending_revocation.items()}
            for topic_id, partitions in assigned.items():
                if topic_id in self.subscribed:
                    continue
                del new_assigned[topic_id]
                new_pending.setdefault(topic_id, {}).update(partitions)
        if new_assigned == {t: dict(p) for t, p in assigned.items()}:
            return member
        if new_pending and self.owns_any(new_pending):
            return member.with_(
                state=MemberState.UNREVOKED_PARTITIONS,
                member_epoch=member_epoch, previous_member_epoch=member.member_epoch,
                assigned_partitions=new_assigned, partitions_pending_revocation=new_pending)
        return member.with_(member_epoch=member_epoch, previous_member_epoch=member.member_epoch,
                            assigned_partitions=new_assigned)

    def next_assignment(self, member_epoch: int) -> ConsumerGroupMember:
        """Kafka's computeNextAssignment."""
        member = self.member
        current = member.assigned_partitions
        unreleased = False
        new_assigned: dict[uuid.UUID, dict[int, int]] = {}
        new_pending: dict[uuid.UUID, dict[int, int]] = {}
        to_assign: dict[uuid.UUID, set[int]] = {}
        for topic_id in set(self.target) | set(current):
            target = self.target.get(topic_id, frozenset())
            if topic_id not in self.subscribed:
                target = frozenset()
            owned_now = current.get(topic_id, {})
            kept = {p: e for p, e in owned_now.items() if p in target}
            revoking = {p: e for p, e in owned_now.items() if p not in kept}
            adding = set(target) - set(kept)
            revoking_before = member.partitions_pending_revocation.get(topic_id, {})
            # A partition another member still owns (and that is not one this member
            # was itself revoking) waits until that member lets it go.
            held = {p for p in adding
                    if self.epoch_of(topic_id, p) != -1 and p not in revoking_before}
            if held:
                unreleased = True
                adding -= held
            if kept:
                new_assigned[topic_id] = kept
            if revoking:
                new_pending[topic_id] = revoking
            if adding:
                to_assign[topic_id] = adding
        moved = {"member_epoch": member_epoch, "previous_member_epoch": member.member_epoch}
        if new_pending and self.owns_any(new_pending):
            return member.with_(state=MemberState.UNREVOKED_PARTITIONS,
                                assigned_partitions=new_assigned,
                                partitions_pending_revocation=new_pending, **moved)
        for topic_id, partitions in to_assign.items():
            epochs = new_assigned.setdefault(topic_id, {})
            for p in partitions:
                epochs[p] = self.target_epoch
        state = MemberState.UNRELEASED_PARTITIONS if unreleased else MemberState.STABLE
        return member.with_(state=state, member_epoch=self.target_epoch,
                            previous_member_epoch=member.member_epoch,
                            assigned_partitions=new_assigned, partitions_pending_revocation={})
