"""Encoding and decoding of the consumer-group record values (format in `records.py`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping

from kwire.coordinator.group.consumer.member import (
    Assignment,
    ClassicMemberMetadata,
    MemberState,
)
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
from kwire.coordinator.record_io import Reader, RecordDecodeError, Writer

_STATES_BY_VALUE = {v: s for s, v in STATE_VALUES.items()}

# Kafka's generated default of ClassicMemberMetadata: what an absent tag 0 reads as.
_DEFAULT_CLASSIC = ClassicMemberMetadata(session_timeout_ms=0, protocols=())
_UINT64 = (1 << 64) - 1


# -- field helpers --------------------------------------------------------------------------


def _write_uuid(w: Writer, u: uuid.UUID) -> None:
    w.buf += u.bytes


def _read_uuid(r: Reader) -> uuid.UUID:
    return uuid.UUID(int=((r.int64() & _UINT64) << 64) | (r.int64() & _UINT64))


def _write_int32s(w: Writer, values: list[int]) -> None:
    w.array_len(len(values))
    for v in values:
        w.int32(v)


def _read_int32s(r: Reader) -> list[int]:
    return [r.int32() for _ in range(r.array_len())]


def _write_strings(w: Writer, values: frozenset[str] | tuple[str, ...]) -> None:
    # Kafka sorts the sets it writes (topic names); tuples keep their order.
    items = sorted(values) if isinstance(values, frozenset) else values
    w.array_len(len(items))
    for s in items:
        w.string(s)


def _read_strings(r: Reader) -> list[str]:
    return [r.string() for _ in range(r.array_len())]


def _tagged(build: Callable[[Writer], None]) -> bytes:
    w = Writer(flexible=True)
    build(w)
    return bytes(w.buf)


def _tag_reader(tags: dict[int, bytes], tag: int) -> Reader | None:
    data = tags.get(tag)
    return None if data is None else Reader(data, flexible=True)


def _sorted_topics(assignment: Mapping[uuid.UUID, frozenset[int]]) -> list[uuid.UUID]:
    # Kafka writes topics in HashMap order; kwire writes them sorted, which readers ignore.
    return sorted(assignment)


# -- value encoding -------------------------------------------------------------------------


def _write_classic(w: Writer, classic: ClassicMemberMetadata | None) -> None:
    # A tagged nullable struct starts with an unsigned varint: 0 for null, 1 for a struct.
    if classic is None:
        w.uvarint(0)
        return
    w.uvarint(1)
    w.int32(classic.session_timeout_ms)
    w.array_len(len(classic.protocols))
    for name, metadata in classic.protocols:
        w.string(name)
        w.bytes_(metadata)
        w.tags()
    w.tags()


def _write_topic_partitions(
    w: Writer, assignment: Assignment, epochs: PartitionEpochs | None
) -> None:
    w.array_len(len(assignment))
    for topic_id in _sorted_topics(assignment):
        partitions = sorted(assignment[topic_id])
        _write_uuid(w, topic_id)
        _write_int32s(w, partitions)
        topic_epochs = None if epochs is None else epochs.get(topic_id)
        if topic_epochs is None or not partitions:
            w.tags()
            continue
        try:
            aligned = [topic_epochs[p] for p in partitions]
        except KeyError as exc:
            raise ValueError(f"no assignment epoch for {topic_id} partition {exc}") from None
        epochs_field = Writer(flexible=True)
        _write_int32s(epochs_field, aligned)
        w.tags({0: bytes(epochs_field.buf)})


def encode_value(value: ConsumerGroupValue) -> bytes:
    """The value bytes, prefixed by its version (always 0), as Kafka writes them."""
    w = Writer(flexible=True)
    w.int16(VALUE_VERSION)
    tags: dict[int, bytes] = {}
    if isinstance(value, ConsumerGroupMetadataValue):
        w.int32(value.epoch)
        if value.metadata_hash != 0:
            tags[0] = _tagged(lambda t: t.int64(value.metadata_hash))
    elif isinstance(value, ConsumerGroupPartitionMetadataValue):
        w.array_len(len(value.topics))
        for topic in value.topics:
            _write_uuid(w, topic.topic_id)
            w.string(topic.topic_name)
            w.int32(topic.num_partitions)
            w.array_len(len(topic.partition_racks))
            for partition, racks in topic.partition_racks:
                w.int32(partition)
                _write_strings(w, racks)
                w.tags()
            w.tags()
    elif isinstance(value, ConsumerGroupMemberMetadataValue):
        w.string(value.instance_id)
        w.string(value.rack_id)
        w.string(value.client_id)
        w.string(value.client_host)
        _write_strings(w, value.subscribed_topic_names)
        w.string(value.subscribed_topic_regex)
        w.int32(value.rebalance_timeout_ms)
        w.string(value.server_assignor)
        if value.classic_member_metadata != _DEFAULT_CLASSIC:
            tags[0] = _tagged(lambda t: _write_classic(t, value.classic_member_metadata))
    elif isinstance(value, ConsumerGroupTargetAssignmentMetadataValue):
        w.int32(value.assignment_epoch)
        if value.assignment_timestamp != 0:
            tags[0] = _tagged(lambda t: t.int64(value.assignment_timestamp))
    elif isinstance(value, ConsumerGroupTargetAssignmentMemberValue):
        _write_topic_partitions(w, value.topic_partitions, None)
    elif isinstance(value, ConsumerGroupCurrentMemberAssignmentValue):
        w.int32(value.member_epoch)
        w.int32(value.previous_member_epoch)
        w.int8(STATE_VALUES[value.state])
        _write_topic_partitions(w, value.assigned_partitions, value.assigned_epochs)
        _write_topic_partitions(
            w, value.partitions_pending_revocation, value.pending_revocation_epochs
        )
    else:
        _write_strings(w, value.topics)
        w.int64(value.version)
        w.int64(value.timestamp)
    w.tags(tags)
    return bytes(w.buf)


# -- value decoding -------------------------------------------------------------------------


def _read_classic(r: Reader) -> ClassicMemberMetadata | None:
    if r.uvarint() == 0:
        return None
    session_timeout_ms = r.int32()
    protocols = []
    for _ in range(r.array_len()):
        name = r.string()
        protocols.append((name, r.bytes_()))
        r.tags()
    r.tags()
    return ClassicMemberMetadata(session_timeout_ms, tuple(protocols))


def _read_topic_partitions(r: Reader) -> tuple[dict[uuid.UUID, frozenset[int]], PartitionEpochs]:
    assignment: dict[uuid.UUID, frozenset[int]] = {}
    epochs: dict[uuid.UUID, Mapping[int, int]] = {}
    for _ in range(r.array_len()):
        topic_id = _read_uuid(r)
        partitions = _read_int32s(r)
        assignment[topic_id] = frozenset(partitions)
        epochs_reader = _tag_reader(r.tags(), 0)
        if epochs_reader is None:
            continue
        n = epochs_reader.nullable_array_len()
        topic_epochs = [epochs_reader.int32() for _ in range(max(n, 0))]
        # Kafka ignores epochs that do not line up with the partitions (and logs it).
        if partitions and len(topic_epochs) == len(partitions):
            epochs[topic_id] = dict(zip(partitions, topic_epochs, strict=True))
    return assignment, epochs


def _decode_fields(r: Reader, value_cls: type[ConsumerGroupValue]) -> ConsumerGroupValue:
    if value_cls is ConsumerGroupMetadataValue:
        epoch = r.int32()
        hash_reader = _tag_reader(r.tags(), 0)
        return ConsumerGroupMetadataValue(epoch, hash_reader.int64() if hash_reader else 0)
    if value_cls is ConsumerGroupPartitionMetadataValue:
        topics = []
        for _ in range(r.array_len()):
            topic_id, name, num_partitions = _read_uuid(r), r.string(), r.int32()
            racks = []
            for _ in range(r.array_len()):
                partition = r.int32()
                racks.append((partition, tuple(_read_strings(r))))
                r.tags()
            r.tags()
            topics.append(TopicMetadata(topic_id, name, num_partitions, tuple(racks)))
        r.tags()
        return ConsumerGroupPartitionMetadataValue(tuple(topics))
    if value_cls is ConsumerGroupMemberMetadataValue:
        instance_id, rack_id = r.nullable_string(), r.nullable_string()
        client_id, client_host = r.string(), r.string()
        topic_names = frozenset(_read_strings(r))
        regex, rebalance_timeout_ms, assignor = r.nullable_string(), r.int32(), r.nullable_string()
        classic_reader = _tag_reader(r.tags(), 0)
        classic = _read_classic(classic_reader) if classic_reader else _DEFAULT_CLASSIC
        return ConsumerGroupMemberMetadataValue(
            instance_id, rack_id, client_id, client_host, topic_names, regex,
            rebalance_timeout_ms, assignor, classic,
        )  # fmt: skip
    if value_cls is ConsumerGroupTargetAssignmentMetadataValue:
        assignment_epoch = r.int32()
        ts_reader = _tag_reader(r.tags(), 0)
        return ConsumerGroupTargetAssignmentMetadataValue(
            assignment_epoch, ts_reader.int64() if ts_reader else 0
        )
    if value_cls is ConsumerGroupTargetAssignmentMemberValue:
        target, _ = _read_topic_partitions(r)
        r.tags()
        return ConsumerGroupTargetAssignmentMemberValue(target)
    if value_cls is ConsumerGroupCurrentMemberAssignmentValue:
        member_epoch, previous_epoch = r.int32(), r.int32()
        state = _STATES_BY_VALUE.get(r.int8(), MemberState.UNKNOWN)
        assigned, assigned_epochs = _read_topic_partitions(r)
        pending, pending_epochs = _read_topic_partitions(r)
        r.tags()
        return ConsumerGroupCurrentMemberAssignmentValue(
            member_epoch, previous_epoch, state, assigned, pending, assigned_epochs, pending_epochs
        )
    topics_list = _read_strings(r)
    version, timestamp = r.int64(), r.int64()
    r.tags()
    return ConsumerGroupRegularExpressionValue(frozenset(topics_list), version, timestamp)


def decode_value_as(value_cls: type[ConsumerGroupValue], data: bytes) -> ConsumerGroupValue:
    """Decode a (non-tombstone) value of the given class from its version-prefixed bytes."""
    r = Reader(data, flexible=True)
    version = r.int16()
    if version != VALUE_VERSION:
        # Kafka's UnknownRecordVersionException: loading the partition fails.
        raise RecordDecodeError(f"unsupported {value_cls.__name__} version {version}")
    return _decode_fields(r, value_cls)
