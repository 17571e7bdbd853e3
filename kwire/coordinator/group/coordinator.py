"""The classic group coordinator of one `__consumer_offsets` partition: pure, driven by calls.

`GroupCoordinator` joins the mixins (join, membership, offsets, transactional
offsets, admin) and adds
the lifecycle Kafka's GroupCoordinatorShard has: replay of the partition's
records while loading, `loaded` (session timers for loaded members,
the offsets-retention timer), `on_timer` dispatch, and `unload`.

Lifecycle for the driver:

    coordinator = GroupCoordinator(...)          # starts loading: requests get
    for key, value in partition records:         #   COORDINATOR_LOAD_IN_PROGRESS
        coordinator.replay(key, value, producer_id)  # producer_id of a transactional batch
    for each end transaction marker:
        coordinator.complete_transaction(producer_id, commit)
    effects = coordinator.loaded(now)        # arm its timers
    ... request calls and on_timer(key, now) ... # each returns Effects
"""

from __future__ import annotations

from kwire.coordinator.group.admin import AdminMixin
from kwire.coordinator.group.base import OffsetAndMetadata
from kwire.coordinator.group.classic_group import ClassicGroup, ClassicGroupMember
from kwire.coordinator.group.consumer import records as consumer_records
from kwire.coordinator.group.consumer.classic_members import ClassicMembersMixin
from kwire.coordinator.group.consumer.describe import ConsumerDescribeMixin
from kwire.coordinator.group.consumer.heartbeat import HeartbeatRequest
from kwire.coordinator.group.consumer.replay import apply_record
from kwire.coordinator.group.consumer.responses import ConsumerGroupHeartbeatResponse
from kwire.coordinator.group.effects import EXPIRE_OFFSETS_KEY, Effects, EffectsBuilder, TimerKey
from kwire.coordinator.group.join import JoinMixin
from kwire.coordinator.group.membership import MembershipMixin
from kwire.coordinator.group.rebalance import COMPLETING, PREPARING, STABLE
from kwire.coordinator.group.records import (
    GroupMetadataKey,
    GroupMetadataValue,
    OffsetCommitKey,
    OffsetCommitValue,
    RecordKey,
    RecordValue,
    decode_key,
    decode_value,
)
from kwire.coordinator.group.responses import JoinGroupResponse, SyncGroupResponse
from kwire.coordinator.group.state import GroupState
from kwire.coordinator.group.txn_offsets import NO_PRODUCER_ID, TxnOffsetsMixin
from kwire.errors import ErrorCode


class GroupCoordinator(JoinMixin, MembershipMixin, AdminMixin, TxnOffsetsMixin,
                       ClassicMembersMixin, ConsumerDescribeMixin):
    """Classic and consumer (KIP-848) groups and their offsets; see the module docstring
    for the driver."""

    # -- loading ---------------------------------------------------------------------------

    def replay(self, key: bytes, value: bytes | None, producer_id: int = NO_PRODUCER_ID) -> None:
        """Apply one `__consumer_offsets` record (value None = tombstone);
        `producer_id` is the producer of a transactional batch, whose offsets
        stay pending until its marker (`complete_transaction`).

        Record types kwire does not model (share and streams groups) are ignored.
        Loading and live writes (`write`) both come through here.
        """
        consumer_key = consumer_records.decode_key(key)
        if consumer_key is not None:
            consumer_value = (None if value is None
                              else consumer_records.decode_value(consumer_key, value))
            if consumer_value is not None and consumer_key.group_id in self.groups:
                # A classic group converted: the consumer group's records follow the
                # classic group's tombstone; offsets stay with the id.
                self.groups.pop(consumer_key.group_id, None)
            apply_record(self.consumer_groups, consumer_key, consumer_value)
            gid = consumer_key.group_id
            if gid not in self.consumer_groups and self.offsets.get(gid) and \
                    gid not in self.groups:
                # Offsets outliving their consumer group: a simple group keeps them.
                self.groups[gid] = ClassicGroup(gid)
            return
        record_key = decode_key(key)
        self.replay_record(
            record_key, None if value is None else decode_value(record_key, value), producer_id
        )

    def replay_record(
        self, key: RecordKey, value: RecordValue | None, producer_id: int = NO_PRODUCER_ID
    ) -> None:
        if isinstance(key, OffsetCommitKey):
            if value is not None and not isinstance(value, OffsetCommitValue):
                raise TypeError("OffsetCommitKey needs an OffsetCommitValue")
            offset = _offset_from_record(value)
            if offset is not None and producer_id != NO_PRODUCER_ID:
                self.apply_txn_offset(producer_id, key.group, key.topic, key.partition, offset)
            else:
                self.apply_offset(key.group, key.topic, key.partition, offset)
        elif isinstance(key, GroupMetadataKey):
            if value is None:
                self.delete_group_state(EffectsBuilder(), key.group)
            elif isinstance(value, GroupMetadataValue):
                self.groups[key.group] = _group_from_record(key.group, value)
            else:
                raise TypeError("GroupMetadataKey needs a GroupMetadataValue")

    def loaded(self, now_ms: int) -> Effects:
        """End loading: arm every loaded member's session and the offsets-retention timer."""
        fx = EffectsBuilder()
        self.loading = False
        for group in list(self.groups.values()):
            for member in group.members.values():
                self.reschedule_heartbeat(fx, group, member, now_ms)
            if len(group.members) > self.max_group_size:
                # group.max.size shrank: rebalance so members can commit and rejoin.
                self.prepare_rebalance(fx, group, now_ms)
        self.arm_loaded_consumer_groups(fx, now_ms)
        self.schedule(fx, EXPIRE_OFFSETS_KEY, now_ms + self.offsets_retention_check_interval_ms)
        return fx.build()

    def unload(self, now_ms: int) -> Effects:
        """Drop all state (partition moved away): parked requests get NOT_COORDINATOR."""
        fx = EffectsBuilder()
        for group in self.groups.values():
            previous = group.state
            group.transition_to(GroupState.DEAD, now_ms)
            for member in group.members.values():
                if previous is PREPARING:
                    self.complete_join(
                        fx,
                        member,
                        JoinGroupResponse(ErrorCode.NOT_COORDINATOR, member_id=member.member_id),
                    )
                elif previous in (COMPLETING, STABLE):
                    self.complete_sync(fx, member, SyncGroupResponse(ErrorCode.NOT_COORDINATOR))
        for key in list(self.timers):
            self.cancel(fx, key)
        self.groups.clear()
        self.consumer_groups.clear()
        self.revocation_epochs.clear()
        self.offsets.clear()
        self.pending.clear()
        self.loading = True
        return fx.build()

    # -- timers ----------------------------------------------------------------------------

    def on_timer(self, key: TimerKey, now_ms: int) -> Effects:
        """A timer the driver armed fired. Unknown or cancelled keys are ignored.

        A fire before the key's current deadline (the key was re-armed after this fire
        was queued, or the driver's clock ran early) re-arms the current deadline.
        """
        fx = EffectsBuilder()
        deadline = self.timers.get(key)
        if deadline is None:
            return fx.build()
        if now_ms < deadline:
            self.schedule(fx, key, deadline)
            return fx.build()
        del self.timers[key]
        kind = key[0]
        if kind == "heartbeat":
            self.on_heartbeat_expired(fx, key[1], key[2], now_ms)
        elif kind == "pending":
            self.on_pending_member_expired(fx, key[1], key[2], now_ms)
        elif kind == "join":
            self.on_join_timeout(fx, key[1], now_ms)
        elif kind == "initial_delay":
            self.on_initial_delay(fx, key[1], now_ms)
        elif kind == "sync":
            self.on_sync_expired(fx, key[1], now_ms)
        elif kind == "consumer_session":
            self.on_consumer_session_expired(fx, key[1], key[2], now_ms)
        elif kind == "consumer_revocation":
            self.on_consumer_revocation_expired(fx, key[1], key[2], now_ms)
        elif kind in ("consumer_join", "consumer_sync"):
            self.on_classic_member_timeout(fx, key[1], key[2], now_ms)
        elif kind == "consumer_regex":
            self.on_regex_refresh(fx, key[1], now_ms)
        elif key == EXPIRE_OFFSETS_KEY:
            self.expire_offsets_into(fx, now_ms, self.offsets_retention_ms)
            self.schedule(fx, EXPIRE_OFFSETS_KEY, now_ms + self.offsets_retention_check_interval_ms)
        return fx.build()

    # -- consumer groups (KIP-848) ---------------------------------------------------------

    def heartbeat_consumer(self, token: object, now_ms: int, request: HeartbeatRequest) -> Effects:
        """ConsumerGroupHeartbeat. COORDINATOR_LOAD_IN_PROGRESS while loading."""
        if self.loading:
            fx = EffectsBuilder()
            fx.respond(token, ConsumerGroupHeartbeatResponse(
                ErrorCode.COORDINATOR_LOAD_IN_PROGRESS))
            return fx.build()
        fx = self.consumer_group_heartbeat(token, now_ms, request)
        self.forget_unwritten_group(request.group_id)
        return fx.build()

    # -- introspection --------------------------------------------------------------------

    def group(self, group_id: str) -> ClassicGroup | None:
        """The live group (read-only use: tests, metrics)."""
        return self.groups.get(group_id)

    def committed(self, group_id: str) -> dict[tuple[str, int], OffsetAndMetadata]:
        return {
            (topic, partition): value
            for topic, by_partition in self.offsets.get(group_id, {}).items()
            for partition, value in by_partition.items()
        }


def _offset_from_record(value: RecordValue | None) -> OffsetAndMetadata | None:
    if not isinstance(value, OffsetCommitValue):
        return None
    return OffsetAndMetadata(
        value.offset,
        value.leader_epoch,
        value.metadata,
        value.commit_timestamp,
        None if value.expire_timestamp == -1 else value.expire_timestamp,
    )


def _group_from_record(group_id: str, value: GroupMetadataValue) -> ClassicGroup:
    """Kafka's GroupMetadataManager.replay: Empty without members, else Stable."""
    group = ClassicGroup(
        group_id,
        state=GroupState.STABLE if value.members else GroupState.EMPTY,
        current_state_timestamp=(
            None if value.current_state_timestamp == -1 else value.current_state_timestamp
        ),
        protocol_type=value.protocol_type or None,
        protocol_name=value.protocol,
        generation_id=value.generation,
        leader_id=value.leader,
    )
    for m in value.members:
        group.add(
            ClassicGroupMember(
                m.member_id,
                m.group_instance_id,
                m.client_id,
                m.client_host,
                m.session_timeout if m.rebalance_timeout == -1 else m.rebalance_timeout,
                m.session_timeout,
                value.protocol_type,
                ((value.protocol or "", m.subscription),),
                m.assignment,
            )
        )
    group.subscribed = group.compute_subscribed_topics()
    return group
