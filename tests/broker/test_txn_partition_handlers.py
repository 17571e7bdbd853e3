"""The partition side of transactions through the wire: transactional Produce,
WriteTxnMarkers, read_committed Fetch and ListOffsets, DescribeProducers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from _harness import InProcessBroker  # type: ignore[import-not-found]

from kwire.errors import ErrorCode
from kwire.records.batch import iter_batches
from kwire.records.builder import build_batch, read_end_txn_marker

PID = 4000


@pytest.fixture
def kb(tmp_path: Path) -> InProcessBroker:
    # These tests drive partitions with made-up producer ids and no transaction
    # coordinator; the coordinator check of a first transactional write
    # (KIP-890) is test_txn_verification.py's.
    return InProcessBroker(tmp_path, **{"transaction.partition.verification.enable": "false"})


async def _create(kb: InProcessBroker, name: str, partitions: int = 1) -> None:
    r = await kb.call(19, 7, {"topics": [{
        "name": name, "num_partitions": partitions, "replication_factor": 1,
        "assignments": (), "configs": ()}], "timeout": 5000, "validate_only": False})
    assert r.topics[0].error_code == 0


async def _produce(kb: InProcessBroker, topic: str, batch: bytes, txn_id: str | None = "tx",
                   partition: int = 0) -> Any:
    r = await kb.call(0, 9, {"transactional_id": txn_id, "acks": -1, "timeout": 5000,
                             "topic_data": [{"name": topic, "partition_data": [
                                 {"index": partition, "records": batch}]}]})
    return r.responses[0].partition_responses[0]


def _txn_batch(seq: int, pid: int = PID, epoch: int = 0, n: int = 1,
               transactional: bool = True) -> bytes:
    return build_batch([(None, b"v%d" % (seq + i), ()) for i in range(n)], 1_000, pid, epoch,
                       seq, transactional=transactional)


async def _markers(kb: InProcessBroker, topic: str, commit: bool, pid: int = PID,
                   epoch: int = 0, coordinator_epoch: int = 0, partitions: tuple[int, ...] = (0,),
                   version: int = 1) -> list[int]:
    r = await kb.call(27, version, {"markers": [{
        "producer_id": pid, "producer_epoch": epoch, "transaction_result": commit,
        "coordinator_epoch": coordinator_epoch,
        "topics": [{"name": topic, "partition_indexes": partitions}]}]})
    assert r.markers[0].producer_id == pid
    return [p.error_code for p in r.markers[0].topics[0].partitions]


async def _fetch(kb: InProcessBroker, topic: str, offset: int, isolation: int,
                 max_wait: int = 0) -> Any:
    r = await kb.call(1, 12, {
        "max_wait": max_wait, "min_bytes": 1, "max_bytes": 1 << 20,
        "isolation_level": isolation, "session_id": 0, "session_epoch": -1,
        "forgotten_topics_data": (), "rack_id": "",
        "topics": [{"topic": topic, "partitions": [{"partition": 0, "fetch_offset": offset,
                                                    "partition_max_bytes": 1 << 20}]}]})
    return r.responses[0].partitions[0]


def _offsets_of(records: bytes | None) -> list[tuple[int, bool]]:
    return [(h.base_offset, h.is_control) for _pos, h in iter_batches(records or b"")]


async def _latest(kb: InProcessBroker, topic: str, isolation: int) -> int:
    r = await kb.call(2, 7, {"replica_id": -1, "isolation_level": isolation, "topics": [
        {"name": topic, "partitions": [{"partition_index": 0, "current_leader_epoch": -1,
                                        "timestamp": -1}]}]})
    return int(r.topics[0].partitions[0].offset)


async def test_aborted_and_committed_transactions_for_both_isolation_levels(
    kb: InProcessBroker,
) -> None:
    await _create(kb, "t")
    assert (await _produce(kb, "t", _txn_batch(0, n=2))).error_code == 0  # offsets 0-1
    assert (await _produce(kb, "t", _txn_batch(0, pid=PID + 1))).error_code == 0  # 2
    assert await _latest(kb, "t", 1) == 0 and await _latest(kb, "t", 0) == 3
    uncommitted = await _fetch(kb, "t", 0, 0)
    assert _offsets_of(uncommitted.records) == [(0, False), (2, False)]
    assert uncommitted.last_stable_offset == 0 and uncommitted.aborted_transactions is None
    committed = await _fetch(kb, "t", 0, 1)
    assert committed.records in (b"", None) and committed.last_stable_offset == 0
    assert committed.aborted_transactions == ()

    assert await _markers(kb, "t", commit=False) == [ErrorCode.NONE]  # offset 3
    p = await _fetch(kb, "t", 0, 1)
    assert p.last_stable_offset == 2 and p.high_watermark == 4
    assert _offsets_of(p.records) == [(0, False)]  # cut at the LSO: PID+1's batch is open
    assert [(a.producer_id, a.first_offset) for a in p.aborted_transactions] == [(PID, 0)]

    assert await _markers(kb, "t", commit=True, pid=PID + 1) == [ErrorCode.NONE]  # 4
    p = await _fetch(kb, "t", 0, 1)
    assert p.last_stable_offset == 5 == await _latest(kb, "t", 1)
    assert _offsets_of(p.records) == [(0, False), (2, False), (3, True), (4, True)]
    assert [(a.producer_id, a.first_offset) for a in p.aborted_transactions] == [(PID, 0)]
    marker = bytes(p.records)[-(len(bytes(p.records)) - [pos for pos, _ in
                                                          iter_batches(p.records)][-1]):]
    assert read_end_txn_marker(marker) is not None
    # A fetch past the aborted transaction is not told about it.
    later = await _fetch(kb, "t", 4, 1)
    assert later.aborted_transactions == ()


async def test_read_committed_fetch_at_the_lso_waits_for_the_marker(kb: InProcessBroker) -> None:
    await _create(kb, "t")
    await _produce(kb, "t", _txn_batch(0))
    waiting = asyncio.create_task(_fetch(kb, "t", 0, 1, max_wait=5_000))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # caught up at the LSO although the log has data
    assert await _markers(kb, "t", commit=True) == [ErrorCode.NONE]
    p = await asyncio.wait_for(waiting, 2)
    assert _offsets_of(p.records) == [(0, False), (1, True)]


async def test_transactional_produce_rules(kb: InProcessBroker) -> None:
    await _create(kb, "t")
    no_id = await _produce(kb, "t", _txn_batch(0), txn_id=None)
    assert (no_id.error_code, no_id.error_message) == (
        ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, None)
    assert (await _produce(kb, "t", _txn_batch(0))).error_code == 0
    plain = await _produce(kb, "t", _txn_batch(1, transactional=False))
    assert plain.error_code == ErrorCode.INVALID_TXN_STATE
    assert (await _produce(kb, "t", _txn_batch(1))).error_code == 0


async def test_write_txn_markers_errors(kb: InProcessBroker) -> None:
    await _create(kb, "t", 2)
    await _produce(kb, "t", _txn_batch(0, epoch=3))
    assert await _markers(kb, "t", True, epoch=2) == [ErrorCode.INVALID_PRODUCER_EPOCH]
    assert await _markers(kb, "t", True, epoch=3, coordinator_epoch=7,
                          partitions=(0, 1, 5), version=2) == [
        ErrorCode.NONE, ErrorCode.NONE, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]
    assert await _markers(kb, "t", False, epoch=3, coordinator_epoch=6) == [
        ErrorCode.TRANSACTION_COORDINATOR_FENCED]
    assert await _markers(kb, "nope", False) == [ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]
    # Kafka 4.4.0: a marker for producer id -1 fails everywhere, even where unknown.
    assert await _markers(kb, "t", False, pid=-1, partitions=(0, 9)) == [
        ErrorCode.UNKNOWN_SERVER_ERROR] * 2


async def test_describe_producers(kb: InProcessBroker) -> None:
    await _create(kb, "t")
    await _produce(kb, "t", _txn_batch(0, n=3))
    await _produce(kb, "t", _txn_batch(0, pid=PID + 1, transactional=False), txn_id=None)
    await _markers(kb, "t", True, pid=PID + 1, coordinator_epoch=4)
    r = await kb.call(61, 0, {"topics": [{"name": "t", "partition_indexes": (0, 9)},
                                         {"name": "missing", "partition_indexes": (0,)},
                                         {"name": "bad name", "partition_indexes": (1,)}]})
    ok, unknown = r.topics[0].partitions
    states = {p.producer_id: p for p in ok.active_producers}
    assert ok.error_code == 0 and set(states) == {PID, PID + 1}
    assert (states[PID].producer_epoch, states[PID].last_sequence,
            states[PID].current_txn_start_offset, states[PID].coordinator_epoch) == (0, 2, 0, -1)
    assert (states[PID + 1].last_sequence, states[PID + 1].current_txn_start_offset,
            states[PID + 1].coordinator_epoch) == (0, -1, 4)
    assert (unknown.partition_index, unknown.error_code, unknown.error_message) == (
        9, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, None)
    missing = r.topics[1].partitions[0]
    assert (missing.error_code, missing.error_message) == (
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "This server does not host this topic-partition.")
    assert r.topics[2].partitions[0].error_code == ErrorCode.INVALID_TOPIC_EXCEPTION
