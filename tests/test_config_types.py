"""The shared config parser (kwire/config/types.py) against Kafka 4.1.2's own answers.

Every (key, value) -> message pair below was produced by Kafka 4.1.2's
ConfigDef.parseType + the key's validator (KafkaConfig.configDef() and
LogConfig.configKeys() from the 4.1.2 jars), or by a real Kafka 4.1.2 broker
answering CreateTopics; kwire must print the same text.
"""

from __future__ import annotations

import math

import pytest

from kwire.broker.topic_config import TOPIC_PROPERTIES
from kwire.config import BROKER_PROPERTIES
from kwire.config.types import (
    DOUBLE,
    INT,
    LIST,
    LONG,
    SHORT,
    ConfigException,
    java_double,
    parse_type,
    parse_value,
)

KAFKA_4_1_2_MESSAGES = [
    ("segment.bytes", "14",
     "Invalid value 14 for configuration segment.bytes: Value must be at least 1048576"),
    ("segment.bytes", " 14",
     "Invalid value 14 for configuration segment.bytes: Value must be at least 1048576"),
    ("segment.bytes", "99999999999",
     "Invalid value 99999999999 for configuration segment.bytes: Not a number of type INT"),
    ("segment.bytes", "abc",
     "Invalid value abc for configuration segment.bytes: Not a number of type INT"),
    ("segment.bytes", "",
     "Invalid value  for configuration segment.bytes: Not a number of type INT"),
    ("segment.bytes", "0x10",
     "Invalid value 0x10 for configuration segment.bytes: Not a number of type INT"),
    ("segment.bytes", "-0",
     "Invalid value 0 for configuration segment.bytes: Value must be at least 1048576"),
    ("min.cleanable.dirty.ratio", "1.5",
     "Invalid value 1.5 for configuration min.cleanable.dirty.ratio: Value must be no more than 1"),
    ("min.cleanable.dirty.ratio", "2",
     "Invalid value 2.0 for configuration min.cleanable.dirty.ratio: Value must be no more than 1"),
    ("min.cleanable.dirty.ratio", "-0.1",
     "Invalid value -0.1 for configuration min.cleanable.dirty.ratio: Value must be at least 0"),
    ("min.cleanable.dirty.ratio", "-12345678.5",
     "Invalid value -1.23456785E7 for configuration min.cleanable.dirty.ratio: "
     "Value must be at least 0"),
    ("min.cleanable.dirty.ratio", "-1e300",
     "Invalid value -1.0E300 for configuration min.cleanable.dirty.ratio: "
     "Value must be at least 0"),
    ("min.cleanable.dirty.ratio", "Infinity",
     "Invalid value Infinity for configuration min.cleanable.dirty.ratio: "
     "Value must be no more than 1"),
    ("min.cleanable.dirty.ratio", "x",
     "Invalid value x for configuration min.cleanable.dirty.ratio: Not a number of type DOUBLE"),
    ("cleanup.policy", "delete,foo",
     "Invalid value foo for configuration cleanup.policy: String must be one of: compact, delete"),
    ("cleanup.policy", "Delete",
     "Invalid value Delete for configuration cleanup.policy: "
     "String must be one of: compact, delete"),
    # Kafka 4.4's ValidList refuses an empty item before looking at the values
    # (4.1.2 said "Invalid value  for configuration ...: String must be one of").
    ("cleanup.policy", "delete,", "Configuration 'cleanup.policy' values must not be empty."),
    ("cleanup.policy", "delete, ,compact",
     "Configuration 'cleanup.policy' values must not be empty."),
    ("log.cleanup.policy", "delete,delete",
     "Configuration 'log.cleanup.policy' values must not be duplicated."),
    ("preallocate", "yes",
     "Invalid value yes for configuration preallocate: Expected value to be either true or false"),
    ("message.timestamp.type", "x",
     "Invalid value x for configuration message.timestamp.type: "
     "String must be one of: CreateTime, LogAppendTime"),
    ("retention.ms", "-2",
     "Invalid value -2 for configuration retention.ms: Value must be at least -1"),
    ("retention.ms", "1e3",
     "Invalid value 1e3 for configuration retention.ms: Not a number of type LONG"),
    ("flush.messages", "9223372036854775808",
     "Invalid value 9223372036854775808 for configuration flush.messages: "
     "Not a number of type LONG"),
    ("log.segment.bytes", "14",
     "Invalid value 14 for configuration log.segment.bytes: Value must be at least 1048576"),
    ("fetch.max.bytes", "1023",
     "Invalid value 1023 for configuration fetch.max.bytes: Value must be at least 1024"),
    ("fetch.max.bytes", "2147483648",
     "Invalid value 2147483648 for configuration fetch.max.bytes: Not a number of type INT"),
    ("compression.type", "foo",
     "Invalid value foo for configuration compression.type: "
     "String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"),
    ("node.id", "-1", "Invalid value -1 for configuration node.id: Value must be at least 0"),
    ("log.index.size.max.bytes", "3",
     "Invalid value 3 for configuration log.index.size.max.bytes: Value must be at least 4"),
]

KAFKA_4_1_2_ACCEPTS = [
    ("segment.bytes", " 2000000 ", 2000000),
    ("segment.bytes", "+1048576", 1048576),
    ("retention.ms", "0100", 100),
    ("index.interval.bytes", " 5 ", 5),
    ("preallocate", "TRUE", True),
    ("cleanup.policy", "", []),
    ("cleanup.policy", " delete , compact ", ["delete", "compact"]),
    ("cleanup.policy", "delete,delete", ["delete", "delete"]),
    ("min.cleanable.dirty.ratio", "1d", 1.0),
    ("min.cleanable.dirty.ratio", ".5", 0.5),
    ("min.cleanable.dirty.ratio", "1e-5", 1e-5),
    ("message.timestamp.type", " CreateTime ", "CreateTime"),
    ("connections.max.idle.ms", "-5", -5),
    ("queued.max.request.bytes", "-5", -5),
    ("retention.bytes", "-7", -7),
]


def _key(name: str):  # noqa: ANN202
    if name in TOPIC_PROPERTIES:
        return TOPIC_PROPERTIES[name].key
    return BROKER_PROPERTIES[name]


@pytest.mark.parametrize(("name", "raw", "message"), KAFKA_4_1_2_MESSAGES)
def test_refusals_match_kafka_word_for_word(name: str, raw: str, message: str) -> None:
    with pytest.raises(ConfigException) as exc:
        parse_value(_key(name), raw)
    assert str(exc.value) == message


@pytest.mark.parametrize(("name", "raw", "value"), KAFKA_4_1_2_ACCEPTS)
def test_accepts_what_kafka_accepts(name: str, raw: str, value: object) -> None:
    assert parse_value(_key(name), raw) == value


@pytest.mark.parametrize(("type_", "low", "high"), [
    (SHORT, -(2**15), 2**15 - 1), (INT, -(2**31), 2**31 - 1), (LONG, -(2**63), 2**63 - 1)])
def test_integer_types_have_java_bounds(type_, low: int, high: int) -> None:  # noqa: ANN001
    assert parse_type("k", str(low), type_) == low
    assert parse_type("k", str(high), type_) == high
    for bad in (str(low - 1), str(high + 1), "1_000", "1.0", "1 2"):
        with pytest.raises(ConfigException, match=f"Not a number of type {type_.java_name}$"):
            parse_type("k", bad, type_)


def test_doubles_and_lists_parse_as_java_does() -> None:
    assert math.isnan(parse_type("k", "NaN", DOUBLE))
    assert parse_type("k", "-Infinity", DOUBLE) == -math.inf
    for bad in ("nan", "inf", "1_0", "0x1p3", "1e"):
        with pytest.raises(ConfigException):
            parse_type("k", bad, DOUBLE)
    assert parse_type("k", "  ", LIST) == []


@pytest.mark.parametrize(("x", "text"), [
    (0.5, "0.5"), (2.0, "2.0"), (1e-3, "0.001"), (1e-5, "1.0E-5"), (1234567.5, "1234567.5"),
    (1e7, "1.0E7"), (-12345678.5, "-1.23456785E7"), (0.0, "0.0"), (-0.0, "-0.0"),
    (1e300, "1.0E300"), (123.456, "123.456"), (0.00123, "0.00123")])
def test_java_double_to_string(x: float, text: str) -> None:
    assert java_double(x) == text
