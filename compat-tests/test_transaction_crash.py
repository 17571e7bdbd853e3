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

import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from txn_support import create_topics, read_until_sentinels, txn_producer, write_sentinels

pytestmark = [pytest.mark.slow]

PARTITIONS = 3
COMPAT_DIR = Path(__file__).resolve().parent


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
    again = txn_producer(broker.bootstrap, txn_id, log_level=0)  # quiet while the broker loads
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

# The first producer runs in a process of its own, so that the test can
# SIGKILL it together with the broker: after the restart only the
# coordinator's recovered state decides the outcome, not a client retrying
# its EndTxn.
_COMMITTER = r"""
import sys
sys.path.insert(0, sys.argv[4])
from txn_support import txn_producer
bootstrap, topic, txn_id, _, partitions, n = sys.argv[1:7]
p = txn_producer(bootstrap, txn_id, **{"transaction.timeout.ms": 60000, "log_level": 0})
p.init_transactions(30)
p.begin_transaction()
for i in range(int(n)):
    while True:
        try:
            p.produce(topic, b"big-%05d-" % i + b"x" * 100, partition=i % int(partitions))
            break
        except BufferError:
            p.poll(0.05)
assert p.flush(60) == 0
print("COMMITTING", flush=True)
try:
    p.commit_transaction(40)
    print("COMMITTED", flush=True)
except KafkaException as e:
    print(f"FAILED {e}", flush=True)
"""


@pytest.mark.parametrize("kill_after", [0.0, 0.003, 0.01, 0.03, 0.1])
@pytest.mark.timeout(150)
def test_kill9_during_commit_is_all_or_nothing(kwire_factory, topic_name, kill_after,
                                               tmp_path) -> None:
    broker = kwire_factory().start()
    create_topics(broker.bootstrap, {topic_name: PARTITIONS})
    txn_id = f"compat-crash-commit-{uuid.uuid4().hex[:8]}"
    with open(tmp_path / "committer.log", "wb") as err:
        child = subprocess.Popen(
            [sys.executable, "-c", _COMMITTER, broker.bootstrap, topic_name, txn_id,
             str(COMPAT_DIR), str(PARTITIONS), str(BIG)],
            stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True)
    try:
        assert child.stdout is not None
        line = child.stdout.readline().strip()  # bounded by the test's timeout
        assert line == "COMMITTING", f"{line!r}: {(tmp_path / 'committer.log').read_text()}"
        time.sleep(kill_after)
        broker.kill()  # EndTxn in flight, PrepareCommit written or not, markers half written
        child.kill()
        child.wait(10)
        rest = child.stdout.read()
    finally:
        child.kill()
    committed = "COMMITTED" in rest
    broker.restart()

    # A new instance settles the transaction: the coordinator finished a
    # PrepareCommit when it loaded it; an Ongoing one is aborted now.
    again = txn_producer(broker.bootstrap, txn_id, log_level=0)  # quiet while the broker loads
    again.init_transactions(60)

    tps = _tps(topic_name)
    write_sentinels(broker.bootstrap, tps)
    visible = read_until_sentinels(broker.bootstrap, tps, "read_committed", timeout=90)
    values = [v for vs in visible.values() for v in vs]
    print(f"{broker.name}, kill {kill_after} s after commit_transaction(): "
          f"{'acknowledged' if committed else 'not acknowledged'}; "
          f"{len(values)} of {BIG} visible")
    assert len(values) in (0, BIG), (
        f"a partly visible transaction: {len(values)} of {BIG} records")
    if committed:
        assert len(values) == BIG, "commit_transaction() succeeded but the data is not visible"
    if values:
        assert len(set(values)) == BIG, "committed records seen twice"
        for part in range(PARTITIONS):
            assert visible[(topic_name, part)] == [
                b"big-%05d-" % i + b"x" * 100 for i in range(part, BIG, PARTITIONS)], part
    broker.stop()
