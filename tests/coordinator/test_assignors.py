"""KIP-848 server-side assignors: balance, stickiness, errors, determinism.

Exact equality with Kafka 4.4 is checked in compat-tests/test_assignors_vs_kafka.py;
these are the fast properties and the Java-order building blocks.
"""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kwire.coordinator.group.consumer.assignors import (
    ASSIGNORS,
    DEFAULT_ASSIGNOR,
    GROUP_CONSUMER_ASSIGNORS_DEFAULT,
    GroupSpec,
    MemberSubscriptionSpec,
    PartitionAssignorError,
    RangeAssignor,
    StaticTopicDescriber,
    SubscriptionType,
    UniformAssignor,
)
from kwire.coordinator.group.consumer.assignors.java_order import (
    copy_order,
    int_hash,
    put_order,
    string_hash,
    uuid_hash,
    uuid_sort_key,
)

T1 = uuid.UUID("9f3e1a2b-4c5d-6e7f-8091-a2b3c4d5e6f7")
T2 = uuid.UUID("1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9")
T3 = uuid.UUID("00000000-0000-0000-0000-000000000003")

Result = dict[str, dict[uuid.UUID, frozenset[int]]]


def member(*topics: uuid.UUID, owned: dict[uuid.UUID, set[int]] | None = None,
           instance_id: str | None = None) -> MemberSubscriptionSpec:
    return MemberSubscriptionSpec(
        frozenset(topics), {t: frozenset(p) for t, p in (owned or {}).items()},
        instance_id=instance_id)


def sizes(result: Result) -> dict[str, int]:
    return {m: sum(len(p) for p in a.values()) for m, a in result.items()}


def owners(result: Result) -> Counter[tuple[uuid.UUID, int]]:
    return Counter((t, p) for a in result.values() for t, ps in a.items() for p in ps)


def test_registry_and_default() -> None:
    assert GROUP_CONSUMER_ASSIGNORS_DEFAULT == ("uniform", "range")
    assert DEFAULT_ASSIGNOR == "uniform"
    assert {name: a.name for name, a in ASSIGNORS.items()} == {"uniform": "uniform",
                                                               "range": "range"}


def test_java_hash_codes_and_orders() -> None:
    # Values printed by the JVM (String/Uuid/HashSet) for the same inputs.
    assert string_hash("abc") == 96354
    assert string_hash("\U0001F600x") == 54959989
    assert uuid_hash(T1) == -1759039472
    keys = [i * 37 % 101 for i in range(12)]
    assert put_order(keys, int_hash) == [0, 67, 3, 84, 20, 37, 57, 74, 10, 94, 30, 47]
    assert copy_order(keys, int_hash) == [0, 67, 3, 37, 74, 10, 47, 84, 20, 57, 94, 30]
    # Uuid.compareTo is signed: a set top bit sorts first.
    assert sorted([T3, T1], key=uuid_sort_key) == [T1, T3]


@pytest.mark.parametrize("assignor", [UniformAssignor(), RangeAssignor()])
@pytest.mark.parametrize("other", [[T2], [T1]])  # homogeneous, heterogeneous
def test_missing_topic_is_an_assignor_error(assignor: UniformAssignor | RangeAssignor,
                                            other: list[uuid.UUID]) -> None:
    spec = GroupSpec.of({"a": member(T2), "b": member(*other)})
    with pytest.raises(PartitionAssignorError):
        assignor.assign(spec, StaticTopicDescriber({T1: 3}))


def test_empty_groups_and_subscriptions() -> None:
    topics = StaticTopicDescriber({T1: 3})
    empty = GroupSpec({}, SubscriptionType.HOMOGENEOUS)
    assert UniformAssignor().assign(empty, topics) == {}
    assert RangeAssignor().assign(empty, topics) == {}
    unsubscribed = GroupSpec.of({"a": member(), "b": member()})
    # Kafka's uniform assignor answers nobody; the range assignor answers everybody.
    assert UniformAssignor().assign(unsubscribed, topics) == {}
    assert RangeAssignor().assign(unsubscribed, topics) == {"a": {}, "b": {}}


def test_uniform_keeps_a_full_member_whole() -> None:
    # Kafka 4.4: the member that cannot fill its extra slot gives it up to the one
    # that already holds quota + 1 partitions, so nothing moves from b.
    spec = GroupSpec.of({"m1": member(T1), "m2": member(T1, owned={T1: {0, 1, 2, 3, 4}})})
    result = UniformAssignor().assign(spec, StaticTopicDescriber({T1: 5}))
    assert result == {"m1": {T1: frozenset({3, 4})}, "m2": {T1: frozenset({0, 1, 2})}}


def test_uniform_revokes_unsubscribed_topics() -> None:
    spec = GroupSpec.of({"a": member(T1, owned={T1: {0}, T2: {0, 1}}),
                         "b": member(T2, owned={T2: {2}})})
    result = UniformAssignor().assign(spec, StaticTopicDescriber({T1: 2, T2: 3}))
    assert result == {"a": {T1: frozenset({0, 1})}, "b": {T2: frozenset({0, 1, 2})}}


def test_range_co_partitions_and_puts_static_members_first() -> None:
    spec = GroupSpec.of({"M0": member(T1, T2), "M1": member(T1, T2)})
    assert RangeAssignor().assign(spec, StaticTopicDescriber({T1: 3, T2: 3})) == {
        "M0": {T1: frozenset({0, 1}), T2: frozenset({0, 1})},
        "M1": {T1: frozenset({2}), T2: frozenset({2})},
    }
    spec = GroupSpec.of({"A": member(T1), "B": member(T1, instance_id="I1"),
                         "C": member(T1, instance_id="I0")})
    result = RangeAssignor().assign(spec, StaticTopicDescriber({T1: 3}))
    assert result == {"C": {T1: frozenset({0})}, "B": {T1: frozenset({1})},
                      "A": {T1: frozenset({2})}}


TOPICS = [T1, T2, T3]


@st.composite
def groups(draw: st.DrawFn, homogeneous: bool) -> tuple[GroupSpec, StaticTopicDescriber]:
    counts = {t: draw(st.integers(1, 30)) for t in TOPICS}
    ids = draw(st.lists(st.text("abcxyz0123", min_size=1, max_size=6), min_size=1,
                        max_size=8, unique=True))
    shared = frozenset(draw(st.sets(st.sampled_from(TOPICS), min_size=1)))
    subs = {m: shared if homogeneous else frozenset(draw(st.sets(st.sampled_from(TOPICS))))
            for m in ids}
    # A valid previous target: each partition owned by at most one member.
    owned: dict[str, dict[uuid.UUID, set[int]]] = {m: {} for m in ids}
    for topic_id, count in counts.items():
        for partition in range(count):
            holder = draw(st.sampled_from([None, *ids]))
            if holder is not None:
                owned[holder].setdefault(topic_id, set()).add(partition)
    members = {m: MemberSubscriptionSpec(subs[m], {t: frozenset(p) for t, p in owned[m].items()})
               for m in ids}
    return GroupSpec.of(members), StaticTopicDescriber(counts)


def check_complete(spec: GroupSpec, topics: StaticTopicDescriber, result: Result) -> None:
    """Every subscribed partition goes to exactly one subscriber; no empty sets."""
    counts = owners(result)
    assert all(n == 1 for n in counts.values())
    subscribed = {t for m in spec.members.values() for t in m.subscribed_topic_ids}
    assert set(counts) == {(t, p) for t in subscribed for p in range(topics.partition_count(t))}
    for member_id, assignment in result.items():
        assert all(assignment.values())
        assert set(assignment) <= spec.members[member_id].subscribed_topic_ids


@settings(max_examples=150, deadline=None)
@given(groups(homogeneous=True))
def test_uniform_homogeneous_is_balanced_and_sticky(group: tuple[GroupSpec,
                                                                 StaticTopicDescriber]) -> None:
    spec, topics = group
    result = UniformAssignor().assign(spec, topics)
    check_complete(spec, topics, result)
    counts = sizes(result)
    low, high = min(counts.values()), max(counts.values())
    assert high - low <= 1
    for member_id, m in spec.members.items():
        still_wanted = {t: p for t, p in m.assigned_partitions.items()
                        if t in m.subscribed_topic_ids}
        kept = sum(len(result[member_id].get(t, frozenset()) & p) for t, p in still_wanted.items())
        # A member keeps as many of its partitions as its quota allows.
        assert kept >= min(sum(len(p) for p in still_wanted.values()), low)
    # Assigning again with the result as the target changes nothing.
    again = GroupSpec.of({m: MemberSubscriptionSpec(spec.members[m].subscribed_topic_ids,
                                                    result.get(m, {})) for m in spec.members})
    assert UniformAssignor().assign(again, topics) == result


@settings(max_examples=150, deadline=None)
@given(groups(homogeneous=False))
def test_uniform_heterogeneous_is_complete_and_stable(group: tuple[GroupSpec,
                                                                   StaticTopicDescriber]) -> None:
    spec, topics = group
    result = UniformAssignor().assign(spec, topics)
    if not any(m.subscribed_topic_ids for m in spec.members.values()):
        assert result == {}
        return
    check_complete(spec, topics, result)
    again = GroupSpec.of({m: MemberSubscriptionSpec(spec.members[m].subscribed_topic_ids,
                                                    result.get(m, {})) for m in spec.members})
    assert UniformAssignor().assign(again, topics) == result


@settings(max_examples=100, deadline=None)
@given(groups(homogeneous=False))
def test_range_is_complete_and_ignores_the_current_assignment(
        group: tuple[GroupSpec, StaticTopicDescriber]) -> None:
    spec, topics = group
    result = RangeAssignor().assign(spec, topics)
    check_complete(spec, topics, result)
    for topic_id in topics.partition_counts:
        got = [result[m].get(topic_id, frozenset()) for m, s in spec.members.items()
               if topic_id in s.subscribed_topic_ids]
        # Subscribers get contiguous ranges whose sizes differ by at most one.
        assert not got or max(map(len, got)) - min(map(len, got)) <= 1
        assert all(p == frozenset(range(min(p), max(p) + 1)) for p in got if p)
    cleared = GroupSpec.of({m: MemberSubscriptionSpec(s.subscribed_topic_ids)
                            for m, s in spec.members.items()})
    assert RangeAssignor().assign(cleared, topics) == result


@pytest.mark.parametrize("assignor", [UniformAssignor(), RangeAssignor()])
def test_deterministic_whatever_the_set_iteration_order(
        assignor: UniformAssignor | RangeAssignor) -> None:
    topics = StaticTopicDescriber({T1: 7, T2: 5, T3: 9})
    forward = GroupSpec.of({m: member(*TOPICS[: i % 3 + 1], owned={T1: {i}})
                            for i, m in enumerate(["x", "y", "z", "w"])})
    backward = GroupSpec.of({m: member(*reversed(TOPICS[: i % 3 + 1]), owned={T1: {i}})
                             for i, m in enumerate(["x", "y", "z", "w"])})
    assert assignor.assign(forward, topics) == assignor.assign(backward, topics)
    assert assignor.assign(forward, topics) == assignor.assign(forward, topics)
