"""Shared state and helpers of the group coordinator mixins: config, groups, offsets, timers.

`CoordinatorBase` holds everything the join/sync/offset/admin mixins touch, and
the few helpers that keep the timer table (the keys this coordinator currently
has armed) in step with the `TimerOp`s it emits. Nothing here answers requests.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from kwire.coordinator.group.classic_group import ClassicGroup, ClassicGroupMember
from kwire.coordinator.group.consumer.assignors import ASSIGNORS
from kwire.coordinator.group.consumer.group import ConsumerGroup
from kwire.coordinator.group.consumer.settings import ConsumerGroupSettings
from kwire.coordinator.group.consumer.topics import EMPTY_TOPICS, TopicsImage, changed_topics
from kwire.coordinator.group.effects import (
    CancelTimer,
    EffectsBuilder,
    ScheduleTimer,
    TimerKey,
    heartbeat_key,
)
from kwire.coordinator.group.pending_offsets import PendingTxnOffsets
from kwire.coordinator.group.records import Record, group_metadata_record
from kwire.coordinator.group.responses import JoinGroupResponse, SyncGroupResponse
from kwire.errors import ErrorCode

DEFAULT_INITIAL_REBALANCE_DELAY_MS = 3_000  # group.initial.rebalance.delay.ms
DEFAULT_MIN_SESSION_TIMEOUT_MS = 6_000  # group.min.session.timeout.ms
DEFAULT_MAX_SESSION_TIMEOUT_MS = 1_800_000  # group.max.session.timeout.ms
DEFAULT_NEW_MEMBER_JOIN_TIMEOUT_MS = 300_000  # Kafka's classicGroupNewMemberJoinTimeoutMs
DEFAULT_OFFSET_METADATA_MAX_BYTES = 4_096  # offset.metadata.max.bytes
DEFAULT_OFFSETS_RETENTION_MS = 7 * 24 * 3_600_000  # offsets.retention.minutes = 10080
DEFAULT_OFFSETS_RETENTION_CHECK_INTERVAL_MS = 600_000  # offsets.retention.check.interval.ms
DEFAULT_CONSUMER_SETTINGS = ConsumerGroupSettings()


@dataclass(frozen=True)
class OffsetAndMetadata:
    committed_offset: int
    leader_epoch: int  # -1 when unknown
    metadata: str
    commit_timestamp_ms: int
    expire_timestamp_ms: int | None = None  # only from OffsetCommit v1-4 retention
    # Position of its record among the shard's records (Kafka keeps the record
    # offset): a committed transaction's offset replaces a committed one only when
    # its record is the later one. Not part of the value's identity.
    record_seq: int = field(default=-1, compare=False)


# group id -> topic -> partition -> committed offset
OffsetStore = dict[str, dict[str, dict[int, OffsetAndMetadata]]]


class CoordinatorBase:
    def __init__(
        self,
        *,
        group_initial_rebalance_delay_ms: int = DEFAULT_INITIAL_REBALANCE_DELAY_MS,
        group_min_session_timeout_ms: int = DEFAULT_MIN_SESSION_TIMEOUT_MS,
        group_max_session_timeout_ms: int = DEFAULT_MAX_SESSION_TIMEOUT_MS,
        group_max_size: int | None = None,
        new_member_join_timeout_ms: int = DEFAULT_NEW_MEMBER_JOIN_TIMEOUT_MS,
        offset_metadata_max_bytes: int = DEFAULT_OFFSET_METADATA_MAX_BYTES,
        offsets_retention_ms: int = DEFAULT_OFFSETS_RETENTION_MS,
        offsets_retention_check_interval_ms: int = DEFAULT_OFFSETS_RETENTION_CHECK_INTERVAL_MS,
        uuid_factory: Callable[[], str] = lambda: str(uuid.uuid4()),
        consumer: ConsumerGroupSettings = DEFAULT_CONSUMER_SETTINGS,
        topics: Callable[[], TopicsImage] = lambda: EMPTY_TOPICS,
        group_configs: Callable[[str], Mapping[str, str]] = lambda group_id: {},
    ) -> None:
        self.initial_rebalance_delay_ms = group_initial_rebalance_delay_ms
        self.min_session_timeout_ms = group_min_session_timeout_ms
        self.max_session_timeout_ms = group_max_session_timeout_ms
        self.max_group_size = group_max_size if group_max_size is not None else 2**31 - 1
        self.new_member_join_timeout_ms = new_member_join_timeout_ms
        self.offset_metadata_max_bytes = offset_metadata_max_bytes
        self.offsets_retention_ms = offsets_retention_ms
        self.offsets_retention_check_interval_ms = offsets_retention_check_interval_ms
        self._uuid = uuid_factory
        self.groups: dict[str, ClassicGroup] = {}
        self.offsets: OffsetStore = {}
        self.pending = PendingTxnOffsets()
        # Counts offset records in log order, live and in replay alike (records are
        # applied in the order they are stored), standing in for record offsets.
        self.record_seq = 0
        self.timers: dict[TimerKey, int] = {}
        self.loading = True
        # Consumer groups (KIP-848). A group id names a classic group or a consumer
        # group, never both.
        self.consumer_groups: dict[str, ConsumerGroup] = {}
        self.consumer_settings = consumer
        self.consumer_session_timeout_ms = consumer.session_timeout_ms
        self.consumer_heartbeat_interval_ms = consumer.heartbeat_interval_ms
        self.consumer_max_size = consumer.max_size
        self.consumer_assignors = {name: ASSIGNORS[name] for name in consumer.assignors}
        self.consumer_default_assignor = consumer.assignors[0]
        self.consumer_regex_refresh_interval_ms = consumer.regex_refresh_interval_ms
        self.consumer_assignment_interval_ms = consumer.assignment_interval_ms
        # The GROUP config resource: per-group overrides of the consumer.* settings.
        self._group_configs = group_configs
        # Member epoch each armed revocation timer was armed for.
        self.revocation_epochs: dict[TimerKey, int] = {}
        self._topics = topics
        self._topics_seen: TopicsImage | None = None
        # Moves on (to the wall clock) whenever a topic appears: regexes resolved at
        # an older version are resolved again (Kafka's lastMetadataImageWithNewTopics).
        self.topics_version = 0

    # -- topics ---------------------------------------------------------------------------

    def topics(self, now_ms: int | None = None) -> TopicsImage:
        """The topics as the broker's metadata has them now. When they changed since
        the last look, consumer groups subscribed to a changed topic will recompute
        their metadata hash on their next heartbeat (Kafka's onMetadataUpdate)."""
        image = self._topics()
        last = self._topics_seen
        if image is not last:
            self._topics_seen = image
            if last is not None:
                if not frozenset(image.by_name) <= frozenset(last.by_name):
                    self.topics_version = max(self.topics_version + 1, now_ms or 0)
                changed = changed_topics(last, image)
                if changed:
                    for group in self.consumer_groups.values():
                        if any(group.is_subscribed_to(name) for name in changed):
                            group.request_metadata_refresh()
        return image

    def consumer_session_timeout_for(self, group_id: str) -> int:
        """consumer.session.timeout.ms of the group, else the broker's setting."""
        return self._group_int(group_id, "consumer.session.timeout.ms",
                               self.consumer_session_timeout_ms)

    def consumer_heartbeat_interval_for(self, group_id: str) -> int:
        return self._group_int(group_id, "consumer.heartbeat.interval.ms",
                               self.consumer_heartbeat_interval_ms)

    def consumer_assignment_interval_for(self, group_id: str) -> int:
        return self._group_int(group_id, "consumer.assignment.interval.ms",
                               self.consumer_assignment_interval_ms)

    def _group_int(self, group_id: str, name: str, default: int) -> int:
        value = self._group_configs(group_id).get(name)
        try:
            return default if value is None else int(value)
        except ValueError:
            return default

    # -- records ----------------------------------------------------------------------------

    def write(self, fx: EffectsBuilder, record: Record) -> None:
        """Append a record and apply it, as replay would: state changes only by records."""
        fx.append(record)
        self.replay(record[0], record[1])

    def replay(self, key: bytes, value: bytes | None, producer_id: int = -1) -> None:
        """Apply one `__consumer_offsets` record (GroupCoordinator.replay)."""
        raise NotImplementedError

    # -- classic members of consumer groups (consumer/classic_members.py) -----------------
    # JoinGroup, SyncGroup, Heartbeat and LeaveGroup of a consumer group go there; the
    # coordinator's ClassicMembersMixin provides them.

    def classic_join_to_consumer_group(
            self, fx: EffectsBuilder, token: object, now_ms: int, group: ConsumerGroup, *,
            member_id: str, instance_id: str | None, protocol_type: str,
            protocols: Sequence[tuple[str, bytes]], session_timeout_ms: int,
            rebalance_timeout_ms: int, client_id: str, client_host: str,
            require_known_member_id: bool) -> None:
        raise NotImplementedError

    def classic_sync_to_consumer_group(
            self, fx: EffectsBuilder, token: object, now_ms: int, group: ConsumerGroup, *,
            member_id: str, instance_id: str | None, generation_id: int,
            protocol_type: str | None, protocol_name: str | None) -> None:
        raise NotImplementedError

    def classic_heartbeat_to_consumer_group(
            self, fx: EffectsBuilder, token: object, now_ms: int, group: ConsumerGroup, *,
            member_id: str, instance_id: str | None, generation_id: int) -> None:
        raise NotImplementedError

    def classic_leave_to_consumer_group(self, fx: EffectsBuilder, token: object, now_ms: int,
                                        group: ConsumerGroup,
                                        members: Sequence[tuple[str, str | None]]) -> None:
        raise NotImplementedError

    # -- timers -----------------------------------------------------------------------------

    def schedule(self, fx: EffectsBuilder, key: TimerKey, deadline_ms: int) -> None:
        self.timers[key] = deadline_ms
        fx.timer(ScheduleTimer(key, deadline_ms))

    def cancel(self, fx: EffectsBuilder, key: TimerKey) -> None:
        if self.timers.pop(key, None) is not None:
            fx.timer(CancelTimer(key))

    def cancel_group_timers(self, fx: EffectsBuilder, group_id: str) -> None:
        for key in [k for k in self.timers if len(k) > 1 and k[1] == group_id]:
            self.cancel(fx, key)

    def reschedule_heartbeat(
        self,
        fx: EffectsBuilder,
        group: ClassicGroup,
        member: ClassicGroupMember,
        now_ms: int,
        timeout_ms: int | None = None,
    ) -> None:
        timeout = member.session_timeout_ms if timeout_ms is None else timeout_ms
        self.schedule(fx, heartbeat_key(group.group_id, member.member_id), now_ms + timeout)

    # -- parked requests -------------------------------------------------------------------

    def complete_join(
        self, fx: EffectsBuilder, member: ClassicGroupMember, response: JoinGroupResponse
    ) -> bool:
        if not member.awaiting_join:
            return False
        fx.respond(member.join_token, response)
        member.awaiting_join, member.join_token = False, None
        return True

    def complete_sync(
        self, fx: EffectsBuilder, member: ClassicGroupMember, response: SyncGroupResponse
    ) -> bool:
        if not member.awaiting_sync:
            return False
        fx.respond(member.sync_token, response)
        member.awaiting_sync, member.sync_token = False, None
        return True

    def park_join(self, fx: EffectsBuilder, member: ClassicGroupMember, token: object) -> None:
        # Kafka overwrites an earlier parked future; kwire answers it so no token leaks.
        self.complete_join(
            fx,
            member,
            JoinGroupResponse(ErrorCode.REBALANCE_IN_PROGRESS, member_id=member.member_id),
        )
        member.awaiting_join, member.join_token = True, token

    def park_sync(self, fx: EffectsBuilder, member: ClassicGroupMember, token: object) -> None:
        self.complete_sync(fx, member, SyncGroupResponse(ErrorCode.REBALANCE_IN_PROGRESS))
        member.awaiting_sync, member.sync_token = True, token

    def drop_member(self, fx: EffectsBuilder, group: ClassicGroup, member_id: str) -> None:
        """Remove a member and its heartbeat; a parked SyncGroup gets UNKNOWN_MEMBER_ID."""
        removed = group.remove(member_id)
        self.cancel(fx, heartbeat_key(group.group_id, member_id))
        if removed is not None:
            self.complete_sync(fx, removed, SyncGroupResponse(ErrorCode.UNKNOWN_MEMBER_ID))

    def next_record_seq(self) -> int:
        self.record_seq += 1
        return self.record_seq

    # -- groups ----------------------------------------------------------------------------

    def delete_group_state(self, fx: EffectsBuilder, group_id: str) -> None:
        """Forget a group after its tombstone: timers cancelled, offsets kept if any remain."""
        self.groups.pop(group_id, None)
        self.cancel_group_timers(fx, group_id)
        if self.offsets.get(group_id):
            # Offsets outliving their group become a simple group again (Kafka recreates
            # one when it replays an offset commit for an unknown group).
            self.groups[group_id] = ClassicGroup(group_id)

    def write_group_tombstone(self, fx: EffectsBuilder, group_id: str) -> None:
        fx.append(group_metadata_record(group_id, None))
        self.delete_group_state(fx, group_id)
