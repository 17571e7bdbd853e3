"""Fetch: the broker's fetch.max.bytes cap, the response budget, and the
whole-request error answer (Kafka's FetchRequest.getErrorResponse)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _harness import InProcessBroker  # type: ignore[import-not-found]

from kwire.broker.handlers import fetch as fetch_module
from kwire.errors import ErrorCode
from kwire.net.memory_pool import MemoryPool, ResponseLease
from kwire.records.builder import build_batch

BATCH_VALUE = 10_000


async def _topic_with_batches(kb: InProcessBroker, name: str, batches: int) -> int:
    r = await kb.call(19, 7, {"topics": [{"name": name, "num_partitions": 1,
                                          "replication_factor": 1, "assignments": (),
                                          "configs": ()}],
                              "timeout": 5000, "validate_only": False})
    assert r.topics[0].error_code == 0
    batch = build_batch([(None, b"v" * BATCH_VALUE, [])], base_timestamp=1)
    for _ in range(batches):
        r = await kb.call(0, 9, {"transactional_id": None, "acks": -1, "timeout": 5000,
                                 "topic_data": [{"name": name, "partition_data": [
                                     {"index": 0, "records": batch}]}]})
        assert r.responses[0].partition_responses[0].error_code == 0
    return len(batch)


def _fetch_body(topic: str, max_bytes: int, version: int = 12) -> dict[str, Any]:
    body: dict[str, Any] = {
        "max_wait": 0, "min_bytes": 1, "max_bytes": max_bytes, "isolation_level": 0,
        "topics": [{"topic": topic, "partitions": [
            {"partition": 0, "fetch_offset": 0, "partition_max_bytes": max_bytes,
             "log_start_offset": -1, "current_leader_epoch": -1}]}],
    }
    if version >= 7:
        body.update(session_id=0, session_epoch=-1, forgotten_topics_data=())
    if version >= 11:
        body["rack_id"] = ""
    return body


async def test_broker_fetch_max_bytes_caps_the_client_max_bytes(tmp_path: Path) -> None:
    kb = InProcessBroker(tmp_path, **{"fetch.max.bytes": "50000"})
    size = await _topic_with_batches(kb, "t", 20)
    r = await kb.call(1, 12, _fetch_body("t", 2**31 - 1))
    records = r.responses[0].partitions[0].records
    assert 0 < len(records) <= 50_000
    assert len(records) == (50_000 // size) * size  # whole batches only


async def test_first_batch_is_whole_even_beyond_fetch_max_bytes(tmp_path: Path) -> None:
    kb = InProcessBroker(tmp_path, **{"fetch.max.bytes": "1024"})
    size = await _topic_with_batches(kb, "t", 3)
    r = await kb.call(1, 12, _fetch_body("t", 2**31 - 1))
    assert len(r.responses[0].partitions[0].records) == size


async def test_response_budget_shrinks_reads_to_one_batch(tmp_path: Path) -> None:
    kb = InProcessBroker(tmp_path)
    size = await _topic_with_batches(kb, "t", 10)
    pool = MemoryPool(3 * size)
    busy = ResponseLease(pool)
    busy.settle(busy.grant(3 * size), 3 * size)  # another fetch holds the whole budget
    lease = ResponseLease(pool)
    r = await kb.call(1, 12, _fetch_body("t", 2**31 - 1), budget=lease)
    assert len(r.responses[0].partitions[0].records) == size  # KIP-74's one batch
    assert lease.held == size
    busy.release()
    lease.release()
    lease = ResponseLease(pool)
    r = await kb.call(1, 12, _fetch_body("t", 2**31 - 1), budget=lease)
    assert len(r.responses[0].partitions[0].records) == 3 * size
    assert lease.held == 3 * size == pool.used


@pytest.mark.parametrize("version", [4, 6, 7, 12, 13, 18])
async def test_fetch_failure_answers_a_fetch_error_response(
    tmp_path: Path, version: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    kb = InProcessBroker(tmp_path)
    await _topic_with_batches(kb, "t", 1)

    async def broken(*_args: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(fetch_module, "_read_all", broken)
    body = _fetch_body("t", 1 << 20, version)
    if version >= 13:
        snapshot = kb.broker.snapshot()
        body["topics"][0]["topic_id"] = snapshot.topics["t"].topic_id
        del body["topics"][0]["topic"]
    r = await kb.call(1, version, body)
    if version >= 7:
        assert r.error_code == ErrorCode.UNKNOWN_SERVER_ERROR and r.session_id == 0
    if version >= 13:
        assert r.responses == ()
    else:
        [topic] = r.responses
        [partition] = topic.partitions
        assert topic.topic == "t"
        assert partition.error_code == ErrorCode.UNKNOWN_SERVER_ERROR
        assert partition.high_watermark == -1


async def test_long_reads_are_sliced_and_answer_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kb = InProcessBroker(tmp_path)
    size = await _topic_with_batches(kb, "t", 9)
    whole = await kb.call(1, 12, _fetch_body("t", 2**31 - 1))
    monkeypatch.setattr(fetch_module, "READ_SLICE", int(2.5 * size))
    sliced = await kb.call(1, 12, _fetch_body("t", 2**31 - 1))
    assert sliced.responses[0].partitions[0].records == whole.responses[0].partitions[0].records
    assert len(whole.responses[0].partitions[0].records) == 9 * size
    capped = await kb.call(1, 12, _fetch_body("t", 5 * size + 10))
    assert len(capped.responses[0].partitions[0].records) == 5 * size


async def test_incremental_fetch_holds_only_what_it_answers(tmp_path: Path) -> None:
    """A session's incremental fetch reads every partition of the session; the lease
    ends up holding exactly the records answered (partitions left out carry none)."""
    kb = InProcessBroker(tmp_path)
    size = await _topic_with_batches(kb, "t", 2)
    body = _fetch_body("t", 1 << 20)
    body.update(session_epoch=0)
    body["topics"][0]["partitions"][0]["fetch_offset"] = 2  # caught up
    r = await kb.call(1, 12, body)
    sid = r.session_id
    assert sid != 0
    pool = MemoryPool(10 * size)
    for epoch, offset, expected in [(1, 0, 2 * size), (2, 2, 0)]:
        lease = ResponseLease(pool)
        inc = _fetch_body("t", 1 << 20)
        inc.update(session_id=sid, session_epoch=epoch)
        inc["topics"][0]["partitions"][0]["fetch_offset"] = offset
        r = await kb.call(1, 12, inc, budget=lease)
        answered = sum(len(p.records or b"") for t in r.responses for p in t.partitions)
        assert r.session_id == sid and answered == expected == lease.held
        lease.release()
    assert pool.used == 0
