"""Incremental fetch sessions (KIP-227) as Kafka 4.4 keeps them: the session cache,
its eviction rules, and the four kinds of fetch context. Pure: no I/O, no asyncio;
time comes in as `now_ms`, randomness through an injectable `random.Random`.

A fetch names its session with (session id, epoch):
- epoch 0 (INITIAL): a full fetch that asks for a new session (any session it names
  is closed first); the response carries the new id, or 0 when the cache has no room;
- epoch -1 (FINAL): a full fetch without a session (any session it names is closed);
- epoch > 0: an incremental fetch of that session. The request carries only
  partitions whose fetch parameters changed (plus forgotten ones); the response
  only partitions with something new for the client (see `CachedPartition`).

Kafka splits the cache into 8 shards of `slots // 8` sessions each (session ids
partitioned by range, new sessions dealt round-robin, eviction inside one shard), so
fewer than 8 slots means no sessions at all; kwire keeps that shape so the same
setting admits the same sessions.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

INVALID_SESSION_ID = 0
INITIAL_EPOCH = 0
FINAL_EPOCH = -1
INT_MAX = 2**31 - 1
# Kafka's FetchSessionCache shape (KafkaBroker.NumFetchSessionCacheShards) and its
# minimum idle time before a session may be evicted for another
# (KafkaServer.MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS; not a broker setting).
NUM_SHARDS = 8
EVICTION_MS = 120_000
FIRST_TOPIC_ID_VERSION = 13
ZERO_UUID = uuid.UUID(int=0)

# Error codes (Kafka's Errors) this module answers with.
NONE = 0
FETCH_SESSION_ID_NOT_FOUND = 70
INVALID_FETCH_SESSION_EPOCH = 71
FETCH_SESSION_TOPIC_ID_ERROR = 106
UNKNOWN_SERVER_ERROR = -1


def next_epoch(epoch: int) -> int:
    """Kafka's FetchMetadata.nextEpoch: the epoch after `epoch` (1 after the maximum)."""
    if epoch < 0:
        return FINAL_EPOCH
    return 1 if epoch == INT_MAX else epoch + 1


@dataclass(frozen=True, slots=True)
class TopicIdPartition:
    """A requested partition: topic id (zero below Fetch v13) and name (None when a
    v13+ request names an id this broker does not know)."""

    topic_id: uuid.UUID
    topic: str | None
    partition: int
    # Kafka's CachedPartition equality: by id when ids are used, else by name.
    key: tuple[uuid.UUID | str | None, int] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        by_id = self.topic_id != ZERO_UUID
        object.__setattr__(self, "key", (self.topic_id if by_id else self.topic, self.partition))


@dataclass(frozen=True, slots=True)
class PartitionRequest:
    """Kafka's FetchRequest.PartitionData: what the fetcher asks of one partition."""

    fetch_offset: int
    max_bytes: int
    current_leader_epoch: int = -1
    log_start_offset: int = -1
    last_fetched_epoch: int = -1


def records_size(entry: Mapping[str, Any]) -> int:
    records = entry.get("records")
    if type(records) is bytes:  # the usual case, checked first: this runs per partition
        return len(records)
    if records is None:
        return 0
    if isinstance(records, bytearray | memoryview):
        return len(records)
    return sum(len(part) for part in records)


@dataclass(slots=True)
class CachedPartition:
    """One partition of a session: the last request parameters, and what the last
    response told the client (high watermark, log start offset), so that an
    incremental response can leave the partition out when nothing changed."""

    tip: TopicIdPartition
    request: PartitionRequest
    high_watermark: int = -1
    local_log_start_offset: int = -1

    def must_respond(self, entry: Mapping[str, Any], update: bool, size: int | None = None
                     ) -> bool:
        """Kafka's CachedPartition.maybeUpdateResponseData. A partition is sent when
        it has records, a new high watermark or log start offset, a preferred read
        replica or an error. The last stable offset is not compared (Kafka doesn't:
        it moves only with the high watermark or a transaction marker, which is a
        record). After an error the cached high watermark is reset to -1 so that
        the partition is sent again once the error clears."""
        respond = (records_size(entry) if size is None else size) > 0
        if self.high_watermark != entry["high_watermark"]:
            respond = True
            if update:
                self.high_watermark = int(entry["high_watermark"])
        if self.local_log_start_offset != entry["log_start_offset"]:
            respond = True
            if update:
                self.local_log_start_offset = int(entry["log_start_offset"])
        if entry.get("preferred_read_replica", -1) != -1:
            respond = True
        if entry["error_code"] != NONE:
            if update:
                self.high_watermark = -1
            respond = True
        return respond


@dataclass(slots=True)
class FetchSession:
    id: int
    privileged: bool  # created by a follower (replica id >= 0)
    partitions: dict[tuple[uuid.UUID | str | None, int], CachedPartition]
    uses_topic_ids: bool
    creation_ms: int
    last_used_ms: int
    epoch: int
    # Bookkeeping of the cache, refreshed by FetchSessionCacheShard.touch: the size
    # at the last touch (-1: not in a cache) and the eviction sets it joined then.
    cached_size: int = -1
    evictable_by_all: bool = False
    evictable_by_privileged: bool = False

    def evictable_key(self) -> tuple[bool, int, int]:
        # Kafka's EvictableKey order: unprivileged first, then fewer partitions, then id.
        return (self.privileged, self.cached_size, self.id)

    def update(
        self, fetch_data: Mapping[TopicIdPartition, PartitionRequest],
        to_forget: Iterable[TopicIdPartition],
    ) -> tuple[list[TopicIdPartition], list[TopicIdPartition], list[TopicIdPartition]]:
        """Apply an incremental request: new partitions join at the end, known ones
        take the new parameters, forgotten ones leave. Returns (added, updated, removed)."""
        added: list[TopicIdPartition] = []
        updated: list[TopicIdPartition] = []
        removed: list[TopicIdPartition] = []
        for tip, req in fetch_data.items():
            cached = self.partitions.get(tip.key)
            if cached is None:
                self.partitions[tip.key] = CachedPartition(tip, req)
                added.append(tip)
            else:
                cached.request = req
                updated.append(tip)
        for tip in to_forget:
            if self.partitions.pop(tip.key, None) is not None:
                removed.append(tip)
        return added, updated, removed


class FetchSessionCacheShard:
    """Kafka's FetchSessionCacheShard: at most `max_entries` sessions with ids in
    [max(1, shard * range), (shard + 1) * range)."""

    def __init__(self, max_entries: int, eviction_ms: int, session_id_range: int,
                 shard_num: int, rng: random.Random) -> None:
        self.max_entries = max_entries
        self.eviction_ms = eviction_ms
        self.session_id_range = session_id_range
        self.shard_num = shard_num
        self.sessions: dict[int, FetchSession] = {}
        self.evictions = 0
        self._rng = rng

    def get(self, session_id: int) -> FetchSession | None:
        return self.sessions.get(session_id)

    def total_partitions(self) -> int:
        return sum(s.cached_size for s in self.sessions.values())

    def new_session_id(self) -> int:
        low = max(1, self.shard_num * self.session_id_range)
        high = (self.shard_num + 1) * self.session_id_range
        while True:
            sid = self._rng.randrange(low, high)
            if sid not in self.sessions and sid != INVALID_SESSION_ID:
                return sid

    def maybe_create_session(
        self, now_ms: int, privileged: bool, size: int, uses_topic_ids: bool,
        create_partitions: Callable[[], dict[tuple[uuid.UUID | str | None, int],
                                             CachedPartition]],
    ) -> int:
        """A new session's id, or INVALID_SESSION_ID when there is no room and no
        session may be evicted for this one."""
        if len(self.sessions) < self.max_entries or self._try_evict(
                privileged, (privileged, size, 0), now_ms):
            session = FetchSession(self.new_session_id(), privileged, create_partitions(),
                                   uses_topic_ids, now_ms, now_ms, next_epoch(INITIAL_EPOCH))
            self.sessions[session.id] = session
            self.touch(session, now_ms)
            return session.id
        return INVALID_SESSION_ID

    def _try_evict(self, privileged: bool, key: tuple[bool, int, int], now_ms: int) -> bool:
        """Kafka's tryEvict: the least recently used session goes if it has been idle
        longer than the eviction time; otherwise the least valuable session that may
        be evicted (old enough at its last use; a privileged one only by a
        privileged newcomer) goes if it is not worth more than the newcomer (fewer
        partitions, or unprivileged before privileged)."""
        if not self.sessions:
            return False
        stale = min(self.sessions.values(), key=lambda s: (s.last_used_ms, s.id))
        if now_ms - stale.last_used_ms > self.eviction_ms:
            self.remove(stale)
            self.evictions += 1
            return True
        candidates = [s for s in self.sessions.values()
                      if (s.evictable_by_privileged if privileged else s.evictable_by_all)]
        if not candidates:
            return False
        victim = min(candidates, key=FetchSession.evictable_key)
        if key < victim.evictable_key():
            return False
        self.remove(victim)
        self.evictions += 1
        return True

    def remove(self, session: FetchSession) -> FetchSession | None:
        if self.sessions.get(session.id) is not session:
            return None
        del self.sessions[session.id]
        return session

    def remove_id(self, session_id: int) -> FetchSession | None:
        session = self.sessions.get(session_id)
        return None if session is None else self.remove(session)

    def touch(self, session: FetchSession, now_ms: int) -> None:
        """Record a use: last-used time, size, and which eviction sets the session
        belongs to until its next use (Kafka decides membership here, not at
        eviction time: a session unused since it was young stays unevictable by
        size until it goes stale)."""
        session.last_used_ms = now_ms
        session.cached_size = len(session.partitions)
        old_enough = now_ms - session.creation_ms > self.eviction_ms
        session.evictable_by_privileged = (not session.privileged) or old_enough
        session.evictable_by_all = old_enough


@dataclass(slots=True)
class SessionError:
    """A session error: the answer names no partitions and session id 0."""

    error: int


@dataclass(slots=True)
class Sessionless:
    fetch_data: dict[TopicIdPartition, PartitionRequest]

    def partitions(self, topic_name: Callable[[uuid.UUID], str | None]
                   ) -> list[tuple[TopicIdPartition, PartitionRequest]]:
        return list(self.fetch_data.items())

    def finish(self, results: Sequence[tuple[TopicIdPartition, dict[str, Any]]], now_ms: int
               ) -> tuple[int, int, Sequence[tuple[TopicIdPartition, dict[str, Any]]]]:
        return NONE, INVALID_SESSION_ID, results


@dataclass(slots=True)
class Full:
    """A full fetch that may open a session when answered."""

    cache: FetchSessionCache
    fetch_data: dict[TopicIdPartition, PartitionRequest]
    uses_topic_ids: bool
    privileged: bool

    def partitions(self, topic_name: Callable[[uuid.UUID], str | None]
                   ) -> list[tuple[TopicIdPartition, PartitionRequest]]:
        return list(self.fetch_data.items())

    def finish(self, results: Sequence[tuple[TopicIdPartition, dict[str, Any]]], now_ms: int
               ) -> tuple[int, int, Sequence[tuple[TopicIdPartition, dict[str, Any]]]]:
        def create() -> dict[tuple[uuid.UUID | str | None, int], CachedPartition]:
            # The session holds every partition answered, in the answer's order,
            # with what the answer told the client.
            cached = {}
            for tip, entry in results:
                req = self.fetch_data.get(tip)
                if req is None:
                    continue
                cached[tip.key] = CachedPartition(tip, req, int(entry["high_watermark"]),
                                                  int(entry["log_start_offset"]))
            return cached

        shard = self.cache.next_shard()
        session_id = shard.maybe_create_session(now_ms, self.privileged, len(results),
                                                self.uses_topic_ids, create)
        return NONE, session_id, results


@dataclass(slots=True)
class Incremental:
    session: FetchSession
    request_epoch: int
    # The cached partition behind each TopicIdPartition handed out by `partitions`,
    # by object identity: the answer comes back with those same objects.
    _handed_out: dict[int, CachedPartition] = field(default_factory=dict)

    def partitions(self, topic_name: Callable[[uuid.UUID], str | None]
                   ) -> list[tuple[TopicIdPartition, PartitionRequest]]:
        """Every partition of the session, in the session's order (partitions that
        last returned records were moved to the end, so a response budget too small
        for all of them is shared round-robin)."""
        out = []
        for cached in self.session.partitions.values():
            tip = cached.tip
            if self.session.uses_topic_ids and tip.topic is None:
                # An id unknown when it joined the session may be known now.
                name = topic_name(tip.topic_id)
                if name is not None:
                    tip = cached.tip = TopicIdPartition(tip.topic_id, name, tip.partition)
            out.append((tip, cached.request))
            self._handed_out[id(tip)] = cached
        return out

    def finish(self, results: Sequence[tuple[TopicIdPartition, dict[str, Any]]], now_ms: int
               ) -> tuple[int, int, Sequence[tuple[TopicIdPartition, dict[str, Any]]]]:
        session = self.session
        if session.epoch != next_epoch(self.request_epoch):
            # Another request of this session was taken while this one waited.
            return INVALID_FETCH_SESSION_EPOCH, session.id, ()
        out = []
        partitions = session.partitions
        for tip, entry in results:
            cached = self._handed_out.get(id(tip))
            if cached is None or partitions.get(tip.key) is not cached:
                # Not handed out here, or forgotten/replaced since by a later request.
                cached = partitions.get(tip.key)
            size = records_size(entry)
            if cached is None or not cached.must_respond(entry, True, size):
                continue
            out.append((tip, entry))
            if size > 0:
                partitions[tip.key] = partitions.pop(tip.key)
        return NONE, session.id, out


FetchContext = SessionError | Sessionless | Full | Incremental


@dataclass
class FetchSessionCache:
    """Kafka's FetchSessionCache + FetchManager: `slots` sessions in NUM_SHARDS shards."""

    slots: int
    eviction_ms: int = EVICTION_MS
    num_shards: int = NUM_SHARDS
    rng: random.Random = field(default_factory=random.Random)
    shards: list[FetchSessionCacheShard] = field(init=False)
    _counter: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        id_range = INT_MAX // self.num_shards
        self.shards = [
            FetchSessionCacheShard(self.slots // self.num_shards, self.eviction_ms, id_range,
                                   n, self.rng)
            for n in range(self.num_shards)
        ]

    @property
    def size(self) -> int:
        return sum(len(s.sessions) for s in self.shards)

    @property
    def total_partitions(self) -> int:
        return sum(s.total_partitions() for s in self.shards)

    @property
    def evictions(self) -> int:
        return sum(s.evictions for s in self.shards)

    def shard_for(self, session_id: int) -> FetchSessionCacheShard | None:
        """The shard that hands out `session_id`; None for an id no shard could
        have handed out (Kafka indexes its shard list with Java's truncating
        division and fails the request there)."""
        index = int(session_id / self.shards[0].session_id_range)
        return self.shards[index] if 0 <= index < len(self.shards) else None

    def next_shard(self) -> FetchSessionCacheShard:
        shard = self.shards[self._counter % len(self.shards)]
        self._counter += 1
        return shard

    def get(self, session_id: int) -> FetchSession | None:
        shard = self.shard_for(session_id)
        return None if shard is None else shard.get(session_id)

    def new_context(
        self, version: int, session_id: int, epoch: int, is_follower: bool,
        fetch_data: dict[TopicIdPartition, PartitionRequest],
        to_forget: Sequence[TopicIdPartition], now_ms: int,
    ) -> FetchContext:
        """Kafka's FetchManager.newContext."""
        if epoch in (INITIAL_EPOCH, FINAL_EPOCH):
            if session_id != INVALID_SESSION_ID:
                # Any session a full fetch names is closed.
                shard = self.shard_for(session_id)
                if shard is None:
                    return SessionError(UNKNOWN_SERVER_ERROR)
                shard.remove_id(session_id)
            if epoch == FINAL_EPOCH:
                return Sessionless(fetch_data)
            return Full(self, fetch_data, version >= FIRST_TOPIC_ID_VERSION, is_follower)
        shard = self.shard_for(session_id)
        if shard is None:
            return SessionError(UNKNOWN_SERVER_ERROR)
        session = shard.get(session_id)
        if session is None:
            return SessionError(FETCH_SESSION_ID_NOT_FOUND)
        if session.epoch != epoch:
            return SessionError(INVALID_FETCH_SESSION_EPOCH)
        if session.uses_topic_ids != (version >= FIRST_TOPIC_ID_VERSION):
            # A session keyed by names continued with ids, or the reverse.
            return SessionError(FETCH_SESSION_TOPIC_ID_ERROR)
        session.update(fetch_data, to_forget)
        if not session.partitions:
            # Nothing left to fetch: the session ends and this fetch is sessionless.
            shard.remove(session)
            return Sessionless(fetch_data)
        shard.touch(session, now_ms)
        session.epoch = next_epoch(session.epoch)
        return Incremental(session, epoch)
