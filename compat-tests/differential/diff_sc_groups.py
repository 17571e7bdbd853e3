"""Classic group protocol scenarios: JoinGroup (KIP-394 member ids), SyncGroup,
Heartbeat in each state, LeaveGroup, OffsetCommit/OffsetFetch (unknown topics
and partitions, all-topics fetch, topic ids), DescribeGroups, ListGroups,
DeleteGroups, OffsetDelete, FindCoordinator — every version."""

from __future__ import annotations

import struct
from typing import Any

from diff_runner import Ctx, add
from diff_sc_util import (
    DELETE_GROUPS,
    DESCRIBE_GROUPS,
    FIND_COORDINATOR,
    HEARTBEAT,
    JOIN_GROUP,
    LEAVE_GROUP,
    LIST_GROUPS,
    OFFSET_COMMIT,
    OFFSET_DELETE,
    OFFSET_FETCH,
    SYNC_GROUP,
    create_topic,
    topic_id,
    versions,
)
from diff_wire import Connection

JOIN_V, SYNC_V, HB_V, LEAVE_V = 9, 5, 4, 5
META = b"\x00\x01\x00\x00\x00\x01\x00\x01t\xff\xff\xff\xff"  # bytes the broker must only echo


def join_body(group: str, member_id: str = "", session: int = 10000, rebalance: int = 5000,
              protocol_type: str = "consumer", protocols: list[tuple[str, bytes]] | None = None,
              instance: str | None = None) -> dict[str, Any]:
    return {"group_id": group, "session_timeout": session, "rebalance_timeout": rebalance,
            "member_id": member_id, "group_instance_id": instance, "protocol_type": protocol_type,
            "protocols": [{"name": n, "metadata": m} for n, m in
                          (protocols if protocols is not None else [("range", META)])],
            "reason": None}


def subscription(topics: list[str]) -> bytes:
    """ConsumerProtocolSubscription v0: the topics a consumer-protocol member wants."""
    out = struct.pack(">hi", 0, len(topics))
    for t in topics:
        out += struct.pack(">h", len(t)) + t.encode()
    return out + struct.pack(">i", -1)


def join(ctx: Ctx, group: str, v: int = JOIN_V, conn: Connection | None = None,
         **kw: Any) -> dict[str, Any]:
    """JoinGroup; at v4+ the first answer is MEMBER_ID_REQUIRED (KIP-394): rejoin with it."""
    resp = ctx.call(JOIN_GROUP, v, join_body(group, **kw), conn=conn)
    if isinstance(resp, dict) and resp.get("error_code") == 79 and not kw.get("member_id"):
        kw["member_id"] = resp["member_id"]
        resp = ctx.call(JOIN_GROUP, v, join_body(group, **kw), conn=conn)
    return resp if isinstance(resp, dict) else {}


def sync(ctx: Ctx, group: str, gen: int, member: str, assign: bool = True, v: int = SYNC_V,
         protocol_type: str | None = "consumer", protocol_name: str | None = "range") -> Any:
    return ctx.call(SYNC_GROUP, v, {
        "group_id": group, "generation_id": gen, "member_id": member, "group_instance_id": None,
        "protocol_type": protocol_type, "protocol_name": protocol_name,
        "assignments": [{"member_id": member, "assignment": b"\x00\x01assign"}] if assign else []})


def heartbeat(ctx: Ctx, group: str, gen: int, member: str, v: int = HB_V) -> Any:
    return ctx.call(HEARTBEAT, v, {"group_id": group, "generation_id": gen, "member_id": member,
                                   "group_instance_id": None})


def leave(ctx: Ctx, group: str, members: list[str], v: int = LEAVE_V) -> Any:
    return ctx.call(LEAVE_GROUP, v, {
        "group_id": group, "member_id": members[0] if members else "",
        "members": [{"member_id": m, "group_instance_id": None, "reason": None} for m in members]})


def stable_group(ctx: Ctx, group: str) -> tuple[int, str]:
    """One member, joined and synced: (generation, member id)."""
    j = join(ctx, group)
    gen, member = j.get("generation_id", -1), j.get("member_id", "")
    sync(ctx, group, gen, member)
    return gen, member


def commit_body(group: str, topic: str, partition: int = 0, offset: int = 5, gen: int = -1,
                member: str = "", metadata: str | None = "meta",
                tid: str | None = None) -> dict[str, Any]:
    return {"group_id": group, "generation_id_or_member_epoch": gen, "member_id": member,
            "group_instance_id": None, "retention_time": -1, "topics": [
                {"name": topic, "topic_id": tid, "partitions": [
                    {"partition_index": partition, "committed_offset": offset,
                     "committed_leader_epoch": -1, "committed_metadata": metadata}]}]}


def fetch_offsets_body(group: str, topics: list[tuple[str, list[int]]] | None,
                       require_stable: bool = False, tids: dict[str, str] | None = None
                       ) -> dict[str, Any]:
    ts = None if topics is None else [
        {"name": t, "topic_id": (tids or {}).get(t), "partition_indexes": ps} for t, ps in topics]
    return {"group_id": group, "topics": ts, "require_stable": require_stable,
            "groups": [{"group_id": group, "member_id": None, "member_epoch": -1, "topics": ts}]}


# ---------------------------------------------------------------- JoinGroup
def _join_version(v: int) -> None:
    def flow(ctx: Ctx) -> None:
        g = ctx.name("g")
        j = join(ctx, g, v=v)
        gen, member = j.get("generation_id", -1), j.get("member_id", "")
        sync(ctx, g, gen, member)
        heartbeat(ctx, g, gen, member)
        ctx.call(DESCRIBE_GROUPS, 5, {"groups": [g], "include_authorized_operations": False})
        leave(ctx, g, [member])
        ctx.call(DESCRIBE_GROUPS, 5, {"groups": [g], "include_authorized_operations": False})

    def rejoin_same_member(ctx: Ctx) -> None:
        g = ctx.name("g")
        j = join(ctx, g, v=v)
        gen, member = j.get("generation_id", -1), j.get("member_id", "")
        sync(ctx, g, gen, member)
        join(ctx, g, v=v, member_id=member)  # same metadata: the same generation back

    cases: dict[str, Any] = {
        "flow": flow, "rejoin_same_member": rejoin_same_member,
        "session_timeout_too_low": lambda ctx: join(ctx, ctx.name("g"), v=v, session=1000),
        "session_timeout_too_high": lambda ctx: join(ctx, ctx.name("g"), v=v, session=2_000_000),
        "unknown_member_id": lambda ctx: join(ctx, ctx.name("g"), v=v, member_id="nope-123"),
        "empty_group_id": lambda ctx: join(ctx, "", v=v),
        "no_protocols": lambda ctx: join(ctx, ctx.name("g"), v=v, protocols=[]),
        "empty_protocol_type": lambda ctx: join(ctx, ctx.name("g"), v=v, protocol_type=""),
    }

    def inconsistent(ctx: Ctx) -> None:
        g = ctx.name("g")
        stable_group(ctx, g)
        join(ctx, g, v=v, protocols=[("roundrobin", META)], conn=ctx.new_conn())

    cases["inconsistent_protocol"] = inconsistent
    if v >= 5:
        cases["static_member"] = lambda ctx: join(ctx, ctx.name("g"), v=v, instance="inst-1")
    for what, fn in cases.items():
        add(f"join_group/v{v}/{what}", fn)


for _v in versions(JOIN_GROUP):
    _join_version(_v)


# ---------------------------------------------------------------- SyncGroup
def _sync_version(v: int) -> None:
    def ok(ctx: Ctx) -> None:
        g = ctx.name("g")
        j = join(ctx, g)
        sync(ctx, g, j.get("generation_id", -1), j.get("member_id", ""), v=v)

    def wrong_generation(ctx: Ctx) -> None:
        g = ctx.name("g")
        j = join(ctx, g)
        sync(ctx, g, j.get("generation_id", -1) + 3, j.get("member_id", ""), v=v)

    def unknown_member(ctx: Ctx) -> None:
        g = ctx.name("g")
        j = join(ctx, g)
        sync(ctx, g, j.get("generation_id", -1), "who-0000", v=v)

    def unknown_group(ctx: Ctx) -> None:
        sync(ctx, ctx.name("g"), 1, "who-0000", v=v)

    cases = {"ok": ok, "wrong_generation": wrong_generation, "unknown_member": unknown_member,
             "unknown_group": unknown_group}
    if v >= 5:
        def wrong_protocol(ctx: Ctx) -> None:
            g = ctx.name("g")
            j = join(ctx, g)
            sync(ctx, g, j.get("generation_id", -1), j.get("member_id", ""), v=v,
                 protocol_type="connect", protocol_name="other")
        cases["wrong_protocol_type"] = wrong_protocol
    for what, fn in cases.items():
        add(f"sync_group/v{v}/{what}", fn)


for _v in versions(SYNC_GROUP):
    _sync_version(_v)


# ---------------------------------------------------------------- Heartbeat
def _heartbeat_version(v: int) -> None:
    def stable(ctx: Ctx) -> None:
        g = ctx.name("g")
        gen, m = stable_group(ctx, g)
        heartbeat(ctx, g, gen, m, v=v)

    def completing_rebalance(ctx: Ctx) -> None:
        g = ctx.name("g")
        j = join(ctx, g)  # joined, not synced
        heartbeat(ctx, g, j.get("generation_id", -1), j.get("member_id", ""), v=v)

    def preparing_rebalance(ctx: Ctx) -> None:
        g = ctx.name("g")
        gen, m1 = stable_group(ctx, g)
        other = ctx.new_conn()
        first = ctx.call(JOIN_GROUP, JOIN_V, join_body(g), conn=other)
        m2 = first.get("member_id", "") if isinstance(first, dict) else ""
        corr = other.send(JOIN_GROUP, JOIN_V, join_body(g, member_id=m2))  # blocks: rebalance
        ctx.sleep(0.5)
        heartbeat(ctx, g, gen, m1, v=v)  # REBALANCE_IN_PROGRESS
        join(ctx, g, member_id=m1)
        second = other.receive(JOIN_GROUP, JOIN_V, corr)
        ctx.note("second member's join", second)

    cases = {
        "stable": stable, "completing_rebalance": completing_rebalance,
        "preparing_rebalance": preparing_rebalance,
        "unknown_group": lambda ctx: heartbeat(ctx, ctx.name("g"), 1, "who-0000", v=v),
    }

    def unknown_member(ctx: Ctx) -> None:
        g = ctx.name("g")
        gen, _m = stable_group(ctx, g)
        heartbeat(ctx, g, gen, "who-0000", v=v)

    def wrong_generation(ctx: Ctx) -> None:
        g = ctx.name("g")
        gen, m = stable_group(ctx, g)
        heartbeat(ctx, g, gen + 1, m, v=v)

    cases["unknown_member"] = unknown_member
    cases["wrong_generation"] = wrong_generation
    for what, fn in cases.items():
        add(f"heartbeat/v{v}/{what}", fn)


for _v in versions(HEARTBEAT):
    _heartbeat_version(_v)


# ---------------------------------------------------------------- LeaveGroup
def _leave_version(v: int) -> None:
    def ok(ctx: Ctx) -> None:
        g = ctx.name("g")
        _gen, m = stable_group(ctx, g)
        leave(ctx, g, [m], v=v)

    def unknown_member(ctx: Ctx) -> None:
        g = ctx.name("g")
        stable_group(ctx, g)
        leave(ctx, g, ["who-0000"], v=v)

    cases = {"ok": ok, "unknown_member": unknown_member,
             "unknown_group": lambda ctx: leave(ctx, ctx.name("g"), ["who-0000"], v=v)}
    if v >= 3:
        def batch(ctx: Ctx) -> None:
            g = ctx.name("g")
            _gen, m = stable_group(ctx, g)
            leave(ctx, g, [m, "who-0000"], v=v)
        cases["batch_one_unknown"] = batch
    for what, fn in cases.items():
        add(f"leave_group/v{v}/{what}", fn)


for _v in versions(LEAVE_GROUP):
    _leave_version(_v)


# ---------------------------------------------------------------- OffsetCommit / OffsetFetch
def _commit_version(v: int) -> None:
    def tid_of(ctx: Ctx, t: str) -> str | None:
        return topic_id(ctx, t) if v >= 10 else None

    def standalone(ctx: Ctx) -> None:
        g, t = ctx.name("g"), ctx.name()
        create_topic(ctx, t)
        ctx.call(OFFSET_COMMIT, v, commit_body(g, t, tid=tid_of(ctx, t)))
        ctx.call(OFFSET_FETCH, 8, fetch_offsets_body(g, [(t, [0])]))

    def unknown_topic(ctx: Ctx) -> None:
        g, t = ctx.name("g"), ctx.name("missing")
        tid = "5f8e3c1a-0000-4000-8000-00000000c0de" if v >= 10 else None
        ctx.call(OFFSET_COMMIT, v, commit_body(g, t, tid=tid))
        ctx.call(OFFSET_FETCH, 8, fetch_offsets_body(g, [(t, [0])]))

    def unknown_partition(ctx: Ctx) -> None:
        g, t = ctx.name("g"), ctx.name()
        create_topic(ctx, t)
        ctx.call(OFFSET_COMMIT, v, commit_body(g, t, partition=4, tid=tid_of(ctx, t)))

    def in_group(ctx: Ctx) -> None:
        g, t = ctx.name("g"), ctx.name()
        create_topic(ctx, t)
        gen, m = stable_group(ctx, g)
        tid = tid_of(ctx, t)
        ctx.call(OFFSET_COMMIT, v, commit_body(g, t, gen=gen, member=m, tid=tid))
        ctx.call(OFFSET_COMMIT, v, commit_body(g, t, gen=gen + 1, member=m, tid=tid))
        ctx.call(OFFSET_COMMIT, v, commit_body(g, t, gen=gen, member="who-0000", tid=tid))
        ctx.call(OFFSET_COMMIT, v, commit_body(g, t, gen=-1, member="", tid=tid))

    def metadata_too_large(ctx: Ctx) -> None:
        g, t = ctx.name("g"), ctx.name()
        create_topic(ctx, t)
        ctx.call(OFFSET_COMMIT, v, commit_body(g, t, metadata="m" * 5000, tid=tid_of(ctx, t)))

    def null_metadata(ctx: Ctx) -> None:
        g, t = ctx.name("g"), ctx.name()
        create_topic(ctx, t)
        ctx.call(OFFSET_COMMIT, v, commit_body(g, t, metadata=None, tid=tid_of(ctx, t)))
        ctx.call(OFFSET_FETCH, 8, fetch_offsets_body(g, [(t, [0])]))

    def empty_group_id(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t)
        ctx.call(OFFSET_COMMIT, v, commit_body("", t, tid=tid_of(ctx, t)))

    for what, fn in {"standalone": standalone, "unknown_topic": unknown_topic,
                     "unknown_partition": unknown_partition, "in_group_generations": in_group,
                     "metadata_too_large": metadata_too_large, "null_metadata": null_metadata,
                     "empty_group_id": empty_group_id}.items():
        add(f"offset_commit/v{v}/{what}", fn)


for _v in versions(OFFSET_COMMIT):
    _commit_version(_v)


def _offset_fetch_version(v: int) -> None:
    def committed(ctx: Ctx) -> tuple[str, str, dict[str, str]]:
        g, t = ctx.name("g"), ctx.name()
        create_topic(ctx, t, partitions=2)
        ctx.call(OFFSET_COMMIT, 8, commit_body(g, t, offset=7))
        tids = {t: topic_id(ctx, t) or ""} if v >= 10 else {}
        return g, t, tids

    def specific(ctx: Ctx) -> None:
        g, t, tids = committed(ctx)
        ctx.call(OFFSET_FETCH, v, fetch_offsets_body(g, [(t, [0, 1])], tids=tids))

    def unknown_partition(ctx: Ctx) -> None:
        g, t, tids = committed(ctx)
        ctx.call(OFFSET_FETCH, v, fetch_offsets_body(g, [(t, [9])], tids=tids))

    def unknown_group(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t)
        tids = {t: topic_id(ctx, t) or ""} if v >= 10 else {}
        ctx.call(OFFSET_FETCH, v, fetch_offsets_body(ctx.name("g"), [(t, [0])], tids=tids))

    def unknown_topic(ctx: Ctx) -> None:
        g, _t, _ = committed(ctx)
        tids = {ctx.name("missing"): "5f8e3c1a-0000-4000-8000-00000000f00d"} if v >= 10 else {}
        ctx.call(OFFSET_FETCH, v, fetch_offsets_body(g, [(ctx.name("missing"), [0])], tids=tids))

    cases = {"specific": specific, "unknown_partition": unknown_partition,
             "unknown_group": unknown_group, "unknown_topic": unknown_topic}
    if v >= 2:
        def all_topics(ctx: Ctx) -> None:
            g, _t, _ = committed(ctx)
            ctx.call(OFFSET_FETCH, v, fetch_offsets_body(g, None))
        cases["all_topics"] = all_topics
    if v >= 7:
        def require_stable(ctx: Ctx) -> None:
            g, t, tids = committed(ctx)
            ctx.call(OFFSET_FETCH, v, fetch_offsets_body(g, [(t, [0])], True, tids=tids))
        cases["require_stable"] = require_stable
    if v >= 8:
        def two_groups(ctx: Ctx) -> None:
            g, t, tids = committed(ctx)
            body = fetch_offsets_body(g, [(t, [0])], tids=tids)
            body["groups"].append({"group_id": ctx.name("g2"), "member_id": None,
                                   "member_epoch": -1, "topics": None})
            ctx.call(OFFSET_FETCH, v, body)
        cases["two_groups"] = two_groups
    for what, fn in cases.items():
        add(f"offset_fetch/v{v}/{what}", fn)


for _v in versions(OFFSET_FETCH):
    _offset_fetch_version(_v)


# ---------------------------------------------------------------- Describe/List/Delete
def _describe_version(v: int) -> None:
    def body(groups: list[str]) -> dict[str, Any]:
        return {"groups": groups, "include_authorized_operations": False}

    def stable(ctx: Ctx) -> None:
        g = ctx.name("g")
        stable_group(ctx, g)
        ctx.call(DESCRIBE_GROUPS, v, body([g]))

    def empty_with_offsets(ctx: Ctx) -> None:
        g, t = ctx.name("g"), ctx.name()
        create_topic(ctx, t)
        ctx.call(OFFSET_COMMIT, 8, commit_body(g, t))
        ctx.call(DESCRIBE_GROUPS, v, body([g]))

    for what, fn in {"stable": stable, "empty_with_offsets": empty_with_offsets,
                     "unknown": lambda ctx: ctx.call(DESCRIBE_GROUPS, v, body([ctx.name("g")])),
                     "empty_id": lambda ctx: ctx.call(DESCRIBE_GROUPS, v, body([""]))}.items():
        add(f"describe_groups/v{v}/{what}", fn)


for _v in versions(DESCRIBE_GROUPS):
    _describe_version(_v)


def _list_version(v: int) -> None:
    def mine(ctx: Ctx, states: list[str], types: list[str] | None = None) -> None:
        g = ctx.name("g")
        stable_group(ctx, g)
        g2, t = ctx.name("g2"), ctx.name()
        create_topic(ctx, t)
        ctx.call(OFFSET_COMMIT, 8, commit_body(g2, t))
        resp = ctx.call(LIST_GROUPS, v, {"states_filter": states, "types_filter": types or []},
                        record=False)
        # Only this scenario's groups: others come and go while scenarios run.
        if isinstance(resp, dict) and "groups" in resp:
            resp = {**resp, "groups": sorted(
                (x for x in resp["groups"] if x["group_id"] in (g, g2)),
                key=lambda x: str(x["group_id"]))}
        ctx.note("list_groups (this scenario's groups)", resp)

    add(f"list_groups/v{v}/all", lambda ctx: mine(ctx, []))
    if v >= 4:
        add(f"list_groups/v{v}/states_filter_stable", lambda ctx: mine(ctx, ["Stable"]))
        add(f"list_groups/v{v}/states_filter_bogus", lambda ctx: mine(ctx, ["Bogus"]))
    if v >= 5:
        add(f"list_groups/v{v}/types_filter_classic", lambda ctx: mine(ctx, [], ["classic"]))
        add(f"list_groups/v{v}/types_filter_consumer", lambda ctx: mine(ctx, [], ["consumer"]))


for _v in versions(LIST_GROUPS):
    _list_version(_v)


def _delete_groups_version(v: int) -> None:
    def empty(ctx: Ctx) -> None:
        g, t = ctx.name("g"), ctx.name()
        create_topic(ctx, t)
        ctx.call(OFFSET_COMMIT, 8, commit_body(g, t))
        ctx.call(DELETE_GROUPS, v, {"groups_names": [g]})
        ctx.call(OFFSET_FETCH, 8, fetch_offsets_body(g, [(t, [0])]))

    def non_empty(ctx: Ctx) -> None:
        g = ctx.name("g")
        stable_group(ctx, g)
        ctx.call(DELETE_GROUPS, v, {"groups_names": [g]})

    def unknown(ctx: Ctx) -> None:
        ctx.call(DELETE_GROUPS, v, {"groups_names": [ctx.name("g"), ""]})

    for what, fn in {"empty_with_offsets": empty, "non_empty": non_empty,
                     "unknown_and_empty_name": unknown}.items():
        add(f"delete_groups/v{v}/{what}", fn)


for _v in versions(DELETE_GROUPS):
    _delete_groups_version(_v)


def _offset_delete_body(g: str, t: str, partitions: list[int]) -> dict[str, Any]:
    return {"group_id": g, "topics": [
        {"name": t, "partitions": [{"partition_index": p} for p in partitions]}]}


def _od_empty(ctx: Ctx) -> None:
    g, t = ctx.name("g"), ctx.name()
    create_topic(ctx, t, partitions=2)
    ctx.call(OFFSET_COMMIT, 8, commit_body(g, t))
    ctx.call(OFFSET_DELETE, 0, _offset_delete_body(g, t, [0, 1, 7]))
    ctx.call(OFFSET_FETCH, 8, fetch_offsets_body(g, [(t, [0])]))


def _od_subscribed(ctx: Ctx) -> None:
    # The consumer protocol metadata names topic "t": deleting its offsets while
    # the group is subscribed is refused (GROUP_SUBSCRIBED_TO_TOPIC); others are fine.
    g, t = ctx.name("g"), ctx.name()
    create_topic(ctx, t)
    j = join(ctx, g, protocols=[("range", subscription([t]))])
    gen, m = j.get("generation_id", -1), j.get("member_id", "")
    sync(ctx, g, gen, m)
    ctx.call(OFFSET_COMMIT, 8, commit_body(g, t, gen=gen, member=m))
    ctx.call(OFFSET_DELETE, 0, _offset_delete_body(g, t, [0]))


def _od_unknown(ctx: Ctx) -> None:
    ctx.call(OFFSET_DELETE, 0, _offset_delete_body(ctx.name("g"), ctx.name(), [0]))


def _od_unknown_topic(ctx: Ctx) -> None:
    g, t = ctx.name("g"), ctx.name()
    create_topic(ctx, t)
    ctx.call(OFFSET_COMMIT, 8, commit_body(g, t))
    ctx.call(OFFSET_DELETE, 0, _offset_delete_body(g, ctx.name("missing"), [0]))


for _sid, _fn in (("offset_delete/v0/empty_group", _od_empty),
                  ("offset_delete/v0/subscribed_group", _od_subscribed),
                  ("offset_delete/v0/unknown_group", _od_unknown),
                  ("offset_delete/v0/unknown_topic", _od_unknown_topic)):
    add(_sid, _fn)


# ---------------------------------------------------------------- FindCoordinator
def _find_version(v: int) -> None:
    def body(key: str, key_type: int) -> dict[str, Any]:
        return {"key": key, "key_type": key_type, "coordinator_keys": [key]}

    add(f"find_coordinator/v{v}/group",
        lambda ctx: ctx.call(FIND_COORDINATOR, v, body(ctx.name("g"), 0)))
    if v >= 1:
        add(f"find_coordinator/v{v}/transaction",
            lambda ctx: ctx.call(FIND_COORDINATOR, v, body(ctx.name("txn"), 1)))
        add(f"find_coordinator/v{v}/bad_key_type",
            lambda ctx: ctx.call(FIND_COORDINATOR, v, body(ctx.name("g"), 7)))
    if v >= 4:
        def several(ctx: Ctx) -> None:
            b = body(ctx.name("g"), 0)
            b["coordinator_keys"] = [ctx.name("g"), ctx.name("g2"), ""]
            ctx.call(FIND_COORDINATOR, v, b)
        add(f"find_coordinator/v{v}/several_keys", several)
    add(f"find_coordinator/v{v}/empty_key", lambda ctx: ctx.call(FIND_COORDINATOR, v, body("", 0)))


for _v in versions(FIND_COORDINATOR):
    _find_version(_v)


# ---------------------------------------------------------------- two members
def _two_members(ctx: Ctx) -> None:
    """Leader and follower: the follower's SyncGroup waits for the leader's
    assignment and gets its own part of it."""
    g = ctx.name("g")
    gen, m1 = stable_group(ctx, g)
    other = ctx.new_conn()
    first = ctx.call(JOIN_GROUP, JOIN_V, join_body(g), conn=other)
    m2 = first.get("member_id", "") if isinstance(first, dict) else ""
    corr = other.send(JOIN_GROUP, JOIN_V, join_body(g, member_id=m2))
    ctx.sleep(0.5)
    j1 = join(ctx, g, member_id=m1)  # the leader rejoins: the rebalance completes
    ctx.note("follower's join", other.receive(JOIN_GROUP, JOIN_V, corr))
    gen2 = j1.get("generation_id", -1)
    follower_sync = other.send(SYNC_GROUP, SYNC_V, {
        "group_id": g, "generation_id": gen2, "member_id": m2, "group_instance_id": None,
        "protocol_type": "consumer", "protocol_name": "range", "assignments": []})
    ctx.sleep(0.3)
    ctx.call(SYNC_GROUP, SYNC_V, {
        "group_id": g, "generation_id": gen2, "member_id": m1, "group_instance_id": None,
        "protocol_type": "consumer", "protocol_name": "range",
        "assignments": [{"member_id": m1, "assignment": b"\x00\x01leader"},
                        {"member_id": m2, "assignment": b"\x00\x01follower"}]})
    ctx.note("follower's sync", other.receive(SYNC_GROUP, SYNC_V, follower_sync))
    ctx.call(DESCRIBE_GROUPS, 5, {"groups": [g], "include_authorized_operations": False})
    ctx.note("generation moved", gen2 == gen + 1)


def _changed_metadata(ctx: Ctx) -> None:
    """A lone member rejoining with different protocol metadata starts a new generation."""
    g = ctx.name("g")
    gen, m = stable_group(ctx, g)
    j = join(ctx, g, member_id=m, protocols=[("range", META + b"\x01")])
    ctx.note("new generation", j.get("generation_id", -1) - gen)


def _session_expiry(ctx: Ctx) -> None:
    """A member that stops heartbeating is removed after its session timeout."""
    g = ctx.name("g")
    j = join(ctx, g, session=6000, rebalance=6000)
    sync(ctx, g, j.get("generation_id", -1), j.get("member_id", ""))
    ctx.sleep(7.5)
    heartbeat(ctx, g, j.get("generation_id", -1), j.get("member_id", ""))
    ctx.call(DESCRIBE_GROUPS, 5, {"groups": [g], "include_authorized_operations": False})


def _commit_retention(ctx: Ctx) -> None:
    """OffsetCommit v2-v4 carry retention_time; Kafka ignores it since KIP-211."""
    g, t = ctx.name("g"), ctx.name()
    create_topic(ctx, t)
    for v in (2, 3, 4):
        body = commit_body(g, t, offset=10 + v)
        body["retention_time"] = 1000
        ctx.call(OFFSET_COMMIT, v, body)
    ctx.call(OFFSET_FETCH, 5, fetch_offsets_body(g, [(t, [0])]))


for _sid, _fn in (("sync_group/v5/leader_and_follower", _two_members),
                  ("join_group/v9/changed_metadata_new_generation", _changed_metadata),
                  ("heartbeat/v4/after_session_timeout", _session_expiry),
                  ("offset_commit/v2/retention_time", _commit_retention)):
    add(_sid, _fn)


def _static_replaced(ctx: Ctx) -> None:
    """KIP-345: a static member rejoining (new member id, same instance id) fences the old id."""
    g = ctx.name("g")
    j1 = join(ctx, g, instance="inst-1")
    gen, m1 = j1.get("generation_id", -1), j1.get("member_id", "")
    sync(ctx, g, gen, m1)
    j2 = join(ctx, g, instance="inst-1", conn=ctx.new_conn())
    ctx.note("replacement has a new member id", j2.get("member_id") != m1)
    ctx.call(HEARTBEAT, HB_V, {"group_id": g, "generation_id": gen, "member_id": m1,
                               "group_instance_id": "inst-1"})
    ctx.call(HEARTBEAT, HB_V, {"group_id": g, "generation_id": gen,
                               "member_id": j2.get("member_id", ""), "group_instance_id": "inst-2"})
    ctx.call(DESCRIBE_GROUPS, 5, {"groups": [g], "include_authorized_operations": False})


def _static_leave(ctx: Ctx) -> None:
    g = ctx.name("g")
    j = join(ctx, g, instance="inst-1")
    sync(ctx, g, j.get("generation_id", -1), j.get("member_id", ""))
    ctx.call(LEAVE_GROUP, LEAVE_V, {"group_id": g, "members": [
        {"member_id": "", "group_instance_id": "inst-1", "reason": "bye"},
        {"member_id": "", "group_instance_id": "inst-9", "reason": None}]})
    ctx.call(DESCRIBE_GROUPS, 5, {"groups": [g], "include_authorized_operations": False})


def _list_after_delete(ctx: Ctx) -> None:
    g, t = ctx.name("g"), ctx.name()
    create_topic(ctx, t)
    ctx.call(OFFSET_COMMIT, 8, commit_body(g, t))
    ctx.call(DELETE_GROUPS, 2, {"groups_names": [g]})
    resp = ctx.call(LIST_GROUPS, 4, {"states_filter": []}, record=False)
    if isinstance(resp, dict) and "groups" in resp:
        resp = {**resp, "groups": [x for x in resp["groups"] if x["group_id"] == g]}
    ctx.note("list_groups (this group)", resp)
    ctx.call(DESCRIBE_GROUPS, 5, {"groups": [g], "include_authorized_operations": False})


for _sid, _fn in (("join_group/v9/static_member_replaced", _static_replaced),
                  ("leave_group/v5/static_members_by_instance_id", _static_leave),
                  ("list_groups/v4/after_delete_groups", _list_after_delete)):
    add(_sid, _fn)


def _offset_fetch_member_fields(ctx: Ctx) -> None:
    """OffsetFetch v9+ member_id/member_epoch (KIP-848) sent for a classic group."""
    g, t = ctx.name("g"), ctx.name()
    create_topic(ctx, t)
    gen, m = stable_group(ctx, g)
    ctx.call(OFFSET_COMMIT, 8, commit_body(g, t, gen=gen, member=m))
    for member, epoch in ((m, gen), ("who-0000", 5), (None, -1), (m, -1)):
        body = fetch_offsets_body(g, [(t, [0])], True)
        body["groups"][0]["member_id"] = member
        body["groups"][0]["member_epoch"] = epoch
        ctx.call(OFFSET_FETCH, 9, body)


def _sync_protocol_name_only(ctx: Ctx) -> None:
    g = ctx.name("g")
    j = join(ctx, g)
    sync(ctx, g, j.get("generation_id", -1), j.get("member_id", ""), protocol_name="roundrobin")


def _heartbeat_instance_mismatch(ctx: Ctx) -> None:
    g = ctx.name("g")
    gen, m = stable_group(ctx, g)
    ctx.call(HEARTBEAT, HB_V, {"group_id": g, "generation_id": gen, "member_id": m,
                               "group_instance_id": "not-static"})
    ctx.call(OFFSET_COMMIT, 8, {**commit_body(g, ctx.name("t"), gen=gen, member=m),
                                "group_instance_id": "not-static"})


for _sid, _fn in (("offset_fetch/v9/member_fields_on_classic_group", _offset_fetch_member_fields),
                  ("sync_group/v5/wrong_protocol_name", _sync_protocol_name_only),
                  ("heartbeat/v4/instance_id_of_dynamic_member", _heartbeat_instance_mismatch)):
    add(_sid, _fn)


def _long_and_odd_ids(ctx: Ctx) -> None:
    join(ctx, "g" * 300)
    ctx.call(DESCRIBE_GROUPS, 5, {"groups": [ctx.name("g"), ctx.name("g"), "x" * 300],
                                  "include_authorized_operations": False})
    ctx.call(OFFSET_FETCH, 8, fetch_offsets_body("ü-ñ-" + ctx.name("g"), None))


add("join_group/v9/long_and_unicode_ids", _long_and_odd_ids)


def _rebalance_timeout(ctx: Ctx) -> None:
    """A stable member that never rejoins is removed when the rebalance times out; the
    newcomer's JoinGroup then completes alone, as leader of the next generation."""
    g = ctx.name("g")
    j = join(ctx, g, session=10000, rebalance=3000)
    gen, m1 = j.get("generation_id", -1), j.get("member_id", "")
    sync(ctx, g, gen, m1)
    other = ctx.new_conn()
    first = ctx.call(JOIN_GROUP, JOIN_V, join_body(g, rebalance=3000), conn=other)
    m2 = first.get("member_id", "") if isinstance(first, dict) else ""
    resp = ctx.call(JOIN_GROUP, JOIN_V, join_body(g, member_id=m2, rebalance=3000), conn=other,
                    timeout=10.0)
    ctx.note("newcomer leads", isinstance(resp, dict) and resp.get("leader") == m2)
    heartbeat(ctx, g, gen, m1)
    ctx.call(DESCRIBE_GROUPS, 5, {"groups": [g], "include_authorized_operations": False})


add("join_group/v9/rebalance_timeout_removes_member", _rebalance_timeout)


def _static_commit(ctx: Ctx) -> None:
    g, t = ctx.name("g"), ctx.name()
    create_topic(ctx, t)
    j = join(ctx, g, instance="inst-1")
    gen, m = j.get("generation_id", -1), j.get("member_id", "")
    sync(ctx, g, gen, m)
    for inst in ("inst-1", "inst-2", None):
        ctx.call(OFFSET_COMMIT, 8, {**commit_body(g, t, gen=gen, member=m),
                                    "group_instance_id": inst})


def _completing_rebalance_described(ctx: Ctx) -> None:
    g = ctx.name("g")
    join(ctx, g)  # joined, not synced
    ctx.call(DESCRIBE_GROUPS, 5, {"groups": [g], "include_authorized_operations": False})
    resp = ctx.call(LIST_GROUPS, 4, {"states_filter": ["CompletingRebalance"]}, record=False)
    if isinstance(resp, dict) and "groups" in resp:
        resp = {**resp, "groups": [x for x in resp["groups"] if x["group_id"] == g]}
    ctx.note("list_groups CompletingRebalance (this group)", resp)


def _follower_left_out(ctx: Ctx) -> None:
    """The leader's assignment does not name the follower: it gets an empty one."""
    g = ctx.name("g")
    gen, m1 = stable_group(ctx, g)
    other = ctx.new_conn()
    first = ctx.call(JOIN_GROUP, JOIN_V, join_body(g), conn=other)
    m2 = first.get("member_id", "") if isinstance(first, dict) else ""
    corr = other.send(JOIN_GROUP, JOIN_V, join_body(g, member_id=m2))
    ctx.sleep(0.5)
    j1 = join(ctx, g, member_id=m1)
    other.receive(JOIN_GROUP, JOIN_V, corr)
    gen2 = j1.get("generation_id", -1)
    sync(ctx, g, gen2, m1)  # assigns only to itself
    ctx.call(SYNC_GROUP, SYNC_V, {
        "group_id": g, "generation_id": gen2, "member_id": m2, "group_instance_id": None,
        "protocol_type": "consumer", "protocol_name": "range", "assignments": []}, conn=other)
    ctx.note("generation", gen2 - gen)


for _sid, _fn in (("offset_commit/v8/static_member_instance_ids", _static_commit),
                  ("describe_groups/v5/completing_rebalance", _completing_rebalance_described),
                  ("sync_group/v5/follower_left_out_of_assignment", _follower_left_out)):
    add(_sid, _fn)


def _committed_leader_epoch(ctx: Ctx) -> None:
    g, t = ctx.name("g"), ctx.name()
    create_topic(ctx, t, partitions=2)
    body = commit_body(g, t, offset=2)
    body["topics"][0]["partitions"][0]["committed_leader_epoch"] = 0
    body["topics"][0]["partitions"].append({"partition_index": 1, "committed_offset": 4,
                                            "committed_leader_epoch": 7,
                                            "committed_metadata": ""})
    ctx.call(OFFSET_COMMIT, 8, body)
    ctx.call(OFFSET_FETCH, 8, fetch_offsets_body(g, [(t, [0, 1])]))
    ctx.call(OFFSET_FETCH, 4, fetch_offsets_body(g, [(t, [0, 1])]))


add("offset_commit/v8/committed_leader_epoch_round_trip", _committed_leader_epoch)


def _empty_lists(ctx: Ctx) -> None:
    """Empty (not null) lists where null means 'all' or where nothing is asked."""
    g, t = ctx.name("g"), ctx.name()
    create_topic(ctx, t)
    ctx.call(OFFSET_COMMIT, 8, commit_body(g, t))
    ctx.call(OFFSET_FETCH, 5, {"group_id": g, "topics": [], "require_stable": False})
    ctx.call(OFFSET_FETCH, 8, {"groups": [{"group_id": g, "topics": []}], "require_stable": False})
    ctx.call(OFFSET_FETCH, 8, {"groups": [], "require_stable": False})
    ctx.call(DESCRIBE_GROUPS, 5, {"groups": [], "include_authorized_operations": False})
    ctx.call(DELETE_GROUPS, 2, {"groups_names": []})
    ctx.call(OFFSET_DELETE, 0, {"group_id": g, "topics": []})
    gen, m = stable_group(ctx, ctx.name("g2"))
    ctx.call(LEAVE_GROUP, LEAVE_V, {"group_id": ctx.name("g2"), "members": []})
    ctx.call(OFFSET_COMMIT, 8, {**commit_body(ctx.name("g2"), t, gen=gen, member=m),
                                "topics": []})


def _assignment_for_stranger(ctx: Ctx) -> None:
    g = ctx.name("g")
    j = join(ctx, g)
    ctx.call(SYNC_GROUP, SYNC_V, {
        "group_id": g, "generation_id": j.get("generation_id", -1),
        "member_id": j.get("member_id", ""), "group_instance_id": None,
        "protocol_type": "consumer", "protocol_name": "range",
        "assignments": [{"member_id": "stranger-1", "assignment": b"\x00"},
                        {"member_id": j.get("member_id", ""), "assignment": b"\x01"},
                        {"member_id": j.get("member_id", ""), "assignment": b"\x02"}]})


for _sid, _fn in (("offset_fetch/v8/empty_lists_everywhere", _empty_lists),
                  ("sync_group/v5/assignment_for_non_member", _assignment_for_stranger)):
    add(_sid, _fn)


def _join_during_completing(ctx: Ctx) -> None:
    """A newcomer joins while the group waits for the leader's SyncGroup: the group
    goes back to preparing a rebalance and the leader's late SyncGroup is refused."""
    g = ctx.name("g")
    j = join(ctx, g)
    gen, m1 = j.get("generation_id", -1), j.get("member_id", "")
    other = ctx.new_conn()
    first = ctx.call(JOIN_GROUP, JOIN_V, join_body(g), conn=other)
    m2 = first.get("member_id", "") if isinstance(first, dict) else ""
    corr = other.send(JOIN_GROUP, JOIN_V, join_body(g, member_id=m2))
    ctx.sleep(0.5)
    sync(ctx, g, gen, m1)  # REBALANCE_IN_PROGRESS
    heartbeat(ctx, g, gen, m1)
    join(ctx, g, member_id=m1)
    ctx.note("newcomer's join", other.receive(JOIN_GROUP, JOIN_V, corr))


add("sync_group/v5/newcomer_during_completing_rebalance", _join_during_completing)


def _group_authorized_operations(ctx: Ctx) -> None:
    g = ctx.name("g")
    stable_group(ctx, g)
    for v in (3, 5, 6):
        ctx.call(DESCRIBE_GROUPS, v, {"groups": [g, ctx.name("none")],
                                      "include_authorized_operations": True})


add("describe_groups/v5/authorized_operations", _group_authorized_operations)
