"""Kafka's binary `__consumer_offsets` records of consumer groups (KIP-848), as Kafka 4.4 has them.

Byte format only, no group logic (the classic records live in `group/records.py`; the
value dataclasses are in `record_values.py`, their codec in `record_codec.py`).
Framing is Kafka's CoordinatorRecordSerde: the key is an int16 record type then the
key fields, which are never flexible (int16-length strings); the value is an int16
version then the value fields. Every value here has only version 0, which is
flexible: compact strings, arrays and bytes, a uuid as 16 bytes, tagged fields.
A None value is a tombstone.

    type  key fields                  value v0 fields (tagged: tag=name, default)
    3     group_id                    Epoch int32; 0=MetadataHash int64 (0)
    4     group_id                    Topics [TopicId, TopicName, NumPartitions int32,
                                        PartitionMetadata [Partition int32, Racks [string]]]
    5     group_id, member_id         InstanceId?, RackId?, ClientId, ClientHost,
                                      SubscribedTopicNames [string], SubscribedTopicRegex?,
                                      RebalanceTimeoutMs int32, ServerAssignor?;
                                      0=ClassicMemberMetadata? {SessionTimeoutMs int32,
                                        SupportedProtocols [Name, Metadata bytes]} (empty)
    6     group_id                    AssignmentEpoch int32; 0=AssignmentTimestamp int64 (0)
    7     group_id, member_id         TopicPartitions [TopicId, Partitions [int32]]
    8     group_id, member_id         MemberEpoch int32, PreviousMemberEpoch int32, State int8,
                                      AssignedPartitions, PartitionsPendingRevocation:
                                        [TopicId, Partitions [int32];
                                         0=AssignmentEpochs? [int32] ([])]
    16    group_id, regular_expression  Topics [string], Version int64, Timestamp int64

Kafka writes a tagged field only when it differs from its default, and the
generated defaults are not what the schemas' "null" suggests: ClassicMemberMetadata
defaults to an empty struct and AssignmentEpochs to an empty list. So Kafka writes
tag 0 with a null marker for every consumer-protocol member (a record without it
reads back as a classic member), and an empty struct is what an absent tag means.
Type 4 is deprecated since 4.1 (its Epoch field is gone): Kafka only writes its
tombstone, when it converts a group. Unknown tagged fields are skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kwire.coordinator.group.consumer.record_codec import decode_value_as, encode_value
from kwire.coordinator.group.consumer.record_values import (
    STATE_VALUES,
    VALUE_VERSION,
    ConsumerGroupCurrentMemberAssignmentValue,
    ConsumerGroupMemberMetadataValue,
    ConsumerGroupMetadataValue,
    ConsumerGroupPartitionMetadataValue,
    ConsumerGroupRegularExpressionValue,
    ConsumerGroupTargetAssignmentMemberValue,
    ConsumerGroupTargetAssignmentMetadataValue,
    ConsumerGroupValue,
    PartitionEpochs,
    TopicMetadata,
)
from kwire.coordinator.group.records import Record
from kwire.coordinator.record_io import Reader, Writer

__all__ = [
    "STATE_VALUES",
    "VALUE_VERSION",
    "ConsumerGroupCurrentMemberAssignmentKey",
    "ConsumerGroupCurrentMemberAssignmentValue",
    "ConsumerGroupKey",
    "ConsumerGroupMemberMetadataKey",
    "ConsumerGroupMemberMetadataValue",
    "ConsumerGroupMetadataKey",
    "ConsumerGroupMetadataValue",
    "ConsumerGroupPartitionMetadataKey",
    "ConsumerGroupPartitionMetadataValue",
    "ConsumerGroupRegularExpressionKey",
    "ConsumerGroupRegularExpressionValue",
    "ConsumerGroupTargetAssignmentMemberKey",
    "ConsumerGroupTargetAssignmentMemberValue",
    "ConsumerGroupTargetAssignmentMetadataKey",
    "ConsumerGroupTargetAssignmentMetadataValue",
    "ConsumerGroupValue",
    "PartitionEpochs",
    "RECORD_TYPES",
    "Record",
    "TopicMetadata",
    "consumer_record",
    "decode_key",
    "decode_value",
    "encode_key",
    "encode_value",
]


# -- keys -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsumerGroupMetadataKey:
    group_id: str


@dataclass(frozen=True)
class ConsumerGroupPartitionMetadataKey:
    group_id: str


@dataclass(frozen=True)
class ConsumerGroupMemberMetadataKey:
    group_id: str
    member_id: str


@dataclass(frozen=True)
class ConsumerGroupTargetAssignmentMetadataKey:
    group_id: str


@dataclass(frozen=True)
class ConsumerGroupTargetAssignmentMemberKey:
    group_id: str
    member_id: str


@dataclass(frozen=True)
class ConsumerGroupCurrentMemberAssignmentKey:
    group_id: str
    member_id: str


@dataclass(frozen=True)
class ConsumerGroupRegularExpressionKey:
    group_id: str
    regular_expression: str


ConsumerGroupKey = (
    ConsumerGroupMetadataKey
    | ConsumerGroupPartitionMetadataKey
    | ConsumerGroupMemberMetadataKey
    | ConsumerGroupTargetAssignmentMetadataKey
    | ConsumerGroupTargetAssignmentMemberKey
    | ConsumerGroupCurrentMemberAssignmentKey
    | ConsumerGroupRegularExpressionKey
)
# Record type (CoordinatorRecordType.id) -> key class, value class.
RECORD_TYPES: dict[int, tuple[type[ConsumerGroupKey], type[ConsumerGroupValue]]] = {
    3: (ConsumerGroupMetadataKey, ConsumerGroupMetadataValue),
    4: (ConsumerGroupPartitionMetadataKey, ConsumerGroupPartitionMetadataValue),
    5: (ConsumerGroupMemberMetadataKey, ConsumerGroupMemberMetadataValue),
    6: (ConsumerGroupTargetAssignmentMetadataKey, ConsumerGroupTargetAssignmentMetadataValue),
    7: (ConsumerGroupTargetAssignmentMemberKey, ConsumerGroupTargetAssignmentMemberValue),
    8: (ConsumerGroupCurrentMemberAssignmentKey, ConsumerGroupCurrentMemberAssignmentValue),
    16: (ConsumerGroupRegularExpressionKey, ConsumerGroupRegularExpressionValue),
}
_TYPE_OF_KEY = {key_cls: t for t, (key_cls, _) in RECORD_TYPES.items()}
_ONE_STRING_KEYS: dict[int, Callable[[str], ConsumerGroupKey]] = {
    3: ConsumerGroupMetadataKey,
    4: ConsumerGroupPartitionMetadataKey,
    6: ConsumerGroupTargetAssignmentMetadataKey,
}
_TWO_STRING_KEYS: dict[int, Callable[[str, str], ConsumerGroupKey]] = {
    5: ConsumerGroupMemberMetadataKey,
    7: ConsumerGroupTargetAssignmentMemberKey,
    8: ConsumerGroupCurrentMemberAssignmentKey,
    16: ConsumerGroupRegularExpressionKey,
}


def encode_key(key: ConsumerGroupKey) -> bytes:
    w = Writer()
    w.int16(_TYPE_OF_KEY[type(key)])
    w.string(key.group_id)
    if isinstance(key, ConsumerGroupRegularExpressionKey):
        w.string(key.regular_expression)
    elif not isinstance(
        key,
        ConsumerGroupMetadataKey
        | ConsumerGroupPartitionMetadataKey
        | ConsumerGroupTargetAssignmentMetadataKey,
    ):
        w.string(key.member_id)
    return bytes(w.buf)


def decode_key(data: bytes) -> ConsumerGroupKey | None:
    """The key, or None for a record type that is not a consumer-group record."""
    r = Reader(data)
    record_type = r.int16()
    group_key = _ONE_STRING_KEYS.get(record_type)
    if group_key is not None:
        return group_key(r.string())
    member_key = _TWO_STRING_KEYS.get(record_type)
    if member_key is not None:
        return member_key(r.string(), r.string())
    return None


def decode_value(key: ConsumerGroupKey, data: bytes) -> ConsumerGroupValue:
    """Decode the (non-tombstone) value of `key`'s record type."""
    return decode_value_as(RECORD_TYPES[_TYPE_OF_KEY[type(key)]][1], data)


# -- whole records --------------------------------------------------------------------------


def consumer_record(key: ConsumerGroupKey, value: ConsumerGroupValue | None) -> Record:
    """Key and value bytes of one record; a None value makes the tombstone."""
    expected = RECORD_TYPES[_TYPE_OF_KEY[type(key)]][1]
    if value is not None and not isinstance(value, expected):
        raise TypeError(f"{type(key).__name__} takes a {expected.__name__}")
    return encode_key(key), None if value is None else encode_value(value)
