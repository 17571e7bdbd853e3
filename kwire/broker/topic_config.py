"""Topic-level configs: Kafka's names, defaults taken from the broker's synonyms,
validation, and the resulting `LogConfig`.

Types, ranges and messages are Kafka 4.1's LogConfig definitions, parsed by the
parser broker properties share (kwire/config/types.py).

A topic stores only the configs set on it; every other value comes from the
broker property Kafka names as its synonym (e.g. retention.ms ← log.retention.ms),
so DescribeConfigs reports the same values and sources Kafka would.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kwire.config import COMPRESSION_TYPE, LZ4_LEVEL, ZSTD_LEVEL, Config, GzipLevel
from kwire.config.dynamic import synonyms as broker_synonyms
from kwire.config.types import (
    BOOLEAN,
    DOUBLE,
    INT,
    LIST,
    LONG,
    LONG_MAX,
    STRING,
    ConfigException,
    ConfigKey,
    ConfigType,
    Validator,
    at_least,
    between,
    invalid_value,
    list_of,
    one_of,
    parse_value,
)
from kwire.config.types import render as render_value
from kwire.log.api import LogConfig
from kwire.records.batch import Compression
from kwire.records.validator import Settings

log = logging.getLogger("kwire.topic_config")

# DescribeConfigs ConfigSource values (DescribeConfigsResponse.json).
SOURCE_DYNAMIC_TOPIC = 1
SOURCE_DYNAMIC_BROKER = 2
SOURCE_DYNAMIC_DEFAULT_BROKER = 3
SOURCE_STATIC_BROKER = 4
SOURCE_DEFAULT = 5

# A refused topic config (Kafka's InvalidConfigurationException / ConfigException):
# the handlers answer INVALID_CONFIG with its message.
InvalidConfig = ConfigException


class ThrottledReplicas(Validator):
    """ThrottledReplicaListValidator: "*" or partitionId:brokerId items."""

    def ensure_valid(self, name: str, value: Any) -> None:
        if value == ["*"] or all(re.fullmatch(r"(\d+:\d+)?", item.strip()) for item in value):
            return
        raise invalid_value(name, value, (
            f"{name} must be the literal '*' or a list of replicas in the following format: "
            "[partitionId]:[brokerId],[partitionId]:[brokerId],..."))

    def describe(self) -> str:
        return "[partitionId]:[brokerId],[partitionId]:[brokerId],..."


class RemoteStorageDisabled(Validator):
    """LogConfig's check for a broker without tiered storage (remote.log.storage.
    system.enable=false, kwire's only state)."""

    def ensure_valid(self, name: str, value: Any) -> None:
        if value:
            raise ConfigException("Tiered Storage functionality is disabled in the broker. "
                                  "Topic cannot be configured with remote log storage.")

    def describe(self) -> str:
        return "false"


@dataclass(frozen=True, slots=True)
class TopicProperty:
    key: ConfigKey  # Kafka's name, type and validator (LogConfig's ConfigDef)
    # The broker property this defaults to, or a function of the broker config.
    synonym: str | None
    default: Callable[[Config], Any]
    # Kafka's internal configs (defineInternal): accepted, reported only when set.
    internal: bool = False

    @property
    def name(self) -> str:
        return self.key.name

    @property
    def type(self) -> ConfigType:
        return self.key.type


def _const(value: Any) -> Callable[[Config], Any]:
    return lambda _config: value


def _broker(key: str) -> Callable[[Config], Any]:
    return lambda config: config[key]


def _topic(name: str, type_: Any, synonym: str | None, default: Callable[[Config], Any],
           validator: Any = None, internal: bool = False) -> TopicProperty:
    # The ConfigKey's own default is unused: a topic's defaults come from the broker.
    return TopicProperty(ConfigKey(name, type_, None, validator), synonym, default, internal)


# Kafka 4.1's LogConfig definitions, in Kafka's define order: Kafka checks a
# request's configs in this order, so the first bad one it names is the same.
_TOPIC_PROPERTIES = [
    _topic("segment.bytes", INT, "log.segment.bytes", _broker("log.segment.bytes"),
           at_least(1024 * 1024)),
    _topic("segment.ms", LONG, "log.roll.ms", lambda c: c.log_roll_ms, at_least(1)),
    _topic("segment.jitter.ms", LONG, None, _const(0), at_least(0)),
    _topic("segment.index.bytes", INT, "log.index.size.max.bytes",
           _broker("log.index.size.max.bytes"), at_least(4)),
    _topic("flush.messages", LONG, "log.flush.interval.messages",
           _broker("log.flush.interval.messages"), at_least(1)),
    _topic("flush.ms", LONG, "log.flush.interval.ms", lambda c: c.log_flush_interval_ms,
           at_least(0)),
    _topic("retention.bytes", LONG, "log.retention.bytes", _broker("log.retention.bytes")),
    _topic("retention.ms", LONG, "log.retention.ms", lambda c: c.log_retention_ms, at_least(-1)),
    _topic("max.message.bytes", INT, "message.max.bytes", _broker("message.max.bytes"),
           at_least(0)),
    _topic("index.interval.bytes", INT, "log.index.interval.bytes",
           _broker("log.index.interval.bytes"), at_least(0)),
    _topic("delete.retention.ms", LONG, "log.cleaner.delete.retention.ms",
           _broker("log.cleaner.delete.retention.ms"), at_least(0)),
    _topic("min.compaction.lag.ms", LONG, "log.cleaner.min.compaction.lag.ms",
           _broker("log.cleaner.min.compaction.lag.ms"), at_least(0)),
    _topic("max.compaction.lag.ms", LONG, "log.cleaner.max.compaction.lag.ms",
           _broker("log.cleaner.max.compaction.lag.ms"), at_least(1)),
    _topic("file.delete.delay.ms", LONG, "log.segment.delete.delay.ms",
           _broker("log.segment.delete.delay.ms"), at_least(0)),
    _topic("min.cleanable.dirty.ratio", DOUBLE, "log.cleaner.min.cleanable.ratio",
           _broker("log.cleaner.min.cleanable.ratio"), between(0, 1)),
    # Kafka 4.4 takes a repeated policy on a topic (the broker's own list refuses it).
    _topic("cleanup.policy", LIST, "log.cleanup.policy", _broker("log.cleanup.policy"),
           list_of("compact", "delete", allow_duplicates=True)),
    _topic("unclean.leader.election.enable", BOOLEAN, "unclean.leader.election.enable",
           _broker("unclean.leader.election.enable")),
    _topic("min.insync.replicas", INT, "min.insync.replicas", _broker("min.insync.replicas"),
           at_least(1)),
    _topic("compression.type", STRING, "compression.type", _broker("compression.type"),
           COMPRESSION_TYPE),
    _topic("compression.gzip.level", INT, "compression.gzip.level",
           _broker("compression.gzip.level"), GzipLevel()),
    _topic("compression.lz4.level", INT, "compression.lz4.level",
           _broker("compression.lz4.level"), LZ4_LEVEL),
    _topic("compression.zstd.level", INT, "compression.zstd.level",
           _broker("compression.zstd.level"), ZSTD_LEVEL),
    _topic("preallocate", BOOLEAN, "log.preallocate", _broker("log.preallocate")),
    _topic("message.timestamp.type", STRING, "log.message.timestamp.type",
           _broker("log.message.timestamp.type"), one_of("CreateTime", "LogAppendTime")),
    _topic("message.timestamp.before.max.ms", LONG, "log.message.timestamp.before.max.ms",
           _broker("log.message.timestamp.before.max.ms"), at_least(0)),
    _topic("message.timestamp.after.max.ms", LONG, "log.message.timestamp.after.max.ms",
           _broker("log.message.timestamp.after.max.ms"), at_least(0)),
    # Kafka 4.4's replication throttles, tiered storage and decompression limit: kwire
    # has one replica, no tiered storage and no such limit yet, so these are checked,
    # stored and described as Kafka does, and change nothing (remote storage cannot
    # be turned on: Kafka's answer for a broker without tiered storage).
    _topic("leader.replication.throttled.replicas", LIST, None, _const([]),
           ThrottledReplicas()),
    _topic("follower.replication.throttled.replicas", LIST, None, _const([]),
           ThrottledReplicas()),
    _topic("remote.storage.enable", BOOLEAN, None, _const(False), RemoteStorageDisabled()),
    _topic("local.retention.ms", LONG, "log.local.retention.ms",
           _broker("log.local.retention.ms"), at_least(-2)),
    _topic("local.retention.bytes", LONG, "log.local.retention.bytes",
           _broker("log.local.retention.bytes"), at_least(-2)),
    _topic("remote.log.copy.disable", BOOLEAN, None, _const(False)),
    _topic("remote.log.delete.on.disable", BOOLEAN, None, _const(False)),
    _topic("remote.copy.lag.ms", LONG, "log.remote.copy.lag.ms",
           _broker("log.remote.copy.lag.ms"), at_least(-1)),
    _topic("remote.copy.lag.bytes", LONG, "log.remote.copy.lag.bytes",
           _broker("log.remote.copy.lag.bytes"), at_least(-1)),
    _topic("max.decompressed.message.bytes", INT, "max.decompressed.message.bytes",
           _broker("max.decompressed.message.bytes"), at_least(1)),
    _topic("errors.deadletterqueue.group.enable", BOOLEAN, None, _const(False)),
    # LogConfig.INTERNAL_SEGMENT_BYTES_CONFIG: "The maximum size of a single log
    # file. This should be used for testing only." No minimum; when set it wins
    # over segment.bytes (LogConfig.segmentSize()).
    _topic("internal.segment.bytes", INT, None, _const(None), internal=True),
]
TOPIC_PROPERTIES: Mapping[str, TopicProperty] = {p.name: p for p in _TOPIC_PROPERTIES}


def validate(configs: Mapping[str, str | None]) -> dict[str, str]:
    """Check names and values as Kafka's controller does (names first, then each
    value in LogConfig's order, then LogConfig.validateValues); returns the
    configs to store (None values dropped)."""
    for name, raw in configs.items():
        if name not in TOPIC_PROPERTIES:
            raise InvalidConfig(f"Unknown topic config name: {name}")
        if raw is None:
            raise InvalidConfig(f"Null value not supported for topic configs: {name}")
    parsed: dict[str, Any] = {}
    for prop in _TOPIC_PROPERTIES:
        raw = configs.get(prop.name)
        if raw is not None:
            parsed[prop.name] = parse_value(prop.key, raw)
    # LogConfig.validateValues, over the topic's values merged with the defaults.
    min_lag = parsed.get("min.compaction.lag.ms", 0)
    max_lag = parsed.get("max.compaction.lag.ms", LONG_MAX)
    if min_lag > max_lag:
        raise InvalidConfig(
            "conflict topic config setting min.compaction.lag.ms "
            f"({min_lag}) > max.compaction.lag.ms ({max_lag})")
    return {name: raw.strip() for name, raw in configs.items() if raw is not None}


def check_broker_defaults(config: Config) -> None:
    """Every topic default the broker's properties give must itself be a valid
    topic config, as Kafka checks by building its default LogConfig at start."""
    for prop in _TOPIC_PROPERTIES:
        if prop.synonym is None:
            continue
        value = prop.default(config)
        if value is not None and prop.key.validator is not None:
            prop.key.validator.ensure_valid(prop.name, value)


def render(value: Any) -> str:
    return render_value(value) or ""


@dataclass(frozen=True, slots=True)
class ConfigEntry:
    name: str
    value: str
    source: int
    type: ConfigType
    # (name, value, source) of lower-precedence values, as DescribeConfigs synonyms
    synonyms: tuple[tuple[str, str, int], ...]


def effective(config: Config, topic_configs: Mapping[str, str]) -> list[ConfigEntry]:
    """Every topic config with its value and where it came from (by name; an
    internal config only when set on the topic). Synonyms as Kafka's ConfigHelper
    lists them: the topic's own value, then the broker synonym's values from the
    dynamic per-broker, dynamic default, static and default layers."""
    entries = []
    for prop in sorted(_TOPIC_PROPERTIES, key=lambda p: p.name):
        if prop.internal and prop.name not in topic_configs:
            continue
        synonyms: list[tuple[str, str, int]] = []
        if prop.name in topic_configs:
            synonyms.append((prop.name, topic_configs[prop.name], SOURCE_DYNAMIC_TOPIC))
        if prop.synonym is not None:
            synonyms.extend((s.name, s.value or "", s.source)
                            for s in broker_synonyms(config, prop.synonym))
        if prop.name in topic_configs:
            value = topic_configs[prop.name]
        else:
            value = render(prop.default(config))
        source = synonyms[0][2] if synonyms else SOURCE_DEFAULT
        entries.append(ConfigEntry(prop.name, value, source, prop.type, tuple(synonyms)))
    return entries


# ServerTopicConfigSynonyms where a topic config has several broker synonyms, each
# with its unit conversion to the topic config's (the rest have one, factor 1).
_CONTROLLER_SYNONYMS: Mapping[str, tuple[tuple[str, int], ...]] = {
    "segment.ms": (("log.roll.ms", 1), ("log.roll.hours", 3_600_000)),
    "flush.ms": (("log.flush.interval.ms", 1), ("log.flush.scheduler.interval.ms", 1)),
    "retention.ms": (("log.retention.ms", 1), ("log.retention.minutes", 60_000),
                     ("log.retention.hours", 3_600_000)),
}


def resolved(config: Config, topic_configs: Mapping[str, str]) -> list[ConfigEntry]:
    """Every topic config as Kafka's controller resolves it for the CreateTopics
    response (KafkaConfigSchema.resolveEffectiveTopicConfig): the topic's value,
    else the first synonym set dynamically for this broker, then for the cluster,
    then statically (converted to the topic config's unit), else the default. Unlike
    DescribeConfigs, a static log.retention.hours counts for retention.ms here."""
    layers = ((config.dynamic_broker, SOURCE_DYNAMIC_BROKER),
              (config.dynamic_default, SOURCE_DYNAMIC_DEFAULT_BROKER))
    static = config.static_values
    entries = []
    for prop in sorted(_TOPIC_PROPERTIES, key=lambda p: p.name):
        if prop.internal and prop.name not in topic_configs:
            continue
        if prop.name in topic_configs:
            entries.append(ConfigEntry(prop.name, topic_configs[prop.name],
                                       SOURCE_DYNAMIC_TOPIC, prop.type, ()))
            continue
        synonyms = _CONTROLLER_SYNONYMS.get(prop.name) or (
            ((prop.synonym, 1),) if prop.synonym is not None else ())
        found: tuple[str, int] | None = None
        for layer, source in layers:
            for name, factor in synonyms:
                if found is None and name in layer:
                    found = (_scaled(layer[name], factor), source)
        for name, factor in synonyms:
            if found is None and name in config.explicit and static.get(name) is not None:
                found = (_scaled(render(static[name]), factor), SOURCE_STATIC_BROKER)
        value, source = found or (render(prop.default(config)), SOURCE_DEFAULT)
        entries.append(ConfigEntry(prop.name, value, source, prop.type, ()))
    return entries


def _scaled(raw: str, factor: int) -> str:
    # ConfigSynonym's HOURS_TO_MILLISECONDS / MINUTES_TO_MILLISECONDS converters.
    return raw if factor == 1 else str(int(raw.strip()) * factor)


def typed(config: Config, topic_configs: Mapping[str, str]) -> dict[str, Any]:
    """Every topic config's value, parsed. A stored value that today's rules
    refuse (stored by an older kwire, e.g. segment.bytes=14) is reported and
    replaced by the default rather than keeping the broker from starting."""
    out: dict[str, Any] = {}
    for prop in _TOPIC_PROPERTIES:
        raw = topic_configs.get(prop.name)
        if raw is not None:
            try:
                out[prop.name] = parse_value(prop.key, raw)
                continue
            except ConfigException as exc:
                log.warning("Ignoring a stored topic config: %s; using the default", exc)
        out[prop.name] = prop.default(config)
    return out


def log_config(config: Config, topic_configs: Mapping[str, str]) -> LogConfig:
    t = typed(config, topic_configs)
    # Time and size retention apply only to the "delete" policy; a compact-only
    # topic (like __consumer_offsets) keeps every segment (Kafka's UnifiedLog
    # deleteOldSegments checks config.delete first).
    deletes = "delete" in t["cleanup.policy"]
    return LogConfig(
        segment_bytes=(t["segment.bytes"] if t["internal.segment.bytes"] is None
                       else t["internal.segment.bytes"]),
        segment_ms=t["segment.ms"],
        retention_ms=t["retention.ms"] if deletes else -1,
        retention_bytes=t["retention.bytes"] if deletes else -1,
        flush_messages=t["flush.messages"],
        flush_ms=t["flush.ms"],
        index_interval_bytes=t["index.interval.bytes"],
        segment_index_bytes=t["segment.index.bytes"],
    )


_CODECS = {
    "uncompressed": Compression.NONE, "gzip": Compression.GZIP, "snappy": Compression.SNAPPY,
    "lz4": Compression.LZ4, "zstd": Compression.ZSTD,
}
_LEVELS = {
    Compression.GZIP: "compression.gzip.level", Compression.LZ4: "compression.lz4.level",
    Compression.ZSTD: "compression.zstd.level",
}


def validation_settings(config: Config, topic_configs: Mapping[str, str]) -> Settings:
    """What LogValidator checks and rewrites in this topic's produced batches."""
    t = typed(config, topic_configs)
    target = _CODECS.get(t["compression.type"])  # None: "producer"
    level_key = _LEVELS.get(target) if target is not None else None
    return Settings(
        compacted="compact" in t["cleanup.policy"],
        log_append_time=t["message.timestamp.type"] == "LogAppendTime",
        timestamp_before_max_ms=t["message.timestamp.before.max.ms"],
        timestamp_after_max_ms=t["message.timestamp.after.max.ms"],
        target=target,
        level=t[level_key] if level_key is not None else None,
    )
