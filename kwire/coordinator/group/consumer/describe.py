"""ConsumerGroupDescribe (API 69) answers: Kafka's ConsumerGroup.asDescribedGroup."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from kwire.coordinator.group.base import CoordinatorBase
from kwire.coordinator.group.consumer.group import ConsumerGroup
from kwire.coordinator.group.consumer.member import ConsumerGroupMember
from kwire.coordinator.group.consumer.responses import (
    ConsumerGroupDescribeResponse,
    DescribedConsumerGroup,
    DescribedMember,
    TopicPartitions,
)
from kwire.coordinator.group.consumer.topics import TopicsImage
from kwire.coordinator.group.effects import Effects, EffectsBuilder
from kwire.errors import ErrorCode


def _topic_partitions(assignment: Mapping[uuid.UUID, object],
                      topics: TopicsImage) -> tuple[TopicPartitions, ...]:
    """Only topics that still exist are shown, as Kafka resolves each id's name."""
    listed = []
    for topic_id, partitions in assignment.items():
        name = topics.name_of(topic_id)
        if name is not None and isinstance(partitions, (Mapping, frozenset, set)):
            listed.append((topic_id, name, tuple(sorted(partitions))))
    return tuple(listed)


def describe_member(group: ConsumerGroup, member: ConsumerGroupMember,
                    topics: TopicsImage) -> DescribedMember:
    owned: dict[uuid.UUID, set[int]] = {}
    for assignment in (member.assigned_partitions, member.partitions_pending_revocation):
        for topic_id, partitions in assignment.items():
            owned.setdefault(topic_id, set()).update(partitions)
    return DescribedMember(
        member.member_id, member.instance_id, member.rack_id, member.member_epoch,
        member.client_id, member.client_host, tuple(sorted(member.subscribed_topic_names)),
        member.subscribed_topic_regex, _topic_partitions(owned, topics),
        _topic_partitions(group.target_assignment.get(member.member_id, {}), topics),
        0 if member.uses_classic_protocol() else 1)


class ConsumerDescribeMixin(CoordinatorBase):
    def describe_consumer_groups(self, token: object, now_ms: int, *,
                                 group_ids: Sequence[str]) -> Effects:
        fx = EffectsBuilder()
        topics = self.topics(now_ms)
        described = []
        for group_id in group_ids:
            group = self.consumer_groups.get(group_id)
            if self.loading:
                described.append(DescribedConsumerGroup(
                    ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, group_id))
            elif group is None:
                message = (f"Group {group_id} is not a consumer group."
                           if group_id in self.groups
                           else f"Group {group_id} not found.")
                described.append(DescribedConsumerGroup(ErrorCode.GROUP_ID_NOT_FOUND, group_id,
                                                        message))
            else:
                described.append(DescribedConsumerGroup(
                    ErrorCode.NONE, group_id, None, group.state.value, group.group_epoch,
                    max(group.assignment_epoch, 0),
                    group.preferred_server_assignor() or self.consumer_default_assignor,
                    tuple(describe_member(group, m, topics) for m in group.members.values())))
        fx.respond(token, ConsumerGroupDescribeResponse(tuple(described)))
        return fx.build()
