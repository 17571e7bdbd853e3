"""The transaction coordinator's pure transitions (Kafka's TransactionMetadata
and TransactionCoordinator checks), and its `__transaction_state` records."""

from __future__ import annotations

import struct
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from kwire.coordinator.txn import metadata as txn
from kwire.coordinator.txn.metadata import FenceAndAbort, TxnMetadata, TxnState
from kwire.coordinator.txn.records import (
    TransactionLogValue,
    decode_key,
    decode_value,
    encode_key,
    encode_value,
)
from kwire.errors import ErrorCode

NOW = 1_000_000
TP = ("t", 0)


def _init(current: TxnMetadata, pid: int = -1, epoch: int = -1, new_id: int = 99
          ) -> TxnMetadata | FenceAndAbort | ErrorCode:
    return txn.init_producer_id(current, timeout_ms=60_000, expected_pid=pid,
                                expected_epoch=epoch, now_ms=NOW, new_producer_id=new_id)


def _fresh() -> TxnMetadata:
    first = _init(txn.new_transaction("tx", 7, 60_000, NOW))
    assert isinstance(first, TxnMetadata)
    return first


def test_a_new_id_starts_at_epoch_0_and_each_init_bumps_it() -> None:
    first = _fresh()
    assert (first.producer_id, first.producer_epoch, first.state) == (7, 0, TxnState.EMPTY)
    second = _init(first)
    assert isinstance(second, TxnMetadata) and second.producer_epoch == 1


def test_kip_360_retry_of_a_bump_whose_answer_was_lost_gets_the_same_epoch() -> None:
    first = _fresh()
    bumped = _init(first, pid=7, epoch=0)
    assert isinstance(bumped, TxnMetadata) and bumped.producer_epoch == 1
    retried = _init(bumped, pid=7, epoch=0)
    assert isinstance(retried, TxnMetadata) and retried.producer_epoch == 1
    assert _init(bumped, pid=7, epoch=5) == ErrorCode.PRODUCER_FENCED
    assert _init(bumped, pid=8, epoch=1) == ErrorCode.PRODUCER_FENCED


def test_an_exhausted_epoch_rotates_the_producer_id() -> None:
    worn = replace(_fresh(), producer_epoch=32766)
    rotated = _init(worn)
    assert isinstance(rotated, TxnMetadata)
    assert (rotated.producer_id, rotated.producer_epoch, rotated.previous_producer_id) == (
        99, 0, 7)


def test_init_during_an_ongoing_transaction_fences_and_aborts_it() -> None:
    ongoing = txn.add_partitions(_fresh(), 7, 0, [TP], NOW)
    assert isinstance(ongoing, TxnMetadata)
    decision = _init(ongoing)
    assert isinstance(decision, FenceAndAbort)
    fenced = decision.metadata
    assert (fenced.state, fenced.producer_epoch, fenced.partitions) == (
        TxnState.PREPARE_ABORT, 1, frozenset({TP}))
    # The old producer is refused from now on; a new init waits for the abort.
    assert txn.end_txn(fenced, 7, 0, True, NOW) == ErrorCode.PRODUCER_FENCED
    assert _init(fenced) == ErrorCode.CONCURRENT_TRANSACTIONS
    done = txn.complete(fenced, NOW)
    after = _init(done)
    assert isinstance(after, TxnMetadata) and after.producer_epoch == 2


def test_add_partitions_rules() -> None:
    empty = _fresh()
    assert txn.add_partitions(None, 7, 0, [TP], NOW) == ErrorCode.INVALID_PRODUCER_ID_MAPPING
    assert txn.add_partitions(empty, 8, 0, [TP], NOW) == ErrorCode.INVALID_PRODUCER_ID_MAPPING
    assert txn.add_partitions(empty, 7, 1, [TP], NOW) == ErrorCode.PRODUCER_FENCED
    ongoing = txn.add_partitions(empty, 7, 0, [TP], NOW)
    assert isinstance(ongoing, TxnMetadata)
    assert (ongoing.state, ongoing.start_ms) == (TxnState.ONGOING, NOW)
    # Already in: answered without a write.
    assert txn.add_partitions(ongoing, 7, 0, [TP], NOW + 5) == ErrorCode.NONE
    more = txn.add_partitions(ongoing, 7, 0, [("t", 1)], NOW + 5)
    assert isinstance(more, TxnMetadata) and more.start_ms == NOW
    assert more.partitions == {TP, ("t", 1)}
    prepared = txn.end_txn(more, 7, 0, True, NOW)
    assert isinstance(prepared, TxnMetadata)
    assert txn.add_partitions(prepared, 7, 0, [TP], NOW) == ErrorCode.CONCURRENT_TRANSACTIONS


def test_end_txn_rules() -> None:
    empty = _fresh()
    assert txn.end_txn(empty, 7, 0, True, NOW) == ErrorCode.INVALID_TXN_STATE
    ongoing = txn.add_partitions(empty, 7, 0, [TP], NOW)
    assert isinstance(ongoing, TxnMetadata)
    commit = txn.end_txn(ongoing, 7, 0, True, NOW)
    assert isinstance(commit, TxnMetadata) and commit.state == TxnState.PREPARE_COMMIT
    assert txn.end_txn(commit, 7, 0, True, NOW) == ErrorCode.CONCURRENT_TRANSACTIONS
    assert txn.end_txn(commit, 7, 0, False, NOW) == ErrorCode.INVALID_TXN_STATE
    done = txn.complete(commit, NOW)
    assert (done.state, done.partitions) == (TxnState.COMPLETE_COMMIT, frozenset())
    assert txn.end_txn(done, 7, 0, True, NOW) == ErrorCode.NONE  # a retry
    assert txn.end_txn(done, 7, 0, False, NOW) == ErrorCode.INVALID_TXN_STATE


def test_verify_partitions_kip_890() -> None:
    ongoing = txn.add_partitions(_fresh(), 7, 0, [TP], NOW)
    assert isinstance(ongoing, TxnMetadata)
    assert txn.verify_partitions(ongoing, 7, 0, [TP, ("t", 1)]) == {
        TP: ErrorCode.NONE, ("t", 1): ErrorCode.TRANSACTION_ABORTABLE}
    assert txn.verify_partitions(ongoing, 7, 1, [TP]) == {TP: ErrorCode.PRODUCER_FENCED}


def test_timeouts_and_expiry() -> None:
    ongoing = txn.add_partitions(_fresh(), 7, 0, [TP], NOW)
    assert isinstance(ongoing, TxnMetadata)
    assert not txn.timed_out(ongoing, NOW + 60_000)
    assert txn.timed_out(ongoing, NOW + 60_001)
    assert not txn.expired(ongoing, NOW + 10**9, 1000)  # never while a transaction is open
    done = txn.complete(txn.fence(ongoing, NOW), NOW)
    assert txn.expired(done, NOW + 1000, 1000) and not txn.expired(done, NOW + 999, 1000)


_OPS = st.lists(st.tuples(st.sampled_from(["init", "add", "commit", "abort", "complete",
                                           "timeout"]),
                          st.booleans()), max_size=40)


@given(_OPS)
def test_any_sequence_keeps_kafkas_invariants(ops: list[tuple[str, bool]]) -> None:
    """Epochs never go down, only ONGOING and PREPARE_* hold partitions, and a
    prepared transaction only ever completes."""
    current = _fresh()
    for op, stale in ops:
        epoch = current.producer_epoch - (1 if stale else 0)
        if op == "init":
            decision: object = _init(current)
            if isinstance(decision, FenceAndAbort):
                decision = decision.metadata
        elif op == "add":
            decision = txn.add_partitions(current, current.producer_id, epoch, [TP], NOW)
        elif op in ("commit", "abort"):
            decision = txn.end_txn(current, current.producer_id, epoch, op == "commit", NOW)
        elif op == "complete":
            decision = (txn.complete(current, NOW) if current.state in txn.PREPARE_STATES
                        else current)
        else:
            decision = txn.fence(current, NOW) if txn.timed_out(current, 10**12) else current
        if isinstance(decision, ErrorCode):
            continue
        assert isinstance(decision, TxnMetadata)
        assert decision.producer_epoch >= current.producer_epoch
        if current.state in txn.PREPARE_STATES and decision.state != current.state:
            assert decision.state in (TxnState.COMPLETE_COMMIT, TxnState.COMPLETE_ABORT)
        holds = decision.state in (TxnState.ONGOING, *txn.PREPARE_STATES)
        assert bool(decision.partitions) == holds
        current = decision


def test_records_round_trip_in_kafkas_v0_layout() -> None:
    value = TransactionLogValue(7, 3, 60_000, int(TxnState.ONGOING),
                                (("a", 0), ("a", 2), ("b", 1)), NOW, NOW - 5)
    data = encode_value(value)
    # int16 version 0, then the fields in order; partitions grouped by topic.
    assert data[:2] == b"\x00\x00"
    assert struct.unpack_from(">qhib", data, 2) == (7, 3, 60_000, 1)
    assert decode_value(data) == value
    empty = encode_value(replace(value, partitions=()))
    assert struct.unpack_from(">i", empty, 17) == (-1,)  # null array, as Kafka writes it
    assert decode_value(empty).partitions == ()
    assert decode_key(encode_key("tx")) == "tx"
    assert encode_key("tx") == b"\x00\x00\x00\x02tx"


def test_a_flexible_v1_value_with_tagged_fields_is_read() -> None:
    body = (struct.pack(">hqhib", 1, 7, 3, 60_000, 4) + b"\x00"  # compact null array
            + struct.pack(">qq", NOW, NOW - 5)
            + b"\x02" + b"\x00\x08" + struct.pack(">q", 6) + b"\x02\x02" + struct.pack(">h", 2))
    value = decode_value(body)
    assert (value.producer_id, value.transaction_status, value.previous_producer_id,
            value.client_transaction_version, value.partitions) == (7, 4, 6, 2, ())
