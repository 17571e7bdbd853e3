"""librdkafka (confluent-kafka) load generator: one subcommand per role, one JSON line out.

  python -m benchmarks.loadgen_rdkafka CMD --bootstrap B --topic T ...
    produce      --count N --size S [--acks all] [--start-at WALL]
    txn-produce  --count N --size S --per-txn K
    consume      --count N [--partitions P] [--passes K]
    e2e-consume  --count N [--warmup-s 1]
    e2e-produce  --rate R --seconds D --size S

`produce` sends N values of S random bytes as fast as librdkafka takes them
(client defaults, except acks) and waits for every acknowledgement; with
--start-at (a time.time() value) it connects first and starts sending then, so
several producer processes start together (its JSON has t_start and t_end, wall
clock, for adding their rates up).
`txn-produce` sends the same records with a transactional producer, committing
every K records (begin, K produces, commit_transaction, which waits for every
acknowledgement and the coordinator's answer), one transaction after another.
`consume` assign()s every partition at the beginning (no consumer group: it
works on brokers without a group coordinator) and reads N records.
End-to-end latency: `e2e-produce` sends R records/s (paced, linger.ms=0,
acks=all), each value starting with the send time (time.time_ns(), 8 bytes);
`e2e-consume` (a separate process, started first; prints READY once its fetch
is in flight) polls one record at a time and records receive time - send time
for records sent after the warm-up. Both run on the same host, same clock.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import struct
import sys
import time
import uuid
from typing import Any

MIB = 1024 * 1024


def _quiet() -> logging.Logger:
    lg = logging.getLogger("loadgen.librdkafka")
    lg.propagate = False
    lg.addHandler(logging.NullHandler())
    return lg


def _percentile(sorted_vals: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_vals:
        return float("nan")
    k = max(0, min(len(sorted_vals) - 1, int(-(-q * len(sorted_vals) // 100)) - 1))
    return sorted_vals[k]


def produce(a: argparse.Namespace) -> dict[str, Any]:
    from confluent_kafka import KafkaException, Producer

    errors: list[str] = []
    acked = 0

    def on_delivery(err: Any, _msg: Any) -> None:
        nonlocal acked
        if err is None:
            acked += 1
        elif len(errors) < 5:
            errors.append(str(err))

    p = Producer({"bootstrap.servers": a.bootstrap, "acks": a.acks, "logger": _quiet(),
                  "on_delivery": on_delivery})
    value = os.urandom(a.size)
    # one metadata round trip before the clock starts, as the Java tool does on first send
    p.list_topics(a.topic, timeout=10)
    if a.start_at:
        time.sleep(max(0.0, a.start_at - time.time()))
    t_start = time.time()
    t0 = time.monotonic()
    cpu0 = time.process_time()
    try:
        for _ in range(a.count):
            _send(p, a.topic, value)
    except KafkaException as e:
        raise SystemExit(f"produce failed: {e}") from None
    left = p.flush(a.timeout)
    dt = time.monotonic() - t0
    t_end = time.time()
    if left or errors or acked != a.count:
        raise SystemExit(f"produce: {acked}/{a.count} acknowledged, {left} unflushed, "
                         f"errors {errors}")
    return {"records": a.count, "seconds": dt, "records_per_s": a.count / dt,
            "mib_per_s": a.count * a.size / MIB / dt,
            "client_cores": (time.process_time() - cpu0) / dt, "t_start": t_start, "t_end": t_end}


def _send(p: Any, topic: str, value: bytes) -> None:
    """Queue one record, serving delivery callbacks while librdkafka's queue is full."""
    while True:
        try:
            p.produce(topic, value)
            return
        except BufferError:
            p.poll(0.001)


def txn_produce(a: argparse.Namespace) -> dict[str, Any]:
    from confluent_kafka import KafkaException, Producer

    p = Producer({"bootstrap.servers": a.bootstrap, "logger": _quiet(),
                  "transactional.id": f"bench-{uuid.uuid4().hex[:8]}"})
    value = os.urandom(a.size)
    p.init_transactions(a.timeout)
    p.list_topics(a.topic, timeout=10)
    t0 = time.monotonic()
    cpu0 = time.process_time()
    sent = 0
    try:
        while sent < a.count:
            p.begin_transaction()
            for _ in range(min(a.per_txn, a.count - sent)):
                _send(p, a.topic, value)
                sent += 1
            p.commit_transaction(a.timeout)
    except KafkaException as e:
        raise SystemExit(f"txn-produce failed after {sent} records: {e}") from None
    dt = time.monotonic() - t0
    return {"records": sent, "seconds": dt, "records_per_s": sent / dt,
            "mib_per_s": sent * a.size / MIB / dt, "transactions": -(-sent // a.per_txn),
            "client_cores": (time.process_time() - cpu0) / dt}


def _consumer(bootstrap: str, extra: dict[str, Any] | None = None) -> Any:
    from confluent_kafka import Consumer

    return Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex[:8]}",
                     "enable.auto.commit": False, "enable.auto.offset.store": False,
                     "auto.offset.reset": "earliest", "logger": _quiet(), **(extra or {})})


# librdkafka stops fetching once its local queue holds queued.min.messages (100k) or
# queued.max.messages.kbytes (64 MiB) and then waits fetch.queue.backoff.ms (default
# 1000 ms) before it looks again: reading a topic from the start, that timer (not the
# broker) capped the rate at ~250k records/s on either broker. 1 ms keeps fetching.
CONSUME_TUNING = {"fetch.queue.backoff.ms": 1}


def consume(a: argparse.Namespace) -> dict[str, Any]:
    """Read the whole topic `passes` times, a new consumer each time; the clock runs from
    assign() (after a metadata round trip, so librdkafka knows the leader and does not
    park the offset query on its 500 ms retry timer) to the last record of each pass."""
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    n = nbytes = 0
    busy = 0.0
    first: list[float] = []
    cpu0 = time.process_time()
    for _pass in range(a.passes):
        c = _consumer(a.bootstrap, CONSUME_TUNING)
        try:
            c.list_topics(a.topic, timeout=10)
            c.assign([TopicPartition(a.topic, i, OFFSET_BEGINNING) for i in range(a.partitions)])
            got = 0
            first_at: float | None = None
            t0 = time.monotonic()
            deadline = t0 + a.timeout
            while got < a.count:
                if time.monotonic() > deadline:
                    raise SystemExit(f"consume: {got}/{a.count} records within {a.timeout:.0f} s")
                msgs = c.consume(num_messages=10000, timeout=0.5)
                if msgs and first_at is None:
                    first_at = time.monotonic() - t0
                for m in msgs:
                    if m.error() is None:
                        got += 1
                        nbytes += len(m.value())
            busy += time.monotonic() - t0
            n += got
            if first_at is not None:
                first.append(first_at)
        finally:
            c.close()
    return {"records": n, "passes": a.passes, "seconds": busy, "records_per_s": n / busy,
            "mib_per_s": nbytes / MIB / busy, "first_record_s": max(first) if first else None,
            "client_cores": (time.process_time() - cpu0) / busy}


def e2e_consume(a: argparse.Namespace) -> dict[str, Any]:
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    c = _consumer(a.bootstrap)
    c.list_topics(a.topic, timeout=10)  # leader known before assign (see consume)
    c.assign([TopicPartition(a.topic, 0, OFFSET_BEGINNING)])
    for _ in range(3):  # the first fetches are in flight when the producer starts
        c.poll(0.2)
    print("READY", flush=True)
    lat_ms: list[float] = []
    first_sent: int | None = None
    warm_ns = int(a.warmup_s * 1e9)
    n = 0
    last = time.monotonic()
    deadline = last + a.timeout
    try:
        while n < a.count:
            m = c.poll(0.1)
            now_ns = time.time_ns()
            t = time.monotonic()
            if m is None or m.error() is not None:
                if (n and t - last > a.idle_s) or t > deadline:
                    break
                continue
            last = t
            n += 1
            sent = struct.unpack_from(">q", m.value(), 0)[0]
            if first_sent is None:
                first_sent = sent
            if sent - first_sent >= warm_ns:
                lat_ms.append((now_ns - sent) / 1e6)
    finally:
        c.close()
    lat_ms.sort()
    out = {"received": n, "expected": a.count, "samples": len(lat_ms),
           "p50_ms": _percentile(lat_ms, 50), "p99_ms": _percentile(lat_ms, 99),
           "p999_ms": _percentile(lat_ms, 99.9), "max_ms": lat_ms[-1] if lat_ms else float("nan"),
           "mean_ms": sum(lat_ms) / len(lat_ms) if lat_ms else float("nan")}
    if n < a.count:
        out["error"] = f"received {n} of {a.count} records"
    return out


def e2e_produce(a: argparse.Namespace) -> dict[str, Any]:
    from confluent_kafka import Producer

    errors: list[str] = []
    ack_ms: list[float] = []
    unpack = struct.Struct(">q").unpack_from

    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
            if len(errors) < 5:
                errors.append(str(err))
        else:  # produce() → acknowledgement, from the send time in the value
            ack_ms.append((time.time_ns() - unpack(msg.value(), 0)[0]) / 1e6)

    p = Producer({"bootstrap.servers": a.bootstrap, "acks": "all", "linger.ms": 0,
                  "logger": _quiet(), "on_delivery": on_delivery})
    p.list_topics(a.topic, timeout=10)
    pad = os.urandom(max(0, a.size - 8))
    total = int(a.rate * a.seconds)
    pack = struct.Struct(">q").pack
    start = time.monotonic()
    i = 0
    behind_max = 0.0
    while i < total:
        now = time.monotonic()
        due = min(total, int((now - start) * a.rate) + 1)
        behind_max = max(behind_max, (due - i) / a.rate)
        while i < due:
            p.produce(a.topic, pack(time.time_ns()) + pad)
            i += 1
        p.poll(0)
        wait = start + i / a.rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
    sent_s = time.monotonic() - start
    left = p.flush(30)
    if left or errors:
        raise SystemExit(f"e2e-produce: {left} unflushed, errors {errors}")
    ack_ms.sort()
    return {"records": total, "seconds": sent_s, "achieved_rate": total / sent_s,
            "max_behind_s": behind_max, "ack_p50_ms": _percentile(ack_ms, 50),
            "ack_p99_ms": _percentile(ack_ms, 99), "ack_max_ms": ack_ms[-1] if ack_ms else None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.loadgen_rdkafka")
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("produce", "txn-produce", "consume", "e2e-consume", "e2e-produce"):
        s = sub.add_parser(name)
        s.add_argument("--bootstrap", required=True)
        s.add_argument("--topic", required=True)
        s.add_argument("--timeout", type=float, default=120.0)
        if name in ("produce", "txn-produce", "e2e-produce"):
            s.add_argument("--size", type=int, default=1024)
        if name in ("produce", "txn-produce", "consume", "e2e-consume"):
            s.add_argument("--count", type=int, required=True)
    sub.choices["produce"].add_argument("--acks", default="all")
    sub.choices["produce"].add_argument("--start-at", type=float, default=None,
                                        help="time.time() at which to start sending")
    sub.choices["txn-produce"].add_argument("--per-txn", type=int, default=100)
    sub.choices["consume"].add_argument("--partitions", type=int, default=1)
    sub.choices["consume"].add_argument("--passes", type=int, default=1)
    sub.choices["e2e-consume"].add_argument("--warmup-s", type=float, default=1.0)
    sub.choices["e2e-consume"].add_argument("--idle-s", type=float, default=5.0)
    sub.choices["e2e-produce"].add_argument("--rate", type=float, default=5000)
    sub.choices["e2e-produce"].add_argument("--seconds", type=float, default=10)
    a = ap.parse_args(argv)
    fn = {"produce": produce, "txn-produce": txn_produce, "consume": consume,
          "e2e-consume": e2e_consume,
          "e2e-produce": e2e_produce}[a.cmd]
    result = fn(a)
    print(json.dumps(result), flush=True)
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main())
