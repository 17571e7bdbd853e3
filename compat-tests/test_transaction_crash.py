"""kill -9 of the broker in the middle of a transaction and in the middle of
its commit. After the restart the transaction state is recovered from
__transaction_state as Kafka's coordinator does it: an Ongoing transaction is
aborted when its producer's transactional id is initialised again, a commit
whose PrepareCommit was written completes; read_committed consumers never see
aborted data and see committed data exactly once.

These control the broker process (kwire_factory), so they skip under
--bootstrap; `--process-broker kafka` runs them against a real Kafka 4.4.0,
which is how they were checked.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from confluent_kafka import KafkaException
from txn_support import create_topics, read_until_sentinels, txn_producer, write_sentinels

pytestmark = [pytest.mark.slow]

PARTITIONS = 3


def _tps(topic: str) -> list[tuple[str, int]]:
    return [(topic, p) for p in range(PARTITIONS)]


@pytest.mark.timeout(150)
def test_kill9_mid_transaction_aborts_it(kwire_factory, topic_name) -> None:
    broker = kwire_factory().start()
    create_topics(broker.bootstrap, {topic_name: PARTITIONS})
    txn_id = f"compat-crash-{uuid.uuid4().hex[:8]}"
    p = txn_producer(broker.bootstrap, txn_id, log_level=0)  # the kill makes it noisy
    p.init_transactions(30)
    p.begin_transaction()
    for i in range(30):
        p.produce(topic_name, b"before-%d" % i, partition=i % PARTITIONS)
    p.commit_transaction(30)
    p.begin_transaction()
    for i in range(30):
        p.produce(topic_name, b"open-%d" % i, partition=i % PARTITIONS)
    assert p.flush(30) == 0

    broker.kill()  # the transaction is Ongoing in __transaction_state
    del p  # the producer died with it
    broker.restart()

    # A new instance with the same transactional id: InitProducerId finds the
    # recovered Ongoing transaction and aborts it before handing out the epoch.
    again = txn_producer(broker.bootstrap, txn_id)
    again.init_transactions(60)
    again.begin_transaction()
    for i in range(30):
        again.produce(topic_name, b"after-%d" % i, partition=i % PARTITIONS)
    again.commit_transaction(30)

    tps = _tps(topic_name)
    write_sentinels(broker.bootstrap, tps)
    visible = read_until_sentinels(broker.bootstrap, tps, "read_committed")
    log = read_until_sentinels(broker.bootstrap, tps, "read_uncommitted")
    for part in range(PARTITIONS):
        assert visible[(topic_name, part)] == (
            [b"before-%d" % i for i in range(part, 30, PARTITIONS)]
            + [b"after-%d" % i for i in range(part, 30, PARTITIONS)]), part
        assert [v for v in log[(topic_name, part)] if v.startswith(b"open-")] == [
            b"open-%d" % i for i in range(part, 30, PARTITIONS)], "the aborted records are stored"
    broker.stop()


BIG = 30_000


@pytest.mark.parametrize("kill_after", [0.0, 0.15])
@pytest.mark.timeout(150)
def test_kill9_during_commit_is_all_or_nothing(kwire_factory, topic_name, kill_after) -> None:
    broker = kwire_factory().start()
    create_topics(broker.bootstrap, {topic_name: PARTITIONS})
    txn_id = f"compat-crash-commit-{uuid.uuid4().hex[:8]}"
    p = txn_producer(broker.bootstrap, txn_id, **{"transaction.timeout.ms": 60000,
                                              "log_level": 0})  # the kill makes it noisy
    p.init_transactions(30)
    p.begin_transaction()
    big = [b"big-%05d-" % i + b"x" * 100 for i in range(BIG)]
    for i, v in enumerate(big):
        while True:
            try:
                p.produce(topic_name, v, partition=i % PARTITIONS)
                break
            except BufferError:
                p.poll(0.05)
    assert p.flush(60) == 0

    outcome: list[str] = []

    def commit() -> None:
        try:
            p.commit_transaction(40)
            outcome.append("committed")
        except KafkaException as e:
            outcome.append(f"failed: {e.args[0]}")

    t = threading.Thread(target=commit, daemon=True)
    t.start()
    time.sleep(kill_after)
    broker.kill()  # EndTxn in flight, or markers half written
    time.sleep(0.5)
    broker.restart()
    t.join(60)
    assert not t.is_alive(), "commit_transaction did not return"

    # Whatever the first instance learnt, a new instance settles the
    # transaction: a PrepareCommit is completed, an Ongoing one aborted.
    again = txn_producer(broker.bootstrap, txn_id)
    again.init_transactions(60)

    tps = _tps(topic_name)
    write_sentinels(broker.bootstrap, tps)
    visible = read_until_sentinels(broker.bootstrap, tps, "read_committed", timeout=90)
    values = [v for vs in visible.values() for v in vs]
    print(f"{broker.name}, kill {kill_after} s after commit_transaction(): {outcome[0]}; "
          f"{len(values)} of {BIG} visible")
    assert len(values) in (0, BIG), (
        f"a partly visible transaction: {len(values)} of {BIG} records ({outcome[0]})")
    if outcome[0] == "committed":
        assert len(values) == BIG, "commit_transaction() succeeded but the data is not visible"
    if values:
        assert len(set(values)) == BIG, "committed records seen twice"
        for part in range(PARTITIONS):
            assert visible[(topic_name, part)] == big[part::PARTITIONS], part
    broker.stop()
