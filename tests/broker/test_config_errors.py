"""CreateTopics, AlterConfigs and IncrementalAlterConfigs refuse a bad topic config
with INVALID_CONFIG and Kafka's message, and change nothing.

The messages are the ones a real Kafka 4.1.2 broker answered to the same
requests (segment.bytes=14, max.message.bytes=99999999999 through all three
APIs); the parametrized cases cover every numeric topic config kwire knows.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from _harness import InProcessBroker  # type: ignore[import-not-found]

from kwire.broker.topic_config import TOPIC_PROPERTIES
from kwire.config.types import numeric_keys
from kwire.errors import ErrorCode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/_config_cases.py
from _config_cases import refusals  # type: ignore[import-not-found]  # noqa: E402

CASES = [(p.name, value, message) for p in TOPIC_PROPERTIES.values()
         if p.key in numeric_keys([p.key]) for value, message in refusals(p.key)]


@pytest.fixture
def kb(tmp_path: Path) -> InProcessBroker:
    return InProcessBroker(tmp_path)


async def _create(kb: InProcessBroker, name: str, configs: dict[str, str],
                  validate_only: bool = False) -> Any:
    r = await kb.call(19, 7, {"topics": [{
        "name": name, "num_partitions": 1, "replication_factor": 1, "assignments": (),
        "configs": [{"name": k, "value": v} for k, v in configs.items()]}],
        "timeout": 5000, "validate_only": validate_only})
    return r.topics[0]


async def _alter(kb: InProcessBroker, name: str, configs: dict[str, str]) -> Any:
    r = await kb.call(33, 2, {"resources": [{
        "resource_type": 2, "resource_name": name,
        "configs": [{"name": k, "value": v} for k, v in configs.items()]}],
        "validate_only": False})
    return r.responses[0]


async def _incremental(kb: InProcessBroker, name: str, configs: dict[str, str]) -> Any:
    r = await kb.call(44, 1, {"resources": [{
        "resource_type": 2, "resource_name": name,
        "configs": [{"name": k, "config_operation": 0, "value": v}
                    for k, v in configs.items()]}],
        "validate_only": False})
    return r.responses[0]


@pytest.mark.parametrize(("key", "value", "message"), [
    ("segment.bytes", "14",
     "Invalid value 14 for configuration segment.bytes: Value must be at least 1048576"),
    ("max.message.bytes", "99999999999",
     "Invalid value 99999999999 for configuration max.message.bytes: Not a number of type INT"),
])
async def test_kafka_4_1_2_answers(kb: InProcessBroker, key: str, value: str,
                                   message: str) -> None:
    for validate_only in (True, False):
        t = await _create(kb, "t", {key: value}, validate_only)
        assert (t.error_code, t.error_message) == (ErrorCode.INVALID_CONFIG, message)
    assert "t" not in kb.broker.snapshot().topics
    assert (await _create(kb, "t", {"retention.ms": "1000"})).error_code == ErrorCode.NONE
    for call in (_alter, _incremental):
        r = await call(kb, "t", {key: value})
        assert (r.error_code, r.error_message) == (ErrorCode.INVALID_CONFIG, message)
    assert dict(kb.broker.snapshot().topics["t"].configs) == {"retention.ms": "1000"}


@pytest.mark.parametrize(("key", "value", "message"), CASES)
async def test_every_numeric_topic_config(kb: InProcessBroker, key: str, value: str,
                                          message: str) -> None:
    t = await _create(kb, "n", {key: value})
    assert (t.error_code, t.error_message) == (ErrorCode.INVALID_CONFIG, message)
    assert (await _create(kb, "m", {})).error_code == ErrorCode.NONE
    for call in (_alter, _incremental):
        r = await call(kb, "m", {key: value})
        assert (r.error_code, r.error_message) == (ErrorCode.INVALID_CONFIG, message)
    assert dict(kb.broker.snapshot().topics["m"].configs) == {}


async def test_internal_segment_bytes_is_accepted_and_described(kb: InProcessBroker) -> None:
    t = await _create(kb, "small", {"internal.segment.bytes": "1024"})
    assert t.error_code == ErrorCode.NONE
    r = await kb.call(32, 4, {"resources": [{"resource_type": 2, "resource_name": "small",
                                             "configuration_keys": None}],
                              "include_synonyms": False, "include_documentation": False})
    entries = {e.name: e.value for e in r.results[0].configs}
    assert entries["internal.segment.bytes"] == "1024"
    assert entries["segment.bytes"] == str(1024**3)


# Kafka 4.4.0's answers, the same through CreateTopics, AlterConfigs and
# IncrementalAlterConfigs (INVALID_CONFIG, 40).
KAFKA_4_4_0_ANSWERS = [
    ("segment.bytes", "200",
     "Invalid value 200 for configuration segment.bytes: Value must be at least 1048576"),
    ("max.message.bytes", "99999999999",
     "Invalid value 99999999999 for configuration max.message.bytes: Not a number of type INT"),
    ("retention.ms", "abc",
     "Invalid value abc for configuration retention.ms: Not a number of type LONG"),
    ("retention.ms", "-2",
     "Invalid value -2 for configuration retention.ms: Value must be at least -1"),
    ("cleanup.policy", "bogus",
     "Invalid value bogus for configuration cleanup.policy: String must be one of: compact, "
     "delete"),
    ("cleanup.policy", ",delete", "Configuration 'cleanup.policy' values must not be empty."),
    ("min.insync.replicas", "0",
     "Invalid value 0 for configuration min.insync.replicas: Value must be at least 1"),
    ("min.cleanable.dirty.ratio", "2",
     "Invalid value 2.0 for configuration min.cleanable.dirty.ratio: Value must be no more "
     "than 1"),
    ("foo.bar", "1", "Unknown topic config name: foo.bar"),
]


@pytest.mark.parametrize(("key", "value", "message"), KAFKA_4_4_0_ANSWERS)
async def test_kafka_4_4_0_answers(kb: InProcessBroker, key: str, value: str,
                                   message: str) -> None:
    for validate_only in (True, False):
        t = await _create(kb, "t", {key: value}, validate_only)
        assert (t.error_code, t.error_message) == (ErrorCode.INVALID_CONFIG, message)
    assert (await _create(kb, "t", {})).error_code == ErrorCode.NONE
    for call in (_alter, _incremental):
        r = await call(kb, "t", {key: value})
        assert (r.error_code, r.error_message) == (ErrorCode.INVALID_CONFIG, message)
    assert dict(kb.broker.snapshot().topics["t"].configs) == {}
