"""DescribeGroups, ListGroups and DeleteGroups over classic groups.

Kafka's GroupMetadataManager.describeGroups / listGroups and
GroupCoordinatorShard.deleteGroups: member metadata only in Stable, a missing
group described as Dead (GROUP_ID_NOT_FOUND from DescribeGroups v6, KIP-1043),
and deletion of Empty groups with tombstones for every offset and the group.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from kwire.coordinator.group.classic_group import ClassicGroup
from kwire.coordinator.group.consumer.group import ConsumerGroupState
from kwire.coordinator.group.consumer.groups import ConsumerGroupsMixin
from kwire.coordinator.group.effects import Effects, EffectsBuilder
from kwire.coordinator.group.offsets import OffsetsMixin
from kwire.coordinator.group.rebalance import DEAD, EMPTY, STABLE
from kwire.coordinator.group.responses import (
    DeletableGroupResult,
    DeleteGroupsResponse,
    DescribedGroup,
    DescribedGroupMember,
    DescribeGroupsResponse,
    ListedGroup,
    ListGroupsResponse,
)
from kwire.coordinator.group.subscription import CONSUMER_PROTOCOL_TYPE
from kwire.errors import ErrorCode

CLASSIC_GROUP_TYPE = "classic"
CONSUMER_GROUP_TYPE = "consumer"


def describe(group: ClassicGroup) -> DescribedGroup:
    stable = group.is_in(STABLE)
    members = tuple(
        DescribedGroupMember(
            m.member_id,
            m.group_instance_id,
            m.client_id,
            m.client_host,
            m.metadata(group.protocol_name) if stable else b"",
            m.assignment,
        )
        for m in group.members.values()
    )
    return DescribedGroup(
        ErrorCode.NONE,
        group.group_id,
        group.state.value,
        protocol_type=group.protocol_type or "",
        protocol_data=(group.protocol_name or "") if stable else "",
        members=members,
    )


class AdminMixin(OffsetsMixin, ConsumerGroupsMixin):
    def describe_groups(
        self, token: object, now_ms: int, *, group_ids: Sequence[str], api_version: int = 5
    ) -> Effects:
        fx = EffectsBuilder()
        described = []
        for group_id in group_ids:
            group = self.groups.get(group_id)
            if self.loading:
                described.append(
                    DescribedGroup(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, group_id, "")
                )
            elif group_id in self.consumer_groups:
                # Kafka 4.4 describes only classic groups here; admin clients ask
                # ConsumerGroupDescribe once they see this answer.
                if api_version >= 6:
                    described.append(DescribedGroup(
                        ErrorCode.GROUP_ID_NOT_FOUND, group_id, DEAD.value,
                        error_message=f"Group {group_id} is not a classic group."))
                else:
                    described.append(DescribedGroup(ErrorCode.NONE, group_id, DEAD.value))
            elif group is not None:
                described.append(describe(group))
            elif api_version >= 6:
                described.append(
                    DescribedGroup(
                        ErrorCode.GROUP_ID_NOT_FOUND,
                        group_id,
                        DEAD.value,
                        error_message=f"Group {group_id} not found.",
                    )
                )
            else:
                described.append(DescribedGroup(ErrorCode.NONE, group_id, DEAD.value))
        fx.respond(token, DescribeGroupsResponse(tuple(described)))
        return fx.build()

    def list_groups(
        self,
        token: object,
        now_ms: int,
        *,
        states_filter: Iterable[str] = (),
        types_filter: Iterable[str] = (),
    ) -> Effects:
        """ListGroups; filters are case-insensitive, empty means all (v4 states, v5 types)."""
        fx = EffectsBuilder()
        if self.loading:
            fx.respond(token, ListGroupsResponse(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS))
            return fx.build()
        states = {s.strip().lower() for s in states_filter}
        types = {t.strip().lower() for t in types_filter}
        listed = tuple(
            ListedGroup(g.group_id, g.protocol_type or "", g.state.value, CLASSIC_GROUP_TYPE)
            for g in self.groups.values()
            if (not states or g.state.value.lower() in states)
            and (not types or CLASSIC_GROUP_TYPE in types)
        ) + tuple(
            ListedGroup(c.group_id, CONSUMER_PROTOCOL_TYPE, c.state.value, CONSUMER_GROUP_TYPE)
            for c in self.consumer_groups.values()
            if (not states or c.state.value.lower() in states)
            and (not types or CONSUMER_GROUP_TYPE in types)
        )
        fx.respond(token, ListGroupsResponse(ErrorCode.NONE, listed))
        return fx.build()

    def delete_groups(self, token: object, now_ms: int, *, group_ids: Sequence[str]) -> Effects:
        fx = EffectsBuilder()
        results = tuple(
            DeletableGroupResult(group_id, self._delete_group(fx, group_id))
            for group_id in group_ids
        )
        fx.respond(token, DeleteGroupsResponse(results))
        return fx.build()

    def _delete_group(self, fx: EffectsBuilder, group_id: str) -> ErrorCode:
        if self.loading:
            return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
        consumer = self.consumer_groups.get(group_id)
        group = self.groups.get(group_id)
        if consumer is not None:
            if consumer.state is not ConsumerGroupState.EMPTY:
                return ErrorCode.NON_EMPTY_GROUP
        elif group is None or group.is_in(DEAD):
            return ErrorCode.GROUP_ID_NOT_FOUND
        elif not group.is_in(EMPTY):
            return ErrorCode.NON_EMPTY_GROUP
        committed = self.offsets.get(group_id, {})
        # Kafka's deleteAllOffsets: the committed offsets, then the partitions that
        # only a pending transaction has (one tombstone per partition).
        doomed = {(t, p): None for t, by_partition in committed.items() for p in by_partition}
        for topic, partition in self.pending.partitions(group_id):
            doomed[(topic, partition)] = None
        for topic, partition in doomed:
            self._write_offset(fx, group_id, topic, partition, None)
        if consumer is not None:
            self.write_consumer_group_tombstones(fx, consumer)
        else:
            self.write_group_tombstone(fx, group_id)
        return ErrorCode.NONE
