"""Metadata auto-creation the controller refuses for its replication factor: with
default.replication.factor above the live brokers, Kafka's controller refuses the
creation (InvalidReplicationFactorException) after the broker answered, so the
client keeps seeing UNKNOWN_TOPIC_OR_PARTITION and no topic is created."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from _harness import InProcessBroker  # type: ignore[import-not-found]

from kwire.errors import ErrorCode


@pytest.mark.parametrize("version", [1, 4, 12])
async def test_auto_creation_beyond_the_live_brokers_is_refused(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, version: int) -> None:
    kb = InProcessBroker(tmp_path, **{"default.replication.factor": "3"})
    body: dict[str, object] = {"topics": [{"name": "auto"}]}
    if version >= 4:
        body["allow_auto_topic_creation"] = True  # v1-3 always allow it
    if version >= 8:
        body["include_topic_authorized_operations"] = False
    if version >= 10:
        body["topics"] = [{"name": "auto", "topic_id": None}]
    with caplog.at_level(logging.WARNING, logger="kwire.metadata"):
        for _ in range(2):  # asked again: still not there
            r = await kb.call(3, version, body)
            (topic,) = r.topics
            assert (topic.name, topic.error_code) == ("auto", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
            assert topic.partitions == ()
            assert [b.node_id for b in r.brokers] == [1]
    assert "auto" not in kb.broker.snapshot().topics
    warnings = [rec for rec in caplog.records if rec.name == "kwire.metadata"]
    assert len(warnings) == 2 and "auto" in warnings[0].getMessage()
    assert "Replication factor: 3 larger than available brokers: 1" in warnings[0].getMessage()


async def test_auto_creation_within_the_live_brokers_still_creates(tmp_path: Path) -> None:
    kb = InProcessBroker(tmp_path, **{"default.replication.factor": "1"})
    body = {"topics": [{"name": "auto", "topic_id": None}], "allow_auto_topic_creation": True,
            "include_topic_authorized_operations": False}
    r = await kb.call(3, 12, body)
    assert r.topics[0].error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION  # as Kafka 4
    assert "auto" in kb.broker.snapshot().topics
    r = await kb.call(3, 12, body)
    assert r.topics[0].error_code == ErrorCode.NONE
