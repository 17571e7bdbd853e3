"""Resolving a request's topic by name (older versions) or by topic id (newer)."""

from __future__ import annotations

import uuid

from kwire.cluster.api import ClusterMetadata, TopicMetadata
from kwire.errors import ErrorCode

ZERO_UUID = uuid.UUID(int=0)


def resolve_topic(
    snapshot: ClusterMetadata, name: str | None, topic_id: uuid.UUID | None
) -> tuple[TopicMetadata | None, ErrorCode]:
    """The topic a request names, or the error Kafka gives for one it doesn't know."""
    if topic_id is not None and topic_id != ZERO_UUID and not name:
        topic = snapshot.topic_by_id(topic_id)
        return topic, ErrorCode.NONE if topic else ErrorCode.UNKNOWN_TOPIC_ID
    topic = snapshot.topics.get(name or "")
    return topic, ErrorCode.NONE if topic else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
