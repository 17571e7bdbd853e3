"""Kafka's ConfigDef, the part kwire needs: typed config keys, parsing and validation.

One parser for every configuration kwire reads — broker properties
(kwire/config/__init__.py) and topic configs (kwire/broker/topic_config.py) — so both
accept and refuse exactly what Apache Kafka 4.4 does, with Kafka's messages:

    Invalid value 14 for configuration segment.bytes: Value must be at least 1048576
    Invalid value 99999999999 for configuration max.message.bytes: Not a number of type INT

The rules follow org.apache.kafka.common.config.ConfigDef (parseType, Range,
ValidString, ValidList) and ConfigException's message format; values are given
as strings, as in server.properties and in CreateTopics/AlterConfigs requests.
Pure: no I/O.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


class ConfigType(enum.Enum):
    """ConfigDef.Type; `code` is the DescribeConfigs v3+ ConfigType value."""

    BOOLEAN = ("BOOLEAN", 1)
    STRING = ("STRING", 2)
    INT = ("INT", 3)
    SHORT = ("SHORT", 4)
    LONG = ("LONG", 5)
    DOUBLE = ("DOUBLE", 6)
    LIST = ("LIST", 7)

    def __init__(self, java_name: str, code: int) -> None:
        self.java_name = java_name
        self.code = code


BOOLEAN, STRING, INT, SHORT, LONG, DOUBLE, LIST = (
    ConfigType.BOOLEAN, ConfigType.STRING, ConfigType.INT, ConfigType.SHORT,
    ConfigType.LONG, ConfigType.DOUBLE, ConfigType.LIST)

SHORT_MAX = 2**15 - 1
INT_MAX = 2**31 - 1
LONG_MAX = 2**63 - 1
_BOUNDS = {SHORT: SHORT_MAX, INT: INT_MAX, LONG: LONG_MAX}


class ConfigException(ValueError):
    """A configuration value Kafka would refuse; str() is Kafka's message."""


def invalid_value(name: str, value: Any, message: str | None = None) -> ConfigException:
    """ConfigException(name, value, message): Kafka's one message format."""
    text = f"Invalid value {java_str(value)} for configuration {name}"
    return ConfigException(text + (f": {message}" if message is not None else ""))


def java_str(value: Any) -> str:
    """The value as Java's toString prints it (Kafka's messages embed it)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return java_double(value)
    if isinstance(value, list):
        return "[" + ", ".join(java_str(v) for v in value) + "]"
    return str(value)


def java_double(x: float) -> str:
    """Double.toString: plain decimal in [1e-3, 1e7), else d.dddE±n."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    sign, digits, exp = Decimal(repr(x)).as_tuple()
    assert isinstance(exp, int)
    text = "".join(map(str, digits)).rstrip("0") or "0"
    point = len(digits) + exp  # position of the decimal point after the first digit
    minus = "-" if sign else ""
    if 1e-3 <= abs(x) < 1e7:
        if point <= 0:
            return f"{minus}0.{'0' * -point}{text}"
        whole, frac = text[:point].ljust(point, "0"), text[point:]
        return f"{minus}{whole}.{frac or '0'}"
    return f"{minus}{text[0]}.{text[1:] or '0'}E{point - 1}"


# -- validators (ConfigDef.Validator) ------------------------------------------------


class Validator:
    """ensure_valid(name, parsed value) raises ConfigException, as Kafka's do."""

    def ensure_valid(self, name: str, value: Any) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        """The "valid values" text Kafka's docs print (ConfigDef toString)."""
        raise NotImplementedError


def _num(n: int | float) -> str:
    return java_double(n) if isinstance(n, float) else str(n)


@dataclass(frozen=True, slots=True)
class Range(Validator):
    """ConfigDef.Range: atLeast(min) or between(min, max); compares as doubles."""

    min: int | float | None = None
    max: int | float | None = None

    def ensure_valid(self, name: str, value: Any) -> None:
        if value is None:
            raise invalid_value(name, value, "Value must be non-null")
        if self.min is not None and float(value) < float(self.min):
            raise invalid_value(name, value, f"Value must be at least {_num(self.min)}")
        if self.max is not None and float(value) > float(self.max):
            raise invalid_value(name, value, f"Value must be no more than {_num(self.max)}")

    def describe(self) -> str:
        low = "..." if self.min is None else _num(self.min)
        return f"[{low},...]" if self.max is None else f"[{low},...,{_num(self.max)}]"


def at_least(n: int | float) -> Range:
    return Range(min=n)


def between(low: int | float, high: int | float) -> Range:
    return Range(min=low, max=high)


@dataclass(frozen=True, slots=True)
class ValidString(Validator):
    """ConfigDef.ValidString.in(...)."""

    values: tuple[str, ...]

    def ensure_valid(self, name: str, value: Any) -> None:
        if value not in self.values:
            raise invalid_value(name, value, "String must be one of: " + ", ".join(self.values))

    def describe(self) -> str:
        return "[" + ", ".join(self.values) + "]"


@dataclass(frozen=True, slots=True)
class ValidList(Validator):
    """ConfigDef.ValidList (Kafka 4.4): no empty item, no repeated item unless
    allowed, and every item one of `values` (any item when `values` is empty).
    An empty list is valid."""

    values: tuple[str, ...]
    allow_duplicates: bool = False

    def ensure_valid(self, name: str, value: Any) -> None:
        if any(item == "" for item in value):
            raise ConfigException(f"Configuration '{name}' values must not be empty.")
        if not self.allow_duplicates and len(set(value)) != len(value):
            raise ConfigException(f"Configuration '{name}' values must not be duplicated.")
        if self.values:
            for item in value:
                ValidString(self.values).ensure_valid(name, item)

    def describe(self) -> str:
        return "[" + ", ".join(self.values) + "]"


def one_of(*values: str) -> ValidString:
    return ValidString(values)


def list_of(*values: str, allow_duplicates: bool = False) -> ValidList:
    return ValidList(values, allow_duplicates)


# -- keys and parsing (ConfigDef.ConfigKey, ConfigDef.parseType) ---------------------


@dataclass(frozen=True, slots=True)
class ConfigKey:
    """One configuration: Kafka's name, type, default (as text, None = unset) and
    validator (None = any value of the type)."""

    name: str
    type: ConfigType
    default: str | None
    validator: Validator | None = None
    doc: str = ""

    def parse(self, raw: str) -> Any:
        return parse_value(self, raw)


# Integer.parseInt / Long.parseLong / Short.parseShort: optional sign, digits only.
_INTEGER = re.compile(r"[+-]?\d+")
# Double.parseDouble's decimal forms (hex floats left out): NaN, Infinity, 1., .5, 1e3, 1d.
_DOUBLE = re.compile(r"[+-]?(NaN|Infinity|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)[fFdD]?")
# ConfigDef's COMMA_WITH_WHITESPACE; split keeps empty items, which ValidList refuses.
_LIST_SEPARATOR = re.compile(r"\s*,\s*")


def parse_type(name: str, raw: str, type_: ConfigType) -> Any:
    """ConfigDef.parseType for a string value: trims, then converts or raises
    Kafka's ConfigException naming the original text."""
    trimmed = raw.strip()
    if type_ is BOOLEAN:
        if trimmed.lower() == "true":
            return True
        if trimmed.lower() == "false":
            return False
        raise invalid_value(name, raw, "Expected value to be either true or false")
    if type_ is STRING:
        return trimmed
    if type_ in _BOUNDS:
        bound = _BOUNDS[type_]
        if _INTEGER.fullmatch(trimmed):
            number = int(trimmed)
            if -bound - 1 <= number <= bound:
                return number
        raise invalid_value(name, raw, f"Not a number of type {type_.java_name}")
    if type_ is DOUBLE:
        if _DOUBLE.fullmatch(trimmed):
            return float(trimmed.rstrip("fFdD").replace("Infinity", "inf"))
        raise invalid_value(name, raw, f"Not a number of type {type_.java_name}")
    if type_ is LIST:
        return _LIST_SEPARATOR.split(trimmed) if trimmed else []
    raise AssertionError(type_)


def parse_value(key: ConfigKey, raw: str) -> Any:
    """Parse `raw` as `key`'s type and apply its validator (ConfigDef.parseValue)."""
    value = parse_type(key.name, raw, key.type)
    if key.validator is not None:
        key.validator.ensure_valid(key.name, value)
    return value


def render(value: Any) -> str | None:
    """A parsed value as Kafka prints it in DescribeConfigs (lists comma-joined)."""
    if value is None:
        return None
    if isinstance(value, list):
        return ",".join(java_str(v) for v in value)
    return java_str(value)


def numeric_keys(keys: Sequence[ConfigKey]) -> list[ConfigKey]:
    return [k for k in keys if k.type in (SHORT, INT, LONG, DOUBLE)]
