"""Fetch sessions (KIP-227): the pure cache (kwire/broker/fetch_session.py) and the
Fetch handler's use of it, checked against Kafka 4.4's FetchSession rules.

Raw request sequences in the handler tests were also sent to a Kafka 4.4.0 broker
(compat-tests/test_fetch_sessions_wire.py runs them against both)."""

from __future__ import annotations

import asyncio
import random
import uuid
from pathlib import Path
from typing import Any

import pytest
from _harness import InProcessBroker  # type: ignore[import-not-found]
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from kwire.broker import fetch_session as fs
from kwire.broker.fetch_session import (
    CachedPartition,
    FetchSessionCache,
    PartitionRequest,
    TopicIdPartition,
)
from kwire.records.builder import build_batch

ZERO = fs.ZERO_UUID


def tip(name: str, partition: int = 0) -> TopicIdPartition:
    return TopicIdPartition(ZERO, name, partition)


def req(offset: int = 0) -> PartitionRequest:
    return PartitionRequest(fetch_offset=offset, max_bytes=1 << 20)


def entry(hw: int = 0, lso: int = 0, error: int = 0, records: bytes = b"") -> dict[str, Any]:
    return {"partition_index": 0, "error_code": error, "high_watermark": hw,
            "last_stable_offset": hw, "log_start_offset": lso, "records": records,
            "preferred_read_replica": -1, "aborted_transactions": None}


def open_session(cache: FetchSessionCache, n: int, now: int, privileged: bool = False,
                 version: int = 12) -> int:
    data = {tip(f"t{i}"): req() for i in range(n)}
    ctx = cache.new_context(version, 0, 0, privileged, data, [], now)
    assert isinstance(ctx, fs.Full)
    _, sid, _ = ctx.finish([(t, entry()) for t in data], now)
    return sid


# --- the pure cache ---------------------------------------------------------------------

def test_epochs_follow_fetch_metadata() -> None:
    assert fs.next_epoch(0) == 1
    assert fs.next_epoch(41) == 42
    assert fs.next_epoch(fs.INT_MAX) == 1
    assert fs.next_epoch(-1) == fs.FINAL_EPOCH


def test_cache_is_sharded_like_kafka() -> None:
    # 8 shards of slots // 8: under 8 slots no session is ever created.
    for slots in (0, 7):
        assert open_session(FetchSessionCache(slots), 1, 0) == fs.INVALID_SESSION_ID
    cache = FetchSessionCache(16, rng=random.Random(1))
    ids = [open_session(cache, 1, 0) for _ in range(16)]
    assert all(ids) and len(set(ids)) == 16
    # Sessions are dealt round-robin: shard n hands out ids of its own range.
    for n, sid in enumerate(ids):
        assert cache.shard_for(sid) is cache.shards[n % 8]
    assert open_session(cache, 1, 0) == fs.INVALID_SESSION_ID  # full, nothing evictable
    assert cache.size == 16


def test_full_epoch_zero_closes_the_named_session_and_opens_another() -> None:
    cache = FetchSessionCache(8)
    sid = open_session(cache, 2, 0)
    ctx = cache.new_context(12, sid, 0, False, {tip("a"): req()}, [], 1)
    assert isinstance(ctx, fs.Full)
    assert cache.get(sid) is None
    ctx2 = cache.new_context(12, sid, fs.FINAL_EPOCH, False, {tip("a"): req()}, [], 1)
    assert isinstance(ctx2, fs.Sessionless)


def test_session_errors() -> None:
    cache = FetchSessionCache(8)
    sid = open_session(cache, 1, 0)
    assert cache.new_context(12, sid + 1, 1, False, {}, [], 0) == fs.SessionError(70)
    assert cache.new_context(12, sid, 2, False, {}, [], 0) == fs.SessionError(71)
    assert cache.new_context(13, sid, 1, False, {}, [], 0) == fs.SessionError(106)
    ctx = cache.new_context(12, sid, 1, False, {}, [], 0)
    assert isinstance(ctx, fs.Incremental)
    # The same epoch again (a duplicate) is refused: the session moved on to 2.
    assert cache.new_context(12, sid, 1, False, {}, [], 0) == fs.SessionError(71)
    # Ids no shard hands out fail the request as Kafka's shard lookup does.
    assert cache.new_context(12, fs.INT_MAX, 1, False, {}, [], 0) == fs.SessionError(-1)
    id_sessions = FetchSessionCache(8)
    sid13 = open_session(id_sessions, 1, 0, version=13)
    assert id_sessions.new_context(12, sid13, 1, False, {}, [], 0) == fs.SessionError(106)


def test_incremental_answers_only_what_changed() -> None:
    cache = FetchSessionCache(8)
    sid = open_session(cache, 3, 0)  # t0, t1, t2 at hw 0, log start 0
    ctx = cache.new_context(12, sid, 1, False, {}, [], 0)
    assert isinstance(ctx, fs.Incremental)
    parts = [t for t, _ in ctx.partitions(lambda _id: None)]
    assert parts == [tip("t0"), tip("t1"), tip("t2")]
    results = [(tip("t0"), entry()), (tip("t1"), entry(hw=5)),
               (tip("t2"), entry(records=b"x" * 10))]
    err, got_sid, chosen = ctx.finish(results, 0)
    assert (err, got_sid) == (0, sid)
    assert [t for t, _ in chosen] == [tip("t1"), tip("t2")]
    # t2 returned records: it moved to the end of the session's order.
    ctx = cache.new_context(12, sid, 2, False, {}, [], 0)
    assert isinstance(ctx, fs.Incremental)
    assert [t for t, _ in ctx.partitions(lambda _id: None)] == [
        tip("t0"), tip("t1"), tip("t2")]
    results = [(tip("t0"), entry(lso=3)), (tip("t1"), entry(hw=5)),
               (tip("t2"), entry(error=6))]
    _, _, chosen = ctx.finish(results, 0)
    assert [t for t, _ in chosen] == [tip("t0"), tip("t2")]
    # After an error the partition is sent again when it clears (cached hw was reset).
    ctx = cache.new_context(12, sid, 3, False, {}, [], 0)
    assert isinstance(ctx, fs.Incremental)
    _, _, chosen = ctx.finish([(tip("t0"), entry(lso=3)), (tip("t1"), entry(hw=5)),
                               (tip("t2"), entry())], 0)
    assert [t for t, _ in chosen] == [tip("t2")]


def test_records_move_partitions_to_the_end() -> None:
    cache = FetchSessionCache(8)
    sid = open_session(cache, 3, 0)
    ctx = cache.new_context(12, sid, 1, False, {}, [], 0)
    assert isinstance(ctx, fs.Incremental)
    ctx.finish([(tip("t0"), entry(records=b"r")), (tip("t1"), entry()), (tip("t2"), entry())], 0)
    ctx = cache.new_context(12, sid, 2, False, {}, [], 0)
    assert isinstance(ctx, fs.Incremental)
    assert [t for t, _ in ctx.partitions(lambda _id: None)] == [
        tip("t1"), tip("t2"), tip("t0")]


def test_incremental_request_updates_adds_and_forgets() -> None:
    cache = FetchSessionCache(8)
    sid = open_session(cache, 2, 0)
    ctx = cache.new_context(12, sid, 1, False, {tip("t1"): req(7), tip("new"): req(3)},
                            [tip("t0"), tip("absent")], 5)
    assert isinstance(ctx, fs.Incremental)
    got = ctx.partitions(lambda _id: None)
    assert got == [(tip("t1"), req(7)), (tip("new"), req(3))]
    session = cache.get(sid)
    assert session is not None and session.epoch == 2 and session.last_used_ms == 5
    # Forgetting every partition ends the session; that fetch is sessionless.
    ctx2 = cache.new_context(12, sid, 2, False, {}, [tip("t1"), tip("new")], 6)
    assert isinstance(ctx2, fs.Sessionless)
    assert cache.get(sid) is None


def test_answer_after_a_concurrent_request_is_an_epoch_error() -> None:
    cache = FetchSessionCache(8)
    sid = open_session(cache, 1, 0)
    first = cache.new_context(12, sid, 1, False, {}, [], 0)
    second = cache.new_context(12, sid, 2, False, {}, [], 0)
    assert isinstance(first, fs.Incremental) and isinstance(second, fs.Incremental)
    assert first.finish([(tip("t0"), entry(hw=1))], 0) == (71, sid, ())
    assert second.finish([(tip("t0"), entry(hw=1))], 0)[0] == 0


def test_topic_id_sessions_resolve_names_late() -> None:
    cache = FetchSessionCache(8)
    tid = uuid.uuid4()
    unknown = TopicIdPartition(tid, None, 0)
    ctx = cache.new_context(13, 0, 0, False, {unknown: req()}, [], 0)
    assert isinstance(ctx, fs.Full)
    _, sid, _ = ctx.finish([(unknown, entry(hw=-1, lso=-1, error=100))], 0)
    inc = cache.new_context(13, sid, 1, False, {}, [], 0)
    assert isinstance(inc, fs.Incremental)
    assert inc.partitions(lambda _id: None) == [(unknown, req())]
    inc = cache.new_context(13, sid, 2, False, {}, [], 0)
    assert isinstance(inc, fs.Incremental)
    assert inc.partitions({tid: "born"}.get) == [(TopicIdPartition(tid, "born", 0), req())]


def test_must_respond_rules() -> None:
    cached = CachedPartition(tip("a"), req(), high_watermark=10, local_log_start_offset=0)
    assert not cached.must_respond(entry(hw=10, lso=0), update=True)
    same_but_lso = entry(hw=10, lso=0)
    same_but_lso["last_stable_offset"] = 3  # Kafka does not compare the LSO
    assert not cached.must_respond(same_but_lso, update=True)
    assert cached.must_respond(entry(hw=11, lso=0), update=False)
    assert cached.high_watermark == 10  # update=False leaves the cache alone
    preferred = entry(hw=10, lso=0)
    preferred["preferred_read_replica"] = 2
    assert cached.must_respond(preferred, update=True)
    assert cached.must_respond(entry(hw=10, lso=0, records=b"x"), update=True)


# Eviction (Kafka's tryEvict) inside one shard: 8 slots = 1 per shard.

def _one_shard_cache() -> FetchSessionCache:
    return FetchSessionCache(8, eviction_ms=100, num_shards=1)


def test_stale_session_is_evicted() -> None:
    cache = _one_shard_cache()
    cache.shards[0].max_entries = 1
    old = open_session(cache, 5, now=0)
    assert open_session(cache, 1, now=100) == 0  # idle exactly eviction_ms: not stale
    new = open_session(cache, 1, now=101)
    assert new and cache.get(old) is None and cache.evictions == 1


def test_bigger_session_evicts_a_smaller_old_one() -> None:
    cache = _one_shard_cache()
    cache.shards[0].max_entries = 1
    small = open_session(cache, 2, now=0)
    # Young (created within eviction_ms of its last use): not evictable by size.
    assert open_session(cache, 10, now=50) == 0
    # Used once more when old enough: now in the evictable set.
    ctx = cache.new_context(12, small, 1, False, {}, [], 101)
    assert isinstance(ctx, fs.Incremental)
    assert open_session(cache, 1, now=150) == 0  # fewer partitions: worth less
    big = open_session(cache, 10, now=150)
    assert big and cache.get(small) is None


def test_privileged_sessions() -> None:
    cache = _one_shard_cache()
    cache.shards[0].max_entries = 1
    consumer = open_session(cache, 50, now=0)
    # A follower may evict a young consumer session whatever its size ...
    follower = open_session(cache, 1, now=10, privileged=True)
    assert follower and cache.get(consumer) is None
    # ... but a consumer cannot evict a young follower session.
    assert open_session(cache, 1000, now=20) == 0


class CacheMachine(RuleBasedStateMachine):
    """Random sequences of fetches against the cache keep Kafka's invariants."""

    def __init__(self) -> None:
        super().__init__()
        self.cache = FetchSessionCache(16, eviction_ms=50, rng=random.Random(0))
        self.now = 0
        self.epochs: dict[int, int] = {}  # what a well-behaved client would send next

    @rule(n=st.integers(1, 5), privileged=st.booleans(), dt=st.integers(0, 40))
    def full_fetch(self, n: int, privileged: bool, dt: int) -> None:
        self.now += dt
        sid = open_session(self.cache, n, self.now, privileged)
        if sid:
            assert sid not in self.epochs or self.cache.get(sid) is not None
            self.epochs[sid] = 1

    @precondition(lambda self: bool(self.epochs))
    @rule(data=st.data(), forget=st.booleans(), dt=st.integers(0, 40))
    def incremental(self, data: st.DataObject, forget: bool, dt: int) -> None:
        self.now += dt
        sid = data.draw(st.sampled_from(sorted(self.epochs)))
        epoch = self.epochs[sid]
        session = self.cache.get(sid)
        to_forget = [c.tip for c in session.partitions.values()] if forget and session else []
        ctx = self.cache.new_context(12, sid, epoch, False, {}, to_forget, self.now)
        if session is None:
            assert ctx == fs.SessionError(fs.FETCH_SESSION_ID_NOT_FOUND)
            del self.epochs[sid]
        elif forget:
            assert isinstance(ctx, fs.Sessionless) and self.cache.get(sid) is None
            del self.epochs[sid]
        else:
            assert isinstance(ctx, fs.Incremental)
            assert ctx.finish([], self.now) == (0, sid, [])
            self.epochs[sid] = fs.next_epoch(epoch)

    @precondition(lambda self: bool(self.epochs))
    @rule(data=st.data())
    def wrong_epoch(self, data: st.DataObject) -> None:
        sid = data.draw(st.sampled_from(sorted(self.epochs)))
        ctx = self.cache.new_context(12, sid, self.epochs[sid] + 7, False, {}, [], self.now)
        expected = 71 if self.cache.get(sid) is not None else 70
        assert ctx == fs.SessionError(expected)

    @invariant()
    def bounded_and_well_formed(self) -> None:
        for shard in self.cache.shards:
            assert len(shard.sessions) <= shard.max_entries
            for sid, session in shard.sessions.items():
                assert session.id == sid and self.cache.shard_for(sid) is shard
                assert session.cached_size == len(session.partitions) > 0
                assert session.epoch >= 1


TestCacheMachine = CacheMachine.TestCase
TestCacheMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)


# --- the handler --------------------------------------------------------------------------

async def _topic(kb: InProcessBroker, name: str, partitions: int = 1) -> uuid.UUID:
    r = await kb.call(19, 7, {"topics": [{"name": name, "num_partitions": partitions,
                                          "replication_factor": 1, "assignments": (),
                                          "configs": ()}],
                              "timeout": 5000, "validate_only": False})
    assert r.topics[0].error_code == 0
    topic_id: uuid.UUID = kb.broker.snapshot().topics[name].topic_id
    return topic_id


async def _produce(kb: InProcessBroker, name: str, partition: int = 0, n: int = 1,
                   size: int = 8) -> None:
    batch = build_batch([(None, b"v" * size, []) for _ in range(n)], base_timestamp=1)
    r = await kb.call(0, 9, {"transactional_id": None, "acks": -1, "timeout": 5000,
                             "topic_data": [{"name": name, "partition_data": [
                                 {"index": partition, "records": batch}]}]})
    assert r.responses[0].partition_responses[0].error_code == 0


def _part(index: int, offset: int) -> dict[str, Any]:
    return {"partition": index, "fetch_offset": offset, "partition_max_bytes": 1 << 20,
            "log_start_offset": -1, "current_leader_epoch": -1, "last_fetched_epoch": -1}


def _body(topics: dict[Any, dict[int, int]], session_id: int, epoch: int, version: int,
          forgotten: dict[Any, list[int]] | None = None, max_wait: int = 0) -> dict[str, Any]:
    key = "topic_id" if version >= 13 else "topic"
    body: dict[str, Any] = {
        "max_wait": max_wait, "min_bytes": 1, "max_bytes": 50 << 20,
        "isolation_level": 0, "session_id": session_id, "session_epoch": epoch,
        "topics": [{key: t, "partitions": [_part(p, o) for p, o in parts.items()]}
                   for t, parts in topics.items()],
        "forgotten_topics_data": [{key: t, "partitions": ps}
                                  for t, ps in (forgotten or {}).items()],
        "rack_id": "",
    }
    if version < 15:
        body["replica_id"] = -1
    return body


def _seen(r: Any, version: int) -> dict[tuple[Any, int], tuple[int, int, int]]:
    """(topic, partition) -> (error, high watermark, records bytes) of a response."""
    out = {}
    for t in r.responses:
        for p in t.partitions:
            key = (t.topic_id if version >= 13 else t.topic, p.partition_index)
            out[key] = (p.error_code, p.high_watermark, len(p.records or b""))
    return out


@pytest.mark.parametrize("session_id", [0, 12345, -1])
async def test_sessionless_fetches_consume_everything(tmp_path: Path, session_id: int) -> None:
    kb = InProcessBroker(tmp_path)
    await _topic(kb, "s", 2)
    for i in range(5):
        await _produce(kb, "s", i % 2, 3)
    offsets = {0: 0, 1: 0}
    for _ in range(4):
        r = await kb.call(1, 12, _body({"s": dict(offsets)}, session_id, -1, 12))
        assert r.error_code == 0 and r.session_id == 0
        for p in r.responses[0].partitions:
            assert p.error_code == 0
            if p.records:
                offsets[p.partition_index] = p.high_watermark
    assert offsets == {0: 9, 1: 6}
    assert kb.broker.fetch_sessions.size == 0


@pytest.mark.parametrize("version", [12, 13, 18])
async def test_incremental_session_sends_only_changes(tmp_path: Path, version: int) -> None:
    kb = InProcessBroker(tmp_path)
    tid = await _topic(kb, "inc", 3)
    t = tid if version >= 13 else "inc"
    await _produce(kb, "inc", 0, 2)
    r = await kb.call(1, version, _body({t: {0: 0, 1: 0, 2: 0}}, 0, 0, version))
    assert r.error_code == 0 and r.session_id != 0
    sid = r.session_id
    assert _seen(r, version) == {(t, 0): (0, 2, _seen(r, version)[(t, 0)][2]),
                                 (t, 1): (0, 0, 0), (t, 2): (0, 0, 0)}
    # Partition 0 moves its offset; nothing else has changed: an empty answer.
    r = await kb.call(1, version, _body({t: {0: 2}}, sid, 1, version))
    assert (r.error_code, r.session_id, r.responses) == (0, sid, ())
    await _produce(kb, "inc", 2, 1)
    r = await kb.call(1, version, _body({}, sid, 2, version))
    seen = _seen(r, version)
    assert list(seen) == [(t, 2)] and seen[(t, 2)][:2] == (0, 1) and seen[(t, 2)][2] > 0
    # The client did not move partition 2's offset: the same records come again.
    r = await kb.call(1, version, _body({}, sid, 3, version))
    assert list(_seen(r, version)) == [(t, 2)]
    r = await kb.call(1, version, _body({t: {2: 1}}, sid, 4, version))
    assert r.responses == ()
    # Errors: a stale epoch, an unknown session, then the session still works.
    r = await kb.call(1, version, _body({}, sid, 4, version))
    assert (r.error_code, r.session_id, r.responses) == (71, 0, ())
    r = await kb.call(1, version, _body({}, sid + 1, 1, version))
    assert (r.error_code, r.session_id) == (70, 0)
    r = await kb.call(1, version, _body({}, sid, 5, version))
    assert (r.error_code, r.session_id) == (0, sid)
    # Closing: epoch -1 with the session id; then the id is gone.
    r = await kb.call(1, version, _body({t: {0: 2}}, sid, -1, version))
    assert (r.error_code, r.session_id) == (0, 0) and list(_seen(r, version)) == [(t, 0)]
    r = await kb.call(1, version, _body({}, sid, 6, version))
    assert r.error_code == 70


async def test_forgotten_partitions_leave_the_session(tmp_path: Path) -> None:
    kb = InProcessBroker(tmp_path)
    await _topic(kb, "f", 2)
    r = await kb.call(1, 12, _body({"f": {0: 0, 1: 0}}, 0, 0, 12))
    sid = r.session_id
    r = await kb.call(1, 12, _body({}, sid, 1, 12, forgotten={"f": [0]}))
    assert r.session_id == sid
    session = kb.broker.fetch_sessions.get(sid)
    assert session is not None and list(session.partitions) == [("f", 1)]
    await _produce(kb, "f", 0)
    r = await kb.call(1, 12, _body({}, sid, 2, 12))
    assert r.responses == ()  # partition 0 is no longer fetched
    # Forgetting the last partition ends the session: a sessionless answer.
    r = await kb.call(1, 12, _body({}, sid, 3, 12, forgotten={"f": [1]}))
    assert (r.error_code, r.session_id) == (0, 0)
    assert kb.broker.fetch_sessions.get(sid) is None


async def test_names_and_ids_do_not_mix_in_one_session(tmp_path: Path) -> None:
    kb = InProcessBroker(tmp_path)
    tid = await _topic(kb, "m")
    r = await kb.call(1, 12, _body({"m": {0: 0}}, 0, 0, 12))
    r = await kb.call(1, 13, _body({tid: {0: 0}}, r.session_id, 1, 13))
    assert (r.error_code, r.session_id, r.responses) == (106, 0, ())
    r = await kb.call(1, 13, _body({tid: {0: 0}}, 0, 0, 13))
    r = await kb.call(1, 12, _body({"m": {0: 0}}, r.session_id, 1, 12))
    assert r.error_code == 106


async def test_unknown_and_recreated_topic_ids(tmp_path: Path) -> None:
    kb = InProcessBroker(tmp_path)
    old = await _topic(kb, "re")
    ghost = uuid.uuid4()
    await _produce(kb, "re", 0, 2)
    r = await kb.call(1, 13, _body({old: {0: 0}, ghost: {0: 0}}, 0, 0, 13))
    assert _seen(r, 13)[(ghost, 0)][0] == 100  # UNKNOWN_TOPIC_ID
    sid = r.session_id
    r = await kb.call(1, 12, _body({"re": {0: 0}}, 0, 0, 12))
    name_sid = r.session_id
    r = await kb.call(1, 13, _body({old: {0: 2}}, sid, 1, 13))
    assert list(_seen(r, 13)) == [(ghost, 0)]  # an error is always answered
    d = await kb.call(20, 6, {"topics": [{"name": "re", "topic_id": ZERO}], "timeout": 5000})
    assert d.responses[0].error_code == 0
    new = await _topic(kb, "re")
    assert new != old
    await _produce(kb, "re", 0, 1)
    # The id session still names the old id (resolved to "re" when the session
    # began): Kafka's read finds another topic id in the log, INCONSISTENT_TOPIC_ID.
    r = await kb.call(1, 13, _body({}, sid, 2, 13))
    assert {k: v[0] for k, v in _seen(r, 13).items()} == {(old, 0): 103, (ghost, 0): 100}
    # A new full fetch by the old id finds no such topic.
    r = await kb.call(1, 13, _body({old: {0: 0}}, 0, -1, 13))
    assert {k: v[0] for k, v in _seen(r, 13).items()} == {(old, 0): 100}
    # The name session just reads the new topic of that name.
    r = await kb.call(1, 12, _body({}, name_sid, 1, 12))
    assert _seen(r, 12)[("re", 0)][:2] == (0, 1)


@pytest.mark.parametrize("slots", ["0", "7"])
async def test_no_slots_means_sessionless(tmp_path: Path, slots: str) -> None:
    kb = InProcessBroker(tmp_path, **{"max.incremental.fetch.session.cache.slots": slots})
    await _topic(kb, "z")
    r = await kb.call(1, 12, _body({"z": {0: 0}}, 0, 0, 12))
    assert (r.error_code, r.session_id) == (0, 0)
    assert len(r.responses[0].partitions) == 1


async def test_incremental_long_poll_is_woken_by_an_append(tmp_path: Path) -> None:
    kb = InProcessBroker(tmp_path)
    await _topic(kb, "lp", 2)
    r = await kb.call(1, 12, _body({"lp": {0: 0, 1: 0}}, 0, 0, 12))
    sid = r.session_id
    loop = asyncio.get_running_loop()
    start = loop.time()
    r = await kb.call(1, 12, _body({}, sid, 1, 12, max_wait=200))
    assert r.responses == () and loop.time() - start >= 0.19
    waiting = asyncio.ensure_future(kb.call(1, 12, _body({}, sid, 2, 12, max_wait=10_000)))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    start = loop.time()
    await _produce(kb, "lp", 1)
    r = await asyncio.wait_for(waiting, 5)
    assert loop.time() - start < 2
    assert list(_seen(r, 12)) == [("lp", 1)]


async def test_unknown_topic_does_not_cut_the_long_poll_short(tmp_path: Path) -> None:
    # Kafka answers partitions of unknown topics after the read, so a fetch that
    # also names a live partition still waits for data.
    kb = InProcessBroker(tmp_path)
    await _topic(kb, "live")
    loop = asyncio.get_running_loop()
    start = loop.time()
    r = await kb.call(1, 12, _body({"nope": {0: 0}, "live": {0: 0}}, 0, -1, 12, max_wait=200))
    assert loop.time() - start >= 0.19
    assert [t.topic for t in r.responses] == ["live", "nope"]  # erroneous come last
    assert r.responses[1].partitions[0].error_code == 3


async def test_session_shares_a_small_budget_round_robin(tmp_path: Path) -> None:
    kb = InProcessBroker(tmp_path, **{"fetch.max.bytes": "1024"})
    await _topic(kb, "rr", 3)
    for p in range(3):
        await _produce(kb, "rr", p, 30, size=50)  # each batch is larger than 1024 bytes
    body = _body({"rr": {0: 0, 1: 0, 2: 0}}, 0, 0, 12)
    r = await kb.call(1, 12, body)
    sid = r.session_id
    got = [p.partition_index for p in r.responses[0].partitions if p.records]
    assert got == [0]  # KIP-74: one whole batch, the budget is spent
    order = []
    for epoch in range(1, 4):
        r = await kb.call(1, 12, _body({}, sid, epoch, 12))
        order += [p.partition_index for t in r.responses for p in t.partitions if p.records]
    # A partition that returned records goes to the back, so each gets its turn
    # (the client leaves its offsets alone, so without the rotation: 0, 0, 0).
    assert order == [0, 1, 2]
