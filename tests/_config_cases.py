"""What Kafka 4.1 answers for a bad value of a numeric config, computed from the
key's type and range (ConfigDef.parseType, ConfigDef.Range): shared by the
parser tests (tests/test_config.py) and the handler tests (tests/broker/)."""

from __future__ import annotations

from typing import Any

from kwire.config.types import DOUBLE, INT, LONG, SHORT, ConfigKey, Range, java_str

_BOUNDS = {SHORT: 2**15 - 1, INT: 2**31 - 1, LONG: 2**63 - 1}


def refusals(key: ConfigKey) -> list[tuple[str, str]]:
    """(value, Kafka's message) that Kafka 4.1 gives for `key`: not a number, beyond
    the type's range, and below/above the validator's range."""
    t = key.type.java_name
    out = [("abc", f"Invalid value abc for configuration {key.name}: Not a number of type {t}")]
    if key.type in _BOUNDS:
        big = str(_BOUNDS[key.type] + 1)
        out.append((big, f"Invalid value {big} for configuration {key.name}: "
                         f"Not a number of type {t}"))
    v = key.validator
    if isinstance(v, Range) and v.min is not None:
        below: Any = v.min - 1 if key.type is not DOUBLE else v.min - 0.5
        out.append((str(below), f"Invalid value {java_str(below)} for configuration "
                                f"{key.name}: Value must be at least {v.min}"))
    if isinstance(v, Range) and v.max is not None:
        above: Any = v.max + 1 if key.type is not DOUBLE else v.max + 0.5
        out.append((str(above), f"Invalid value {java_str(above)} for configuration "
                                f"{key.name}: Value must be no more than {v.max}"))
    return out
