"""Idempotent-producer sequence state of one partition (KIP-98).

This module owns the rules Kafka's ProducerStateManager, ProducerStateEntry and
ProducerAppendInfo.checkSequence apply to batches that carry a producer id:
which produce is appended, which is answered as a duplicate of an earlier
append, and which is refused. Pure logic; the log calls `check` before an
append and `record` after it, and rebuilds the state on restart by replaying
stored batch headers (`rebuild_from`), optionally on top of a snapshot.

States, per producer id:

UNKNOWN
    No entry: a new producer, or one whose state expired or whose batches
    retention removed. Kafka's empty entry has epoch NO_PRODUCER_EPOCH (-1), so
    any batch is appended whatever its sequence, since the broker cannot tell
    what it missed. (Only an epoch below -1 is refused, as a stale epoch.)

KNOWN(epoch, batches, last_timestamp)
    The current epoch, the sequence and offset ranges of the last
    NUM_BATCHES_TO_RETAIN batches appended in it (newest last), and the
    timestamp of the producer's last append. A batch is answered by the
    transition table below.

Transition table, for a data batch (epoch E, first_seq F, last_seq L); the
first matching row answers. `next(s)` is s + 1, with 0 following 2**31-1.

    state          condition                                answer
    -------------  ---------------------------------------  ---------------------------------------
    KNOWN(e, bs)   E == e and (F, L) is a batch in bs       Duplicate(that batch's offsets, ts)
    any            E < e (e = -1 when UNKNOWN)              Reject INVALID_PRODUCER_EPOCH (47)
    UNKNOWN        -                                        Append -> KNOWN(E, [batch])
    KNOWN(e, bs)   E > e and F == 0                         Append -> KNOWN(E, [batch])
    KNOWN(e, bs)   E > e and F != 0                         Reject OUT_OF_ORDER_SEQUENCE_NUMBER (45)
    KNOWN(e, bs)   E == e and F == next(last L in bs)       Append -> KNOWN(e, bs + [batch])
                   (last L is -1 when bs is empty)
    KNOWN(e, bs)   E == e otherwise (gap, or older than     Reject OUT_OF_ORDER_SEQUENCE_NUMBER (45)
                   the retained batches)

A KNOWN entry whose epoch is -1 (a producer that sent epoch -1) accepts any
sequence, as UNKNOWN does (Kafka keys that leniency on the entry's epoch).

Transactions (KIP-98, Kafka's ProducerAppendInfo), after the rows above:

    transactional data batch, no ongoing txn   begins one at the batch's first offset
    non-transactional batch, ongoing txn       Reject INVALID_TXN_STATE (48)
    marker, E < e                               Reject INVALID_PRODUCER_EPOCH (47)
    marker, coordinator epoch < the entry's     Reject TRANSACTION_COORDINATOR_FENCED (52)
    marker otherwise                            ends the ongoing txn (if any; an ABORT
                                                goes to the aborted index, txn_index.py)

A batch the broker writes itself (origin COORDINATOR: TxnOffsetCommit records,
sequence -1) skips duplicate detection and the sequence rows, keeping the
epoch and transaction rows.

A transaction marker (control batch) sets the epoch (clearing bs when it
changes), the coordinator epoch and the last timestamp. `remove_expired(now_ms,
...)` moves a KNOWN producer to UNKNOWN once now_ms - last_timestamp >=
producer.id.expiration.ms (last_timestamp is the batch's max timestamp, as
Kafka's lastTimestamp: the producer's clock under CreateTime, the append time
under LogAppendTime), unless it has a transaction ongoing (Kafka never expires
those). The broker calls it every producer.id.expiration.check.interval.ms and
whenever state is loaded or saved (PartitionManager).

Snapshots are version 2 (coordinator epochs, ongoing transactions and the
aborted index); version 1 (idempotence only) is still read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kwire.broker.txn_index import AbortedTxn, CompletedTxn, TxnIndex
from kwire.errors import ErrorCode
from kwire.records.batch import (
    INT32_MAX,
    NO_PRODUCER_EPOCH,
    NO_SEQUENCE,
    BatchError,
    BatchHeader,
    Buffer,
)
from kwire.records.builder import EndTxnMarker, read_end_txn_marker

log = logging.getLogger("kwire.partitions")

NUM_BATCHES_TO_RETAIN = 5  # Kafka's ProducerStateEntry.NUM_BATCHES_TO_RETAIN
DEFAULT_PRODUCER_ID_EXPIRATION_MS = 86_400_000  # producer.id.expiration.ms
SNAPSHOT_VERSION = 2
_READABLE_SNAPSHOT_VERSIONS = (1, 2)
NO_COORDINATOR_EPOCH = -1  # Kafka's RecordBatch.NO_PARTITION_LEADER_EPOCH for an empty entry

# A stored batch to replay: its header alone, or with its bytes (needed for the
# type of a transaction marker).
Replayed = BatchHeader | tuple[BatchHeader, Buffer]


@dataclass(frozen=True, slots=True)
class BatchMetadata:
    """One appended batch, as retained for duplicate detection."""

    first_seq: int
    last_seq: int
    first_offset: int
    last_offset: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class ProducerEntry:
    """The KNOWN state of one producer id; `batches` is oldest first."""

    producer_epoch: int
    batches: tuple[BatchMetadata, ...]
    last_timestamp: int
    # The epoch of the transaction coordinator that wrote this producer's last marker.
    coordinator_epoch: int = NO_COORDINATOR_EPOCH

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else NO_SEQUENCE


@dataclass(frozen=True, slots=True)
class Append:
    """Sequence and epoch are fine: append, then call `record`."""


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A retry of a retained batch: answer with its offsets, append nothing.

    Kafka answers the duplicate's first offset as base_offset and its timestamp
    as log_append_time (UnifiedLog.append)."""

    first_offset: int
    last_offset: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class Reject:
    error_code: ErrorCode


CheckResult = Append | Duplicate | Reject
APPEND = Append()


def in_sequence(last_seq: int, next_seq: int) -> bool:
    """Kafka's ProducerAppendInfo.inSequence: sequences wrap from 2**31-1 to 0."""
    return next_seq == last_seq + 1 or (next_seq == 0 and last_seq == INT32_MAX)


class ProducerStateManager:
    """Producer sequence and transaction state of one partition; see the module
    docstring. `txns` holds the ongoing transactions and the aborted index."""

    def __init__(self) -> None:
        self._producers: dict[int, ProducerEntry] = {}
        self.txns = TxnIndex()

    def get(self, producer_id: int) -> ProducerEntry | None:
        return self._producers.get(producer_id)

    def producers(self) -> dict[int, ProducerEntry]:
        """A copy of every KNOWN producer's state."""
        return dict(self._producers)

    def __len__(self) -> int:
        return len(self._producers)

    def check(
        self, producer_id: int, producer_epoch: int, first_seq: int, last_seq: int,
        *, transactional: bool = False, from_coordinator: bool = False,
    ) -> CheckResult:
        """How to answer a data batch from this producer (transition tables above).
        `from_coordinator`: a batch the broker writes (Kafka's AppendOrigin.COORDINATOR)."""
        entry = self._producers.get(producer_id)
        if entry is None:
            # UNKNOWN: Kafka's empty entry, epoch -1, accepts any sequence.
            if producer_epoch < NO_PRODUCER_EPOCH:
                return Reject(ErrorCode.INVALID_PRODUCER_EPOCH)
            return APPEND
        if producer_epoch == entry.producer_epoch and not from_coordinator:
            # Duplicates first: UnifiedLog looks for them before ProducerAppendInfo
            # validates anything, and only within the current epoch (CLIENT origin).
            for batch in entry.batches:
                if batch.first_seq == first_seq and batch.last_seq == last_seq:
                    return Duplicate(batch.first_offset, batch.last_offset, batch.timestamp)
        if producer_epoch < entry.producer_epoch:
            # Since Kafka 2.7 (KIP-588) this is INVALID_PRODUCER_EPOCH, not PRODUCER_FENCED.
            return Reject(ErrorCode.INVALID_PRODUCER_EPOCH)
        if not from_coordinator and entry.producer_epoch != NO_PRODUCER_EPOCH:
            if producer_epoch != entry.producer_epoch:
                ok = first_seq == 0  # a new epoch restarts sequences at 0
            else:
                ok = in_sequence(entry.last_seq, first_seq)
            if not ok:
                return Reject(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER)
        if not transactional and producer_id in self.txns.ongoing_ids():
            # A plain write from a producer in the middle of a transaction.
            return Reject(ErrorCode.INVALID_TXN_STATE)
        return APPEND

    def check_marker(self, producer_id: int, producer_epoch: int, coordinator_epoch: int
                     ) -> ErrorCode:
        """Whether a transaction marker may be written (ProducerAppendInfo.
        appendEndTxnMarker, transaction version 0/1: the marker carries the
        transaction's own epoch)."""
        entry = self._producers.get(producer_id)
        if entry is None:
            return ErrorCode.NONE  # the empty entry: epoch -1, coordinator epoch -1
        if producer_epoch < entry.producer_epoch:
            return ErrorCode.INVALID_PRODUCER_EPOCH
        if entry.coordinator_epoch > coordinator_epoch:
            return ErrorCode.TRANSACTION_COORDINATOR_FENCED
        return ErrorCode.NONE

    def record(
        self,
        producer_id: int,
        producer_epoch: int,
        first_seq: int,
        last_seq: int,
        first_offset: int,
        last_offset: int,
        timestamp: int,
        transactional: bool = False,
    ) -> None:
        """Note an appended data batch; `timestamp` is its stored max_timestamp."""
        batch = BatchMetadata(first_seq, last_seq, first_offset, last_offset, timestamp)
        entry = self._producers.get(producer_id)
        coordinator_epoch = NO_COORDINATOR_EPOCH if entry is None else entry.coordinator_epoch
        if entry is None or entry.producer_epoch != producer_epoch:
            batches: tuple[BatchMetadata, ...] = (batch,)
        else:
            batches = (*entry.batches[-(NUM_BATCHES_TO_RETAIN - 1) :], batch)
        self._producers[producer_id] = ProducerEntry(
            producer_epoch, batches, timestamp, coordinator_epoch)
        if transactional:
            self.txns.begin(producer_id, first_offset)

    def record_marker(
        self, producer_id: int, producer_epoch: int, timestamp: int,
        marker: EndTxnMarker | None = None, offset: int = -1,
    ) -> CompletedTxn | None:
        """Note an appended transaction marker at `offset` (ProducerStateEntry.update);
        it ends the producer's ongoing transaction, if any, which is returned.
        Without `marker` (its record unknown) only the epoch and time are noted."""
        entry = self._producers.get(producer_id)
        if entry is None or entry.producer_epoch != producer_epoch:
            batches: tuple[BatchMetadata, ...] = ()
        else:
            batches = entry.batches
        coordinator_epoch = NO_COORDINATOR_EPOCH if entry is None else entry.coordinator_epoch
        completed = None
        if marker is not None:
            coordinator_epoch = marker.coordinator_epoch
            completed = self.txns.complete(producer_id, offset, not marker.commit)
        self._producers[producer_id] = ProducerEntry(
            producer_epoch, batches, timestamp, coordinator_epoch)
        return completed

    def rebuild_from(self, batches: Iterable[Replayed]) -> None:
        """Replay stored batches in log order on top of the current state (empty,
        or a loaded snapshot). Nothing is validated: the log holds only batches
        that were accepted. A marker's type is read from its bytes when given."""
        for item in batches:
            header, data = item if isinstance(item, tuple) else (item, None)
            if not header.has_producer_id:
                continue
            if header.is_control:
                # An empty control batch is a marker the cleaner emptied; Kafka skips it.
                if header.records_count > 0:
                    self.record_marker(
                        header.producer_id, header.producer_epoch, header.max_timestamp,
                        _marker_of(header, data), header.base_offset,
                    )
                continue
            self.record(
                header.producer_id,
                header.producer_epoch,
                header.base_sequence,
                header.last_sequence,
                header.base_offset,
                header.last_offset,
                header.max_timestamp,
                header.is_transactional,
            )

    def remove_expired(
        self, now_ms: int, producer_id_expiration_ms: int = DEFAULT_PRODUCER_ID_EXPIRATION_MS
    ) -> list[int]:
        """Forget producers idle for producer.id.expiration.ms, except those with a
        transaction ongoing (Kafka's isProducerExpired); returns their ids."""
        ongoing = self.txns.ongoing_ids()
        expired = [
            pid
            for pid, entry in self._producers.items()
            if now_ms - entry.last_timestamp >= producer_id_expiration_ms and pid not in ongoing
        ]
        for pid in expired:
            del self._producers[pid]
        return expired

    def truncate_head(self, log_start_offset: int) -> None:
        """The log start moved (retention, DeleteRecords): aborted-index entries
        wholly below it are dropped."""
        self.txns.truncate_head(log_start_offset)

    def to_snapshot(self) -> dict[str, Any]:
        """The whole state as JSON-serialisable data."""
        return {
            "version": SNAPSHOT_VERSION,
            "producers": [
                {
                    "producer_id": pid,
                    "producer_epoch": entry.producer_epoch,
                    "last_timestamp": entry.last_timestamp,
                    "coordinator_epoch": entry.coordinator_epoch,
                    "current_txn_first_offset": self.txns.current_txn_first_offset(pid),
                    "batches": [
                        [b.first_seq, b.last_seq, b.first_offset, b.last_offset, b.timestamp]
                        for b in entry.batches
                    ],
                }
                for pid, entry in self._producers.items()
            ],
            "aborted": [
                [t.producer_id, t.first_offset, t.last_offset, t.last_stable_offset]
                for t in self.txns.aborted()
            ],
        }

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> ProducerStateManager:
        """The state `to_snapshot` produced (version 1 or 2); ValueError if `data`
        is not one."""
        if data.get("version") not in _READABLE_SNAPSHOT_VERSIONS:
            raise ValueError(f"unsupported producer state snapshot version {data.get('version')!r}")
        manager = cls()
        ongoing: dict[int, int] = {}
        try:
            for p in data["producers"]:
                pid = int(p["producer_id"])
                batches = tuple(BatchMetadata(*map(int, b)) for b in p["batches"])
                if len(batches) > NUM_BATCHES_TO_RETAIN:
                    raise ValueError(f"producer {pid} has {len(batches)} batches")
                manager._producers[pid] = ProducerEntry(
                    int(p["producer_epoch"]), batches, int(p["last_timestamp"]),
                    int(p.get("coordinator_epoch", NO_COORDINATOR_EPOCH)),
                )
                first = int(p.get("current_txn_first_offset", -1))
                if first >= 0:
                    ongoing[pid] = first
            aborted = [AbortedTxn(*map(int, a)) for a in data.get("aborted", ())]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed producer state snapshot: {exc!r}") from exc
        manager.txns.load(ongoing, aborted)
        return manager


def _marker_of(header: BatchHeader, data: Buffer | None) -> EndTxnMarker | None:
    if data is None:
        return None
    try:
        return read_end_txn_marker(data)
    except BatchError as exc:
        log.warning("unreadable transaction marker at offset %d: %s", header.base_offset, exc)
        return None
