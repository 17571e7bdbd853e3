"""Config resources shared by DescribeConfigs, AlterConfigs and IncrementalAlterConfigs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kwire.broker import topic_config
from kwire.broker.context import RequestContext
from kwire.broker.services import Broker
from kwire.config import BROKER_PROPERTIES
from kwire.errors import ErrorCode, StorageError

# org.apache.kafka.common.config.ConfigResource.Type
TOPIC = 2
BROKER = 4
BROKER_LOGGER = 8


def broker_entries(broker: Broker) -> list[dict[str, Any]]:
    entries = []
    for name, value, is_default in broker.config.describe():
        source = topic_config.SOURCE_DEFAULT if is_default else topic_config.SOURCE_STATIC_BROKER
        prop = BROKER_PROPERTIES[name]
        entries.append({
            "name": name, "value": value, "read_only": True, "config_source": source,
            "is_default": is_default, "is_sensitive": False,
            "synonyms": [{"name": name, "value": value, "source": source}] if value else [],
            "config_type": prop.type.code, "documentation": None,
        })
    return entries


def topic_entries(broker: Broker, configs: dict[str, str]) -> list[dict[str, Any]]:
    entries = []
    for e in topic_config.effective(broker.config, configs):
        entries.append({
            "name": e.name, "value": e.value, "read_only": False, "config_source": e.source,
            "is_default": e.source == topic_config.SOURCE_DEFAULT, "is_sensitive": False,
            "synonyms": [{"name": n, "value": v, "source": s} for n, v, s in e.synonyms],
            "config_type": e.type.code, "documentation": None,
        })
    return entries


def check_broker_name(broker: Broker, name: str) -> ErrorCode | None:
    """Broker resources name this broker's id, or "" for the cluster default."""
    if name in ("", str(broker.node.node_id)):
        return None
    return ErrorCode.INVALID_REQUEST


def broker_alter_refusal(names: list[str]) -> tuple[ErrorCode, str]:
    # kwire applies broker properties at start only; none can change at run time yet.
    return ErrorCode.INVALID_CONFIG, (
        f"Cannot update these configs dynamically: {sorted(names)}; "
        "kwire reads broker configs at start (server.properties or --set)")


NewTopicConfigs = Callable[[RequestContext, dict[str, str], Any], dict[str, str]]


async def alter_resources(
    ctx: RequestContext, request: Any, new_topic_configs: NewTopicConfigs
) -> dict[str, Any]:
    """The shared body of AlterConfigs and IncrementalAlterConfigs: per resource,
    `new_topic_configs(ctx, current, resource.configs)` says what the topic's
    configs become; they are validated and stored unless validate_only."""
    responses = []
    for r in request.resources:
        code, message = ErrorCode.NONE, None
        rtype = int(r.resource_type)
        if rtype == TOPIC:
            topic = ctx.broker.snapshot().topics.get(r.resource_name)
            if topic is None:
                code, message = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, (
                    f"Topic {r.resource_name} does not exist")
            else:
                try:
                    configs = topic_config.validate(
                        new_topic_configs(ctx, dict(topic.configs), r.configs))
                    if not request.validate_only:
                        await ctx.broker.set_topic_configs(r.resource_name, configs)
                except topic_config.InvalidConfig as exc:
                    code, message = ErrorCode.INVALID_CONFIG, str(exc)
                except StorageError as exc:  # nothing changed; a retry may succeed
                    code, message = ErrorCode.KAFKA_STORAGE_ERROR, str(exc)
        elif rtype == BROKER:
            code, message = broker_alter_refusal([c.name for c in r.configs])
        else:
            code, message = ErrorCode.INVALID_REQUEST, f"Unsupported resource type {rtype}"
        responses.append({"error_code": code, "error_message": message,
                          "resource_type": r.resource_type, "resource_name": r.resource_name})
    return {"throttle_time": 0, "responses": responses}
