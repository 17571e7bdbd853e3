"""DescribeGroups and ListGroups."""

from __future__ import annotations

from kwire.coordinator.group.responses import (
    DescribedGroup,
    DescribedGroupMember,
    DescribeGroupsResponse,
    ListedGroup,
    ListGroupsResponse,
)
from kwire.errors import ErrorCode

from ._harness import Harness, sub


def describe(h: Harness, *group_ids: str, api_version: int = 5) -> tuple[DescribedGroup, ...]:
    response = h.resp(h.call("describe_groups", group_ids=list(group_ids), api_version=api_version))
    assert isinstance(response, DescribeGroupsResponse)
    return response.groups


def listed(h: Harness, states: list[str] = [], types: list[str] = []) -> ListGroupsResponse:  # noqa: B006
    response = h.resp(h.call("list_groups", states_filter=states, types_filter=types))
    assert isinstance(response, ListGroupsResponse)
    return response


def test_describe_stable_group_carries_metadata_and_assignment() -> None:
    h = Harness()
    (a, b), _ = h.stable_group(2, instances=["i-a", None])
    (group,) = describe(h, "g")
    assert group == DescribedGroup(
        ErrorCode.NONE,
        "g",
        "Stable",
        "consumer",
        "range",
        (
            DescribedGroupMember(a, "i-a", "c0", "/127.0.0.1", sub("t"), f"assign-{a}".encode()),
            DescribedGroupMember(b, None, "c1", "/127.0.0.1", sub("t"), f"assign-{b}".encode()),
        ),
    )


def test_describe_rebalancing_group_has_no_metadata() -> None:
    h = Harness()
    (a, b), _ = h.stable_group(2)
    h.join(a)
    (group,) = describe(h, "g")
    assert (group.group_state, group.protocol_data) == ("PreparingRebalance", "")
    assert group.members[0].member_metadata == b""
    assert group.members[0].member_assignment == f"assign-{a}".encode()
    h.join(b)
    (group,) = describe(h, "g")
    assert group.group_state == "CompletingRebalance" and group.members[1].member_metadata == b""


def test_describe_missing_group_by_version() -> None:
    h = Harness()
    assert describe(h, "nope") == (DescribedGroup(ErrorCode.NONE, "nope", "Dead"),)
    (group,) = describe(h, "nope", api_version=6)
    assert (group.error_code, group.group_state) == (ErrorCode.GROUP_ID_NOT_FOUND, "Dead")
    assert group.error_message is not None


def test_describe_empty_and_loading() -> None:
    h = Harness()
    h.commit("", -1, [("t", 0, 1, -1, None)], group_id="simple")
    assert describe(h, "simple") == (DescribedGroup(ErrorCode.NONE, "simple", "Empty"),)
    loading = Harness(load=False)
    (group,) = describe(loading, "g")
    assert group.error_code == ErrorCode.COORDINATOR_LOAD_IN_PROGRESS


def test_list_groups_with_filters() -> None:
    h = Harness()
    h.stable_group(1, group_id="stable")
    h.commit("", -1, [("t", 0, 1, -1, None)], group_id="simple")
    h.join(group_id="joining")
    everything = listed(h)
    assert everything == ListGroupsResponse(
        ErrorCode.NONE,
        (
            ListedGroup("stable", "consumer", "Stable", "classic"),
            ListedGroup("simple", "", "Empty", "classic"),
            ListedGroup("joining", "consumer", "PreparingRebalance", "classic"),
        ),
    )
    assert [g.group_id for g in listed(h, states=["stable", " EMPTY "]).groups] == [
        "stable",
        "simple",
    ]
    assert len(listed(h, types=["Classic"]).groups) == 3
    assert listed(h, types=["consumer"]).groups == ()
    assert listed(Harness(load=False)).error_code == ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
