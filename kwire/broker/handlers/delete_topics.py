"""DeleteTopics (20): by name, or by topic id from v6.

The request is checked as Kafka's ControllerApis.deleteTopics does: a name and
an id together, neither, a name or id given twice, an unknown name or id are
each answered with Kafka's error and message, and nothing named twice is
deleted. Kafka shuffles the answers (so their order reveals nothing); kwire
keeps Kafka's pre-shuffle order: refusals first, then the deletions.
A timeout of 0 or less fails the whole request with REQUEST_TIMED_OUT once a
name or id is left to look up (create_topics.controller_deadline_expired); the
refusals above are answered normally only when nothing is left.
Internal topics are refused (Kafka would delete them, and with them every
group's state); a deleted topic's committed offsets go with it
(Broker.delete_topic).
"""

from __future__ import annotations

import uuid
from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._lookup import ZERO_UUID
from kwire.broker.handlers.create_topics import controller_deadline_expired
from kwire.broker.registry import handler
from kwire.broker.topics import delete_refusal
from kwire.cluster.api import TopicMetadata, TopicNotFound
from kwire.errors import ErrorCode, KwireError, StorageError

UNKNOWN_NAME = "This server does not host this topic-partition."
UNKNOWN_ID = "This server does not host this topic ID."


def _result(name: str | None, topic_id: uuid.UUID | None, code: ErrorCode,
            message: str | None = None) -> dict[str, Any]:
    return {"name": name, "topic_id": topic_id or ZERO_UUID, "error_code": code,
            "error_message": message}


@handler(20, "DeleteTopics", 1, 6)
async def delete_topics(ctx: RequestContext, request: Any) -> dict[str, Any]:
    if not bool(ctx.broker.config["delete.topic.enable"]):
        # The whole request fails; every topic named carries the error.
        if ctx.api_version < 3:
            raise KwireError(ErrorCode.INVALID_REQUEST, "Topic deletion is disabled.")
        raise KwireError(ErrorCode.TOPIC_DELETION_DISABLED)
    snapshot = ctx.broker.snapshot()
    responses: list[dict[str, Any]] = []
    names: dict[str, None] = {}
    ids: dict[uuid.UUID, None] = {}
    duplicate_names: dict[str, None] = {}
    duplicate_ids: dict[uuid.UUID, None] = {}

    def provide(key: Any, seen: dict[Any, None], duplicates: dict[Any, None]) -> None:
        if key in duplicates or key in seen:
            duplicates[key] = None
            seen.pop(key, None)
        else:
            seen[key] = None

    named = ([(t.name, t.topic_id or ZERO_UUID) for t in request.topics]
             if ctx.api_version >= 6 else [(n, ZERO_UUID) for n in request.topic_names])
    for name, topic_id in named:
        if name is None and topic_id == ZERO_UUID:
            responses.append(_result(None, ZERO_UUID, ErrorCode.INVALID_REQUEST,
                                     "Neither topic name nor id were specified."))
        elif name is None:
            provide(topic_id, ids, duplicate_ids)
        elif topic_id == ZERO_UUID:
            provide(name, names, duplicate_names)
        else:
            responses.append(_result(name, topic_id, ErrorCode.INVALID_REQUEST,
                                     "You may not specify both topic name and topic id."))
    if (names or ids) and controller_deadline_expired(request.timeout):
        # Kafka's findTopicNames/findTopicIds controller events expire: every entry
        # of the request, refused above or not, carries REQUEST_TIMED_OUT.
        raise KwireError(ErrorCode.REQUEST_TIMED_OUT, None)
    responses += [_result(n, ZERO_UUID, ErrorCode.INVALID_REQUEST, "Duplicate topic name.")
                  for n in duplicate_names]
    responses += [_result(None, i, ErrorCode.INVALID_REQUEST, "Duplicate topic id.")
                  for i in duplicate_ids]
    to_delete: dict[uuid.UUID, TopicMetadata] = {}
    for topic_id in ids:
        topic = snapshot.topic_by_id(topic_id)
        if topic is None:
            responses.append(_result(None, topic_id, ErrorCode.UNKNOWN_TOPIC_ID, UNKNOWN_ID))
        else:
            to_delete[topic_id] = topic
    for name in names:
        topic = snapshot.topics.get(name)
        if topic is None:
            responses.append(_result(name, ZERO_UUID, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                                     UNKNOWN_NAME))
        elif topic.topic_id in to_delete:
            # Kafka then deletes neither and says so only for the name.
            del to_delete[topic.topic_id]
            responses.append(_result(name, topic.topic_id, ErrorCode.INVALID_REQUEST,
                                     "The provided topic name maps to an ID that was already "
                                     "supplied."))
        else:
            to_delete[topic.topic_id] = topic
    for topic in to_delete.values():
        responses.append(await _delete(ctx, topic))
    return {"throttle_time": 0, "responses": responses}


async def _delete(ctx: RequestContext, topic: TopicMetadata) -> dict[str, Any]:
    refused = delete_refusal(topic.name)
    if refused is not None:
        return _result(topic.name, topic.topic_id, ErrorCode.INVALID_TOPIC_EXCEPTION, refused)
    try:
        await ctx.broker.delete_topic(topic.name)
    except TopicNotFound:
        return _result(topic.name, ZERO_UUID, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, UNKNOWN_NAME)
    except StorageError as exc:  # the metadata could not be written: nothing changed
        return _result(topic.name, topic.topic_id, ErrorCode.KAFKA_STORAGE_ERROR, str(exc))
    except OSError as exc:
        # The topic is gone from the metadata; a partition's files are not.
        return _result(topic.name, topic.topic_id, ErrorCode.KAFKA_STORAGE_ERROR,
                       f"Topic {topic.name} was deleted but its data could not be removed: "
                       f"{exc}")
    return _result(topic.name, topic.topic_id, ErrorCode.NONE)
