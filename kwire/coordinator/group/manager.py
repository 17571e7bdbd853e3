"""The asyncio driver of the pure group coordinator: the internal topic, replay,
timers and the order in which effects are carried out.

Each coordinator call runs under one lock and returns `Effects`; the driver
appends their records to `__consumer_offsets` (through the same PartitionLog
as user data), re-arms or cancels timers, then completes the waiting
requests, in that order — Kafka answers a write only once it is stored.
State is rebuilt at start by replaying the topic; a record that cannot be
decoded or applied (a damaged topic, or one a client wrote before kwire
refused that) is skipped and reported in one log line per partition, so a
damaged topic never stops the broker. When a topic is deleted, its committed
offsets go too (`on_partitions_deleted`, Kafka's GroupCoordinator hook).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from kwire.coordinator.group.effects import CancelTimer, Effects, ScheduleTimer, TimerKey
from kwire.coordinator.group.records import GroupMetadataKey, OffsetCommitKey, decode_key
from kwire.errors import ErrorCode, KwireError, StorageError
from kwire.log.api import TopicPartition
from kwire.log.scan import stored_batches
from kwire.records.batch import InvalidBatch
from kwire.records.builder import build_batch, decode_records

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

Call = Callable[[object, int], Effects]


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


class GroupManager:
    def __init__(self, host: InternalTopicHost, coordinator: GroupCoordinator,
                 offsets_topic_partitions: int = DEFAULT_OFFSETS_TOPIC_PARTITIONS) -> None:
        self._host = host
        self.coordinator = coordinator
        self._lock = asyncio.Lock()
        self._timers: dict[TimerKey, asyncio.TimerHandle] = {}
        self._ready = False
        self._partitions = offsets_topic_partitions

    async def start(self) -> None:
        """Replay `__consumer_offsets` if it exists (at broker start)."""
        partitions = self._host.internal_topic_partitions(OFFSETS_TOPIC)
        if partitions is not None:
            self._partitions = partitions
            await self._load()

    async def ensure_ready(self) -> ErrorCode:
        """Create and load the offsets topic on first use, as Kafka does."""
        if self._ready:
            return ErrorCode.NONE
        async with self._lock:
            if self._ready:
                return ErrorCode.NONE
            if self._host.internal_topic_partitions(OFFSETS_TOPIC) is None:
                await self._host.create_internal_topic(
                    OFFSETS_TOPIC, self._partitions, OFFSETS_TOPIC_CONFIGS)
            await self._load_locked()
        return ErrorCode.NONE

    async def _load(self) -> None:
        async with self._lock:
            await self._load_locked()

    async def _load_locked(self) -> None:
        replayed = 0
        for index in range(self._partitions):
            partition_log = self._host.internal_log(OFFSETS_TOPIC, index)
            if partition_log is None:
                continue
            try:
                replayed += await self._replay_partition(index, partition_log)
            except StorageError as exc:
                # Its groups answer NOT_COORDINATOR (their writes fail) until the
                # partition is back; the failed write reloads everything then.
                log.error("%s-%d could not be read (%s): its groups wait for it",
                          OFFSETS_TOPIC, index, exc)
        effects = self.coordinator.loaded(self._host.now_ms())
        self._ready = True
        await self._apply(effects)
        if replayed:
            log.info("loaded %d group coordinator records from %s", replayed, OFFSETS_TOPIC)

    async def _replay_partition(self, index: int, partition_log: PartitionLog) -> int:
        """Replay one partition; returns how many records were applied."""
        replayed = 0
        skipped = Skipped(f"{OFFSETS_TOPIC}-{index}")
        async for batch, header in stored_batches(partition_log):
            try:
                records = decode_records(bytes(batch))
            except (InvalidBatch, ValueError) as exc:
                skipped.add(header.base_offset, header.records_count, exc)
                continue
            for record in records:
                if record.key is None:
                    continue
                try:
                    self.coordinator.replay(record.key, record.value)
                except Exception as exc:  # any record that cannot be applied is skipped
                    skipped.add(record.offset, 1, exc)
                else:
                    replayed += 1
        skipped.report()
        return replayed

    @property
    def offsets_topic_partitions(self) -> int:
        """The partition count the coordinator gives `__consumer_offsets`."""
        return self._partitions

    @property
    def ready(self) -> bool:
        return self._ready

    async def call(self, op: Call) -> Any:
        """Run one coordinator operation and wait for its response (which may come
        from a later call, e.g. a JoinGroup parked until the group completes)."""
        loop = asyncio.get_running_loop()
        token: asyncio.Future[Any] = loop.create_future()
        async with self._lock:
            if not self._ready:
                await self._load_locked()
            effects = op(token, self._host.now_ms())
            await self._apply(effects)
        return await token

    async def _apply(self, effects: Effects) -> None:
        if effects.records:
            try:
                await self._append(effects.records)
            except Exception as exc:  # a full or failing disk: the append said why
                log.error("writing %s failed (%s); reloading group state from it",
                          OFFSETS_TOPIC, exc)
                self._unload(effects)
                return
        self._carry_out(effects)

    def _unload(self, failed: Effects) -> None:
        """The coordinator's state is ahead of what was stored: drop it (parked
        requests get NOT_COORDINATOR), fail this call's requests the same way, and
        replay the topic on the next request, as Kafka does when it loses a partition."""
        self._ready = False
        self._carry_out(self.coordinator.unload(self._host.now_ms()))
        for token, _response in failed.responses:
            if isinstance(token, asyncio.Future) and not token.done():
                token.set_exception(KwireError(ErrorCode.NOT_COORDINATOR))

    def _carry_out(self, effects: Effects) -> None:
        """Timers, then responses, of effects whose records are stored."""
        loop = asyncio.get_running_loop()
        for timer in effects.timers:
            old = self._timers.pop(timer.key, None)
            if old is not None:
                old.cancel()
            if isinstance(timer, ScheduleTimer):
                delay = max(0.0, (timer.deadline_ms - self._host.now_ms()) / 1000)
                self._timers[timer.key] = loop.call_later(delay, self._fire, timer.key)
            else:
                assert isinstance(timer, CancelTimer)
        for token, response in effects.responses:
            if isinstance(token, asyncio.Future) and not token.done():
                token.set_result(response)

    def _fire(self, key: TimerKey) -> None:
        self._timers.pop(key, None)
        task = asyncio.get_running_loop().create_task(self._on_timer(key))
        task.add_done_callback(_log_failure)

    async def _on_timer(self, key: TimerKey) -> None:
        async with self._lock:
            await self._apply(self.coordinator.on_timer(key, self._host.now_ms()))

    async def _append(self, records: list[tuple[bytes, bytes | None]]) -> None:
        by_partition: dict[int, list[tuple[bytes, bytes | None]]] = {}
        for key, value in records:
            parsed = decode_key(key)
            group_id = parsed.group if isinstance(parsed, OffsetCommitKey | GroupMetadataKey) else (
                "")
            by_partition.setdefault(partition_for(group_id, self._partitions), []).append(
                (key, value))
        now = self._host.now_ms()
        for index, items in by_partition.items():
            batch = bytearray(build_batch([(k, v, []) for k, v in items], base_timestamp=now))
            error = await self._host.append_internal(OFFSETS_TOPIC, index, batch, now)
            if error != ErrorCode.NONE:
                raise RuntimeError(f"append to {OFFSETS_TOPIC}-{index}: {error.name}")

    async def on_partitions_deleted(self, partitions: Sequence[TopicPartition]) -> None:
        """Tombstone every group's offsets of deleted partitions, so a topic created
        again under the same name starts from auto.offset.reset, not old offsets."""
        if self._host.internal_topic_partitions(OFFSETS_TOPIC) is None or not partitions:
            return
        wanted = [(tp.topic, tp.partition) for tp in partitions]
        try:
            response = await self.call(
                lambda token, now: self.coordinator.on_partitions_deleted(
                    token, now, partitions=wanted))
        except KwireError as exc:
            log.error("could not delete the offsets of deleted partitions of %s: %s",
                      sorted({t for t, _ in wanted}), exc.error_code.name)
            return
        if response.deleted_offsets:
            log.info("deleted %d committed offsets of deleted topic(s) %s",
                     response.deleted_offsets,
                     ", ".join(sorted({t for t, _ in wanted})))

    async def close(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()


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
