"""DeleteTopics (20): by name, or by topic id from v6.

Internal topics are refused (Kafka would delete them, and with them every
group's state); a deleted topic's committed offsets go with it (Broker.delete_topic).
"""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.handlers._lookup import resolve_topic
from kwire.broker.registry import handler
from kwire.broker.topics import delete_refusal
from kwire.cluster.api import TopicNotFound
from kwire.errors import ErrorCode, StorageError


@handler(20, "DeleteTopics", 1, 6)
async def delete_topics(ctx: RequestContext, request: Any) -> dict[str, Any]:
    wanted: list[tuple[str | None, Any]]
    if ctx.api_version >= 6:
        wanted = [(t.name, t.topic_id) for t in request.topics]
    else:
        wanted = [(name, None) for name in request.topic_names]
    enabled = bool(ctx.broker.config["delete.topic.enable"])
    responses = []
    for name, topic_id in wanted:
        topic, code = resolve_topic(ctx.broker.snapshot(), name, topic_id)
        message = None
        if topic is not None and not enabled:
            code, message = ErrorCode.TOPIC_DELETION_DISABLED, "Topic deletion is disabled."
        elif topic is not None and (refused := delete_refusal(topic.name)) is not None:
            code, message = ErrorCode.INVALID_TOPIC_EXCEPTION, refused
        elif topic is not None:
            try:
                await ctx.broker.delete_topic(topic.name)
            except TopicNotFound:
                code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            except StorageError as exc:  # the metadata could not be written: nothing changed
                code, message = ErrorCode.KAFKA_STORAGE_ERROR, str(exc)
            except OSError as exc:
                # The topic is gone from the metadata; a partition's files are not.
                code, message = ErrorCode.KAFKA_STORAGE_ERROR, (
                    f"Topic {topic.name} was deleted but its data could not be removed: {exc}")
        responses.append({
            "name": topic.name if topic else name,
            "topic_id": topic.topic_id if topic else topic_id,
            "error_code": code,
            "error_message": message,
        })
    return {"throttle_time": 0, "responses": responses}
