"""Answers of the consumer-group (KIP-848) APIs: Kafka's response fields, as values."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from kwire.coordinator.group.consumer.member import Assignment


@dataclass(frozen=True)
class ConsumerGroupHeartbeatResponse:
    error_code: int
    error_message: str | None = None
    member_id: str | None = None
    member_epoch: int = 0
    heartbeat_interval_ms: int = 0
    # Topic id -> partitions; None: no assignment in this answer.
    assignment: Assignment | None = None


# (topic id, topic name, partitions)
TopicPartitions = tuple[uuid.UUID, str, tuple[int, ...]]


@dataclass(frozen=True)
class DescribedMember:
    member_id: str
    instance_id: str | None
    rack_id: str | None
    member_epoch: int
    client_id: str
    client_host: str
    subscribed_topic_names: tuple[str, ...]
    subscribed_topic_regex: str | None
    assignment: tuple[TopicPartitions, ...]
    target_assignment: tuple[TopicPartitions, ...]
    member_type: int  # 0 classic protocol, 1 consumer protocol (v1+)


@dataclass(frozen=True)
class DescribedConsumerGroup:
    error_code: int
    group_id: str
    error_message: str | None = None
    group_state: str = ""
    group_epoch: int = 0
    assignment_epoch: int = 0
    assignor_name: str = ""
    members: tuple[DescribedMember, ...] = ()


@dataclass(frozen=True)
class ConsumerGroupDescribeResponse:
    groups: tuple[DescribedConsumerGroup, ...]


