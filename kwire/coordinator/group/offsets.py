"""Committed offsets: OffsetCommit, OffsetFetch, OffsetDelete and retention.

Kafka's OffsetMetadataManager for classic groups: the commit checks of
ClassicGroup.validateOffsetCommit, simple groups created by generation -1
commits, OffsetDelete's GROUP_SUBSCRIBED_TO_TOPIC, and cleanupExpiredOffsets
with ClassicGroup.offsetExpirationCondition, and onPartitionsDeleted (the
offsets of a deleted topic go with it). Every change is an OffsetCommit record
(a tombstone to delete) applied to the store at once.
Transactional offsets not yet committed (`pending_offsets.py`) are answered
here too: require_stable fetches get UNSTABLE_OFFSET_COMMIT, deletions write
tombstones for them, retention waits for their transactions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from kwire.coordinator.group.base import OffsetAndMetadata
from kwire.coordinator.group.classic_group import ClassicGroup
from kwire.coordinator.group.consumer.group import ConsumerGroupState
from kwire.coordinator.group.consumer.groups import ConsumerGroupsMixin
from kwire.coordinator.group.effects import Effects, EffectsBuilder
from kwire.coordinator.group.rebalance import (
    COMPLETING,
    DEAD,
    EMPTY,
    PREPARING,
    STABLE,
    RebalanceMixin,
)
from kwire.coordinator.group.records import (
    OffsetCommitKey,
    OffsetCommitValue,
    offset_commit_record,
)
from kwire.coordinator.group.responses import (
    OffsetCommitPartitionResponse,
    OffsetCommitResponse,
    OffsetDeletePartitionResponse,
    OffsetDeleteResponse,
    OffsetFetchPartitionResponse,
    OffsetFetchResponse,
    PartitionsDeletedResponse,
)
from kwire.errors import ErrorCode

# (topic, partition, committed_offset, committed_leader_epoch, committed_metadata)
CommitEntry = tuple[str, int, int, int, str | None]


def _java_length(s: str) -> int:
    """String.length() in Java (UTF-16 code units), as offset.metadata.max.bytes compares."""
    return len(s.encode("utf-16-le")) // 2


class OffsetsMixin(RebalanceMixin, ConsumerGroupsMixin):
    # -- the store -----------------------------------------------------------------------------

    def apply_offset(
        self, group_id: str, topic: str, partition: int, value: OffsetAndMetadata | None
    ) -> None:
        """Replay of one OffsetCommit record; a commit to an unknown group makes a simple group.

        A tombstone also drops the partition from the group's open transactions,
        as Kafka's replay does."""
        if value is None:
            self.pending.remove_partition(group_id, topic, partition)
            by_topic = self.offsets.get(group_id, {})
            by_partition = by_topic.get(topic, {})
            by_partition.pop(partition, None)
            if not by_partition:
                by_topic.pop(topic, None)
            if not by_topic:
                self.offsets.pop(group_id, None)
            return
        if group_id not in self.groups and group_id not in self.consumer_groups:
            self.groups[group_id] = ClassicGroup(group_id)
        value = dataclasses.replace(value, record_seq=self.next_record_seq())
        self.offsets.setdefault(group_id, {}).setdefault(topic, {})[partition] = value

    def _write_offset(
        self,
        fx: EffectsBuilder,
        group_id: str,
        topic: str,
        partition: int,
        value: OffsetAndMetadata | None,
    ) -> None:
        key = OffsetCommitKey(group_id, topic, partition)
        record_value = (
            None
            if value is None
            else OffsetCommitValue(
                value.committed_offset,
                value.leader_epoch,
                value.metadata,
                value.commit_timestamp_ms,
                -1 if value.expire_timestamp_ms is None else value.expire_timestamp_ms,
            )
        )
        fx.append(offset_commit_record(key, record_value))
        self.apply_offset(group_id, topic, partition, value)

    # -- OffsetCommit ----------------------------------------------------------------------

    def commit_offsets(
        self,
        token: object,
        now_ms: int,
        *,
        group_id: str,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None,
        retention_time_ms: int,
        offsets: Sequence[CommitEntry],
        api_version: int = 8,
    ) -> Effects:
        """OffsetCommit. retention_time_ms -1 = broker retention (v2-4 may set one)."""
        fx = EffectsBuilder()
        error = self._validate_commit(
            fx, now_ms, group_id, generation_id, member_id, group_instance_id, api_version
        )
        if error is not ErrorCode.NONE:
            fx.respond(
                token,
                OffsetCommitResponse(
                    tuple(OffsetCommitPartitionResponse(t, p, error) for t, p, *_ in offsets)
                ),
            )
            return fx.build()
        expire = None if retention_time_ms == -1 else now_ms + retention_time_ms
        stale = self._stale_partition_check(group_id, member_id, generation_id)
        results = []
        for topic, partition, offset, leader_epoch, metadata in offsets:
            text = metadata if metadata is not None else ""
            partition_error = stale(topic, partition)
            if partition_error is not ErrorCode.NONE:
                results.append(OffsetCommitPartitionResponse(topic, partition, partition_error))
                continue
            if _java_length(text) > self.offset_metadata_max_bytes:
                results.append(
                    OffsetCommitPartitionResponse(
                        topic, partition, ErrorCode.OFFSET_METADATA_TOO_LARGE
                    )
                )
                continue
            value = OffsetAndMetadata(offset, leader_epoch, text, now_ms, expire)
            self._write_offset(fx, group_id, topic, partition, value)
            results.append(OffsetCommitPartitionResponse(topic, partition, ErrorCode.NONE))
        fx.respond(token, OffsetCommitResponse(tuple(results)))
        return fx.build()

    def _stale_partition_check(self, group_id: str, member_id: str,
                               member_epoch: int) -> Callable[[str, int], ErrorCode]:
        """Kafka's assignment-epoch validator: a consumer-group member committing with
        an older epoch may commit only partitions it got at or before that epoch."""
        group = self.consumer_groups.get(group_id)
        member = None if group is None else group.members.get(member_id)
        if member is None or member_epoch >= member.member_epoch:
            return lambda topic, partition: ErrorCode.NONE
        topics = self.topics()
        stale = (ErrorCode.ILLEGAL_GENERATION if member.uses_classic_protocol()
                 else ErrorCode.STALE_MEMBER_EPOCH)

        def check(topic: str, partition: int) -> ErrorCode:
            topic_id = topics.id_of(topic)
            epoch = None if topic_id is None else member.assignment_epoch(topic_id, partition)
            return stale if epoch is None or member_epoch < epoch else ErrorCode.NONE
        return check

    def _validate_commit(
        self,
        fx: EffectsBuilder,
        now_ms: int,
        group_id: str,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None,
        api_version: int,
    ) -> ErrorCode:
        if self.loading:
            return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
        consumer = self.consumer_groups.get(group_id)
        if consumer is not None:
            return consumer.validate_offset_commit(member_id, group_instance_id, generation_id,
                                                   transactional=False, api_version=api_version)
        group = self.groups.get(group_id)
        if group is None:
            if generation_id >= 0:
                # v9+ says so; older versions keep ILLEGAL_GENERATION for compatibility.
                return ErrorCode.GROUP_ID_NOT_FOUND if api_version >= 9 else (
                    ErrorCode.ILLEGAL_GENERATION
                )
            # Admin client or a consumer without group management: a "simple" group.
            group = ClassicGroup(group_id, current_state_timestamp=now_ms)
            self.groups[group_id] = group
        error = self._validate_group_commit(group, member_id, group_instance_id, generation_id)
        if error is ErrorCode.NONE and group.is_in(STABLE, PREPARING):
            # Commits keep a classic member's session alive.
            member = group.members.get(member_id)
            if member is not None:
                self.reschedule_heartbeat(fx, group, member, now_ms)
        return error

    @staticmethod
    def _validate_group_commit(
        group: ClassicGroup, member_id: str, group_instance_id: str | None, generation_id: int,
        *, transactional: bool = False,
    ) -> ErrorCode:
        """ClassicGroup.validateOffsetCommit; `transactional`: its TxnOffsetCommit
        form, which takes a commit without a member from any group state."""
        if group.is_in(DEAD):
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        if generation_id < 0 and group.is_in(EMPTY):
            return ErrorCode.NONE
        if generation_id >= 0 or member_id or group_instance_id is not None:
            error = group.validate_member(member_id, group_instance_id)
            if error is not ErrorCode.NONE:
                return error
            if generation_id != group.generation_id:
                return ErrorCode.ILLEGAL_GENERATION
        elif transactional:
            return ErrorCode.NONE
        elif not group.is_in(EMPTY):
            return ErrorCode.UNKNOWN_MEMBER_ID
        if not transactional and group.is_in(COMPLETING):
            return ErrorCode.REBALANCE_IN_PROGRESS
        return ErrorCode.NONE

    # -- OffsetFetch ----------------------------------------------------------------------

    def fetch_offsets(
        self,
        token: object,
        now_ms: int,
        *,
        group_id: str,
        partitions: Sequence[tuple[str, int]] | None,
        require_stable: bool = False,
        member_id: str | None = None,
        member_epoch: int = -1,
    ) -> Effects:
        """OffsetFetch of some partitions, or of all committed ones (partitions None).

        Pending transactional offsets are never shown; with require_stable (v7+) a
        partition that has one answers UNSTABLE_OFFSET_COMMIT at the partition
        level (the group's error stays NONE, as in Kafka), which consumers retry.
        """
        fx = EffectsBuilder()
        if self.loading:
            fx.respond(token, OffsetFetchResponse(group_id, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS))
            return fx.build()
        consumer = self.consumer_groups.get(group_id)
        if consumer is not None:
            error = consumer.validate_offset_fetch(member_id, member_epoch)
            if error is not ErrorCode.NONE:
                fx.respond(token, OffsetFetchResponse(group_id, error))
                return fx.build()
        group = self.groups.get(group_id)
        known = (group is not None and not group.is_in(DEAD)) or consumer is not None
        stored = self.offsets.get(group_id, {}) if known else {}
        if partitions is None:
            wanted = [(t, p) for t, by_p in stored.items() for p in by_p]
        else:
            wanted = list(partitions)
        results = []
        for topic, partition in wanted:
            value = stored.get(topic, {}).get(partition)
            if require_stable and self.pending.has(group_id, topic, partition):
                results.append(
                    OffsetFetchPartitionResponse(
                        topic, partition, error_code=ErrorCode.UNSTABLE_OFFSET_COMMIT
                    )
                )
            elif value is None:
                results.append(OffsetFetchPartitionResponse(topic, partition))
            else:
                results.append(
                    OffsetFetchPartitionResponse(
                        topic, partition, value.committed_offset, value.leader_epoch, value.metadata
                    )
                )
        fx.respond(token, OffsetFetchResponse(group_id, ErrorCode.NONE, tuple(results)))
        return fx.build()

    # -- OffsetDelete ---------------------------------------------------------------------

    def delete_offsets(
        self,
        token: object,
        now_ms: int,
        *,
        group_id: str,
        partitions: Sequence[tuple[str, int]],
    ) -> Effects:
        fx = EffectsBuilder()
        group = self.groups.get(group_id)
        error = ErrorCode.NONE
        if not group_id:
            error = ErrorCode.INVALID_GROUP_ID
        elif self.loading:
            error = ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
        elif group is None or group.is_in(DEAD):
            error = ErrorCode.GROUP_ID_NOT_FOUND
        elif not group.is_in(EMPTY) and not group.uses_consumer_protocol():
            error = ErrorCode.NON_EMPTY_GROUP
        if error is not ErrorCode.NONE or group is None:
            fx.respond(token, OffsetDeleteResponse(error))
            return fx.build()
        results = []
        for topic, partition in partitions:
            if group.is_subscribed_to_topic(topic):
                code = ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC
            else:
                code = ErrorCode.NONE
                # A pending transactional offset is tombstoned too (Kafka does).
                if self.offsets.get(group_id, {}).get(topic, {}).get(
                    partition
                ) is not None or self.pending.has(group_id, topic, partition):
                    self._write_offset(fx, group_id, topic, partition, None)
            results.append(OffsetDeletePartitionResponse(topic, partition, code))
        fx.respond(token, OffsetDeleteResponse(ErrorCode.NONE, tuple(results)))
        return fx.build()

    # -- deleted topics ----------------------------------------------------------------------

    def on_partitions_deleted(
        self, token: object, now_ms: int, *, partitions: Sequence[tuple[str, int]]
    ) -> Effects:
        """OffsetMetadataManager.onPartitionsDeleted: tombstone every group's offset
        of each deleted partition; the response says how many were deleted.

        Pending transactional offsets of those partitions are tombstoned too.
        Groups stay, even with no offsets left, as in Kafka (retention removes
        Empty ones later).
        """
        fx = EffectsBuilder()
        deleted: dict[str, set[int]] = {}
        for topic, partition in partitions:
            deleted.setdefault(topic, set()).add(partition)
        doomed: dict[tuple[str, str, int], None] = {}
        for group_id, by_topic in self.offsets.items():
            for topic, by_partition in by_topic.items():
                for partition in sorted(deleted.get(topic, set()) & by_partition.keys()):
                    doomed[(group_id, topic, partition)] = None
        for group_id, topic, partition in self.pending.all_partitions():
            if partition in deleted.get(topic, set()):
                doomed[(group_id, topic, partition)] = None
        for group_id, topic, partition in doomed:
            self._write_offset(fx, group_id, topic, partition, None)
        count = len(doomed)
        fx.respond(token, PartitionsDeletedResponse(count))
        return fx.build()

    # -- retention ----------------------------------------------------------------------------

    def expire_offsets(self, now_ms: int, offsets_retention_ms: int | None = None) -> Effects:
        """Tombstone expired offsets; delete Empty groups left without offsets (-> Dead)."""
        fx = EffectsBuilder()
        if not self.loading:
            retention = self.offsets_retention_ms if offsets_retention_ms is None else (
                offsets_retention_ms
            )
            self.expire_offsets_into(fx, now_ms, retention)
        return fx.build()

    def expire_offsets_into(self, fx: EffectsBuilder, now_ms: int, retention_ms: int) -> None:
        for group_id in list(self.groups):
            group = self.groups[group_id]
            if self._cleanup_expired_offsets(
                    fx, group_id, group.is_subscribed_to_topic, self._expiration_base(group),
                    now_ms, retention_ms) and group.is_in(EMPTY):
                self.write_group_tombstone(fx, group_id)
        for group_id in list(self.consumer_groups):
            consumer = self.consumer_groups[group_id]
            # Kafka's ConsumerGroup.offsetExpirationCondition: from the commit time, for
            # topics no member subscribes to; an empty group without offsets goes.
            if self._cleanup_expired_offsets(
                    fx, group_id, consumer.is_subscribed_to,
                    lambda o: o.commit_timestamp_ms, now_ms, retention_ms) \
                    and consumer.state is ConsumerGroupState.EMPTY:
                self.write_consumer_group_tombstones(fx, consumer)

    def _cleanup_expired_offsets(
        self, fx: EffectsBuilder, group_id: str, subscribed: Callable[[str], bool],
        base: Callable[[OffsetAndMetadata], int] | None, now_ms: int, retention_ms: int,
    ) -> bool:
        """True when the group has no offsets left afterwards.

        A partition with a pending transactional offset is not expired, and a
        group with open transactions is never reported empty: deleting it would
        lose the offsets its transactions are about to commit (Kafka keeps it
        too, except when it has no committed offset at all, which kwire treats
        the same way rather than dropping the group under a live transaction).
        """
        open_txns = self.pending.has_open_transactions(group_id)
        by_topic = self.offsets.get(group_id)
        if not by_topic:
            return not open_txns
        if base is None:
            return False
        all_expired = True
        for topic, by_partition in list(by_topic.items()):
            if subscribed(topic):
                all_expired = False
                continue
            for partition, value in list(by_partition.items()):
                if value.expire_timestamp_ms is not None:
                    expired = now_ms >= value.expire_timestamp_ms  # v1-4 explicit retention
                else:
                    expired = now_ms - base(value) >= retention_ms
                if expired and not self.pending.has(group_id, topic, partition):
                    self._write_offset(fx, group_id, topic, partition, None)
                else:
                    all_expired = False
        return all_expired and not open_txns

    @staticmethod
    def _expiration_base(group: ClassicGroup) -> Callable[[OffsetAndMetadata], int] | None:
        """Kafka's ClassicGroup.offsetExpirationCondition: where retention counts from."""
        if group.protocol_type is None:
            return lambda o: o.commit_timestamp_ms  # simple group
        if group.is_in(EMPTY):
            became_empty = group.current_state_timestamp
            return lambda o: became_empty if became_empty is not None else o.commit_timestamp_ms
        if group.uses_consumer_protocol() and group.subscribed is not None and group.is_in(STABLE):
            return lambda o: o.commit_timestamp_ms  # only topics no member subscribes to
        return None
