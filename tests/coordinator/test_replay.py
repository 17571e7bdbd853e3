"""Rebuilding state by replaying `__consumer_offsets`: replayed state equals live state."""

from __future__ import annotations

from typing import Any

from kwire.coordinator.group import GroupCoordinator
from kwire.coordinator.group.classic_group import ClassicGroup
from kwire.coordinator.group.records import (
    GroupMetadataKey,
    GroupMetadataValue,
    MemberMetadata,
    encode_group_metadata_value,
    encode_key,
)
from kwire.coordinator.group.responses import JoinGroupResponse
from kwire.coordinator.group.state import GroupState
from kwire.errors import ErrorCode

from ._harness import REBALANCE, SESSION, Harness, sub


def snapshot(group: ClassicGroup) -> dict[str, Any]:
    """What replay must reproduce of a Stable or Empty group (timestamps aside)."""
    return {
        "state": group.state,
        "generation": group.generation_id,
        "protocol_type": group.protocol_type,
        "protocol_name": group.protocol_name,
        "leader": group.leader_id,
        "subscribed": group.subscribed,
        "members": [
            (
                m.member_id,
                m.group_instance_id,
                m.client_id,
                m.client_host,
                m.session_timeout_ms,
                m.rebalance_timeout_ms,
                m.metadata(group.protocol_name),
                m.assignment,
            )
            for m in group.members.values()
        ],
        "static": dict(group.static_members),
    }


def replayed(h: Harness, **config: Any) -> Harness:
    fresh = Harness(load=False, **config)
    fresh.now = h.now
    for key, value in h.records:
        fresh.coord.replay(key, value)
    fresh.apply(fresh.coord.loaded(fresh.now))
    return fresh


def assert_same_state(live: Harness, other: Harness) -> None:
    live_groups = {
        gid: snapshot(g)
        for gid, g in live.coord.groups.items()
        if g.state in (GroupState.STABLE, GroupState.EMPTY)
    }
    other_groups = {gid: snapshot(g) for gid, g in other.coord.groups.items()}
    assert other_groups == live_groups
    assert other.coord.offsets == live.coord.offsets


def test_replay_equals_live_state_after_a_busy_history() -> None:
    h = Harness()
    (a, b, c), gen = h.stable_group(3, instances=[None, "i-b", None], group_id="g")
    h.commit(a, gen, [("t", 0, 10, 1, "x"), ("t", 1, 11, 1, None)], group_id="g")
    h.join(instance="i-b", group_id="g")  # static replacement, no rebalance
    h.commit("", -1, [("s", 0, 5, -1, "simple")], group_id="simple")
    h.commit("", -1, [("s", 0, 6, -1, None)], retention=60_000, group_id="simple")
    (d,), gen_e = h.stable_group(1, group_id="emptied")
    h.commit(d, gen_e, [("t", 0, 1, -1, None)], group_id="emptied")
    h.leave((d, None), group_id="emptied")
    h.stable_group(1, group_id="deleted")
    h.leave((h.group("deleted").leader_id or "", None), group_id="deleted")
    h.call("delete_groups", group_ids=["deleted"])
    h.call("delete_offsets", group_id="g", partitions=[("t", 1)])  # subscribed: refused
    h.join(known=True, group_id="pending-only")
    assert h.coord.group("deleted") is None
    assert_same_state(h, replayed(h))


def test_loaded_members_get_session_timers_and_can_expire() -> None:
    h = Harness()
    (a, b), gen = h.stable_group(2)
    fresh = replayed(h)
    assert fresh.group().state is GroupState.STABLE
    assert fresh.timers[("heartbeat", "g", a)] == fresh.now + SESSION
    assert fresh.timers[("expire_offsets",)] > fresh.now
    # The loaded group keeps working: heartbeats, then b's session expires.
    fresh.advance(SESSION // 2)
    assert fresh.heartbeat(a, gen) == ErrorCode.NONE
    assert fresh.heartbeat("ghost", gen) == ErrorCode.UNKNOWN_MEMBER_ID
    fresh.advance(SESSION // 2)
    assert b not in fresh.group().members
    assert fresh.group().state is GroupState.PREPARING_REBALANCE
    assert fresh.join_ok(fresh.join(a)).generation_id == gen + 1


def test_loaded_group_over_max_size_rebalances() -> None:
    h = Harness()
    h.stable_group(3)
    fresh = replayed(h, group_max_size=2)
    assert fresh.group().state is GroupState.PREPARING_REBALANCE
    assert ("join", "g") in fresh.timers


def test_tombstones_delete_on_replay() -> None:
    h = Harness()
    h.commit("", -1, [("t", 0, 1, -1, None)], group_id="gone")
    h.call("delete_groups", group_ids=["gone"])
    fresh = replayed(h)
    assert fresh.coord.group("gone") is None and fresh.coord.offsets == {}


def test_replay_of_old_record_versions() -> None:
    coord = GroupCoordinator()
    member = MemberMetadata("m", None, "cid", "host", 123, 6_000, sub("t"), b"A")
    value = GroupMetadataValue("consumer", 4, "range", "m", 99, (member,))
    coord.replay(encode_key(GroupMetadataKey("g")), encode_group_metadata_value(value, 0))
    group = coord.group("g")
    assert group is not None and group.state is GroupState.STABLE
    loaded = group.members["m"]
    # v0 has no rebalance timeout: the session timeout stands in (as Kafka does).
    assert (loaded.rebalance_timeout_ms, loaded.session_timeout_ms) == (6_000, 6_000)
    assert group.current_state_timestamp is None and group.subscribed == frozenset({"t"})
    coord.replay(encode_key(GroupMetadataKey("g")), None)
    assert coord.group("g") is None


def test_unknown_record_types_are_ignored() -> None:
    # Type 10 is a share group's record, which kwire does not model.
    coord = GroupCoordinator()
    coord.replay(b"\x00\x0a\x00\x01g", b"\x00\x00junk")
    assert coord.groups == {} and coord.consumer_groups == {}


def test_unload_answers_parked_requests_with_not_coordinator() -> None:
    h = Harness()
    (a, b), gen = h.stable_group(2)
    t = h.join(a)
    h.apply(h.coord.unload(h.now))
    assert h.resp(t) == JoinGroupResponse(ErrorCode.NOT_COORDINATOR, member_id=a)
    assert h.timers == {} and h.coord.groups == {}
    assert h.heartbeat(a, gen) == ErrorCode.COORDINATOR_LOAD_IN_PROGRESS


def test_stale_timer_fire_is_ignored() -> None:
    h = Harness()
    (a,), _ = h.stable_group(1)
    fx = h.coord.on_timer(("heartbeat", "g", "nobody"), h.now + REBALANCE)
    assert fx.responses == [] and fx.timers == [] and fx.records == []


def test_early_or_stale_timer_fire_rearms_the_current_deadline() -> None:
    h = Harness()
    (a,), gen = h.stable_group(1)
    key = ("heartbeat", "g", a)
    fire_at = h.timers[key]
    h.advance(SESSION - 10)
    h.heartbeat(a, gen)  # re-armed while the old fire was (say) queued in the driver
    fx = h.apply(h.coord.on_timer(key, fire_at))
    assert [op.key for op in fx.timers] == [key] and fx.responses == []
    assert h.timers[key] == h.now + SESSION and a in h.group().members
