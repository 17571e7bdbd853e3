"""Metadata (3): brokers, controller, topics with ids, partitions with leader epochs;
auto-creates topics when both the request and `auto.create.topics.enable` allow it.

Auto-creation follows Kafka's AutoTopicCreationManager: `__consumer_offsets`
gets the group coordinator's own shape (the coordinator creates it); names
no client may create, and names colliding with an existing topic, are
answered INVALID_TOPIC_EXCEPTION instead of being created.
"""

from __future__ import annotations

import uuid
from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.registry import handler
from kwire.broker.topics import (
    colliding_topic,
    creation_prohibited,
    invalid_reason,
    is_internal,
)
from kwire.cluster.api import ClusterMetadata, TopicExists, TopicMetadata
from kwire.errors import ErrorCode, StorageError

_ZERO_UUID = uuid.UUID(int=0)


def topic_entry(topic: TopicMetadata) -> dict[str, Any]:
    return {
        "error_code": ErrorCode.NONE,
        "name": topic.name,
        "topic_id": topic.topic_id,
        "is_internal": is_internal(topic.name),
        "partitions": [
            {
                "error_code": ErrorCode.NONE,
                "partition_index": index,
                "leader_id": p.leader,
                "leader_epoch": p.leader_epoch,
                "replica_nodes": p.replicas,
                "isr_nodes": p.replicas,
                "offline_replicas": (),
            }
            for index, p in enumerate(topic.partitions)
        ],
    }


def error_entry(code: ErrorCode, name: str | None, topic_id: uuid.UUID = _ZERO_UUID
                ) -> dict[str, Any]:
    return {"error_code": code, "name": name, "topic_id": topic_id, "is_internal": False,
            "partitions": ()}


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
    entries: list[dict[str, Any]] = []
    if all_topics:
        entries = [topic_entry(t) for _, t in sorted(snapshot.topics.items())]
    else:
        for wanted in request.topics:
            name = wanted.name
            topic_id = getattr(wanted, "topic_id", None)
            if name is None:
                found = snapshot.topic_by_id(topic_id) if topic_id else None
                if found is None:
                    found_entry = error_entry(ErrorCode.UNKNOWN_TOPIC_ID, None,
                                              topic_id or _ZERO_UUID)
                else:
                    found_entry = topic_entry(found)
                entries.append(found_entry)
                continue
            entries.append(await _lookup(ctx, name, allow_auto))
    return {
        "throttle_time": 0,
        **brokers_and_cluster(broker.snapshot()),
        "topics": entries,
        "error_code": ErrorCode.NONE,
    }


async def _lookup(ctx: RequestContext, name: str, allow_auto: bool) -> dict[str, Any]:
    broker = ctx.broker
    topic = broker.snapshot().topics.get(name)
    if topic is not None:
        return topic_entry(topic)
    if invalid_reason(name) is not None:
        return error_entry(ErrorCode.INVALID_TOPIC_EXCEPTION, name)
    if not allow_auto:
        return error_entry(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, name)
    if creation_prohibited(name) is not None or colliding_topic(
        name, broker.snapshot().topics
    ) is not None:
        return error_entry(ErrorCode.INVALID_TOPIC_EXCEPTION, name)
    try:
        topic = await broker.create_topic_for_client(
            name, int(broker.config["num.partitions"]), {})
    except TopicExists:
        topic = broker.snapshot().topics[name]
    except StorageError:
        # Not created (a full disk); retriable, so the client asks again later.
        return error_entry(ErrorCode.KAFKA_STORAGE_ERROR, name)
    return topic_entry(topic)
