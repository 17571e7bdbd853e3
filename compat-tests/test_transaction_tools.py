"""Kafka's `kafka-transactions` tool (org.apache.kafka.tools.TransactionsCommand,
Kafka 4.4.0) against the broker: list (with its 4.x filters), describe,
describe-producers, find-hanging and abort of an open transaction.

The expected headers and messages below are what a real Kafka 4.4.0 printed
for the same steps (`--bootstrap` against one runs the same tests). Not
covered: forceTerminateTransaction (KIP-939, needs two-phase-commit support
and transaction.version 2, which kwire does not advertise) and a truly
hanging transaction (one the coordinator has no record of): Kafka 4.4 checks
that a transactional Produce's partition was added to the transaction
(transaction.partition.verification.enable), so no client can create one; the
abort here is of a transaction the coordinator still holds open.
"""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from txn_support import create_topics, read_until_sentinels, txn_producer, write_sentinels

pytestmark = [pytest.mark.java]

MAIN = "org.apache.kafka.tools.TransactionsCommand"

LIST_HEADER = ["TransactionalId", "Coordinator", "ProducerId", "TransactionState"]
DESCRIBE_HEADER = ["CoordinatorId", "TransactionalId", "ProducerId", "ProducerEpoch",
                   "TransactionState", "TransactionTimeoutMs", "CurrentTransactionStartTimeMs",
                   "TransactionDurationMs", "TopicPartitions"]
PRODUCERS_HEADER = ["ProducerId", "ProducerEpoch", "LatestCoordinatorEpoch", "LastSequence",
                    "LastTimestamp", "CurrentTransactionStartOffset"]
HANGING_HEADER = ["Topic", "Partition", "ProducerId", "ProducerEpoch", "CoordinatorEpoch",
                  "StartOffset", "LastTimestamp", "Duration(min)"]


def tool(kafka_tools, bootstrap: str, *args: str, timeout: float = 60) -> tuple[int, str, str]:
    return kafka_tools.run(MAIN, "--bootstrap-server", bootstrap, *args, timeout=timeout)


def table(out: str) -> tuple[list[str], list[list[str]]]:
    """The tool's tab-separated table: (header, rows), cells stripped."""
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines, f"no output: {out!r}"
    cells = [[c.strip() for c in line.rstrip("\t").split("\t")] for line in lines]
    return cells[0], cells[1:]


def open_transaction(bootstrap: str, topic: str, txn_id: str) -> Producer:
    """A transaction left open (3 records in topic-0), as a producer stuck or
    killed mid-transaction would leave it; 60 s timeout so the coordinator
    does not end it during the test."""
    p = txn_producer(bootstrap, txn_id, **{"transaction.timeout.ms": 60000,
                                           "message.timeout.ms": 60000})
    p.init_transactions(30)
    p.begin_transaction()
    for i in range(3):
        p.produce(topic, b"open-%d" % i, partition=0)
    assert p.flush(30) == 0
    return p


@pytest.mark.timeout(150)
def test_list_and_describe(broker, topic_name, kafka_tools) -> None:
    create_topics(broker.bootstrap, {topic_name: 1})
    prefix = f"compat-tool-{uuid.uuid4().hex[:8]}"
    done = txn_producer(broker.bootstrap, f"{prefix}-done")
    done.init_transactions(30)
    done.begin_transaction()
    done.produce(topic_name, b"committed", partition=0)
    done.commit_transaction(30)
    held = open_transaction(broker.bootstrap, topic_name, f"{prefix}-open")

    rc, out, err = tool(kafka_tools, broker.bootstrap, "list",
                        "--transactional-id-pattern", f"{prefix}-.*")
    assert rc == 0, out + err
    header, rows = table(out)
    assert header == LIST_HEADER
    states = {r[0]: r[3] for r in rows}
    assert states == {f"{prefix}-done": "CompleteCommit", f"{prefix}-open": "Ongoing"}, out
    assert all(r[1].isdigit() and r[2].isdigit() for r in rows), out

    # --duration-filter: only transactions running longer than that
    rc, out, err = tool(kafka_tools, broker.bootstrap, "list", "--duration-filter", "3600000")
    assert rc == 0, out + err
    header, rows = table(out)
    assert header == LIST_HEADER
    assert not any(r[0].startswith(prefix) for r in rows), out

    rc, out, err = tool(kafka_tools, broker.bootstrap, "describe",
                        "--transactional-id", f"{prefix}-open")
    assert rc == 0, out + err
    header, rows = table(out)
    assert header == DESCRIBE_HEADER
    assert len(rows) == 1, out
    row = dict(zip(header, rows[0], strict=True))
    assert row["TransactionalId"] == f"{prefix}-open"
    assert row["ProducerEpoch"] == "0"
    assert row["TransactionState"] == "Ongoing"
    assert row["TransactionTimeoutMs"] == "60000"
    assert row["TopicPartitions"] == f"{topic_name}-0"
    assert int(row["CurrentTransactionStartTimeMs"]) > 0
    assert int(row["TransactionDurationMs"]) >= 0

    rc, out, err = tool(kafka_tools, broker.bootstrap, "describe",
                        "--transactional-id", f"{prefix}-unknown")
    assert rc == 1, out + err
    assert "could not be found" in out + err, out + err

    held.abort_transaction(30)


@pytest.mark.timeout(150)
def test_describe_producers_find_hanging_and_abort(broker, topic_name, kafka_tools) -> None:
    create_topics(broker.bootstrap, {topic_name: 1})
    txn_id = f"compat-tool-{uuid.uuid4().hex[:8]}"
    held = open_transaction(broker.bootstrap, topic_name, txn_id)
    part = ["--topic", topic_name, "--partition", "0"]

    rc, out, err = tool(kafka_tools, broker.bootstrap, "describe-producers", *part)
    assert rc == 0, out + err
    header, rows = table(out)
    assert header == PRODUCERS_HEADER
    assert len(rows) == 1, out
    row = dict(zip(header, rows[0], strict=True))
    producer_id = row["ProducerId"]
    assert producer_id.isdigit()
    assert row["ProducerEpoch"] == "0"
    assert row["LastSequence"] == "2"
    assert row["CurrentTransactionStartOffset"] == "0"

    # The coordinator holds the transaction open with this producer: not hanging.
    node_id = next(iter(AdminClient({"bootstrap.servers": broker.bootstrap})
                        .list_topics(timeout=10).brokers))
    for scope in (["--broker-id", str(node_id)], ["--topic", topic_name]):
        rc, out, err = tool(kafka_tools, broker.bootstrap, "find-hanging", *scope,
                            "--max-transaction-timeout", "0")
        assert rc == 0, out + err
        header, rows = table(out)
        assert header == HANGING_HEADER
        assert rows == [], out

    rc, out, err = tool(kafka_tools, broker.bootstrap, "abort", *part, "--start-offset", "5")
    assert rc == 1, out + err
    assert (f"Could not find any open transactions starting at offset 5 on partition "
            f"{topic_name}-0") in out + err

    # abort by start offset: DescribeProducers, then WriteTxnMarkers to the leader
    rc, out, err = tool(kafka_tools, broker.bootstrap, "abort", *part, "--start-offset", "0")
    assert rc == 0, out + err

    rc, out, err = tool(kafka_tools, broker.bootstrap, "describe-producers", *part)
    assert rc == 0, out + err
    header, rows = table(out)
    row = dict(zip(header, rows[0], strict=True))
    assert row["ProducerId"] == producer_id
    assert row["CurrentTransactionStartOffset"] == "None", out

    # the LSO moved past the aborted records: read_committed sees none of them
    write_sentinels(broker.bootstrap, [(topic_name, 0)])
    visible = read_until_sentinels(broker.bootstrap, [(topic_name, 0)], "read_committed",
                                   timeout=20)
    assert visible[(topic_name, 0)] == []
    del held  # its transaction ends by the coordinator's timeout
