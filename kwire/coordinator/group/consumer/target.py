"""The target assignment of a consumer group: Kafka's TargetAssignmentBuilder.

When the group epoch moves ahead of the target assignment's epoch, the group's
preferred server assignor computes a new target from every member's subscription
(topic names and resolved regexes, as topic ids) and its current target (for
stickiness). Records are written only for members whose target changed, then
the target assignment metadata (epoch, time).
"""

from __future__ import annotations

from collections import Counter

from kwire.coordinator.group.consumer.assignors import java_order
from kwire.coordinator.group.consumer.assignors.api import (
    GroupAssignment,
    GroupSpec,
    MemberSubscriptionSpec,
    PartitionAssignor,
    PartitionAssignorError,
    StaticTopicDescriber,
    SubscriptionType,
)
from kwire.coordinator.group.consumer.group import ConsumerGroup
from kwire.coordinator.group.consumer.topics import TopicsImage
from kwire.coordinator.group.consumer.writes import target_member, target_metadata
from kwire.coordinator.group.records import Record
from kwire.errors import ErrorCode, KwireError


def subscription_type(group: ConsumerGroup) -> SubscriptionType:
    """Kafka's ConsumerGroup.subscriptionType: homogeneous when every topic is
    subscribed by every member by name, or everyone uses the same one regex."""
    members = len(group.members)
    regexes = group.subscribed_regex_counts()
    by_name: Counter[str] = Counter()
    by_regex: Counter[str] = Counter()
    for member in group.members.values():
        by_name.update(member.subscribed_topic_names)
    for regex in regexes:
        resolved = group.resolved_regexes.get(regex)
        if resolved is not None:
            by_regex.update(resolved.topics)
    topics = set(by_name) | set(by_regex)
    if not regexes:
        homogeneous = all(by_name[t] == members for t in topics)
    elif len(regexes) == 1 and next(iter(regexes.values())) == members:
        homogeneous = all(by_regex[t] == 1 and by_name[t] <= 0 for t in topics)
    else:
        homogeneous = False
    return SubscriptionType.HOMOGENEOUS if homogeneous else SubscriptionType.HETEROGENEOUS


def compute_target_assignment(group: ConsumerGroup, group_epoch: int,
                              assignor: PartitionAssignor, topics: TopicsImage,
                              now_ms: int) -> tuple[list[Record], GroupAssignment]:
    specs: dict[str, MemberSubscriptionSpec] = {}
    for member_id, member in group.members.items():
        subscribed = frozenset(
            topic.topic_id for name in group.topics_of(member)
            if (topic := topics.by_name.get(name)) is not None)
        specs[member_id] = MemberSubscriptionSpec(
            subscribed, group.target_assignment.get(member_id, {}), member.rack_id,
            member.instance_id)
    describer = StaticTopicDescriber({t.topic_id: t.partitions for t in topics.by_id.values()})
    try:
        assigned = assignor.assign(GroupSpec(specs, subscription_type(group)), describer)
    except PartitionAssignorError as exc:
        raise KwireError(ErrorCode.UNKNOWN_SERVER_ERROR,
                         f"Failed to compute a new target assignment for epoch {group_epoch}: "
                         f"{exc}") from exc
    records: list[Record] = []
    # Kafka walks its HashMap of member specs: the records come in that order.
    for member_id in java_order.put_order(specs, java_order.string_hash):
        new = assigned.get(member_id, {})
        if dict(new) != dict(group.target_assignment.get(member_id, {})) \
                or member_id not in group.target_assignment:
            records.append(target_member(group.group_id, member_id, new))
    records.append(target_metadata(group.group_id, group_epoch, now_ms))
    return records, assigned
