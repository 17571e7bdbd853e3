"""Kafka's binary `__consumer_offsets` records for classic groups and committed offsets.

This module owns the byte format only (no group logic). A record is a key and a
value, each prefixed by an int16 version (Kafka's CoordinatorRecordSerde): the
key version is the record type — 0 and 1 are OffsetCommitKey, 2 is
GroupMetadataKey; 3 and up are KIP-848/share-group records kwire does not model.
A None value is a tombstone.

Field order and versions follow group-coordinator/src/main/resources/common/message/:

    OffsetCommitKey      v0-1   group string, topic string, partition int32
    OffsetCommitValue    v0     offset int64, metadata string, commit_timestamp int64
                         v1     + expire_timestamp int64 (last)
                         v2     as v0
                         v3     offset, leader_epoch int32, metadata, commit_timestamp
                         v4     v3, flexible (compact strings, tagged fields)
    GroupMetadataKey     v2     group string
    GroupMetadataValue   v0     protocol_type string, generation int32, protocol string?,
                                leader string?, members [member_id, client_id, client_host,
                                session_timeout int32, subscription bytes, assignment bytes]
                         v1     + member rebalance_timeout int32 (before session_timeout)
                         v2     + current_state_timestamp int64 (after leader)
                         v3     + member group_instance_id string? (after member_id)
                         v4     v3, flexible

Kafka writes OffsetCommitValue v3 (v1 when an explicit retention was requested)
and GroupMetadataValue v3; every version is read. Unknown tagged fields are
skipped; tag 0 of OffsetCommitValue v4, when 16 bytes long, is kept as topic_id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kwire.coordinator.record_io import Reader, RecordDecodeError, Writer

OFFSET_COMMIT_KEY_VERSION = 1
GROUP_METADATA_KEY_VERSION = 2
OFFSET_COMMIT_VALUE_VERSION = 3
OFFSET_COMMIT_VALUE_VERSION_WITH_EXPIRY = 1
GROUP_METADATA_VALUE_VERSION = 3
_FLEXIBLE_VALUE_VERSION = 4
_TOPIC_ID_TAG = 0




@dataclass(frozen=True)
class OffsetCommitKey:
    group: str
    topic: str
    partition: int


@dataclass(frozen=True)
class OffsetCommitValue:
    offset: int
    leader_epoch: int = -1
    metadata: str = ""
    commit_timestamp: int = -1
    expire_timestamp: int = -1
    topic_id: bytes | None = None


@dataclass(frozen=True)
class GroupMetadataKey:
    group: str


@dataclass(frozen=True)
class MemberMetadata:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout: int
    session_timeout: int
    subscription: bytes
    assignment: bytes


@dataclass(frozen=True)
class GroupMetadataValue:
    protocol_type: str
    generation: int
    protocol: str | None
    leader: str | None
    current_state_timestamp: int = -1
    members: tuple[MemberMetadata, ...] = field(default=())


@dataclass(frozen=True)
class UnknownKey:
    """A record type kwire does not model (KIP-848 and share-group records)."""

    record_type: int


RecordKey = OffsetCommitKey | GroupMetadataKey | UnknownKey
RecordValue = OffsetCommitValue | GroupMetadataValue


# -- keys -----------------------------------------------------------------------------------


def encode_key(key: OffsetCommitKey | GroupMetadataKey) -> bytes:
    w = Writer()
    if isinstance(key, OffsetCommitKey):
        w.int16(OFFSET_COMMIT_KEY_VERSION)
        w.string(key.group)
        w.string(key.topic)
        w.int32(key.partition)
    else:
        w.int16(GROUP_METADATA_KEY_VERSION)
        w.string(key.group)
    return bytes(w.buf)


def decode_key(data: bytes) -> RecordKey:
    r = Reader(data)
    record_type = r.int16()
    if record_type in (0, 1):
        return OffsetCommitKey(r.string(), r.string(), r.int32())
    if record_type == GROUP_METADATA_KEY_VERSION:
        return GroupMetadataKey(r.string())
    return UnknownKey(record_type)


# -- values ---------------------------------------------------------------------------------


def encode_offset_commit_value(
    value: OffsetCommitValue, version: int = OFFSET_COMMIT_VALUE_VERSION
) -> bytes:
    if not 0 <= version <= _FLEXIBLE_VALUE_VERSION:
        raise ValueError(f"OffsetCommitValue version {version} unsupported")
    w = Writer(flexible=version >= _FLEXIBLE_VALUE_VERSION)
    w.int16(version)
    w.int64(value.offset)
    if version >= 3:
        w.int32(value.leader_epoch)
    w.string(value.metadata)
    w.int64(value.commit_timestamp)
    if version == 1:
        w.int64(value.expire_timestamp)
    tagged = {_TOPIC_ID_TAG: value.topic_id} if value.topic_id is not None else None
    w.tags(tagged)
    return bytes(w.buf)


def _decode_offset_commit_value(r: Reader, version: int) -> OffsetCommitValue:
    offset = r.int64()
    leader_epoch = r.int32() if version >= 3 else -1
    metadata = r.string()
    commit_timestamp = r.int64()
    expire_timestamp = r.int64() if version == 1 else -1
    topic_id = r.tags().get(_TOPIC_ID_TAG)
    if topic_id is not None and len(topic_id) != 16:
        topic_id = None
    return OffsetCommitValue(
        offset, leader_epoch, metadata, commit_timestamp, expire_timestamp, topic_id
    )


def encode_group_metadata_value(
    value: GroupMetadataValue, version: int = GROUP_METADATA_VALUE_VERSION
) -> bytes:
    if not 0 <= version <= _FLEXIBLE_VALUE_VERSION:
        raise ValueError(f"GroupMetadataValue version {version} unsupported")
    w = Writer(flexible=version >= _FLEXIBLE_VALUE_VERSION)
    w.int16(version)
    w.string(value.protocol_type)
    w.int32(value.generation)
    w.string(value.protocol)
    w.string(value.leader)
    if version >= 2:
        w.int64(value.current_state_timestamp)
    w.array_len(len(value.members))
    for m in value.members:
        w.string(m.member_id)
        if version >= 3:
            w.string(m.group_instance_id)
        w.string(m.client_id)
        w.string(m.client_host)
        if version >= 1:
            w.int32(m.rebalance_timeout)
        w.int32(m.session_timeout)
        w.bytes_(m.subscription)
        w.bytes_(m.assignment)
        w.tags()
    w.tags()
    return bytes(w.buf)


def _decode_member(r: Reader, version: int) -> MemberMetadata:
    member_id = r.string()
    group_instance_id = r.nullable_string() if version >= 3 else None
    client_id = r.string()
    client_host = r.string()
    rebalance_timeout = r.int32() if version >= 1 else -1
    session_timeout = r.int32()
    subscription = r.bytes_()
    assignment = r.bytes_()
    r.tags()
    return MemberMetadata(
        member_id,
        group_instance_id,
        client_id,
        client_host,
        rebalance_timeout,
        session_timeout,
        subscription,
        assignment,
    )


def _decode_group_metadata_value(r: Reader, version: int) -> GroupMetadataValue:
    protocol_type = r.string()
    generation = r.int32()
    protocol = r.nullable_string()
    leader = r.nullable_string()
    timestamp = r.int64() if version >= 2 else -1
    count = r.array_len()
    members = tuple(_decode_member(r, version) for _ in range(count))
    r.tags()
    return GroupMetadataValue(protocol_type, generation, protocol, leader, timestamp, members)


def decode_value(key: RecordKey, data: bytes) -> RecordValue | None:
    """Decode a value for its key; None for record types kwire does not model."""
    if isinstance(key, UnknownKey):
        return None
    r = Reader(data)
    version = r.int16()
    if not 0 <= version <= _FLEXIBLE_VALUE_VERSION:
        raise RecordDecodeError(f"unsupported value version {version}")
    r.flexible = version >= _FLEXIBLE_VALUE_VERSION
    if isinstance(key, OffsetCommitKey):
        return _decode_offset_commit_value(r, version)
    return _decode_group_metadata_value(r, version)


# -- whole records as the coordinator emits them --------------------------------------------


Record = tuple[bytes, bytes | None]


def offset_commit_record(key: OffsetCommitKey, value: OffsetCommitValue | None) -> Record:
    """Kafka writes v3, or v1 when the commit carried an explicit retention (expire timestamp)."""
    if value is None:
        return encode_key(key), None
    version = (
        OFFSET_COMMIT_VALUE_VERSION_WITH_EXPIRY
        if value.expire_timestamp != -1
        else OFFSET_COMMIT_VALUE_VERSION
    )
    return encode_key(key), encode_offset_commit_value(value, version)


def group_metadata_record(group_id: str, value: GroupMetadataValue | None) -> Record:
    key = encode_key(GroupMetadataKey(group_id))
    return key, None if value is None else encode_group_metadata_value(value)
