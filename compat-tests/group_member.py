"""One consumer-group member, run as its own process by the group tests.

    python group_member.py --client kafka-python|confluent-kafka|aiokafka \
        --bootstrap HOST:PORT --topic T --group G --client-id member-A \
        [--strategy range|cooperative-sticky|roundrobin] [--session-timeout-ms 6000] \
        [--heartbeat-interval-ms 500] [--commit-interval 1.0] [--max-batch 200] [--stop-after N]
        [--group-protocol classic|consumer] [--group-instance-id ID]   (confluent-kafka only)

It subscribes to one topic with auto-commit OFF and commits itself,
synchronously, the position after the last record it processed:
  - every --commit-interval seconds (0 = after every non-empty batch),
  - for the partitions being revoked, inside the revoke callback,
  - once more before a clean close (SIGTERM or --stop-after), then closes the
    consumer, which sends LeaveGroup.
After SIGKILL nothing of that runs: records processed since its last commit are
"consumed but not committed" and may be delivered again to whoever takes over.

stdout is one JSON object per line ("e" = event, "t" = time.time()), flushed:
  {"e":"start","t","client","pid"}
  {"e":"assigned","t","added":[p..],"owned":[p..]}      full set after the change
  {"e":"revoked","t","removed":[p..],"owned":[p..]}     (cooperative: incremental)
  {"e":"lost","t","removed":[p..],"owned":[p..]}        librdkafka on_lost
  {"e":"recs","t","r":[[partition, offset, value], ...]} one consumed batch
  {"e":"commit","t","why","offsets":{"p": next_offset}}  printed after the commit succeeded
  {"e":"commit_failed","t","why","offsets","error"}
  {"e":"leaving","t","why"} / {"e":"closed","t"} / {"e":"error","t","error"}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import threading
import time
import traceback
from typing import Any


class Member:
    """Client-neutral bookkeeping: owned partitions, next offsets, what to commit."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.owned: set[int] = set()
        self.next: dict[int, int] = {}  # partition -> offset after the last processed record
        self.committed: dict[int, int] = {}  # what this member last committed successfully
        self.consumed = 0
        self.stop = threading.Event()
        self.stop_why = ""
        self.last_commit = time.monotonic()
        self._lock = threading.Lock()

    def emit(self, event: str, **fields: Any) -> None:
        line = json.dumps({"e": event, "t": time.time(), **fields}, separators=(",", ":"))
        with self._lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def request_stop(self, why: str) -> None:
        if not self.stop.is_set():
            self.stop_why = why
            self.stop.set()

    def on_assigned(self, parts: list[int]) -> None:
        self.owned |= set(parts)
        self.emit("assigned", added=sorted(parts), owned=sorted(self.owned))

    def on_removed(self, parts: list[int], event: str) -> None:
        self.owned -= set(parts)
        for p in parts:
            self.next.pop(p, None)
        self.emit(event, removed=sorted(parts), owned=sorted(self.owned))

    def on_records(self, recs: list[tuple[int, int, str]]) -> None:
        if not recs:
            return
        for p, o, _v in recs:
            self.next[p] = o + 1
        self.consumed += len(recs)
        self.emit("recs", r=recs)
        if self.args.stop_after and self.consumed >= self.args.stop_after:
            self.request_stop("stop-after")

    def to_commit(self, parts: set[int] | None = None) -> dict[int, int]:
        """Next offsets not committed yet, of `parts` (default: all owned)."""
        parts = self.owned if parts is None else parts
        return {p: o for p, o in self.next.items() if p in parts and self.committed.get(p) != o}

    def commit_due(self) -> bool:
        return time.monotonic() - self.last_commit >= self.args.commit_interval

    def committed_ok(self, offsets: dict[int, int], why: str) -> None:
        self.last_commit = time.monotonic()
        self.committed.update(offsets)
        self.emit("commit", why=why, offsets={str(p): o for p, o in sorted(offsets.items())})

    def commit_failed(self, offsets: dict[int, int], why: str, exc: BaseException) -> None:
        self.last_commit = time.monotonic()
        self.emit("commit_failed", why=why, offsets={str(p): o for p, o in offsets.items()},
                  error=repr(exc))


def value_str(v: bytes | None) -> str:
    return "" if v is None else v.decode("utf-8", "replace")


# --------------------------------------------------------------------------- kafka-python
def run_kafka_python(m: Member) -> None:
    from kafka import AsyncConsumerRebalanceListener, KafkaConsumer, TopicPartition
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
    from kafka.structs import OffsetAndMetadata

    a = m.args
    strategies = {"range": (RangePartitionAssignor,), "roundrobin": (RoundRobinPartitionAssignor,)}
    consumer = KafkaConsumer(
        bootstrap_servers=a.bootstrap, group_id=a.group, client_id=a.client_id,
        enable_auto_commit=False, auto_offset_reset="earliest",
        session_timeout_ms=a.session_timeout_ms, heartbeat_interval_ms=a.heartbeat_interval_ms,
        partition_assignment_strategy=strategies[a.strategy],
        request_timeout_ms=30000,
    )

    def structs(offsets: dict[int, int]) -> dict[Any, Any]:
        return {TopicPartition(a.topic, p): OffsetAndMetadata(o, "", -1)
                for p, o in offsets.items()}

    def commit(offsets: dict[int, int], why: str) -> None:
        if not offsets:
            return
        try:
            consumer.commit(structs(offsets))
        except Exception as exc:  # CommitFailedError, ...: reported, never hidden
            m.commit_failed(offsets, why, exc)
        else:
            m.committed_ok(offsets, why)

    class Listener(AsyncConsumerRebalanceListener):
        # kafka-python 3.0 runs rebalance callbacks on its IO thread, where the blocking
        # consumer.commit() raises "Cannot block on net.run() from the IO thread itself";
        # an async listener awaits the coroutine behind commit() (same retries) instead.
        async def on_partitions_revoked(self, revoked):  # noqa: ANN001, ANN201
            parts = {tp.partition for tp in revoked}
            offsets = m.to_commit(parts)
            if offsets:
                try:
                    await consumer._coordinator._commit_offsets_sync_async(structs(offsets))
                except Exception as exc:
                    m.commit_failed(offsets, "revoke", exc)
                else:
                    m.committed_ok(offsets, "revoke")
            m.on_removed(sorted(parts), "revoked")

        async def on_partitions_assigned(self, assigned):  # noqa: ANN001, ANN201
            m.on_assigned([tp.partition for tp in assigned])

    consumer.subscribe([a.topic], listener=Listener())
    try:
        while not m.stop.is_set():
            batch = consumer.poll(timeout_ms=200, max_records=a.max_batch)
            recs = [(r.partition, r.offset, value_str(r.value))
                    for tp_recs in batch.values() for r in tp_recs]
            recs.sort(key=lambda r: (r[0], r[1]))
            m.on_records(recs)
            if m.commit_due():
                commit(m.to_commit(), "interval")
        m.emit("leaving", why=m.stop_why)
        commit(m.to_commit(), "close")
    finally:
        consumer.close()  # LeaveGroup
    m.emit("closed")


# --------------------------------------------------------------------------- confluent-kafka
def run_confluent(m: Member) -> None:
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    a = m.args
    # KIP-848 (--group-protocol consumer): the broker decides the assignor, session
    # timeout and heartbeat interval; librdkafka refuses these three settings then.
    classic = {"partition.assignment.strategy": a.strategy,
               "session.timeout.ms": a.session_timeout_ms,
               "heartbeat.interval.ms": a.heartbeat_interval_ms}
    consumer = Consumer({
        "bootstrap.servers": a.bootstrap, "group.id": a.group, "client.id": a.client_id,
        "enable.auto.commit": False, "auto.offset.reset": "earliest",
        **(classic if a.group_protocol == "classic" else {"group.protocol": "consumer"}),
        **({"group.instance.id": a.group_instance_id} if a.group_instance_id else {}),
        **({"debug": a.librdkafka_debug} if a.librdkafka_debug else {}),
    })

    def commit(offsets: dict[int, int], why: str) -> None:
        if not offsets:
            return
        try:
            res = consumer.commit(
                offsets=[TopicPartition(a.topic, p, o) for p, o in offsets.items()],
                asynchronous=False)
            bad = [tp for tp in res or [] if tp.error is not None]
            if bad:
                raise KafkaException(str([(tp.partition, tp.error) for tp in bad]))
        except Exception as exc:
            m.commit_failed(offsets, why, exc)
        else:
            m.committed_ok(offsets, why)

    def on_assign(_c, parts):  # noqa: ANN001, ANN202
        m.on_assigned([tp.partition for tp in parts])

    def on_revoke(_c, parts):  # noqa: ANN001, ANN202
        ps = {tp.partition for tp in parts}
        commit(m.to_commit(ps), "revoke")
        m.on_removed(sorted(ps), "revoked")

    def on_lost(_c, parts):  # noqa: ANN001, ANN202
        m.on_removed(sorted(tp.partition for tp in parts), "lost")

    consumer.subscribe([a.topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
    try:
        while not m.stop.is_set():
            msgs = consumer.consume(num_messages=a.max_batch, timeout=0.2)
            recs = []
            for msg in msgs:
                if msg.error() is not None:
                    m.emit("error", error=str(msg.error()))
                    continue
                recs.append((msg.partition(), msg.offset(), value_str(msg.value())))
            recs.sort(key=lambda r: (r[0], r[1]))
            m.on_records(recs)
            if m.commit_due():
                commit(m.to_commit(), "interval")
        m.emit("leaving", why=m.stop_why)
        commit(m.to_commit(), "close")
    finally:
        consumer.close()  # revokes (callback), then LeaveGroup
    m.emit("closed")


# --------------------------------------------------------------------------- aiokafka
def run_aiokafka(m: Member) -> None:
    from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
    from aiokafka.coordinator.assignors.range import RangePartitionAssignor
    from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

    a = m.args
    strategies = {"range": (RangePartitionAssignor,), "roundrobin": (RoundRobinPartitionAssignor,)}

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, lambda: (m.request_stop("SIGTERM"), stop.set()))
        consumer = AIOKafkaConsumer(
            bootstrap_servers=a.bootstrap, group_id=a.group, client_id=a.client_id,
            enable_auto_commit=False, auto_offset_reset="earliest",
            session_timeout_ms=a.session_timeout_ms,
            heartbeat_interval_ms=a.heartbeat_interval_ms,
            partition_assignment_strategy=strategies[a.strategy],
            request_timeout_ms=30000,
        )

        async def commit(offsets: dict[int, int], why: str) -> None:
            if not offsets:
                return
            try:
                await consumer.commit({TopicPartition(a.topic, p): o for p, o in offsets.items()})
            except Exception as exc:
                m.commit_failed(offsets, why, exc)
            else:
                m.committed_ok(offsets, why)

        class Listener(ConsumerRebalanceListener):
            async def on_partitions_revoked(self, revoked):  # noqa: ANN001, ANN202
                parts = {tp.partition for tp in revoked}
                await commit(m.to_commit(parts), "revoke")
                m.on_removed(sorted(parts), "revoked")

            async def on_partitions_assigned(self, assigned):  # noqa: ANN001, ANN202
                m.on_assigned([tp.partition for tp in assigned])

        consumer.subscribe([a.topic], listener=Listener())
        await consumer.start()
        try:
            while not m.stop.is_set():
                batch = await consumer.getmany(timeout_ms=200, max_records=a.max_batch)
                recs = [(r.partition, r.offset, value_str(r.value))
                        for tp_recs in batch.values() for r in tp_recs]
                recs.sort(key=lambda r: (r[0], r[1]))
                m.on_records(recs)
                if m.commit_due():
                    await commit(m.to_commit(), "interval")
            m.emit("leaving", why=m.stop_why)
            await commit(m.to_commit(), "close")
        finally:
            await consumer.stop()  # LeaveGroup
        m.emit("closed")

    asyncio.run(main())


RUNNERS = {"kafka-python": run_kafka_python, "confluent-kafka": run_confluent,
           "aiokafka": run_aiokafka}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--client", required=True, choices=sorted(RUNNERS))
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--client-id", default="group-member")
    ap.add_argument("--strategy", default="range",
                    choices=("range", "roundrobin", "cooperative-sticky"))
    ap.add_argument("--session-timeout-ms", type=int, default=6000)
    ap.add_argument("--heartbeat-interval-ms", type=int, default=500)
    ap.add_argument("--commit-interval", type=float, default=1.0)
    ap.add_argument("--max-batch", type=int, default=200)
    ap.add_argument("--stop-after", type=int, default=0)
    ap.add_argument("--group-protocol", default="classic", choices=("classic", "consumer"),
                    help="consumer = KIP-848 (confluent-kafka only)")
    ap.add_argument("--group-instance-id", default="",
                    help="static membership (confluent-kafka only)")
    args = ap.parse_args()
    if (args.group_protocol != "classic" or args.group_instance_id) \
            and args.client != "confluent-kafka":
        ap.error("--group-protocol consumer and --group-instance-id: confluent-kafka only here")
    if args.strategy == "cooperative-sticky" and args.client != "confluent-kafka":
        ap.error("cooperative-sticky is only wired up for confluent-kafka here")
    # The client library's log goes to stderr (a file the tests show on failure): INFO
    # (joins, syncs, assignments), or DEBUG with GROUP_MEMBER_DEBUG=1.
    debug = bool(os.environ.get("GROUP_MEMBER_DEBUG"))
    import logging

    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args.librdkafka_debug = "cgrp,protocol" if debug else ""
    m = Member(args)
    if args.client != "aiokafka":
        signal.signal(signal.SIGTERM, lambda *_: m.request_stop("SIGTERM"))
    m.emit("start", client=args.client, pid=os.getpid(), client_id=args.client_id)
    try:
        RUNNERS[args.client](m)
    except Exception as exc:
        m.emit("error", error=repr(exc), tb=traceback.format_exc())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
