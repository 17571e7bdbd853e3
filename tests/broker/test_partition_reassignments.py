"""AlterPartitionReassignments (45) and ListPartitionReassignments (46): a single
node's answers, each as Kafka 4.4.0 gave it to the same request (recorded with
compat-tests/differential's wire client against a real 4.4.0 broker), and
reassignments on broker 1 of a three-broker store (_admin_harness), which
complete at once: nothing is ever listed as in progress."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from _admin_harness import ClusterBroker  # type: ignore[import-not-found]
from _harness import InProcessBroker  # type: ignore[import-not-found]

from kwire.cluster.api import PartitionState
from kwire.errors import ErrorCode

ALTER, LIST = 45, 46
INVALID = ErrorCode.INVALID_REPLICA_ASSIGNMENT
UNKNOWN = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
NOT_CONTROLLER_MESSAGE = "This is not the correct controller for this cluster."


def alter(topics: list[tuple[str, list[tuple[int, list[int] | None]]]], timeout: int = 10_000,
          allow_rf_change: bool = True) -> dict[str, Any]:
    return {"timeout": timeout, "allow_replication_factor_change": allow_rf_change, "topics": [
        {"name": name, "partitions": [{"partition_index": i, "replicas": r} for i, r in parts]}
        for name, parts in topics]}


def answers(response: Any) -> list[tuple[str, list[tuple[int, int, str | None]]]]:
    return [(t.name, [(p.partition_index, p.error_code, p.error_message) for p in t.partitions])
            for t in response.responses]


def unregistered(broker: int) -> tuple[ErrorCode, str]:
    return INVALID, (f"The manual partition assignment includes broker {broker}, but no such "
                     "broker is registered.")


# ---------------------------------------------------------------- a single node


@pytest.fixture
async def kb(tmp_path: Path) -> InProcessBroker:
    kb = InProcessBroker(tmp_path)
    await kb.broker.open_partitions()
    await kb.broker.create_topic("t1", 2, {})
    return kb


@pytest.mark.parametrize("version", [0, 1])
async def test_the_same_replicas_succeed_and_change_nothing(kb: InProcessBroker,
                                                            version: int) -> None:
    before = kb.broker.snapshot().topics["t1"]
    resp = await kb.call(ALTER, version, alter([("t1", [(0, [1])])]))
    assert (resp.error_code, resp.error_message) == (ErrorCode.NONE, None)
    assert answers(resp) == [("t1", [(0, 0, None)])]
    if version >= 1:
        assert resp.allow_replication_factor_change is True
    assert kb.broker.snapshot().topics["t1"] == before


async def test_each_entry_is_checked_in_kafkas_order(kb: InProcessBroker) -> None:
    resp = await kb.call(ALTER, 1, alter([
        ("t1", [(0, None), (0, [2]), (0, [1, 2]), (0, []), (0, [1, 1]), (0, [-1]),
                (0, [3, 1, 3]), (9, [1]), (9, None), (-1, [1])]),
        ("nope", [(0, [1]), (0, None)]), ("", [(0, [1])]), ("t1", [])]))
    assert answers(resp) == [
        ("t1", [(0, ErrorCode.NO_REASSIGNMENT_IN_PROGRESS, None), (0, *unregistered(2)),
                (0, *unregistered(2)),
                (0, INVALID, "The manual partition assignment includes an empty replica list."),
                (0, INVALID, "The manual partition assignment includes the broker 1 more "
                             "than once."),
                (0, *unregistered(-1)), (0, *unregistered(3)),
                (9, UNKNOWN, "Unable to find partition t1:9."),
                (9, UNKNOWN, "Unable to find partition t1:9."),
                (-1, UNKNOWN, "Unable to find partition t1:-1.")]),
        ("nope", [(0, UNKNOWN, "Unable to find a topic named nope."),
                  (0, UNKNOWN, "Unable to find a topic named nope.")]),
        ("", [(0, UNKNOWN, "Unable to find a topic named .")]),
        ("t1", [])]
    assert resp.error_code == ErrorCode.NONE


async def test_duplicates_are_each_answered(kb: InProcessBroker) -> None:
    resp = await kb.call(ALTER, 1, alter([("t1", [(0, [1]), (0, [1]), (1, None)]),
                                          ("t1", [(1, [1])])]))
    assert answers(resp) == [
        ("t1", [(0, 0, None), (0, 0, None), (1, ErrorCode.NO_REASSIGNMENT_IN_PROGRESS, None)]),
        ("t1", [(1, 0, None)])]


async def test_no_topics_is_answered_with_an_empty_message(kb: InProcessBroker) -> None:
    for timeout in (10_000, 0):
        resp = await kb.call(ALTER, 1, alter([], timeout))
        assert (resp.error_code, resp.error_message, answers(resp)) == (0, "", [])


@pytest.mark.parametrize("timeout", [0, -1])
async def test_an_expired_timeout_fails_the_request(kb: InProcessBroker, timeout: int) -> None:
    timed_out = ErrorCode.REQUEST_TIMED_OUT
    resp = await kb.call(ALTER, 1, alter([("t1", [(0, [1])]), ("t1", [])], timeout,
                                         allow_rf_change=False))
    assert (resp.error_code, resp.error_message) == (timed_out, None)
    assert answers(resp) == [("t1", [(0, timed_out, None)]), ("t1", [])]
    # getErrorResponse leaves the flag at its default, whatever was asked
    assert resp.allow_replication_factor_change is True
    resp = await kb.call(ALTER, 0, alter([("t1", [(0, None)])], timeout))
    assert answers(resp) == [("t1", [(0, timed_out, None)])]


async def test_the_flag_is_echoed(kb: InProcessBroker) -> None:
    resp = await kb.call(ALTER, 1, alter([("t1", [(0, [1])])], allow_rf_change=False))
    assert resp.allow_replication_factor_change is False
    assert answers(resp) == [("t1", [(0, 0, None)])]


@pytest.mark.parametrize("timeout", [10_000, 0, -1])
async def test_nothing_is_ever_in_progress(kb: InProcessBroker, timeout: int) -> None:
    for topics in (None, [], [{"name": "t1", "partition_indexes": [0, 9]},
                              {"name": "nope", "partition_indexes": [0]}]):
        resp = await kb.call(LIST, 0, {"timeout": timeout, "topics": topics})
        assert (resp.error_code, resp.error_message, resp.topics) == (0, None, ())


# ---------------------------------------------------------------- three brokers


@pytest.fixture
async def cb(tmp_path: Path) -> AsyncIterator[ClusterBroker]:
    cb = await ClusterBroker.open(tmp_path)
    await cb.create("t", [(2, 3, 1), (1, 2, 3)])
    yield cb
    await cb.close()


async def test_a_reorder_keeps_the_leader_and_its_epoch(cb: ClusterBroker) -> None:
    resp = await cb.call(ALTER, 1, alter([("t", [(0, [1, 3, 2])])]))
    assert answers(resp) == [("t", [(0, 0, None)])]
    # Leadership follows at the next preferred election, as Kafka's does.
    assert cb.state("t", 0) == PartitionState(2, 0, (1, 3, 2))
    assert not cb.leads("t", 0)
    resp = await cb.call(LIST, 0, {"timeout": 1000, "topics": None})
    assert resp.topics == ()


async def test_dropping_the_leader_moves_leadership_at_once(cb: ClusterBroker) -> None:
    resp = await cb.call(ALTER, 1, alter([("t", [(0, [1, 3]), (1, [2, 3])])]))
    assert answers(resp) == [("t", [(0, 0, None), (1, 0, None)])]
    assert cb.state("t", 0) == PartitionState(1, 1, (1, 3))
    assert cb.state("t", 1) == PartitionState(2, 1, (2, 3))
    assert cb.leads("t", 0) and not cb.leads("t", 1)  # broker 1 opened and closed at once


async def test_a_new_replica_must_be_live_a_kept_one_need_not(cb: ClusterBroker) -> None:
    await cb.call(ALTER, 1, alter([("t", [(1, [1, 2])])]))  # broker 3 leaves t-1's list
    cb.set_live([1, 2])
    resp = await cb.call(ALTER, 1, alter([("t", [(0, [3, 1]), (1, [1, 3])])]))
    assert answers(resp) == [("t", [(0, 0, None), (1, *unregistered(3))])]
    # The leader 2 left the list; 3 is not live, so 1 leads.
    assert cb.state("t", 0) == PartitionState(1, 1, (3, 1))


async def test_a_replication_factor_change_may_be_refused(cb: ClusterBroker) -> None:
    resp = await cb.call(ALTER, 1, alter([("t", [(0, [1, 2]), (1, [3, 2, 1])])],
                                         allow_rf_change=False))
    assert answers(resp) == [("t", [
        (0, ErrorCode.INVALID_REPLICATION_FACTOR, "The replication factor is changed from 3 "
                                                  "to 2"),
        (1, 0, None)])]
    assert cb.state("t", 0).replicas == (2, 3, 1)


async def test_not_the_controller(cb: ClusterBroker) -> None:
    cb.controller = False
    resp = await cb.call(ALTER, 1, alter([("t", [(0, [1, 2, 3])])]))
    assert (resp.error_code, resp.error_message) == (ErrorCode.NOT_CONTROLLER,
                                                     NOT_CONTROLLER_MESSAGE)
    assert answers(resp) == []
    assert cb.state("t", 0).replicas == (2, 3, 1)
    resp = await cb.call(LIST, 0, {"timeout": 1000, "topics": None})
    assert (resp.error_code, resp.error_message, resp.topics) == (
        ErrorCode.NOT_CONTROLLER, NOT_CONTROLLER_MESSAGE, ())
