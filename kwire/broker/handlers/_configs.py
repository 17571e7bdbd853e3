"""Config resources shared by DescribeConfigs, AlterConfigs and IncrementalAlterConfigs."""

from __future__ import annotations

from typing import Any

from kwire.broker import topic_config
from kwire.broker.services import Broker
from kwire.config import BROKER_PROPERTIES
from kwire.errors import ErrorCode

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
            "config_type": topic_config.TYPE_CODES.get(prop.type, 0), "documentation": None,
        })
    return entries


def topic_entries(broker: Broker, configs: dict[str, str]) -> list[dict[str, Any]]:
    entries = []
    for e in topic_config.effective(broker.config, configs):
        entries.append({
            "name": e.name, "value": e.value, "read_only": False, "config_source": e.source,
            "is_default": e.source == topic_config.SOURCE_DEFAULT, "is_sensitive": False,
            "synonyms": [{"name": n, "value": v, "source": s} for n, v, s in e.synonyms],
            "config_type": topic_config.TYPE_CODES.get(e.type, 0), "documentation": None,
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
