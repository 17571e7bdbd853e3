"""Rebalance mechanics of classic groups: prepare, complete the join phase, expire members.

Kafka's GroupMetadataManager paths prepareRebalance, maybeCompleteJoinPhase,
completeClassicGroupJoin, tryCompleteInitialRebalanceElseSchedule (the initial
delay, KIP-134), expireClassicGroupMemberHeartbeat, expirePendingSync and the
assignment propagation, as synchronous steps that write into an EffectsBuilder.
"""

from __future__ import annotations

from kwire.coordinator.group.base import CoordinatorBase
from kwire.coordinator.group.classic_group import ClassicGroup, ClassicGroupMember
from kwire.coordinator.group.effects import (
    EffectsBuilder,
    initial_delay_key,
    join_key,
    sync_key,
)
from kwire.coordinator.group.records import group_metadata_record
from kwire.coordinator.group.responses import JoinGroupResponse, SyncGroupResponse
from kwire.coordinator.group.state import GroupState
from kwire.errors import ErrorCode

EMPTY = GroupState.EMPTY
PREPARING = GroupState.PREPARING_REBALANCE
COMPLETING = GroupState.COMPLETING_REBALANCE
STABLE = GroupState.STABLE
DEAD = GroupState.DEAD


class RebalanceMixin(CoordinatorBase):
    # -- starting and completing the join phase ------------------------------------------------

    def prepare_rebalance(self, fx: EffectsBuilder, group: ClassicGroup, now_ms: int) -> None:
        if group.is_in(COMPLETING):
            # Parked SyncGroups must rejoin.
            self.reset_and_propagate_error(fx, group, ErrorCode.REBALANCE_IN_PROGRESS, now_ms)
        group.pending_sync_members.clear()
        self.cancel(fx, sync_key(group.group_id))

        initial = group.is_in(EMPTY)
        if initial:
            # A new group: give more members time to join (group.initial.rebalance.delay.ms).
            delay = self.initial_rebalance_delay_ms
            group.initial_delay_ms = delay
            group.initial_remaining_ms = max(group.rebalance_timeout_ms() - delay, 0)
            self.schedule(fx, initial_delay_key(group.group_id), now_ms + delay)
        group.transition_to(PREPARING, now_ms)
        if not initial:
            self._maybe_complete_join_else_schedule(fx, group, now_ms)

    def _maybe_complete_join_else_schedule(
        self, fx: EffectsBuilder, group: ClassicGroup, now_ms: int
    ) -> None:
        if group.has_all_members_joined():
            self.complete_group_join(fx, group, now_ms)
        else:
            self.schedule(fx, join_key(group.group_id), now_ms + group.rebalance_timeout_ms())

    def maybe_prepare_rebalance_or_complete_join(
        self, fx: EffectsBuilder, group: ClassicGroup, now_ms: int
    ) -> None:
        if group.can_rebalance():
            self.prepare_rebalance(fx, group, now_ms)
        else:
            self.maybe_complete_join_phase(fx, group, now_ms)

    def maybe_complete_join_phase(
        self, fx: EffectsBuilder, group: ClassicGroup, now_ms: int
    ) -> None:
        if not group.is_in(PREPARING) or group.previous_state is EMPTY:
            return  # the initial rebalance waits for its delay timer
        if group.has_all_members_joined():
            self.complete_group_join(fx, group, now_ms)

    def complete_group_join(self, fx: EffectsBuilder, group: ClassicGroup, now_ms: int) -> None:
        gid = group.group_id
        self.cancel(fx, join_key(gid))
        self.cancel(fx, initial_delay_key(gid))
        # Dynamic members that did not rejoin in time are gone; static ones keep their slot.
        for member in group.not_yet_rejoined():
            if member.group_instance_id is None:
                self.drop_member(fx, group, member.member_id)

        if group.is_in(DEAD):
            return
        if not group.maybe_elect_new_joined_leader() and group.members:
            # Only static members that did not rejoin are left: wait until sessions expire.
            self.schedule(fx, join_key(gid), now_ms + group.rebalance_timeout_ms())
            return

        group.init_next_generation(now_ms)
        if group.is_in(EMPTY):
            fx.append(group_metadata_record(gid, group.metadata_value({})))
            return
        for member in group.members.values():
            is_leader = group.is_leader(member.member_id)
            self.complete_join(
                fx,
                member,
                JoinGroupResponse(
                    ErrorCode.NONE,
                    generation_id=group.generation_id,
                    protocol_type=group.protocol_type,
                    protocol_name=group.protocol_name,
                    leader=group.leader_id or "",
                    member_id=member.member_id,
                    members=group.join_response_members() if is_leader else (),
                ),
            )
            self.reschedule_heartbeat(fx, group, member, now_ms)
            member.is_new = False
            group.pending_sync_members[member.member_id] = None
        group.sync_timer_generation = group.generation_id
        self.schedule(fx, sync_key(gid), now_ms + group.rebalance_timeout_ms())

    # -- assignment propagation -------------------------------------------------------------

    def propagate_assignment(
        self, fx: EffectsBuilder, group: ClassicGroup, error: ErrorCode, now_ms: int
    ) -> None:
        ok = error is ErrorCode.NONE
        for member in group.members.values():
            response = SyncGroupResponse(
                error,
                protocol_type=group.protocol_type if ok else None,
                protocol_name=group.protocol_name if ok else None,
                assignment=member.assignment,
            )
            if self.complete_sync(fx, member, response):
                # Expirations ignored while the member was parked must be re-armed.
                self.reschedule_heartbeat(fx, group, member, now_ms)

    def reset_and_propagate_error(
        self, fx: EffectsBuilder, group: ClassicGroup, error: ErrorCode, now_ms: int
    ) -> None:
        for member in group.members.values():
            member.assignment = b""
        self.propagate_assignment(fx, group, error, now_ms)

    def set_and_propagate_assignment(
        self, fx: EffectsBuilder, group: ClassicGroup, assignment: dict[str, bytes], now_ms: int
    ) -> None:
        for member in group.members.values():
            member.assignment = assignment.get(member.member_id, b"")
        self.propagate_assignment(fx, group, ErrorCode.NONE, now_ms)

    # -- member removal ----------------------------------------------------------------------

    def remove_member_and_update_group(
        self, fx: EffectsBuilder, group: ClassicGroup, member: ClassicGroupMember, now_ms: int
    ) -> None:
        # A new member may still be parked in JoinGroup: tell it to retry.
        self.complete_join(fx, member, JoinGroupResponse(ErrorCode.UNKNOWN_MEMBER_ID))
        self.drop_member(fx, group, member.member_id)
        if group.is_in(STABLE, COMPLETING):
            self.maybe_prepare_rebalance_or_complete_join(fx, group, now_ms)
        elif group.is_in(PREPARING) and group.has_all_members_joined():
            self.complete_group_join(fx, group, now_ms)

    # -- timer handlers ---------------------------------------------------------------------

    def on_initial_delay(self, fx: EffectsBuilder, group_id: str, now_ms: int) -> None:
        group = self.groups.get(group_id)
        if group is None or not group.is_in(PREPARING):
            return
        remaining = group.initial_remaining_ms
        if group.new_member_added and remaining != 0:
            # Members keep arriving: extend, but never beyond the rebalance timeout.
            group.new_member_added = False
            new_delay = min(self.initial_rebalance_delay_ms, remaining)
            group.initial_remaining_ms = max(remaining - group.initial_delay_ms, 0)
            group.initial_delay_ms = new_delay
            self.schedule(fx, initial_delay_key(group_id), now_ms + new_delay)
        else:
            self.complete_group_join(fx, group, now_ms)

    def on_join_timeout(self, fx: EffectsBuilder, group_id: str, now_ms: int) -> None:
        group = self.groups.get(group_id)
        if group is not None and group.is_in(PREPARING):
            self.complete_group_join(fx, group, now_ms)

    def on_heartbeat_expired(
        self, fx: EffectsBuilder, group_id: str, member_id: str, now_ms: int
    ) -> None:
        group = self.groups.get(group_id)
        if group is None or group.is_in(DEAD):
            return
        member = group.members.get(member_id)
        if member is not None and not member.has_satisfied_heartbeat():
            self.remove_member_and_update_group(fx, group, member, now_ms)

    def on_pending_member_expired(
        self, fx: EffectsBuilder, group_id: str, member_id: str, now_ms: int
    ) -> None:
        group = self.groups.get(group_id)
        if group is None or member_id not in group.pending_join_members:
            return
        group.remove(member_id)
        if group.is_in(PREPARING) and group.has_all_members_joined():
            self.complete_group_join(fx, group, now_ms)

    def on_sync_expired(self, fx: EffectsBuilder, group_id: str, now_ms: int) -> None:
        group = self.groups.get(group_id)
        if group is None or group.sync_timer_generation != group.generation_id:
            return
        if group.is_in(COMPLETING, STABLE) and group.pending_sync_members:
            for member_id in list(group.pending_sync_members):
                self.drop_member(fx, group, member_id)
            self.prepare_rebalance(fx, group, now_ms)
