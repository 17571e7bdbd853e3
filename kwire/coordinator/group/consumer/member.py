"""A member of a consumer group (KIP-848): Kafka's ConsumerGroupMember, as an immutable value.

A member moves through Kafka's MemberState while it reconciles its current
assignment with its target assignment (`current_assignment.py`). Assignments map a
topic id to the partitions of that topic.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

Assignment = Mapping[uuid.UUID, frozenset[int]]
"""Topic id -> partitions (a target assignment). Never holds an empty partition set."""

EpochAssignment = Mapping[uuid.UUID, Mapping[int, int]]
"""Topic id -> partition -> the epoch at which the member got the partition (Kafka 4.4
keeps it to fence commits of a zombie that owned the partition before). Never holds an
empty partition map."""


def partitions_of(assignment: EpochAssignment) -> dict[uuid.UUID, frozenset[int]]:
    """The partitions of an assignment, without their epochs."""
    return {topic_id: frozenset(parts) for topic_id, parts in assignment.items()}


class MemberState(enum.Enum):
    """Kafka's MemberState: where a member is in reconciling its assignment."""

    STABLE = "stable"
    """The member owns its target assignment, at the target epoch (or waits for more
    partitions that other members still own, without any to revoke)."""

    UNREVOKED_PARTITIONS = "unrevoked_partitions"
    """The member must revoke partitions (and acknowledge that in a heartbeat) before
    it can move to the next epoch."""

    UNRELEASED_PARTITIONS = "unreleased_partitions"
    """The member is at the target epoch but some of its target partitions are still
    owned by other members that have not revoked them yet."""

    UNKNOWN = "unknown"
    """A state read from a record kwire does not know (Kafka's UNKNOWN)."""


@dataclass(frozen=True)
class ClassicMemberMetadata:
    """What a member that joined through JoinGroup (a classic member inside a consumer
    group) brought: its session timeout and its protocols (name, metadata)."""

    session_timeout_ms: int
    protocols: tuple[tuple[str, bytes], ...]


@dataclass(frozen=True)
class ConsumerGroupMember:
    member_id: str
    member_epoch: int = 0
    previous_member_epoch: int = 0
    state: MemberState = MemberState.STABLE
    instance_id: str | None = None
    rack_id: str | None = None
    rebalance_timeout_ms: int = -1
    client_id: str = ""
    client_host: str = ""
    subscribed_topic_names: frozenset[str] = frozenset()
    subscribed_topic_regex: str | None = None
    server_assignor_name: str | None = None
    assigned_partitions: EpochAssignment = field(default_factory=dict)
    partitions_pending_revocation: EpochAssignment = field(default_factory=dict)
    classic_member_metadata: ClassicMemberMetadata | None = None

    def with_(self, **changes: object) -> ConsumerGroupMember:
        return replace(self, **changes)  # type: ignore[arg-type]

    def uses_classic_protocol(self) -> bool:
        return self.classic_member_metadata is not None

    def is_reconciled_to(self, target_assignment_epoch: int) -> bool:
        return self.state is MemberState.STABLE and self.member_epoch == target_assignment_epoch

    def assignment_epoch(self, topic_id: uuid.UUID, partition: int) -> int | None:
        """The epoch at which the member got a partition it owns or is revoking."""
        epoch = self.assigned_partitions.get(topic_id, {}).get(partition)
        if epoch is None:
            epoch = self.partitions_pending_revocation.get(topic_id, {}).get(partition)
        return epoch
