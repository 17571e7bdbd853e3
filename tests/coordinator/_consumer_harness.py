"""A harness for consumer groups (KIP-848) on the pure coordinator: the classic harness's
driver (effects, timers, manual time) plus ConsumerGroupHeartbeat shorthands, a topics
image the test can change, and the records decoded as consumer-group records."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from kwire.coordinator.group import GroupCoordinator
from kwire.coordinator.group.consumer import records as cr
from kwire.coordinator.group.consumer.group import ConsumerGroup
from kwire.coordinator.group.consumer.heartbeat import HeartbeatRequest
from kwire.coordinator.group.consumer.member import MemberState
from kwire.coordinator.group.consumer.responses import (
    ConsumerGroupDescribeResponse,
    ConsumerGroupHeartbeatResponse,
    DescribedConsumerGroup,
)
from kwire.coordinator.group.consumer.topics import TopicImage, TopicsImage, metadata_hash

from ._harness import Harness

FOO = TopicImage(uuid.UUID("00000000-0000-0000-0000-000000000f00"), "foo", 6)
BAR = TopicImage(uuid.UUID("00000000-0000-0000-0000-000000000ba4"), "bar", 3)
REBALANCE_TIMEOUT = 300_000  # the Java consumer's max.poll.interval.ms
SESSION_TIMEOUT = 45_000  # group.consumer.session.timeout.ms
HEARTBEAT_INTERVAL = 5_000  # group.consumer.heartbeat.interval.ms
CLIENT_ID = "c"
CLIENT_HOST = "/127.0.0.1"

Owned = Mapping[uuid.UUID, Collection[int]] | None
DecodedRecord = tuple[cr.ConsumerGroupKey, cr.ConsumerGroupValue | None]


class ConsumerHarness(Harness):
    def __init__(self, *topics: TopicImage, load: bool = True, **config: Any) -> None:
        self.image = TopicsImage.of(topics or (FOO,))
        config.setdefault("topics", lambda: self.image)
        super().__init__(load=load, **config)
        self._taken = 0

    # -- topics ----------------------------------------------------------------------------

    def set_topics(self, *topics: TopicImage) -> None:
        self.image = TopicsImage.of(topics)

    def hash_of(self, *names: str) -> int:
        return metadata_hash(names, self.image)

    # -- requests --------------------------------------------------------------------------

    def hb(
        self,
        member_id: str,
        epoch: int,
        *,
        group_id: str = "g",
        instance: str | None = None,
        rack: str | None = None,
        rebalance: int = -1,
        topics: Iterable[str] | None = None,
        regex: str | None = None,
        assignor: str | None = None,
        owned: Owned = None,
    ) -> ConsumerGroupHeartbeatResponse:
        request = HeartbeatRequest(
            group_id=group_id, member_id=member_id, member_epoch=epoch, instance_id=instance,
            rack_id=rack, rebalance_timeout_ms=rebalance,
            subscribed_topic_names=None if topics is None else list(topics),
            subscribed_topic_regex=regex, server_assignor=assignor, owned=owned,
            client_id=CLIENT_ID, client_host=CLIENT_HOST)
        token = self.call("heartbeat_consumer", request=request)
        response = self.resp(token)
        assert isinstance(response, ConsumerGroupHeartbeatResponse), response
        return response

    def join(  # type: ignore[override]
        self,
        member_id: str = "",
        *,
        topics: Iterable[str] | None = ("foo",),
        regex: str | None = None,
        instance: str | None = None,
        group_id: str = "g",
        assignor: str | None = None,
    ) -> ConsumerGroupHeartbeatResponse:
        """The Java consumer's first heartbeat: epoch 0, its subscription, its rebalance
        timeout and an empty owned list."""
        return self.hb(member_id, 0, group_id=group_id, instance=instance,
                       rebalance=REBALANCE_TIMEOUT, topics=topics, regex=regex,
                       assignor=assignor, owned={})

    def beat(self, member_id: str, epoch: int, owned: Owned = None, *, group_id: str = "g",
             instance: str | None = None) -> ConsumerGroupHeartbeatResponse:
        """A regular heartbeat: only the member's epoch (and what it owns, if given)."""
        return self.hb(member_id, epoch, group_id=group_id, instance=instance, owned=owned)

    def describe(self, group_id: str = "g") -> DescribedConsumerGroup:
        token = self.call("describe_consumer_groups", group_ids=[group_id])
        response = self.resp(token)
        assert isinstance(response, ConsumerGroupDescribeResponse)
        (described,) = response.groups
        return described

    # -- state -----------------------------------------------------------------------------

    def cgroup(self, group_id: str = "g") -> ConsumerGroup:
        group = self.coord.consumer_groups.get(group_id)
        assert group is not None
        return group

    def take(self) -> list[DecodedRecord]:
        """The consumer-group records written since the last take, decoded."""
        out: list[DecodedRecord] = []
        for key, value in self.records[self._taken:]:
            k = cr.decode_key(key)
            assert k is not None, key
            out.append((k, None if value is None else cr.decode_value(k, value)))
        self._taken = len(self.records)
        return out


# -- expected records ------------------------------------------------------------------------


def subscription(member_id: str, *, group_id: str = "g", topics: Iterable[str] = ("foo",),
                 regex: str | None = "", instance: str | None = None,
                 rebalance: int = REBALANCE_TIMEOUT,
                 assignor: str | None = None) -> DecodedRecord:
    return (cr.ConsumerGroupMemberMetadataKey(group_id, member_id),
            cr.ConsumerGroupMemberMetadataValue(
                instance_id=instance, rack_id=None, client_id=CLIENT_ID, client_host=CLIENT_HOST,
                subscribed_topic_names=frozenset(topics), subscribed_topic_regex=regex,
                rebalance_timeout_ms=rebalance, server_assignor=assignor))


def group_epoch(epoch: int, hashed: int, *, group_id: str = "g") -> DecodedRecord:
    return (cr.ConsumerGroupMetadataKey(group_id), cr.ConsumerGroupMetadataValue(epoch, hashed))


def target(member_id: str, assignment: Mapping[uuid.UUID, Iterable[int]], *,
           group_id: str = "g") -> DecodedRecord:
    return (cr.ConsumerGroupTargetAssignmentMemberKey(group_id, member_id),
            cr.ConsumerGroupTargetAssignmentMemberValue(
                {t: frozenset(p) for t, p in assignment.items()}))


def target_metadata(epoch: int, timestamp: int, *, group_id: str = "g") -> DecodedRecord:
    return (cr.ConsumerGroupTargetAssignmentMetadataKey(group_id),
            cr.ConsumerGroupTargetAssignmentMetadataValue(epoch, timestamp))


def current(member_id: str, epoch: int, previous: int, state: MemberState,
            assigned: Mapping[uuid.UUID, Mapping[int, int]] | None = None,
            pending: Mapping[uuid.UUID, Mapping[int, int]] | None = None, *,
            group_id: str = "g") -> DecodedRecord:
    """A current assignment record; partitions as {topic id: {partition: epoch}}."""
    assigned = assigned or {}
    pending = pending or {}
    return (cr.ConsumerGroupCurrentMemberAssignmentKey(group_id, member_id),
            cr.ConsumerGroupCurrentMemberAssignmentValue(
                member_epoch=epoch, previous_member_epoch=previous, state=state,
                assigned_partitions={t: frozenset(p) for t, p in assigned.items()},
                partitions_pending_revocation={t: frozenset(p) for t, p in pending.items()},
                assigned_epochs={t: dict(p) for t, p in assigned.items()},
                pending_revocation_epochs={t: dict(p) for t, p in pending.items()}))


def tombstones(member_id: str, *, group_id: str = "g") -> list[DecodedRecord]:
    """Kafka's removeMember: current assignment, target, subscription."""
    return [(cr.ConsumerGroupCurrentMemberAssignmentKey(group_id, member_id), None),
            (cr.ConsumerGroupTargetAssignmentMemberKey(group_id, member_id), None),
            (cr.ConsumerGroupMemberMetadataKey(group_id, member_id), None)]


def regex_record(regex: str, topics: Iterable[str], version: int, timestamp: int, *,
                 group_id: str = "g") -> DecodedRecord:
    return (cr.ConsumerGroupRegularExpressionKey(group_id, regex),
            cr.ConsumerGroupRegularExpressionValue(frozenset(topics), version, timestamp))


def at(epoch: int, *partitions: int) -> dict[int, int]:
    """Partitions all assigned at `epoch`."""
    return dict.fromkeys(partitions, epoch)


def replayed(h: ConsumerHarness, now_ms: int) -> GroupCoordinator:
    """A fresh coordinator loaded from every record `h` wrote, then loaded()."""
    fresh = GroupCoordinator(topics=lambda: h.image)
    for key, value in h.records:
        fresh.replay(key, value)
    fresh_fx = fresh.loaded(now_ms)
    fresh.last_loaded_effects = fresh_fx  # type: ignore[attr-defined]
    return fresh
