"""kwire's KIP-848 assignors (uniform, range) against Kafka 4.4's own classes.

Generates seeded pseudo-random groups (homogeneous and heterogeneous subscriptions,
members joining and leaving with their previous target assignments, partition counts
growing, topics deleted, static members, now and then a subscription to a topic that
does not exist), runs Kafka's assignors on them through compat-tests/java/
AssignorCheck.java in one JVM, and asserts kwire computes exactly the same assignment
(or fails the same way) for every case.

Kafka's jars: $KWIRE_KAFKA_LIBS, else whatever KafkaTools.locate() fetches.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from harness import COMPAT_DIR, KafkaTools

from kwire.coordinator.group.consumer.assignors import (
    ASSIGNORS,
    GroupSpec,
    MemberSubscriptionSpec,
    PartitionAssignorError,
    StaticTopicDescriber,
    subscription_type_of,
)
from kwire.coordinator.group.consumer.assignors.java_order import uuid_sort_key

SOURCE = COMPAT_DIR / "java" / "AssignorCheck.java"
CASES_PER_ASSIGNOR = 500
SEED = 848

GroupResult = dict[str, dict[uuid.UUID, frozenset[int]]] | None  # None: PartitionAssignorError


@dataclass
class Case:
    assignor: str
    members: dict[str, MemberSubscriptionSpec]
    counts: dict[uuid.UUID, int]

    def spec(self) -> GroupSpec:
        return GroupSpec.of(self.members)

    def line(self) -> str:
        topics = ",".join(f"{t}:{n}" for t, n in self.counts.items()) or "-"
        fields = [self.assignor, self.spec().subscription_type.name, topics]
        for member_id, m in self.members.items():
            subs = ",".join(str(t) for t in sorted(m.subscribed_topic_ids, key=uuid_sort_key))
            owned = ",".join(f"{t}=" + ".".join(map(str, sorted(p)))
                             for t, p in m.assigned_partitions.items())
            fields.append(";".join([member_id, m.instance_id or "-", m.rack_id or "-",
                                    subs or "-", owned or "-"]))
        return "|".join(fields)


def _member_id(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return f"m{rng.randrange(100)}"
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return "".join(rng.choice(alphabet) for _ in range(22))


def _case(rng: random.Random, assignor: str) -> Case:
    """A group after some change: the previous target assignment was valid for the old
    members and topics; now members come and go, topics grow or vanish."""
    old_counts = {uuid.UUID(int=rng.getrandbits(128)): rng.choice([1, 2, 3, 4, 6, 8, 12, 20, 40])
                  for _ in range(rng.randint(1, 6))}
    counts = {}
    for topic_id, n in old_counts.items():
        if rng.random() < 0.15:
            continue  # deleted
        counts[topic_id] = n + (rng.randint(1, 10) if rng.random() < 0.25 else 0)
    for _ in range(rng.choice([0, 0, 0, 1, 2])):
        counts[uuid.UUID(int=rng.getrandbits(128))] = rng.randint(1, 24)

    old_ids = list(dict.fromkeys(_member_id(rng) for _ in range(rng.randint(1, 9))))
    owned: dict[str, dict[uuid.UUID, set[int]]] = {m: {} for m in old_ids}
    for topic_id, n in old_counts.items():
        for partition in range(n):
            if rng.random() < 0.85:
                owned[rng.choice(old_ids)].setdefault(topic_id, set()).add(partition)
    staying = [m for m in old_ids if rng.random() < 0.8] or old_ids[:1]
    joining = [_member_id(rng) for _ in range(rng.choice([0, 0, 1, 2, 3]))]
    member_ids = list(dict.fromkeys(staying + joining))
    rng.shuffle(member_ids)

    live = list(counts)
    homogeneous = rng.random() < 0.5
    shared = frozenset(rng.sample(live, rng.randint(0, len(live)))) if live else frozenset()
    members = {}
    for member_id in member_ids:
        subs = shared if homogeneous else frozenset(
            t for t in live if rng.random() < 0.5)
        if rng.random() < 0.01:
            subs = subs | {uuid.UUID(int=rng.getrandbits(128))}  # not in the metadata
        topics_owned = list(owned.get(member_id, {}).items())
        rng.shuffle(topics_owned)
        members[member_id] = MemberSubscriptionSpec(
            subscribed_topic_ids=subs,
            assigned_partitions={t: frozenset(p) for t, p in topics_owned},
            instance_id=f"i{rng.randrange(50)}-{member_id[:3]}" if rng.random() < 0.3 else None,
            rack_id=rng.choice([None, "r1", "r2"]),
        )
    topic_order = list(counts.items())
    rng.shuffle(topic_order)
    return Case(assignor, members, dict(topic_order))


def _cases() -> list[Case]:
    rng = random.Random(SEED)
    return [_case(rng, name) for name in ASSIGNORS for _ in range(CASES_PER_ASSIGNOR)]


def _kwire(case: Case) -> GroupResult:
    try:
        return ASSIGNORS[case.assignor].assign(case.spec(), StaticTopicDescriber(case.counts))
    except PartitionAssignorError:
        return None


def _parse(line: str) -> GroupResult:
    kind, _, rest = line.partition("|")
    if kind == "ERR":
        return None
    assert kind == "OK", f"Kafka's assignor crashed: {line}"
    result: dict[str, dict[uuid.UUID, frozenset[int]]] = {}
    for member in rest.split("|") if rest else []:
        member_id, _, owned = member.partition(";")
        result[member_id] = {} if owned == "-" else {
            uuid.UUID(t): frozenset(int(p) for p in ps.split("."))
            for t, ps in (tp.split("=") for tp in owned.split(","))}
    return result


@pytest.fixture(scope="module")
def kafka_check(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    java, javac = shutil.which("java"), shutil.which("javac")
    if java is None or javac is None:
        pytest.skip("java/javac not found on PATH (JDK 17 needed)")
    env_libs = os.environ.get("KWIRE_KAFKA_LIBS")
    if env_libs:
        libs = Path(env_libs)
    else:
        try:
            libs = KafkaTools.locate().libs
        except RuntimeError as e:
            pytest.skip(str(e))
    if not any(libs.glob("kafka-group-coordinator-*.jar")):
        pytest.skip(f"{libs} holds no kafka-group-coordinator jar")
    classes = tmp_path_factory.mktemp("assignor-check")
    p = subprocess.run([javac, "-nowarn", "-cp", f"{libs}/*", "-d", str(classes), str(SOURCE)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"javac failed:\n{p.stdout}{p.stderr}"
    return java, libs, classes


def test_assignors_match_kafka(kafka_check: tuple[str, Path, Path]) -> None:
    java, libs, classes = kafka_check
    cases = _cases()
    p = subprocess.run(
        [java, "-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
         "-cp", f"{classes}:{libs}/*", "AssignorCheck"],
        input="".join(case.line() + "\n" for case in cases),
        capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr[-3000:]
    answers = p.stdout.splitlines()
    assert len(answers) == len(cases)

    mismatches = []
    errors = {name: 0 for name in ASSIGNORS}
    for case, answer in zip(cases, answers, strict=True):
        expected = _parse(answer)
        if expected is None:
            errors[case.assignor] += 1
        if _kwire(case) != expected:
            mismatches.append(f"{case.line()}\n  kafka: {answer}\n  kwire: {_kwire(case)}")
    assert not mismatches, f"{len(mismatches)}/{len(cases)} differ; first:\n" + mismatches[0]
    # The generator must reach both outcomes and both subscription types.
    types = {subscription_type_of(case.members) for case in cases}
    assert len(types) == 2
    assert all(0 < n < CASES_PER_ASSIGNOR // 5 for n in errors.values()), errors
