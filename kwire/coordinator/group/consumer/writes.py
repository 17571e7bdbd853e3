"""The records a consumer group's changes are written as (Kafka's
GroupCoordinatorRecordHelpers for consumer groups), from kwire's values."""

from __future__ import annotations

from kwire.coordinator.group.consumer.group import ResolvedRegularExpression
from kwire.coordinator.group.consumer.member import (
    Assignment,
    ConsumerGroupMember,
    partitions_of,
)
from kwire.coordinator.group.consumer.records import (
    ConsumerGroupCurrentMemberAssignmentKey,
    ConsumerGroupCurrentMemberAssignmentValue,
    ConsumerGroupMemberMetadataKey,
    ConsumerGroupMemberMetadataValue,
    ConsumerGroupMetadataKey,
    ConsumerGroupMetadataValue,
    ConsumerGroupPartitionMetadataKey,
    ConsumerGroupRegularExpressionKey,
    ConsumerGroupRegularExpressionValue,
    ConsumerGroupTargetAssignmentMemberKey,
    ConsumerGroupTargetAssignmentMemberValue,
    ConsumerGroupTargetAssignmentMetadataKey,
    ConsumerGroupTargetAssignmentMetadataValue,
    consumer_record,
)
from kwire.coordinator.group.records import Record


def group_epoch(group_id: str, epoch: int, metadata_hash: int) -> Record:
    return consumer_record(ConsumerGroupMetadataKey(group_id),
                           ConsumerGroupMetadataValue(epoch, metadata_hash))


def group_epoch_tombstone(group_id: str) -> Record:
    return consumer_record(ConsumerGroupMetadataKey(group_id), None)


def subscription_metadata_tombstone(group_id: str) -> Record:
    """Kafka 4.1+ no longer keeps the subscribed topics' metadata in a record; a group
    that still has one (written by an older Kafka) gets it deleted."""
    return consumer_record(ConsumerGroupPartitionMetadataKey(group_id), None)


def member_subscription(group_id: str, member: ConsumerGroupMember) -> Record:
    return consumer_record(
        ConsumerGroupMemberMetadataKey(group_id, member.member_id),
        ConsumerGroupMemberMetadataValue(
            instance_id=member.instance_id, rack_id=member.rack_id,
            client_id=member.client_id, client_host=member.client_host,
            subscribed_topic_names=member.subscribed_topic_names,
            subscribed_topic_regex=member.subscribed_topic_regex or "",
            rebalance_timeout_ms=member.rebalance_timeout_ms,
            server_assignor=member.server_assignor_name,
            classic_member_metadata=member.classic_member_metadata))


def member_subscription_tombstone(group_id: str, member_id: str) -> Record:
    return consumer_record(ConsumerGroupMemberMetadataKey(group_id, member_id), None)


def target_member(group_id: str, member_id: str, assignment: Assignment) -> Record:
    return consumer_record(ConsumerGroupTargetAssignmentMemberKey(group_id, member_id),
                           ConsumerGroupTargetAssignmentMemberValue(dict(assignment)))


def target_member_tombstone(group_id: str, member_id: str) -> Record:
    return consumer_record(ConsumerGroupTargetAssignmentMemberKey(group_id, member_id), None)


def target_metadata(group_id: str, epoch: int, timestamp_ms: int) -> Record:
    return consumer_record(ConsumerGroupTargetAssignmentMetadataKey(group_id),
                           ConsumerGroupTargetAssignmentMetadataValue(epoch, timestamp_ms))


def target_metadata_tombstone(group_id: str) -> Record:
    return consumer_record(ConsumerGroupTargetAssignmentMetadataKey(group_id), None)


def current_assignment(group_id: str, member: ConsumerGroupMember) -> Record:
    return consumer_record(
        ConsumerGroupCurrentMemberAssignmentKey(group_id, member.member_id),
        ConsumerGroupCurrentMemberAssignmentValue(
            member_epoch=member.member_epoch,
            previous_member_epoch=member.previous_member_epoch,
            state=member.state,
            assigned_partitions=partitions_of(member.assigned_partitions),
            partitions_pending_revocation=partitions_of(member.partitions_pending_revocation),
            assigned_epochs={t: dict(p) for t, p in member.assigned_partitions.items()},
            pending_revocation_epochs={
                t: dict(p) for t, p in member.partitions_pending_revocation.items()}))


def current_assignment_tombstone(group_id: str, member_id: str) -> Record:
    return consumer_record(ConsumerGroupCurrentMemberAssignmentKey(group_id, member_id), None)


def regex(group_id: str, expression: str, resolved: ResolvedRegularExpression) -> Record:
    return consumer_record(
        ConsumerGroupRegularExpressionKey(group_id, expression),
        ConsumerGroupRegularExpressionValue(resolved.topics, resolved.version,
                                            resolved.timestamp_ms))


def regex_tombstone(group_id: str, expression: str) -> Record:
    return consumer_record(ConsumerGroupRegularExpressionKey(group_id, expression), None)
