"""Durability across broker restarts: graceful (SIGTERM) and crash (kill -9).

These control the broker process, so they start their own (kwire_factory) and
skip under --bootstrap. `--process-broker kafka` runs them against a real Kafka
started from the jars, which is how the scenarios themselves were checked.
"""

from __future__ import annotations

import time

import pytest
from clients import Message, make_client
from durability_support import (
    ContinuousProducer,
    check_acknowledged,
    read_partition_log,
    wait_for,
)

pytestmark = [pytest.mark.slow]

PARTITIONS = 3


@pytest.mark.timeout(180)
def test_graceful_restart_keeps_every_acknowledged_message(kwire_factory, topic_name) -> None:
    broker = kwire_factory().start()
    client = make_client("confluent-kafka", broker.bootstrap)
    client.create_topic(topic_name, PARTITIONS)
    base_ts = int(time.time() * 1000) - 60_000
    msgs = [Message(b"k%d" % (i % 64), b"before-restart %06d " % i + b"x" * 150,
                    (("i", str(i).encode()),), base_ts + i) for i in range(3000)]
    acks = client.produce(topic_name, msgs, codec="lz4", idempotent=True)  # acks=all
    client.close()

    broker.stop()  # SIGTERM: exit code 0 is asserted
    broker.restart()  # same port, same data dir
    client = make_client("confluent-kafka", broker.bootstrap)

    ends = client.end_offsets(topic_name, range(PARTITIONS))
    counts = {p: sum(1 for a in acks if a[0] == p) for p in range(PARTITIONS)}
    assert ends == counts, "high watermarks after restart"
    for p in range(PARTITIONS):
        recs = read_partition_log(client, topic_name, p, ends[p])
        want = [(off, msgs[i]) for i, (pp, off) in enumerate(acks) if pp == p]
        for rec, (off, m) in zip(recs, want, strict=True):
            assert (rec.offset, rec.key, rec.value, rec.headers, rec.timestamp_ms) == (
                off, m.key, m.value, m.headers, m.timestamp_ms)

    # The log keeps going where it stopped: no offset reused, no gap.
    more = [Message(b"k%d" % (i % 64), b"after-restart %06d" % i, (), base_ts + 5000 + i)
            for i in range(300)]
    acks2 = client.produce(topic_name, more, codec="none", idempotent=True)
    for p in range(PARTITIONS):
        offs = sorted(off for pp, off in acks2 if pp == p)
        assert offs == list(range(ends[p], ends[p] + len(offs))), f"partition {p} after restart"
    client.close()
    broker.stop()


@pytest.mark.timeout(240)
def test_kill9_during_produce_loses_no_acknowledged_message(kwire_factory, topic_name) -> None:
    broker = kwire_factory({"log.flush.interval.messages": "1"}).start()
    admin = make_client("confluent-kafka", broker.bootstrap)
    admin.create_topic(topic_name, PARTITIONS)
    admin.close()

    prod = ContinuousProducer(broker.bootstrap, topic_name)
    prod.start()
    try:
        wait_for(lambda: prod.n_acked() >= 3000, 60, "3000 acknowledged messages before the crash")
        broker.kill()  # SIGKILL mid-stream, requests in flight
        acked_before_restart = prod.n_acked()
        time.sleep(1.0)  # the producer keeps queueing and retrying against a dead broker
        broker.restart()  # same port, same data dir
        # The idempotent producer must carry on after the restart.
        wait_for(lambda: prod.n_acked() >= acked_before_restart + 2000, 60,
                 "2000 more acknowledged messages after the restart")
    finally:
        acked, errors = prod.finish()

    client = make_client("confluent-kafka", broker.bootstrap)
    ends = check_acknowledged(client, topic_name, PARTITIONS, acked, errors)
    print(f"{broker.name}: {acked_before_restart} acked before restart, {len(acked)} acked in all, "
          f"{prod.sent} sent, {sum(ends.values())} in the log, {len(errors)} delivery errors")
    client.close()
    broker.stop()
