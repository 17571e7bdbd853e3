"""Kafka Streams with processing.guarantee=exactly_once_v2 against kwire and a real Kafka.

A word count (compat-tests/java/streams/StreamsWordCount.java: lines ->
words -> groupBy -> count -> output) reads the same deterministic 5,000 lines
on a real Apache Kafka 4.4.0 (started here) and on the session's broker (kwire,
or --bootstrap's). The output topic is read back with read_committed (librdkafka)
and the last count per word must equal the count Python computes from the
input: exactly once means no word counted twice and none lost, also when the
Streams JVM is killed with SIGKILL in the middle of a transaction and started
again with the same application.id and state dir (the restarted producer fences
the old one, its open transaction is aborted, the work since the last commit
is done again). A count above the expected one is committed double counting:
the test fails on it at once.

Every Streams transaction spans the output topic, the repartition topic, the
changelog and the consumer offsets (TxnOffsetCommit), so this exercises
InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn,
the markers, read_committed Fetch and OffsetFetch require_stable together.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import KafkaRefProcess, KafkaTools
from streams_support import (
    OutputReader,
    StreamsApp,
    StreamsError,
    StreamsJava,
    count_records,
    create_topics,
    diff_counts,
    expected_counts,
    input_lines,
    produce_lines,
)

pytestmark = [pytest.mark.java, pytest.mark.slow]

LINES = input_lines(5000)
EXPECTED = expected_counts(LINES)
PARTITIONS = 2  # two input tasks, two count tasks: one transaction spans them all
COMMIT_INTERVAL_MS = 200
# kill9: the first JVM freezes its stream thread from this input line on, once
# 20 lines went into the open transaction, and is killed then: earlier
# transactions are committed, the open one holds records.
KILL_AFTER_LINES = 1500
RUN_TIMEOUT = 75.0  # from start to the expected counts, restarts included
STORE = "KSTREAM-AGGREGATE-STATE-STORE-0000000005"  # the count's store, as Streams names it
SETTLE_S = 2.0  # ~10 commit intervals: a late duplicate update would show up here

# The final counts per scenario on the reference Kafka, for the broker's run to compare.
KAFKA_RESULTS: dict[str, dict[str, int]] = {}


@pytest.fixture(scope="module")
def streams_java() -> StreamsJava:
    try:
        return StreamsJava.locate()
    except StreamsError as e:
        pytest.fail(f"Kafka Streams unavailable: {e}", pytrace=False)


@pytest.fixture(scope="module")
def kafka_ref(kafka_tools: KafkaTools, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[str]:
    """A real single-node Apache Kafka 4.4.0 for this module (the reference)."""
    root: Path = tmp_path_factory.mktemp("streams-eos-kafka")
    proc = KafkaRefProcess(root / "data", root / "kafka.log", kafka_tools)
    proc.start()
    try:
        yield proc.bootstrap
        proc.stop()
    finally:
        proc.close()


def _done_or_over(last: dict[str, int]) -> bool:
    """All counts reached, or one is above the input's (counted twice: stop now)."""
    return last == EXPECTED or any(n > EXPECTED.get(w, 0) for w, n in last.items())


def run_word_count(java: StreamsJava, bootstrap: str, work: Path, kill9: bool,
                   guarantee: str = "exactly_once_v2") -> dict[str, int]:
    """Topics, input, the Streams app (killed and restarted if kill9), the output's
    last count per word once it reached EXPECTED (or failed to)."""
    work.mkdir(parents=True, exist_ok=True)
    suffix = uuid.uuid4().hex[:8]
    app_id, source, sink = f"wc-{suffix}", f"wc-in-{suffix}", f"wc-out-{suffix}"
    create_topics(bootstrap, {source: PARTITIONS, sink: PARTITIONS})
    produce_lines(bootstrap, source, LINES)
    app = StreamsApp(java, bootstrap, app_id, source, sink, work / "state", work / "streams.log",
                     COMMIT_INTERVAL_MS, 0, guarantee)
    reader = OutputReader(bootstrap, sink, PARTITIONS)
    try:
        if kill9:
            app.start(freeze_at=KILL_AFTER_LINES)
            app.wait_frozen(RUN_TIMEOUT)
            time.sleep(0.5)  # the producer sends what the open transaction holds
            app.kill()
            reader.poll(1.0)
            committed_before = dict(reader.last)
            assert committed_before != EXPECTED, "the kill came after the work was done"
            app.start()  # same application.id, same state dir: same transactional.id
        else:
            app.start()
        reached = reader.poll_until(_done_or_over, RUN_TIMEOUT, app.check_alive)
        over = {w: n for w, n in reader.last.items() if n > EXPECTED.get(w, 0)}
        assert not over, (f"counted twice (committed counts above the input's): "
                          f"{diff_counts(reader.last, EXPECTED)}\n{app.log_tail()}")
        assert reached, (f"the output did not reach the expected counts within "
                         f"{RUN_TIMEOUT:.0f} s: {diff_counts(reader.last, EXPECTED)}; "
                         f"states {app.states}\n{app.log_tail()}")
        reader.poll(SETTLE_S)
        app.check_alive()
        assert app.stop(), f"Streams app did not close cleanly on SIGTERM\n{app.log_tail()}"
        reader.poll(0.5)
        if kill9:
            # The killed JVM's open transaction had written to the repartition
            # topic: read_committed must skip those records, read_uncommitted not.
            repartition = f"{app_id}-{STORE}-repartition"
            every = count_records(bootstrap, repartition, PARTITIONS, "read_uncommitted")
            committed = count_records(bootstrap, repartition, PARTITIONS, "read_committed")
            assert every > committed, (
                f"the kill left no aborted records in {repartition} ({every} records, "
                f"{committed} committed): it did not land in an open transaction")
        return dict(reader.last)
    finally:
        app.kill()
        reader.close()


SCENARIOS = ["clean", "kill9"]


@pytest.mark.timeout(150)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_word_count_on_kafka(scenario: str, streams_java: StreamsJava, kafka_ref: str,
                             tmp_path: Path) -> None:
    """The reference: Kafka 4.4.0 gives the exact counts (so the scenario is right)."""
    got = run_word_count(streams_java, kafka_ref, tmp_path, kill9=scenario == "kill9")
    assert got == EXPECTED, diff_counts(got, EXPECTED)
    KAFKA_RESULTS[scenario] = got


@pytest.mark.timeout(150)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_word_count_on_broker(scenario: str, streams_java: StreamsJava, broker: object,
                              tmp_path: Path) -> None:
    """The session's broker (kwire) gives the same exact counts as Python and Kafka."""
    bootstrap: str = broker.bootstrap  # type: ignore[attr-defined]
    got = run_word_count(streams_java, bootstrap, tmp_path, kill9=scenario == "kill9")
    assert got == EXPECTED, diff_counts(got, EXPECTED)
    if scenario in KAFKA_RESULTS:  # run after the Kafka test of the same scenario
        assert got == KAFKA_RESULTS[scenario], diff_counts(got, KAFKA_RESULTS[scenario])


@pytest.mark.timeout(150)
def test_kill9_without_eos_double_counts_on_kafka(streams_java: StreamsJava, kafka_ref: str,
                                                  tmp_path: Path) -> None:
    """The test can fail: the same kill -9 under at_least_once (no transactions)
    re-counts the lines processed since the last commit, and run_word_count says so."""
    with pytest.raises(AssertionError, match="counted twice"):
        run_word_count(streams_java, kafka_ref, tmp_path, kill9=True, guarantee="at_least_once")
