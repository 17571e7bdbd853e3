"""KIP-848 server-side assignors, as Kafka 4.4's group coordinator computes them.

`group.consumer.assignors` defaults to `uniform,range`; the first listed is the one a
member gets when it names none (`DEFAULT_ASSIGNOR`).
"""

from __future__ import annotations

from kwire.coordinator.group.consumer.assignors.api import (
    Assignment,
    GroupAssignment,
    GroupSpec,
    MemberSubscriptionSpec,
    PartitionAssignor,
    PartitionAssignorError,
    StaticTopicDescriber,
    SubscriptionType,
    TopicDescriber,
    subscription_type_of,
)
from kwire.coordinator.group.consumer.assignors.range_assignor import RangeAssignor
from kwire.coordinator.group.consumer.assignors.uniform import UniformAssignor

ASSIGNORS: dict[str, PartitionAssignor] = {
    UniformAssignor.NAME: UniformAssignor(),
    RangeAssignor.NAME: RangeAssignor(),
}

GROUP_CONSUMER_ASSIGNORS_DEFAULT: tuple[str, ...] = (UniformAssignor.NAME, RangeAssignor.NAME)
"""Kafka's default for `group.consumer.assignors`."""

DEFAULT_ASSIGNOR: str = GROUP_CONSUMER_ASSIGNORS_DEFAULT[0]

__all__ = [
    "ASSIGNORS",
    "DEFAULT_ASSIGNOR",
    "GROUP_CONSUMER_ASSIGNORS_DEFAULT",
    "Assignment",
    "GroupAssignment",
    "GroupSpec",
    "MemberSubscriptionSpec",
    "PartitionAssignor",
    "PartitionAssignorError",
    "RangeAssignor",
    "StaticTopicDescriber",
    "SubscriptionType",
    "TopicDescriber",
    "UniformAssignor",
    "subscription_type_of",
]
