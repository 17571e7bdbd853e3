"""Random client histories: invariants of the state machine hold, every request is answered
exactly once, and replaying the records reproduces the live Stable/Empty groups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kwire.coordinator.group.classic_group import ClassicGroup
from kwire.coordinator.group.responses import JoinGroupResponse
from kwire.coordinator.group.state import GroupState
from kwire.errors import ErrorCode

from ._harness import REBALANCE, SESSION, Harness, Token, sub
from .test_replay import replayed, snapshot

PROTOCOL_VARIANTS = [
    (("range", sub("t")),),
    (("range", sub("t", "u")), ("rr", sub("t"))),
    (("rr", sub("u")), ("range", sub("u"))),
]
INSTANCES = [None, "i-1", None]


@dataclass
class Client:
    slot: int
    member_id: str = ""
    generation: int = -1
    members: tuple[str, ...] = ()
    waiting: Token | None = None  # a real client has one JoinGroup/SyncGroup in flight

    def busy(self, h: Harness) -> bool:
        return self.waiting is not None and self.waiting not in h.responses


_KINDS = ["join"] * 3 + ["sync"] * 3 + ["tick"] * 4 + [
    "leave",
    "heartbeat",
    "commit",
    "simple_commit",
    "advance",
    "delete_group",
    "expire",
]


def _args(kind: str) -> st.SearchStrategy[tuple[Any, ...]]:
    slot = st.integers(0, 2)
    if kind == "join":
        return st.tuples(st.just(kind), slot, st.integers(0, 2), st.booleans())
    if kind in ("sync", "heartbeat", "leave"):
        return st.tuples(st.just(kind), slot)
    if kind == "commit":
        return st.tuples(st.just(kind), slot, st.integers(0, 3))
    if kind == "simple_commit":
        return st.tuples(st.just(kind), st.integers(0, 3))
    if kind == "tick":
        return st.tuples(st.just(kind), st.integers(0, 6_000))
    if kind == "advance":
        return st.tuples(st.just(kind), st.integers(0, 2 * REBALANCE))
    return st.tuples(st.just(kind))


actions = st.sampled_from(_KINDS).flatmap(_args)


def check_invariants(h: Harness) -> None:
    coord = h.coord
    assert h.timers == coord.timers  # the driver's view of armed timers is exact
    for gid, group in coord.groups.items():
        check_group(h, gid, group)
    assert set(coord.offsets) <= set(coord.groups)


def check_group(h: Harness, gid: str, group: ClassicGroup) -> None:
    state = group.state
    members = group.members.values()
    assert all(not m.awaiting_join for m in members) or state is GroupState.PREPARING_REBALANCE
    assert all(not m.awaiting_sync for m in members) or state is GroupState.COMPLETING_REBALANCE
    for m in members:
        # A member is watched by its session timer unless parked (Kafka skips those).
        assert ("heartbeat", gid, m.member_id) in h.timers or m.awaiting_join or m.awaiting_sync
    for pending in group.pending_join_members:
        assert ("pending", gid, pending) in h.timers
    assert {iid: mid for mid, m in group.members.items() if (iid := m.group_instance_id)} == (
        group.static_members
    )
    if state is GroupState.EMPTY:
        assert not group.members and group.protocol_name is None
    elif state is GroupState.PREPARING_REBALANCE:
        # Liveness: something will complete the join phase.
        assert ("join", gid) in h.timers or ("initial_delay", gid) in h.timers
    else:
        assert group.leader_id in group.members
        assert group.protocol_name is not None
        assert all(group.protocol_name in m.protocol_names() for m in members)
    if state is GroupState.COMPLETING_REBALANCE:
        assert ("sync", gid) in h.timers


def absorb(h: Harness, clients: list[Client], owners: dict[Token, Client]) -> None:
    """Clients learn their member id and generation from answered JoinGroups."""
    for token in list(owners):
        response = h.resp(token)
        if response is None:
            continue
        client = owners.pop(token)
        assert isinstance(response, JoinGroupResponse)
        if response.error_code == ErrorCode.NONE:
            client.member_id = response.member_id
            client.generation = response.generation_id
            client.members = tuple(m.member_id for m in response.members)
        elif response.error_code == ErrorCode.MEMBER_ID_REQUIRED:
            client.member_id = response.member_id
        elif response.error_code in (ErrorCode.UNKNOWN_MEMBER_ID, ErrorCode.FENCED_INSTANCE_ID):
            client.member_id, client.generation = "", -1


def run(
    h: Harness, action: tuple[Any, ...], clients: list[Client], owners: dict[Token, Client]
) -> None:
    kind = action[0]
    if kind in ("join", "sync") and clients[action[1]].busy(h):
        return
    if kind == "join":
        client = clients[action[1]]
        token = h.join(
            client.member_id,
            instance=INSTANCES[client.slot],
            protocols=PROTOCOL_VARIANTS[action[2]],
            client_id=f"c{client.slot}",
            known=action[3],
        )
        owners[token] = client
        client.waiting = token
    elif kind == "sync":
        client = clients[action[1]]
        assignments = {mid: mid.encode() for mid in client.members}
        client.waiting = h.sync(
            client.member_id, client.generation, assignments, instance=INSTANCES[client.slot]
        )
    elif kind == "heartbeat":
        client = clients[action[1]]
        h.heartbeat(client.member_id, client.generation, instance=INSTANCES[client.slot])
    elif kind == "leave":
        client = clients[action[1]]
        h.leave((client.member_id, INSTANCES[client.slot]))
    elif kind == "commit":
        client = clients[action[1]]
        h.commit(
            client.member_id,
            client.generation,
            [("t", action[2], 1, -1, None)],
            instance=INSTANCES[client.slot],
        )
    elif kind == "simple_commit":
        h.commit("", -1, [("u", action[1], 2, -1, "m")])
    elif kind == "advance":
        h.advance(action[1])
    elif kind == "tick":  # time passes; live clients heartbeat as real ones do
        h.advance(action[1])
        for client in clients:
            if client.member_id:
                h.heartbeat(client.member_id, client.generation, instance=INSTANCES[client.slot])
    elif kind == "delete_group":
        h.call("delete_groups", group_ids=["g"])
    elif kind == "expire":
        h.apply(h.coord.expire_offsets(h.now, 10 * SESSION))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(actions, min_size=20, max_size=100))
def test_random_histories(history: list[tuple[Any, ...]]) -> None:
    h = Harness(offsets_retention_ms=10 * SESSION)
    clients = [Client(i) for i in range(3)]
    owners: dict[Token, Client] = {}
    for action in history:
        run(h, action, clients, owners)
        absorb(h, clients, owners)
        check_invariants(h)
        for group in h.coord.groups.values():
            event(f"reached {group.state.value} with {len(group.members)} members")

    # Replay reproduces every group at rest. (Subscribed topics are left out: like Kafka,
    # a static replacement without rebalance keeps the old topics live but not on replay.)
    def at_rest(harness: Harness) -> dict[str, dict[str, Any]]:
        out = {}
        for gid, group in harness.coord.groups.items():
            if group.state in (GroupState.STABLE, GroupState.EMPTY):
                snap = snapshot(group)
                snap.pop("subscribed")
                out[gid] = snap
        return out

    fresh = replayed(h)
    live, restored = at_rest(h), at_rest(fresh)
    assert {gid: restored.get(gid) for gid in live} == live
    assert set(fresh.coord.groups) <= set(h.coord.groups)
    assert fresh.coord.offsets == h.coord.offsets

    # With every client gone quiet, every parked request is eventually answered.
    h.advance(4 * REBALANCE + 2 * SESSION)
    check_invariants(h)
    assert not [t for t in owners if t not in h.responses]
    for group in h.coord.groups.values():
        assert not any(m.awaiting_join or m.awaiting_sync for m in group.members.values())
