"""Idempotent-producer sequence rules (Kafka's ProducerStateManager semantics)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kwire.broker.producer_state import (
    APPEND,
    NUM_BATCHES_TO_RETAIN,
    BatchMetadata,
    Duplicate,
    ProducerStateManager,
    Reject,
)
from kwire.errors import ErrorCode
from kwire.records.batch import INT32_MAX, BatchHeader, increment_sequence

PID = 1000
OUT_OF_ORDER = Reject(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER)
STALE_EPOCH = Reject(ErrorCode.INVALID_PRODUCER_EPOCH)


class Log:
    """A partition's log end offset and producer state, appending like the broker."""

    def __init__(self) -> None:
        self.state = ProducerStateManager()
        self.next_offset = 0
        self.headers: list[BatchHeader] = []

    def produce(self, pid: int, epoch: int, first_seq: int, count: int, ts: int = 0) -> object:
        last_seq = increment_sequence(first_seq, count - 1)
        result = self.state.check(pid, epoch, first_seq, last_seq)
        if result == APPEND:
            first, last = self.next_offset, self.next_offset + count - 1
            self.state.record(pid, epoch, first_seq, last_seq, first, last, ts)
            self.headers.append(header(pid, epoch, first_seq, count, first, ts))
            self.next_offset = last + 1
        return result

    def marker(self, pid: int, epoch: int, ts: int = 0) -> None:
        self.state.record_marker(pid, epoch, ts)
        self.headers.append(header(pid, epoch, -1, 1, self.next_offset, ts, control=True))
        self.next_offset += 1


def header(
    pid: int,
    epoch: int,
    base_seq: int,
    count: int,
    base_offset: int,
    ts: int,
    control: bool = False,
) -> BatchHeader:
    return BatchHeader(
        base_offset=base_offset,
        batch_length=100,
        partition_leader_epoch=0,
        magic=2,
        crc=0,
        attributes=0x30 if control else 0,
        last_offset_delta=count - 1,
        base_timestamp=ts,
        max_timestamp=ts,
        producer_id=pid,
        producer_epoch=epoch,
        base_sequence=base_seq,
        records_count=count,
    )


def filled(batches: int = 6) -> Log:
    """A producer (epoch 0) with `batches` appends of 2 records each: seqs 0-1, 2-3, ..."""
    log = Log()
    for i in range(batches):
        assert log.produce(PID, 0, 2 * i, 2, ts=100 + i) == APPEND
    return log


def test_unknown_producer_accepts_any_sequence() -> None:
    log = Log()
    assert log.produce(PID, 3, 12345, 2) == APPEND
    assert log.produce(PID, 3, 12347, 1) == APPEND
    assert log.produce(PID + 1, -1, 77, 1) == APPEND
    # Kafka's empty entry has epoch -1, so only a smaller epoch is stale.
    assert log.state.check(PID + 2, -2, 0, 0) == STALE_EPOCH


def test_in_sequence_appends_and_gaps_are_out_of_order() -> None:
    log = filled(2)
    assert log.state.check(PID, 0, 5, 5) == OUT_OF_ORDER  # gap: next is 4
    assert log.state.check(PID, 0, 3, 4) == OUT_OF_ORDER  # overlaps, not a retained batch
    assert log.state.check(PID, 0, 2, 4) == OUT_OF_ORDER  # same start, other end
    assert log.produce(PID, 0, 4, 3) == APPEND


@pytest.mark.parametrize("back", range(NUM_BATCHES_TO_RETAIN))
def test_each_of_the_last_five_batches_is_a_duplicate(back: int) -> None:
    log = filled(6)
    i = 5 - back
    batch = log.headers[i]
    assert log.state.check(PID, 0, 2 * i, 2 * i + 1) == Duplicate(
        batch.base_offset, batch.last_offset, 100 + i
    )
    assert log.next_offset == 12  # nothing appended


def test_older_than_retained_is_out_of_order() -> None:
    log = filled(6)
    assert log.state.check(PID, 0, 0, 1) == OUT_OF_ORDER
    assert len(log.state.get(PID).batches) == NUM_BATCHES_TO_RETAIN  # type: ignore[union-attr]


def test_sequence_wraps_at_int32_max() -> None:
    log = Log()
    assert log.produce(PID, 0, INT32_MAX - 1, 2) == APPEND  # ends at MAX
    assert log.state.check(PID, 0, 1, 1) == OUT_OF_ORDER
    assert log.produce(PID, 0, 0, 3) == APPEND  # 0 follows MAX
    assert log.produce(PID, 0, 3, 1) == APPEND
    spanning = Log()
    assert spanning.produce(PID, 0, INT32_MAX - 1, 4) == APPEND  # MAX-1 .. 1
    assert spanning.state.get(PID).last_seq == 1  # type: ignore[union-attr]
    assert spanning.state.check(PID, 0, INT32_MAX - 1, 1) == Duplicate(0, 3, 0)
    assert spanning.produce(PID, 0, 2, 1) == APPEND


def test_epoch_bump_restarts_at_zero_and_clears_batches() -> None:
    log = filled(3)
    assert log.state.check(PID, 1, 6, 6) == OUT_OF_ORDER
    assert log.state.check(PID, 1, 1, 1) == OUT_OF_ORDER
    assert log.produce(PID, 1, 0, 2) == APPEND
    entry = log.state.get(PID)
    assert entry is not None and entry.producer_epoch == 1 and len(entry.batches) == 1
    assert log.state.check(PID, 1, 0, 1) == Duplicate(6, 7, 0)
    assert log.produce(PID, 1, 2, 1) == APPEND


def test_stale_epoch_is_rejected_even_for_a_retry() -> None:
    log = filled(2)
    assert log.produce(PID, 5, 0, 1) == APPEND
    assert log.state.check(PID, 4, 0, 1) == STALE_EPOCH  # was a retained batch in epoch 0
    assert log.state.check(PID, 0, 4, 4) == STALE_EPOCH


def test_marker_sets_epoch_and_sequences_restart() -> None:
    log = filled(2)
    log.marker(PID, 0, ts=50)  # same epoch: retained batches stay
    assert log.state.check(PID, 0, 2, 3) == Duplicate(2, 3, 101)
    log.marker(PID, 1, ts=60)  # new epoch from the coordinator: batches cleared
    entry = log.state.get(PID)
    assert entry is not None and entry.batches == () and entry.last_timestamp == 60
    assert log.state.check(PID, 1, 4, 4) == OUT_OF_ORDER  # -1 is the last sequence now
    assert log.produce(PID, 1, 0, 1) == APPEND


def test_remove_expired_uses_last_timestamp() -> None:
    log = Log()
    log.produce(1, 0, 0, 1, ts=1_000)
    log.produce(2, 0, 0, 1, ts=2_000)
    assert log.state.remove_expired(now_ms=1_999, producer_id_expiration_ms=1_000) == []
    assert log.state.remove_expired(now_ms=2_000, producer_id_expiration_ms=1_000) == [1]
    assert log.state.get(1) is None and log.state.get(2) is not None
    assert log.produce(1, 0, 9, 1) == APPEND  # unknown again: any sequence
    assert log.state.remove_expired(now_ms=2_000 + 86_400_000) == [2, 1]
    assert len(log.state) == 0


def test_rebuild_skips_batches_without_producer_and_empty_markers() -> None:
    state = ProducerStateManager()
    plain = header(-1, -1, -1, 3, 0, 5)
    emptied_marker = header(PID, 4, -1, 0, 3, 5, control=True)
    state.rebuild_from([plain, emptied_marker])
    assert len(state) == 0
    state.rebuild_from([header(PID, 2, 0, 3, 10, 7)])
    assert state.get(PID).batches == (BatchMetadata(0, 2, 10, 12, 7),)  # type: ignore[union-attr]


def test_from_snapshot_refuses_bad_data() -> None:
    with pytest.raises(ValueError):
        ProducerStateManager.from_snapshot({"version": 99, "producers": []})
    with pytest.raises(ValueError):
        ProducerStateManager.from_snapshot({"version": 1, "producers": [{"producer_id": 1}]})
    too_many = [[0, 0, 0, 0, 0]] * (NUM_BATCHES_TO_RETAIN + 1)
    bad = {"producer_id": 1, "producer_epoch": 0, "last_timestamp": 0, "batches": too_many}
    with pytest.raises(ValueError):
        ProducerStateManager.from_snapshot({"version": 1, "producers": [bad]})


# Operations: (producer, kind, epoch offset, sequence choice, record count).
op_st = st.tuples(
    st.integers(0, 2),
    st.sampled_from(["next", "next", "next", "retry", "random", "bump", "marker"]),
    st.integers(0, 2),
    st.integers(0, 2**31 - 1),
    st.integers(1, 4),
)


def run(ops: list[tuple[int, str, int, int, int]]) -> Log:
    log = Log()
    epochs = {p: 0 for p in range(3)}
    for ts, (p, kind, de, seq, count) in enumerate(ops):
        pid = PID + p
        entry = log.state.get(pid)
        if kind == "marker":
            epochs[p] += de
            log.marker(pid, epochs[p], ts)
            continue
        if kind == "bump":
            epochs[p] += 1 + de
            seq = 0
        elif kind == "next":
            seq = increment_sequence(entry.last_seq, 1) if entry else seq
        elif kind == "retry" and entry and entry.batches:
            seq = entry.batches[seq % len(entry.batches)].first_seq
        log.produce(pid, epochs[p], seq, count, ts)
    return log


@given(st.lists(op_st, max_size=40))
def test_rebuild_from_log_equals_live_state(ops: list[tuple[int, str, int, int, int]]) -> None:
    log = run(ops)
    rebuilt = ProducerStateManager()
    rebuilt.rebuild_from(log.headers)
    assert rebuilt.producers() == log.state.producers()


@given(st.lists(op_st, max_size=40), st.integers(0, 30))
def test_snapshot_round_trip_then_replay(
    ops: list[tuple[int, str, int, int, int]], cut: int
) -> None:
    log = run(ops)
    snap = json.loads(json.dumps(log.state.to_snapshot()))
    assert ProducerStateManager.from_snapshot(snap).producers() == log.state.producers()
    # Snapshot at some point, then replay the rest of the log on top of it.
    cut = min(cut, len(log.headers))
    early = ProducerStateManager()
    early.rebuild_from(log.headers[:cut])
    restored = ProducerStateManager.from_snapshot(json.loads(json.dumps(early.to_snapshot())))
    restored.rebuild_from(log.headers[cut:])
    assert restored.producers() == log.state.producers()


@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 5_000)), max_size=60),
       st.integers(0, 6_000), st.integers(1, 3_000))
def test_expiry_keeps_exactly_the_producers_written_within_the_expiration(
    writes: list[tuple[int, int]], now: int, expiration: int
) -> None:
    # Kafka's isProducerExpired: now - lastTimestamp >= producer.id.expiration.ms
    # (no transactions here), whatever the order the producers wrote in.
    state = ProducerStateManager()
    last: dict[int, int] = {}
    for pid, ts in writes:
        state.record(pid, 0, 0, 0, 0, 0, ts)
        last[pid] = ts
    removed = state.remove_expired(now, expiration)
    assert sorted(removed) == sorted(p for p, ts in last.items() if now - ts >= expiration)
    assert set(state.producers()) == {p for p, ts in last.items() if now - ts < expiration}
    assert state.remove_expired(now, expiration) == []  # a second check finds nothing more
