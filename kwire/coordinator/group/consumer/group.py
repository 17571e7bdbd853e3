"""One consumer group (KIP-848): Kafka's ConsumerGroup, without timers or I/O.

The group is changed only by applying `__consumer_offsets` records (`replay.py`),
live and while loading alike, as Kafka 4's coordinator does: the heartbeat logic
decides which records to write, and applying them is what changes the group. So a
group rebuilt from its partition is the group that answered.

Its state is derived, as Kafka derives it (ConsumerGroup.maybeUpdateGroupState):

    Empty        no members
    Assigning    the group epoch is ahead of the target assignment's epoch
    Reconciling  some member has not yet reached the target assignment
    Stable       every member owns its target assignment at the assignment epoch
"""

from __future__ import annotations

import enum
import uuid
from collections import Counter
from dataclasses import dataclass, field

from kwire.coordinator.group.consumer.assignors import java_order
from kwire.coordinator.group.consumer.member import (
    Assignment,
    ConsumerGroupMember,
)
from kwire.coordinator.group.consumer.partition_epochs import PartitionEpochs
from kwire.errors import ErrorCode

# Kafka sets the metadata refresh deadline Integer.MAX_VALUE ms ahead: the group's
# metadata is looked at again only when a subscribed topic changes.
NO_DEADLINE_MS = 2**31 - 1


class ConsumerGroupState(enum.Enum):
    EMPTY = "Empty"
    ASSIGNING = "Assigning"
    RECONCILING = "Reconciling"
    STABLE = "Stable"
    DEAD = "Dead"


@dataclass(frozen=True)
class ResolvedRegularExpression:
    """The topics a subscribed regular expression matched, at a metadata version."""

    topics: frozenset[str]
    version: int
    timestamp_ms: int


@dataclass(eq=False)
class ConsumerGroup:
    group_id: str
    # Kafka 4.4 starts a group at group epoch 1 and assignment epoch 1 (ModernGroup,
    # TargetAssignmentMetadata.INITIAL): the first member's join makes it epoch 2.
    group_epoch: int = 1
    metadata_hash: int = 0
    assignment_epoch: int = 1
    assignment_timestamp_ms: int = 0
    members: dict[str, ConsumerGroupMember] = field(default_factory=dict)
    static_members: dict[str, str] = field(default_factory=dict)
    target_assignment: dict[str, Assignment] = field(default_factory=dict)
    resolved_regexes: dict[str, ResolvedRegularExpression] = field(default_factory=dict)
    # (topic id, partition) -> epoch of the member owning (or revoking) it.
    partition_epochs: PartitionEpochs = field(default_factory=PartitionEpochs)
    has_subscription_metadata_record: bool = False
    # Kafka's metadata refresh deadline (not stored: a loaded group starts expired):
    # the subscribed topics' hash is computed again once it passed, or when the
    # group epoch went below the epoch it was set at.
    metadata_refresh_deadline_ms: int = 0
    metadata_refresh_epoch: int = 0
    # Set once a record of the group was applied: a group created for a heartbeat
    # that then failed before writing anything is forgotten (Kafka never stored it).
    persisted: bool = False

    # -- derived state ------------------------------------------------------------------

    @property
    def state(self) -> ConsumerGroupState:
        if not self.members:
            return ConsumerGroupState.EMPTY
        if self.group_epoch > self.assignment_epoch:
            return ConsumerGroupState.ASSIGNING
        if any(not m.is_reconciled_to(self.assignment_epoch) for m in self.members.values()):
            return ConsumerGroupState.RECONCILING
        return ConsumerGroupState.STABLE

    def validate_offset_commit(self, member_id: str, instance_id: str | None,
                               member_epoch: int, *, transactional: bool,
                               api_version: int = 9) -> ErrorCode:
        """Kafka's ConsumerGroup.validateOffsetCommit, at the member level. A commit with
        an older epoch passes here; its partitions are then checked one by one against
        the epochs at which the member got them (the caller's part)."""
        if member_epoch < 0 and not self.members:
            return ErrorCode.NONE
        if transactional and member_epoch == -1 and member_id == "" and instance_id is None:
            return ErrorCode.NONE
        member = self.members.get(member_id)
        if member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if not transactional and not member.uses_classic_protocol() and api_version < 9:
            return ErrorCode.UNSUPPORTED_VERSION
        if member_epoch > member.member_epoch:
            return (ErrorCode.ILLEGAL_GENERATION if member.uses_classic_protocol()
                    else ErrorCode.STALE_MEMBER_EPOCH)
        return ErrorCode.NONE

    def validate_offset_fetch(self, member_id: str | None, member_epoch: int) -> ErrorCode:
        """Kafka's ConsumerGroup.validateOffsetFetch: a fetch that names a member (v9+)
        must come from that member at its current epoch."""
        if member_id is None and member_epoch < 0:
            return ErrorCode.NONE
        member = self.members.get(member_id or "")
        if member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if member_epoch != member.member_epoch:
            return (ErrorCode.ILLEGAL_GENERATION if member.uses_classic_protocol()
                    else ErrorCode.STALE_MEMBER_EPOCH)
        return ErrorCode.NONE

    def has_metadata_expired(self, now_ms: int) -> bool:
        return (now_ms >= self.metadata_refresh_deadline_ms
                or self.group_epoch < self.metadata_refresh_epoch)

    def set_metadata_refresh_deadline(self, deadline_ms: int, group_epoch: int) -> None:
        self.metadata_refresh_deadline_ms, self.metadata_refresh_epoch = deadline_ms, group_epoch

    def request_metadata_refresh(self) -> None:
        """A subscribed topic changed (Kafka's onMetadataUpdate)."""
        self.metadata_refresh_deadline_ms, self.metadata_refresh_epoch = 0, 0

    def current_partition_epoch(self, topic_id: uuid.UUID, partition: int) -> int:
        return self.partition_epochs.current_partition_epoch(topic_id, partition)

    def static_member(self, instance_id: str | None) -> ConsumerGroupMember | None:
        if instance_id is None:
            return None
        member_id = self.static_members.get(instance_id)
        return None if member_id is None else self.members.get(member_id)

    def target_of(self, member_id: str, instance_id: str | None = None) -> Assignment:
        """Kafka's targetAssignment(memberId, instanceId): a static member rejoining
        under a new member id inherits its predecessor's target."""
        if instance_id is not None:
            previous = self.static_members.get(instance_id)
            return {} if previous is None else self.target_assignment.get(previous, {})
        return self.target_assignment.get(member_id, {})

    def subscribed_regex_counts(self) -> Counter[str]:
        return Counter(m.subscribed_topic_regex for m in self.members.values()
                       if m.subscribed_topic_regex)

    def server_assignor_counts(self) -> Counter[str]:
        return Counter(m.server_assignor_name for m in self.members.values()
                       if m.server_assignor_name)

    def preferred_server_assignor(self) -> str | None:
        """The assignor most members ask for (Kafka: the max of the counts)."""
        counts = self.server_assignor_counts()
        return _most_common(counts)

    def is_subscribed_to(self, topic: str) -> bool:
        return any(topic in names for names in self.subscriptions().values())

    def subscriptions(self) -> dict[str, frozenset[str]]:
        """Member id -> the topic names it subscribes to, by name or by its regex."""
        return {m.member_id: self.topics_of(m) for m in self.members.values()}

    def topics_of(self, member: ConsumerGroupMember) -> frozenset[str]:
        names = member.subscribed_topic_names
        regex = member.subscribed_topic_regex
        if regex:
            resolved = self.resolved_regexes.get(regex)
            if resolved is not None:
                names = names | resolved.topics
        return names

    # -- changes, applied from records ---------------------------------------------------

    def update_member(self, member: ConsumerGroupMember) -> None:
        old = self.members.get(member.member_id)
        self.partition_epochs.update_member(old, member)
        if old is not None and old.instance_id is not None:
            self.static_members.pop(old.instance_id, None)
        self.members[member.member_id] = member
        if member.instance_id is not None:
            self.static_members[member.instance_id] = member.member_id

    def remove_member(self, member_id: str) -> None:
        old = self.members.pop(member_id, None)
        if old is None:
            return
        self.partition_epochs.remove_member(old)
        if old.instance_id is not None and self.static_members.get(old.instance_id) == member_id:
            del self.static_members[old.instance_id]


def _most_common(counts: Counter[str]) -> str | None:
    if not counts:
        return None
    best = max(counts.values())
    # Ties: Kafka takes the max of a copy of its HashMap (BinaryOperator.maxBy keeps
    # the first of equals), so the first name in Java's hash order wins.
    for name in java_order.copy_order(sorted(counts), java_order.string_hash):
        if counts[name] == best:
            return name
    return None
