"""CreateTopics, CreatePartitions and DeleteTopics with a timeout of 0 or less,
and Metadata v12+ with a topic entry naming nothing: Kafka 4.4's answers (as
recorded against a real 4.4.0 broker by the differential harness's probes)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from _harness import InProcessBroker  # type: ignore[import-not-found]

from kwire.errors import ErrorCode

TIMED_OUT = ErrorCode.REQUEST_TIMED_OUT


@pytest.fixture
def kb(tmp_path: Path) -> InProcessBroker:
    return InProcessBroker(tmp_path)


def _topic(name: str, partitions: int = 2) -> dict[str, Any]:
    return {"name": name, "num_partitions": partitions, "replication_factor": 1,
            "assignments": (), "configs": ()}


async def _create(kb: InProcessBroker, names: list[str], timeout: int,
                  validate_only: bool = False, version: int = 7) -> Any:
    return await kb.call(19, version, {"topics": [_topic(n) for n in names],
                                       "timeout": timeout, "validate_only": validate_only})


async def _grow(kb: InProcessBroker, names: list[str], timeout: int,
                validate_only: bool = False, version: int = 3) -> Any:
    return await kb.call(37, version, {
        "topics": [{"name": n, "count": 3, "assignments": None} for n in names],
        "timeout": timeout, "validate_only": validate_only})


async def _delete(kb: InProcessBroker, topics: list[tuple[str | None, uuid.UUID | None]],
                  timeout: int) -> Any:
    return await kb.call(20, 6, {"timeout": timeout, "topics": [
        {"name": name, "topic_id": topic_id} for name, topic_id in topics]})


def _answers(results: Any) -> list[tuple[str | None, int, str | None]]:
    return [(t.name, t.error_code, t.error_message) for t in results]


@pytest.mark.parametrize("timeout", [0, -1, -2**31])
@pytest.mark.parametrize("validate_only", [False, True])
async def test_create_topics_expire_and_create_nothing(
        kb: InProcessBroker, timeout: int, validate_only: bool) -> None:
    r = await _create(kb, ["a"], timeout, validate_only)
    [t] = r.topics
    assert (t.name, t.error_code, t.error_message) == ("a", TIMED_OUT, None)
    assert (t.num_partitions, t.replication_factor, t.configs) == (-1, -1, ())
    assert t.topic_id in (None, uuid.UUID(int=0))
    assert "a" not in kb.broker.snapshot().topics


async def test_create_topics_timed_out_names_every_entry_even_refused_ones(
        kb: InProcessBroker) -> None:
    await kb.broker.create_topic("exists", 1, {})
    # Duplicates, __cluster_metadata, invalid and existing names: each entry as sent.
    names = ["d", "d", "__cluster_metadata", "bad name!", "exists", "x"]
    r = await _create(kb, names, 0)
    assert _answers(r.topics) == [(n, TIMED_OUT, None) for n in names]
    assert set(kb.broker.snapshot().topics) == {"exists"}
    r = await _create(kb, ["v4"], 0, version=4)
    assert _answers(r.topics) == [("v4", TIMED_OUT, None)]


async def test_create_topics_without_controller_work_answer_as_usual(
        kb: InProcessBroker) -> None:
    # Nothing left for the controller: ControllerApis' own refusals, no timeout.
    r = await _create(kb, ["d", "d"], 0)
    assert _answers(r.topics) == [("d", ErrorCode.INVALID_REQUEST, "Duplicate topic name.")]
    r = await _create(kb, ["__cluster_metadata"], 0)
    assert _answers(r.topics) == [("__cluster_metadata", ErrorCode.INVALID_REQUEST,
                                   "Creation of internal topic __cluster_metadata is "
                                   "prohibited.")]
    assert (await _create(kb, [], 0)).topics == ()
    # Any positive timeout is met.
    r = await _create(kb, ["ok"], 1)
    assert _answers(r.topics) == [("ok", ErrorCode.NONE, None)]


@pytest.mark.parametrize("timeout", [0, -5])
@pytest.mark.parametrize("validate_only", [False, True])
async def test_create_partitions_expire_and_grow_nothing(
        kb: InProcessBroker, timeout: int, validate_only: bool) -> None:
    await kb.broker.create_topic("t", 1, {})
    r = await _grow(kb, ["t"], timeout, validate_only)
    assert _answers(r.results) == [("t", TIMED_OUT, None)]
    # Duplicates and unknown names too, each entry as sent.
    r = await _grow(kb, ["t", "t", "nope"], timeout, validate_only)
    assert _answers(r.results) == [("t", TIMED_OUT, None), ("t", TIMED_OUT, None),
                                   ("nope", TIMED_OUT, None)]
    r = await _grow(kb, ["t"], timeout, validate_only, version=0)
    assert _answers(r.results) == [("t", TIMED_OUT, None)]
    assert len(kb.broker.snapshot().topics["t"].partitions) == 1


async def test_create_partitions_without_controller_work_answer_as_usual(
        kb: InProcessBroker) -> None:
    await kb.broker.create_topic("t", 1, {})
    r = await _grow(kb, ["t", "t"], 0)
    assert _answers(r.results) == [("t", ErrorCode.INVALID_REQUEST, "Duplicate topic name.")]
    assert (await _grow(kb, [], 0)).results == ()
    r = await _grow(kb, ["t"], 1)
    assert _answers(r.results) == [("t", ErrorCode.NONE, None)]
    assert len(kb.broker.snapshot().topics["t"].partitions) == 3


@pytest.mark.parametrize("timeout", [0, -1])
async def test_delete_topics_expire_and_delete_nothing(
        kb: InProcessBroker, timeout: int) -> None:
    a = await kb.broker.create_topic("a", 1, {})
    for topics in ([("a", None)], [(None, a.topic_id)], [("nope", None)],
                   [(None, uuid.UUID(int=7))], [("a", None), ("a", None), ("nope", None)],
                   [(None, None), ("a", None)]):
        r = await _delete(kb, topics, timeout)
        assert [(t.name, t.topic_id, t.error_code, t.error_message) for t in r.responses] == [
            (name, topic_id, TIMED_OUT, None) for name, topic_id in topics], topics
    r = await kb.call(20, 5, {"timeout": timeout, "topic_names": ["a"]})
    assert _answers(r.responses) == [("a", TIMED_OUT, None)]
    r = await kb.call(20, 1, {"timeout": timeout, "topic_names": ["a"]})
    assert [(t.name, t.error_code) for t in r.responses] == [("a", TIMED_OUT)]
    assert "a" in kb.broker.snapshot().topics


async def test_delete_topics_without_lookups_answer_as_usual(kb: InProcessBroker) -> None:
    a = await kb.broker.create_topic("a", 1, {})
    # Nothing left to look up: only ControllerApis' own refusals.
    r = await _delete(kb, [("a", None), ("a", None)], 0)
    assert _answers(r.responses) == [("a", ErrorCode.INVALID_REQUEST, "Duplicate topic name.")]
    r = await _delete(kb, [(None, None)], 0)
    assert _answers(r.responses) == [
        (None, ErrorCode.INVALID_REQUEST, "Neither topic name nor id were specified.")]
    r = await _delete(kb, [("a", a.topic_id)], 0)
    assert _answers(r.responses) == [
        ("a", ErrorCode.INVALID_REQUEST, "You may not specify both topic name and topic id.")]
    r = await kb.call(20, 5, {"timeout": 0, "topic_names": ["a", "a"]})
    assert _answers(r.responses) == [("a", ErrorCode.INVALID_REQUEST, "Duplicate topic name.")]
    assert (await _delete(kb, [], 0)).responses == ()
    assert "a" in kb.broker.snapshot().topics
    r = await _delete(kb, [("a", None)], 1)
    assert _answers(r.responses) == [("a", ErrorCode.NONE, None)]
    assert "a" not in kb.broker.snapshot().topics


async def _metadata(kb: InProcessBroker, version: int,
                    topics: list[tuple[str | None, uuid.UUID | None]]) -> Any:
    return await kb.call(3, version, {
        "topics": [{"name": n, "topic_id": i} for n, i in topics],
        "allow_auto_topic_creation": False, "include_topic_authorized_operations": False,
        "include_cluster_authorized_operations": False})


@pytest.mark.parametrize("version", [12, 13])
async def test_metadata_null_name_fails_the_whole_request(
        kb: InProcessBroker, version: int) -> None:
    await kb.broker.create_topic("t", 1, {})
    for topics in ([(None, None)], [("t", None), (None, None)], [(None, None), (None, None)]):
        r = await _metadata(kb, version, topics)
        assert (r.brokers, r.cluster_id, r.controller_id) == ((), None, -1)
        assert [(t.name, t.error_code, t.partitions) for t in r.topics] == [
            (name or "", ErrorCode.UNKNOWN_SERVER_ERROR, ()) for name, _ in topics]
        if version >= 13:
            assert r.error_code == ErrorCode.UNKNOWN_SERVER_ERROR


async def test_metadata_null_name_before_v12_and_beside_an_id(kb: InProcessBroker) -> None:
    t = await kb.broker.create_topic("t", 1, {})
    for version in (10, 11):
        r = await _metadata(kb, version, [(None, None)])
        assert [(x.name, x.error_code) for x in r.topics] == [("", ErrorCode.INVALID_REQUEST)]
    # With a topic id in the request, names (null or not) are not looked at.
    r = await _metadata(kb, 12, [(None, None), (None, t.topic_id)])
    assert [(x.name, x.error_code) for x in r.topics] == [("t", ErrorCode.NONE)]
    assert r.brokers != ()
