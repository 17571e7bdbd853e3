"""Fetch's per-partition errors in Kafka's shapes (each checked against Kafka 4.4.0
by the differential harness too): a read's error carries offsets -1 and a null
aborted list, a partition the broker cannot serve at all an empty aborted list,
and a last fetched epoch (KIP-320, v12+) is checked before the read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from _harness import InProcessBroker  # type: ignore[import-not-found]
from test_fetch_limits import _fetch_body, _topic_with_batches  # type: ignore[import-not-found]

from kwire.errors import ErrorCode


def _partition(r: Any) -> Any:
    return r.responses[0].partitions[0]


def _at(body: dict[str, Any], offset: int, last_fetched_epoch: int = -1) -> dict[str, Any]:
    p = body["topics"][0]["partitions"][0]
    p["fetch_offset"] = offset
    p["last_fetched_epoch"] = last_fetched_epoch
    return body


async def test_offset_out_of_range_carries_no_offsets(tmp_path: Path) -> None:
    kb = InProcessBroker(tmp_path)
    await _topic_with_batches(kb, "t", 3)
    p = _partition(await kb.call(1, 12, _at(_fetch_body("t", 1 << 20), 99)))
    assert p.error_code == ErrorCode.OFFSET_OUT_OF_RANGE
    assert (p.high_watermark, p.last_stable_offset, p.log_start_offset) == (-1, -1, -1)
    assert p.aborted_transactions is None


async def test_unknown_partition_has_an_empty_aborted_list(tmp_path: Path) -> None:
    kb = InProcessBroker(tmp_path)
    await _topic_with_batches(kb, "t", 1)
    body = _fetch_body("t", 1 << 20)
    body["topics"][0]["partitions"][0]["partition"] = 5
    p = _partition(await kb.call(1, 12, body))
    assert p.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert p.aborted_transactions == ()
    assert p.high_watermark == -1


async def test_last_fetched_epoch_newer_than_the_leader_is_out_of_range(tmp_path: Path) -> None:
    kb = InProcessBroker(tmp_path)
    await _topic_with_batches(kb, "t", 3)
    p = _partition(await kb.call(1, 12, _at(_fetch_body("t", 1 << 20), 2, last_fetched_epoch=3)))
    assert p.error_code == ErrorCode.OFFSET_OUT_OF_RANGE
    assert len(p.records or b"") == 0


async def test_current_epoch_fetch_reads_normally(tmp_path: Path) -> None:
    kb = InProcessBroker(tmp_path)
    size = await _topic_with_batches(kb, "t", 3)
    p = _partition(await kb.call(1, 12, _at(_fetch_body("t", 1 << 20), 1, last_fetched_epoch=0)))
    assert p.error_code == ErrorCode.NONE
    assert len(p.records) == 2 * size
    assert p.diverging_epoch.epoch == -1  # the tagged field is absent: kio's default


async def test_fetch_past_the_end_of_the_last_epoch_is_told_where_it_diverged(
        tmp_path: Path) -> None:
    kb = InProcessBroker(tmp_path)
    await _topic_with_batches(kb, "t", 3)
    for version in (12, 13, 18):
        body = _at(_fetch_body("t", 1 << 20, version), 7, last_fetched_epoch=0)
        if version >= 13:
            body["topics"][0]["topic_id"] = kb.broker.snapshot().topics["t"].topic_id
        p = _partition(await kb.call(1, version, body))
        assert p.error_code == ErrorCode.NONE, version
        assert (p.diverging_epoch.epoch, p.diverging_epoch.end_offset) == (0, 3), version
        assert p.high_watermark == 3


async def test_fetch_naming_a_broker_as_its_replica_is_not_leader_or_follower(
        tmp_path: Path) -> None:
    # Kafka 4.4.0: a follower's fetch (a broker id in replica_id up to v14, in
    # replica_state from v15) for a partition it does not replicate; kwire has no
    # followers. A consumer (-1) and the debug consumer (-2) read as before.
    kb = InProcessBroker(tmp_path)
    size = await _topic_with_batches(kb, "t", 2)
    topic_id = kb.broker.snapshot().topics["t"].topic_id
    for version in (12, 14, 15):
        for replica_id, code in ((1, ErrorCode.NOT_LEADER_OR_FOLLOWER),
                                 (2, ErrorCode.NOT_LEADER_OR_FOLLOWER),
                                 (-1, ErrorCode.NONE), (-2, ErrorCode.NONE)):
            body = _fetch_body("t", 1 << 20, version)
            if version >= 13:
                body["topics"][0]["topic_id"] = topic_id
            if version >= 15:
                body["replica_state"] = {"replica_id": replica_id, "replica_epoch": -1}
            else:
                body["replica_id"] = replica_id
            p = _partition(await kb.call(1, version, body))
            assert p.error_code == code, (version, replica_id)
            if code:
                assert (p.high_watermark, p.last_stable_offset, p.log_start_offset) == (
                    -1, -1, -1)
                assert len(p.records or b"") == 0 and p.aborted_transactions is None
            else:
                assert p.high_watermark == 2 and len(p.records) == 2 * size
