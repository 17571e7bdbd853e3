"""`__consumer_offsets` record codec: golden bytes from Kafka's schemas, round trips."""

from __future__ import annotations

import contextlib
import dataclasses
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kwire.coordinator.group.records import (
    GroupMetadataKey,
    GroupMetadataValue,
    MemberMetadata,
    OffsetCommitKey,
    OffsetCommitValue,
    RecordDecodeError,
    UnknownKey,
    decode_key,
    decode_value,
    encode_group_metadata_value,
    encode_key,
    encode_offset_commit_value,
    group_metadata_record,
    offset_commit_record,
)

int16 = st.integers(-(2**15), 2**15 - 1)
int32 = st.integers(-(2**31), 2**31 - 1)
int64 = st.integers(-(2**63), 2**63 - 1)
text = st.text(max_size=20)


def test_offset_commit_key_golden() -> None:
    key = OffsetCommitKey("grp", "tp", 7)
    golden = b"\x00\x01" + b"\x00\x03grp" + b"\x00\x02tp" + b"\x00\x00\x00\x07"
    assert encode_key(key) == golden
    assert decode_key(golden) == key
    # Version 0 keys (written by old brokers) read the same.
    assert decode_key(b"\x00\x00" + golden[2:]) == key


def test_group_metadata_key_golden() -> None:
    assert encode_key(GroupMetadataKey("grp")) == b"\x00\x02\x00\x03grp"
    assert decode_key(b"\x00\x02\x00\x03grp") == GroupMetadataKey("grp")


def test_unknown_record_types_are_reported_not_decoded() -> None:
    key = decode_key(b"\x00\x05\x00\x01g")  # ConsumerGroupMemberMetadataKey (KIP-848)
    assert key == UnknownKey(5)
    assert decode_value(key, b"\x00\x00whatever") is None


def test_offset_commit_value_v3_golden() -> None:
    value = OffsetCommitValue(100, 5, "m", 1_700_000_000_000)
    golden = (
        b"\x00\x03"
        + struct.pack(">q", 100)
        + struct.pack(">i", 5)
        + b"\x00\x01m"
        + struct.pack(">q", 1_700_000_000_000)
    )
    assert encode_offset_commit_value(value) == golden
    assert decode_value(OffsetCommitKey("g", "t", 0), golden) == value


def test_offset_commit_value_v1_golden() -> None:
    golden = (
        b"\x00\x01"
        + struct.pack(">q", 100)
        + b"\x00\x00"
        + struct.pack(">q", 10)
        + struct.pack(">q", 20)
    )
    value = decode_value(OffsetCommitKey("g", "t", 0), golden)
    assert value == OffsetCommitValue(100, -1, "", 10, 20)
    assert offset_commit_record(OffsetCommitKey("g", "t", 0), value)[1] == golden


def test_offset_commit_value_v4_flexible_with_tagged_fields() -> None:
    topic_id = bytes(range(16))
    golden = (
        b"\x00\x04"
        + struct.pack(">q", 9)
        + struct.pack(">i", 2)
        + b"\x03ab"  # compact string: length + 1
        + struct.pack(">q", 77)
        + b"\x02"  # two tagged fields
        + b"\x00\x10"
        + topic_id
        + b"\x05\x01\xff"  # an unknown tag, skipped
    )
    value = decode_value(OffsetCommitKey("g", "t", 0), golden)
    assert value == OffsetCommitValue(9, 2, "ab", 77, -1, topic_id)


def test_group_metadata_value_v3_golden() -> None:
    member = MemberMetadata("m-1", "inst", "cid", "/1.2.3.4", 300, 100, b"\x01", b"\x02\x03")
    value = GroupMetadataValue("consumer", 3, "range", "m-1", 55, (member,))
    golden = (
        b"\x00\x03"
        + b"\x00\x08consumer"
        + struct.pack(">i", 3)
        + b"\x00\x05range"
        + b"\x00\x03m-1"
        + struct.pack(">q", 55)
        + struct.pack(">i", 1)
        + b"\x00\x03m-1"
        + b"\x00\x04inst"
        + b"\x00\x03cid"
        + b"\x00\x08/1.2.3.4"
        + struct.pack(">i", 300)
        + struct.pack(">i", 100)
        + struct.pack(">i", 1)
        + b"\x01"
        + struct.pack(">i", 2)
        + b"\x02\x03"
    )
    assert encode_group_metadata_value(value) == golden
    assert decode_value(GroupMetadataKey("g"), golden) == value
    assert group_metadata_record("g", value) == (b"\x00\x02\x00\x01g", golden)
    assert group_metadata_record("g", None) == (b"\x00\x02\x00\x01g", None)


def test_empty_group_metadata_value_has_null_protocol_and_leader() -> None:
    value = GroupMetadataValue("", 0, None, None, -1, ())
    encoded = encode_group_metadata_value(value)
    assert encoded == b"\x00\x03\x00\x00" + b"\x00" * 4 + b"\xff\xff\xff\xff" + b"\xff" * 8 + (
        b"\x00\x00\x00\x00"
    )
    assert decode_value(GroupMetadataKey("g"), encoded) == value


# -- round trips --------------------------------------------------------------------------

offset_values = st.builds(
    OffsetCommitValue,
    offset=int64,
    leader_epoch=int32,
    metadata=text,
    commit_timestamp=int64,
    expire_timestamp=int64,
    topic_id=st.none() | st.binary(min_size=16, max_size=16),
)

members = st.builds(
    MemberMetadata,
    member_id=text,
    group_instance_id=st.none() | text,
    client_id=text,
    client_host=text,
    rebalance_timeout=int32,
    session_timeout=int32,
    subscription=st.binary(max_size=30),
    assignment=st.binary(max_size=30),
)

group_values = st.builds(
    GroupMetadataValue,
    protocol_type=text,
    generation=int32,
    protocol=st.none() | text,
    leader=st.none() | text,
    current_state_timestamp=int64,
    members=st.lists(members, max_size=4).map(tuple),
)


def project_offset(value: OffsetCommitValue, version: int) -> OffsetCommitValue:
    """What a version can carry; absent fields take Kafka's defaults."""
    return dataclasses.replace(
        value,
        leader_epoch=value.leader_epoch if version >= 3 else -1,
        expire_timestamp=value.expire_timestamp if version == 1 else -1,
        topic_id=value.topic_id if version >= 4 else None,
    )


def project_group(value: GroupMetadataValue, version: int) -> GroupMetadataValue:
    return dataclasses.replace(
        value,
        current_state_timestamp=value.current_state_timestamp if version >= 2 else -1,
        members=tuple(
            dataclasses.replace(
                m,
                group_instance_id=m.group_instance_id if version >= 3 else None,
                rebalance_timeout=m.rebalance_timeout if version >= 1 else -1,
            )
            for m in value.members
        ),
    )


@given(offset_values, st.integers(0, 4))
def test_offset_commit_value_round_trip(value: OffsetCommitValue, version: int) -> None:
    encoded = encode_offset_commit_value(value, version)
    assert decode_value(OffsetCommitKey("g", "t", 0), encoded) == project_offset(value, version)


@given(group_values, st.integers(0, 4))
def test_group_metadata_value_round_trip(value: GroupMetadataValue, version: int) -> None:
    encoded = encode_group_metadata_value(value, version)
    assert decode_value(GroupMetadataKey("g"), encoded) == project_group(value, version)


@given(text, text, int32)
def test_keys_round_trip(group: str, topic: str, partition: int) -> None:
    assert decode_key(encode_key(OffsetCommitKey(group, topic, partition))) == OffsetCommitKey(
        group, topic, partition
    )
    assert decode_key(encode_key(GroupMetadataKey(group))) == GroupMetadataKey(group)


_KEYS = [OffsetCommitKey("g", "t", 0), GroupMetadataKey("g")]


@given(st.binary(max_size=60), st.sampled_from(_KEYS))
def test_garbage_raises_only_record_decode_error(
    data: bytes, key: OffsetCommitKey | GroupMetadataKey
) -> None:
    with contextlib.suppress(RecordDecodeError):
        decode_value(key, data)
    with contextlib.suppress(RecordDecodeError):
        decode_key(data)


def test_truncated_and_invalid_values() -> None:
    full = encode_offset_commit_value(OffsetCommitValue(1, 2, "abc", 3))
    for cut in range(len(full)):
        with pytest.raises(RecordDecodeError):
            decode_value(OffsetCommitKey("g", "t", 0), full[:cut])
    with pytest.raises(RecordDecodeError):
        decode_value(OffsetCommitKey("g", "t", 0), b"\x00\x09" + full[2:])
    with pytest.raises(ValueError):
        encode_offset_commit_value(OffsetCommitValue(1), 5)
