"""Dynamic broker configs: which broker configs AlterConfigs may change, how a
change is checked, and where each value comes from (Kafka 4.4's
DynamicBrokerConfig, ConfigAdminManager and ConfigHelper). Pure: no I/O.

A BROKER resource names this broker (its node id: a per-broker config) or "" (the
cluster-wide default). Precedence, highest first: per broker, cluster default,
static (server.properties, --set), Kafka's default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kwire.config import (
    BROKER_PROPERTIES,
    INTERNAL,
    KWIRE_ONLY,
    SENSITIVE,
    Config,
    ConfigError,
    RequirementFailed,
    check_requirements,
)
from kwire.config.kafka_names import KAFKA_DYNAMIC, KAFKA_READ_ONLY
from kwire.config.types import ConfigException, parse_value, render

# DescribeConfigs ConfigSource (DescribeConfigsResponse.json).
SOURCE_DYNAMIC_TOPIC = 1
SOURCE_DYNAMIC_BROKER = 2
SOURCE_DYNAMIC_DEFAULT_BROKER = 3
SOURCE_STATIC_BROKER = 4
SOURCE_DEFAULT = 5
SOURCE_DYNAMIC_BROKER_LOGGER = 6
SOURCE_GROUP = 8

# Kafka changes these at run time; kwire cannot yet (it would have to rebind its
# listener or resize its connection limit), so it refuses them, saying so.
# DescribeConfigs still reports them as Kafka does (read_only false): the refusal
# is kwire's own, at AlterConfigs time (see validate).
KWIRE_STATIC_ONLY = frozenset({"listeners", "max.connections"})

# DynamicBrokerConfig.PerBrokerConfigs that kwire knows: never a cluster default.
PER_BROKER_ONLY = frozenset({"listeners"})

# DynamicBrokerConfig.brokerConfigSynonyms: the names a value may come from, in
# order of precedence within one source.
_SYNONYMS: Mapping[str, tuple[str, ...]] = {
    "log.roll.ms": ("log.roll.ms", "log.roll.hours"),
    "log.roll.hours": ("log.roll.ms", "log.roll.hours"),
    "log.flush.interval.ms": ("log.flush.interval.ms", "log.flush.scheduler.interval.ms"),
    **{n: ("log.retention.ms", "log.retention.minutes", "log.retention.hours")
       for n in ("log.retention.ms", "log.retention.minutes", "log.retention.hours")},
}


def is_dynamic(name: str) -> bool:
    """Whether AlterConfigs may set `name` on a kwire broker (DescribeConfigs
    reports Kafka's read_only instead: described_read_only)."""
    if name in BROKER_PROPERTIES:
        return name in KAFKA_DYNAMIC and name not in KWIRE_STATIC_ONLY
    return False


def described_read_only(name: str) -> bool:
    """DescribeConfigs' read_only: Kafka's (not dynamically updatable), so a config
    Kafka changes at run time and kwire refuses to (KWIRE_STATIC_ONLY) is read_only
    false, as in Kafka. Names Kafka does not know: true."""
    return not is_dynamic(name) and name not in KWIRE_STATIC_ONLY


def _is_read_only(name: str) -> bool:
    """Kafka's nonDynamicConfigs: a broker config Kafka knows and never changes at
    run time. Names Kafka does not know at all are accepted and stored, as Kafka does."""
    if name in BROKER_PROPERTIES:
        return name not in KAFKA_DYNAMIC
    return name in KAFKA_READ_ONLY


def _names(names: list[str]) -> str:
    return "[" + ", ".join(sorted(names)) + "]"


def validate(config: Config, per_broker: bool, props: Mapping[str, str]) -> Config:
    """DynamicBrokerConfig.validate: `props` is the resource's whole new set of
    dynamic configs. Returns the broker config it would give; raises
    ConfigException with Kafka's message (answered as INVALID_REQUEST)."""
    names = list(props)
    read_only = [n for n in names if _is_read_only(n)]
    if read_only:
        raise ConfigException(f"Cannot update these configs dynamically: {_names(read_only)}")
    for prop in BROKER_PROPERTIES.values():  # DynamicConfig.Broker.validate: definition order
        if prop.name in props:
            parse_value(prop, props[prop.name])
    if not per_broker:
        per_broker_only = [n for n in names if n in PER_BROKER_ONLY]
        if per_broker_only:
            raise ConfigException(
                "Cannot update these configs at default cluster level, broker id must be "
                f"specified: {_names(per_broker_only)}")
    unsupported = [n for n in names if n in KAFKA_DYNAMIC and not is_dynamic(n)]
    if unsupported:
        raise ConfigException(
            f"Cannot update these configs dynamically: {_names(unsupported)}; kwire applies "
            "them at start only (server.properties or --set)")
    if per_broker:
        new = config.with_dynamic(config.dynamic_default, props)
    else:
        new = config.with_dynamic(props, config.dynamic_broker)
    try:
        check_requirements(new)
        _check_cleaner(new)
    except RequirementFailed as exc:
        raise ConfigError(f"requirement failed: {exc}") from None
    _check_assignment_intervals(new)
    return new


def _check_assignment_intervals(config: Config) -> None:
    """The group coordinator's check of its dynamic assignment intervals."""
    for kind in ("consumer", "share", "streams"):
        key = f"group.{kind}.assignment.interval.ms"
        low, high = (f"group.{kind}.min.assignment.interval.ms",
                     f"group.{kind}.max.assignment.interval.ms")
        if int(config[key]) > int(config[high]):
            raise ConfigError(f"{key} must be less than or equal to {high}")
        if int(config[key]) < int(config[low]):
            raise ConfigError(f"{key} must be greater than or equal to {low}")


def _check_cleaner(config: Config) -> None:
    """LogCleaner.validateReconfiguration (kwire has no cleaner; Kafka's rule stands)."""
    threads = int(config["log.cleaner.threads"])
    if threads > 0 and int(config["log.cleaner.dedupe.buffer.size"]) // threads < 1024 * 1024:
        raise RequirementFailed(
            "log.cleaner.dedupe.buffer.size must be at least 1MB per cleaner thread.")


MIN_ISR = "min.insync.replicas"


def format_configs(config: Config) -> dict[str, str]:
    """The cluster-wide dynamic configs Kafka 4.4's storage formatter writes into a
    new cluster: min.insync.replicas, which eligible leader replicas (ELR, on by
    default) need at cluster level. kwire starts a new data dir the same way, so
    DescribeConfigs reports it as DYNAMIC_DEFAULT_BROKER_CONFIG, as Kafka does."""
    return {MIN_ISR: str(config[MIN_ISR])}


def elr_refusal(per_broker: bool, touched: set[str], old: Mapping[str, str],
                new: Mapping[str, str]) -> str | None:
    """ConfigurationControlManager's rules while ELR is enabled (always, in kwire
    as in a new Kafka 4.4 cluster): min.insync.replicas lives at cluster level only.
    `touched` are the names the request names; answered as INVALID_CONFIG."""
    if per_broker:
        if MIN_ISR in touched or MIN_ISR in old:
            return "Broker-level min.insync.replicas cannot be altered while ELR is enabled."
    elif MIN_ISR in old and MIN_ISR not in new:
        return "Cluster-level min.insync.replicas cannot be removed while ELR is enabled."
    return None


@dataclass(frozen=True, slots=True)
class Synonym:
    name: str
    value: str | None
    source: int


def synonyms(config: Config, name: str, per_broker: bool = True) -> list[Synonym]:
    """ConfigHelper.configSynonyms: every value `name` (or a name it stands for)
    has, highest precedence first, starting at `name` itself. Describing the
    cluster default leaves out per-broker values."""
    names = _SYNONYMS.get(name, (name,))
    out: list[Synonym] = []
    layers = [(config.dynamic_default, SOURCE_DYNAMIC_DEFAULT_BROKER)]
    if per_broker:
        layers.insert(0, (config.dynamic_broker, SOURCE_DYNAMIC_BROKER))
    for layer, source in layers:
        for n in names:
            if n in layer:
                out.append(Synonym(n, _shown(n, layer[n]), source))
    static = config.static_values
    for n in names:
        if n in config.explicit and static.get(n) is not None:
            out.append(Synonym(n, render(static[n]), SOURCE_STATIC_BROKER))
    for n in names:
        prop = BROKER_PROPERTIES.get(n)
        if prop is not None and prop.default is not None:
            out.append(Synonym(n, render(parse_value(prop, prop.default)), SOURCE_DEFAULT))
    while out and out[0].name != name:  # e.g. log.retention.hours when describing .ms
        out.pop(0)
    return out


def _shown(name: str, raw: str) -> str | None:
    # A name Kafka does not know has no type, so Kafka treats it as sensitive.
    return raw if name in BROKER_PROPERTIES else None


@dataclass(frozen=True, slots=True)
class BrokerEntry:
    name: str
    value: str | None
    source: int
    read_only: bool
    sensitive: bool
    type_code: int  # ConfigType code; 0 = UNKNOWN
    synonyms: tuple[Synonym, ...]


def _entry(config: Config, name: str, value: str | None, per_broker: bool) -> BrokerEntry:
    prop = BROKER_PROPERTIES.get(name)
    syn = synonyms(config, name, per_broker)
    source = syn[0].source if syn else SOURCE_DEFAULT
    type_code = prop.type.code if prop is not None else 0
    hidden = prop is None or name in SENSITIVE
    return BrokerEntry(name, None if hidden else value, source,
                       described_read_only(name), hidden, type_code, tuple(syn))


def broker_entries(config: Config) -> list[BrokerEntry]:
    """DescribeConfigs of this broker: every broker config (and every unknown name
    set dynamically), by name. An internal config only when set at start, as
    Kafka's ConfigHelper lists the originals and the non-internal values."""
    names = set(BROKER_PROPERTIES) | set(config.dynamic_default) | set(config.dynamic_broker)
    names -= (INTERNAL | KWIRE_ONLY) - config.explicit
    return [_entry(config, n, render(config.values.get(n)), True) for n in sorted(names)]


def default_entries(config: Config) -> list[BrokerEntry]:
    """DescribeConfigs of the cluster default resource (""): only the configs set
    there, each with itself as its one synonym (as Kafka 4.4 answers)."""
    out = []
    for name in sorted(config.dynamic_default):
        value = _shown(name, config.dynamic_default[name])
        prop = BROKER_PROPERTIES.get(name)
        out.append(BrokerEntry(
            name, value, SOURCE_DYNAMIC_DEFAULT_BROKER, described_read_only(name), prop is None,
            prop.type.code if prop is not None else 0,
            (Synonym(name, value, SOURCE_DYNAMIC_DEFAULT_BROKER),)))
    return out
