"""Applying consumer-group records to the groups (Kafka's GroupMetadataManager.replay
for the KIP-848 record types). Live writes and loading both come through here.

A tombstone for something already gone is ignored; tombstones arrive in Kafka's
order (current assignment, target, subscription, then the group's own records), so
a member's subscription tombstone finds its assignment already cleared.
"""

from __future__ import annotations

from kwire.coordinator.group.consumer.group import ConsumerGroup, ResolvedRegularExpression
from kwire.coordinator.group.consumer.member import ConsumerGroupMember, MemberState
from kwire.coordinator.group.consumer.records import (
    ConsumerGroupCurrentMemberAssignmentKey,
    ConsumerGroupCurrentMemberAssignmentValue,
    ConsumerGroupKey,
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
    ConsumerGroupValue,
)


def apply_record(groups: dict[str, ConsumerGroup], key: ConsumerGroupKey,
                 value: ConsumerGroupValue | None) -> None:
    group = groups.get(key.group_id)
    if group is None:
        if value is None:
            return
        group = groups[key.group_id] = ConsumerGroup(key.group_id)
    group.persisted = True
    if isinstance(key, ConsumerGroupMetadataKey):
        if value is None:
            del groups[key.group_id]
        else:
            assert isinstance(value, ConsumerGroupMetadataValue)
            group.group_epoch, group.metadata_hash = value.epoch, value.metadata_hash
    elif isinstance(key, ConsumerGroupPartitionMetadataKey):
        group.has_subscription_metadata_record = value is not None
    elif isinstance(key, ConsumerGroupMemberMetadataKey):
        _apply_member(group, key.member_id, value)
    elif isinstance(key, ConsumerGroupTargetAssignmentMetadataKey):
        if value is None:
            group.assignment_epoch, group.assignment_timestamp_ms = -1, 0
        else:
            assert isinstance(value, ConsumerGroupTargetAssignmentMetadataValue)
            group.assignment_epoch = value.assignment_epoch
            group.assignment_timestamp_ms = value.assignment_timestamp
    elif isinstance(key, ConsumerGroupTargetAssignmentMemberKey):
        if value is None:
            group.target_assignment.pop(key.member_id, None)
        else:
            assert isinstance(value, ConsumerGroupTargetAssignmentMemberValue)
            group.target_assignment[key.member_id] = dict(value.topic_partitions)
    elif isinstance(key, ConsumerGroupCurrentMemberAssignmentKey):
        _apply_current_assignment(group, key.member_id, value)
    elif isinstance(key, ConsumerGroupRegularExpressionKey):
        if value is None:
            group.resolved_regexes.pop(key.regular_expression, None)
        else:
            assert isinstance(value, ConsumerGroupRegularExpressionValue)
            group.resolved_regexes[key.regular_expression] = ResolvedRegularExpression(
                value.topics, value.version, value.timestamp)


def _apply_member(group: ConsumerGroup, member_id: str,
                  value: ConsumerGroupValue | None) -> None:
    if value is None:
        group.remove_member(member_id)
        return
    assert isinstance(value, ConsumerGroupMemberMetadataValue)
    old = group.members.get(member_id) or ConsumerGroupMember(member_id)
    group.update_member(old.with_(
        instance_id=value.instance_id, rack_id=value.rack_id, client_id=value.client_id,
        client_host=value.client_host, subscribed_topic_names=value.subscribed_topic_names,
        subscribed_topic_regex=value.subscribed_topic_regex or None,
        rebalance_timeout_ms=value.rebalance_timeout_ms,
        server_assignor_name=value.server_assignor or None,
        classic_member_metadata=value.classic_member_metadata))


def _apply_current_assignment(group: ConsumerGroup, member_id: str,
                              value: ConsumerGroupValue | None) -> None:
    old = group.members.get(member_id)
    if value is None:
        if old is not None:
            group.update_member(old.with_(member_epoch=-1, previous_member_epoch=-1,
                                          assigned_partitions={},
                                          partitions_pending_revocation={}))
        return
    assert isinstance(value, ConsumerGroupCurrentMemberAssignmentValue)
    group.update_member((old or ConsumerGroupMember(member_id)).with_(
        member_epoch=value.member_epoch, previous_member_epoch=value.previous_member_epoch,
        state=value.state if isinstance(value.state, MemberState) else MemberState.UNKNOWN,
        assigned_partitions=value.effective_epochs(),
        partitions_pending_revocation=value.effective_epochs(pending_revocation=True)))
