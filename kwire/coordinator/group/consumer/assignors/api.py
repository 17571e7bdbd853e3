"""What a KIP-848 server-side assignor sees and returns: Kafka's group-coordinator-api.

Kafka names: `GroupSpec` (here `GroupSpec`), `MemberSubscription` + `MemberAssignment`
(here one `MemberSubscriptionSpec`, as Kafka's MemberSubscriptionAndAssignmentImpl),
`SubscribedTopicDescriber` (here `TopicDescriber`), `ConsumerGroupPartitionAssignor`
(here `PartitionAssignor`), `PartitionAssignorException` (here `PartitionAssignorError`).
A group assignment is `member id -> topic id -> partitions`; a member Kafka leaves out
of its answer gets the empty assignment, and no partition set is ever empty.

Iteration order. Kafka walks hash maps where the walk decides the result; the orders
it would see are derived here from the inputs (see `java_order`):
- members: Kafka's TargetAssignmentBuilder puts them into a `new HashMap<>()`; the
  insertion order is the order of `GroupSpec.members`.
- a member's assignment: Kafka replays it from a record with `Collectors.toMap` (a
  HashMap filled by puts, in the order of `assigned_partitions`) and `new HashSet<>(list)`
  per topic (partitions inserted in ascending order).
- a member's subscribed topic ids: Kafka iterates a view over the topic *names*, which
  an assignor never sees; the ids are taken in ascending `Uuid.compareTo` order.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from kwire.coordinator.group.consumer.assignors import java_order

Assignment = Mapping[uuid.UUID, frozenset[int]]
"""Topic id -> partitions. Never holds an empty partition set."""

GroupAssignment = dict[str, dict[uuid.UUID, frozenset[int]]]
"""Member id -> that member's new target assignment."""


class PartitionAssignorError(Exception):
    """Kafka's PartitionAssignorException: the assignor cannot compute an assignment."""


class SubscriptionType(enum.Enum):
    """HOMOGENEOUS when every member subscribes to the same topics (Kafka's rule:
    every subscribed topic is subscribed by all members), else HETEROGENEOUS."""

    HOMOGENEOUS = "Homogeneous"
    HETEROGENEOUS = "Heterogeneous"


@dataclass(frozen=True)
class MemberSubscriptionSpec:
    """One member as the assignor sees it: its subscription and its current target
    assignment, which the assignors keep where they can (stickiness)."""

    subscribed_topic_ids: frozenset[uuid.UUID]
    assigned_partitions: Assignment = field(default_factory=dict)
    rack_id: str | None = None
    instance_id: str | None = None


def subscription_type_of(members: Mapping[str, MemberSubscriptionSpec]) -> SubscriptionType:
    """Kafka's ModernGroup.subscriptionType over the members' subscribed topics."""
    counts: dict[uuid.UUID, int] = {}
    for member in members.values():
        for topic_id in member.subscribed_topic_ids:
            counts[topic_id] = counts.get(topic_id, 0) + 1
    if all(count == len(members) for count in counts.values()):
        return SubscriptionType.HOMOGENEOUS
    return SubscriptionType.HETEROGENEOUS


@dataclass(frozen=True)
class GroupSpec:
    """Kafka's GroupSpecImpl. `partition_owners` is Kafka's inverted target assignment
    (topic -> partition -> member); when omitted it is derived from the members."""

    members: Mapping[str, MemberSubscriptionSpec]
    subscription_type: SubscriptionType
    partition_owners: Mapping[uuid.UUID, Mapping[int, str]] | None = None
    _owners: dict[uuid.UUID, frozenset[int]] = field(init=False, repr=False, compare=False)
    _member_ids: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        owners: dict[uuid.UUID, set[int]] = {}
        if self.partition_owners is not None:
            for topic_id, by_partition in self.partition_owners.items():
                owners.setdefault(topic_id, set()).update(by_partition)
        else:
            for member in self.members.values():
                for topic_id, partitions in member.assigned_partitions.items():
                    owners.setdefault(topic_id, set()).update(partitions)
        object.__setattr__(self, "_owners", {t: frozenset(p) for t, p in owners.items()})
        order = java_order.put_order(self.members, java_order.string_hash)
        object.__setattr__(self, "_member_ids", tuple(order))

    @classmethod
    def of(cls, members: Mapping[str, MemberSubscriptionSpec]) -> GroupSpec:
        """A spec whose subscription type is computed from the members."""
        return cls(members, subscription_type_of(members))

    def member_ids(self) -> tuple[str, ...]:
        """The member ids in the order Kafka's `memberIds()` iterates them."""
        return self._member_ids

    def is_partition_assigned(self, topic_id: uuid.UUID, partition: int) -> bool:
        return partition in self._owners.get(topic_id, frozenset())

    def member_subscription(self, member_id: str) -> MemberSubscriptionSpec:
        try:
            return self.members[member_id]
        except KeyError:
            raise ValueError(f"Member Id {member_id} not found.") from None

    def member_assignment(self, member_id: str) -> Assignment:
        member = self.members.get(member_id)
        return {} if member is None else member.assigned_partitions


def subscribed_topic_order(topic_ids: frozenset[uuid.UUID]) -> list[uuid.UUID]:
    """The order in which a member's subscribed topic ids are iterated (see module doc)."""
    return sorted(topic_ids, key=java_order.uuid_sort_key)


def assignment_order(assignment: Assignment) -> list[tuple[uuid.UUID, list[int]]]:
    """How Kafka iterates a member's target assignment: topics in HashMap order (filled
    by puts), each topic's partitions in `new HashSet<>(ascending list)` order."""
    return [
        (topic_id, java_order.copy_order(sorted(assignment[topic_id]), java_order.int_hash))
        for topic_id in java_order.put_order(assignment, java_order.uuid_hash)
    ]


class TopicDescriber(Protocol):
    """Kafka's SubscribedTopicDescriber."""

    def partition_count(self, topic_id: uuid.UUID) -> int:
        """The topic's number of partitions, or -1 if the topic is unknown."""
        ...

    def racks_for_partition(self, topic_id: uuid.UUID, partition: int) -> set[str]:
        """The racks of the partition's replicas (empty if unknown)."""
        ...


@dataclass(frozen=True)
class StaticTopicDescriber:
    """A TopicDescriber over fixed partition counts (and optionally racks)."""

    partition_counts: Mapping[uuid.UUID, int]
    racks: Mapping[tuple[uuid.UUID, int], frozenset[str]] = field(default_factory=dict)

    def partition_count(self, topic_id: uuid.UUID) -> int:
        return self.partition_counts.get(topic_id, -1)

    def racks_for_partition(self, topic_id: uuid.UUID, partition: int) -> set[str]:
        return set(self.racks.get((topic_id, partition), frozenset()))


class PartitionAssignor(Protocol):
    """Kafka's ConsumerGroupPartitionAssignor."""

    @property
    def name(self) -> str: ...

    def assign(self, group_spec: GroupSpec, topics: TopicDescriber) -> GroupAssignment:
        """The new target assignment; raises PartitionAssignorError."""
        ...


def frozen(
    assignment: Mapping[uuid.UUID, set[int] | frozenset[int]],
) -> dict[uuid.UUID, frozenset[int]]:
    """An assignment with frozen, non-empty partition sets."""
    return {t: frozenset(p) for t, p in assignment.items() if p}
