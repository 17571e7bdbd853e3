"""One classic group's data: members, static instances, pending members, protocol choice.

Kafka's ClassicGroup and ClassicGroupMember, without timers or futures: a parked
JoinGroup or SyncGroup is the driver's opaque token kept on the member. Request
handling (what to answer, when to rebalance) lives in the coordinator mixins;
this module only keeps the group consistent and answers questions about it.
Members keep join order, which decides the leader after a removal and breaks
protocol-vote ties (Kafka uses hash order there).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from kwire.coordinator.group.records import GroupMetadataValue, MemberMetadata
from kwire.coordinator.group.responses import JoinGroupResponseMember
from kwire.coordinator.group.state import GroupState, check_transition
from kwire.coordinator.group.subscription import CONSUMER_PROTOCOL_TYPE, subscribed_topics
from kwire.errors import ErrorCode

Protocols = tuple[tuple[str, bytes], ...]


@dataclass(eq=False)
class ClassicGroupMember:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    protocol_type: str
    protocols: Protocols
    assignment: bytes = b""
    awaiting_join: bool = False
    join_token: object = None
    awaiting_sync: bool = False
    sync_token: object = None
    is_new: bool = False

    def metadata(self, protocol_name: str | None) -> bytes:
        for name, metadata in self.protocols:
            if name == protocol_name:
                return metadata
        raise KeyError(f"member {self.member_id} does not support protocol {protocol_name}")

    def protocol_names(self) -> list[str]:
        return [name for name, _ in self.protocols]

    def matches(self, protocols: Protocols) -> bool:
        return self.protocols == protocols

    def vote(self, candidates: set[str]) -> str:
        for name, _ in self.protocols:
            if name in candidates:
                return name
        raise ValueError(f"member {self.member_id} supports none of {sorted(candidates)}")

    def has_satisfied_heartbeat(self) -> bool:
        # New members can expire while awaiting join (Kafka's new-member join timeout).
        if self.is_new:
            return False
        return self.awaiting_join or self.awaiting_sync


@dataclass(eq=False)
class ClassicGroup:
    group_id: str
    state: GroupState = GroupState.EMPTY
    previous_state: GroupState = GroupState.DEAD
    current_state_timestamp: int | None = None
    protocol_type: str | None = None
    protocol_name: str | None = None
    generation_id: int = 0
    leader_id: str | None = None
    members: dict[str, ClassicGroupMember] = field(default_factory=dict)
    static_members: dict[str, str] = field(default_factory=dict)
    pending_join_members: dict[str, None] = field(default_factory=dict)
    pending_sync_members: dict[str, None] = field(default_factory=dict)
    subscribed: frozenset[str] | None = None
    new_member_added: bool = False
    # InitialDelayedJoin arguments of the armed ("initial_delay", group) timer.
    initial_delay_ms: int = 0
    initial_remaining_ms: int = 0
    # Generation the ("sync", group) timer was armed for.
    sync_timer_generation: int = -1

    # -- state -------------------------------------------------------------------------

    def transition_to(self, target: GroupState, now_ms: int) -> None:
        check_transition(self.group_id, self.state, target)
        self.previous_state = self.state
        self.state = target
        self.current_state_timestamp = now_ms

    def is_in(self, *states: GroupState) -> bool:
        return self.state in states

    def can_rebalance(self) -> bool:
        return self.is_in(
            GroupState.STABLE, GroupState.COMPLETING_REBALANCE, GroupState.EMPTY
        )

    def uses_consumer_protocol(self) -> bool:
        return self.protocol_type == CONSUMER_PROTOCOL_TYPE

    # -- members ---------------------------------------------------------------------------

    def add(self, member: ClassicGroupMember) -> None:
        if member.group_instance_id is not None:
            if member.group_instance_id in self.static_members:
                raise ValueError(f"static member {member.group_instance_id} already in group")
            self.static_members[member.group_instance_id] = member.member_id
        if not self.members:
            self.protocol_type = member.protocol_type
        if self.leader_id is None:
            self.leader_id = member.member_id
        self.members[member.member_id] = member
        self.pending_join_members.pop(member.member_id, None)

    def remove(self, member_id: str) -> ClassicGroupMember | None:
        removed = self.members.pop(member_id, None)
        if removed is not None and removed.group_instance_id is not None:
            self.static_members.pop(removed.group_instance_id, None)
        if self.leader_id == member_id:
            self.leader_id = next(iter(self.members), None)
        self.pending_join_members.pop(member_id, None)
        self.pending_sync_members.pop(member_id, None)
        return removed

    def replace_static_member(
        self, group_instance_id: str, old_member_id: str, new_member_id: str
    ) -> tuple[ClassicGroupMember, ClassicGroupMember]:
        """Move a static member to a new member id; returns (old, new). Tokens stay on old."""
        old = self.members.pop(old_member_id)
        new = ClassicGroupMember(
            new_member_id,
            old.group_instance_id,
            old.client_id,
            old.client_host,
            old.rebalance_timeout_ms,
            old.session_timeout_ms,
            old.protocol_type,
            old.protocols,
            old.assignment,
        )
        self.members[new_member_id] = new
        if self.leader_id == old_member_id:
            self.leader_id = new_member_id
        self.static_members[group_instance_id] = new_member_id
        return old, new

    def validate_member(self, member_id: str, group_instance_id: str | None) -> ErrorCode:
        """Kafka's validateMember: FENCED_INSTANCE_ID / UNKNOWN_MEMBER_ID or NONE."""
        if group_instance_id is not None:
            existing = self.static_members.get(group_instance_id)
            if existing is None:
                return ErrorCode.UNKNOWN_MEMBER_ID
            if existing != member_id:
                return ErrorCode.FENCED_INSTANCE_ID
        if member_id not in self.members:
            return ErrorCode.UNKNOWN_MEMBER_ID
        return ErrorCode.NONE

    def is_leader(self, member_id: str) -> bool:
        return self.leader_id is not None and self.leader_id == member_id

    def num_awaiting_join(self) -> int:
        return sum(1 for m in self.members.values() if m.awaiting_join)

    def has_all_members_joined(self) -> bool:
        return (
            all(m.awaiting_join for m in self.members.values())
            and not self.pending_join_members
        )

    def not_yet_rejoined(self) -> list[ClassicGroupMember]:
        return [m for m in self.members.values() if not m.awaiting_join]

    def rebalance_timeout_ms(self) -> int:
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    def maybe_elect_new_joined_leader(self) -> bool:
        """Keep the leader if it rejoined, else pick the first member that did."""
        if self.leader_id is None:
            return False
        leader = self.members.get(self.leader_id)
        if leader is not None and leader.awaiting_join:
            return True
        for member in self.members.values():
            if member.awaiting_join:
                self.leader_id = member.member_id
                return True
        return False

    # -- protocols ----------------------------------------------------------------------

    def _supported_by_all(self, name: str) -> bool:
        return all(name in m.protocol_names() for m in self.members.values())

    def supports_protocols(self, protocol_type: str, names: Sequence[str]) -> bool:
        if self.state is GroupState.EMPTY:
            return protocol_type != "" and len(names) > 0
        return self.protocol_type == protocol_type and any(
            self._supported_by_all(n) for n in names
        )

    def select_protocol(self) -> str:
        """The protocol supported by all members with the most votes (member preference)."""
        if not self.members:
            raise ValueError(f"cannot select a protocol for empty group {self.group_id}")
        first = next(iter(self.members.values()))
        candidates = {n for n in first.protocol_names() if self._supported_by_all(n)}
        votes: dict[str, int] = {}
        for member in self.members.values():
            name = member.vote(candidates)
            votes[name] = votes.get(name, 0) + 1
        # max() keeps the first maximum: ties go to the earliest vote in join order.
        return max(votes, key=lambda n: votes[n])

    def compute_subscribed_topics(self) -> frozenset[str] | None:
        if self.protocol_name is None:
            metadatas: list[bytes] = [b"" for _ in self.members]
        else:
            metadatas = [m.metadata(self.protocol_name) for m in self.members.values()]
        return subscribed_topics(self.protocol_type, self.protocol_name, metadatas)

    def is_subscribed_to_topic(self, topic: str) -> bool:
        if self.subscribed is not None:
            return topic in self.subscribed
        return self.uses_consumer_protocol()

    def init_next_generation(self, now_ms: int) -> None:
        self.generation_id += 1
        if self.members:
            self.protocol_name = self.select_protocol()
            self.subscribed = self.compute_subscribed_topics()
            self.transition_to(GroupState.COMPLETING_REBALANCE, now_ms)
        else:
            self.protocol_name = None
            self.subscribed = self.compute_subscribed_topics()
            self.transition_to(GroupState.EMPTY, now_ms)
        self.pending_sync_members.clear()

    # -- views ----------------------------------------------------------------------------

    def join_response_members(self) -> tuple[JoinGroupResponseMember, ...]:
        return tuple(
            JoinGroupResponseMember(
                m.member_id, m.group_instance_id, m.metadata(self.protocol_name)
            )
            for m in self.members.values()
        )

    def metadata_value(self, assignments: dict[str, bytes]) -> GroupMetadataValue:
        """Kafka's newGroupMetadataRecord value (an Empty group has no protocol, no members)."""
        members = tuple(
            MemberMetadata(
                m.member_id,
                m.group_instance_id,
                m.client_id,
                m.client_host,
                m.rebalance_timeout_ms,
                m.session_timeout_ms,
                m.metadata(self.protocol_name),
                assignments.get(m.member_id, b""),
            )
            for m in self.members.values()
        )
        return GroupMetadataValue(
            protocol_type=self.protocol_type or "",
            generation=self.generation_id,
            protocol=self.protocol_name,
            leader=self.leader_id,
            current_state_timestamp=(
                -1 if self.current_state_timestamp is None else self.current_state_timestamp
            ),
            members=members,
        )


def empty_group_metadata_value(group: ClassicGroup) -> GroupMetadataValue:
    """Kafka's newEmptyGroupMetadataRecord value: written when JoinGroup creates a group."""
    return GroupMetadataValue(
        protocol_type="",
        generation=0,
        protocol=None,
        leader=None,
        current_state_timestamp=(
            -1 if group.current_state_timestamp is None else group.current_state_timestamp
        ),
    )
