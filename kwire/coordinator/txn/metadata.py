"""The state of one transactional id and the transitions Kafka's transaction
coordinator allows (TransactionMetadata, TransactionCoordinator's checks), as
pure functions over immutable values: a decision returns the metadata to store
(the driver writes it to `__transaction_state` and installs it only once it is
stored) or the error code to answer without writing.

States (Kafka's TransactionState; the int is the stored transaction_status):

    EMPTY            no transaction open; the producer id and epoch are in use
    ONGOING          partitions were added: data may be in flight
    PREPARE_COMMIT   EndTxn(commit) is stored: markers are being written
    PREPARE_ABORT    EndTxn(abort), a timeout or a fencing InitProducerId is stored
    COMPLETE_COMMIT  every partition has its commit marker
    COMPLETE_ABORT   every partition has its abort marker
    DEAD             the id expired (a tombstone follows); never answered
    PREPARE_EPOCH_FENCE  Kafka's transient fencing state; kwire writes the
                     fenced epoch straight into PREPARE_ABORT instead, which is
                     the record Kafka writes next too

Transaction version 1 semantics (kwire does not advertise version 2): EndTxn
keeps the producer epoch; a fence and a timeout bump it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import IntEnum

from kwire.errors import ErrorCode
from kwire.records.batch import NO_PRODUCER_EPOCH

TopicPartitionKey = tuple[str, int]
# Kafka's TransactionMetadata.isEpochExhausted: an epoch this high must not be
# bumped again (one value is kept for fencing), so the producer id is rotated.
_EPOCH_EXHAUSTED = 32767 - 1


class TxnState(IntEnum):
    EMPTY = 0
    ONGOING = 1
    PREPARE_COMMIT = 2
    PREPARE_ABORT = 3
    COMPLETE_COMMIT = 4
    COMPLETE_ABORT = 5
    DEAD = 6
    PREPARE_EPOCH_FENCE = 7


# Kafka's TransactionState.stateName (ListTransactions, DescribeTransactions).
STATE_NAMES: dict[TxnState, str] = {
    TxnState.EMPTY: "Empty",
    TxnState.ONGOING: "Ongoing",
    TxnState.PREPARE_COMMIT: "PrepareCommit",
    TxnState.PREPARE_ABORT: "PrepareAbort",
    TxnState.COMPLETE_COMMIT: "CompleteCommit",
    TxnState.COMPLETE_ABORT: "CompleteAbort",
    TxnState.DEAD: "Dead",
    TxnState.PREPARE_EPOCH_FENCE: "PrepareEpochFence",
}
STATES_BY_NAME = {name: state for state, name in STATE_NAMES.items()}

PREPARE_STATES = frozenset({TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT})
_COMPLETE_OR_EMPTY = frozenset({TxnState.EMPTY, TxnState.COMPLETE_COMMIT,
                                TxnState.COMPLETE_ABORT})


@dataclass(frozen=True, slots=True)
class TxnMetadata:
    transactional_id: str
    producer_id: int
    producer_epoch: int
    timeout_ms: int
    state: TxnState
    partitions: frozenset[TopicPartitionKey] = frozenset()
    start_ms: int = -1  # when the transaction began (its first AddPartitions)
    last_update_ms: int = -1
    # The producer id before a rotation (epoch exhausted), so that a retried
    # InitProducerId carrying the old id is not fenced (KIP-360).
    previous_producer_id: int = -1
    # The epoch before the last bump, in memory only as in Kafka: a retried
    # InitProducerId whose answer was lost gets the same epoch again.
    last_producer_epoch: int = NO_PRODUCER_EPOCH

    @property
    def epoch_exhausted(self) -> bool:
        return self.producer_epoch >= _EPOCH_EXHAUSTED


@dataclass(frozen=True, slots=True)
class FenceAndAbort:
    """InitProducerId met an ongoing transaction: store `metadata` (PREPARE_ABORT
    under a bumped epoch, so the old producer is fenced), write the abort markers,
    and answer CONCURRENT_TRANSACTIONS so the new producer retries."""

    metadata: TxnMetadata


def new_transaction(transactional_id: str, producer_id: int, timeout_ms: int,
                    now_ms: int) -> TxnMetadata:
    """Metadata for an id the coordinator has never seen (epoch -1: the first
    InitProducerId bumps it to 0)."""
    return TxnMetadata(transactional_id, producer_id, NO_PRODUCER_EPOCH, timeout_ms,
                       TxnState.EMPTY, last_update_ms=now_ms)


def _valid_producer_id(current: TxnMetadata, expected_pid: int, expected_epoch: int) -> bool:
    """Kafka's isValidProducerId for a request naming its producer id (KIP-360)."""
    return (current.producer_epoch == NO_PRODUCER_EPOCH
            or expected_pid == current.producer_id
            or (expected_pid == current.previous_producer_id
                and expected_epoch >= _EPOCH_EXHAUSTED))


def init_producer_id(
    current: TxnMetadata, *, timeout_ms: int, expected_pid: int, expected_epoch: int,
    now_ms: int, new_producer_id: int,
) -> TxnMetadata | FenceAndAbort | ErrorCode:
    """InitProducerId for an id with metadata (`new_transaction` for a new one).
    `expected_pid`/`expected_epoch` are -1 unless the producer asks to bump its
    own epoch (KIP-360); `new_producer_id` is used only if the id must rotate."""
    expected = expected_pid != -1 or expected_epoch != NO_PRODUCER_EPOCH
    if expected and not _valid_producer_id(current, expected_pid, expected_epoch):
        return ErrorCode.PRODUCER_FENCED
    if current.state in _COMPLETE_OR_EMPTY:
        if current.epoch_exhausted and (not expected or expected_epoch == current.producer_epoch):
            return TxnMetadata(
                current.transactional_id, new_producer_id, 0, timeout_ms, TxnState.EMPTY,
                last_update_ms=now_ms, previous_producer_id=current.producer_id,
                last_producer_epoch=current.producer_epoch if expected else NO_PRODUCER_EPOCH)
        return _increment_epoch(current, timeout_ms, expected_epoch if expected else None, now_ms)
    if current.state == TxnState.ONGOING:
        return FenceAndAbort(fence(current, now_ms))
    # PrepareCommit/PrepareAbort: markers are on their way; Dead, PrepareEpochFence:
    # transient. The producer retries.
    return ErrorCode.CONCURRENT_TRANSACTIONS


def _increment_epoch(current: TxnMetadata, timeout_ms: int, expected_epoch: int | None,
                     now_ms: int) -> TxnMetadata | ErrorCode:
    """Kafka's prepareIncrementProducerEpoch."""
    bumped = current.producer_epoch + 1
    if expected_epoch is None:
        epoch, last = bumped, NO_PRODUCER_EPOCH
    elif current.producer_epoch == NO_PRODUCER_EPOCH or expected_epoch == current.producer_epoch:
        epoch, last = bumped, current.producer_epoch
    elif expected_epoch == current.last_producer_epoch:
        # A retry whose answer was lost: the same epoch again.
        epoch, last = current.producer_epoch, current.last_producer_epoch
    else:
        return ErrorCode.PRODUCER_FENCED
    return replace(current, producer_epoch=epoch, last_producer_epoch=last,
                   timeout_ms=timeout_ms, state=TxnState.EMPTY, partitions=frozenset(),
                   start_ms=-1, last_update_ms=now_ms)


def fence(current: TxnMetadata, now_ms: int) -> TxnMetadata:
    """Abort an ongoing transaction under a bumped epoch (a fencing InitProducerId,
    a timeout): the old producer's writes and EndTxn are refused from now on."""
    return replace(current, producer_epoch=current.producer_epoch + 1,
                   last_producer_epoch=NO_PRODUCER_EPOCH, state=TxnState.PREPARE_ABORT,
                   last_update_ms=now_ms)


def _check_producer(current: TxnMetadata | None, producer_id: int, producer_epoch: int
                    ) -> ErrorCode:
    if current is None or current.producer_id != producer_id:
        return ErrorCode.INVALID_PRODUCER_ID_MAPPING
    if current.producer_epoch != producer_epoch:
        return ErrorCode.PRODUCER_FENCED
    return ErrorCode.NONE


def add_partitions(current: TxnMetadata | None, producer_id: int, producer_epoch: int,
                   partitions: Iterable[TopicPartitionKey], now_ms: int
                   ) -> TxnMetadata | ErrorCode:
    """AddPartitionsToTxn / AddOffsetsToTxn: the metadata to store, or the answer
    (NONE without a write when every partition is already in the transaction)."""
    code = _check_producer(current, producer_id, producer_epoch)
    if code != ErrorCode.NONE:
        return code
    assert current is not None
    if current.state in PREPARE_STATES or current.state in (TxnState.DEAD,
                                                            TxnState.PREPARE_EPOCH_FENCE):
        return ErrorCode.CONCURRENT_TRANSACTIONS
    added = frozenset(partitions)
    if current.state == TxnState.ONGOING and added <= current.partitions:
        return ErrorCode.NONE
    start = now_ms if current.state in _COMPLETE_OR_EMPTY else current.start_ms
    return replace(current, state=TxnState.ONGOING, partitions=current.partitions | added,
                   start_ms=start, last_update_ms=now_ms)


def verify_partitions(current: TxnMetadata | None, producer_id: int, producer_epoch: int,
                      partitions: Iterable[TopicPartitionKey]
                      ) -> dict[TopicPartitionKey, ErrorCode]:
    """AddPartitionsToTxn v4+ verify_only (KIP-890 part 1): is each partition in
    the producer's ongoing transaction? TRANSACTION_ABORTABLE for one that is not."""
    wanted = list(partitions)
    code = _check_producer(current, producer_id, producer_epoch)
    if code == ErrorCode.NONE:
        assert current is not None
        if current.state in PREPARE_STATES:
            code = ErrorCode.CONCURRENT_TRANSACTIONS
    if code != ErrorCode.NONE:
        return dict.fromkeys(wanted, code)
    assert current is not None
    return {tp: ErrorCode.NONE if tp in current.partitions else ErrorCode.TRANSACTION_ABORTABLE
            for tp in wanted}


def end_txn(current: TxnMetadata | None, producer_id: int, producer_epoch: int, commit: bool,
            now_ms: int) -> TxnMetadata | ErrorCode:
    """EndTxn from the client: PREPARE_COMMIT/PREPARE_ABORT to store, or the answer."""
    code = _check_producer(current, producer_id, producer_epoch)
    if code != ErrorCode.NONE:
        return code
    assert current is not None
    state = current.state
    if state == TxnState.ONGOING:
        return replace(current, state=TxnState.PREPARE_COMMIT if commit else TxnState.PREPARE_ABORT,
                       last_update_ms=now_ms)
    # A retried EndTxn whose first answer was lost: the same result again is fine.
    done, pending = ((TxnState.COMPLETE_COMMIT, TxnState.PREPARE_COMMIT) if commit
                     else (TxnState.COMPLETE_ABORT, TxnState.PREPARE_ABORT))
    if state == done:
        return ErrorCode.NONE
    if state == pending:
        return ErrorCode.CONCURRENT_TRANSACTIONS
    return ErrorCode.INVALID_TXN_STATE


def complete(current: TxnMetadata, now_ms: int) -> TxnMetadata:
    """Every marker is written: COMPLETE_COMMIT / COMPLETE_ABORT, no partitions."""
    state = (TxnState.COMPLETE_COMMIT if current.state == TxnState.PREPARE_COMMIT
             else TxnState.COMPLETE_ABORT)
    return replace(current, state=state, partitions=frozenset(), last_update_ms=now_ms)


def timed_out(current: TxnMetadata, now_ms: int) -> bool:
    """An ongoing transaction older than its timeout (the coordinator aborts it)."""
    return current.state == TxnState.ONGOING and current.start_ms + current.timeout_ms < now_ms


def expired(current: TxnMetadata, now_ms: int, expiration_ms: int) -> bool:
    """An idle id past transactional.id.expiration.ms (the coordinator forgets it)."""
    return current.state in _COMPLETE_OR_EMPTY and current.last_update_ms <= now_ms - expiration_ms
