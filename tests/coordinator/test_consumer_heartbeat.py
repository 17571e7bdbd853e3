"""ConsumerGroupHeartbeat (KIP-848) on the pure coordinator, end to end, against Kafka
4.4.0's GroupMetadataManager.consumerGroupHeartbeat and what it calls.

Expectations worth knowing, all from Kafka 4.4's code:
- a new group starts at group epoch 1 and target assignment epoch 1 (ModernGroup,
  TargetAssignmentMetadata.INITIAL), so the first member's join bumps it to epoch 2;
- a new target assignment is computed at most every group.consumer.assignment.interval.ms
  (1 s) after the last one (canComputeNextTargetAssignment); in between, members reconcile
  towards the last target;
- records come in Kafka's order: subscription, group epoch, target members (in the
  HashMap order of their ids) then target metadata, then the current assignment.
"""

from __future__ import annotations

import base64
import uuid

import pytest

from kwire.coordinator.group import GroupCoordinator
from kwire.coordinator.group.consumer import records as cr
from kwire.coordinator.group.consumer.heartbeat import HeartbeatRequest
from kwire.coordinator.group.consumer.member import MemberState
from kwire.coordinator.group.consumer.responses import ConsumerGroupHeartbeatResponse
from kwire.coordinator.group.consumer.settings import ConsumerGroupSettings
from kwire.coordinator.group.consumer.topics import TopicImage
from kwire.coordinator.group.responses import DeleteGroupsResponse
from kwire.errors import ErrorCode

from ._consumer_harness import (
    BAR,
    FOO,
    HEARTBEAT_INTERVAL,
    REBALANCE_TIMEOUT,
    SESSION_TIMEOUT,
    ConsumerHarness,
    at,
    current,
    group_epoch,
    regex_record,
    replayed,
    subscription,
    target,
    target_metadata,
    tombstones,
)
from ._harness import T0

STABLE = MemberState.STABLE
UNREVOKED = MemberState.UNREVOKED_PARTITIONS
UNRELEASED = MemberState.UNRELEASED_PARTITIONS
ALL = (0, 1, 2, 3, 4, 5)


def session(member_id: str, group_id: str = "g") -> tuple[str, str, str]:
    return ("consumer_session", group_id, member_id)


def revocation(member_id: str, group_id: str = "g") -> tuple[str, str, str]:
    return ("consumer_revocation", group_id, member_id)


def one_member(h: ConsumerHarness, member_id: str = "m1") -> None:
    r = h.join(member_id)
    assert (r.error_code, r.member_epoch) == (ErrorCode.NONE, 2), r
    h.take()


def two_members_stable(h: ConsumerHarness) -> None:
    """m1 at T0, m2 one assignment interval later; both reconciled at epoch 3:
    m1 owns foo 0-2 (since epoch 2), m2 owns foo 3-5 (since epoch 3)."""
    one_member(h)
    h.advance(1_000)
    assert h.join("m2").member_epoch == 3
    assert h.beat("m1", 2, {FOO.topic_id: ALL}).member_epoch == 2
    assert h.beat("m1", 2, {FOO.topic_id: [0, 1, 2]}).member_epoch == 3
    r = h.beat("m2", 3, {})
    assert r.assignment == {FOO.topic_id: frozenset({3, 4, 5})}
    assert h.describe().group_state == "Stable"
    h.take()


# -- joining ---------------------------------------------------------------------------------


def test_first_member_joins_gets_everything_at_epoch_2() -> None:
    h = ConsumerHarness()
    r = h.join("m1")
    assert r.error_code == ErrorCode.NONE and r.error_message is None
    assert (r.member_id, r.member_epoch) == ("m1", 2)
    assert r.heartbeat_interval_ms == HEARTBEAT_INTERVAL
    assert r.assignment == {FOO.topic_id: frozenset(ALL)}
    assert h.take() == [
        subscription("m1"),
        group_epoch(2, h.hash_of("foo")),
        target("m1", {FOO.topic_id: ALL}),
        target_metadata(2, T0),
        current("m1", 2, 0, STABLE, {FOO.topic_id: at(2, *ALL)}),
    ]
    assert h.timers[session("m1")] == T0 + SESSION_TIMEOUT
    d = h.describe()
    assert (d.error_code, d.group_state, d.group_epoch, d.assignment_epoch, d.assignor_name) == (
        ErrorCode.NONE, "Stable", 2, 2, "uniform")
    (m,) = d.members
    assert (m.member_id, m.member_epoch, m.client_id, m.client_host) == ("m1", 2, "c", "/127.0.0.1")
    assert m.subscribed_topic_names == ("foo",) and m.subscribed_topic_regex is None
    assert m.assignment == ((FOO.topic_id, "foo", ALL),)
    assert m.target_assignment == ((FOO.topic_id, "foo", ALL),)
    assert m.member_type == 1


def test_v0_join_without_member_id_gets_a_kafka_uuid() -> None:
    h = ConsumerHarness()
    r = h.join("")
    assert r.error_code == ErrorCode.NONE and r.member_epoch == 2
    member_id = r.member_id
    assert member_id is not None
    # Uuid.randomUuid().toString(): 22 chars of url-safe base64, never starting with '-'.
    assert len(member_id) == 22 and not member_id.startswith("-")
    assert len(base64.urlsafe_b64decode(member_id + "==")) == 16
    assert list(h.cgroup().members) == [member_id]


def test_a_regular_heartbeat_writes_nothing_and_sends_no_assignment() -> None:
    h = ConsumerHarness()
    one_member(h)
    h.advance(HEARTBEAT_INTERVAL)
    r = h.beat("m1", 2)
    assert (r.error_code, r.member_epoch, r.assignment) == (ErrorCode.NONE, 2, None)
    assert h.take() == []
    assert h.timers[session("m1")] == h.now + SESSION_TIMEOUT
    # A full request (rebalance timeout, subscription and owned partitions) always
    # gets the assignment back.
    r = h.hb("m1", 2, rebalance=REBALANCE_TIMEOUT, topics=["foo"], owned={FOO.topic_id: ALL})
    assert r.assignment == {FOO.topic_id: frozenset(ALL)}
    assert h.take() == []


def test_second_member_revocation_then_release() -> None:
    h = ConsumerHarness()
    one_member(h)
    h.advance(1_000)
    t1 = h.now

    # m2 joins: group epoch 3, a new target; its partitions are still m1's.
    r = h.join("m2")
    assert (r.error_code, r.member_epoch, r.assignment) == (ErrorCode.NONE, 3, {})
    assert h.take() == [
        subscription("m2"),
        group_epoch(3, h.hash_of("foo")),
        target("m1", {FOO.topic_id: [0, 1, 2]}),
        target("m2", {FOO.topic_id: [3, 4, 5]}),
        target_metadata(3, t1),
        current("m2", 3, 0, UNRELEASED),
    ]
    d = h.describe()
    assert (d.group_state, d.group_epoch, d.assignment_epoch) == ("Reconciling", 3, 3)
    assert {m.member_id: m.member_epoch for m in d.members} == {"m1": 2, "m2": 3}

    # m1 must revoke 3-5 first: the answer carries the reduced assignment, same epoch.
    r = h.beat("m1", 2, {FOO.topic_id: ALL})
    assert (r.member_epoch, r.assignment) == (2, {FOO.topic_id: frozenset({0, 1, 2})})
    assert h.take() == [current("m1", 2, 2, UNREVOKED, {FOO.topic_id: at(2, 0, 1, 2)},
                                {FOO.topic_id: at(2, 3, 4, 5)})]
    assert h.timers[revocation("m1")] == h.now + REBALANCE_TIMEOUT

    # m2 waits while m1 has not released them; only its previous epoch moves on (Kafka's
    # updateMemberEpoch), once.
    r = h.beat("m2", 3, {})
    assert (r.member_epoch, r.assignment) == (3, None)
    assert h.take() == [current("m2", 3, 3, UNRELEASED)]
    assert h.beat("m2", 3, {}).assignment is None
    assert h.take() == []
    assert h.describe().group_state == "Reconciling"

    # m1 still owning them (or not saying) stays where it is.
    assert h.beat("m1", 2).member_epoch == 2
    assert h.beat("m1", 2, {FOO.topic_id: [0, 3]}).member_epoch == 2
    assert h.take() == []

    # m1 acknowledges: it moves to epoch 3, keeping 0-2 at their epoch.
    r = h.beat("m1", 2, {FOO.topic_id: [0, 1, 2]})
    assert (r.member_epoch, r.assignment) == (3, None)
    assert h.take() == [current("m1", 3, 2, STABLE, {FOO.topic_id: at(2, 0, 1, 2)})]
    assert revocation("m1") not in h.timers

    # Now m2 gets 3-5.
    r = h.beat("m2", 3, {})
    assert (r.member_epoch, r.assignment) == (3, {FOO.topic_id: frozenset({3, 4, 5})})
    assert h.take() == [current("m2", 3, 3, STABLE, {FOO.topic_id: at(3, 3, 4, 5)})]
    d = h.describe()
    assert d.group_state == "Stable"
    owned = {m.member_id: m.assignment for m in d.members}
    assert owned == {"m1": ((FOO.topic_id, "foo", (0, 1, 2)),),
                     "m2": ((FOO.topic_id, "foo", (3, 4, 5)),)}


def test_join_within_the_assignment_interval_waits_for_the_next_target() -> None:
    h = ConsumerHarness()
    one_member(h)
    h.advance(500)
    # group.consumer.assignment.interval.ms: no new target 500 ms after the last one.
    r = h.join("m2")
    assert (r.error_code, r.member_epoch, r.assignment) == (ErrorCode.NONE, 2, {})
    assert h.take() == [
        subscription("m2"),
        group_epoch(3, h.hash_of("foo")),
        current("m2", 2, 0, STABLE),
    ]
    d = h.describe()
    assert (d.group_state, d.group_epoch, d.assignment_epoch) == ("Assigning", 3, 2)
    # Still too early.
    h.advance(499)
    assert h.beat("m1", 2).assignment is None
    assert h.take() == []
    # 1 s after the last target, the next heartbeat computes it.
    h.advance(1)
    r = h.beat("m1", 2, {FOO.topic_id: ALL})
    assert (r.member_epoch, r.assignment) == (2, {FOO.topic_id: frozenset({0, 1, 2})})
    assert h.take() == [
        target("m1", {FOO.topic_id: [0, 1, 2]}),
        target("m2", {FOO.topic_id: [3, 4, 5]}),
        target_metadata(3, T0 + 1_000),
        current("m1", 2, 2, UNREVOKED, {FOO.topic_id: at(2, 0, 1, 2)},
                {FOO.topic_id: at(2, 3, 4, 5)}),
    ]
    r = h.beat("m2", 2, {})
    assert (r.member_epoch, r.assignment) == (3, None)
    assert h.take() == [current("m2", 3, 2, UNRELEASED)]


def test_assignment_interval_zero_computes_at_once() -> None:
    h = ConsumerHarness()
    h.coord.consumer_assignment_interval_ms = 0
    one_member(h)
    assert h.join("m2").member_epoch == 3
    assert h.describe().assignment_epoch == 3


# -- leaving and fencing by timers -----------------------------------------------------------


def test_leave_bumps_the_epoch_and_the_rest_get_its_partitions() -> None:
    h = ConsumerHarness()
    two_members_stable(h)
    h.advance(1_000)
    r = h.hb("m2", -1)
    assert (r.error_code, r.member_id, r.member_epoch, r.assignment) == (
        ErrorCode.NONE, "m2", -1, None)
    assert r.heartbeat_interval_ms == 0  # Kafka's leave answer sets only id and epoch
    assert h.take() == [*tombstones("m2"), group_epoch(4, h.hash_of("foo"))]
    assert session("m2") not in h.timers
    assert h.describe().group_state == "Assigning"

    r = h.beat("m1", 3)
    assert (r.member_epoch, r.assignment) == (4, {FOO.topic_id: frozenset(ALL)})
    assert h.take() == [
        target("m1", {FOO.topic_id: ALL}),
        target_metadata(4, h.now),
        current("m1", 4, 3, STABLE, {FOO.topic_id: {0: 2, 1: 2, 2: 2, 3: 4, 4: 4, 5: 4}}),
    ]
    assert h.describe().group_state == "Stable"

    # The last member leaving empties the group: epoch 5, target metadata at 5 (time 0).
    r = h.hb("m1", -1)
    assert (r.error_code, r.member_epoch) == (ErrorCode.NONE, -1)
    assert h.take() == [*tombstones("m1"), group_epoch(5, 0), target_metadata(5, 0)]
    d = h.describe()
    assert (d.group_state, d.group_epoch, d.assignment_epoch, d.members) == ("Empty", 5, 5, ())


def test_leave_of_an_unknown_member() -> None:
    h = ConsumerHarness()
    one_member(h)
    assert h.hb("nope", -1).error_code == ErrorCode.UNKNOWN_MEMBER_ID
    assert h.hb("m1", -1, group_id="other").error_code == ErrorCode.GROUP_ID_NOT_FOUND
    assert h.take() == []


def test_session_expiry_fences_the_member() -> None:
    h = ConsumerHarness()
    two_members_stable(h)
    deadline = h.timers[session("m2")]
    while h.now + HEARTBEAT_INTERVAL < deadline:
        h.advance(HEARTBEAT_INTERVAL)
        h.beat("m1", 3)
    assert h.take() == []
    h.advance(deadline - h.now)
    assert h.now == deadline
    assert h.take() == [*tombstones("m2"), group_epoch(4, h.hash_of("foo"))]
    assert "m2" not in h.cgroup().members and session("m2") not in h.timers
    r = h.beat("m1", 3)
    assert (r.member_epoch, r.assignment) == (4, {FOO.topic_id: frozenset(ALL)})
    # The fenced member learns it is gone.
    assert h.beat("m2", 3).error_code == ErrorCode.UNKNOWN_MEMBER_ID


def test_revocation_timeout_fences_a_member_that_does_not_revoke() -> None:
    h = ConsumerHarness()
    one_member(h)
    h.advance(1_000)
    h.join("m2")
    h.beat("m1", 2, {FOO.topic_id: ALL})
    deadline = h.timers[revocation("m1")]
    assert deadline == h.now + REBALANCE_TIMEOUT
    h.take()
    while h.now + HEARTBEAT_INTERVAL < deadline:
        h.advance(HEARTBEAT_INTERVAL)
        assert h.beat("m1", 2).member_epoch == 2  # never says it let go
        assert h.beat("m2", 3).member_epoch == 3
    assert h.take() == [current("m2", 3, 3, UNRELEASED)]  # its previous epoch, once
    h.advance(deadline - h.now)
    assert h.take() == [*tombstones("m1"), group_epoch(4, h.hash_of("foo"))]
    assert session("m1") not in h.timers and revocation("m1") not in h.timers
    r = h.beat("m2", 3)
    assert (r.member_epoch, r.assignment) == (4, {FOO.topic_id: frozenset(ALL)})
    assert h.take() == [
        target("m2", {FOO.topic_id: ALL}),
        target_metadata(4, h.now),
        current("m2", 4, 3, STABLE, {FOO.topic_id: at(4, *ALL)}),
    ]


def test_revocation_timer_of_an_older_epoch_does_not_fence() -> None:
    h = ConsumerHarness()
    one_member(h)
    h.advance(1_000)
    h.join("m2")
    h.beat("m1", 2, {FOO.topic_id: ALL})
    h.beat("m1", 2, {FOO.topic_id: [0, 1, 2]})
    assert revocation("m1") not in h.timers
    # A stale fire of the cancelled key is ignored.
    h.apply(h.coord.on_timer(revocation("m1"), h.now + REBALANCE_TIMEOUT))
    assert "m1" in h.cgroup().members


# -- static membership -----------------------------------------------------------------------


def static_member_a(h: ConsumerHarness) -> None:
    r = h.join("a", instance="i1")
    assert (r.error_code, r.member_epoch) == (ErrorCode.NONE, 2)
    assert h.take()[0] == subscription("a", instance="i1")


def test_static_member_temporary_leave_and_rejoin_keeps_its_assignment() -> None:
    h = ConsumerHarness()
    static_member_a(h)
    h.advance(100)
    r = h.hb("a", -2, instance="i1")
    assert (r.error_code, r.member_id, r.member_epoch, r.assignment) == (
        ErrorCode.NONE, "a", -2, None)
    # Only its current assignment changes: epoch -2, partition epochs reset to 0.
    assert h.take() == [current("a", -2, 0, STABLE, {FOO.topic_id: at(0, *ALL)})]
    d = h.describe()
    assert (d.group_epoch, d.members[0].member_epoch) == (2, -2)
    assert session("a") in h.timers  # Kafka keeps the session running

    h.advance(100)
    r = h.join("b", instance="i1")
    assert (r.error_code, r.member_id, r.member_epoch) == (ErrorCode.NONE, "b", 2)
    assert r.assignment == {FOO.topic_id: frozenset(ALL)}
    # Kafka's replaceMember, then the reconciliation; no group epoch bump.
    assert h.take() == [
        *tombstones("a"),
        subscription("b", instance="i1"),
        target("b", {FOO.topic_id: ALL}),
        current("b", 0, 0, STABLE, {FOO.topic_id: at(0, *ALL)}),
        current("b", 2, 0, STABLE, {FOO.topic_id: at(0, *ALL)}),
    ]
    d = h.describe()
    assert (d.group_state, d.group_epoch, d.assignment_epoch) == ("Stable", 2, 2)
    assert [m.member_id for m in d.members] == ["b"]
    # The old member id is fenced by the new one.
    assert h.beat("a", 2, instance="i1").error_code == ErrorCode.FENCED_INSTANCE_ID
    assert h.hb("a", -1, instance="i1").error_code == ErrorCode.FENCED_INSTANCE_ID
    assert h.hb("a", -2, instance="i1").error_code == ErrorCode.FENCED_INSTANCE_ID
    assert h.take() == []


def test_static_member_cannot_rejoin_while_the_old_one_is_active() -> None:
    h = ConsumerHarness()
    static_member_a(h)
    r = h.join("b", instance="i1")
    assert (r.error_code, r.member_id) == (ErrorCode.UNRELEASED_INSTANCE_ID, None)
    assert h.take() == []
    assert list(h.cgroup().members) == ["a"]


def test_static_member_unknown_instance() -> None:
    h = ConsumerHarness()
    static_member_a(h)
    assert h.beat("x", 2, instance="zz").error_code == ErrorCode.UNKNOWN_MEMBER_ID
    assert h.hb("x", -2, instance="zz").error_code == ErrorCode.UNKNOWN_MEMBER_ID
    assert h.take() == []


def test_static_member_leaving_for_good_is_fenced() -> None:
    h = ConsumerHarness()
    static_member_a(h)
    r = h.hb("a", -1, instance="i1")
    assert (r.error_code, r.member_epoch) == (ErrorCode.NONE, -1)
    assert h.take() == [*tombstones("a"), group_epoch(3, 0), target_metadata(3, 0)]


def test_static_member_after_temporary_leave_expires_with_its_session() -> None:
    h = ConsumerHarness()
    static_member_a(h)
    h.hb("a", -2, instance="i1")
    h.take()
    h.advance(SESSION_TIMEOUT)
    assert h.take() == [*tombstones("a"), group_epoch(3, 0), target_metadata(3, 0)]


# -- fencing errors --------------------------------------------------------------------------


def test_member_epoch_ahead_is_fenced() -> None:
    h = ConsumerHarness()
    one_member(h)
    r = h.beat("m1", 3)
    assert (r.error_code, r.member_id, r.member_epoch) == (ErrorCode.FENCED_MEMBER_EPOCH, None, 0)
    assert r.error_message is not None and "greater member epoch (3)" in r.error_message
    assert h.take() == []


def test_member_epoch_behind_is_accepted_only_as_previous_epoch_with_a_subset() -> None:
    h = ConsumerHarness()
    two_members_stable(h)  # m1: epoch 3, previous 2, owns foo 0-2
    r = h.beat("m1", 2, {FOO.topic_id: [0, 1, 2]})
    assert (r.error_code, r.member_epoch) == (ErrorCode.NONE, 3)
    assert h.beat("m1", 2, {FOO.topic_id: [1]}).error_code == ErrorCode.NONE
    assert h.beat("m1", 2, {FOO.topic_id: ALL}).error_code == ErrorCode.FENCED_MEMBER_EPOCH
    assert h.beat("m1", 2, {BAR.topic_id: [0]}).error_code == ErrorCode.FENCED_MEMBER_EPOCH
    assert h.beat("m1", 2).error_code == ErrorCode.FENCED_MEMBER_EPOCH  # owned not sent
    r = h.beat("m1", 1, {})
    assert r.error_code == ErrorCode.FENCED_MEMBER_EPOCH
    assert r.error_message is not None and "smaller member epoch (1)" in r.error_message
    assert h.take() == []


def test_unknown_member_and_unknown_group() -> None:
    h = ConsumerHarness()
    one_member(h)
    r = h.beat("nope", 2)
    assert r.error_code == ErrorCode.UNKNOWN_MEMBER_ID
    assert r.error_message == "Member nope is not a member of group g."
    r = h.beat("m1", 2, group_id="other")
    assert r.error_code == ErrorCode.GROUP_ID_NOT_FOUND
    assert r.error_message == "Consumer group other not found."
    assert "other" not in h.coord.consumer_groups
    assert h.take() == []


def test_group_max_size() -> None:
    h = ConsumerHarness(consumer=ConsumerGroupSettings(max_size=1))
    one_member(h)
    r = h.join("m2")
    assert r.error_code == ErrorCode.GROUP_MAX_SIZE_REACHED
    assert r.error_message == "The consumer group has reached its maximum capacity of 1 members."
    assert h.join("").error_code == ErrorCode.GROUP_MAX_SIZE_REACHED
    assert h.take() == []
    # The member inside may still heartbeat, and rejoin.
    assert h.beat("m1", 2).error_code == ErrorCode.NONE
    assert h.join("m1").error_code == ErrorCode.NONE


def test_group_max_size_lets_a_static_member_replace_itself() -> None:
    h = ConsumerHarness(consumer=ConsumerGroupSettings(max_size=1))
    static_member_a(h)
    h.hb("a", -2, instance="i1")
    r = h.join("b", instance="i1")
    assert (r.error_code, r.member_epoch) == (ErrorCode.NONE, 2)


# -- regular expressions ---------------------------------------------------------------------

FOO2 = TopicImage(uuid.UUID("00000000-0000-0000-0000-00000000f002"), "foo2", 2)
OTHER = TopicImage(uuid.UUID("00000000-0000-0000-0000-0000000007e4"), "other", 1)


def test_regex_member_answers_before_resolution_then_the_timer_resolves_it() -> None:
    h = ConsumerHarness(FOO, BAR, OTHER)
    r = h.join("r1", topics=None, regex="foo.*|bar")
    # Nothing is subscribed yet: the group epoch stays 1, the member joins epoch 1.
    assert (r.error_code, r.member_epoch, r.assignment) == (ErrorCode.NONE, 1, {})
    assert h.take() == [
        subscription("r1", topics=(), regex="foo.*|bar"),
        current("r1", 1, 0, STABLE),
    ]
    assert h.timers[("consumer_regex", "g")] == T0  # armed at once
    d = h.describe()
    assert (d.group_state, d.group_epoch, d.assignment_epoch) == ("Stable", 1, 1)
    assert d.members[0].subscribed_topic_regex == "foo.*|bar"

    h.advance(0)  # the resolution runs
    version = h.coord.topics_version
    assert h.take() == [
        regex_record("foo.*|bar", {"foo", "bar"}, version, T0),
        group_epoch(2, h.hash_of("foo", "bar")),
    ]
    assert ("consumer_regex", "g") not in h.timers
    assert h.describe().group_state == "Assigning"

    h.advance(HEARTBEAT_INTERVAL)
    r = h.beat("r1", 1)
    assignment = {FOO.topic_id: frozenset(range(6)), BAR.topic_id: frozenset(range(3))}
    assert (r.member_epoch, r.assignment) == (2, assignment)
    assert h.take() == [
        target("r1", assignment),
        target_metadata(2, h.now),
        current("r1", 2, 1, STABLE, {FOO.topic_id: at(2, *ALL), BAR.topic_id: at(2, 0, 1, 2)}),
    ]

    # A topic created later is picked up by a heartbeat at least 10 s after the last
    # resolution, not before.
    h.set_topics(FOO, BAR, OTHER, FOO2)
    h.advance(4_000)  # 9 s after the resolution
    h.beat("r1", 2)
    assert ("consumer_regex", "g") not in h.timers
    h.advance(1_001)
    h.beat("r1", 2)
    assert h.timers[("consumer_regex", "g")] == h.now
    h.advance(0)
    records = h.take()
    assert records[0][0] == cr.ConsumerGroupRegularExpressionKey("g", "foo.*|bar")
    value = records[0][1]
    assert isinstance(value, cr.ConsumerGroupRegularExpressionValue)
    assert value.topics == {"foo", "bar", "foo2"} and value.timestamp == h.now
    assert records[1:] == [group_epoch(3, h.hash_of("foo", "bar", "foo2"))]
    r = h.beat("r1", 2)
    assert r.member_epoch == 3 and r.assignment is not None
    assert r.assignment[FOO2.topic_id] == frozenset({0, 1})


def test_second_member_with_the_same_resolved_regex_bumps_at_once() -> None:
    h = ConsumerHarness(FOO, BAR)
    h.join("r1", topics=None, regex="foo|bar")
    h.advance(0)
    h.advance(1_000)
    h.beat("r1", 1)
    h.take()
    r = h.join("r2", topics=None, regex="foo|bar")
    # REGEX_UPDATED_AND_RESOLVED: the group epoch is bumped in this heartbeat (the
    # target waits for the assignment interval: r2 joins the last one's epoch).
    assert r.member_epoch == 2
    d = h.describe()
    assert (d.group_epoch, d.assignment_epoch) == (3, 2)
    records = h.take()
    assert records[:2] == [subscription("r2", topics=(), regex="foo|bar"),
                           group_epoch(3, h.hash_of("foo", "bar"))]
    assert ("consumer_regex", "g") not in h.timers


def test_last_member_of_a_regex_leaving_deletes_the_regex() -> None:
    h = ConsumerHarness(FOO, BAR)
    h.join("r1", topics=None, regex="foo|bar")
    h.advance(0)
    h.take()
    h.hb("r1", -1)
    assert h.take() == [
        *tombstones("r1"),
        (cr.ConsumerGroupRegularExpressionKey("g", "foo|bar"), None),
        group_epoch(3, 0),
        target_metadata(3, 0),
    ]
    assert h.cgroup().resolved_regexes == {}


def test_invalid_regex_writes_nothing() -> None:
    h = ConsumerHarness()
    r = h.join("r1", topics=None, regex="(foo")
    assert r.error_code == ErrorCode.INVALID_REGULAR_EXPRESSION
    assert h.take() == []
    assert "g" not in h.coord.consumer_groups
    assert ("consumer_regex", "g") not in h.timers
    # In an existing group too.
    one_member(h)
    r = h.hb("m1", 2, regex="[")
    assert r.error_code == ErrorCode.INVALID_REGULAR_EXPRESSION
    assert h.take() == []
    assert h.cgroup().members["m1"].subscribed_topic_regex is None


# -- topic metadata --------------------------------------------------------------------------


def test_partitions_added_bump_the_group_epoch_on_the_next_heartbeat() -> None:
    h = ConsumerHarness()
    one_member(h)
    h.set_topics(TopicImage(FOO.topic_id, "foo", 8))
    h.advance(HEARTBEAT_INTERVAL)
    r = h.beat("m1", 2)
    assert (r.member_epoch, r.assignment) == (3, {FOO.topic_id: frozenset(range(8))})
    assert h.take() == [
        group_epoch(3, h.hash_of("foo")),
        target("m1", {FOO.topic_id: range(8)}),
        target_metadata(3, h.now),
        current("m1", 3, 2, STABLE, {FOO.topic_id: {**at(2, *ALL), 6: 3, 7: 3}}),
    ]


def test_subscription_change_revokes_at_once() -> None:
    h = ConsumerHarness(FOO, BAR)
    one_member(h)
    h.advance(HEARTBEAT_INTERVAL)
    r = h.hb("m1", 2, topics=["bar"], owned={FOO.topic_id: ALL})
    # The new target (bar only) needs foo revoked first: epoch 2, nothing assigned.
    assert (r.member_epoch, r.assignment) == (2, {})
    records = h.take()
    assert records == [
        subscription("m1", topics=["bar"]),
        group_epoch(3, h.hash_of("bar")),
        target("m1", {BAR.topic_id: [0, 1, 2]}),
        target_metadata(3, h.now),
        current("m1", 2, 2, UNREVOKED, {}, {FOO.topic_id: at(2, *ALL)}),
    ]
    r = h.beat("m1", 2, {})
    assert (r.member_epoch, r.assignment) == (3, {BAR.topic_id: frozenset({0, 1, 2})})


# -- replay ----------------------------------------------------------------------------------


def _same_groups(a: GroupCoordinator, b: GroupCoordinator) -> None:
    assert set(a.consumer_groups) == set(b.consumer_groups)
    for gid, ga in a.consumer_groups.items():
        gb = b.consumer_groups[gid]
        assert (ga.group_epoch, ga.metadata_hash, ga.assignment_epoch,
                ga.assignment_timestamp_ms) == (gb.group_epoch, gb.metadata_hash,
                                                gb.assignment_epoch, gb.assignment_timestamp_ms)
        assert ga.members == gb.members
        assert ga.static_members == gb.static_members
        assert ga.target_assignment == gb.target_assignment
        assert ga.resolved_regexes == gb.resolved_regexes
        assert ga.state == gb.state
        for topic in (FOO, BAR):
            for p in range(topic.partitions):
                assert ga.current_partition_epoch(topic.topic_id, p) == \
                    gb.current_partition_epoch(topic.topic_id, p), (gid, topic.name, p)


def test_replay_rebuilds_the_groups_and_loaded_arms_their_timers() -> None:
    h = ConsumerHarness(FOO, BAR)
    one_member(h)
    h.advance(1_000)
    h.join("m2")
    h.beat("m1", 2, {FOO.topic_id: ALL})  # m1 revoking
    h.join("s", group_id="g2", instance="i1", topics=["bar"])
    h.hb("s", -2, group_id="g2", instance="i1")
    h.join("r", group_id="g3", topics=None, regex="ba.")
    h.advance(0)
    h.join("gone", group_id="g4")
    h.hb("gone", -1, group_id="g4")

    fresh = replayed(h, h.now + 7)
    _same_groups(h.coord, fresh)
    assert fresh.consumer_groups["g4"].state.value == "Empty"
    fx = fresh.last_loaded_effects  # type: ignore[attr-defined]
    armed = {op.key: op.deadline_ms for op in fx.timers}
    now = h.now + 7
    assert armed[session("m1")] == now + SESSION_TIMEOUT
    assert armed[session("m2")] == now + SESSION_TIMEOUT
    assert armed[session("s", "g2")] == now + SESSION_TIMEOUT
    assert armed[session("r", "g3")] == now + SESSION_TIMEOUT
    assert armed[revocation("m1")] == now + REBALANCE_TIMEOUT
    assert revocation("m2") not in armed
    # The rebuilt coordinator carries on where the first one stopped.
    r = fresh.heartbeat_consumer("t", now, h_request("m1", 2, {FOO.topic_id: [0, 1, 2]}))
    (_, response), = r.responses
    assert isinstance(response, ConsumerGroupHeartbeatResponse)
    assert response.member_epoch == 3


def h_request(member_id: str, epoch: int, owned: dict[uuid.UUID, list[int]]) -> HeartbeatRequest:
    return HeartbeatRequest(group_id="g", member_id=member_id, member_epoch=epoch,
                            instance_id=None, rack_id=None, rebalance_timeout_ms=-1,
                            subscribed_topic_names=None, subscribed_topic_regex=None,
                            server_assignor=None, owned=owned, client_id="c",
                            client_host="/127.0.0.1")


# -- DeleteGroups ----------------------------------------------------------------------------


def _delete(h: ConsumerHarness, group_id: str = "g") -> int:
    token = h.call("delete_groups", group_ids=[group_id])
    response = h.resp(token)
    assert isinstance(response, DeleteGroupsResponse)
    (result,) = response.results
    return int(result.error_code)


def test_delete_groups_of_consumer_groups() -> None:
    h = ConsumerHarness(FOO, BAR)
    h.join("r1", topics=None, regex="foo")
    h.advance(0)
    h.take()
    assert _delete(h) == ErrorCode.NON_EMPTY_GROUP
    assert h.take() == []
    h.hb("r1", -1)
    h.take()
    assert h.describe().group_state == "Empty"
    assert _delete(h) == ErrorCode.NONE
    # Kafka's ConsumerGroup.createGroupTombstoneRecords for a group without members
    # (the leave already deleted the regex).
    assert h.take() == [
        (cr.ConsumerGroupTargetAssignmentMetadataKey("g"), None),
        (cr.ConsumerGroupPartitionMetadataKey("g"), None),
        (cr.ConsumerGroupMetadataKey("g"), None),
    ]
    assert "g" not in h.coord.consumer_groups
    assert h.describe().error_code == ErrorCode.GROUP_ID_NOT_FOUND
    # A new member starts a new group.
    assert h.join("m1").member_epoch == 2


@pytest.mark.parametrize("loading", [True])
def test_heartbeat_while_loading(loading: bool) -> None:
    h = ConsumerHarness(load=not loading)
    assert h.join("m1").error_code == ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
    assert h.take() == []
