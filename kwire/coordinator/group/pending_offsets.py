"""Transactional offsets not yet committed: Kafka's pendingTransactionalOffsets and
openTransactionsByGroup (OffsetMetadataManager).

A TxnOffsetCommit's offsets are written to `__consumer_offsets` inside the
producer's transaction and stay here, keyed by producer id, until the
transaction's marker reaches that partition: COMMIT moves them to the
committed store, ABORT drops them. Until then OffsetFetch does not show them
(require_stable answers UNSTABLE_OFFSET_COMMIT instead), retention does not
expire the partition and the group is not deleted by retention.

Pure data: no records, no responses. Each entry carries the record sequence
of its record (`OffsetAndMetadata.record_seq`), which the commit compares with
the committed offset's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kwire.coordinator.group.base import OffsetAndMetadata, OffsetStore


class PendingTxnOffsets:
    def __init__(self) -> None:
        # producer id -> group -> topic -> partition -> offset
        self._by_producer: dict[int, OffsetStore] = {}
        # group -> producer ids with pending offsets of that group
        self._open_by_group: dict[str, set[int]] = {}

    def add(
        self, producer_id: int, group_id: str, topic: str, partition: int, value: OffsetAndMetadata
    ) -> None:
        store = self._by_producer.setdefault(producer_id, {})
        store.setdefault(group_id, {}).setdefault(topic, {})[partition] = value
        self._open_by_group.setdefault(group_id, set()).add(producer_id)

    def has(self, group_id: str, topic: str, partition: int) -> bool:
        """Kafka's hasPendingTransactionalOffsets."""
        for producer_id in self._open_by_group.get(group_id, ()):
            if partition in self._by_producer.get(producer_id, {}).get(group_id, {}).get(
                topic, {}
            ):
                return True
        return False

    def has_open_transactions(self, group_id: str) -> bool:
        return group_id in self._open_by_group

    def get(
        self, producer_id: int, group_id: str, topic: str, partition: int
    ) -> OffsetAndMetadata | None:
        return self._by_producer.get(producer_id, {}).get(group_id, {}).get(topic, {}).get(
            partition
        )

    def partitions(self, group_id: str) -> Iterator[tuple[str, int]]:
        """Every (topic, partition) with a pending offset of the group (may repeat)."""
        for producer_id in self._open_by_group.get(group_id, ()):
            for topic, by_partition in self._by_producer.get(producer_id, {}).get(
                group_id, {}
            ).items():
                for partition in by_partition:
                    yield topic, partition

    def all_partitions(self) -> Iterator[tuple[str, str, int]]:
        """(group, topic, partition) of every pending offset (may repeat)."""
        for store in self._by_producer.values():
            for group_id, by_topic in store.items():
                for topic, by_partition in by_topic.items():
                    for partition in by_partition:
                        yield group_id, topic, partition

    def remove_partition(self, group_id: str, topic: str, partition: int) -> None:
        """An offset tombstone drops the partition from every open transaction of the
        group (Kafka's replay of a tombstone). The transactions stay open: their
        markers still come."""
        for producer_id in self._open_by_group.get(group_id, ()):
            by_topic = self._by_producer.get(producer_id, {}).get(group_id, {})
            by_partition = by_topic.get(topic)
            if by_partition is not None:
                by_partition.pop(partition, None)
                if not by_partition:
                    del by_topic[topic]

    def complete(self, producer_id: int) -> OffsetStore | None:
        """Remove and return the producer's pending offsets (its transaction ended)."""
        store = self._by_producer.pop(producer_id, None)
        if store is None:
            return None
        for group_id in store:
            open_txns = self._open_by_group.get(group_id)
            if open_txns is not None:
                open_txns.discard(producer_id)
                if not open_txns:
                    del self._open_by_group[group_id]
        return store

    def snapshot(self, producer_id: int) -> OffsetStore | None:
        """A copy of one producer's pending offsets, to restore after a failed write."""
        store = self._by_producer.get(producer_id)
        if store is None:
            return None
        return {g: {t: dict(by_p) for t, by_p in by_t.items()} for g, by_t in store.items()}

    def restore(self, producer_id: int, snapshot: OffsetStore | None) -> None:
        self.complete(producer_id)
        if snapshot is None:
            return
        self._by_producer[producer_id] = snapshot
        for group_id in snapshot:
            self._open_by_group.setdefault(group_id, set()).add(producer_id)

    def clear(self) -> None:
        self._by_producer.clear()
        self._open_by_group.clear()
