"""One member of the exactly-once consume-transform-produce group of
test_transactions.py (run as its own process so the test can SIGKILL it).

usage: python txn_ctp_worker.py <bootstrap> <group> <input topic> <output topic>
                                <transactional id> <stop file>

A confluent-kafka consumer (group member, read_committed, no auto commit) and a
transactional producer: each polled batch is copied to the output topic (same
key and value, the input's partition) and its offsets are committed through
send_offsets_to_transaction in the same transaction (KIP-447: the consumer's
group metadata fences a member that lost its partitions). An abortable error
aborts and rewinds to the group's committed offsets; a fatal one exits 3.
Prints "COMMITTED <records>" after each commit; exits 0 once the stop file exists.
"""

from __future__ import annotations

import os
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition


def main(argv: list[str]) -> int:
    bootstrap, group, in_topic, out_topic, txn_id, stop_file = argv
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
        "isolation.level": "read_committed", "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
        "client.id": f"ctp-{txn_id}", "fetch.wait.max.ms": 100,
    })
    producer = Producer({
        "bootstrap.servers": bootstrap, "transactional.id": txn_id, "linger.ms": 5,
        "transaction.timeout.ms": 20000, "client.id": f"ctp-{txn_id}",
    })
    producer.init_transactions(30)
    consumer.subscribe([in_topic])
    print("READY", flush=True)
    while not os.path.exists(stop_file):
        msgs = [m for m in consumer.consume(200, 0.3) if m.error() is None]
        if not msgs:
            continue
        try:
            producer.begin_transaction()
            for m in msgs:
                producer.produce(out_topic, m.value(), m.key(), partition=m.partition())
            producer.flush(30)
            time.sleep(0.02)  # widen the window in which a SIGKILL leaves the transaction open
            positions = consumer.position(consumer.assignment())
            producer.send_offsets_to_transaction(
                positions, consumer.consumer_group_metadata(), 30)
            producer.commit_transaction(30)
            print(f"COMMITTED {len(msgs)}", flush=True)
        except KafkaException as e:
            err: KafkaError = e.args[0]
            if err.fatal():
                print(f"FATAL {err}", flush=True)
                return 3
            print(f"ABORT {err}", flush=True)
            if err.txn_requires_abort():
                producer.abort_transaction(30)
            # rewind to what the group committed: those records go again
            assigned = consumer.assignment()
            for tp in consumer.committed(assigned, 30):
                consumer.seek(TopicPartition(tp.topic, tp.partition,
                                             tp.offset if tp.offset >= 0 else 0))
    consumer.close()
    producer.flush(10)
    print("STOPPED", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
