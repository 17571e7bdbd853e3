"""Metadata (3): brokers, controller, topics with ids, partitions with leader epochs;
auto-creates topics when both the request and `auto.create.topics.enable` allow it.

Auto-creation follows Kafka 4's AutoTopicCreationManager: the creating request
answers UNKNOWN_TOPIC_OR_PARTITION and the topic shows from the next request
on; `__consumer_offsets` gets the group coordinator's own shape (the
coordinator creates it); names no client may create, and names colliding with
an existing topic, are answered UNKNOWN_TOPIC_OR_PARTITION and never created
(in Kafka the controller refuses them after the answer). Invalid names are
INVALID_TOPIC_EXCEPTION.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._partition_view import PartitionView, partition_view
from kwire.broker.handlers.describe_cluster import CLUSTER_AUTHORIZED_OPERATIONS
from kwire.broker.registry import handler
from kwire.broker.topics import (
    colliding_topic,
    creation_prohibited,
    invalid_reason,
    is_internal,
)
from kwire.cluster.api import ClusterMetadata, TopicExists, TopicMetadata
from kwire.cluster.controller import InvalidReplicationFactor
from kwire.errors import ErrorCode, KwireError, StorageError

log = logging.getLogger("kwire.metadata")

_ZERO_UUID = uuid.UUID(int=0)
# AclEntry.supportedOperations(TOPIC) as a bit field: all of them, as Kafka
# without an authorizer answers (the cluster's comes from DescribeCluster).
TOPIC_AUTHORIZED_OPERATIONS = 3576
NOT_PROVIDED = -(2**31)


def topic_entry(snapshot: ClusterMetadata, topic: TopicMetadata) -> dict[str, Any]:
    return {
        "error_code": ErrorCode.NONE,
        "name": topic.name,
        "topic_id": topic.topic_id,
        "is_internal": is_internal(topic.name),
        "partitions": [_partition_entry(index, partition_view(snapshot, p))
                       for index, p in enumerate(topic.partitions)],
    }


def _partition_entry(index: int, v: PartitionView) -> dict[str, Any]:
    return {
        "error_code": v.error_code,
        "partition_index": index,
        "leader_id": v.leader_id,
        "leader_epoch": v.leader_epoch,
        "replica_nodes": v.replica_nodes,
        "isr_nodes": v.isr_nodes,
        "offline_replicas": v.offline_replicas,
    }


def error_entry(code: ErrorCode, name: str | None, topic_id: uuid.UUID = _ZERO_UUID
                ) -> dict[str, Any]:
    # Kafka marks an internal topic's name as internal even when it does not exist.
    return {"error_code": code, "name": name, "topic_id": topic_id,
            "is_internal": name is not None and is_internal(name), "partitions": ()}


def brokers_and_cluster(snapshot: ClusterMetadata) -> dict[str, Any]:
    return {
        "brokers": [
            {"node_id": b.node_id, "host": b.host, "port": b.port, "rack": b.rack}
            for b in snapshot.brokers
        ],
        "cluster_id": snapshot.cluster_id,
        "controller_id": snapshot.controller_id,
    }


@handler(3, "Metadata", 0, 13)
async def metadata(ctx: RequestContext, request: Any) -> dict[str, Any]:
    broker = ctx.broker
    snapshot = broker.snapshot()
    # v0 sends an empty list for "all topics"; v1+ sends null.
    all_topics = request.topics is None or (ctx.api_version == 0 and not request.topics)
    allow_auto = ctx.api_version < 4 or bool(request.allow_auto_topic_creation)
    allow_auto = allow_auto and bool(broker.config["auto.create.topics.enable"])
    if all_topics:
        entries = [topic_entry(snapshot, t) for _, t in sorted(snapshot.topics.items())]
    else:
        entries = await _requested(ctx, request.topics, allow_auto)
    # v8+: Kafka without an authorizer grants every operation to whoever asks; an
    # unknown topic id is not a topic to grant anything on.
    if getattr(request, "include_topic_authorized_operations", False):
        for entry in entries:
            if entry["error_code"] != ErrorCode.UNKNOWN_TOPIC_ID:
                entry["topic_authorized_operations"] = TOPIC_AUTHORIZED_OPERATIONS
    cluster_ops = NOT_PROVIDED
    if getattr(request, "include_cluster_authorized_operations", False):
        cluster_ops = CLUSTER_AUTHORIZED_OPERATIONS  # v8-10 only
    return {
        "throttle_time": 0,
        **brokers_and_cluster(broker.snapshot()),
        "topics": entries,
        "error_code": ErrorCode.NONE,
        "cluster_authorized_operations": cluster_ops,
    }


async def _requested(ctx: RequestContext, wanted: Any, allow_auto: bool) -> list[dict[str, Any]]:
    """Kafka's handleTopicMetadataRequest for a list of topics: each answered once,
    unknown ids first, then known topics, then names that may not exist, then
    the ones this request auto-created (or would have)."""
    snapshot = ctx.broker.snapshot()
    if ctx.api_version < 12:
        for t in wanted:
            if t.name is None:
                raise KwireError(ErrorCode.INVALID_REQUEST,
                                 f"Topic name can not be null for version {ctx.api_version}")
            if getattr(t, "topic_id", None) not in (None, _ZERO_UUID):
                raise KwireError(ErrorCode.INVALID_REQUEST, "Topic IDs are not supported in "
                                 f"requests for version {ctx.api_version}")
    ids = [t.topic_id for t in wanted if getattr(t, "topic_id", None) not in (None, _ZERO_UUID)]
    if ids:
        # Any topic id in the request: the ids alone are answered, names are ignored.
        unknown = [error_entry(ErrorCode.UNKNOWN_TOPIC_ID, None, i)
                   for i in _unique(ids) if snapshot.topic_by_id(i) is None]
        known = [topic_entry(snapshot, t) for i in _unique(ids)
                 if (t := snapshot.topic_by_id(i)) is not None]
        return unknown + known
    if any(t.name is None for t in wanted):
        # v12+ without any topic id: Kafka 4.4 fails on the null name internally,
        # the whole request answered UNKNOWN_SERVER_ERROR in
        # MetadataRequest.getErrorResponse's shape (the name as "", no brokers).
        raise KwireError(ErrorCode.UNKNOWN_SERVER_ERROR, None)
    found: list[dict[str, Any]] = []
    invalid: list[dict[str, Any]] = []
    missing: list[str] = []
    for name in _unique([t.name for t in wanted]):
        topic = snapshot.topics.get(name)
        if topic is not None:
            found.append(topic_entry(snapshot, topic))
        elif invalid_reason(name) is not None:
            invalid.append(error_entry(ErrorCode.INVALID_TOPIC_EXCEPTION, name))
        else:
            missing.append(name)
    answered = [await _missing(ctx, name, allow_auto) for name in missing]
    return found + invalid + answered


def _unique(items: list[Any]) -> list[Any]:
    # Kafka collects the requested topics in a set: a name asked twice is answered once.
    return list(dict.fromkeys(items))


async def _missing(ctx: RequestContext, name: str, allow_auto: bool) -> dict[str, Any]:
    """A valid name with no topic. Kafka 4 (KRaft) asks the controller to create it
    and answers UNKNOWN_TOPIC_OR_PARTITION at once, without waiting: the topic
    shows on a later request. A creation the controller would refuse (a name
    colliding with another, a coordinator's topic kwire cannot host) looks the
    same to the client, and the topic never shows; so does one whose
    default.replication.factor is more than the live brokers."""
    broker = ctx.broker
    absent = error_entry(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, name)
    if not allow_auto:
        return absent
    if creation_prohibited(name) is not None or colliding_topic(
        name, broker.snapshot().topics
    ) is not None:
        return absent
    try:
        await broker.create_topic_for_client(name, int(broker.config["num.partitions"]), {})
    except TopicExists:
        pass  # another request created it meanwhile: still not ours to show yet
    except InvalidReplicationFactor as exc:
        # Kafka's controller refuses the creation after the answer: the client
        # keeps seeing the topic as unknown.
        log.warning("not auto-creating topic %s: %s", name, exc.message)
    except StorageError:
        # Not created (a full disk); retriable, so the client asks again later.
        return error_entry(ErrorCode.KAFKA_STORAGE_ERROR, name)
    return absent
