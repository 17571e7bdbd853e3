"""Transactions of one partition: the ongoing ones and the aborted index (KIP-98).

Pure bookkeeping, the part of Kafka's ProducerStateManager and TransactionIndex
that read_committed consumers depend on:

- An ongoing transaction is known by its producer id and its first offset (the
  first transactional data batch the producer appended since its last marker).
  The smallest first offset is the first unstable offset; the partition's last
  stable offset (LSO) is that offset, or the high watermark when there is none
  or it is not below it (UnifiedLog's LSO).
- A marker completes the producer's transaction. An ABORT adds an entry to the
  aborted index: (producer id, first offset, last offset = the marker's offset,
  last stable offset). The last stable offset of an entry is Kafka's
  ProducerStateManager.lastStableOffset at the time the marker is appended: the
  first offset of the earliest *other* ongoing transaction, else the marker's
  offset + 1. It lets a reader stop scanning the index early.
- A marker for a producer with no ongoing transaction completes nothing (an empty
  transaction): no index entry, no effect on the LSO, as in Kafka.

kwire has no followers, so a completed transaction is stable at once (Kafka
keeps it "unreplicated" until the high watermark passes its marker; here the
marker is acknowledged only once the log holds it).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AbortedTxn:
    """One entry of the aborted index (Kafka's AbortedTxn, .txnindex's 34 bytes)."""

    producer_id: int
    first_offset: int
    last_offset: int
    last_stable_offset: int


@dataclass(frozen=True, slots=True)
class CompletedTxn:
    """A transaction a marker ended (Kafka's CompletedTxn)."""

    producer_id: int
    first_offset: int
    last_offset: int
    is_aborted: bool


class TxnIndex:
    """Ongoing transactions and the aborted index of one partition."""

    def __init__(self) -> None:
        # producer id -> first offset of its ongoing transaction. Few producers are
        # in a transaction on one partition at once: a min() over them is cheap.
        self._ongoing: dict[int, int] = {}
        # In marker order, so in last_offset order.
        self._aborted: list[AbortedTxn] = []

    def ongoing(self) -> dict[int, int]:
        """A copy of producer id -> first offset of every ongoing transaction."""
        return dict(self._ongoing)

    def ongoing_ids(self) -> dict[int, int]:
        """Producer id -> first offset, not a copy: for membership tests."""
        return self._ongoing

    def current_txn_first_offset(self, producer_id: int) -> int:
        """The first offset of the producer's ongoing transaction, -1 when none."""
        return self._ongoing.get(producer_id, -1)

    def aborted(self) -> list[AbortedTxn]:
        return list(self._aborted)

    def empty(self) -> bool:
        """No transaction is open and none is in the aborted index."""
        return not self._ongoing and not self._aborted

    def last_aborted(self) -> AbortedTxn:
        """The newest entry of the aborted index (IndexError when there is none)."""
        return self._aborted[-1]

    def last_stable_offset(self, high_watermark: int) -> int:
        """UnifiedLog's LSO: the first unstable offset when below the high watermark."""
        if not self._ongoing:
            return high_watermark
        first = min(self._ongoing.values())
        return first if first < high_watermark else high_watermark

    def begin(self, producer_id: int, first_offset: int) -> None:
        """A transactional data batch at `first_offset`; starts a transaction unless
        the producer has one ongoing."""
        self._ongoing.setdefault(producer_id, first_offset)

    def complete(self, producer_id: int, marker_offset: int, aborted: bool
                 ) -> CompletedTxn | None:
        """A marker at `marker_offset` ends the producer's transaction; None when it
        had none. An abort is added to the aborted index."""
        first = self._ongoing.get(producer_id)
        if first is None:
            return None
        if aborted:
            self._aborted.append(AbortedTxn(producer_id, first, marker_offset,
                                            self._lso_after(producer_id, marker_offset)))
        del self._ongoing[producer_id]
        return CompletedTxn(producer_id, first, marker_offset, aborted)

    def _lso_after(self, producer_id: int, marker_offset: int) -> int:
        # ProducerStateManager.lastStableOffset(completedTxn): the earliest ongoing
        # transaction of another producer, else just past the marker.
        others = [first for pid, first in self._ongoing.items() if pid != producer_id]
        return min(others) if others else marker_offset + 1

    def collect_aborted(self, fetch_offset: int, upper_bound_offset: int) -> list[AbortedTxn]:
        """The aborted transactions overlapping [fetch_offset, upper_bound_offset),
        in index order (Kafka's TransactionIndex.collectAbortedTxns over the
        segments from the one holding fetch_offset): entries whose last offset is
        at or past the fetch offset and whose first offset is below the bound; the
        scan stops after the first entry whose last stable offset reaches the bound,
        since no later abort can start below it."""
        out: list[AbortedTxn] = []
        # Entries are in last-offset order: skip those ending before the fetch
        # offset at once, as Kafka starts at the segment holding it.
        start = bisect.bisect_left(self._aborted, fetch_offset, key=_last_offset)
        for txn in itertools.islice(self._aborted, start, None):
            if txn.first_offset < upper_bound_offset:
                out.append(txn)
            if txn.last_stable_offset >= upper_bound_offset:
                break
        return out

    def truncate_head(self, log_start_offset: int) -> None:
        """Drop aborted entries wholly below the log start offset (retention,
        DeleteRecords): no reader can fetch what they describe."""
        if self._aborted and self._aborted[0].last_offset < log_start_offset:
            self._aborted = [t for t in self._aborted if t.last_offset >= log_start_offset]

    def load(self, ongoing: dict[int, int], aborted: Iterable[AbortedTxn]) -> None:
        self._ongoing = dict(ongoing)
        self._aborted = list(aborted)


def _last_offset(txn: AbortedTxn) -> int:
    return txn.last_offset
