"""CreateTopics (19): partitions, replication factor, configs, validate_only,
with the error codes Kafka returns for each way a request can be wrong.

Checks run in the order of Kafka's ControllerApis and
ReplicationControlManager.createTopics: `__cluster_metadata`, the name, an
existing topic, a colliding name, then the topic's shape. A timeout of 0 or
less fails the whole request with REQUEST_TIMED_OUT before any of the
controller's checks (`controller_deadline_expired`). Internal topics
follow kwire's stricter rules (broker/topics.py); `__consumer_offsets` is
created by the group coordinator itself, in its own shape.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

from kwire.broker import topic_config
from kwire.broker.context import RequestContext
from kwire.broker.registry import handler
from kwire.broker.topics import (
    CLUSTER_METADATA_TOPIC_NAME,
    EXCESSIVE_BATCH_MESSAGE,
    GROUP_METADATA_TOPIC_NAME,
    MAX_RECORDS_PER_USER_OP,
    colliding_topic,
    collision_message,
    creation_prohibited,
    invalid_reason,
    offsets_topic_refusal,
    partitions_too_many,
)
from kwire.cluster.api import TopicExists
from kwire.coordinator.group.manager import OFFSETS_TOPIC_CONFIGS
from kwire.errors import ErrorCode, KwireError, StorageError


def controller_deadline_expired(timeout: timedelta) -> bool:
    """Whether Kafka's controller event for a CreateTopics, CreatePartitions or
    DeleteTopics request times out before it runs.

    ControllerApis turns the request's timeout into the event's deadline (now +
    timeout); KafkaEventQueue checks deadlines before running the queue's head,
    so a deadline of now or earlier always expires: the request fails as a whole
    (its getErrorResponse, REQUEST_TIMED_OUT for every entry, no message) and
    nothing is created, grown or deleted, validate_only or not. Only requests
    that need no controller event at all (every entry refused by ControllerApis
    itself: duplicates, `__cluster_metadata`) are answered normally. A positive
    timeout, however short, is in practice met by a single node's idle
    controller, and kwire completes such requests.
    """
    return timeout <= timedelta(0)


@handler(19, "CreateTopics", 2, 7)
async def create_topics(ctx: RequestContext, request: Any) -> dict[str, Any]:
    counts = Counter(t.name for t in request.topics)
    if controller_deadline_expired(request.timeout) and any(
        count == 1 and name != CLUSTER_METADATA_TOPIC_NAME for name, count in counts.items()
    ):
        raise KwireError(ErrorCode.REQUEST_TIMED_OUT, None)
    results = [await _create_one(ctx, t, bool(request.validate_only))
               for t in request.topics if counts[t.name] == 1]
    # A name given twice is answered once, after the others (ControllerApis.createTopics).
    results += [_failed(name, ErrorCode.INVALID_REQUEST, "Duplicate topic name.")
                for name, count in counts.items() if count > 1]
    return {"throttle_time": 0, "topics": results}


def manual_assignment_error(broker_ids: Any, live: set[int]) -> str | None:
    """ReplicationControlManager.validateManualPartitionAssignment's refusal, or None."""
    if not broker_ids:
        return "The manual partition assignment includes an empty replica list."
    previous = None
    for broker_id in sorted(broker_ids):
        if broker_id not in live:
            return (f"The manual partition assignment includes broker {broker_id}, but no such "
                    "broker is registered.")
        if broker_id == previous:
            return (f"The manual partition assignment includes the broker {broker_id} more "
                    "than once.")
        previous = broker_id
    return None


def _failed(name: str, code: ErrorCode, message: str | None) -> dict[str, Any]:
    return {"name": name, "topic_id": None, "error_code": code, "error_message": message,
            "topic_config_error_code": 0, "num_partitions": -1, "replication_factor": -1,
            "configs": []}  # Kafka 4.4 answers an empty list, not null


async def _create_one(ctx: RequestContext, t: Any, validate_only: bool) -> dict[str, Any]:
    broker = ctx.broker
    name = t.name
    given_configs = {c.name: c.value for c in t.configs}
    prohibited = creation_prohibited(name)
    if prohibited is not None:
        return _failed(name, ErrorCode.INVALID_REQUEST, prohibited)
    reason = invalid_reason(name)
    if reason is not None:
        return _failed(name, ErrorCode.INVALID_TOPIC_EXCEPTION, reason)
    existing = broker.snapshot().topics
    if name in existing:
        return _failed(name, ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{name}' already exists.")
    other = colliding_topic(name, existing)
    if other is not None:
        return _failed(name, ErrorCode.INVALID_TOPIC_EXCEPTION, collision_message(name, other))
    if name == GROUP_METADATA_TOPIC_NAME:
        refused = offsets_topic_refusal(
            int(t.num_partitions), given_configs, bool(t.assignments),
            broker.groups.offsets_topic_partitions, OFFSETS_TOPIC_CONFIGS)
        if refused is not None:
            return _failed(name, *refused)
        given_configs = dict(OFFSETS_TOPIC_CONFIGS)
    assignments = list(t.assignments)
    partitions = int(t.num_partitions)
    replication = int(t.replication_factor)
    live = {b.node_id for b in broker.snapshot().brokers}
    if assignments:
        if partitions != -1 or replication != -1:
            return _failed(name, ErrorCode.INVALID_REQUEST,
                           "Both numPartitions or replicationFactor and replicasAssignments "
                           "were set. Both cannot be used at the same time.")
        for a in assignments:
            bad = manual_assignment_error(a.broker_ids, live)
            if bad is not None:
                return _failed(name, ErrorCode.INVALID_REPLICA_ASSIGNMENT, bad)
        partitions = len(assignments)
        replication = len(assignments[0].broker_ids)
    if partitions == -1:
        partitions = int(broker.config["num.partitions"])
        if name == GROUP_METADATA_TOPIC_NAME:
            partitions = broker.groups.offsets_topic_partitions
    if replication == -1:
        replication = int(broker.config["default.replication.factor"])
    if partitions <= 0:
        return _failed(name, ErrorCode.INVALID_PARTITIONS,
                       "Number of partitions was set to an invalid non-positive value.")
    if replication <= 0:
        return _failed(name, ErrorCode.INVALID_REPLICATION_FACTOR,
                       "Replication factor must be larger than 0, or -1 to use the default value.")
    if replication > len(live):
        return _failed(name, ErrorCode.INVALID_REPLICATION_FACTOR,
                       f"Unable to replicate the partition {replication} time(s): The target "
                       f"replication factor of {replication} cannot be reached because only "
                       f"{len(live)} broker(s) are registered or some brokers have all their "
                       "log directories cordoned.")
    too_many = partitions_too_many(name, partitions)
    if too_many is not None:
        return _failed(name, ErrorCode.INVALID_PARTITIONS, too_many)
    try:
        configs = topic_config.validate(given_configs)
    except topic_config.InvalidConfig as exc:
        return _failed(name, ErrorCode.INVALID_CONFIG, str(exc))
    # One TopicRecord, a PartitionRecord per partition, a ConfigRecord per config.
    if 1 + partitions + len(configs) > MAX_RECORDS_PER_USER_OP:
        return _failed(name, ErrorCode.POLICY_VIOLATION, EXCESSIVE_BATCH_MESSAGE)
    # validate_only: Kafka answers with a fresh topic id it then forgets.
    topic_id = uuid.uuid4()
    if not validate_only:
        try:
            topic = await broker.create_topic_for_client(
                name, partitions, configs, replication,
                [tuple(a.broker_ids) for a in sorted(assignments, key=lambda a: a.partition_index)]
                or None)
        except TopicExists:
            return _failed(name, ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{name}' already exists.")
        except StorageError as exc:  # a full disk: nothing was created
            return _failed(name, ErrorCode.KAFKA_STORAGE_ERROR, str(exc))
        topic_id = topic.topic_id
        configs = dict(topic.configs)
    return {
        "name": name,
        "topic_id": topic_id,
        "error_code": ErrorCode.NONE,
        "error_message": None,
        "topic_config_error_code": 0,
        "num_partitions": partitions,
        "replication_factor": replication,
        "configs": [
            {"name": e.name, "value": e.value, "read_only": False,
             "config_source": e.source, "is_sensitive": False}
            for e in topic_config.resolved(broker.config, configs)
        ],
    }
