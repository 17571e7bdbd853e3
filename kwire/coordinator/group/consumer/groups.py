"""Finding consumer groups for a call, and their lifecycle in the shard (load, unload,
deletion), beside the classic groups of the same coordinator."""

from __future__ import annotations

from kwire.coordinator.group.base import CoordinatorBase
from kwire.coordinator.group.consumer import writes
from kwire.coordinator.group.consumer.group import ConsumerGroup
from kwire.coordinator.group.consumer.member import MemberState
from kwire.coordinator.group.consumer.timers import (
    join_key,
    revocation_key,
    session_key,
    sync_key,
)
from kwire.coordinator.group.effects import EffectsBuilder
from kwire.errors import ErrorCode, KwireError


class ConsumerGroupsMixin(CoordinatorBase):
    def existing_consumer_group(self, group_id: str) -> ConsumerGroup:
        group = self.consumer_groups.get(group_id)
        if group is None:
            if group_id in self.groups:
                raise KwireError(ErrorCode.GROUP_ID_NOT_FOUND,
                                 f"Group {group_id} is not a consumer group.")
            # Kafka's consumerGroup(groupId) -> group(groupId)
            raise KwireError(ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} not found.")
        return group

    def forget_unwritten_group(self, group_id: str) -> None:
        """A group created for a call that failed before writing anything."""
        group = self.consumer_groups.get(group_id)
        if group is not None and not group.persisted:
            del self.consumer_groups[group_id]

    def arm_loaded_consumer_groups(self, fx: EffectsBuilder, now_ms: int) -> None:
        """After loading: every member's session, and the revocation timers of members
        that were revoking (Kafka's onLoaded)."""
        for group in self.consumer_groups.values():
            for member in group.members.values():
                classic = member.classic_member_metadata
                timeout = (classic.session_timeout_ms if classic is not None
                           else self.consumer_session_timeout_for(group.group_id))
                self.schedule(fx, session_key(group.group_id, member.member_id),
                              now_ms + timeout)
                if member.state is MemberState.UNREVOKED_PARTITIONS:
                    key = revocation_key(group.group_id, member.member_id)
                    self.revocation_epochs[key] = member.member_epoch
                    self.schedule(fx, key, now_ms + max(member.rebalance_timeout_ms, 0))

    def write_consumer_group_tombstones(self, fx: EffectsBuilder, group: ConsumerGroup) -> None:
        gid = group.group_id
        members = list(group.members)
        for member_id in members:
            self.write(fx, writes.current_assignment_tombstone(gid, member_id))
        for member_id in members:
            self.write(fx, writes.target_member_tombstone(gid, member_id))
        self.write(fx, writes.target_metadata_tombstone(gid))
        for member_id in members:
            self.write(fx, writes.member_subscription_tombstone(gid, member_id))
        for regex in list(group.resolved_regexes):
            self.write(fx, writes.regex_tombstone(gid, regex))
        self.write(fx, writes.subscription_metadata_tombstone(gid))
        self.write(fx, writes.group_epoch_tombstone(gid))

    def cancel_consumer_timers(self, fx: EffectsBuilder, group_id: str, member_id: str) -> None:
        self.cancel(fx, session_key(group_id, member_id))
        self.cancel(fx, join_key(group_id, member_id))
        self.cancel(fx, sync_key(group_id, member_id))
        key = revocation_key(group_id, member_id)
        self.revocation_epochs.pop(key, None)
        self.cancel(fx, key)
