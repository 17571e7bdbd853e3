"""ElectLeaders (43), AlterPartitionReassignments (45) and
ListPartitionReassignments (46) scenarios, every version, on the single node
both brokers are.

What a single node can show: it is every partition's only replica and its
preferred leader, so every election is ELECTION_NOT_NEEDED (preferred and
unclean alike), the only valid replica list is [1] (a no-op), every other
broker is unknown, and no reassignment is ever in progress. Elections that
move leadership, NOT_CONTROLLER, PREFERRED_LEADER_NOT_AVAILABLE and
replication factor changes need several brokers: tests/broker (a three-broker
store) and compat-tests/test_cluster_admin_tools.py (a real kwire cluster)
cover them.

An election over "all partitions" answers every topic of the broker, which on
these shared brokers includes every other scenario's topics: those scenarios
note the answer's top-level code, their own topic's entry and whether any
topic had a partition listed, instead of recording the whole answer.
"""

from __future__ import annotations

from typing import Any

from diff_runner import Ctx, add
from diff_sc_util import (
    ALTER_PARTITION_REASSIGNMENTS,
    ELECT_LEADERS,
    LIST_PARTITION_REASSIGNMENTS,
    METADATA,
    create_topic,
    metadata_body,
    versions,
)

PREFERRED, UNCLEAN = 0, 1


def _elect_body(topics: list[tuple[str, list[int]]] | None, election_type: int = PREFERRED,
                timeout: int = 10_000) -> dict[str, Any]:
    named = None if topics is None else [{"topic": t, "partitions": p} for t, p in topics]
    return {"election_type": election_type, "topic_partitions": named, "timeout": timeout}


def _elect_all(ctx: Ctx, v: int, mine: str, election_type: int = PREFERRED,
               timeout: int = 10_000) -> None:
    resp = ctx.call(ELECT_LEADERS, v, _elect_body(None, election_type, timeout), record=False)
    if not isinstance(resp, dict) or "replica_election_results" not in resp:
        ctx.note("elect all", resp)
        return
    results = resp["replica_election_results"]
    ctx.note("elect all", {
        "error_code": resp.get("error_code"),
        "mine": [r for r in results if r["topic"] == mine],
        "topics_listed_with_partitions": [r["topic"] for r in results if r["partition_result"]],
        "internal_topic_listed": any(r["topic"] == "__consumer_offsets" for r in results)})


def _elect_version(v: int) -> None:
    types = (PREFERRED, UNCLEAN) if v >= 1 else (PREFERRED,)

    def call(ctx: Ctx, topics: list[tuple[str, list[int]]] | None, election_type: int = PREFERRED,
             timeout: int = 10_000) -> Any:
        return ctx.call(ELECT_LEADERS, v, _elect_body(topics, election_type, timeout))

    def named(election_type: int) -> Any:
        def fn(ctx: Ctx) -> None:
            t = ctx.name()
            create_topic(ctx, t, partitions=2)
            call(ctx, [(t, [0, 1])], election_type)
            ctx.call(METADATA, 12, metadata_body([t]))  # no leader epoch moved
        return fn

    def all_partitions(election_type: int) -> Any:
        def fn(ctx: Ctx) -> None:
            t = ctx.name()
            create_topic(ctx, t, partitions=2)
            _elect_all(ctx, v, t, election_type)
        return fn

    def unknown(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t, partitions=2)
        call(ctx, [(ctx.name("missing"), [0, 0]), (t, [7, -1, 2, 1])])

    def duplicates(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t, partitions=2)
        call(ctx, [(t, [0, 0]), (t, [1]), (t, [])])

    def empty(ctx: Ctx) -> None:
        call(ctx, [])

    def timeout(value: int) -> Any:
        def fn(ctx: Ctx) -> None:
            t = ctx.name()
            create_topic(ctx, t)
            call(ctx, [(t, [0]), (ctx.name("missing"), [0])], timeout=value)
            call(ctx, [(t, [])], timeout=value)
            call(ctx, [], timeout=value)
            _elect_all(ctx, v, t, timeout=value)
        return fn

    cases: dict[str, Any] = {"unknown_topics_and_partitions": unknown,
                             "duplicates": duplicates, "empty_list": empty,
                             "timeout_0": timeout(0), "timeout_negative": timeout(-1)}
    for election_type in types:
        kind = "preferred" if election_type == PREFERRED else "unclean"
        cases[f"{kind}_named"] = named(election_type)
        cases[f"{kind}_all_partitions"] = all_partitions(election_type)
    if v >= 1:
        def bad_type(ctx: Ctx) -> None:
            t = ctx.name()
            create_topic(ctx, t)
            for election_type in (2, -1):
                call(ctx, [(t, [0])], election_type)
            call(ctx, None, 5)
            call(ctx, [(t, [0])], 5, timeout=0)  # the deadline is checked first
        cases["unknown_election_type"] = bad_type
    for what, fn in cases.items():
        add(f"elect_leaders/v{v}/{what}", fn)


for _v in versions(ELECT_LEADERS):
    _elect_version(_v)


# ---------------------------------------------------------------- reassignments
def _alter_body(topics: list[tuple[str, list[tuple[int, list[int] | None]]]],
                timeout: int = 10_000, allow_rf_change: bool = True) -> dict[str, Any]:
    return {"timeout": timeout, "allow_replication_factor_change": allow_rf_change, "topics": [
        {"name": name, "partitions": [{"partition_index": i, "replicas": r} for i, r in parts]}
        for name, parts in topics]}


def _list(ctx: Ctx, topics: list[tuple[str, list[int]]] | None, timeout: int = 10_000) -> Any:
    named = None if topics is None else [{"name": t, "partition_indexes": p} for t, p in topics]
    return ctx.call(LIST_PARTITION_REASSIGNMENTS, 0, {"timeout": timeout, "topics": named})


def _alter_version(v: int) -> None:
    def call(ctx: Ctx, topics: list[tuple[str, list[tuple[int, list[int] | None]]]],
             timeout: int = 10_000, allow_rf_change: bool = True) -> Any:
        return ctx.call(ALTER_PARTITION_REASSIGNMENTS, v,
                        _alter_body(topics, timeout, allow_rf_change))

    def same_replicas(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t, partitions=2)
        call(ctx, [(t, [(0, [1]), (1, [1])])])
        _list(ctx, [(t, [0, 1])])
        ctx.call(METADATA, 12, metadata_body([t]))  # nothing moved

    def cancel(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t)
        call(ctx, [(t, [(0, None)])])

    def invalid_lists(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t)
        call(ctx, [(t, [(0, [2]), (0, [1, 2]), (0, []), (0, [1, 1]), (0, [-1]),
                        (0, [3, 1, 3])])])
        ctx.call(METADATA, 12, metadata_body([t]))

    def unknown(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t, partitions=2)
        call(ctx, [(ctx.name("missing"), [(0, [1]), (0, None)]),
                   (t, [(9, [1]), (9, None), (-1, [1])]), ("", [(0, [1])])])

    def duplicates(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t, partitions=2)
        call(ctx, [(t, [(0, [1]), (0, [1]), (1, [5]), (1, [1])]), (t, [(1, [1])]), (t, [])])

    def no_topics(ctx: Ctx) -> None:
        call(ctx, [])
        call(ctx, [], timeout=0)

    def timeout(value: int) -> Any:
        def fn(ctx: Ctx) -> None:
            t = ctx.name()
            create_topic(ctx, t)
            call(ctx, [(t, [(0, [1]), (0, None)]), (ctx.name("missing"), [(0, [1])])],
                 timeout=value)
            call(ctx, [(t, [])], timeout=value)
        return fn

    def internal_topic(ctx: Ctx) -> None:
        call(ctx, [("__consumer_offsets", [(0, [1]), (0, None)])])

    cases: dict[str, Any] = {
        "same_replicas": same_replicas, "cancel_none_in_progress": cancel,
        "invalid_replica_lists": invalid_lists, "unknown_topics_and_partitions": unknown,
        "duplicates": duplicates, "no_topics": no_topics, "timeout_0": timeout(0),
        "timeout_negative": timeout(-1), "internal_topic": internal_topic}
    if v >= 1:
        def disallow_rf_change(ctx: Ctx) -> None:
            t = ctx.name()
            create_topic(ctx, t)
            call(ctx, [(t, [(0, [1])])], allow_rf_change=False)  # unchanged: allowed
            call(ctx, [(t, [(0, [1, 2])])], allow_rf_change=False)  # broker 2: unknown first
            call(ctx, [(t, [(0, [1])])], timeout=0, allow_rf_change=False)
        cases["disallow_replication_factor_change"] = disallow_rf_change
    for what, fn in cases.items():
        add(f"alter_partition_reassignments/v{v}/{what}", fn)


for _v in versions(ALTER_PARTITION_REASSIGNMENTS):
    _alter_version(_v)


def _list_version(v: int) -> None:
    def all_topics(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t)
        _list(ctx, None)

    def named(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t, partitions=2)
        _list(ctx, [(t, [0, 1, 9]), (ctx.name("missing"), [0]), (t, [])])
        _list(ctx, [])

    def timeouts(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t)
        _list(ctx, None, timeout=0)
        _list(ctx, [(t, [0])], timeout=-1)

    def after_a_reassignment(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t)
        ctx.call(ALTER_PARTITION_REASSIGNMENTS, 0, _alter_body([(t, [(0, [1])])]))
        _list(ctx, [(t, [0])])
        _list(ctx, None)

    for what, fn in {"all": all_topics, "named": named, "timeouts": timeouts,
                     "after_a_reassignment": after_a_reassignment}.items():
        add(f"list_partition_reassignments/v{v}/{what}", fn)


for _v in versions(LIST_PARTITION_REASSIGNMENTS):
    _list_version(_v)
