"""Transaction scenarios (transaction version 1, as kwire's clients use it): the
transaction coordinator (FindCoordinator key_type 1, InitProducerId with a
transactional id, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
DescribeTransactions, ListTransactions), the partition side (transactional
Produce, markers, read_committed Fetch / ListOffsets, DescribeProducers,
WriteTxnMarkers from a client) and the group side (TxnOffsetCommit, OffsetFetch
require_stable).

Kafka creates __transaction_state on the first transactional request and loads
its partitions asynchronously, and writes markers after EndTxn has answered: the
helpers wait (unrecorded, bounded) through both, as clients retry through them,
so the transcripts compare steady states. Transactional ids are ctx.name()s
(equal on both brokers); producer ids are masked by the normalizer.
"""

from __future__ import annotations

import re
import struct
import time
from typing import Any

from diff_records import Batch
from diff_runner import Ctx, add
from diff_sc_util import (
    FETCH,
    FIND_COORDINATOR,
    INIT_PRODUCER_ID,
    JOIN_GROUP,
    LIST_OFFSETS,
    OFFSET_FETCH,
    SYNC_GROUP,
    create_topic,
    error,
    fetch_body,
    list_offsets_body,
    produce,
)
from diff_wire import OUTCOME, encode_body, encode_header

ADD_PARTITIONS_TO_TXN, ADD_OFFSETS_TO_TXN, END_TXN, WRITE_TXN_MARKERS = 24, 25, 26, 27
TXN_OFFSET_COMMIT, DESCRIBE_PRODUCERS, DESCRIBE_TRANSACTIONS, LIST_TRANSACTIONS = 28, 61, 65, 66

# Versions a transaction-version-1 client sends (kwire does not finalize
# transaction.version=2): EndTxn v5 and client AddPartitionsToTxn v4+ are v2's.
FIND_COORDINATOR_TXN = range(1, 7)
INIT_PRODUCER_ID_VERSIONS = range(0, 6)
ADD_PARTITIONS_CLIENT = range(0, 4)
ADD_OFFSETS_VERSIONS = range(0, 5)
END_TXN_VERSIONS = range(0, 5)
TXN_OFFSET_COMMIT_VERSIONS = range(0, 6)

NONE = 0
COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR = 14, 15, 16
CONCURRENT_TRANSACTIONS = 51
_RETRIABLE = {COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR,
              CONCURRENT_TRANSACTIONS}
WAIT_SECONDS = 15.0


# ---------------------------------------------------------------- helpers
def _coordinator_ready(ctx: Ctx, txn: str) -> None:
    """Unrecorded: until FindCoordinator answers NONE for `txn` (Kafka creates
    __transaction_state on the first such request and loads it a moment later)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        r = ctx.call(FIND_COORDINATOR, 3, {"key": txn, "key_type": 1}, record=False)
        if error(r) == NONE:
            return
        time.sleep(0.1)


def init_body(txn: str | None, timeout: int = 60000, pid: int = -1, epoch: int = -1
              ) -> dict[str, Any]:
    return {"transactional_id": txn, "transaction_timeout": timeout, "producer_id": pid,
            "producer_epoch": epoch}


def init(ctx: Ctx, txn: str, version: int = 4, *, pid: int = -1, epoch: int = -1,
         timeout: int = 60000) -> tuple[int, int]:
    """InitProducerId (recorded once it is not a retriable answer, as a client
    retries); (producer id, epoch), or (-1, -1)."""
    _coordinator_ready(ctx, txn)
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        r = ctx.call(INIT_PRODUCER_ID, version, init_body(txn, timeout, pid, epoch), record=False)
        if error(r) not in _RETRIABLE or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    ctx.transcript.append({"api": f"{INIT_PRODUCER_ID}v{version}", "response": r})
    if isinstance(r, dict) and r.get("error_code") == NONE:
        return int(r["producer_id"]), int(r["producer_epoch"])
    return -1, -1


def add_partitions(ctx: Ctx, txn: str, pid: int, epoch: int, topics: dict[str, list[int]],
                   version: int = 3) -> Any:
    return ctx.call(ADD_PARTITIONS_TO_TXN, version, {
        "v3_and_below_transactional_id": txn, "v3_and_below_producer_id": pid,
        "v3_and_below_producer_epoch": epoch,
        "v3_and_below_topics": [{"name": t, "partitions": ps} for t, ps in topics.items()]})


def end_txn(ctx: Ctx, txn: str, pid: int, epoch: int, commit: bool, version: int = 3) -> Any:
    return ctx.call(END_TXN, version, {"transactional_id": txn, "producer_id": pid,
                                       "producer_epoch": epoch, "committed": commit})


def txn_produce(ctx: Ctx, topic: str, txn: str, pid: int, epoch: int, seq: int = 0,
                n: int = 2, partition: int = 0, version: int = 9) -> Any:
    batch = Batch(transactional=True, producer_id=pid, producer_epoch=epoch, base_sequence=seq,
                  records=tuple((f"k{seq + i}".encode(), b"v") for i in range(n)))
    return produce(ctx, topic, batch, partition=partition, version=version,
                   transactional_id=txn)


def describe(ctx: Ctx, *txns: str) -> Any:
    """DescribeTransactions v0, decoded here: kio 0.6.5 cannot decode a start time
    of -1 (a transaction not started), which both brokers answer. Partitions are
    sorted (both brokers keep them in a set) and the step recorded as 65v0."""
    conn = ctx.conn
    conn.correlation_id += 1
    corr = conn.correlation_id
    frame = encode_header(DESCRIBE_TRANSACTIONS, 0, corr, "kwire-diff") + encode_body(
        DESCRIBE_TRANSACTIONS, 0, {"transactional_ids": list(txns)})
    try:
        sock = conn._connect()  # noqa: SLF001 - the harness's own connection
        sock.settimeout(conn.timeout)
        sock.sendall(struct.pack(">i", len(frame)) + frame)
        (size,) = struct.unpack(">i", conn._recv(sock, 4))  # noqa: SLF001
        out: Any = _decode_describe_transactions(conn._recv(sock, size)[5:])  # noqa: SLF001
    except (OSError, struct.error, IndexError) as exc:
        conn.close()
        out = {OUTCOME: type(exc).__name__}
    ctx.transcript.append({"api": f"{DESCRIBE_TRANSACTIONS}v0", "response": out})
    return out


def _decode_describe_transactions(body: bytes) -> dict[str, Any]:
    pos = 0

    def take(fmt: str) -> Any:
        nonlocal pos
        (v,) = struct.unpack_from(fmt, body, pos)
        pos += struct.calcsize(fmt)
        return v

    def uvarint() -> int:
        nonlocal pos
        n = shift = 0
        while True:
            b = body[pos]
            pos += 1
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                return n
            shift += 7

    def string() -> str | None:
        nonlocal pos
        n = uvarint() - 1
        if n < 0:
            return None
        pos += n
        return body[pos - n:pos].decode()

    def tags() -> None:
        nonlocal pos
        for _ in range(uvarint()):
            uvarint()
            pos += uvarint()

    out: dict[str, Any] = {"throttle_time": take(">i"), "transaction_states": []}
    for _ in range(uvarint() - 1):
        st: dict[str, Any] = {
            "error_code": take(">h"), "transactional_id": string(),
            "transaction_state": string(), "transaction_timeout_ms": take(">i"),
            "transaction_start_time_ms": take(">q"), "producer_id": take(">q"),
            "producer_epoch": take(">h"), "topics": []}
        for _ in range(uvarint() - 1):
            topic = string()
            parts = sorted(take(">i") for _ in range(uvarint() - 1))
            tags()
            st["topics"].append({"topic": topic, "partitions": parts})
        tags()
        out["transaction_states"].append(st)
    tags()
    if pos != len(body):
        out[OUTCOME + "trailing_bytes"] = len(body) - pos
    return out


def _lso(ctx: Ctx, topic: str, partition: int = 0) -> tuple[int, int]:
    """(high watermark, last stable offset) by ListOffsets LATEST, unrecorded."""
    out = []
    for isolation in (0, 1):
        r = ctx.call(LIST_OFFSETS, 7, list_offsets_body(topic, partition, -1, isolation),
                     record=False)
        try:
            out.append(int(r["topics"][0]["partitions"][0]["offset"]))
        except (KeyError, IndexError, TypeError):
            out.append(-2)
    return out[0], out[1]


def wait_stable(ctx: Ctx, topic: str, partition: int = 0) -> None:
    """Unrecorded: until the LSO reaches the high watermark (the marker is
    written after EndTxn answered)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        hw, lso = _lso(ctx, topic, partition)
        if hw == lso:
            return
        time.sleep(0.05)


def wait_state(ctx: Ctx, txn: str, states: tuple[str, ...]) -> None:
    """Unrecorded: until DescribeTransactions shows one of `states`."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        r = ctx.call(DESCRIBE_TRANSACTIONS, 0, {"transactional_ids": [txn]}, record=False)
        try:
            if r["transaction_states"][0]["transaction_state"] in states:
                return
        except (KeyError, IndexError, TypeError):
            pass
        time.sleep(0.05)


def read_all(ctx: Ctx, topic: str, partition: int, isolation: int, offset: int = 0) -> None:
    """Fetch (unrecorded) from offset 0 until the answer is empty, continuing after
    the last batch of each answer; note the partition's log as one value. Kafka
    4.4 ends an answer early at a marker the transaction coordinator wrote (a
    fetch from offset 0 returns the batches before it only; the next fetch goes
    on), which the protocol allows and every client handles by fetching again:
    the log read to its end is what compares."""
    batches: list[Any] = []
    aborted: list[Any] = []
    last: dict[str, Any] = {}
    start = offset
    for _ in range(50):
        r = ctx.call(FETCH, 12, fetch_body(topic, None, [{"partition": partition,
                                                           "fetch_offset": offset}],
                                           isolation_level=isolation), record=False)
        try:
            p = r["responses"][0]["partitions"][0]
        except (KeyError, IndexError, TypeError):
            last = {"answer": r}
            break
        last = {k: p[k] for k in ("error_code", "high_watermark", "last_stable_offset",
                                  "log_start_offset")}
        for a in p.get("aborted_transactions") or []:
            if a not in aborted:
                aborted.append(a)
        got = [b for b in p.get("records") or [] if "base_offset" in b]
        if p["error_code"] != NONE or not got:
            break
        batches += got
        offset = got[-1]["base_offset"] + got[-1]["last_offset_delta"] + 1
    ctx.note(f"read {topic}[{partition}] isolation {isolation}, from {start}",
             {**last, "aborted_transactions": aborted, "batches": batches})


def read_back(ctx: Ctx, topic: str, partition: int = 0) -> None:
    """The log read_uncommitted and read_committed; ListOffsets LATEST both ways."""
    for isolation in (0, 1):
        read_all(ctx, topic, partition, isolation)
    for isolation in (0, 1):
        ctx.call(LIST_OFFSETS, 7, list_offsets_body(topic, partition, -1, isolation))


def begin(ctx: Ctx, topics: dict[str, list[int]] | None = None, suffix: str = "txn"
          ) -> tuple[str, int, int]:
    """A fresh transactional id, initialized, with `topics` added."""
    txn = ctx.name(suffix)
    pid, epoch = init(ctx, txn)
    if topics:
        add_partitions(ctx, txn, pid, epoch, topics)
    return txn, pid, epoch


# ---------------------------------------------------------------- FindCoordinator
def _find_version(v: int) -> None:
    def one(ctx: Ctx) -> None:
        txn = ctx.name("txn")
        _coordinator_ready(ctx, txn)
        ctx.call(FIND_COORDINATOR, v, {"key": txn, "key_type": 1, "coordinator_keys": [txn]})

    add(f"find_coordinator/v{v}/txn_ready", one)
    if v >= 4:
        def several(ctx: Ctx) -> None:
            keys = [ctx.name("txn"), ctx.name("txn2"), ""]
            for k in keys[:2]:
                _coordinator_ready(ctx, k)
            ctx.call(FIND_COORDINATOR, v, {"key_type": 1, "coordinator_keys": keys})
        add(f"find_coordinator/v{v}/txn_several_keys", several)


for _v in FIND_COORDINATOR_TXN:
    _find_version(_v)


# ---------------------------------------------------------------- InitProducerId
def _init_version(v: int) -> None:
    def twice(ctx: Ctx) -> None:
        txn = ctx.name("txn")
        first = init(ctx, txn, v)
        second = init(ctx, txn, v)
        ctx.note("same producer id, epoch bumped", first[0] == second[0] and
                 second[1] == first[1] + 1)

    def timeouts(ctx: Ctx) -> None:
        txn = ctx.name("txn")
        _coordinator_ready(ctx, txn)
        for t in (0, -5, 900001):
            ctx.call(INIT_PRODUCER_ID, v, init_body(txn, timeout=t))
        init(ctx, txn, v, timeout=900000)

    def during_ongoing(ctx: Ctx) -> None:
        # A new init fences the ongoing transaction: it is aborted first
        # (CONCURRENT_TRANSACTIONS to the retrying client meanwhile).
        t = ctx.name()
        create_topic(ctx, t)
        txn, pid, epoch = begin(ctx, {t: [0]})
        txn_produce(ctx, t, txn, pid, epoch)
        init(ctx, txn, v)
        wait_stable(ctx, t)
        describe(ctx, txn)
        read_back(ctx, t)

    cases: dict[str, Any] = {"txn_twice": twice, "txn_timeouts": timeouts,
                             "txn_during_ongoing": during_ongoing}
    if v >= 3:
        def bump(ctx: Ctx) -> None:
            txn = ctx.name("txn")
            pid, epoch = init(ctx, txn, v)
            init(ctx, txn, v, pid=pid, epoch=epoch)  # KIP-360: right epoch -> bump
            init(ctx, txn, v, pid=pid, epoch=epoch)  # the old epoch now: fenced
            init(ctx, txn, v, pid=pid, epoch=epoch + 7)  # from the future
            init(ctx, txn, v, pid=pid + 1000, epoch=0)  # another producer id
            init(ctx, txn, v, pid=pid, epoch=-1)  # producer id without epoch
            init(ctx, txn, v, pid=-1, epoch=3)  # epoch without producer id
            describe(ctx, txn)
        cases["txn_kip360_bump"] = bump
    for what, fn in cases.items():
        add(f"init_producer_id/v{v}/{what}", fn)


for _v in INIT_PRODUCER_ID_VERSIONS:
    _init_version(_v)


# ---------------------------------------------------------------- AddPartitionsToTxn
def _add_partitions_version(v: int) -> None:
    def mixed(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t, partitions=2)
        txn, pid, epoch = begin(ctx)
        add_partitions(ctx, txn, pid, epoch, {t: [0, 1, 9], ctx.name("missing"): [0]}, v)
        describe(ctx, txn)
        add_partitions(ctx, txn, pid, epoch, {t: [0, 1]}, v)
        add_partitions(ctx, txn, pid, epoch, {t: [1]}, v)  # again: already in, NONE
        describe(ctx, txn)

    def fenced(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t)
        txn, pid, epoch = begin(ctx)
        add_partitions(ctx, txn, pid, epoch + 1, {t: [0]}, v)
        add_partitions(ctx, txn, pid, epoch - 1, {t: [0]}, v)
        add_partitions(ctx, txn, pid + 1000, epoch, {t: [0]}, v)
        add_partitions(ctx, ctx.name("unknown"), pid, epoch, {t: [0]}, v)
        init(ctx, txn)  # epoch bump: the first epoch is fenced now
        add_partitions(ctx, txn, pid, epoch, {t: [0]}, v)

    add(f"add_partitions_to_txn/v{v}/mixed_unknown", mixed)
    add(f"add_partitions_to_txn/v{v}/fenced_and_unknown_ids", fenced)


for _v in ADD_PARTITIONS_CLIENT:
    _add_partitions_version(_v)


def _add_partitions_batched(v: int) -> None:
    def batched(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t, partitions=2)
        a, pa, ea = begin(ctx, {t: [0]})
        b, pb, eb = begin(ctx, suffix="txn2")

        def entry(txn: str, pid: int, epoch: int, parts: list[int], verify: bool
                  ) -> dict[str, Any]:
            return {"transactional_id": txn, "producer_id": pid, "producer_epoch": epoch,
                    "verify_only": verify, "topics": [{"name": t, "partitions": parts}]}

        body = {"transactions": [entry(a, pa, ea, [0, 1], True), entry(b, pb, eb, [1], False)]}
        ctx.call(ADD_PARTITIONS_TO_TXN, v, body)
        ctx.call(ADD_PARTITIONS_TO_TXN, v, {"transactions": [
            entry(a, pa, ea, [0], True), entry(b, pb, eb, [1], True),
            entry(ctx.name("unknown"), pa, ea, [0], True), entry(a, pa, ea + 3, [0], True)]})
        describe(ctx, a, b)

    add(f"add_partitions_to_txn/v{v}/batched_verify_only", batched)


for _v in (4, 5):
    _add_partitions_batched(_v)


# ---------------------------------------------------------------- AddOffsetsToTxn
def _add_offsets_version(v: int) -> None:
    def fn(ctx: Ctx) -> None:
        g = ctx.name("g")
        txn, pid, epoch = begin(ctx)

        def call(tx: str, p: int, e: int) -> None:
            ctx.call(ADD_OFFSETS_TO_TXN, v, {"transactional_id": tx, "producer_id": p,
                                             "producer_epoch": e, "group_id": g})
        call(txn, pid, epoch)
        call(txn, pid, epoch)  # the offsets partition is already in the transaction
        call(txn, pid, epoch + 1)
        call(txn, pid + 1000, epoch)
        call(ctx.name("unknown"), pid, epoch)
        describe(ctx, txn)
        end_txn(ctx, txn, pid, epoch, True)
        wait_state(ctx, txn, ("CompleteCommit",))
        describe(ctx, txn)

    add(f"add_offsets_to_txn/v{v}/states", fn)


for _v in ADD_OFFSETS_VERSIONS:
    _add_offsets_version(_v)


# ---------------------------------------------------------------- EndTxn
def _end_txn_version(v: int) -> None:
    def states(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t)
        txn, pid, epoch = begin(ctx)
        end_txn(ctx, txn, pid, epoch, True, v)  # Empty -> INVALID_TXN_STATE
        end_txn(ctx, txn, pid, epoch, False, v)
        add_partitions(ctx, txn, pid, epoch, {t: [0]})
        end_txn(ctx, txn, pid, epoch + 1, True, v)  # wrong epoch
        end_txn(ctx, txn, pid + 1000, epoch, True, v)  # wrong producer id
        end_txn(ctx, ctx.name("unknown"), pid, epoch, True, v)
        end_txn(ctx, txn, pid, epoch, True, v)  # Ongoing -> NONE
        wait_state(ctx, txn, ("CompleteCommit",))
        end_txn(ctx, txn, pid, epoch, True, v)  # retry after complete -> NONE
        end_txn(ctx, txn, pid, epoch, False, v)  # the other result -> INVALID_TXN_STATE
        describe(ctx, txn)
        init(ctx, txn)
        end_txn(ctx, txn, pid, epoch, True, v)  # fenced epoch

    def abort(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t)
        txn, pid, epoch = begin(ctx, {t: [0]})
        end_txn(ctx, txn, pid, epoch, False, v)
        wait_state(ctx, txn, ("CompleteAbort",))
        end_txn(ctx, txn, pid, epoch, False, v)
        end_txn(ctx, txn, pid, epoch, True, v)
        describe(ctx, txn)

    add(f"end_txn/v{v}/commit_states", states)
    add(f"end_txn/v{v}/abort_states", abort)


for _v in END_TXN_VERSIONS:
    _end_txn_version(_v)


def _end_txn_concurrent(ctx: Ctx) -> None:
    """A request that arrives while the markers of the previous EndTxn are being
    written (PrepareCommit) gets CONCURRENT_TRANSACTIONS; once complete, NONE.
    Which one it meets is a race on both brokers, so the note records only that
    the answer is one of those two."""
    t = ctx.name()
    create_topic(ctx, t)
    txn, pid, epoch = begin(ctx, {t: [0]})
    txn_produce(ctx, t, txn, pid, epoch)
    r1 = ctx.call(END_TXN, 3, {"transactional_id": txn, "producer_id": pid,
                               "producer_epoch": epoch, "committed": True})
    r2 = ctx.call(ADD_PARTITIONS_TO_TXN, 3, {
        "v3_and_below_transactional_id": txn, "v3_and_below_producer_id": pid,
        "v3_and_below_producer_epoch": epoch,
        "v3_and_below_topics": [{"name": t, "partitions": [0]}]}, record=False)
    ctx.note("EndTxn then AddPartitionsToTxn at once",
             (error(r1), _partition_errors(r2) <= {NONE, CONCURRENT_TRANSACTIONS}))


def _partition_errors(r: Any) -> set[Any]:
    try:
        return {p["partition_error_code"] for tr in r["results_by_topic_v3_and_below"]
                for p in tr["results_by_partition"]}
    except (KeyError, TypeError):
        return {r}


add("end_txn/v3/then_add_partitions_at_once", _end_txn_concurrent)


# ---------------------------------------------------------------- Produce + read back
def _produce_then(commit: bool, version: int) -> None:
    def fn(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t)
        produce(ctx, t, Batch(records=((b"before", b"x"),)))  # a plain record first
        txn, pid, epoch = begin(ctx, {t: [0]})
        txn_produce(ctx, t, txn, pid, epoch, 0, version=version)
        txn_produce(ctx, t, txn, pid, epoch, 2, version=version)
        txn_produce(ctx, t, txn, pid, epoch, 2, version=version)  # duplicate
        read_back(ctx, t)  # ongoing: LSO at the transaction's first offset
        ctx.call(DESCRIBE_PRODUCERS, 0, {"topics": [{"name": t, "partition_indexes": [0, 3]}]})
        end_txn(ctx, txn, pid, epoch, commit)
        wait_stable(ctx, t)
        read_back(ctx, t)
        ctx.call(DESCRIBE_PRODUCERS, 0, {"topics": [{"name": t, "partition_indexes": [0]}]})
        # a second transaction on the same partition, and a plain record after it
        add_partitions(ctx, txn, pid, epoch, {t: [0]})
        txn_produce(ctx, t, txn, pid, epoch, 4, n=1, version=version)
        produce(ctx, t, Batch(records=((b"after", b"x"),)))
        read_back(ctx, t)
        end_txn(ctx, txn, pid, epoch, not commit)
        wait_stable(ctx, t)
        read_back(ctx, t)
        ctx.call(LIST_OFFSETS, 7, list_offsets_body(t, 0, 1_700_000_000_000, 1))
        # read_committed from inside the first transaction: its aborted entry (or none)
        read_all(ctx, t, 0, 1, offset=3)

    add(f"produce/v{version}/txn_{'commit' if commit else 'abort'}_read_back", fn)


for _c in (True, False):
    for _pv in (3, 9, 11):
        _produce_then(_c, _pv)


def _produce_not_added(ctx: Ctx) -> None:
    t = ctx.name()
    create_topic(ctx, t, partitions=2)
    txn, pid, epoch = begin(ctx, {t: [0]})
    txn_produce(ctx, t, txn, pid, epoch, partition=1)  # partition 1 not in the transaction
    txn_produce(ctx, t, txn, pid, epoch + 1, partition=0)  # wrong epoch
    txn_produce(ctx, t, ctx.name("other"), pid, epoch, partition=0)  # another id
    read_back(ctx, t, 1)


add("produce/v9/txn_partition_not_added", _produce_not_added)


# ---------------------------------------------------------------- Describe / List
def _describe_list(ctx: Ctx) -> None:
    t = ctx.name()
    create_topic(ctx, t, partitions=2)
    txn, pid, epoch = begin(ctx)
    describe(ctx, txn)  # Empty
    add_partitions(ctx, txn, pid, epoch, {t: [1, 0]})
    describe(ctx, txn, ctx.name("unknown"))  # Ongoing, its partitions
    pattern = "^" + re.escape(ctx.name("")) + ".*"
    for v in (0, 1, 2):
        body = {"state_filters": [], "producer_id_filters": [pid], "duration_filter": -1,
                "transactional_id_pattern": None}
        ctx.call(LIST_TRANSACTIONS, v, body)
        ctx.call(LIST_TRANSACTIONS, v, {**body, "state_filters": ["Ongoing", "Bogus"]})
        ctx.call(LIST_TRANSACTIONS, v, {**body, "state_filters": ["Empty"]})
        if v >= 1:
            ctx.call(LIST_TRANSACTIONS, v, {**body, "duration_filter": 0})
            ctx.call(LIST_TRANSACTIONS, v, {**body, "duration_filter": 3_600_000})
        if v >= 2:
            ctx.call(LIST_TRANSACTIONS, v, {**body, "producer_id_filters": [],
                                            "transactional_id_pattern": pattern})
            ctx.call(LIST_TRANSACTIONS, v, {**body, "producer_id_filters": [],
                                            "transactional_id_pattern": "(["})
    end_txn(ctx, txn, pid, epoch, False)
    wait_state(ctx, txn, ("CompleteAbort",))
    describe(ctx, txn)
    ctx.call(LIST_TRANSACTIONS, 2, {"state_filters": ["CompleteAbort"],
                                    "producer_id_filters": [pid], "duration_filter": -1,
                                    "transactional_id_pattern": pattern})
    describe(ctx, ctx.name("unknown"), "")


add("describe_transactions/v0/lifecycle_and_list_filters", _describe_list)


def _describe_producers(ctx: Ctx) -> None:
    t = ctx.name()
    create_topic(ctx, t)
    body = {"topics": [{"name": t, "partition_indexes": [0, 1, -1]},
                       {"name": ctx.name("missing"), "partition_indexes": [0]}]}
    ctx.call(DESCRIBE_PRODUCERS, 0, body)
    produce(ctx, t, Batch())
    ctx.call(DESCRIBE_PRODUCERS, 0, body)


add("describe_producers/v0/unknown_and_empty", _describe_producers)


# ---------------------------------------------------------------- WriteTxnMarkers
def _write_markers_version(v: int) -> None:
    def fn(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t)
        ip = ctx.call(INIT_PRODUCER_ID, 4, init_body(None))
        pid = ip.get("producer_id", -1) if isinstance(ip, dict) else -1

        def marker(commit: bool, topics: list[dict[str, Any]], epoch: int = 0,
                   coordinator_epoch: int = 0) -> dict[str, Any]:
            return {"producer_id": pid, "producer_epoch": epoch, "transaction_result": commit,
                    "coordinator_epoch": coordinator_epoch, "transaction_version": 1,
                    "topics": topics}

        produce(ctx, t, Batch(producer_id=pid, producer_epoch=0, base_sequence=0))
        ctx.call(WRITE_TXN_MARKERS, v, {"markers": [marker(False, [
            {"name": t, "partition_indexes": [0, 4]},
            {"name": ctx.name("missing"), "partition_indexes": [0]}])]})
        ctx.call(WRITE_TXN_MARKERS, v, {"markers": [marker(True, [
            {"name": t, "partition_indexes": [0]}], coordinator_epoch=5)]})
        ctx.call(WRITE_TXN_MARKERS, v, {"markers": [marker(True, [
            {"name": t, "partition_indexes": [0]}], coordinator_epoch=2)]})  # stale
        read_back(ctx, t)

    add(f"write_txn_markers/v{v}/from_client", fn)


for _v in (1, 2):
    _write_markers_version(_v)


# ---------------------------------------------------------------- TxnOffsetCommit
def _toc_body(txn: str, g: str, pid: int, epoch: int, topic: str, *, generation: int = -1,
              member: str = "", offset: int = 5) -> dict[str, Any]:
    return {"transactional_id": txn, "group_id": g, "producer_id": pid, "producer_epoch": epoch,
            "generation_id": generation, "member_id": member, "group_instance_id": None,
            "topics": [{"name": topic, "partitions": [
                {"partition_index": 0, "committed_offset": offset, "committed_leader_epoch": -1,
                 "committed_metadata": "m"}]}]}


def _offset_fetch(ctx: Ctx, g: str, topic: str, stable: bool, version: int = 7) -> Any:
    return ctx.call(OFFSET_FETCH, version, {
        "group_id": g, "topics": [{"name": topic, "partition_indexes": [0]}],
        "require_stable": stable, "groups": [{"group_id": g, "member_id": None,
                                              "member_epoch": -1, "topics": [
                                                  {"name": topic, "partition_indexes": [0]}]}]})


def _wait_stable_offsets(ctx: Ctx, g: str, topic: str) -> None:
    """Unrecorded: until the group's offset is no longer pending (the offsets
    marker follows EndTxn); 5 s, as Kafka's marker takes milliseconds."""
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        r = ctx.call(OFFSET_FETCH, 7, {"group_id": g, "topics": [
            {"name": topic, "partition_indexes": [0]}], "require_stable": True}, record=False)
        try:
            if r["topics"][0]["partitions"][0]["error_code"] == NONE:
                return
        except (KeyError, IndexError, TypeError):
            return
        time.sleep(0.05)


def _toc_version(v: int) -> None:
    def simple(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t)
        g = ctx.name("g")
        txn, pid, epoch = begin(ctx)
        ctx.call(ADD_OFFSETS_TO_TXN, 3, {"transactional_id": txn, "producer_id": pid,
                                         "producer_epoch": epoch, "group_id": g})
        ctx.call(TXN_OFFSET_COMMIT, v, _toc_body(txn, g, pid, epoch, t))
        ctx.call(TXN_OFFSET_COMMIT, v, _toc_body(txn, g, pid, epoch, ctx.name("missing")))
        _offset_fetch(ctx, g, t, False)
        _offset_fetch(ctx, g, t, True)  # UNSTABLE_OFFSET_COMMIT while pending
        _offset_fetch(ctx, g, t, True, version=8)
        end_txn(ctx, txn, pid, epoch, True)
        _wait_stable_offsets(ctx, g, t)
        _offset_fetch(ctx, g, t, True)

    def aborted(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t)
        g = ctx.name("g")
        txn, pid, epoch = begin(ctx)
        ctx.call(ADD_OFFSETS_TO_TXN, 3, {"transactional_id": txn, "producer_id": pid,
                                         "producer_epoch": epoch, "group_id": g})
        ctx.call(TXN_OFFSET_COMMIT, v, _toc_body(txn, g, pid, epoch + 1, t))  # wrong epoch
        ctx.call(TXN_OFFSET_COMMIT, v, _toc_body(txn, g, pid, epoch, t))
        end_txn(ctx, txn, pid, epoch, False)
        _wait_stable_offsets(ctx, g, t)
        _offset_fetch(ctx, g, t, True)

    add(f"txn_offset_commit/v{v}/commit_and_require_stable", simple)
    add(f"txn_offset_commit/v{v}/abort", aborted)
    if v >= 3:
        def members(ctx: Ctx) -> None:
            t = ctx.name()
            create_topic(ctx, t)
            g = ctx.name("g")
            txn, pid, epoch = begin(ctx)
            ctx.call(ADD_OFFSETS_TO_TXN, 3, {"transactional_id": txn, "producer_id": pid,
                                             "producer_epoch": epoch, "group_id": g})
            # the group does not exist: a member / generation names nothing
            ctx.call(TXN_OFFSET_COMMIT, v, _toc_body(txn, g, pid, epoch, t, generation=3,
                                                     member="ghost"))
            join = {"group_id": g, "session_timeout": 30000, "rebalance_timeout": 30000,
                    "member_id": "", "group_instance_id": None, "protocol_type": "consumer",
                    "protocols": [{"name": "range", "metadata": b""}], "reason": None}
            j = ctx.call(JOIN_GROUP, 5, join)
            if isinstance(j, dict) and j.get("error_code") == 79:  # MEMBER_ID_REQUIRED
                j = ctx.call(JOIN_GROUP, 5, {**join, "member_id": j["member_id"]})
            member = j.get("member_id", "") if isinstance(j, dict) else ""
            gen = j.get("generation_id", -1) if isinstance(j, dict) else -1
            ctx.call(SYNC_GROUP, 3, {"group_id": g, "generation_id": gen, "member_id": member,
                                     "group_instance_id": None, "assignments": [
                                         {"member_id": member, "assignment": b""}]})
            ctx.call(TXN_OFFSET_COMMIT, v, _toc_body(txn, g, pid, epoch, t, generation=gen,
                                                     member="ghost"))
            ctx.call(TXN_OFFSET_COMMIT, v, _toc_body(txn, g, pid, epoch, t,
                                                     generation=gen + 1, member=member))
            ctx.call(TXN_OFFSET_COMMIT, v, _toc_body(txn, g, pid, epoch, t, generation=gen,
                                                     member=member))
            ctx.call(TXN_OFFSET_COMMIT, v, _toc_body(txn, g, pid, epoch, t))  # -1 / "": fine
            end_txn(ctx, txn, pid, epoch, True)
            _wait_stable_offsets(ctx, g, t)
            _offset_fetch(ctx, g, t, True)
        add(f"txn_offset_commit/v{v}/members_and_generations", members)


for _v in TXN_OFFSET_COMMIT_VERSIONS:
    _toc_version(_v)
