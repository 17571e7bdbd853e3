"""Kafka's DumpLogSegments (org.apache.kafka.tools.DumpLogSegments, the class
behind kafka-dump-log in 4.4.0) reads the `.txnindex` the broker wrote beside
its segments after aborted transactions.

Two transactions overlap in one partition, both abort, then a third commits:
the index holds one entry per abort, in marker order, each with the last
stable offset at the time of its marker (the first, aborted while the second
is still open, stops at the second's first offset), and none for the commit.
The producer ids are read from the tool's dump of the `.log` (control
batches). The entries must also survive a kill -9 and restart unchanged:
recovery keeps them (none is past the log end) and replaying the log on the
way up must not append them again. Local storage only (BookKeeper ledgers
have no segment files).

Run with `--process-broker kafka` the same test checks a real Kafka 4.4.0
writes exactly these entries.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from txn_support import create_topics, read_until_sentinels, txn_producer, write_sentinels

pytestmark = [pytest.mark.java]

MAIN = "org.apache.kafka.tools.DumpLogSegments"
_BATCH = re.compile(r"baseOffset: (\d+) lastOffset: (\d+) .*?producerId: (-?\d+) "
                    r".*?isControl: (true|false)")


def _partition_dir(data_dir: Path, topic: str) -> Path:
    found = [p for p in data_dir.rglob(f"{topic}-0") if p.is_dir()]
    assert len(found) == 1, f"partition directory of {topic} under {data_dir}: {found}"
    return found[0]


def _dump(kafka_tools, path: Path) -> str:
    rc, out, err = kafka_tools.run(MAIN, "--files", str(path), timeout=60)
    assert rc == 0, f"DumpLogSegments {path.name}: rc {rc}\n{out}\n{err}"
    assert "Mismatches" not in err and "Exception" not in err, err
    return out


def _control_batches(kafka_tools, directory: Path) -> dict[int, int]:
    """Offset -> producer id of every control batch (transaction marker)."""
    markers: dict[int, int] = {}
    for log in sorted(directory.glob("*.log")):
        for base, _last, pid, control in _BATCH.findall(_dump(kafka_tools, log)):
            if control == "true":
                markers[int(base)] = int(pid)
    return markers


def _produce(producer, topic: str, values: list[bytes]) -> None:
    for value in values:
        producer.produce(topic, value, partition=0)
    assert producer.flush(30) == 0


def test_dump_log_segments_reads_the_txnindex(request, kwire_factory, kafka_tools,
                                              topic_name) -> None:
    if request.config.getoption("--log-storage") == "bookkeeper":
        # Not a failure to hide: ledgers have no segment files, by design
        # (kwire/log/api.py AbortedTxnIndex: only the local log keeps them).
        pytest.skip("--log-storage=bookkeeper keeps no segment files")
    broker = kwire_factory().start()
    create_topics(broker.bootstrap, {topic_name: 1})
    run = uuid.uuid4().hex[:8]
    first = txn_producer(broker.bootstrap, f"dump-a-{run}")
    second = txn_producer(broker.bootstrap, f"dump-b-{run}")
    for p in (first, second):
        p.init_transactions(30)
        p.begin_transaction()
    _produce(first, topic_name, [b"a0", b"a1", b"a2"])  # 0..2
    _produce(second, topic_name, [b"b0", b"b1"])  # 3..4
    first.abort_transaction(30)  # marker 5, while the second is open
    second.abort_transaction(30)  # marker 6
    first.begin_transaction()
    _produce(first, topic_name, [b"c0"])  # 7
    first.commit_transaction(30)  # marker 8: no index entry
    # Markers are written after EndTxn returns (Kafka writes them asynchronously):
    # a sentinel readable read_committed means every marker before it is in.
    write_sentinels(broker.bootstrap, [(topic_name, 0)])  # 9
    assert _committed(broker, topic_name) == [b"c0"]
    broker.kill()  # kill -9: the restart below recovers the log and replays it

    directory = _partition_dir(broker.data_dir, topic_name)
    markers = _control_batches(kafka_tools, directory)
    assert sorted(markers) == [5, 6, 8], f"control batches at {markers}"
    indexes = sorted(directory.glob("*.txnindex"))
    assert [p.name for p in indexes] == ["00000000000000000000.txnindex"], indexes
    expected = [
        f"version: 0 producerId: {markers[5]} firstOffset: 0 lastOffset: 5 lastStableOffset: 3",
        f"version: 0 producerId: {markers[6]} firstOffset: 3 lastOffset: 6 lastStableOffset: 7",
    ]
    assert _entries(kafka_tools, indexes[0]) == expected
    content = indexes[0].read_bytes()
    assert len(content) == 2 * 34  # Kafka's AbortedTxn entries, nothing else

    # Recovery and the replay of the log on the way up must keep the entries as
    # they are, and the broker still serves the aborts to read_committed readers.
    broker.start()
    assert _committed(broker, topic_name) == [b"c0"]
    broker.stop()
    assert indexes[0].read_bytes() == content
    assert _entries(kafka_tools, indexes[0]) == expected


def _committed(broker, topic: str) -> list[bytes]:
    read = read_until_sentinels(broker.bootstrap, [(topic, 0)], "read_committed")
    return read[(topic, 0)]


def _entries(kafka_tools, path: Path) -> list[str]:
    return [line for line in _dump(kafka_tools, path).splitlines()
            if line.startswith("version:")]
