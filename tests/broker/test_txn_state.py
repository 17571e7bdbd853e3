"""Transaction tracking of one partition (Kafka's ProducerStateManager,
ProducerAppendInfo and TransactionIndex semantics): ongoing transactions, the
LSO, markers, the aborted index, replay and snapshots."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from kwire.broker.producer_state import (
    APPEND,
    ProducerStateManager,
    Reject,
)
from kwire.broker.txn_index import AbortedTxn, TxnIndex
from kwire.errors import ErrorCode
from kwire.records.batch import BatchHeader, parse_header
from kwire.records.builder import (
    EndTxnMarker,
    build_batch,
    build_end_txn_marker,
    read_end_txn_marker,
)


class TxnLog:
    """A log of stored batches driving a ProducerStateManager as a partition does."""

    def __init__(self) -> None:
        self.state = ProducerStateManager()
        self.stored: list[BatchHeader | tuple[BatchHeader, bytes]] = []
        self.next_offset = 0
        self.seq: dict[int, int] = {}

    def data(self, pid: int, epoch: int = 0, count: int = 1, transactional: bool = True
             ) -> Reject | None:
        seq = self.seq.get(pid, 0)
        decision = self.state.check(pid, epoch, seq, seq + count - 1,
                                    transactional=transactional)
        if isinstance(decision, Reject):
            return decision
        assert decision == APPEND
        raw = bytearray(build_batch([(None, b"v", ())] * count, 10, pid, epoch, seq,
                                    transactional=transactional, base_offset=self.next_offset))
        header = parse_header(raw)
        self.state.record(pid, epoch, seq, header.last_sequence, header.base_offset,
                          header.last_offset, 10, transactional)
        self.stored.append(header)
        self.seq[pid] = seq + count
        self.next_offset = header.next_offset
        return None

    def marker(self, pid: int, commit: bool, epoch: int = 0, coordinator_epoch: int = 0
               ) -> ErrorCode:
        code = self.state.check_marker(pid, epoch, coordinator_epoch)
        if code != ErrorCode.NONE:
            return code
        raw = bytearray(build_end_txn_marker(pid, epoch, coordinator_epoch, commit, 20))
        raw[0:8] = self.next_offset.to_bytes(8, "big")
        header = parse_header(raw)
        self.state.record_marker(pid, epoch, 20, EndTxnMarker(commit, coordinator_epoch),
                                 self.next_offset)
        self.stored.append((header, bytes(raw)))
        self.next_offset += 1
        return ErrorCode.NONE

    def lso(self) -> int:
        return self.state.txns.last_stable_offset(self.next_offset)


def test_marker_batch_round_trip() -> None:
    raw = build_end_txn_marker(7, 3, 11, False, 1234)
    header = parse_header(raw)
    assert header.is_control and header.is_transactional and header.records_count == 1
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (7, 3, -1)
    assert read_end_txn_marker(raw) == EndTxnMarker(commit=False, coordinator_epoch=11)
    assert read_end_txn_marker(build_end_txn_marker(7, 3, 2, True, 0)) == EndTxnMarker(True, 2)
    # Kafka's EndTransactionMarker value: version 0, then the coordinator epoch.
    assert raw.endswith(b"\x0c\x00\x00\x00\x00\x00\x0b\x00")


def test_lso_follows_the_earliest_ongoing_transaction() -> None:
    log = TxnLog()
    assert log.data(1, transactional=False) is None  # offset 0: plain idempotent
    assert log.lso() == 1
    assert log.data(1) is None  # offset 1 begins a transaction
    assert log.data(2) is None  # offset 2 begins another
    assert log.data(1) is None  # offset 3: same transaction
    assert log.lso() == 1
    assert log.marker(1, commit=True) == ErrorCode.NONE  # offset 4
    assert log.lso() == 2
    assert log.marker(2, commit=False) == ErrorCode.NONE  # offset 5
    assert log.lso() == 6
    assert log.state.txns.aborted() == [AbortedTxn(2, 2, 5, 6)]


def test_aborted_entry_lso_is_the_next_other_ongoing_transaction() -> None:
    log = TxnLog()
    log.data(1)  # 0
    log.data(2)  # 1
    log.data(3)  # 2
    log.marker(1, commit=False)  # 3: producers 2 and 3 still ongoing, from 1
    log.marker(3, commit=False)  # 4: producer 2 ongoing from 1
    log.marker(2, commit=False)  # 5: none left
    assert log.state.txns.aborted() == [
        AbortedTxn(1, 0, 3, 1), AbortedTxn(3, 2, 4, 1), AbortedTxn(2, 1, 5, 6)]


def test_plain_write_during_a_transaction_is_invalid_txn_state() -> None:
    log = TxnLog()
    log.data(1)
    assert log.data(1, transactional=False) == Reject(ErrorCode.INVALID_TXN_STATE)
    log.marker(1, commit=True)
    assert log.data(1, transactional=False) is None


def test_marker_epoch_and_coordinator_epoch_checks() -> None:
    log = TxnLog()
    log.data(1, epoch=2)
    assert log.marker(1, True, epoch=1) == ErrorCode.INVALID_PRODUCER_EPOCH
    assert log.marker(1, True, epoch=2, coordinator_epoch=5) == ErrorCode.NONE
    assert log.marker(1, True, epoch=2, coordinator_epoch=4) == (
        ErrorCode.TRANSACTION_COORDINATOR_FENCED)
    # A marker with a newer epoch and no transaction ongoing is written; completes nothing.
    assert log.marker(1, False, epoch=3, coordinator_epoch=5) == ErrorCode.NONE
    assert log.state.txns.aborted() == []
    entry = log.state.get(1)
    assert entry is not None and entry.producer_epoch == 3 and entry.coordinator_epoch == 5
    # A marker for a producer this partition never saw is written too.
    assert log.marker(9, False) == ErrorCode.NONE


def test_coordinator_writes_skip_sequences_but_not_epochs() -> None:
    state = ProducerStateManager()
    state.record(1, 4, 0, 0, 0, 0, 10, transactional=True)
    assert state.check(1, 4, -1, -1, transactional=True, from_coordinator=True) == APPEND
    assert state.check(1, 4, -1, -1, transactional=True) == Reject(
        ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER)
    assert state.check(1, 3, -1, -1, transactional=True, from_coordinator=True) == Reject(
        ErrorCode.INVALID_PRODUCER_EPOCH)
    assert state.check(1, 4, -1, -1, from_coordinator=True) == Reject(
        ErrorCode.INVALID_TXN_STATE)


def test_ongoing_transactions_never_expire() -> None:
    log = TxnLog()
    log.data(1)
    log.data(2, transactional=False)
    assert log.state.remove_expired(now_ms=10**12, producer_id_expiration_ms=1) == [2]
    assert log.state.get(1) is not None


def test_aborted_entries_below_the_log_start_are_dropped() -> None:
    log = TxnLog()
    log.data(1)
    log.marker(1, False)  # 1
    log.data(1)
    log.marker(1, False)  # 3
    log.state.truncate_head(2)
    assert log.state.txns.aborted() == [AbortedTxn(1, 2, 3, 4)]


def test_snapshot_version_1_is_still_read() -> None:
    v1 = {"version": 1, "producers": [
        {"producer_id": 5, "producer_epoch": 2, "last_timestamp": 9, "batches": [[0, 0, 3, 3, 9]]}]}
    state = ProducerStateManager.from_snapshot(v1)
    entry = state.get(5)
    assert entry is not None and entry.coordinator_epoch == -1
    assert state.txns.ongoing() == {}


def test_collect_aborted_stops_at_the_bound() -> None:
    index = TxnIndex()
    index.load({}, [AbortedTxn(1, 0, 5, 6), AbortedTxn(2, 10, 12, 13), AbortedTxn(3, 20, 25, 26)])
    assert index.collect_aborted(0, 11) == [AbortedTxn(1, 0, 5, 6), AbortedTxn(2, 10, 12, 13)]
    assert index.collect_aborted(6, 30) == [AbortedTxn(2, 10, 12, 13), AbortedTxn(3, 20, 25, 26)]
    assert index.collect_aborted(13, 20) == []


# (producer 0-3, action): data (transactional or not), commit, abort.
ops_st = st.lists(st.tuples(st.integers(0, 3),
                            st.sampled_from(["txn", "txn", "plain", "commit", "abort"])),
                  max_size=60)


def _run(ops: list[tuple[int, str]]) -> TxnLog:
    log = TxnLog()
    for pid, action in ops:
        if action in ("txn", "plain"):
            log.data(pid, transactional=action == "txn")
        else:
            log.marker(pid, commit=action == "commit")
    return log


def _model(log: TxnLog) -> tuple[dict[int, int], list[tuple[int, int, int]]]:
    """Ongoing transactions and aborted (pid, first, last), from the stored log alone."""
    ongoing: dict[int, int] = {}
    aborted: list[tuple[int, int, int]] = []
    for item in log.stored:
        header, data = item if isinstance(item, tuple) else (item, None)
        if data is not None:
            marker = read_end_txn_marker(data)
            assert marker is not None
            first = ongoing.pop(header.producer_id, None)
            if first is not None and not marker.commit:
                aborted.append((header.producer_id, first, header.base_offset))
        elif header.is_transactional:
            ongoing.setdefault(header.producer_id, header.base_offset)
    return ongoing, aborted


@settings(max_examples=200, deadline=None)
@given(ops_st, st.integers(0, 80), st.integers(0, 80))
def test_txn_state_matches_a_model_and_replay(ops: list[tuple[int, str]], a: int, b: int
                                              ) -> None:
    log = _run(ops)
    ongoing, aborted = _model(log)
    assert log.state.txns.ongoing() == ongoing
    assert [(t.producer_id, t.first_offset, t.last_offset)
            for t in log.state.txns.aborted()] == aborted
    assert log.lso() == min(ongoing.values(), default=log.next_offset)
    # collect_aborted's early stop never loses an overlapping entry.
    fetch, upper = min(a, b), max(a, b)
    expected = [t for t in log.state.txns.aborted()
                if t.last_offset >= fetch and t.first_offset < upper]
    assert log.state.txns.collect_aborted(fetch, upper) == expected
    # Replay and snapshot + replay give the same state.
    rebuilt = ProducerStateManager()
    rebuilt.rebuild_from(log.stored)
    assert rebuilt.producers() == log.state.producers()
    assert rebuilt.txns.ongoing() == ongoing
    assert rebuilt.txns.aborted() == log.state.txns.aborted()
    cut = len(log.stored) // 2
    early = ProducerStateManager()
    early.rebuild_from(log.stored[:cut])
    restored = ProducerStateManager.from_snapshot(json.loads(json.dumps(early.to_snapshot())))
    restored.rebuild_from(log.stored[cut:])
    assert restored.producers() == log.state.producers()
    assert restored.txns.ongoing() == ongoing
    assert restored.txns.aborted() == log.state.txns.aborted()
