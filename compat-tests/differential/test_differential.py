"""Differential tests: every scenario runs against kwire and a real Apache Kafka
4.4.0; masked answers must be equal unless diff_allowlist explains the
difference. One test per scenario, so a failure names the scenario and lists
each differing field with both values.

The last tests check the harness itself: enough scenarios, every advertised
API version covered, the version table equal to Kafka's live ApiVersions, and
no stale allowlist entry (an entry nothing matches any more fails: the fix
landed, delete the entry).
"""

from __future__ import annotations

import json
from typing import Any

import diff_sc_admin  # noqa: F401 - registers scenarios
import diff_sc_basic  # noqa: F401
import diff_sc_consumer_groups  # noqa: F401
import diff_sc_describe_topic_partitions  # noqa: F401
import diff_sc_fetch  # noqa: F401
import diff_sc_groups  # noqa: F401
import diff_sc_leaders  # noqa: F401
import diff_sc_produce  # noqa: F401
import diff_sc_transactions  # noqa: F401
import pytest
from diff_allowlist import ACCEPTED, PENDING, entry, unexplained
from diff_runner import REGISTRY, Brokers, Ctx, Result, Scenario, run_both
from diff_sc_util import (
    API_VERSIONS,
    FETCH,
    KAFKA_VERSIONS,
    LIST_OFFSETS,
    OFFSET_COMMIT,
    create_topic,
    fetch_body,
    list_offsets_body,
    produce_n,
    versions,
)
from diff_wire import Connection
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

MIN_SCENARIOS = 300
RESULTS: dict[str, Result] = {}


def result_for(sid: str, brokers: Brokers) -> Result:
    if sid not in RESULTS:
        RESULTS[sid] = run_both(REGISTRY[sid], brokers)
    return RESULTS[sid]


def _explain(res: Result, diffs: list[Any]) -> str:
    lines = [f"{len(diffs)} unexplained difference(s) in {res.scenario_id}:"]
    lines += [f"  {d}" for d in diffs[:40]]
    lines.append("kwire transcript: " + json.dumps(res.kwire, default=str)[:4000])
    lines.append("kafka transcript: " + json.dumps(res.kafka, default=str)[:4000])
    return "\n".join(lines)


@pytest.mark.parametrize("sid", sorted(REGISTRY))
def test_scenario(sid: str, brokers: Brokers) -> None:
    res = result_for(sid, brokers)
    diffs = unexplained(sid, res.differences)
    assert not diffs, _explain(res, diffs)


# ------------------------------------------------------------ generated variants
# Hypothesis draws request variants; derandomize makes every run draw the same
# ones, and each example goes to both brokers, so both get identical inputs.
HYPOTHESIS = settings(derandomize=True, database=None, max_examples=15, deadline=None,
                      phases=[Phase.explicit, Phase.generate],  # no shrinking: bounded time
                      suppress_health_check=list(HealthCheck))


def _check_generated(sid: str, fn: Any, brokers: Brokers) -> None:
    global GENERATED_RAN
    GENERATED_RAN = True
    res = run_both(Scenario(sid, fn), brokers)
    diffs = unexplained(sid, res.differences, GENERATED_USED)
    assert not diffs, _explain(res, diffs)


GENERATED_USED: set[int] = set()
GENERATED_RAN = False


@HYPOTHESIS
@given(partition=st.integers(-2, 4), ts=st.sampled_from([-5, -4, -3, -2, -1, 0])
       | st.integers(1_699_999_990_000, 1_700_000_010_000), version=st.sampled_from(
           list(versions(LIST_OFFSETS))))
def test_generated_list_offsets(brokers: Brokers, partition: int, ts: int, version: int) -> None:
    def fn(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t, partitions=2)
        produce_n(ctx, t, 3)
        ctx.call(LIST_OFFSETS, version, list_offsets_body(t, partition, ts))
    _check_generated(f"generated/list_offsets/v{version}/p{partition}/ts{ts}", fn, brokers)


@HYPOTHESIS
@given(partition=st.integers(-1, 3), offset=st.integers(-3, 8), version=st.sampled_from(
    [4, 7, 11, 12]), max_bytes=st.integers(0, 300))
def test_generated_fetch(brokers: Brokers, partition: int, offset: int, version: int,
                         max_bytes: int) -> None:
    def fn(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t, partitions=2)
        produce_n(ctx, t, 4)
        ctx.call(FETCH, version, fetch_body(t, None, [
            {"partition": partition, "fetch_offset": offset, "partition_max_bytes": max_bytes}]))
    _check_generated(f"generated/fetch/v{version}/p{partition}/o{offset}", fn, brokers)


@HYPOTHESIS
@given(partition=st.integers(-1, 3), offset=st.integers(-2, 10), generation=st.integers(-2, 2),
       version=st.sampled_from([2, 5, 8, 9]))
def test_generated_offset_commit(brokers: Brokers, partition: int, offset: int, generation: int,
                                 version: int) -> None:
    def fn(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t, partitions=2)
        ctx.call(OFFSET_COMMIT, version, {
            "group_id": ctx.name("g"), "generation_id_or_member_epoch": generation,
            "member_id": "", "retention_time": -1, "topics": [{"name": t, "partitions": [
                {"partition_index": partition, "committed_offset": offset,
                 "committed_leader_epoch": -1, "committed_metadata": "m"}]}]})
    _check_generated(f"generated/offset_commit/v{version}/p{partition}/g{generation}", fn, brokers)


# ------------------------------------------------------------ the harness itself
def test_version_table_is_kafkas(brokers: Brokers) -> None:
    """KAFKA_VERSIONS (what scenarios cover) equals live Kafka 4.4.0's ranges."""
    resp = Connection(*brokers.kafka).call(API_VERSIONS, 3, {
        "client_software_name": "kwire-diff", "client_software_version": "1"})
    live = {a["api_key"]: (a["min_version"], a["max_version"]) for a in resp["api_keys"]}
    assert {k: live.get(k) for k in KAFKA_VERSIONS} == KAFKA_VERSIONS


def test_every_version_has_a_scenario() -> None:
    covered = {(sid.split("/")[0], sid.split("/")[1]) for sid in REGISTRY}
    names = {k: v for k, v in _API_NAMES.items()}
    missing = [f"{names[k]}/v{v}" for k in KAFKA_VERSIONS for v in versions(k)
               if (names[k], f"v{v}") not in covered]
    assert not missing, f"API versions without a scenario: {missing}"


_API_NAMES = {0: "produce", 1: "fetch", 2: "list_offsets", 3: "metadata", 8: "offset_commit",
              9: "offset_fetch", 10: "find_coordinator", 11: "join_group", 12: "heartbeat",
              13: "leave_group", 14: "sync_group", 15: "describe_groups", 16: "list_groups",
              18: "api_versions", 19: "create_topics", 20: "delete_topics",
              21: "delete_records", 22: "init_producer_id", 23: "offset_for_leader_epoch",
              32: "describe_configs", 33: "alter_configs", 35: "describe_log_dirs",
              37: "create_partitions", 42: "delete_groups", 43: "elect_leaders",
              44: "incremental_alter_configs", 45: "alter_partition_reassignments",
              46: "list_partition_reassignments", 47: "offset_delete", 60: "describe_cluster",
              75: "describe_topic_partitions"}


def test_counts_and_allowlist_entries_all_used(brokers: Brokers) -> None:
    """≥ 300 scenarios ran on both brokers; every allowlist entry explained at
    least one difference (a stale entry means its fix landed: delete it)."""
    assert len(REGISTRY) >= MIN_SCENARIOS, f"only {len(REGISTRY)} scenarios"
    used: set[int] = set(GENERATED_USED)
    for sid in sorted(REGISTRY):
        unexplained(sid, result_for(sid, brokers).differences, used)
    assert len(RESULTS) == len(REGISTRY)
    # Entries for generated variants count only when those tests ran in this session.
    stale = [entry(i) for i in range(len(ACCEPTED) + len(PENDING)) if i not in used
             and (GENERATED_RAN or not entry(i).scenario.startswith("generated/"))]
    assert not stale, "allowlist entries no difference matched any more:\n" + "\n".join(
        f"  {e.scenario} {e.path}: {e.why[:120]}" for e in stale)
