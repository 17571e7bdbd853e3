"""Topic-partitions this broker leads: the log, the leader epoch, producer state,
and the waiters of long-polling fetches.

`Partition.append` is the produce hot path: the batch header was validated by
the handler; here come the idempotence checks, LogAppendTime, the append to
the `PartitionLog`, and waking fetches. Records are never decoded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from kwire.broker.producer_state import Append, Duplicate, ProducerStateManager, Reject
from kwire.errors import ErrorCode
from kwire.log.api import LogConfig, LogStore, PartitionLog, TopicPartition
from kwire.records.batch import BatchHeader, iter_batches, set_log_append_time

log = logging.getLogger("kwire.partitions")

# How much of the log to read at a time when replaying producer state at open.
_REPLAY_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ProduceOutcome:
    error_code: ErrorCode
    base_offset: int = -1
    log_append_time_ms: int = -1
    log_start_offset: int = -1
    error_message: str | None = None


class Partition:
    def __init__(self, tp: TopicPartition, log_: PartitionLog, leader_epoch: int) -> None:
        self.tp = tp
        self.log = log_
        self.leader_epoch = leader_epoch
        self.producers = ProducerStateManager()
        self.log_append_time = False
        self.max_message_bytes = 1048588
        self._waiters: set[asyncio.Future[None]] = set()
        # Serialises idempotent appends so a duplicate check never races the
        # append it duplicates (a producer may retry on a new connection).
        self._idempotent_lock = asyncio.Lock()

    async def replay_producer_state(self) -> None:
        """Rebuild idempotent-producer state by reading every stored batch header."""
        headers: list[BatchHeader] = []
        offset = self.log.offsets().log_start_offset
        end = self.log.offsets().log_end_offset
        while offset < end:
            result = await self.log.read(offset, _REPLAY_CHUNK, True)
            if not result.records:
                break
            last = offset
            for _pos, header in iter_batches(result.records):
                if header.has_producer_id:
                    headers.append(header)
                last = header.next_offset
            if last <= offset:
                break
            offset = last
        self.producers.rebuild_from(headers)

    async def append(self, batch: bytearray, header: BatchHeader, now_ms: int) -> ProduceOutcome:
        if header.has_producer_id:
            async with self._idempotent_lock:
                return await self._append_idempotent(batch, header, now_ms)
        return await self._append(batch, now_ms)

    async def _append_idempotent(
        self, batch: bytearray, header: BatchHeader, now_ms: int
    ) -> ProduceOutcome:
        decision = self.producers.check(
            header.producer_id, header.producer_epoch, header.base_sequence, header.last_sequence
        )
        if isinstance(decision, Reject):
            return ProduceOutcome(ErrorCode(decision.error_code))
        if isinstance(decision, Duplicate):
            # Kafka answers a retried batch with the offset it got the first time.
            return ProduceOutcome(
                ErrorCode.NONE, decision.first_offset,
                decision.timestamp if self.log_append_time else -1,
                self.log.offsets().log_start_offset,
            )
        assert isinstance(decision, Append)
        outcome = await self._append(batch, now_ms)
        if outcome.error_code == ErrorCode.NONE:
            self.producers.record(
                header.producer_id, header.producer_epoch, header.base_sequence,
                header.last_sequence, outcome.base_offset,
                outcome.base_offset + header.last_offset_delta,
                now_ms if self.log_append_time else header.max_timestamp,
            )
        return outcome

    async def _append(self, batch: bytearray, now_ms: int) -> ProduceOutcome:
        append_time = -1
        if self.log_append_time:
            set_log_append_time(batch, 0, now_ms)
            append_time = now_ms
        try:
            result = await self.log.append(batch, self.leader_epoch)
        except Exception:
            log.exception("append to %s failed", self.tp)
            return ProduceOutcome(ErrorCode.KAFKA_STORAGE_ERROR)
        self._wake()
        return ProduceOutcome(ErrorCode.NONE, result.base_offset, append_time,
                              result.log_start_offset)

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, set()
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def add_waiter(self, fut: asyncio.Future[None]) -> None:
        self._waiters.add(fut)

    def remove_waiter(self, fut: asyncio.Future[None]) -> None:
        self._waiters.discard(fut)


class PartitionManager:
    """Opens the logs of the partitions this broker leads and hands them out."""

    def __init__(self, store: LogStore) -> None:
        self._store = store
        self._partitions: dict[TopicPartition, Partition] = {}

    def get(self, tp: TopicPartition) -> Partition | None:
        return self._partitions.get(tp)

    def __iter__(self) -> Iterator[Partition]:
        return iter(list(self._partitions.values()))

    async def open(
        self, tp: TopicPartition, leader_epoch: int, config: LogConfig,
        log_append_time: bool, max_message_bytes: int,
    ) -> Partition:
        partition = self._partitions.get(tp)
        if partition is None:
            partition = Partition(tp, await self._store.open(tp, config), leader_epoch)
            await partition.replay_producer_state()
            self._partitions[tp] = partition
        else:
            partition.log.reconfigure(config)
            partition.leader_epoch = leader_epoch
        partition.log_append_time = log_append_time
        partition.max_message_bytes = max_message_bytes
        return partition

    async def delete(self, tp: TopicPartition) -> None:
        partition = self._partitions.pop(tp, None)
        if partition is not None:
            partition._wake()
            await partition.log.close()
        await self._store.delete(tp)

    async def close(self) -> None:
        for partition in self._partitions.values():
            partition._wake()
        self._partitions.clear()
        await self._store.close()
