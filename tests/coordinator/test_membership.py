"""SyncGroup, Heartbeat, LeaveGroup and session expiry."""

from __future__ import annotations

from kwire.coordinator.group.records import GroupMetadataKey, GroupMetadataValue, MemberMetadata
from kwire.coordinator.group.responses import (
    JoinGroupResponse,
    LeaveGroupMemberResponse,
    LeaveGroupResponse,
    SyncGroupResponse,
)
from kwire.coordinator.group.state import GroupState
from kwire.errors import ErrorCode

from ._harness import DELAY, REBALANCE, SESSION, Harness, sub


def joined_pair(h: Harness) -> tuple[str, str, int]:
    ta, tb = h.join(client_id="a"), h.join(client_id="b")
    h.advance(2 * DELAY)
    a, b = h.join_ok(ta), h.join_ok(tb)
    return a.member_id, b.member_id, a.generation_id


# -- SyncGroup ----------------------------------------------------------------------------


def test_followers_wait_for_the_leader_sync() -> None:
    h = Harness()
    a, b, gen = joined_pair(h)
    tb = h.sync(b, gen)
    assert h.resp(tb) is None  # parked
    records_before = len(h.records)
    ta = h.sync(a, gen, {a: b"A", b: b"B", "stranger": b"X"})
    assert h.sync_ok(ta) == SyncGroupResponse(ErrorCode.NONE, "consumer", "range", b"A")
    assert h.sync_ok(tb) == SyncGroupResponse(ErrorCode.NONE, "consumer", "range", b"B")
    group = h.group()
    assert group.state is GroupState.STABLE
    assert ("sync", "g") not in h.timers
    key, value = h.decoded_records()[records_before]
    assert key == GroupMetadataKey("g")
    assert isinstance(value, GroupMetadataValue)
    assert (value.protocol_type, value.generation, value.protocol, value.leader) == (
        "consumer",
        gen,
        "range",
        a,
    )
    assert value.members == (
        MemberMetadata(a, None, "a", "/127.0.0.1", REBALANCE, SESSION, sub("t"), b"A"),
        MemberMetadata(b, None, "b", "/127.0.0.1", REBALANCE, SESSION, sub("t"), b"B"),
    )


def test_leader_omitting_a_member_gives_it_an_empty_assignment() -> None:
    h = Harness()
    a, b, gen = joined_pair(h)
    tb = h.sync(b, gen)
    h.sync(a, gen, {a: b"A"})
    assert h.sync_ok(tb).assignment == b""


def test_sync_in_stable_returns_current_assignment() -> None:
    h = Harness()
    (a, b), gen = h.stable_group(2)
    assert h.sync_ok(h.sync(b, gen)).assignment == f"assign-{b}".encode()


def test_sync_errors() -> None:
    h = Harness()
    a, b, gen = joined_pair(h)

    def err(token: object) -> int:
        response = h.resp(token)  # type: ignore[arg-type]
        assert isinstance(response, SyncGroupResponse)
        return response.error_code

    assert err(h.sync(a, gen, group_id="")) == ErrorCode.INVALID_GROUP_ID
    assert err(h.sync(a, gen, group_id="nope")) == ErrorCode.UNKNOWN_MEMBER_ID
    assert err(h.sync("ghost", gen)) == ErrorCode.UNKNOWN_MEMBER_ID
    assert err(h.sync(a, gen + 1)) == ErrorCode.ILLEGAL_GENERATION
    assert err(h.sync(a, gen, protocol_type="connect")) == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    assert err(h.sync(a, gen, protocol_name="rr")) == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    # v5 fields that match are fine.
    t = h.sync(b, gen, protocol_type="consumer", protocol_name="range")
    assert h.resp(t) is None
    # PreparingRebalance: a new member joins.
    h.join(client_id="c")
    assert h.resp(t) == SyncGroupResponse(ErrorCode.REBALANCE_IN_PROGRESS)  # parked one
    assert err(h.sync(a, gen)) == ErrorCode.REBALANCE_IN_PROGRESS


def test_sync_on_empty_group_is_unknown_member() -> None:
    h = Harness()
    (a,), gen = h.stable_group(1)
    h.leave((a, None))
    response = h.resp(h.sync(a, gen + 1))
    assert response == SyncGroupResponse(ErrorCode.UNKNOWN_MEMBER_ID)


def test_sync_while_loading() -> None:
    h = Harness(load=False)
    assert h.resp(h.sync("a", 1)) == SyncGroupResponse(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS)


def test_members_that_never_sync_are_removed_after_the_rebalance_timeout() -> None:
    h = Harness()
    a, b, gen = joined_pair(h)
    h.sync(a, gen, {a: b"A", b: b"B"})
    assert h.group().state is GroupState.STABLE
    deadline = h.timers[("sync", "g")]
    while h.now + SESSION // 2 < deadline:  # both heartbeat; b never sends SyncGroup
        h.advance(SESSION // 2)
        assert h.heartbeat(a, gen) == h.heartbeat(b, gen) == ErrorCode.NONE
    h.advance(deadline - h.now)
    group = h.group()
    assert b not in group.members
    # The leader remains and must rejoin; it heartbeats meanwhile.
    assert group.state is GroupState.PREPARING_REBALANCE
    assert h.heartbeat(a, gen) == ErrorCode.REBALANCE_IN_PROGRESS
    assert h.join_ok(h.join(a)).generation_id == gen + 1


# -- Heartbeat ----------------------------------------------------------------------------


def test_heartbeat_by_state_and_errors() -> None:
    h = Harness()
    a, b, gen = joined_pair(h)
    # CompletingRebalance answers NONE (clients heartbeat after their JoinGroup response).
    assert h.heartbeat(b, gen) == ErrorCode.NONE
    assert h.timers[("heartbeat", "g", b)] == h.now + SESSION
    h.sync(b, gen)
    h.sync(a, gen, {})
    h.advance(1_000)
    assert h.heartbeat(a, gen) == ErrorCode.NONE
    assert h.timers[("heartbeat", "g", a)] == h.now + SESSION
    assert h.heartbeat(a, gen - 1) == ErrorCode.ILLEGAL_GENERATION
    assert h.heartbeat("ghost", gen) == ErrorCode.UNKNOWN_MEMBER_ID
    assert h.heartbeat(a, gen, group_id="nope") == ErrorCode.UNKNOWN_MEMBER_ID
    assert h.heartbeat(a, gen, group_id="") == ErrorCode.INVALID_GROUP_ID
    assert h.heartbeat(a, gen, instance="i") == ErrorCode.UNKNOWN_MEMBER_ID
    h.join(client_id="c")
    assert h.heartbeat(a, gen) == ErrorCode.REBALANCE_IN_PROGRESS


def test_heartbeat_on_dead_group_is_coordinator_not_available() -> None:
    h = Harness()
    (a,), gen = h.stable_group(1)
    group = h.group()
    group.transition_to(GroupState.DEAD, h.now)  # transient in Kafka; reached white-box here
    assert h.heartbeat(a, gen) == ErrorCode.COORDINATOR_NOT_AVAILABLE
    assert h.resp(h.sync(a, gen)).error_code == ErrorCode.COORDINATOR_NOT_AVAILABLE
    assert h.resp(h.leave((a, None))) == LeaveGroupResponse(ErrorCode.COORDINATOR_NOT_AVAILABLE)
    assert h.resp(h.join(a)).error_code == ErrorCode.COORDINATOR_NOT_AVAILABLE
    commit = h.resp(h.commit(a, gen, [("t", 0, 1, -1, None)]))
    assert commit.partitions[0].error_code == ErrorCode.COORDINATOR_NOT_AVAILABLE


def test_heartbeat_while_loading() -> None:
    h = Harness(load=False)
    assert h.heartbeat("a", 1) == ErrorCode.COORDINATOR_LOAD_IN_PROGRESS


def test_session_expiry_removes_member_and_rebalances() -> None:
    h = Harness()
    (a, b), gen = h.stable_group(2)
    h.advance(SESSION // 2)
    assert h.heartbeat(a, gen) == ErrorCode.NONE
    assert b in h.group().members
    h.advance(SESSION // 2)  # b's session (armed when the join completed) ends
    group = h.group()
    assert b not in group.members
    assert group.state is GroupState.PREPARING_REBALANCE
    assert h.heartbeat(a, gen) == ErrorCode.REBALANCE_IN_PROGRESS
    response = h.join_ok(h.join(a))
    assert response.generation_id == gen + 1 and [m.member_id for m in response.members] == [a]


def test_session_expiry_of_last_member_empties_group() -> None:
    h = Harness()
    (a,), gen = h.stable_group(1)
    h.advance(SESSION)
    group = h.group()
    assert group.state is GroupState.EMPTY and group.generation_id == gen + 1
    assert group.protocol_name is None and group.protocol_type == "consumer"
    key, value = h.decoded_records()[-1]
    assert value == GroupMetadataValue("consumer", gen + 1, None, None, h.now, ())


def test_parked_member_does_not_expire() -> None:
    h = Harness()
    (a, b), gen = h.stable_group(2)
    t = h.join(a)  # parked in JoinGroup: its heartbeat expiry is ignored
    h.advance(SESSION + 1)
    assert a in h.group().members
    h.join(b)
    assert h.join_ok(t).generation_id == gen + 1


# -- LeaveGroup ---------------------------------------------------------------------------


def test_leave_rebalances_and_last_leave_empties() -> None:
    h = Harness()
    (a, b), gen = h.stable_group(2)
    t = h.leave((b, None))
    assert h.resp(t) == LeaveGroupResponse(
        ErrorCode.NONE, (LeaveGroupMemberResponse(b, None, ErrorCode.NONE),)
    )
    assert ("heartbeat", "g", b) not in h.timers
    assert h.group().state is GroupState.PREPARING_REBALANCE
    assert h.join_ok(h.join(a)).generation_id == gen + 1
    h.leave((a, None))
    group = h.group()
    assert group.state is GroupState.PREPARING_REBALANCE or group.state is GroupState.EMPTY
    assert group.state is GroupState.EMPTY and not group.members
    assert group.generation_id == gen + 2


def test_leave_completes_a_waiting_join_phase() -> None:
    h = Harness()
    (a, b), gen = h.stable_group(2)
    t = h.join(a)
    assert h.resp(t) is None
    h.leave((b, None))
    assert h.join_ok(t).generation_id == gen + 1


def test_leaving_member_parked_in_join_gets_unknown_member() -> None:
    h = Harness()
    (a, b), gen = h.stable_group(2)
    ta = h.join(a)
    h.leave((a, None))
    assert h.resp(ta) == JoinGroupResponse(ErrorCode.UNKNOWN_MEMBER_ID)


def test_leave_errors_and_batches() -> None:
    h = Harness()
    assert h.resp(h.leave(("x", None), group_id="")) == LeaveGroupResponse(
        ErrorCode.INVALID_GROUP_ID
    )
    # No such group: each member unknown under a top-level NONE, as Kafka 4.4 answers.
    assert h.resp(h.leave(("x", None), ("y", "i"), group_id="nope")) == LeaveGroupResponse(
        ErrorCode.NONE, (LeaveGroupMemberResponse("x", None, ErrorCode.UNKNOWN_MEMBER_ID),
                         LeaveGroupMemberResponse("y", "i", ErrorCode.UNKNOWN_MEMBER_ID)))
    (a, b, c), _ = h.stable_group(3, instances=[None, "static-b", None])
    pending = h.resp(h.join(known=True, client_id="p")).member_id
    t = h.leave(("ghost", None), (pending, None), ("", "static-b"), ("", "no-such"), (c, "wrong"))
    assert h.resp(t).members == (
        LeaveGroupMemberResponse("ghost", None, ErrorCode.UNKNOWN_MEMBER_ID),
        LeaveGroupMemberResponse(pending, None, ErrorCode.NONE),
        LeaveGroupMemberResponse("", "static-b", ErrorCode.NONE),
        LeaveGroupMemberResponse("", "no-such", ErrorCode.UNKNOWN_MEMBER_ID),
        LeaveGroupMemberResponse(c, "wrong", ErrorCode.UNKNOWN_MEMBER_ID),
    )
    group = h.group()
    assert set(group.members) == {a, c} and not group.pending_join_members
    assert ("pending", "g", pending) not in h.timers
    assert group.state is GroupState.PREPARING_REBALANCE


def test_leave_with_fenced_instance() -> None:
    h = Harness()
    (a,), _ = h.stable_group(1, instances=["i-1"])
    t = h.leave(("someone-else", "i-1"))
    assert h.resp(t).members[0].error_code == ErrorCode.FENCED_INSTANCE_ID


def test_rebalance_answers_parked_syncs_with_rebalance_in_progress() -> None:
    h = Harness()
    a, b, gen = joined_pair(h)
    tb = h.sync(b, gen)
    h.advance(1)
    h.leave((a, None))  # CompletingRebalance -> PreparingRebalance
    assert h.resp(tb) == SyncGroupResponse(ErrorCode.REBALANCE_IN_PROGRESS)
    assert h.heartbeat(b, gen) == ErrorCode.REBALANCE_IN_PROGRESS
