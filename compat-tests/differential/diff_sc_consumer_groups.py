"""KIP-848 consumer groups: ConsumerGroupHeartbeat (68) v0-v1 and ConsumerGroupDescribe
(69) v0-v1 — joining, acknowledging, the revocation flow between two members,
leaving (dynamic and static), fencing, validation errors, regular-expression
subscriptions — and OffsetCommit / OffsetFetch v9 with a consumer-group member's
id and epoch.

At v1 member ids are the client's (fixed strings here); at v0 the broker makes
one up, which the masking maps to a placeholder (diff_compare). Kafka computes
a new target assignment at most once per group.consumer.assignment.interval.ms
(1 s) per group: scenarios that want the next target wait `ASSIGNMENT_WAIT`
before the heartbeat that should see it, and one scenario checks the delay
itself.
"""

from __future__ import annotations

from typing import Any

from diff_runner import Ctx, add
from diff_sc_groups import commit_body, fetch_offsets_body, stable_group
from diff_sc_util import OFFSET_COMMIT, OFFSET_FETCH, create_topic, topic_id
from diff_wire import Connection

HEARTBEAT_68, DESCRIBE_69 = 68, 69
VERSIONS = (0, 1)
ASSIGNMENT_WAIT = 1.3  # > group.consumer.assignment.interval.ms (1000)
REGEX_WAIT = 1.5  # regex resolution runs in the background on both brokers
# Client-generated member ids (v1), as the Java consumer makes them (Uuid.toString).
M1, M2, M3 = "Zq3wY0dKQ5y8Y2pTqP1m3A", "bF0x1v2eS8aY9pT7q0J3nQ", "Hk2n8s7dR0uV3pQ5aZ1y4w"


def topic(ctx: Ctx, name: str, partitions: int = 1) -> None:
    """Create a topic and let Kafka's group coordinator see it: its metadata image
    follows the broker's a moment later, and a member joining before that gets an
    empty assignment and a later rebalance (the race `settle` is for)."""
    create_topic(ctx, name, partitions=partitions)
    ctx.settle()


def hb_body(group: str, member_id: str = "", epoch: int = 0, *, topics: list[str] | None = None,
            regex: str | None = None, rebalance: int = -1,
            owned: list[dict[str, Any]] | None = None, instance: str | None = None,
            rack: str | None = None, assignor: str | None = None) -> dict[str, Any]:
    return {"group_id": group, "member_id": member_id, "member_epoch": epoch,
            "instance_id": instance, "rack_id": rack, "rebalance_timeout": rebalance,
            "subscribed_topic_names": topics, "subscribed_topic_regex": regex,
            "server_assignor": assignor, "topic_partitions": owned}


def hb(ctx: Ctx, v: int, group: str, member_id: str = "", epoch: int = 0,
       conn: Connection | None = None, **kw: Any) -> dict[str, Any]:
    resp = ctx.call(HEARTBEAT_68, v, hb_body(group, member_id, epoch, **kw), conn=conn)
    return resp if isinstance(resp, dict) else {}


def join(ctx: Ctx, v: int, group: str, member_id: str, topics: list[str] | None = None,
         conn: Connection | None = None, **kw: Any) -> dict[str, Any]:
    """A first heartbeat (epoch 0): at v0 the broker picks the member id."""
    return hb(ctx, v, group, member_id if v >= 1 else "", 0, conn=conn, topics=topics,
              rebalance=30000, owned=[], **kw)


def owned_of(resp: dict[str, Any]) -> list[dict[str, Any]]:
    """The assignment of a heartbeat answer, as the owned partitions of the next one."""
    assignment = resp.get("assignment") or {}
    return [{"topic_id": tp["topic_id"], "partitions": tp["partitions"]}
            for tp in assignment.get("topic_partitions", [])]


def ack(ctx: Ctx, v: int, group: str, resp: dict[str, Any], owned: list[dict[str, Any]],
        conn: Connection | None = None, **kw: Any) -> dict[str, Any]:
    return hb(ctx, v, group, resp.get("member_id") or "", resp.get("member_epoch", -1),
              conn=conn, owned=owned, **kw)


def describe(ctx: Ctx, v: int, groups: list[str], ops: bool = False) -> Any:
    return ctx.call(DESCRIBE_69, v, {"group_ids": groups, "include_authorized_operations": ops})


# ---------------------------------------------------------------- ConsumerGroupHeartbeat
def _heartbeat_version(v: int) -> None:
    def join_and_ack(ctx: Ctx) -> None:
        g, t = ctx.name("g"), ctx.name()
        topic(ctx, t, 3)
        j = join(ctx, v, g, M1, [t])
        a = ack(ctx, v, g, j, owned_of(j))  # acknowledges: no assignment in the answer
        ack(ctx, v, g, a, owned_of(j))
        describe(ctx, v, [g])

    def two_members_revocation(ctx: Ctx) -> None:
        g, t = ctx.name("g"), ctx.name()
        topic(ctx, t, 4)
        j1 = join(ctx, v, g, M1, [t])
        a1 = ack(ctx, v, g, j1, owned_of(j1))
        ctx.sleep(ASSIGNMENT_WAIT)
        other = ctx.new_conn()
        j2 = join(ctx, v, g, M2, [t], conn=other)  # partitions still owned by the first
        describe(ctx, v, [g])
        r1 = ack(ctx, v, g, a1, owned_of(j1))  # told to revoke half (assignment shrinks)
        kept = owned_of(r1) or owned_of(j1)
        r1b = ack(ctx, v, g, r1, kept)  # revoked: the new epoch
        ack(ctx, v, g, j2, [], conn=other)  # the released partitions arrive
        describe(ctx, v, [g])
        ack(ctx, v, g, r1b, kept)

    def second_member_within_assignment_interval(ctx: Ctx) -> None:
        g, t = ctx.name("g"), ctx.name()
        topic(ctx, t, 2)
        j1 = join(ctx, v, g, M1, [t])
        j2 = join(ctx, v, g, M2, [t], conn=ctx.new_conn())
        describe(ctx, v, [g])
        ctx.note("same epoch answered", j1.get("member_epoch") == j2.get("member_epoch"))

    def leave(ctx: Ctx) -> None:
        g, t = ctx.name("g"), ctx.name()
        topic(ctx, t, 2)
        j = join(ctx, v, g, M1, [t])
        ack(ctx, v, g, j, owned_of(j))
        hb(ctx, v, g, j.get("member_id") or "", -1)
        describe(ctx, v, [g])
        hb(ctx, v, g, j.get("member_id") or "", -1)  # gone: UNKNOWN_MEMBER_ID

    def static_leave_and_rejoin(ctx: Ctx) -> None:
        g, t = ctx.name("g"), ctx.name()
        topic(ctx, t, 2)
        j = join(ctx, v, g, M1, [t], instance="inst-1", rack="rack-a")
        ack(ctx, v, g, j, owned_of(j), instance="inst-1")
        hb(ctx, v, g, j.get("member_id") or "", -2, instance="inst-1")
        describe(ctx, v, [g])
        r = join(ctx, v, g, M3, [t], instance="inst-1")  # a new member id takes over
        ack(ctx, v, g, r, owned_of(r), instance="inst-1")
        hb(ctx, v, g, j.get("member_id") or "", 1, instance="inst-1")  # the old id: fenced
        describe(ctx, v, [g])

    def unreleased_instance_id(ctx: Ctx) -> None:
        g, t = ctx.name("g"), ctx.name()
        topic(ctx, t)
        join(ctx, v, g, M1, [t], instance="inst-1")
        join(ctx, v, g, M2, [t], instance="inst-1", conn=ctx.new_conn())
        hb(ctx, v, g, M2, 1, instance="inst-9")  # an unknown instance, not joining
        describe(ctx, v, [g])

    def fenced_member_epoch(ctx: Ctx) -> None:
        g, t = ctx.name("g"), ctx.name()
        topic(ctx, t, 2)
        j = join(ctx, v, g, M1, [t])
        m, e = j.get("member_id") or "", j.get("member_epoch", 0)
        hb(ctx, v, g, m, e + 5)
        hb(ctx, v, g, m, e, owned=owned_of(j))
        ctx.sleep(ASSIGNMENT_WAIT)
        j2 = join(ctx, v, g, M2, [t], conn=ctx.new_conn())
        r = ack(ctx, v, g, j, owned_of(j))
        ack(ctx, v, g, r, owned_of(r) or owned_of(j))
        hb(ctx, v, g, m, e, owned=owned_of(j))  # the previous epoch, owning too much
        ack(ctx, v, g, j2, [])

    def unknown_member(ctx: Ctx) -> None:
        g, t = ctx.name("g"), ctx.name()
        topic(ctx, t)
        join(ctx, v, g, M1, [t])
        hb(ctx, v, g, M2, 1)
        hb(ctx, v, g, M2, -1)
        hb(ctx, v, ctx.name("none"), M2, 1)
        hb(ctx, v, ctx.name("none"), M2, -1)

    def invalid_requests(ctx: Ctx) -> None:
        g, t = ctx.name("g"), ctx.name()
        topic(ctx, t)
        base = {"topics": [t], "rebalance": 30000, "owned": []}
        hb(ctx, v, g, "", 0, **base)  # at v1: MemberId can't be empty
        hb(ctx, v, g, "", 1, **base)
        hb(ctx, v, g, "", -1)
        hb(ctx, v, g, M1, 0, **{**base, "rebalance": -1})
        hb(ctx, v, g, M1, 0, **{**base, "owned": None})
        hb(ctx, v, g, M1, 0, **{**base, "owned": [
            {"topic_id": "5f8e3c1a-0000-4000-8000-00000000c0de", "partitions": [0]}]})
        hb(ctx, v, g, M1, 0, rebalance=30000, owned=[])  # neither names nor regex
        hb(ctx, v, g, M1, -3, **base)
        hb(ctx, v, g, M1, -2, **base)  # static leave without an instance id
        hb(ctx, v, g, M1, 0, **base, assignor="nope")
        hb(ctx, v, g, M1, 0, **base, assignor="range")
        hb(ctx, v, "", M1, 0, **base)
        hb(ctx, v, " ", M1, 0, **base)
        hb(ctx, v, g, M2, 0, **base, instance="")
        hb(ctx, v, g, M2, 0, **base, rack="")
        describe(ctx, v, [g])

    def missing_topic(ctx: Ctx) -> None:
        g, t = ctx.name("g"), ctx.name("later")
        j = join(ctx, v, g, M1, [t])
        describe(ctx, v, [g])
        topic(ctx, t, 2)
        ctx.sleep(ASSIGNMENT_WAIT)
        r = ack(ctx, v, g, j, [])
        describe(ctx, v, [g])
        ack(ctx, v, g, r, owned_of(r))

    def server_assignors(ctx: Ctx) -> None:
        g, t = ctx.name("g"), ctx.name()
        topic(ctx, t, 3)
        j1 = join(ctx, v, g, M1, [t], assignor="range")
        describe(ctx, v, [g])
        ctx.sleep(ASSIGNMENT_WAIT)
        j2 = join(ctx, v, g, M2, [t], assignor="uniform", conn=ctx.new_conn())
        describe(ctx, v, [g])
        ack(ctx, v, g, j1, owned_of(j1))
        ack(ctx, v, g, j2, [])

    cases = {
        "join_and_ack": join_and_ack, "two_members_revocation": two_members_revocation,
        "second_member_within_assignment_interval": second_member_within_assignment_interval,
        "leave": leave, "static_leave_and_rejoin": static_leave_and_rejoin,
        "unreleased_instance_id": unreleased_instance_id,
        "fenced_member_epoch": fenced_member_epoch, "unknown_member": unknown_member,
        "invalid_requests": invalid_requests, "missing_topic": missing_topic,
    }
    if v >= 1:
        # with client-chosen member ids only: which member gets which partitions
        # follows the member ids, random at v0
        cases["server_assignors"] = server_assignors
        def regex(ctx: Ctx) -> None:
            g, a, b = ctx.name("g"), ctx.name("ra"), ctx.name("rb")
            topic(ctx, a, 2)
            topic(ctx, b)
            topic_id(ctx, a)  # recorded: numbers the masked ids in creation order
            topic_id(ctx, b)
            pattern = ctx.name("r").replace(".", "\\.") + ".*"
            # (no describe here: both resolve in the background, it would race that)
            j = hb(ctx, v, g, M1, 0, regex=pattern, rebalance=30000, owned=[])
            ctx.sleep(REGEX_WAIT)
            r = ack(ctx, v, g, j, [])
            describe(ctx, v, [g])
            r2 = ack(ctx, v, g, r, owned_of(r))
            ctx.sleep(ASSIGNMENT_WAIT)
            ack(ctx, v, g, r2, owned_of(r), regex=ctx.name("nothing") + ".*")  # changed regex
            ctx.sleep(REGEX_WAIT)
            ack(ctx, v, g, r2, [])  # asks for the new regex's resolution
            ctx.sleep(REGEX_WAIT)  # which both run in the background: describe after it
            describe(ctx, v, [g])

        def invalid_regex(ctx: Ctx) -> None:
            g, t = ctx.name("g"), ctx.name()
            topic(ctx, t)
            hb(ctx, v, g, M1, 0, regex="[a-", rebalance=30000, owned=[])
            j = join(ctx, v, g, M2, [t])
            ack(ctx, v, g, j, owned_of(j), regex="*bad")  # on a later heartbeat
            describe(ctx, v, [g])

        def re2_only_syntax(ctx: Ctx) -> None:
            """Kafka compiles subscriptions with RE2/J: (?<name>...) is a named group there."""
            g = ctx.name("g")
            hb(ctx, v, g, M1, 0, regex="(?<name>x)", rebalance=30000, owned=[])
            hb(ctx, v, g, M2, 0, regex="(?=x)y", rebalance=30000, owned=[])  # lookahead: not RE2

        def names_and_regex(ctx: Ctx) -> None:
            g, t = ctx.name("g"), ctx.name("rx")
            topic(ctx, t)
            j = hb(ctx, v, g, M1, 0, topics=[t], regex=ctx.name("rx").replace(".", "\\."),
                   rebalance=30000, owned=[])
            ctx.sleep(REGEX_WAIT)
            ack(ctx, v, g, j, [])
            describe(ctx, v, [g])

        cases.update(regex=regex, invalid_regex=invalid_regex, re2_only_syntax=re2_only_syntax,
                     names_and_regex=names_and_regex)
    for what, fn in cases.items():
        add(f"consumer_group_heartbeat/v{v}/{what}", fn)


for _v in VERSIONS:
    _heartbeat_version(_v)


# ---------------------------------------------------------------- ConsumerGroupDescribe
def _describe_version(v: int) -> None:
    def consumer_group(ctx: Ctx) -> None:
        g, t = ctx.name("g"), ctx.name()
        topic(ctx, t, 2)
        j = join(ctx, 1, g, M1, [t], instance="inst-1", rack="rack-a")
        ack(ctx, 1, g, j, owned_of(j), instance="inst-1")
        describe(ctx, v, [g])
        describe(ctx, v, [g], ops=True)

    def unknown_group(ctx: Ctx) -> None:
        describe(ctx, v, [ctx.name("none")])
        describe(ctx, v, [""])

    def classic_group(ctx: Ctx) -> None:
        g = ctx.name("g")
        stable_group(ctx, g)
        describe(ctx, v, [g])

    def several(ctx: Ctx) -> None:
        g, c, t = ctx.name("g"), ctx.name("c"), ctx.name()
        topic(ctx, t)
        join(ctx, 1, g, M1, [t])
        stable_group(ctx, c)
        describe(ctx, v, [g, ctx.name("none"), c, g])
        describe(ctx, v, [])

    def empty_after_leave(ctx: Ctx) -> None:
        g, t = ctx.name("g"), ctx.name()
        topic(ctx, t)
        j = join(ctx, 1, g, M1, [t])
        hb(ctx, 1, g, M1, -1)
        describe(ctx, v, [g])
        ctx.note("joined epoch", j.get("member_epoch"))

    for what, fn in {"consumer_group": consumer_group, "unknown_group": unknown_group,
                     "classic_group_id": classic_group, "several_groups": several,
                     "empty_after_leave": empty_after_leave}.items():
        add(f"consumer_group_describe/v{v}/{what}", fn)


for _v in VERSIONS:
    _describe_version(_v)


# ---------------------------------------------------------------- offsets of a consumer group
def _offsets_with_member_epochs(ctx: Ctx) -> None:
    g, t = ctx.name("g"), ctx.name()
    topic(ctx, t, 2)
    j = join(ctx, 1, g, M1, [t])
    e = j.get("member_epoch", 0)
    ack(ctx, 1, g, j, owned_of(j))
    for member, epoch in ((M1, e), (M1, e - 1), (M1, e + 1), (M2, e), ("", -1), (M1, -1)):
        ctx.call(OFFSET_COMMIT, 9, commit_body(g, t, offset=3, gen=epoch, member=member))
    for member, epoch in ((M1, e), (M1, e - 1), (M1, e + 1), (M2, e), (None, -1), (M1, -1)):
        body = fetch_offsets_body(g, [(t, [0, 1])], True)
        body["groups"][0]["member_id"] = member
        body["groups"][0]["member_epoch"] = epoch
        ctx.call(OFFSET_FETCH, 9, body)


def _offsets_old_versions_on_consumer_group(ctx: Ctx) -> None:
    g, t = ctx.name("g"), ctx.name()
    topic(ctx, t)
    j = join(ctx, 1, g, M1, [t])
    e = j.get("member_epoch", 0)
    ctx.call(OFFSET_COMMIT, 8, commit_body(g, t, gen=e, member=M1))
    ctx.call(OFFSET_COMMIT, 8, commit_body(g, t, gen=-1, member=""))
    ctx.call(OFFSET_FETCH, 8, fetch_offsets_body(g, [(t, [0])], True))


def _offsets_after_leave(ctx: Ctx) -> None:
    g, t = ctx.name("g"), ctx.name()
    topic(ctx, t)
    j = join(ctx, 1, g, M1, [t])
    ctx.call(OFFSET_COMMIT, 9, commit_body(g, t, offset=4, gen=j.get("member_epoch", 0),
                                           member=M1))
    hb(ctx, 1, g, M1, -1)
    ctx.call(OFFSET_COMMIT, 9, commit_body(g, t, offset=5, gen=-1, member=""))
    ctx.call(OFFSET_FETCH, 9, fetch_offsets_body(g, [(t, [0])], True))


for _sid, _fn in (("offset_commit/v9/consumer_group_member_epochs", _offsets_with_member_epochs),
                  ("offset_commit/v8/consumer_group_old_version",
                   _offsets_old_versions_on_consumer_group),
                  ("offset_commit/v9/consumer_group_empty_after_leave", _offsets_after_leave)):
    add(_sid, _fn)
