"""Kafka 4.4's UniformAssignor (`uniform`, the default of `group.consumer.assignors`).

Balance first (member sizes differ by at most one partition), then stickiness (keep
as much of each member's current target assignment as possible). Homogeneous groups
use UniformHomogeneousAssignmentBuilder (below); heterogeneous groups use
UniformHeterogeneousAssignmentBuilder (`uniform_heterogeneous`). Neither looks at
racks in 4.4.
"""

from __future__ import annotations

import uuid

from kwire.coordinator.group.consumer.assignors.api import (
    GroupAssignment,
    GroupSpec,
    PartitionAssignorError,
    SubscriptionType,
    TopicDescriber,
    assignment_order,
    frozen,
    subscribed_topic_order,
)
from kwire.coordinator.group.consumer.assignors.java_order import copy_order, uuid_hash
from kwire.coordinator.group.consumer.assignors.uniform_heterogeneous import (
    assign_heterogeneous,
)


class UniformAssignor:
    """Kafka's org.apache.kafka.coordinator.group.assignor.UniformAssignor."""

    NAME = "uniform"

    @property
    def name(self) -> str:
        return self.NAME

    def assign(self, group_spec: GroupSpec, topics: TopicDescriber) -> GroupAssignment:
        if not group_spec.members:
            return {}
        if group_spec.subscription_type is SubscriptionType.HOMOGENEOUS:
            return assign_homogeneous(group_spec, topics)
        return assign_heterogeneous(group_spec, topics)


def assign_homogeneous(group_spec: GroupSpec, topics: TopicDescriber) -> GroupAssignment:
    """UniformHomogeneousAssignmentBuilder.build(), step for step.

    Every walk below follows the order Kafka's walk has, because each one decides who
    gets what: the subscribed topics (a `new HashSet<>` copy) order the never-assigned
    partitions; the member order decides who gets the extra partitions; each member's
    assignment order decides which partitions it keeps when over quota.
    """
    member_ids = group_spec.member_ids()
    first = group_spec.member_subscription(member_ids[0])
    subscribed = copy_order(subscribed_topic_order(first.subscribed_topic_ids), uuid_hash)
    if not subscribed:
        return {}
    subscribed_set = frozenset(subscribed)

    # Partitions nobody owns yet come first, topic by topic, in partition order.
    unassigned: list[tuple[uuid.UUID, int]] = []
    total_partitions = 0
    for topic_id in subscribed:
        count = topics.partition_count(topic_id)
        if count == -1:
            raise PartitionAssignorError(
                f"Members are subscribed to topic {topic_id} which doesn't exist "
                "in the topic metadata.")
        unassigned.extend((topic_id, p) for p in range(count)
                          if not group_spec.is_partition_assigned(topic_id, p))
        total_partitions += count

    member_count = len(member_ids)
    minimum_quota = total_partitions // member_count
    extra_left = total_partitions % member_count

    # maybeRevokePartitions: keep what fits the quota, revoke the rest (appended to the
    # unassigned list in walk order) and every partition of an unsubscribed topic.
    target: dict[str, dict[uuid.UUID, set[int]]] = {}
    unfilled: list[tuple[str, int]] = []
    for member_index, member_id in enumerate(member_ids):
        old = group_spec.member_assignment(member_id)
        new: dict[uuid.UUID, set[int]] = {t: set(p) for t, p in old.items()}
        quota = minimum_quota
        has_extra = extra_left > 0
        if has_extra:
            quota += 1
        for topic_id, partitions in assignment_order(old):
            if topic_id not in subscribed_set:
                del new[topic_id]
            elif len(partitions) <= quota:
                quota -= len(partitions)
            else:
                for partition in partitions:
                    if quota > 0:
                        quota -= 1
                        continue
                    kept = new[topic_id]
                    kept.discard(partition)
                    if not kept:
                        del new[topic_id]
                    unassigned.append((topic_id, partition))
        # Kafka 4.4: a member that cannot fill its extra slot with partitions it already
        # has gives the slot up while enough later members remain to take it, so that a
        # later member that already holds quota + 1 partitions keeps them all.
        if quota > 0 and has_extra and member_count - member_index > extra_left:
            quota -= 1
            has_extra = False
        if quota > 0:
            unfilled.append((member_id, quota))
        if has_extra:
            extra_left -= 1
        target[member_id] = new

    # assignRemainingPartitions: fill the unfilled members in order.
    next_index = 0
    for member_id, remaining in unfilled:
        assignment = target[member_id]
        for _ in range(remaining):
            if next_index >= len(unassigned):
                break
            topic_id, partition = unassigned[next_index]
            next_index += 1
            assignment.setdefault(topic_id, set()).add(partition)
    if next_index < len(unassigned):
        raise PartitionAssignorError("Partitions were left unassigned")

    return {member_id: frozen(assignment) for member_id, assignment in target.items()}
