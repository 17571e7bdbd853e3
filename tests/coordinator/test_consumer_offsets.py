"""Offsets of consumer groups (KIP-848): commits and fetches checked by member epoch, as
Kafka 4.4's ConsumerGroup.validateOffsetCommit / validateOffsetFetch check them."""

from __future__ import annotations

from kwire.coordinator.group.responses import OffsetCommitResponse, OffsetFetchResponse
from kwire.errors import ErrorCode

from ._consumer_harness import FOO, HEARTBEAT_INTERVAL, ConsumerHarness


def _stable_member(h: ConsumerHarness) -> tuple[str, int]:
    r = h.join("m1")
    owned = {t: list(p) for t, p in (r.assignment or {}).items()}
    h.advance(HEARTBEAT_INTERVAL)
    r = h.beat("m1", r.member_epoch, owned)
    return "m1", r.member_epoch


def _commit_errors(h: ConsumerHarness, member: str, epoch: int, *, api_version: int = 9,
                   partitions: tuple[int, ...] = (0,)) -> list[int]:
    token = h.commit(member, epoch, [("foo", p, 10, -1, None) for p in partitions],
                     api_version=api_version)
    response = h.resp(token)
    assert isinstance(response, OffsetCommitResponse)
    return [p.error_code for p in response.partitions]


def test_commit_at_the_member_epoch_is_taken() -> None:
    h = ConsumerHarness(FOO)
    member, epoch = _stable_member(h)
    assert _commit_errors(h, member, epoch) == [ErrorCode.NONE]


def test_commit_errors_by_member_and_epoch() -> None:
    h = ConsumerHarness(FOO)
    member, epoch = _stable_member(h)
    assert _commit_errors(h, member, epoch + 1) == [ErrorCode.STALE_MEMBER_EPOCH]
    assert _commit_errors(h, "nobody", epoch) == [ErrorCode.UNKNOWN_MEMBER_ID]
    # A consumer-protocol member must use OffsetCommit v9+.
    assert _commit_errors(h, member, epoch, api_version=8) == [ErrorCode.UNSUPPORTED_VERSION]


def test_older_epoch_commits_only_partitions_held_since_then() -> None:
    """The member got every partition at its current epoch: a commit with an older
    epoch (-1 included) fails for each of them (Kafka's assignment-epoch validator)."""
    h = ConsumerHarness(FOO)
    member, epoch = _stable_member(h)
    assert _commit_errors(h, member, epoch - 1, partitions=(0, 1)) == [
        ErrorCode.STALE_MEMBER_EPOCH, ErrorCode.STALE_MEMBER_EPOCH]
    assert _commit_errors(h, member, -1) == [ErrorCode.STALE_MEMBER_EPOCH]


def test_fetch_names_the_member_at_its_epoch() -> None:
    h = ConsumerHarness(FOO)
    member, epoch = _stable_member(h)

    def fetch(member_id: str | None, member_epoch: int) -> int:
        token = h.call("fetch_offsets", group_id="g", partitions=[("foo", 0)],
                       member_id=member_id, member_epoch=member_epoch)
        response = h.resp(token)
        assert isinstance(response, OffsetFetchResponse)
        return response.error_code

    assert fetch(None, -1) == ErrorCode.NONE  # an admin fetch names no member
    assert fetch(member, epoch) == ErrorCode.NONE
    assert fetch(member, epoch - 1) == ErrorCode.STALE_MEMBER_EPOCH
    assert fetch("nobody", epoch) == ErrorCode.UNKNOWN_MEMBER_ID


def test_transactional_commit_of_a_member_is_checked_by_epoch() -> None:
    h = ConsumerHarness(FOO)
    member, epoch = _stable_member(h)

    def txn_commit(member_id: str, member_epoch: int) -> int:
        token = h.call("commit_txn_offsets", group_id="g", producer_id=7, producer_epoch=0,
                       generation_id=member_epoch, member_id=member_id,
                       offsets=[("foo", 0, 10, -1, None)])
        response = h.resp(token)
        assert isinstance(response, OffsetCommitResponse)
        return response.partitions[0].error_code

    assert txn_commit("", -1) == ErrorCode.NONE  # a producer outside the group
    assert txn_commit(member, epoch) == ErrorCode.NONE
    assert txn_commit(member, epoch + 1) == ErrorCode.STALE_MEMBER_EPOCH
    assert txn_commit(member, epoch - 1) == ErrorCode.STALE_MEMBER_EPOCH
    assert txn_commit("nobody", epoch) == ErrorCode.UNKNOWN_MEMBER_ID
