"""KIP-890 part 1 through the wire: a producer's first transactional write to a
partition (Produce, TxnOffsetCommit) is checked with the transaction coordinator,
and answered as Kafka 4.4 answers a failed check."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from _harness import InProcessBroker  # type: ignore[import-not-found]

from kwire.coordinator.txn.metadata import TxnMetadata, TxnState
from kwire.errors import ErrorCode
from kwire.records.builder import build_batch


@pytest.fixture
def kb(tmp_path: Path) -> InProcessBroker:
    return InProcessBroker(tmp_path, **{"transaction.state.log.num.partitions": "3",
                                        "offsets.topic.num.partitions": "3"})


async def _begin(kb: InProcessBroker, txn_id: str = "tx") -> tuple[int, int]:
    await kb.call(10, 4, {"key_type": 1, "coordinator_keys": [txn_id]})
    r = await kb.call(22, 4, {"transactional_id": txn_id, "transaction_timeout": 60_000,
                              "producer_id": -1, "producer_epoch": -1})
    assert r.error_code == 0
    return int(r.producer_id), int(r.producer_epoch)


async def _add(kb: InProcessBroker, pid: int, epoch: int, partition: int,
               txn_id: str = "tx") -> None:
    r = await kb.call(24, 3, {
        "v3_and_below_transactional_id": txn_id, "v3_and_below_producer_id": pid,
        "v3_and_below_producer_epoch": epoch,
        "v3_and_below_topics": [{"name": "t", "partitions": [partition]}]})
    assert r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code == 0


async def _produce(kb: InProcessBroker, pid: int, epoch: int, seq: int = 0, partition: int = 0,
                   txn_id: str = "tx") -> Any:
    batch = build_batch([(None, b"v", ())], 1_000, pid, epoch, seq, transactional=True)
    r = await kb.call(0, 9, {"transactional_id": txn_id, "acks": -1, "timeout": 5000,
                             "topic_data": [{"name": "t", "partition_data": [
                                 {"index": partition, "records": batch}]}]})
    return r.responses[0].partition_responses[0]


def _end(kb: InProcessBroker, partition: int = 0) -> int:
    p = kb.broker.partition("t", partition)
    assert p is not None
    return p.log.offsets().log_end_offset


async def test_a_partition_not_added_is_refused_and_nothing_is_stored(
    kb: InProcessBroker,
) -> None:
    await kb.broker.create_topic("t", 2, {})
    pid, epoch = await _begin(kb)
    await _add(kb, pid, epoch, 0)
    refused = await _produce(kb, pid, epoch, partition=1)
    assert (refused.error_code, refused.error_message, refused.base_offset,
            refused.log_start_offset) == (
        ErrorCode.INVALID_TXN_STATE, "Partition was not added to the transaction", -1, -1)
    assert _end(kb, 1) == 0
    assert (await _produce(kb, pid, epoch, partition=0)).error_code == ErrorCode.NONE


async def test_the_coordinator_checks_the_producer(kb: InProcessBroker) -> None:
    await kb.broker.create_topic("t", 1, {})
    pid, epoch = await _begin(kb)
    await _add(kb, pid, epoch, 0)
    assert (await _produce(kb, pid, epoch + 1)).error_code == ErrorCode.INVALID_PRODUCER_EPOCH
    assert (await _produce(kb, pid + 1, epoch)).error_code == (
        ErrorCode.INVALID_PRODUCER_ID_MAPPING)
    assert (await _produce(kb, pid, epoch, txn_id="never-seen")).error_code == (
        ErrorCode.INVALID_PRODUCER_ID_MAPPING)
    assert _end(kb) == 0


async def test_only_the_first_write_of_a_transaction_asks(kb: InProcessBroker) -> None:
    await kb.broker.create_topic("t", 1, {})
    pid, epoch = await _begin(kb)
    await _add(kb, pid, epoch, 0)
    asked = 0
    real = kb.broker.transactions.verify_partitions

    async def counting(*args: Any) -> Any:
        nonlocal asked
        asked += 1
        return await real(*args)

    kb.broker.transactions.verify_partitions = counting  # type: ignore[method-assign]
    for seq in range(3):
        assert (await _produce(kb, pid, epoch, seq)).error_code == ErrorCode.NONE
    assert asked == 1


async def test_no_coordinator_yet_is_retriable(kb: InProcessBroker) -> None:
    await kb.broker.create_topic("t", 1, {})
    r = await _produce(kb, 7, 0)
    assert (r.error_code, r.error_message) == (
        ErrorCode.NOT_ENOUGH_REPLICAS, "Unable to verify the partition has been added to the "
        "transaction. Underlying error: COORDINATOR_NOT_AVAILABLE")


async def test_the_check_can_be_turned_off(tmp_path: Path) -> None:
    kb = InProcessBroker(tmp_path, **{"transaction.partition.verification.enable": "false"})
    await kb.broker.create_topic("t", 1, {})
    assert (await _produce(kb, 7, 0)).error_code == ErrorCode.NONE


async def test_txn_offset_commit_is_checked_too(kb: InProcessBroker) -> None:
    await kb.broker.create_topic("t", 1, {})
    pid, epoch = await _begin(kb)
    await kb.broker.groups.ensure_ready()

    async def commit(producer_epoch: int) -> int:
        r = await kb.call(28, 3, {
            "transactional_id": "tx", "group_id": "g", "producer_id": pid,
            "producer_epoch": producer_epoch, "generation_id": -1, "member_id": "",
            "group_instance_id": None, "topics": [{"name": "t", "partitions": [
                {"partition_index": 0, "committed_offset": 5, "committed_leader_epoch": -1,
                 "committed_metadata": ""}]}]})
        return int(r.topics[0].partitions[0].error_code)

    # Without AddOffsetsToTxn the group's partition is not in the transaction.
    assert await commit(epoch) == ErrorCode.INVALID_TXN_STATE
    r = await kb.call(25, 3, {"transactional_id": "tx", "producer_id": pid,
                              "producer_epoch": epoch, "group_id": "g"})
    assert r.error_code == 0
    # A higher epoch is refused before anything is written, so the transaction's
    # markers are not refused by the partition later.
    assert await commit(epoch + 1) == ErrorCode.INVALID_PRODUCER_EPOCH
    assert await commit(epoch) == ErrorCode.NONE
    r = await kb.call(26, 3, {"transactional_id": "tx", "producer_id": pid,
                              "producer_epoch": epoch, "committed": False})
    assert r.error_code == 0
    # The abort completes: its marker reaches the group's partition.
    for _ in range(200):
        described = await kb.broker.transactions.describe("tx")
        assert isinstance(described, TxnMetadata)
        if described.state == TxnState.COMPLETE_ABORT:
            break
        await asyncio.sleep(0.01)
    assert described.state == TxnState.COMPLETE_ABORT
