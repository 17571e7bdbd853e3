"""Config resources shared by DescribeConfigs, AlterConfigs and
IncrementalAlterConfigs: TOPIC, BROKER (this node or the cluster default ""),
BROKER_LOGGER and GROUP, answered with Kafka 4.4's codes and messages
(ConfigAdminManager on the broker, ConfigurationControlManager and
ControllerConfigurationValidator on the controller, ConfigHelper for describe)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from kwire.broker import loggers, topic_config, topics
from kwire.broker.context import RequestContext
from kwire.broker.services import Broker
from kwire.config import BROKER_PROPERTIES
from kwire.config import dynamic as dynamic_config
from kwire.config import group as group_config
from kwire.config.types import LIST, ConfigException
from kwire.errors import ErrorCode, StorageError

# org.apache.kafka.common.config.ConfigResource.Type
TOPIC = 2
BROKER = 4
BROKER_LOGGER = 8
GROUP = 32

# Errors.INVALID_REQUEST's default message.
_INVALID_REQUEST_MESSAGE = (
    "This most likely occurs because of a request being malformed by the client library or "
    "the message was sent to an incompatible broker. See the broker logs for more details.")

# AlterConfigOp.OpType
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
_OP_NAMES = {APPEND: "APPEND", SUBTRACT: "SUBTRACT"}


class Refused(Exception):
    """A resource's answer other than NONE."""

    def __init__(self, code: ErrorCode, message: str | None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _entry(name: str, value: str | None, source: int, read_only: bool, sensitive: bool,
           type_code: int, synonyms: list[tuple[str, str | None, int]]) -> dict[str, Any]:
    return {
        "name": name, "value": value, "read_only": read_only, "config_source": source,
        "is_default": source == dynamic_config.SOURCE_DEFAULT, "is_sensitive": sensitive,
        "synonyms": [{"name": n, "value": v, "source": s} for n, v, s in synonyms],
        "config_type": type_code, "documentation": None,
    }


# -- DescribeConfigs ----------------------------------------------------------------


def describe_resource(broker: Broker, resource_type: int, name: str) -> list[dict[str, Any]]:
    """Every config of one resource (ConfigHelper.describeConfigs); raises Refused."""
    if resource_type == TOPIC:
        reason = topics.invalid_reason(name)
        if reason is not None:
            raise Refused(ErrorCode.INVALID_TOPIC_EXCEPTION, reason)
        topic = broker.snapshot().topics.get(name)
        if topic is None:
            raise Refused(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "")
        return [_entry(e.name, e.value, e.source, False, False, e.type.code, list(e.synonyms))
                for e in topic_config.effective(broker.config, dict(topic.configs))]
    if resource_type == BROKER:
        if name == "":
            entries = dynamic_config.default_entries(broker.config)
        else:
            _check_id(broker, name, "Broker id must be an integer, but it is: {name}",
                      "Unexpected broker id, expected {id} or empty string, but received {name}")
            entries = dynamic_config.broker_entries(broker.config)
        return [_entry(e.name, e.value, e.source, e.read_only, e.sensitive, e.type_code,
                       [(s.name, s.value, s.source) for s in e.synonyms]) for e in entries]
    if resource_type == BROKER_LOGGER:
        if name == "":
            raise Refused(ErrorCode.INVALID_REQUEST, "Broker id must not be empty")
        _check_id(broker, name, "Broker id must be an integer, but it is: {name}",
                  "Unexpected broker id, expected {id} but received {name}")
        logger_entries = [_entry(n, level, dynamic_config.SOURCE_DYNAMIC_BROKER_LOGGER, False,
                                 False, 0, []) for n, level in loggers.levels()]
        for e in logger_entries:
            e["documentation"] = ""  # Kafka documents no logger: empty, asked or not
        return logger_entries
    if resource_type == GROUP:
        if name == "":
            raise Refused(ErrorCode.INVALID_REQUEST, "Group name must not be empty")
        stored = broker.snapshot().group_configs.get(name, {})
        return [_entry(e.name, e.value, e.source, False, False, e.type.code,
                       [(s.name, s.value, s.source) for s in e.synonyms])
                for e in group_config.entries(stored, broker.config)]
    # Kafka's answer for a type it does not describe (CLIENT_METRICS is one kwire
    # lacks): INVALID_REQUEST with the error's default message.
    raise Refused(ErrorCode.INVALID_REQUEST, _INVALID_REQUEST_MESSAGE)


def _check_id(broker: Broker, name: str, not_int: str, other: str) -> None:
    node_id = broker.node.node_id
    try:
        value = int(name)
    except ValueError:
        raise Refused(ErrorCode.INVALID_REQUEST, not_int.format(name=name)) from None
    if value != node_id:
        raise Refused(ErrorCode.INVALID_REQUEST, other.format(id=node_id, name=name))


# -- AlterConfigs and IncrementalAlterConfigs ----------------------------------------


async def alter_resources(ctx: RequestContext, request: Any, incremental: bool) -> dict[str, Any]:
    """The body of both alter APIs: each resource answered on its own; a change is
    checked whole, then stored (unless validate_only) and applied."""
    counts = Counter((int(r.resource_type), r.resource_name) for r in request.resources)
    responses = []
    for r in request.resources:
        code: ErrorCode = ErrorCode.NONE
        message: str | None = None
        try:
            if counts[(int(r.resource_type), r.resource_name)] > 1:
                raise Refused(ErrorCode.INVALID_REQUEST, "Each resource must appear at most once.")
            await _alter(ctx, int(r.resource_type), r.resource_name, list(r.configs),
                         incremental, bool(request.validate_only))
        except Refused as exc:
            code, message = exc.code, exc.message
        except StorageError as exc:  # nothing changed; a retry may succeed
            code, message = ErrorCode.KAFKA_STORAGE_ERROR, str(exc)
        responses.append({"error_code": code, "error_message": message,
                          "resource_type": r.resource_type, "resource_name": r.resource_name})
    return {"throttle_time": 0, "responses": responses}


def _op(config: Any, incremental: bool) -> int:
    return int(config.config_operation) if incremental else SET


async def _alter(ctx: RequestContext, rtype: int, name: str, configs: list[Any],
                 incremental: bool, validate_only: bool) -> None:
    broker = ctx.broker
    # ConfigAdminManager.preprocess: checks every resource type shares.
    names = [c.name for c in configs]
    if len(names) != len(set(names)):
        raise Refused(ErrorCode.INVALID_REQUEST, "Error due to duplicate config keys")
    nulls = [c.name for c in configs if _op(c, incremental) != DELETE and c.value is None]
    if nulls:
        raise Refused(ErrorCode.INVALID_REQUEST,
                      "Null value not supported for : " + ", ".join(nulls))
    if rtype == BROKER:
        await _alter_broker(broker, name, configs, incremental, validate_only)
    elif rtype == BROKER_LOGGER and incremental:
        _check_id(broker, name, "Node id must be an integer, but it is: {name}",
                  "Unexpected node id. Expected {id}, but received {name}")
        try:
            loggers.alter([(c.name, int(c.config_operation), c.value) for c in configs],
                          validate_only)
        except loggers.LoggerError as exc:
            raise Refused(exc.code, str(exc)) from None
    elif rtype == TOPIC:
        await _alter_topic(broker, name, configs, incremental, validate_only)
    elif rtype == GROUP:
        await _alter_group(broker, name, configs, incremental, validate_only)
    else:
        raise Refused(ErrorCode.INVALID_REQUEST, f"Unknown resource type {rtype}")


async def _alter_broker(broker: Broker, name: str, configs: list[Any], incremental: bool,
                        validate_only: bool) -> None:
    if name != "":
        _check_id(broker, name, "Node id must be an integer, but it is: {name}",
                  "Unexpected broker id, expected {id}, but received {name}")
    old = broker.snapshot().broker_configs.get(name, {})
    if incremental:
        new = dict(old)
        for c in configs:
            op = int(c.config_operation)
            if op not in (SET, DELETE, APPEND, SUBTRACT):
                raise Refused(ErrorCode.INVALID_REQUEST, f"Unknown operations type {op}")
        for c in configs:  # ConfigAdminManager.prepareIncrementalConfigs
            op = int(c.config_operation)
            if op == SET:
                new[c.name] = c.value
            elif op == DELETE:
                new.pop(c.name, None)
            else:
                new[c.name] = _broker_list_op(broker, new, c.name, op, c.value)
    else:
        new = {c.name: c.value for c in configs}  # legacy: the whole new set
    try:
        dynamic_config.validate(broker.config, name != "", new)
    except ConfigException as exc:
        # Kafka answers INVALID_REQUEST for a refused broker config (KAFKA-13609).
        raise Refused(ErrorCode.INVALID_REQUEST, str(exc)) from None
    # Then the controller's own rule (INVALID_CONFIG).
    refusal = dynamic_config.elr_refusal(name != "", {c.name for c in configs}, old, new)
    if refusal is not None:
        raise Refused(ErrorCode.INVALID_CONFIG, refusal)
    if not validate_only:
        await broker.set_broker_configs(name, new)


def _broker_list_op(broker: Broker, current: dict[str, str], key: str, op: int,
                    value: str) -> str:
    prop = BROKER_PROPERTIES.get(key)
    if prop is None:
        raise Refused(ErrorCode.INVALID_CONFIG, f"Unknown config name: {key}")
    if prop.type is not LIST:
        raise Refused(ErrorCode.INVALID_CONFIG, f"Config value {_OP_NAMES[op].lower()} is not "
                      f"allowed for config key: {key}")
    old = current.get(key, prop.default or "")
    items = [i for i in old.split(",") if i] if old else []
    given = value.split(",")
    if op == APPEND:
        return ",".join(items + given)  # Kafka appends as given: a repeat is then refused
    for item in given:
        if item in items:
            items.remove(item)
    return ",".join(items)


def _controller_ops(current: dict[str, str], configs: list[Any], incremental: bool,
                    is_list: Any, default_list: Any) -> dict[str, str]:
    """ConfigurationControlManager's incremental (or legacy, whole-set) change."""
    if not incremental:
        return {c.name: c.value for c in configs}
    new = dict(current)
    for c in configs:
        op = int(c.config_operation)
        if op == SET:
            new[c.name] = c.value
        elif op == DELETE:
            new.pop(c.name, None)
        elif op in (APPEND, SUBTRACT):
            if not is_list(c.name):
                raise Refused(ErrorCode.INVALID_CONFIG, f"Can't {_OP_NAMES[op]} to key {c.name} "
                              "because its type is not LIST.")
            raw = new.get(c.name)
            items = list(default_list(c.name) if raw is None else [i for i in raw.split(",") if i])
            for item in (i.strip() for i in c.value.split(",")):
                if op == APPEND and item and item not in items:
                    items.append(item)
                elif op == SUBTRACT and item in items:
                    items.remove(item)
            new[c.name] = ",".join(items)
        else:
            # Kafka's controller fails on an operation it does not know.
            raise Refused(ErrorCode.UNKNOWN_SERVER_ERROR, None)
    return new


async def _alter_topic(broker: Broker, name: str, configs: list[Any], incremental: bool,
                       validate_only: bool) -> None:
    if name == "":
        raise Refused(ErrorCode.INVALID_REQUEST, "Default topic resources are not allowed.")
    reason = topics.invalid_reason(name)
    if reason is not None:
        raise Refused(ErrorCode.INVALID_TOPIC_EXCEPTION, reason)
    topic = broker.snapshot().topics.get(name)
    if topic is None:
        raise Refused(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"The topic '{name}' does not exist.")

    def is_list(key: str) -> bool:
        prop = topic_config.TOPIC_PROPERTIES.get(key)
        return prop is not None and prop.type is LIST

    def default_list(key: str) -> list[str]:
        return list(topic_config.TOPIC_PROPERTIES[key].default(broker.config))

    new = _controller_ops(dict(topic.configs), configs, incremental, is_list, default_list)
    try:
        valid = topic_config.validate(new)
    except ConfigException as exc:
        raise Refused(ErrorCode.INVALID_CONFIG, str(exc)) from None
    if not validate_only:
        await broker.set_topic_configs(name, valid)


async def _alter_group(broker: Broker, name: str, configs: list[Any], incremental: bool,
                       validate_only: bool) -> None:
    if name == "":
        raise Refused(ErrorCode.INVALID_REQUEST, "Default group resources are not allowed.")

    def default_list(key: str) -> list[str]:
        prop = group_config.GROUP_PROPERTIES[key]
        return list(group_config.default(prop, broker.config))

    current = dict(broker.snapshot().group_configs.get(name, {}))
    # Kafka's controller splits lists of topic and broker configs only: APPEND and
    # SUBTRACT are refused on every group config, its one LIST too.
    new = _controller_ops(current, configs, incremental, lambda _key: False, default_list)
    try:
        group_config.validate(new, broker.config)
    except ConfigException as exc:
        raise Refused(ErrorCode.INVALID_CONFIG, str(exc)) from None
    if not validate_only:
        await broker.set_group_configs(name, {k: v.strip() for k, v in new.items()})

