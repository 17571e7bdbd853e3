"""JoinGroup: validation, KIP-394 pending members, initial delay, rebalance timeout, protocols."""

from __future__ import annotations

from kwire.coordinator.group.records import GroupMetadataKey, GroupMetadataValue
from kwire.coordinator.group.responses import GROUP_MAX_SIZE_REACHED, JoinGroupResponse
from kwire.coordinator.group.state import GroupState
from kwire.errors import ErrorCode

from ._harness import DELAY, REBALANCE, SESSION, T0, Harness, sub


def error_of(h: Harness, token: object) -> int:
    response = h.resp(token)  # type: ignore[arg-type]
    assert isinstance(response, JoinGroupResponse)
    return response.error_code


def test_empty_group_id_is_invalid() -> None:
    h = Harness()
    t = h.join("m", group_id="")
    assert h.resp(t) == JoinGroupResponse(ErrorCode.INVALID_GROUP_ID, member_id="m")


def test_session_timeout_bounds() -> None:
    h = Harness()
    assert error_of(h, h.join(session=5_999)) == ErrorCode.INVALID_SESSION_TIMEOUT
    assert error_of(h, h.join(session=1_800_001)) == ErrorCode.INVALID_SESSION_TIMEOUT
    h2 = Harness(group_min_session_timeout_ms=100, group_max_session_timeout_ms=200)
    assert error_of(h2, h2.join(session=300)) == ErrorCode.INVALID_SESSION_TIMEOUT
    assert h2.resp(h2.join(session=150)) is None  # parked: accepted


def test_loading_answers_load_in_progress() -> None:
    h = Harness(load=False)
    assert error_of(h, h.join()) == ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
    h.apply(h.coord.loaded(h.now))
    assert h.resp(h.join()) is None


def test_member_id_required_round_trip() -> None:
    h = Harness()
    first = h.join(known=True, client_id="rdkafka")
    response = h.resp(first)
    assert response == JoinGroupResponse(ErrorCode.MEMBER_ID_REQUIRED, member_id="rdkafka-u1")
    group = h.group()
    assert group.state is GroupState.EMPTY and "rdkafka-u1" in group.pending_join_members
    assert h.timers[("pending", "g", "rdkafka-u1")] == T0 + SESSION
    # The new group is persisted right away as an empty GroupMetadata record.
    assert h.decoded_records() == [
        (GroupMetadataKey("g"), GroupMetadataValue("", 0, None, None, T0, ()))
    ]

    second = h.join("rdkafka-u1", known=True, client_id="rdkafka")
    assert h.resp(second) is None
    assert ("pending", "g", "rdkafka-u1") not in h.timers
    assert h.group().state is GroupState.PREPARING_REBALANCE
    h.advance(DELAY)
    joined = h.join_ok(second)
    assert (joined.generation_id, joined.leader) == (1, "rdkafka-u1")
    assert joined.member_id == "rdkafka-u1"
    assert joined.protocol_type == "consumer" and joined.protocol_name == "range"
    assert [m.member_id for m in joined.members] == ["rdkafka-u1"]
    assert h.group().state is GroupState.COMPLETING_REBALANCE


def test_pending_member_expires_after_session_timeout() -> None:
    h = Harness()
    h.join(known=True)
    h.advance(SESSION)
    assert not h.group().pending_join_members
    # Its id is unknown now.
    assert error_of(h, h.join("c-u1", known=True)) == ErrorCode.UNKNOWN_MEMBER_ID


def test_pending_member_blocks_join_completion_until_it_joins() -> None:
    h = Harness()
    ids, gen = h.stable_group(1)
    h.join(known=True, client_id="new")  # pending "new-u2"
    t = h.join(ids[0])  # leader rejoin starts a rebalance
    assert h.resp(t) is None  # waits for the pending member too
    t2 = h.join("new-u2", known=True, client_id="new")
    assert h.join_ok(t).generation_id == gen + 1
    assert h.join_ok(t2).leader == ids[0]


def test_three_members_join_during_extended_initial_delay() -> None:
    h = Harness()
    t1 = h.join(client_id="a")
    h.advance(1_000)
    t2 = h.join(client_id="b")
    h.advance(1_500)
    t3 = h.join(client_id="c")
    assert h.group().state is GroupState.PREPARING_REBALANCE
    h.advance(500)  # T0 + 3000: the delay fires, new members arrived -> extended by 3000
    assert not any(t in h.responses for t in (t1, t2, t3))
    assert h.timers[("initial_delay", "g")] == T0 + 6_000
    h.advance(2_999)
    assert t1 not in h.responses
    h.advance(1)
    r1, r2, r3 = h.join_ok(t1), h.join_ok(t2), h.join_ok(t3)
    assert {r.generation_id for r in (r1, r2, r3)} == {1}
    assert {r.leader for r in (r1, r2, r3)} == {"a-u1"}
    assert [m.member_id for m in r1.members] == ["a-u1", "b-u2", "c-u3"]
    assert r2.members == () and r3.members == ()  # metadata goes to the leader only
    assert r1.members[1].metadata == sub("t")
    assert h.group().state is GroupState.COMPLETING_REBALANCE
    assert h.timers[("sync", "g")] == T0 + 6_000 + REBALANCE


def test_initial_delay_is_capped_by_rebalance_timeout() -> None:
    h = Harness()
    t1 = h.join(client_id="a", rebalance=5_000)
    h.advance(2_000)
    h.join(client_id="b", rebalance=5_000)
    h.advance(1_000)  # T0+3000: extended by min(3000, 5000-3000) = 2000
    assert h.timers[("initial_delay", "g")] == T0 + 5_000
    h.join(client_id="c", rebalance=5_000)
    h.advance(2_000)  # no time remains: completes despite the new member
    assert h.join_ok(t1).generation_id == 1
    assert len(h.join_ok(t1).members) == 3


def test_zero_initial_delay_takes_whoever_joined_before_the_timer_ran() -> None:
    """group.initial.rebalance.delay.ms=0: the delay timer is due at once, but it
    runs after requests already queued (Kafka's timer hands it to the coordinator's
    event queue); a member added meanwhile extends it by another 0 ms hop."""
    h = Harness(group_initial_rebalance_delay_ms=0)
    t1 = h.join(client_id="a")
    t2 = h.join(client_id="b")  # arrived before the timer ran
    assert h.timers[("initial_delay", "g")] == T0
    h.advance(0)
    r1, r2 = h.join_ok(t1), h.join_ok(t2)
    assert (r1.generation_id, r2.generation_id) == (1, 1)
    assert [m.member_id for m in r1.members] == ["a-u1", "b-u2"]


def test_zero_initial_delay_pending_member_does_not_hold_it() -> None:
    h = Harness(group_initial_rebalance_delay_ms=0)
    h.join(known=True, client_id="a")
    h.join(known=True, client_id="b")  # b got its id but has not come back
    t = h.join("a-u1", known=True, client_id="a")
    h.advance(0)
    joined = h.join_ok(t)
    assert joined.generation_id == 1 and [m.member_id for m in joined.members] == ["a-u1"]
    late = h.join("b-u2", known=True, client_id="b")  # too late: a second generation
    assert h.resp(late) is None and h.group().state is GroupState.PREPARING_REBALANCE


def test_rebalance_timeout_removes_member_that_does_not_rejoin() -> None:
    h = Harness()
    (leader, follower), gen = h.stable_group(2)
    t = h.join(leader)  # leader rejoin -> rebalance
    assert h.group().state is GroupState.PREPARING_REBALANCE
    assert h.timers[("join", "g")] == h.now + REBALANCE
    h.advance(SESSION - 1)
    assert h.heartbeat(follower, gen) == ErrorCode.REBALANCE_IN_PROGRESS
    h.advance(REBALANCE - SESSION + 1)
    response = h.join_ok(t)
    assert response.generation_id == gen + 1
    assert [m.member_id for m in response.members] == [leader]
    assert h.heartbeat(follower, gen) == ErrorCode.UNKNOWN_MEMBER_ID


def test_rebalance_completes_as_soon_as_all_rejoin() -> None:
    h = Harness()
    (a, b), gen = h.stable_group(2)
    ta = h.join(a)
    tb = h.join(b)
    assert h.join_ok(ta).generation_id == h.join_ok(tb).generation_id == gen + 1
    assert ("join", "g") not in h.timers


def test_follower_rejoin_in_stable_with_same_metadata_gets_current_generation() -> None:
    h = Harness()
    (a, b), gen = h.stable_group(2)
    response = h.join_ok(h.join(b))
    assert (response.generation_id, response.leader, response.members) == (gen, a, ())
    assert h.group().state is GroupState.STABLE


def test_follower_rejoin_with_new_metadata_rebalances() -> None:
    h = Harness()
    (a, b), gen = h.stable_group(2)
    t = h.join(b, protocols=[("range", sub("t", "u"))])
    assert h.resp(t) is None
    assert h.group().state is GroupState.PREPARING_REBALANCE


def test_join_in_completing_rebalance() -> None:
    h = Harness()
    ta, tb = h.join(client_id="a"), h.join(client_id="b")
    h.advance(2 * DELAY)
    a, b = h.join_ok(ta).member_id, h.join_ok(tb).member_id
    # Same metadata (a lost response): current generation, members to the leader.
    again = h.join_ok(h.join(a))
    assert again.generation_id == 1 and len(again.members) == 2
    assert h.join_ok(h.join(b)).members == ()
    # Changed metadata: a new rebalance.
    t = h.join(b, protocols=[("range", sub("x"))])
    assert h.resp(t) is None and h.group().state is GroupState.PREPARING_REBALANCE


def test_known_member_joining_unknown_or_empty_group_is_unknown() -> None:
    h = Harness()
    assert error_of(h, h.join("ghost")) == ErrorCode.UNKNOWN_MEMBER_ID
    (a,), _ = h.stable_group(1)
    h.leave((a, None))
    assert h.group().state is GroupState.EMPTY
    assert error_of(h, h.join(a)) == ErrorCode.UNKNOWN_MEMBER_ID


def test_protocol_selection_most_votes_among_common() -> None:
    h = Harness()
    ta = h.join(client_id="a", protocols=[("rr", b"1"), ("range", b"2"), ("sticky", b"3")])
    tb = h.join(client_id="b", protocols=[("range", b"4"), ("rr", b"5")])
    tc = h.join(client_id="c", protocols=[("range", b"6"), ("rr", b"7"), ("coop", b"8")])
    h.advance(2 * DELAY)
    # Common: rr, range. Votes: a->rr, b->range, c->range.
    assert {h.join_ok(t).protocol_name for t in (ta, tb, tc)} == {"range"}
    assert [m.metadata for m in h.join_ok(ta).members] == [b"2", b"4", b"6"]


def test_protocol_vote_tie_goes_to_first_vote() -> None:
    h = Harness()
    ta = h.join(client_id="a", protocols=[("rr", b""), ("range", b"")])
    h.join(client_id="b", protocols=[("range", b""), ("rr", b"")])
    h.advance(2 * DELAY)
    assert h.join_ok(ta).protocol_name == "rr"


def test_inconsistent_protocols() -> None:
    h = Harness()
    assert error_of(h, h.join(protocol_type="")) == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    assert error_of(h, h.join(protocols=[])) == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    (a,), _ = h.stable_group(1)
    assert error_of(h, h.join(protocol_type="connect")) == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    assert (
        error_of(h, h.join(protocols=[("other", b"")])) == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    )
    # An existing member switching to an unsupported protocol too (it is the only member,
    # but the group's protocols are those of its current members).
    response = h.resp(h.join(a, protocols=[("other", b"")]))
    assert response.error_code == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    assert response.member_id == a


def test_group_max_size() -> None:
    h = Harness(group_max_size=2)
    h.stable_group(2)
    t = h.join(client_id="third")
    assert h.resp(t) == JoinGroupResponse(GROUP_MAX_SIZE_REACHED)
    assert len(h.group().members) == 2


def test_group_max_size_during_preparing_counts_awaiting_members() -> None:
    h = Harness(group_max_size=1)
    ta = h.join(client_id="a")
    tb = h.join(client_id="b")
    assert h.resp(tb) == JoinGroupResponse(GROUP_MAX_SIZE_REACHED)
    h.advance(DELAY)
    assert len(h.join_ok(ta).members) == 1


def test_superseded_parked_join_is_answered() -> None:
    h = Harness()
    (a, b), _ = h.stable_group(2)
    t1 = h.join(a)
    t2 = h.join(a)
    assert h.resp(t1) == JoinGroupResponse(ErrorCode.REBALANCE_IN_PROGRESS, member_id=a)
    assert h.resp(t2) is None


def test_new_member_join_timeout_expires_a_parked_new_member() -> None:
    h = Harness(new_member_join_timeout_ms=5_000)
    (a,), gen = h.stable_group(1)
    t = h.join(client_id="late")  # new member: rebalance, but `a` never rejoins
    h.advance(5_000)
    assert h.resp(t) == JoinGroupResponse(ErrorCode.UNKNOWN_MEMBER_ID)
    assert list(h.group().members) == [a]
    h.advance(REBALANCE)  # join timer: `a` did not rejoin either
    assert h.group().state is GroupState.EMPTY
    assert h.group().generation_id == gen + 1
