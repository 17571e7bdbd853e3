"""Broker configuration under Apache Kafka's own property names (server.properties).

`load_config` merges, in order: defaults, a `server.properties` file, `--set
key=value` overrides, then the `serve` flags. Every value is parsed and checked
here, at start, and a bad one is refused with a message naming the key.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("kwire.config")

LONG_MAX = 2**63 - 1
INT_MAX = 2**31 - 1


class ConfigError(ValueError):
    """A configuration value that the broker refuses; the message names the key."""


@dataclass(frozen=True, slots=True)
class BrokerProperty:
    name: str
    type: str  # boolean, int, long, string, list, double
    default: str | None
    check: Callable[[Any], bool] | None = None
    doc: str = ""


def _at_least(n: int) -> Callable[[Any], bool]:
    return lambda v: v >= n


def _one_of(*values: str) -> Callable[[Any], bool]:
    return lambda v: v in values


# Kafka's defaults (KafkaConfig / ServerLogConfigs / GroupCoordinatorConfig).
_PROPERTIES = [
    BrokerProperty("listeners", "list", "PLAINTEXT://127.0.0.1:9092"),
    BrokerProperty("advertised.listeners", "list", None),
    BrokerProperty("log.dirs", "list", None),
    BrokerProperty("log.dir", "string", "./kwire-data"),
    BrokerProperty("node.id", "int", "1", _at_least(0)),
    BrokerProperty("broker.id", "int", None, _at_least(0)),
    BrokerProperty("num.partitions", "int", "1", _at_least(1)),
    BrokerProperty("default.replication.factor", "int", "1", _at_least(1)),
    BrokerProperty("auto.create.topics.enable", "boolean", "true"),
    BrokerProperty("delete.topic.enable", "boolean", "true"),
    BrokerProperty("log.segment.bytes", "int", str(1024 * 1024 * 1024), _at_least(14)),
    BrokerProperty("log.roll.ms", "long", None, _at_least(1)),
    BrokerProperty("log.roll.hours", "int", "168", _at_least(1)),
    BrokerProperty("log.retention.ms", "long", None, _at_least(-1)),
    BrokerProperty("log.retention.minutes", "int", None, _at_least(-1)),
    BrokerProperty("log.retention.hours", "int", "168", _at_least(-1)),
    BrokerProperty("log.retention.bytes", "long", "-1", _at_least(-1)),
    BrokerProperty("log.retention.check.interval.ms", "long", "300000", _at_least(1)),
    BrokerProperty("log.flush.interval.messages", "long", str(LONG_MAX), _at_least(1)),
    BrokerProperty("log.flush.interval.ms", "long", None, _at_least(0)),
    BrokerProperty("log.flush.scheduler.interval.ms", "long", str(LONG_MAX), _at_least(0)),
    BrokerProperty("log.index.interval.bytes", "int", "4096", _at_least(0)),
    BrokerProperty("log.index.size.max.bytes", "int", str(10 * 1024 * 1024), _at_least(4)),
    BrokerProperty("log.cleanup.policy", "list", "delete"),
    BrokerProperty(
        "log.message.timestamp.type", "string", "CreateTime",
        _one_of("CreateTime", "LogAppendTime"),
    ),
    BrokerProperty("message.max.bytes", "int", "1048588", _at_least(0)),
    BrokerProperty("socket.request.max.bytes", "int", "104857600", _at_least(1)),
    BrokerProperty("max.connections", "int", str(INT_MAX), _at_least(0)),
    BrokerProperty("connections.max.idle.ms", "long", "600000", _at_least(-1)),
    BrokerProperty("min.insync.replicas", "int", "1", _at_least(1)),
    BrokerProperty("compression.type", "string", "producer", _one_of("producer")),
    BrokerProperty("producer.id.expiration.ms", "int", "86400000", _at_least(1)),
    BrokerProperty("offsets.topic.num.partitions", "int", "50", _at_least(1)),
    BrokerProperty("offsets.retention.minutes", "int", "10080", _at_least(1)),
    BrokerProperty("group.initial.rebalance.delay.ms", "int", "3000", _at_least(0)),
    BrokerProperty("group.min.session.timeout.ms", "int", "6000"),
    BrokerProperty("group.max.session.timeout.ms", "int", "1800000"),
    BrokerProperty("process.roles", "list", "broker,controller"),
]
BROKER_PROPERTIES: Mapping[str, BrokerProperty] = {p.name: p for p in _PROPERTIES}

# Keys a Kafka server.properties commonly carries that have no meaning for a
# single kwire process; accepted quietly so a Kafka file can be reused as is.
_IGNORED = re.compile(
    r"^(controller\.|inter\.broker\.|listener\.security\.protocol\.map|num\.network\.threads"
    r"|num\.io\.threads|num\.recovery\.threads|socket\.(send|receive)\.buffer\.bytes"
    r"|transaction\.state\.log\.|share\.|zookeeper\.|group\.coordinator\.|log\.cleaner\."
    r"|offsets\.topic\.replication\.factor)"
)


def _parse(prop: BrokerProperty, raw: str) -> Any:
    raw = raw.strip()
    try:
        if prop.type == "boolean":
            if raw.lower() not in ("true", "false"):
                raise ValueError(raw)
            value: Any = raw.lower() == "true"
        elif prop.type in ("int", "long"):
            value = int(raw)
            limit = INT_MAX if prop.type == "int" else LONG_MAX
            if not -limit - 1 <= value <= limit:
                raise ValueError(raw)
        elif prop.type == "double":
            value = float(raw)
        elif prop.type == "list":
            value = [item.strip() for item in raw.split(",") if item.strip()]
        else:
            value = raw
    except ValueError:
        raise ConfigError(f"Invalid value {raw!r} for configuration {prop.name}: "
                          f"expected a {prop.type}") from None
    if prop.check is not None and not prop.check(value):
        raise ConfigError(f"Invalid value {raw!r} for configuration {prop.name}")
    return value


@dataclass(frozen=True, slots=True)
class Listener:
    name: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.name}://{self.host}:{self.port}"


def parse_listener(key: str, raw: str) -> Listener:
    match = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)://(\[[^\]]*\]|[^:]*):(\d+)", raw.strip())
    if match is None:
        raise ConfigError(f"Invalid value {raw!r} for configuration {key}: "
                          "expected NAME://host:port")
    name, host, port = match.group(1), match.group(2).strip("[]"), int(match.group(3))
    if name != "PLAINTEXT":
        raise ConfigError(f"Invalid value {raw!r} for configuration {key}: "
                          "only the PLAINTEXT listener is supported")
    if not 0 <= port <= 65535:
        raise ConfigError(f"Invalid port in {raw!r} for configuration {key}")
    return Listener(name, host, port)


@dataclass(frozen=True)
class Config:
    """The broker's parsed settings. `values` holds every known property that was
    set (explicitly or by default); `explicit` names the ones the user set."""

    values: Mapping[str, Any]
    explicit: frozenset[str]

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    @property
    def node_id(self) -> int:
        broker_id = self.values.get("broker.id")
        return int(broker_id if broker_id is not None else self.values["node.id"])

    @property
    def listener(self) -> Listener:
        return parse_listener("listeners", self.values["listeners"][0])

    @property
    def advertised_listener(self) -> Listener:
        adv = self.values.get("advertised.listeners")
        if adv:
            return parse_listener("advertised.listeners", adv[0])
        return self.listener

    @property
    def data_dir(self) -> Path:
        dirs = self.values.get("log.dirs")
        return Path(dirs[0] if dirs else self.values["log.dir"])

    @property
    def log_retention_ms(self) -> int:
        v = self.values
        if v.get("log.retention.ms") is not None:
            return int(v["log.retention.ms"])
        if v.get("log.retention.minutes") is not None:
            return int(v["log.retention.minutes"]) * 60_000
        hours = int(v["log.retention.hours"])
        return -1 if hours < 0 else hours * 3_600_000

    @property
    def log_roll_ms(self) -> int:
        if self.values.get("log.roll.ms") is not None:
            return int(self.values["log.roll.ms"])
        return int(self.values["log.roll.hours"]) * 3_600_000

    @property
    def log_flush_interval_ms(self) -> int:
        ms = self.values.get("log.flush.interval.ms")
        return int(ms) if ms is not None else int(self.values["log.flush.scheduler.interval.ms"])

    def describe(self) -> list[tuple[str, str | None, bool]]:
        """(name, value as Kafka prints it, is_default) for DescribeConfigs."""
        out = []
        for name in sorted(BROKER_PROPERTIES):
            value = self.values.get(name)
            out.append((name, _render(value), name not in self.explicit))
        return out


def _render(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(value)
    return str(value)


def read_properties(path: Path) -> dict[str, str]:
    """Java .properties, the subset server.properties files use: key=value or
    key: value lines, # and ! comments, backslash line continuations."""
    out: dict[str, str] = {}
    pending = ""
    for raw_line in path.read_text(encoding="utf-8").splitlines():
        line = pending + raw_line.strip()
        pending = ""
        if not line or line[0] in "#!":
            continue
        if line.endswith("\\"):
            pending = line[:-1]
            continue
        match = re.match(r"([^=:\s]+)\s*[=:\s]\s*(.*)", line)
        if match is None:
            out[line] = ""
        else:
            out[match.group(1)] = match.group(2)
    return out


def load_config(
    file: Path | None = None,
    overrides: Mapping[str, str] | None = None,
    host: str | None = None,
    port: int | None = None,
    data_dir: str | None = None,
) -> Config:
    raw: dict[str, str] = {}
    if file is not None:
        try:
            raw.update(read_properties(file))
        except OSError as exc:
            raise ConfigError(f"Cannot read config file {file}: {exc}") from None
    raw.update(overrides or {})

    values: dict[str, Any] = {}
    for name, prop in BROKER_PROPERTIES.items():
        if prop.default is not None:
            values[name] = _parse(prop, prop.default)
        else:
            values[name] = None
    explicit: set[str] = set()
    for key, text in raw.items():
        known = BROKER_PROPERTIES.get(key)
        if known is None:
            if not _IGNORED.match(key):
                log.warning("The configuration %s was supplied but is not used by kwire", key)
            continue
        values[key] = _parse(known, text)
        explicit.add(key)

    if host is not None or port is not None:
        current = parse_listener("listeners", values["listeners"][0])
        new_host = host if host is not None else current.host
        new_port = port if port is not None else current.port
        values["listeners"] = [str(Listener("PLAINTEXT", new_host, new_port))]
        explicit.add("listeners")
    if data_dir is not None:
        values["log.dirs"] = [data_dir]
        explicit.add("log.dirs")

    config = Config(values=values, explicit=frozenset(explicit))
    _check(config)
    return config


def _check(config: Config) -> None:
    for key in ("listeners", "advertised.listeners"):
        for item in config.values.get(key) or []:
            parse_listener(key, item)
    adv = config.advertised_listener
    if adv.host in ("0.0.0.0", "::", ""):
        raise ConfigError(
            "advertised.listeners cannot use the nonroutable meta-address "
            f"{adv.host or '(empty)'}: set advertised.listeners to an address clients can reach"
        )
    if config.values.get("log.dirs") is not None and len(config.values["log.dirs"]) != 1:
        raise ConfigError("log.dirs: kwire uses exactly one log directory")
