"""Topic-level configs: Kafka's names, defaults taken from the broker's synonyms,
validation, and the resulting `LogConfig`.

A topic stores only the configs set on it; every other value comes from the
broker property Kafka names as its synonym (e.g. retention.ms ← log.retention.ms),
so DescribeConfigs reports the same values and sources Kafka would.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kwire.config import LONG_MAX, Config
from kwire.log.api import LogConfig

# DescribeConfigs ConfigSource values (DescribeConfigsResponse.json).
SOURCE_DYNAMIC_TOPIC = 1
SOURCE_DYNAMIC_BROKER = 2
SOURCE_DYNAMIC_DEFAULT_BROKER = 3
SOURCE_STATIC_BROKER = 4
SOURCE_DEFAULT = 5

# DescribeConfigs v3+ ConfigType values.
TYPE_CODES = {"boolean": 1, "string": 2, "int": 3, "short": 4, "long": 5, "double": 6, "list": 7}


class InvalidConfig(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class TopicProperty:
    name: str
    type: str
    # The broker property this defaults to, or a function of the broker config.
    synonym: str | None
    default: Callable[[Config], Any]
    check: Callable[[Any], bool] | None = None


def _const(value: Any) -> Callable[[Config], Any]:
    return lambda _config: value


def _broker(key: str) -> Callable[[Config], Any]:
    return lambda config: config[key]


def _non_negative(v: Any) -> bool:
    return bool(v >= 0)


_TOPIC_PROPERTIES = [
    TopicProperty("cleanup.policy", "list", "log.cleanup.policy", _broker("log.cleanup.policy"),
                  lambda v: bool(v) and set(v) <= {"delete", "compact"}),
    TopicProperty("compression.type", "string", "compression.type", _broker("compression.type"),
                  lambda v: v == "producer"),
    TopicProperty("delete.retention.ms", "long", None, _const(86_400_000), _non_negative),
    TopicProperty("file.delete.delay.ms", "long", None, _const(60_000), _non_negative),
    TopicProperty("flush.messages", "long", "log.flush.interval.messages",
                  _broker("log.flush.interval.messages"), lambda v: v >= 1),
    TopicProperty("flush.ms", "long", "log.flush.interval.ms",
                  lambda c: c.log_flush_interval_ms, _non_negative),
    TopicProperty("index.interval.bytes", "int", "log.index.interval.bytes",
                  _broker("log.index.interval.bytes"), _non_negative),
    TopicProperty("max.compaction.lag.ms", "long", None, _const(LONG_MAX), lambda v: v >= 1),
    TopicProperty("max.message.bytes", "int", "message.max.bytes", _broker("message.max.bytes"),
                  _non_negative),
    TopicProperty("message.timestamp.type", "string", "log.message.timestamp.type",
                  _broker("log.message.timestamp.type"),
                  lambda v: v in ("CreateTime", "LogAppendTime")),
    TopicProperty("min.cleanable.dirty.ratio", "double", None, _const(0.5),
                  lambda v: 0.0 <= v <= 1.0),
    TopicProperty("min.compaction.lag.ms", "long", None, _const(0), _non_negative),
    TopicProperty("min.insync.replicas", "int", "min.insync.replicas",
                  _broker("min.insync.replicas"), lambda v: v >= 1),
    TopicProperty("preallocate", "boolean", None, _const(False)),
    TopicProperty("retention.bytes", "long", "log.retention.bytes", _broker("log.retention.bytes")),
    TopicProperty("retention.ms", "long", "log.retention.ms", lambda c: c.log_retention_ms,
                  lambda v: v >= -1),
    TopicProperty("segment.bytes", "int", "log.segment.bytes", _broker("log.segment.bytes"),
                  lambda v: v >= 14),
    TopicProperty("segment.index.bytes", "int", "log.index.size.max.bytes",
                  _broker("log.index.size.max.bytes"), lambda v: v >= 4),
    TopicProperty("segment.jitter.ms", "long", None, _const(0), _non_negative),
    TopicProperty("segment.ms", "long", "log.roll.ms", lambda c: c.log_roll_ms, lambda v: v >= 1),
    TopicProperty("unclean.leader.election.enable", "boolean", None, _const(False)),
]
TOPIC_PROPERTIES: Mapping[str, TopicProperty] = {p.name: p for p in _TOPIC_PROPERTIES}


def parse_value(prop: TopicProperty, raw: str) -> Any:
    text = raw.strip()
    try:
        if prop.type == "boolean":
            if text.lower() not in ("true", "false"):
                raise ValueError
            value: Any = text.lower() == "true"
        elif prop.type in ("int", "long"):
            value = int(text)
        elif prop.type == "double":
            value = float(text)
        elif prop.type == "list":
            value = [item.strip() for item in text.split(",") if item.strip()]
        else:
            value = text
    except ValueError:
        raise InvalidConfig(f"Invalid value {raw} for configuration {prop.name}") from None
    if prop.check is not None and not prop.check(value):
        raise InvalidConfig(f"Invalid value {raw} for configuration {prop.name}")
    return value


def validate(configs: Mapping[str, str | None]) -> dict[str, str]:
    """Check names and values; returns the configs to store (None values dropped)."""
    out: dict[str, str] = {}
    for name, raw in configs.items():
        prop = TOPIC_PROPERTIES.get(name)
        if prop is None:
            raise InvalidConfig(f"Unknown topic config name: {name}")
        if raw is None:
            raise InvalidConfig(f"Null value not supported for topic configs: {name}")
        parse_value(prop, raw)
        out[name] = raw.strip()
    return out


def render(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(value)
    return str(value)


@dataclass(frozen=True, slots=True)
class ConfigEntry:
    name: str
    value: str
    source: int
    type: str
    # (name, value, source) of lower-precedence values, as DescribeConfigs synonyms
    synonyms: tuple[tuple[str, str, int], ...]


def effective(config: Config, topic_configs: Mapping[str, str]) -> list[ConfigEntry]:
    """Every topic config with its value and where it came from."""
    entries = []
    for prop in _TOPIC_PROPERTIES:
        synonyms: list[tuple[str, str, int]] = []
        if prop.name in topic_configs:
            value = topic_configs[prop.name]
            source = SOURCE_DYNAMIC_TOPIC
            synonyms.append((prop.name, value, SOURCE_DYNAMIC_TOPIC))
        else:
            value = render(prop.default(config))
            explicit = prop.synonym is not None and prop.synonym in config.explicit
            source = SOURCE_STATIC_BROKER if explicit else SOURCE_DEFAULT
        if prop.synonym is not None:
            syn_source = SOURCE_STATIC_BROKER if prop.synonym in config.explicit else SOURCE_DEFAULT
            synonyms.append((prop.synonym, render(prop.default(config)), syn_source))
        entries.append(ConfigEntry(prop.name, value, source, prop.type, tuple(synonyms)))
    return entries


def typed(config: Config, topic_configs: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for prop in _TOPIC_PROPERTIES:
        raw = topic_configs.get(prop.name)
        out[prop.name] = parse_value(prop, raw) if raw is not None else prop.default(config)
    return out


def log_config(config: Config, topic_configs: Mapping[str, str]) -> LogConfig:
    t = typed(config, topic_configs)
    # Time and size retention apply only to the "delete" policy; a compact-only
    # topic (like __consumer_offsets) keeps every segment (Kafka's UnifiedLog
    # deleteOldSegments checks config.delete first).
    deletes = "delete" in t["cleanup.policy"]
    return LogConfig(
        segment_bytes=t["segment.bytes"],
        segment_ms=t["segment.ms"],
        retention_ms=t["retention.ms"] if deletes else -1,
        retention_bytes=t["retention.bytes"] if deletes else -1,
        flush_messages=t["flush.messages"],
        flush_ms=t["flush.ms"],
        index_interval_bytes=t["index.interval.bytes"],
        segment_index_bytes=t["segment.index.bytes"],
    )
