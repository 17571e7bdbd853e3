"""Broker configuration under Apache Kafka's own property names (server.properties).

`load_config` merges, in order: defaults, a `server.properties` file, `--set
key=value` overrides, then the `serve` flags. Every value is parsed and checked
here, at start, with Kafka's types, ranges and messages (the shared parser in
kwire/config/types.py) and Kafka's checks across properties; a bad value is
refused as Kafka refuses it ("Invalid value X for configuration Y: ...").

`Config.with_dynamic` lays the dynamic broker configs (AlterConfigs on a BROKER
resource; kwire/config/dynamic.py) over these static values, as Kafka does.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kwire.config.types import (
    BOOLEAN,
    DOUBLE,
    INT,
    LIST,
    LONG,
    SHORT,
    STRING,
    ConfigException,
    ConfigKey,
    Validator,
    at_least,
    between,
    invalid_value,
    list_of,
    one_of,
    parse_value,
    render,
)

# Re-exported: other modules take Kafka's integer bounds from here.
from kwire.config.types import INT_MAX as INT_MAX
from kwire.config.types import LONG_MAX as LONG_MAX

log = logging.getLogger("kwire.config")


class ConfigError(ConfigException):
    """A configuration value that the broker refuses; the message names the key."""


BrokerProperty = ConfigKey  # one broker property: Kafka's name, type, default, validator

# compression.type (broker and topic), BrokerCompressionType's names: producer
# keeps each batch as the producer compressed it; any other value makes the broker
# re-encode batches in another codec (kwire/records/validator.py).
COMPRESSION_TYPE = one_of("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")


class GzipLevel(Validator):
    """CompressionType.GZIP.levelValidator: 1..9 (Deflater's range) or -1 (default)."""

    def ensure_valid(self, name: str, value: Any) -> None:
        if value is None:
            raise invalid_value(name, value, "Value must be non-null")
        if value > 9 or (value < 1 and value != -1):
            raise invalid_value(name, value, "Value must be between 1 and 9 or equal to -1")

    def describe(self) -> str:
        return "[1,...,9] or -1"


# CompressionType.LZ4/ZSTD level ranges (lz4-java's and zstd's).
LZ4_LEVEL = between(1, 17)
ZSTD_LEVEL = between(-131072, 22)

# Kafka 4.1's definitions (KafkaConfig / ServerLogConfigs / SocketServerConfigs /
# GroupCoordinatorConfig / ServerConfigs, checked against the 4.1.2 jars): same
# type, same validator. Defaults are Kafka's except listeners, log.dir and node.id
# (kwire runs with no file at all). The four LIST ones below parse to lists (read
# them with split_list); kwire's own checks of their items are in _check.
_PROPERTIES = [
    ConfigKey("listeners", LIST, "PLAINTEXT://127.0.0.1:9092"),
    ConfigKey("advertised.listeners", LIST, None),
    ConfigKey("log.dirs", LIST, None),
    ConfigKey("log.dir", LIST, "./kwire-data"),
    ConfigKey("node.id", INT, "1", at_least(0)),
    # Kafka: no range; it must equal node.id when both are set (checked below).
    ConfigKey("broker.id", INT, None),
    ConfigKey("num.partitions", INT, "1", at_least(1)),
    ConfigKey("default.replication.factor", INT, "1"),
    ConfigKey("auto.create.topics.enable", BOOLEAN, "true"),
    ConfigKey("delete.topic.enable", BOOLEAN, "true"),
    ConfigKey("log.segment.bytes", INT, str(1024 * 1024 * 1024), at_least(1024 * 1024)),
    ConfigKey("log.roll.ms", LONG, None),
    ConfigKey("log.roll.hours", INT, "168", at_least(1)),
    ConfigKey("log.retention.ms", LONG, None),
    ConfigKey("log.retention.minutes", INT, None),
    ConfigKey("log.retention.hours", INT, "168"),
    ConfigKey("log.retention.bytes", LONG, "-1"),
    ConfigKey("log.retention.check.interval.ms", LONG, "300000", at_least(1)),
    ConfigKey("log.flush.interval.messages", LONG, str(LONG_MAX), at_least(1)),
    ConfigKey("log.flush.interval.ms", LONG, None),
    ConfigKey("log.flush.scheduler.interval.ms", LONG, str(LONG_MAX)),
    ConfigKey("log.index.interval.bytes", INT, "4096", at_least(0)),
    ConfigKey("log.index.size.max.bytes", INT, str(10 * 1024 * 1024), at_least(4)),
    ConfigKey("log.cleanup.policy", LIST, "delete", list_of("compact", "delete")),
    ConfigKey("log.message.timestamp.type", STRING, "CreateTime",
              one_of("CreateTime", "LogAppendTime")),
    ConfigKey("log.message.timestamp.before.max.ms", LONG, str(LONG_MAX), at_least(0)),
    ConfigKey("log.message.timestamp.after.max.ms", LONG, "3600000", at_least(0)),
    ConfigKey("message.max.bytes", INT, "1048588", at_least(0)),
    ConfigKey("socket.request.max.bytes", INT, "104857600", at_least(1)),
    # Kafka's cap on one Fetch response, whatever the client asks for.
    ConfigKey("fetch.max.bytes", INT, "57671680", at_least(1024)),
    # Incremental fetch sessions (KIP-227) the broker keeps; 0 disables them.
    ConfigKey("max.incremental.fetch.session.cache.slots", INT, "1000", at_least(0)),
    # Bytes of requests read but not yet answered, across all connections (<= 0: no cap).
    ConfigKey("queued.max.request.bytes", LONG, "-1"),
    ConfigKey("max.connections", INT, str(INT_MAX), at_least(0)),
    # Kafka: no range; negative disables idle expiry; 0..100 refused (checked below).
    ConfigKey("connections.max.idle.ms", LONG, "600000"),
    ConfigKey("min.insync.replicas", INT, "1", at_least(1)),
    ConfigKey("compression.type", STRING, "producer", COMPRESSION_TYPE),
    ConfigKey("compression.gzip.level", INT, "-1", GzipLevel()),
    ConfigKey("compression.lz4.level", INT, "9", LZ4_LEVEL),
    ConfigKey("compression.zstd.level", INT, "3", ZSTD_LEVEL),
    ConfigKey("producer.id.expiration.ms", INT, "86400000", at_least(1)),
    # Kafka's internal (defineInternal) TransactionLogConfig setting (INTERNAL below).
    ConfigKey("producer.id.expiration.check.interval.ms", INT, "600000", at_least(1)),
    ConfigKey("offsets.topic.num.partitions", INT, "50", at_least(1)),
    ConfigKey("offsets.retention.minutes", INT, "10080", at_least(1)),
    ConfigKey("group.initial.rebalance.delay.ms", INT, "3000"),
    ConfigKey("group.min.session.timeout.ms", INT, "6000"),
    ConfigKey("group.max.session.timeout.ms", INT, "1800000"),
    ConfigKey("process.roles", LIST, "broker,controller", list_of("broker", "controller")),
    # Kafka's dynamically updatable thread counts and log cleaner settings: kwire
    # has no such threads and no log cleaner yet, so they are checked, stored and
    # described (a tool that sets them keeps working) but change nothing.
    ConfigKey("background.threads", INT, "10", at_least(1)),
    ConfigKey("num.io.threads", INT, "8", at_least(1)),
    ConfigKey("num.network.threads", INT, "3", at_least(1)),
    ConfigKey("num.recovery.threads.per.data.dir", INT, "2", at_least(1)),
    ConfigKey("num.replica.fetchers", INT, "1", at_least(1)),
    ConfigKey("log.cleaner.threads", INT, "1", at_least(0)),
    ConfigKey("log.cleaner.io.max.bytes.per.second", DOUBLE, "1.7976931348623157E308"),
    ConfigKey("log.cleaner.dedupe.buffer.size", LONG, "134217728"),
    ConfigKey("log.cleaner.io.buffer.size", INT, "524288", at_least(0)),
    ConfigKey("log.cleaner.io.buffer.load.factor", DOUBLE, "0.9"),
    ConfigKey("log.cleaner.backoff.ms", LONG, "15000", at_least(0)),
    ConfigKey("log.cleaner.min.cleanable.ratio", DOUBLE, "0.5", between(0, 1)),
    ConfigKey("log.cleaner.delete.retention.ms", LONG, "86400000", at_least(0)),
    ConfigKey("log.cleaner.min.compaction.lag.ms", LONG, "0", at_least(0)),
    ConfigKey("log.cleaner.max.compaction.lag.ms", LONG, str(LONG_MAX), at_least(1)),
    ConfigKey("log.segment.delete.delay.ms", LONG, "60000", at_least(0)),
    ConfigKey("log.preallocate", BOOLEAN, "false"),
    # Tiered storage and decompression-limit defaults (kwire has neither yet).
    ConfigKey("log.local.retention.ms", LONG, "-2", at_least(-2)),
    ConfigKey("log.local.retention.bytes", LONG, "-2", at_least(-2)),
    ConfigKey("log.remote.copy.lag.ms", LONG, "0", at_least(-1)),
    ConfigKey("log.remote.copy.lag.bytes", LONG, "-1", at_least(-1)),
    ConfigKey("max.decompressed.message.bytes", INT, "2147483639", at_least(1)),
    ConfigKey("unclean.leader.election.enable", BOOLEAN, "false"),
    # Cluster mode: the rack a broker registers with (rack-aware replica placement),
    # whether the controller spreads leaderships over brokers as they arrive, and
    # whether SIGTERM hands leaderships over before the broker exits.
    ConfigKey("broker.rack", STRING, None),
    ConfigKey("auto.leader.rebalance.enable", BOOLEAN, "true"),
    ConfigKey("controlled.shutdown.enable", BOOLEAN, "true"),
    # Replicas of __consumer_offsets partitions (a leadership preference list in
    # cluster mode), capped at the live brokers when the topic is created.
    ConfigKey("offsets.topic.replication.factor", SHORT, "3", at_least(1)),
    # TransactionStateManagerConfig / TransactionLogConfig (the transaction coordinator).
    ConfigKey("transaction.state.log.num.partitions", INT, "50", at_least(1)),
    # KIP-890 part 1: a producer's first transactional write to a partition is
    # checked with the transaction coordinator (dynamic, as in Kafka).
    ConfigKey("transaction.partition.verification.enable", BOOLEAN, "true"),
    ConfigKey("transaction.state.log.replication.factor", SHORT, "3", at_least(1)),
    ConfigKey("transaction.max.timeout.ms", INT, "900000", at_least(1)),
    ConfigKey("transactional.id.expiration.ms", INT, "604800000", at_least(1)),
    ConfigKey("transaction.abort.timed.out.transaction.cleanup.interval.ms", INT, "10000",
              at_least(1)),
    ConfigKey("transaction.remove.expired.transaction.cleanup.interval.ms", INT, "3600000",
              at_least(1)),
    # GroupCoordinatorConfig / ShareGroupConfig (Kafka 4.4): the defaults of the
    # GROUP config resource (kwire/config/group.py) and the bounds it is checked
    # against. The group.consumer.* ones drive consumer groups (KIP-848); the share
    # and streams ones are read, not used (kwire has no share or streams groups).
    ConfigKey("group.consumer.session.timeout.ms", INT, "45000", at_least(1)),
    ConfigKey("group.consumer.min.session.timeout.ms", INT, "45000", at_least(1)),
    ConfigKey("group.consumer.max.session.timeout.ms", INT, "60000", at_least(1)),
    ConfigKey("group.consumer.heartbeat.interval.ms", INT, "5000", at_least(1)),
    ConfigKey("group.consumer.min.heartbeat.interval.ms", INT, "5000", at_least(1)),
    ConfigKey("group.consumer.max.heartbeat.interval.ms", INT, "15000", at_least(1)),
    ConfigKey("group.consumer.assignment.interval.ms", INT, "1000", at_least(0)),
    ConfigKey("group.consumer.max.size", INT, str(INT_MAX), at_least(1)),
    ConfigKey("group.consumer.assignors", LIST, "uniform,range", list_of("uniform", "range")),
    ConfigKey("group.consumer.migration.policy", STRING, "bidirectional",
              one_of("bidirectional", "upgrade", "downgrade", "disabled")),
    # Kafka's internal (defineInternal) setting, at least 10 s.
    ConfigKey("group.consumer.regex.refresh.interval.ms", INT, "600000", at_least(10000)),
    # Kafka 4.4 enables classic,consumer,streams; kwire has no streams groups.
    # ConsumerGroupHeartbeat/Describe are served and advertised while `consumer` is in.
    ConfigKey("group.coordinator.rebalance.protocols", LIST, "classic,consumer",
              list_of("classic", "consumer", "streams", "share")),
    ConfigKey("group.consumer.min.assignment.interval.ms", INT, "0", at_least(0)),
    ConfigKey("group.consumer.max.assignment.interval.ms", INT, "15000", at_least(0)),
    ConfigKey("group.share.session.timeout.ms", INT, "45000", at_least(1)),
    ConfigKey("group.share.min.session.timeout.ms", INT, "45000", at_least(1)),
    ConfigKey("group.share.max.session.timeout.ms", INT, "60000", at_least(1)),
    ConfigKey("group.share.heartbeat.interval.ms", INT, "5000", at_least(1)),
    ConfigKey("group.share.min.heartbeat.interval.ms", INT, "5000", at_least(1)),
    ConfigKey("group.share.max.heartbeat.interval.ms", INT, "15000", at_least(1)),
    ConfigKey("group.share.assignment.interval.ms", INT, "1000", at_least(0)),
    ConfigKey("group.share.min.assignment.interval.ms", INT, "0", at_least(0)),
    ConfigKey("group.share.max.assignment.interval.ms", INT, "15000", at_least(0)),
    ConfigKey("group.share.record.lock.duration.ms", INT, "30000", at_least(1000)),
    ConfigKey("group.share.min.record.lock.duration.ms", INT, "15000", at_least(1000)),
    ConfigKey("group.share.max.record.lock.duration.ms", INT, "60000", at_least(1000)),
    ConfigKey("group.share.delivery.count.limit", INT, "5", at_least(2)),
    ConfigKey("group.share.min.delivery.count.limit", INT, "2", at_least(2)),
    ConfigKey("group.share.max.delivery.count.limit", INT, "10", at_least(2)),
    ConfigKey("group.share.partition.max.record.locks", INT, "2000", at_least(100)),
    ConfigKey("group.share.min.partition.max.record.locks", INT, "100", at_least(100)),
    ConfigKey("group.share.max.partition.max.record.locks", INT, "4000", at_least(100)),
    ConfigKey("group.streams.session.timeout.ms", INT, "45000", at_least(1)),
    ConfigKey("group.streams.min.session.timeout.ms", INT, "45000", at_least(1)),
    ConfigKey("group.streams.max.session.timeout.ms", INT, "60000", at_least(1)),
    ConfigKey("group.streams.heartbeat.interval.ms", INT, "5000", at_least(1)),
    ConfigKey("group.streams.min.heartbeat.interval.ms", INT, "5000", at_least(1)),
    ConfigKey("group.streams.max.heartbeat.interval.ms", INT, "15000", at_least(1)),
    ConfigKey("group.streams.assignment.interval.ms", INT, "1000", at_least(0)),
    ConfigKey("group.streams.min.assignment.interval.ms", INT, "0", at_least(0)),
    ConfigKey("group.streams.max.assignment.interval.ms", INT, "15000", at_least(0)),
    ConfigKey("group.streams.initial.rebalance.delay.ms", INT, "3000", at_least(0)),
    ConfigKey("group.streams.num.standby.replicas", INT, "0", at_least(0)),
    ConfigKey("group.streams.max.standby.replicas", INT, "2", at_least(0)),
    ConfigKey("group.streams.assignors", LIST, "sticky", list_of()),
    ConfigKey("group.streams.rack.aware.assignment.tags", LIST, "", list_of()),
    # Cluster storage (docs/cluster-storage.md): kwire's own keys beside Kafka's
    # ZooKeeper-mode ones. log.storage picks the partition log: local segment
    # files (the default), memory (nothing kept), or BookKeeper ledgers with
    # their list and kwire's metadata in ZooKeeper.
    ConfigKey("log.storage", STRING, "local", one_of("local", "memory", "bookkeeper")),
    ConfigKey("zookeeper.connect", STRING, None),
    ConfigKey("zookeeper.session.timeout.ms", INT, "18000", at_least(1)),
    # How long start-up waits for ZooKeeper (unset: the session timeout), as in Kafka.
    ConfigKey("zookeeper.connection.timeout.ms", INT, None, at_least(1)),
    ConfigKey("bookkeeper.ensemble.size", INT, "3", at_least(1)),
    ConfigKey("bookkeeper.write.quorum.size", INT, "2", at_least(1)),
    ConfigKey("bookkeeper.ack.quorum.size", INT, "2", at_least(1)),
    ConfigKey("bookkeeper.digest.type", STRING, "CRC32C",
              one_of("CRC32C", "CRC32", "MAC", "DUMMY")),
    ConfigKey("bookkeeper.password", STRING, ""),
    # BookKeeper's metadata root: the path in bookies' metadataServiceUri, absolute
    # (a zookeeper.connect chroot applies to kwire's own znodes only).
    ConfigKey("bookkeeper.metadata.root", STRING, "/ledgers"),
    # BookKeeper's addEntryTimeoutSec / readEntryTimeoutSec (5 s), in ms.
    ConfigKey("bookkeeper.add.entry.timeout.ms", INT, "5000", at_least(1)),
    ConfigKey("bookkeeper.read.entry.timeout.ms", INT, "5000", at_least(1)),
    # Recent entries the partition owner keeps to serve tail reads without bookies.
    ConfigKey("bookkeeper.entry.cache.bytes", LONG, str(64 * 1024 * 1024), at_least(0)),
]
BROKER_PROPERTIES: Mapping[str, ConfigKey] = {p.name: p for p in _PROPERTIES}

# Kafka's internal broker configs (ConfigDef.defineInternal): settable like any
# other, but DescribeConfigs lists one only when server.properties sets it
# (ConfigHelper describes the originals and the non-internal values).
INTERNAL: frozenset[str] = frozenset({"producer.id.expiration.check.interval.ms",
                                     "group.consumer.regex.refresh.interval.ms"})

# kwire's own keys (and Kafka's ZooKeeper-mode ones, which Kafka 4 no longer
# has): described, like internal ones, only when set, so that a broker on
# default settings describes the same config names as Kafka 4.4.
KWIRE_ONLY: frozenset[str] = frozenset(
    name for name in BROKER_PROPERTIES
    if name == "log.storage" or name.startswith(("zookeeper.", "bookkeeper.")))

# Described with a null value (Kafka's PASSWORD type).
SENSITIVE: frozenset[str] = frozenset({"bookkeeper.password"})

# Kafka's connection.failed.authentication.delay.ms default; kwire has no
# authentication, but Kafka's check of connections.max.idle.ms against it stands.
FAILED_AUTHENTICATION_DELAY_MS = 100

# Keys a Kafka server.properties commonly carries that have no meaning for a
# single kwire process; accepted quietly so a Kafka file can be reused as is.
_IGNORED = re.compile(
    r"^(controller\.|inter\.broker\.|listener\.security\.protocol\.map|num\.network\.threads"
    r"|num\.io\.threads|num\.recovery\.threads|socket\.(send|receive)\.buffer\.bytes"
    r"|transaction\.state\.log\.|share\.|group\.coordinator\.|log\.cleaner\."
    r"|offsets\.topic\.replication\.factor)"
)


def _parse(prop: ConfigKey, raw: str) -> Any:
    try:
        return parse_value(prop, raw)
    except ConfigException as exc:
        raise ConfigError(str(exc)) from None


def split_list(value: str | list[str] | None) -> list[str]:
    """The non-empty items of a LIST value (listeners, log.dirs: parsed lists) or
    of a comma-separated string."""
    items = value.split(",") if isinstance(value, str) else (value or [])
    return [item.strip() for item in items if item.strip()]


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
        raise ConfigError(str(invalid_value(key, raw, "expected NAME://host:port")))
    name, host, port = match.group(1), match.group(2).strip("[]"), int(match.group(3))
    if name != "PLAINTEXT":
        raise ConfigError(str(invalid_value(key, raw, "only the PLAINTEXT listener is supported")))
    if not 0 <= port <= 65535:
        raise ConfigError(str(invalid_value(key, raw, f"port {port} is out of range")))
    return Listener(name, host, port)


@dataclass(frozen=True)
class Config:
    """The broker's parsed settings. `values` holds every known property that was
    set (explicitly or by default); `explicit` names the ones the user set."""

    values: Mapping[str, Any]
    explicit: frozenset[str]
    # Kafka's precedence, lowest first: defaults and static properties (`static`,
    # None = `values`), then dynamic configs set through AlterConfigs for the whole
    # cluster (`dynamic_default`) and for this broker (`dynamic_broker`), kept as
    # the strings stored (unknown names too, as Kafka keeps them).
    static: Mapping[str, Any] | None = None
    dynamic_default: Mapping[str, str] = field(default_factory=dict)
    dynamic_broker: Mapping[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    @property
    def node_id(self) -> int:
        broker_id = self.values.get("broker.id")
        return int(broker_id if broker_id is not None else self.values["node.id"])

    @property
    def listener(self) -> Listener:
        return parse_listener("listeners", split_list(self.values["listeners"])[0])

    @property
    def advertised_listener(self) -> Listener:
        adv = split_list(self.values.get("advertised.listeners"))
        if adv:
            return parse_listener("advertised.listeners", adv[0])
        return self.listener

    @property
    def data_dir(self) -> Path:
        dirs = split_list(self.values.get("log.dirs"))
        return Path(dirs[0] if dirs else self.values["log.dir"])

    @property
    def log_retention_ms(self) -> int:
        """KafkaConfig.logRetentionTimeMillis: ms, else minutes, else hours; any
        negative result means unlimited (-1)."""
        v = self.values
        if v.get("log.retention.ms") is not None:
            ms = int(v["log.retention.ms"])
        elif v.get("log.retention.minutes") is not None:
            ms = int(v["log.retention.minutes"]) * 60_000
        else:
            ms = int(v["log.retention.hours"]) * 3_600_000
        return -1 if ms < 0 else ms

    @property
    def log_roll_ms(self) -> int:
        if self.values.get("log.roll.ms") is not None:
            return int(self.values["log.roll.ms"])
        return int(self.values["log.roll.hours"]) * 3_600_000

    @property
    def log_flush_interval_ms(self) -> int:
        ms = self.values.get("log.flush.interval.ms")
        return int(ms) if ms is not None else int(self.values["log.flush.scheduler.interval.ms"])

    @property
    def static_values(self) -> Mapping[str, Any]:
        return self.values if self.static is None else self.static

    def with_dynamic(self, default: Mapping[str, str], broker: Mapping[str, str]) -> Config:
        """This broker's config under the given dynamic configs (cluster default,
        then per broker, each over the static properties). A stored value that
        today's rules refuse is logged and skipped rather than stopping the broker."""
        values = dict(self.static_values)
        for layer in (default, broker):
            for name, raw in layer.items():
                prop = BROKER_PROPERTIES.get(name)
                if prop is None:
                    continue
                try:
                    values[name] = parse_value(prop, raw)
                except ConfigException as exc:
                    log.warning("Ignoring a stored dynamic broker config: %s", exc)
        return Config(values=values, explicit=self.explicit, static=self.static_values,
                      dynamic_default=dict(default), dynamic_broker=dict(broker))



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
        current = parse_listener("listeners", split_list(values["listeners"])[0])
        new_host = host if host is not None else current.host
        new_port = port if port is not None else current.port
        values["listeners"] = [str(Listener("PLAINTEXT", new_host, new_port))]
        explicit.add("listeners")
    if data_dir is not None:
        values["log.dirs"] = [data_dir]
        explicit.add("log.dirs")
    # KafkaConfig.populateSynonyms: node.id and broker.id are one setting; the one
    # given stands for the other too (DescribeConfigs then reports both as static).
    if "node.id" in explicit and "broker.id" not in explicit:
        values["broker.id"] = values["node.id"]
        explicit.add("broker.id")
    elif "broker.id" in explicit and "node.id" not in explicit:
        values["node.id"] = values["broker.id"]
        explicit.add("node.id")

    config = Config(values=values, explicit=frozenset(explicit))
    _check(config)
    return config


class RequirementFailed(ConfigError):
    """One of KafkaConfig's Scala `require`s; Kafka's message has the prefix
    "requirement failed: ", which kwire's start-up message leaves out."""


def check_requirements(config: Config) -> None:
    """KafkaConfig.validateValues' checks of the values a dynamic config can change."""
    if config.log_roll_ms < 1:
        raise RequirementFailed("log.roll.ms must be greater than or equal to 1")
    retention = config.log_retention_ms
    if retention != -1 and retention < 1:
        raise RequirementFailed(
            "log.retention.ms must be unlimited (-1) or, greater than or equal to 1")


def _check(config: Config) -> None:
    """Kafka's checks across properties (KafkaConfig.validateValues), then kwire's own."""
    values = config.values
    if not split_list(values["listeners"]):
        raise ConfigError(str(invalid_value("listeners", render(values["listeners"]),
                                            "at least one listener is needed")))
    for key in ("listeners", "advertised.listeners"):
        for item in split_list(values.get(key)):
            parse_listener(key, item)
    adv = config.advertised_listener
    if adv.host in ("0.0.0.0", "::", ""):
        raise ConfigError(
            "advertised.listeners cannot use the nonroutable meta-address "
            f"{adv.host or '(empty)'}: set advertised.listeners to an address clients can reach"
        )
    if len(split_list(values.get("log.dirs"))) > 1:
        raise ConfigError("log.dirs: kwire uses exactly one log directory")

    # Kafka states these as Scala `require`s; the "requirement failed: " prefix is left out.
    if {"broker.id", "node.id"} <= config.explicit and values["broker.id"] != values["node.id"]:
        raise ConfigError("You must set `node.id` to the same value as `broker.id`.")
    if "broker.id" in config.explicit:
        # kwire takes broker.id as the node id when node.id is not set, so it
        # must satisfy node.id's own rule.
        try:
            BROKER_PROPERTIES["node.id"].parse(str(values["broker.id"]))
        except ConfigException:
            raise ConfigError(f"Invalid value {values['broker.id']} for configuration "
                              "broker.id: Value must be at least 0") from None
    check_requirements(config)
    idle = int(values["connections.max.idle.ms"])
    if 0 <= idle <= FAILED_AUTHENTICATION_DELAY_MS:
        raise ConfigError(
            f"connection.failed.authentication.delay.ms={FAILED_AUTHENTICATION_DELAY_MS} should "
            f"always be less than connections.max.idle.ms={idle} to prevent failed "
            "authentication responses from timing out")
    _check_cluster_storage(values)
    queued = int(values["queued.max.request.bytes"])
    if 0 < queued < int(values["socket.request.max.bytes"]):
        raise ConfigError(
            "queued.max.request.bytes must be larger or equal to socket.request.max.bytes")


def _check_cluster_storage(values: Mapping[str, Any]) -> None:
    """BookKeeper's own rule for a ledger's quorums (E >= W >= A), and the one
    service log.storage=bookkeeper cannot run without."""
    if values["log.storage"] == "bookkeeper" and not values.get("zookeeper.connect"):
        raise ConfigError("log.storage=bookkeeper needs zookeeper.connect (HOST:PORT[/chroot])")
    ensemble = int(values["bookkeeper.ensemble.size"])
    write = int(values["bookkeeper.write.quorum.size"])
    ack = int(values["bookkeeper.ack.quorum.size"])
    if not ensemble >= write >= ack:
        raise ConfigError(
            "bookkeeper.ensemble.size >= bookkeeper.write.quorum.size >= "
            f"bookkeeper.ack.quorum.size is required (got {ensemble}/{write}/{ack})")
    root = str(values["bookkeeper.metadata.root"])
    if not root.startswith("/") or root.endswith("/"):
        raise ConfigError(f"bookkeeper.metadata.root must be an absolute ZooKeeper path: {root}")
