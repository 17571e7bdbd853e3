"""DescribeTopicPartitions (75, KIP-966): topics with their partitions, paged by
partition count. The Java admin client's describeTopics and `kafka-topics
--describe` use it when the broker advertises it.

Theory of operation (Kafka 4.4's DescribeTopicPartitionsRequestHandler and
KRaftMetadataCache.describeTopicResponse):
- The request names topics, or none for every topic. Only names at or after
  the cursor's topic (Java string order) are considered, each once, and they
  are answered in that order.
- The page holds at most max(min(2000, response_partition_limit), 1)
  partitions (2000 is Kafka's max.request.partition.size.limit default). The
  cursor's topic starts at the cursor's partition, every other at 0. A topic
  whose remaining partitions do not all fit is answered with those that do, and
  next_cursor names its first partition left out; once the page is full, the
  next topic considered becomes next_cursor at partition 0, whether it exists
  or not. A topic with no partition left to answer (a cursor past its end)
  shows with an empty partition list.
- Named topics that do not exist answer UNKNOWN_TOPIC_OR_PARTITION, or
  INVALID_TOPIC_EXCEPTION for an illegal name, in their place in the order and
  without using the page; when every topic is asked for, none can be missing.
- A cursor naming a topic the request does not, or a negative cursor
  partition, fails the whole request with INVALID_REQUEST.
- Partition error codes stay 0, even for a partition without a live leader
  (unlike Metadata's LEADER_NOT_AVAILABLE).
"""

from __future__ import annotations

import uuid
from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.error_responses import ERROR_BODIES
from kwire.broker.handlers._partition_view import partition_view
from kwire.broker.handlers.metadata import TOPIC_AUTHORIZED_OPERATIONS
from kwire.broker.registry import handler
from kwire.broker.topics import invalid_reason, is_internal
from kwire.cluster.api import ClusterMetadata, TopicMetadata
from kwire.errors import ErrorCode, KwireError

API_KEY = 75
# Kafka's max.request.partition.size.limit default: the most partitions one
# response holds, whatever the request asks for.
MAX_REQUEST_PARTITION_SIZE_LIMIT = 2000
_ZERO_UUID = uuid.UUID(int=0)
NOT_PROVIDED = -(2**31)


def _java_order(name: str) -> bytes:
    """String.compareTo's order (UTF-16 code units), for names outside the BMP too."""
    return name.encode("utf-16-be", "surrogatepass")


def _int32(value: int) -> int:
    """Java int arithmetic: Kafka computes the page's end as an int."""
    return (value + 2**31) % 2**32 - 2**31


@handler(API_KEY, "DescribeTopicPartitions", 0, 0)
async def describe_topic_partitions(ctx: RequestContext, request: Any) -> dict[str, Any]:
    snapshot = ctx.broker.snapshot()
    cursor = request.cursor
    cursor_name = "" if cursor is None else cursor.topic_name
    after = _java_order(cursor_name)
    every_topic = not request.topics
    candidates = snapshot.topics if every_topic else [t.name for t in request.topics]
    names = {name for name in candidates if _java_order(name) >= after}
    if cursor is not None and not every_topic and cursor.topic_name not in names:
        raise KwireError(ErrorCode.INVALID_REQUEST, "DescribeTopicPartitionsRequest topic list "
                         f"should contain the cursor topic: {cursor.topic_name}")
    if cursor is not None and cursor.partition_index < 0:
        raise KwireError(ErrorCode.INVALID_REQUEST,
                         "DescribeTopicPartitionsRequest cursor partition must be valid")
    if cursor is None and "" in names:
        # Kafka 4.4 takes the topic named "" for the cursor's topic and reads the
        # missing cursor's partition (a NullPointerException): the whole request
        # is answered UNKNOWN_SERVER_ERROR.
        raise KwireError(ErrorCode.UNKNOWN_SERVER_ERROR, None)
    limit = max(min(MAX_REQUEST_PARTITION_SIZE_LIMIT, int(request.response_partition_limit)), 1)
    topics, next_cursor = _page(snapshot, sorted(names, key=_java_order), cursor, limit,
                                every_topic)
    return {"throttle_time": 0, "topics": topics, "next_cursor": next_cursor}


def _page(snapshot: ClusterMetadata, names: list[str], cursor: Any, limit: int,
          every_topic: bool) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The topic entries of one page and the cursor of the next (None: no more)."""
    entries: list[dict[str, Any]] = []
    remaining = limit
    for name in names:
        if remaining == 0:
            return entries, {"topic_name": name, "partition_index": 0}
        topic = snapshot.topics.get(name)
        if topic is None:
            if not every_topic:
                entries.append(_missing_entry(name))
            continue
        start = cursor.partition_index if cursor is not None and name == cursor.topic_name else 0
        count = len(topic.partitions)
        end = min(count, _int32(start + remaining))
        entries.append(_topic_entry(snapshot, topic, range(start, end)))
        if end < count:
            return entries, {"topic_name": name, "partition_index": end}
        remaining -= len(range(start, end))
    return entries, None


def _topic_entry(snapshot: ClusterMetadata, topic: TopicMetadata,
                 indexes: range) -> dict[str, Any]:
    return {
        "error_code": ErrorCode.NONE,
        "name": topic.name,
        "topic_id": topic.topic_id,
        "is_internal": is_internal(topic.name),
        "partitions": [_partition_entry(snapshot, topic, index) for index in indexes],
        # Kafka without an authorizer: every topic operation (as Metadata answers).
        "topic_authorized_operations": TOPIC_AUTHORIZED_OPERATIONS,
    }


def _partition_entry(snapshot: ClusterMetadata, topic: TopicMetadata,
                     index: int) -> dict[str, Any]:
    view = partition_view(snapshot, topic.partitions[index])
    return {
        "error_code": ErrorCode.NONE,
        "partition_index": index,
        "leader_id": view.leader_id,
        "leader_epoch": view.leader_epoch,
        "replica_nodes": view.replica_nodes,
        "isr_nodes": view.isr_nodes,
        # KIP-966's eligible leader replicas: replicas that were in sync when the
        # ISR fell below min.insync.replicas. kwire keeps no ISR history (any live
        # broker can serve a partition), so there are none; Kafka too answers
        # empty lists (not null) while the ISR is whole.
        "eligible_leader_replicas": (),
        "last_known_elr": (),
        "offline_replicas": view.offline_replicas,
    }


def _missing_entry(name: str) -> dict[str, Any]:
    code = (ErrorCode.INVALID_TOPIC_EXCEPTION if invalid_reason(name) is not None
            else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    return {"error_code": code, "name": name, "topic_id": _ZERO_UUID,
            "is_internal": is_internal(name), "partitions": (),
            "topic_authorized_operations": TOPIC_AUTHORIZED_OPERATIONS}


def error_body(version: int, request: Any, code: ErrorCode, message: str | None
               ) -> dict[str, Any]:
    """DescribeTopicPartitionsRequest.getErrorResponse: every named topic (as named,
    repeats included) with the error, not internal, no id, no operations."""
    return {"throttle_time": 0, "next_cursor": None, "topics": [
        {"error_code": code, "name": t.name, "topic_id": _ZERO_UUID, "is_internal": False,
         "partitions": (), "topic_authorized_operations": NOT_PROVIDED}
        for t in request.topics]}


# The whole-request answer belongs in error_responses.ERROR_BODIES beside the
# other APIs'; registered from here until that table lists it.
ERROR_BODIES.setdefault(API_KEY, error_body)
