"""Kafka 4.4's UniformHeterogeneousAssignmentBuilder: the uniform assignor when members
subscribe to different topics.

1. Keep each member's current partitions of topics it still subscribes to.
2. Hand the unassigned partitions, topic by topic (most partitions per subscriber
   first), to the least loaded subscribers.
3. Move partitions from the most to the least loaded subscribers of each topic until
   no topic can improve, or 16 rounds have passed.

Members are numbered in Kafka's `memberIds()` order; that number breaks every tie
between equally loaded members, so it is the one iteration order that matters here
(topics are always sorted with a total order first).
"""

from __future__ import annotations

import functools
import uuid

from kwire.coordinator.group.consumer.assignors.api import (
    GroupAssignment,
    GroupSpec,
    PartitionAssignorError,
    TopicDescriber,
    frozen,
    subscribed_topic_order,
)
from kwire.coordinator.group.consumer.assignors.java_order import uuid_sort_key

# UniformHeterogeneousAssignmentBuilder.MAX_ITERATION_COUNT: most subscription patterns
# converge in one round; overlapping ones roughly halve their imbalance per round.
MAX_ITERATION_COUNT = 16


class _Balancer:
    """Kafka's MemberAssignmentBalancer: a least loaded range of members that grows
    rightwards and a most loaded range that grows leftwards over the members sorted by
    assignment size; balanced once the two ranges' counts differ by at most one."""

    def __init__(self, sizes: list[int]) -> None:
        self.sizes = sizes
        self.sorted_members: list[int] = []
        self.least_end = 0
        self.least_count = -1
        self.next_least = 0
        self.most_start = 0
        self.most_end = 0
        self.most_count = 1
        self.next_most = -1

    def initialize(self, members: list[int]) -> int:
        if not members:
            raise ValueError("Cannot balance an empty subscriber list.")
        sizes = self.sizes
        self.sorted_members = sorted(members, key=lambda m: (sizes[m], m))
        first, last = self.sorted_members[0], self.sorted_members[-1]
        self.least_end = 0
        self.least_count = sizes[first] - 1
        self.next_least = 0
        self.most_start = self.most_end = len(self.sorted_members)
        self.most_count = sizes[last] + 1
        self.next_most = len(self.sorted_members) - 1
        return sizes[last] - sizes[first]

    def next_least_loaded(self) -> int:
        members, sizes = self.sorted_members, self.sizes
        if self.next_least >= self.least_end:
            self.least_count += 1
            while (self.least_end < len(members)
                   and sizes[members[self.least_end]] == self.least_count):
                self.least_end += 1
            self.next_least = 0
        member = members[self.next_least]
        self.next_least += 1
        return member

    def next_most_loaded(self) -> int:
        members, sizes = self.sorted_members, self.sizes
        if self.next_most < self.most_start:
            if self.most_end <= self.most_start and self.most_start > 0:
                # The range was emptied by exclusions: restart it one level down.
                self.most_count = sizes[members[self.most_start - 1]]
            else:
                self.most_count -= 1
            while self.most_start > 0 and sizes[members[self.most_start - 1]] == self.most_count:
                self.most_start -= 1
            self.next_most = self.most_end - 1
        if self.next_most < 0:
            return -1
        member = members[self.next_most]
        self.next_most -= 1
        return member

    def exclude_most_loaded(self) -> None:
        members = self.sorted_members
        excluded = members[self.next_most + 1]
        members[self.next_most + 1] = members[self.most_end - 1]
        members[self.most_end - 1] = excluded
        self.most_end -= 1

    def is_balanced(self) -> bool:
        return self.most_count - self.least_count <= 1


def assign_heterogeneous(group_spec: GroupSpec, topics: TopicDescriber) -> GroupAssignment:
    return _Builder(group_spec, topics).build()


class _Builder:
    def __init__(self, group_spec: GroupSpec, topics: TopicDescriber) -> None:
        self.group_spec = group_spec
        self.topics = topics
        self.member_ids = list(group_spec.member_ids())
        # Subscribers of each topic, as member indices in ascending order.
        self.subscribers: dict[uuid.UUID, list[int]] = {}
        for index, member_id in enumerate(self.member_ids):
            subscription = group_spec.member_subscription(member_id).subscribed_topic_ids
            for topic_id in subscribed_topic_order(subscription):
                if topics.partition_count(topic_id) == -1:
                    raise PartitionAssignorError(
                        f"Members are subscribed to topic {topic_id} which doesn't exist "
                        "in the topic metadata.")
                self.subscribers.setdefault(topic_id, []).append(index)
        self.sizes = [0] * len(self.member_ids)
        self.owners = {t: [-1] * topics.partition_count(t) for t in self.subscribers}
        self.target: dict[str, dict[uuid.UUID, set[int]]] = {}

    def build(self) -> GroupAssignment:
        if not self.subscribers:
            return {}
        self._revoke_unsubscribed()
        balancer = _Balancer(self.sizes)
        self._assign_remaining(balancer)
        # balance(): only topics with two or more subscribers can move.
        movable = self._sort_topics([t for t, s in self.subscribers.items() if len(s) >= 2])
        if movable:
            self._balance_topics(movable, balancer)
        return {member_id: frozen(assignment) for member_id, assignment in self.target.items()}

    def _topic_order(self, a: uuid.UUID, b: uuid.UUID) -> int:
        # Partitions per subscriber descending (as doubles, like Kafka), then subscriber
        # count ascending, then topic id ascending (signed, like Uuid.compareTo).
        count_a, count_b = len(self.subscribers[a]), len(self.subscribers[b])
        ratio_a = self.topics.partition_count(a) / count_a
        ratio_b = self.topics.partition_count(b) / count_b
        if ratio_a != ratio_b:
            return -1 if ratio_a > ratio_b else 1
        if count_a != count_b:
            return -1 if count_a < count_b else 1
        key_a, key_b = uuid_sort_key(a), uuid_sort_key(b)
        return -1 if key_a < key_b else (1 if key_a > key_b else 0)

    def _sort_topics(self, topic_ids: list[uuid.UUID]) -> list[uuid.UUID]:
        return sorted(topic_ids, key=functools.cmp_to_key(self._topic_order))

    def _revoke_unsubscribed(self) -> None:
        """maybeRevokePartitions: drop the topics a member no longer subscribes to."""
        for index, member_id in enumerate(self.member_ids):
            subscription = self.group_spec.member_subscription(member_id).subscribed_topic_ids
            kept: dict[uuid.UUID, set[int]] = {}
            for topic_id, partitions in self.group_spec.member_assignment(member_id).items():
                if topic_id not in subscription:
                    continue
                kept[topic_id] = set(partitions)
                self.sizes[index] += len(partitions)
                topic_owners = self.owners[topic_id]
                for partition in partitions:
                    if not 0 <= partition < len(topic_owners):
                        # Kafka fails here with ArrayIndexOutOfBoundsException.
                        raise PartitionAssignorError(
                            f"Member {member_id} owns partition {partition} of topic {topic_id}, "
                            f"which has {len(topic_owners)} partitions.")
                    topic_owners[partition] = index
            self.target[member_id] = kept

    def _assign_remaining(self, balancer: _Balancer) -> None:
        """assignRemainingPartitions: each topic's unowned partitions, in partition order,
        to its least loaded subscribers."""
        unassigned = {t: [p for p, o in enumerate(owners) if o == -1]
                      for t, owners in self.owners.items()}
        for topic_id in self._sort_topics([t for t, parts in unassigned.items() if parts]):
            balancer.initialize(self.subscribers[topic_id])
            for partition in unassigned[topic_id]:
                self._assign_partition(topic_id, partition, balancer.next_least_loaded())

    def _assign_partition(self, topic_id: uuid.UUID, partition: int, index: int) -> None:
        old_index = self.owners[topic_id][partition]
        if old_index != -1:
            old = self.target[self.member_ids[old_index]]
            partitions = old.get(topic_id)
            if partitions is not None:
                partitions.discard(partition)
                if not partitions:
                    del old[topic_id]
            self.sizes[old_index] -= 1
        self.target[self.member_ids[index]].setdefault(topic_id, set()).add(partition)
        self.owners[topic_id][partition] = index
        self.sizes[index] += 1

    def _balance_topics(self, sorted_topics: list[uuid.UUID], balancer: _Balancer) -> None:
        """balanceTopics: loop over the topics until a whole round moves nothing."""
        last_rebalanced = -1
        for _ in range(MAX_ITERATION_COUNT):
            for topic_index, topic_id in enumerate(sorted_topics):
                if topic_index == last_rebalanced:
                    return
                moved = self._balance_topic(topic_id, balancer)
                if moved > 0 or last_rebalanced == -1:
                    last_rebalanced = topic_index

    def _balance_topic(self, topic_id: uuid.UUID, balancer: _Balancer) -> int:
        """balanceTopic: move the last partition of the most loaded subscriber (partitions
        grouped by owner, each group in partition order) to the least loaded one."""
        if balancer.initialize(self.subscribers[topic_id]) <= 1:
            return 0
        owners = self.owners[topic_id]
        partitions = sorted(range(len(owners)), key=lambda p: (owners[p], p))
        start: dict[int, int] = {}
        end: dict[int, int] = {}  # exclusive
        for i, partition in enumerate(partitions):
            start.setdefault(owners[partition], i)
            end[owners[partition]] = i + 1
        moved = 0
        while not balancer.is_balanced():
            while True:
                most = balancer.next_most_loaded()
                if most == -1:
                    break
                if most not in end or end[most] - start[most] <= 0:
                    balancer.exclude_most_loaded()
                    continue
                break
            if most == -1:
                break
            partition = partitions[end[most] - 1]
            end[most] -= 1
            least = balancer.next_least_loaded()
            if balancer.is_balanced():
                break
            self._assign_partition(topic_id, partition, least)
            moved += 1
        return moved
