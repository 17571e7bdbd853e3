"""JoinGroup for classic groups: new, pending, existing and static members.

Kafka's classicGroupJoinToClassicGroup and the paths below it: KIP-394 pending
members (MEMBER_ID_REQUIRED), KIP-345 static membership (replacement fences the
old member id), group.max.size, and parking the JoinGroup until the join phase
completes. Request validation (group id, session timeout, loading) comes first,
as in Kafka's GroupCoordinatorService.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kwire.coordinator.group.classic_group import (
    ClassicGroup,
    ClassicGroupMember,
    Protocols,
    empty_group_metadata_value,
)
from kwire.coordinator.group.effects import (
    Effects,
    EffectsBuilder,
    heartbeat_key,
    pending_key,
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
    GROUP_MAX_SIZE_REACHED,
    NO_LEADER,
    JoinGroupResponse,
    SyncGroupResponse,
)
from kwire.errors import ErrorCode


@dataclass(frozen=True)
class JoinRequest:
    group_id: str
    member_id: str
    group_instance_id: str | None
    protocol_type: str
    protocols: Protocols
    session_timeout_ms: int
    rebalance_timeout_ms: int
    client_id: str
    client_host: str
    require_known_member_id: bool
    supports_skip_assignment: bool


class JoinMixin(RebalanceMixin):
    def join_group(
        self,
        token: object,
        now_ms: int,
        *,
        group_id: str,
        member_id: str,
        group_instance_id: str | None,
        protocol_type: str,
        protocols: Sequence[tuple[str, bytes]],
        session_timeout_ms: int,
        rebalance_timeout_ms: int,
        client_id: str,
        client_host: str,
        require_known_member_id: bool = True,
        supports_skip_assignment: bool = False,
        reason: str | None = None,
    ) -> Effects:
        """JoinGroup. require_known_member_id: v4+; supports_skip_assignment: v9+.

        A rebalance_timeout_ms below 0 (v0 has none) falls back to the session timeout.
        `reason` (v8+) is informational only.
        """
        fx = EffectsBuilder()
        req = JoinRequest(
            group_id,
            member_id,
            group_instance_id,
            protocol_type,
            tuple((name, bytes(metadata)) for name, metadata in protocols),
            session_timeout_ms,
            rebalance_timeout_ms if rebalance_timeout_ms >= 0 else session_timeout_ms,
            client_id,
            client_host,
            require_known_member_id,
            supports_skip_assignment,
        )
        if not group_id:
            fx.respond(token, JoinGroupResponse(ErrorCode.INVALID_GROUP_ID, member_id=member_id))
        elif not self.min_session_timeout_ms <= session_timeout_ms <= self.max_session_timeout_ms:
            fx.respond(
                token, JoinGroupResponse(ErrorCode.INVALID_SESSION_TIMEOUT, member_id=member_id)
            )
        elif self.loading:
            fx.respond(token, JoinGroupResponse(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS))
        elif group_id in self.consumer_groups:
            self.classic_join_to_consumer_group(
                fx, token, now_ms, self.consumer_groups[group_id], member_id=member_id,
                instance_id=group_instance_id, protocol_type=protocol_type,
                protocols=req.protocols, session_timeout_ms=session_timeout_ms,
                rebalance_timeout_ms=rebalance_timeout_ms, client_id=client_id,
                client_host=client_host, require_known_member_id=require_known_member_id)
        else:
            self._join(fx, token, now_ms, req)
        return fx.build()

    def _join(self, fx: EffectsBuilder, token: object, now_ms: int, req: JoinRequest) -> None:
        is_unknown = req.member_id == ""
        group = self.groups.get(req.group_id)
        is_new_group = group is None
        if group is None:
            if not is_unknown:
                fx.respond(
                    token, JoinGroupResponse(ErrorCode.UNKNOWN_MEMBER_ID, member_id=req.member_id)
                )
                return
            group = ClassicGroup(req.group_id, current_state_timestamp=now_ms)
            self.groups[req.group_id] = group
        records_before = len(fx.records)

        if not self._accept_joining_member(group, req.member_id):
            self.drop_member(fx, group, req.member_id)
            fx.respond(token, JoinGroupResponse(GROUP_MAX_SIZE_REACHED))
        elif is_unknown:
            self._join_new_member(fx, token, now_ms, req, group)
        else:
            self._join_existing_member(fx, token, now_ms, req, group)

        if is_new_group and len(fx.records) == records_before:
            # Kafka persists a newly created group right away (newEmptyGroupMetadataRecord).
            fx.append(group_metadata_record(group.group_id, empty_group_metadata_value(group)))

    def _accept_joining_member(self, group: ClassicGroup, member_id: str) -> bool:
        member = group.members.get(member_id)
        if group.is_in(EMPTY, DEAD):
            return True
        if group.is_in(PREPARING):
            # Awaiting members count, so a shrunk max size evicts the last rejoiners.
            return (member is not None and member.awaiting_join) or (
                group.num_awaiting_join() < self.max_group_size
            )
        return member is not None or len(group.members) < self.max_group_size

    def _join_new_member(
        self, fx: EffectsBuilder, token: object, now_ms: int, req: JoinRequest, group: ClassicGroup
    ) -> None:
        if group.is_in(DEAD):
            fx.respond(token, JoinGroupResponse(ErrorCode.COORDINATOR_NOT_AVAILABLE))
            return
        if not group.supports_protocols(req.protocol_type, [n for n, _ in req.protocols]):
            fx.respond(token, JoinGroupResponse(ErrorCode.INCONSISTENT_GROUP_PROTOCOL))
            return
        prefix = req.group_instance_id if req.group_instance_id is not None else req.client_id
        new_member_id = f"{prefix}-{self._uuid()}"
        if req.group_instance_id is not None:
            existing = group.static_members.get(req.group_instance_id)
            if existing is not None:
                self._replace_static_member(fx, token, now_ms, req, group, existing, new_member_id)
            else:
                self._add_member(fx, token, now_ms, req, group, new_member_id)
        elif req.require_known_member_id:
            # KIP-394: hand out the id and wait for the member to come back with it.
            group.pending_join_members[new_member_id] = None
            self.schedule(
                fx, pending_key(group.group_id, new_member_id), now_ms + req.session_timeout_ms
            )
            fx.respond(
                token, JoinGroupResponse(ErrorCode.MEMBER_ID_REQUIRED, member_id=new_member_id)
            )
        else:
            self._add_member(fx, token, now_ms, req, group, new_member_id)

    def _join_existing_member(
        self, fx: EffectsBuilder, token: object, now_ms: int, req: JoinRequest, group: ClassicGroup
    ) -> None:
        member_id = req.member_id
        if group.is_in(DEAD):
            fx.respond(
                token, JoinGroupResponse(ErrorCode.COORDINATOR_NOT_AVAILABLE, member_id=member_id)
            )
            return
        if not group.supports_protocols(req.protocol_type, [n for n, _ in req.protocols]):
            fx.respond(
                token, JoinGroupResponse(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, member_id=member_id)
            )
            return
        if member_id in group.pending_join_members:
            if req.group_instance_id is not None:
                # Kafka throws IllegalStateException here (a pending member is never static).
                fx.respond(
                    token, JoinGroupResponse(ErrorCode.UNKNOWN_SERVER_ERROR, member_id=member_id)
                )
                return
            self._add_member(fx, token, now_ms, req, group, member_id)
            return
        error = group.validate_member(member_id, req.group_instance_id)
        if error is not ErrorCode.NONE:
            fx.respond(token, JoinGroupResponse(error, member_id=member_id))
            return

        member = group.members[member_id]
        if group.is_in(PREPARING):
            self._update_member_and_rebalance(fx, token, now_ms, req, group, member)
        elif group.is_in(COMPLETING):
            if member.matches(req.protocols):
                # A retry of a JoinGroup whose response was lost: same generation again.
                fx.respond(token, self._current_generation(group, member_id, with_members=True))
            else:
                self._update_member_and_rebalance(fx, token, now_ms, req, group, member)
        elif group.is_in(STABLE):
            if group.is_leader(member_id) or not member.matches(req.protocols):
                # The leader may rejoin to force a rebalance (e.g. topic metadata changed).
                self._update_member_and_rebalance(fx, token, now_ms, req, group, member)
            else:
                fx.respond(token, self._current_generation(group, member_id, with_members=False))
        else:
            fx.respond(token, JoinGroupResponse(ErrorCode.UNKNOWN_MEMBER_ID, member_id=member_id))

    @staticmethod
    def _current_generation(
        group: ClassicGroup, member_id: str, *, with_members: bool
    ) -> JoinGroupResponse:
        leader = group.is_leader(member_id)
        return JoinGroupResponse(
            ErrorCode.NONE,
            generation_id=group.generation_id,
            protocol_type=group.protocol_type,
            protocol_name=group.protocol_name,
            leader=group.leader_id or "",
            member_id=member_id,
            members=group.join_response_members() if with_members and leader else (),
        )

    def _update_member(
        self, fx: EffectsBuilder, token: object, req: JoinRequest, member: ClassicGroupMember
    ) -> None:
        member.protocols = req.protocols
        member.rebalance_timeout_ms = req.rebalance_timeout_ms
        member.session_timeout_ms = req.session_timeout_ms
        self.park_join(fx, member, token)

    def _update_member_and_rebalance(
        self,
        fx: EffectsBuilder,
        token: object,
        now_ms: int,
        req: JoinRequest,
        group: ClassicGroup,
        member: ClassicGroupMember,
    ) -> None:
        self._update_member(fx, token, req, member)
        self.maybe_prepare_rebalance_or_complete_join(fx, group, now_ms)

    def _add_member(
        self,
        fx: EffectsBuilder,
        token: object,
        now_ms: int,
        req: JoinRequest,
        group: ClassicGroup,
        member_id: str,
    ) -> None:
        member = ClassicGroupMember(
            member_id,
            req.group_instance_id,
            req.client_id,
            req.client_host,
            req.rebalance_timeout_ms,
            req.session_timeout_ms,
            req.protocol_type,
            req.protocols,
            is_new=True,
        )
        if group.is_in(PREPARING) and group.previous_state is EMPTY:
            group.new_member_added = True  # lets the initial delay be extended
        group.add(member)
        member.awaiting_join, member.join_token = True, token
        self.cancel(fx, pending_key(group.group_id, member_id))
        # A new member cannot heartbeat while parked; bound its wait instead.
        self.reschedule_heartbeat(fx, group, member, now_ms, self.new_member_join_timeout_ms)
        self.maybe_prepare_rebalance_or_complete_join(fx, group, now_ms)

    def _replace_static_member(
        self,
        fx: EffectsBuilder,
        token: object,
        now_ms: int,
        req: JoinRequest,
        group: ClassicGroup,
        old_member_id: str,
        new_member_id: str,
    ) -> None:
        """KIP-345: a known group.instance.id joined with no member id."""
        assert req.group_instance_id is not None
        current_leader = group.leader_id
        old, new = group.replace_static_member(req.group_instance_id, old_member_id, new_member_id)
        # Fence whatever the old member id still has parked.
        self.complete_join(
            fx,
            old,
            JoinGroupResponse(
                ErrorCode.FENCED_INSTANCE_ID, member_id=old_member_id, leader=NO_LEADER
            ),
        )
        self.complete_sync(fx, old, SyncGroupResponse(ErrorCode.FENCED_INSTANCE_ID))
        self.cancel(fx, heartbeat_key(group.group_id, old_member_id))
        self.reschedule_heartbeat(fx, group, new, now_ms)
        self._update_member(fx, token, req, new)

        if group.is_in(STABLE):
            if group.protocol_name == group.select_protocol():
                # Same protocol: persist the new member id, no rebalance.
                assignment = {m.member_id: m.assignment for m in group.members.values()}
                fx.append(group_metadata_record(group.group_id, group.metadata_value(assignment)))
                if req.supports_skip_assignment:
                    is_leader = group.is_leader(new_member_id)
                    response = JoinGroupResponse(
                        ErrorCode.NONE,
                        generation_id=group.generation_id,
                        protocol_type=group.protocol_type,
                        protocol_name=group.protocol_name,
                        leader=group.leader_id or "",
                        skip_assignment=is_leader,
                        member_id=new_member_id,
                        members=group.join_response_members() if is_leader else (),
                    )
                else:
                    # Before v9 the old leader id is returned so the member does not assign.
                    response = JoinGroupResponse(
                        ErrorCode.NONE,
                        generation_id=group.generation_id,
                        protocol_type=group.protocol_type,
                        protocol_name=group.protocol_name,
                        leader=current_leader or "",
                        member_id=new_member_id,
                    )
                self.complete_join(fx, new, response)
            else:
                self.maybe_prepare_rebalance_or_complete_join(fx, group, now_ms)
        elif group.is_in(COMPLETING):
            # The leader may already assign to the old member id: rebalance.
            self.prepare_rebalance(fx, group, now_ms)
        else:
            self.maybe_complete_join_phase(fx, group, now_ms)
