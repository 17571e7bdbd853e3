"""Responses of the group coordinator: Kafka's response fields, Kafka's names and defaults.

Values only; handlers map them onto the kio response of the request's version
(e.g. a None protocol_name becomes "" before JoinGroup v7, and LeaveGroup v0-2
carries its single member's error_code at the top level).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

from kwire.coordinator.group.consumer.responses import (
    ConsumerGroupDescribeResponse,
    ConsumerGroupHeartbeatResponse,
)
from kwire.errors import ErrorCode

GROUP_MAX_SIZE_REACHED = ErrorCode.GROUP_MAX_SIZE_REACHED

UNKNOWN_MEMBER_ID = ""  # Kafka's JoinGroupRequest.UNKNOWN_MEMBER_ID
NO_LEADER = ""


@dataclass(frozen=True)
class JoinGroupResponseMember:
    member_id: str
    group_instance_id: str | None
    metadata: bytes


@dataclass(frozen=True)
class JoinGroupResponse:
    error_code: int
    generation_id: int = -1
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader: str = NO_LEADER
    skip_assignment: bool = False
    member_id: str = UNKNOWN_MEMBER_ID
    members: tuple[JoinGroupResponseMember, ...] = ()


@dataclass(frozen=True)
class SyncGroupResponse:
    error_code: int
    protocol_type: str | None = None
    protocol_name: str | None = None
    assignment: bytes = b""


@dataclass(frozen=True)
class HeartbeatResponse:
    error_code: int


@dataclass(frozen=True)
class LeaveGroupMemberResponse:
    member_id: str
    group_instance_id: str | None
    error_code: int


@dataclass(frozen=True)
class LeaveGroupResponse:
    error_code: int
    members: tuple[LeaveGroupMemberResponse, ...] = ()


@dataclass(frozen=True)
class OffsetCommitPartitionResponse:
    topic: str
    partition_index: int
    error_code: int


@dataclass(frozen=True)
class OffsetCommitResponse:
    partitions: tuple[OffsetCommitPartitionResponse, ...]


# TxnOffsetCommit answers per partition exactly as OffsetCommit does.
TxnOffsetCommitResponse = OffsetCommitResponse


@dataclass(frozen=True)
class OffsetFetchPartitionResponse:
    topic: str
    partition_index: int
    committed_offset: int = -1
    committed_leader_epoch: int = -1
    metadata: str = ""
    error_code: int = ErrorCode.NONE


@dataclass(frozen=True)
class OffsetFetchResponse:
    group_id: str
    error_code: int
    partitions: tuple[OffsetFetchPartitionResponse, ...] = ()


@dataclass(frozen=True)
class OffsetDeletePartitionResponse:
    topic: str
    partition_index: int
    error_code: int


@dataclass(frozen=True)
class OffsetDeleteResponse:
    error_code: int
    partitions: tuple[OffsetDeletePartitionResponse, ...] = ()


@dataclass(frozen=True)
class DeletableGroupResult:
    group_id: str
    error_code: int


@dataclass(frozen=True)
class DeleteGroupsResponse:
    results: tuple[DeletableGroupResult, ...]


@dataclass(frozen=True)
class DescribedGroupMember:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    member_metadata: bytes
    member_assignment: bytes


@dataclass(frozen=True)
class DescribedGroup:
    error_code: int
    group_id: str
    group_state: str
    protocol_type: str = ""
    protocol_data: str = ""
    members: tuple[DescribedGroupMember, ...] = ()
    error_message: str | None = None


@dataclass(frozen=True)
class DescribeGroupsResponse:
    groups: tuple[DescribedGroup, ...]


@dataclass(frozen=True)
class ListedGroup:
    group_id: str
    protocol_type: str
    group_state: str
    group_type: str = "classic"


@dataclass(frozen=True)
class ListGroupsResponse:
    error_code: int
    groups: tuple[ListedGroup, ...] = field(default=())


@dataclass(frozen=True)
class PartitionsDeletedResponse:
    """Not a Kafka API: what on_partitions_deleted did, for the driver's log."""

    deleted_offsets: int


Response: TypeAlias = (
    JoinGroupResponse
    | SyncGroupResponse
    | HeartbeatResponse
    | LeaveGroupResponse
    | OffsetCommitResponse
    | OffsetFetchResponse
    | OffsetDeleteResponse
    | DeleteGroupsResponse
    | DescribeGroupsResponse
    | ListGroupsResponse
    | PartitionsDeletedResponse
    | ConsumerGroupHeartbeatResponse
    | ConsumerGroupDescribeResponse
)
