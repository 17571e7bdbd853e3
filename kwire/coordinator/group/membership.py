"""SyncGroup, Heartbeat and LeaveGroup for classic groups.

Kafka's classicGroupSyncToClassicGroup, classicGroupHeartbeatToClassicGroup and
classicGroupLeaveToClassicGroup: which error each state answers, parking
follower SyncGroups until the leader's assignments arrive, and member removal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kwire.coordinator.group.classic_group import ClassicGroup
from kwire.coordinator.group.effects import (
    Effects,
    EffectsBuilder,
    heartbeat_key,
    pending_key,
    sync_key,
)
from kwire.coordinator.group.rebalance import (
    COMPLETING,
    DEAD,
    EMPTY,
    PREPARING,
    STABLE,
    RebalanceMixin,
)
from kwire.coordinator.group.records import group_metadata_record
from kwire.coordinator.group.responses import (
    HeartbeatResponse,
    JoinGroupResponse,
    LeaveGroupMemberResponse,
    LeaveGroupResponse,
    SyncGroupResponse,
)
from kwire.errors import ErrorCode


def _inconsistent(requested: str | None, current: str | None) -> bool:
    return requested is not None and current is not None and requested != current


class MembershipMixin(RebalanceMixin):
    # -- SyncGroup ---------------------------------------------------------------------------

    def sync_group(
        self,
        token: object,
        now_ms: int,
        *,
        group_id: str,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None = None,
        protocol_type: str | None = None,
        protocol_name: str | None = None,
        assignments: Mapping[str, bytes] | None = None,
        client_id: str | None = None,
        client_host: str | None = None,
    ) -> Effects:
        """SyncGroup; protocol_type/protocol_name are the v5+ fields (None before).

        client_id/client_host are accepted for symmetry with JoinGroup and unused:
        Kafka's SyncGroup does not update a member's client information.
        """
        fx = EffectsBuilder()
        group = self.groups.get(group_id)
        if not group_id:
            fx.respond(token, SyncGroupResponse(ErrorCode.INVALID_GROUP_ID))
        elif self.loading:
            fx.respond(token, SyncGroupResponse(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS))
        elif group_id in self.consumer_groups:
            self.classic_sync_to_consumer_group(
                fx, token, now_ms, self.consumer_groups[group_id], member_id=member_id,
                instance_id=group_instance_id, generation_id=generation_id,
                protocol_type=protocol_type, protocol_name=protocol_name)
        elif group is None or group.is_in(EMPTY):
            fx.respond(token, SyncGroupResponse(ErrorCode.UNKNOWN_MEMBER_ID))
        else:
            error = self._validate_sync(
                group, generation_id, member_id, group_instance_id, protocol_type, protocol_name
            )
            if error is not ErrorCode.NONE:
                fx.respond(token, SyncGroupResponse(error))
            elif group.is_in(PREPARING):
                fx.respond(token, SyncGroupResponse(ErrorCode.REBALANCE_IN_PROGRESS))
            elif group.is_in(COMPLETING):
                self._sync_completing(fx, token, now_ms, group, member_id, assignments or {})
            else:  # STABLE
                self._remove_pending_sync_member(fx, group, member_id)
                member = group.members[member_id]
                fx.respond(
                    token,
                    SyncGroupResponse(
                        ErrorCode.NONE,
                        protocol_type=group.protocol_type,
                        protocol_name=group.protocol_name,
                        assignment=member.assignment,
                    ),
                )
        return fx.build()

    @staticmethod
    def _validate_sync(
        group: ClassicGroup,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None,
        protocol_type: str | None,
        protocol_name: str | None,
    ) -> ErrorCode:
        if group.is_in(DEAD):
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        error = group.validate_member(member_id, group_instance_id)
        if error is not ErrorCode.NONE:
            return error
        if generation_id != group.generation_id:
            return ErrorCode.ILLEGAL_GENERATION
        if _inconsistent(protocol_type, group.protocol_type) or _inconsistent(
            protocol_name, group.protocol_name
        ):
            return ErrorCode.INCONSISTENT_GROUP_PROTOCOL
        return ErrorCode.NONE

    def _sync_completing(
        self,
        fx: EffectsBuilder,
        token: object,
        now_ms: int,
        group: ClassicGroup,
        member_id: str,
        assignments: Mapping[str, bytes],
    ) -> None:
        self.park_sync(fx, group.members[member_id], token)
        self._remove_pending_sync_member(fx, group, member_id)
        if not group.is_leader(member_id):
            return  # followers wait for the leader
        # Members the leader left out get an empty assignment.
        assignment = {mid: bytes(assignments.get(mid, b"")) for mid in group.members}
        fx.append(group_metadata_record(group.group_id, group.metadata_value(assignment)))
        self.set_and_propagate_assignment(fx, group, assignment, now_ms)
        group.transition_to(STABLE, now_ms)

    def _remove_pending_sync_member(
        self, fx: EffectsBuilder, group: ClassicGroup, member_id: str
    ) -> None:
        group.pending_sync_members.pop(member_id, None)
        if not group.is_in(COMPLETING, STABLE) or not group.pending_sync_members:
            self.cancel(fx, sync_key(group.group_id))

    # -- Heartbeat ------------------------------------------------------------------------

    def heartbeat(
        self,
        token: object,
        now_ms: int,
        *,
        group_id: str,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None = None,
    ) -> Effects:
        fx = EffectsBuilder()
        if group_id and not self.loading and group_id in self.consumer_groups:
            self.classic_heartbeat_to_consumer_group(
                fx, token, now_ms, self.consumer_groups[group_id], member_id=member_id,
                instance_id=group_instance_id, generation_id=generation_id)
            return fx.build()
        fx.respond(
            token,
            HeartbeatResponse(
                self._heartbeat(fx, now_ms, group_id, generation_id, member_id, group_instance_id)
            ),
        )
        return fx.build()

    def _heartbeat(
        self,
        fx: EffectsBuilder,
        now_ms: int,
        group_id: str,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None,
    ) -> ErrorCode:
        if not group_id:
            return ErrorCode.INVALID_GROUP_ID
        if self.loading:
            return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
        group = self.groups.get(group_id)
        if group is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if group.is_in(DEAD):
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        error = group.validate_member(member_id, group_instance_id)
        if error is not ErrorCode.NONE:
            return error
        if generation_id != group.generation_id:
            return ErrorCode.ILLEGAL_GENERATION
        if group.is_in(EMPTY):
            return ErrorCode.UNKNOWN_MEMBER_ID
        self.reschedule_heartbeat(fx, group, group.members[member_id], now_ms)
        if group.is_in(PREPARING):
            return ErrorCode.REBALANCE_IN_PROGRESS
        # CompletingRebalance too: clients heartbeat right after their JoinGroup response.
        return ErrorCode.NONE

    # -- LeaveGroup ------------------------------------------------------------------------

    def leave_group(
        self,
        token: object,
        now_ms: int,
        *,
        group_id: str,
        members: Sequence[tuple[str, str | None]],
    ) -> Effects:
        """LeaveGroup for (member_id, group_instance_id) pairs (v0-2: one pair, no instance).

        member_id "" with a group_instance_id removes that static member (admin removal).
        """
        fx = EffectsBuilder()
        group = self.groups.get(group_id)
        if not group_id:
            fx.respond(token, LeaveGroupResponse(ErrorCode.INVALID_GROUP_ID))
        elif self.loading:
            fx.respond(token, LeaveGroupResponse(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS))
        elif group_id in self.consumer_groups:
            self.classic_leave_to_consumer_group(fx, token, now_ms,
                                                 self.consumer_groups[group_id], members)
        elif group is None:
            # Kafka (GroupCoordinatorService.leaveGroup): no group means every member
            # is unknown, answered per member under a top-level NONE.
            fx.respond(token, LeaveGroupResponse(ErrorCode.NONE, tuple(
                LeaveGroupMemberResponse(mid, iid, ErrorCode.UNKNOWN_MEMBER_ID)
                for mid, iid in members)))
        elif group.is_in(DEAD):
            fx.respond(token, LeaveGroupResponse(ErrorCode.COORDINATOR_NOT_AVAILABLE))
        else:
            results = tuple(
                LeaveGroupMemberResponse(mid, iid, self._leave_one(fx, group, mid, iid))
                for mid, iid in members
            )
            if any(r.error_code == ErrorCode.NONE for r in results):
                if group.is_in(STABLE, COMPLETING):
                    self.maybe_prepare_rebalance_or_complete_join(fx, group, now_ms)
                elif group.is_in(PREPARING):
                    self.maybe_complete_join_phase(fx, group, now_ms)
            fx.respond(token, LeaveGroupResponse(ErrorCode.NONE, results))
        return fx.build()

    def _leave_one(
        self, fx: EffectsBuilder, group: ClassicGroup, member_id: str, instance_id: str | None
    ) -> ErrorCode:
        if member_id == "":
            if instance_id is not None and instance_id in group.static_members:
                self._remove_current_member(fx, group, group.static_members[instance_id])
                return ErrorCode.NONE
            return ErrorCode.UNKNOWN_MEMBER_ID
        if member_id in group.pending_join_members:
            group.remove(member_id)
            self.cancel(fx, pending_key(group.group_id, member_id))
            return ErrorCode.NONE
        error = group.validate_member(member_id, instance_id)
        if error is ErrorCode.NONE:
            self._remove_current_member(fx, group, member_id)
        return error

    def _remove_current_member(
        self, fx: EffectsBuilder, group: ClassicGroup, member_id: str
    ) -> None:
        member = group.members[member_id]
        self.cancel(fx, heartbeat_key(group.group_id, member_id))
        # A member parked in JoinGroup is told to retry.
        self.complete_join(fx, member, JoinGroupResponse(ErrorCode.UNKNOWN_MEMBER_ID))
        self.drop_member(fx, group, member_id)
