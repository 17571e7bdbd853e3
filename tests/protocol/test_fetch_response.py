"""The dedicated Fetch response encoder writes exactly the bytes kio writes."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kwire.protocol.codec import encode_response
from kwire.protocol.fetch_response import encode_fetch_response

i32 = st.integers(-(2**31), 2**31 - 1)
i64 = st.integers(-(2**63), 2**63 - 1)

partitions = st.fixed_dictionaries({
    "partition_index": i32,
    "error_code": st.sampled_from([0, 1, 3, 6, 74, 75]),
    "high_watermark": i64,
    "last_stable_offset": i64,
    "log_start_offset": i64,
    "aborted_transactions": st.one_of(
        st.none(), st.lists(st.fixed_dictionaries({"producer_id": i64, "first_offset": i64}),
                            max_size=3)),
    "preferred_read_replica": i32,
    "records": st.one_of(st.none(), st.binary(max_size=300)),
})

bodies = st.fixed_dictionaries({
    "throttle_time": st.integers(0, 2**31 - 1),
    "error_code": st.sampled_from([0, 70]),
    "session_id": i32,
    "responses": st.lists(st.fixed_dictionaries({
        "topic": st.text(min_size=1, max_size=20),
        "topic_id": st.uuids(),
        "partitions": st.lists(partitions, max_size=4),
    }), max_size=3),
})


@settings(max_examples=60, deadline=None)
@given(st.integers(4, 18), bodies)
def test_same_bytes_as_kio(version: int, body: dict[str, Any]) -> None:
    assert b"".join(encode_fetch_response(version, body)) == encode_response(1, version, body)


def test_records_are_passed_through_not_copied() -> None:
    records = b"x" * 1000
    body = {"throttle_time": 0, "error_code": 0, "session_id": 0, "responses": [
        {"topic": "t", "topic_id": uuid.uuid4(), "partitions": [
            {"partition_index": 0, "error_code": 0, "high_watermark": 1,
             "last_stable_offset": 1, "log_start_offset": 0, "aborted_transactions": None,
             "preferred_read_replica": -1, "records": records}]}]}
    for version in (4, 12, 18):
        assert any(chunk is records for chunk in encode_fetch_response(version, body))
