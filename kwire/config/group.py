"""The GROUP config resource (Kafka 4.4's GroupConfig): per-group overrides of
the broker's group coordinator settings, checked against the broker's bounds.

kwire runs classic groups only, which none of these settings govern (in Kafka
they apply to consumer (KIP-848), share and streams groups); kwire checks,
stores and describes them exactly as Kafka does, so tools and admin clients see
Kafka's answers. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kwire.config import Config
from kwire.config.dynamic import SOURCE_DEFAULT, SOURCE_GROUP, Synonym, synonyms
from kwire.config.types import (
    BOOLEAN,
    INT,
    LIST,
    STRING,
    ConfigException,
    ConfigKey,
    ConfigType,
    Validator,
    at_least,
    invalid_value,
    list_of,
    one_of,
    parse_value,
    render,
)

# Kafka's InvalidConfigurationException (INVALID_CONFIG) for a group config.
InvalidGroupConfig = ConfigException

# java.time.Duration.parse's format (PnDTnHnMn.nS), as share.auto.offset.reset's
# by_duration: takes it.
_DURATION = re.compile(
    r"[-+]?P(?:[-+]?\d+D)?(?:T(?:[-+]?\d+H)?(?:[-+]?\d+M)?(?:[-+]?\d+(?:[.,]\d{0,9})?S)?)?",
    re.IGNORECASE)


class ShareAutoOffsetReset(Validator):
    """ShareGroupConfig's validator: earliest, latest or by_duration:<duration>."""

    def ensure_valid(self, name: str, value: Any) -> None:
        text = str(value)
        if text in ("earliest", "latest"):
            return
        if text.startswith("by_duration:"):
            duration = text[len("by_duration:"):]
            if (_DURATION.fullmatch(duration) and not duration.startswith("-")
                    and duration.upper() not in ("P", "PT")):
                return
        raise invalid_value(name, value, (
            f"Invalid value `{text}` for configuration {name}. The value must be either "
            "'earliest', 'latest' or of the format 'by_duration:<PnDTnHnMn.nS>'."))

    def describe(self) -> str:
        return "[earliest, latest, by_duration:PnDTnHnMn.nS]"


@dataclass(frozen=True, slots=True)
class GroupProperty:
    key: ConfigKey
    # The broker config this defaults to (None: the group config's own default).
    synonym: str | None
    # The broker configs holding the inclusive range the value must be in.
    bounds: tuple[str, str] | None = None

    @property
    def name(self) -> str:
        return self.key.name


def _g(name: str, type_: ConfigType, synonym: str | None, validator: Validator | None = None,
       bounds: tuple[str, str] | None = None, default: str | None = None) -> GroupProperty:
    return GroupProperty(ConfigKey(name, type_, default, validator), synonym, bounds)


def _range(kind: str, what: str) -> tuple[str, str]:
    return (f"group.{kind}.min.{what}", f"group.{kind}.max.{what}")


# Kafka 4.4's GroupConfig definitions, in its define order (the order it checks in).
_PROPERTIES = [
    _g("consumer.session.timeout.ms", INT, "group.consumer.session.timeout.ms", at_least(1),
       _range("consumer", "session.timeout.ms")),
    _g("consumer.heartbeat.interval.ms", INT, "group.consumer.heartbeat.interval.ms",
       at_least(1), _range("consumer", "heartbeat.interval.ms")),
    _g("consumer.assignment.interval.ms", INT, "group.consumer.assignment.interval.ms",
       at_least(0), _range("consumer", "assignment.interval.ms")),
    _g("share.session.timeout.ms", INT, "group.share.session.timeout.ms", at_least(1),
       _range("share", "session.timeout.ms")),
    _g("share.heartbeat.interval.ms", INT, "group.share.heartbeat.interval.ms", at_least(1),
       _range("share", "heartbeat.interval.ms")),
    _g("share.record.lock.duration.ms", INT, "group.share.record.lock.duration.ms",
       at_least(1000), _range("share", "record.lock.duration.ms")),
    _g("share.delivery.count.limit", INT, "group.share.delivery.count.limit", at_least(2),
       _range("share", "delivery.count.limit")),
    _g("share.partition.max.record.locks", INT, "group.share.partition.max.record.locks",
       at_least(100), _range("share", "partition.max.record.locks")),
    _g("share.assignment.interval.ms", INT, "group.share.assignment.interval.ms", at_least(0),
       _range("share", "assignment.interval.ms")),
    _g("share.auto.offset.reset", STRING, None, ShareAutoOffsetReset(), default="latest"),
    _g("share.isolation.level", STRING, None, one_of("read_committed", "read_uncommitted"),
       default="read_uncommitted"),
    _g("share.renew.acknowledge.enable", BOOLEAN, None, default="true"),
    _g("streams.session.timeout.ms", INT, "group.streams.session.timeout.ms", at_least(1),
       _range("streams", "session.timeout.ms")),
    _g("streams.heartbeat.interval.ms", INT, "group.streams.heartbeat.interval.ms",
       at_least(1), _range("streams", "heartbeat.interval.ms")),
    _g("streams.num.standby.replicas", INT, "group.streams.num.standby.replicas", at_least(0)),
    _g("streams.initial.rebalance.delay.ms", INT, "group.streams.initial.rebalance.delay.ms",
       at_least(0)),
    _g("streams.assignment.interval.ms", INT, "group.streams.assignment.interval.ms",
       at_least(0), _range("streams", "assignment.interval.ms")),
    _g("streams.assignor.name", STRING, "group.streams.assignors"),
    # No empty tag; a repeated one is refused by the check below, in its own words.
    _g("streams.rack.aware.assignment.tags", LIST, "group.streams.rack.aware.assignment.tags",
       list_of(allow_duplicates=True)),
    _g("errors.deadletterqueue.topic.name", STRING, None, default=""),
    _g("errors.deadletterqueue.copy.record.enable", BOOLEAN, None, default="false"),
]
GROUP_PROPERTIES: Mapping[str, GroupProperty] = {p.name: p for p in _PROPERTIES}


def default(prop: GroupProperty, broker: Config) -> Any:
    if prop.synonym is None:
        assert prop.key.default is not None
        return parse_value(prop.key, prop.key.default)
    value = broker[prop.synonym]
    # streams.assignor.name defaults to the first assignor the broker offers.
    return value[0] if prop.name == "streams.assignor.name" and value else value


def validate(configs: Mapping[str, str], broker: Config) -> None:
    """GroupConfig.validate over a group's whole new set of configs: names, then
    types and ranges, then the broker's bounds; raises with Kafka's message."""
    for name in configs:
        if name not in GROUP_PROPERTIES:
            raise InvalidGroupConfig(f"Unknown group config name: {name}")
    values: dict[str, Any] = {}
    for prop in _PROPERTIES:
        raw = configs.get(prop.name)
        values[prop.name] = (parse_value(prop.key, raw) if raw is not None
                             else default(prop, broker))
    for prop in _PROPERTIES:
        value = values[prop.name]
        if prop.bounds is not None:
            low, high = (int(broker[b]) for b in prop.bounds)
            if not low <= value <= high:
                raise InvalidGroupConfig(
                    f"{prop.name} must be in the range {low} to {high} inclusive.")
    standby_max = int(broker["group.streams.max.standby.replicas"])
    if values["streams.num.standby.replicas"] > standby_max:
        raise InvalidGroupConfig(
            f"streams.num.standby.replicas must be less than or equal to {standby_max}")
    assignors = list(broker["group.streams.assignors"])
    if values["streams.assignor.name"] not in assignors:
        raise InvalidGroupConfig(
            f"streams.assignor.name '{values['streams.assignor.name']}' is not a registered "
            f"task assignor. Registered assignors are: [{', '.join(assignors)}].")
    tags = values["streams.rack.aware.assignment.tags"]
    if len(set(tags)) != len(tags):
        raise InvalidGroupConfig(
            "streams.rack.aware.assignment.tags must not contain duplicate tag keys.")
    for kind in ("consumer", "share", "streams"):
        if values[f"{kind}.session.timeout.ms"] <= values[f"{kind}.heartbeat.interval.ms"]:
            raise InvalidGroupConfig(f"{kind}.session.timeout.ms must be greater than "
                                     f"{kind}.heartbeat.interval.ms")


@dataclass(frozen=True, slots=True)
class GroupEntry:
    name: str
    value: str | None
    source: int
    type: ConfigType
    synonyms: tuple[Synonym, ...]


def entries(configs: Mapping[str, str], broker: Config) -> list[GroupEntry]:
    """Every group config with its value and where it comes from (the group's own
    value, GROUP_CONFIG; else the broker's, with the broker's synonyms), by name."""
    out = []
    for prop in sorted(_PROPERTIES, key=lambda p: p.name):
        syn: list[Synonym] = []
        if prop.name in configs:
            syn.append(Synonym(prop.name, configs[prop.name], SOURCE_GROUP))
        if prop.synonym is not None:
            syn.extend(synonyms(broker, prop.synonym))
        else:
            syn.append(Synonym(prop.name, render(default(prop, broker)), SOURCE_DEFAULT))
        value = configs[prop.name] if prop.name in configs else render(default(prop, broker))
        source = syn[0].source if syn else SOURCE_DEFAULT
        out.append(GroupEntry(prop.name, value, source, prop.key.type, tuple(syn)))
    return out

