"""The transaction coordinator through the wire: FindCoordinator, InitProducerId,
AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, DescribeTransactions and
ListTransactions on an in-process broker, markers landing in the partitions,
timeouts, expiry, and a shard reloaded from `__transaction_state` alone."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from _harness import InProcessBroker  # type: ignore[import-not-found]

from kwire.coordinator.txn.manager import TRANSACTION_STATE_TOPIC
from kwire.coordinator.txn.metadata import STATE_NAMES
from kwire.errors import ErrorCode
from kwire.log.scan import stored_batches
from kwire.records.builder import build_batch


@pytest.fixture
def kb(tmp_path: Path) -> InProcessBroker:
    return InProcessBroker(tmp_path, **{"transaction.state.log.num.partitions": "3",
                                        "offsets.topic.num.partitions": "3"})


async def _create(kb: InProcessBroker, name: str, partitions: int = 2) -> None:
    r = await kb.call(19, 7, {"topics": [{
        "name": name, "num_partitions": partitions, "replication_factor": 1,
        "assignments": (), "configs": ()}], "timeout": 5000, "validate_only": False})
    assert r.topics[0].error_code == 0


async def _find(kb: InProcessBroker, key: str) -> Any:
    r = await kb.call(10, 4, {"key_type": 1, "coordinator_keys": [key]})
    return r.coordinators[0]


async def _init(kb: InProcessBroker, txn_id: str = "tx", pid: int = -1, epoch: int = -1,
                timeout: int = 60_000, version: int = 4) -> Any:
    return await kb.call(22, version, {"transactional_id": txn_id, "transaction_timeout": timeout,
                                       "producer_id": pid, "producer_epoch": epoch})


async def _add(kb: InProcessBroker, pid: int, epoch: int, parts: dict[str, list[int]],
               txn_id: str = "tx", version: int = 3) -> dict[tuple[str, int], int]:
    r = await kb.call(24, version, {
        "v3_and_below_transactional_id": txn_id, "v3_and_below_producer_id": pid,
        "v3_and_below_producer_epoch": epoch,
        "v3_and_below_topics": [{"name": t, "partitions": ps} for t, ps in parts.items()]})
    return {(t.name, p.partition_index): p.partition_error_code
            for t in r.results_by_topic_v3_and_below for p in t.results_by_partition}


async def _end(kb: InProcessBroker, pid: int, epoch: int, commit: bool, txn_id: str = "tx",
               version: int = 3) -> int:
    r = await kb.call(26, version, {"transactional_id": txn_id, "producer_id": pid,
                                    "producer_epoch": epoch, "committed": commit})
    return int(r.error_code)


async def _produce(kb: InProcessBroker, topic: str, partition: int, pid: int, epoch: int,
                   seq: int) -> int:
    batch = build_batch([(None, b"v", ())], 1_000, pid, epoch, seq, transactional=True)
    r = await kb.call(0, 9, {"transactional_id": "tx", "acks": -1, "timeout": 5000,
                             "topic_data": [{"name": topic, "partition_data": [
                                 {"index": partition, "records": batch}]}]})
    return int(r.responses[0].partition_responses[0].error_code)


async def _describe(kb: InProcessBroker, txn_id: str = "tx") -> Any:
    """DescribeTransactions' view. Through the coordinator: the test's kio reader
    refuses the -1 start time Kafka answers for a transaction not yet begun."""
    found = await kb.broker.transactions.describe(txn_id)
    if isinstance(found, ErrorCode):
        return SimpleNamespace(error_code=found, transaction_state="")
    return SimpleNamespace(
        error_code=0, transaction_state=STATE_NAMES[found.state], producer_id=found.producer_id,
        producer_epoch=found.producer_epoch, partitions=sorted(found.partitions))


async def _settled(kb: InProcessBroker, state: str, txn_id: str = "tx") -> Any:
    """Markers are written in the background: wait for the completion record."""
    for _ in range(200):
        d = await _describe(kb, txn_id)
        if d.transaction_state == state:
            return d
        await asyncio.sleep(0.01)
    raise AssertionError(f"{txn_id} is {d.transaction_state}, not {state}")


async def _controls(kb: InProcessBroker, topic: str, partition: int) -> list[tuple[int, bool]]:
    p = kb.broker.partition(topic, partition)
    assert p is not None
    return [(h.base_offset, h.is_control) async for _, h in stored_batches(p.log)]


async def test_a_committed_transaction_gets_markers_and_completes(kb: InProcessBroker) -> None:
    await _create(kb, "t")
    found = await _find(kb, "tx")
    assert (found.error_code, found.node_id) == (0, 1)
    assert kb.broker.internal_topic_partitions(TRANSACTION_STATE_TOPIC) == 3
    init = await _init(kb)
    assert (init.error_code, init.producer_epoch) == (0, 0)
    pid = init.producer_id
    assert await _add(kb, pid, 0, {"t": [0, 1]}) == {("t", 0): 0, ("t", 1): 0}
    assert await _produce(kb, "t", 0, pid, 0, 0) == 0
    r = await kb.call(65, 0, {"transactional_ids": ["tx"]})
    (d,) = r.transaction_states
    assert (d.error_code, d.transaction_state, d.producer_id, d.producer_epoch,
            d.transaction_timeout.total_seconds(),
            [(t.topic, list(t.partitions)) for t in d.topics]
            ) == (0, "Ongoing", pid, 0, 60, [("t", [0, 1])])
    assert (await _describe(kb, "nope")).error_code == ErrorCode.TRANSACTIONAL_ID_NOT_FOUND
    assert await _end(kb, pid, 0, True) == 0
    await _settled(kb, "CompleteCommit")
    # Every partition of the transaction got its marker, also the one with no data.
    assert await _controls(kb, "t", 0) == [(0, False), (1, True)]
    assert await _controls(kb, "t", 1) == [(0, True)]
    assert kb.broker.partition("t", 0).offsets().last_stable_offset == 2  # type: ignore[union-attr]
    assert await _end(kb, pid, 0, True) == 0  # a retried EndTxn
    assert await _end(kb, pid, 0, False) == ErrorCode.INVALID_TXN_STATE


async def test_unknown_partitions_fail_the_whole_add(kb: InProcessBroker) -> None:
    await _create(kb, "t")
    await _find(kb, "tx")
    pid = (await _init(kb)).producer_id
    assert await _add(kb, pid, 0, {"t": [0, 9], "nope": [0]}) == {
        ("t", 0): ErrorCode.OPERATION_NOT_ATTEMPTED, ("t", 9): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ("nope", 0): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION}
    assert (await _describe(kb)).transaction_state == "Empty"


async def test_a_second_producer_fences_the_first(kb: InProcessBroker) -> None:
    await _create(kb, "t")
    await _find(kb, "tx")
    pid = (await _init(kb)).producer_id
    await _add(kb, pid, 0, {"t": [0]})
    assert await _produce(kb, "t", 0, pid, 0, 0) == 0
    # The new producer meets the open transaction: it is aborted under epoch 1.
    assert (await _init(kb)).error_code == ErrorCode.CONCURRENT_TRANSACTIONS
    await _settled(kb, "CompleteAbort")
    again = await _init(kb)
    assert (again.error_code, again.producer_id, again.producer_epoch) == (0, pid, 2)
    # The zombie is refused everywhere.
    assert await _produce(kb, "t", 0, pid, 0, 1) == ErrorCode.INVALID_PRODUCER_EPOCH
    assert await _add(kb, pid, 0, {"t": [0]}) == {("t", 0): ErrorCode.PRODUCER_FENCED}
    assert await _add(kb, pid, 0, {"t": [0]}, version=1) == {
        ("t", 0): ErrorCode.INVALID_PRODUCER_EPOCH}  # clients before KIP-588
    assert await _end(kb, pid, 0, True) == ErrorCode.PRODUCER_FENCED
    assert await _controls(kb, "t", 0) == [(0, False), (1, True)]


async def test_init_producer_id_request_checks(kb: InProcessBroker) -> None:
    await _find(kb, "tx")
    assert (await _init(kb, timeout=900_001)).error_code == ErrorCode.INVALID_TRANSACTION_TIMEOUT
    assert (await _init(kb, timeout=0)).error_code == ErrorCode.INVALID_TRANSACTION_TIMEOUT
    assert (await _init(kb, txn_id="")).error_code == ErrorCode.INVALID_REQUEST
    assert (await _init(kb, pid=5)).error_code == ErrorCode.INVALID_REQUEST
    first = await _init(kb)
    bumped = await _init(kb, pid=first.producer_id, epoch=0)
    assert (bumped.error_code, bumped.producer_epoch) == (0, 1)
    assert (await _init(kb, pid=first.producer_id + 100, epoch=1)
            ).error_code == ErrorCode.PRODUCER_FENCED


async def test_offsets_partition_joins_the_transaction(kb: InProcessBroker) -> None:
    await _find(kb, "tx")
    pid = (await _init(kb)).producer_id
    r = await kb.call(25, 3, {"transactional_id": "tx", "producer_id": pid, "producer_epoch": 0,
                              "group_id": "g"})
    assert r.error_code == 0
    d = await _describe(kb)
    assert d.partitions == [("__consumer_offsets", kb.broker.groups.partition_for("g"))]


async def test_a_transaction_past_its_timeout_is_aborted(kb: InProcessBroker) -> None:
    await _create(kb, "t")
    await _find(kb, "tx")
    pid = (await _init(kb, timeout=1_000)).producer_id
    await _add(kb, pid, 0, {"t": [0]})
    assert await _produce(kb, "t", 0, pid, 0, 0) == 0
    kb.clock.advance(1_000)
    assert await kb.broker.transactions.abort_timed_out() == 0
    kb.clock.advance(1)
    assert await kb.broker.transactions.abort_timed_out() == 1
    d = await _settled(kb, "CompleteAbort")
    assert d.producer_epoch == 1  # fenced: the producer learns of it at its next request
    assert await _end(kb, pid, 0, True) == ErrorCode.PRODUCER_FENCED
    assert kb.broker.partition("t", 0).offsets().last_stable_offset == 2  # type: ignore[union-attr]


async def test_idle_ids_expire(kb: InProcessBroker) -> None:
    await _find(kb, "tx")
    await _init(kb)
    expiration = kb.broker.transactions.settings.id_expiration_ms
    kb.clock.advance(expiration - 1)
    assert await kb.broker.transactions.expire_ids() == 0
    kb.clock.advance(1)
    assert await kb.broker.transactions.expire_ids() == 1
    assert (await _describe(kb)).error_code == ErrorCode.TRANSACTIONAL_ID_NOT_FOUND
    # And stays forgotten after a reload from the topic (the tombstone).
    await _reload(kb)
    assert (await _describe(kb)).error_code == ErrorCode.TRANSACTIONAL_ID_NOT_FOUND


async def test_list_transactions_filters(kb: InProcessBroker) -> None:
    await _create(kb, "t")
    await _find(kb, "a")
    pid_a = (await _init(kb, "a")).producer_id
    await _init(kb, "b")
    await _add(kb, pid_a, 0, {"t": [0]}, txn_id="a")

    async def listed(**body: Any) -> tuple[list[tuple[str, str]], list[str]]:
        request = {"state_filters": (), "producer_id_filters": (), "duration_filter": -1,
                   "transactional_id_pattern": None, **body}
        r = await kb.call(66, 2, request)
        assert r.error_code == 0
        return (sorted((s.transactional_id, s.transaction_state) for s in r.transaction_states),
                list(r.unknown_state_filters))

    assert await listed() == ([("a", "Ongoing"), ("b", "Empty")], [])
    assert await listed(state_filters=["Ongoing", "Bogus"]) == ([("a", "Ongoing")], ["Bogus"])
    assert await listed(producer_id_filters=[pid_a]) == ([("a", "Ongoing")], [])
    assert await listed(transactional_id_pattern="b.*") == ([("b", "Empty")], [])
    assert await listed(duration_filter=4_000, state_filters=["Ongoing"]) == ([], [])
    kb.clock.advance(5_000)
    # Kafka's rule is now - start > duration, so an id with no transaction (start
    # -1) always passes; kafka-transactions find-hanging filters on Ongoing too.
    assert await listed(duration_filter=4_000) == ([("a", "Ongoing"), ("b", "Empty")], [])
    r = await kb.call(66, 2, {"state_filters": (), "producer_id_filters": (),
                              "duration_filter": -1, "transactional_id_pattern": "("})
    assert r.error_code == ErrorCode.INVALID_REGULAR_EXPRESSION


async def _reload(kb: InProcessBroker) -> None:
    """Drop every shard and load it again from `__transaction_state` alone, as a
    new coordinator does after a failover or a restart."""
    txns = kb.broker.transactions
    shards = range(txns.num_partitions)
    await txns.on_leadership_change(gained=(), lost=shards)
    await txns.on_leadership_change(gained=shards, lost=())
    await txns.wait_loaded()


async def test_state_comes_back_by_replay_and_a_prepared_commit_is_finished(
    kb: InProcessBroker,
) -> None:
    await _create(kb, "t")
    await _find(kb, "tx")
    pid = (await _init(kb)).producer_id
    await _add(kb, pid, 0, {"t": [0]})
    assert await _produce(kb, "t", 0, pid, 0, 0) == 0
    # Stop the markers before they are written: the coordinator dies after
    # storing PrepareCommit.
    real = kb.broker.write_txn_markers

    async def lost(*_args: Any) -> dict[tuple[str, int], ErrorCode]:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    kb.broker.write_txn_markers = lost  # type: ignore[method-assign]
    assert await _end(kb, pid, 0, True) == 0
    assert (await _describe(kb)).transaction_state == "PrepareCommit"
    kb.broker.write_txn_markers = real  # type: ignore[method-assign]
    await _reload(kb)  # the loaded shard finishes what was prepared
    d = await _settled(kb, "CompleteCommit")
    assert (d.producer_id, d.producer_epoch) == (pid, 0)
    assert await _controls(kb, "t", 0) == [(0, False), (1, True)]
    again = await _init(kb, pid=pid, epoch=0)
    assert (again.error_code, again.producer_epoch) == (0, 1)
