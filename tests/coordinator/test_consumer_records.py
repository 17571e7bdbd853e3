"""Consumer-group (KIP-848) `__consumer_offsets` records: Kafka 4.4.0's golden bytes, round trips.

The golden hex strings below were printed by compat-tests/java/ConsumerGroupRecordBytes.java,
which builds each record with Kafka 4.4.0's own GroupCoordinatorRecordHelpers (or, for
records Kafka 4.4 no longer writes, its generated message classes) and frames it with
GroupCoordinatorRecordSerde. Run it against the jars in ~/.cache/kwire/kafka-4.4.0/libs
to regenerate them (usage in the program's header).
"""

from __future__ import annotations

import contextlib
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kwire.coordinator.group.consumer.member import ClassicMemberMetadata, MemberState
from kwire.coordinator.group.consumer.records import (
    STATE_VALUES,
    ConsumerGroupCurrentMemberAssignmentKey,
    ConsumerGroupCurrentMemberAssignmentValue,
    ConsumerGroupKey,
    ConsumerGroupMemberMetadataKey,
    ConsumerGroupMemberMetadataValue,
    ConsumerGroupMetadataKey,
    ConsumerGroupMetadataValue,
    ConsumerGroupPartitionMetadataKey,
    ConsumerGroupPartitionMetadataValue,
    ConsumerGroupRegularExpressionKey,
    ConsumerGroupRegularExpressionValue,
    ConsumerGroupTargetAssignmentMemberKey,
    ConsumerGroupTargetAssignmentMemberValue,
    ConsumerGroupTargetAssignmentMetadataKey,
    ConsumerGroupTargetAssignmentMetadataValue,
    ConsumerGroupValue,
    TopicMetadata,
    consumer_record,
    decode_key,
    decode_value,
    encode_key,
    encode_value,
)
from kwire.coordinator.record_io import RecordDecodeError

FOO = uuid.UUID("01020304-0506-0708-090a-0b0c0d0e0f10")
BAR = uuid.UUID("11121314-1516-1718-191a-1b1c1d1e1f20")
TS = 1700000000000

GROUP = ConsumerGroupMetadataKey("grp")
M1 = "m1"

# name -> (key, value or None, key hex, value hex or None), all printed by the Java program.
GOLDEN: dict[str, tuple[ConsumerGroupKey, ConsumerGroupValue | None, str, str | None]] = {
    "group_metadata": (
        GROUP,
        ConsumerGroupMetadataValue(10, 0x1234567890ABCDEF),
        "00030003677270",
        "00000000000a0100081234567890abcdef",
    ),
    "group_metadata_no_hash": (
        GROUP,
        ConsumerGroupMetadataValue(1),
        "00030003677270",
        "00000000000100",
    ),
    "group_metadata_tombstone": (GROUP, None, "00030003677270", None),
    "partition_metadata_tombstone": (
        ConsumerGroupPartitionMetadataKey("grp"),
        None,
        "00040003677270",
        None,
    ),
    "partition_metadata": (
        ConsumerGroupPartitionMetadataKey("grp"),
        ConsumerGroupPartitionMetadataValue(
            (
                TopicMetadata(FOO, "foo", 2, ((0, ("r1", "r2")), (1, ()))),
                TopicMetadata(BAR, "bar", 1),
            )
        ),
        "00040003677270",
        "0000030102030405060708090a0b0c0d0e0f1004666f6f00000002030000000003037231037232000000"
        "00010100001112131415161718191a1b1c1d1e1f200462617200000001010000",
    ),
    "member_metadata": (
        ConsumerGroupMemberMetadataKey("grp", M1),
        ConsumerGroupMemberMetadataValue(
            instance_id="i1",
            rack_id="rack",
            client_id="cid",
            client_host="/127.0.0.1",
            subscribed_topic_names=frozenset({"zeta", "alpha"}),
            subscribed_topic_regex="a.*",
            rebalance_timeout_ms=300000,
            server_assignor="uniform",
        ),
        "0005000367727000026d31",
        "0000036931057261636b046369640b2f3132372e302e302e310306616c706861057a65746104612e2a00"
        "0493e008756e69666f726d01000100",
    ),
    "member_metadata_classic": (
        ConsumerGroupMemberMetadataKey("grp", "m2"),
        ConsumerGroupMemberMetadataValue(
            client_id="c",
            client_host="h",
            subscribed_topic_names=frozenset({"foo"}),
            rebalance_timeout_ms=5000,
            classic_member_metadata=ClassicMemberMetadata(
                45000, (("range", b"\x01\x02\x03"), ("roundrobin", b""))
            ),
        ),
        "0005000367727000026d32",
        "00000000026302680204666f6f01000013880001001f010000afc8030672616e676504010203000b726f"
        "756e64726f62696e010000",
    ),
    "member_metadata_tombstone": (
        ConsumerGroupMemberMetadataKey("grp", M1),
        None,
        "0005000367727000026d31",
        None,
    ),
    "target_assignment_metadata": (
        ConsumerGroupTargetAssignmentMetadataKey("grp"),
        ConsumerGroupTargetAssignmentMetadataValue(10, TS),
        "00060003677270",
        "00000000000a0100080000018bcfe56800",
    ),
    "target_assignment_metadata_no_ts": (
        ConsumerGroupTargetAssignmentMetadataKey("grp"),
        ConsumerGroupTargetAssignmentMetadataValue(3),
        "00060003677270",
        "00000000000300",
    ),
    "target_assignment_metadata_tombstone": (
        ConsumerGroupTargetAssignmentMetadataKey("grp"),
        None,
        "00060003677270",
        None,
    ),
    "target_assignment_member": (
        ConsumerGroupTargetAssignmentMemberKey("grp", M1),
        ConsumerGroupTargetAssignmentMemberValue({FOO: frozenset({0, 1, 2}), BAR: frozenset({3})}),
        "0007000367727000026d31",
        "0000030102030405060708090a0b0c0d0e0f1004000000000000000100000002001112131415161718191a"
        "1b1c1d1e1f2002000000030000",
    ),
    "target_assignment_member_tombstone": (
        ConsumerGroupTargetAssignmentMemberKey("grp", M1),
        None,
        "0007000367727000026d31",
        None,
    ),
    "current_assignment": (
        ConsumerGroupCurrentMemberAssignmentKey("grp", M1),
        ConsumerGroupCurrentMemberAssignmentValue(
            member_epoch=7,
            previous_member_epoch=6,
            state=MemberState.UNREVOKED_PARTITIONS,
            assigned_partitions={FOO: frozenset({0, 1}), BAR: frozenset({2})},
            partitions_pending_revocation={FOO: frozenset({4})},
            assigned_epochs={FOO: {0: 5, 1: 7}, BAR: {2: 7}},
            pending_revocation_epochs={FOO: {4: 3}},
        ),
        "0008000367727000026d31",
        "0000000000070000000601030102030405060708090a0b0c0d0e0f100300000000000000010100090300"
        "000005000000071112131415161718191a1b1c1d1e1f2002000000020100050200000007020102030405"
        "060708090a0b0c0d0e0f100200000004010005020000000300",
    ),
    "current_assignment_empty": (
        ConsumerGroupCurrentMemberAssignmentKey("grp", M1),
        ConsumerGroupCurrentMemberAssignmentValue(1, 0, MemberState.STABLE),
        "0008000367727000026d31",
        "0000000000010000000000010100",
    ),
    "current_assignment_tombstone": (
        ConsumerGroupCurrentMemberAssignmentKey("grp", M1),
        None,
        "0008000367727000026d31",
        None,
    ),
    "current_assignment_no_epochs": (
        ConsumerGroupCurrentMemberAssignmentKey("grp", M1),
        ConsumerGroupCurrentMemberAssignmentValue(
            4, 3, MemberState.UNRELEASED_PARTITIONS, {FOO: frozenset({0, 1})}
        ),
        "0008000367727000026d31",
        "0000000000040000000302020102030405060708090a0b0c0d0e0f10030000000000000001000100",
    ),
    "regular_expression": (
        ConsumerGroupRegularExpressionKey("grp", "a.*"),
        ConsumerGroupRegularExpressionValue(frozenset({"alpha", "abc"}), 42, TS),
        "001000036772700003612e2a",
        "0000030461626306616c706861000000000000002a0000018bcfe5680000",
    ),
    "regular_expression_tombstone": (
        ConsumerGroupRegularExpressionKey("grp", "a.*"),
        None,
        "001000036772700003612e2a",
        None,
    ),
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_bytes_match_kafka(name: str) -> None:
    key, value, key_hex, value_hex = GOLDEN[name]
    key_bytes = bytes.fromhex(key_hex)
    value_bytes = None if value_hex is None else bytes.fromhex(value_hex)
    assert consumer_record(key, value) == (key_bytes, value_bytes)
    assert encode_key(key) == key_bytes
    assert decode_key(key_bytes) == key
    if value is not None and value_bytes is not None:
        assert encode_value(value) == value_bytes
        assert decode_value(key, value_bytes) == value


def test_unknown_tagged_fields_are_skipped() -> None:
    # group_metadata_unknown_tags: MetadataHash=5 (tag 0), unknown tags 1 (8 bytes) and 7 ("x").
    data = bytes.fromhex("000000000002030008000000000000000501080000000000000009070178")
    value = decode_value(GROUP, data)
    assert value == ConsumerGroupMetadataValue(2, 5)
    assert encode_value(value) == bytes.fromhex("0000000000020100080000000000000005")


def test_unknown_tagged_fields_in_nested_structs_are_skipped() -> None:
    # A target assignment whose topic entry carries tag 9 ("zz") and the value tag 3 (empty).
    data = (
        bytes.fromhex("0000 02") + FOO.bytes + bytes.fromhex("02 00000005 01 09 02 7a7a 01 03 00")
    )
    key = ConsumerGroupTargetAssignmentMemberKey("g", "m")
    assert decode_value(key, data) == ConsumerGroupTargetAssignmentMemberValue(
        {FOO: frozenset({5})}
    )


def test_state_values_are_kafkas() -> None:
    # MemberState in Kafka 4.4: STABLE(0), UNREVOKED_PARTITIONS(1), UNRELEASED_PARTITIONS(2),
    # UNKNOWN(127); the goldens above pin 1 and 2 on the wire.
    assert STATE_VALUES == {
        MemberState.STABLE: 0,
        MemberState.UNREVOKED_PARTITIONS: 1,
        MemberState.UNRELEASED_PARTITIONS: 2,
        MemberState.UNKNOWN: 127,
    }
    key = ConsumerGroupCurrentMemberAssignmentKey("g", "m")
    data = bytes.fromhex("0000 00000001 00000000 05 01 01 00")
    value = decode_value(key, data)
    assert isinstance(value, ConsumerGroupCurrentMemberAssignmentValue)
    assert value.state is MemberState.UNKNOWN


def test_absent_classic_member_metadata_reads_as_an_empty_struct_like_kafka() -> None:
    # Kafka's generated default for the tag is an empty ClassicMemberMetadata, not null,
    # so it writes a null marker for consumer-protocol members and omits the empty struct.
    key = ConsumerGroupMemberMetadataKey("g", "m")
    no_tag = bytes.fromhex("0000 00 00 0263 0268 01 01 00001388 00 00")
    value = decode_value(key, no_tag)
    empty = ClassicMemberMetadata(0, ())
    assert value == ConsumerGroupMemberMetadataValue(
        client_id="c", client_host="h", rebalance_timeout_ms=5000, classic_member_metadata=empty
    )
    assert encode_value(value) == no_tag
    consumer_member = ConsumerGroupMemberMetadataValue(
        client_id="c", client_host="h", classic_member_metadata=None
    )
    assert encode_value(consumer_member).endswith(bytes.fromhex("01 00 01 00"))


def test_assignment_epochs_that_do_not_line_up_are_ignored_like_kafka() -> None:
    key = ConsumerGroupCurrentMemberAssignmentKey("g", "m")
    # Two partitions, one epoch: Kafka logs an error and uses max(member epoch, 0).
    data = (
        bytes.fromhex("0000 00000009 00000008 00 02")
        + FOO.bytes
        + bytes.fromhex("03 00000000 00000001 01 00 05 02 00000004 01 00")
    )
    value = decode_value(key, data)
    assert isinstance(value, ConsumerGroupCurrentMemberAssignmentValue)
    assert value.assigned_partitions == {FOO: frozenset({0, 1})}
    assert value.assigned_epochs == {}
    assert value.effective_epochs() == {FOO: {0: 9, 1: 9}}


def test_effective_epochs_default_to_the_member_epoch_but_never_below_zero() -> None:
    value = ConsumerGroupCurrentMemberAssignmentValue(
        -2,
        3,
        MemberState.STABLE,
        {FOO: frozenset({0, 1}), BAR: frozenset({2})},
        {BAR: frozenset({7})},
        assigned_epochs={FOO: {0: 4, 1: 5}},
    )
    assert value.effective_epochs() == {FOO: {0: 4, 1: 5}, BAR: {2: 0}}
    assert value.effective_epochs(pending_revocation=True) == {BAR: {7: 0}}


def test_missing_epoch_for_a_partition_is_refused() -> None:
    value = ConsumerGroupCurrentMemberAssignmentValue(
        1, 0, MemberState.STABLE, {FOO: frozenset({0, 1})}, assigned_epochs={FOO: {0: 1}}
    )
    with pytest.raises(ValueError, match="assignment epoch"):
        encode_value(value)


@pytest.mark.parametrize(
    "key_hex",
    [
        "0001 0003677270 0001 74 00000000",  # OffsetCommitKey
        "00020003677270",  # GroupMetadataKey
        "000b0003677270",  # ShareGroupMetadataKey
        "00110003677270",  # StreamsGroupMetadataKey
    ],
)
def test_other_record_types_are_not_consumer_group_keys(key_hex: str) -> None:
    assert decode_key(bytes.fromhex(key_hex)) is None


def test_unknown_value_version_is_refused() -> None:
    with pytest.raises(RecordDecodeError, match="version 1"):
        decode_value(GROUP, bytes.fromhex("0001 0000000a 00"))


def test_truncated_value_is_refused() -> None:
    with pytest.raises(RecordDecodeError):
        decode_value(GROUP, bytes.fromhex("0000 0000"))


def test_key_and_value_types_must_match() -> None:
    with pytest.raises(TypeError):
        consumer_record(GROUP, ConsumerGroupTargetAssignmentMetadataValue(1))


# -- properties -----------------------------------------------------------------------------

int32 = st.integers(-(2**31), 2**31 - 1)
int64 = st.integers(-(2**63), 2**63 - 1)
text = st.text(max_size=12)
names = st.frozensets(text, max_size=4)
assignments = st.dictionaries(
    st.uuids(), st.frozensets(st.integers(0, 2**31 - 1), min_size=1, max_size=5), max_size=3
)


@st.composite
def epochs_for(draw: st.DrawFn, assignment: dict[uuid.UUID, frozenset[int]]) -> dict:  # type: ignore[type-arg]
    topics = draw(st.lists(st.sampled_from(sorted(assignment)), unique=True)) if assignment else []
    return {t: {p: draw(int32) for p in assignment[t]} for t in topics}


@st.composite
def current_assignments(draw: st.DrawFn) -> ConsumerGroupCurrentMemberAssignmentValue:
    assigned, pending = draw(assignments), draw(assignments)
    return ConsumerGroupCurrentMemberAssignmentValue(
        draw(int32),
        draw(int32),
        draw(st.sampled_from(list(MemberState))),
        assigned,
        pending,
        draw(epochs_for(assigned)),
        draw(epochs_for(pending)),
    )


classics = st.none() | st.builds(
    ClassicMemberMetadata, int32, st.lists(st.tuples(text, st.binary(max_size=8))).map(tuple)
)

values = st.one_of(
    st.builds(ConsumerGroupMetadataValue, int32, int64),
    st.builds(
        ConsumerGroupPartitionMetadataValue,
        st.lists(
            st.builds(
                TopicMetadata,
                st.uuids(),
                text,
                int32,
                st.lists(st.tuples(int32, st.lists(text).map(tuple))).map(tuple),
            )
        ).map(tuple),
    ),
    st.builds(
        ConsumerGroupMemberMetadataValue,
        st.none() | text,
        st.none() | text,
        text,
        text,
        names,
        st.none() | text,
        int32,
        st.none() | text,
        classics,
    ),
    st.builds(ConsumerGroupTargetAssignmentMetadataValue, int32, int64),
    st.builds(ConsumerGroupTargetAssignmentMemberValue, assignments),
    current_assignments(),
    st.builds(ConsumerGroupRegularExpressionValue, names, int64, int64),
)

_KEY_FOR = {
    ConsumerGroupMetadataValue: ConsumerGroupMetadataKey("g"),
    ConsumerGroupPartitionMetadataValue: ConsumerGroupPartitionMetadataKey("g"),
    ConsumerGroupMemberMetadataValue: ConsumerGroupMemberMetadataKey("g", "m"),
    ConsumerGroupTargetAssignmentMetadataValue: ConsumerGroupTargetAssignmentMetadataKey("g"),
    ConsumerGroupTargetAssignmentMemberValue: ConsumerGroupTargetAssignmentMemberKey("g", "m"),
    ConsumerGroupCurrentMemberAssignmentValue: ConsumerGroupCurrentMemberAssignmentKey("g", "m"),
    ConsumerGroupRegularExpressionValue: ConsumerGroupRegularExpressionKey("g", "r"),
}


@given(values)
def test_values_round_trip(value: ConsumerGroupValue) -> None:
    key = _KEY_FOR[type(value)]
    assert decode_value(key, encode_value(value)) == value


keys = st.one_of(
    st.builds(ConsumerGroupMetadataKey, text),
    st.builds(ConsumerGroupPartitionMetadataKey, text),
    st.builds(ConsumerGroupMemberMetadataKey, text, text),
    st.builds(ConsumerGroupTargetAssignmentMetadataKey, text),
    st.builds(ConsumerGroupTargetAssignmentMemberKey, text, text),
    st.builds(ConsumerGroupCurrentMemberAssignmentKey, text, text),
    st.builds(ConsumerGroupRegularExpressionKey, text, text),
)


@given(keys)
def test_keys_round_trip(key: ConsumerGroupKey) -> None:
    encoded, value = consumer_record(key, None)
    assert value is None
    assert decode_key(encoded) == key


@given(st.binary(max_size=64))
def test_garbage_never_escapes_as_another_error(data: bytes) -> None:
    for key in _KEY_FOR.values():
        with contextlib.suppress(RecordDecodeError):
            decode_value(key, data)


# -- KIP-1101 metadata hash (values printed by the same Java program) ----------------------


def test_topic_and_group_hashes_match_kafka() -> None:
    from kwire.coordinator.group.consumer.metadata_hash import group_hash, topic_hash

    foo = topic_hash(FOO, "foo", [["r2", "r1"], ["r1"], []])
    bar = topic_hash(BAR, "bar", [[]])
    assert foo == 5330797216325642575
    assert bar == 1266056261650007763
    assert group_hash({"foo": foo, "bar": bar}) == 8133020580102846214
    assert group_hash({"bar": bar, "foo": foo}) == 8133020580102846214
    assert group_hash({}) == 0
