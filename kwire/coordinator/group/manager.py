"""The asyncio driver of the pure group coordinator: the internal topic, replay,
timers and the order in which effects are carried out.

Coordination is sharded as Kafka's coordinator runtime shards it: one pure
`GroupCoordinator` per `__consumer_offsets` partition, holding the groups whose
id hashes to it (`partition_for`). A shard is loaded (its partition replayed)
when this broker becomes the partition's leader and unloaded when it stops
leading it (`on_leadership_change`, called by the broker's ReplicaManager);
calls for a group whose shard this broker does not hold answer NOT_COORDINATOR.

Each coordinator call runs under its shard's lock and returns `Effects`; the
driver appends their records to the shard's partition (through the same
PartitionLog as user data), re-arms or cancels timers, then completes the
waiting requests, in that order — Kafka answers a write only once it is stored.
A TxnOffsetCommit's records are one transactional batch of its producer; when
the partition refuses it (a fenced epoch) the call is reverted and answered
with the error, the shard stays loaded. `on_transaction_completed` (called by
WriteTxnMarkers once a marker is stored here) commits or drops a producer's
pending offsets; replay does the same from the stored control batches.
A record that cannot be decoded or applied (a damaged topic, or one a client
wrote before kwire refused that) is skipped and reported in one log line per
partition, so a damaged topic never stops the broker. When a topic is deleted,
its committed offsets go too (`on_partitions_deleted`, Kafka's GroupCoordinator
hook).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from kwire.coordinator.group.effects import CancelTimer, Effects, ScheduleTimer, TimerKey
from kwire.coordinator.group.txn_offsets import NO_PRODUCER_ID
from kwire.coordinator.shards import Shards
from kwire.errors import ErrorCode, KwireError, StorageError
from kwire.log.api import TopicPartition
from kwire.log.scan import stored_batches
from kwire.records.batch import InvalidBatch
from kwire.records.builder import (
    RecordInput,
    build_batch,
    decode_records,
    read_end_txn_marker,
)

if TYPE_CHECKING:
    from kwire.coordinator.group.coordinator import GroupCoordinator
    from kwire.coordinator.host import InternalTopicHost
    from kwire.log.api import PartitionLog

log = logging.getLogger("kwire.groups")

OFFSETS_TOPIC = "__consumer_offsets"
# Kafka's settings for the offsets topic (offsets.topic.segment.bytes, compaction).
OFFSETS_TOPIC_CONFIGS = {"cleanup.policy": "compact", "segment.bytes": "104857600"}
# Kafka's offsets.topic.num.partitions default.
DEFAULT_OFFSETS_TOPIC_PARTITIONS = 50

# Timers that stand for Kafka's background executor tasks, run at once (_call).
BACKGROUND_TIMERS = frozenset({"consumer_regex"})

# One coordinator operation: (the shard's coordinator, the response token, now_ms).
Call = Callable[["GroupCoordinator", object, int], Effects]


def java_string_hash(value: str) -> int:
    """Java's String.hashCode, over UTF-16 code units, as an int32."""
    h = 0
    data = value.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for(group_id: str, partitions: int) -> int:
    """Kafka's GroupCoordinator.partitionFor: Utils.abs(hashCode) % partitions."""
    h = java_string_hash(group_id)
    return (0 if h == -(2**31) else abs(h)) % partitions


class _Shard:
    """One loaded (or loading) `__consumer_offsets` partition's coordinator."""

    def __init__(self, index: int, coordinator: GroupCoordinator) -> None:
        self.index = index
        self.coordinator = coordinator
        self.lock = asyncio.Lock()
        self.timers: dict[TimerKey, asyncio.TimerHandle] = {}
        self.ready = False
        # Set once leadership moved away: a call that waited for the lock answers
        # NOT_COORDINATOR instead of touching a coordinator that was unloaded.
        self.retired = False


class GroupManager:
    def __init__(self, host: InternalTopicHost, new_coordinator: Callable[[], GroupCoordinator],
                 offsets_topic_partitions: int = DEFAULT_OFFSETS_TOPIC_PARTITIONS) -> None:
        self._host = host
        self._new_coordinator = new_coordinator
        self._create_lock = asyncio.Lock()
        self._shard_set: Shards[_Shard] = Shards(
            OFFSETS_TOPIC, lambda index: _Shard(index, self._new_coordinator()),
            self._load, self._retire)
        self._shards = self._shard_set.held
        # offsets.topic.num.partitions until the topic exists, then its real count.
        self._configured_partitions = offsets_topic_partitions

    # ---- the offsets topic and its shards -----------------------------------------------

    @property
    def offsets_topic_partitions(self) -> int:
        """The partition count of `__consumer_offsets`, or the one it will be created with."""
        existing = self._host.internal_topic_partitions(OFFSETS_TOPIC)
        return self._configured_partitions if existing is None else existing

    def partition_for(self, group_id: str) -> int:
        return partition_for(group_id, self.offsets_topic_partitions)

    @property
    def ready(self) -> bool:
        """The offsets topic exists and every shard this broker holds is loaded."""
        return (self._host.internal_topic_partitions(OFFSETS_TOPIC) is not None
                and all(shard.ready for shard in self._shards.values()))

    async def ensure_ready(self) -> ErrorCode:
        """Create the offsets topic on first use, as Kafka does, and wait for the
        shards this broker leads to load."""
        if self._host.internal_topic_partitions(OFFSETS_TOPIC) is None:
            async with self._create_lock:
                if self._host.internal_topic_partitions(OFFSETS_TOPIC) is None:
                    await self._host.create_internal_topic(
                        OFFSETS_TOPIC, self._configured_partitions, OFFSETS_TOPIC_CONFIGS)
        await self.wait_loaded()
        return ErrorCode.NONE

    async def wait_loaded(self) -> None:
        """Wait for the shard loads in progress."""
        await self._shard_set.wait_loaded()

    def hosts(self, group_id: str) -> bool:
        return self.partition_for(group_id) in self._shards

    async def on_leadership_change(self, gained: Iterable[int], lost: Iterable[int]) -> None:
        """This broker now leads (`gained`) or no longer leads (`lost`) these
        partitions of the offsets topic: load or unload their shards. Loads run in
        the background; calls for a loading shard wait for it."""
        await self._shard_set.change(gained, lost)

    async def _retire(self, shard: _Shard) -> None:
        async with shard.lock:
            shard.retired = True
            self._carry_out(shard, shard.coordinator.unload(self._host.now_ms()))
            for handle in shard.timers.values():
                handle.cancel()
            shard.timers.clear()
        log.info("unloaded the group coordinator of %s-%d", OFFSETS_TOPIC, shard.index)

    async def _load(self, shard: _Shard) -> None:
        async with shard.lock:
            if not shard.retired and not shard.ready:
                # Not readable here now (NOT_COORDINATOR): the next call tries again.
                with contextlib.suppress(KwireError):
                    await self._load_locked(shard)

    async def _load_locked(self, shard: _Shard) -> None:
        """Replay the shard's partition. NOT_COORDINATOR when this broker cannot
        read it (no longer leads it, or another owner fenced its log, in cluster
        mode): its groups live on elsewhere, and an empty shard here would answer
        for them as if they did not exist (GROUP_ID_NOT_FOUND, no offsets)."""
        replayed = 0
        partition_log = self._host.internal_log(OFFSETS_TOPIC, shard.index)
        if partition_log is None:
            raise KwireError(ErrorCode.NOT_COORDINATOR)
        try:
            replayed = await self._replay_partition(shard, partition_log)
        except StorageError as exc:
            # Its groups answer NOT_COORDINATOR (their writes fail) until the
            # partition is back; the failed write reloads the shard then.
            log.error("%s-%d could not be read (%s): its groups wait for it",
                      OFFSETS_TOPIC, shard.index, exc)
        effects = shard.coordinator.loaded(self._host.now_ms())
        shard.ready = True
        await self._apply(shard, effects)
        if replayed:
            log.info("loaded %d group coordinator records from %s-%d",
                     replayed, OFFSETS_TOPIC, shard.index)

    async def _replay_partition(self, shard: _Shard, partition_log: PartitionLog) -> int:
        """Replay one partition; returns how many records were applied."""
        replayed = 0
        skipped = Skipped(f"{OFFSETS_TOPIC}-{shard.index}")
        async for batch, header in stored_batches(partition_log):
            try:
                if header.is_control:
                    # A transaction's marker: its pending offsets here complete.
                    marker = read_end_txn_marker(bytes(batch))
                    if marker is not None:
                        shard.coordinator.complete_transaction(header.producer_id, marker.commit)
                        replayed += 1
                    continue
                records = decode_records(bytes(batch))
            except (InvalidBatch, ValueError) as exc:
                skipped.add(header.base_offset, header.records_count, exc)
                continue
            # Offsets of a transactional batch stay pending until its marker.
            producer_id = header.producer_id if header.is_transactional else NO_PRODUCER_ID
            for record in records:
                if record.key is None:
                    continue
                try:
                    shard.coordinator.replay(record.key, record.value, producer_id)
                except Exception as exc:  # any record that cannot be applied is skipped
                    skipped.add(record.offset, 1, exc)
                else:
                    replayed += 1
        skipped.report()
        return replayed

    async def on_transaction_completed(self, offsets_partition: int, producer_id: int,
                                       commit: bool) -> None:
        """The producer's COMMIT or ABORT marker is now stored in this partition of
        `__consumer_offsets`: its pending offsets there become committed or are
        dropped. A shard not held or not loaded has nothing to do: its load
        replays the marker from the log. Callers must await this before answering
        WriteTxnMarkers, so the producer's next transaction cannot start first."""
        shard = self._shards.get(offsets_partition)
        if shard is None:
            return
        async with shard.lock:
            if shard.retired or not shard.ready:
                return
            shard.coordinator.complete_transaction(producer_id, commit)

    # ---- calls ----------------------------------------------------------------------------

    async def call(self, group_id: str, op: Call) -> Any:
        """Run one coordinator operation on the group's shard and wait for its
        response (which may come from a later call, e.g. a JoinGroup parked until
        the group completes). NOT_COORDINATOR when this broker does not hold the
        shard."""
        shard = self._shards.get(self.partition_for(group_id))
        if shard is None:
            raise KwireError(ErrorCode.NOT_COORDINATOR)
        return await self._call(shard, op)

    async def call_each(self, op: Call) -> list[Any]:
        """Run the operation on every shard this broker holds (ListGroups, topic
        deletion), in partition order; shards lost meanwhile are left out."""
        answers = []
        for index in sorted(self._shards):
            shard = self._shards.get(index)
            if shard is None:
                continue
            try:
                answers.append(await self._call(shard, op))
            except KwireError as exc:
                if exc.error_code != ErrorCode.NOT_COORDINATOR:
                    raise
        return answers

    async def _call(self, shard: _Shard, op: Call) -> Any:
        loop = asyncio.get_running_loop()
        token: asyncio.Future[Any] = loop.create_future()
        async with shard.lock:
            if shard.retired:
                raise KwireError(ErrorCode.NOT_COORDINATOR)
            if not shard.ready:
                await self._load_locked(shard)
            effects = op(shard.coordinator, token, self._host.now_ms())
            await self._apply(shard, effects)
            await self._run_background_work(shard, effects)
        return await token

    async def _run_background_work(self, shard: _Shard, effects: Effects) -> None:
        """Work a call armed to run at once in the background (a consumer group's regex
        resolution, Kafka's executor task) runs before the shard is let go: the call
        has its answer already, and the next request sees the result, as it does in
        Kafka, where the executor finishes long before the next request arrives."""
        now = self._host.now_ms()
        for timer in effects.timers:
            if (isinstance(timer, ScheduleTimer) and timer.key[0] in BACKGROUND_TIMERS
                    and timer.deadline_ms <= now and timer.key in shard.timers):
                shard.timers.pop(timer.key).cancel()
                await self._apply(shard, shard.coordinator.on_timer(timer.key, now))

    async def _apply(self, shard: _Shard, effects: Effects) -> None:
        if effects.records:
            try:
                await self._append(shard, effects)
            except AppendRefused as exc:
                if effects.revert is None:
                    log.error("writing %s-%d failed (%s); reloading its group state from it",
                              OFFSETS_TOPIC, shard.index, exc)
                    self._unload(shard, effects)
                    return
                # A transactional write the partition refused (e.g. a fenced producer
                # epoch): nothing was stored, so undoing the call is enough.
                effects.revert()
                self._fail(effects, _operation_error(exc.error_code))
                return
            except Exception as exc:  # a full or failing disk: the append said why
                log.error("writing %s-%d failed (%s); reloading its group state from it",
                          OFFSETS_TOPIC, shard.index, exc)
                self._unload(shard, effects)
                return
        self._carry_out(shard, effects)

    def _unload(self, shard: _Shard, failed: Effects) -> None:
        """The shard's state is ahead of what was stored: drop it (parked requests
        get NOT_COORDINATOR), fail this call's requests the same way, and replay the
        partition on the next request, as Kafka does when it loses a partition."""
        shard.ready = False
        self._carry_out(shard, shard.coordinator.unload(self._host.now_ms()))
        self._fail(failed, ErrorCode.NOT_COORDINATOR)

    @staticmethod
    def _fail(failed: Effects, error: ErrorCode) -> None:
        for token, _response in failed.responses:
            if isinstance(token, asyncio.Future) and not token.done():
                token.set_exception(KwireError(error))

    def _carry_out(self, shard: _Shard, effects: Effects) -> None:
        """Timers, then responses, of effects whose records are stored."""
        loop = asyncio.get_running_loop()
        for timer in effects.timers:
            old = shard.timers.pop(timer.key, None)
            if old is not None:
                old.cancel()
            if isinstance(timer, ScheduleTimer):
                delay = max(0.0, (timer.deadline_ms - self._host.now_ms()) / 1000)
                shard.timers[timer.key] = loop.call_later(delay, self._fire, shard, timer.key)
            else:
                assert isinstance(timer, CancelTimer)
        for token, response in effects.responses:
            if isinstance(token, asyncio.Future) and not token.done():
                token.set_result(response)

    def _fire(self, shard: _Shard, key: TimerKey) -> None:
        shard.timers.pop(key, None)
        task = asyncio.get_running_loop().create_task(self._on_timer(shard, key))
        task.add_done_callback(_log_failure)

    async def _on_timer(self, shard: _Shard, key: TimerKey) -> None:
        async with shard.lock:
            if not shard.retired:
                await self._apply(shard, shard.coordinator.on_timer(key, self._host.now_ms()))

    async def _append(self, shard: _Shard, effects: Effects) -> None:
        """Every record of a shard belongs to its own partition: its groups hash there.
        Transactional offsets go as their producer's batch, without a sequence
        (Kafka's coordinator writes them so; the partition checks only the epoch)."""
        now = self._host.now_ms()
        records: list[RecordInput] = [(k, v, []) for k, v in effects.records]
        producer = effects.producer
        if producer is None:
            batch = build_batch(records, base_timestamp=now)
        else:
            batch = build_batch(records, base_timestamp=now, producer_id=producer.producer_id,
                                producer_epoch=producer.producer_epoch, transactional=True)
        error = await self._host.append_internal(OFFSETS_TOPIC, shard.index, bytearray(batch),
                                                 now)
        if error != ErrorCode.NONE:
            raise AppendRefused(error, f"append to {OFFSETS_TOPIC}-{shard.index}: {error.name}")

    async def on_partitions_deleted(self, partitions: Sequence[TopicPartition]) -> None:
        """Tombstone every group's offsets of deleted partitions, so a topic created
        again under the same name starts from auto.offset.reset, not old offsets."""
        if not self._shards or not partitions:
            return
        wanted = [(tp.topic, tp.partition) for tp in partitions]
        try:
            responses = await self.call_each(
                lambda coordinator, token, now: coordinator.on_partitions_deleted(
                    token, now, partitions=wanted))
        except KwireError as exc:
            log.error("could not delete the offsets of deleted partitions of %s: %s",
                      sorted({t for t, _ in wanted}), exc.error_code.name)
            return
        deleted = sum(response.deleted_offsets for response in responses)
        if deleted:
            log.info("deleted %d committed offsets of deleted topic(s) %s",
                     deleted, ", ".join(sorted({t for t, _ in wanted})))

    async def close(self) -> None:
        self._shard_set.cancel_loads()
        for shard in self._shards.values():
            for handle in shard.timers.values():
                handle.cancel()
            shard.timers.clear()


class AppendRefused(RuntimeError):
    """The partition refused the shard's batch with this error code."""

    def __init__(self, error_code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code


# Kafka's CoordinatorOperationExceptionHelper: what a failed coordinator write answers.
_OPERATION_ERRORS = {
    ErrorCode.NETWORK_EXCEPTION: ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
    ErrorCode.UNKNOWN_TOPIC_OR_PARTITION: ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ErrorCode.REQUEST_TIMED_OUT: ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ErrorCode.NOT_LEADER_OR_FOLLOWER: ErrorCode.NOT_COORDINATOR,
    ErrorCode.KAFKA_STORAGE_ERROR: ErrorCode.NOT_COORDINATOR,
    ErrorCode.MESSAGE_TOO_LARGE: ErrorCode.UNKNOWN_SERVER_ERROR,
    ErrorCode.RECORD_LIST_TOO_LARGE: ErrorCode.UNKNOWN_SERVER_ERROR,
    ErrorCode.INVALID_FETCH_SIZE: ErrorCode.UNKNOWN_SERVER_ERROR,
}


def _operation_error(error: ErrorCode) -> ErrorCode:
    return _OPERATION_ERRORS.get(error, error)


class Skipped:
    """Records of one partition that replay skipped, reported in one line."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._count = 0
        self._first: tuple[int, Exception] | None = None

    def add(self, offset: int, count: int, exc: Exception) -> None:
        self._count += count
        if self._first is None:
            self._first = (offset, exc)

    def report(self) -> None:
        if self._first is not None:
            offset, exc = self._first
            log.warning("skipped %d undecodable record(s) of %s, the first at offset %d: %s",
                        self._count, self._name, offset, str(exc) or type(exc).__name__)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("group coordinator timer failed", exc_info=task.exception())
