"""Static membership (KIP-345): instance ids, replacement, fencing, rejoin without rebalance."""

from __future__ import annotations

from kwire.coordinator.group.records import GroupMetadataKey, GroupMetadataValue
from kwire.coordinator.group.responses import JoinGroupResponse, SyncGroupResponse
from kwire.coordinator.group.state import GroupState
from kwire.errors import ErrorCode

from ._harness import DELAY, REBALANCE, SESSION, Harness, sub


def test_static_member_skips_member_id_required() -> None:
    h = Harness()
    t = h.join(instance="i-1", known=True)
    assert h.resp(t) is None
    h.advance(DELAY)
    assert h.join_ok(t).member_id == "i-1-u1"
    assert h.group().static_members == {"i-1": "i-1-u1"}


def test_static_rejoin_in_stable_replaces_member_without_rebalance() -> None:
    h = Harness()
    (old_a, b), gen = h.stable_group(2, instances=["i-a", "i-b"])
    records_before = len(h.records)
    t = h.join(instance="i-a", known=True)
    response = h.join_ok(t)
    new_a = response.member_id
    assert new_a != old_a and new_a.startswith("i-a-")
    # Before JoinGroup v9 the old leader id comes back, so the member does not reassign.
    assert response == JoinGroupResponse(
        ErrorCode.NONE, gen, "consumer", "range", leader=old_a, member_id=new_a
    )
    group = h.group()
    assert group.state is GroupState.STABLE and group.generation_id == gen
    assert group.leader_id == new_a and group.static_members["i-a"] == new_a
    assert group.members[new_a].assignment == f"assign-{old_a}".encode()
    # The new member id is persisted.
    key, value = h.decoded_records()[records_before]
    assert key == GroupMetadataKey("g") and isinstance(value, GroupMetadataValue)
    assert [m.member_id for m in value.members] == [b, new_a]
    # The old id is fenced everywhere; the new one works.
    assert h.heartbeat(old_a, gen, instance="i-a") == ErrorCode.FENCED_INSTANCE_ID
    assert h.resp(h.sync(old_a, gen, instance="i-a")) == SyncGroupResponse(
        ErrorCode.FENCED_INSTANCE_ID
    )
    commit = h.resp(h.commit(old_a, gen, [("t", 0, 5, -1, None)], instance="i-a"))
    assert commit.partitions[0].error_code == ErrorCode.FENCED_INSTANCE_ID
    assert h.resp(h.join(old_a, instance="i-a")).error_code == ErrorCode.FENCED_INSTANCE_ID
    assert h.heartbeat(new_a, gen, instance="i-a") == ErrorCode.NONE
    assert h.sync_ok(h.sync(new_a, gen, instance="i-a")).assignment == f"assign-{old_a}".encode()
    assert ("heartbeat", "g", old_a) not in h.timers


def test_static_leader_rejoin_v9_skips_assignment() -> None:
    h = Harness()
    (old_a, b), gen = h.stable_group(2, instances=["i-a", "i-b"])
    response = h.join_ok(h.join(instance="i-a", skip=True))
    assert response.skip_assignment is True and response.leader == response.member_id
    assert [m.member_id for m in response.members] == [b, response.member_id]
    follower = h.join_ok(h.join(instance="i-b", skip=True))
    assert follower.skip_assignment is False and follower.members == ()
    assert follower.leader == response.member_id


def test_static_rejoin_changing_selected_protocol_rebalances() -> None:
    h = Harness()
    first = h.join(instance="i-a", protocols=[("range", b"1"), ("rr", b"2")])
    h.advance(DELAY)
    a, gen = h.join_ok(first).member_id, h.join_ok(first).generation_id
    h.sync(a, gen, {a: b"A"})
    # Same instance, preference flipped: the selected protocol would change.
    t = h.join(instance="i-a", protocols=[("rr", b"2"), ("range", b"1")])
    response = h.join_ok(t)  # a rebalance; the only member rejoined, so it completes at once
    assert h.group().state is GroupState.COMPLETING_REBALANCE
    assert response.protocol_name == "rr" and response.generation_id == gen + 1


def test_static_replacement_in_completing_rebalance_fences_parked_sync() -> None:
    h = Harness()
    ta = h.join(instance="i-a", client_id="a")
    tb = h.join(instance="i-b", client_id="b")
    h.advance(2 * DELAY)
    a, b = h.join_ok(ta).member_id, h.join_ok(tb).member_id
    gen = h.join_ok(ta).generation_id
    parked = h.sync(b, gen, instance="i-b")
    t = h.join(instance="i-b")
    assert h.resp(parked) == SyncGroupResponse(ErrorCode.FENCED_INSTANCE_ID)
    assert h.resp(t) is None
    assert h.group().state is GroupState.PREPARING_REBALANCE
    h.join(a, instance="i-a")
    assert h.join_ok(t).generation_id == gen + 1


def test_static_replacement_while_old_id_parked_in_join() -> None:
    h = Harness()
    (a, b), gen = h.stable_group(2, instances=["i-a", "i-b"])
    old_join = h.join(b, instance="i-b", protocols=[("range", sub("t", "u"))])  # rebalance
    new_join = h.join(instance="i-b")
    assert h.resp(old_join) == JoinGroupResponse(
        ErrorCode.FENCED_INSTANCE_ID, member_id=b, leader=""
    )
    h.join(a, instance="i-a")
    response = h.join_ok(new_join)
    assert response.generation_id == gen + 1 and response.member_id != b


def test_static_member_that_does_not_rejoin_keeps_its_slot() -> None:
    h = Harness()
    (s, d), gen = h.stable_group(2, instances=["i-s", None])
    # Only the dynamic member rejoins; the static leader stays silent but heartbeats.
    t = h.join(d, protocols=[("range", sub("t", "x"))])
    for _ in range(REBALANCE // (SESSION // 2)):
        h.advance(SESSION // 2)
        if t not in h.responses:
            assert h.heartbeat(s, gen, instance="i-s") == ErrorCode.REBALANCE_IN_PROGRESS
    response = h.join_ok(t)
    assert response.generation_id == gen + 1
    assert response.leader == d  # a member that rejoined leads
    assert {m.member_id for m in response.members} == {s, d}


def test_static_member_session_expiry() -> None:
    h = Harness()
    (s, d), gen = h.stable_group(2, instances=["i-s", None])
    h.advance(SESSION // 2)
    h.heartbeat(d, gen)
    h.advance(SESSION // 2)
    group = h.group()
    assert s not in group.members and "i-s" not in group.static_members
    assert group.state is GroupState.PREPARING_REBALANCE


def test_leave_by_instance_id() -> None:
    h = Harness()
    (s, d), gen = h.stable_group(2, instances=["i-s", None])
    h.leave(("", "i-s"))
    assert set(h.group().members) == {d}
