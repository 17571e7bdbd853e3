"""Online migration between classic and consumer groups (KIP-848), as Kafka 4.4 does it.

Upgrade: when the first member joins a classic group (with members, using the
"consumer" embedded protocol) through ConsumerGroupHeartbeat, the classic group is
replaced by a consumer group at the same epoch (its generation) whose members are
the classic members, each keeping its assignment and its classic protocol
metadata (ConsumerGroup.fromClassicGroup). Kafka writes the classic group's
tombstone, then the consumer group's records; so does kwire.

Downgrade: when the last member using the consumer protocol leaves (or is fenced)
and classic members remain, the consumer group becomes a classic group at its
group epoch, in state Stable with each member's target assignment, and a rebalance
starts (ClassicGroup.fromConsumerGroup).

`group.consumer.migration.policy` allows either way, one, or none.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection

from kwire.coordinator.group.classic_group import ClassicGroup, ClassicGroupMember
from kwire.coordinator.group.consumer import writes
from kwire.coordinator.group.consumer.embedded import (
    EmbeddedProtocolError,
    encode_assignment,
    parse_assignment,
    parse_subscription,
    protocol_version,
)
from kwire.coordinator.group.consumer.group import ConsumerGroup
from kwire.coordinator.group.consumer.groups import ConsumerGroupsMixin
from kwire.coordinator.group.consumer.member import (
    ClassicMemberMetadata,
    ConsumerGroupMember,
    MemberState,
)
from kwire.coordinator.group.consumer.timers import session_key
from kwire.coordinator.group.consumer.topics import TopicsImage, metadata_hash
from kwire.coordinator.group.effects import EffectsBuilder
from kwire.coordinator.group.rebalance import RebalanceMixin
from kwire.coordinator.group.records import group_metadata_record
from kwire.coordinator.group.responses import JoinGroupResponse, SyncGroupResponse
from kwire.coordinator.group.state import GroupState
from kwire.coordinator.group.subscription import CONSUMER_PROTOCOL_TYPE
from kwire.errors import ErrorCode, KwireError


def _not_found(message: str) -> KwireError:
    return KwireError(ErrorCode.GROUP_ID_NOT_FOUND, message)


class ConsumerConversionMixin(RebalanceMixin, ConsumerGroupsMixin):
    # -- upgrade -------------------------------------------------------------------------

    def consumer_group_for_heartbeat(self, fx: EffectsBuilder, group_id: str, create: bool,
                                     now_ms: int) -> ConsumerGroup:
        """Kafka's getOrMaybeCreateConsumerGroup. An empty classic group (one that only
        keeps offsets) becomes a consumer group when a member joins with the new
        protocol, its offsets kept; one with members is upgraded online."""
        group = self.consumer_groups.get(group_id)
        if group is not None:
            return group
        classic = self.groups.get(group_id)
        if not create:
            if classic is not None:
                raise KwireError(ErrorCode.GROUP_ID_NOT_FOUND,
                                 f"Group {group_id} is not a consumer group.")
            raise KwireError(ErrorCode.GROUP_ID_NOT_FOUND, f"Consumer group {group_id} not found.")
        if classic is not None:
            if classic.members:
                return self.upgrade_classic_group(fx, classic, now_ms)
            if classic.generation_id > 0 or classic.protocol_type:
                self.write_group_tombstone(fx, group_id)
            self.groups.pop(group_id, None)
        group = ConsumerGroup(group_id)
        self.consumer_groups[group_id] = group
        return group


    def upgrade_classic_group(self, fx: EffectsBuilder, classic: ClassicGroup,
                              now_ms: int) -> ConsumerGroup:
        gid = classic.group_id
        if not self.consumer_settings.migration_policy.upgrade_enabled:
            raise _not_found(f"Cannot upgrade classic group {gid} to consumer group because "
                             "online upgrade is disabled.")
        if not classic.uses_consumer_protocol():
            raise _not_found(f"Cannot upgrade classic group {gid} to consumer group because "
                             "the group does not use the consumer embedded protocol.")
        if len(classic.members) > self.consumer_max_size:
            raise _not_found(f"Cannot upgrade classic group {gid} to consumer group because "
                             "the group size exceeds the consumer group maximum size.")
        topics = self.topics(now_ms)
        members = [self._member_from_classic(classic, m, topics) for m in classic.members.values()]
        # Parked JoinGroup/SyncGroup requests learn that the group changed.
        for m in classic.members.values():
            self.complete_join(fx, m, JoinGroupResponse(ErrorCode.REBALANCE_IN_PROGRESS,
                                                        member_id=m.member_id))
            self.complete_sync(fx, m, SyncGroupResponse(ErrorCode.REBALANCE_IN_PROGRESS))
        self.cancel_group_timers(fx, gid)
        self.write_group_tombstone(fx, gid)
        self.groups.pop(gid, None)
        epoch = classic.generation_id
        subscribed = set().union(*(m.subscribed_topic_names for m in members)) if members \
            else set()
        for member in members:
            self.write(fx, writes.member_subscription(gid, member))
        self.write(fx, writes.group_epoch(gid, epoch, metadata_hash(subscribed, topics)))
        for member in members:
            target = {t: frozenset(p) for t, p in member.assigned_partitions.items()}
            self.write(fx, writes.target_member(gid, member.member_id, target))
        self.write(fx, writes.target_metadata(gid, epoch, 0))
        for member in members:
            self.write(fx, writes.current_assignment(gid, member))
            meta = member.classic_member_metadata
            assert meta is not None
            self.schedule(fx, session_key(gid, member.member_id),
                          now_ms + meta.session_timeout_ms)
        return self.consumer_groups[gid]

    def _member_from_classic(self, classic: ClassicGroup, member: ClassicGroupMember,
                             topics: TopicsImage) -> ConsumerGroupMember:
        gid = classic.group_id
        try:
            subscription = parse_subscription(member.metadata(classic.protocol_name))
            assigned: dict[uuid.UUID, dict[int, int]] = {}
            if member.assignment:
                assignment = parse_assignment(member.assignment)
                if assignment.user_data:
                    raise _not_found(
                        f"Cannot upgrade classic group {gid} to consumer group because an "
                        "unsupported custom assignor is in use. Please refer to the "
                        "documentation or switch to a default assignor before re-attempting "
                        "the upgrade.")
                for topic, partitions in assignment.partitions:
                    topic_id = topics.id_of(topic)
                    if topic_id is not None and partitions:
                        assigned.setdefault(topic_id, {}).update(
                            dict.fromkeys(partitions, classic.generation_id))
        except (EmbeddedProtocolError, KeyError) as exc:
            raise _not_found(f"Cannot upgrade classic group {gid} to consumer group because "
                             "the embedded consumer protocol is malformed.") from exc
        epoch = classic.generation_id
        return ConsumerGroupMember(
            member.member_id, member_epoch=epoch, previous_member_epoch=epoch,
            state=MemberState.STABLE, instance_id=member.group_instance_id,
            rack_id=subscription.rack_id, rebalance_timeout_ms=member.rebalance_timeout_ms,
            client_id=member.client_id, client_host=member.client_host,
            subscribed_topic_names=frozenset(subscription.topics),
            assigned_partitions=assigned,
            classic_member_metadata=ClassicMemberMetadata(member.session_timeout_ms,
                                                          member.protocols))

    # -- downgrade -----------------------------------------------------------------------

    def downgrade_allowed(self, group: ConsumerGroup,
                          leaving: Collection[ConsumerGroupMember]) -> bool:
        """Kafka's validateOnlineDowngradeWithFencedMembers."""
        gone = {m.member_id for m in leaving}
        remaining = [m for m in group.members.values() if m.member_id not in gone]
        return (bool(remaining) and all(m.uses_classic_protocol() for m in remaining)
                and self.consumer_settings.migration_policy.downgrade_enabled
                and len(remaining) <= self.max_group_size)

    def downgrade_to_classic(self, fx: EffectsBuilder, group: ConsumerGroup,
                             leaving: Collection[ConsumerGroupMember], now_ms: int) -> None:
        """Replace the consumer group by a classic group and start a rebalance."""
        gid = group.group_id
        gone = {m.member_id for m in leaving}
        topics = self.topics(now_ms)
        classic = ClassicGroup(gid, state=GroupState.STABLE, current_state_timestamp=now_ms,
                               protocol_type=CONSUMER_PROTOCOL_TYPE,
                               generation_id=group.group_epoch)
        for member in group.members.values():
            if member.member_id in gone or member.classic_member_metadata is None:
                continue
            meta = member.classic_member_metadata
            classic.add(ClassicGroupMember(
                member.member_id, member.instance_id, member.client_id, member.client_host,
                member.rebalance_timeout_ms, meta.session_timeout_ms, CONSUMER_PROTOCOL_TYPE,
                meta.protocols))
        classic.protocol_name = classic.select_protocol()
        classic.subscribed = classic.compute_subscribed_topics()
        assignments: dict[str, bytes] = {}
        for m in classic.members.values():
            target = group.target_assignment.get(m.member_id, {})
            by_name = {name: sorted(parts) for topic_id, parts in target.items()
                       if (name := topics.name_of(topic_id)) is not None}
            m.assignment = encode_assignment(
                by_name, protocol_version(m.metadata(classic.protocol_name)))
            assignments[m.member_id] = m.assignment
        members = list(group.members.values())
        for member in members:
            self.cancel_consumer_timers(fx, gid, member.member_id)
        self.write_consumer_group_tombstones(fx, group)
        fx.append(group_metadata_record(gid, classic.metadata_value(assignments)))
        self.groups[gid] = classic
        for m in classic.members.values():
            self.reschedule_heartbeat(fx, classic, m, now_ms)
        self.prepare_rebalance(fx, classic, now_ms)
