"""OffsetCommit, OffsetFetch, OffsetDelete, retention and DeleteGroups."""

from __future__ import annotations

from kwire.coordinator.group.records import (
    GroupMetadataKey,
    OffsetCommitKey,
    OffsetCommitValue,
)
from kwire.coordinator.group.responses import (
    DeletableGroupResult,
    DeleteGroupsResponse,
    OffsetCommitPartitionResponse,
    OffsetCommitResponse,
    OffsetDeletePartitionResponse,
    OffsetDeleteResponse,
    OffsetFetchPartitionResponse,
    OffsetFetchResponse,
)
from kwire.coordinator.group.state import GroupState
from kwire.coordinator.group.subscription import encode_subscription
from kwire.errors import ErrorCode

from ._harness import DELAY, SESSION, Harness

DAY = 86_400_000


def commit_errors(h: Harness, token: object) -> list[int]:
    response = h.resp(token)  # type: ignore[arg-type]
    assert isinstance(response, OffsetCommitResponse)
    return [p.error_code for p in response.partitions]


def fetch(
    h: Harness, partitions: list[tuple[str, int]] | None, group_id: str = "g"
) -> OffsetFetchResponse:
    response = h.resp(h.call("fetch_offsets", group_id=group_id, partitions=partitions))
    assert isinstance(response, OffsetFetchResponse)
    return response


def delete_offsets(
    h: Harness, partitions: list[tuple[str, int]], group_id: str = "g"
) -> OffsetDeleteResponse:
    response = h.resp(h.call("delete_offsets", group_id=group_id, partitions=partitions))
    assert isinstance(response, OffsetDeleteResponse)
    return response


def test_member_commit_and_fetch() -> None:
    h = Harness()
    (a, b), gen = h.stable_group(2)
    records_before = len(h.records)
    t = h.commit(a, gen, [("t", 0, 42, 7, "meta"), ("t", 1, 43, -1, None)])
    assert h.resp(t) == OffsetCommitResponse(
        (
            OffsetCommitPartitionResponse("t", 0, ErrorCode.NONE),
            OffsetCommitPartitionResponse("t", 1, ErrorCode.NONE),
        )
    )
    assert h.decoded_records()[records_before:] == [
        (OffsetCommitKey("g", "t", 0), OffsetCommitValue(42, 7, "meta", h.now)),
        (OffsetCommitKey("g", "t", 1), OffsetCommitValue(43, -1, "", h.now)),
    ]
    assert (h.records[records_before][1] or b"")[:2] == b"\x00\x03"  # OffsetCommitValue v3
    assert fetch(h, [("t", 0), ("t", 9), ("u", 0)]) == OffsetFetchResponse(
        "g",
        ErrorCode.NONE,
        (
            OffsetFetchPartitionResponse("t", 0, 42, 7, "meta"),
            OffsetFetchPartitionResponse("t", 9),
            OffsetFetchPartitionResponse("u", 0, -1, -1, ""),
        ),
    )
    every = fetch(h, None).partitions
    assert [(p.topic, p.partition_index, p.committed_offset) for p in every] == [
        ("t", 0, 42),
        ("t", 1, 43),
    ]


def test_fetch_unknown_group_and_while_loading() -> None:
    h = Harness()
    assert fetch(h, [("t", 0)], "nope").partitions == (OffsetFetchPartitionResponse("t", 0),)
    assert fetch(h, None, "nope").partitions == ()
    loading = Harness(load=False)
    assert fetch(loading, None).error_code == ErrorCode.COORDINATOR_LOAD_IN_PROGRESS


def test_commit_keeps_session_alive() -> None:
    h = Harness()
    (a,), gen = h.stable_group(1)
    h.advance(SESSION - 1)
    h.commit(a, gen, [("t", 0, 1, -1, None)])
    assert h.timers[("heartbeat", "g", a)] == h.now + SESSION


def test_simple_commit_creates_an_empty_group_without_protocol() -> None:
    h = Harness()
    t = h.commit("", -1, [("t", 0, 5, -1, None)], group_id="simple")
    assert commit_errors(h, t) == [ErrorCode.NONE]
    group = h.group("simple")
    assert group.state is GroupState.EMPTY and group.protocol_type is None
    # No GroupMetadata record for a simple group: only the offset.
    assert [type(k) for k, _ in h.decoded_records()] == [OffsetCommitKey]
    assert fetch(h, None, "simple").partitions[0].committed_offset == 5
    # Simple commits keep working while the group stays Empty.
    assert commit_errors(h, h.commit("", -1, [("t", 0, 6, -1, None)], group_id="simple")) == [0]


def test_simple_commit_rejected_when_group_has_members() -> None:
    h = Harness()
    h.stable_group(1)
    assert commit_errors(h, h.commit("", -1, [("t", 0, 5, -1, None)])) == [
        ErrorCode.UNKNOWN_MEMBER_ID
    ]


def test_commit_errors() -> None:
    h = Harness()
    (a,), gen = h.stable_group(1, instances=["i-a"])
    one = [("t", 0, 1, -1, None)]
    assert commit_errors(h, h.commit(a, gen + 1, one, instance="i-a")) == [
        ErrorCode.ILLEGAL_GENERATION
    ]
    assert commit_errors(h, h.commit("ghost", gen, one)) == [ErrorCode.UNKNOWN_MEMBER_ID]
    assert commit_errors(h, h.commit("ghost", gen, one, instance="i-a")) == [
        ErrorCode.FENCED_INSTANCE_ID
    ]
    # A member id on an Empty group.
    h.commit("", -1, one, group_id="simple")
    assert commit_errors(h, h.commit("m", 0, one, group_id="simple")) == [
        ErrorCode.UNKNOWN_MEMBER_ID
    ]
    # Generation >= 0 on an unknown group: version dependent.
    assert commit_errors(h, h.commit("m", 1, one, group_id="nope")) == [
        ErrorCode.ILLEGAL_GENERATION
    ]
    assert commit_errors(h, h.commit("m", 1, one, group_id="nope", api_version=9)) == [
        ErrorCode.GROUP_ID_NOT_FOUND
    ]
    assert h.coord.group("nope") is None
    loading = Harness(load=False)
    assert commit_errors(loading, loading.commit("", -1, one)) == [
        ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
    ]


def test_commit_during_rebalance_phases() -> None:
    h = Harness()
    ta, tb = h.join(client_id="a"), h.join(client_id="b")
    h.advance(2 * DELAY)
    a, b = h.join_ok(ta).member_id, h.join_ok(tb).member_id
    gen = h.join_ok(ta).generation_id
    one = [("t", 0, 1, -1, None)]
    assert commit_errors(h, h.commit(a, gen, one)) == [ErrorCode.REBALANCE_IN_PROGRESS]
    h.sync(b, gen)
    h.sync(a, gen, {})
    h.join(a)  # PreparingRebalance: members of the previous generation may still commit
    assert commit_errors(h, h.commit(b, gen, one)) == [ErrorCode.NONE]


def test_offset_metadata_too_large_per_partition() -> None:
    h = Harness(offset_metadata_max_bytes=4)
    t = h.commit("", -1, [("t", 0, 1, -1, "1234"), ("t", 1, 1, -1, "12345")])
    assert commit_errors(h, t) == [ErrorCode.NONE, ErrorCode.OFFSET_METADATA_TOO_LARGE]
    assert [p.committed_offset for p in fetch(h, [("t", 0), ("t", 1)]).partitions] == [1, -1]


def test_default_offset_metadata_limit_is_4096() -> None:
    h = Harness()
    t = h.commit("", -1, [("t", 0, 1, -1, "x" * 4096), ("t", 1, 1, -1, "x" * 4097)])
    assert commit_errors(h, t) == [ErrorCode.NONE, ErrorCode.OFFSET_METADATA_TOO_LARGE]


# -- OffsetDelete ---------------------------------------------------------------------


def test_delete_offsets() -> None:
    h = Harness()
    (a,), gen = h.stable_group(1)  # subscribed to topic "t"
    h.commit(a, gen, [("t", 0, 1, -1, None), ("u", 0, 2, -1, None)])
    records_before = len(h.records)
    assert delete_offsets(h, [("t", 0), ("u", 0), ("u", 1)]) == OffsetDeleteResponse(
        ErrorCode.NONE,
        (
            OffsetDeletePartitionResponse("t", 0, ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC),
            OffsetDeletePartitionResponse("u", 0, ErrorCode.NONE),
            OffsetDeletePartitionResponse("u", 1, ErrorCode.NONE),
        ),
    )
    # One tombstone: u-1 had no offset.
    assert h.decoded_records()[records_before:] == [(OffsetCommitKey("g", "u", 0), None)]
    assert [p.topic for p in fetch(h, None).partitions] == ["t"]


def test_delete_offsets_errors() -> None:
    h = Harness()
    assert delete_offsets(h, [("t", 0)], "nope") == OffsetDeleteResponse(
        ErrorCode.GROUP_ID_NOT_FOUND
    )
    assert delete_offsets(h, [("t", 0)], "") == OffsetDeleteResponse(ErrorCode.INVALID_GROUP_ID)
    t = h.join(protocol_type="connect", group_id="c")
    h.advance(DELAY)
    h.sync(h.join_ok(t).member_id, 1, {}, group_id="c")
    assert delete_offsets(h, [("t", 0)], "c") == OffsetDeleteResponse(ErrorCode.NON_EMPTY_GROUP)


def test_delete_offsets_of_empty_consumer_group() -> None:
    h = Harness()
    (a,), gen = h.stable_group(1)
    h.commit(a, gen, [("t", 0, 1, -1, None)])
    h.leave((a, None))
    assert delete_offsets(h, [("t", 0)]) == OffsetDeleteResponse(
        ErrorCode.NONE, (OffsetDeletePartitionResponse("t", 0, ErrorCode.NONE),)
    )
    assert fetch(h, None).partitions == ()


def test_unparseable_consumer_metadata_counts_as_subscribed() -> None:
    h = Harness()
    t = h.join(protocols=[("range", b"\x00")])
    h.advance(DELAY)
    h.sync(h.join_ok(t).member_id, 1, {})
    assert h.group().subscribed is None
    response = delete_offsets(h, [("anything", 0)])
    assert response.partitions[0].error_code == ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC


# -- retention --------------------------------------------------------------------------


def test_empty_group_offsets_expire_after_retention_since_empty() -> None:
    h = Harness(offsets_retention_ms=DAY)
    (a,), gen = h.stable_group(1)
    h.commit(a, gen, [("t", 0, 1, -1, None)])
    h.advance(1_000)
    h.leave((a, None))  # Empty now
    became_empty = h.now
    assert h.apply(h.coord.expire_offsets(became_empty + DAY - 1)).records == []
    records = h.apply(h.coord.expire_offsets(became_empty + DAY)).records
    assert len(records) == 2  # offset tombstone, then the group's
    assert h.decoded_records()[-2:] == [
        (OffsetCommitKey("g", "t", 0), None),
        (GroupMetadataKey("g"), None),
    ]
    assert h.coord.group("g") is None


def test_simple_group_offsets_expire_by_commit_timestamp() -> None:
    h = Harness(offsets_retention_ms=DAY)
    h.commit("", -1, [("t", 0, 1, -1, None)])
    h.advance(1_000)
    h.commit("", -1, [("t", 1, 1, -1, None)])
    h.apply(h.coord.expire_offsets(h.now - 1_000 + DAY))
    assert [p.partition_index for p in fetch(h, None).partitions] == [1]
    h.apply(h.coord.expire_offsets(h.now + DAY))
    assert h.coord.group("g") is None


def test_stable_consumer_group_expires_only_unsubscribed_topics() -> None:
    h = Harness(offsets_retention_ms=DAY)
    (a,), gen = h.stable_group(1)
    h.commit(a, gen, [("t", 0, 1, -1, None), ("gone", 0, 1, -1, None)])
    h.apply(h.coord.expire_offsets(h.now + DAY))
    assert [p.topic for p in fetch(h, None).partitions] == ["t"]
    assert h.group().state is GroupState.STABLE


def test_non_consumer_group_with_members_never_expires() -> None:
    h = Harness(offsets_retention_ms=DAY)
    t = h.join(protocol_type="connect", protocols=[("v1", b"")])
    h.advance(DELAY)
    m = h.join_ok(t).member_id
    h.sync(m, 1, {})
    h.commit(m, 1, [("t", 0, 1, -1, None)])
    assert h.apply(h.coord.expire_offsets(h.now + 10 * DAY)).records == []


def test_explicit_retention_writes_v1_and_expires_at_its_timestamp() -> None:
    h = Harness(offsets_retention_ms=DAY)
    h.commit("", -1, [("t", 0, 1, -1, None)], retention=5_000)
    key, value = h.records[-1]
    assert value is not None and value[:2] == b"\x00\x01"
    assert h.decoded_records()[-1][1] == OffsetCommitValue(1, -1, "", h.now, h.now + 5_000)
    h.apply(h.coord.expire_offsets(h.now + 4_999))
    assert fetch(h, None).partitions
    h.apply(h.coord.expire_offsets(h.now + 5_000))
    assert h.coord.group("g") is None


def test_expiry_runs_on_its_timer() -> None:
    h = Harness(offsets_retention_ms=1_000, offsets_retention_check_interval_ms=60_000)
    assert h.timers[("expire_offsets",)] == h.now + 60_000
    h.commit("", -1, [("t", 0, 1, -1, None)])
    h.advance(60_000)
    assert h.coord.group("g") is None
    assert h.timers[("expire_offsets",)] == h.now + 60_000


# -- DeleteGroups -----------------------------------------------------------------------


def test_delete_groups() -> None:
    h = Harness()
    h.stable_group(1, group_id="busy")
    h.commit("", -1, [("t", 0, 1, -1, None), ("t", 1, 2, -1, None)], group_id="idle")
    records_before = len(h.records)
    t = h.call("delete_groups", group_ids=["busy", "idle", "nope"])
    assert h.resp(t) == DeleteGroupsResponse(
        (
            DeletableGroupResult("busy", ErrorCode.NON_EMPTY_GROUP),
            DeletableGroupResult("idle", ErrorCode.NONE),
            DeletableGroupResult("nope", ErrorCode.GROUP_ID_NOT_FOUND),
        )
    )
    assert h.decoded_records()[records_before:] == [
        (OffsetCommitKey("idle", "t", 0), None),
        (OffsetCommitKey("idle", "t", 1), None),
        (GroupMetadataKey("idle"), None),
    ]
    assert h.coord.group("idle") is None and fetch(h, None, "idle").partitions == ()


def test_delete_group_cancels_pending_member_timers() -> None:
    h = Harness()
    h.join(known=True)
    assert ("pending", "g", "c-u1") in h.timers
    h.call("delete_groups", group_ids=["g"])
    assert ("pending", "g", "c-u1") not in h.timers


def test_subscription_encoding_helper_round_trips() -> None:
    from kwire.coordinator.group.subscription import parse_subscription_topics

    assert parse_subscription_topics(encode_subscription(["a", "b"], version=3)) == ["a", "b"]
    assert parse_subscription_topics(b"\x00\x00\x00\x00\x00\x01\x00\x05ab") is None
    assert parse_subscription_topics(b"\xff\xff") is None
