"""ElectLeaders (43): a single node's answers, each as Kafka 4.4.0 gave it to the
same request (recorded with compat-tests/differential's wire client against a
real 4.4.0 broker), and the elections themselves on broker 1 of a three-broker
store (_admin_harness): leadership moves, this broker opens what it now leads,
NOT_CONTROLLER off the controller, retries after a lost compare-and-set."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from _admin_harness import ClusterBroker  # type: ignore[import-not-found]
from _harness import InProcessBroker  # type: ignore[import-not-found]

from kwire.cluster.admin import ClusterAdmin, NotController
from kwire.cluster.api import PartitionChange, PartitionState, TopicIndex
from kwire.cluster.controller import ApiError
from kwire.errors import ErrorCode
from kwire.zookeeper import Check

ELECT = 43
NOT_NEEDED = (ErrorCode.ELECTION_NOT_NEEDED, "Leader election not needed for topic partition.")
NONE = ApiError(ErrorCode.NONE)


def body(topics: list[tuple[str, list[int]]] | None, election_type: int = 0,
         timeout: int = 10_000) -> dict[str, Any]:
    named = None if topics is None else [{"topic": t, "partitions": p} for t, p in topics]
    return {"election_type": election_type, "topic_partitions": named, "timeout": timeout}


def results(response: Any) -> list[tuple[str, list[tuple[int, int, str | None]]]]:
    return [(r.topic, [(p.partition_id, p.error_code, p.error_message)
                       for p in r.partition_result])
            for r in response.replica_election_results]


# ---------------------------------------------------------------- a single node


@pytest.fixture
async def kb(tmp_path: Path) -> InProcessBroker:
    kb = InProcessBroker(tmp_path)
    await kb.broker.open_partitions()
    await kb.broker.create_topic("t1", 2, {})
    await kb.broker.create_topic("t0", 1, {})
    return kb


@pytest.mark.parametrize("version", [0, 1, 2])
async def test_the_only_broker_is_every_preferred_leader(kb: InProcessBroker,
                                                         version: int) -> None:
    before = kb.broker.snapshot().topics["t1"]
    resp = await kb.call(ELECT, version, body([("t1", [0, 1])]))
    assert results(resp) == [("t1", [(0, *NOT_NEEDED), (1, *NOT_NEEDED)])]
    if version >= 1:
        assert resp.error_code == ErrorCode.NONE
    assert kb.broker.snapshot().topics["t1"] == before  # no epoch moved


async def test_all_partitions_lists_every_topic_without_the_unneeded(
        kb: InProcessBroker) -> None:
    for election_type in (0, 1):
        resp = await kb.call(ELECT, 2, body(None, election_type))
        assert resp.error_code == ErrorCode.NONE
        assert results(resp) == [("t0", []), ("t1", [])]


async def test_unknown_topics_and_partitions_and_duplicates(kb: InProcessBroker) -> None:
    resp = await kb.call(ELECT, 2, body([("nope", [0]), ("t1", [7, -1, 0, 0]), ("t1", [1])]))
    assert results(resp) == [
        ("nope", [(0, 3, "No such topic as nope")]),
        ("t1", [(7, 3, "No such partition as t1-7"), (-1, 3, "No such partition as t1--1"),
                (0, *NOT_NEEDED), (0, *NOT_NEEDED)]),
        ("t1", [(1, *NOT_NEEDED)])]


async def test_unclean_with_a_live_leader_is_not_needed(kb: InProcessBroker) -> None:
    resp = await kb.call(ELECT, 2, body([("t1", [0, 5])], election_type=1))
    assert results(resp) == [("t1", [(0, *NOT_NEEDED), (5, 3, "No such partition as t1-5")])]


@pytest.mark.parametrize("election_type", [5, -1])
async def test_an_unknown_election_type_fails_the_request(kb: InProcessBroker,
                                                          election_type: int) -> None:
    resp = await kb.call(ELECT, 2, body([("t1", [0])], election_type))
    message = f"Unknown election type {election_type}"
    assert resp.error_code == ErrorCode.INVALID_REQUEST
    assert results(resp) == [("t1", [(0, ErrorCode.INVALID_REQUEST, message)])]
    resp = await kb.call(ELECT, 2, body(None, election_type))
    assert (resp.error_code, results(resp)) == (ErrorCode.INVALID_REQUEST, [])


@pytest.mark.parametrize("timeout", [0, -1])
async def test_an_expired_timeout_fails_the_request(kb: InProcessBroker, timeout: int) -> None:
    timed_out = ErrorCode.REQUEST_TIMED_OUT
    resp = await kb.call(ELECT, 2, body([("t1", [0]), ("t1", [])], 5, timeout))
    assert resp.error_code == timed_out  # before the election type is looked at
    assert results(resp) == [("t1", [(0, timed_out, None)]), ("t1", [])]
    resp = await kb.call(ELECT, 0, body([("t1", [0])], timeout=timeout))
    assert results(resp) == [("t1", [(0, timed_out, None)])]
    resp = await kb.call(ELECT, 2, body(None, timeout=timeout))
    assert (resp.error_code, results(resp)) == (timed_out, [])
    # An empty list needs no controller event at all: answered, empty.
    resp = await kb.call(ELECT, 2, body([], timeout=timeout))
    assert (resp.error_code, results(resp)) == (ErrorCode.NONE, [])


# ---------------------------------------------------------------- three brokers


@pytest.fixture
async def cb(tmp_path: Path) -> AsyncIterator[ClusterBroker]:
    cb = await ClusterBroker.open(tmp_path)
    # Preferred leaders 1, 2, 3, then 1 again; each partition failed over once.
    await cb.create("t", [(1, 2, 3), (2, 3, 1), (3, 1, 2), (1, 3, 2)])
    await cb.move("t", 0, 2)
    await cb.move("t", 1, 3)
    await cb.move("t", 3, 3)
    yield cb
    await cb.close()


async def test_preferred_election_moves_leadership_to_replicas_0(cb: ClusterBroker) -> None:
    assert not cb.leads("t", 0)
    resp = await cb.call(ELECT, 2, body([("t", [0, 2])]))
    assert results(resp) == [("t", [(0, 0, None), (2, *NOT_NEEDED)])]
    assert cb.state("t", 0) == PartitionState(1, 2, (1, 2, 3))
    assert cb.state("t", 2) == PartitionState(3, 0, (3, 1, 2))
    assert cb.leads("t", 0) and cb.broker.partition("t", 0).leader_epoch == 2


async def test_all_partitions_answers_only_the_elected(cb: ClusterBroker) -> None:
    resp = await cb.call(ELECT, 2, body(None))
    assert results(resp) == [("t", [(0, 0, None), (1, 0, None), (3, 0, None)])]
    assert [cb.state("t", i).leader for i in range(4)] == [1, 2, 3, 1]
    assert [cb.state("t", i).leader_epoch for i in range(4)] == [2, 2, 0, 2]
    assert cb.leads("t", 0) and cb.leads("t", 3)
    again = await cb.call(ELECT, 2, body(None))
    assert results(again) == [("t", [])]


async def test_a_dead_preferred_leader_is_not_available(cb: ClusterBroker) -> None:
    cb.set_live([1, 3])
    resp = await cb.call(ELECT, 2, body([("t", [1])]))
    assert results(resp) == [("t", [(1, ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE,
                                      "The preferred leader was not available.")])]
    assert cb.state("t", 1).leader == 3


async def test_unclean_elects_the_first_live_replica_where_the_leader_died(
        cb: ClusterBroker) -> None:
    # Broker 3 died; the controller has not moved its partitions yet.
    cb.set_live([1, 2])
    resp = await cb.call(ELECT, 2, body([("t", [1, 2, 0])], election_type=1))
    assert results(resp) == [("t", [(1, 0, None), (2, 0, None), (0, *NOT_NEEDED)])]
    assert cb.state("t", 1) == PartitionState(2, 2, (2, 3, 1))
    assert cb.state("t", 2) == PartitionState(1, 1, (3, 1, 2))
    resp = await cb.call(ELECT, 2, body(None, election_type=1))
    assert results(resp) == [("t", [(3, 0, None)])]
    assert cb.state("t", 3).leader == 1


async def test_not_the_controller(cb: ClusterBroker) -> None:
    cb.controller = False
    before = cb.store.snapshot().topics["t"]
    resp = await cb.call(ELECT, 2, body([("t", [0]), ("nope", [1])]))
    assert resp.error_code == ErrorCode.NONE
    assert results(resp) == [("t", [(0, ErrorCode.NOT_CONTROLLER, None)]),
                             ("nope", [(1, ErrorCode.NOT_CONTROLLER, None)])]
    resp = await cb.call(ELECT, 2, body(None))
    assert results(resp) == [("t", [(i, ErrorCode.NOT_CONTROLLER, None) for i in range(4)])]
    assert cb.store.snapshot().topics["t"] == before


async def test_a_deposed_controller_is_refused_and_answers_not_controller(
        cb: ClusterBroker) -> None:
    # The controller's fence, as election.py gives it; then another broker wins.
    epoch_path = "/kwire/controller_epoch"
    await cb.zk.create(epoch_path, b"1")
    cb.store.fence = lambda ops: [Check(epoch_path, 0), *ops]
    await cb.zk.set(epoch_path, b"2")
    resp = await cb.call(ELECT, 2, body([("t", [0])]))
    assert results(resp) == [("t", [(0, ErrorCode.NOT_CONTROLLER, None)])]
    assert cb.state("t", 0).leader == 2


class RacingStore:
    """The broker's store, but before its first leader change another writer (the
    controller's reconcile, say) moves partition `tp` to broker `leader`
    through a second store on the same tree."""

    def __init__(self, cb: ClusterBroker, tp: TopicIndex, leader: int = 1) -> None:
        self.cb = cb
        self.tp = tp
        self.leader = leader
        self.calls = 0

    def snapshot(self) -> Any:
        return self.cb.store.snapshot()

    async def alter_partitions(self, changes: Mapping[TopicIndex, PartitionChange]) -> None:
        self.calls += 1
        if self.calls == 1:
            other = await type(self.cb.store).open(self.cb.zk.new_session(), "/kwire",
                                                   self.cb.store.snapshot().brokers[1])
            state = other.snapshot().topics[self.tp[0]].partitions[self.tp[1]]
            await other.alter_partitions({self.tp: (state.leader_epoch, PartitionState(
                self.leader, state.leader_epoch + 1, state.replicas))})
        await self.cb.store.alter_partitions(changes)


async def test_a_lost_compare_and_set_is_decided_again(cb: ClusterBroker) -> None:
    racing = RacingStore(cb, ("t", 1))
    answers = await ClusterAdmin(racing, lambda: True).elect_preferred(None)  # type: ignore[arg-type]
    # t-0 and t-3 went with t-1 in one refused transaction; the second attempt
    # finds t-1 moved (to 1, not its preferred 2) and elects all three again.
    assert racing.calls == 2
    assert {tp: a.error_code for tp, a in answers.items()} == {
        ("t", 0): 0, ("t", 1): 0, ("t", 3): 0}
    assert [cb.state("t", i).leader for i in range(4)] == [1, 2, 3, 1]
    assert cb.state("t", 1).leader_epoch == 3  # 1 (failover), 2 (the race), 3 (elected)


async def test_a_retry_answers_what_the_first_attempt_wrote_as_elected(
        cb: ClusterBroker) -> None:
    # Topics are written one transaction each, in name order: "t" is written,
    # then "u" is refused; the retry must not call t's election "not needed".
    await cb.create("u", [(1, 2, 3)])
    await cb.move("u", 0, 2)
    racing = RacingStore(cb, ("u", 0), leader=3)
    answers = await ClusterAdmin(racing, lambda: True).elect_preferred(  # type: ignore[arg-type]
        [("t", 0), ("u", 0)])
    assert racing.calls == 2
    assert answers == {("t", 0): NONE, ("u", 0): NONE}
    assert cb.state("t", 0) == PartitionState(1, 2, (1, 2, 3))
    assert cb.state("u", 0) == PartitionState(1, 3, (1, 2, 3))  # 2 (race), 3 (elected)


async def test_not_the_controller_is_raised_before_anything_is_decided(
        cb: ClusterBroker) -> None:
    with pytest.raises(NotController):
        await ClusterAdmin(cb.store, lambda: False).reassign({("t", 0): (1, 2, 3)})
