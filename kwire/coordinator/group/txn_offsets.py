"""TxnOffsetCommit and the end of transactions: Kafka's commitTransactionalOffset
and replayEndTransactionMarker (OffsetMetadataManager) for classic groups.

Theory of operation. A transactional producer (or Kafka Streams task) commits
its consumed positions inside its transaction. The offsets are ordinary
OffsetCommit records, written as one transactional batch of the producer
(`Effects.producer`) to the group's `__consumer_offsets` partition, and held
as pending under the producer id (`pending_offsets.py`). When the transaction
coordinator's marker lands on that partition, the driver calls
`complete_transaction`: COMMIT moves the producer's pending offsets into the
committed store, ABORT drops them. Replay rebuilds the same from the log: the
records of transactional batches go pending, control batches complete them.

Ordering rule (KAFKA-15798 in Kafka): a partition may get both a
transactional and a plain OffsetCommit while the transaction is open; on
COMMIT the transactional offset wins only when its record came later in the
log than the committed one's, so compaction of `__consumer_offsets` (which
keeps the latest record per key) can never resurrect a different answer.

Validation differs from OffsetCommit as ClassicGroup.validateOffsetCommit
with isTransactional does: without a member id or generation the commit is
accepted in any state (v0-2 requests carry neither), and a group completing
its rebalance is not refused.
"""

from __future__ import annotations

from collections.abc import Sequence

from kwire.coordinator.group.base import OffsetAndMetadata
from kwire.coordinator.group.classic_group import ClassicGroup
from kwire.coordinator.group.effects import Effects, EffectsBuilder, TxnProducer
from kwire.coordinator.group.offsets import CommitEntry, OffsetsMixin, _java_length
from kwire.coordinator.group.records import (
    OffsetCommitKey,
    OffsetCommitValue,
    offset_commit_record,
)
from kwire.coordinator.group.responses import (
    OffsetCommitPartitionResponse,
    TxnOffsetCommitResponse,
)
from kwire.errors import ErrorCode

NO_PRODUCER_ID = -1


class TxnOffsetsMixin(OffsetsMixin):
    # -- TxnOffsetCommit --------------------------------------------------------------------

    def commit_txn_offsets(
        self,
        token: object,
        now_ms: int,
        *,
        group_id: str,
        producer_id: int,
        producer_epoch: int,
        generation_id: int = -1,
        member_id: str = "",
        group_instance_id: str | None = None,
        offsets: Sequence[CommitEntry],
    ) -> Effects:
        """TxnOffsetCommit: the offsets become pending under `producer_id`."""
        fx = EffectsBuilder()
        created = group_id not in self.groups
        error = self._validate_txn_commit(
            now_ms, group_id, generation_id, member_id, group_instance_id
        )
        if error is not ErrorCode.NONE:
            fx.respond(
                token,
                TxnOffsetCommitResponse(
                    tuple(OffsetCommitPartitionResponse(t, p, error) for t, p, *_ in offsets)
                ),
            )
            return fx.build()
        before = self.pending.snapshot(producer_id)
        stale = self._stale_partition_check(group_id, member_id, generation_id)
        results = []
        for topic, partition, offset, leader_epoch, metadata in offsets:
            text = metadata if metadata is not None else ""
            code = stale(topic, partition)
            if code is ErrorCode.NONE and _java_length(text) > self.offset_metadata_max_bytes:
                code = ErrorCode.OFFSET_METADATA_TOO_LARGE
            elif code is ErrorCode.NONE:
                value = OffsetAndMetadata(offset, leader_epoch, text, now_ms)
                fx.append(
                    offset_commit_record(
                        OffsetCommitKey(group_id, topic, partition),
                        OffsetCommitValue(offset, leader_epoch, text, now_ms),
                    )
                )
                self.apply_txn_offset(producer_id, group_id, topic, partition, value)
            results.append(OffsetCommitPartitionResponse(topic, partition, code))
        if fx.records:

            def revert() -> None:
                # The batch was refused (e.g. a fenced producer epoch): nothing of
                # this call happened.
                self.pending.restore(producer_id, before)
                if created and not self.offsets.get(group_id):
                    self.groups.pop(group_id, None)

            fx.transactional(TxnProducer(producer_id, producer_epoch), revert)
        fx.respond(token, TxnOffsetCommitResponse(tuple(results)))
        return fx.build()

    def _validate_txn_commit(
        self,
        now_ms: int,
        group_id: str,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None,
    ) -> ErrorCode:
        if self.loading:
            return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
        consumer = self.consumer_groups.get(group_id)
        if consumer is not None:
            return consumer.validate_offset_commit(member_id, group_instance_id, generation_id,
                                                   transactional=True)
        group = self.groups.get(group_id)
        if group is None:
            if generation_id >= 0:
                return ErrorCode.ILLEGAL_GENERATION
            group = ClassicGroup(group_id, current_state_timestamp=now_ms)
            self.groups[group_id] = group
        return self._validate_group_commit(group, member_id, group_instance_id, generation_id,
                                           transactional=True)

    # -- the pending store ------------------------------------------------------------------

    def apply_txn_offset(
        self, producer_id: int, group_id: str, topic: str, partition: int, value: OffsetAndMetadata
    ) -> None:
        """One OffsetCommit record of a transactional batch (live or replayed)."""
        if group_id not in self.groups and group_id not in self.consumer_groups:
            self.groups[group_id] = ClassicGroup(group_id)  # a simple group, as Kafka's replay
        stamped = OffsetAndMetadata(
            value.committed_offset,
            value.leader_epoch,
            value.metadata,
            value.commit_timestamp_ms,
            value.expire_timestamp_ms,
            record_seq=self.next_record_seq(),
        )
        self.pending.add(producer_id, group_id, topic, partition, stamped)

    def complete_transaction(self, producer_id: int, commit: bool) -> None:
        """The producer's transaction ended on this partition (its marker is stored).

        COMMIT makes its pending offsets committed — each unless a later plain
        commit of the partition already replaced it; ABORT drops them. A producer
        without pending offsets here is ignored.
        """
        store = self.pending.complete(producer_id)
        if store is None or not commit:
            return
        for group_id, by_topic in store.items():
            for topic, by_partition in by_topic.items():
                for partition, value in by_partition.items():
                    existing = self.offsets.get(group_id, {}).get(topic, {}).get(partition)
                    if existing is not None and existing.record_seq > value.record_seq:
                        continue
                    if group_id not in self.groups and group_id not in self.consumer_groups:
                        self.groups[group_id] = ClassicGroup(group_id)
                    self.offsets.setdefault(group_id, {}).setdefault(topic, {})[partition] = (
                        value
                    )

    def pending_offset(
        self, producer_id: int, group_id: str, topic: str, partition: int
    ) -> OffsetAndMetadata | None:
        """A pending transactional offset (read-only use: tests)."""
        return self.pending.get(producer_id, group_id, topic, partition)
