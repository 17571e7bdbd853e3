"""ConsumerGroupHeartbeat (KIP-848): Kafka 4.4's GroupMetadataManager.consumerGroupHeartbeat.

One heartbeat, in Kafka's order:
1. find or create the group (a member epoch of 0 joins) and the member (dynamic by
   member id, static by instance id: a static member rejoining replaces its
   predecessor); check the member epoch (FENCED_MEMBER_EPOCH);
2. store the member's subscription when it changed; resolve a new regular
   expression (in a call of its own, as Kafka's executor does: `regex_refresh.py`);
3. bump the group epoch when the subscriptions, the preferred assignor or the
   subscribed topics' metadata changed;
4. compute a new target assignment when the group epoch is ahead of it (`target.py`);
5. reconcile the member towards its target (`current_assignment.py`);
6. answer with the member's epoch and, when it changed or was asked for, its
   assignment.
A member epoch of -1 leaves; -2 is a static member's temporary leave.

Every change is a record, written (and applied) through `self.write`.
"""

from __future__ import annotations

import base64
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from kwire.coordinator.group.consumer import writes
from kwire.coordinator.group.consumer.conversion import ConsumerConversionMixin
from kwire.coordinator.group.consumer.current_assignment import (
    OwnedPartitions,
    SubscribedTopics,
    reconcile,
)
from kwire.coordinator.group.consumer.group import NO_DEADLINE_MS, ConsumerGroup
from kwire.coordinator.group.consumer.member import (
    Assignment,
    ConsumerGroupMember,
    EpochAssignment,
    MemberState,
    partitions_of,
)
from kwire.coordinator.group.consumer.regex import RegexStatus
from kwire.coordinator.group.consumer.regex_refresh import ConsumerRegexMixin
from kwire.coordinator.group.consumer.responses import ConsumerGroupHeartbeatResponse
from kwire.coordinator.group.consumer.target import compute_target_assignment
from kwire.coordinator.group.consumer.timers import revocation_key, session_key
from kwire.coordinator.group.consumer.topics import metadata_hash
from kwire.coordinator.group.effects import EffectsBuilder
from kwire.errors import ErrorCode, KwireError

LEAVE_GROUP_MEMBER_EPOCH = -1
LEAVE_GROUP_STATIC_MEMBER_EPOCH = -2


@dataclass(frozen=True)
class HeartbeatRequest:
    group_id: str
    member_id: str
    member_epoch: int
    instance_id: str | None
    rack_id: str | None
    rebalance_timeout_ms: int
    subscribed_topic_names: Sequence[str] | None
    subscribed_topic_regex: str | None
    server_assignor: str | None
    owned: OwnedPartitions
    client_id: str
    client_host: str


class ConsumerHeartbeatMixin(ConsumerRegexMixin, ConsumerConversionMixin):
    # -- entry point ---------------------------------------------------------------------

    def consumer_group_heartbeat(self, token: object, now_ms: int,
                                 request: HeartbeatRequest) -> EffectsBuilder:
        fx = EffectsBuilder()
        # Look at the topics first: a change since the last call marks the groups
        # subscribed to it for a metadata refresh (Kafka learns of it as it happens).
        self.topics(now_ms)
        try:
            if request.member_epoch in (LEAVE_GROUP_MEMBER_EPOCH,
                                        LEAVE_GROUP_STATIC_MEMBER_EPOCH):
                response = self._consumer_leave(fx, request, now_ms)
            else:
                response = self._consumer_heartbeat(fx, request, now_ms)
        except KwireError as exc:
            response = ConsumerGroupHeartbeatResponse(exc.error_code, exc.message)
        fx.respond(token, response)
        return fx

    # -- join / heartbeat ----------------------------------------------------------------

    def _consumer_heartbeat(self, fx: EffectsBuilder, request: HeartbeatRequest,
                            now_ms: int) -> ConsumerGroupHeartbeatResponse:
        joining = request.member_epoch == 0
        group = self.consumer_group_for_heartbeat(fx, request.group_id, joining, now_ms)
        self._throw_if_full(group, request.member_id, request.instance_id)
        member_id = request.member_id or new_member_id()
        if request.instance_id is None:
            member = self._dynamic_member(group, member_id, request.member_epoch,
                                          request.owned, joining)
        else:
            member = self._static_member(fx, group, member_id, request, joining)
        updated = member.with_(
            instance_id=request.instance_id if request.instance_id is not None
            else member.instance_id,
            rack_id=request.rack_id if request.rack_id is not None else member.rack_id,
            rebalance_timeout_ms=request.rebalance_timeout_ms
            if request.rebalance_timeout_ms != -1 else member.rebalance_timeout_ms,
            server_assignor_name=request.server_assignor
            if request.server_assignor is not None else member.server_assignor_name,
            subscribed_topic_names=frozenset(request.subscribed_topic_names)
            if request.subscribed_topic_names is not None else member.subscribed_topic_names,
            subscribed_topic_regex=request.subscribed_topic_regex
            if request.subscribed_topic_regex is not None else member.subscribed_topic_regex,
            client_id=request.client_id, client_host=request.client_host,
            classic_member_metadata=None)
        self.check_new_regex(group, request.subscribed_topic_regex
                             if request.subscribed_topic_regex != member.subscribed_topic_regex
                             else None)
        assignor_before = self._preferred_assignor(group)
        names_changed = False
        if updated != member or member.member_id not in group.members:
            self.write(fx, writes.member_subscription(group.group_id, updated))
            names_changed = updated.subscribed_topic_names != member.subscribed_topic_names
        regex_status = self.maybe_update_regexes(fx, group, member, updated, now_ms)
        assignor_changed = self._preferred_assignor(group) != assignor_before
        bump = (names_changed or regex_status is RegexStatus.UPDATED_AND_RESOLVED
                or assignor_changed)
        group_epoch = self.update_subscription_metadata(fx, group, bump, now_ms)
        target_epoch, target = self.maybe_update_target(fx, group, group_epoch, updated, now_ms)
        has_subscription_changed = names_changed or regex_status is not RegexStatus.NO_CHANGE
        updated = self.maybe_reconcile(fx, group, group.members.get(updated.member_id, updated),
                                       target_epoch, target, has_subscription_changed,
                                       request.owned, now_ms)
        self.schedule(fx, session_key(group.group_id, member_id),
                      now_ms + self.consumer_session_timeout_for(group.group_id))
        full = (request.rebalance_timeout_ms != -1
                and (request.subscribed_topic_names is not None
                     or request.subscribed_topic_regex is not None)
                and request.owned is not None)
        send_assignment = (joining or full
                           or updated.assigned_partitions != member.assigned_partitions)
        return ConsumerGroupHeartbeatResponse(
            ErrorCode.NONE, None, updated.member_id, updated.member_epoch,
            self.consumer_heartbeat_interval_for(group.group_id),
            partitions_of(updated.assigned_partitions) if send_assignment else None)

    def _throw_if_full(self, group: ConsumerGroup, member_id: str,
                       instance_id: str | None) -> None:
        if instance_id is not None and instance_id in group.static_members:
            return
        if (len(group.members) >= self.consumer_max_size
                and (not member_id or member_id not in group.members)):
            raise KwireError(ErrorCode.GROUP_MAX_SIZE_REACHED,
                             "The consumer group has reached its maximum capacity of "
                             f"{self.consumer_max_size} members.")

    def _dynamic_member(self, group: ConsumerGroup, member_id: str, member_epoch: int,
                        owned: OwnedPartitions, create: bool) -> ConsumerGroupMember:
        member = group.members.get(member_id)
        if member is None:
            if not create:
                raise KwireError(ErrorCode.UNKNOWN_MEMBER_ID,
                                 f"Member {member_id} is not a member of group "
                                 f"{group.group_id}.")
            # Kafka's ConsumerGroupMember.Builder: epoch 0, previous epoch -1.
            return ConsumerGroupMember(member_id, previous_member_epoch=-1)
        _check_member_epoch(member, member_epoch, owned)
        return member

    def _static_member(self, fx: EffectsBuilder, group: ConsumerGroup, member_id: str,
                       request: HeartbeatRequest, create: bool) -> ConsumerGroupMember:
        instance_id = request.instance_id
        existing = group.static_member(instance_id)
        if create:
            if existing is None:
                return group.members.get(member_id) or ConsumerGroupMember(
                    member_id, previous_member_epoch=-1)
            if not existing.uses_classic_protocol() and \
                    existing.member_epoch != LEAVE_GROUP_STATIC_MEMBER_EPOCH:
                raise KwireError(
                    ErrorCode.UNRELEASED_INSTANCE_ID,
                    f"Static member {member_id} with instance id {instance_id} cannot join "
                    f"the group because the instance id is owned by "
                    f"{existing.member_id} member.")
            replacement = existing.with_(member_id=member_id, member_epoch=0,
                                         previous_member_epoch=0)
            self.replace_member(fx, group, existing, replacement)
            return replacement
        if existing is None:
            raise KwireError(ErrorCode.UNKNOWN_MEMBER_ID, f"Instance id {instance_id} is unknown.")
        if existing.member_id != member_id:
            raise KwireError(
                ErrorCode.FENCED_INSTANCE_ID,
                f"Static member {member_id} with instance id {instance_id} was fenced by "
                f"member {existing.member_id}.")
        _check_member_epoch(existing, request.member_epoch, request.owned)
        return existing

    def replace_member(self, fx: EffectsBuilder, group: ConsumerGroup,
                       old: ConsumerGroupMember, new: ConsumerGroupMember) -> None:
        """A static member rejoined under a new member id: it takes over its
        predecessor's subscription, target and current assignment."""
        target = group.target_assignment.get(old.member_id, {})
        self.remove_member_records(fx, group.group_id, old.member_id)
        self.write(fx, writes.member_subscription(group.group_id, new))
        self.write(fx, writes.target_member(group.group_id, new.member_id, target))
        self.write(fx, writes.current_assignment(group.group_id, new))
        self.cancel_consumer_timers(fx, group.group_id, old.member_id)

    # -- subscription metadata and the group epoch ---------------------------------------

    def _preferred_assignor(self, group: ConsumerGroup) -> str:
        return group.preferred_server_assignor() or self.consumer_default_assignor

    def update_subscription_metadata(self, fx: EffectsBuilder, group: ConsumerGroup,
                                     bump: bool, now_ms: int) -> int:
        """Kafka's updateSubscriptionMetadata, run when the epoch must move on
        (`bump`) or the group's metadata expired (a subscribed topic changed, or the
        group was just created or loaded): the group epoch also moves on when the
        subscribed topics' metadata hash changed."""
        if not bump and not group.has_metadata_expired(now_ms):
            return group.group_epoch
        subscribed = set().union(*group.subscriptions().values()) if group.members else set()
        hashed = metadata_hash(subscribed, self.topics(now_ms))
        epoch = group.group_epoch
        if bump or hashed != group.metadata_hash:
            epoch += 1
            self.write(fx, writes.group_epoch(group.group_id, epoch, hashed))
        group.set_metadata_refresh_deadline(now_ms + NO_DEADLINE_MS, epoch)
        if group.has_subscription_metadata_record:
            self.write(fx, writes.subscription_metadata_tombstone(group.group_id))
        return epoch

    # -- target assignment and reconciliation --------------------------------------------

    def maybe_update_target(self, fx: EffectsBuilder, group: ConsumerGroup, group_epoch: int,
                            member: ConsumerGroupMember,
                            now_ms: int) -> tuple[int, Assignment]:
        if group.assignment_epoch >= group_epoch or not _can_compute_next_target(
                group.assignment_timestamp_ms,
                self.consumer_assignment_interval_for(group.group_id), now_ms):
            return group.assignment_epoch, group.target_of(member.member_id, member.instance_id)
        assignor_name = self._preferred_assignor(group)
        records, assignments = compute_target_assignment(
            group, group_epoch, self.consumer_assignors[assignor_name], self.topics(), now_ms)
        for record in records:
            self.write(fx, record)
        return group_epoch, assignments.get(member.member_id, {})

    def maybe_reconcile(self, fx: EffectsBuilder, group: ConsumerGroup,
                        member: ConsumerGroupMember, target_epoch: int, target: Assignment,
                        has_subscription_changed: bool, owned: OwnedPartitions,
                        now_ms: int) -> ConsumerGroupMember:
        if not has_subscription_changed and member.is_reconciled_to(target_epoch):
            return member
        topics = self.topics()
        updated = reconcile(
            member, target_epoch=target_epoch, target=target,
            subscribed=SubscribedTopics(group.topics_of(member), topics.name_of),
            has_subscription_changed=has_subscription_changed,
            current_partition_epoch=group.current_partition_epoch, owned=owned)
        if updated != member:
            self.write(fx, writes.current_assignment(group.group_id, updated))
            if not updated.uses_classic_protocol():
                key = revocation_key(group.group_id, updated.member_id)
                if updated.state is MemberState.UNREVOKED_PARTITIONS:
                    self.revocation_epochs[key] = updated.member_epoch
                    self.schedule(fx, key, now_ms + max(updated.rebalance_timeout_ms, 0))
                else:
                    self.revocation_epochs.pop(key, None)
                    self.cancel(fx, key)
        return updated

    # -- leaving and fencing -------------------------------------------------------------

    def _consumer_leave(self, fx: EffectsBuilder, request: HeartbeatRequest,
                        now_ms: int) -> ConsumerGroupHeartbeatResponse:
        group = self.existing_consumer_group(request.group_id)
        response = ConsumerGroupHeartbeatResponse(ErrorCode.NONE, None, request.member_id,
                                                  request.member_epoch)
        if request.instance_id is None:
            member = group.members.get(request.member_id)
            if member is None:
                raise KwireError(ErrorCode.UNKNOWN_MEMBER_ID,
                                 f"Member {request.member_id} is not a member of group "
                                 f"{group.group_id}.")
            self.fence_consumer_members(fx, group, [member], now_ms)
            return response
        static = group.static_member(request.instance_id)
        if static is None:
            raise KwireError(ErrorCode.UNKNOWN_MEMBER_ID,
                             f"Instance id {request.instance_id} is unknown.")
        if static.member_id != request.member_id:
            raise KwireError(
                ErrorCode.FENCED_INSTANCE_ID,
                f"Static member {request.member_id} with instance id {request.instance_id} "
                f"was fenced by member {static.member_id}.")
        if request.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH:
            # A static member going away for a while keeps its place (and target):
            # only its current assignment is given up, at epoch -2.
            leaving = static.with_(
                member_epoch=LEAVE_GROUP_STATIC_MEMBER_EPOCH, partitions_pending_revocation={},
                assigned_partitions={t: dict.fromkeys(p, 0)
                                     for t, p in static.assigned_partitions.items()})
            self.write(fx, writes.current_assignment(group.group_id, leaving))
            return ConsumerGroupHeartbeatResponse(ErrorCode.NONE, None, static.member_id,
                                                  LEAVE_GROUP_STATIC_MEMBER_EPOCH)
        self.fence_consumer_members(fx, group, [static], now_ms)
        return response

    def fence_consumer_members(self, fx: EffectsBuilder, group: ConsumerGroup,
                               members: Sequence[ConsumerGroupMember], now_ms: int) -> None:
        """Kafka's consumerGroupFenceMembers: remove them, bump the group epoch."""
        if not members:
            return
        if self.downgrade_allowed(group, members):
            # Only classic members would remain: the group goes back to classic.
            self.downgrade_to_classic(fx, group, members, now_ms)
            return
        counts = group.subscribed_regex_counts()
        leaving = Counter(m.subscribed_topic_regex for m in members if m.subscribed_topic_regex)
        for member in members:
            self.remove_member_records(fx, group.group_id, member.member_id)
        for regex, count in leaving.items():
            if counts[regex] == count:
                self.write(fx, writes.regex_tombstone(group.group_id, regex))
        remaining = set().union(*group.subscriptions().values()) if group.members else set()
        epoch = group.group_epoch + 1
        self.write(fx, writes.group_epoch(group.group_id, epoch,
                                          metadata_hash(remaining, self.topics())))
        if not group.members:
            self.write(fx, writes.target_metadata(group.group_id, epoch, 0))
        for member in members:
            self.cancel_consumer_timers(fx, group.group_id, member.member_id)

    def remove_member_records(self, fx: EffectsBuilder, group_id: str, member_id: str) -> None:
        self.write(fx, writes.current_assignment_tombstone(group_id, member_id))
        self.write(fx, writes.target_member_tombstone(group_id, member_id))
        self.write(fx, writes.member_subscription_tombstone(group_id, member_id))

    # -- timers --------------------------------------------------------------------------

    def on_consumer_session_expired(self, fx: EffectsBuilder, group_id: str, member_id: str,
                                    now_ms: int) -> None:
        group = self.consumer_groups.get(group_id)
        member = None if group is None else group.members.get(member_id)
        if group is not None and member is not None:
            self.fence_consumer_members(fx, group, [member], now_ms)

    def on_consumer_revocation_expired(self, fx: EffectsBuilder, group_id: str, member_id: str,
                                       now_ms: int) -> None:
        """The member did not revoke its partitions within its rebalance timeout."""
        expected = self.revocation_epochs.pop(revocation_key(group_id, member_id), None)
        group = self.consumer_groups.get(group_id)
        member = None if group is None else group.members.get(member_id)
        if group is None or member is None:
            return
        if member.state is MemberState.UNREVOKED_PARTITIONS and member.member_epoch == expected:
            self.fence_consumer_members(fx, group, [member], now_ms)


def new_member_id() -> str:
    """Kafka's Uuid.randomUuid().toString(): url-safe base64 of 16 random bytes without
    padding, never the zero or metadata topic id and never starting with '-'."""
    while True:
        raw = uuid.uuid4().bytes
        text = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        if raw not in (bytes(16), bytes(15) + b"\x01") and not text.startswith("-"):
            return text


def _can_compute_next_target(assignment_timestamp_ms: int, interval_ms: int,
                             now_ms: int) -> bool:
    """Kafka's canComputeNextTargetAssignment."""
    return (assignment_timestamp_ms == 0 or interval_ms == 0
            or now_ms >= assignment_timestamp_ms + interval_ms)


def _check_member_epoch(member: ConsumerGroupMember, received: int,
                        owned: OwnedPartitions) -> None:
    """Kafka's throwIfConsumerGroupMemberEpochIsInvalid."""
    if received == 0:
        return
    if received > member.member_epoch:
        raise KwireError(
            ErrorCode.FENCED_MEMBER_EPOCH,
            f"The consumer group member has a greater member epoch ({received}) than the one "
            f"known by the group coordinator ({member.member_epoch}). The member must abandon "
            "all its partitions and rejoin.")
    if received < member.member_epoch and not (
            received == member.previous_member_epoch
            and _is_subset(owned, member.assigned_partitions)):
        raise KwireError(
            ErrorCode.FENCED_MEMBER_EPOCH,
            f"The consumer group member has a smaller member epoch ({received}) than the one "
            f"known by the group coordinator ({member.member_epoch}). The member must abandon "
            "all its partitions and rejoin.")


def _is_subset(owned: OwnedPartitions, assigned: EpochAssignment) -> bool:
    """A member retrying with its previous epoch may own only what it is assigned
    (Kafka's isSubset; not reporting what it owns is not a subset)."""
    if owned is None:
        return False
    for topic_id, partitions in owned.items():
        have = assigned.get(topic_id)
        if have is None or any(p not in have for p in partitions):
            return False
    return True


def check_heartbeat_request(version: int, request: HeartbeatRequest,
                            assignors: Sequence[str]) -> None:
    """Kafka's GroupCoordinatorService.throwIfConsumerGroupHeartbeatRequestIsInvalid."""
    def invalid(message: str) -> KwireError:
        return KwireError(ErrorCode.INVALID_REQUEST, message)

    epoch = request.member_epoch
    if (version >= 1 or epoch > 0 or epoch == LEAVE_GROUP_MEMBER_EPOCH) and \
            not request.member_id.strip():
        raise invalid("MemberId can't be empty.")
    if not request.group_id.strip():
        raise invalid("GroupId can't be empty.")
    if request.instance_id is not None and not request.instance_id.strip():
        raise invalid("InstanceId can't be empty.")
    if request.rack_id is not None and not request.rack_id.strip():
        raise invalid("RackId can't be empty.")
    if epoch == 0:
        if request.rebalance_timeout_ms == -1:
            raise invalid("RebalanceTimeoutMs must be provided in first request.")
        if request.owned is None or request.owned:
            raise invalid("TopicPartitions must be empty when (re-)joining.")
        if request.subscribed_topic_names is None and request.subscribed_topic_regex is None:
            raise invalid("Either SubscribedTopicNames or SubscribedTopicRegex must be "
                          "non-null when (re-)joining.")
    elif epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH:
        if request.instance_id is None:
            raise invalid("InstanceId can't be null.")
    elif epoch < LEAVE_GROUP_STATIC_MEMBER_EPOCH:
        raise invalid("MemberEpoch is invalid.")
    if request.server_assignor is not None and request.server_assignor not in assignors:
        raise KwireError(ErrorCode.UNSUPPORTED_ASSIGNOR,
                         f"ServerAssignor {request.server_assignor} is not supported. "
                         f"Supported assignors: {', '.join(assignors)}.")
