"""Classic members inside a consumer group (KIP-848's online migration): JoinGroup,
SyncGroup, Heartbeat and LeaveGroup of a group that is a consumer group, as Kafka
4.4's classicGroup*ToConsumerGroup methods answer them.

A classic member is a consumer-group member that carries its classic protocol
metadata. The coordinator computes its assignment as for any member; JoinGroup
answers at once with the member epoch as the generation and no leader work to
do, SyncGroup hands the member its current assignment in its own embedded
protocol version, and Heartbeat says REBALANCE_IN_PROGRESS whenever the member
must rejoin to move on (it has partitions to revoke, or a new epoch is waiting).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from kwire.coordinator.group.consumer import writes
from kwire.coordinator.group.consumer.current_assignment import OwnedPartitions
from kwire.coordinator.group.consumer.embedded import (
    EmbeddedProtocolError,
    encode_assignment,
    parse_subscription,
    protocol_version,
)
from kwire.coordinator.group.consumer.group import ConsumerGroup
from kwire.coordinator.group.consumer.heartbeat import ConsumerHeartbeatMixin, new_member_id
from kwire.coordinator.group.consumer.member import (
    ClassicMemberMetadata,
    ConsumerGroupMember,
    MemberState,
)
from kwire.coordinator.group.consumer.migration import MigrationPolicy
from kwire.coordinator.group.consumer.timers import join_key, session_key, sync_key
from kwire.coordinator.group.effects import EffectsBuilder
from kwire.coordinator.group.responses import (
    HeartbeatResponse,
    JoinGroupResponse,
    LeaveGroupMemberResponse,
    LeaveGroupResponse,
    SyncGroupResponse,
)
from kwire.coordinator.group.subscription import CONSUMER_PROTOCOL_TYPE
from kwire.errors import ErrorCode, KwireError


class ClassicMembersMixin(ConsumerHeartbeatMixin):
    # -- JoinGroup -----------------------------------------------------------------------

    def classic_join_to_consumer_group(
            self, fx: EffectsBuilder, token: object, now_ms: int, group: ConsumerGroup, *,
            member_id: str, instance_id: str | None, protocol_type: str,
            protocols: Sequence[tuple[str, bytes]], session_timeout_ms: int,
            rebalance_timeout_ms: int, client_id: str, client_host: str,
            require_known_member_id: bool) -> None:
        self.topics(now_ms)  # marks groups whose subscribed topics changed (see heartbeat)
        try:
            self._classic_join(fx, token, now_ms, group, member_id, instance_id, protocol_type,
                               tuple(protocols), session_timeout_ms, rebalance_timeout_ms,
                               client_id, client_host, require_known_member_id)
        except KwireError as exc:
            fx.respond(token, JoinGroupResponse(exc.error_code, member_id=member_id))

    def _classic_join(self, fx: EffectsBuilder, token: object, now_ms: int,
                      group: ConsumerGroup, member_id: str, instance_id: str | None,
                      protocol_type: str, protocols: tuple[tuple[str, bytes], ...],
                      session_timeout_ms: int, rebalance_timeout_ms: int, client_id: str,
                      client_host: str, require_known_member_id: bool) -> None:
        gid = group.group_id
        if self.consumer_settings.migration_policy is MigrationPolicy.DISABLED:
            raise KwireError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL,
                             f"Cannot join the consumer group {gid} with the classic protocol "
                             "because the group migration is disabled.")
        unknown = member_id == ""
        if unknown:
            member_id = new_member_id()
        self._throw_if_full(group, member_id, instance_id)
        if not _supports(group, protocol_type, [name for name, _ in protocols]):
            raise KwireError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL,
                             f"Member {member_id}'s protocols are not supported.")
        if unknown and require_known_member_id and instance_id is None:
            fx.respond(token, JoinGroupResponse(ErrorCode.MEMBER_ID_REQUIRED,
                                                member_id=member_id))
            return
        try:
            subscription = parse_subscription(protocols[0][1])
        except EmbeddedProtocolError as exc:
            raise KwireError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL,
                             "Malformed embedded consumer protocol.") from exc
        member = self._classic_member(fx, group, member_id, instance_id, unknown)
        rebalance_timeout = rebalance_timeout_ms if rebalance_timeout_ms >= 0 \
            else session_timeout_ms
        updated = member.with_(
            instance_id=instance_id if instance_id is not None else member.instance_id,
            rack_id=subscription.rack_id if subscription.rack_id is not None
            else member.rack_id,
            rebalance_timeout_ms=rebalance_timeout,
            subscribed_topic_names=frozenset(subscription.topics), subscribed_topic_regex=None,
            client_id=client_id, client_host=client_host,
            classic_member_metadata=ClassicMemberMetadata(session_timeout_ms, protocols))
        names_changed = False
        if updated != member or member.member_id not in group.members:
            self.write(fx, writes.member_subscription(gid, updated))
            names_changed = updated.subscribed_topic_names != member.subscribed_topic_names
        regex_status = self.maybe_update_regexes(fx, group, member, updated, now_ms)
        bump = names_changed or regex_status.value != "no_change"
        group_epoch = self.update_subscription_metadata(fx, group, bump, now_ms)
        target_epoch, target = self.maybe_update_target(fx, group, group_epoch, updated, now_ms)
        topics = self.topics(now_ms)
        owned_by_id: dict[uuid.UUID, list[int]] = {}
        for topic, partitions in subscription.owned_partitions:
            topic_id = topics.id_of(topic)
            if topic_id is not None:
                owned_by_id[topic_id] = list(partitions)
        owned: OwnedPartitions = owned_by_id
        updated = self.maybe_reconcile(fx, group, group.members[member_id], target_epoch, target,
                                       bump, owned, now_ms)
        self.cancel(fx, join_key(gid, member_id))
        self.schedule(fx, session_key(gid, member_id), now_ms + session_timeout_ms)
        self.schedule(fx, sync_key(gid, member_id), now_ms + rebalance_timeout)
        fx.respond(token, JoinGroupResponse(
            ErrorCode.NONE, generation_id=updated.member_epoch,
            protocol_type=CONSUMER_PROTOCOL_TYPE, protocol_name=protocols[0][0],
            member_id=member_id))

    def _classic_member(self, fx: EffectsBuilder, group: ConsumerGroup, member_id: str,
                        instance_id: str | None, unknown: bool) -> ConsumerGroupMember:
        if instance_id is None:
            # Kafka creates the member on any JoinGroup (after MEMBER_ID_REQUIRED the
            # client comes back with the id it was given).
            return group.members.get(member_id) or ConsumerGroupMember(member_id)
        existing = group.static_member(instance_id)
        if existing is None:
            return group.members.get(member_id) or ConsumerGroupMember(member_id)
        if existing.member_id == member_id:
            return existing
        if not unknown:
            raise KwireError(ErrorCode.FENCED_INSTANCE_ID,
                             f"Static member {member_id} with instance id {instance_id} was "
                             f"fenced by member {existing.member_id}.")
        replacement = existing.with_(member_id=member_id, member_epoch=0,
                                     previous_member_epoch=0)
        self.replace_member(fx, group, existing, replacement)
        return replacement

    # -- SyncGroup / Heartbeat -----------------------------------------------------------

    def classic_sync_to_consumer_group(
            self, fx: EffectsBuilder, token: object, now_ms: int, group: ConsumerGroup, *,
            member_id: str, instance_id: str | None, generation_id: int,
            protocol_type: str | None, protocol_name: str | None) -> None:
        try:
            member = self._classic_member_of(group, member_id, instance_id, generation_id)
            meta = member.classic_member_metadata
            assert meta is not None
            name = meta.protocols[0][0]
            if protocol_type is not None and protocol_type != CONSUMER_PROTOCOL_TYPE:
                raise KwireError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
            if protocol_name is not None and protocol_name != name:
                raise KwireError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
            self._throw_if_rebalancing(fx, group, member, now_ms)
        except KwireError as exc:
            fx.respond(token, SyncGroupResponse(exc.error_code))
            return
        gid = group.group_id
        self.cancel(fx, sync_key(gid, member.member_id))
        self.schedule(fx, session_key(gid, member.member_id), now_ms + meta.session_timeout_ms)
        topics = self.topics(now_ms)
        by_name = {n: sorted(p) for t, p in member.assigned_partitions.items()
                   if (n := topics.name_of(t)) is not None}
        fx.respond(token, SyncGroupResponse(
            ErrorCode.NONE, protocol_type, protocol_name,
            encode_assignment(by_name, protocol_version(meta.protocols[0][1]))))

    def classic_heartbeat_to_consumer_group(
            self, fx: EffectsBuilder, token: object, now_ms: int, group: ConsumerGroup, *,
            member_id: str, instance_id: str | None, generation_id: int) -> None:
        try:
            member = self._classic_member_of(group, member_id, instance_id, generation_id)
        except KwireError as exc:
            fx.respond(token, HeartbeatResponse(exc.error_code))
            return
        meta = member.classic_member_metadata
        assert meta is not None
        gid = group.group_id
        self.schedule(fx, session_key(gid, member.member_id), now_ms + meta.session_timeout_ms)
        error = ErrorCode.NONE
        if (member.member_epoch < group.assignment_epoch
                or member.state is MemberState.UNREVOKED_PARTITIONS
                or (member.state is MemberState.UNRELEASED_PARTITIONS
                    and not _waiting_on_unreleased(group, member))):
            error = ErrorCode.REBALANCE_IN_PROGRESS
            self._schedule_join_timeout(fx, gid, member, now_ms)
        fx.respond(token, HeartbeatResponse(error))

    def _classic_member_of(self, group: ConsumerGroup, member_id: str,
                           instance_id: str | None, generation_id: int) -> ConsumerGroupMember:
        """Kafka's validateConsumerGroupMember, then the classic-protocol and
        generation checks of SyncGroup and Heartbeat."""
        if instance_id is None:
            member = group.members.get(member_id)
            if member is None:
                raise KwireError(ErrorCode.UNKNOWN_MEMBER_ID)
        else:
            member = group.static_member(instance_id)
            if member is None:
                raise KwireError(ErrorCode.UNKNOWN_MEMBER_ID)
            if member.member_id != member_id:
                raise KwireError(ErrorCode.FENCED_INSTANCE_ID)
        if not member.uses_classic_protocol():
            raise KwireError(ErrorCode.UNKNOWN_MEMBER_ID)
        if member.member_epoch != generation_id:
            raise KwireError(ErrorCode.ILLEGAL_GENERATION)
        return member

    def _throw_if_rebalancing(self, fx: EffectsBuilder, group: ConsumerGroup,
                              member: ConsumerGroupMember, now_ms: int) -> None:
        if group.assignment_epoch > member.member_epoch and \
                member.state is not MemberState.UNREVOKED_PARTITIONS:
            self._schedule_join_timeout(fx, group.group_id, member, now_ms)
            raise KwireError(ErrorCode.REBALANCE_IN_PROGRESS)

    def _schedule_join_timeout(self, fx: EffectsBuilder, group_id: str,
                               member: ConsumerGroupMember, now_ms: int) -> None:
        """Kafka's scheduleIfAbsent: the member must rejoin within its rebalance timeout."""
        key = join_key(group_id, member.member_id)
        if key not in self.timers:
            self.schedule(fx, key, now_ms + max(member.rebalance_timeout_ms, 0))

    # -- LeaveGroup ----------------------------------------------------------------------

    def classic_leave_to_consumer_group(self, fx: EffectsBuilder, token: object, now_ms: int,
                                        group: ConsumerGroup,
                                        members: Sequence[tuple[str, str | None]]) -> None:
        answers = []
        leaving: dict[str, ConsumerGroupMember] = {}
        for member_id, instance_id in members:
            if instance_id is None:
                found = group.members.get(member_id)
                error = ErrorCode.NONE if found is not None else ErrorCode.UNKNOWN_MEMBER_ID
            else:
                found = group.static_member(instance_id)
                error = ErrorCode.NONE
                if found is None:
                    error = ErrorCode.UNKNOWN_MEMBER_ID
                elif member_id and found.member_id != member_id:
                    error, found = ErrorCode.FENCED_INSTANCE_ID, None
            if found is not None:
                leaving[found.member_id] = found
            answers.append(LeaveGroupMemberResponse(member_id, instance_id, error))
        self.fence_consumer_members(fx, group, list(leaving.values()), now_ms)
        fx.respond(token, LeaveGroupResponse(ErrorCode.NONE, tuple(answers)))

    # -- timers --------------------------------------------------------------------------

    def on_classic_member_timeout(self, fx: EffectsBuilder, group_id: str, member_id: str,
                                  now_ms: int) -> None:
        """A classic member did not rejoin (or sync) within its rebalance timeout."""
        group = self.consumer_groups.get(group_id)
        member = None if group is None else group.members.get(member_id)
        if group is not None and member is not None:
            self.fence_consumer_members(fx, group, [member], now_ms)


def _supports(group: ConsumerGroup, protocol_type: str, names: Sequence[str]) -> bool:
    """Kafka's ConsumerGroup.supportsClassicProtocols."""
    if protocol_type != CONSUMER_PROTOCOL_TYPE:
        return False
    if not group.members:
        return bool(names)
    classic = [m.classic_member_metadata for m in group.members.values()
               if m.classic_member_metadata is not None]
    return any(all(name in {p for p, _ in meta.protocols} for meta in classic)
               for name in names)


def _waiting_on_unreleased(group: ConsumerGroup, member: ConsumerGroupMember) -> bool:
    """Kafka's waitingOnUnreleasedPartition."""
    if member.state is not MemberState.UNRELEASED_PARTITIONS:
        return False
    for topic_id, partitions in group.target_assignment.get(member.member_id, {}).items():
        owned = member.assigned_partitions.get(topic_id, {})
        for partition in partitions:
            if partition not in owned and group.current_partition_epoch(topic_id, partition) != -1:
                return True
    return False
