"""Kafka 4.4's server-side RangeAssignor (`range`).

Each topic is cut into contiguous ranges, one per subscriber, handed out to the
subscribers in a fixed member order: static members first by `group.instance.id`,
then dynamic members by member id. Topics with equal partition counts and equal
subscribers are therefore co-partitioned (member k gets the same partition numbers of
each). The assignor ignores the current assignment: it is "sticky" only in that the
order is stable, which static members (instance ids survive restarts) benefit from.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass

from kwire.coordinator.group.consumer.assignors.api import (
    GroupAssignment,
    GroupSpec,
    PartitionAssignorError,
    SubscriptionType,
    TopicDescriber,
    subscribed_topic_order,
)
from kwire.coordinator.group.consumer.assignors.java_order import java_string_sort_key


@dataclass
class _TopicRanges:
    """Kafka's RangeAssignor.TopicMetadata: the quota and the next range of one topic."""

    topic_id: uuid.UUID
    partition_count: int
    member_count: int
    min_quota: int = -1
    extra_partitions: int = -1
    next_range: int = 0

    def next_partitions(self) -> frozenset[int]:
        """addPartitionsToAssignment: the next subscriber's range (maybe empty)."""
        if self.min_quota == -1:
            self.min_quota = self.partition_count // self.member_count
            self.extra_partitions = self.partition_count % self.member_count
        quota = self.min_quota
        if self.extra_partitions > 0:
            quota += 1
            self.extra_partitions -= 1
        start = self.next_range
        end = min(start + quota, self.partition_count)
        self.next_range = end
        return frozenset(range(start, end))


class RangeAssignor:
    """Kafka's org.apache.kafka.coordinator.group.assignor.RangeAssignor."""

    NAME = "range"

    @property
    def name(self) -> str:
        return self.NAME

    def assign(self, group_spec: GroupSpec, topics: TopicDescriber) -> GroupAssignment:
        if not group_spec.members:
            return {}
        member_ids = _sorted_member_ids(group_spec)
        ranges: dict[uuid.UUID, _TopicRanges] = {}
        if group_spec.subscription_type is SubscriptionType.HOMOGENEOUS:
            # Every member subscribes to the first member's topics.
            first = group_spec.member_subscription(member_ids[0])
            for topic_id in subscribed_topic_order(first.subscribed_topic_ids):
                ranges[topic_id] = _TopicRanges(topic_id, _partition_count(topics, topic_id),
                                                len(group_spec.members))
        else:
            for member_id in member_ids:
                subscription = group_spec.member_subscription(member_id).subscribed_topic_ids
                for topic_id in subscribed_topic_order(subscription):
                    if topic_id not in ranges:
                        ranges[topic_id] = _TopicRanges(
                            topic_id, _partition_count(topics, topic_id), 0)
                    ranges[topic_id].member_count += 1

        homogeneous = group_spec.subscription_type is SubscriptionType.HOMOGENEOUS
        assignment: GroupAssignment = {}
        for member_id in member_ids:
            subscribed = (ranges.keys() if homogeneous
                          else group_spec.member_subscription(member_id).subscribed_topic_ids)
            member: dict[uuid.UUID, frozenset[int]] = {}
            for topic_id in subscribed:
                partitions = ranges[topic_id].next_partitions()
                if partitions:
                    member[topic_id] = partitions
            assignment[member_id] = member
        return assignment


def _partition_count(topics: TopicDescriber, topic_id: uuid.UUID) -> int:
    count = topics.partition_count(topic_id)
    if count == -1:
        raise PartitionAssignorError("Member is subscribed to a non-existent topic")
    return count


def _sorted_member_ids(group_spec: GroupSpec) -> list[str]:
    """sortMemberIds: static members first, by instance id, then the others by member id
    (Java's String.compareTo; the sort is stable over Kafka's memberIds() order)."""

    def compare(a: str, b: str) -> int:
        instance_a = group_spec.member_subscription(a).instance_id
        instance_b = group_spec.member_subscription(b).instance_id
        if instance_a is not None and instance_b is not None:
            key_a, key_b = java_string_sort_key(instance_a), java_string_sort_key(instance_b)
        elif instance_a is not None:
            return -1
        elif instance_b is not None:
            return 1
        else:
            key_a, key_b = java_string_sort_key(a), java_string_sort_key(b)
        return -1 if key_a < key_b else (1 if key_a > key_b else 0)

    return sorted(group_spec.member_ids(), key=functools.cmp_to_key(compare))
