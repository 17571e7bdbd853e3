"""The values of Kafka's consumer-group (KIP-848) records, as kwire types.

Topic ids are uuid.UUID and assignments map a topic id to a frozenset of
partitions; `records.py` has the byte format and `record_codec.py` the codec.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from kwire.coordinator.group.consumer.member import (
    Assignment,
    ClassicMemberMetadata,
    MemberState,
)

VALUE_VERSION = 0
"""The only value version of every consumer-group record, and the one Kafka writes."""

# Kafka's MemberState.value(), as ConsumerGroupCurrentMemberAssignmentValue.State stores it.
STATE_VALUES: dict[MemberState, int] = {
    MemberState.STABLE: 0,
    MemberState.UNREVOKED_PARTITIONS: 1,
    MemberState.UNRELEASED_PARTITIONS: 2,
    MemberState.UNKNOWN: 127,
}

PartitionEpochs = Mapping[uuid.UUID, Mapping[int, int]]
"""Topic id -> partition -> the epoch at which the partition was assigned (KIP-1251)."""


@dataclass(frozen=True)
class ConsumerGroupMetadataValue:
    epoch: int
    metadata_hash: int = 0


@dataclass(frozen=True)
class TopicMetadata:
    topic_id: uuid.UUID
    topic_name: str
    num_partitions: int
    partition_racks: tuple[tuple[int, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class ConsumerGroupPartitionMetadataValue:
    topics: tuple[TopicMetadata, ...] = ()


@dataclass(frozen=True)
class ConsumerGroupMemberMetadataValue:
    instance_id: str | None = None
    rack_id: str | None = None
    client_id: str = ""
    client_host: str = ""
    subscribed_topic_names: frozenset[str] = frozenset()
    subscribed_topic_regex: str | None = ""  # Kafka writes "" for no regex (its default)
    rebalance_timeout_ms: int = -1
    server_assignor: str | None = None
    classic_member_metadata: ClassicMemberMetadata | None = None


@dataclass(frozen=True)
class ConsumerGroupTargetAssignmentMetadataValue:
    assignment_epoch: int
    assignment_timestamp: int = 0


@dataclass(frozen=True)
class ConsumerGroupTargetAssignmentMemberValue:
    topic_partitions: Assignment = field(default_factory=dict)


@dataclass(frozen=True)
class ConsumerGroupCurrentMemberAssignmentValue:
    """`assigned_epochs`/`pending_revocation_epochs` hold the AssignmentEpochs of the
    topics that carry them (Kafka 4.3+ writes them for every topic; older records
    have none, and Kafka then takes max(member epoch, 0): see `effective_epochs`)."""

    member_epoch: int
    previous_member_epoch: int
    state: MemberState
    assigned_partitions: Assignment = field(default_factory=dict)
    partitions_pending_revocation: Assignment = field(default_factory=dict)
    assigned_epochs: PartitionEpochs = field(default_factory=dict)
    pending_revocation_epochs: PartitionEpochs = field(default_factory=dict)

    def effective_epochs(self, pending_revocation: bool = False) -> dict[uuid.UUID, dict[int, int]]:
        """Kafka's Utils.assignmentFromTopicPartitions: every partition's assignment
        epoch, max(member epoch, 0) where the record has none."""
        assignment, epochs = (
            (self.partitions_pending_revocation, self.pending_revocation_epochs)
            if pending_revocation
            else (self.assigned_partitions, self.assigned_epochs)
        )
        default = max(self.member_epoch, 0)
        return {
            t: {p: epochs.get(t, {}).get(p, default) for p in parts}
            for t, parts in assignment.items()
        }


@dataclass(frozen=True)
class ConsumerGroupRegularExpressionValue:
    topics: frozenset[str]
    version: int
    timestamp: int


ConsumerGroupValue = (
    ConsumerGroupMetadataValue
    | ConsumerGroupPartitionMetadataValue
    | ConsumerGroupMemberMetadataValue
    | ConsumerGroupTargetAssignmentMetadataValue
    | ConsumerGroupTargetAssignmentMemberValue
    | ConsumerGroupCurrentMemberAssignmentValue
    | ConsumerGroupRegularExpressionValue
)
